//! Rust through cargo's `RUSTC_WRAPPER`, against the real cargo and rustc: library crates
//! (rlib, staticlib, `cargo check`'s metadata) are cached and hit after `cargo clean`, a
//! hit runs no rustc, every input that matters (sources, `--extern` crates, features,
//! RUSTFLAGS, `env!`/`option_env!`, `include_str!`/`include_bytes!`, build-script output
//! in OUT_DIR, module files) is a miss with the right program output, warnings replay on
//! hits, and the crates cachepot does not cache (probes, bins, build scripts, proc-macros,
//! cdylibs, incremental compiles) pass through counted by reason. The two toolchains of a
//! rustup proxy never share a result. Soundness cases: caching-spec.md part D (D1-D5).
//!
//! Each test copies a project from fixtures/rust/ into its own sandbox (cache dir,
//! CARGO_TARGET_DIR), keeping the user's HOME/CARGO_HOME/RUSTUP_HOME so the registry cache
//! is shared; the one the crate registry dependency (itoa, pinned) is built offline when the
//! registry cache already holds it. CARGO_INCREMENTAL=0 everywhere but the test that
//! proves incremental compiles pass through (cargo's dev profile makes path crates
//! incremental otherwise).
//!
//! Counts are stats deltas around one cargo command. Where a test must know *which*
//! crates ran the real rustc, cargo's RUSTC points at a logging shim of the rustup proxy.

#[macro_use]
mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// The the crate registry dependency of fixtures/rust/workspace (pinned exactly in util/Cargo.toml).
const REGISTRY_CRATE: &str = "itoa-1.0.10.crate";

const WARNING: &str = "warning: function `never_called_helper` is never used";

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// cargo and rustc installed (loud skip otherwise, failure under CI).
fn have_cargo() -> bool {
    require_tool("cargo") && require_tool("rustc")
}

/// `$CARGO_HOME`, or `~/.cargo`.
fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
}

/// True when the local registry cache already holds REGISTRY_CRATE (then cargo runs
/// offline; otherwise it may download it once).
fn registry_crate_cached() -> bool {
    let Some(home) = cargo_home() else {
        return false;
    };
    fs::read_dir(home.join("registry").join("cache"))
        .map(|rd| {
            rd.flatten()
                .any(|index| index.path().join(REGISTRY_CRATE).is_file())
        })
        .unwrap_or(false)
}

/// `Sandbox::for_cargo` with cachepot as RUSTC_WRAPPER, offline when the registry crate
/// is already cached.
fn cargo_sandbox() -> Sandbox {
    let mut sb = Sandbox::for_cargo();
    sb.set_env("RUSTC_WRAPPER", CACHEPOT);
    if registry_crate_cached() {
        sb.set_env("CARGO_NET_OFFLINE", "true");
    }
    sb
}

/// Copies the directory `from` into `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for e in fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let e = e.expect("dir entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest)
                .unwrap_or_else(|err| panic!("copy {}: {err}", e.path().display()));
        }
    }
}

/// The counters of one command: `after - before` of every stats field the tests read.
#[derive(Debug, Default)]
struct Delta {
    hits: u64,
    misses: u64,
    direct_hits: u64,
    non_cacheable: u64,
    compile_errors: u64,
    rust_hits: u64,
    rust_misses: u64,
    reasons: BTreeMap<String, u64>,
}

impl Delta {
    fn between(before: &serde_json::Value, after: &serde_json::Value) -> Delta {
        let d = |k: &str| stat_of(after, k) - stat_of(before, k);
        let dm = |m: &str, k: &str| map_count(after, m, k) - map_count(before, m, k);
        let mut reasons = BTreeMap::new();
        if let Some(m) = after["stats"]["non_cacheable_reasons"].as_object() {
            for k in m.keys() {
                let n = dm("non_cacheable_reasons", k);
                if n > 0 {
                    reasons.insert(k.clone(), n);
                }
            }
        }
        Delta {
            hits: d("cache_hits"),
            misses: d("cache_misses"),
            direct_hits: d("direct_hits"),
            non_cacheable: d("non_cacheable"),
            compile_errors: d("compile_errors"),
            rust_hits: dm("hits_by_language", "rust"),
            rust_misses: dm("misses_by_language", "rust"),
            reasons,
        }
    }

    fn reason(&self, r: &str) -> u64 {
        self.reasons.get(r).copied().unwrap_or(0)
    }
}

/// One cargo command's output and stats delta.
struct Run {
    out: Output,
    delta: Delta,
    what: String,
}

impl Run {
    fn stderr(&self) -> String {
        lossy(&self.out.stderr)
    }

    fn show(&self) -> String {
        format!(
            "`{}`: {}\nstats delta: {:?}\n--- cargo stdout ---\n{}\n--- cargo stderr ---\n{}",
            self.what,
            self.out.status,
            self.delta,
            lossy(&self.out.stdout),
            self.stderr()
        )
    }

    /// Number of `Compiling <crate>` lines cargo printed.
    fn compiling_lines(&self) -> usize {
        self.stderr()
            .lines()
            .filter(|l| {
                l.trim_start().starts_with("Compiling ") || l.trim_start().starts_with("Checking ")
            })
            .count()
    }
}

/// A project copied from fixtures/rust/<fixture> into the sandbox's work dir.
struct Project {
    sb: Sandbox,
    dir: PathBuf,
    target: PathBuf,
    shim: Option<Shim>,
}

