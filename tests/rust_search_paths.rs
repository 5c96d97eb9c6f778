//! rustc called directly (build systems other than cargo): files found by searching `-L`
//! directories, the working directory the crate metadata records, remapped paths, and an
//! absolute crate root under a base dir. Each case changes something the command line
//! does not show and checks that cachepot misses (it used to hit) and that an unchanged
//! command still hits.

mod common;

use common::*;
use std::path::Path;

fn have_rustc() -> bool {
    require_tool("rustc") && require_tool("gcc") && require_tool("ar")
}

fn rustc_in(s: &Sandbox, dir: &Path, args: &[&str]) {
    let mut all = vec!["rustc"];
    all.extend(args);
    let out = s.cachepot_in(dir, &all);
    s.assert_success(&out, &format!("cachepot rustc {}", args.join(" ")));
}

/// Builds `dir/libnative.a` whose `native_value()` returns `value`.
fn native_lib(s: &Sandbox, dir: &str, value: i32) {
    std::fs::create_dir_all(s.path(dir)).unwrap();
    s.write(
        &format!("{dir}/native.c"),
        format!("int native_value(void) {{ return {value}; }}\n"),
    );
    let cc = s.bare(
        "gcc",
        &[
            "-c",
            &format!("{dir}/native.c"),
            "-o",
            &format!("{dir}/native.o"),
        ],
    );
    s.assert_success(&cc, "gcc native.c");
    let _ = std::fs::remove_file(s.path(&format!("{dir}/libnative.a")));
    let ar = s.bare(
        "ar",
        &[
            "rcs",
            &format!("{dir}/libnative.a"),
            &format!("{dir}/native.o"),
        ],
    );
    s.assert_success(&ar, "ar");
}

/// `#[link(kind = "static")]` bundles `libnative.a` from a `-L native=` dir into the rlib
/// without the command line naming it.
#[test]
fn static_library_named_in_the_source_is_keyed() {
    if !have_rustc() {
        return;
    }
    let s = Sandbox::for_cargo();
    s.write(
        "lib.rs",
        "#[link(name = \"native\", kind = \"static\")]\n\
         extern \"C\" { fn native_value() -> i32; }\n\
         pub fn value() -> i32 { unsafe { native_value() } }\n",
    );
    let args = [
        "--crate-type",
        "rlib",
        "--crate-name",
        "uses_native",
        "lib.rs",
    ];
    let args: Vec<&str> = args
        .into_iter()
        .chain(["--out-dir", "out", "-L", "native=nat"])
        .collect();
    native_lib(&s, "nat", 1);
    rustc_in(&s, &s.work, &args);
    rustc_in(&s, &s.work, &args);
    assert_eq!(s.stat("cache_hits"), 1, "unchanged: a hit");
    native_lib(&s, "nat", 2);
    rustc_in(&s, &s.work, &args);
    assert_eq!(
        s.stat("cache_hits"),
        1,
        "a changed static library must miss"
    );
    // A `dependency=` dir is not searched for native libraries: a second copy there with
    // other content must neither be keyed nor used.
    native_lib(&s, "dep", 3);
    rustc_in(
        &s,
        &s.work,
        &[&args[..], &["-L", "dependency=dep"]].concat(),
    );
    rustc_in(
        &s,
        &s.work,
        &[&args[..], &["-L", "dependency=dep"]].concat(),
    );
    assert_eq!(s.stat("cache_hits"), 2);
}

/// `extern crate dep;` resolved through `-L deps` (no `--extern` path): the crate file
/// found there is part of the key.
#[test]
fn crate_found_through_a_search_dir_is_keyed() {
    if !have_rustc() {
        return;
    }
    let s = Sandbox::for_cargo();
    std::fs::create_dir(s.path("deps")).unwrap();
    let build_dep = |value: u32| {
        s.write("dep.rs", format!("pub const X: u32 = {value};\n"));
        let out = s.bare(
            "rustc",
            &[
                "--crate-type",
                "rlib",
                "--crate-name",
                "dep",
                "dep.rs",
                "--out-dir",
                "deps",
            ],
        );
        s.assert_success(&out, "rustc dep.rs");
    };
    s.write(
        "user.rs",
        "extern crate dep;\npub fn x() -> u32 { dep::X }\n",
    );
    let args = [
        "--edition",
        "2021",
        "--crate-type",
        "rlib",
        "--crate-name",
        "user",
        "user.rs",
        "-L",
        "deps",
        "--out-dir",
        "out",
    ];
    build_dep(1);
    rustc_in(&s, &s.work, &args);
    rustc_in(&s, &s.work, &args);
    assert_eq!(s.stat("cache_hits"), 1);
    build_dep(2);
    rustc_in(&s, &s.work, &args);
    assert_eq!(
        s.stat("cache_hits"),
        1,
        "a changed crate in the search dir must miss"
    );
}

