//! Cacheable C and C++ compiles through `cachepot <compiler>`, against the real gcc, g++,
//! clang and clang++: a hit gives the same outputs as the miss (object, dep file, .gcno,
//! .dwo, stderr), every change that matters is a miss, failures pass through uncached,
//! concurrency and a parallel make work.
//!
//! Tests never depend on whether cachepot uses direct or preprocessor mode. The
//! non-cacheable commands live in c_uncacheable.rs, cache faults in local_store.rs.

#[macro_use]
mod common;

use common::*;
use std::fs;

per_compiler!(
    miss_then_hit_gives_identical_object,
    hit_does_not_run_the_compiler,
    header_edit_is_a_miss,
    define_change_is_a_miss,
    optimization_change_is_a_miss,
    warnings_replayed_on_hit,
    colored_diagnostics_replayed_on_hit,
    failing_compile_passes_through_and_is_not_cached,
    preprocessor_error_passes_through_and_is_not_cached,
    dep_files_restored_on_hit,
    dep_file_retargeted_for_another_output,
    coverage_notes_restored_on_hit,
    split_dwarf_restored_on_hit,
    nested_response_files_cache_and_hit,
    explicit_language_on_txt_file,
    assembly_output_cached,
    cwd_is_hashed_with_debug_info,
    hash_dir_off_shares_debug_objects_across_dirs,
    concurrent_identical_compiles_on_empty_cache,
);

// The same checks with direct mode off: preprocessor mode must stand on its own.
per_compiler_with_env!(
    preprocessor_mode,
    "CACHEPOT_DIRECT",
    "0",
    miss_then_hit_gives_identical_object,
    hit_does_not_run_the_compiler,
    header_edit_is_a_miss,
    define_change_is_a_miss,
    warnings_replayed_on_hit,
    failing_compile_passes_through_and_is_not_cached,
    dep_files_restored_on_hit,
    dep_file_retargeted_for_another_output,
    coverage_notes_restored_on_hit,
    split_dwarf_restored_on_hit,
    nested_response_files_cache_and_hit,
    cwd_is_hashed_with_debug_info,
    hash_dir_off_shares_debug_objects_across_dirs,
    concurrent_identical_compiles_on_empty_cache,
);

const HELLO_OUTPUT: &str = "hello, world! 42\n";

/// Compiles `args` twice through cachepot, removing `outputs` in between; asserts a miss
/// then a hit and returns the miss's bytes of each output (identical on the hit).
fn miss_then_hit(s: &Sandbox, cc: &Cc, args: &[&str], outputs: &[&str]) -> Vec<Vec<u8>> {
    let before = s.stats();
    let first = s.compile(cc.name, args);
    let mid = s.stats();
    assert_eq!(
        stat_of(&mid, "cache_misses"),
        stat_of(&before, "cache_misses") + 1,
        "first `{}` must be a miss",
        args.join(" ")
    );
    let miss_files: Vec<Vec<u8>> = outputs.iter().map(|o| s.read(o)).collect();
    for o in outputs {
        s.remove(o);
    }
    let second = s.compile(cc.name, args);
    let after = s.stats();
    assert_eq!(
        stat_of(&after, "cache_hits"),
        stat_of(&mid, "cache_hits") + 1,
        "second `{}` must be a hit",
        args.join(" ")
    );
    assert_eq!(
        stat_of(&after, "cache_misses"),
        stat_of(&mid, "cache_misses")
    );
    for (o, want) in outputs.iter().zip(&miss_files) {
        assert!(s.exists(o), "the hit did not write {o}");
        assert!(
            s.read(o) == *want,
            "{o} restored on the hit differs from the miss's"
        );
    }
    assert_eq!(
        lossy(&second.stdout),
        lossy(&first.stdout),
        "stdout differs between miss and hit"
    );
    assert_eq!(
        lossy(&second.stderr),
        lossy(&first.stderr),
        "stderr differs between miss and hit"
    );
    assert_stats_consistent(&after);
    miss_files
}

