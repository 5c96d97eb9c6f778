//! `cachepot clang-cl ...` (MSVC command-line syntax), black box, with the real clang-cl
//! (clang-cl 14 on Debian; `clang-cl` or `clang-cl-14` on PATH). A logging shim named
//! after the compiler is first on PATH, so a direct hit can be shown to run no process.
//!
//! Every object is made with `/Brepro` (else it carries the time of the compile) and
//! compared byte for byte with what the bare clang-cl writes for the same command in the
//! same directory. Sources include no system header: there is no Windows SDK here.

#[macro_use]
mod common;

use common::*;
use std::ffi::OsString;
use std::path::Path;

/// The clang-cl on PATH (a loud skip when there is none, a failure under CI).
fn clang_cl() -> Option<&'static str> {
    if which("clang-cl").is_some() {
        return Some("clang-cl");
    }
    require_tool("clang-cl-14").then_some("clang-cl-14")
}

/// A sandbox with a logging shim of the compiler first on PATH.
struct World {
    s: Sandbox,
    cc: &'static str,
    shim: Shim,
}

impl World {
    fn new() -> Option<World> {
        let cc = clang_cl()?;
        let mut s = Sandbox::new();
        let shim = s.shim(cc);
        let mut path = OsString::from(shim.dir.as_os_str());
        path.push(":");
        path.push(s.env_value("PATH").expect("PATH is set"));
        s.set_env("PATH", path);
        Some(World { s, cc, shim })
    }

    /// `cachepot <clang-cl> args`, asserting success.
    fn cached(&self, args: &[&str]) -> std::process::Output {
        self.s.compile(self.cc, args)
    }

    /// The bare compiler with the same arguments, asserting success.
    fn bare(&self, args: &[&str]) -> std::process::Output {
        let out = self.s.bare(self.cc, args);
        self.s.assert_success(&out, "bare clang-cl");
        out
    }

    /// Runs the bare compiler writing `obj`, keeps its bytes, removes the file.
    fn bare_object(&self, args: &[&str], obj: &str) -> Vec<u8> {
        self.bare(args);
        let data = self.s.read(obj);
        self.s.remove(obj);
        data
    }

    fn runs(&self) -> usize {
        self.shim.runs().len()
    }

    fn stats(&self) -> serde_json::Value {
        let v = self.s.stats();
        assert_stats_consistent(&v);
        v
    }

    fn hits(&self) -> u64 {
        stat_of(&self.stats(), "cache_hits")
    }

    fn misses(&self) -> u64 {
        stat_of(&self.stats(), "cache_misses")
    }

    fn reason(&self, name: &str) -> u64 {
        map_count(&self.stats(), "non_cacheable_reasons", name)
    }

    /// `main.c` including `inc/value.h` (by `<>`) and `local.h` (by `""`), which includes
    /// `nested.h`.
    fn project(&self) {
        self.s.write(
            "main.c",
            "#include \"local.h\"\n#include <value.h>\nint get(void) { return VALUE + LOCAL; }\n",
        );
        self.s
            .write("local.h", "#include \"nested.h\"\n#define LOCAL NESTED\n");
        self.s.write("nested.h", "#define NESTED 10\n");
        self.s.write("inc/value.h", "#define VALUE 1\n");
    }
}

const BASE: &[&str] = &["/c", "/Brepro", "/Iinc", "main.c"];

fn with(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = BASE.to_vec();
    v.extend_from_slice(extra);
    v
}

#[test]
fn miss_then_hit_matches_bare_and_runs_nothing() {
    let Some(w) = World::new() else { return };
    w.project();
    let want = w.bare_object(BASE, "main.obj");
    w.cached(BASE);
    assert_eq!(w.s.read("main.obj"), want, "miss: object differs from bare");
    w.s.remove("main.obj");
    let before = w.runs();
    let out = w.cached(BASE);
    assert_eq!(w.runs(), before, "a direct hit ran the compiler");
    assert_eq!(w.s.read("main.obj"), want, "hit: object differs from bare");
    assert!(
        out.stdout.is_empty(),
        "notes we added leaked: {}",
        lossy(&out.stdout)
    );
    let v = w.stats();
    assert_eq!(stat_of(&v, "cache_misses"), 1);
    assert_eq!(stat_of(&v, "cache_hits"), 1);
    assert_eq!(stat_of(&v, "direct_hits"), 1);
    assert_eq!(map_count(&v, "hits_by_compiler", "msvc"), 1);
    assert_eq!(map_count(&v, "hits_by_language", "c"), 1);
}

