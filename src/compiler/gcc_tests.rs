//! Unit tests of the gcc/clang argument parser (gcc.rs), on recorded command lines.
#[test]
fn search_list_from_v_output() {
    let out = b"ignoring nonexistent directory \"/x\"\n#include \"...\" search starts here:\n q\n#include <...> search starts here:\n inc\n /usr/lib/gcc/x86_64-linux-gnu/12/include\n /usr/include\nEnd of search list.\n";
    assert_eq!(
        super::parse_search_list(out).unwrap(),
        [
            "/x",
            "q",
            "inc",
            "/usr/lib/gcc/x86_64-linux-gnu/12/include",
            "/usr/include"
        ]
    );
    assert!(super::parse_search_list(b"garbage").is_none());
}

use super::*;

fn gcc(name: &str) -> ResolvedCompiler {
    ResolvedCompiler {
        path: PathBuf::from(name),
        invoked_name: name.into(),
        family: if name.contains("clang") {
            Family::Clang
        } else {
            Family::Gcc
        },
        cxx_driver: name.ends_with("++"),
        canonical: None,
    }
}

fn parse_with(
    name: &str,
    args: &[&str],
    env: &[(&str, &str)],
    existing: &[&str],
) -> Result<Parsed, Reason> {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    parse_os(name, &args, env, existing)
}

/// [`parse_with`] for arguments that need not be UTF-8.
fn parse_os(
    name: &str,
    args: &[OsString],
    env: &[(&str, &str)],
    existing: &[&str],
) -> Result<Parsed, Reason> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let envf = move |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| OsString::from(v))
    };
    let existing: Vec<PathBuf> = existing.iter().map(PathBuf::from).collect();
    let exists = move |p: &Path| existing.iter().any(|e| e == p);
    let ctx = Context {
        cwd: Path::new("/w"),
        stderr_is_tty: false,
        env: &envf,
        exists: &exists,
    };
    parse(&gcc(name), args, args, &ctx)
}

fn p(args: &[&str]) -> Result<Parsed, Reason> {
    parse_with("gcc", args, &[], &[])
}

fn strs(v: &[OsString]) -> Vec<String> {
    v.iter().map(|a| a.to_string_lossy().into_owned()).collect()
}

#[test]
fn simple_compile() {
    let r = p(&["-c", "src/foo.c", "-o", "build/foo.o", "-O2"]).unwrap();
    assert_eq!(r.language, Some(Language::C));
    assert_eq!(r.input, PathBuf::from("src/foo.c"));
    assert_eq!(r.main_output(), Path::new("build/foo.o"));
    assert_eq!(strs(&r.preprocess_args), ["src/foo.c", "-O2", "-E"]);
    assert!(!strs(&r.hashed_args).contains(&"build/foo.o".to_string()));
    assert!(!r.cwd_matters);
}

#[test]
fn default_output_names() {
    assert_eq!(
        p(&["-c", "src/foo.c"]).unwrap().main_output(),
        Path::new("foo.o")
    );
    assert_eq!(
        p(&["-S", "src/foo.cpp"]).unwrap().main_output(),
        Path::new("foo.s")
    );
    assert_eq!(
        p(&["-c", "x.c", "-obuild/x.o"]).unwrap().main_output(),
        Path::new("build/x.o")
    );
}

