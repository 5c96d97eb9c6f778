//! The command line: maintenance flags, the stats JSON shape, --show-config provenance,
//! configuration errors (exit 2, one line), the masquerade symlink mode, and how the
//! compiler is named (PATH, absolute path, not found).

#[macro_use]
mod common;

use common::*;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

const HELLO_OUTPUT: &str = "hello, world! 42\n";

fn stdout_of(s: &Sandbox, args: &[&str]) -> String {
    let out = s.cachepot(args);
    s.assert_success(&out, &format!("cachepot {}", args.join(" ")));
    lossy(&out.stdout)
}

#[test]
fn version_exits_zero_and_names_the_version() {
    let s = Sandbox::new();
    let text = stdout_of(&s, &["--version"]);
    assert!(
        text.contains(env!("CARGO_PKG_VERSION")),
        "--version output lacks the version: {text:?}"
    );
}

#[test]
fn help_exits_zero_and_lists_the_flags() {
    let s = Sandbox::new();
    let text = stdout_of(&s, &["--help"]);
    for flag in [
        "--show-stats",
        "--zero-stats",
        "--clear",
        "--cleanup",
        "--show-config",
    ] {
        assert!(
            text.contains(flag),
            "--help does not mention {flag}:\n{text}"
        );
    }
}

#[test]
fn start_and_stop_server_are_accepted_no_ops() {
    let s = Sandbox::new();
    for flag in [
        "--start-server",
        "--stop-server",
        "--stop-server",
        "--start-server",
    ] {
        let out = s.cachepot(&[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", lossy(&out.stderr));
    }
    assert!(s.entry_files().is_empty());
}

#[test]
fn show_stats_human_table_is_not_empty() {
    let s = Sandbox::new();
    // On an empty, not yet created cache...
    assert!(
        !stdout_of(&s, &["--show-stats"]).trim().is_empty(),
        "--show-stats printed nothing"
    );
    // ...and after a compile.
    if require_tool("gcc") {
        s.hello(&GCC);
        s.compile("gcc", &["-c", "hello.c", "-o", "hello.o"]);
        assert!(!stdout_of(&s, &["--show-stats"]).trim().is_empty());
    }
}

/// Checks every key of the contract's JSON shape and that every count is an integer.
fn assert_json_shape(v: &serde_json::Value) {
    for key in [
        "compile_requests",
        "cache_hits",
        "cache_misses",
        "non_cacheable",
        "compile_errors",
        "cache_errors",
    ] {
        assert!(
            v["stats"][key].is_u64(),
            "stats.{key} missing or not an unsigned integer: {v}"
        );
    }
    for map in [
        "hits_by_language",
        "misses_by_language",
        "non_cacheable_reasons",
    ] {
        let m = v["stats"][map]
            .as_object()
            .unwrap_or_else(|| panic!("stats.{map} is not an object: {v}"));
        for (k, n) in m {
            assert!(
                n.is_u64(),
                "stats.{map}.{k} is not an unsigned integer: {v}"
            );
        }
    }
    assert!(
        v["cache"]["location"].is_string(),
        "cache.location is not a string: {v}"
    );
    for key in ["size_bytes", "max_size_bytes", "entries"] {
        assert!(
            v["cache"][key].is_u64(),
            "cache.{key} missing or not an unsigned integer: {v}"
        );
    }
    assert_stats_consistent(v);
}

#[test]
fn stats_json_has_the_contract_shape() {
    let s = Sandbox::new();
    let empty = s.stats();
    assert_json_shape(&empty);
    assert_eq!(stat_of(&empty, "compile_requests"), 0, "{empty}");
    assert_eq!(
        empty["cache"]["max_size_bytes"].as_u64(),
        Some(10_000_000_000),
        "the default bound is 10G: {empty}"
    );
    let loc = empty["cache"]["location"].as_str().unwrap_or("");
    assert!(
        Path::new(loc) == s.cache
            || (Path::new(loc).exists()
                && fs::canonicalize(loc).ok() == fs::canonicalize(&s.cache).ok()),
        "cache.location must be CACHEPOT_DIR ({}): {empty}",
        s.cache.display()
    );

    require!("gcc");
    s.hello(&GCC);
    s.fixture("c/error.c", "error.c");
    s.compile("gcc", &["-c", "hello.c", "-o", "hello.o"]); // miss
    s.compile("gcc", &["-c", "hello.c", "-o", "hello.o"]); // hit
    s.compile("gcc", &["hello.o", "-o", "hello"]); // linking
    assert!(!s
        .cachepot(&["gcc", "-c", "error.c", "-o", "error.o"])
        .status
        .success()); // failure
    let v = s.stats();
    assert_json_shape(&v);
    assert_eq!(stat_of(&v, "compile_requests"), 4, "{v}");
    assert_eq!(stat_of(&v, "cache_hits"), 1, "{v}");
    assert_eq!(stat_of(&v, "cache_misses"), 1, "{v}");
    assert_eq!(stat_of(&v, "non_cacheable"), 1, "{v}");
    assert_eq!(stat_of(&v, "compile_errors"), 1, "{v}");
    assert_eq!(map_count(&v, "non_cacheable_reasons", "linking"), 1, "{v}");
    assert_eq!(map_count(&v, "hits_by_language", "c"), 1, "{v}");
    assert_eq!(map_count(&v, "misses_by_language", "c"), 1, "{v}");
    assert!(v["cache"]["entries"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["cache"]["size_bytes"].as_u64().unwrap() > 0, "{v}");
}

#[test]
fn cache_size_units() {
    for (value, bytes) in [
        ("2M", 2_000_000u64),
        ("500K", 500_000),
        ("10G", 10_000_000_000),
        ("1T", 1_000_000_000_000),
        ("64Mi", 67_108_864),
        ("4Ki", 4096),
        ("1Gi", 1_073_741_824),
        ("12345", 12345),
    ] {
        let mut s = Sandbox::new();
        s.set_env("CACHEPOT_CACHE_SIZE", value);
        assert_eq!(
            s.cache_field("max_size_bytes"),
            bytes,
            "CACHEPOT_CACHE_SIZE={value}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// --show-config
// ---------------------------------------------------------------------------------------

/// The lines of --show-config that show `any` of the given values.
fn config_lines_with(text: &str, any: &[&str]) -> Vec<String> {
    text.lines()
        .filter(|l| any.iter().any(|v| l.contains(v)))
        .map(str::to_owned)
        .collect()
}

fn assert_origin(text: &str, values: &[&str], origin: &str) {
    let lines = config_lines_with(text, values);
    assert!(
        !lines.is_empty(),
        "--show-config shows none of {values:?}:\n{text}"
    );
    assert!(
        lines.iter().any(|l| l.to_lowercase().contains(origin)),
        "--show-config does not give {values:?} the origin `{origin}`:\n{text}"
    );
}

#[test]
fn show_config_default_values() {
    let s = Sandbox::new();
    let text = stdout_of(&s, &["--show-config"]);
    assert_origin(&text, &["10G", "10000000000"], "default");
}

#[test]
fn show_config_environment_values() {
    let mut s = Sandbox::new();
    s.set_env("CACHEPOT_CACHE_SIZE", "5G");
    let text = stdout_of(&s, &["--show-config"]);
    assert_origin(&text, &["5G", "5000000000"], "environment");
    let dir = s.cache.to_str().unwrap().to_owned();
    assert_origin(&text, &[dir.as_str()], "environment");
}

#[test]
fn show_config_config_file_values() {
    let mut s = Sandbox::new();
    let conf = s.write("cachepot.toml", "cache_size = \"3G\"\n");
    s.set_env("CACHEPOT_CONF", &conf);
    let text = stdout_of(&s, &["--show-config"]);
    assert_origin(&text, &["3G", "3000000000"], "config");

    // The environment wins over the file.
    s.set_env("CACHEPOT_CACHE_SIZE", "5G");
    let text = stdout_of(&s, &["--show-config"]);
    assert_origin(&text, &["5G", "5000000000"], "environment");
    assert_eq!(
        s.cache_field("max_size_bytes"),
        5_000_000_000,
        "the environment must override the config file"
    );
}

#[test]
fn config_file_sets_the_bound() {
    let mut s = Sandbox::new();
    let conf = s.write("cachepot.toml", "cache_size = \"3G\"\n");
    s.set_env("CACHEPOT_CONF", &conf);
    assert_eq!(s.cache_field("max_size_bytes"), 3_000_000_000);
}

// ---------------------------------------------------------------------------------------
// Configuration errors
// ---------------------------------------------------------------------------------------

/// A compile under a malformed setting: exit 2, exactly one line on stderr naming one of
/// `names` (case-insensitive), nothing on stdout, nothing compiled.
fn assert_config_error(s: &Sandbox, names: &[&str], what: &str) {
    let out = s.cachepot(&["gcc", "-c", "hello.c", "-o", "hello.o"]);
    let stderr = lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{what}: exit status must be 2; stderr: {stderr}"
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{what}: exactly one line on stderr, got:\n{stderr}"
    );
    let lower = stderr.to_lowercase();
    assert!(
        names.iter().any(|n| lower.contains(&n.to_lowercase())),
        "{what}: the message must name {names:?}: {stderr}"
    );
    assert!(
        !lower.contains("panicked"),
        "{what}: a panic is not a config error: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "{what}: stdout: {}",
        lossy(&out.stdout)
    );
    assert!(
        !s.exists("hello.o"),
        "{what}: a config error must compile nothing"
    );
}

#[test]
fn malformed_environment_settings_are_config_errors() {
    for (var, value) in [
        ("CACHEPOT_CACHE_SIZE", "banana"),
        ("CACHEPOT_CACHE_SIZE", "12Q"),
        ("CACHEPOT_DIRECT", "maybe"),
        ("CACHEPOT_RECACHE", "perhaps"),
        ("CACHEPOT_HASH_DIR", "sometimes"),
    ] {
        let mut s = Sandbox::new();
        s.fixture("c/hello.c", "hello.c");
        s.fixture("c/greet.h", "greet.h");
        s.set_env(var, value);
        assert_config_error(&s, &[var], &format!("{var}={value}"));
    }
}

#[test]
fn invalid_toml_config_file_is_a_config_error() {
    let mut s = Sandbox::new();
    s.hello(&GCC);
    let conf = s.write("broken.toml", "cache_size = \"3G\nthis is [not toml\n");
    s.set_env("CACHEPOT_CONF", &conf);
    assert_config_error(
        &s,
        &["CACHEPOT_CONF", conf.to_str().unwrap(), "broken.toml"],
        "invalid TOML",
    );
}

#[test]
fn malformed_value_in_config_file_is_a_config_error() {
    let mut s = Sandbox::new();
    s.hello(&GCC);
    let conf = s.write("cachepot.toml", "cache_size = \"banana\"\n");
    s.set_env("CACHEPOT_CONF", &conf);
    assert_config_error(
        &s,
        &["cache_size"],
        "cache_size = \"banana\" in the config file",
    );
}

#[test]
fn switch_spellings_are_accepted() {
    require!("gcc");
    for value in ["1", "true", "YES", "On", "0", "false", "No", "OFF"] {
        let mut s = Sandbox::new();
        s.hello(&GCC);
        s.set_env("CACHEPOT_DIRECT", value);
        s.set_env("CACHEPOT_HASH_DIR", value);
        s.compile("gcc", &["-c", "hello.c", "-o", "hello.o"]);
        assert!(s.exists("hello.o"), "CACHEPOT_DIRECT={value}");
    }
}

// ---------------------------------------------------------------------------------------
// Naming the compiler
// ---------------------------------------------------------------------------------------

#[test]
fn compiler_by_absolute_path() {
    require!("gcc");
    let s = Sandbox::new();
    s.hello(&GCC);
    let gcc = which("gcc").unwrap();
    let gcc = gcc.to_str().unwrap();
    let args = [gcc, "-c", "hello.c", "-o", "hello.o"];
    s.compile(gcc, &args[1..]);
    let object = s.read("hello.o");
    s.remove("hello.o");
    s.compile(gcc, &args[1..]);
    assert_eq!(s.stat("cache_hits"), 1);
    assert!(s.read("hello.o") == object);
    assert_eq!(s.link_and_run("gcc", &["hello.o"], "hello"), HELLO_OUTPUT);
}

#[test]
fn cc_and_cxx_names() {
    for (name, cc) in [("cc", GCC), ("c++", GXX)] {
        if !require_tool(name) {
            continue;
        }
        let s = Sandbox::new();
        let src = s.hello(&cc);
        s.compile(name, &["-c", src.as_str(), "-o", "hello.o"]);
        s.remove("hello.o");
        s.compile(name, &["-c", src.as_str(), "-o", "hello.o"]);
        let v = s.stats();
        assert_eq!(
            (stat_of(&v, "cache_misses"), stat_of(&v, "cache_hits")),
            (1, 1),
            "{name}: {v}"
        );
        assert_eq!(map_count(&v, "hits_by_language", cc.lang), 1, "{name}: {v}");
        assert_eq!(s.link_and_run(name, &["hello.o"], "hello"), HELLO_OUTPUT);
    }
}

#[test]
fn compiler_not_found_is_one_line_and_non_zero() {
    let s = Sandbox::new();
    s.hello(&GCC);
    for compiler in ["no-such-compiler-cachepot-test", "/nonexistent/dir/gcc"] {
        let out = s.cachepot(&[compiler, "-c", "hello.c", "-o", "hello.o"]);
        let stderr = lossy(&out.stderr);
        assert!(!out.status.success(), "{compiler}: must fail");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{compiler}: exactly one line on stderr:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{compiler}: {stderr}");
        assert!(!s.exists("hello.o"));
    }
}

// ---------------------------------------------------------------------------------------
// Masquerade: a symlink named like the compiler
// ---------------------------------------------------------------------------------------

/// A directory of symlinks named like compilers, pointing at cachepot.
fn masquerade_dir(s: &Sandbox) -> std::path::PathBuf {
    let dir = s.root().join("masq");
    fs::create_dir_all(&dir).unwrap();
    for name in ["gcc", "g++", "cc", "c++", "clang", "clang++"] {
        symlink(CACHEPOT, dir.join(name)).unwrap();
    }
    dir
}

fn path_of(dirs: &[&Path], rest: &str) -> String {
    let mut parts: Vec<String> = dirs
        .iter()
        .map(|d| d.to_str().unwrap().to_owned())
        .collect();
    parts.push(rest.to_owned());
    parts.join(":")
}

/// Runs `sh -c "<compiler> -c <src> -o hello.o"` (so argv[0] is the bare name, as make
/// does) under `timeout`, so that a recursion bug fails instead of hanging.
fn masqueraded_compile(s: &Sandbox, compiler: &str, src: &str) {
    let mut cmd = s.command("timeout");
    cmd.args(["60", "sh", "-c", &format!("{compiler} -c {src} -o hello.o")]);
    let out = run(&mut cmd);
    s.assert_success(&out, &format!("masqueraded {compiler}"));
    assert!(
        out.stderr.is_empty(),
        "masqueraded {compiler}: {}",
        lossy(&out.stderr)
    );
}

fn masquerade(cc: &Cc, link_dir_twice: bool) {
    let mut s = Sandbox::new();
    let src = s.hello(cc);
    let bare = s.bare(cc.name, &["-c", src.as_str(), "-o", "ref.o"]);
    s.assert_success(&bare, "bare compile");
    let reference = s.read("ref.o");

    let masq = masquerade_dir(&s);
    // The next compiler of that name on PATH is a logging shim, which proves which one ran.
    let shim = s.shim(cc.name);
    let orig = s.env_value("PATH").unwrap().to_str().unwrap().to_owned();
    let dirs: Vec<&Path> = if link_dir_twice {
        vec![&masq, &masq, &shim.dir]
    } else {
        vec![&masq, &shim.dir]
    };
    s.set_env("PATH", path_of(&dirs, &orig));

    masqueraded_compile(&s, cc.name, &src);
    assert!(
        s.read("hello.o") == reference,
        "object differs from the bare compiler's"
    );
    assert_eq!(
        shim.compile_runs(),
        1,
        "the next `{}` on PATH must compile the miss: {:?}",
        cc.name,
        shim.runs()
    );
    s.remove("hello.o");
    masqueraded_compile(&s, cc.name, &src);
    assert!(s.read("hello.o") == reference);
    let v = s.stats();
    assert_eq!(
        (stat_of(&v, "cache_misses"), stat_of(&v, "cache_hits")),
        (1, 1),
        "{v}"
    );
    assert_eq!(
        shim.compile_runs(),
        1,
        "the hit must not compile: {:?}",
        shim.runs()
    );

    // Called by the link's absolute path, too.
    s.remove("hello.o");
    let out = run(s
        .command("timeout")
        .arg("60")
        .arg(masq.join(cc.name))
        .args(["-c", src.as_str(), "-o", "hello.o"]));
    s.assert_success(&out, "masquerade by absolute path");
    assert!(s.read("hello.o") == reference);
    assert_eq!(s.stat("cache_hits"), 2);
}

#[test]
fn masquerade_gcc() {
    require!("gcc", "timeout");
    masquerade(&GCC, false);
}

#[test]
fn masquerade_gcc_link_dir_twice_on_path() {
    require!("gcc", "timeout");
    masquerade(&GCC, true);
}

#[test]
fn masquerade_gxx_link_dir_twice_on_path() {
    require!("g++", "timeout");
    masquerade(&GXX, true);
}

#[test]
fn masquerade_clang_link_dir_twice_on_path() {
    require!("clang", "timeout");
    masquerade(&CLANG, true);
}

#[test]
fn masquerade_without_a_shim_runs_the_system_compiler() {
    require!("gcc", "timeout");
    let mut s = Sandbox::new();
    s.hello(&GCC);
    let masq = masquerade_dir(&s);
    let orig = s.env_value("PATH").unwrap().to_str().unwrap().to_owned();
    s.set_env("PATH", path_of(&[&masq, &masq], &orig));
    masqueraded_compile(&s, "gcc", "hello.c");
    s.remove("hello.o");
    masqueraded_compile(&s, "gcc", "hello.c");
    assert_eq!(s.stat("cache_hits"), 1);
    assert_eq!(s.link_and_run("gcc", &["hello.o"], "hello"), HELLO_OUTPUT);
}

/// `--show-stats` breaks hits and misses down by compiler family (gcc, clang, rustc), in
/// JSON (`hits_by_compiler`, `misses_by_compiler`) and in the human table.
#[test]
fn stats_by_compiler_family() {
    require!("gcc", "clang", "rustc");
    let mut s = Sandbox::new();
    // rustc is usually a rustup proxy: it needs the user's rustup home and selection.
    for var in ["HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
        if let Some(v) = std::env::var_os(var) {
            s.set_env(var, v);
        }
    }
    s.write("a.c", "int a(void) { return 1; }\n");
    s.write("x.rs", "pub fn f() -> u32 { 4 }\n");
    fs::create_dir_all(s.path("out")).unwrap();
    let rustc = [
        "rustc",
        "--crate-name",
        "x",
        "--edition=2021",
        "x.rs",
        "--crate-type",
        "lib",
        "--emit=dep-info,metadata,link",
        "-C",
        "debuginfo=0",
        "--out-dir",
        "out",
    ];
    // gcc: miss, hit; clang: miss, hit, hit; rustc: miss, hit.
    for (cc, times) in [("gcc", 2), ("clang", 3)] {
        for _ in 0..times {
            let o = s.compile(cc, &["-c", "a.c", "-o", &format!("a-{cc}.o")]);
            s.assert_success(&o, cc);
        }
    }
    for _ in 0..2 {
        let o = s.cachepot(&rustc);
        s.assert_success(&o, "rustc");
    }
    let v = s.stats();
    let st = &v["stats"];
    assert_eq!(
        st["hits_by_compiler"],
        serde_json::json!({"gcc": 1, "clang": 2, "rustc": 1}),
        "{st}"
    );
    assert_eq!(
        st["misses_by_compiler"],
        serde_json::json!({"gcc": 1, "clang": 1, "rustc": 1}),
        "{st}"
    );
    let human = stdout_of(&s, &["--show-stats"]);
    for line in ["hits by clang", "misses by rustc"] {
        assert!(human.contains(line), "no '{line}' in:\n{human}");
    }
}

/// Maintenance output to a stdout that cannot take it (a full device, a closed pipe):
/// one line on stderr and exit 1, never a panic (print! panics, exit 134).
#[test]
fn maintenance_output_to_a_full_device_is_one_line_not_a_panic() {
    let s = Sandbox::new();
    for args in [
        &["--show-stats", "--stats-format", "json"][..],
        &["--show-config"][..],
        &["--show-stats"][..],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let mut cmd = s.cachepot_cmd();
        cmd.args(args).stdout(full);
        let out = run(&mut cmd);
        let err = lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
}
