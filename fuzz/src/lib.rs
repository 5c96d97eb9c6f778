//! What the fuzz targets check: one function per target, each taking the raw fuzz input
//! and panicking when cachepot panics or a property fails. Shared by the cargo-fuzz
//! targets (`fuzz_targets/`, nightly) and the stable corpus test
//! (`tests/fuzz_corpus.rs`, which includes this file by path), so CI checks the same
//! properties on the committed corpus and its mutations without nightly.
//!
//! Input layouts (the corpus files under `fuzz/corpus/<target>/` follow them):
//! * `gcc_args`: a selector byte (bits 0-2: driver name, bit 3: stderr is a terminal,
//!   bit 4: `DEPENDENCIES_OUTPUT` set), then the arguments separated by NUL bytes.
//! * `rustc_args`: the arguments separated by NUL bytes.
//! * `msvc_args`: a selector byte (bit 0: cl.exe rather than clang-cl), then NUL-separated
//!   words: `CL`'s value, `_CL_`'s value, the arguments.
//! * `diab_args`: a selector byte (bit 0: `dplus` rather than `dcc`, bit 1: `DFLAGS`
//!   set), then the arguments separated by NUL bytes; `-@` files read back that input.
//! * `entry`: the bytes of a stored entry (also tried with a valid checksum, and as a
//!   bare result payload).
//! * `manifest`: a manifest's JSON payload.
//! * `config`: the TOML file's text, then `NAME=value` environment entries, all
//!   separated by NUL bytes.
//! * `depfile`: a make-style dep file (or rustc dep-info).
//! * `stats_file`: a shard's statistics file, or any text record (key hex lines).
//!
//! Deliberately outside: anything that touches the file system or runs a process
//! (response-file reading, `manifest::still_valid`, compiler identity); the parsers are
//! pure so that they can be fuzzed alone.

use cachepot::compiler::{
    args, diab, gcc, msvc, msvc_args, rustc, Family, Parsed, ResolvedCompiler,
};
use cachepot::config;
use cachepot::depfile;
use cachepot::entry::{self, EntryKind, FileKind, Sealer};
use cachepot::hash::{digest, Key};
use cachepot::manifest::{set_key, Manifest};
use cachepot::stats::Counters;
use std::collections::HashSet;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// A target's check: takes the raw input, panics on a failure.
pub type Check = fn(&[u8]);

/// Every target, by the name of its corpus directory.
pub const TARGETS: &[(&str, Check)] = &[
    ("gcc_args", gcc_args),
    ("rustc_args", rustc_args),
    ("msvc_args", msvc_args),
    ("diab_args", diab_args),
    ("entry", entry),
    ("manifest", manifest),
    ("config", config),
    ("depfile", depfile),
    ("stats_file", stats_file),
];

/// The entry header's length (src/entry/mod.rs grammar: 4+2+1+1+32+8+16+8+8).
const HEADER_LEN: usize = 80;
/// The harness opens re-checksummed entries only up to this declared size, to stay under
/// libFuzzer's 2 GiB RSS limit; cachepot itself bounds the size at 4 GiB (MAX_RAW_LEN),
/// which `tests/fuzz_corpus.rs` checks with declared sizes up to 2^64-1.
const HARNESS_MAX_RAW: u64 = 256 << 20;
/// An option no table knows: hashed and passed on, never a reason to stop caching.
const UNKNOWN_FLAG: &str = "-fcachepot-fuzz-unknown";

fn split_nul(data: &[u8]) -> Vec<OsString> {
    if data.is_empty() {
        return Vec::new();
    }
    data.split(|b| *b == 0)
        .map(|a| OsString::from_vec(a.to_vec()))
        .collect()
}

fn os(s: &str) -> OsString {
    OsString::from(s)
}

/// Quote arguments the way gcc reads response files: a backslash before every special
/// byte, `''` for an empty argument.
fn quote_response(args: &[OsString]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in args {
        if a.is_empty() {
            out.extend_from_slice(b"''");
        }
        for &b in a.as_bytes() {
            if b.is_ascii_whitespace() || b == b'\'' || b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b' ');
    }
    out
}

const DRIVERS: [&str; 8] = [
    "gcc",
    "g++",
    "clang",
    "clang++",
    "cc",
    "c++",
    "x86_64-linux-gnu-gcc-12",
    "clang-14",
];