#[test]
fn header_edit_invalidates() {
    let Some(w) = World::new() else { return };
    w.project();
    w.cached(BASE);
    for (file, text) in [
        ("inc/value.h", "#define VALUE 2\n"),
        ("nested.h", "#define NESTED 20\n"),
    ] {
        w.s.write(file, text);
        let misses = w.misses();
        w.cached(BASE);
        assert_eq!(w.misses(), misses + 1, "editing {file} must miss");
        let got = w.s.read("main.obj");
        assert_eq!(got, w.bare_object(BASE, "main.obj"), "after editing {file}");
    }
}

#[test]
fn shadowing_header_created_later_invalidates() {
    let Some(w) = World::new() else { return };
    w.project();
    let args = ["/c", "/Brepro", "/Ifirst", "/Iinc", "main.c"];
    w.s.write("first/.keep", "");
    w.cached(&args);
    w.s.write("first/value.h", "#define VALUE 99\n");
    let misses = w.misses();
    w.cached(&args);
    assert_eq!(
        w.misses(),
        misses + 1,
        "a header shadowing value.h must miss"
    );
    assert_eq!(w.s.read("main.obj"), w.bare_object(&args, "main.obj"));
}

#[test]
fn show_includes_replayed_on_hit_only_when_asked() {
    let Some(w) = World::new() else { return };
    w.project();
    // Asked: the notes exactly as the compiler printed them, on the miss and on the hit.
    let asked = with(&["/showIncludes"]);
    let bare = w.bare(&asked);
    let notes = String::from_utf8(bare.stdout).unwrap();
    assert!(notes.contains("Note: including file:"), "{notes}");
    let miss = w.cached(&asked);
    assert_eq!(lossy(&miss.stdout), notes);
    let hit = w.cached(&asked);
    assert_eq!(lossy(&hit.stdout), notes);
    assert_eq!(w.hits(), 1);
    // Not asked: nothing on stdout, on the miss (we added /showIncludes) and the hit.
    let miss = w.cached(BASE);
    assert!(miss.stdout.is_empty(), "{}", lossy(&miss.stdout));
    let hit = w.cached(BASE);
    assert!(hit.stdout.is_empty(), "{}", lossy(&hit.stdout));
    assert_eq!(w.hits(), 2);
}

#[test]
fn cl_and_cl_tail_environment_invalidate() {
    let Some(mut w) = World::new() else { return };
    w.project();
    w.cached(BASE);
    for (var, value) in [("CL", "/DEXTRA#1"), ("_CL_", "/DEXTRA=2 /O2")] {
        w.s.set_env(var, value);
        let misses = w.misses();
        w.cached(BASE);
        assert_eq!(w.misses(), misses + 1, "{var}={value} must miss");
        assert_eq!(w.s.read("main.obj"), w.bare_object(BASE, "main.obj"));
        w.cached(BASE);
        assert_eq!(w.misses(), misses + 1, "{var}={value} again must hit");
        w.s.remove_env(var);
    }
}

#[test]
fn define_change_invalidates() {
    let Some(w) = World::new() else { return };
    w.s.write("d.c", "int v(void) { return V; }\n");
    for v in ["/DV=1", "/DV=2", "-DV=1"] {
        let args = ["/c", "/Brepro", v, "d.c"];
        let want = w.bare_object(&args, "d.obj");
        w.cached(&args);
        assert_eq!(w.s.read("d.obj"), want, "{v}");
    }
    // /DV=1 and -DV=1 are the same command to the compiler but not to the key: a miss.
    assert_eq!(w.misses(), 3);
}

#[test]
fn forced_include_edit_invalidates() {
    let Some(w) = World::new() else { return };
    w.s.write("f.c", "int v(void) { return FORCED; }\n");
    w.s.write("pre.h", "#define FORCED 1\n");
    let args = ["/c", "/Brepro", "/FIpre.h", "f.c"];
    w.cached(&args);
    w.cached(&args);
    assert_eq!(w.hits(), 1);
    w.s.write("pre.h", "#define FORCED 2\n");
    w.cached(&args);
    assert_eq!(w.misses(), 2, "editing the /FI header must miss");
    assert_eq!(w.s.read("f.obj"), w.bare_object(&args, "f.obj"));
}

