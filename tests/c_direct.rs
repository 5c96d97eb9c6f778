//! Direct mode of `cachepot <gcc|clang>`, black box: a direct hit runs no process at all
//! (a logging shim first on PATH is the compiler, and its log must not grow), and every
//! pitfall of ../shared/caching-spec.md part A has a test named `pitfall_<n>_...`.
//!
//! Correctness is always judged against the bare compiler: objects and dep files are
//! compared with what the compiler itself writes for the same command, and programs are
//! linked and run (a header defines the value that `main` prints).
//!
//! Facts relied on (the implementation's documented behaviour): the compiler identity is
//! computed once per cache dir and the include search list once per (compiler, args,
//! cwd), both through the shim, so shim runs are only counted around the call that must
//! hit. Stats carry `direct_hits` and `preprocessed_hits` besides the contract's keys.

#[macro_use]
mod common;

use common::*;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The C compilers these tests run with (a loud skip for a missing one, a panic in CI).
fn compilers() -> Vec<&'static str> {
    ["gcc", "clang"]
        .into_iter()
        .filter(|cc| require_tool(cc))
        .collect()
}

/// A program printing `VALUE` (an int) after `include_line`.
fn int_main(include_line: &str) -> String {
    format!(
        "#include <stdio.h>\n{include_line}\nint main(void)\n{{\n    printf(\"%d\\n\", VALUE);\n    return 0;\n}}\n"
    )
}

/// A program printing `BUILT()` (a string) after `include_line`.
fn str_main(include_line: &str) -> String {
    format!(
        "#include <stdio.h>\n{include_line}\nint main(void)\n{{\n    printf(\"%s\\n\", BUILT());\n    return 0;\n}}\n"
    )
}

fn define(value: impl std::fmt::Display) -> String {
    format!("#define VALUE {value}\n")
}

/// What one compile through cachepot turned out to be, from the stats' deltas.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Kind {
    Direct,
    Preprocessed,
    Miss,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    hits: u64,
    misses: u64,
    direct: u64,
    preprocessed: u64,
    errors: u64,
}

fn counts(s: &Sandbox) -> Counts {
    let v = s.stats();
    assert_stats_consistent(&v);
    Counts {
        hits: stat_of(&v, "cache_hits"),
        misses: stat_of(&v, "cache_misses"),
        direct: stat_of(&v, "direct_hits"),
        preprocessed: stat_of(&v, "preprocessed_hits"),
        errors: stat_of(&v, "cache_errors"),
    }
}

/// One test world: a sandbox whose PATH starts with a logging shim named after the
/// compiler (so `cachepot gcc` runs the shim), and TMPDIR inside the sandbox (checked to
/// be left empty: temporary dep files must be cleaned up).
struct World {
    s: Sandbox,
    cc: &'static str,
    shim: Option<Shim>,
    tmp: PathBuf,
}

fn prepend_path(s: &mut Sandbox, dir: &Path) {
    let old = s.env_value("PATH").expect("PATH is set").to_owned();
    let mut new = OsString::from(dir.as_os_str());
    new.push(":");
    new.push(old);
    s.set_env("PATH", new);
}

impl World {
    /// With a logging shim of `cc` first on PATH.
    fn new(cc: &'static str) -> World {
        let mut s = Sandbox::new();
        let shim = s.shim(cc);
        prepend_path(&mut s, &shim.dir);
        World::finish(s, cc, Some(shim))
    }

    /// Without a shim (for tests that put their own compiler wrapper on PATH).
    fn plain(cc: &'static str) -> World {
        World::finish(Sandbox::new(), cc, None)
    }

    fn finish(mut s: Sandbox, cc: &'static str, shim: Option<Shim>) -> World {
        let tmp = s.root().join("tmp");
        fs::create_dir_all(&tmp).expect("create sandbox TMPDIR");
        s.set_env("TMPDIR", &tmp);
        World { s, cc, shim, tmp }
    }

    fn dir(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.s.work.clone()
        } else {
            self.s.path(rel)
        }
    }

    fn shim_runs(&self) -> usize {
        self.shim.as_ref().map_or(0, |sh| sh.runs().len())
    }

    /// `cachepot <cc> args` in `<work>/<dir>`, and what it was.
    fn compile(&self, dir: &str, args: &[&str]) -> Kind {
        let before = counts(&self.s);
        self.s.compile_in(&self.dir(dir), self.cc, args);
        let after = counts(&self.s);
        assert_eq!(
            after.errors,
            before.errors,
            "cache error during `{} {}`:\n{}",
            self.cc,
            args.join(" "),
            tail(&self.s.log_text(), 30)
        );
        if after.direct == before.direct + 1 && after.hits == before.hits + 1 {
            Kind::Direct
        } else if after.preprocessed == before.preprocessed + 1 && after.hits == before.hits + 1 {
            Kind::Preprocessed
        } else if after.misses == before.misses + 1 && after.hits == before.hits {
            Kind::Miss
        } else {
            Kind::Other
        }
    }

    /// Asserts a direct hit that ran no process (the shim's log did not grow).
    fn expect_direct(&self, dir: &str, args: &[&str], why: &str) {
        let runs = self.shim_runs();
        let kind = self.compile(dir, args);
        assert_eq!(
            kind,
            Kind::Direct,
            "{}: `{} {}` in {dir:?} must be a direct hit\n{}",
            why,
            self.cc,
            args.join(" "),
            tail(&self.s.log_text(), 30)
        );
        if let Some(shim) = &self.shim {
            assert_eq!(
                shim.runs().len(),
                runs,
                "{why}: a direct hit ran the compiler: {:?}",
                &shim.runs()[runs..]
            );
        }
    }

    fn expect(&self, want: Kind, dir: &str, args: &[&str], why: &str) {
        let kind = self.compile(dir, args);
        assert_eq!(
            kind,
            want,
            "{why}: `{} {}` in {dir:?}\n{}",
            self.cc,
            args.join(" "),
            tail(&self.s.log_text(), 30)
        );
    }

    /// Asserts the compile is not a direct hit (a miss or a preprocessed hit are fine).
    fn expect_not_direct(&self, dir: &str, args: &[&str], why: &str) {
        let kind = self.compile(dir, args);
        assert!(
            kind == Kind::Miss || kind == Kind::Preprocessed,
            "{why}: `{} {}` in {dir:?} must not be a direct hit, was {kind:?}",
            self.cc,
            args.join(" ")
        );
    }

    /// Links `<dir>/<obj>` with the bare compiler, runs it, returns its trimmed stdout.
    fn run(&self, dir: &str, obj: &str) -> String {
        let d = self.dir(dir);
        let exe = format!("{obj}.exe");
        let out = self.s.bare_in(&d, self.cc, &[obj, "-o", exe.as_str()]);
        self.s
            .assert_success(&out, &format!("link {obj} in {dir:?}"));
        let out = run(self.s.command(d.join(&exe)).current_dir(&d));
        self.s.assert_success(&out, &format!("run {exe}"));
        lossy(&out.stdout).trim().to_string()
    }

    /// Compares what cachepot left in `outputs` (relative to `dir`) with what the bare
    /// compiler writes for the very same command (objects byte for byte, dep files rule
    /// for rule). The bare compiler's files are left in place.
    fn assert_same_as_bare(&self, dir: &str, args: &[&str], outputs: &[&str]) {
        let d = self.dir(dir);
        let cached: Vec<Vec<u8>> = outputs
            .iter()
            .map(|o| {
                fs::read(d.join(o))
                    .unwrap_or_else(|e| panic!("cachepot did not write {o} in {dir:?}: {e}"))
            })
            .collect();
        for o in outputs {
            fs::remove_file(d.join(o)).unwrap();
        }
        let out = self.s.bare_in(&d, self.cc, args);
        self.s
            .assert_success(&out, &format!("bare {} {}", self.cc, args.join(" ")));
        for (o, mine) in outputs.iter().zip(cached) {
            let theirs = fs::read(d.join(o)).unwrap();
            if o.ends_with(".d") || o.ends_with(".dep") {
                let (m, t) = (lossy(&mine), lossy(&theirs));
                assert_eq!(
                    make_rules(&m),
                    make_rules(&t),
                    "`{} {}` in {dir:?}: dep file {o} differs from the bare compiler's\n--- cachepot ---\n{m}\n--- compiler ---\n{t}",
                    self.cc,
                    args.join(" ")
                );
            } else {
                assert!(
                    mine == theirs,
                    "`{} {}` in {dir:?}: {o} differs from the bare compiler's",
                    self.cc,
                    args.join(" ")
                );
            }
        }
    }

    fn assert_tmp_empty(&self) {
        let left = walk_files(&self.tmp);
        assert!(left.is_empty(), "temporary files left behind: {left:?}");
    }
}

/// Sets a file's mtime to `secs` after the epoch (no sleeping to get an old mtime).
fn set_mtime(path: &Path, secs: u64) {
    let f = fs::File::options()
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

fn mtime_of(path: &Path) -> SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

/// Writes an executable `#!/bin/sh` script.
fn write_script(path: &Path, body: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_executable(path, body);
}

fn real(tool: &str) -> String {
    which(tool)
        .unwrap_or_else(|| panic!("no {tool} on PATH"))
        .to_string_lossy()
        .into_owned()
}

// ---------------------------------------------------------------------------------------
// Direct hits run nothing
// ---------------------------------------------------------------------------------------

/// (dep flags, dep file written next to the object, or "" for none)
const DEP_VARIANTS: [(&[&str], &str); 4] = [
    (&[], ""),
    (&["-MD"], "main.d"),
    (&["-MMD"], "main.d"),
    (&["-MD", "-MP", "-MF", "main.dep"], "main.dep"),
];

fn with_deps(dep: &[&'static str], rest: &[&'static str]) -> Vec<&'static str> {
    let mut v = dep.to_vec();
    v.extend_from_slice(rest);
    v
}

