//! The fuzz targets' checks on stable, for CI: every file of `fuzz/corpus/<target>/`, then
//! seeded mutations of them (bit flips, interesting bytes and integers, truncation,
//! insertion, deletion, splices with other corpus files, dictionary tokens, huge
//! declared sizes), through the same property functions the cargo-fuzz targets run
//! (`fuzz/src/lib.rs`). A panic inside cachepot or a broken property fails the test, and
//! so does any single allocation above [`ALLOC_LIMIT`] while one input is checked.
//!
//! `CACHEPOT_FUZZ_ITERS=<n>` sets the mutations per target (default 8000, ~10 s in all);
//! `CACHEPOT_FUZZ_SEED=<n>` picks another sequence. A failing input is written to
//! `target/fuzz-failures/<target>-<seed>-<i>` so that `cargo fuzz run <target> <file>`
//! or this test can replay it; add it to the corpus with the fix.

#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};

/// No single allocation may exceed this while one input is checked: inputs are at most
/// a few hundred KiB, so anything near this size was sized by a declared length.
const ALLOC_LIMIT: usize = 64 << 20;

struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: every call is passed unchanged to the system allocator; we only record sizes.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Run `f`, returning the largest single allocation it made on this thread.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.with(|l| l.set(0));
    f();
    LARGEST.with(|l| l.get())
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: expected a number")),
        Err(_) => default,
    }
}

/// splitmix64: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING_BYTES: &[u8] = &[
    0, 1, 0x7f, 0x80, 0xff, b'-', b'=', b':', b'\n', b' ', b'\\', b'"', b'\'', b'@', 0xc3,
];

/// Declared sizes that must never be allocated (2^40, the 4 GiB bound and just past it,
/// 2^63, 2^64-1) and edge values.
const INTERESTING_U64: &[u64] = &[
    0,
    1,
    0x7fff_ffff,
    1 << 32,
    4 << 30,
    (4 << 30) + 1,
    1 << 40,
    1 << 63,
    u64::MAX,
];

/// Words worth inserting (option names, keys, separators): `fuzz/dict/<target>.dict`,
/// libFuzzer's format (one `"word"` a line, `\\`, `\"` and `\xNN` escapes).
fn dictionary(target: &str) -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/dict")
        .join(format!("{target}.dict"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut words = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let quoted = &line[line.find('"').expect("quoted word") + 1..line.rfind('"').unwrap()];
        let b = quoted.as_bytes();
        let mut w = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match (b[i], b.get(i + 1)) {
                (b'\\', Some(b'x')) => {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                    w.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 4;
                }
                (b'\\', Some(&c)) => {
                    w.push(c);
                    i += 2;
                }
                (c, _) => {
                    w.push(c);
                    i += 1;
                }
            }
        }
        words.push(w);
    }
    assert!(!words.is_empty(), "{}: no words", path.display());
    words
}

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>], words: &[Vec<u8>]) -> Vec<u8> {
    let mut d = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = d.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                d[i] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
            }
            2 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                d.splice(at..at, bytes);
            }
            3 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(32)).min(len);
                d.drain(a..b);
            }
            4 => d.truncate(rng.below(len + 1)),
            5 => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = (a + 1 + rng.below(256)).min(other.len());
                    let at = rng.below(len + 1);
                    d.splice(at..at, other[a..b].iter().copied());
                }
            }
            6 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let chunk = d[a..b].to_vec();
                for _ in 0..1 + rng.below(8) {
                    d.splice(b..b, chunk.iter().copied());
                }
            }
            7 if len >= 8 => {
                // An 8-byte field: anywhere, or an entry's raw_len / data_len.
                let at = match rng.below(3) {
                    0 if len >= 80 => 64,
                    1 if len >= 80 => 72,
                    _ => rng.below(len - 7),
                };
                let v = INTERESTING_U64[rng.below(INTERESTING_U64.len())];
                d[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
            8 if len >= 4 => {
                // A 4-byte field (a result's file count, a length's low half).
                let at = rng.below(len - 3);
                let v = [0u32, 1, 64, 65, u32::MAX][rng.below(5)];
                d[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
            _ => {
                let w = &words[rng.below(words.len())];
                let at = rng.below(len + 1);
                d.splice(at..at, w.iter().copied());
            }
        }
    }
    d
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn read_corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn target_fn(target: &str) -> checks::Check {
    checks::TARGETS
        .iter()
        .find(|(n, _)| *n == target)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no target {target}"))
}

/// Check one input; on a panic or an oversized allocation, save it and fail naming it.
fn check(target: &str, f: checks::Check, input: &[u8], label: &str) {
    let mut outcome = Ok(());
    let largest = largest_allocation(|| {
        outcome = std::panic::catch_unwind(|| f(input));
    });
    let problem = match outcome {
        Err(e) => Some(
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into()),
        ),
        Ok(()) if largest > ALLOC_LIMIT => Some(format!(
            "a single allocation of {largest} bytes for a {}-byte input",
            input.len()
        )),
        Ok(()) => None,
    };
    if let Some(problem) = problem {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{target}-{label}"));
        std::fs::write(&file, input).unwrap();
        panic!("{target}: {problem}; input saved as {}", file.display());
    }
}

/// Every corpus file, then the seeded mutations; returns the number of inputs checked.
fn run_target(target: &str) -> u64 {
    let f = target_fn(target);
    let files = read_corpus(target);
    assert!(
        files.len() >= 5,
        "{target}: corpus has only {} files",
        files.len()
    );
    for (name, data) in &files {
        check(target, f, data, &format!("corpus-{name}"));
    }
    let seeds: Vec<Vec<u8>> = files.into_iter().map(|(_, d)| d).collect();
    let words = dictionary(target);
    let iters = env_u64("CACHEPOT_FUZZ_ITERS", 8000);
    let seed = env_u64("CACHEPOT_FUZZ_SEED", 1);
    // Each target gets its own sequence, so a failure replays from (target, seed, i).
    let mut rng = Rng(seed
        ^ target
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31) ^ b as u64));
    let mut current = seeds[0].clone();
    for i in 0..iters {
        // Mostly mutate a fresh corpus file; sometimes keep stacking on the last input.
        if rng.below(4) != 0 {
            current = seeds[rng.below(seeds.len())].clone();
        }
        current = mutate(&mut rng, &current, &seeds, &words);
        if current.len() > 1 << 20 {
            current.truncate(1 << 20);
        }
        check(target, f, &current, &format!("{seed}-{i}"));
    }
    seeds.len() as u64 + iters
}

