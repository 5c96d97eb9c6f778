//! The local disk store seen from outside: corrupt entries and stats files, read-only and
//! impossible cache dirs never fail a build; the size bound holds while compiling;
//! --clear, --zero-stats and --cleanup do what the contract says; the cache dir is tagged
//! and owner-only.
//!
//! Entries are found as the contract's layout documents them: files named by 64 hex
//! digits under `$CACHEPOT_DIR/v1`, and per-shard counter files named `stats`.

#[macro_use]
mod common;

use common::*;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const ARGS: [&str; 4] = ["-c", "hello.c", "-o", "hello.o"];
const HELLO_OUTPUT: &str = "hello, world! 42\n";

/// A sandbox holding the C hello fixture and the bare compiler's object for ARGS.
fn hello_sandbox() -> (Sandbox, Vec<u8>) {
    let s = Sandbox::new();
    s.hello(&GCC);
    let bare = s.bare("gcc", &["-c", "hello.c", "-o", "ref.o"]);
    s.assert_success(&bare, "bare compile");
    let reference = s.read("ref.o");
    s.remove("ref.o");
    (s, reference)
}

/// Compiles ARGS through cachepot, checks the object against `reference`, returns the
/// compile's output.
fn compile_hello(s: &Sandbox, reference: &[u8]) -> std::process::Output {
    s.remove("hello.o");
    let out = s.compile("gcc", &ARGS);
    assert!(
        s.read("hello.o") == reference,
        "object differs from the bare compiler's"
    );
    out
}

// ---------------------------------------------------------------------------------------
// Corrupt entries
// ---------------------------------------------------------------------------------------

/// Caches hello.o, damages every entry file with `corrupt`, and checks that the next
/// compile succeeds with a correct object, counts a cache error, rewrites the entry, and
/// that the run after it is a hit.
/// Done in the default mode and again with direct mode off (CACHEPOT_DIRECT=0), since
/// the two read different entries on a hit.
fn corrupted_entries_are_misses_and_rewritten(corrupt: fn(&Path)) {
    require!("gcc");
    corrupted_entries_scenario(corrupt);
    with_sandbox_env("CACHEPOT_DIRECT", "0", || {
        corrupted_entries_scenario(corrupt)
    });
}

fn corrupted_entries_scenario(corrupt: fn(&Path)) {
    let (s, reference) = hello_sandbox();
    compile_hello(&s, &reference);
    let entries = s.entry_files();
    assert!(
        !entries.is_empty(),
        "no entry file (64 hex digits) under {}/v1",
        s.cache.display()
    );
    for e in &entries {
        corrupt(e);
    }

    let before = s.stats();
    let out = compile_hello(&s, &reference);
    assert!(
        out.stderr.is_empty(),
        "a cache fault must not reach the compiler's stderr: {}",
        lossy(&out.stderr)
    );
    let after = s.stats();
    assert!(
        stat_of(&after, "cache_errors") > stat_of(&before, "cache_errors"),
        "a corrupt entry must count a cache error: {after}"
    );
    assert_eq!(
        stat_of(&after, "cache_hits"),
        stat_of(&before, "cache_hits"),
        "a corrupt entry must not be a hit"
    );

    compile_hello(&s, &reference);
    let last = s.stats();
    assert_eq!(
        stat_of(&last, "cache_hits"),
        stat_of(&after, "cache_hits") + 1,
        "the rewritten entry must hit: {last}"
    );
    assert_eq!(s.link_and_run("gcc", &["hello.o"], "hello"), HELLO_OUTPUT);
}

#[test]
fn corrupt_entry_flipped_bytes() {
    corrupted_entries_are_misses_and_rewritten(|p| {
        let mut data = fs::read(p).unwrap();
        let n = data.len();
        assert!(n > 0);
        data[n / 2] ^= 0xff;
        data[n - 1] ^= 0x55;
        fs::write(p, data).unwrap();
    });
}

#[test]
fn corrupt_entry_truncated() {
    corrupted_entries_are_misses_and_rewritten(|p| {
        let n = fs::metadata(p).unwrap().len();
        fs::OpenOptions::new()
            .write(true)
            .open(p)
            .unwrap()
            .set_len(n / 2)
            .unwrap();
    });
}

#[test]
fn corrupt_entry_replaced_with_garbage() {
    corrupted_entries_are_misses_and_rewritten(|p| {
        let n = fs::metadata(p).unwrap().len() as usize;
        fs::write(p, XorShift::new(n as u64).bytes(n.max(64))).unwrap();
    });
}

#[test]
fn corrupt_entry_empty_file() {
    corrupted_entries_are_misses_and_rewritten(|p| {
        fs::write(p, b"").unwrap();
    });
}