#[test]
fn direct_hit_runs_no_process_with_md_mmd_and_no_dep_flags() {
    for cc in compilers() {
        for (dep, dep_file) in DEP_VARIANTS {
            let w = World::new(cc);
            w.s.write("main.c", int_main("#include \"foo.h\""));
            w.s.write("foo.h", define(7));
            let args = with_deps(dep, &["-c", "main.c", "-o", "main.o"]);
            w.expect(Kind::Miss, "", &args, "first compile");
            assert_eq!(w.run("", "main.o"), "7");
            w.s.remove("main.o");
            if !dep_file.is_empty() {
                w.s.remove(dep_file);
            }
            w.expect_direct("", &args, &format!("{cc} {dep:?}: identical repeat"));
            let mut outputs = vec!["main.o"];
            if dep_file.is_empty() {
                assert!(
                    !w.s.exists("main.d"),
                    "{cc}: no dep flags, yet a dep file was left"
                );
            } else {
                outputs.push(dep_file);
            }
            w.assert_same_as_bare("", &args, &outputs);
            assert_eq!(w.run("", "main.o"), "7");

            // Another -o: still a direct hit, and the dep file names the new target.
            fs::create_dir_all(w.s.path("other")).unwrap();
            let other_dep = if dep_file == "main.d" {
                "other/main.d"
            } else {
                dep_file
            };
            let args = with_deps(dep, &["-c", "main.c", "-o", "other/main.o"]);
            w.expect_direct("", &args, &format!("{cc} {dep:?}: another -o"));
            let mut outputs = vec!["other/main.o"];
            if !dep_file.is_empty() {
                outputs.push(other_dep);
                let text = lossy(&w.s.read(other_dep));
                assert!(
                    text.contains("other/main.o"),
                    "{cc} {dep:?}: dep file not retargeted:\n{text}"
                );
            }
            w.assert_same_as_bare("", &args, &outputs);
            w.assert_tmp_empty();
        }
    }
}