impl Project {
    fn new(fixture: &str) -> Project {
        let sb = cargo_sandbox();
        let dir = sb.work.join(fixture);
        copy_dir(&fixtures().join("rust").join(fixture), &dir);
        let target = sb.root().join("target");
        Project {
            sb,
            dir,
            target,
            shim: None,
        }
    }

    /// Like `new`, with cargo's RUSTC set to a shim that logs every real rustc run.
    fn with_rustc_shim(fixture: &str) -> Project {
        let mut p = Project::new(fixture);
        let shim = p.sb.shim("rustc");
        p.sb.set_env("RUSTC", &shim.path);
        p.shim = Some(shim);
        p
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Runs cargo `args` in the project; the result holds the stats delta around it.
    fn cargo(&self, args: &[&str]) -> Run {
        let before = self.sb.stats();
        let mut cmd = self.sb.command("cargo");
        cmd.current_dir(&self.dir).args(args);
        let out = run(&mut cmd);
        let after = self.sb.stats();
        assert_stats_consistent(&after);
        Run {
            out,
            delta: Delta::between(&before, &after),
            what: format!("cargo {}", args.join(" ")),
        }
    }

    /// Runs cargo `args` and asserts it succeeded.
    #[track_caller]
    fn cargo_ok(&self, args: &[&str]) -> Run {
        let r = self.cargo(args);
        if !r.out.status.success() {
            panic!(
                "{}\n--- cachepot log tail ---\n{}",
                r.show(),
                tail(&self.sb.log_text(), 40)
            );
        }
        r
    }

    fn clean(&self) {
        let mut cmd = self.sb.command("cargo");
        cmd.current_dir(&self.dir).arg("clean");
        let out = run(&mut cmd);
        self.sb.assert_success(&out, "cargo clean");
    }

    /// Runs target/debug/<bin> and returns its stdout.
    #[track_caller]
    fn run_bin(&self, bin: &str) -> String {
        let exe = self.target.join("debug").join(bin);
        let out = run(&mut self.sb.command(&exe));
        self.sb
            .assert_success(&out, &format!("run {}", exe.display()));
        lossy(&out.stdout)
    }

    /// Asserts `hits` (all direct, running no rustc) and `misses` for the run, and no
    /// failed compile.
    #[track_caller]
    fn expect(&self, r: &Run, hits: u64, misses: u64) {
        let d = &r.delta;
        let ok = d.hits == hits
            && d.misses == misses
            && d.direct_hits == hits
            && d.rust_hits == hits
            && d.rust_misses == misses
            && d.compile_errors == 0;
        if !ok {
            panic!(
                "expected {hits} hit(s) (all direct) and {misses} miss(es), got {} hit(s) \
                 ({} direct) and {} miss(es), {} compile error(s)\n{}\n--- cachepot log tail ---\n{}",
                d.hits,
                d.direct_hits,
                d.misses,
                d.compile_errors,
                r.show(),
                tail(&self.sb.log_text(), 40)
            );
        }
    }

    /// The library crates' outputs in target/debug/deps (.rlib, .rmeta, .a, .d; the
    /// binaries' files left out), by file name.
    fn library_outputs(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let deps = self.target.join("debug").join("deps");
        snapshot(&deps)
            .into_iter()
            .filter(|(k, _)| {
                let ext = k.extension().and_then(|e| e.to_str()).unwrap_or("");
                let name = k.to_string_lossy();
                match ext {
                    "rlib" | "rmeta" | "a" => true,
                    // A bin's dep-info (name-hash.d) has no lib*-file next to it.
                    "d" => {
                        let stem = name.trim_end_matches(".d");
                        deps.join(format!("lib{stem}.rlib")).exists()
                            || deps.join(format!("lib{stem}.rmeta")).exists()
                            || deps.join(format!("lib{stem}.a")).exists()
                    }
                    _ => false,
                }
            })
            .collect()
    }

    /// The line count of the shim's log (a mark for `crates_compiled_since`).
    fn shim_mark(&self) -> usize {
        self.shim
            .as_ref()
            .expect("project has a rustc shim")
            .runs()
            .len()
    }

    /// Names of the crates the real rustc compiled since `mark` (probes excluded).
    fn crates_compiled_since(&self, mark: usize) -> BTreeSet<String> {
        let runs = self.shim.as_ref().expect("project has a rustc shim").runs();
        runs[mark..]
            .iter()
            .filter_map(|line| {
                let words: Vec<&str> = line.split(' ').collect();
                let i = words.iter().position(|w| *w == "--crate-name")?;
                let name = words.get(i + 1)?;
                (*name != "___" && !words.iter().any(|w| w.starts_with("--print")))
                    .then(|| name.to_string())
            })
            .collect()
    }
}

/// Asserts that `warm` holds the same files as `cold`, byte for byte (dep-info shown in
/// full when it differs).
#[track_caller]
fn assert_same_files(
    cold: &BTreeMap<PathBuf, Vec<u8>>,
    warm: &BTreeMap<PathBuf, Vec<u8>>,
    when: &str,
) {
    assert_eq!(
        cold.keys().collect::<Vec<_>>(),
        warm.keys().collect::<Vec<_>>(),
        "different output files {when}"
    );
    let mut diffs = Vec::new();
    for (k, v) in cold {
        if warm[k] != *v {
            if k.extension().is_some_and(|e| e == "d") {
                diffs.push(format!(
                    "{} differs:\n--- miss ---\n{}--- hit ---\n{}",
                    k.display(),
                    lossy(v),
                    lossy(&warm[k])
                ));
            } else {
                diffs.push(format!("{} differs", k.display()));
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "outputs differ {when}:\n{}",
        diffs.join("\n")
    );
}

/// Rewrites `path` with `contents`, making sure its mtime moves forward so that cargo's
/// own freshness check sees the edit (it never goes into the future: cachepot rightly
/// refuses to record files modified after a compile started).
fn edit(path: &Path, contents: impl AsRef<[u8]>) {
    let old = fs::metadata(path).and_then(|m| m.modified()).ok();
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create parent dirs");
    }
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    if let Some(old) = old {
        let new = fs::metadata(path)
            .and_then(|m| m.modified())
            .expect("mtime");
        if new <= old {
            let f = fs::File::options()
                .write(true)
                .open(path)
                .expect("open for set_modified");
            f.set_modified(old + Duration::from_millis(1))
                .expect("set mtime");
        }
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------
// 1, 11: a workspace with path crates and a the crate registry dependency
// ---------------------------------------------------------------------------------------

/// First build: the three library crates (itoa, util, corelib) miss and the binary passes
/// through; `cargo clean` + rebuild: every library crate is a direct hit, the binary is
/// correct.
#[test]
fn workspace_clean_rebuild_hits_every_library_crate() {
    if !have_cargo() {
        return;
    }
    let p = Project::new("workspace");
    let cold = p.cargo_ok(&["build"]);
    p.expect(&cold, 0, 3);
    assert_eq!(
        cold.delta.reason("rust_crate_type"),
        1,
        "the bin passes through\n{}",
        cold.show()
    );
    assert_eq!(cold.compiling_lines(), 4, "{}", cold.show());
    assert_eq!(p.run_bin("app"), "answer=42\n");

    p.clean();
    let warm = p.cargo_ok(&["build"]);
    // Every library crate cargo compiled is a hit: Compiling lines = hits + the bin.
    let libs = (warm.compiling_lines() as u64).saturating_sub(warm.delta.reason("rust_crate_type"));
    assert_eq!(libs, 3, "{}", warm.show());
    p.expect(&warm, libs, 0);
    assert_eq!(warm.delta.reason("rust_crate_type"), 1, "{}", warm.show());
    assert_eq!(p.run_bin("app"), "answer=42\n");
}

/// Same paths, same inputs: after `cargo clean`, the hits restore exactly the files the
/// misses produced: .rlib, .rmeta and the dep-info .d (whose absolute target paths must
/// name the real deps dir again).
#[test]
fn hits_restore_identical_library_outputs() {
    if !have_cargo() {
        return;
    }
    let p = Project::new("workspace");
    let cold = p.cargo_ok(&["build"]);
    p.expect(&cold, 0, 3);
    let cold_files = p.library_outputs();
    assert_eq!(
        cold_files.len(),
        9,
        "expected .rlib, .rmeta and .d for 3 library crates: {:?}",
        cold_files.keys().collect::<Vec<_>>()
    );
    p.clean();
    let warm = p.cargo_ok(&["build"]);
    p.expect(&warm, 3, 0);
    assert_same_files(
        &cold_files,
        &p.library_outputs(),
        "after the all-hit rebuild",
    );
}

/// Warnings from rustc (here: a never-used function in util) appear in cargo's output on
/// a warm build where every library crate is a hit, as on the cold build.
#[test]
fn warnings_shown_on_warm_all_hit_build() {
    if !have_cargo() {
        return;
    }
    let p = Project::new("workspace");
    let cold = p.cargo_ok(&["build"]);
    p.expect(&cold, 0, 3);
    assert!(
        cold.stderr().contains(WARNING),
        "cold build lacks the warning\n{}",
        cold.show()
    );

    p.clean();
    let warm = p.cargo_ok(&["build"]);
    p.expect(&warm, 3, 0);
    let text = warm.stderr();
    assert!(
        text.contains(WARNING),
        "warm (all-hit) build lost the warning\n{}",
        warm.show()
    );
    assert!(
        text.contains("`util` (lib) generated 1 warning"),
        "cargo's warning summary missing on the warm build\n{}",
        warm.show()
    );
    assert_eq!(p.run_bin("app"), "answer=42\n");
}

// ---------------------------------------------------------------------------------------
// 2, 10: a library edit is a miss for it and its dependents (D4)
// ---------------------------------------------------------------------------------------

/// util::BASE 40 -> 50: util misses, and so does corelib, whose own source, arguments and
/// environment are unchanged: only its `--extern util=...` file differs (D4); corelib
/// inlines the constant, so a stale hit would print 42. Going back to 40 hits both
/// without running rustc for them.
#[test]
fn library_edit_misses_it_and_its_dependents() {
    if !have_cargo() {
        return;
    }
    let p = Project::with_rustc_shim("workspace");
    let util = p.path("util/src/lib.rs");
    let original = fs::read_to_string(&util).expect("read util");
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 0, 3);
    assert_eq!(p.run_bin("app"), "answer=42\n");

    edit(&util, original.replace("BASE: u32 = 40", "BASE: u32 = 50"));
    let mark = p.shim_mark();
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 0, 2);
    assert_eq!(
        p.crates_compiled_since(mark),
        set(&["util", "corelib", "app"]),
        "util, corelib (its --extern changed) and the bin must run rustc\n{}",
        r.show()
    );
    assert_eq!(
        p.run_bin("app"),
        "answer=52\n",
        "stale library after an edit"
    );

    // Back to the original source: both libraries hit, and rustc runs for the bin only.
    edit(&util, &original);
    let mark = p.shim_mark();
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 2, 0);
    assert_eq!(
        p.crates_compiled_since(mark),
        set(&["app"]),
        "a hit must not run rustc\n{}",
        r.show()
    );
    assert_eq!(p.run_bin("app"), "answer=42\n");

    // A third value never built before: misses again (no hit of either older result).
    edit(&util, original.replace("BASE: u32 = 40", "BASE: u32 = 60"));
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 0, 2);
    assert_eq!(p.run_bin("app"), "answer=62\n");
}

