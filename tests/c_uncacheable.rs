//! Commands cachepot must not cache: each one runs the real compiler with exactly the
//! user's arguments (seen through a logging shim), gives the same exit status, stdout,
//! stderr and files as the bare compiler, stores nothing, and is counted under its reason
//! in `non_cacheable_reasons`. Failed compiles are checked here too: never cached.

#[macro_use]
mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

per_compiler!(
    linking_a_source,
    linking_objects,
    preprocess_only,
    two_sources,
    save_temps,
    stdin_input,
    dep_rules_to_stdout_with_m,
    dep_rules_to_stdout_with_mm,
    unknown_extension,
    syntax_only,
    output_to_stdout,
    no_source,
    failing_compile_runs_every_time,
);

/// Files of the work dir that are new or changed compared with `before`.
fn changes(s: &Sandbox, before: &BTreeMap<PathBuf, Vec<u8>>) -> BTreeMap<PathBuf, Vec<u8>> {
    snapshot(&s.work)
        .into_iter()
        .filter(|(p, data)| before.get(p) != Some(data))
        .collect()
}

/// Runs `args` with the bare compiler, then through cachepot (with a logging shim as the
/// compiler), and checks that both did exactly the same and that cachepot counted one
/// non-cacheable request under `reason` and stored nothing.
fn assert_uncacheable(s: &Sandbox, cc: &Cc, args: &[&str], stdin: Option<&[u8]>, reason: &str) {
    let before = snapshot(&s.work);
    let bare = match stdin {
        Some(input) => s.bare_stdin(cc.name, args, input),
        None => s.bare(cc.name, args),
    };
    let bare_files = changes(s, &before);
    for p in bare_files.keys() {
        std::fs::remove_file(s.work.join(p)).unwrap();
    }

    let shim = s.shim(cc.name);
    let mut all = vec![shim.path_str()];
    all.extend(args);
    let out = match stdin {
        Some(input) => s.cachepot_stdin(&all, input),
        None => s.cachepot(&all),
    };
    let what = format!("cachepot {} {}", cc.name, args.join(" "));
    assert_eq!(
        out.status.code(),
        bare.status.code(),
        "{what}: exit status differs from the bare compiler's"
    );
    assert_eq!(
        lossy(&out.stderr),
        lossy(&bare.stderr),
        "{what}: stderr differs from the bare compiler's"
    );
    assert!(
        out.stdout == bare.stdout,
        "{what}: stdout differs from the bare compiler's:\n{}\n---\n{}",
        lossy(&out.stdout),
        lossy(&bare.stdout)
    );
    let files = changes(s, &before);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        bare_files.keys().collect::<Vec<_>>(),
        "{what}: not the same files as the bare compiler wrote"
    );
    for (p, data) in &files {
        assert!(
            bare_files[p] == *data,
            "{what}: {} differs from the bare compiler's",
            p.display()
        );
    }
    assert!(
        shim.ran_with(args),
        "{what}: the compiler must run with exactly the user's arguments; it ran: {:?}",
        shim.runs()
    );

    let v = s.stats();
    assert_eq!(stat_of(&v, "compile_requests"), 1, "{what}: {v}");
    assert_eq!(stat_of(&v, "non_cacheable"), 1, "{what}: {v}");
    assert_eq!(
        map_count(&v, "non_cacheable_reasons", reason),
        1,
        "{what}: expected reason `{reason}` in {v}"
    );
    assert_eq!(
        stat_of(&v, "cache_hits") + stat_of(&v, "cache_misses"),
        0,
        "{what}: {v}"
    );
    assert_stats_consistent(&v);
    assert!(
        s.entry_files().is_empty(),
        "{what}: stored an entry: {:?}",
        s.entry_files()
    );
}

/// The compiler driver prefixes its own messages with the name it was called by
/// (`gcc: warning: ...`): called through cachepot by name, without a shim, it must print
/// exactly what it prints when called by that name directly.
fn assert_driver_messages_unchanged(s: &Sandbox, cc: &Cc, args: &[&str]) {
    let bare = s.bare(cc.name, args);
    let mut all = vec![cc.name];
    all.extend(args);
    let out = s.cachepot(&all);
    assert_eq!(
        out.status.code(),
        bare.status.code(),
        "cachepot {}",
        all.join(" ")
    );
    assert_eq!(
        lossy(&out.stderr),
        lossy(&bare.stderr),
        "cachepot {}: driver messages differ",
        all.join(" ")
    );
}

fn linking_a_source(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    assert_uncacheable(&s, cc, &[&src, "-o", "prog"], None, "linking");
    assert_eq!(s.run_program("prog"), "hello, world! 42\n");
}

