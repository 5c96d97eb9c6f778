//! The probe pass of recording and the watches' `covers`, checked against oracles that
//! probe one path at a time or walk every probe, on synthetic layouts and on include sets
//! that gcc and g++ give for real code.

use super::*;

/// The probe pass of `record`, as it was before it looked at each directory only once:
/// every probe stat'ed, every probe's parent walked up to its nearest existing ancestor.
/// The oracle for the test below.
fn probe_states_one_by_one(
    set: &IncludeSet,
    cwd: &Path,
    bases: &[PathBuf],
) -> (Vec<String>, Vec<DirRec>) {
    let all = probes(set);
    let mut present = Vec::new();
    for (p, _) in &all {
        if stat_ns(&cwd.join(p)).is_some() {
            present.push(p.clone());
        }
    }
    // Every probe (duplicates too: each names the item it comes from) under its watch.
    let lexical_files: Vec<String> = set.files.iter().map(|f| lexical(&f.path)).collect();
    let lexical_dirs: Vec<String> = set.search_dirs.iter().map(|d| lexical(d)).collect();
    let mut items = Vec::new();
    let _ = for_each_probe(set, &lexical_files, &lexical_dirs, None, |p| {
        items.push((p.path(), p));
        ControlFlow::Continue(())
    });
    let mut watches: BTreeMap<String, DirRec> = BTreeMap::new();
    for (p, probe) in &items {
        let parent = crate::util::path::normalize(&cwd.join(dir_str(p)));
        let w = existing_ancestor(&parent);
        let key = stored_form(&w, cwd, bases, Path::new(p).is_relative());
        let (_, mtime, ctime) = stat_ns(&w).expect("a watch can be stat'ed");
        let rec = watches.entry(key.clone()).or_insert_with(|| DirRec {
            path: key,
            mtime,
            ctime,
            covers: vec![0; Covers::of(set).len()],
        });
        Covers::of(set).add(&mut rec.covers, probe);
    }
    (present, watches.into_values().collect())
}