// ---------------------------------------------------------------------------------------
// 3: cargo check and cargo build
// ---------------------------------------------------------------------------------------

/// `cargo check` caches the metadata-only compiles; the `cargo build` after it needs the
/// rlibs (misses, correct binary); after `cargo clean` both hit.
#[test]
fn check_then_build() {
    if !have_cargo() {
        return;
    }
    let p = Project::new("workspace");
    let check = p.cargo_ok(&["check"]);
    p.expect(&check, 0, 3);
    assert!(check.stderr().contains(WARNING), "{}", check.show());

    let build = p.cargo_ok(&["build"]);
    p.expect(&build, 0, 3);
    assert_eq!(p.run_bin("app"), "answer=42\n");

    p.clean();
    let check = p.cargo_ok(&["check"]);
    p.expect(&check, 3, 0);
    assert!(
        check.stderr().contains(WARNING),
        "warm cargo check lost the warning\n{}",
        check.show()
    );
    let build = p.cargo_ok(&["build"]);
    p.expect(&build, 3, 0);
    assert_eq!(p.run_bin("app"), "answer=42\n");
}

// ---------------------------------------------------------------------------------------
// 4, 5: features and RUSTFLAGS
// ---------------------------------------------------------------------------------------

/// `--features x` sets a cfg the library reads: a miss with the new output; back without
/// it (after `cargo clean`, since cargo keeps both builds fresh) hits the first result, and
/// `--features x` again hits the second.
#[test]
fn feature_toggle() {
    if !have_cargo() {
        return;
    }
    let p = Project::new("features");
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 0, 1);
    assert_eq!(p.run_bin("feat"), "mode=x-off\n");

    let r = p.cargo_ok(&["build", "--features", "x"]);
    p.expect(&r, 0, 1);
    assert_eq!(
        p.run_bin("feat"),
        "mode=x-on\n",
        "stale hit across a feature toggle"
    );

    p.clean();
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 1, 0);
    assert_eq!(p.run_bin("feat"), "mode=x-off\n");

    p.clean();
    let r = p.cargo_ok(&["build", "--features", "x"]);
    p.expect(&r, 1, 0);
    assert_eq!(p.run_bin("feat"), "mode=x-on\n");
}