#[test]
fn garbage_stats_files_do_not_break_anything() {
    require!("gcc");
    let (s, reference) = hello_sandbox();
    compile_hello(&s, &reference);
    let stats_files: Vec<_> = walk_files(&s.cache)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "stats"))
        .collect();
    assert!(
        !stats_files.is_empty(),
        "no `stats` file under {}",
        s.cache.display()
    );
    for (i, p) in stats_files.iter().enumerate() {
        let mut garbage = b"not a counter \xff\x00\n{{{ -17 1e99\n".to_vec();
        garbage.extend(XorShift::new(i as u64 + 7).bytes(300));
        fs::write(p, garbage).unwrap();
    }

    let out = compile_hello(&s, &reference);
    assert!(out.stderr.is_empty(), "stderr: {}", lossy(&out.stderr));
    let v = s.stats();
    assert!(
        stat_of(&v, "cache_hits") >= 1,
        "the hit after the garbage must be counted: {v}"
    );
    compile_hello(&s, &reference);
    assert_eq!(
        s.stat("cache_hits"),
        stat_of(&v, "cache_hits") + 1,
        "counting must go on after garbage"
    );
    let human = s.cachepot(&["--show-stats"]);
    s.assert_success(&human, "--show-stats after garbage stats files");
}

// ---------------------------------------------------------------------------------------
// Unusable cache directories
// ---------------------------------------------------------------------------------------