fn miss_then_hit_gives_identical_object(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    let args = ["-O1", "-c", src.as_str(), "-o", "hello.o"];

    let miss = s.compile(cc.name, &args);
    let v = s.stats();
    assert_eq!(stat_of(&v, "cache_misses"), 1);
    assert_eq!(stat_of(&v, "cache_hits"), 0);
    assert_eq!(
        map_count(&v, "misses_by_language", cc.lang),
        1,
        "misses_by_language.{} in {v}",
        cc.lang
    );
    assert!(
        v["cache"]["entries"].as_u64().unwrap_or(0) >= 1,
        "no entry counted after a miss: {v}"
    );
    let object = s.read("hello.o");
    s.remove("hello.o");

    let hit = s.compile(cc.name, &args);
    let v = s.stats();
    assert_eq!(stat_of(&v, "cache_hits"), 1);
    assert_eq!(stat_of(&v, "cache_misses"), 1);
    assert_eq!(stat_of(&v, "compile_requests"), 2);
    assert_eq!(
        map_count(&v, "hits_by_language", cc.lang),
        1,
        "hits_by_language.{} in {v}",
        cc.lang
    );
    assert_stats_consistent(&v);
    assert!(
        s.read("hello.o") == object,
        "the hit's object differs from the miss's"
    );
    // cachepot never adds its own chatter to the compiler's output.
    for (what, out) in [("miss", &miss), ("hit", &hit)] {
        assert!(
            out.stdout.is_empty(),
            "{what} printed on stdout: {}",
            lossy(&out.stdout)
        );
        assert!(
            out.stderr.is_empty(),
            "{what} printed on stderr: {}",
            lossy(&out.stderr)
        );
    }

    let bare = s.bare(cc.name, &["-O1", "-c", src.as_str(), "-o", "ref.o"]);
    s.assert_success(&bare, "bare compile");
    assert!(
        s.read("ref.o") == object,
        "cached object differs from the bare compiler's"
    );
    assert_eq!(s.link_and_run(cc.name, &["hello.o"], "hello"), HELLO_OUTPUT);
}

fn hit_does_not_run_the_compiler(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    let shim = s.shim(cc.name);
    let args = ["-c", src.as_str(), "-o", "hello.o"];
    s.compile(shim.path_str(), &args);
    assert_eq!(
        shim.compile_runs(),
        1,
        "the miss must compile once; runs: {:?}",
        shim.runs()
    );
    let object = s.read("hello.o");
    s.remove("hello.o");
    s.compile(shim.path_str(), &args);
    assert_eq!(s.stat("cache_hits"), 1);
    assert_eq!(
        shim.compile_runs(),
        1,
        "a hit may run at most the preprocessor, never the compiler; runs: {:?}",
        shim.runs()
    );
    assert!(s.read("hello.o") == object);
}

fn header_edit_is_a_miss(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    let args = ["-c", src.as_str(), "-o", "hello.o"];
    s.compile(cc.name, &args);
    assert_eq!(s.link_and_run(cc.name, &["hello.o"], "hello"), HELLO_OUTPUT);

    let header = String::from_utf8(s.read("greet.h")).unwrap();
    s.write("greet.h", header.replace("\"hello\"", "\"howdy\""));
    s.compile(cc.name, &args);
    let v = s.stats();
    assert_eq!(
        stat_of(&v, "cache_misses"),
        2,
        "an edited header must be a miss: {v}"
    );
    assert_eq!(stat_of(&v, "cache_hits"), 0);
    assert_eq!(
        s.link_and_run(cc.name, &["hello.o"], "hello"),
        "howdy, world! 42\n"
    );

    // Putting the header back is a hit on the first entry, and the program is right.
    s.write("greet.h", header);
    s.compile(cc.name, &args);
    assert_eq!(s.stat("cache_hits"), 1);
    assert_eq!(s.link_and_run(cc.name, &["hello.o"], "hello"), HELLO_OUTPUT);
}