fn parse_gcc(selector: u8, args: &[OsString]) -> Result<Parsed, cachepot::error::Reason> {
    let name = DRIVERS[(selector & 7) as usize];
    let compiler = ResolvedCompiler {
        path: PathBuf::from(format!("/usr/bin/{name}")),
        invoked_name: name.to_string(),
        family: if name.contains("clang") {
            Family::Clang
        } else {
            Family::Gcc
        },
        cxx_driver: name.ends_with("++"),
        canonical: None,
    };
    let dep_env = selector & 16 != 0;
    let env = move |k: &str| (dep_env && k == "DEPENDENCIES_OUTPUT").then(|| os("x.d"));
    // Paths "exist" when they say so, so that .gch, plugin and specs checks are reached.
    let exists = |p: &Path| p.as_os_str().as_bytes().windows(6).any(|w| w == b"EXISTS");
    let ctx = gcc::Context {
        cwd: Path::new("/work/src"),
        stderr_is_tty: selector & 8 != 0,
        env: &env,
        exists: &exists,
    };
    gcc::parse(&compiler, args, args, &ctx)
}

/// gcc/clang: the response-file splitter, the option parser and the `-v` search-list
/// parser.
pub fn gcc_args(data: &[u8]) {
    let (selector, rest) = data.split_first().map_or((0, &[][..]), |(s, r)| (*s, r));
    let args = split_nul(rest);

    // Response files: any argument vector survives gcc's quoting.
    assert_eq!(
        args::split_response(&quote_response(&args)),
        args,
        "response-file quoting does not round-trip"
    );
    let _ = args::split_response(rest);
    if let Some(dirs) = gcc::parse_search_list(rest) {
        assert!(dirs.iter().all(|d| !d.contains('\n')));
    }

    let parsed = parse_gcc(selector, &args);
    assert_eq!(
        format!("{parsed:?}"),
        format!("{:?}", parse_gcc(selector, &args)),
        "parsing is not deterministic"
    );
    let Ok(p) = parsed else { return };
    assert!(p.language.is_some());
    assert_eq!(p.outputs.first().map(|o| o.kind), Some(FileKind::Object));
    assert!(
        args.iter().any(|a| Path::new(a) == p.input),
        "the input is not one of the arguments"
    );
    assert_eq!(p.preprocess_args.last(), Some(&os("-E")));
    let kinds: HashSet<FileKind> = p.outputs.iter().map(|o| o.kind).collect();
    assert_eq!(kinds.len(), p.outputs.len(), "two outputs of one kind");

    // An unknown flag in front is hashed and passed on, and changes nothing else.
    let mut more = vec![os(UNKNOWN_FLAG)];
    more.extend(args.iter().cloned());
    let q = parse_gcc(selector, &more)
        .unwrap_or_else(|r| panic!("an unknown flag made a cacheable command uncacheable: {r:?}"));
    assert_eq!(
        (&q.input, &q.outputs, &q.dep_file),
        (&p.input, &p.outputs, &p.dep_file)
    );
    assert_eq!(q.language, p.language);
    for (with, without) in [
        (&q.hashed_args, &p.hashed_args),
        (&q.compile_args, &p.compile_args),
        (&q.preprocess_args, &p.preprocess_args),
    ] {
        assert_eq!(with.first(), Some(&os(UNKNOWN_FLAG)));
        assert_eq!(&with[1..], &without[..]);
    }
}

fn parse_diab(selector: u8, args: &[OsString]) -> Result<Parsed, cachepot::error::Reason> {
    let name = if selector & 1 != 0 { "dplus" } else { "dcc" };
    let compiler = ResolvedCompiler {
        path: PathBuf::from(format!("/opt/diab/bin/{name}")),
        invoked_name: name.to_string(),
        family: Family::Diab,
        cxx_driver: name == "dplus",
        canonical: None,
    };
    let dflags = selector & 2 != 0;
    let env = move |k: &str| (dflags && k == "DFLAGS").then(|| os("-O -Xfuzz"));
    let exists = |_: &Path| false;
    let ctx = gcc::Context {
        cwd: Path::new("/work/src"),
        stderr_is_tty: false,
        env: &env,
        exists: &exists,
    };
    diab::parse(&compiler, args, args, &ctx)
}