/// Runs `cachepot gcc ARGS` as an unprivileged user when the tests run as root (setpriv
/// to nobody), as the current user otherwise.
fn compile_unprivileged(s: &Sandbox) -> std::process::Output {
    let mut cmd = if euid() == 0 {
        // A copy of the binary inside the sandbox, so that nobody can run it whatever
        // the permissions of the directories above the cargo target dir.
        let bin = s.root().join("cachepot-copy");
        if !bin.exists() {
            // Copied by a child process, as common::write_executable explains; mode 755
            // whatever the umask.
            let out = run(std::process::Command::new("install")
                .args(["-m", "755"])
                .arg(CACHEPOT)
                .arg(&bin));
            assert!(out.status.success(), "install: {out:?}");
        }
        let mut c = s.command("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        c
    } else {
        s.cachepot_cmd()
    };
    cmd.arg("gcc").args(ARGS);
    run(&mut cmd)
}

#[test]
fn read_only_cache_dir() {
    require!("gcc");
    if euid() == 0 {
        require!("setpriv");
    }
    let (mut s, reference) = hello_sandbox();
    // nobody must reach the work dir (tempfile makes the root 0700) and write there.
    fs::set_permissions(s.root(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&s.work, fs::Permissions::from_mode(0o777)).unwrap();
    let log = s.work.join("unprivileged.log");
    s.set_env("CACHEPOT_ERROR_LOG", &log);
    s.set_env("HOME", s.work.clone());
    // A cache dir this user cannot write: owned by root 0755 (or 0555 when not root).
    fs::create_dir(&s.cache).unwrap();
    let mode = if euid() == 0 { 0o755 } else { 0o555 };
    fs::set_permissions(&s.cache, fs::Permissions::from_mode(mode)).unwrap();

    // Empty and unwritable.
    let out = compile_unprivileged(&s);
    s.assert_success(&out, "compile with an unwritable cache dir");
    assert!(out.stderr.is_empty(), "stderr: {}", lossy(&out.stderr));
    assert!(
        s.read("hello.o") == reference,
        "object differs from the bare compiler's"
    );
    s.remove("hello.o");

    // Populated (by its owner), readable, still unwritable.
    if euid() == 0 {
        fs::set_permissions(&s.cache, fs::Permissions::from_mode(0o700)).unwrap();
        compile_hello(&s, &reference);
        for d in walk_dirs(&s.cache) {
            fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        }
        for f in walk_files(&s.cache) {
            fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        }
        s.remove("hello.o");
        let out = compile_unprivileged(&s);
        s.assert_success(&out, "compile with a read-only populated cache dir");
        assert!(out.stderr.is_empty(), "stderr: {}", lossy(&out.stderr));
        assert!(
            s.read("hello.o") == reference,
            "object differs from the bare compiler's"
        );
    }
}

#[test]
fn cache_dir_under_a_regular_file() {
    require!("gcc");
    let (mut s, reference) = hello_sandbox();
    let blocker = s.write("blocker", "a regular file, not a directory\n");
    s.set_env("CACHEPOT_DIR", blocker.join("cache"));
    for round in 1..=2 {
        let out = compile_hello(&s, &reference);
        assert!(
            out.stderr.is_empty(),
            "round {round}: stderr: {}",
            lossy(&out.stderr)
        );
    }
    assert_eq!(s.link_and_run("gcc", &["hello.o"], "hello"), HELLO_OUTPUT);
}

// ---------------------------------------------------------------------------------------
// Size bound, maintenance flags
// ---------------------------------------------------------------------------------------

/// A C source defining `const unsigned char <name>[n]` of incompressible bytes, so that
/// its object is about `n` bytes and so is its (compressed) cache entry.
fn blob_source(name: &str, n: usize, seed: u64) -> String {
    let bytes = XorShift::new(seed).bytes(n);
    let mut src = String::with_capacity(n * 4 + 100);
    src.push_str(&format!("const unsigned char {name}[{n}] = {{\n"));
    for chunk in bytes.chunks(32) {
        for b in chunk {
            src.push_str(&b.to_string());
            src.push(',');
        }
        src.push('\n');
    }
    src.push_str("};\n");
    src
}

#[test]
fn size_bound_held_while_compiling_sixty_100k_objects() {
    require!("gcc");
    let mut s = Sandbox::new();
    s.set_env("CACHEPOT_CACHE_SIZE", "2M");
    const BOUND: u64 = 2_000_000;
    for i in 0..60u64 {
        let src = format!("blob{i}.c");
        let obj = format!("blob{i}.o");
        s.write(&src, blob_source(&format!("blob{i}"), 100_000, i + 1));
        s.compile("gcc", &["-c", src.as_str(), "-o", obj.as_str()]);
        assert!(
            s.read(&obj).len() >= 100_000,
            "test premise: a 100 KB object"
        );
        s.remove(&obj);
        if i % 5 == 4 || i >= 55 {
            let v = s.stats();
            let size = v["cache"]["size_bytes"].as_u64().expect("size_bytes");
            assert!(
                size <= BOUND,
                "after {} compiles size_bytes {size} > {BOUND}: {v}",
                i + 1
            );
            let on_disk = s.entries_size();
            assert!(
                on_disk <= BOUND,
                "after {} compiles the entries take {on_disk} bytes > {BOUND}",
                i + 1
            );
            assert_eq!(v["cache"]["max_size_bytes"].as_u64(), Some(BOUND), "{v}");
        }
    }
    let v = s.stats();
    assert_eq!(stat_of(&v, "cache_misses"), 60, "{v}");
    assert_eq!(stat_of(&v, "compile_errors"), 0, "{v}");

    // LRU: the entry written last is still there.
    let bare = s.bare("gcc", &["-c", "blob59.c", "-o", "ref.o"]);
    s.assert_success(&bare, "bare compile");
    s.compile("gcc", &["-c", "blob59.c", "-o", "blob59.o"]);
    assert_eq!(
        s.stat("cache_hits"),
        1,
        "the most recent entry must survive eviction"
    );
    assert!(s.read("blob59.o") == s.read("ref.o"));
}

#[test]
fn clear_drops_entries_and_keeps_stats() {
    require!("gcc");
    let (s, reference) = hello_sandbox();
    compile_hello(&s, &reference);
    compile_hello(&s, &reference);
    assert!(!s.entry_files().is_empty());
    let before = s.stats();
    assert_eq!(
        (
            stat_of(&before, "cache_misses"),
            stat_of(&before, "cache_hits")
        ),
        (1, 1),
        "{before}"
    );

    let out = s.cachepot(&["--clear"]);
    s.assert_success(&out, "--clear");
    let after = s.stats();
    assert!(
        s.entry_files().is_empty(),
        "--clear left entries: {:?}",
        s.entry_files()
    );
    assert_eq!(after["cache"]["entries"].as_u64(), Some(0), "{after}");
    assert_eq!(after["cache"]["size_bytes"].as_u64(), Some(0), "{after}");
    for key in ["compile_requests", "cache_hits", "cache_misses"] {
        assert_eq!(
            stat_of(&after, key),
            stat_of(&before, key),
            "--clear must keep {key}: {after}"
        );
    }

    compile_hello(&s, &reference);
    assert_eq!(
        s.stat("cache_misses"),
        2,
        "after --clear the compile is a miss"
    );
}

#[test]
fn zero_stats_resets_counters_and_keeps_entries() {
    require!("gcc");
    let (s, reference) = hello_sandbox();
    compile_hello(&s, &reference);
    compile_hello(&s, &reference);
    s.cachepot(&["gcc", "hello.o", "-o", "prog"]); // a non-cacheable request (linking)
    let v = s.stats();
    assert_eq!(stat_of(&v, "compile_requests"), 3, "{v}");

    let out = s.cachepot(&["--zero-stats"]);
    s.assert_success(&out, "--zero-stats");
    let z = s.stats();
    for key in [
        "compile_requests",
        "cache_hits",
        "cache_misses",
        "non_cacheable",
        "compile_errors",
        "cache_errors",
    ] {
        assert_eq!(stat_of(&z, key), 0, "--zero-stats must reset {key}: {z}");
    }
    for map in [
        "hits_by_language",
        "misses_by_language",
        "non_cacheable_reasons",
    ] {
        let sum: u64 = z["stats"][map]
            .as_object()
            .expect(map)
            .values()
            .filter_map(|n| n.as_u64())
            .sum();
        assert_eq!(sum, 0, "--zero-stats must reset {map}: {z}");
    }
    assert!(
        !s.entry_files().is_empty(),
        "--zero-stats must keep the entries"
    );

    compile_hello(&s, &reference);
    let w = s.stats();
    assert_eq!(
        (stat_of(&w, "cache_hits"), stat_of(&w, "compile_requests")),
        (1, 1),
        "{w}"
    );
}

#[test]
fn cleanup_evicts_down_to_a_smaller_bound() {
    require!("gcc");
    let mut s = Sandbox::new();
    for i in 0..40u64 {
        let src = format!("small{i}.c");
        s.write(&src, blob_source(&format!("small{i}"), 5_000, 1000 + i));
        s.compile("gcc", &["-c", src.as_str(), "-o", "small.o"]);
    }
    let entries_before = s.entry_files().len();
    assert!(
        s.cache_field("size_bytes") > 100_000,
        "test premise: over 100 KB cached"
    );

    s.set_env("CACHEPOT_CACHE_SIZE", "100K");
    let out = s.cachepot(&["--cleanup"]);
    s.assert_success(&out, "--cleanup");
    let v = s.stats();
    assert_eq!(v["cache"]["max_size_bytes"].as_u64(), Some(100_000), "{v}");
    let size = v["cache"]["size_bytes"].as_u64().unwrap();
    assert!(
        size <= 100_000,
        "--cleanup left size_bytes {size} > 100000: {v}"
    );
    assert!(
        s.entries_size() <= 100_000,
        "--cleanup left {} bytes of entries",
        s.entries_size()
    );
    assert!(
        s.entry_files().len() < entries_before,
        "--cleanup evicted nothing"
    );
    assert_eq!(
        stat_of(&v, "cache_misses"),
        40,
        "--cleanup must keep the stats: {v}"
    );
}

#[test]
fn recache_compiles_and_overwrites() {
    require!("gcc");
    let (mut s, reference) = hello_sandbox();
    compile_hello(&s, &reference);
    s.set_env("CACHEPOT_RECACHE", "1");
    compile_hello(&s, &reference);
    assert_eq!(
        s.stat("cache_hits"),
        0,
        "CACHEPOT_RECACHE=1 must not read the cache"
    );
    s.remove_env("CACHEPOT_RECACHE");
    compile_hello(&s, &reference);
    assert_eq!(s.stat("cache_hits"), 1);
}

#[test]
fn cache_dir_is_tagged_and_owner_only() {
    require!("gcc");
    let (s, reference) = hello_sandbox();
    compile_hello(&s, &reference);
    s.write("other.c", "int other(void) { return 5; }\n");
    s.compile("gcc", &["-c", "other.c", "-o", "other.o"]);

    let tag =
        fs::read_to_string(s.cache.join("CACHEDIR.TAG")).expect("CACHEDIR.TAG in the cache dir");
    assert!(
        tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55"),
        "CACHEDIR.TAG must start with the standard signature: {tag:?}"
    );
    let files = walk_files(&s.cache);
    assert!(
        files.len() >= 3,
        "expected entries, stats and the tag: {files:?}"
    );
    // Every directory and file (entries, stats, locks, the tag, anything else) owner-only.
    let not_private: Vec<String> = walk_dirs(&s.cache)
        .into_iter()
        .chain(files)
        .filter_map(|p| {
            let mode = fs::metadata(&p).unwrap().permissions().mode();
            (mode & 0o077 != 0).then(|| format!("{} {:o}", p.display(), mode & 0o777))
        })
        .collect();
    assert!(
        not_private.is_empty(),
        "not owner-only (mode & 0o077 != 0):\n{}",
        not_private.join("\n")
    );
    // Entries sit two one-hex-digit levels below v1.
    for e in s.entry_files() {
        let rel = e.strip_prefix(s.cache.join("v1")).unwrap();
        let parts: Vec<_> = rel
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            parts.len(),
            3,
            "entry not at v1/<h>/<h>/<key>: {}",
            e.display()
        );
    }

    let v = s.stats();
    assert_eq!(
        v["cache"]["size_bytes"].as_u64(),
        Some(s.entries_size()),
        "size_bytes must be the sum of the entry files: {v}"
    );
    let loc = v["cache"]["location"].as_str().expect("cache.location");
    assert_eq!(
        fs::canonicalize(loc).ok(),
        fs::canonicalize(&s.cache).ok(),
        "cache.location must be the cache dir: {v}"
    );
}

/// A hit puts a new file at each output's name. An output that exists, here as a hard
/// link to another file of the user's, is replaced, never written through (that file keeps
/// its bytes); one that does not exist yet (the usual case after a clean, restored
/// without an unlink first) gets the same bytes, and so does its dep file. Which of the
/// two ways a restore took shows only in its system calls; both must give these bytes.
#[test]
fn a_hit_replaces_an_existing_output_and_never_writes_through_it() {
    require!("gcc");
    let s = Sandbox::new();
    let args = ["-MD", "-c", "a.c", "-o", "a.o"];
    s.write("a.c", "int f(void) { return 1; }\n");
    s.compile("gcc", &args);
    let (object, deps) = (s.read("a.o"), s.read("a.d"));
    s.remove("a.o");
    s.write("keep.o", "the user's file\n");
    fs::hard_link(s.path("keep.o"), s.path("a.o")).unwrap();
    s.compile("gcc", &args);
    assert_eq!(s.stat("cache_hits"), 1, "{}", s.stats());
    assert_eq!(s.read("a.o"), object);
    assert_eq!(s.read("keep.o"), b"the user's file\n");
    s.remove("a.o");
    s.remove("a.d");
    s.compile("gcc", &args);
    assert_eq!(s.stat("cache_hits"), 2, "{}", s.stats());
    assert_eq!((s.read("a.o"), s.read("a.d")), (object, deps));
}

const LINKED_ARGS: [&str; 4] = ["-c", "a.c", "-o", "a.o"];

/// With CACHEPOT_HARD_LINK=1: a miss, then a hit that links `a.o` into the cache; the
/// sandbox and the object's bytes.
fn linked_hit() -> (Sandbox, Vec<u8>) {
    let mut s = Sandbox::new();
    s.set_env("CACHEPOT_HARD_LINK", "1");
    s.write("a.c", "int f(void) { return 1; }\n");
    s.compile("gcc", &LINKED_ARGS);
    let good = s.read("a.o");
    s.remove("a.o");
    s.compile("gcc", &LINKED_ARGS);
    assert_eq!(s.stat("cache_hits"), 1);
    (s, good)
}

/// CACHEPOT_HARD_LINK=1: a hit makes the object a hard link to the cache's read-only
/// copy; a later miss compiling to the same path must not write through that link.
#[test]
fn hard_link_restores_and_a_later_miss_does_not_corrupt_the_cache() {
    require!("gcc");
    use std::os::unix::fs::MetadataExt;
    let (s, _) = linked_hit();
    let args = LINKED_ARGS;
    let linked = std::fs::metadata(s.path("a.o")).unwrap();
    assert!(
        linked.nlink() >= 2,
        "the hit's object is a hard link into the cache"
    );
    // The linked copy is part of the result entry: one manifest and one result.
    assert_eq!(s.cache_field("entries"), 2, "{}", s.stats());
    let first = s.read("a.o");
    // A different source compiled to the same output: a miss that must not write into
    // the linked inode.
    s.write("a.c", "int f(void) { return 2; }\n");
    s.compile("gcc", &args);
    s.write("a.c", "int f(void) { return 1; }\n");
    s.remove("a.o");
    s.compile("gcc", &args);
    assert_eq!(s.read("a.o"), first, "the cached copy is intact");
    let bare = s.bare("gcc", &["-c", "a.c", "-o", "bare.o"]);
    s.assert_success(&bare, "bare");
    assert_eq!(s.read("bare.o"), first);
}

/// CACHEPOT_HARD_LINK=1 and a tool that writes into the linked object in place (as root
/// the read-only mode does not stop it): the cache's copy changes with it, and the next
/// hit must notice and give the real object, not the edited one.
#[test]
fn hard_link_edited_in_place_is_not_served_again() {
    require!("gcc");
    let (s, good) = linked_hit();
    let args = LINKED_ARGS;
    // Edit in place (same size). Root opens the 0444 file for writing as it is; anyone
    // else has to chmod it first (which changes the shared inode's mode too).
    if euid() != 0 {
        let mut perms = fs::metadata(s.path("a.o")).unwrap().permissions();
        perms.set_mode(0o644);
        fs::set_permissions(s.path("a.o"), perms).unwrap();
    }
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(s.path("a.o"))
            .unwrap();
        f.seek(SeekFrom::Start(64)).unwrap();
        f.write_all(b"\x77").unwrap();
    }
    s.remove("a.o");
    s.compile("gcc", &args);
    assert_eq!(s.stat("cache_hits"), 2);
    assert!(s.read("a.o") == good, "the edited copy was served");
}