#[test]
fn pitfall_4_source_named_with_dotdot_keeps_direct_mode() {
    for cc in compilers() {
        for (dep, dep_file) in DEP_VARIANTS {
            let w = World::new(cc);
            w.s.write("src/main.c", int_main("#include \"foo.h\""));
            w.s.write("src/foo.h", define(44));
            fs::create_dir_all(w.s.path("build")).unwrap();
            let args = with_deps(dep, &["-c", "../src/main.c", "-o", "main.o"]);
            w.expect(Kind::Miss, "build", &args, "first compile");
            fs::remove_file(w.s.path("build/main.o")).unwrap();
            w.expect_direct(
                "build",
                &args,
                &format!("{cc} {dep:?}: ../src/main.c from a build dir"),
            );
            let mut outputs = vec!["main.o"];
            if !dep_file.is_empty() {
                outputs.push(dep_file);
            }
            w.assert_same_as_bare("build", &args, &outputs);
            assert_eq!(w.run("build", "main.o"), "44");

            // An edit of the header beside the ../ source is seen.
            w.s.write("src/foo.h", define(45));
            w.expect(Kind::Miss, "build", &args, "edited ../src/foo.h");
            assert_eq!(w.run("build", "main.o"), "45");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Pitfall 1: new headers that shadow recorded ones
// ---------------------------------------------------------------------------------------

#[test]
fn pitfall_1_new_header_shadows_included_one_in_earlier_include_dir() {
    for cc in compilers() {
        let w = World::new(cc);
        w.s.write("main.c", int_main("#include <foo.h>"));
        w.s.write("inc1/unrelated.h", "/* nothing */\n");
        w.s.write("inc2/foo.h", define(2));
        let args = ["-Iinc1", "-Iinc2", "-c", "main.c", "-o", "main.o"];
        w.expect(Kind::Miss, "", &args, "first compile");
        assert_eq!(w.run("", "main.o"), "2");
        w.expect_direct("", &args, "unchanged");

        // Unrelated new files in every searched directory keep the direct hit.
        w.s.write("inc1/other.h", "/* nothing */\n");
        w.s.write("inc2/other.h", "/* nothing */\n");
        w.s.write("notes.txt", "x\n");
        w.expect_direct("", &args, "unrelated new files");

        w.s.write("inc1/foo.h", define(1));
        w.expect(Kind::Miss, "", &args, "inc1/foo.h now shadows inc2/foo.h");
        w.assert_same_as_bare("", &args, &["main.o"]);
        assert_eq!(w.run("", "main.o"), "1");
        w.expect_direct("", &args, "repeat after the shadowing header");

        // Removing it again brings back the first result (correctly).
        w.s.remove("inc1/foo.h");
        w.compile("", &args);
        assert_eq!(w.run("", "main.o"), "2");
    }
}

#[test]
fn pitfall_1_new_header_beside_the_source_shadows_a_quoted_include() {
    for cc in compilers() {
        let w = World::new(cc);
        w.s.write("src/main.c", int_main("#include \"foo.h\""));
        w.s.write("inc/foo.h", define(2));
        let args = ["-Iinc", "-c", "src/main.c", "-o", "main.o"];
        w.expect(Kind::Miss, "", &args, "first compile");
        assert_eq!(w.run("", "main.o"), "2");
        w.s.write("src/README", "unrelated\n");
        w.expect_direct("", &args, "an unrelated file beside the source");

        w.s.write("src/foo.h", define(3));
        w.expect(Kind::Miss, "", &args, "src/foo.h now shadows inc/foo.h");
        w.assert_same_as_bare("", &args, &["main.o"]);
        assert_eq!(w.run("", "main.o"), "3");
    }
}

#[test]
fn pitfall_1_include_dir_shadows_an_isystem_header() {
    for cc in compilers() {
        let w = World::new(cc);
        w.s.write("main.c", int_main("#include <bar.h>"));
        w.s.write("sys/bar.h", define(4));
        fs::create_dir_all(w.s.path("inc")).unwrap();
        let args = ["-Iinc", "-isystem", "sys", "-c", "main.c", "-o", "main.o"];
        w.expect(Kind::Miss, "", &args, "first compile");
        assert_eq!(w.run("", "main.o"), "4");
        w.expect_direct("", &args, "unchanged");

        w.s.write("inc/bar.h", define(5));
        w.expect(Kind::Miss, "", &args, "inc/bar.h now shadows sys/bar.h");
        w.assert_same_as_bare("", &args, &["main.o"]);
        assert_eq!(w.run("", "main.o"), "5");
    }
}

#[test]
fn pitfall_1_new_header_in_a_new_subdirectory_of_an_earlier_include_dir() {
    for cc in compilers() {
        let w = World::new(cc);
        w.s.write("main.c", int_main("#include <sub/foo.h>"));
        fs::create_dir_all(w.s.path("inc1")).unwrap();
        w.s.write("inc2/sub/foo.h", define(8));
        let args = ["-Iinc1", "-Iinc2", "-c", "main.c", "-o", "main.o"];
        w.expect(Kind::Miss, "", &args, "first compile");
        assert_eq!(w.run("", "main.o"), "8");
        w.expect_direct("", &args, "unchanged");

        w.s.write("inc1/sub/foo.h", define(9));
        w.expect(
            Kind::Miss,
            "",
            &args,
            "inc1/sub/foo.h now shadows inc2/sub/foo.h",
        );
        assert_eq!(w.run("", "main.o"), "9");
    }
}

/// The includer's directory comes first for a quoted include even when that directory is
/// searched after the others for angle includes.
#[test]
fn pitfall_1_new_header_beside_a_nested_includer_shadows_its_quoted_include() {
    for cc in compilers() {
        let w = World::new(cc);
        w.s.write("main.c", int_main("#include <a.h>"));
        w.s.write("inc1/a.h", "#include \"b.h\"\n");
        w.s.write("inc2/b.h", define(20));
        let args = ["-Iinc2", "-Iinc1", "-c", "main.c", "-o", "main.o"];
        w.expect(Kind::Miss, "", &args, "first compile");
        assert_eq!(w.run("", "main.o"), "20");
        w.expect_direct("", &args, "unchanged");

        w.s.write("inc1/b.h", define(21));
        w.expect(
            Kind::Miss,
            "",
            &args,
            "inc1/b.h, beside a.h, now shadows inc2/b.h",
        );
        assert_eq!(w.run("", "main.o"), "21");
    }
}

/// An -I directory that did not exist at the first compile (gcc and clang drop it from
/// their search list) and is created later with a header that shadows the recorded one.
#[test]
fn pitfall_1_new_header_in_an_include_dir_created_after_the_compile() {
    for cc in compilers() {
        let w = World::new(cc);
        w.s.write("main.c", int_main("#include <foo.h>"));
        w.s.write("inc2/foo.h", define(2));
        let args = ["-Iinc1", "-Iinc2", "-c", "main.c", "-o", "main.o"];
        w.expect(Kind::Miss, "", &args, "first compile");
        assert_eq!(w.run("", "main.o"), "2");

        w.s.write("inc1/foo.h", define(1));
        w.compile("", &args);
        assert_eq!(
            w.run("", "main.o"),
            "1",
            "{cc}: the new -Iinc1 dir holds foo.h, which the compiler now includes; \
             cachepot returned the object of inc2/foo.h (a wrong direct hit)"
        );
    }
}

#[test]
fn pitfall_1_has_include_probe_sees_a_new_header() {
    for cc in compilers() {
        let w = World::new(cc);
        w.s.write(
            "main.c",
            int_main(
                "#if __has_include(\"opt.h\")\n#include \"opt.h\"\n#else\n#define VALUE 10\n#endif",
            ),
        );
        let args = ["-c", "main.c", "-o", "main.o"];
        w.expect(Kind::Miss, "", &args, "first compile");
        assert_eq!(w.run("", "main.o"), "10");
        w.expect_direct("", &args, "unchanged");

        w.s.write("opt.h", define(11));
        w.expect(
            Kind::Miss,
            "",
            &args,
            "__has_include(\"opt.h\") is now true",
        );
        assert_eq!(w.run("", "main.o"), "11");
        w.expect_direct("", &args, "repeat");
        w.s.remove("opt.h");
        w.compile("", &args);
        assert_eq!(w.run("", "main.o"), "10");
    }
}

/// `__has_include` under another name (as xxhash.h's `XXH_HAS_INCLUDE`, which zstd and
/// lz4 include), defined in one header and called in the source. Called with a literal
/// name, the name is probed like a direct call: direct hits, and a header appearing that
/// changes the answer is a miss. Called with a macro argument, no include set can
/// describe it: the command is keyed on its preprocessed text from its second call on
/// (preprocessed hits from the third, not a miss every time).
#[test]
fn has_include_through_a_macro() {
    for cc in compilers() {
        for (call, repeat) in [
            ("HI(\"opt.h\")", Kind::Direct),
            ("HI(OPT)", Kind::Preprocessed),
        ] {
            for dep in [&[][..], &["-MD"][..]] {
                let w = World::new(cc);
                w.s.write(
                    "hi.h",
                    "#ifdef __has_include\n#define HI __has_include\n#else\n#define HI(x) 0\n#endif\n",
                );
                w.s.write(
                    "main.c",
                    int_main(&format!(
                        "#include \"hi.h\"\n#define OPT \"opt.h\"\n#if {call}\n#include OPT\n#else\n#define VALUE 10\n#endif"
                    )),
                );
                let args = with_deps(dep, &["-c", "main.c", "-o", "main.o"]);
                let why = |what: &str| format!("{call} {dep:?}: {what}");
                w.expect(Kind::Miss, "", &args, &why("first compile"));
                assert_eq!(w.run("", "main.o"), "10");
                if repeat == Kind::Preprocessed {
                    // The first compile only marks the command; the second, in
                    // preprocessor mode, runs `-E` before it compiles and stores.
                    w.expect(Kind::Miss, "", &args, &why("first preprocessor-mode call"));
                }
                w.expect(repeat, "", &args, &why("unchanged"));

                w.s.write("opt.h", define(11));
                w.expect(Kind::Miss, "", &args, &why("opt.h appeared"));
                assert_eq!(
                    w.run("", "main.o"),
                    "11",
                    "{}",
                    why("the new header's value")
                );
                w.expect(repeat, "", &args, &why("unchanged again"));
                w.assert_same_as_bare("", &args, &["main.o"]);

                w.s.remove("opt.h");
                w.expect(repeat, "", &args, &why("back to the first state"));
                assert_eq!(w.run("", "main.o"), "10");
            }
        }
    }
}

/// `-DHI=__has_include` on the command line: no file defines the alias, so no scan of
/// the files would recognise `HI("opt.h")` as a probe. Direct mode is off for such a
/// command, as for `-DSTAMP=__TIME__`; the preprocessed text keys it.
#[test]
fn has_include_alias_on_the_command_line() {
    for cc in compilers() {
        let w = World::new(cc);
        w.s.write(
            "main.c",
            int_main("#if HI(\"opt.h\")\n#include \"opt.h\"\n#else\n#define VALUE 10\n#endif"),
        );
        let args = ["-DHI=__has_include", "-c", "main.c", "-o", "main.o"];
        w.expect(Kind::Miss, "", &args, "first compile");
        assert_eq!(w.run("", "main.o"), "10");
        w.expect(
            Kind::Preprocessed,
            "",
            &args,
            "unchanged: never a direct hit",
        );
        w.s.write("opt.h", define(11));
        w.expect(Kind::Miss, "", &args, "opt.h appeared");
        assert_eq!(w.run("", "main.o"), "11");
    }
}

/// A computed `__has_include` of the object the compile writes: the first compile cannot
/// see it, later ones can. Keying the first compile's object on a `-E` run after it
/// stored it under the text of the later ones (found in review); the first call now
/// only marks the command for preprocessor mode.
#[test]
fn computed_has_include_of_the_output_itself() {
    for cc in compilers() {
        let w = World::new(cc);
        w.s.write(
            "main.c",
            int_main("#define OUT \"main.o\"\n#if __has_include(OUT)\n#define VALUE 11\n#else\n#define VALUE 10\n#endif"),
        );
        let args = ["-c", "main.c", "-o", "main.o"];
        for (i, want) in ["10", "11", "11", "11"].into_iter().enumerate() {
            w.compile("", &args);
            // What the bare compiler gives: main.o exists from the second compile on.
            assert_eq!(w.run("", "main.o"), want, "{cc}: compile {}", i + 1);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Invalidation by inputs
// ---------------------------------------------------------------------------------------

#[test]
fn editing_a_header_or_a_nested_header_is_a_miss() {
    for cc in compilers() {
        for dep in [&[][..], &["-MD"][..], &["-MMD"][..]] {
            let w = World::new(cc);
            w.s.write("main.c", int_main("#include \"foo.h\""));
            w.s.write(
                "foo.h",
                "#include \"inc/nested.h\"\n#define VALUE (BASE + 1)\n",
            );
            w.s.write("inc/nested.h", "#define BASE 100\n");
            let args = with_deps(dep, &["-c", "main.c", "-o", "main.o"]);
            w.expect(Kind::Miss, "", &args, "first compile");
            assert_eq!(w.run("", "main.o"), "101");
            w.expect_direct("", &args, "unchanged");

            w.s.write("inc/nested.h", "#define BASE 200\n");
            w.expect(Kind::Miss, "", &args, "nested header edited");
            assert_eq!(w.run("", "main.o"), "201");

            w.s.write(
                "foo.h",
                "#include \"inc/nested.h\"\n#define VALUE (BASE + 2)\n",
            );
            w.expect(Kind::Miss, "", &args, "top header edited");
            w.assert_same_as_bare("", &args, &["main.o"]);
            assert_eq!(w.run("", "main.o"), "202");

            // Back to the first contents: a hit on the first result, and a correct one.
            w.s.write("inc/nested.h", "#define BASE 100\n");
            w.s.write(
                "foo.h",
                "#include \"inc/nested.h\"\n#define VALUE (BASE + 1)\n",
            );
            let kind = w.compile("", &args);
            assert!(
                kind == Kind::Direct || kind == Kind::Preprocessed,
                "{kind:?}"
            );
            assert_eq!(w.run("", "main.o"), "101");
        }
    }
}

#[test]
fn changing_a_define_is_a_miss() {
    for cc in compilers() {
        let w = World::new(cc);
        w.s.write("main.c", int_main("#include \"foo.h\""));
        w.s.write("foo.h", "#ifndef VALUE\n#define VALUE 1\n#endif\n");
        let base = ["-c", "main.c", "-o", "main.o"];
        w.expect(Kind::Miss, "", &base, "first compile");
        w.expect_direct("", &base, "unchanged");
        let d2 = ["-DVALUE=2", "-c", "main.c", "-o", "main.o"];
        w.expect(Kind::Miss, "", &d2, "new -D");
        assert_eq!(w.run("", "main.o"), "2");
        let d3 = ["-DVALUE=3", "-c", "main.c", "-o", "main.o"];
        w.expect(Kind::Miss, "", &d3, "changed -D");
        assert_eq!(w.run("", "main.o"), "3");
        w.expect_direct("", &d2, "-DVALUE=2 again");
        assert_eq!(w.run("", "main.o"), "2");
        w.expect_direct("", &base, "no -D again");
        assert_eq!(w.run("", "main.o"), "1");
    }
}

#[test]
fn changing_a_forced_include_file_is_a_miss() {
    for cc in compilers() {
        let w = World::new(cc);
        w.s.write("main.c", int_main(""));
        w.s.write("config.h", define(30));
        let args = ["-include", "config.h", "-c", "main.c", "-o", "main.o"];
        w.expect(Kind::Miss, "", &args, "first compile");
        assert_eq!(w.run("", "main.o"), "30");
        w.expect_direct("", &args, "unchanged");
        w.s.write("config.h", define(31));
        w.expect(Kind::Miss, "", &args, "-include file edited");
        w.assert_same_as_bare("", &args, &["main.o"]);
        assert_eq!(w.run("", "main.o"), "31");
    }
}

#[test]
fn changing_cpath_is_a_miss() {
    for cc in compilers() {
        let mut w = World::new(cc);
        w.s.write("main.c", int_main("#include <cfg.h>"));
        w.s.write("cp1/cfg.h", define(1));
        w.s.write("cp2/cfg.h", define(2));
        let args = ["-c", "main.c", "-o", "main.o"];
        let cp1 = w.s.path("cp1");
        let cp2 = w.s.path("cp2");
        w.s.set_env("CPATH", &cp1);
        w.expect(Kind::Miss, "", &args, "first compile");
        assert_eq!(w.run("", "main.o"), "1");
        w.expect_direct("", &args, "unchanged");
        w.s.set_env("CPATH", &cp2);
        w.expect(Kind::Miss, "", &args, "CPATH names another dir");
        w.assert_same_as_bare("", &args, &["main.o"]);
        assert_eq!(w.run("", "main.o"), "2");
        w.s.set_env("CPATH", &cp1);
        w.compile("", &args);
        assert_eq!(w.run("", "main.o"), "1");
    }
}

// ---------------------------------------------------------------------------------------
// Pitfall 2: __TIME__, __DATE__, __TIMESTAMP__
// ---------------------------------------------------------------------------------------

#[test]
fn pitfall_2_time_macro_is_never_a_direct_hit() {
    require!("gcc");
    for dep in [&[][..], &["-MD"][..], &["-MMD"][..]] {
        let mut w = World::new("gcc");
        w.s.write("main.c", str_main("#include \"clock.h\""));
        w.s.write("clock.h", "#define BUILT() __TIME__\n");
        let args = with_deps(dep, &["-c", "main.c", "-o", "main.o"]);

        // gcc takes __TIME__ from SOURCE_DATE_EPOCH when set: exact expectations.
        w.s.set_env("SOURCE_DATE_EPOCH", "0");
        w.expect(Kind::Miss, "", &args, "first compile");
        assert_eq!(w.run("", "main.o"), "00:00:00");
        w.expect_not_direct("", &args, "__TIME__, same epoch");
        assert_eq!(w.run("", "main.o"), "00:00:00");
        w.s.set_env("SOURCE_DATE_EPOCH", "3723");
        w.expect_not_direct("", &args, "__TIME__, new epoch");
        assert_eq!(w.run("", "main.o"), "01:02:03");

        // The clock itself: never a direct hit, whatever the timing.
        w.s.remove_env("SOURCE_DATE_EPOCH");
        for round in 0..2 {
            w.expect_not_direct(
                "",
                &args,
                &format!("__TIME__ from the clock, round {round}"),
            );
            let t = w.run("", "main.o");
            assert!(
                t.len() == 8 && t.as_bytes()[2] == b':' && t.as_bytes()[5] == b':',
                "not a time: {t}"
            );
        }
        let c = counts(&w.s);
        assert_eq!(c.direct, 0, "{dep:?}: a __TIME__ compile was a direct hit");
        assert_eq!(c.hits, c.preprocessed, "{dep:?}");
    }
}

#[test]
fn pitfall_2_date_macro_keys_on_source_date_epoch() {
    require!("gcc");
    for dep in [&[][..], &["-MMD"][..]] {
        let mut w = World::new("gcc");
        w.s.write("main.c", str_main("#include \"date.h\""));
        w.s.write("date.h", "#define BUILT() __DATE__\n");
        let args = with_deps(dep, &["-c", "main.c", "-o", "main.o"]);
        w.s.set_env("SOURCE_DATE_EPOCH", "0");
        w.expect(Kind::Miss, "", &args, "first compile");
        assert_eq!(w.run("", "main.o"), "Jan  1 1970");
        w.expect_direct("", &args, "__DATE__, unchanged epoch");
        assert_eq!(w.run("", "main.o"), "Jan  1 1970");

        w.s.set_env("SOURCE_DATE_EPOCH", (86400 * 40).to_string());
        w.expect(Kind::Miss, "", &args, "__DATE__, new epoch");
        assert_eq!(w.run("", "main.o"), "Feb 10 1970");
        w.expect_direct("", &args, "__DATE__, repeat of the new epoch");
        assert_eq!(w.run("", "main.o"), "Feb 10 1970");

        w.s.set_env("SOURCE_DATE_EPOCH", "0");
        w.compile("", &args);
        assert_eq!(w.run("", "main.o"), "Jan  1 1970");
    }
}

/// Without SOURCE_DATE_EPOCH, `__DATE__` is the local date: TZ decides it. UTC+14 and
/// UTC-12 are 26 hours apart, so their dates always differ.
#[test]
fn pitfall_2_date_macro_follows_the_local_date() {
    for cc in compilers() {
        let mut w = World::new(cc);
        w.s.write("main.c", str_main("#include \"date.h\""));
        w.s.write("date.h", "#define BUILT() __DATE__\n");
        let args = ["-c", "main.c", "-o", "main.o"];
        w.s.set_env("TZ", "EAST-14");
        w.expect(Kind::Miss, "", &args, "first compile");
        let east = w.run("", "main.o");
        w.expect_direct("", &args, "__DATE__, same day");
        assert_eq!(w.run("", "main.o"), east);

        w.s.set_env("TZ", "WEST+12");
        w.expect_not_direct("", &args, "__DATE__ in a time zone with another date");
        let west = w.run("", "main.o");
        assert_ne!(west, east, "{cc}: __DATE__ of another day expected");
        w.assert_same_as_bare("", &args, &["main.o"]);
    }
}

#[test]
fn pitfall_2_timestamp_macro_keys_on_the_file_mtime() {
    for cc in compilers() {
        let mut w = World::new(cc);
        w.s.set_env("TZ", "UTC");
        w.s.write("main.c", str_main("#include \"stamp.h\""));
        // Expanded inside the header: the header's own mtime.
        let h = w.s.write(
            "stamp.h",
            "static const char *BUILT(void) { return __TIMESTAMP__; }\n",
        );
        set_mtime(&h, 981_173_106); // 2001-02-03 04:05:06 UTC
        let args = ["-c", "main.c", "-o", "main.o"];
        w.expect(Kind::Miss, "", &args, "first compile");
        assert_eq!(w.run("", "main.o"), "Sat Feb  3 04:05:06 2001");
        w.expect_direct("", &args, "__TIMESTAMP__, untouched file");

        set_mtime(&h, 1_014_876_610); // 2002-02-28 06:10:10 UTC, same content
        w.expect_not_direct("", &args, "__TIMESTAMP__, touched header");
        assert_eq!(w.run("", "main.o"), "Thu Feb 28 06:10:10 2002");
        w.assert_same_as_bare("", &args, &["main.o"]);
        w.expect_direct("", &args, "__TIMESTAMP__, repeat");
        assert_eq!(w.run("", "main.o"), "Thu Feb 28 06:10:10 2002");
    }
}

// ---------------------------------------------------------------------------------------
// Pitfall 3: inputs modified during the compile
// ---------------------------------------------------------------------------------------

#[test]
fn pitfall_3_header_modified_during_the_compile_is_not_recorded() {
    require!("gcc");
    for dep in [&[][..], &["-MD"][..], &["-MMD"][..]] {
        let mut w = World::plain("gcc");
        w.s.write("main.c", int_main("#include \"foo.h\""));
        let header = w.s.write("foo.h", define(1));
        let marker = w.s.root().join("modify-once");
        // A gcc first on PATH that, after a real compile (not a preprocessor run), appends
        // to the header once while the marker exists: the header then has an mtime after
        // the compile's start, and the object describes its old content.
        let wrap = w.s.root().join("wrap");
        write_script(
            &wrap.join("gcc"),
            &format!(
                "#!/bin/sh\n'{gcc}' \"$@\"\nrc=$?\ncase \" $* \" in\n  *' -E '*) ;;\n  *' -c '*)\n    if [ -e '{m}' ]; then\n      rm -f '{m}'\n      printf '#undef VALUE\\n#define VALUE 2\\n' >> '{h}'\n    fi ;;\nesac\nexit $rc\n",
                gcc = real("gcc"),
                m = marker.display(),
                h = header.display()
            ),
        );
        prepend_path(&mut w.s, &wrap);
        let args = with_deps(dep, &["-c", "main.c", "-o", "main.o"]);
        // Identity and search list first, so the racy compile is an ordinary miss.
        w.s.write("warm.c", "int warm;\n");
        w.compile("", &with_deps(dep, &["-c", "warm.c", "-o", "warm.o"]));

        fs::write(&marker, "").unwrap();
        w.expect(Kind::Miss, "", &args, "the racy compile");
        assert!(
            !marker.exists(),
            "test premise: the wrapper modified the header"
        );
        assert_eq!(
            w.run("", "main.o"),
            "1",
            "the racy compile saw the old header"
        );

        let kind = w.compile("", &args);
        assert_ne!(
            kind,
            Kind::Direct,
            "{dep:?}: the include set of a compile during which foo.h changed was recorded"
        );
        w.assert_same_as_bare("", &args, &["main.o"]);
        assert_eq!(
            w.run("", "main.o"),
            "2",
            "{dep:?}: wrong hit after a racy compile"
        );

        // Stable again: now it is recorded.
        w.expect_direct("", &args, "repeat once the header is stable");
        assert_eq!(w.run("", "main.o"), "2");
    }
}

/// Validation must not trust size + mtime alone: an edit of the same size with the old
/// mtime put back (as `cp -p` or `tar x` do) is still a miss.
#[test]
fn pitfall_3_same_size_edit_with_the_old_mtime_restored_is_a_miss() {
    for cc in compilers() {
        let w = World::new(cc);
        w.s.write("main.c", int_main("#include \"foo.h\""));
        let h = w.s.write("foo.h", define(1));
        set_mtime(&h, 1_000_000_000);
        let args = ["-c", "main.c", "-o", "main.o"];
        w.expect(Kind::Miss, "", &args, "first compile");
        w.expect_direct("", &args, "unchanged");

        w.s.write("foo.h", define(2));
        set_mtime(&h, 1_000_000_000);
        w.expect(Kind::Miss, "", &args, "same size, same mtime, new content");
        assert_eq!(w.run("", "main.o"), "2");
    }
}

// ---------------------------------------------------------------------------------------
// Pitfall 5: base directory
// ---------------------------------------------------------------------------------------

/// Lays out `<work>/<name>/{src/main.c, include/v.h, build/}`; returns the checkout's
/// absolute path.
fn checkout(w: &World, name: &str, value: i32) -> String {
    w.s.write(&format!("{name}/src/main.c"), int_main("#include \"v.h\""));
    w.s.write(&format!("{name}/include/v.h"), define(value));
    fs::create_dir_all(w.s.path(&format!("{name}/build"))).unwrap();
    w.s.path(name).to_string_lossy().into_owned()
}

#[test]
fn pitfall_5_two_checkouts_share_hits_with_basedir_and_write_their_own_dep_files() {
    for cc in compilers() {
        for dep in [&["-MD"][..], &["-MMD"][..]] {
            let mut w = World::new(cc);
            let base = w.s.work.clone();
            w.s.set_env("CACHEPOT_BASEDIR", &base);
            let a = checkout(&w, "ckA", 5);
            let b = checkout(&w, "ckB", 5);
            let args_for = |ck: &str| -> Vec<String> {
                let mut v: Vec<String> = dep.iter().map(|s| s.to_string()).collect();
                v.extend([
                    format!("-I{ck}/include"),
                    "-c".into(),
                    format!("{ck}/src/main.c"),
                    "-o".into(),
                    "main.o".into(),
                ]);
                v
            };
            let (aa, ba) = (args_for(&a), args_for(&b));
            let aa: Vec<&str> = aa.iter().map(String::as_str).collect();
            let ba: Vec<&str> = ba.iter().map(String::as_str).collect();

            w.expect(Kind::Miss, "ckA/build", &aa, "checkout A");
            // B's first compile computes its own search list, so it may run a probe;
            // the compiler proper must not run.
            let compiles = w.shim.as_ref().unwrap().compile_runs();
            let kind = w.compile("ckB/build", &ba);
            assert!(
                kind == Kind::Direct,
                "{cc} {dep:?}: checkout B must hit A's result with CACHEPOT_BASEDIR, was {kind:?}"
            );
            assert_eq!(w.shim.as_ref().unwrap().compile_runs(), compiles);
            let dep_text = lossy(&w.s.read("ckB/build/main.d"));
            assert!(
                !dep_text.contains("ckA"),
                "{cc} {dep:?}: B's dep file names checkout A:\n{dep_text}"
            );
            assert!(dep_text.contains(&format!("{b}/include/v.h")), "{dep_text}");
            w.assert_same_as_bare("ckB/build", &ba, &["main.o", "main.d"]);
            assert_eq!(w.run("ckB/build", "main.o"), "5");

            // And back in A, a direct hit naming A's paths.
            w.s.remove("ckA/build/main.d");
            w.expect_direct("ckA/build", &aa, "checkout A again");
            w.assert_same_as_bare("ckA/build", &aa, &["main.o", "main.d"]);
        }
    }
}

#[test]
fn pitfall_5_checkouts_differing_in_one_header_never_share() {
    for cc in compilers() {
        for relative in [false, true] {
            let mut w = World::new(cc);
            let base = w.s.work.clone();
            w.s.set_env("CACHEPOT_BASEDIR", &base);
            let mut args: Vec<Vec<String>> = Vec::new();
            for (i, name) in ["ck0", "ck1", "ck2"].iter().enumerate() {
                let ck = checkout(&w, name, 60 + i as i32);
                args.push(if relative {
                    vec!["-I../include".into(), "-c".into(), "../src/main.c".into()]
                } else {
                    vec![
                        format!("-I{ck}/include"),
                        "-c".into(),
                        format!("{ck}/src/main.c"),
                    ]
                });
            }
            for round in 0..2 {
                for (i, a) in args.iter().enumerate() {
                    let mut a: Vec<&str> = a.iter().map(String::as_str).collect();
                    a.extend(["-o", "main.o"]);
                    let dir = format!("ck{i}/build");
                    let kind = w.compile(&dir, &a);
                    if round == 0 {
                        assert_eq!(kind, Kind::Miss, "{cc}: ck{i} differs in v.h, first round");
                    } else {
                        assert_eq!(kind, Kind::Direct, "{cc}: ck{i} second round");
                    }
                    assert_eq!(
                        w.run(&dir, "main.o"),
                        (60 + i).to_string(),
                        "{cc} relative={relative}: ck{i} got another checkout's object"
                    );
                }
            }
        }
    }
}

/// Checkout B has a header in an earlier include dir that checkout A lacks: B must not
/// take A's result (the shadowing checks must look at B's directories, not A's).
#[test]
fn pitfall_5_checkout_with_a_shadowing_header_does_not_share() {
    for cc in compilers() {
        for basedir in [true, false] {
            let mut w = World::new(cc);
            if basedir {
                let base = w.s.work.clone();
                w.s.set_env("CACHEPOT_BASEDIR", &base);
            }
            let mut all = Vec::new();
            for name in ["ckA", "ckB"] {
                let ck = checkout(&w, name, 70);
                fs::create_dir_all(w.s.path(&format!("{name}/override"))).unwrap();
                all.push(if basedir {
                    vec![
                        format!("-I{ck}/override"),
                        format!("-I{ck}/include"),
                        "-c".into(),
                        format!("{ck}/src/main.c"),
                        "-o".into(),
                        "../main.o".into(),
                    ]
                } else {
                    [
                        "-I../override",
                        "-I../include",
                        "-c",
                        "../src/main.c",
                        "-o",
                        "../main.o",
                    ]
                    .map(String::from)
                    .to_vec()
                });
            }
            // Only B overrides v.h. (Objects go to <ck>/main.o, out of the watched dirs.)
            w.s.write("ckB/override/v.h", define(71));
            let a: Vec<&str> = all[0].iter().map(String::as_str).collect();
            let b: Vec<&str> = all[1].iter().map(String::as_str).collect();
            w.expect(Kind::Miss, "ckA/build", &a, "checkout A");
            w.compile("ckB/build", &b);
            assert_eq!(
                w.run("ckB", "main.o"),
                "71",
                "{cc} basedir={basedir}: checkout B includes override/v.h, but got A's object"
            );
            assert_eq!(w.run("ckA", "main.o"), "70");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Pitfall 6: manifests stay bounded
// ---------------------------------------------------------------------------------------

/// (raw payload length, file) of every manifest entry (kind byte 2 at offset 6, raw_len
/// at offset 64, as docs/how-it-works.md documents the entry header).
fn manifests(s: &Sandbox) -> Vec<(u64, PathBuf)> {
    s.entry_files()
        .into_iter()
        .filter_map(|p| {
            let data = fs::read(&p).ok()?;
            (data.len() >= 80 && &data[..4] == b"CPOT" && data[6] == 2).then(|| {
                let raw = u64::from_le_bytes(data[64..72].try_into().unwrap());
                (raw, p)
            })
        })
        .collect()
}

#[test]
fn pitfall_6_manifest_stays_bounded() {
    require!("gcc");
    let w = World::new("gcc");
    w.s.write("v.c", "#include \"v.h\"\nint value(void) { return V; }\n");
    let args = ["-O0", "-S", "v.c", "-o", "v.s"];
    let mut at_100 = 0;
    const N: u64 = 150;
    let before = counts(&w.s);
    for i in 0..N {
        let v = 1000 + i;
        w.s.write("v.h", format!("#define V {v}\n"));
        w.s.compile(w.cc, &args);
        let asm = lossy(&w.s.read("v.s"));
        assert!(
            asm.contains(&format!("${v},")),
            "variant {i}: wrong assembly:\n{asm}"
        );
        if i == 99 {
            let m = manifests(&w.s);
            assert_eq!(m.len(), 1, "one source, one command: one manifest");
            at_100 = m[0].0;
        }
    }
    let after = counts(&w.s);
    assert_eq!(
        after.misses - before.misses,
        N,
        "every new header content is a miss"
    );
    assert_eq!(
        after.hits, before.hits,
        "no header content repeated, so no hit"
    );
    assert_eq!(after.errors, 0);
    let m = manifests(&w.s);
    assert_eq!(m.len(), 1, "one source, one command: one manifest");
    let at_150 = m[0].0;
    assert!(
        at_150 < 1 << 20,
        "the manifest holds {at_150} bytes after {N} variants"
    );
    assert!(
        at_150 * 10 <= at_100 * 11,
        "the manifest keeps growing: {at_100} bytes after 100 variants, {at_150} after {N}"
    );
    let on_disk = fs::metadata(&m[0].1).unwrap().len();
    assert!(on_disk < 1 << 20, "manifest file of {on_disk} bytes");

    // The latest variant still hits; an old (dropped) one is still correct.
    w.expect_direct("", &args, "latest variant");
    assert!(lossy(&w.s.read("v.s")).contains(&format!("${},", 1000 + N - 1)));
    w.s.write("v.h", "#define V 1000\n");
    w.compile("", &args);
    assert!(lossy(&w.s.read("v.s")).contains("$1000,"));
    // A program from the last assembly runs.
    w.s.write("m.c", "#include <stdio.h>\nint value(void);\nint main(void) { printf(\"%d\\n\", value()); return 0; }\n");
    let out = w.s.bare("gcc", &["m.c", "v.s", "-o", "m"]);
    w.s.assert_success(&out, "link");
    assert_eq!(w.s.run_program("m"), "1000\n");
}

// ---------------------------------------------------------------------------------------
// Pitfall 7: concurrent manifest updates
// ---------------------------------------------------------------------------------------

#[test]
fn pitfall_7_parallel_writers_to_one_manifest() {
    require!("gcc");
    const N: usize = 8;
    let w = World::plain("gcc");
    // N copies of a project differing only in v.h; relative paths, so every compile has
    // the same manifest key.
    let dirs: Vec<PathBuf> = (0..N)
        .map(|i| {
            w.s.write(&format!("p{i}/main.c"), int_main("#include \"v.h\""));
            w.s.write(&format!("p{i}/v.h"), define(i * 11 + 3));
            w.s.path(&format!("p{i}"))
        })
        .collect();
    let args = ["-O1", "-c", "main.c", "-o", "main.o"];
    let reference: Vec<Vec<u8>> = dirs
        .iter()
        .map(|d| {
            let out =
                w.s.bare_in(d, "gcc", &["-O1", "-c", "main.c", "-o", "ref.o"]);
            w.s.assert_success(&out, "bare compile");
            fs::read(d.join("ref.o")).unwrap()
        })
        .collect();
    let parallel_round = |round: usize| {
        let children: Vec<_> = dirs
            .iter()
            .map(|d| {
                let _ = fs::remove_file(d.join("main.o"));
                let mut cmd = w.s.cachepot_cmd();
                cmd.current_dir(d)
                    .arg("gcc")
                    .args(args)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                cmd.spawn().expect("spawn cachepot")
            })
            .collect();
        for (i, child) in children.into_iter().enumerate() {
            let out = child.wait_with_output().expect("wait");
            w.s.assert_success(&out, &format!("round {round}: compile in p{i}"));
            assert!(
                fs::read(dirs[i].join("main.o")).unwrap() == reference[i],
                "round {round}: p{i} got a wrong object"
            );
        }
    };
    parallel_round(1);
    parallel_round(2);
    let c = counts(&w.s);
    assert_eq!(
        c.errors,
        0,
        "cache errors under parallel writers: {}",
        tail(&w.s.log_text(), 30)
    );
    assert_eq!(c.hits + c.misses, 2 * N as u64);
    // Sequential rounds: every set ends up recorded, then all are direct hits.
    for i in 0..N {
        w.compile(&format!("p{i}"), &args);
        assert!(fs::read(dirs[i].join("main.o")).unwrap() == reference[i]);
    }
    for i in 0..N {
        w.expect_direct(&format!("p{i}"), &args, &format!("p{i} after all writers"));
        assert!(fs::read(dirs[i].join("main.o")).unwrap() == reference[i]);
        assert_eq!(w.run(&format!("p{i}"), "main.o"), (i * 11 + 3).to_string());
    }
    assert_eq!(manifests(&w.s).len(), 1);
    assert_eq!(counts(&w.s).errors, 0);
}

// ---------------------------------------------------------------------------------------
// Pitfall 8: precompiled headers
// ---------------------------------------------------------------------------------------

/// gcc's `.gch` from a header defining VALUE as `value`.
fn make_gch(w: &World, gch: &str, value: i32) {
    let src = w.s.root().join(format!("pch-src-{value}.h"));
    fs::write(&src, define(value)).unwrap();
    let out =
        w.s.bare("gcc", &["-x", "c-header", src.to_str().unwrap(), "-o", gch]);
    w.s.assert_success(&out, "build .gch");
}

#[test]
fn pitfall_8_include_option_with_a_gch_beside_it_passes_through() {
    require!("gcc");
    let w = World::new("gcc");
    w.s.write("main.c", int_main(""));
    w.s.write("foo.h", define(1));
    make_gch(&w, "foo.h.gch", 2);
    let args = ["-include", "foo.h", "-c", "main.c", "-o", "main.o"];
    for round in 0..2 {
        w.compile("", &args);
        assert_eq!(
            w.run("", "main.o"),
            "2",
            "round {round}: gcc uses foo.h.gch"
        );
    }
    let v = w.s.stats();
    assert_eq!(
        map_count(&v, "non_cacheable_reasons", "precompiled_header"),
        2,
        "{v}"
    );
    assert_eq!(stat_of(&v, "cache_hits"), 0, "{v}");
    make_gch(&w, "foo.h.gch", 3);
    w.compile("", &args);
    assert_eq!(w.run("", "main.o"), "3", "a rebuilt .gch is used");
}

#[test]
fn pitfall_8_clang_include_pch_passes_through() {
    require!("clang");
    let w = World::new("clang");
    w.s.write("main.c", int_main(""));
    w.s.write("foo.h", define(1));
    w.s.write("pch-src.h", define(2));
    let out =
        w.s.bare("clang", &["-x", "c-header", "pch-src.h", "-o", "foo.h.pch"]);
    w.s.assert_success(&out, "build .pch");
    let explicit = ["-include-pch", "foo.h.pch", "-c", "main.c", "-o", "main.o"];
    let implicit = ["-include", "foo.h", "-c", "main.c", "-o", "main.o"];
    for args in [&explicit, &implicit] {
        w.compile("", args);
        assert_eq!(w.run("", "main.o"), "2", "clang uses foo.h.pch");
    }
    let v = w.s.stats();
    assert_eq!(
        map_count(&v, "non_cacheable_reasons", "precompiled_header"),
        2,
        "{v}"
    );
    assert_eq!(stat_of(&v, "cache_hits"), 0, "{v}");
}

/// `-include foo.h` is searched like `#include "foo.h"`: here it is found through -Iinc,
/// where inc/foo.h.gch sits, and gcc compiles with the .gch.
#[test]
fn pitfall_8_include_option_found_in_an_include_dir_with_a_gch() {
    require!("gcc");
    for dep in [&[][..], &["-MMD"][..]] {
        let w = World::new("gcc");
        w.s.write("main.c", int_main(""));
        w.s.write("inc/foo.h", define(1));
        make_gch(&w, "inc/foo.h.gch", 2);
        let args = with_deps(
            dep,
            &["-Iinc", "-include", "foo.h", "-c", "main.c", "-o", "main.o"],
        );
        w.compile("", &args);
        assert_eq!(w.run("", "main.o"), "2");
        make_gch(&w, "inc/foo.h.gch", 3);
        w.compile("", &args);
        assert_eq!(
            w.run("", "main.o"),
            "3",
            "{dep:?}: gcc now compiles with the rebuilt inc/foo.h.gch; cachepot returned the old object"
        );
    }
}

/// gcc also uses `foo.h.gch` for the first `#include "foo.h"` of a source, with no option
/// naming it (and its dep file lists neither foo.h nor the .gch).
#[test]
fn pitfall_8_quoted_include_with_a_gch_beside_the_header() {
    require!("gcc");
    for dep in [&[][..], &["-MD"][..], &["-MMD"][..]] {
        let w = World::new("gcc");
        w.s.write(
            "main.c",
            "#include \"foo.h\"\n#include <stdio.h>\nint main(void)\n{\n    printf(\"%d\\n\", VALUE);\n    return 0;\n}\n",
        );
        w.s.write("foo.h", define(1));
        make_gch(&w, "foo.h.gch", 2);
        let args = with_deps(dep, &["-c", "main.c", "-o", "main.o"]);
        w.compile("", &args);
        assert_eq!(w.run("", "main.o"), "2", "test premise: gcc uses foo.h.gch");
        make_gch(&w, "foo.h.gch", 3);
        w.compile("", &args);
        assert_eq!(
            w.run("", "main.o"),
            "3",
            "{dep:?}: rebuilt foo.h.gch, cachepot returned the old object"
        );
        w.s.remove("foo.h.gch");
        w.compile("", &args);
        assert_eq!(
            w.run("", "main.o"),
            "1",
            "{dep:?}: foo.h.gch removed, gcc reads foo.h; cachepot returned a .gch object"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Pitfall 9: debug info and coverage embed paths
// ---------------------------------------------------------------------------------------

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn pitfall_9_debug_objects_from_two_dirs_not_shared_unless_hash_dir_off() {
    for cc in compilers() {
        for hash_dir_off in [false, true] {
            let mut w = World::new(cc);
            if hash_dir_off {
                w.s.set_env("CACHEPOT_HASH_DIR", "0");
            }
            for d in ["d1", "d2"] {
                w.s.write(&format!("{d}/main.c"), int_main("#include \"foo.h\""));
                w.s.write(&format!("{d}/foo.h"), define(9));
            }
            let args = ["-g", "-c", "main.c", "-o", "main.o"];
            w.expect(Kind::Miss, "d1", &args, "d1");
            w.expect_direct("d1", &args, "d1 again");
            if hash_dir_off {
                w.expect_direct("d2", &args, "CACHEPOT_HASH_DIR=0: d2 shares d1's object");
                assert!(w.s.read("d2/main.o") == w.s.read("d1/main.o"));
            } else {
                w.expect(Kind::Miss, "d2", &args, "-g in another dir");
                let obj = w.s.read("d2/main.o");
                let d2 = w.s.path("d2");
                assert!(
                    contains(&obj, d2.to_str().unwrap()),
                    "{cc}: d2's object must name d2"
                );
                w.assert_same_as_bare("d2", &args, &["main.o"]);
            }
            assert_eq!(w.run("d2", "main.o"), "9");
        }
    }
}

/// A prefix map of a parent directory maps the cwd, but not away: the rest of the cwd
/// stays in the debug info (`/src/a` vs `/src/b`), so it must stay in the key.
#[test]
fn pitfall_9_debug_prefix_map_of_a_parent_dir_keeps_the_rest_of_the_cwd() {
    for cc in compilers() {
        let w = World::new(cc);
        for d in ["a", "b"] {
            w.s.write(&format!("{d}/u.c"), "int f(void)\n{\n    return 1;\n}\n");
        }
        let map = format!("-fdebug-prefix-map={}=/src", w.s.work.display());
        let args = ["-g", map.as_str(), "-c", "u.c", "-o", "u.o"];
        w.compile("a", &args);
        w.compile("b", &args);
        let obj = w.s.read("b/u.o");
        assert!(
            contains(&obj, "/src/b") && !contains(&obj, "/src/a"),
            "{cc}: b/u.o must name /src/b in its debug info, not /src/a (a wrong hit)"
        );
        w.assert_same_as_bare("b", &args, &["u.o"]);
    }
}

#[test]
fn pitfall_9_coverage_objects_from_two_dirs_not_shared() {
    require!("gcc");
    let w = World::new("gcc");
    for d in ["d1", "d2"] {
        w.s.write(&format!("{d}/main.c"), int_main("#include \"foo.h\""));
        w.s.write(&format!("{d}/foo.h"), define(9));
    }
    let args = ["--coverage", "-c", "main.c", "-o", "main.o"];
    w.expect(Kind::Miss, "d1", &args, "d1");
    w.s.remove("d1/main.gcno");
    w.expect_direct("d1", &args, "d1 again");
    assert!(w.s.exists("d1/main.gcno"), "the hit restores the .gcno");
    w.expect(Kind::Miss, "d2", &args, "--coverage in another dir");
    let gcno = w.s.read("d2/main.gcno");
    let d1 = w.s.path("d1");
    let d2 = w.s.path("d2");
    assert!(
        contains(&gcno, d2.to_str().unwrap()) && !contains(&gcno, d1.to_str().unwrap()),
        "d2's .gcno must name d2"
    );
}

// ---------------------------------------------------------------------------------------
// Pitfall 10: -frecord-gcc-switches
// ---------------------------------------------------------------------------------------

/// The command lines an object records (NUL-separated strings naming a record option).
fn recorded_command_lines(obj: &[u8]) -> Vec<String> {
    obj.split(|&b| b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .filter(|s| s.contains("record-command-line") || s.contains("record-gcc-switches"))
        .collect()
}

/// Compares an object with the bare compiler's for the same command and, when they
/// differ, says which command line each records.
fn assert_records_same_command(w: &World, args: &[&str], obj: &str) {
    let mine = w.s.read(obj);
    w.s.remove(obj);
    let out = w.s.bare(w.cc, args);
    w.s.assert_success(&out, "bare compile");
    let theirs = w.s.read(obj);
    assert!(
        mine == theirs,
        "`{} {}`: {obj} differs from the bare compiler's\n  cachepot's records: {:?}\n  compiler's records: {:?}",
        w.cc,
        args.join(" "),
        recorded_command_lines(&mine),
        recorded_command_lines(&theirs)
    );
}

#[test]
fn pitfall_10_record_gcc_switches_with_another_output_is_not_a_wrong_hit() {
    for cc in compilers() {
        // -MMD first: preprocessor mode compiles with the user's arguments only.
        for record in [
            &["-MMD", "-frecord-gcc-switches"][..],
            &["-frecord-gcc-switches"][..],
            &["-g", "-grecord-gcc-switches"][..],
        ] {
            let w = World::new(cc);
            w.s.write("main.c", int_main("#include \"foo.h\""));
            w.s.write("foo.h", define(10));
            let a = with_deps(record, &["-c", "main.c", "-o", "a.o"]);
            let b = with_deps(record, &["-c", "main.c", "-o", "b.o"]);
            let o2 = with_deps(record, &["-O2", "-c", "main.c", "-o", "a.o"]);
            w.expect(Kind::Miss, "", &a, "first compile");
            assert_records_same_command(&w, &a, "a.o");
            // clang records `-o b.o` in the object: it must be b's command line.
            w.compile("", &b);
            assert_records_same_command(&w, &b, "b.o");
            w.expect(Kind::Miss, "", &o2, "-O2 is recorded");
            assert_records_same_command(&w, &o2, "a.o");
            w.expect_direct("", &a, "the first command again");
            assert_records_same_command(&w, &a, "a.o");
            assert_eq!(w.run("", "a.o"), "10");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Pitfall 11: compiler upgraded in place
// ---------------------------------------------------------------------------------------

#[test]
fn pitfall_11_compiler_upgraded_in_place() {
    for cc in compilers() {
        let mut w = World::plain(cc);
        let wrap = w.s.root().join("wrap").join(cc);
        let script = |v: u32| format!("#!/bin/sh\nexec '{}' -DVALUE={v} \"$@\"\n", real(cc));
        write_script(&wrap, &script(1));
        set_mtime(&wrap, 1_500_000_000);
        prepend_path(&mut w.s, wrap.parent().unwrap());
        w.s.write("main.c", int_main(""));
        let args = ["-c", "main.c", "-o", "main.o"];
        w.expect(Kind::Miss, "", &args, "first compile");
        assert_eq!(w.run("", "main.o"), "1");
        w.expect_direct("", &args, "same compiler");

        // Same size, same mtime, new content: only the ctime (and the bytes) changed.
        let old = mtime_of(&wrap);
        write_script(&wrap, &script(2));
        fs::File::options()
            .write(true)
            .open(&wrap)
            .unwrap()
            .set_modified(old)
            .unwrap();
        w.expect(Kind::Miss, "", &args, "compiler replaced in place");
        assert_eq!(w.run("", "main.o"), "2");
        w.expect_direct("", &args, "the upgraded compiler again");
        assert_eq!(w.run("", "main.o"), "2");
    }
}

/// The compiler on PATH is a symlink (as Debian's `gcc` -> `gcc-12`), retargeted to
/// another binary of the same size and mtime: its identity is looked up by the stat the
/// link leads to, never by the link's own path, so the switch is a miss.
#[test]
fn pitfall_11_compiler_symlink_retargeted() {
    for cc in compilers() {
        let mut w = World::plain(cc);
        let dir = w.s.root().join("wrap");
        let script = |v: u32| format!("#!/bin/sh\nexec '{}' -DVALUE={v} \"$@\"\n", real(cc));
        for v in [1, 2] {
            let target = dir.join(format!("{cc}-v{v}"));
            write_script(&target, &script(v));
            set_mtime(&target, 1_500_000_000);
        }
        let link = dir.join(cc);
        std::os::unix::fs::symlink(format!("{cc}-v1"), &link).unwrap();
        prepend_path(&mut w.s, &dir);
        w.s.write("main.c", int_main(""));
        let args = ["-c", "main.c", "-o", "main.o"];
        w.expect(Kind::Miss, "", &args, "first compile");
        assert_eq!(w.run("", "main.o"), "1");
        w.expect_direct("", &args, "same compiler");
        fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(format!("{cc}-v2"), &link).unwrap();
        w.expect(
            Kind::Miss,
            "",
            &args,
            "the link now leads to another compiler",
        );
        assert_eq!(w.run("", "main.o"), "2");
        w.expect_direct("", &args, "the new target again");
        fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(format!("{cc}-v1"), &link).unwrap();
        w.expect_direct("", &args, "back to the first target: its result");
        assert_eq!(w.run("", "main.o"), "1");
    }
}

/// One gcc binary hard-linked into two trees, each with its own `cc1` (gcc finds `cc1`
/// from where its binary lies): a link on PATH moved from one tree to the other leads
/// to the same file (same inode, size and times), yet to another compiler. Its identity
/// is keyed by the resolved path, so the switch is a miss.
#[test]
fn pitfall_11_one_compiler_binary_in_two_trees() {
    require!("gcc", "nm");
    let mut w = World::plain("gcc");
    let probe = |args: &[&str]| {
        let out = w.s.bare_in(w.s.root(), "gcc", args);
        w.s.assert_success(&out, "ask gcc");
        lossy(&out.stdout).trim().to_string()
    };
    let cc1 = PathBuf::from(probe(&["-print-prog-name=cc1"]));
    let lib = format!(
        "lib/gcc/{}/{}",
        probe(&["-dumpmachine"]),
        probe(&["-dumpversion"])
    );
    if !cc1.is_absolute() || !cc1.ends_with(format!("{lib}/cc1")) {
        panic!(
            "unexpected gcc layout: cc1 at {}, expected under {lib}",
            cc1.display()
        );
    }
    let driver = fs::canonicalize(which("gcc").unwrap()).unwrap();
    let root = w.s.root().to_path_buf();
    let tree = |t: &str| root.join(t);
    for t in ["A", "B"] {
        fs::create_dir_all(tree(t).join("bin")).unwrap();
        fs::create_dir_all(tree(t).join(&lib)).unwrap();
    }
    // Copied by a child process, as common::write_executable explains.
    let out = run(std::process::Command::new("install")
        .args(["-m", "755"])
        .arg(&driver)
        .arg(tree("A").join("bin/gcc")));
    assert!(out.status.success(), "install: {out:?}");
    fs::hard_link(tree("A").join("bin/gcc"), tree("B").join("bin/gcc")).unwrap();
    std::os::unix::fs::symlink(&cc1, tree("A").join(&lib).join("cc1")).unwrap();
    let wrapper = format!("#!/bin/sh\nexec '{}' -DVARIANT_B=1 \"$@\"\n", cc1.display());
    write_script(&tree("B").join(&lib).join("cc1"), &wrapper);
    let link_dir = root.join("link");
    fs::create_dir_all(&link_dir).unwrap();
    let point_at = |t: &str| {
        let _ = fs::remove_file(link_dir.join("gcc"));
        std::os::unix::fs::symlink(tree(t).join("bin/gcc"), link_dir.join("gcc")).unwrap();
    };
    point_at("A");
    prepend_path(&mut w.s, &link_dir);
    w.s.write(
        "a.c",
        "#ifdef VARIANT_B\nint variant_b;\n#else\nint variant_a;\n#endif\n",
    );
    let args = ["-c", "a.c", "-o", "a.o"];
    let symbols = |w: &World| {
        let out = w.s.bare_in(&w.dir(""), "nm", &["a.o"]);
        w.s.assert_success(&out, "nm a.o");
        lossy(&out.stdout).to_string()
    };
    w.expect(Kind::Miss, "", &args, "first tree");
    assert!(symbols(&w).contains("variant_a"), "{}", symbols(&w));
    w.expect_direct("", &args, "first tree again");
    point_at("B");
    w.expect(Kind::Miss, "", &args, "the same binary in the second tree");
    assert!(symbols(&w).contains("variant_b"), "{}", symbols(&w));
    w.expect_direct("", &args, "second tree again");
    point_at("A");
    w.expect_direct("", &args, "back in the first tree");
    assert!(symbols(&w).contains("variant_a"), "{}", symbols(&w));
}

/// gcc runs `cc1` for C and `cc1plus` for C++, and each is part of the identity of the
/// commands that run it: `cc1plus` replaced in place (a link in the compiler's own tree
/// retargeted) makes the next C++ compile a miss with the new program's output, while a
/// C command, which never runs `cc1plus`, keeps its hit.
#[test]
fn pitfall_11_cc1plus_replaced_in_place_is_a_miss_for_cxx_only() {
    require!("gcc", "g++", "nm");
    let mut w = World::plain("gcc");
    let probe = |args: &[&str]| {
        let out = w.s.bare_in(w.s.root(), "gcc", args);
        w.s.assert_success(&out, "ask gcc");
        lossy(&out.stdout).trim().to_string()
    };
    let helper = |prog: &str| PathBuf::from(probe(&[&format!("-print-prog-name={prog}")]));
    let (cc1, cc1plus) = (helper("cc1"), helper("cc1plus"));
    let lib = format!(
        "lib/gcc/{}/{}",
        probe(&["-dumpmachine"]),
        probe(&["-dumpversion"])
    );
    for p in [&cc1, &cc1plus] {
        assert!(p.is_absolute(), "gcc runs {} (not a path)", p.display());
    }
    let root = w.s.root().join("tree");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join(&lib)).unwrap();
    // Copied by a child process, as common::write_executable explains.
    let driver = fs::canonicalize(which("gcc").unwrap()).unwrap();
    let out = run(std::process::Command::new("install")
        .args(["-m", "755"])
        .arg(&driver)
        .arg(root.join("bin/gcc")));
    assert!(out.status.success(), "install: {out:?}");
    std::os::unix::fs::symlink(&cc1, root.join(&lib).join("cc1")).unwrap();
    let cc1plus_link = root.join(&lib).join("cc1plus");
    std::os::unix::fs::symlink(&cc1plus, &cc1plus_link).unwrap();
    prepend_path(&mut w.s, &root.join("bin"));
    let source = "#ifdef VARIANT_B\nint variant_b;\n#else\nint variant_a;\n#endif\n";
    w.s.write("a.c", source);
    w.s.write("b.cpp", source);
    let c_args = ["-c", "a.c", "-o", "a.o"];
    let cxx_args = ["-c", "b.cpp", "-o", "b.o"];
    let symbols = |w: &World, obj: &str| {
        let out = w.s.bare_in(&w.dir(""), "nm", &[obj]);
        w.s.assert_success(&out, "nm");
        lossy(&out.stdout).to_string()
    };
    w.expect(Kind::Miss, "", &c_args, "C, first compile");
    w.expect(Kind::Miss, "", &cxx_args, "C++, first compile");
    w.expect_direct("", &c_args, "C again");
    w.expect_direct("", &cxx_args, "C++ again");
    assert!(symbols(&w, "b.o").contains("variant_a"));

    let wrapper = root.join("cc1plus-b");
    let body = format!(
        "#!/bin/sh\nexec '{}' -DVARIANT_B=1 \"$@\"\n",
        cc1plus.display()
    );
    write_script(&wrapper, &body);
    fs::remove_file(&cc1plus_link).unwrap();
    std::os::unix::fs::symlink(&wrapper, &cc1plus_link).unwrap();
    w.expect(Kind::Miss, "", &cxx_args, "C++ after cc1plus was replaced");
    assert!(
        symbols(&w, "b.o").contains("variant_b"),
        "{}",
        symbols(&w, "b.o")
    );
    w.expect_direct("", &cxx_args, "C++ with the new cc1plus again");
    w.expect_direct("", &c_args, "C never runs cc1plus");
    assert!(symbols(&w, "a.o").contains("variant_a"));
}

/// `#include "../common/x.h"` from a directory reached through a symlink: the compiler
/// opens `src/lib/../common/x.h` and then searches `src/lib/../common` for x.h's own
/// quoted includes, both from the symlink's target, where a lexical watch
/// (`src/common`) would never see a header appear. Such a command is keyed on its
/// preprocessed text, and a header created there is compiled in.
#[test]
fn dotdot_through_a_symlinked_directory_is_keyed_on_the_preprocessed_text() {
    for cc in compilers() {
        let w = World::new(cc);
        let real = w.s.root().join("real");
        fs::create_dir_all(real.join("lib")).unwrap();
        fs::create_dir_all(real.join("common")).unwrap();
        fs::write(real.join("lib/a.c"), "#include \"../common/x.h\"\n").unwrap();
        fs::write(real.join("common/x.h"), "#include \"y.h\"\n").unwrap();
        w.s.write("inc/y.h", "int from_inc;\n");
        fs::create_dir_all(w.dir("src")).unwrap();
        std::os::unix::fs::symlink(real.join("lib"), w.dir("src/lib")).unwrap();
        let args = ["-Iinc", "-MD", "-c", "src/lib/a.c", "-o", "a.o"];
        w.expect(
            Kind::Miss,
            "",
            &args,
            "first compile: not recordable, nothing stored",
        );
        w.expect(
            Kind::Miss,
            "",
            &args,
            "the first call keyed on the preprocessed text",
        );
        w.expect(
            Kind::Preprocessed,
            "",
            &args,
            "keyed on the preprocessed text",
        );
        fs::write(real.join("common/y.h"), "int from_common;\n").unwrap();
        w.expect_not_direct("", &args, "a header appeared beside x.h");
        w.assert_same_as_bare("", &args, &["a.o", "a.d"]);
        let out = w.s.bare_in(&w.dir(""), "nm", &["a.o"]);
        assert!(
            lossy(&out.stdout).contains("from_common"),
            "{}",
            lossy(&out.stdout)
        );
    }
}

// ---------------------------------------------------------------------------------------
// CACHEPOT_DIRECT=0
// ---------------------------------------------------------------------------------------

#[test]
fn direct_mode_off_gives_preprocessed_hits() {
    for cc in compilers() {
        let mut w = World::new(cc);
        w.s.set_env("CACHEPOT_DIRECT", "0");
        w.s.write("main.c", int_main("#include \"foo.h\""));
        w.s.write("foo.h", define(12));
        for dep in [&[][..], &["-MD"][..]] {
            let args = with_deps(dep, &["-c", "main.c", "-o", "main.o"]);
            w.expect(Kind::Miss, "", &args, "first compile");
            w.expect(Kind::Preprocessed, "", &args, "CACHEPOT_DIRECT=0 repeat");
            assert_eq!(w.run("", "main.o"), "12");
            if !dep.is_empty() {
                w.assert_same_as_bare("", &args, &["main.o", "main.d"]);
            }
        }
        let shim = w.shim.as_ref().unwrap();
        let before = shim.compile_runs();
        w.compile("", &["-c", "main.c", "-o", "main.o"]);
        assert_eq!(
            shim.compile_runs(),
            before,
            "a preprocessed hit does not compile"
        );
        let c = counts(&w.s);
        assert_eq!(c.direct, 0);
        assert_eq!(c.preprocessed, c.hits);
        assert_eq!(c.hits, 3);
    }
}

// ---------------------------------------------------------------------------------------
// Base dir and debug info (caching-spec A9: the base dir is the opt-in to sharing)
// ---------------------------------------------------------------------------------------

#[test]
fn basedir_shares_debug_objects_but_not_coverage() {
    require!("gcc");
    let mut s = Sandbox::new();
    let base = s.work.clone();
    s.set_env("CACHEPOT_BASEDIR", &base);
    for ck in ["ck1", "ck2"] {
        s.write(
            &format!("{ck}/main.c"),
            "#include \"v.h\"\nint main(void) { return V; }\n",
        );
        s.write(&format!("{ck}/v.h"), "#define V 0\n");
    }
    let g = ["-g", "-c", "main.c", "-o", "main.o"];
    s.compile_in(&s.path("ck1"), "gcc", &g);
    s.compile_in(&s.path("ck2"), "gcc", &g);
    assert_eq!(
        s.stat("cache_hits"),
        1,
        "-g under the base dir is shared: {}",
        s.stats()
    );
    let cov = ["--coverage", "-c", "main.c", "-o", "main.o"];
    s.compile_in(&s.path("ck1"), "gcc", &cov);
    s.compile_in(&s.path("ck2"), "gcc", &cov);
    assert_eq!(
        s.stat("cache_hits"),
        1,
        "coverage notes name the cwd: never shared: {}",
        s.stats()
    );
    let gcno = s.read("ck2/main.gcno");
    let ck2 = s.path("ck2");
    assert!(gcno
        .windows(ck2.as_os_str().len())
        .any(|w| w == ck2.as_os_str().as_encoded_bytes()));
}
