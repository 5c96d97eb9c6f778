//! Unit tests of the nvcc parser and plan reader (nvcc.rs), on recorded command lines and
//! recorded `nvcc --dryrun` output of nvcc 13.5 (fixtures/nvcc/, toolkit path shortened).
use super::*;

fn args(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

fn p(v: &[&str]) -> Result<Parsed, Reason> {
    let a = args(v);
    parse(&a, &a)
}

fn hashed(v: &[&str]) -> Vec<String> {
    p(v).unwrap()
        .hashed_args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn compile_with_output_and_gencode() {
    let parsed = p(&[
        "-c",
        "k.cu",
        "-o",
        "out/k.o",
        "-gencode",
        "arch=compute_75,code=sm_75",
        "--generate-code=arch=compute_80,code=sm_80",
    ])
    .unwrap();
    assert_eq!(parsed.language, Some(Language::Cuda));
    assert_eq!(parsed.input, PathBuf::from("k.cu"));
    assert_eq!(parsed.main_output(), Path::new("out/k.o"));
    assert_eq!(parsed.outputs.len(), 1);
    assert!(parsed.dep_file.is_none());
    // The gencode values are arguments, not inputs; the output is not hashed.
    let h: Vec<String> = parsed
        .hashed_args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        h,
        [
            "-c",
            "<input>",
            "-gencode",
            "arch=compute_75,code=sm_75",
            "--generate-code=arch=compute_80,code=sm_80"
        ]
    );
    assert_eq!(
        parsed.preprocess_args.last().unwrap(),
        &OsString::from("--dryrun")
    );
    assert_eq!(parsed.compile_args, parsed.preprocess_args[..7].to_vec());
}

#[test]
fn default_outputs_by_mode() {
    let out = |v: &[&str]| p(v).unwrap().main_output().to_path_buf();
    assert_eq!(out(&["-c", "src/k.cu"]), PathBuf::from("k.o"));
    assert_eq!(out(&["-dc", "src/k.cu"]), PathBuf::from("k.o"));
    assert_eq!(out(&["--ptx", "k.cu"]), PathBuf::from("k.ptx"));
    assert_eq!(
        out(&["-cubin", "-arch=sm_80", "k.cu"]),
        PathBuf::from("k.cubin")
    );
    assert_eq!(out(&["-fatbin", "k.cu"]), PathBuf::from("k.fatbin"));
    assert_eq!(out(&["-c", "k.cu", "-odir", "b"]), PathBuf::from("b/k.o"));
    assert_eq!(
        out(&["-c", "k.cu", "-odir", "b", "-o", "x.o"]),
        PathBuf::from("x.o")
    );
}

#[test]
fn dep_file_outputs() {
    let parsed = p(&["-c", "k.cu", "-o", "b/k.o", "-MD"]).unwrap();
    let dep = parsed.dep_file.clone().unwrap();
    assert_eq!(dep.path, PathBuf::from("b/k.d"));
    assert!(!dep.target_fixed);
    assert_eq!(parsed.outputs[1].kind, FileKind::DepFile);
    let parsed = p(&["-c", "k.cu", "-MD", "-MF", "deps/k.dep", "-MT", "t"]).unwrap();
    let dep = parsed.dep_file.unwrap();
    assert_eq!(dep.path, PathBuf::from("deps/k.dep"));
    assert!(dep.target_fixed);
    // -MF is not hashed; -MT is.
    let h = hashed(&["-c", "k.cu", "-MD", "-MF", "deps/k.dep", "-MT", "t"]);
    assert_eq!(h, ["-c", "<input>", "-MD", "-MT", "t"]);
    let parsed = p(&["-c", "k.cu", "--generate-dependencies-with-compile"]).unwrap();
    assert_eq!(parsed.dep_file.unwrap().path, PathBuf::from("k.d"));
}

#[test]
fn not_cacheable() {
    assert_eq!(p(&["-E", "k.cu"]).unwrap_err(), Reason::PreprocessOnly);
    assert_eq!(
        p(&["--preprocess", "k.cu"]).unwrap_err(),
        Reason::PreprocessOnly
    );
    assert_eq!(p(&["-M", "k.cu"]).unwrap_err(), Reason::DepToStdout);
    assert_eq!(
        p(&["-M", "k.cu", "-MF", "k.d"]).unwrap_err(),
        Reason::PreprocessOnly
    );
    assert_eq!(p(&["k.cu", "-o", "app"]).unwrap_err(), Reason::Linking);
    assert_eq!(p(&["--run", "k.cu"]).unwrap_err(), Reason::Linking);
    assert_eq!(p(&["-c", "k.cu", "-dlink"]).unwrap_err(), Reason::Linking);
    assert_eq!(p(&["-c", "k.cu", "-keep"]).unwrap_err(), Reason::SaveTemps);
    assert_eq!(
        p(&["-c", "a.cu", "b.cu"]).unwrap_err(),
        Reason::MultipleSources
    );
    assert_eq!(p(&["-c"]).unwrap_err(), Reason::NoSource);
    assert_eq!(p(&["-c", "k.ptx"]).unwrap_err(), Reason::UnknownLanguage);
    assert_eq!(
        p(&["-c", "-x", "ptx", "k.cu"]).unwrap_err(),
        Reason::UnknownLanguage
    );
    assert_eq!(
        p(&["-c", "k.cu", "--time", "t.csv"]).unwrap_err(),
        Reason::UnsupportedOption
    );
    assert_eq!(
        p(&["-c", "k.cu", "-o"]).unwrap_err(),
        Reason::UnsupportedOption
    );
    assert_eq!(p(&["-c", "-", "-x", "cu"]).unwrap_err(), Reason::StdinInput);
}

#[test]
fn languages() {
    let lang = |v: &[&str]| p(v).unwrap().language.unwrap();
    assert_eq!(lang(&["-c", "-x", "cu", "k.cpp"]), Language::Cuda);
    assert_eq!(lang(&["-c", "--x=cu", "k.cpp"]), Language::Cuda);
    assert_eq!(lang(&["-c", "k.cpp"]), Language::Cxx);
    assert_eq!(lang(&["-c", "k.c"]), Language::C);
}

#[test]
fn options_with_arguments_are_not_inputs() {
    // Each value below would be a second input if the table did not know its option.
    for (opt, value) in [
        ("-ccbin", "/usr/bin/g++"),
        ("--compiler-bindir", "gcc-12"),
        ("-Xcompiler", "-fPIC,-O2"),
        ("-Xptxas", "-v"),
        ("-Xnvlink", "--verbose"),
        ("-arch", "sm_80"),
        ("-code", "sm_80"),
        ("-I", "inc"),
        ("-isystem", "sys"),
        ("-D", "X=1"),
        ("-std", "c++17"),
        ("-rdc", "true"),
        ("-include", "pre.h"),
        ("-O", "3"),
    ] {
        let parsed = p(&["-c", "k.cu", opt, value]).unwrap_or_else(|e| panic!("{opt}: {e:?}"));
        assert_eq!(parsed.input, PathBuf::from("k.cu"), "{opt}");
        assert!(parsed.hashed_args.contains(&OsString::from(value)), "{opt}");
    }
    // Glued and `=` forms.
    let h = hashed(&[
        "-c",
        "k.cu",
        "-Iinc",
        "-DX=1",
        "-arch=sm_80",
        "-Xcompiler=-fPIC",
    ]);
    assert_eq!(
        h[2..],
        ["-Iinc", "-DX=1", "-arch=sm_80", "-Xcompiler=-fPIC"]
    );
    // Flags that merely start like an option with an argument.
    let h = hashed(&["-c", "k.cu", "-lineinfo", "-use_fast_math", "-G"]);
    assert_eq!(h[2..], ["-lineinfo", "-use_fast_math", "-G"]);
    // Unknown flags are hashed and passed on.
    let parsed = p(&["-c", "k.cu", "--expt-relaxed-constexpr"]).unwrap();
    assert!(parsed
        .compile_args
        .contains(&OsString::from("--expt-relaxed-constexpr")));
    assert!(p(&["-c", "k.cu", "-G"]).unwrap().cwd_matters);
    assert!(!p(&["-c", "k.cu"]).unwrap().cwd_matters);
}

#[test]
fn options_files_are_spliced_and_recorded() {
    let read = |p: &Path| -> Option<String> {
        match p.to_str()? {
            "opts.txt" => Some("-DFROM_FILE=1 \"-Iinc dir\"\n-arch=sm_80\n".into()),
            "nested.txt" => Some("--options-file opts.txt".into()),
            _ => None,
        }
    };
    let (expanded, files) =
        expand_options_files(&args(&["-c", "k.cu", "--options-file", "opts.txt"]), &read).unwrap();
    assert_eq!(files, [PathBuf::from("opts.txt")]);
    assert_eq!(
        expanded,
        args(&[
            "-c",
            "k.cu",
            "--options-file",
            "opts.txt",
            "-DFROM_FILE=1",
            "-Iinc dir",
            "-arch=sm_80"
        ])
    );
    let parsed = parse(
        &expanded,
        &args(&["-c", "k.cu", "--options-file", "opts.txt"]),
    )
    .unwrap();
    assert_eq!(parsed.input, PathBuf::from("k.cu"));
    let (_, files) = expand_options_files(&args(&["-c", "k.cu", "-optf=opts.txt"]), &read).unwrap();
    assert_eq!(files, [PathBuf::from("opts.txt")]);
    assert_eq!(
        expand_options_files(&args(&["-c", "k.cu", "-optf", "missing"]), &read).unwrap_err(),
        Reason::UnsupportedOption
    );
    assert_eq!(
        expand_options_files(&args(&["-c", "k.cu", "-optf", "nested.txt"]), &read).unwrap_err(),
        Reason::UnsupportedOption
    );
}

const TWO_ARCH: &str = include_str!("../../fixtures/nvcc/dryrun-two-arch-md.txt");
const CPP_CCBIN_DIR: &str = include_str!("../../fixtures/nvcc/dryrun-cpp-ccbin-dir.txt");

#[test]
fn plan_has_a_host_pass_and_one_pass_per_architecture() {
    let plan = plan(
        TWO_ARCH,
        Path::new("k.cu"),
        &[Path::new("k.o"), Path::new("k.d")],
    )
    .unwrap();
    assert_eq!(plan.passes.len(), 3, "{plan:#?}");
    let arch_of = |pass: &Pass| {
        pass.args
            .iter()
            .find(|a| a.starts_with("-D__CUDA_ARCH__="))
            .cloned()
    };
    assert_eq!(
        arch_of(&plan.passes[0]).as_deref(),
        Some("-D__CUDA_ARCH__=750")
    );
    assert_eq!(
        arch_of(&plan.passes[1]).as_deref(),
        Some("-D__CUDA_ARCH__=800")
    );
    assert_eq!(arch_of(&plan.passes[2]), None, "the host pass");
    for pass in &plan.passes {
        assert_eq!(pass.program, "gcc");
        assert!(pass.args.contains(&"-E".to_string()));
        assert!(pass.args.contains(&"k.cu".to_string()));
        assert!(!pass.args.contains(&"-o".to_string()), "{:?}", pass.args);
        assert!(!pass.args.iter().any(|a| a.contains("tmpxft")));
    }
    // No temporary name and no output path is left in the normalized plan.
    let all: Vec<&String> = plan.normalized.iter().flatten().collect();
    assert!(!all.iter().any(|w| w.contains("tmpxft")), "{all:?}");
    assert!(!all.iter().any(|w| *w == "k.o" || *w == "k.d"), "{all:?}");
    assert!(all.iter().any(|w| *w == "-arch=sm_80"));
    assert!(all.iter().any(|w| *w == "CUDA_ROOT=/NV"));
}

#[test]
fn plan_of_a_cpp_input_preprocesses_the_host_compile() {
    let plan = plan(CPP_CCBIN_DIR, Path::new("h.cpp"), &[Path::new("h.o")]).unwrap();
    assert_eq!(plan.passes.len(), 1);
    assert_eq!(plan.passes[0].program, "/usr/bin/gcc");
    assert!(plan.passes[0].args.contains(&"-E".to_string()));
    assert!(!plan.passes[0].args.contains(&"-c".to_string()));
    assert!(!plan.passes[0].args.contains(&"h.o".to_string()));
}

#[test]
fn plan_rejects_what_it_cannot_account_for() {
    // A toolkit step reading the source itself.
    let text = "#$ ptxas -arch=sm_80 k.cu -o k.cubin\n#$ gcc -E k.cu -o /tmp/x.ii\n";
    assert_eq!(
        plan(text, Path::new("k.cu"), &[]).unwrap_err(),
        Reason::UnsupportedOption
    );
    // An unknown program that is neither a pass nor a compile of temporaries.
    let text = "#$ gcc -E k.cu -o /tmp/x.ii\n#$ strange-tool /tmp/x\n";
    assert_eq!(
        plan(text, Path::new("k.cu"), &[]).unwrap_err(),
        Reason::UnsupportedOption
    );
    // No pass at all.
    assert_eq!(
        plan("#$ CUDA_ROOT=/x\n", Path::new("k.cu"), &[]).unwrap_err(),
        Reason::UnsupportedOption
    );
}

#[test]
fn temporary_names_are_normalized() {
    assert_eq!(
        normalize_word("/tmp/tmpxft_0000799f_00000000-5_k.cpp4.ii"),
        "<tmp>-5_k.cpp4.ii"
    );
    assert_eq!(
        normalize_word("--image3=kind=elf,sm=75,file=/tmp/tmpxft_00007ec3_00000000-9_k.cubin"),
        "--image3=kind=elf,sm=75,file=<tmp>-9_k.cubin"
    );
    assert_eq!(
        normalize_word("tmpxft_0000799f_00000000-6_k.cudafe1.stub.c"),
        "<tmp>-6_k.cudafe1.stub.c"
    );
    assert_eq!(normalize_word("-arch=sm_80"), "-arch=sm_80");
}

/// Found by review: host-compiler options that read or write files we do not model, and
/// `-odir` beside `-o` (it changes only the dep file's target).
#[test]
fn host_options_with_files_and_odir() {
    for host in [
        "-fprofile-use=/p",
        "-fstack-usage",
        "-fcallgraph-info",
        "-save-temps",
        "--coverage",
        "-gsplit-dwarf,-g",
        "-MD",
        "-fdump-tree-all",
    ] {
        let args = ["-c", "k.cu", "-o", "k.o", "-Xcompiler", host];
        assert_eq!(p(&args).unwrap_err(), Reason::UnsupportedOption, "{host}");
    }
    let native = p(&[
        "-c",
        "k.cu",
        "-o",
        "k.o",
        "-Xcompiler",
        "-O2,-Wall,-march=native",
    ]);
    assert!(
        native.unwrap().needs_cpu_info,
        "-march=native for the host compiler"
    );
    assert_eq!(
        p(&["-c", "k.cu", "-MD", "-odir", "sub", "-o", "y.o"]).unwrap_err(),
        Reason::UnsupportedOption
    );
}