/// diab: `-@` expansion (every file and variable reads back the input: self-reference
/// must stop) and the option parser.
pub fn diab_args(data: &[u8]) {
    let (selector, rest) = data.split_first().map_or((0, &[][..]), |(s, r)| (*s, r));
    let args = split_nul(rest);

    let env = |k: &str| (k == "ENV").then(|| OsString::from_vec(rest.to_vec()));
    let read = |_: &Path| Some(rest.to_vec());
    let expanded = diab::expand_with(&args, &env, &read);
    assert_eq!(expanded, diab::expand_with(&args, &env, &read));
    if !args.iter().any(|a| a.as_bytes().starts_with(b"-@")) {
        assert_eq!(expanded, args, "expansion changed a vector without -@");
    }

    let parsed = parse_diab(selector, &args);
    assert_eq!(
        format!("{parsed:?}"),
        format!("{:?}", parse_diab(selector, &args)),
        "parsing is not deterministic"
    );
    let Ok(p) = parsed else { return };
    assert!(p.language.is_some());
    assert_eq!(p.outputs.first().map(|o| o.kind), Some(FileKind::Object));
    assert!(
        args.iter().any(|a| Path::new(a) == p.input),
        "the input is not one of the arguments"
    );
    assert_eq!(p.preprocess_args.last(), Some(&os("-E")));
    assert_eq!(
        p.compile_args, args,
        "the compile must run the user's arguments"
    );
    assert_eq!(
        &p.hashed_args[..args.len()],
        &args[..],
        "the command line is hashed"
    );
    assert!(p.records_command_line && p.cwd_matters);
    let kinds: HashSet<FileKind> = p.outputs.iter().map(|o| o.kind).collect();
    assert_eq!(kinds.len(), p.outputs.len(), "two outputs of one kind");
    assert!(p
        .dep_file
        .as_ref()
        .is_none_or(|d| d.target_fixed && !d.complete));

    // An unknown flag in front is hashed and passed on, and changes nothing else.
    let mut more = vec![os(UNKNOWN_FLAG)];
    more.extend(args.iter().cloned());
    let q = parse_diab(selector, &more)
        .unwrap_or_else(|r| panic!("an unknown flag made a cacheable command uncacheable: {r:?}"));
    assert_eq!(
        (&q.input, &q.outputs, &q.dep_file, q.language),
        (&p.input, &p.outputs, &p.dep_file, p.language)
    );
    for (with, without) in [
        (&q.hashed_args, &p.hashed_args),
        (&q.compile_args, &p.compile_args),
        (&q.preprocess_args, &p.preprocess_args),
    ] {
        assert_eq!(with.first(), Some(&os(UNKNOWN_FLAG)));
        assert_eq!(&with[1..], &without[..]);
    }
}

fn parse_msvc(
    selector: u8,
    src: &msvc_args::Sources,
    original: &[OsString],
) -> Result<Parsed, cachepot::error::Reason> {
    let name = if selector & 1 != 0 {
        "cl.exe"
    } else {
        "clang-cl"
    };
    let compiler = ResolvedCompiler {
        path: PathBuf::from(format!("/usr/bin/{name}")),
        invoked_name: name.to_string(),
        family: Family::Msvc,
        cxx_driver: false,
        canonical: None,
    };
    let env = |k: &str| (k == "INC").then(|| os("/a;/b"));
    let exists = |p: &Path| p.as_os_str().as_bytes().windows(6).any(|w| w == b"EXISTS");
    let ctx = msvc::Context {
        cwd: Path::new("/work/src"),
        env: &env,
        exists: &exists,
    };
    msvc::parse(&compiler, src, original, &ctx)
}