fn define_change_is_a_miss(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    s.compile(cc.name, &["-c", src.as_str(), "-o", "hello.o"]);
    assert_eq!(s.link_and_run(cc.name, &["hello.o"], "hello"), HELLO_OUTPUT);

    s.compile(
        cc.name,
        &["-DWHO=\"bob\"", "-c", src.as_str(), "-o", "hello.o"],
    );
    let v = s.stats();
    assert_eq!(
        stat_of(&v, "cache_misses"),
        2,
        "a new -D must be a miss: {v}"
    );
    assert_eq!(stat_of(&v, "cache_hits"), 0);
    assert_eq!(
        s.link_and_run(cc.name, &["hello.o"], "hello"),
        "hello, bob! 42\n"
    );

    s.compile(
        cc.name,
        &["-DWHO=\"eve\"", "-c", src.as_str(), "-o", "hello.o"],
    );
    assert_eq!(
        s.stat("cache_misses"),
        3,
        "a changed -D value must be a miss"
    );
    assert_eq!(
        s.link_and_run(cc.name, &["hello.o"], "hello"),
        "hello, eve! 42\n"
    );

    s.compile(cc.name, &["-c", src.as_str(), "-o", "hello.o"]);
    assert_eq!(s.stat("cache_hits"), 1);
    assert_eq!(s.link_and_run(cc.name, &["hello.o"], "hello"), HELLO_OUTPUT);
}

fn optimization_change_is_a_miss(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    s.compile(cc.name, &["-O0", "-c", src.as_str(), "-o", "hello.o"]);
    let o0 = s.read("hello.o");
    s.compile(cc.name, &["-O2", "-c", src.as_str(), "-o", "hello.o"]);
    let v = s.stats();
    assert_eq!(
        stat_of(&v, "cache_misses"),
        2,
        "-O0 then -O2 must be two misses: {v}"
    );
    assert_eq!(stat_of(&v, "cache_hits"), 0);
    let o2 = s.read("hello.o");
    assert!(o0 != o2, "test premise: -O0 and -O2 objects differ");
    let bare = s.bare(cc.name, &["-O2", "-c", src.as_str(), "-o", "ref.o"]);
    s.assert_success(&bare, "bare -O2 compile");
    assert!(
        s.read("ref.o") == o2,
        "-O2 object differs from the bare compiler's"
    );
    assert_eq!(s.link_and_run(cc.name, &["hello.o"], "hello"), HELLO_OUTPUT);
}

fn warnings_replayed_on_hit(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.fixture_src(cc, "warn");
    let args = ["-Wall", "-c", src.as_str(), "-o", "warn.o"];
    let bare = s.bare(cc.name, &["-Wall", "-c", src.as_str(), "-o", "warn.o"]);
    s.assert_success(&bare, "bare compile with warnings");
    s.remove("warn.o");

    let miss = s.compile(cc.name, &args);
    assert!(
        lossy(&miss.stderr).contains("warning"),
        "expected warnings, got: {}",
        lossy(&miss.stderr)
    );
    assert_eq!(
        lossy(&miss.stderr),
        lossy(&bare.stderr),
        "the miss's stderr differs from the bare compiler's"
    );
    s.remove("warn.o");
    let hit = s.compile(cc.name, &args);
    assert_eq!(s.stat("cache_hits"), 1);
    assert!(
        hit.stderr == miss.stderr,
        "warnings not replayed byte for byte:\n{}\n---\n{}",
        lossy(&miss.stderr),
        lossy(&hit.stderr)
    );
    assert!(hit.stdout == miss.stdout);
    assert!(s.exists("warn.o"));
}

fn colored_diagnostics_replayed_on_hit(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.fixture_src(cc, "warn");
    let args = [
        "-fdiagnostics-color=always",
        "-Wall",
        "-c",
        src.as_str(),
        "-o",
        "warn.o",
    ];
    let bare = s.bare(cc.name, &args);
    s.assert_success(&bare, "bare compile");
    assert!(
        bare.stderr.windows(2).any(|w| w == b"\x1b["),
        "test premise: coloured output"
    );
    s.remove("warn.o");

    let miss = s.compile(cc.name, &args);
    assert!(
        miss.stderr == bare.stderr,
        "coloured warnings differ from the bare compiler's"
    );
    s.remove("warn.o");
    let hit = s.compile(cc.name, &args);
    assert_eq!(s.stat("cache_hits"), 1);
    assert!(
        hit.stderr == bare.stderr,
        "coloured warnings not replayed byte for byte on the hit"
    );
}

