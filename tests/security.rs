//! Poisoned entries (issue 6, item 6; docs/security.md): an entry planted in the cache
//! directory cannot make cachepot write anywhere but the outputs named by the current
//! command line, cannot make it allocate what it declares, and cannot answer for another
//! key; with CACHEPOT_HMAC_KEY, entries written without the secret are misses.
//!
//! Entries are located and forged as an attacker with write access to the cache dir
//! would: files named by 64 hex digits under `v1/`, their checksum recomputed with BLAKE3
//! over everything but the 32-byte tag (the layout is in src/entry/mod.rs).

#[macro_use]
mod common;

use common::*;
use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

const A_SRC: &str = "int a(void) { return 1; }\n";
const B_SRC: &str = "int b(void) { return 2; }\nint b2(void) { return 3; }\n";

/// A sandbox with a.c and b.c, preprocessor mode (result entries only), and the bare
/// compiler's objects for both.
fn setup() -> (Sandbox, Vec<u8>, Vec<u8>) {
    let mut s = Sandbox::new();
    s.set_env("CACHEPOT_DIRECT", "0");
    s.write("a.c", A_SRC);
    s.write("b.c", B_SRC);
    let mut refs = Vec::new();
    for n in ["a", "b"] {
        let out = s.bare("gcc", &["-c", &format!("{n}.c"), "-o", "ref.o"]);
        s.assert_success(&out, "bare compile");
        refs.push(s.read("ref.o"));
        s.remove("ref.o");
    }
    let b = refs.pop().unwrap();
    let a = refs.pop().unwrap();
    (s, a, b)
}

fn compile(s: &Sandbox, n: &str) {
    let out = s.compile("gcc", &["-c", &format!("{n}.c"), "-o", &format!("{n}.o")]);
    s.assert_success(&out, "compile");
}

fn entries(s: &Sandbox) -> BTreeSet<PathBuf> {
    s.entry_files().into_iter().collect()
}

/// Compiles `n` and returns the entry files it added.
fn compile_new_entries(s: &Sandbox, n: &str) -> Vec<PathBuf> {
    let before = entries(s);
    compile(s, n);
    entries(s).difference(&before).cloned().collect()
}

/// Recompute an entry's plain BLAKE3 checksum after editing it (what anyone who can
/// write the cache dir can do when no secret is configured).
fn reseal(entry: &mut [u8]) {
    let body_len = entry.len() - 32;
    let tag = *blake3::hash(&entry[..body_len]).as_bytes();
    entry[body_len..].copy_from_slice(&tag);
}

/// A symlink planted at the output path (object and dep file) is replaced on a hit, never
/// written through: the file it points to, outside the build, is untouched.
#[test]
fn a_hit_replaces_a_symlink_at_the_output_and_never_writes_through_it() {
    require!("gcc");
    let (s, a_ref, _) = setup();
    let args = ["-c", "a.c", "-o", "a.o", "-MD", "-MF", "a.d"];
    let out = s.compile("gcc", &args);
    s.assert_success(&out, "first compile");
    let dep = s.read("a.d");
    let outside = s.root().join("outside");
    fs::create_dir(&outside).unwrap();
    for (out_name, victim) in [("a.o", "victim-obj"), ("a.d", "victim-dep")] {
        fs::write(outside.join(victim), b"precious").unwrap();
        s.remove(out_name);
        std::os::unix::fs::symlink(outside.join(victim), s.path(out_name)).unwrap();
    }
    let hits = s.stat("cache_hits");
    let out = s.compile("gcc", &args);
    s.assert_success(&out, "hit");
    assert_eq!(s.stat("cache_hits"), hits + 1, "second compile is a hit");
    for victim in ["victim-obj", "victim-dep"] {
        assert_eq!(
            fs::read(outside.join(victim)).unwrap(),
            b"precious",
            "{victim} was written through the symlink"
        );
    }
    for name in ["a.o", "a.d"] {
        let m = fs::symlink_metadata(s.path(name)).unwrap();
        assert!(m.file_type().is_file(), "{name} is still a symlink");
    }
    assert!(s.read("a.o") == a_ref, "restored object differs");
    assert_eq!(s.read("a.d"), dep, "restored dep file differs");
}