/// The crate metadata records the working directory even without debug info, and a
/// `--remap-path-prefix` that does not cover it leaves it as it is: two directories with
/// the same relative command must not share a result.
#[test]
fn working_directory_is_keyed_unless_remapped() {
    if !have_rustc() {
        return;
    }
    let s = Sandbox::for_cargo();
    for d in ["a", "b"] {
        std::fs::create_dir(s.path(d)).unwrap();
        s.write(
            &format!("{d}/lib.rs"),
            "pub fn f(x: Option<u8>) -> u8 { x.unwrap() }\n",
        );
    }
    let base = [
        "--crate-type",
        "rlib",
        "--crate-name",
        "t",
        "lib.rs",
        "--out-dir",
        "out",
    ];
    let unrelated = [&base[..], &["-g", "--remap-path-prefix=/nonexistent=/x"]].concat();
    for args in [&base[..], &unrelated[..]] {
        for d in ["a", "b"] {
            rustc_in(&s, &s.path(d), args);
        }
    }
    assert_eq!(s.stat("cache_hits"), 0, "each directory records itself");
    rustc_in(&s, &s.path("a"), &unrelated);
    assert_eq!(s.stat("cache_hits"), 1, "the same directory again: a hit");
}

/// An absolute crate root under a base dir: panic locations and `file!()` embed it, so
/// two checkouts must not share the result.
#[test]
fn absolute_crate_root_under_a_base_dir_is_not_shared() {
    if !have_rustc() {
        return;
    }
    let mut s = Sandbox::for_cargo();
    let base = s.work.clone();
    s.set_env("CACHEPOT_BASEDIR", &base);
    for d in ["co1", "co2"] {
        std::fs::create_dir(s.path(d)).unwrap();
        s.write(
            &format!("{d}/lib.rs"),
            "pub fn here() -> &'static str { file!() }\n",
        );
        let root = s.path(&format!("{d}/lib.rs"));
        let root = root.to_str().unwrap();
        let args = [
            "--crate-type",
            "rlib",
            "--crate-name",
            "fm",
            root,
            "--out-dir",
            "out",
        ];
        rustc_in(&s, &s.path(d), &args);
        let rlib = std::fs::read(s.path(&format!("{d}/out/libfm.rlib"))).unwrap();
        let found = rlib.windows(root.len()).any(|w| w == root.as_bytes());
        assert!(found, "the rlib of {d} must name {root}");
    }
    assert_eq!(s.stat("cache_hits"), 0);
}

/// rustc colours its diagnostics only on a terminal, and cachepot reads them through a
/// pipe: on a terminal (a pseudo-terminal from `script`) a miss and a hit must both show
/// colour, as bare rustc does.
#[test]
fn diagnostics_keep_their_colour_on_a_terminal() {
    if !have_rustc() || !require_tool("script") {
        return;
    }
    let s = Sandbox::for_cargo();
    s.write("w.rs", "pub fn f() { let x = 1; }\n");
    let cmd = format!("{CACHEPOT} rustc --crate-type lib --crate-name w w.rs --out-dir out");
    for round in ["miss", "hit"] {
        let mut script = s.command("script");
        script
            .env("TERM", "xterm")
            .args(["-qec", &cmd, "/dev/null"]);
        let out = run(&mut script);
        s.assert_success(&out, "script");
        let text = lossy(&out.stdout);
        assert!(text.contains("unused variable"), "{round}: {text}");
        assert!(text.contains("\u{1b}["), "{round}: no colour: {text:?}");
    }
    assert_eq!(s.stat("cache_hits"), 1);
}

/// rustc's dep-info escapes only spaces: `include_str!("a$$b.txt")` is listed as
/// `a$$b.txt`, which make's rules would read as `a$b.txt` (here a decoy that never
/// changes). Editing the real file must miss; leaving it alone must hit.
#[test]
fn double_dollar_file_name_in_dep_info() {
    if !have_rustc() {
        return;
    }
    let s = Sandbox::for_cargo();
    s.write(
        "lib.rs",
        "pub fn v() -> &'static str { include_str!(\"a$$b.txt\") }\n",
    );
    s.write("a$b.txt", "decoy");
    let args = [
        "--crate-type",
        "rlib",
        "--crate-name",
        "dd",
        "lib.rs",
        "--out-dir",
        "out",
    ];
    s.write("a$$b.txt", "one");
    rustc_in(&s, &s.work, &args);
    rustc_in(&s, &s.work, &args);
    assert_eq!(s.stat("cache_hits"), 1, "recorded and hit: {}", s.stats());
    s.write("a$$b.txt", "two");
    rustc_in(&s, &s.work, &args);
    assert_eq!(s.stat("cache_hits"), 1, "the edited file must miss");
}
