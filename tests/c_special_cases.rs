//! C and C++ cases where a cache can go wrong through an odd corner rather than the main
//! road (found by an adversarial review): special files as source or output, gcc's long
//! option spellings, assembler `.incbin`, time macros on the command line, `$PWD` in
//! debug info, and options that write files the cache does not model. Each test compares
//! with the bare compiler, or shows that the real compiler ran where a hit would be wrong.

#[macro_use]
mod common;

use common::*;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

per_compiler!(
    device_output_stays_a_device,
    fifo_source_is_read_by_the_compiler,
    long_output_spelling_is_the_output,
    incbin_data_is_part_of_the_result,
    time_macro_in_a_define_turns_off_direct_mode,
    debug_info_names_the_logical_working_directory,
    pragma_dependency_is_not_cached,
    missing_include_dir_warning_follows_the_directory,
    include_name_with_dotdot_shadowed_later,
    sysroot_symlink_retargeted,
    header_changed_during_a_preprocessor_mode_compile,
);

/// A `-o` that is a character device (as `/dev/null` is): the compiler writes into it,
/// and a restore used to replace it by a regular file (`/dev/null` itself, as root).
/// mknod needs root, as which CI runs; elsewhere this checks nothing but says so.
fn device_output_stays_a_device(cc: &Cc) {
    if euid() != 0 {
        eprintln!("device_output_stays_a_device: needs root for mknod");
        return;
    }
    let s = Sandbox::new();
    let src = s.hello(cc);
    let made = std::process::Command::new("mknod")
        .arg(s.path("mynull"))
        .args(["c", "1", "3"])
        .status()
        .unwrap();
    assert!(made.success());
    for _ in 0..2 {
        s.compile(cc.name, &["-c", &src, "-o", "mynull"]);
        let m = std::fs::symlink_metadata(s.path("mynull")).unwrap();
        assert!(m.file_type().is_char_device(), "mynull must stay a device");
    }
    assert_eq!(
        map_count(&s.stats(), "non_cacheable_reasons", "special_file"),
        2
    );
}

/// `/dev/stdin` fed by a pipe: hashing it would consume the source before the compiler
/// reads it (the object used to be empty, and cached).
fn fifo_source_is_read_by_the_compiler(cc: &Cc) {
    let s = Sandbox::new();
    let code = b"int from_the_pipe(void) { return 7; }\n";
    let args = ["-x", cc.x, "-c", "/dev/stdin", "-o", "pipe.o"];
    let mut all = vec![cc.name];
    all.extend(args);
    let out = s.cachepot_stdin(&all, code);
    s.assert_success(&out, "compile /dev/stdin");
    let bare = s.bare_stdin(
        cc.name,
        &["-x", cc.x, "-c", "/dev/stdin", "-o", "bare.o"],
        code,
    );
    s.assert_success(&bare, "bare compile /dev/stdin");
    assert_eq!(s.read("pipe.o"), s.read("bare.o"));
    assert_eq!(
        map_count(&s.stats(), "non_cacheable_reasons", "special_file"),
        1
    );
}

/// `--output=x.o` is `-o x.o` (a stale `hello.o` beside it must not be taken for the
/// output, and the hit must create `x.o`).
fn long_output_spelling_is_the_output(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    s.bare(cc.name, &["-c", &src]);
    s.compile(cc.name, &["-c", &src, "--output=x.o"]);
    s.bare(cc.name, &["-c", &src, "-o", "bare.o"]);
    assert_eq!(s.read("x.o"), s.read("bare.o"));
    s.remove("x.o");
    s.compile(cc.name, &["--compile", &src, "--output", "x.o"]);
    s.compile(cc.name, &["-c", &src, "--output=x.o"]);
    assert_eq!(s.read("x.o"), s.read("bare.o"));
    // Both spellings are the same command: one miss, then two hits.
    assert_eq!(s.stat("cache_hits"), 2, "{}", s.stats());
}

/// Inline assembler `.incbin` reads a file no dep file lists: changing it must change
/// the object (it used to be a hit with the old bytes).
fn incbin_data_is_part_of_the_result(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.write(
        &cc.src("blob"),
        "__asm__(\".section .rodata\\n.globl blob\\nblob:\\n.incbin \\\"data.bin\\\"\\n.previous\");\n\
         int marker(void) { return 1; }\n",
    );
    let src = src.file_name().unwrap().to_str().unwrap().to_owned();
    for (i, data) in ["first bytes", "other bytes"].iter().enumerate() {
        s.write("data.bin", data);
        s.compile(cc.name, &["-c", &src, "-o", "blob.o"]);
        s.bare(cc.name, &["-c", &src, "-o", "bare.o"]);
        assert_eq!(s.read("blob.o"), s.read("bare.o"), "round {i}");
    }
    assert_eq!(s.stat("cache_hits"), 0);
}