/// Runs the hello compile (and a second source) through `sh -c 'umask U; exec ...'`.
fn compile_with_umask(s: &Sandbox, umask: &str) {
    for src in ["hello", "other"] {
        let mut cmd = s.command("sh");
        cmd.arg("-c")
            .arg(format!("umask {umask}; exec \"$@\""))
            .arg("sh")
            .arg(env!("CARGO_BIN_EXE_cachepot"))
            .args(["gcc", "-c", &format!("{src}.c"), "-o", &format!("{src}.o")]);
        let out = cmd.output().expect("run sh");
        s.assert_success(&out, "compile under a umask");
    }
}

/// Modes of everything under the cache dir that are not `want` (dirs) / `want_file`.
fn wrong_modes(s: &Sandbox, want_dir: u32, want_file: u32) -> Vec<String> {
    let dirs = walk_dirs(&s.cache).into_iter().map(|d| (d, want_dir));
    let files = walk_files(&s.cache).into_iter().map(|f| (f, want_file));
    dirs.chain(files)
        .filter_map(|(p, want)| {
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
            (mode != want).then(|| format!("{} {:o} (want {:o})", p.display(), mode, want))
        })
        .collect()
}

/// Owner-only does not come from the umask: with umask 000 the cache is still 700/600.
#[test]
fn cache_is_owner_only_even_with_an_open_umask() {
    require!("gcc");
    let (s, _) = hello_sandbox();
    s.write("other.c", "int other(void) { return 5; }\n");
    compile_with_umask(&s, "000");
    assert!(s.entry_files().len() >= 2, "entries were written");
    let wrong = wrong_modes(&s, 0o700, 0o600);
    assert!(wrong.is_empty(), "not 700/600:\n{}", wrong.join("\n"));
}