/// A valid entry copied under another key's file name answers nothing: the compile that
/// looks that key up misses (counted), and its object is its own.
#[test]
fn an_entry_planted_under_another_key_is_rejected() {
    require!("gcc");
    let (s, _, b_ref) = setup();
    let ea = compile_new_entries(&s, "a");
    let eb = compile_new_entries(&s, "b");
    assert_eq!((ea.len(), eb.len()), (1, 1), "one result entry each");
    fs::copy(&ea[0], &eb[0]).unwrap();
    s.remove("b.o");
    let (hits, errors) = (s.stat("cache_hits"), s.stat("cache_errors"));
    compile(&s, "b");
    assert_eq!(s.stat("cache_hits"), hits, "the planted entry was used");
    assert_eq!(
        s.stat("cache_errors"),
        errors + 1,
        "the planted entry was not counted"
    );
    assert!(s.read("b.o") == b_ref, "b.o is not b's object");
    assert!(
        s.log_text().contains("another key"),
        "the log does not say why the entry was rejected"
    );
}

/// A forged entry declaring a 3 GiB payload (checksum recomputed) is rejected without
/// allocating it: the compile runs under a 1 GiB address-space limit and still succeeds.
#[test]
fn a_forged_declared_size_allocates_nothing() {
    require!("gcc", "sh");
    let (s, a_ref, _) = setup();
    let ea = compile_new_entries(&s, "a");
    assert_eq!(ea.len(), 1);
    let mut e = fs::read(&ea[0]).unwrap();
    assert_eq!(&e[..4], b"CPOT");
    // raw_len: bytes 64..72 of the header.
    e[64..72].copy_from_slice(&(3u64 << 30).to_le_bytes());
    reseal(&mut e);
    fs::write(&ea[0], &e).unwrap();
    s.remove("a.o");
    let errors = s.stat("cache_errors");
    let mut cmd = s.command("sh");
    cmd.arg("-c")
        .arg("ulimit -v 1048576; exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_cachepot"))
        .args(["gcc", "-c", "a.c", "-o", "a.o"]);
    let out = cmd.output().unwrap();
    s.assert_success(&out, "compile under a 1 GiB limit");
    assert_eq!(
        s.stat("cache_errors"),
        errors + 1,
        "forged entry not counted"
    );
    assert!(s.read("a.o") == a_ref, "a.o differs");
}

/// With CACHEPOT_HMAC_KEY, entries written without it (or with another secret) are
/// misses; entries written with it are hits.
#[test]
fn with_a_secret_entries_written_without_it_are_misses() {
    require!("gcc");
    let (mut s, a_ref, _) = setup();
    compile(&s, "a"); // no secret
    let check = |s: &Sandbox, want_hit: bool, what: &str| {
        s.remove("a.o");
        let (hits, errors) = (s.stat("cache_hits"), s.stat("cache_errors"));
        compile(s, "a");
        assert!(s.read("a.o") == a_ref, "{what}: a.o differs");
        if want_hit {
            assert_eq!(s.stat("cache_hits"), hits + 1, "{what}: not a hit");
        } else {
            assert_eq!(s.stat("cache_hits"), hits, "{what}: a hit");
            assert_eq!(s.stat("cache_errors"), errors + 1, "{what}: not counted");
        }
    };
    s.set_env("CACHEPOT_HMAC_KEY", "team secret");
    check(&s, false, "entry without the secret");
    check(&s, true, "entry with the secret");
    s.set_env("CACHEPOT_HMAC_KEY", "another secret");
    check(&s, false, "entry with another secret");
    s.remove_env("CACHEPOT_HMAC_KEY");
    check(&s, false, "authenticated entry read without a secret");
}