/// RUSTFLAGS="--cfg myflag" (read by cfg!): a miss with the new output; unset again after
/// `cargo clean`: a hit of the first result.
#[test]
fn rustflags_change() {
    if !have_cargo() {
        return;
    }
    let mut p = Project::new("rustflags");
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 0, 1);
    assert_eq!(p.run_bin("flags"), "myflag=false\n");

    p.sb.set_env("RUSTFLAGS", "--cfg myflag");
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 0, 1);
    assert_eq!(
        p.run_bin("flags"),
        "myflag=true\n",
        "stale hit across RUSTFLAGS"
    );

    p.sb.remove_env("RUSTFLAGS");
    p.clean();
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 1, 0);
    assert_eq!(p.run_bin("flags"), "myflag=false\n");
}

// ---------------------------------------------------------------------------------------
// 6-9: env!, include_str!, OUT_DIR, module files (caching-spec D1, D2, D3, D5)
// ---------------------------------------------------------------------------------------

/// env!("MY_VAR") and option_env!("MY_OPT"): set -> unset, changed, unset -> set, set ->
/// changed are all misses with the new values printed (D5); going back to an earlier
/// environment hits its result.
#[test]
fn env_and_option_env_changes() {
    if !have_cargo() {
        return;
    }
    let mut p = Project::new("envvars");
    // (MY_VAR, MY_OPT, expected output, hit?)
    let steps: [(&str, Option<&str>, &str, bool); 7] = [
        ("one", Some("hello"), "var=one opt=hello\n", false),
        ("one", None, "var=one opt=unset\n", false), // MY_OPT set -> unset
        ("two", None, "var=two opt=unset\n", false), // MY_VAR changed
        ("two", Some("bye"), "var=two opt=bye\n", false), // MY_OPT unset -> set
        ("two", Some("later"), "var=two opt=later\n", false), // MY_OPT changed
        ("one", Some("hello"), "var=one opt=hello\n", true), // an earlier environment
        ("one", None, "var=one opt=unset\n", true),  // ... and one with MY_OPT unset
    ];
    for (i, (var, opt, want, hit)) in steps.into_iter().enumerate() {
        p.sb.set_env("MY_VAR", var);
        match opt {
            Some(v) => p.sb.set_env("MY_OPT", v),
            None => p.sb.remove_env("MY_OPT"),
        };
        let r = p.cargo_ok(&["build"]);
        let (hits, misses) = if hit { (1, 0) } else { (0, 1) };
        eprintln!("step {i}: MY_VAR={var} MY_OPT={opt:?}");
        p.expect(&r, hits, misses);
        assert_eq!(
            p.run_bin("envs"),
            want,
            "step {i} (MY_VAR={var}, MY_OPT={opt:?}) printed a stale value"
        );
    }
}

