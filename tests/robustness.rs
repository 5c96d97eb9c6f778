//! Robustness (issue 6, items 2-4): cachepot killed with SIGKILL at random moments,
//! sixteen processes racing `--cleanup` under a tight size bound, and disk faults (a full
//! filesystem, the cache dir deleted mid-build, the cache dir replaced by a regular file).
//! In every case each build must succeed with an object byte-identical to the bare
//! compiler's, and the cache left behind must be sound.
//!
//! Black-box, like the other suites: the binary is run as a build would run it, and the
//! cache is only looked at through the documented layout (`v1/<h0>/<h1>/<64 hex>` entries,
//! per-shard `stats` files, `.tmp.` temporaries) and the documented entry header
//! (docs/how-it-works.md).
//!
//! Random moments come from a seeded PRNG (seed printed in every failure message; set
//! CACHEPOT_TEST_SEED to replay the same choices). Timers here only choose *when* to kill
//! or delete; nothing waits on a timer for something else to happen.
//!
//! Knobs: CACHEPOT_KILL_ITERATIONS (default 40; hundreds for a long run).

#[macro_use]
mod common;

use common::*;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The seed of a test's PRNG: CACHEPOT_TEST_SEED when set, else the clock.
fn test_seed() -> u64 {
    if let Some(v) = std::env::var_os("CACHEPOT_TEST_SEED") {
        return v
            .to_str()
            .and_then(|s| s.parse().ok())
            .expect("CACHEPOT_TEST_SEED must be an unsigned integer");
    }
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

/// Writes a line to the real stderr (not captured by the harness): figures and skips.
fn say(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// True when the environment says this is CI (as `require_tool` decides it).
fn under_ci() -> bool {
    std::env::var_os("CI").is_some()
}

fn below(rng: &mut XorShift, n: u64) -> u64 {
    rng.next_u64() % n.max(1)
}

fn shuffle<T>(rng: &mut XorShift, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// A C source whose object holds `n` bytes of data of two bits of entropy per byte (so
/// its cache entry compresses to about a third of the object) and a function returning
/// the macro `V` (so each `-DV=<k>` is a different key *and* a different object).
/// A string literal rather than an initializer list: it parses several times faster.
fn blob_source(id: usize, n: usize, seed: u64) -> String {
    let mut rng = XorShift::new(seed);
    let mut src = String::with_capacity(n * 4 + 200);
    src.push_str("#ifndef V\n#define V 0\n#endif\n");
    src.push_str(&format!("const char blob_{id}[{n}] =\n\""));
    for i in 0..n {
        let b = [0x11u8, 0x52, 0xa3, 0xf4][(rng.next_u64() >> 62) as usize];
        src.push_str(&format!("\\x{b:02x}"));
        if i % 64 == 63 {
            src.push_str("\"\n\"");
        }
    }
    src.push_str("\";\n");
    src.push_str(&format!(
        "int variant_{id}(void) {{ return V * 7 + {id}; }}\n"
    ));
    src
}

/// A small C source (fast to compile) with a distinct function.
fn small_source(id: usize) -> String {
    format!(
        "#include <stdio.h>\nint small_{id}(int x) {{ printf(\"%d\\n\", x + {id}); return x * {id}; }}\n"
    )
}

/// Compiles `args` with the bare compiler and returns the object written to `obj`.
fn bare_object(s: &Sandbox, args: &[&str], obj: &str) -> Vec<u8> {
    let out = s.bare("gcc", args);
    s.assert_success(&out, &format!("bare gcc {}", args.join(" ")));
    let data = s.read(obj);
    s.remove(obj);
    data
}

/// What is wrong with an entry file, judged by the documented header
/// (docs/how-it-works.md): magic "CPOT", version 1, kind 1|2, compression 0|1, the key
/// inside equal to the file name, `data_len` equal to the bytes present, a raw payload as
/// long as declared, a compressed one starting with a zstd frame magic. (The BLAKE3 tag
/// is checked black-box: the test compiles through every key afterwards.)
fn entry_defect(path: &Path) -> Option<String> {
    const HEADER: usize = 80;
    const TAG: usize = 32;
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) => return Some(format!("unreadable: {e}")),
    };
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if data.len() < HEADER + TAG {
        return Some(format!("truncated: {} bytes", data.len()));
    }
    if &data[0..4] != b"CPOT" {
        return Some("bad magic".into());
    }
    if u16::from_le_bytes([data[4], data[5]]) != 1 {
        return Some("bad version".into());
    }
    if data[6] != 1 && data[6] != 2 {
        return Some(format!("bad kind {}", data[6]));
    }
    if data[7] > 1 {
        return Some(format!("bad compression {}", data[7]));
    }
    let key: String = data[8..40].iter().map(|b| format!("{b:02x}")).collect();
    if key != name {
        return Some(format!("holds key {key}"));
    }
    let raw_len = u64::from_le_bytes(data[64..72].try_into().unwrap());
    let data_len = u64::from_le_bytes(data[72..80].try_into().unwrap());
    let present = (data.len() - HEADER - TAG) as u64;
    if data_len != present {
        return Some(format!(
            "data_len {data_len} but {present} payload bytes present"
        ));
    }
    if data[7] == 0 && raw_len != data_len {
        return Some(format!(
            "raw payload: raw_len {raw_len} != data_len {data_len}"
        ));
    }
    if data[7] == 1 && (present < 4 || data[HEADER..HEADER + 4] != [0x28, 0xb5, 0x2f, 0xfd]) {
        return Some("compressed payload is not a zstd frame".into());
    }
    None
}

/// What is wrong with a shard's `stats` file: every line must be `name value`.
fn stats_file_defect(path: &Path) -> Option<String> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return Some(format!("unreadable or not UTF-8: {e}")),
    };
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() != 2 || words[1].parse::<u64>().is_err() {
            return Some(format!("malformed line {line:?} in:\n{text}"));
        }
    }
    None
}