#[test]
fn not_cacheable() {
    assert_eq!(p(&["foo.c", "-o", "foo"]).unwrap_err(), Reason::Linking);
    assert_eq!(p(&["-E", "foo.c"]).unwrap_err(), Reason::PreprocessOnly);
    assert_eq!(
        p(&["-c", "a.c", "b.c"]).unwrap_err(),
        Reason::MultipleSources
    );
    assert_eq!(p(&["-c"]).unwrap_err(), Reason::NoSource);
    assert_eq!(p(&["-c", "-x", "c", "-"]).unwrap_err(), Reason::StdinInput);
    assert_eq!(
        p(&["-c", "a.c", "-save-temps"]).unwrap_err(),
        Reason::SaveTemps
    );
    assert_eq!(
        p(&["-c", "a.c", "-save-temps=obj"]).unwrap_err(),
        Reason::SaveTemps
    );
    assert_eq!(p(&["-c", "a.c", "-M"]).unwrap_err(), Reason::DepToStdout);
    assert_eq!(p(&["-c", "a.txt"]).unwrap_err(), Reason::UnknownLanguage);
    assert_eq!(
        p(&["-c", "a.c", "-x", "fortran"]).unwrap().language,
        Some(Language::C)
    );
    assert_eq!(
        p(&["-c", "-x", "fortran", "a.f"]).unwrap_err(),
        Reason::UnknownLanguage
    );
    assert_eq!(
        p(&["-c", "a.c", "-fsyntax-only"]).unwrap_err(),
        Reason::SyntaxOnly
    );
    assert_eq!(
        p(&["-c", "a.c", "-arch", "x86_64", "-arch", "arm64"]).unwrap_err(),
        Reason::MultipleArch
    );
    assert_eq!(
        p(&["-c", "a.c", "-fmodules"]).unwrap_err(),
        Reason::ClangModules
    );
    assert_eq!(
        p(&["-c", "a.c", "-fprofile-use"]).unwrap_err(),
        Reason::ProfileUse
    );
    assert_eq!(
        p(&["-c", "a.c", "-o", "-"]).unwrap_err(),
        Reason::OutputToStdout
    );
    assert_eq!(
        p(&["-c", "a.c", "-MJ", "x.json"]).unwrap_err(),
        Reason::UnsupportedOption
    );
    assert_eq!(p(&["-c", "a.h"]).unwrap_err(), Reason::PrecompiledHeader);
    assert_eq!(
        p(&["-c", "a.c", "-Xclang", "-emit-pch"]).unwrap_err(),
        Reason::PrecompiledHeader
    );
    assert_eq!(
        parse_with(
            "gcc",
            &["-c", "a.c"],
            &[("DEPENDENCIES_OUTPUT", "x.d")],
            &[]
        )
        .unwrap_err(),
        Reason::DependenciesEnv
    );
}

#[test]
fn pch_beside_forced_include() {
    assert_eq!(
        parse_with(
            "gcc",
            &["-c", "a.c", "-include", "pre.h"],
            &[],
            &["/w/pre.h.gch"]
        )
        .unwrap_err(),
        Reason::PrecompiledHeader
    );
    assert!(parse_with("gcc", &["-c", "a.c", "-include", "pre.h"], &[], &[]).is_ok());
}

#[test]
fn separate_and_joined_arguments_are_not_inputs() {
    let r = p(&[
        "-c",
        "a.c",
        "-I",
        "inc",
        "-isystem",
        "/sys",
        "-D",
        "X=1",
        "-include",
        "cfg.h",
        "-MF",
        "a.d",
        "-MD",
        "-MT",
        "tgt",
        "-Xpreprocessor",
        "-DFOO",
        "--param",
        "inline-unit-growth=5",
    ])
    .unwrap();
    assert_eq!(r.input, PathBuf::from("a.c"));
    let dep = r.dep_file.unwrap();
    assert_eq!(dep.path, PathBuf::from("a.d"));
    assert!(dep.target_fixed);
    let pre = strs(&r.preprocess_args);
    assert!(
        pre.contains(&"inc".to_string())
            && !pre.contains(&"a.d".to_string())
            && !pre.contains(&"-MD".to_string())
    );
    let h = strs(&r.hashed_args);
    assert!(h.contains(&"tgt".to_string()) && !h.contains(&"a.d".to_string()));
}

#[test]
fn unknown_options_are_hashed_and_passed_on() {
    let r = p(&["-c", "a.c", "-fno-frobnicate", "-mfancy=3"]).unwrap();
    assert!(strs(&r.hashed_args).contains(&"-fno-frobnicate".to_string()));
    assert!(strs(&r.compile_args).contains(&"-mfancy=3".to_string()));
}

#[test]
fn dep_file_names() {
    let r = p(&["-c", "src/a.c", "-o", "build/a.o", "-MD"]).unwrap();
    assert_eq!(r.dep_file.unwrap().path, PathBuf::from("build/a.d"));
    let r = p(&["-c", "src/a.c", "-MMD"]).unwrap();
    assert_eq!(r.dep_file.unwrap().path, PathBuf::from("a.d"));
    let r = p(&["-c", "src/a.c", "-o", "x.o", "-Wp,-MD,deps/a.d"]).unwrap();
    assert_eq!(r.dep_file.as_ref().unwrap().path, PathBuf::from("deps/a.d"));
    assert!(!strs(&r.preprocess_args)
        .iter()
        .any(|a| a.starts_with("-Wp")));
}

