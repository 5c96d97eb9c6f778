use super::*;
use std::collections::BTreeMap;

#[test]
fn scans_time_tokens_and_has_include() {
    let s = scan(b"#if __has_include(<a/b.h>)\n#ifdef __has_include\n# if __has_include (\"x.h\")\nconst char *d = __DATE__;");
    assert!(s.date && !s.time && !s.timestamp && !s.computed_has_include);
    assert_eq!(s.has_include, ["a/b.h", "x.h"]);
    assert!(scan(b"__has_include(MACRO)").computed_has_include);
    // A macro defined as the operator is an alias, whose calls `record` looks for.
    let s = scan(b"#define HI __has_include\n#if HI(<opt.h>)\n");
    assert!(
        !s.computed_has_include
            && s.has_include_aliases.len() == 1
            && s.has_include_aliases[0].name == "HI"
    );
    // Passed on through a macro, or a comment before the `(`: computed.
    assert!(scan(b"#define HI __has_include && 1\n").computed_has_include);
    // Line continuations are spliced first, as the preprocessor does: inside the
    // operator's name or before its `(`, the call is a plain one.
    for split in [
        &b"#if __has_include \\\n(<opt.h>)\n"[..],
        b"#if __has_\\\ninclude(<opt.h>)\n",
    ] {
        let s = scan(split);
        assert!(!s.computed_has_include && s.has_include == ["opt.h"]);
    }
    assert!(scan(b"#if __has_include /**/ (<opt.h>)\n").computed_has_include);
    // Only testing that the operator exists: not computed.
    for ok in [
        &b"#ifdef __has_include\n"[..],
        b"#ifndef __has_include\n",
        b"#if defined(__has_include) && defined __has_include_next\n",
        b"#endif // __has_include\n",
        b"/* incorrect macro expansion of the\n   __has_include argument */\n",
    ] {
        assert!(
            !scan(ok).computed_has_include,
            "{}",
            String::from_utf8_lossy(ok)
        );
    }
    assert!(scan(b"x = __TIME__;").time);
    assert!(scan(b"__TIMESTAMP__").timestamp);
}

#[test]
fn first_include_before_any_token() {
    assert_eq!(
        first_include(b"// c\n/* x\n y */\n#define A 1\n#include \"pch.h\"\nint x;").as_deref(),
        Some("pch.h")
    );
    assert_eq!(
        first_include(b"#include <stdio.h>\n").as_deref(),
        Some("stdio.h")
    );
    assert_eq!(first_include(b"int x;\n#include \"a.h\"\n"), None);
}

#[test]
fn manifest_caps_and_replaces() {
    let set = |r: &str, n: usize| IncludeSet {
        result: r.into(),
        recorded: 0,
        files: vec![
            FileRec {
                path: "a".into(),
                size: 0,
                mtime: 0,
                ctime: 0,
                digest: String::new(),
                dev: 0,
                ino: 0
            };
            n
        ],
        search_dirs: vec![],
        watches: vec![],
        has_include: vec![],
        has_include_present: vec![],
        date: None,
        timestamp: false,
        env: vec![],
        absent: vec![],
        file_macro_cwd: None,
    };
    let mut m = Manifest::default();
    for i in 0..150 {
        m.add(set(&i.to_string(), 1));
    }
    assert_eq!(m.sets.len(), MAX_SETS);
    assert_eq!(m.sets[0].result, "149");
    m.add(set("149", 1));
    assert_eq!(m.sets.len(), MAX_SETS);
    m.add(set("big", MAX_FILES));
    assert_eq!(m.sets.len(), 1);
    let round = Manifest::decode(&m.encode()).unwrap();
    assert_eq!(round.sets, m.sets);
}