/// The `evictions` counter summed over the shards' `stats` files (the JSON statistics do
/// not show it; docs/how-it-works.md documents the files).
fn evictions(s: &Sandbox) -> u64 {
    walk_files(&s.cache.join("v1"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "stats"))
        .filter_map(|p| fs::read_to_string(p).ok())
        .flat_map(|t| {
            t.lines()
                .filter_map(|l| l.strip_prefix("evictions "))
                .filter_map(|n| n.trim().parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// Files with `.tmp.` in their name under `dir`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    walk_files(dir)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(".tmp."))
        })
        .collect()
}

/// Asserts that `cachepot --show-stats --stats-format json` parses, that its counters are
/// consistent, and that size_bytes/entries equal what the 64-hex files under v1 hold.
fn assert_sound_stats(s: &Sandbox, ctx: &str) -> serde_json::Value {
    let v = s.stats();
    assert_stats_consistent(&v);
    let files = s.entry_files();
    let on_disk: u64 = files
        .iter()
        .map(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    assert_eq!(
        v["cache"]["size_bytes"].as_u64(),
        Some(on_disk),
        "{ctx}: size_bytes must be the sum of the 64-hex entry files \
         (temporary files must not count): {v}"
    );
    assert_eq!(
        v["cache"]["entries"].as_u64(),
        Some(files.len() as u64),
        "{ctx}: entries must be the number of 64-hex entry files: {v}"
    );
    v
}

// ---------------------------------------------------------------------------------------
// 1. Crash safety: kill -9 at random moments
// ---------------------------------------------------------------------------------------

const KILL_SOURCES: usize = 10;
const KILL_VARIANTS: usize = 3;

#[test]
fn kill_9_at_random_moments_leaves_a_sound_cache() {
    require!("gcc");
    let started = Instant::now();
    let iterations: usize = std::env::var("CACHEPOT_KILL_ITERATIONS")
        .ok()
        .map(|v| {
            v.parse()
                .expect("CACHEPOT_KILL_ITERATIONS must be a number")
        })
        .unwrap_or(40);
    let seed = test_seed();
    let ctx = format!("seed {seed} (CACHEPOT_TEST_SEED={seed} replays the choices)");
    let mut rng = XorShift::new(seed);

    let mut s = Sandbox::new();
    // 300K over 16 shards: an 18.75 KB share, an entry of ~10 KB fits and the second
    // one in a shard triggers eviction, so stores and evictions happen all the time.
    s.set_env("CACHEPOT_CACHE_SIZE", "300K");
    // The temporary dep files of killed processes land in the sandbox, not /tmp.
    let tmpdir = s.root().join("tmp");
    fs::create_dir(&tmpdir).unwrap();
    s.set_env("TMPDIR", &tmpdir);
    let errs = s.root().join("stderr");
    fs::create_dir(&errs).unwrap();
    fs::create_dir(s.path("out")).unwrap();

    // Sources and the bare compiler's objects, for every (source, variant) key.
    let mut reference = vec![vec![Vec::new(); KILL_VARIANTS]; KILL_SOURCES];
    for (i, refs) in reference.iter_mut().enumerate() {
        s.write(&format!("k{i}.c"), blob_source(i, 30_000, 1000 + i as u64));
        for (v, r) in refs.iter_mut().enumerate() {
            let d = format!("-DV={v}");
            let src = format!("k{i}.c");
            *r = bare_object(&s, &["-c", &src, &d, "-o", "ref.o"], "ref.o");
            assert!(r.len() >= 30_000, "test premise: a ~30 KB object");
        }
    }
    let compile_args = |i: usize, v: usize, out: &str| -> Vec<String> {
        vec![
            "gcc".into(),
            "-c".into(),
            format!("k{i}.c"),
            format!("-DV={v}"),
            "-o".into(),
            out.into(),
        ]
    };

    // Warm-up and calibration: every key compiled once, uninterrupted. The entries
    // (~10 KB each, 30 of them) overflow most shards, so eviction is already running and
    // every store in the kill loop lands in a full shard; the median miss time (under the
    // current load) scales the kill moments.
    let mut durations = Vec::new();
    let keys: Vec<(usize, usize)> = (0..KILL_SOURCES)
        .flat_map(|i| (0..KILL_VARIANTS).map(move |v| (i, v)))
        .collect();
    for &(i, v) in &keys {
        let t = Instant::now();
        let out = format!("out/warm{i}_{v}.o");
        s.compile_in(&s.work, "gcc", &compile_args(i, v, &out)[1..]);
        durations.push(t.elapsed());
        assert!(
            s.read(&out) == reference[i][v],
            "{ctx}: warm-up object k{i}.c -DV={v} differs from the bare compiler's"
        );
    }
    durations.sort();
    let miss = durations[durations.len() / 2];
    let warm_evictions = evictions(&s);
    let mut spawned = (KILL_SOURCES * KILL_VARIANTS) as u64;
    let mut completed = spawned;

    let mut killed_mid_compile = 0u64;
    let mut killed_by_mode = [0u64; 4];
    let mut finished_before_kill = 0u64;
    for it in 0..iterations {
        let i = below(&mut rng, KILL_SOURCES as u64) as usize;
        let v = below(&mut rng, KILL_VARIANTS as u64) as usize;
        let out = format!("out/it{it}.o");
        let err_path = errs.join(format!("it{it}.err"));
        let mut cmd = s.cachepot_cmd();
        cmd.args(compile_args(i, v, &out))
            .stdout(Stdio::null())
            .stderr(fs::File::create(&err_path).unwrap());
        // Four ways of choosing the moment, in turn:
        // 0: early, uniform over [0, 30 ms] (argument parsing, hashing, preprocessor);
        // 1: uniform over [0, 1.2 ×] the calibrated miss;
        // 2: the end of the miss: spin until the assembler has written the whole object,
        //    then uniform over [0, 12 ms]: cachepot reads the outputs and the dep file,
        //    hashes the sources, writes the manifest, the result entry and the counters,
        //    and evicts (a hit restores the object and updates the counters);
        // 3: late, uniform over [0.8, 1.6] × the miss: about half finish (so that entries
        //    pile up and eviction runs), the others die in their last steps.
        let mode = it % 4;
        let miss_us = miss.as_micros() as u64;
        let delay = Duration::from_micros(match mode {
            0 => below(&mut rng, 30_001),
            1 => below(&mut rng, miss_us * 12 / 10 + 1),
            2 => below(&mut rng, 12_001),
            _ => miss_us * 8 / 10 + below(&mut rng, miss_us * 8 / 10 + 1),
        });
        let mut child = cmd.spawn().expect("spawn cachepot");
        spawned += 1;
        if mode == 2 {
            let obj = s.path(&out);
            let full = reference[i][v].len() as u64;
            while fs::metadata(&obj).map(|m| m.len()).unwrap_or(0) < full
                && child.try_wait().expect("try_wait").is_none()
            {
                // Polling, not waiting for anything to finish: a short pause leaves the
                // CPU to the compile.
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        std::thread::sleep(delay);
        if child.try_wait().expect("try_wait").is_none() {
            let _ = child.kill();
        }
        let status = child.wait().expect("wait");
        if status.signal() == Some(9) {
            killed_mid_compile += 1;
            killed_by_mode[mode] += 1;
            continue;
        }
        finished_before_kill += 1;
        completed += 1;
        assert!(
            status.success(),
            "{ctx}: iteration {it} (k{i}.c -DV={v}) finished on its own but failed with \
             {status}:\n{}\n--- log tail ---\n{}",
            fs::read_to_string(&err_path).unwrap_or_default(),
            tail(&s.log_text(), 40)
        );
        assert!(
            s.read(&out) == reference[i][v],
            "{ctx}: iteration {it} (k{i}.c -DV={v}): object differs from the bare compiler's"
        );
    }

    // A leftover of a writer that crashed two hours ago, beside the fresh leftovers of
    // this run: the shard listing of --show-stats must delete it (documented: temporary
    // files older than one hour), and neither kind may count in size_bytes.
    let leaf = s
        .entry_files()
        .first()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .expect("test premise: the kills left some entries");
    let stale = leaf.join(format!(".{}.tmp.1.0.0", "ab".repeat(32)));
    fs::write(&stale, vec![0u8; 50_000]).unwrap();
    fs::File::options()
        .write(true)
        .open(&stale)
        .and_then(|f| f.set_modified(SystemTime::now() - Duration::from_secs(7200)))
        .expect("age the planted temporary file");

    // The cache as the kills left it: statistics parse and agree with the files, every
    // counter line is well-formed, every entry is whole, the size bound held.
    let v = assert_sound_stats(&s, &format!("{ctx}: after the kills"));
    assert!(
        !stale.exists(),
        "{ctx}: --show-stats must delete a temporary file older than an hour: {}",
        stale.display()
    );
    let size = v["cache"]["size_bytes"].as_u64().unwrap();
    assert!(
        size <= 300_000,
        "{ctx}: size_bytes {size} > 300K after the kills: {v}"
    );
    let requests = stat_of(&v, "compile_requests");
    assert!(
        (completed..=spawned).contains(&requests),
        "{ctx}: compile_requests {requests} must lie between the {completed} compiles that \
         completed and the {spawned} started: {v}"
    );
    let stats_files: Vec<PathBuf> = walk_files(&s.cache.join("v1"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "stats"))
        .collect();
    assert!(!stats_files.is_empty(), "{ctx}: no shard stats file at all");
    for p in &stats_files {
        if let Some(d) = stats_file_defect(p) {
            panic!("{ctx}: counter file {} is corrupt: {d}", p.display());
        }
    }
    let entries = s.entry_files();
    let defects: Vec<String> = entries
        .iter()
        .filter_map(|p| entry_defect(p).map(|d| format!("{}: {d}", p.display())))
        .collect();
    assert!(
        defects.is_empty(),
        "{ctx}: kill -9 left {} corrupt entries (writes are meant to be atomic renames):\n{}",
        defects.len(),
        defects.join("\n")
    );
    let leftover_temps = temp_files(&s.cache).len();
    let evictions = evictions(&s) - warm_evictions;

    // Black-box decode of everything: two passes over every key with a bound large
    // enough that nothing is evicted while they run, so that every entry the kills left
    // is read by the first pass before anything can remove it. First pass: each compile
    // gives the bare compiler's object, and a corrupt entry met on the way counts a cache
    // error and is replaced. Second pass: every key is a clean hit.
    s.set_env("CACHEPOT_CACHE_SIZE", "100M");
    let mut corrupt_met = Vec::new();
    let mut first_pass_hits = 0;
    for pass in 1..=2 {
        for &(i, var) in &keys {
            let before = s.stats();
            let out = format!("out/pass{pass}_{i}_{var}.o");
            s.compile_in(&s.work, "gcc", &compile_args(i, var, &out)[1..]);
            assert!(
                s.read(&out) == reference[i][var],
                "{ctx}: verification pass {pass}, k{i}.c -DV={var}: object differs from \
                 the bare compiler's"
            );
            let after = s.stats();
            let delta = |k: &str| stat_of(&after, k) - stat_of(&before, k);
            if pass == 1 {
                first_pass_hits += delta("cache_hits");
                if delta("cache_errors") > 0 {
                    corrupt_met.push(format!("k{i}.c -DV={var}"));
                }
            } else {
                assert_eq!(
                    (delta("cache_hits"), delta("cache_errors")),
                    (1, 0),
                    "{ctx}: second verification pass, k{i}.c -DV={var}: must be a clean \
                     hit (entries met corrupt in the first pass: {corrupt_met:?}): {after}"
                );
            }
        }
    }
    assert!(
        corrupt_met.is_empty(),
        "{ctx}: after kill -9, {} keys met an entry that failed to decode: {corrupt_met:?} \
         (recovered: correct objects, entries replaced, clean hits after; but writes are \
         atomic renames, so no entry should be corrupt)",
        corrupt_met.len()
    );

    // Back to the tight bound: --cleanup brings the cache down to it and recomputes the
    // bookkeeping the kills may have left stale.
    s.set_env("CACHEPOT_CACHE_SIZE", "300K");
    let out = s.cachepot(&["--cleanup"]);
    s.assert_success(&out, "cachepot --cleanup");
    let v = assert_sound_stats(&s, &format!("{ctx}: after the final pass and --cleanup"));
    let size = v["cache"]["size_bytes"].as_u64().unwrap();
    assert!(
        size <= 300_000,
        "{ctx}: size_bytes {size} > 300K after --cleanup: {v}"
    );
    assert!(
        killed_mid_compile > 0,
        "{ctx}: no kill landed while cachepot was running; the test proved nothing"
    );

    say(&format!(
        "robustness figures: kill -9 — {iterations} iterations, {killed_mid_compile} killed \
         mid-compile (early/whole-miss/after-object/late: {killed_by_mode:?}), \
         {finished_before_kill} finished before the kill, {} killed after their counters \
         were written; miss time {miss:?}; {} entries checked, {leftover_temps} leftover .tmp. files, \
         {warm_evictions} evictions in the warm-up and {evictions} during the kills; {first_pass_hits} hits of {} compiles in the first verification pass, {} \
         corrupt entries met; {:.1?} in all ({ctx})",
        requests - completed,
        entries.len(),
        KILL_SOURCES * KILL_VARIANTS,
        corrupt_met.len(),
        started.elapsed(),
    ));
}

// ---------------------------------------------------------------------------------------
// 2. Concurrency: 16 processes, overlapping sets, --cleanup in a loop, tight bound
// ---------------------------------------------------------------------------------------

const POOL: usize = 24;
const WORKERS: usize = 16;
const PER_WORKER: usize = 12;

#[test]
fn sixteen_processes_race_cleanup_and_eviction() {
    require!("gcc");
    let started = Instant::now();
    let seed = test_seed();
    let ctx = format!("seed {seed}");
    let mut rng = XorShift::new(seed);

    let mut s = Sandbox::new();
    // A 12.5 KB share per shard; entries of ~8 KB: a second entry in a shard evicts.
    s.set_env("CACHEPOT_CACHE_SIZE", "200K");
    let mut reference = Vec::new();
    for i in 0..POOL {
        let src = format!("c{i}.c");
        s.write(&src, blob_source(100 + i, 22_000, 7000 + i as u64));
        reference.push(bare_object(&s, &["-c", &src, "-o", "ref.o"], "ref.o"));
    }
    let s = Arc::new(s);
    let reference = Arc::new(reference);

    // Each worker: 12 distinct files of the 24 (so the sets overlap), in its own order.
    let plans: Vec<Vec<usize>> = (0..WORKERS)
        .map(|_| {
            let mut all: Vec<usize> = (0..POOL).collect();
            shuffle(&mut rng, &mut all);
            all.truncate(PER_WORKER);
            all
        })
        .collect();

    let done = Arc::new(AtomicBool::new(false));
    let cleanups = Arc::new(AtomicU64::new(0));
    let cleaner = {
        let (s, done, cleanups) = (s.clone(), done.clone(), cleanups.clone());
        let mut rng = XorShift::new(seed ^ 0xc1ea);
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let out = s.cachepot(&["--cleanup"]);
                s.assert_success(&out, "cachepot --cleanup racing the compiles");
                cleanups.fetch_add(1, Ordering::Relaxed);
                // Spreads the cleanups over the run; synchronises nothing.
                std::thread::sleep(Duration::from_micros(below(&mut rng, 5000)));
            }
        })
    };

    let workers: Vec<_> = plans
        .into_iter()
        .enumerate()
        .map(|(w, plan)| {
            let (s, reference) = (s.clone(), reference.clone());
            std::thread::spawn(move || {
                let dir = format!("out{w}");
                fs::create_dir_all(s.path(&dir)).unwrap();
                for i in plan {
                    let src = format!("c{i}.c");
                    let obj = format!("{dir}/c{i}.o");
                    s.compile("gcc", &["-c", &src, "-o", &obj]);
                    assert!(
                        s.read(&obj) == reference[i],
                        "worker {w}: {obj} differs from the bare compiler's object"
                    );
                }
            })
        })
        .collect();
    let mut failures = Vec::new();
    for (w, h) in workers.into_iter().enumerate() {
        if let Err(e) = h.join() {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|m| m.to_string()))
                .unwrap_or_default();
            failures.push(format!("worker {w}: {msg}"));
        }
    }
    done.store(true, Ordering::Relaxed);
    if let Err(e) = cleaner.join() {
        failures.push(format!("cleaner: {:?}", e.downcast_ref::<String>()));
    }
    assert!(failures.is_empty(), "{ctx}:\n{}", failures.join("\n\n"));

    let v = assert_sound_stats(&s, &ctx);
    let issued = (WORKERS * PER_WORKER) as u64;
    assert_eq!(
        stat_of(&v, "compile_requests"),
        issued,
        "{ctx}: every one of the {issued} compiles must be counted once: {v}"
    );
    assert_eq!(stat_of(&v, "compile_errors"), 0, "{ctx}: {v}");
    assert_eq!(
        stat_of(&v, "cache_errors"),
        0,
        "{ctx}: racing processes must not produce cache faults: {v}\n--- log tail ---\n{}",
        tail(&s.log_text(), 40)
    );
    let evictions = evictions(&s);
    assert!(
        evictions > 0,
        "{ctx}: test premise: eviction must have run: {v}"
    );
    let size = v["cache"]["size_bytes"].as_u64().unwrap();
    let out = s.cachepot(&["--cleanup"]);
    s.assert_success(&out, "final cachepot --cleanup");
    let after = s.cache_field("size_bytes");
    assert!(
        after <= 200_000,
        "{ctx}: {after} bytes > 200K after --cleanup"
    );
    say(&format!(
        "robustness figures: concurrency — {WORKERS} processes × {PER_WORKER} compiles, \
         {} hits, {} misses, {evictions} evictions, {} --cleanup runs, {size} bytes at the end; \
         {:.1?} ({ctx})",
        stat_of(&v, "cache_hits"),
        stat_of(&v, "cache_misses"),
        cleanups.load(Ordering::Relaxed),
        started.elapsed()
    ));
}