/// CACHEPOT_SHARED_GROUP=1: directories 2770 (set-group-ID), files 660, whatever the
/// writer's umask (077 here would otherwise lock the group out).
#[test]
fn shared_group_cache_is_group_writable_past_the_umask() {
    require!("gcc");
    let (mut s, reference) = hello_sandbox();
    s.set_env("CACHEPOT_SHARED_GROUP", "1");
    s.write("other.c", "int other(void) { return 5; }\n");
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let above = [s.root().to_path_buf(), std::env::temp_dir()];
    let before: Vec<u32> = above.iter().map(|p| mode(p)).collect();
    compile_with_umask(&s, "077");
    assert!(s.entry_files().len() >= 2, "entries were written");
    // Only what cachepot created changes mode, never a directory above the cache.
    let after: Vec<u32> = above.iter().map(|p| mode(p)).collect();
    assert_eq!(before, after, "modes of {above:?} changed");
    let wrong = wrong_modes(&s, 0o2770, 0o660);
    assert!(wrong.is_empty(), "not 2770/660:\n{}", wrong.join("\n"));
    // And the cache works: a hit gives the right object.
    s.remove("hello.o");
    let hits = s.stat("cache_hits");
    compile_hello(&s, &reference);
    assert_eq!(s.stat("cache_hits"), hits + 1);
}