/// Runs a failing compile bare, then twice through cachepot: same status, same stderr,
/// no output, nothing cached, compile_errors == 2.
fn assert_failure_passes_through(s: &Sandbox, cc: &Cc, src: &str) {
    let args = ["-c", src, "-o", "out.o"];
    let bare = s.bare(cc.name, &args);
    assert!(
        !bare.status.success(),
        "test premise: {src} fails to compile"
    );
    for round in 1..=2 {
        let mut all = vec![cc.name];
        all.extend(args);
        let out = s.cachepot(&all);
        assert_eq!(
            out.status.code(),
            bare.status.code(),
            "round {round}: exit status must pass through"
        );
        assert_eq!(
            lossy(&out.stderr),
            lossy(&bare.stderr),
            "round {round}: stderr must pass through"
        );
        assert_eq!(
            lossy(&out.stdout),
            lossy(&bare.stdout),
            "round {round}: stdout must pass through"
        );
        assert!(
            !s.exists("out.o"),
            "round {round}: a failed compile left an object"
        );
    }
    let v = s.stats();
    assert_eq!(stat_of(&v, "compile_errors"), 2, "{v}");
    assert_eq!(
        stat_of(&v, "cache_hits"),
        0,
        "a failed compile must never hit: {v}"
    );
    assert_eq!(
        stat_of(&v, "cache_misses"),
        0,
        "a failed compile is not a miss: {v}"
    );
    assert_eq!(stat_of(&v, "compile_requests"), 2, "{v}");
    assert_stats_consistent(&v);
    assert!(
        s.entry_files().is_empty(),
        "a failed compile was stored: {:?}",
        s.entry_files()
    );
}

fn failing_compile_passes_through_and_is_not_cached(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.fixture_src(cc, "error");
    assert_failure_passes_through(&s, cc, &src);
}

fn preprocessor_error_passes_through_and_is_not_cached(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.fixture_src(cc, "missing_header");
    assert_failure_passes_through(&s, cc, &src);
}

fn dep_files_restored_on_hit(cc: &Cc) {
    // (extra arguments, dep file the compiler writes)
    let variants: [(&[&str], &str); 7] = [
        (&["-MD"], "hello.d"),
        (&["-MMD"], "hello.d"),
        (&["-MD", "-MP"], "hello.d"),
        (&["-MMD", "-MF", "deps/hello.dep"], "deps/hello.dep"),
        (&["-MD", "-MT", "custom-target.o"], "hello.d"),
        (&["-MD", "-MQ", "money$target.o"], "hello.d"),
        (&["-Wp,-MD,hello.wpd"], "hello.wpd"),
    ];
    for (extra, dep) in variants {
        let s = Sandbox::new();
        let src = s.hello(cc);
        fs::create_dir_all(s.path("deps")).unwrap();
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(["-c", src.as_str(), "-o", "hello.o"]);
        let files = miss_then_hit(&s, cc, &args, &["hello.o", dep]);
        let cached_dep = String::from_utf8(files[1].clone()).expect("dep file is UTF-8");
        assert!(!cached_dep.trim().is_empty(), "{extra:?}: empty dep file");

        // The same rules as the bare compiler writes for this command.
        s.remove(dep);
        s.remove("hello.o");
        let bare = s.bare(cc.name, &args);
        s.assert_success(&bare, "bare compile");
        let bare_dep = String::from_utf8(s.read(dep)).unwrap();
        assert_eq!(
            make_rules(&cached_dep),
            make_rules(&bare_dep),
            "{extra:?}: dep file rules differ from the bare compiler's"
        );
        assert!(
            cached_dep.contains("greet.h"),
            "{extra:?}: dep file lacks the header:\n{cached_dep}"
        );
    }
}