// ---------------------------------------------------------------------------------------
// 3. Disk faults
// ---------------------------------------------------------------------------------------

/// Unmounts on drop, also when the test panics.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// Mounts a 128 KiB tmpfs on `dir`, or says why it cannot. Every file takes at least a
/// 4 KiB page there: a first miss into an empty cache writes 15 files in 9 directories
/// (shard files, records, a manifest, the facts packs of stdio.h's six directories),
/// more than 64 KiB held.
fn mount_tiny_tmpfs(dir: &Path) -> Result<Mount, String> {
    if euid() != 0 {
        return Err("not running as root".into());
    }
    if which("mount").is_none() {
        return Err("no `mount` on PATH".into());
    }
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=128k,mode=0700", "tmpfs"])
        .arg(dir)
        .output()
        .map_err(|e| format!("spawn mount: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "mount -t tmpfs failed with {}: {}",
            out.status,
            lossy(&out.stderr).trim()
        ));
    }
    Ok(Mount(dir.to_path_buf()))
}

/// Writes to `path` until the filesystem says it is full; returns the bytes written.
fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let mut f = fs::File::create(path).expect("create filler");
    let chunk = vec![0xa5u8; 4096];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    // Also use up the last partial page.
    while let Ok(n) = f.write(&chunk[..1]) {
        if n == 0 {
            break;
        }
        written += 1;
    }
    written
}