/// MSVC syntax (clang-cl, cl.exe): the Windows tokenizer, `CL`/`_CL_` words, response-file
/// decoding, the option parser and the `/showIncludes` note splitter.
pub fn msvc_args(data: &[u8]) {
    let (selector, rest) = data.split_first().map_or((0, &[][..]), |(s, r)| (*s, r));
    let _ = msvc_args::tokenize_windows(rest);
    let _ = msvc_args::decode(rest);
    let (files, without) = msvc::split_notes(rest);
    assert!(without.len() <= rest.len());
    assert!(files.iter().all(|f| !f.contains('\n')));
    assert!(!without
        .split(|&b| b == b'\n')
        .any(|l| l.starts_with(msvc::NOTE_PREFIX)));

    let mut words = split_nul(rest).into_iter();
    let cl = words.next().unwrap_or_default();
    let cl_tail = words.next().unwrap_or_default();
    let args: Vec<OsString> = words.collect();
    let src = msvc_args::Sources {
        prefix: msvc_args::env_words(cl.as_bytes()),
        args: args.clone(),
        suffix: msvc_args::env_words(cl_tail.as_bytes()),
    };
    let parsed = parse_msvc(selector, &src, &args);
    assert_eq!(
        format!("{parsed:?}"),
        format!("{:?}", parse_msvc(selector, &src, &args)),
        "parsing is not deterministic"
    );
    let Ok(p) = parsed else { return };
    assert!(p.language.is_some());
    assert_eq!(p.outputs.first().map(|o| o.kind), Some(FileKind::Object));
    assert_eq!(
        p.compile_args, args,
        "the compile must run the user's arguments"
    );
    assert!(p.preprocess_args.contains(&os("/E")));
    let info = p.msvc.as_ref().expect("MSVC parses carry MsvcInfo");
    assert_eq!(
        info.search_args.get(info.search_args.len().wrapping_sub(2)),
        Some(&os("/E"))
    );
    let all: Vec<&OsString> = src.prefix.iter().chain(&args).chain(&src.suffix).collect();
    assert!(
        all.iter()
            .any(|a| a.as_bytes().ends_with(p.input.as_os_str().as_bytes())),
        "the input is not in the arguments"
    );

    // An unknown flag in front of the command line is hashed and passed on, and changes
    // nothing else (unless `CL` ends the options with `--`).
    if src.prefix.iter().any(|w| w == "--") {
        return;
    }
    let mut more = vec![os(UNKNOWN_FLAG)];
    more.extend(args.iter().cloned());
    let src2 = msvc_args::Sources {
        args: more.clone(),
        ..src.clone()
    };
    let q = parse_msvc(selector, &src2, &more)
        .unwrap_or_else(|r| panic!("an unknown flag made a cacheable command uncacheable: {r:?}"));
    assert_eq!(
        (&q.input, &q.outputs, q.language),
        (&p.input, &p.outputs, p.language)
    );
    let strip = |v: &[OsString]| -> Vec<OsString> {
        v.iter().filter(|a| *a != UNKNOWN_FLAG).cloned().collect()
    };
    assert!(q.hashed_args.iter().any(|a| a == UNKNOWN_FLAG));
    assert_eq!(strip(&q.hashed_args), strip(&p.hashed_args));
    assert_eq!(strip(&q.preprocess_args), strip(&p.preprocess_args));
}

fn parse_rustc(args: &[OsString]) -> Result<Parsed, cachepot::error::Reason> {
    let exists = |p: &Path| p.as_os_str().as_bytes().windows(6).any(|w| w == b"EXISTS");
    rustc::parse(args, Path::new("/work/crate"), &exists)
}

/// rustc: the argument parser and the dep-info `# env-dep:` reader.
pub fn rustc_args(data: &[u8]) {
    for (name, _) in rustc::env_deps(data) {
        assert!(!name.contains('\n'));
    }
    let args = split_nul(data);
    let parsed = parse_rustc(&args);
    assert_eq!(
        format!("{parsed:?}"),
        format!("{:?}", parse_rustc(&args)),
        "parsing is not deterministic"
    );
    let Ok(p) = parsed else { return };
    let info = p.rust.as_ref().expect("rustc parses carry RustInfo");
    assert!(!p.outputs.is_empty());
    for o in &p.outputs {
        assert!(
            o.path.starts_with(&info.out_dir),
            "output {:?} outside --out-dir {:?}",
            o.path,
            info.out_dir
        );
    }
    assert!(info.dep_info.starts_with(&info.out_dir));
    let emits = p
        .compile_args
        .iter()
        .filter(|a| *a == "--emit" || a.as_bytes().starts_with(b"--emit="))
        .count();
    if info.dep_info_added {
        assert_eq!(emits, 1, "dep-info must be added to a single --emit");
    }

    // A --cfg in front is hashed and passed on, and changes nothing else.
    let mut more = vec![os("--cfg"), os("cachepot_fuzz")];
    more.extend(args.iter().cloned());
    let q = parse_rustc(&more).expect("a --cfg made a cacheable crate uncacheable");
    assert_eq!(
        (&q.input, &q.outputs, &q.rust),
        (&p.input, &p.outputs, &p.rust)
    );
    assert_eq!(&q.hashed_args[..2], &more[..2]);
    assert_eq!(&q.hashed_args[2..], &p.hashed_args[..]);
    assert_eq!(&q.compile_args[2..], &p.compile_args[..]);
}

fn sealer(hmac_key: Option<&[u8]>) -> Sealer<'_> {
    Sealer {
        hmac_key,
        compression_level: 1,
        compression_min_size: 0,
    }
}