#[test]
fn coverage_and_split_dwarf_outputs() {
    let r = p(&[
        "-c",
        "a.c",
        "-o",
        "b/a.o",
        "--coverage",
        "-gsplit-dwarf",
        "-g",
    ])
    .unwrap();
    let kinds: Vec<(FileKind, PathBuf)> =
        r.outputs.iter().map(|o| (o.kind, o.path.clone())).collect();
    assert!(kinds.contains(&(FileKind::Gcno, PathBuf::from("b/a.gcno"))));
    assert!(kinds.contains(&(FileKind::Dwo, PathBuf::from("b/a.dwo"))));
    assert!(r.cwd_matters && r.output_path_matters);
}

#[test]
fn debug_info_hashes_cwd_unless_mapped() {
    assert!(p(&["-c", "a.c", "-g"]).unwrap().cwd_matters);
    assert!(!p(&["-c", "a.c", "-g", "-g0"]).unwrap().cwd_matters);
    let exact = p(&["-c", "a.c", "-g", "-fdebug-prefix-map=/w=."]).unwrap();
    assert_eq!(exact.mapped_cwd.as_deref(), Some("."));
    // A map of a parent dir leaves the rest of the cwd in the debug info.
    let parent = parse_with(
        "gcc",
        &["-c", "a.c", "-g", "-fdebug-prefix-map=/=/src"],
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(parent.mapped_cwd.as_deref(), Some("/src/w"));
    assert_eq!(
        p(&["-c", "a.c", "-g", "-fdebug-prefix-map=/elsewhere=."])
            .unwrap()
            .mapped_cwd,
        None
    );
}

#[test]
fn cxx_driver_compiles_c_as_cxx() {
    assert_eq!(
        parse_with("g++", &["-c", "a.c"], &[], &[])
            .unwrap()
            .language,
        Some(Language::Cxx)
    );
    assert_eq!(
        parse_with("clang++", &["-c", "a.c"], &[], &[])
            .unwrap()
            .language,
        Some(Language::Cxx)
    );
    assert_eq!(
        p(&["-c", "-x", "c++", "a.c"]).unwrap().language,
        Some(Language::Cxx)
    );
    assert_eq!(
        p(&["-c", "-x", "c", "a.txt"]).unwrap().language,
        Some(Language::C)
    );
}

#[test]
fn toolchain_option_is_not_debug_info() {
    let r = p(&["-c", "a.c", "-gcc-toolchain", "/opt/gcc"]).unwrap();
    assert!(!r.cwd_matters);
    assert_eq!(r.input, PathBuf::from("a.c"));
}

#[test]
fn plugins_and_specs_must_be_files_we_can_hash() {
    assert_eq!(
        p(&["-c", "a.c", "-fplugin=annobin"]).unwrap_err(),
        Reason::UnsupportedOption
    );
    assert_eq!(
        p(&["-c", "a.c", "-specs=foo.specs"]).unwrap_err(),
        Reason::UnsupportedOption
    );
    let r = parse_with(
        "gcc",
        &["-c", "a.c", "-fplugin=./p.so"],
        &[],
        &["/w/./p.so"],
    )
    .unwrap();
    assert_eq!(r.extra_input_files, [PathBuf::from("/w/./p.so")]);
}

#[test]
fn record_switches_hashes_outputs() {
    let a = p(&["-c", "a.c", "-o", "x.o", "-frecord-gcc-switches"]).unwrap();
    assert!(strs(&a.hashed_args).contains(&"x.o".to_string()));
}

#[test]
fn colour_is_forced_on_a_terminal_only() {
    let args: Vec<OsString> = ["-c", "a.c"].iter().map(OsString::from).collect();
    let env = |k: &str| (k == "TERM").then(|| OsString::from("xterm-256color"));
    let exists = |_: &Path| false;
    let ctx = Context {
        cwd: Path::new("/w"),
        stderr_is_tty: true,
        env: &env,
        exists: &exists,
    };
    let r = parse(&gcc("gcc"), &args, &args, &ctx).unwrap();
    assert!(strs(&r.compile_args).contains(&"-fdiagnostics-color=always".to_string()));
    let r = parse(&gcc("clang"), &args, &args, &ctx).unwrap();
    assert!(strs(&r.compile_args).contains(&"-fcolor-diagnostics".to_string()));
    // A terminal without colours (TERM=dumb, as Emacs sets, or no TERM): nothing forced.
    for term in [Some("dumb"), None] {
        let env = move |k: &str| (k == "TERM").then_some(term).flatten().map(OsString::from);
        let ctx = Context { env: &env, ..ctx };
        let r = parse(&gcc("gcc"), &args, &args, &ctx).unwrap();
        assert!(!r.colour_forced, "TERM={term:?}");
    }
}

/// A dep file's target is the object path as text: an object path that is not UTF-8
/// would be mangled on a hit, so such a command is not cached (without a dep file it is).
#[test]
fn non_utf8_object_with_a_dep_file_is_not_cached() {
    use std::os::unix::ffi::OsStringExt;
    let obj = OsString::from_vec(b"\xff.o".to_vec());
    let mut args: Vec<OsString> = ["-c", "a.c", "-o"].iter().map(OsString::from).collect();
    args.push(obj);
    assert!(parse_os("gcc", &args, &[], &[]).is_ok());
    args.push("-MD".into());
    assert_eq!(
        parse_os("gcc", &args, &[], &[]).unwrap_err(),
        Reason::UnsupportedOption
    );
}

/// Found by review (clang): files read through options are keyed, options writing files
/// or moving the working directory are not cached, `-gsplit-dwarf=split` is split DWARF,
/// driver logging variables pass through, and clang's prefix-map choice is its own.
#[test]
fn clang_review_cases() {
    let exists = ["/w/allow.txt", "/w/ov.yaml", "/w/p.so", "/w/bb.txt"];
    let keyed = |args: &[&str]| {
        parse_with("clang", args, &[], &exists)
            .unwrap()
            .extra_input_files
    };
    let c = ["-c", "a.c"];
    for (flag, file) in [
        ("-fsanitize-coverage-allowlist=allow.txt", "/w/allow.txt"),
        ("-fsanitize-ignorelist=allow.txt", "/w/allow.txt"),
        ("-fbasic-block-sections=list=bb.txt", "/w/bb.txt"),
        ("-fpass-plugin=p.so", "/w/p.so"),
    ] {
        assert_eq!(
            keyed(&[&c[..], &[flag]].concat()),
            [PathBuf::from(file)],
            "{flag}"
        );
    }
    assert_eq!(
        keyed(&[&c[..], &["-Xclang", "-load", "-Xclang", "p.so"]].concat()),
        [PathBuf::from("/w/p.so")]
    );
    assert_eq!(
        keyed(&[&c[..], &["-ivfsoverlay", "ov.yaml"]].concat()),
        [PathBuf::from("/w/ov.yaml")]
    );
    let no = |args: &[&str]| parse_with("clang", args, &[], &exists).unwrap_err();
    assert_eq!(
        no(&["-c", "a.c", "-fprofile-list=missing.txt"]),
        Reason::UnsupportedOption
    );
    for flag in [
        "-fthin-link-bitcode=o.bc",
        "-save-stats",
        "-fproc-stat-report=x.csv",
    ] {
        assert_eq!(
            no(&["-c", "a.c", flag]),
            Reason::UnsupportedOption,
            "{flag}"
        );
    }
    assert_eq!(
        no(&["-c", "a.c", "-working-directory=/x"]),
        Reason::UnsupportedOption
    );
    assert_eq!(
        no(&[
            "-c",
            "a.c",
            "-Xclang",
            "-serialize-diagnostic-file",
            "-Xclang",
            "d"
        ]),
        Reason::UnsupportedOption
    );
    let env_no = parse_with("clang", &c, &[("CC_PRINT_HEADERS", "1")], &[]).unwrap_err();
    assert_eq!(env_no, Reason::UnsupportedOption);
    let split = parse_with(
        "clang",
        &["-g", "-gsplit-dwarf=split", "-c", "a.c"],
        &[],
        &[],
    );
    assert!(
        split.unwrap().output_path_matters,
        "-gsplit-dwarf=split writes a .dwo"
    );
    // clang: the greatest old prefix wins, the first of equal ones; gcc: the last match.
    let maps = [
        "/r/A=/X".to_string(),
        "/r=/Y".to_string(),
        "/r/Z=/Y/A".to_string(),
    ];
    assert_eq!(
        crate::compiler::gcc_files::clang_prefix_map(&maps, "/r/Z").as_deref(),
        Some("/Y/A")
    );
    assert_eq!(
        crate::compiler::gcc_files::clang_prefix_map(&maps, "/r/A").as_deref(),
        Some("/X")
    );
    let dup = ["/r/A=/B".to_string(), "/r/A=/Q".to_string()];
    assert_eq!(
        crate::compiler::gcc_files::clang_prefix_map(&dup, "/r/A/s").as_deref(),
        Some("/B/s")
    );
}

/// gcc takes the last of several `-o`; with the dep file cachepot adds it fails, so such
/// a command is not cached.
#[test]
fn repeated_output_is_not_cached() {
    assert_eq!(
        p(&["-c", "a.c", "-o", "x.o", "-o", "y.o"]).unwrap_err(),
        Reason::UnsupportedOption
    );
    assert_eq!(
        p(&["-c", "a.c", "-o", "x.o", "--output=y.o"]).unwrap_err(),
        Reason::UnsupportedOption
    );
}

/// The sweep of file-naming options: cc1 options through -Xclang are cached only when
/// known to name no file; assembler and LLVM options writing files, RTL dumps and
/// branch probabilities from .gcda files are not cached.
#[test]
fn file_naming_option_sweep() {
    let exists = ["/w/p.so"];
    let r = |args: &[&str]| parse_with("clang", args, &[], &exists);
    for (args, why) in [
        (
            &["-Xclang", "-mlink-bitcode-file", "-Xclang", "b.bc"][..],
            Reason::UnsupportedOption,
        ),
        (
            &["-Xclang", "-remap-file", "-Xclang", "a.c;r.c"][..],
            Reason::UnsupportedOption,
        ),
        (
            &["-Xclang", "-fxray-attr-list=x.txt"][..],
            Reason::UnsupportedOption,
        ),
        (&["-Xclang", "-ftime-trace"][..], Reason::UnsupportedOption),
        (
            &["-Xclang", "-stats-file=st.json"][..],
            Reason::UnsupportedOption,
        ),
        (
            &["-Xclang", "-dependency-file", "-Xclang", "x.d"][..],
            Reason::UnsupportedOption,
        ),
        (
            &["-Xassembler", "-adhln=lst.txt"][..],
            Reason::UnsupportedOption,
        ),
        (&["-Xassembler", "--MD"][..], Reason::UnsupportedOption),
        (
            &["-mllvm", "-info-output-file=i.txt"][..],
            Reason::UnsupportedOption,
        ),
        (&["-da"][..], Reason::UnsupportedOption),
        (&["-fbranch-probabilities"][..], Reason::ProfileUse),
    ] {
        let all = [&["-c", "a.c"][..], args].concat();
        assert_eq!(r(&all).unwrap_err(), why, "{args:?}");
    }
    for args in [
        &["-Xclang", "-fno-pch-timestamp"][..],
        &["-Xclang", "-Wno-unused"][..],
        &["-Xclang", "-load", "-Xclang", "p.so"][..],
        &["-Xclang", "-add-plugin", "-Xclang", "checker"][..],
        &["-mllvm", "-inline-threshold=10"][..],
    ] {
        let all = [&["-c", "a.c"][..], args].concat();
        assert!(r(&all).is_ok(), "{args:?}");
    }
}

/// The search-list query leaves out what the preprocessor would read before the empty
/// input (forced includes, a clang PCH): a pipe given as `-include <(...)` would block it.
#[test]
fn search_list_args_leave_out_forced_includes() {
    let r = p(&[
        "-c",
        "a.c",
        "-include",
        "/dev/fd/63",
        "-imacrosm.h",
        "-Iinc",
        "-DX=1",
        "-isystem",
        "sys",
    ])
    .unwrap();
    assert_eq!(
        strs(&super::search_list_args(&r)),
        [
            "-Iinc",
            "-DX=1",
            "-isystem",
            "sys",
            "-E",
            "-v",
            "-x",
            "c",
            "/dev/null"
        ]
    );
}
