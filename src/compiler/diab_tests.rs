//! Unit tests of the diab argument parser (diab.rs) on recorded command lines. No diab
//! compiler can be installed here: these vectors come from public build logs of diab
//! projects and from the cases sccache's diab front end tests, not from runs of dcc.
use super::*;
use crate::compiler::Family;

fn diab(name: &str) -> ResolvedCompiler {
    ResolvedCompiler {
        path: PathBuf::from(name),
        invoked_name: name.into(),
        family: Family::Diab,
        cxx_driver: name == "dplus",
        canonical: None,
    }
}

fn parse_with(name: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Parsed, Reason> {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let envf = move |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| OsString::from(v))
    };
    let exists = |_: &Path| false;
    let ctx = Context {
        cwd: Path::new("/w"),
        stderr_is_tty: false,
        env: &envf,
        exists: &exists,
    };
    parse(&diab(name), &args, &args, &ctx)
}

fn p(args: &[&str]) -> Result<Parsed, Reason> {
    parse_with("dcc", args, &[])
}

fn strs(v: &[OsString]) -> Vec<String> {
    v.iter().map(|a| a.to_string_lossy().into_owned()).collect()
}

fn os(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

#[test]
fn simple_compile() {
    let r = p(&["-c", "foo.c", "-o", "foo.o"]).unwrap();
    assert_eq!(r.language, Some(Language::C));
    assert_eq!(r.input, PathBuf::from("foo.c"));
    assert_eq!(r.main_output(), Path::new("foo.o"));
    assert_eq!(r.outputs.len(), 1);
    assert!(r.dep_file.is_none());
    assert_eq!(strs(&r.preprocess_args), ["foo.c", "-E"]);
    assert_eq!(strs(&r.compile_args), ["-c", "foo.c", "-o", "foo.o"]);
    // The object records the options, the output among them: all hashed.
    assert_eq!(strs(&r.hashed_args), ["-c", "foo.c", "-o", "foo.o"]);
    assert!(r.records_command_line);
    assert!(r.cwd_matters);
    assert!(!r.colour_forced);
}

/// An AUTOSAR-style command line built from the options a diab 5.9.6.4 object records in
/// its `.wrcm` section (public build output), with Unix paths; the `-t` target, `-I`
/// and `-D` options are added.
#[test]
fn recorded_vxworks_command_line() {
    let args = [
        "-tPPCE200Z4204N3VEG:simple",
        "-Xdialect-c99",
        "-Xsmall-data=0",
        "-Xsmall-const=0",
        "-g2",
        "-Xdebug-dwarf2",
        "-Xpass-source",
        "-Xmake-dependency-canonicalize-path-off",
        "-Xmake-dependency=0x4",
        "-Xmake-dependency-target=objs/Pwm_PBcfg.o",
        "-Xmake-dependency-savefile=objs/Pwm_PBcfg.d",
        "-Igen/include",
        "-I",
        "src",
        "-DAUTOSAR",
        "-D",
        "NDEBUG=1",
        "-WDDIABLIB=/opt/diab/5.9.6.4",
        "-c",
        "gen/src/Pwm_PBcfg.c",
        "-o",
        "objs/Pwm_PBcfg.o",
    ];
    let r = p(&args).unwrap();
    assert_eq!(r.language, Some(Language::C));
    assert_eq!(r.input, PathBuf::from("gen/src/Pwm_PBcfg.c"));
    assert_eq!(r.main_output(), Path::new("objs/Pwm_PBcfg.o"));
    assert_eq!(
        r.dep_file,
        Some(DepFile {
            path: PathBuf::from("objs/Pwm_PBcfg.d"),
            target_fixed: true,
            complete: false,
        })
    );
    assert_eq!(
        r.outputs[1],
        Output {
            kind: FileKind::DepFile,
            path: PathBuf::from("objs/Pwm_PBcfg.d"),
            optional: false,
        }
    );
    // The preprocessor gets the options that can change its text, never -c, -o or the
    // dependency options (which would write the user's .d during preprocessing).
    assert_eq!(
        strs(&r.preprocess_args),
        [
            "-tPPCE200Z4204N3VEG:simple",
            "-Xdialect-c99",
            "-Xsmall-data=0",
            "-Xsmall-const=0",
            "-g2",
            "-Xdebug-dwarf2",
            "-Xpass-source",
            "-Igen/include",
            "-I",
            "src",
            "-DAUTOSAR",
            "-D",
            "NDEBUG=1",
            "-WDDIABLIB=/opt/diab/5.9.6.4",
            "gen/src/Pwm_PBcfg.c",
            "-E",
        ]
    );
    assert_eq!(r.hashed_args, os(&args));
    assert_eq!(r.compile_args, os(&args));
}

#[test]
fn dplus_and_cxx_extensions() {
    let r = parse_with("dplus", &["-c", "a.c", "-o", "a.o"], &[]).unwrap();
    assert_eq!(r.language, Some(Language::Cxx));
    for src in ["a.cpp", "a.cc", "a.cxx", "a.C", "a.c++", "a.cp", "a.CPP"] {
        let r = p(&["-c", src, "-o", "a.o"]).unwrap();
        assert_eq!(r.language, Some(Language::Cxx), "{src}");
    }
    let d = crate::compiler::detect(Path::new("/nonexistent/diab/bin/dplus")).unwrap();
    assert_eq!((d.family, d.cxx_driver), (Family::Diab, true));
    let d = crate::compiler::detect(Path::new("/nonexistent/diab/bin/dcc")).unwrap();
    assert_eq!((d.family, d.cxx_driver), (Family::Diab, false));
    assert_eq!(d.family.name(), "diab");
    assert!(!d.family.takes_gcc_dep_flags());
    assert!(Family::Gcc.takes_gcc_dep_flags());
}

#[test]
fn not_cacheable() {
    let cases: &[(&[&str], Reason)] = &[
        (&["foo.c", "-o", "foo"], Reason::Linking),
        (&["-o", "foo"], Reason::Linking),
        (&["foo.o", "bar.o", "-o", "app"], Reason::Linking),
        (
            &["-E", "-c", "foo.c", "-o", "foo.o"],
            Reason::PreprocessOnly,
        ),
        (&["-P", "foo.c"], Reason::PreprocessOnly),
        (
            &["-c", "foo.c", "bar.c", "-o", "foo.o"],
            Reason::MultipleSources,
        ),
        (&["-c", "-o", "foo.o"], Reason::NoSource),
        (&["-c", "-", "-o", "foo.o"], Reason::StdinInput),
        (&["-c", "foo.s", "-o", "foo.o"], Reason::UnknownLanguage),
        (&["-c", "foo.i", "-o", "foo.o"], Reason::UnknownLanguage),
        (&["-c", "foo.h", "-o", "foo.o"], Reason::UnknownLanguage),
        (&["-c", "foo.c", "-o", "-"], Reason::OutputToStdout),
        // Assembly output, version banners, dry runs.
        (&["-S", "foo.c", "-o", "foo.s"], Reason::UnsupportedOption),
        (
            &["-V", "-c", "foo.c", "-o", "foo.o"],
            Reason::UnsupportedOption,
        ),
        (
            &["-VV", "-c", "foo.c", "-o", "foo.o"],
            Reason::UnsupportedOption,
        ),
        (
            &["-##", "-c", "foo.c", "-o", "foo.o"],
            Reason::UnsupportedOption,
        ),
        (
            &["-###", "-c", "foo.c", "-o", "foo.o"],
            Reason::UnsupportedOption,
        ),
        // No -o: where diab puts the object is not known here.
        (&["-c", "foo.c"], Reason::UnsupportedOption),
        // Rules wanted, but no savefile: they would go where we do not know.
        (
            &["-Xmake-dependency", "-c", "foo.c", "-o", "foo.o"],
            Reason::UnsupportedOption,
        ),
        (
            &["-Xmake-dependency=d", "-c", "foo.c", "-o", "foo.o"],
            Reason::UnsupportedOption,
        ),
        // A dependency option we do not know.
        (
            &["-Xmake-dependency-bogus", "-c", "foo.c", "-o", "foo.o"],
            Reason::UnsupportedOption,
        ),
        // An option missing its argument.
        (&["-c", "foo.c", "-o"], Reason::UnsupportedOption),
        (
            &["-c", "foo.c", "-o", "foo.o", "-I"],
            Reason::UnsupportedOption,
        ),
    ];
    for (args, reason) in cases {
        assert_eq!(p(args).unwrap_err(), *reason, "{args:?}");
    }
}

#[test]
fn output_forms() {
    // Separate -o: the object. The last one wins, as for every driver of this kind.
    let r = p(&["-o", "first.o", "-c", "x.c", "-o", "build/x.o"]).unwrap();
    assert_eq!(r.main_output(), Path::new("build/x.o"));
    // A glued -o is not in sccache's table (diab may not read it as the output): it is
    // an unknown flag, so without a separate -o the command is not cached...
    assert_eq!(
        p(&["-c", "x.c", "-obuild/x.o"]).unwrap_err(),
        Reason::UnsupportedOption
    );
    // ...and next to one, it is hashed and passed on like any unknown flag.
    let r = p(&["-c", "x.c", "-obuild/x.o", "-o", "x.o"]).unwrap();
    assert_eq!(r.main_output(), Path::new("x.o"));
    assert!(strs(&r.hashed_args).contains(&"-obuild/x.o".to_string()));
    // The output path is hashed (the object records it), never given to the preprocessor.
    let a = p(&["-c", "x.c", "-o", "a/x.o"]).unwrap();
    let b = p(&["-c", "x.c", "-o", "b/x.o"]).unwrap();
    assert_ne!(a.hashed_args, b.hashed_args);
    assert_eq!(a.preprocess_args, b.preprocess_args);
}

#[test]
fn options_with_arguments() {
    let r = p(&[
        "-c",
        "x.c",
        "-o",
        "x.o",
        "-t",
        "PPC604FH:vxworks55",
        "-W",
        "xfile",
        "-Y",
        "I,inc",
        "-L",
        "lib",
        "-l",
        "m",
        "-include",
        "pre.h",
        "-U",
        "DEBUG",
    ])
    .unwrap();
    // Each separate argument was taken by its option: one input, and the values are
    // given to the preprocessor with their options.
    assert_eq!(r.input, PathBuf::from("x.c"));
    assert_eq!(
        strs(&r.preprocess_args),
        [
            "x.c",
            "-t",
            "PPC604FH:vxworks55",
            "-W",
            "xfile",
            "-Y",
            "I,inc",
            "-L",
            "lib",
            "-l",
            "m",
            "-include",
            "pre.h",
            "-U",
            "DEBUG",
            "-E"
        ]
    );
    // Glued forms are one word.
    let r = p(&[
        "-c",
        "x.c",
        "-o",
        "x.o",
        "-tPPCE200Z4VEN:simple",
        "-Wa,-l",
        "-YI,inc",
        "-Iinc",
        "-includepre.h",
    ])
    .unwrap();
    assert_eq!(r.input, PathBuf::from("x.c"));
    assert_eq!(r.preprocess_args.len(), 7);
}

#[test]
fn unknown_options_are_hashed_and_passed_on() {
    let r = p(&["-c", "foo.cc", "-Xfoo=1", "-o", "foo.o", "-mxyz", "-#"]).unwrap();
    assert_eq!(r.language, Some(Language::Cxx));
    assert_eq!(
        strs(&r.preprocess_args),
        ["foo.cc", "-Xfoo=1", "-mxyz", "-#", "-E"]
    );
    for flag in ["-Xfoo=1", "-mxyz", "-#"] {
        assert!(strs(&r.hashed_args).contains(&flag.to_string()));
        assert!(strs(&r.compile_args).contains(&flag.to_string()));
    }
}

#[test]
fn dependency_options() {
    // sccache's recorded vector: the four dependency options together.
    let r = p(&[
        "-c",
        "foo.c",
        "-fabc",
        "-Xmake-dependency",
        "-Xmake-dependency-canonicalize-path-off",
        "-Xmake-dependency-savefile=bar",
        "-Xmake-dependency-target=foo",
        "-o",
        "foo.o",
    ])
    .unwrap();
    assert_eq!(r.dep_file.as_ref().unwrap().path, PathBuf::from("bar"));
    assert!(!r.outputs[1].optional);
    assert_eq!(strs(&r.preprocess_args), ["foo.c", "-fabc", "-E"]);
    assert_eq!(r.hashed_args.len(), 9);
    // Mode values seen in build scripts.
    for mode in [
        "-Xmake-dependency=d",
        "-Xmake-dependency=5",
        "-Xmake-dependency=0x4",
    ] {
        let r = p(&[
            mode,
            "-Xmake-dependency-savefile=obj/x.d_tmp",
            "-c",
            "x.c",
            "-o",
            "obj/x.o",
        ])
        .unwrap();
        assert_eq!(r.outputs[1].path, PathBuf::from("obj/x.d_tmp"));
        assert_eq!(strs(&r.preprocess_args), ["x.c", "-E"]);
    }
    // A savefile alone may not be written: optional.
    let r = p(&["-Xmake-dependency-savefile=x.d", "-c", "x.c", "-o", "x.o"]).unwrap();
    assert!(r.outputs[1].optional);
    assert!(r.dep_file.as_ref().unwrap().target_fixed);
}

#[test]
fn environment_is_keyed_and_dflags_classified() {
    let base = p(&["-c", "x.c", "-o", "x.o"]).unwrap();
    let t = parse_with(
        "dcc",
        &["-c", "x.c", "-o", "x.o"],
        &[("DTARGET", "PPC"), ("DENVIRON", "vxworks69")],
    )
    .unwrap();
    assert_eq!(
        strs(&t.hashed_args[4..]),
        ["<env DENVIRON=vxworks69>", "<env DTARGET=PPC>"]
    );
    assert_eq!(t.preprocess_args, base.preprocess_args);
    // DFLAGS: keyed, and its options are seen (the driver adds them itself).
    let d = parse_with(
        "dcc",
        &["-c", "x.c", "-o", "x.o"],
        &[("DFLAGS", "-O -Xfoo")],
    )
    .unwrap();
    assert_eq!(strs(&d.hashed_args[4..]), ["<env DFLAGS=-O -Xfoo>"]);
    assert_eq!(d.compile_args, base.compile_args);
    assert_eq!(d.preprocess_args, base.preprocess_args);
    assert_eq!(
        parse_with("dcc", &["-c", "x.c", "-o", "x.o"], &[("DFLAGS", "-E")]).unwrap_err(),
        Reason::PreprocessOnly
    );
    let s = parse_with(
        "dcc",
        &["-c", "x.c", "-o", "x.o"],
        &[("DFLAGS", "-Xmake-dependency -Xmake-dependency-savefile=x.d")],
    )
    .unwrap();
    assert_eq!(s.outputs[1].path, PathBuf::from("x.d"));
    // An empty variable is as good as unset.
    let e = parse_with("dcc", &["-c", "x.c", "-o", "x.o"], &[("DFLAGS", "")]).unwrap();
    assert_eq!(e.hashed_args, base.hashed_args);
}

fn expand(args: &[&str], env: &[(&str, &str)], files: &[(&str, &str)]) -> Vec<String> {
    let envf = |k: &str| {
        env.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| OsString::from(v))
    };
    let read = |p: &Path| {
        files
            .iter()
            .find(|(n, _)| Path::new(n) == p)
            .map(|(_, c)| c.as_bytes().to_vec())
    };
    strs(&expand_with(&os(args), &envf, &read))
}

