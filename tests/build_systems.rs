//! cachepot behind real build systems: CMake's compiler launcher with the Ninja and the
//! Makefile generators (the README's usage lines), building a small C/C++ project twice
//! from scratch — the second build must be all hits and the program must work.

mod common;

use common::*;

fn project(s: &Sandbox) {
    s.write(
        "proj/CMakeLists.txt",
        "cmake_minimum_required(VERSION 3.13)\nproject(demo C CXX)\nadd_library(util STATIC util.c)\ntarget_include_directories(util PUBLIC include)\nadd_executable(demo main.cpp)\ntarget_link_libraries(demo util)\n",
    );
    s.write("proj/include/util.h", "#ifdef __cplusplus\nextern \"C\" {\n#endif\nint twice(int);\n#ifdef __cplusplus\n}\n#endif\n");
    s.write(
        "proj/util.c",
        "#include \"util.h\"\nint twice(int x) { return 2 * x; }\n",
    );
    s.write("proj/main.cpp", "#include <cstdio>\n#include \"util.h\"\nint main() { std::printf(\"%d\\n\", twice(21)); }\n");
}

fn build_twice(generator: &str) {
    let s = Sandbox::new();
    project(&s);
    for round in 0..2 {
        let build = s.path(&format!("build{round}"));
        let mut cmd = s.command("cmake");
        cmd.args(["-S", "proj", "-B"])
            .arg(&build)
            .args(["-G", generator]);
        cmd.arg(format!("-DCMAKE_C_COMPILER_LAUNCHER={CACHEPOT}"));
        cmd.arg(format!("-DCMAKE_CXX_COMPILER_LAUNCHER={CACHEPOT}"));
        s.assert_success(&run(&mut cmd), "cmake configure");
        let mut b = s.command("cmake");
        b.args(["--build"]).arg(&build);
        s.assert_success(&run(&mut b), "cmake --build");
        let out = run(&mut s.command(build.join("demo")));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
    }
    let v = s.stats();
    // Two translation units per build (CMake's own compiler probes link, so they are
    // non-cacheable and not counted here).
    assert_eq!(stat_of(&v, "cache_misses"), 2, "{v}");
    assert_eq!(
        stat_of(&v, "cache_hits"),
        2,
        "the second build (another build dir) is all hits: {v}"
    );
    assert_eq!(stat_of(&v, "cache_errors"), 0, "{v}");
}

#[test]
fn cmake_launcher_with_ninja() {
    require!("cmake", "ninja", "gcc", "g++");
    build_twice("Ninja");
}

#[test]
fn cmake_launcher_with_makefiles() {
    require!("cmake", "make", "gcc", "g++");
    build_twice("Unix Makefiles");
}
