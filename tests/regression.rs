//! One test per wrong hit found in review, named after what broke.

mod common;

use common::*;
use std::time::{Duration, SystemTime};

fn old(s: &Sandbox, rel: &str) {
    // Give a file an mtime well in the past, so direct mode trusts and records it.
    let f = std::fs::File::options()
        .write(true)
        .open(s.path(rel))
        .unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

fn run_value(s: &Sandbox, obj: &str) -> String {
    s.link_and_run("gcc", &[obj], "prog").trim().to_string()
}

const MAIN: &str =
    "#include <stdio.h>\n#include \"foo.h\"\nint main(void) { printf(\"%d\\n\", V); return 0; }\n";

#[test]
fn nested_include_dirs_header_shadowed_in_the_outer_dir() {
    require!("gcc");
    let s = Sandbox::new();
    s.write("main.c", MAIN);
    s.write("inc/sub/foo.h", "#define V 1\n");
    std::fs::create_dir_all(s.path("inc")).unwrap();
    for f in ["main.c", "inc/sub/foo.h"] {
        old(&s, f);
    }
    let args = ["-Iinc", "-Iinc/sub", "-c", "main.c", "-o", "main.o"];
    s.compile("gcc", &args);
    s.compile("gcc", &args);
    assert_eq!(s.stat("direct_hits"), 1);
    // inc/foo.h is found through -Iinc before inc/sub/foo.h.
    s.write("inc/foo.h", "#define V 2\n");
    s.compile("gcc", &args);
    assert_eq!(run_value(&s, "main.o"), "2");
}

#[test]
fn clang_record_command_line_never_carries_another_output_name() {
    require!("clang");
    let s = Sandbox::new();
    s.write("a.c", "int f(void) { return 6; }\n");
    old(&s, "a.c");
    for o in ["f.o", "h.o"] {
        s.compile("clang", &["-frecord-command-line", "-c", "a.c", "-o", o]);
    }
    let h = s.read("h.o");
    let has = |needle: &str| h.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        has("-o h.o") && !has("-o f.o"),
        "h.o must record its own -o"
    );
    assert!(
        !has("-MF"),
        "no internal dep-file arguments in the recorded command line"
    );
}

#[test]
fn basedir_prefix_map_of_the_checkout_root_still_shares() {
    require!("gcc");
    let mut s = Sandbox::new();
    let base = s.work.clone();
    s.set_env("CACHEPOT_BASEDIR", &base);
    for ck in ["p1", "p2"] {
        s.write(&format!("{ck}/main.c"), MAIN);
        s.write(&format!("{ck}/foo.h"), "#define V 3\n");
        old(&s, &format!("{ck}/main.c"));
        old(&s, &format!("{ck}/foo.h"));
        let dir = s.path(ck);
        let map = format!("-fdebug-prefix-map={}=/src", dir.display());
        s.compile_in(
            &dir,
            "gcc",
            &["-g", map.as_str(), "-c", "main.c", "-o", "main.o"],
        );
    }
    assert_eq!(s.stat("cache_hits"), 1, "{}", s.stats());
}

#[test]
fn basedir_file_macro_names_the_current_checkout() {
    require!("gcc");
    let mut s = Sandbox::new();
    let base = s.work.clone();
    s.set_env("CACHEPOT_BASEDIR", &base);
    for ck in ["p1", "p2"] {
        s.write(
            &format!("{ck}/main.c"),
            "#include <stdio.h>\nint main(void) { puts(__FILE__); return 0; }\n",
        );
        old(&s, &format!("{ck}/main.c"));
        let src = s.path(&format!("{ck}/main.c"));
        let obj = s.path(&format!("{ck}/main.o"));
        s.compile_in(
            &s.path(ck),
            "gcc",
            &["-c", src.to_str().unwrap(), "-o", obj.to_str().unwrap()],
        );
        let printed = s.link_and_run("gcc", &[&format!("{ck}/main.o")], &format!("{ck}/prog"));
        assert_eq!(
            printed.trim(),
            src.to_str().unwrap(),
            "__FILE__ must name this checkout"
        );
    }
}