/// Compiles `src` to `obj` through cachepot; asserts success, empty stderr (the compiler
/// printed nothing, so nothing must appear) and the reference object.
fn compile_checked(s: &Sandbox, src: &str, obj: &str, reference: &[u8], what: &str) {
    s.remove(obj);
    let out = s.compile("gcc", &["-c", src, "-o", obj]);
    assert!(
        out.stderr.is_empty(),
        "{what}: cachepot wrote to stderr: {}",
        lossy(&out.stderr)
    );
    assert!(
        s.read(obj) == reference,
        "{what}: {obj} differs from the bare compiler's object"
    );
}

#[test]
fn full_filesystem_under_the_cache_dir() {
    require!("gcc");
    let mut s = Sandbox::new();
    let mnt = s.root().join("tiny");
    fs::create_dir(&mnt).unwrap();
    let _mount = match mount_tiny_tmpfs(&mnt) {
        Ok(m) => m,
        Err(why) if under_ci() => {
            panic!("cannot mount a tmpfs ({why}); CI runs as root and must be able to")
        }
        Err(why) => {
            say(&format!(
                "\n=== SKIPPED full_filesystem_under_the_cache_dir: cannot mount a tmpfs \
                 ({why}); run as root to test a full disk ===\n"
            ));
            return;
        }
    };
    s.set_env("CACHEPOT_DIR", mnt.join("cache"));
    let mut reference = Vec::new();
    for i in 0..3 {
        let src = format!("s{i}.c");
        s.write(&src, small_source(i));
        reference.push(bare_object(&s, &["-c", &src, "-o", "ref.o"], "ref.o"));
    }

    // Some cache structure first, while there is room: s0 is cached.
    compile_checked(&s, "s0.c", "s0.o", &reference[0], "empty tmpfs, miss");
    compile_checked(&s, "s0.c", "s0.o", &reference[0], "empty tmpfs, hit");
    assert_eq!(s.stat("cache_hits"), 1, "test premise: s0 is cached");

    // Now the disk is full.
    let filler = mnt.join("filler");
    let filled = fill(&filler);
    assert!(
        fs::write(mnt.join("probe"), [0u8; 4096]).is_err(),
        "test premise: the tmpfs is full (wrote {filled} bytes)"
    );
    for round in 0..2 {
        compile_checked(
            &s,
            "s0.c",
            "s0.o",
            &reference[0],
            "full disk, cached source",
        );
        compile_checked(&s, "s1.c", "s1.o", &reference[1], "full disk, new source");
        compile_checked(
            &s,
            "s2.c",
            "s2.o",
            &reference[2],
            &format!("full disk, round {round}"),
        );
    }
    assert_eq!(
        temp_files(&mnt),
        Vec::<PathBuf>::new(),
        "a write that failed for want of space must remove its temporary file"
    );
    let v = s.stats();
    assert_stats_consistent(&v);
    // A cache dir that does not exist yet, on the full disk.
    s.set_env("CACHEPOT_DIR", mnt.join("fresh"));
    compile_checked(
        &s,
        "s1.c",
        "s1.o",
        &reference[1],
        "full disk, fresh cache dir",
    );
    compile_checked(
        &s,
        "s1.c",
        "s1.o",
        &reference[1],
        "full disk, fresh cache dir again",
    );

    // Room again: caching resumes.
    fs::remove_file(&filler).unwrap();
    s.set_env("CACHEPOT_DIR", mnt.join("cache"));
    compile_checked(&s, "s2.c", "s2.o", &reference[2], "space freed, miss");
    let hits = s.stat("cache_hits");
    compile_checked(&s, "s2.c", "s2.o", &reference[2], "space freed, hit");
    assert_eq!(
        s.stat("cache_hits"),
        hits + 1,
        "once space is freed, caching must resume: {}",
        s.stats()
    );
}