fn dep_file_retargeted_for_another_output(cc: &Cc) {
    // (extra arguments with {} for the output dir, dep file in that dir)
    let variants: [(&[&str], &str); 3] = [
        (&["-MD"], "hello.d"),
        (&["-MMD", "-MF", "{}/custom.d"], "custom.d"),
        (&["-MD", "-MP"], "hello.d"),
    ];
    for (extra, dep) in variants {
        let s = Sandbox::new();
        let src = s.hello(cc);
        for d in ["a", "b"] {
            fs::create_dir_all(s.path(d)).unwrap();
        }
        let args_for = |dir: &str| -> Vec<String> {
            let mut a: Vec<String> = extra.iter().map(|x| x.replace("{}", dir)).collect();
            a.extend([
                "-c".into(),
                src.clone(),
                "-o".into(),
                format!("{dir}/hello.o"),
            ]);
            a
        };
        let a_args = args_for("a");
        let b_args = args_for("b");
        s.compile(cc.name, &a_args);
        let a_dep = String::from_utf8(s.read(&format!("a/{dep}"))).unwrap();
        assert!(
            a_dep.contains("a/hello.o"),
            "{extra:?}: test premise, target is a/hello.o:\n{a_dep}"
        );

        s.compile(cc.name, &b_args);
        assert_eq!(
            s.stat("cache_hits"),
            1,
            "{extra:?}: another -o must still hit"
        );
        let b_dep = String::from_utf8(s.read(&format!("b/{dep}"))).unwrap();
        let b_obj = s.read("b/hello.o");
        assert!(
            b_obj == s.read("a/hello.o"),
            "{extra:?}: object restored for b differs"
        );

        // Exactly the rules the bare compiler writes for -o b/hello.o.
        s.remove(&format!("b/{dep}"));
        s.remove("b/hello.o");
        let bare = s.bare(cc.name, &b_args);
        s.assert_success(&bare, "bare compile");
        let bare_dep = String::from_utf8(s.read(&format!("b/{dep}"))).unwrap();
        assert_eq!(
            make_rules(&b_dep),
            make_rules(&bare_dep),
            "{extra:?}: dep file restored for -o b/hello.o differs from the compiler's:\n{b_dep}\n--- compiler ---\n{bare_dep}"
        );
        assert!(
            !b_dep.contains("a/hello.o"),
            "{extra:?}: restored dep file still names a/hello.o"
        );
    }
}

fn coverage_notes_restored_on_hit(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    let files = miss_then_hit(
        &s,
        cc,
        &["--coverage", "-c", &src, "-o", "hello.o"],
        &["hello.o", "hello.gcno"],
    );
    assert!(!files[1].is_empty(), "empty .gcno");
}

fn split_dwarf_restored_on_hit(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    let files = miss_then_hit(
        &s,
        cc,
        &["-g", "-gsplit-dwarf", "-c", &src, "-o", "hello.o"],
        &["hello.o", "hello.dwo"],
    );
    assert!(!files[1].is_empty(), "empty .dwo");
    assert_eq!(s.link_and_run(cc.name, &["hello.o"], "hello"), HELLO_OUTPUT);
}

fn nested_response_files_cache_and_hit(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    s.write("inner.rsp", format!("{src} -DWHO=\\\"rsp\\\"\n"));
    s.write("outer.rsp", "-c @inner.rsp\n-o hello.o\n");
    miss_then_hit(&s, cc, &["@outer.rsp"], &["hello.o"]);
    assert_eq!(
        s.link_and_run(cc.name, &["hello.o"], "hello"),
        "hello, rsp! 42\n"
    );

    // The content of a nested response file is part of the key.
    s.write("inner.rsp", format!("{src} -DWHO=\\\"rsp2\\\"\n"));
    s.compile(cc.name, &["@outer.rsp"]);
    let v = s.stats();
    assert_eq!(
        stat_of(&v, "cache_misses"),
        2,
        "an edited response file must be a miss: {v}"
    );
    assert_eq!(
        s.link_and_run(cc.name, &["hello.o"], "hello"),
        "hello, rsp2! 42\n"
    );
}

