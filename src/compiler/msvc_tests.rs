//! Unit tests of the MSVC-syntax parser (msvc.rs) and its argument sources
//! (msvc_args.rs), on command lines as CMake, Ninja and users write them for clang-cl.

use super::*;
use crate::compiler::msvc_args::{self, env_words, expand_into, tokenize_windows, Quoting};
use crate::compiler::Family;

fn clang_cl() -> ResolvedCompiler {
    ResolvedCompiler {
        path: PathBuf::from("/usr/bin/clang-cl-14"),
        invoked_name: "clang-cl-14".into(),
        family: Family::Msvc,
        cxx_driver: false,
        canonical: None,
    }
}

fn cl_exe() -> ResolvedCompiler {
    ResolvedCompiler {
        path: PathBuf::from("/opt/msvc/cl.exe"),
        invoked_name: "cl.exe".into(),
        family: Family::Msvc,
        cxx_driver: false,
        canonical: None,
    }
}

fn os(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

fn strs(v: &[OsString]) -> Vec<String> {
    v.iter().map(|a| a.to_string_lossy().into_owned()).collect()
}

/// Parse with `CL` / `_CL_` words, an environment and the files that exist (under /w).
fn parse_full(
    compiler: &ResolvedCompiler,
    cl: &str,
    args: &[&str],
    cl_tail: &str,
    env: &[(&str, &str)],
    existing: &[&str],
) -> Result<Parsed, Reason> {
    let src = Sources {
        prefix: env_words(cl.as_bytes()),
        args: os(args),
        suffix: env_words(cl_tail.as_bytes()),
    };
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let envf = move |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| OsString::from(v))
    };
    let existing: Vec<PathBuf> = existing.iter().map(|e| Path::new("/w").join(e)).collect();
    let exists = move |p: &Path| existing.iter().any(|e| e == p);
    let ctx = Context {
        cwd: Path::new("/w"),
        env: &envf,
        exists: &exists,
    };
    parse(compiler, &src, &os(args), &ctx)
}

fn p(args: &[&str]) -> Result<Parsed, Reason> {
    parse_full(&clang_cl(), "", args, "", &[], &[])
}