#[test]
fn cache_dir_deleted_repeatedly_mid_build() {
    require!("gcc");
    let seed = test_seed();
    let ctx = format!("seed {seed}");
    let s = Sandbox::new();
    const N: usize = 6;
    let mut reference = Vec::new();
    for i in 0..N {
        let src = format!("d{i}.c");
        s.write(&src, small_source(10 + i));
        reference.push(bare_object(&s, &["-c", &src, "-o", "ref.o"], "ref.o"));
    }
    let s = Arc::new(s);
    let done = Arc::new(AtomicBool::new(false));
    let removals = Arc::new(AtomicU64::new(0));
    let remover = {
        let (s, done, removals) = (s.clone(), done.clone(), removals.clone());
        let mut rng = XorShift::new(seed);
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                // A random moment; synchronises nothing.
                std::thread::sleep(Duration::from_micros(below(&mut rng, 40_000)));
                // The racing compile may add files while this runs: then it fails; retry.
                if s.cache.exists() && fs::remove_dir_all(&s.cache).is_ok() {
                    removals.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for round in 0..40 {
            let i = round % N;
            let src = format!("d{i}.c");
            let obj = format!("d{i}.o");
            s.remove(&obj);
            let out = s.compile("gcc", &["-c", &src, "-o", &obj]);
            assert!(
                s.read(&obj) == reference[i],
                "{ctx}: round {round}: {obj} differs from the bare compiler's object; \
                 stderr: {}",
                lossy(&out.stderr)
            );
        }
    }));
    done.store(true, Ordering::Relaxed);
    remover.join().expect("remover thread");
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    let n = removals.load(Ordering::Relaxed);
    assert!(
        n >= 3,
        "{ctx}: test premise: the cache dir was removed only {n} times"
    );
    // Whatever state the deletions left: statistics still work.
    let v = s.stats();
    assert_eq!(stat_of(&v, "compile_errors"), 0, "{v}");
    say(&format!(
        "robustness figures: cache dir deleted {n} times during 40 compiles ({ctx})"
    ));
}