fn explicit_language_on_txt_file(cc: &Cc) {
    let s = Sandbox::new();
    s.write(
        "code.txt",
        "int answer(void);\nint answer(void) { return 42; }\n",
    );
    let args = ["-x", cc.x, "-c", "code.txt", "-o", "code.o"];
    let files = miss_then_hit(&s, cc, &args, &["code.o"]);
    let v = s.stats();
    assert_eq!(map_count(&v, "hits_by_language", cc.lang), 1, "{v}");
    let bare = s.bare(cc.name, &["-x", cc.x, "-c", "code.txt", "-o", "ref.o"]);
    s.assert_success(&bare, "bare compile");
    assert!(
        s.read("ref.o") == files[0],
        "object differs from the bare compiler's"
    );
}

fn assembly_output_cached(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    let files = miss_then_hit(&s, cc, &["-S", &src, "-o", "hello.s"], &["hello.s"]);
    let bare = s.bare(cc.name, &["-S", &src, "-o", "ref.s"]);
    s.assert_success(&bare, "bare -S");
    assert!(
        s.read("ref.s") == files[0],
        "assembly differs from the bare compiler's"
    );
}

fn cwd_is_hashed_with_debug_info(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello_in(cc, "d1");
    s.hello_in(cc, "d2");
    let args = ["-g", "-c", src.as_str(), "-o", "hello.o"];
    let (d1, d2) = (s.path("d1"), s.path("d2"));
    s.compile_in(&d1, cc.name, &args);
    fs::remove_file(d1.join("hello.o")).unwrap();
    s.compile_in(&d1, cc.name, &args);
    assert_eq!(s.stat("cache_hits"), 1, "same dir, same command: a hit");

    s.compile_in(&d2, cc.name, &args);
    let v = s.stats();
    assert_eq!(
        stat_of(&v, "cache_hits"),
        1,
        "with -g another directory must not share the hit: {v}"
    );
    assert_eq!(stat_of(&v, "cache_misses"), 2, "{v}");
    let obj = fs::read(d2.join("hello.o")).unwrap();
    let d2_bytes = d2.to_str().unwrap().as_bytes();
    assert!(
        obj.windows(d2_bytes.len()).any(|w| w == d2_bytes),
        "d2's object must name d2 in its debug info"
    );
}

fn hash_dir_off_shares_debug_objects_across_dirs(cc: &Cc) {
    let mut s = Sandbox::new();
    s.set_env("CACHEPOT_HASH_DIR", "0");
    let src = s.hello_in(cc, "d1");
    s.hello_in(cc, "d2");
    let args = ["-g", "-c", src.as_str(), "-o", "hello.o"];
    s.compile_in(&s.path("d1"), cc.name, &args);
    s.compile_in(&s.path("d2"), cc.name, &args);
    let v = s.stats();
    assert_eq!(
        stat_of(&v, "cache_misses"),
        1,
        "CACHEPOT_HASH_DIR=0: the second dir must hit: {v}"
    );
    assert_eq!(stat_of(&v, "cache_hits"), 1, "{v}");
    assert!(fs::read(s.path("d2/hello.o")).unwrap() == fs::read(s.path("d1/hello.o")).unwrap());
}