fn obj(args: &[&str]) -> String {
    p(args)
        .unwrap()
        .main_output()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn cmake_ninja_command_line() {
    // CMake 3.25 + Ninja, clang-cl, a C++ target (recorded).
    let args = [
        "/nologo",
        "-TP",
        "-DFOO_EXPORTS",
        "-I/src/include",
        "/DWIN32",
        "/D_WINDOWS",
        "/GR",
        "/EHsc",
        "/O2",
        "/Ob2",
        "/DNDEBUG",
        "-MD",
        "/showIncludes",
        "/FoCMakeFiles/foo.dir/src/foo.cpp.obj",
        "/FdCMakeFiles/foo.dir/",
        "-c",
        "--",
        "/src/src/foo.cpp",
    ];
    let parsed = p(&args).unwrap();
    assert_eq!(parsed.language, Some(Language::Cxx));
    assert_eq!(parsed.input, Path::new("/src/src/foo.cpp"));
    assert_eq!(
        parsed.main_output(),
        Path::new("CMakeFiles/foo.dir/src/foo.cpp.obj")
    );
    let info = parsed.msvc.as_ref().unwrap();
    assert_eq!(info.show_includes, ShowIncludes::All);
    assert!(info.english_notes);
    assert!(!parsed.records_command_line);
    // Outputs are not hashed; the input is a marker; /showIncludes is.
    let hashed = strs(&parsed.hashed_args);
    assert!(!hashed.iter().any(|a| a.starts_with("/Fo")));
    assert!(hashed.contains(&"<input>".to_string()));
    assert!(hashed.contains(&"/showIncludes".to_string()));
    assert!(hashed.contains(&"/FdCMakeFiles/foo.dir/".to_string()));
    // The preprocessor run: no /c, no outputs, no /showIncludes, ends with /E.
    let cpp = strs(&parsed.preprocess_args);
    assert_eq!(&cpp[cpp.len() - 3..], ["/E", "--", "/src/src/foo.cpp"]);
    // Our /showIncludes goes before the `--`.
    assert_eq!(info.extra_at, Some(args.len() - 2));
    for gone in [
        "-c",
        "/showIncludes",
        "/FoCMakeFiles/foo.dir/src/foo.cpp.obj",
    ] {
        assert!(!cpp.contains(&gone.to_string()), "{gone} in {cpp:?}");
    }
    // The search-list run: no input, -v /E on an empty C++ file.
    let search = strs(&info.search_args);
    assert!(!search.contains(&"/src/src/foo.cpp".to_string()));
    assert_eq!(&search[search.len() - 3..], ["-v", "/E", "/Tp/dev/null"]);
    // The compile runs with the user's arguments.
    assert_eq!(parsed.compile_args, os(&args));
}

#[test]
fn object_names() {
    assert_eq!(obj(&["/c", "x.c"]), "x.obj");
    assert_eq!(obj(&["/c", "src/x.cpp"]), "x.obj");
    assert_eq!(obj(&["/c", "x.c", "/Foout/"]), "out/x.obj");
    assert_eq!(obj(&["/c", "x.c", "/Foy.obj"]), "y.obj");
    assert_eq!(obj(&["/c", "x.c", "-Foy.o"]), "y.o");
    // clang-cl appends .obj to a name without extension (measured: /Fofoo -> foo.obj).
    assert_eq!(obj(&["/c", "x.c", "/Fofoo"]), "foo.obj");
    assert_eq!(obj(&["/c", "x.c", "/Fo.hidden"]), ".hidden");
    // The last /Fo wins; an empty /Fo is the default.
    assert_eq!(obj(&["/c", "x.c", "/Foa.obj", "/Fob.obj"]), "b.obj");
    assert_eq!(obj(&["/c", "x.c", "/Fo"]), "x.obj");
    // On Linux clang-cl does not split at `\` (measured: /Food\ -> `od\.obj`).
    assert_eq!(obj(&["/c", "x.c", "/Food\\"]), "od\\.obj");
    let cl = parse_full(&cl_exe(), "", &["/c", "x.c", "/Food\\"], "", &[], &[]).unwrap();
    assert_eq!(cl.main_output(), Path::new("od\\x.obj"));
    assert!(!cl.msvc.unwrap().english_notes);
}

#[test]
fn non_utf8_paths_stay_as_written() {
    // Found by the msvc_args fuzz target: values were taken from a lossy UTF-8 copy.
    use std::os::unix::ffi::OsStringExt;
    let tc = OsString::from_vec(b"/Tcw\xaeird.c".to_vec());
    let fo = OsString::from_vec(b"/Foo\xae".to_vec());
    let src = Sources {
        args: vec![OsString::from("/c"), tc.clone(), fo.clone()],
        ..Sources::default()
    };
    let none = |_: &str| None;
    let no = |_: &Path| false;
    let ctx = Context {
        cwd: Path::new("/w"),
        env: &none,
        exists: &no,
    };
    let parsed = parse(&clang_cl(), &src, &src.args, &ctx).unwrap();
    assert_eq!(parsed.input.as_os_str().as_bytes(), b"w\xaeird.c");
    assert_eq!(parsed.main_output().as_os_str().as_bytes(), b"o\xae.obj");
}

#[test]
fn fo_colon_is_not_guessed() {
    // clang-cl 14 writes `/Fo:y.obj` to `:y.obj`, newer compilers to `y.obj`.
    assert_eq!(
        p(&["/c", "x.c", "/Fo:y.obj"]).unwrap_err(),
        Reason::UnsupportedOption
    );
}

#[test]
fn languages() {
    assert_eq!(p(&["/c", "x.c"]).unwrap().language, Some(Language::C));
    assert_eq!(p(&["/c", "x.cc"]).unwrap().language, Some(Language::Cxx));
    assert_eq!(
        p(&["/c", "/TP", "x.c"]).unwrap().language,
        Some(Language::Cxx)
    );
    assert_eq!(
        p(&["/c", "x.cpp", "/TC"]).unwrap().language,
        Some(Language::C)
    );
    let tp = p(&["/c", "/Tpx.c"]).unwrap();
    assert_eq!(tp.language, Some(Language::Cxx));
    assert_eq!(tp.input, Path::new("x.c"));
    assert_eq!(tp.main_output(), Path::new("x.obj"));
    let tc = p(&["/c", "/Tc", "weird.txt", "/TP"]).unwrap();
    assert_eq!(tc.language, Some(Language::C), "/Tc beats /TP");
    assert_eq!(tc.input, Path::new("weird.txt"));
    assert!(strs(&tc.preprocess_args).contains(&"weird.txt".to_string()));
    let search = strs(&tc.msvc.unwrap().search_args);
    assert!(
        !search.iter().any(|a| a == "weird.txt" || a == "/Tc"),
        "{search:?}"
    );
    assert_eq!(search.last().map(String::as_str), Some("/Tc/dev/null"));
    assert_eq!(p(&["/c", "x.txt"]).unwrap_err(), Reason::UnknownLanguage);
    // /TC vs /TP is in the key.
    assert_ne!(
        p(&["/c", "/TC", "x.c"]).unwrap().hashed_args,
        p(&["/c", "/TP", "x.c"]).unwrap().hashed_args
    );
}

#[test]
fn not_cacheable() {
    let cases: &[(&[&str], Reason)] = &[
        (&["x.c"], Reason::Linking),
        (&["/c", "x.c", "/link", "/out:a.exe"], Reason::Linking),
        (&["/E", "x.c"], Reason::PreprocessOnly),
        (&["/c", "/P", "x.c"], Reason::PreprocessOnly),
        (&["/EP", "/c", "x.c"], Reason::PreprocessOnly),
        (&["-E", "x.c"], Reason::PreprocessOnly),
        (&["/c", "x.c", "y.c"], Reason::MultipleSources),
        (&["/c", "/MP", "x.c", "y.c"], Reason::MultipleSources),
        (&["/c"], Reason::NoSource),
        (&["/c", "/Zi", "x.c"], Reason::Pdb),
        (&["/c", "-ZI", "x.c"], Reason::Pdb),
        (&["/c", "/Ycpch.h", "x.c"], Reason::PrecompiledHeader),
        (
            &["/c", "/Yupch.h", "/Fppch.pch", "x.c"],
            Reason::PrecompiledHeader,
        ),
        (&["/c", "/Zs", "x.c"], Reason::SyntaxOnly),
        (&["/c", "/FA", "x.c"], Reason::UnsupportedOption),
        (&["/c", "/Faout/", "x.c"], Reason::UnsupportedOption),
        (&["/c", "/o", "y.obj", "x.c"], Reason::UnsupportedOption),
        (
            &["/c", "/sourceDependencies", "d.json", "x.c"],
            Reason::UnsupportedOption,
        ),
        (&["/c", "/clang:-MD", "x.c"], Reason::UnsupportedOption),
        (
            &["/c", "-Xclang", "-include-pch", "x.c"],
            Reason::UnsupportedOption,
        ),
        (
            &["/c", "-fprofile-instr-use=a.profdata", "x.c"],
            Reason::ProfileUse,
        ),
        (&["/c", "--coverage", "x.c"], Reason::UnsupportedOption),
        (&["/c", "-", "/TC"], Reason::StdinInput),
        (&["/c", "x.c", "/D"], Reason::UnsupportedOption),
        // clang-cl reads `/opt/src/x.c` as `/o pt/src/x.c`.
        (&["/c", "/opt/src/x.c"], Reason::UnsupportedOption),
    ];
    for (args, want) in cases {
        assert_eq!(p(args).map(|_| ()).unwrap_err(), *want, "{args:?}");
    }
    // `/analyze-` turns analysis off: fine.
    assert!(p(&["/c", "/analyze-", "x.c"]).is_ok());
}

#[test]
fn z7_records_everything() {
    let parsed = p(&["/c", "/Z7", "x.c", "/Foy.obj"]).unwrap();
    assert!(parsed.records_command_line && parsed.cwd_matters && parsed.output_path_matters);
    assert!(strs(&parsed.hashed_args).contains(&"/Foy.obj".to_string()));
    assert!(
        p(&["/c", "-gline-tables-only", "x.c"])
            .unwrap()
            .records_command_line
    );
    assert!(!p(&["/c", "x.c"]).unwrap().cwd_matters);
}

#[test]
fn options_with_separate_values() {
    let parsed = p(&[
        "/c",
        "/I",
        "inc",
        "/D",
        "A=1",
        "/FI",
        "pre.h",
        "/external:I",
        "ext",
        "/U",
        "B",
        "x.c",
    ])
    .unwrap();
    assert_eq!(parsed.input, Path::new("x.c"));
    assert!(parsed.msvc.as_ref().unwrap().forced_include);
    let hashed = strs(&parsed.hashed_args);
    for pair in [
        ["/I", "inc"],
        ["/D", "A=1"],
        ["/FI", "pre.h"],
        ["/external:I", "ext"],
    ] {
        assert!(
            hashed.windows(2).any(|w| w == pair),
            "{pair:?} in {hashed:?}"
        );
    }
    let cpp = strs(&parsed.preprocess_args);
    assert!(cpp.windows(2).any(|w| w == ["/FI", "pre.h"]));
    // The search-list query reads no forced include (it could be a drained pipe).
    let search = strs(&parsed.msvc.as_ref().unwrap().search_args);
    assert!(
        !search.iter().any(|a| a.contains("pre.h") || a == "/FI"),
        "{search:?}"
    );
    assert!(search.windows(2).any(|w| w == ["/I", "inc"]), "{search:?}");
    let joined = p(&["/c", "/FIpre.h", "/Fipre.i", "x.c"]).unwrap();
    let search = strs(&joined.msvc.as_ref().unwrap().search_args);
    assert!(!search.contains(&"/FIpre.h".to_string()), "{search:?}");
    // Dash and slash spellings mean the same to the parser.
    let dash = p(&["-c", "-Iinc", "-DA=1", "x.c", "-Fofoo.obj"]).unwrap();
    assert_eq!(dash.main_output(), Path::new("foo.obj"));
}

#[test]
fn unknown_options_are_hashed_and_passed_on() {
    let parsed = p(&["/c", "/Qspectre", "-fno-fancy", "/Gw", "x.c"]).unwrap();
    let hashed = strs(&parsed.hashed_args);
    for flag in ["/Qspectre", "-fno-fancy", "/Gw"] {
        assert!(hashed.contains(&flag.to_string()));
        assert!(strs(&parsed.preprocess_args).contains(&flag.to_string()));
    }
    // An absolute path that exists or looks like a source is an input.
    let abs = parse_full(&clang_cl(), "", &["/c", "/home/u/y.c"], "", &[], &[]).unwrap();
    assert_eq!(abs.input, Path::new("/home/u/y.c"));
    let f = parse_full(
        &clang_cl(),
        "",
        &["/c", "/TC", "/srv/gen"],
        "",
        &[],
        &["/srv/gen"],
    );
    assert_eq!(f.unwrap().input, Path::new("/srv/gen"));
    // After `--`, everything is an input; the preprocessor run keeps it one.
    let dd = p(&["/c", "--", "/Dx.c"]).unwrap();
    assert_eq!(dd.input, Path::new("/Dx.c"));
    assert_eq!(strs(&dd.preprocess_args), ["/E", "--", "/Dx.c"]);
    assert_eq!(dd.msvc.unwrap().extra_at, Some(1));
    assert_eq!(p(&["/c", "x.c"]).unwrap().msvc.unwrap().extra_at, Some(2));
    // `--` in CL would make our own flags inputs.
    assert_eq!(
        parse_full(&clang_cl(), "--", &["/c", "x.c"], "", &[], &[]).unwrap_err(),
        Reason::UnsupportedOption
    );
}

#[test]
fn cl_environment_adds_arguments() {
    // CL before the command line, _CL_ after; `#` is `=`.
    let parsed = parse_full(
        &clang_cl(),
        "/DFROM_CL#1 /Iinc",
        &["/c", "x.c"],
        "/DTAIL",
        &[],
        &[],
    )
    .unwrap();
    let hashed = strs(&parsed.hashed_args);
    assert_eq!(hashed.first().map(String::as_str), Some("/DFROM_CL=1"));
    assert_eq!(hashed.last().map(String::as_str), Some("/DTAIL"));
    // The compiler reads CL itself: the runs get only the command line.
    assert_eq!(parsed.compile_args, os(&["/c", "x.c"]));
    assert!(!strs(&parsed.preprocess_args).contains(&"/DFROM_CL=1".to_string()));
    // /c may come from CL alone.
    assert!(parse_full(&clang_cl(), "/c", &["x.c"], "", &[], &[]).is_ok());
    // A value may not straddle CL and the command line.
    assert_eq!(
        parse_full(&clang_cl(), "/D", &["X", "/c", "x.c"], "", &[], &[]).unwrap_err(),
        Reason::UnsupportedOption
    );
    // CL changes the key.
    assert_ne!(
        parse_full(&clang_cl(), "/DA", &["/c", "x.c"], "", &[], &[])
            .unwrap()
            .hashed_args,
        p(&["/c", "x.c"]).unwrap().hashed_args
    );
}

#[test]
fn external_env_dirs_are_hashed_by_value() {
    let a = parse_full(
        &clang_cl(),
        "",
        &["/c", "/external:env:MYINC", "x.c"],
        "",
        &[("MYINC", "/a")],
        &[],
    )
    .unwrap();
    let b = parse_full(
        &clang_cl(),
        "",
        &["/c", "/external:env:MYINC", "x.c"],
        "",
        &[("MYINC", "/b")],
        &[],
    )
    .unwrap();
    assert_ne!(a.hashed_args, b.hashed_args);
}

#[test]
fn show_includes_modes() {
    let user = p(&["/c", "/showIncludes:user", "x.c"]).unwrap();
    assert_eq!(user.msvc.unwrap().show_includes, ShowIncludes::User);
    let none = p(&["/c", "x.c"]).unwrap();
    assert_eq!(none.msvc.unwrap().show_includes, ShowIncludes::No);
}

#[test]
fn notes_are_split_from_stdout() {
    // clang-cl 14 output (recorded): nesting is shown by extra spaces.
    let out = b"Note: including file: ./a.h\nNote: including file:  ./c.h\nhello\nNote: including file: inc/b.h\r\nNote: including file: ./a.h\n";
    let (files, rest) = split_notes(out);
    assert_eq!(files, ["./a.h", "./c.h", "inc/b.h"]);
    assert_eq!(rest, b"hello\n");
    let (none, same) = split_notes(b"x.c\n");
    assert!(none.is_empty());
    assert_eq!(same, b"x.c\n");
}

#[test]
fn windows_tokenizer() {
    // Recorded against clang-cl 14: `/DX=a\b "/DY=c d" /DZ=\"q\"`.
    let words = tokenize_windows(br#"/DX=a\b "/DY=c d" /DZ=\"q\""#);
    assert_eq!(strs(&words), ["/DX=a\\b", "/DY=c d", "/DZ=\"q\""]);
    assert_eq!(strs(&tokenize_windows(b"a\\\\\"b c\" d")), ["a\\b c", "d"]);
    assert_eq!(strs(&tokenize_windows(b"\"\" x")), ["", "x"]);
    assert_eq!(strs(&tokenize_windows(b"\"a\"\"b\"")), ["a\"b"]);
    assert_eq!(strs(&tokenize_windows(b"  \r\n\t")), Vec::<String>::new());
    assert_eq!(strs(&env_words(b"/DA#1 /DB#2#3")), ["/DA=1", "/DB=2#3"]);
}

#[test]
fn response_files() {
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("r.rsp", b"/DX=a\\b \"/I my inc\" @sub/in.rsp".to_vec()),
        ("sub/in.rsp", b"/c".to_vec()),
        // UTF-16LE with a BOM: `/DU=3`.
        ("u16.rsp", b"\xff\xfe/\0D\0U\0=\x003\0".to_vec()),
        ("bad16.rsp", b"\xff\xfe/".to_vec()),
        ("loop.rsp", b"@loop.rsp".to_vec()),
    ];
    let read = |p: &Path| {
        files
            .iter()
            .find(|(n, _)| Path::new(n) == p)
            .map(|(_, c)| c.clone())
    };
    let mut out = Vec::new();
    expand_into(
        &os(&["@r.rsp", "@u16.rsp", "@nope", "x.c"]),
        Quoting::Windows,
        &read,
        0,
        &mut out,
    )
    .unwrap();
    assert_eq!(
        strs(&out),
        ["/DX=a\\b", "/I my inc", "/c", "/DU=3", "@nope", "x.c"]
    );
    let mut out = Vec::new();
    assert_eq!(
        expand_into(&os(&["@bad16.rsp"]), Quoting::Windows, &read, 0, &mut out),
        Err(Reason::UnsupportedOption)
    );
    assert_eq!(
        expand_into(
            &os(&["@loop.rsp"]),
            Quoting::Windows,
            &read,
            0,
            &mut Vec::new()
        ),
        Err(Reason::UnsupportedOption)
    );
    // POSIX quoting on request: the backslash escapes.
    let mut out = Vec::new();
    expand_into(&os(&["@r.rsp"]), Quoting::Posix, &read, 0, &mut out).unwrap();
    assert_eq!(strs(&out)[0], "/DX=ab");
}

#[test]
fn gather_reads_cl_and_refuses_response_files_in_it() {
    let cwd = Path::new("/nonexistent-cachepot-dir");
    let env = |k: &str| match k {
        "CL" => Some(OsString::from("/DA#1")),
        "_CL_" => Some(OsString::from("/DZ")),
        _ => None,
    };
    let s = msvc_args::gather(&os(&["/c", "x.c"]), cwd, &env).unwrap();
    assert_eq!(strs(&s.prefix), ["/DA=1"]);
    assert_eq!(strs(&s.suffix), ["/DZ"]);
    let env = |k: &str| (k == "CL").then(|| OsString::from("@more.rsp"));
    assert_eq!(
        msvc_args::gather(&os(&["/c", "x.c"]), cwd, &env).unwrap_err(),
        Reason::UnsupportedOption
    );
}

/// Found by review: options that write files we do not store, `/clang:` preprocessor
/// and assembler pass-throughs, and time macros on the command line.
#[test]
fn review_cases() {
    for args in [
        &["/c", "a.c", "-ftime-trace"][..],
        &["/c", "a.c", "-fsave-optimization-record"][..],
        &["/c", "a.c", "/clang:-Wp,-MD,x.d"][..],
        &["/c", "a.c", "/clang:-Wa,-adhln=a.lst"][..],
    ] {
        assert_eq!(p(args).unwrap_err(), Reason::UnsupportedOption, "{args:?}");
    }
    assert!(
        p(&["/c", "a.c", "/DT=__TIME__"])
            .unwrap()
            .unmodelled_macro_in_args
    );
    assert!(!p(&["/c", "a.c", "/DT=1"]).unwrap().unmodelled_macro_in_args);
    assert!(p(&["/c", "a.c", "/clang:-Wall"]).is_ok());
}