#[test]
fn response_files() {
    // A file, split on whitespace, nested files expanded.
    assert_eq!(
        expand(
            &["-@args.txt", "x.c"],
            &[],
            &[("args.txt", "-c -o x.o\n-DA=1 -@more"), ("more", "-Iinc")]
        ),
        ["-c", "-o", "x.o", "-DA=1", "-Iinc", "x.c"]
    );
    // An environment variable of that name comes first, as in the diab driver.
    assert_eq!(
        expand(&["-@OPTS"], &[("OPTS", "-O -c")], &[("OPTS", "-g")]),
        ["-O", "-c"]
    );
    // Left as they are (and then refused by the parser): redirections, `-@@`, unreadable
    // files, quoting we do not model, a file that includes itself past the depth limit.
    for arg in [
        "-@E=err.txt",
        "-@E+err.txt",
        "-@O=out.txt",
        "-@O+out.txt",
        "-@@f",
        "-@",
    ] {
        assert_eq!(expand(&[arg], &[], &[("f", "-c")]), [arg]);
    }
    assert_eq!(expand(&["-@missing"], &[], &[]), ["-@missing"]);
    assert_eq!(expand(&["-@q"], &[], &[("q", "-DX=\"a b\"")]), ["-@q"]);
    assert_eq!(expand(&["-@q"], &[], &[("q", "-Ia\\b")]), ["-@q"]);
    assert_eq!(expand(&["-@loop"], &[], &[("loop", "-@loop")]), ["-@loop"]);
    // A file naming itself twice stops at the expansion budget, not after 2^16 reads.
    let twice = expand(&["-@two"], &[], &[("two", "-@two -@two")]);
    assert!(twice.len() <= 2 * MAX_EXPANSIONS && twice.iter().all(|a| a == "-@two"));

    // Through the parser: an expanded file is a cacheable compile whose expansion is
    // hashed; the compile runs the user's words.
    let envf = |_: &str| None;
    let read = |_: &Path| Some(b"-c foo.c -o foo.o".to_vec());
    let original = os(&["-@foo.rsp"]);
    let expanded = expand_with(&original, &envf, &read);
    let exists = |_: &Path| false;
    let ctx = Context {
        cwd: Path::new("/w"),
        stderr_is_tty: false,
        env: &envf,
        exists: &exists,
    };
    let r = parse(&diab("dcc"), &expanded, &original, &ctx).unwrap();
    assert_eq!(r.main_output(), Path::new("foo.o"));
    assert_eq!(strs(&r.hashed_args), ["-c", "foo.c", "-o", "foo.o"]);
    assert_eq!(r.compile_args, original);
    // What stays unexpanded is not cacheable.
    for arg in ["-@E=err.txt", "-@O+out.txt", "-@@foo", "-@missing"] {
        assert_eq!(
            p(&[arg, "-c", "foo.c", "-o", "foo.o"]).unwrap_err(),
            Reason::UnsupportedOption,
            "{arg}"
        );
    }
}