#[test]
fn tp_and_tc_are_different_results() {
    let Some(w) = World::new() else { return };
    // A function name is mangled in C++ only.
    w.s.write("t.c", "int twice(int x) { return 2 * x; }\n");
    let tc = ["/c", "/Brepro", "/TC", "t.c"];
    let tp = ["/c", "/Brepro", "/TP", "t.c"];
    let tp_file = ["/c", "/Brepro", "/Tpt.c"];
    let want_c = w.bare_object(&tc, "t.obj");
    let want_cxx = w.bare_object(&tp, "t.obj");
    assert_ne!(want_c, want_cxx);
    w.cached(&tc);
    assert_eq!(w.s.read("t.obj"), want_c);
    w.cached(&tp);
    assert_eq!(w.s.read("t.obj"), want_cxx);
    w.cached(&tp_file);
    assert_eq!(w.s.read("t.obj"), want_cxx);
    assert_eq!(w.misses(), 3);
    let v = w.stats();
    assert_eq!(map_count(&v, "misses_by_language", "c"), 1);
    assert_eq!(map_count(&v, "misses_by_language", "c++"), 2);
}

#[test]
fn response_file_content_is_keyed() {
    let Some(w) = World::new() else { return };
    w.s.write("r.c", "int v(void) { return V; }\n");
    // Windows quoting, as clang-cl reads response files.
    w.s.write("args.rsp", "/c /Brepro \"/DV=3\"\r\nr.c\r\n");
    let want = w.bare_object(&["@args.rsp"], "r.obj");
    w.cached(&["@args.rsp"]);
    assert_eq!(w.s.read("r.obj"), want);
    w.cached(&["@args.rsp"]);
    assert_eq!(w.hits(), 1);
    w.s.write("args.rsp", "/c /Brepro \"/DV=4\"\r\nr.c\r\n");
    w.cached(&["@args.rsp"]);
    assert_eq!(w.misses(), 2, "a changed response file must miss");
    assert_eq!(w.s.read("r.obj"), w.bare_object(&["@args.rsp"], "r.obj"));
}

#[test]
fn fo_directory_and_file_forms() {
    let Some(w) = World::new() else { return };
    w.project();
    std::fs::create_dir_all(w.s.path("out")).unwrap();
    let dir = with(&["/Foout/"]);
    let want = w.bare_object(&dir, "out/main.obj");
    w.cached(&dir);
    assert_eq!(w.s.read("out/main.obj"), want);
    // The same compile under another name: a hit written where /Fo says.
    let file = with(&["/Foout/other.obj"]);
    w.cached(&file);
    assert_eq!(w.s.read("out/other.obj"), want);
    assert_eq!(w.hits(), 1);
}

#[test]
fn fo_colon_passes_through_like_bare() {
    let Some(w) = World::new() else { return };
    w.project();
    // clang-cl 14 does not read `/Fo:` as a separator: it writes `:colon.obj`.
    let args = with(&["/Fo:colon.obj"]);
    let want = w.bare_object(&args, ":colon.obj");
    w.cached(&args);
    assert_eq!(w.s.read(":colon.obj"), want);
    assert_eq!(w.reason("unsupported_option"), 1);
    assert!(w.s.entry_files().is_empty());
}

#[test]
fn zi_counted_not_cacheable_and_still_builds() {
    let Some(w) = World::new() else { return };
    w.project();
    let args = with(&["/Zi"]);
    w.cached(&args);
    assert!(w.s.exists("main.obj"));
    w.cached(&args);
    assert_eq!(w.reason("pdb"), 2);
    assert_eq!(w.hits() + w.misses(), 0);
}

#[test]
fn z7_is_cached_and_matches_bare() {
    let Some(w) = World::new() else { return };
    w.project();
    let args = with(&["/Z7"]);
    let want = w.bare_object(&args, "main.obj");
    w.cached(&args);
    assert_eq!(w.s.read("main.obj"), want, "/Z7 object differs from bare");
    w.s.remove("main.obj");
    let before = w.runs();
    w.cached(&args);
    assert_eq!(w.runs(), before, "the /Z7 hit ran the compiler");
    assert_eq!(w.s.read("main.obj"), want);
    assert_eq!(w.hits(), 1);
    // Debug info names the object: another /Fo is another result.
    w.cached(&with(&["/Z7", "/Foother.obj"]));
    assert_eq!(w.misses(), 2);
}