#[test]
fn shadowing_header_invalidates() {
    let d = std::env::temp_dir().join(format!("cachepot-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("inc1")).unwrap();
    std::fs::create_dir_all(d.join("inc2")).unwrap();
    std::fs::create_dir_all(d.join("src")).unwrap();
    std::fs::write(d.join("src/a.c"), "#include \"foo.h\"\n").unwrap();
    std::fs::write(d.join("inc2/foo.h"), "int x;\n").unwrap();
    let files = vec!["src/a.c".to_string(), "inc2/foo.h".to_string()];
    let search = vec!["inc1".to_string(), "inc2".to_string()];
    let set = record(
        &files,
        &search,
        &d,
        now_ns() + 1_000_000_000,
        &digest(b"r"),
        true,
        &[],
        None,
    )
    .unwrap();
    assert!(still_valid(&set, &d, &[], None));
    // An unrelated new file in inc1 is fine.
    std::fs::write(d.join("inc1/other.h"), "").unwrap();
    assert!(still_valid(&set, &d, &[], None));
    std::fs::write(d.join("inc1/foo.h"), "int y;\n").unwrap();
    assert!(!still_valid(&set, &d, &[], None));
    std::fs::remove_file(d.join("inc1/foo.h")).unwrap();
    assert!(still_valid(&set, &d, &[], None));
    // Beside the source, for quoted includes.
    std::fs::write(d.join("src/foo.h"), "int z;\n").unwrap();
    assert!(!still_valid(&set, &d, &[], None));
    std::fs::remove_file(d.join("src/foo.h")).unwrap();
    // Content change of a recorded file.
    std::fs::write(d.join("inc2/foo.h"), "int q;\n").unwrap();
    assert!(!still_valid(&set, &d, &[], None));
    std::fs::remove_dir_all(&d).unwrap();
}

/// What validating `set` in `d` at `now` concludes (no base dirs, no digest cache), as a
/// word an assertion's message shows.
fn verdict(set: &IncludeSet, d: &Path, now: i64) -> &'static str {
    match validate_at(set, d, &[], None, now) {
        Validity::Valid => "valid",
        Validity::Invalid => "invalid",
        Validity::Refreshed(_) => "refreshed",
    }
}

/// A layout with `src/a.c` including `foo.h` from `inc2`, searched after `inc1`, and a
/// search dir `inc1/sub` that does not exist yet. Returns the dir and the recorded set.
fn shadow_layout(name: &str) -> (PathBuf, IncludeSet) {
    let d = std::env::temp_dir().join(format!("cachepot-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    for sub in ["inc1", "inc2", "src"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::fs::write(d.join("src/a.c"), "#include \"foo.h\"\n").unwrap();
    std::fs::write(d.join("inc2/foo.h"), "int x;\n").unwrap();
    let files = ["src/a.c".to_string(), "inc2/foo.h".to_string()];
    let search = ["inc1/sub", "inc1", "inc2"].map(String::from);
    let start = now_ns() + 1_000_000_000;
    let set = record(&files, &search, &d, start, &digest(b"r"), true, &[], None).unwrap();
    (d, set)
}

#[test]
fn a_changed_watch_is_refreshed_and_still_guards_its_probes() {
    let (d, set) = shadow_layout("refresh");
    // Checks made well after every change below (outside the racy window).
    let later = now_ns() + 10 * RACY_NS;
    // Just recorded, every watch is within the racy window of the recording: checked by
    // its probes, then refreshed; after that, nothing changed.
    let Validity::Refreshed(set) = validate_at(&set, &d, &[], None, later) else {
        panic!("racy watches are re-proven and refreshed");
    };
    assert_eq!(verdict(&set, &d, later), "valid");
    // An unrelated file changes inc1: the probes hold, and inc1's new stat is kept.
    std::fs::write(d.join("inc1/other.h"), "").unwrap();
    let Validity::Refreshed(fresh) = validate_at(&set, &d, &[], None, later) else {
        panic!("a changed watch whose probes hold is refreshed");
    };
    assert_eq!(fresh.recorded, later);
    let inc1 = fresh.watches.iter().find(|w| w.path == "inc1").unwrap();
    assert_eq!(
        Some((inc1.mtime, inc1.ctime)),
        stat_ns(&d.join("inc1")).map(|(_, m, c)| (m, c))
    );
    assert_eq!(verdict(&fresh, &d, later + RACY_NS), "valid");
    // The refreshed watch still sees a shadowing header appear.
    std::fs::write(d.join("inc1/foo.h"), "int y;\n").unwrap();
    assert_eq!(verdict(&fresh, &d, later + RACY_NS), "invalid");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_new_directory_under_a_watch_stops_its_refresh() {
    let (d, set) = shadow_layout("refresh-sub");
    let later = now_ns() + 10 * RACY_NS;
    // inc1/sub did not exist: inc1 stands for its probes. Once it exists, a header created
    // in it would not change inc1, so inc1 must not be refreshed.
    std::fs::create_dir(d.join("inc1/sub")).unwrap();
    assert_eq!(verdict(&set, &d, later), "valid");
    std::fs::write(d.join("inc1/sub/foo.h"), "int s;\n").unwrap();
    assert_eq!(verdict(&set, &d, later), "invalid");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_watch_changed_within_the_racy_window_is_not_refreshed() {
    let (d, set) = shadow_layout("refresh-racy");
    std::fs::write(d.join("inc1/other.h"), "").unwrap();
    // Checked right now: inc1's new stat may hide a second change in the same tick.
    assert!(matches!(validate(&set, &d, &[], None), Validity::Valid));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_header_appearing_in_a_watched_subdirectory_of_a_search_dir_invalidates() {
    // `#include "sub/foo.h"` found in inc2 behind -Iinc1: the probe inc1/sub/foo.h is
    // named as (inc1, sub/foo.h) and watched by inc1/sub, deeper than inc1.
    let d = std::env::temp_dir().join(format!("cachepot-man-sub-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    for sub in ["inc1/sub", "inc2/sub", "src"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    let src = "#include \"sub/foo.h\"\n#include \"bar.h\"\n";
    std::fs::write(d.join("src/a.c"), src).unwrap();
    std::fs::write(d.join("inc2/sub/foo.h"), "int x;\n").unwrap();
    std::fs::write(d.join("inc2/bar.h"), "int b;\n").unwrap();
    let files = ["src/a.c", "inc2/sub/foo.h", "inc2/bar.h"].map(String::from);
    let search = ["inc1", "inc2"].map(String::from);
    let start = now_ns() + 1_000_000_000;
    let set = record(&files, &search, &d, start, &digest(b"r"), true, &[], None).unwrap();
    // Both inc1 (for inc1/bar.h) and inc1/sub are watched.
    assert!(set.watches.iter().any(|w| w.path == "inc1/sub"));
    assert!(set.watches.iter().any(|w| w.path == "inc1"));
    let later = now_ns() + 10 * RACY_NS;
    let Validity::Refreshed(set) = validate_at(&set, &d, &[], None, later) else {
        panic!("racy watches are re-proven and refreshed");
    };
    std::fs::write(d.join("inc1/sub/foo.h"), "int y;\n").unwrap();
    assert_eq!(verdict(&set, &d, later + RACY_NS), "invalid");
    std::fs::remove_dir_all(&d).unwrap();
}

/// zstd's layout: `#include "../common/x.h"` from `src/lib`, so the dep file names an
/// includer directory spelled with `..`, and the build changes the working directory
/// (it creates `obj`). The includer's probes are found under `src/common`, its lexical
/// form: a header created there still invalidates once the working directory changed.
#[test]
fn an_includer_spelled_with_dotdot_still_guards_its_probes_after_the_cwd_changes() {
    let d = std::env::temp_dir().join(format!("cachepot-man-dotdot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    for sub in ["src/lib", "src/common", "inc"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::fs::write(d.join("src/lib/a.c"), "#include \"../common/x.h\"\n").unwrap();
    std::fs::write(d.join("src/common/x.h"), "#include \"y.h\"\n").unwrap();
    std::fs::write(d.join("inc/y.h"), "int y;\n").unwrap();
    let files = ["src/lib/a.c", "src/lib/../common/x.h", "inc/y.h"].map(String::from);
    let search = ["inc".to_string()];
    let start = now_ns() + 1_000_000_000;
    let set = record(&files, &search, &d, start, &digest(b"r"), true, &[], None).unwrap();
    assert!(
        set.watches.iter().any(|w| w.path == "src/common"),
        "{:?}",
        set.watches
    );
    let later = now_ns() + 10 * RACY_NS;
    let Validity::Refreshed(set) = validate_at(&set, &d, &[], None, later) else {
        panic!("racy watches are re-proven and refreshed");
    };
    std::fs::create_dir(d.join("obj")).unwrap();
    assert_ne!(verdict(&set, &d, later + RACY_NS), "invalid");
    std::fs::write(d.join("src/common/y.h"), "int shadow;\n").unwrap();
    assert_eq!(verdict(&set, &d, later + RACY_NS), "invalid");
    std::fs::remove_dir_all(&d).unwrap();
}

/// The includer's directory `src/lib/../common` where `src/lib` is a symlink: the
/// compiler searches `<target of src/lib>/../common`, which no lexical watch covers (a
/// header created there went unseen: a wrong hit). Such a compile is not recorded.
/// `..` after a missing name or a file resolves to nothing and is taken as written.
#[test]
fn dotdot_after_a_symlink_is_not_recorded() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    for sub in ["real/lib", "real/common", "proj/src", "proj/inc"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::os::unix::fs::symlink(d.join("real/lib"), d.join("proj/src/lib")).unwrap();
    std::fs::write(d.join("real/lib/a.c"), "#include \"../common/x.h\"\n").unwrap();
    std::fs::write(d.join("real/common/x.h"), "#include \"y.h\"\n").unwrap();
    std::fs::write(d.join("proj/inc/y.h"), "int y;\n").unwrap();
    std::fs::write(d.join("proj/afile"), "").unwrap();
    let cwd = d.join("proj");
    let files = ["src/lib/a.c", "src/lib/../common/x.h", "inc/y.h"].map(String::from);
    let search = ["inc".to_string()];
    let start = now_ns() + 1_000_000_000;
    let r = record(&files, &search, &cwd, start, &digest(b"r"), true, &[], None);
    assert!(matches!(r, Err(NotRecordable::PhysicalDotDot(_))), "{r:?}");
    let search = ["src/lib/../../inc".to_string(), "inc".to_string()];
    let files = ["src/lib/a.c", "inc/y.h"].map(String::from);
    let r = record(&files, &search, &cwd, start, &digest(b"r"), true, &[], None);
    assert!(matches!(r, Err(NotRecordable::PhysicalDotDot(_))), "{r:?}");
    // `..` after real directories, missing names and files, and above the working
    // directory, is as written.
    std::fs::write(cwd.join("main.c"), "#include \"y.h\"\n").unwrap();
    let files = ["main.c", "inc/y.h"].map(String::from);
    for dir in ["missing/../inc", "afile/../inc"] {
        let search = [dir.to_string(), "inc".to_string()];
        let r = record(&files, &search, &cwd, start, &digest(b"r"), true, &[], None);
        assert!(r.is_ok(), "{dir}: {r:?}");
    }
    assert!(dotdot_is_lexical(&cwd, "inc/../src/../inc"));
    assert!(dotdot_is_lexical(&cwd, "../proj/inc"));
    assert!(dotdot_is_lexical(&cwd, "/usr/../usr/include"));
    assert!(!dotdot_is_lexical(&cwd, "src/lib/../common"));
}

#[test]
fn a_manifest_recorded_at_any_time_validates_without_overflow() {
    // `recorded - RACY_NS` overflowed for a stored i64::MIN (seen reviewing the
    // manifest decoder for fuzzing: a decoded manifest may hold any number).
    let d = std::env::temp_dir().join(format!("cachepot-man3-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("a.c"), "int a;").unwrap();
    let mut set = record(
        &["a.c".to_string()],
        &[],
        &d,
        now_ns() + 1_000_000_000,
        &digest(b"r"),
        true,
        &[],
        None,
    )
    .unwrap();
    set.watches.push(DirRec {
        path: ".".into(),
        mtime: 0,
        ctime: 0,
        covers: Vec::new(),
    });
    for recorded in [i64::MIN, i64::MAX] {
        set.recorded = recorded;
        // Valid by content either way: the digest still matches.
        assert!(still_valid(&set, &d, &[], None), "recorded {recorded}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn files_modified_after_start_are_not_recorded() {
    let d = std::env::temp_dir().join(format!("cachepot-man2-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("a.c"), "int a;").unwrap();
    let r = record(
        &["a.c".to_string()],
        &[],
        &d,
        0,
        &digest(b"r"),
        true,
        &[],
        None,
    );
    assert!(matches!(r, Err(NotRecordable::ModifiedDuringCompile(_))));
    std::fs::remove_dir_all(&d).unwrap();
}

/// An alias of `__has_include` defined in one header and called in another (listed
/// first): its literal arguments are probed like direct calls; any other use of it makes
/// the set unrecordable.
#[test]
fn has_include_aliases_are_followed_across_files() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let write = |name: &str, text: &str| std::fs::write(d.join(name), text).unwrap();
    write("a.c", "#include \"use.h\"\n");
    write(
        "def.h",
        "#ifdef __has_include\n#define HI __has_include\n#else\n#define HI(x) 0\n#endif\n",
    );
    let files = ["a.c", "use.h", "def.h"].map(String::from);
    let start = now_ns() + 10_000_000_000;
    for (use_h, want) in [
        (
            "#if HI(<opt.h>)\n#endif\n#if HI(\"sub/loc.h\")\n#endif\n",
            Some(vec!["opt.h", "sub/loc.h", "use.h.gch"]),
        ),
        ("#if HI(NAME)\n#endif\n", None),
        ("#define MORE HI\n", None),
    ] {
        write("use.h", use_h);
        let r = record(
            &files,
            &["inc".to_string()],
            d,
            start,
            &digest(b"r"),
            true,
            &[],
            None,
        );
        match want {
            Some(names) => assert_eq!(r.expect("recordable").has_include, names, "{use_h:?}"),
            None => assert_eq!(
                r.unwrap_err(),
                NotRecordable::ComputedHasInclude("use.h".into()),
                "{use_h:?}"
            ),
        }
    }
}

fn sample_manifest() -> Manifest {
    let set = |r: &str| IncludeSet {
        result: r.into(),
        recorded: -5,
        files: vec![FileRec {
            path: "inc/a.h".into(),
            size: 12,
            mtime: 1_700_000_000_123_456_789,
            ctime: i64::MIN,
            digest: "ab".repeat(32),
            dev: u64::MAX,
            ino: 7,
        }],
        search_dirs: vec!["inc".into(), "/usr/include".into()],
        watches: vec![DirRec {
            path: "inc".into(),
            mtime: 1,
            ctime: 2,
            covers: vec![0b11, 0b101],
        }],
        has_include: vec!["x.h".into()],
        has_include_present: vec![],
        date: Some("Nov 25 2026".into()),
        timestamp: true,
        env: vec![("A".into(), None), ("B".into(), Some("é\n".into()))],
        absent: vec!["src/m/mod.rs".into()],
        file_macro_cwd: None,
    };
    Manifest {
        sets: vec![set(&"1".repeat(64)), set(&"2".repeat(64))],
    }
}

/// A (hostile) set naming a device of the recorded size 0 is invalid at once; its
/// digest would otherwise be read from /dev/zero without end.
#[test]
fn a_set_naming_a_device_is_invalid_without_reading_it() {
    let mut set = sample_manifest().sets[0].clone();
    set.date = None;
    set.timestamp = false;
    set.env.clear();
    set.absent.clear();
    set.watches.clear();
    set.files[0].path = "/dev/zero".into();
    set.files[0].size = 0;
    assert!(!still_valid(&set, Path::new("/"), &[], None));
}

#[test]
fn binary_manifest_round_trips_and_rejects_garbage() {
    let m = sample_manifest();
    let raw = m.encode();
    assert_eq!(Manifest::decode(&raw).unwrap().sets, m.sets);
    // Every proper prefix is malformed, and so is trailing garbage.
    for n in 0..raw.len() {
        assert!(Manifest::decode(&raw[..n]).is_none(), "prefix {n}");
    }
    let mut longer = raw.clone();
    longer.push(0);
    assert!(Manifest::decode(&longer).is_none());
    // A forged set count is refused before anything is reserved.
    let mut forged = raw.clone();
    forged[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(Manifest::decode(&forged).is_none());
    // An empty manifest, and the JSON form of earlier versions, still decode.
    assert!(Manifest::decode(&Manifest::default().encode())
        .unwrap()
        .sets
        .is_empty());
    let json = serde_json::to_vec(&m).unwrap();
    assert_eq!(Manifest::decode(&json).unwrap().sets, m.sets);
    // The "CPM1" form decodes with empty `covers` (every probe is walked then).
    let mut v1 = m.clone();
    for w in v1.sets.iter_mut().flat_map(|s| &mut s.watches) {
        w.covers.clear();
    }
    let old = codec::encode_v1(&m);
    assert_eq!(&old[..4], b"CPM1");
    assert_eq!(Manifest::decode(&old).unwrap().sets, v1.sets);
    for n in 0..old.len() {
        assert!(Manifest::decode(&old[..n]).is_none(), "v1 prefix {n}");
    }
}

/// The preprocessor-mode mark: kept through the binary encoding and by later `add`s,
/// never accepted by a lookup (not even with no files to check), and rejected by
/// versions that predate it through its date.
#[test]
fn the_preprocessor_mode_mark_never_validates() {
    let mut m = sample_manifest();
    assert!(!m.preprocessor_only());
    m.mark_preprocessor_only();
    m.mark_preprocessor_only();
    assert_eq!(
        m.sets
            .iter()
            .filter(|s| s.result == PREPROCESS_MARK)
            .count(),
        1
    );
    let mut m = Manifest::decode(&m.encode()).expect("round trip");
    assert!(m.preprocessor_only());
    m.add(sample_manifest().sets.remove(0));
    assert!(m.preprocessor_only(), "a later set keeps the mark");
    let mark = m.sets.iter().find(|s| s.result == PREPROCESS_MARK).unwrap();
    assert!(mark.files.is_empty() && mark.watches.is_empty());
    assert!(!still_valid(mark, Path::new("/"), &[], None));
    let mut unmarked = mark.clone();
    unmarked.result = "0".repeat(64);
    assert!(
        !still_valid(&unmarked, Path::new("/"), &[], None),
        "its date alone must make it invalid"
    );
}

mod probes;