/// `-DSTAMP=__TIME__`: the manifest cannot see the macro, so no direct hit may skip the
/// preprocessor (which expands the time into the key).
fn time_macro_in_a_define_turns_off_direct_mode(cc: &Cc) {
    let s = Sandbox::new();
    s.write(&cc.src("stamp"), "const char *stamp = STAMP;\n");
    let shim = s.shim(cc.name);
    let src = cc.src("stamp");
    let args = [
        shim.path_str(),
        "-DSTAMP=__TIME__",
        "-c",
        &src,
        "-o",
        "stamp.o",
    ];
    s.assert_success(&s.cachepot(&args), "first compile");
    let before = shim.runs().len();
    s.assert_success(&s.cachepot(&args), "second compile");
    let after = shim.runs();
    assert!(
        after[before..]
            .iter()
            .any(|r| r.split(' ').any(|w| w == "-E")),
        "the second compile must run the preprocessor: {after:?}"
    );
}

/// gcc and clang name the working directory by `$PWD` when it is the same directory as
/// `.`: two symlinks to one directory give two different objects with `-g`.
fn debug_info_names_the_logical_working_directory(cc: &Cc) {
    let s = Sandbox::new();
    std::fs::create_dir(s.path("real")).unwrap();
    s.write(
        &format!("real/{}", cc.src("dbg")),
        "int dbg(int x) { return x + 1; }\n",
    );
    for l in ["l1", "l2"] {
        std::os::unix::fs::symlink("real", s.path(l)).unwrap();
    }
    let src = cc.src("dbg");
    let run_in = |dir: &Path, program: &str, args: &[&str]| {
        let mut cmd = s.command(program);
        cmd.current_dir(dir).env("PWD", dir).args(args);
        let out = run(&mut cmd);
        s.assert_success(&out, program);
    };
    for l in ["l1", "l2"] {
        let dir = s.path(l);
        run_in(
            &dir,
            CACHEPOT,
            &[cc.name, "-g", "-c", &src, "-o", "cached.o"],
        );
        run_in(&dir, cc.name, &["-g", "-c", &src, "-o", "bare.o"]);
        assert_eq!(
            std::fs::read(dir.join("cached.o")).unwrap(),
            std::fs::read(dir.join("bare.o")).unwrap(),
            "object compiled in {l}"
        );
    }
}

/// gcc writes the dep target of `-o ./x.o` as `x.o:`; a hit must too.
#[test]
fn gcc_dep_target_drops_leading_dot_slash() {
    if !require_tool("gcc") {
        return;
    }
    let s = Sandbox::new();
    let src = s.hello(&GCC);
    for out in ["x.o", "./x.o", "./x.o"] {
        s.compile("gcc", &["-MD", "-c", &src, "-o", out]);
        let cached = s.read("x.d");
        s.bare("gcc", &["-MD", "-c", &src, "-o", out]);
        assert_eq!(lossy(&cached), lossy(&s.read("x.d")), "-o {out}");
    }
    assert_eq!(s.stat("cache_hits"), 2);
}

/// Options whose extra output files the cache does not store: every run compiles, and
/// the file is there afterwards.
#[test]
fn options_writing_unmodelled_files_are_not_cached() {
    let cases: &[(&str, &[&str], &str)] = &[
        ("gcc", &["-fdump-tree-original"], "hello.c.005t.original"),
        ("gcc", &["-Wa,-adhln=hello.lst"], "hello.lst"),
        ("gcc", &["--save-temps"], "hello.i"),
        ("clang", &["-ftime-trace"], "hello.json"),
        ("clang", &["-fsave-optimization-record"], "hello.opt.yaml"),
    ];
    for (cc, flags, file) in cases {
        if !require_tool(cc) {
            continue;
        }
        let s = Sandbox::new();
        let src = s.hello(&GCC);
        for _ in 0..2 {
            let _ = std::fs::remove_file(s.path(file));
            let mut args: Vec<&str> = flags.to_vec();
            args.extend(["-c", &src, "-o", "hello.o"]);
            s.compile(cc, &args);
            assert!(s.exists(file), "{cc} {flags:?}: {file} missing");
        }
        assert_eq!(s.stat("cache_hits"), 0, "{cc} {flags:?}");
    }
}

/// `-B dir/` makes gcc run `dir/as` instead of the system's: a changed `as` there changes
/// the object, so it must change the key.
#[test]
fn programs_under_a_b_prefix_are_keyed() {
    if !require_tool("gcc") || !require_tool("as") {
        return;
    }
    let s = Sandbox::new();
    let src = s.hello(&GCC);
    std::fs::create_dir(s.path("bdir")).unwrap();
    for mark in ["1", "2"] {
        write_marking_as(&s, "bdir/as", mark);
        s.compile("gcc", &["-Bbdir/", "-c", &src, "-o", "hello.o"]);
        s.bare("gcc", &["-Bbdir/", "-c", &src, "-o", "bare.o"]);
        assert_eq!(s.read("hello.o"), s.read("bare.o"), "MARK={mark}");
    }
    s.compile("gcc", &["-Bbdir/", "-c", &src, "-o", "hello.o"]);
    assert_eq!(s.stat("cache_hits"), 1, "unchanged: a hit");
}