#[test]
fn cache_dir_replaced_by_a_regular_file() {
    require!("gcc");
    let s = Sandbox::new();
    let mut reference = Vec::new();
    for i in 0..3 {
        let src = format!("r{i}.c");
        s.write(&src, small_source(20 + i));
        reference.push(bare_object(&s, &["-c", &src, "-o", "ref.o"], "ref.o"));
    }
    let all = |what: &str| {
        for (i, r) in reference.iter().enumerate() {
            let (src, obj) = (format!("r{i}.c"), format!("r{i}.o"));
            for round in 0..2 {
                compile_checked(&s, &src, &obj, r, &format!("{what}, round {round}"));
            }
        }
    };
    let no_panic = |what: &str| {
        for args in [
            &["--show-stats", "--stats-format", "json"][..],
            &["--cleanup"][..],
        ] {
            let out = s.cachepot(args);
            assert!(
                out.status.code() != Some(101) && !lossy(&out.stderr).contains("panicked"),
                "{what}: cachepot {} panicked: {}",
                args.join(" "),
                lossy(&out.stderr)
            );
        }
    };
    all("populated cache");
    assert!(s.stat("cache_hits") >= 3, "test premise: the cache works");

    // Every shard directory, then every leaf directory, then v1, then the cache dir
    // itself replaced by a regular file.
    let v1 = s.cache.join("v1");
    let shards: Vec<PathBuf> = fs::read_dir(&v1)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert!(!shards.is_empty());
    let snapshot_dir = s.root().join("saved");
    fs::rename(&s.cache, &snapshot_dir).unwrap();
    let restore = || {
        let _ = fs::remove_dir_all(&s.cache);
        let _ = fs::remove_file(&s.cache);
        let status = Command::new("cp")
            .arg("-a")
            .arg(&snapshot_dir)
            .arg(&s.cache)
            .status()
            .expect("cp");
        assert!(status.success());
    };

    restore();
    for leaf in walk_dirs(&v1)
        .into_iter()
        .filter(|d| d.parent() != Some(&v1) && d != &v1)
    {
        fs::remove_dir_all(&leaf).unwrap();
        fs::write(&leaf, "not a directory\n").unwrap();
    }
    all("leaf dirs replaced by files");
    no_panic("leaf dirs replaced by files");

    restore();
    for shard in &shards {
        fs::remove_dir_all(shard).unwrap();
        fs::write(shard, "not a directory\n").unwrap();
    }
    all("shard dirs replaced by files");
    no_panic("shard dirs replaced by files");

    restore();
    fs::remove_dir_all(&v1).unwrap();
    fs::write(&v1, "not a directory\n").unwrap();
    all("v1 replaced by a file");
    no_panic("v1 replaced by a file");

    restore();
    fs::remove_dir_all(&s.cache).unwrap();
    fs::write(&s.cache, "not a directory\n").unwrap();
    all("cache dir replaced by a file");
    no_panic("cache dir replaced by a file");
    assert_eq!(
        fs::read_to_string(&s.cache).unwrap(),
        "not a directory\n",
        "cachepot must not overwrite a regular file where its cache dir should be"
    );
}