fn linking_objects(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    s.assert_success(
        &s.bare(cc.name, &["-c", &src, "-o", "hello.o"]),
        "bare compile",
    );
    assert_uncacheable(&s, cc, &["hello.o", "-o", "prog"], None, "linking");
    assert_eq!(s.run_program("prog"), "hello, world! 42\n");
}

fn preprocess_only(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    assert_uncacheable(&s, cc, &["-E", &src], None, "preprocess_only");
}

fn two_sources(cc: &Cc) {
    let s = Sandbox::new();
    s.write(&cc.src("a"), "int a(void) { return 1; }\n");
    s.write(&cc.src("b"), "int b(void) { return 2; }\n");
    assert_uncacheable(
        &s,
        cc,
        &["-c", &cc.src("a"), &cc.src("b")],
        None,
        "multiple_sources",
    );
    assert!(s.exists("a.o") && s.exists("b.o"));
}

fn save_temps(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    assert_uncacheable(
        &s,
        cc,
        &["-save-temps", "-c", &src, "-o", "hello.o"],
        None,
        "save_temps",
    );
    assert!(s.exists("hello.o"));
}

fn stdin_input(cc: &Cc) {
    let s = Sandbox::new();
    let code = b"int answer(void);\nint answer(void) { return 42; }\n";
    assert_uncacheable(
        &s,
        cc,
        &["-x", cc.x, "-c", "-", "-o", "stdin.o"],
        Some(code),
        "stdin_input",
    );
    assert!(s.exists("stdin.o"));
}

fn dep_rules_to_stdout_with_m(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    assert_uncacheable(&s, cc, &["-M", &src], None, "dep_to_stdout");
}

fn dep_rules_to_stdout_with_mm(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    assert_uncacheable(&s, cc, &["-MM", &src], None, "dep_to_stdout");
}

fn unknown_extension(cc: &Cc) {
    let s = Sandbox::new();
    s.write("data.xyz", "int x;\n");
    assert_uncacheable(&s, cc, &["-c", "data.xyz"], None, "unknown_language");
    assert_driver_messages_unchanged(&s, cc, &["-c", "data.xyz"]);
}

fn syntax_only(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.fixture_src(cc, "warn");
    assert_uncacheable(
        &s,
        cc,
        &["-fsyntax-only", "-Wall", "-c", &src],
        None,
        "syntax_only",
    );
}

fn output_to_stdout(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.hello(cc);
    assert_uncacheable(&s, cc, &["-S", &src, "-o", "-"], None, "output_to_stdout");
}

fn no_source(cc: &Cc) {
    let s = Sandbox::new();
    assert_uncacheable(&s, cc, &["-c", "-O2"], None, "no_source");
    assert_driver_messages_unchanged(&s, cc, &["-c", "-O2"]);
}

fn dependencies_env(cc: &Cc) {
    for var in ["DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES"] {
        let mut s = Sandbox::new();
        s.set_env(var, "env-deps.d");
        let src = s.hello(cc);
        assert_uncacheable(
            &s,
            cc,
            &["-c", &src, "-o", "hello.o"],
            None,
            "dependencies_env",
        );
        assert!(
            s.exists("env-deps.d"),
            "{var}: test premise, the compiler wrote the dep file"
        );
    }
}

// DEPENDENCIES_OUTPUT is a GNU preprocessor feature: only gcc and g++ act on it.
#[test]
fn gcc_dependencies_env() {
    with_compiler(&GCC, dependencies_env);
}

#[test]
fn gxx_dependencies_env() {
    with_compiler(&GXX, dependencies_env);
}

fn failing_compile_runs_every_time(cc: &Cc) {
    let s = Sandbox::new();
    let src = s.fixture_src(cc, "error");
    let shim = s.shim(cc.name);
    let bare = s.bare(cc.name, &["-c", &src, "-o", "error.o"]);
    assert!(!bare.status.success(), "test premise: the fixture fails");
    for round in 1..=3usize {
        let out = s.cachepot(&[shim.path_str(), "-c", &src, "-o", "error.o"]);
        assert_eq!(out.status.code(), bare.status.code(), "round {round}");
        assert_eq!(lossy(&out.stderr), lossy(&bare.stderr), "round {round}");
        assert!(!s.exists("error.o"));
        assert_eq!(
            shim.compile_runs(),
            round,
            "round {round}: a failed compile must run the compiler every time: {:?}",
            shim.runs()
        );
    }
    let v = s.stats();
    assert_eq!(stat_of(&v, "compile_errors"), 3, "{v}");
    assert_eq!(stat_of(&v, "cache_hits"), 0, "{v}");
    assert_stats_consistent(&v);
    assert!(s.entry_files().is_empty());
}