/// include_str!/include_bytes! targets edited (same length, then another size): misses
/// with the new content printed (D2); the original contents again: a hit.
#[test]
fn included_files_edited() {
    if !have_cargo() {
        return;
    }
    let p = Project::new("include");
    let data = p.path("src/data.txt");
    let blob = p.path("src/blob.bin");
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 0, 1);
    assert_eq!(p.run_bin("incl"), "text=first text blob=3\n");

    edit(&data, "fresh text\n"); // same size as "first text\n"
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 0, 1);
    assert_eq!(
        p.run_bin("incl"),
        "text=fresh text blob=3\n",
        "stale include_str!"
    );

    edit(&blob, "abcde");
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 0, 1);
    assert_eq!(
        p.run_bin("incl"),
        "text=fresh text blob=5\n",
        "stale include_bytes!"
    );

    edit(&data, "first text\n");
    edit(&blob, "abc");
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 1, 0);
    assert_eq!(p.run_bin("incl"), "text=first text blob=3\n");
}

/// A build script writes OUT_DIR/generated.rs from GEN_VALUE (declared with
/// cargo:rerun-if-env-changed); the library include!s it. Different content in the same
/// OUT_DIR: a miss with the new value (D3); the first value again: a hit.
#[test]
fn build_script_output_changes() {
    if !have_cargo() {
        return;
    }
    let mut p = Project::new("buildscript");
    p.sb.set_env("GEN_VALUE", "alpha");
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 0, 1);
    assert_eq!(
        r.delta.reason("rust_crate_type"),
        2,
        "the build script and the bin pass through\n{}",
        r.show()
    );
    assert_eq!(p.run_bin("gen"), "gen=alpha\n");

    p.sb.set_env("GEN_VALUE", "beta");
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 0, 1);
    assert_eq!(p.run_bin("gen"), "gen=beta\n", "stale OUT_DIR content");

    p.sb.set_env("GEN_VALUE", "alpha");
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 1, 0);
    assert_eq!(p.run_bin("gen"), "gen=alpha\n");
}

/// `mod foo;` resolved to src/foo.rs; creating src/foo/mod.rs as well makes rustc fail
/// with E0761, and so must the cached build: no hit of the earlier success (D1). With
/// src/foo.rs removed, foo/mod.rs is used (a miss, its value); then src/foo.rs appearing
/// next to foo/mod.rs fails again.
#[test]
fn new_module_file_is_not_a_stale_success() {
    if !have_cargo() {
        return;
    }
    let p = Project::new("modules");
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 0, 1);
    assert_eq!(p.run_bin("mods"), "foo=1\n");

    let modrs = p.path("src/foo/mod.rs");
    let foo_rs = p.path("src/foo.rs");
    let foo_rs_text = fs::read_to_string(&foo_rs).expect("read foo.rs");
    edit(&modrs, "pub fn value() -> u32 {\n    2\n}\n");

    // The bare toolchain's verdict, in a separate target dir without the wrapper.
    let mut bare = p.sb.command("cargo");
    bare.current_dir(&p.dir)
        .env_remove("RUSTC_WRAPPER")
        .env("CARGO_TARGET_DIR", p.sb.root().join("bare-target"))
        .arg("build");
    let bare = run(&mut bare);
    assert!(
        !bare.status.success() && lossy(&bare.stderr).contains("E0761"),
        "the bare build should fail with E0761: {}",
        lossy(&bare.stderr)
    );

    // cargo's fingerprint does not know about the new file: clean so that rustc is asked.
    p.clean();
    let r = p.cargo(&["build"]);
    assert!(
        !r.out.status.success() && r.stderr().contains("E0761"),
        "with both src/foo.rs and src/foo/mod.rs the build must fail like the bare one \
         (E0761), not hit the earlier success\n{}",
        r.show()
    );
    assert_eq!(r.delta.hits, 0, "{}", r.show());

    fs::remove_file(&foo_rs).expect("remove foo.rs");
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 0, 1);
    assert_eq!(p.run_bin("mods"), "foo=2\n");

    // The other direction: foo/mod.rs recorded, src/foo.rs appears.
    edit(&foo_rs, foo_rs_text);
    p.clean();
    let r = p.cargo(&["build"]);
    assert!(
        !r.out.status.success() && r.stderr().contains("E0761"),
        "src/foo.rs appearing next to the recorded src/foo/mod.rs must fail (E0761)\n{}",
        r.show()
    );
    assert_eq!(r.delta.hits, 0, "{}", r.show());
}

// ---------------------------------------------------------------------------------------
// 12: what passes through
// ---------------------------------------------------------------------------------------