/// Search dirs that exist, do not exist, go through a regular file, use `..` after a real
/// directory, and absolute ones: the memoised pass records the same present probes and
/// the same watches as stat'ing every probe. (`..` after a symlink is not recorded.)
#[test]
fn memoised_probe_pass_matches_probing_one_by_one() {
    let d = std::env::temp_dir().join(format!("cachepot-probememo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    for sub in [
        "w/src",
        "w/inc/sys",
        "w/inc2",
        "other/inc",
        "elsewhere/deep/inc",
    ] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::os::unix::fs::symlink(d.join("elsewhere/deep"), d.join("w/link")).unwrap();
    std::fs::write(d.join("w/afile"), "").unwrap();
    std::fs::write(
        d.join("w/src/a.c"),
        "#include <sys/t.h>\n#include \"b.h\"\n#if __has_include(<x.h>)\n#endif\n",
    )
    .unwrap();
    std::fs::write(d.join("w/inc/sys/t.h"), "int t;\n").unwrap();
    std::fs::write(d.join("w/inc2/b.h"), "int b;\n").unwrap();
    // A `__has_include` probe that is present, under two spellings of its directory.
    std::fs::write(d.join("other/inc/x.h"), "").unwrap();
    let cwd = d.join("w");
    let abs_other = d.join("other/inc").to_string_lossy().into_owned();
    let files = ["src/a.c", "inc/sys/t.h", "inc2/b.h"].map(String::from);
    let search = [
        "missing/dir",
        "afile/inc",
        "w/../inc",
        abs_other.as_str(),
        "../other/inc",
        "inc",
        "inc2",
    ]
    .map(String::from);
    std::fs::create_dir(cwd.join("w")).unwrap();
    let start = now_ns() + 1_000_000_000;
    // `link/..` is `elsewhere`, not `w`, to the kernel: no lexical watch describes it.
    let with_link = [&search[..], &["link/../inc".to_string()]].concat();
    let r = record(
        &files,
        &with_link,
        &cwd,
        start,
        &digest(b"r"),
        true,
        &[],
        None,
    );
    assert!(
        matches!(&r, Err(NotRecordable::PhysicalDotDot(d)) if d.starts_with("link/../inc")),
        "{r:?}"
    );
    let mut set = record(&files, &search, &cwd, start, &digest(b"r"), true, &[], None).unwrap();
    assert!(set.watches.len() > 3, "{:?}", set.watches);
    // x.h under two spellings, and w/../inc/sys/t.h: `w/..` is the working directory,
    // so that search dir is `inc` again, searched earlier.
    assert_eq!(
        set.has_include_present.len(),
        3,
        "{:?}",
        set.has_include_present
    );
    let recorded = (set.has_include_present.clone(), set.watches.clone());
    set.has_include_present.clear();
    assert_eq!(probe_states_one_by_one(&set, &cwd, &[]), recorded);
    std::fs::remove_dir_all(&d).unwrap();
}

/// The dep file's files of `compiler args -M source` run in `d` and the compiler's
/// search list (for `lang`), as the compiler itself gives them.
fn include_set_by(
    d: &Path,
    compiler: &str,
    lang: &str,
    args: &[&str],
    source: &str,
) -> (Vec<String>, Vec<String>) {
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(compiler)
            .args(args)
            .args(extra)
            .current_dir(d)
            .output()
            .expect("the compiler runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let search = crate::compiler::gcc::parse_search_list(
        &run(&["-v", "-E", "-x", lang, "/dev/null", "-o", "/dev/null"]).stderr,
    )
    .expect("a search list");
    let files = crate::depfile::prerequisites(&run(&["-M", source]).stdout);
    (files, search)
}

/// A C++ file in `d` reading libstdc++ and glibc headers (about 200 files and 9,000
/// distinct probes in a few hundred directories, most of them missing): its dep file's
/// files and the search list, as g++ itself gives them.
fn libstdcxx_include_set(d: &Path) -> (Vec<String>, Vec<String>) {
    std::fs::create_dir_all(d.join("inc/sub")).unwrap();
    std::fs::write(d.join("inc/sub/local.h"), "#include <map>\n").unwrap();
    std::fs::write(
        d.join("a.cc"),
        "#include <string>\n#include <vector>\n#include <thread>\n#include <cstdio>\n#include \"sub/local.h\"\n",
    )
    .unwrap();
    let (files, search) = include_set_by(
        d,
        "g++",
        "c++",
        &["-Iinc", "-I/nonexistent-cachepot-dir"],
        "a.cc",
    );
    assert!(files.len() > 100, "{files:?}");
    (files, search)
}

/// The memoised probe pass on a real include set ([`libstdcxx_include_set`]).
#[test]
fn probe_pass_matches_probing_one_by_one_on_libstdcxx() {
    let d = std::env::temp_dir().join(format!("cachepot-probereal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let (files, search) = libstdcxx_include_set(&d);
    let start = now_ns() + 1_000_000_000;
    let mut set = record(&files, &search, &d, start, &digest(b"r"), true, &[], None).unwrap();
    let recorded = (set.has_include_present.clone(), set.watches.clone());
    // libstdc++'s wrappers (<cstdlib>'s stdlib.h...) shadow glibc's: some probes exist.
    assert!(!recorded.0.is_empty());
    set.has_include_present.clear();
    assert_eq!(probe_states_one_by_one(&set, &d, &[]), recorded);
    std::fs::remove_dir_all(&d).unwrap();
}

/// With the facts cache, a recording is the same as reading every file: when the cache
/// is filled (the system headers, old enough to be remembered), and when it is used
/// (then those are not read at all). The `__has_include` names in libstdc++'s
/// c++config.h come through it.
#[test]
fn recording_through_the_facts_cache_matches_reading_every_file() {
    let d = std::env::temp_dir().join(format!("cachepot-factsrec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let (files, search) = libstdcxx_include_set(&d.join("w"));
    let (cwd, cache) = (d.join("w"), d.join("cache"));
    let start = now_ns() + 1_000_000_000;
    let rec = |facts: Option<&Path>| {
        let mut set = record(
            &files,
            &search,
            &cwd,
            start,
            &digest(b"r"),
            true,
            &[],
            facts,
        )
        .unwrap();
        set.recorded = 0;
        set
    };
    let read = rec(None);
    assert!(
        read.has_include.iter().any(|n| n == "tbb/tbb.h"),
        "{:?}",
        read.has_include
    );
    assert!(!cache.join("facts-v1").exists());
    assert_eq!(rec(Some(&cache)), read, "filling the cache");
    let packs: Vec<(PathBuf, String)> = walkdir::WalkDir::new(cache.join("facts-v1"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let p = e.into_path();
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    let entries: usize = packs
        .iter()
        .map(|(_, t)| t.lines().filter(|l| l.contains('\t')).count())
        .sum();
    // Every header but the two just written (too recent); never the source. One pack
    // per directory.
    assert_eq!(entries, files.len() - 2, "{files:?}");
    assert!(packs.len() < files.len() / 4, "{}", packs.len());
    assert_eq!(rec(Some(&cache)), read, "using the cache");
    // Used, not just written: an entry says what a header's digest is.
    let h = cwd.join(&files[1]);
    let head_end = format!(" 1 {}\n", h.parent().unwrap().display());
    let (pack, text) = packs
        .iter()
        .find(|(_, t)| {
            t.lines()
                .next()
                .is_some_and(|l| format!("{l}\n").ends_with(&head_end))
        })
        .unwrap();
    let body = text[..text.rfind("sum ").unwrap()].replace(&read.files[1].digest, &"0".repeat(64));
    assert_ne!(&body, &text[..body.len()]);
    std::fs::write(
        pack,
        format!("{body}sum {}\n", digest(body.as_bytes()).hex()),
    )
    .unwrap();
    assert_eq!(rec(Some(&cache)).files[1].digest, "0".repeat(64));
    std::fs::remove_dir_all(&d).unwrap();
}

/// Validity with the watches' `covers` dropped, as a set recorded before them is checked
/// (every probe walked).
fn validate_walking_every_probe(set: &IncludeSet, cwd: &Path, at: i64) -> Validity {
    let mut old = set.clone();
    for w in &mut old.watches {
        w.covers.clear();
    }
    validate_at(&old, cwd, &[], None, at)
}

/// The same outcome, `covers` aside.
fn same_validity(a: &Validity, b: &Validity) -> bool {
    let strip = |s: &IncludeSet| {
        let mut s = s.clone();
        s.watches.iter_mut().for_each(|w| w.covers.clear());
        s
    };
    match (a, b) {
        (Validity::Invalid, Validity::Invalid) | (Validity::Valid, Validity::Valid) => true,
        (Validity::Refreshed(x), Validity::Refreshed(y)) => strip(x) == strip(y),
        _ => false,
    }
}

/// zstd's layout, compiled by gcc: includes spelled `../common/x.h` and `../zstd.h` from
/// `src/compress`, headers found through `-Isrc -Isrc/common`, and probes such as
/// `src/../common/x.h` whose nearest existing directory is the working directory. When
/// a watch changes, the probes its `covers` select decide exactly as a walk through every
/// probe: for a header created at any probe of the set, a directory created on the way
/// to one, and an unrelated file beside them. A change of the working directory alone
/// looks at a few items' probes, not all.
#[test]
fn covers_select_the_probes_a_full_walk_would_check() {
    let d = std::env::temp_dir().join(format!("cachepot-covers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    for sub in ["src/common", "src/compress", "src/legacy"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::fs::write(d.join("src/zstd.h"), "#include <stddef.h>\n").unwrap();
    std::fs::write(
        d.join("src/common/x.h"),
        "#include \"../zstd.h\"\n#include \"y.h\"\n#include <string.h>\n",
    )
    .unwrap();
    std::fs::write(d.join("src/common/y.h"), "int y;\n").unwrap();
    std::fs::write(d.join("src/legacy/z.h"), "int z;\n").unwrap();
    std::fs::write(
        d.join("src/compress/a.c"),
        "#include \"../common/x.h\"\n#include \"z.h\"\n",
    )
    .unwrap();
    let args = ["-Isrc", "-Isrc/common", "-Isrc/legacy"];
    let (files, search) = include_set_by(&d, "gcc", "c", &args, "src/compress/a.c");
    assert!(
        files.iter().any(|f| f.contains("../common/x.h")),
        "{files:?}"
    );
    let start = now_ns() + 1_000_000_000;
    let set = record(&files, &search, &d, start, &digest(b"r"), true, &[], None).unwrap();
    assert!(set.watches.iter().all(|w| !w.covers.is_empty()));
    let later = now_ns() + 10 * RACY_NS;
    let Validity::Refreshed(set) = validate_at(&set, &d, &[], None, later) else {
        panic!("racy watches are re-proven and refreshed");
    };
    let check = |what: &str, expect_invalid: bool| {
        let a = validate_at(&set, &d, &[], None, later);
        let b = validate_walking_every_probe(&set, &d, later);
        assert!(same_validity(&a, &b), "{what}: {a:?} against {b:?}");
        assert_eq!(
            matches!(a, Validity::Invalid),
            expect_invalid,
            "{what}: {a:?}"
        );
    };
    // The working directory changes: only the items with probes below it are walked.
    std::fs::create_dir(d.join("obj")).unwrap();
    check("a new directory in the working directory", false);
    let dot = HashMap::from([(".", None)]);
    let only = validate::covered_by(&set, &dot).expect("every watch has covers");
    let walk = |only: Option<&[u8]>| {
        let lexical_files: Vec<String> = set.files.iter().map(|f| lexical(&f.path)).collect();
        let lexical_dirs: Vec<String> = set.search_dirs.iter().map(|d| lexical(d)).collect();
        let mut n = 0;
        let _ = for_each_probe(&set, &lexical_files, &lexical_dirs, only, |_| {
            n += 1;
            ControlFlow::Continue(())
        });
        n
    };
    let (walked, all) = (walk(Some(&only)), walk(None));
    assert!(walked > 0 && walked * 10 < all, "{walked} of {all} probes");
    // Every probe below the test directory: created, it invalidates under both.
    let probes: Vec<String> = probes(&set)
        .into_iter()
        .filter(|(p, exists)| !exists && !p.starts_with('/'))
        .map(|(p, _)| lexical(&p))
        .filter(|p| !p.starts_with(".."))
        .collect();
    assert!(probes.len() > 10, "{probes:?}");
    for p in &probes {
        let path = d.join(p);
        let mut made = Vec::new();
        let mut dir = path.parent().unwrap().to_path_buf();
        while !dir.exists() {
            made.push(dir.clone());
            dir.pop();
        }
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if !made.is_empty() {
            // A directory on the way to a probe, before the probe itself.
            check(&format!("a directory on the way to {p}"), false);
        }
        std::fs::write(&path, "int shadow;\n").unwrap();
        check(&format!("a header at {p}"), true);
        std::fs::remove_file(&path).unwrap();
        for m in &made {
            std::fs::remove_dir(m).unwrap();
        }
        // An unrelated file in its nearest existing directory.
        let beside = dir.join("unrelated-cachepot-test");
        std::fs::write(&beside, "").unwrap();
        check(&format!("an unrelated file beside {p}"), false);
        std::fs::remove_file(&beside).unwrap();
    }
    std::fs::remove_dir_all(&d).unwrap();
}