/// What an opened payload must satisfy: a result that decodes re-encodes to the same
/// bytes (the encoding is canonical), a manifest that decodes round-trips.
fn check_payload(kind: EntryKind, raw: &[u8]) {
    match kind {
        EntryKind::Result => {
            if let Ok(files) = entry::decode_result(raw) {
                assert_eq!(entry::encode_result(&files), raw, "result not canonical");
            }
        }
        EntryKind::Manifest => manifest(raw),
        EntryKind::Bundle => {
            // Its parts are entries of their own, opened (and fuzzed) as such.
            if let Ok((m, _, r)) = entry::decode_bundle(raw) {
                assert!(
                    m.len() + 36 + r.len() == raw.len(),
                    "bundle parts lost bytes"
                );
            }
        }
    }
}

/// Entries: the container (`Sealer::open`, `seal`) and the result payload.
pub fn entry(data: &[u8]) {
    let plain = sealer(None);
    // The key the header names, so that the key check passes when nothing else fails.
    let key = match data.get(8..40) {
        Some(k) => Key(k.try_into().expect("32 bytes")),
        None => digest(data),
    };
    let kinds = [EntryKind::Result, EntryKind::Manifest, EntryKind::Bundle];

    // 1. As stored bytes: anything opens or fails cleanly.
    for kind in kinds {
        if let Ok(raw) = plain.open(kind, &key, data) {
            check_payload(kind, &raw);
        }
    }

    // 2. With a valid checksum, so that mutations reach the size checks and zstd.
    if data.len() >= HEADER_LEN {
        let declared = u64::from_le_bytes(data[64..72].try_into().expect("8 bytes"));
        if declared <= HARNESS_MAX_RAW {
            let mut e = data.to_vec();
            e.extend_from_slice(blake3::hash(data).as_bytes());
            for kind in kinds {
                if let Ok(raw) = plain.open(kind, &key, &e) {
                    assert_eq!(
                        raw.len() as u64,
                        declared,
                        "payload size is not the declared one"
                    );
                    check_payload(kind, &raw);
                }
                // Without the shared secret's tag, an entry never opens.
                assert!(sealer(Some(b"fuzz secret")).open(kind, &key, &e).is_err());
            }
        }
    }

    // 3. Any payload survives seal and open, with and without a secret.
    for s in [plain, sealer(Some(b"fuzz secret"))] {
        let e = s.seal(EntryKind::Result, &key, data);
        assert_eq!(
            s.open(EntryKind::Result, &key, &e)
                .expect("sealed entry opens"),
            data
        );
        assert!(s.open(EntryKind::Manifest, &key, &e).is_err());
    }

    // 4. As a bare result payload.
    check_payload(EntryKind::Result, data);
}

/// Manifests: JSON decoding, encode/decode identity, the caps on the next add.
pub fn manifest(data: &[u8]) {
    let Some(m) = Manifest::decode(data) else {
        return;
    };
    let again = Manifest::decode(&m.encode()).expect("an encoded manifest decodes");
    assert_eq!(again.sets, m.sets, "manifest does not round-trip");
    let mkey = digest(b"manifest key");
    for s in m.sets.iter().take(8) {
        assert_eq!(set_key(&mkey, s), set_key(&mkey, s));
    }
    // However many sets a stored manifest holds, the next add keeps the caps (100 sets).
    if let Some(first) = m.sets.first() {
        let mut grown = m.clone();
        let mut newest = first.clone();
        newest.result = "fuzz-newest".into();
        grown.add(newest.clone());
        assert!(grown.sets.len() <= 100);
        assert_eq!(grown.sets[0], newest);
    }
}