/// A world-writable cache dir: maintenance commands warn on stderr, compiles only in the
/// log (their stderr is the compiler's), and the build is unaffected.
#[test]
fn world_writable_cache_dir_is_warned_about() {
    require!("gcc");
    let (s, reference) = hello_sandbox();
    compile_hello(&s, &reference);
    let stats = s.cachepot(&["--show-stats"]);
    assert!(
        !String::from_utf8_lossy(&stats.stderr).contains("world-writable"),
        "warning for a private dir"
    );
    fs::set_permissions(&s.cache, fs::Permissions::from_mode(0o777)).unwrap();
    let stats = s.cachepot(&["--show-stats"]);
    assert!(stats.status.success());
    let err = String::from_utf8_lossy(&stats.stderr);
    assert!(
        err.contains("world-writable") && err.contains("chmod o-w"),
        "no warning on stderr: {err:?}"
    );
    s.remove("hello.o");
    let out = compile_hello(&s, &reference);
    assert!(out.stderr.is_empty(), "compile stderr: {:?}", out.stderr);
    assert!(
        s.log_text().contains("world-writable"),
        "no warning in the log"
    );
}

/// A loop-mounted XFS file system with reflinks, unmounted and deleted on drop.
struct ReflinkFs {
    dir: std::path::PathBuf,
    image: std::path::PathBuf,
}

impl ReflinkFs {
    /// Mounts a fresh 300 MB XFS (reflink=1) image on `dir`, or says why it cannot.
    fn mount(root: &Path) -> Result<ReflinkFs, String> {
        if euid() != 0 {
            return Err("not running as root".into());
        }
        let mkfs = ["mkfs.xfs", "/usr/sbin/mkfs.xfs", "/sbin/mkfs.xfs"]
            .into_iter()
            .find(|p| which(p).is_some() || Path::new(p).is_file())
            .ok_or("mkfs.xfs not installed (xfsprogs)")?;
        let image = root.join("xfs.img");
        let dir = root.join("xfs");
        fs::create_dir_all(&dir).unwrap();
        fs::File::create(&image)
            .and_then(|f| f.set_len(300 << 20))
            .map_err(|e| format!("image: {e}"))?;
        let run = |cmd: &mut std::process::Command| -> Result<(), String> {
            let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!("{cmd:?}: {}", lossy(&out.stderr).trim()))
            }
        };
        run(std::process::Command::new(mkfs)
            .args(["-q", "-m", "reflink=1"])
            .arg(&image))?;
        run(std::process::Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&dir))?;
        Ok(ReflinkFs { dir, image })
    }
}

impl Drop for ReflinkFs {
    fn drop(&mut self) {
        let ok = std::process::Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.dir)
                .status();
        }
        let _ = fs::remove_file(&self.image);
    }
}

/// `filefrag -v` says every extent of `p` is shared with another file.
fn all_extents_shared(p: &Path) -> bool {
    let out = std::process::Command::new("filefrag")
        .arg("-v")
        .arg(p)
        .output()
        .expect("run filefrag");
    let text = lossy(&out.stdout);
    let extents: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()) && l.contains(':'))
        .collect();
    !extents.is_empty() && extents.iter().all(|l| l.contains("shared"))
}