/// An `as` at `rel` that runs the real one with `--defsym MARK=<mark>`: objects it
/// assembles differ by mark.
fn write_marking_as(s: &Sandbox, rel: &str, mark: &str) {
    let real_as = which("as").unwrap();
    let script = format!(
        "#!/bin/sh\nexec '{}' --defsym MARK={mark} \"$@\"\n",
        real_as.display()
    );
    write_executable(s, rel, &script);
}

/// A script at `rel`, mode 755; its path.
fn write_executable(s: &Sandbox, rel: &str, script: &str) -> std::path::PathBuf {
    let path = s.path(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    common::write_executable(&path, script);
    path
}

/// COMPILER_PATH is searched for gcc's programs as `-B` is: a changed `as` there must
/// change the key (its value alone, keyed as environment, stays the same).
#[test]
fn programs_on_compiler_path_are_keyed() {
    if !require_tool("gcc") || !require_tool("as") {
        return;
    }
    let mut s = Sandbox::new();
    let src = s.hello(&GCC);
    std::fs::create_dir(s.path("tools")).unwrap();
    let tools = s.path("tools");
    s.set_env("COMPILER_PATH", &tools);
    for mark in ["1", "2"] {
        write_marking_as(&s, "tools/as", mark);
        s.compile("gcc", &["-c", &src, "-o", "hello.o"]);
        s.bare("gcc", &["-c", &src, "-o", "bare.o"]);
        assert_eq!(s.read("hello.o"), s.read("bare.o"), "MARK={mark}");
    }
}

/// `#pragma GCC dependency "file"` warns when the file is newer than the source: the
/// dep file does not list it, so the compile is never cached.
fn pragma_dependency_is_not_cached(cc: &Cc) {
    let s = Sandbox::new();
    s.write("dep.txt", "data\n");
    s.write(
        &cc.src("pd"),
        "#pragma GCC dependency \"dep.txt\"\nint pd(void) { return 1; }\n",
    );
    let src = cc.src("pd");
    for _ in 0..2 {
        s.compile(cc.name, &["-c", &src, "-o", "pd.o"]);
        s.bare(cc.name, &["-c", &src, "-o", "bare.o"]);
        assert_eq!(s.read("pd.o"), s.read("bare.o"));
    }
    assert_eq!(s.stat("cache_hits"), 0, "{}", s.stats());
}

/// Under `-Wmissing-include-dirs` the existence of each include directory decides the
/// warning: stderr must follow the directory, as the bare compiler's does.
fn missing_include_dir_warning_follows_the_directory(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    let args = [
        "-Wmissing-include-dirs",
        "-Inope",
        "-c",
        src.as_str(),
        "-o",
        "hello.o",
    ];
    for step in ["absent", "created", "removed again"] {
        match step {
            "created" => std::fs::create_dir(s.path("nope")).unwrap(),
            "removed again" => std::fs::remove_dir(s.path("nope")).unwrap(),
            _ => {}
        }
        let cached = s.compile(cc.name, &args);
        let bare = s.bare(cc.name, &args);
        assert_eq!(
            lossy(&cached.stderr),
            lossy(&bare.stderr),
            "include dir {step}"
        );
    }
}

/// `#include "../common/foo.h"` found through `-Iinc/sub` (as `inc/sub/../common/foo.h`):
/// a `common/foo.h` created later beside the source's directory is found first (the
/// includer's directory comes before `-I`), so the direct hit must not happen.
fn include_name_with_dotdot_shadowed_later(cc: &Cc) {
    let s = Sandbox::new();
    for d in ["src", "inc/sub", "inc/common"] {
        std::fs::create_dir_all(s.path(d)).unwrap();
    }
    let src = format!("src/{}", cc.src("a"));
    s.write(&src, "#include \"../common/foo.h\"\nint v = FOO;\n");
    s.write("inc/common/foo.h", "#define FOO 1\n");
    let args = ["-Iinc/sub", "-c", src.as_str(), "-o", "a.o"];
    s.compile(cc.name, &args);
    s.compile(cc.name, &args);
    assert_eq!(
        s.stat("direct_hits"),
        1,
        "test premise: direct mode records it"
    );
    std::fs::create_dir(s.path("common")).unwrap();
    s.write("common/foo.h", "#define FOO 2\n");
    s.compile(cc.name, &args);
    s.bare(cc.name, &["-Iinc/sub", "-c", src.as_str(), "-o", "bare.o"]);
    assert_eq!(s.read("a.o"), s.read("bare.o"));
}

/// `--sysroot` through a symlink: gcc resolves it, so its dep file names the target's
/// headers, unchanged when the symlink is moved to another SDK. The key follows it.
fn sysroot_symlink_retargeted(cc: &Cc) {
    let s = Sandbox::new();
    for (sdk, v) in [("sdk-1", 1), ("sdk-2", 2)] {
        std::fs::create_dir_all(s.path(&format!("{sdk}/usr/include"))).unwrap();
        s.write(
            &format!("{sdk}/usr/include/v.h"),
            format!("#define V {v}\n"),
        );
    }
    std::os::unix::fs::symlink("sdk-1", s.path("current")).unwrap();
    let src = cc.src("sr");
    s.write(&src, "#include <v.h>\nint v = V;\n");
    let sysroot = format!("--sysroot={}", s.path("current").display());
    let args = [sysroot.as_str(), "-c", src.as_str(), "-o", "sr.o"];
    s.compile(cc.name, &args);
    s.compile(cc.name, &args);
    assert_eq!(s.stat("cache_hits"), 1);
    std::fs::remove_file(s.path("current")).unwrap();
    std::os::unix::fs::symlink("sdk-2", s.path("current")).unwrap();
    s.compile(cc.name, &args);
    s.bare(
        cc.name,
        &[sysroot.as_str(), "-c", src.as_str(), "-o", "bare.o"],
    );
    assert_eq!(s.read("sr.o"), s.read("bare.o"));
}

/// Preprocessor mode keys on what `-E` saw; a header rewritten between `-E` and the
/// compile (a build writing generated headers in parallel) must not leave the compile's
/// object under that key. A wrapper rewrites `h.h` during the first compile only.
fn header_changed_during_a_preprocessor_mode_compile(cc: &Cc) {
    let mut s = Sandbox::new();
    s.set_env("CACHEPOT_DIRECT", "0");
    let real = which(cc.name).unwrap();
    std::fs::create_dir(s.path("wrap")).unwrap();
    let script = format!(
        "#!/bin/sh\ncase \" $* \" in *\" -c \"*) if [ -e EDIT ]; then rm EDIT; \
         echo '#define X 2' > h.h; fi;; esac\nexec '{}' \"$@\"\n",
        real.display()
    );
    let wrapper = write_executable(&s, &format!("wrap/{}", cc.name), &script);
    let src = cc.src("x");
    s.write(&src, "#include \"h.h\"\nint x = X;\n");
    s.write("h.h", "#define X 1\n");
    s.write("EDIT", "");
    let w = wrapper.to_str().unwrap();
    s.compile(w, &["-c", &src, "-o", "x.o"]);
    // The file is back to what -E saw the first time: the object must say X 1.
    s.write("h.h", "#define X 1\n");
    s.compile(w, &["-c", &src, "-o", "x.o"]);
    s.bare(cc.name, &["-c", &src, "-o", "bare.o"]);
    assert_eq!(s.read("x.o"), s.read("bare.o"));
}

/// A `-B` program rewritten after cachepot keyed it but before the compile ran it (a
/// wrapper does it here; in real builds, a parallel step): the compile's object must not
/// be stored under the old program's key.
#[test]
fn b_prefix_program_rewritten_during_the_compile() {
    if !require_tool("gcc") || !require_tool("as") {
        return;
    }
    let s = Sandbox::new();
    let src = s.hello(&GCC);
    std::fs::create_dir(s.path("bdir")).unwrap();
    std::fs::create_dir(s.path("wrap")).unwrap();
    write_marking_as(&s, "bdir/as", "1");
    let real_gcc = which("gcc").unwrap();
    let real_as = which("as").unwrap();
    let script = format!(
        "#!/bin/sh\ncase \" $* \" in *\" -c \"*) if [ -e EDIT ]; then rm EDIT; \
         printf '#!/bin/sh\\nexec {} --defsym MARK=2 \"$@\"\\n' > bdir/as; fi;; esac\n\
         exec '{}' \"$@\"\n",
        real_as.display(),
        real_gcc.display()
    );
    let wrapper = write_executable(&s, "wrap/gcc", &script);
    let w = wrapper.to_str().unwrap();
    s.write("EDIT", "");
    s.compile(w, &["-Bbdir/", "-c", &src, "-o", "hello.o"]);
    write_marking_as(&s, "bdir/as", "1");
    s.compile(w, &["-Bbdir/", "-c", &src, "-o", "hello.o"]);
    s.bare("gcc", &["-Bbdir/", "-c", &src, "-o", "bare.o"]);
    assert_eq!(s.read("hello.o"), s.read("bare.o"));
}