macro_rules! fuzz_target_test {
    ($name:ident) => {
        #[test]
        fn $name() {
            let start = std::time::Instant::now();
            let n = run_target(stringify!($name));
            eprintln!(
                "{}: {n} inputs in {:.1} s",
                stringify!($name),
                start.elapsed().as_secs_f64()
            );
        }
    };
}

fuzz_target_test!(gcc_args);
fuzz_target_test!(rustc_args);
fuzz_target_test!(diab_args);
fuzz_target_test!(msvc_args);
fuzz_target_test!(entry);
fuzz_target_test!(manifest);
fuzz_target_test!(config);
fuzz_target_test!(depfile);
fuzz_target_test!(stats_file);

#[test]
fn every_target_has_a_corpus_and_a_test() {
    let dirs: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus"))
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
    let mut names: Vec<&str> = checks::TARGETS.iter().map(|(n, _)| *n).collect();
    names.sort();
    let mut dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
    dirs.sort();
    assert_eq!(names, dirs);
    let targets =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets"))
            .unwrap()
            .count();
    assert_eq!(targets, names.len(), "one cargo-fuzz target per check");
}

// ---- Declared sizes: never allocated, whatever an entry or a result claims. ----

const HEADER_LEN: usize = 80;

/// An entry with the given header fields and payload and a valid (unkeyed) checksum.
fn entry_bytes(key: &[u8; 32], compression: u8, raw_len: u64, data: &[u8]) -> Vec<u8> {
    let mut e = Vec::new();
    e.extend_from_slice(b"CPOT");
    e.extend_from_slice(&1u16.to_le_bytes());
    e.push(1); // result
    e.push(compression);
    e.extend_from_slice(key);
    e.extend_from_slice(&0u64.to_le_bytes());
    e.extend_from_slice(&[0u8; 16]);
    e.extend_from_slice(&raw_len.to_le_bytes());
    e.extend_from_slice(&(data.len() as u64).to_le_bytes());
    assert_eq!(e.len(), HEADER_LEN);
    e.extend_from_slice(data);
    let tag = *blake3::hash(&e).as_bytes();
    e.extend_from_slice(&tag);
    e
}

#[test]
fn declared_sizes_are_never_allocated() {
    use cachepot::entry::{decode_result, EntryKind, Sealer};
    use cachepot::hash::Key;
    let key = [7u8; 32];
    let sealer = Sealer {
        hmac_key: None,
        compression_level: 1,
        compression_min_size: 0,
    };
    let small_frame = zstd::bulk::compress(&[0u8; 1000], 1).unwrap();
    let raw_frame = vec![0u8; 1000];
    // The builder is right: a true declared size opens.
    let ok = entry_bytes(&key, 1, 1000, &small_frame);
    assert_eq!(
        sealer.open(EntryKind::Result, &Key(key), &ok).unwrap(),
        raw_frame
    );
    for declared in [1u64 << 40, u64::MAX, 1 << 63, (4 << 30) + 1, 4 << 30, 1001] {
        for (compression, data) in [(0u8, &raw_frame), (1, &small_frame)] {
            let e = entry_bytes(&key, compression, declared, data);
            let mut result = None;
            let largest = largest_allocation(|| {
                result = Some(sealer.open(EntryKind::Result, &Key(key), &e));
            });
            assert!(
                result.unwrap().is_err(),
                "declared {declared}, compression {compression}: opened"
            );
            assert!(
                largest < 1 << 20,
                "declared {declared}, compression {compression}: allocated {largest} bytes"
            );
        }
    }
    // A result whose file claims 2^40 bytes (or 2^64-1), or 2^32-1 files.
    for len in [1u64 << 40, u64::MAX, 1 << 32] {
        let mut raw = 1u32.to_le_bytes().to_vec();
        raw.push(1);
        raw.extend_from_slice(&len.to_le_bytes());
        raw.extend_from_slice(b"tiny");
        let mut result = None;
        let largest = largest_allocation(|| result = Some(decode_result(&raw)));
        assert!(result.unwrap().is_err());
        assert!(
            largest < 1 << 10,
            "declared {len}: allocated {largest} bytes"
        );
    }
    let mut raw = u32::MAX.to_le_bytes().to_vec();
    raw.extend_from_slice(&[1; 64]);
    let largest = largest_allocation(|| assert!(decode_result(&raw).is_err()));
    assert!(largest < 1 << 10, "2^32-1 files: allocated {largest} bytes");
}

#[test]
fn deeply_nested_manifest_json_is_refused_without_overflowing_the_stack() {
    for depth in [200usize, 100_000] {
        let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(cachepot::manifest::Manifest::decode(json.as_bytes()).is_none());
        let json = format!("{{\"sets\":{}", "[{\"a\":".repeat(depth));
        assert!(cachepot::manifest::Manifest::decode(json.as_bytes()).is_none());
    }
}