/// CACHEPOT_FILE_CLONE=1 on a file system with reflinks (XFS on a loop device): a hit's
/// object is a copy-on-write clone of the cache's uncompressed copy (its extents are
/// shared), a normal writable file with one link; writing to it leaves the cache intact.
/// Where reflinks are impossible (ext4, the sandbox's own file system) it falls back to
/// a plain copy.
#[test]
fn file_clone_restores_reflinks_and_falls_back_to_copies() {
    require!("gcc", "filefrag");
    use std::os::unix::fs::MetadataExt;
    let root = tempfile::tempdir().unwrap();
    let xfs = match ReflinkFs::mount(root.path()) {
        Ok(m) => Some(m),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("cannot mount an XFS with reflinks ({why}); CI runs as root and must")
        }
        Err(why) => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n=== file_clone test: cannot mount XFS ({why}); only the fallback is tested ===\n"
            );
            None
        }
    };
    // Big enough to span several blocks.
    let body: String = (0..4000)
        .map(|i| format!("int f{i}(int x) {{ return x * {i} + {}; }}\n", i % 7))
        .collect();
    let mut cases = vec![(Sandbox::new(), false)];
    if let Some(m) = &xfs {
        let mut s = Sandbox::new();
        s.set_env("CACHEPOT_DIR", m.dir.join("cache"));
        cases.push((s, true));
    }
    for (mut s, reflinks) in cases {
        s.set_env("CACHEPOT_FILE_CLONE", "1");
        let work = match &xfs {
            Some(m) if reflinks => {
                let w = m.dir.join("work");
                fs::create_dir_all(&w).unwrap();
                w
            }
            _ => s.work.clone(),
        };
        fs::write(work.join("a.c"), &body).unwrap();
        let args = ["-c", "a.c", "-o", "a.o"];
        let bare = s.bare_in(&work, "gcc", &["-c", "a.c", "-o", "bare.o"]);
        s.assert_success(&bare, "bare");
        let reference = fs::read(work.join("bare.o")).unwrap();
        s.compile_in(&work, "gcc", &args);
        fs::remove_file(work.join("a.o")).unwrap();
        let out = s.compile_in(&work, "gcc", &args);
        s.assert_success(&out, "hit");
        assert_eq!(s.stat("cache_hits"), 1, "reflinks={reflinks}: not a hit");
        let obj = work.join("a.o");
        assert!(
            fs::read(&obj).unwrap() == reference,
            "reflinks={reflinks}: a.o differs"
        );
        let m = fs::metadata(&obj).unwrap();
        assert_eq!(m.nlink(), 1, "a clone is not a hard link");
        assert!(m.mode() & 0o200 != 0, "the restored object is writable");
        assert_eq!(
            all_extents_shared(&obj),
            reflinks,
            "reflinks={reflinks}: extents shared with the cache's copy?"
        );
        assert_eq!(
            s.log_text().contains("restored") && s.log_text().contains("as a clone"),
            reflinks,
            "reflinks={reflinks}: the log does not say how the object was restored"
        );
        // Writing into the clone leaves the cached copy alone.
        fs::OpenOptions::new()
            .append(true)
            .open(&obj)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"junk"))
            .unwrap();
        fs::remove_file(&obj).unwrap();
        s.compile_in(&work, "gcc", &args);
        assert_eq!(s.stat("cache_hits"), 2);
        assert!(
            fs::read(&obj).unwrap() == reference,
            "cached copy was changed"
        );
    }
}

/// The size bound lowered below an entry's size after it was stored: the entry is
/// dropped as a miss, once, never a cache error (it would be evicted at the next store
/// anyway); the compile is correct. (Reads stay bounded: a multi-gigabyte file in the
/// cache dir is not read into memory.)
#[test]
fn entry_larger_than_a_lowered_size_bound_is_dropped_quietly() {
    require!("gcc");
    let mut s = Sandbox::new();
    let bytes = XorShift::new(3).bytes(40_000);
    let data: Vec<String> = bytes.iter().map(|b| b.to_string()).collect();
    s.write(
        "big.c",
        format!("const char big[] = {{{}}};\n", data.join(",")),
    );
    let args = ["-c", "big.c", "-o", "big.o"];
    s.compile("gcc", &args);
    assert!(
        s.entries_size() > 10_000,
        "test premise: an entry above 10 kB"
    );
    let reference = s.read("big.o");
    s.set_env("CACHEPOT_CACHE_SIZE", "10K");
    for _ in 0..2 {
        s.remove("big.o");
        s.compile("gcc", &args);
        assert!(s.read("big.o") == reference);
    }
    assert_eq!(s.stat("cache_hits"), 0);
    assert_eq!(s.stat("cache_errors"), 0, "{}", s.stats());
}