#[test]
fn preprocessor_mode_hits_with_direct_off() {
    let Some(mut w) = World::new() else { return };
    w.s.set_env("CACHEPOT_DIRECT", "0");
    w.project();
    let want = w.bare_object(BASE, "main.obj");
    w.cached(BASE);
    w.cached(BASE);
    assert_eq!(w.s.read("main.obj"), want);
    assert_eq!(stat_of(&w.stats(), "preprocessed_hits"), 1);
    w.s.write("inc/value.h", "#define VALUE 3\n");
    w.cached(BASE);
    assert_eq!(w.misses(), 2);
    assert_eq!(w.s.read("main.obj"), w.bare_object(BASE, "main.obj"));
}

#[test]
fn include_env_is_an_input() {
    let Some(mut w) = World::new() else { return };
    w.project();
    w.s.write("inc2/value.h", "#define VALUE 2\n");
    let args = ["/c", "/Brepro", "main.c"];
    w.s.set_env("INCLUDE", w.s.path("inc"));
    w.cached(&args);
    w.s.set_env("INCLUDE", w.s.path("inc2"));
    w.cached(&args);
    assert_eq!(w.misses(), 2, "another INCLUDE must miss");
    assert_eq!(w.s.read("main.obj"), w.bare_object(&args, "main.obj"));
}

#[test]
fn preprocess_only_passes_through() {
    let Some(w) = World::new() else { return };
    w.project();
    for args in [
        vec!["/E", "/Iinc", "main.c"],
        vec!["/EP", "/Iinc", "main.c"],
    ] {
        let bare = w.bare(&args);
        let ours = w.cached(&args);
        assert_eq!(ours.stdout, bare.stdout, "{args:?}");
    }
    assert_eq!(w.reason("preprocess_only"), 2);
    assert!(w.s.entry_files().is_empty());
}

#[test]
fn linking_and_several_sources_pass_through() {
    let Some(w) = World::new() else { return };
    w.project();
    w.s.write("b.c", "int b(void) { return 1; }\n");
    let several = ["/c", "/Brepro", "/Iinc", "main.c", "b.c"];
    w.cached(&several);
    assert!(w.s.exists("main.obj") && w.s.exists("b.obj"));
    assert_eq!(w.reason("multiple_sources"), 1);
    // No /c: a link, which fails here like it does bare (no MSVC linker and libraries).
    let link = ["/Brepro", "/Iinc", "main.c"];
    let bare = w.s.bare(w.cc, &link);
    let ours = w.s.cachepot(&[w.cc, "/Brepro", "/Iinc", "main.c"]);
    assert_eq!(ours.status.code(), bare.status.code());
    assert_eq!(w.reason("linking"), 1);
}

#[test]
fn failed_compile_passes_through_without_added_notes() {
    let Some(w) = World::new() else { return };
    w.s.write(
        "bad.c",
        "#include \"ok.h\"\nint f(void) { return missing; }\n",
    );
    w.s.write("ok.h", "#define OK 1\n");
    let args = ["/c", "/Brepro", "bad.c"];
    let bare = w.s.bare(w.cc, &args);
    let ours = w.s.cachepot(&[w.cc, "/c", "/Brepro", "bad.c"]);
    assert!(!ours.status.success());
    assert_eq!(ours.status.code(), bare.status.code());
    assert_eq!(lossy(&ours.stdout), lossy(&bare.stdout));
    assert_eq!(lossy(&ours.stderr), lossy(&bare.stderr));
    assert_eq!(stat_of(&w.stats(), "compile_errors"), 1);
    assert!(!Path::new(&w.s.path("bad.obj")).exists());
}

#[test]
fn double_dash_before_the_source_like_cmake() {
    let Some(w) = World::new() else { return };
    w.project();
    // CMake writes `-c -- <source>`: our /showIncludes and /E must stay options.
    for args in [
        vec!["/Brepro", "/Iinc", "-c", "--", "main.c"],
        vec!["/Brepro", "/Iinc", "/Z7", "-c", "--", "main.c"],
    ] {
        let want = w.bare_object(&args, "main.obj");
        let miss = w.cached(&args);
        assert!(miss.stdout.is_empty(), "{}", lossy(&miss.stdout));
        assert_eq!(w.s.read("main.obj"), want, "{args:?}");
        let before = w.runs();
        w.cached(&args);
        assert_eq!(w.runs(), before, "{args:?}: the hit ran the compiler");
        assert_eq!(w.s.read("main.obj"), want, "{args:?}");
    }
    assert_eq!(w.hits(), 2);
    assert_eq!(w.misses(), 2);
}