fn concurrent_identical_compiles_on_empty_cache(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    let bare = s.bare(cc.name, &["-O1", "-c", src.as_str(), "-o", "ref.o"]);
    s.assert_success(&bare, "bare compile");
    let reference = s.read("ref.o");

    const N: usize = 8;
    let children: Vec<_> = (0..N)
        .map(|i| {
            let mut cmd = s.cachepot_cmd();
            cmd.args([
                cc.name,
                "-O1",
                "-c",
                src.as_str(),
                "-o",
                &format!("out{i}.o"),
            ]);
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().expect("spawn cachepot")
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("wait");
        s.assert_success(&out, &format!("concurrent compile {i}"));
        assert!(
            out.stderr.is_empty(),
            "compile {i} printed: {}",
            lossy(&out.stderr)
        );
        assert!(
            s.read(&format!("out{i}.o")) == reference,
            "object of compile {i} is wrong"
        );
    }
    let v = s.stats();
    assert_eq!(
        stat_of(&v, "compile_requests"),
        N as u64,
        "counters lost under concurrency: {v}"
    );
    assert_eq!(
        stat_of(&v, "cache_hits") + stat_of(&v, "cache_misses"),
        N as u64,
        "{v}"
    );
    assert!(stat_of(&v, "cache_misses") >= 1, "{v}");
    assert_eq!(stat_of(&v, "cache_errors"), 0, "{v}");
    assert_stats_consistent(&v);

    let hits = stat_of(&v, "cache_hits");
    s.compile(cc.name, &["-O1", "-c", src.as_str(), "-o", "ninth.o"]);
    assert_eq!(s.stat("cache_hits"), hits + 1, "the 9th compile must hit");
    assert!(s.read("ninth.o") == reference);
}

// ---------------------------------------------------------------------------------------
// make -j8
// ---------------------------------------------------------------------------------------

const FILES: usize = 50;

fn make_twice(cc: &str) {
    let s = Sandbox::new();
    let mut main = String::from("#include <stdio.h>\n");
    for i in 0..FILES {
        s.write(
            &format!("f{i}.c"),
            format!("int f{i}(int x)\n{{\n    return x * {i} + {};\n}}\n", i % 7),
        );
        main.push_str(&format!("int f{i}(int);\n"));
    }
    main.push_str("int main(void)\n{\n    long sum = 0;\n");
    for i in 0..FILES {
        main.push_str(&format!("    sum += f{i}(2);\n"));
    }
    main.push_str("    printf(\"sum=%ld\\n\", sum);\n    return 0;\n}\n");
    s.write("main.c", main);
    let expected: usize = (0..FILES).map(|i| 2 * i + i % 7).sum();
    s.write(
        "Makefile",
        "SRCS := $(sort $(wildcard *.c))\nOBJS := $(SRCS:.c=.o)\n\n\
         prog: $(OBJS)\n\t$(CC) $(OBJS) -o prog\n\n\
         %.o: %.c\n\t$(CC) -O1 -Wall -c $< -o $@\n\n\
         clean:\n\trm -f $(OBJS) prog\n\n.PHONY: clean\n",
    );
    let cc_var = format!("CC={CACHEPOT} {cc}");
    let make = |target: &[&str]| {
        let mut cmd = s.command("make");
        cmd.args(["-j8", cc_var.as_str()]).args(target);
        let out = run(&mut cmd);
        s.assert_success(&out, &format!("make {target:?}"));
    };

    make(&[]);
    let v = s.stats();
    let compiles = FILES as u64 + 1;
    assert_eq!(
        stat_of(&v, "cache_misses"),
        compiles,
        "cold build: every file a miss: {v}"
    );
    assert_eq!(s.run_program("prog"), format!("sum={expected}\n"));

    make(&["clean"]);
    assert!(
        !s.exists("f0.o") && !s.exists("prog"),
        "make clean did not clean"
    );
    make(&[]);
    let w = s.stats();
    assert_eq!(
        stat_of(&w, "cache_hits"),
        compiles,
        "warm build: every file a hit: {w}"
    );
    assert_eq!(
        stat_of(&w, "cache_misses"),
        compiles,
        "warm build: no new miss: {w}"
    );
    assert_eq!(
        map_count(&w, "non_cacheable_reasons", "linking"),
        2,
        "the two links: {w}"
    );
    assert_eq!(stat_of(&w, "cache_errors"), 0, "{w}");
    assert_stats_consistent(&w);
    assert_eq!(s.run_program("prog"), format!("sum={expected}\n"));
}

#[test]
fn make_j8_fifty_files_twice_gcc() {
    require!("make", "gcc");
    make_twice("gcc");
}

#[test]
fn make_j8_fifty_files_twice_clang() {
    require!("make", "clang");
    make_twice("clang");
}