/// With cargo's default (incremental) dev profile, the workspace's path crates compile
/// with -C incremental and pass through as `incremental`, on the cold build and again
/// after `cargo clean`; only the registry crate (never incremental) is cached.
#[test]
fn incremental_compiles_pass_through() {
    if !have_cargo() {
        return;
    }
    let mut p = Project::new("workspace");
    p.sb.remove_env("CARGO_INCREMENTAL");
    let cold = p.cargo_ok(&["build"]);
    p.expect(&cold, 0, 1);
    let inc = cold.delta.reason("incremental");
    assert!(
        inc >= 2,
        "util and corelib must pass through as incremental\n{}",
        cold.show()
    );
    assert_eq!(p.run_bin("app"), "answer=42\n");
    let inc_dir = p.target.join("debug").join("incremental");
    assert!(
        fs::read_dir(&inc_dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false),
        "rustc wrote no incremental state under {}",
        inc_dir.display()
    );

    p.clean();
    let warm = p.cargo_ok(&["build"]);
    p.expect(&warm, 1, 0);
    assert_eq!(warm.delta.reason("incremental"), inc, "{}", warm.show());
    assert_eq!(p.run_bin("app"), "answer=42\n");
}

/// A build script, a bin, a proc-macro and a cdylib pass through as `rust_crate_type`
/// (cold and warm); cargo's probes as `rust_probe`; the one plain library is cached.
#[test]
fn bins_build_scripts_proc_macros_and_cdylibs_pass_through() {
    if !have_cargo() {
        return;
    }
    let p = Project::new("kinds");
    let cold = p.cargo_ok(&["build"]);
    p.expect(&cold, 0, 1);
    assert_eq!(cold.delta.reason("rust_crate_type"), 4, "{}", cold.show());
    assert!(cold.delta.reason("rust_probe") >= 1, "{}", cold.show());
    assert_eq!(
        cold.delta.non_cacheable,
        cold.delta.reason("rust_crate_type") + cold.delta.reason("rust_probe"),
        "no other reason expected\n{}",
        cold.show()
    );
    assert_eq!(p.run_bin("kinds"), "kinds=7\n");

    p.clean();
    let warm = p.cargo_ok(&["build"]);
    p.expect(&warm, 1, 0);
    assert_eq!(warm.delta.reason("rust_crate_type"), 4, "{}", warm.show());
    assert_eq!(p.run_bin("kinds"), "kinds=7\n");
}

// ---------------------------------------------------------------------------------------
// 13: two toolchains through one rustup proxy
// ---------------------------------------------------------------------------------------

/// True when rustup has a toolchain named like `name` (loud skip outside CI otherwise).
fn have_toolchain(sb: &Sandbox, name: &str) -> bool {
    let out = run(sb.command("rustup").args(["toolchain", "list"]));
    let listed = out.status.success()
        && lossy(&out.stdout).lines().any(|l| {
            l.starts_with(&format!("{name}-")) || l.split_whitespace().next() == Some(name)
        });
    if listed {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("rustup toolchain `{name}` is not installed, and CI must install it");
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n=== SKIPPED {}: rustup toolchain `{name}` is not installed ===\n",
        std::thread::current().name().unwrap_or("?")
    );
    false
}

/// `cachepot rustc --crate-type lib ...` with the rustup proxy as rustc, under
/// RUSTUP_TOOLCHAIN=stable and =nightly with one cache: the second toolchain misses and
/// its rlib (which embeds the compiler version) differs; each then hits its own result.
#[test]
fn two_toolchains_never_share_a_result() {
    if !(have_cargo() && require_tool("rustup")) {
        return;
    }
    let mut sb = cargo_sandbox();
    if !have_toolchain(&sb, "stable") || !have_toolchain(&sb, "nightly") {
        return;
    }
    // The rustup proxy itself (the same binary whatever the toolchain).
    let proxy = cargo_home()
        .map(|h| h.join("bin").join("rustc"))
        .filter(|p| p.is_file())
        .or_else(|| which("rustc"))
        .expect("rustc on PATH");
    let proxy = proxy.to_str().expect("UTF-8 path");
    sb.fixture("rust/toolchain/lib.rs", "src/lib.rs");
    // Created in advance: a missing --out-dir is its own case
    // (direct_rustc_without_emit_writes_the_rlib).
    fs::create_dir_all(sb.path("out")).expect("create out dir");
    let args = [
        proxy,
        "--crate-type",
        "lib",
        "--crate-name",
        "t",
        "--out-dir",
        "out",
        // Explicit: without it the compile is broken in its own way
        // (direct_rustc_without_emit_writes_the_rlib).
        "--emit=link",
        "src/lib.rs",
    ];
    let rlib = "out/libt.rlib";
    let version = |sb: &Sandbox| {
        let out = sb.bare(proxy, &["-V"]);
        sb.assert_success(&out, "rustc -V");
        lossy(&out.stdout).trim().to_string()
    };
    let compile = |sb: &Sandbox| -> (Vec<u8>, Delta) {
        sb.remove(rlib);
        let before = sb.stats();
        sb.compile(proxy, &args[1..]);
        let after = sb.stats();
        assert_stats_consistent(&after);
        (sb.read(rlib), Delta::between(&before, &after))
    };

    sb.set_env("RUSTUP_TOOLCHAIN", "stable");
    let stable_version = version(&sb);
    let (stable, d) = compile(&sb);
    assert_eq!((d.hits, d.misses), (0, 1), "stable cold: {d:?}");
    let (again, d) = compile(&sb);
    assert_eq!((d.hits, d.misses), (1, 0), "stable warm: {d:?}");
    assert!(again == stable, "stable hit differs from its miss");

    sb.set_env("RUSTUP_TOOLCHAIN", "nightly");
    let nightly_version = version(&sb);
    assert_ne!(
        stable_version, nightly_version,
        "the two toolchains are the same rustc"
    );
    let (nightly, d) = compile(&sb);
    assert_eq!(
        (d.hits, d.misses),
        (0, 1),
        "nightly after stable through the same proxy must miss: {d:?}"
    );
    assert!(
        nightly != stable,
        "nightly's rlib equals stable's: a shared result"
    );
    let contains =
        |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
    let short = |v: &str| v.split_whitespace().nth(1).unwrap_or(v).to_string();
    assert!(
        contains(&nightly, &short(&nightly_version))
            && !contains(&nightly, &short(&stable_version)),
        "nightly's rlib should embed `{nightly_version}`, not `{stable_version}`"
    );
    let (again, d) = compile(&sb);
    assert_eq!((d.hits, d.misses), (1, 0), "nightly warm: {d:?}");
    assert!(again == nightly, "nightly hit differs from its miss");

    sb.set_env("RUSTUP_TOOLCHAIN", "stable");
    let (again, d) = compile(&sb);
    assert_eq!((d.hits, d.misses), (1, 0), "stable again: {d:?}");
    assert!(
        again == stable,
        "stable hit after nightly is not stable's rlib"
    );
    assert!(contains(&again, &short(&stable_version)));
}