/// The files under one of the record directories kept beside the entries.
fn record_files(cache: &Path, dir: &str) -> Vec<std::path::PathBuf> {
    walkdir::WalkDir::new(cache.join(dir))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

/// Compiles fixtures/c/hello.c where it lies in the repository: a file old enough for
/// its digest to be remembered (a copy made now would be inside the racy window).
fn compile_repository_hello(s: &Sandbox) {
    let src = fixtures().join("c/hello.c");
    let args = [
        OsStr::new("-c"),
        src.as_os_str(),
        OsStr::new("-o"),
        OsStr::new("hello.o"),
    ];
    s.compile("gcc", &args);
}

#[test]
fn cleanup_removes_digest_facts_and_search_records_idle_for_a_month() {
    require!("gcc");
    let s = Sandbox::new();
    compile_repository_hello(&s);
    let cache = s.cache.clone();
    let dirs = ["hashes-v1", "facts-v1", "search-v1"];
    for d in dirs {
        assert!(
            !record_files(&cache, d).is_empty(),
            "test premise: a miss writes {d} records"
        );
    }
    // Unused for 40 days: neither written nor read since.
    let old = filetime::FileTime::from_system_time(
        std::time::SystemTime::now() - std::time::Duration::from_secs(40 * 24 * 3600),
    );
    for d in dirs {
        for f in record_files(&cache, d) {
            filetime::set_file_times(&f, old, old).unwrap();
        }
    }
    let out = s.cachepot(&["--cleanup"]);
    s.assert_success(&out, "--cleanup");
    for d in dirs {
        assert_eq!(
            record_files(&cache, d),
            Vec::<std::path::PathBuf>::new(),
            "{d} kept idle records"
        );
    }
    // Derived data only: the entry still hits, and the source's digest is taken again.
    compile_repository_hello(&s);
    assert_eq!(s.stat("cache_hits"), 1, "{}", s.stats());
    assert!(
        !record_files(&cache, "hashes-v1").is_empty(),
        "the digest was not remembered again"
    );
}

#[test]
fn cleanup_keeps_records_in_use() {
    require!("gcc");
    let s = Sandbox::new();
    compile_repository_hello(&s);
    let cache = s.cache.clone();
    let before: Vec<_> = ["hashes-v1", "facts-v1", "search-v1"]
        .iter()
        .flat_map(|d| record_files(&cache, d))
        .collect();
    assert!(
        before.len() >= 3,
        "test premise: records written: {before:?}"
    );
    let out = s.cachepot(&["--cleanup"]);
    s.assert_success(&out, "--cleanup");
    for f in &before {
        assert!(
            f.exists(),
            "--cleanup removed {} (written just now)",
            f.display()
        );
    }
}

/// A C source defining `const unsigned char <name>[n]` of bytes that compress well.
fn repetitive_source(name: &str, n: usize) -> String {
    let body: Vec<String> = (0..n).map(|i| (i % 7).to_string()).collect();
    format!(
        "const unsigned char {name}[{n}] = {{{}}};\n",
        body.join(",")
    )
}

/// (declared payload size, compression byte) of every result entry in the cache, read
/// from the header that docs/how-it-works.md documents.
fn result_compressions(s: &Sandbox) -> Vec<(u64, u8)> {
    let mut found = Vec::new();
    for p in s.entry_files() {
        let e = fs::read(&p).unwrap();
        assert_eq!(&e[..4], b"CPOT", "{}", p.display());
        if e[6] == 1 {
            found.push((u64::from_le_bytes(e[64..72].try_into().unwrap()), e[7]));
        }
    }
    found.sort();
    found
}

/// Results smaller than CACHEPOT_COMPRESSION_MIN_SIZE (64 KiB by default, at most 1/1024
/// of the size bound) are stored raw and larger ones compressed; CACHEPOT_COMPRESSION_LEVEL=0 stores every result raw and
/// a minimum of 0 compresses every one. An entry hits, with the exact object, whatever
/// the settings of the run that reads it.
#[test]
fn small_results_are_stored_raw_and_large_ones_compressed() {
    require!("gcc");
    let (mut s, hello) = hello_sandbox();
    s.write("big.c", repetitive_source("big", 100_000));
    let bare = s.bare("gcc", &["-c", "big.c", "-o", "ref.o"]);
    s.assert_success(&bare, "bare compile");
    let big = s.read("ref.o");
    assert!(big.len() > 100_000, "test premise: a 100 KB object");
    let compile_both = |s: &Sandbox| {
        compile_hello(s, &hello);
        s.remove("big.o");
        s.compile("gcc", &["-c", "big.c", "-o", "big.o"]);
        assert!(
            s.read("big.o") == big,
            "big.o differs from the bare compiler's"
        );
    };

    compile_both(&s);
    let stored = result_compressions(&s);
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(
        stored[0].0 < 65536 && stored[0].1 == 0,
        "hello.o raw: {stored:?}"
    );
    assert!(
        stored[1].0 > 65536 && stored[1].1 == 1,
        "big.o compressed: {stored:?}"
    );

    // The settings of the reading run do not matter: both are hits.
    s.set_env("CACHEPOT_COMPRESSION_LEVEL", "0");
    compile_both(&s);
    assert_eq!(s.stat("cache_hits"), 2, "{}", s.stats());

    // In a cache of 1 MB, raw results would be a large part of the bound: the minimum
    // is capped at 1/1024 of it, and hello.o (about 1.5 KB) is compressed too.
    for (level, min, size, want) in [
        ("0", "64Ki", "10G", [0, 0]),
        ("3", "0", "10G", [1, 1]),
        ("1", "64Ki", "1M", [1, 1]),
    ] {
        assert!(s.cachepot(&["--clear"]).status.success());
        s.set_env("CACHEPOT_COMPRESSION_LEVEL", level);
        s.set_env("CACHEPOT_COMPRESSION_MIN_SIZE", min);
        s.set_env("CACHEPOT_CACHE_SIZE", size);
        compile_both(&s);
        let got: Vec<u8> = result_compressions(&s).iter().map(|r| r.1).collect();
        assert_eq!(
            got, want,
            "level {level}, min size {min}, cache size {size}"
        );
        compile_both(&s);
    }
    let v = s.stats();
    assert_eq!(stat_of(&v, "cache_hits"), 8, "{v}");
    assert_eq!(stat_of(&v, "cache_misses"), 8, "{v}");
    assert_eq!(stat_of(&v, "cache_errors"), 0, "{v}");
}