/// Every file of a populated cache dir (entries, manifests, stats, lock, identity and
/// search records) replaced in turn by a FIFO without a writer, then by a symlink to
/// `/dev/zero`: the compile must finish (`timeout` would kill a hang with 124), succeed
/// and give the bare compiler's object. A config file that never ends is a configuration
/// error; `/dev/null` as the config file is an empty one.
#[test]
fn cache_files_replaced_by_fifos_and_endless_devices() {
    require!("gcc");
    require!("mkfifo");
    require!("timeout");
    let s = Sandbox::new();
    s.write("f.c", small_source(40));
    let reference = bare_object(&s, &["-c", "f.c", "-o", "ref.o"], "ref.o");
    compile_checked(&s, "f.c", "f.o", &reference, "populate");
    compile_checked(&s, "f.c", "f.o", &reference, "populate (hit)");
    let mut files = Vec::new();
    for d in walk_dirs(&s.cache) {
        for e in fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_file() {
                files.push(e.path());
            }
        }
    }
    assert!(
        files.len() >= 5,
        "test premise: a populated cache: {files:?}"
    );
    let bounded = |env: &[(&str, &str)]| {
        s.remove("f.o");
        let mut cmd = s.command("timeout");
        cmd.args(["20", CACHEPOT, "gcc", "-c", "f.c", "-o", "f.o"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(&mut cmd)
    };
    for f in &files {
        let saved = fs::read(f).unwrap();
        for kind in ["fifo", "/dev/zero"] {
            let _ = fs::remove_file(f);
            if kind == "fifo" {
                let made = Command::new("mkfifo").arg(f).status().unwrap();
                assert!(made.success());
            } else {
                std::os::unix::fs::symlink("/dev/zero", f).unwrap();
            }
            let what = format!("{} as a {kind}", f.display());
            let out = bounded(&[]);
            assert_eq!(out.status.code(), Some(0), "{what}: {}", lossy(&out.stderr));
            assert!(s.read("f.o") == reference, "{what}: wrong object");
            let _ = fs::remove_file(f);
        }
        fs::write(f, saved).unwrap();
    }
    let out = bounded(&[("CACHEPOT_CONF", "/dev/zero")]);
    assert_eq!(out.status.code(), Some(2), "{}", lossy(&out.stderr));
    assert!(
        lossy(&out.stderr).contains("/dev/zero"),
        "{}",
        lossy(&out.stderr)
    );
    let out = bounded(&[("CACHEPOT_CONF", "/dev/null")]);
    assert_eq!(out.status.code(), Some(0), "{}", lossy(&out.stderr));
    assert!(s.read("f.o") == reference);
}

/// A header the compiler read from a FIFO (`-include <(...)`, here a named pipe whose
/// writer is gone by the time the compile ends): recording the include set after the
/// compile used to open it again and wait for a writer for ever. It must finish
/// (`timeout` would kill a hang with 124), succeed with the bare compiler's object, and
/// record nothing from a file it cannot read again. `/dev/null` as the header too.
#[test]
fn header_read_from_a_fifo_does_not_hang_the_recording() {
    require!("gcc");
    require!("mkfifo");
    require!("timeout");
    let s = Sandbox::new();
    s.write("a.c", "int f(void) { return X; }\n");
    s.write("regular.h", "#define X 3\n");
    let made = Command::new("mkfifo")
        .arg(s.path("inc.h"))
        .status()
        .unwrap();
    assert!(made.success());
    // Twice each: the command, run as `sh -c`, must exit 0 with the bare object.
    let check = |script: &str, obj: &str, bare_args: &[&str], what: &str| {
        let reference = bare_object(&s, bare_args, "ref.o");
        for round in 0..2 {
            s.remove(obj);
            let mut cmd = s.command("sh");
            cmd.arg("-c").arg(script).arg("sh").arg(CACHEPOT);
            let out = run(&mut cmd);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{what} round {round}: {}",
                lossy(&out.stderr)
            );
            assert!(
                s.read(obj) == reference,
                "{what} round {round}: wrong object"
            );
        }
    };
    // The writer blocks until the compiler opens the pipe, writes and closes it.
    check(
        "printf '#define X 3\\n' > inc.h & exec timeout 20 \"$1\" gcc -include inc.h -MD -c a.c -o a.o",
        "a.o",
        &["-include", "regular.h", "-c", "a.c", "-o", "ref.o"],
        "fifo",
    );
    assert_eq!(s.stat("cache_hits"), 0, "{}", s.stats());
    check(
        "exec timeout 20 \"$1\" gcc -include /dev/null -DX=3 -c a.c -o n.o",
        "n.o",
        &["-include", "/dev/null", "-DX=3", "-c", "a.c", "-o", "ref.o"],
        "/dev/null",
    );
}
