//! How a `dcc` command is routed, black box, with a stand-in script named `dcc`.
//!
//! No diab compiler can be installed here, and the stand-in is NOT one: it logs its
//! arguments, prints the source for `-E`, and writes the source into the `-o` file. So
//! these tests prove nothing about diab's own behaviour (src/compiler/diab_tests.rs
//! covers the parser on recorded command lines; docs/diab.md says what is unverified).
//! They show only what cachepot does with a command named `dcc`: detected as family
//! "diab", preprocessor mode only (one `-E` run on a hit, never gcc's `-MD -MF`), the
//! savefile stored and restored, the non-cacheable cases run unchanged.

#[macro_use]
mod common;

use common::*;
use std::fs;
use std::path::PathBuf;

/// The stand-in `dcc` in its own directory; returns (script path, log path).
fn stand_in(s: &Sandbox) -> (PathBuf, PathBuf) {
    let dir = s.root().join("diab-bin");
    fs::create_dir_all(&dir).unwrap();
    let log = dir.join("runs.log");
    let script = format!(
        r#"#!/bin/sh
# Stand-in for dcc, for routing tests only: not a compiler.
printf '%s\n' "$*" >> '{log}'
out=; src=; dep=; mode=c
while [ $# -gt 0 ]; do
  case "$1" in
    -E) mode=E ;;
    -o) shift; out=$1 ;;
    -Xmake-dependency-savefile=*) dep=${{1#*=}} ;;
    -*) ;;
    *) src=$1 ;;
  esac
  shift
done
[ -n "$src" ] || exit 0
if [ $mode = E ]; then cat "$src"; exit 0; fi
[ -n "$out" ] || out=stand-in-default.o
{{ printf 'stand-in object\n'; cat "$src"; }} > "$out"
[ -z "$dep" ] || printf '%s: %s\n' "$out" "$src" > "$dep"
echo "stand-in dcc: a warning" >&2
"#,
        log = log.display()
    );
    let path = dir.join("dcc");
    write_executable(&path, script);
    (path, log)
}

fn runs(log: &PathBuf) -> Vec<String> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn dcc_is_family_diab_in_preprocessor_mode_with_its_savefile() {
    let s = Sandbox::new();
    let (dcc, log) = stand_in(&s);
    let dcc = dcc.to_str().unwrap();
    s.write("hello.c", "int main(void) { return 42; }\n");
    let args = [
        dcc,
        "-c",
        "hello.c",
        "-o",
        "hello.o",
        "-Xmake-dependency",
        "-Xmake-dependency-savefile=hello.d",
    ];

    let out = s.cachepot(&args);
    s.assert_success(&out, "first dcc compile");
    assert_eq!(lossy(&out.stderr), "stand-in dcc: a warning\n");
    let stats = s.stats();
    assert_eq!(stats["stats"]["misses_by_compiler"]["diab"], 1, "{stats}");
    assert_eq!(stats["stats"]["cache_misses"], 1);
    let object = s.read("hello.o");
    let deps = s.read("hello.d");

    s.remove("hello.o");
    s.remove("hello.d");
    let before = runs(&log).len();
    let out = s.cachepot(&args);
    s.assert_success(&out, "second dcc compile");
    assert_eq!(lossy(&out.stderr), "stand-in dcc: a warning\n");
    let stats = s.stats();
    assert_eq!(stats["stats"]["hits_by_compiler"]["diab"], 1, "{stats}");
    assert_eq!(stats["stats"]["preprocessed_hits"], 1, "{stats}");
    assert_eq!(stats["stats"]["direct_hits"], 0, "{stats}");
    assert_eq!(s.read("hello.o"), object);
    assert_eq!(s.read("hello.d"), deps);
    // The hit ran the preprocessor once, without -c, -o or the dependency options.
    let hit_runs = runs(&log)[before..].to_vec();
    assert_eq!(hit_runs, ["hello.c -E"], "runs on the hit: {hit_runs:?}");
    // gcc's dependency flags never reach dcc, in any run.
    assert!(
        runs(&log).iter().all(|r| !r.contains("-MD")),
        "{:?}",
        runs(&log)
    );

    // Another source text: a miss.
    s.write("hello.c", "int main(void) { return 43; }\n");
    s.assert_success(&s.cachepot(&args), "changed source");
    assert_eq!(s.stats()["stats"]["misses_by_compiler"]["diab"], 2);
}

#[test]
fn dcc_commands_it_cannot_cache_run_unchanged() {
    let s = Sandbox::new();
    let (dcc, log) = stand_in(&s);
    let dcc = dcc.to_str().unwrap();
    s.write("hello.c", "int x;\n");
    // No -o: where diab puts the object is not known, so it is not cached.
    let out = s.cachepot(&[dcc, "-c", "hello.c"]);
    s.assert_success(&out, "dcc without -o");
    assert_eq!(runs(&log), ["-c hello.c"]);
    let out = s.cachepot(&[dcc, "-@E=errors.txt", "-c", "hello.c", "-o", "hello.o"]);
    s.assert_success(&out, "dcc with -@E=");
    let stats = s.stats();
    assert_eq!(
        stats["stats"]["non_cacheable_reasons"]["unsupported_option"], 2,
        "{stats}"
    );
    assert_eq!(stats["stats"]["cache_misses"], 0);
}