/// Configuration: TOML text and environment values through `config::resolve`, and the
/// value parsers on their own.
pub fn config(data: &[u8]) {
    let mut parts = data.split(|b| *b == 0);
    let toml = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let vars: Vec<(String, OsString)> = parts
        .filter_map(|kv| {
            let eq = kv.iter().position(|b| *b == b'=')?;
            Some((
                String::from_utf8_lossy(&kv[..eq]).into_owned(),
                OsString::from_vec(kv[eq + 1..].to_vec()),
            ))
        })
        .collect();
    let env = |k: &str| -> Option<OsString> {
        match vars.iter().rev().find(|(n, _)| n == k) {
            Some((_, v)) => Some(v.clone()),
            None => (k == "HOME").then(|| os("/home/fuzz")),
        }
    };
    let set = |k: &str| env(k).filter(|v| !v.is_empty());
    for text in [Some(toml.as_str()), None] {
        match config::resolve(&env, Path::new("/etc/cachepot/config.toml"), text) {
            Err(e) => {
                assert!(e.0.starts_with("cachepot: "), "{}", e.0);
                assert!(
                    !e.0.chars().any(char::is_control),
                    "not one line: {:?}",
                    e.0
                );
            }
            Ok(c) => {
                for w in &c.warnings {
                    assert!(!w.chars().any(char::is_control), "not one line: {w:?}");
                }
                // The environment wins, and means what the value parsers say.
                if let Some(v) = set("CACHEPOT_CACHE_SIZE") {
                    assert_eq!(config::parse_size(v.to_str().unwrap()), Some(c.cache_size));
                }
                for (var, value) in [
                    ("CACHEPOT_DIRECT", c.direct),
                    ("CACHEPOT_RECACHE", c.recache),
                    ("CACHEPOT_HASH_DIR", c.hash_dir),
                ] {
                    if let Some(v) = set(var) {
                        assert_eq!(config::parse_switch(v.to_str().unwrap()), Some(value));
                    }
                }
                if let Some(v) = set("CACHEPOT_HMAC_KEY") {
                    assert_eq!(c.hmac_key.as_deref(), Some(v.as_bytes()));
                    let shown = c.shown.iter().find(|(k, _, _)| k == "hmac_key");
                    assert_eq!(shown.map(|s| s.1.as_str()), Some("********"));
                }
            }
        }
    }
    for line in toml.lines() {
        let _ = config::parse_switch(line);
        if let Some(n) = config::parse_size(line) {
            let digits = line.trim();
            if digits.bytes().all(|b| b.is_ascii_digit()) {
                assert_eq!(digits.parse::<u64>().ok(), Some(n), "bare bytes are exact");
            }
        }
    }
    // Sizes round-trip through their decimal and binary spellings.
    let n = data
        .iter()
        .take(8)
        .fold(0u64, |acc, b| acc << 8 | u64::from(*b));
    assert_eq!(config::parse_size(&n.to_string()), Some(n));
    let small = n >> 24; // below 2^40: exact in f64 once multiplied by 1024
    assert_eq!(
        config::parse_size(&format!("{small}Ki")),
        Some(small * 1024)
    );
    assert_eq!(
        config::parse_size(&format!("{small}KiB")),
        Some(small * 1024)
    );
}

/// Make-style dep files: prerequisites and retargeting (and rustc's env-dep lines).
pub fn depfile(data: &[u8]) {
    let pre = depfile::prerequisites(data);
    assert!(pre.iter().all(|p| !p.is_empty()), "empty prerequisite");
    assert_eq!(
        pre.iter().collect::<HashSet<_>>().len(),
        pre.len(),
        "duplicate prerequisite"
    );
    let _ = rustc::env_deps(data);

    // Retargeting changes the first rule's target and nothing else: put a target taken
    // from the input in front of the input, move it, and move it back.
    let text = String::from_utf8_lossy(data);
    let old: String = text
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !matches!(c, ':' | '\\' | '\n' | '\r'))
        .take(64)
        .collect();
    let new = "out dir/x#$1.o";
    let mut d = depfile::escape_target(&old).into_bytes();
    d.extend_from_slice(b": ");
    d.extend_from_slice(data);
    let moved = depfile::retarget(&d, &old, new);
    let mut expected = depfile::escape_target(new).into_bytes();
    expected.extend_from_slice(b": ");
    expected.extend_from_slice(data);
    assert_eq!(moved, expected, "retarget changed more than the target");
    assert_eq!(depfile::prerequisites(&moved), depfile::prerequisites(&d));
    assert_eq!(depfile::retarget(&moved, new, &old), d);
    // A target that is not the first rule's is left alone.
    if !data.starts_with(b"other.o:") {
        assert_eq!(depfile::retarget(data, "other.o", new), data);
    }
}

/// Statistics files (`name value` lines) and key records (64 hex digits).
pub fn stats_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let c = Counters::parse(&text);
    let again = Counters::parse(&c.render());
    let nonzero = |c: &Counters| -> Vec<(String, u64)> {
        c.0.iter()
            .filter(|(_, v)| **v != 0)
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    };
    assert_eq!(nonzero(&again), nonzero(&c), "counters do not round-trip");
    // --show-stats sums the shards: a damaged file must not break the sum.
    let mut total = c.clone();
    total.merge(&c);
    total.merge(&again);
    for line in text.lines() {
        if let Some(k) = Key::from_hex(line) {
            assert_eq!(k.hex(), line.to_ascii_lowercase());
        }
    }
}