/// The same through cargo: RUSTUP_TOOLCHAIN=stable, then =nightly (each after `cargo
/// clean`), one cache: nightly's library compile misses and its binary runs; then each
/// toolchain hits its own result. (cargo's -C metadata already differs per rustc version,
/// so this mostly proves nightly's cargo works through the wrapper; the direct test above
/// is the one that would catch a conflated identity.)
#[test]
fn two_toolchains_through_cargo() {
    if !(have_cargo() && require_tool("rustup")) {
        return;
    }
    let mut p = Project::new("features");
    if !have_toolchain(&p.sb, "stable") || !have_toolchain(&p.sb, "nightly") {
        return;
    }
    for (toolchain, hit) in [
        ("stable", false),
        ("nightly", false),
        ("stable", true),
        ("nightly", true),
    ] {
        p.sb.set_env("RUSTUP_TOOLCHAIN", toolchain);
        p.clean();
        let r = p.cargo_ok(&["build"]);
        eprintln!("RUSTUP_TOOLCHAIN={toolchain}");
        if hit {
            p.expect(&r, 1, 0);
        } else {
            p.expect(&r, 0, 1);
        }
        assert_eq!(p.run_bin("feat"), "mode=x-off\n");
    }
}

/// `cachepot rustc --crate-type lib --crate-name t --out-dir out src/lib.rs`: the plain
/// command with no `--emit`, i.e. rustc's default (link). The bare rustc writes
/// out/libt.rlib (creating out/ if needed), so must the cached compile: a miss, no
/// dep-info file nobody asked for, and after removing out/ a hit restoring the same rlib.
/// Run with out/ present and with out/ not there yet.
#[test]
fn direct_rustc_without_emit_writes_the_rlib() {
    if !have_cargo() {
        return;
    }
    for out_dir_exists in [true, false] {
        direct_rustc_without_emit(out_dir_exists);
    }
}

fn direct_rustc_without_emit(out_dir_exists: bool) {
    let sb = cargo_sandbox();
    sb.fixture("rust/toolchain/lib.rs", "src/lib.rs");
    let args = |dir: &'static str| {
        [
            "--crate-type",
            "lib",
            "--crate-name",
            "t",
            "--out-dir",
            dir,
            "src/lib.rs",
        ]
    };
    if out_dir_exists {
        fs::create_dir_all(sb.path("bare-out")).expect("create bare-out");
        fs::create_dir_all(sb.path("out")).expect("create out");
    }
    let bare = sb.bare("rustc", &args("bare-out"));
    sb.assert_success(&bare, "bare rustc");
    assert!(
        sb.exists("bare-out/libt.rlib"),
        "the bare rustc wrote no rlib"
    );

    let mut all = vec!["rustc"];
    all.extend(args("out"));
    let before = sb.stats();
    let out = sb.cachepot(&all);
    let d = Delta::between(&before, &sb.stats());
    assert!(
        out.status.success() && sb.exists("out/libt.rlib"),
        "`cachepot {}` (out/ existed before: {out_dir_exists}) must succeed and write \
         out/libt.rlib like the bare rustc; got {}, out/ holds {:?}, stats delta {d:?}\n\
         --- stderr ---\n{}\n--- log tail ---\n{}",
        all.join(" "),
        out.status,
        walk_files(&sb.path("out")),
        lossy(&out.stderr),
        tail(&sb.log_text(), 10)
    );
    assert!(
        !sb.exists("out/t.d"),
        "a dep-info file nobody asked for was left behind"
    );
    assert_eq!((d.hits, d.misses), (0, 1), "{d:?}");
    let miss = sb.read("out/libt.rlib");

    fs::remove_dir_all(sb.path("out")).expect("remove out");
    let before = sb.stats();
    let out = sb.cachepot(&all);
    sb.assert_success(&out, "cachepot rustc (warm)");
    let d = Delta::between(&before, &sb.stats());
    assert_eq!((d.hits, d.misses), (1, 0), "{d:?}");
    assert!(
        sb.read("out/libt.rlib") == miss,
        "the hit's rlib differs from the miss's"
    );
}

// ---------------------------------------------------------------------------------------
// 14: staticlib
// ---------------------------------------------------------------------------------------

/// A staticlib crate is cached: a hit after `cargo clean` restores the .a byte-identical
/// (both cargo's deps/ file and the uplifted copy), and a C program links against it.
#[test]
fn staticlib_is_cached() {
    if !have_cargo() {
        return;
    }
    let p = Project::new("staticlib");
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 0, 1);
    let debug = p.target.join("debug");
    let archives = |p: &Project| -> BTreeMap<PathBuf, Vec<u8>> {
        let mut m: BTreeMap<PathBuf, Vec<u8>> = walk_files(&debug)
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "a"))
            .map(|f| {
                let data = fs::read(&f).expect("read archive");
                (f.strip_prefix(&p.target).unwrap().to_path_buf(), data)
            })
            .collect();
        m.retain(|_, v| !v.is_empty());
        m
    };
    let cold = archives(&p);
    assert!(
        cold.keys().any(|k| k.starts_with("debug/deps"))
            && cold.contains_key(Path::new("debug/libstat.a")),
        "expected deps/libstat-*.a and the uplifted libstat.a, found {:?}",
        cold.keys().collect::<Vec<_>>()
    );

    p.clean();
    assert!(!debug.join("libstat.a").exists());
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 1, 0);
    let warm = archives(&p);
    assert_eq!(
        warm.keys().collect::<Vec<_>>(),
        cold.keys().collect::<Vec<_>>(),
        "the hit restored other archives"
    );
    for (k, v) in &cold {
        assert!(warm[k] == *v, "{} differs after the hit", k.display());
    }

    if which("cc").is_some() {
        let exe = p.sb.root().join("stat-main");
        let out = p.sb.bare(
            "cc",
            &[
                p.path("main.c").to_str().unwrap(),
                debug.join("libstat.a").to_str().unwrap(),
                "-o",
                exe.to_str().unwrap(),
                "-lpthread",
                "-ldl",
                "-lm",
            ],
        );
        p.sb.assert_success(&out, "link main.c against the restored libstat.a");
        let out = run(&mut p.sb.command(&exe));
        p.sb.assert_success(&out, "run stat-main");
        assert_eq!(lossy(&out.stdout), "stat=42\n");
    }
}

/// Issue 4 item 4: two checkouts of the workspace at different paths, each with its own
/// target dir, one cache and CACHEPOT_BASEDIR: the registry crate is a hit the second
/// time.
#[test]
fn basedir_shares_registry_crates_between_checkouts() {
    if !have_cargo() {
        return;
    }
    let mut p = Project::new("workspace");
    let base = p.sb.work.clone();
    p.sb.set_env("CACHEPOT_BASEDIR", &base);
    let first = p.cargo_ok(&["build"]);
    assert!(first.delta.misses >= 1, "{}", first.show());
    // The second checkout, built into its own target dir.
    let second_dir = p.sb.work.join("second");
    copy_dir(&p.dir, &second_dir);
    let target2 = p.sb.root().join("target2");
    p.sb.set_env("CARGO_TARGET_DIR", &target2);
    p.dir = second_dir;
    p.target = target2;
    let second = p.cargo_ok(&["build"]);
    assert!(
        second.delta.hits >= 1,
        "the registry crate must be shared: {}",
        second.show()
    );
    assert_eq!(p.run_bin("app"), p.run_bin("app"));
    assert!(!p.run_bin("app").is_empty());
}

/// cargo's own configuration variables (colours, jobs) are not part of the key: a build
/// with CARGO_TERM_COLOR=always after `cargo clean` hits what one with `never` stored
/// (CI often sets it). A crate that reads one with option_env! still sees its value: the
/// env-dep rustc records is checked on every hit.
#[test]
fn cargo_configuration_variables_are_not_keyed() {
    if !have_cargo() {
        return;
    }
    let mut p = Project::new("envvars");
    edit(
        &p.dir.join("src/lib.rs"),
        "pub fn var() -> &'static str {\n    env!(\"MY_VAR\")\n}\n\n\
         pub fn opt() -> &'static str {\n    match option_env!(\"CARGO_BUILD_JOBS\") {\n        \
         Some(v) => v,\n        None => \"unset\",\n    }\n}\n",
    );
    p.sb.set_env("MY_VAR", "v");
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 0, 1);
    assert_eq!(p.run_bin("envs"), "var=v opt=unset\n");
    p.sb.set_env("CARGO_BUILD_JOBS", "2");
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 0, 1);
    assert_eq!(
        p.run_bin("envs"),
        "var=v opt=2\n",
        "the env-dep must be checked"
    );
    p.cargo_ok(&["clean"]);
    p.sb.set_env("CARGO_TERM_COLOR", "always");
    let r = p.cargo_ok(&["build"]);
    p.expect(&r, 1, 0);
    assert_eq!(p.run_bin("envs"), "var=v opt=2\n");
}
