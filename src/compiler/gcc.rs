//! gcc, g++, cc, c++, clang and clang++: the option table and the parser.
//!
//! clang's driver accepts gcc's options, so both families share one table; the few
//! differences (colour flag spelling, clang-only options) are rows or `Family` checks
//! here, never in the pipeline. Options missing from the table are hashed and passed on:
//! if one of them takes a separate argument, that argument looks like a second input and
//! the command is counted `multiple_sources` — a lost hit, never a wrong one.

use super::gcc_files::{
    b_prefix_programs, clang_prefix_map, writes_unmodelled_file, xclang_safe, READ_FILE_PREFIXES,
};
use super::{DepFile, Family, Language, Output, Parsed, ResolvedCompiler};
use crate::entry::FileKind;
use crate::error::Reason;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// What an option with an argument means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// `-o`: names the main output; not hashed.
    Output,
    /// `-x`: sets the language of the inputs that follow.
    Lang,
    /// `-MF`: names the dep file; not hashed.
    DepOutput,
    /// `-MT`/`-MQ`: the dep file's target; hashed.
    DepTarget,
    /// `-include`/`-imacros`: a file read by the preprocessor (check for a `.gch`).
    IncludeFile,
    /// Anything else with an argument: hashed as written, passed on.
    Other,
    /// `-arch`: several of them make a fat object we do not model.
    Arch,
    /// Cannot be cached.
    TooHard(Reason),
}

type Opt = super::args::Opt<Class>;
use super::args::opt;

use Class::*;

/// Options that take an argument. Sorted by name; lookup prefers the longest joined match.
const OPTIONS: &[Opt] = &[
    opt("--param", true, false, Other),
    opt("--param=", false, true, Other),
    opt(
        "--serialize-diagnostics",
        true,
        false,
        TooHard(Reason::UnsupportedOption),
    ),
    opt("--specs=", false, true, Other),
    opt("--sysroot", true, false, Other),
    opt("--sysroot=", false, true, Other),
    opt("--target=", false, true, Other),
    opt("-A", true, true, Other),
    opt("-B", true, true, Other),
    opt("-D", true, true, Other),
    opt("-F", true, true, Other),
    opt("-I", true, true, Other),
    opt("-L", true, true, Other),
    opt("-MF", true, true, DepOutput),
    opt("-MJ", true, true, TooHard(Reason::UnsupportedOption)),
    opt("-MQ", true, true, DepTarget),
    opt("-MT", true, true, DepTarget),
    opt("-U", true, true, Other),
    opt("-Xassembler", true, false, Other),
    opt("-Xclang", true, false, Other),
    opt("-Xlinker", true, false, Other),
    opt("-Xpreprocessor", true, false, Other),
    opt("-arch", true, false, Arch),
    opt("-aux-info", true, false, TooHard(Reason::UnsupportedOption)),
    opt(
        "-dependency-file",
        true,
        false,
        TooHard(Reason::UnsupportedOption),
    ),
    opt("-dumpbase", true, false, Other),
    opt("-dumpbase-ext", true, false, Other),
    opt("-dumpdir", true, false, Other),
    opt("-gcc-toolchain", true, false, Other),
    opt("-idirafter", true, true, Other),
    opt("-iframework", true, true, Other),
    opt("-imacros", true, true, IncludeFile),
    opt("-imsvc", true, true, Other),
    opt("-imultilib", true, true, Other),
    opt("-include", true, true, IncludeFile),
    opt(
        "-include-pch",
        true,
        false,
        TooHard(Reason::PrecompiledHeader),
    ),
    opt("-iprefix", true, true, Other),
    opt("-iquote", true, true, Other),
    opt("-isysroot", true, true, Other),
    opt("-isystem", true, true, Other),
    opt("-isystem-after", true, true, Other),
    opt("-ivfsoverlay", true, true, Other),
    opt("-iwithprefix", true, true, Other),
    opt("-iwithprefixbefore", true, true, Other),
    opt("-l", true, true, Other),
    opt("-mllvm", true, false, Other),
    opt("-o", true, true, Output),
    opt("-specs=", false, true, Other),
    opt("-target", true, false, Other),
    opt("-u", true, false, Other),
    opt("-wrapper", true, false, Other),
    opt("-x", true, true, Lang),
    opt("-z", true, false, Other),
];

/// Find the option an argument starts: exact separate form first, then the longest
/// joined prefix. Returns the option and the glued-on value, if any.
fn lookup(arg: &str) -> Option<(&'static Opt, Option<&str>)> {
    super::args::lookup(OPTIONS, arg)
}

/// What the parser needs from the world, given by the caller so that parsing is pure.
pub struct Context<'a> {
    pub cwd: &'a Path,
    pub stderr_is_tty: bool,
    pub env: &'a dyn Fn(&str) -> Option<OsString>,
    /// Whether a path exists (to find `.gch` files beside `-include` headers).
    pub exists: &'a dyn Fn(&Path) -> bool,
}

fn language_from_x(x: &str) -> Result<Option<Language>, Reason> {
    Ok(Some(match x {
        "none" => return Ok(None),
        "c" => Language::C,
        "c++" => Language::Cxx,
        "objective-c" => Language::ObjC,
        "objective-c++" => Language::ObjCxx,
        "assembler" => Language::Asm,
        "assembler-with-cpp" => Language::AsmCpp,
        "cpp-output" => Language::CPreprocessed,
        "c++-cpp-output" => Language::CxxPreprocessed,
        "objective-c-cpp-output" | "objc-cpp-output" => Language::ObjCPreprocessed,
        "objective-c++-cpp-output" | "objc++-cpp-output" => Language::ObjCxxPreprocessed,
        "c-header" | "c++-header" | "objective-c-header" | "objective-c++-header" => {
            return Err(Reason::PrecompiledHeader)
        }
        _ => return Err(Reason::UnknownLanguage),
    }))
}

fn language_from_extension(path: &Path, cxx_driver: bool) -> Result<Language, Reason> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "c" if cxx_driver => Language::Cxx,
        "c" => Language::C,
        "i" if cxx_driver => Language::CxxPreprocessed,
        "i" => Language::CPreprocessed,
        "ii" => Language::CxxPreprocessed,
        "cc" | "cp" | "cxx" | "cpp" | "CPP" | "c++" | "C" => Language::Cxx,
        "m" => Language::ObjC,
        "mi" => Language::ObjCPreprocessed,
        "mm" | "M" => Language::ObjCxx,
        "mii" => Language::ObjCxxPreprocessed,
        "s" => Language::Asm,
        "S" | "sx" => Language::AsmCpp,
        "h" | "hh" | "hpp" | "hxx" | "H" | "h++" | "tcc" => return Err(Reason::PrecompiledHeader),
        _ => return Err(Reason::UnknownLanguage),
    })
}

/// `dir/name.ext` -> `dir/name.<new_ext>` (gcc derives .d/.gcno/.dwo names this way).
fn with_extension(path: &Path, new_ext: &str) -> PathBuf {
    path.with_extension(new_ext)
}

/// Parse an expanded argument vector (response files already expanded).
/// `original` is the user's vector as given, used to run the compile unchanged.
pub fn parse(
    compiler: &ResolvedCompiler,
    expanded: &[OsString],
    original: &[OsString],
    ctx: &Context,
) -> Result<Parsed, Reason> {
    for var in ["DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES"] {
        if (ctx.env)(var).is_some_and(|v| !v.is_empty()) {
            return Err(Reason::DependenciesEnv);
        }
    }
    // clang's driver logging: header lists and command lines on stderr or in files.
    for var in [
        "CC_PRINT_HEADERS",
        "CC_PRINT_OPTIONS",
        "CC_LOG_DIAGNOSTICS",
        "CC_PRINT_PROC_STAT",
    ] {
        if (ctx.env)(var).is_some_and(|v| !v.is_empty()) {
            return Err(Reason::UnsupportedOption);
        }
    }
    let short = super::gcc_long::to_short_forms(expanded)?;
    let expanded = short.as_slice();
    let mut p = Parsed::default();
    let mut compile_only = false;
    let mut assemble_only = false;
    let mut output: Option<OsString> = None;
    // An unknown `-x` only matters for the inputs that follow it.
    let mut x_lang: Result<Option<Language>, Reason> = Ok(None);
    let mut inputs: Vec<(OsString, Result<Option<Language>, Reason>)> = Vec::new();
    let mut dep_requested = false;
    let mut dep_complete = true;
    let mut dep_output: Option<OsString> = None;
    let mut wp_dep_output: Option<OsString> = None;
    let mut dep_target_given = false;
    let mut dep_to_stdout = false;
    let mut gcno = false;
    let mut profile_paths = false;
    let mut split_dwarf = false;
    let mut debug = false;
    let mut prefix_maps: Vec<String> = Vec::new();
    let mut stack_usage = false;
    let mut callgraph_info = false;
    let mut arch_count = 0;
    let mut record_switches = false;
    let mut records_command_line = false;
    let mut forced_includes: Vec<OsString> = Vec::new();
    let mut include_dirs: Vec<OsString> = Vec::new();
    let mut colour_given = false;
    let mut output_base_given = false;
    let mut xclang_load = false;
    let mut xclang_value = false;

    let mut i = 0;
    while i < expanded.len() {
        let a = &expanded[i];
        let s = a.to_string_lossy();
        let s = s.as_ref();
        i += 1;

        if s == "-" {
            return Err(Reason::StdinInput);
        }
        if !s.starts_with('-') || s.len() == 1 {
            inputs.push((a.clone(), x_lang));
            p.hashed_args.push(OsString::from("<input>"));
            p.preprocess_args.push(a.clone());
            continue;
        }

        // Flags without an argument.
        let mut keep_for_cpp = true;
        match s {
            "-c" => {
                compile_only = true;
                keep_for_cpp = false;
            }
            "-S" => {
                assemble_only = true;
                keep_for_cpp = false;
            }
            "-E" => return Err(Reason::PreprocessOnly),
            "-M" | "-MM" => dep_to_stdout = true,
            "-MD" | "-MMD" => {
                dep_requested = true;
                dep_complete = s == "-MD";
                keep_for_cpp = false;
            }
            "-MP" | "-MG" => keep_for_cpp = false,
            "-fsyntax-only" => return Err(Reason::SyntaxOnly),
            "-fmodules" | "-fcxx-modules" | "-fmodules-ts" | "-fmodule-header" => {
                return Err(Reason::ClangModules)
            }
            "-emit-pch" | "-fpch-preprocess" => return Err(Reason::PrecompiledHeader),
            "-###" => return Err(Reason::UnsupportedOption),
            "--coverage" | "-ftest-coverage" => {
                gcno = true;
                profile_paths = true;
            }
            "-fprofile-arcs" | "-fprofile-generate" | "-fprofile-instr-generate" => {
                profile_paths = true
            }
            "-gsplit-dwarf" | "-gsplit-dwarf=split" | "-gsplit-dwarf=single" => split_dwarf = true,
            // RTL dumps of every pass (files beside the output).
            "-da" => return Err(Reason::UnsupportedOption),
            // clang resolves every path against another directory: not modelled.
            _ if s.starts_with("-working-directory") => return Err(Reason::UnsupportedOption),
            "-g0" | "-ggdb0" => debug = false,
            "-frecord-gcc-switches" => record_switches = true,
            "-grecord-gcc-switches" | "-grecord-command-line" | "-frecord-command-line" => {
                records_command_line = true
            }
            "-gno-record-gcc-switches"
            | "-gno-record-command-line"
            | "-fno-record-command-line" => records_command_line = false,
            "-fstack-usage" => stack_usage = true,
            "-fcallgraph-info" => callgraph_info = true,
            "-fdiagnostics-color"
            | "-fno-diagnostics-color"
            | "-fcolor-diagnostics"
            | "-fno-color-diagnostics" => colour_given = true,
            "-fprofile-use"
            | "-fauto-profile"
            | "-fprofile-instr-use"
            | "-fbranch-probabilities" => return Err(Reason::ProfileUse),
            _ => {
                if s.starts_with("-save-temps") {
                    return Err(Reason::SaveTemps);
                } else if s.starts_with("-fprofile-use=")
                    || s.starts_with("-fprofile-sample-use=")
                    || s.starts_with("-fprofile-instr-use=")
                    || s.starts_with("-fauto-profile=")
                {
                    return Err(Reason::ProfileUse);
                } else if s.starts_with("-fmodules-") && s != "-fmodules-ts"
                    || s.starts_with("-fmodule-file")
                {
                    return Err(Reason::ClangModules);
                } else if s.starts_with("-fprofile-generate=")
                    || s.starts_with("-fprofile-instr-generate=")
                    || s.starts_with("-fprofile-dir=")
                {
                    profile_paths = true;
                } else if s.starts_with("-fdiagnostics-color=") {
                    colour_given = true;
                } else if writes_unmodelled_file(s) {
                    return Err(Reason::UnsupportedOption);
                } else if s.starts_with("-fcallgraph-info=") {
                    callgraph_info = true;
                } else if let Some(map) = s
                    .strip_prefix("-fdebug-prefix-map=")
                    .or_else(|| s.strip_prefix("-ffile-prefix-map="))
                {
                    prefix_maps.push(map.to_string());
                } else if s.starts_with("-g")
                    && !s.starts_with("-gno-")
                    && !s.starts_with("-gz")
                    && !s.starts_with("-gcc-toolchain")
                {
                    if s != "-gsplit-dwarf" && s != "-gcolumn-info" && s != "-grecord-gcc-switches"
                    {
                        debug = true;
                    }
                } else if s == "-march=native" || s == "-mtune=native" || s == "-mcpu=native" {
                    p.needs_cpu_info = true;
                } else if let Some(path) = READ_FILE_PREFIXES
                    .iter()
                    .find_map(|pre| s.strip_prefix(pre))
                {
                    let full = ctx.cwd.join(path);
                    if !(ctx.exists)(&full) {
                        return Err(Reason::UnsupportedOption);
                    }
                    p.extra_input_files.push(full);
                } else if let Some(path) = s.strip_prefix("-fplugin=") {
                    // A plugin named without a path comes from the compiler's plugin
                    // directory, which the identity does not cover: do not guess.
                    let full = ctx.cwd.join(path);
                    if !(ctx.exists)(&full) {
                        return Err(Reason::UnsupportedOption);
                    }
                    p.extra_input_files.push(full);
                } else if let Some(rest) = s.strip_prefix("-Wp,") {
                    // -Wp,-MD,<file> / -Wp,-MMD,<file>: the preprocessor writes a dep file.
                    let parts: Vec<&str> = rest.split(',').collect();
                    if parts.len() >= 2 && (parts[0] == "-MD" || parts[0] == "-MMD") {
                        wp_dep_output = Some(OsString::from(parts[1..].join(",")));
                        dep_complete = parts[0] == "-MD";
                        p.hashed_args
                            .push(OsString::from(format!("-Wp,{}", parts[0])));
                        continue;
                    }
                    if parts.iter().any(|p| p.starts_with("-M")) {
                        return Err(Reason::UnsupportedOption);
                    }
                } else if let Some((o, joined)) = lookup(s) {
                    // An option with an argument.
                    let (value, raw): (OsString, Vec<OsString>) = match joined {
                        Some(v) => (OsString::from(v), vec![a.clone()]),
                        None => {
                            let Some(next) = expanded.get(i) else {
                                return Err(Reason::UnsupportedOption);
                            };
                            i += 1;
                            (next.clone(), vec![a.clone(), next.clone()])
                        }
                    };
                    let vs = value.to_string_lossy();
                    match o.class {
                        Output => {
                            if output.is_some() {
                                // gcc takes the last; our added -MF then makes it fail.
                                return Err(Reason::UnsupportedOption);
                            }
                            output = Some(value.clone());
                            continue;
                        }
                        DepOutput => {
                            dep_output = Some(value.clone());
                            continue;
                        }
                        Lang => {
                            x_lang = language_from_x(&vs);
                        }
                        DepTarget => {
                            dep_target_given = true;
                            p.hashed_args.extend(raw);
                            continue;
                        }
                        IncludeFile => forced_includes.push(value.clone()),
                        Arch => arch_count += 1,
                        TooHard(r) => return Err(r),
                        Other => {
                            if o.name == "-Xclang"
                                && matches!(vs.as_ref(), "-emit-pch" | "-emit-pth" | "-include-pch")
                            {
                                return Err(Reason::PrecompiledHeader);
                            }
                            if o.name == "-Xclang" {
                                if xclang_load {
                                    // `-Xclang -load -Xclang <plugin>`: a file it runs.
                                    let full = ctx.cwd.join(Path::new(&value));
                                    if !(ctx.exists)(&full) {
                                        return Err(Reason::UnsupportedOption);
                                    }
                                    p.extra_input_files.push(full);
                                } else if xclang_value {
                                    // The value of `-add-plugin`/`-plugin-arg-*`: a word.
                                } else if !xclang_safe(&vs) {
                                    // cc1 options are many, and many name files (bitcode
                                    // to link, remap files, stats and record outputs...):
                                    // only those known to name none are cached.
                                    return Err(Reason::UnsupportedOption);
                                }
                                xclang_value = !xclang_load
                                    && (vs == "-add-plugin"
                                        || vs == "-plugin"
                                        || vs.starts_with("-plugin-arg-"));
                                xclang_load = !xclang_load && vs == "-load";
                            }
                            if o.name == "-Xassembler"
                                && writes_unmodelled_file(&format!("-Wa,{vs}"))
                            {
                                return Err(Reason::UnsupportedOption);
                            }
                            if o.name == "-mllvm" && vs.contains("file") {
                                // LLVM options writing reports (`-info-output-file=`...).
                                return Err(Reason::UnsupportedOption);
                            }
                            if matches!(
                                o.name,
                                "-I" | "-iquote" | "-isystem" | "-idirafter" | "-isystem-after"
                            ) {
                                include_dirs.push(value.clone());
                            }
                            if o.name == "-Xpreprocessor" && vs.starts_with("-M") {
                                return Err(Reason::UnsupportedOption);
                            }
                            if matches!(o.name, "--sysroot" | "--sysroot=" | "-isysroot") {
                                p.resolved_paths.push(ctx.cwd.join(&value));
                            }
                            if o.name == "-ivfsoverlay" {
                                // The overlay maps paths to files: its text is an input.
                                let full = ctx.cwd.join(Path::new(&value));
                                if !(ctx.exists)(&full) {
                                    return Err(Reason::UnsupportedOption);
                                }
                                p.extra_input_files.push(full);
                            }
                            if o.name == "-B" {
                                p.program_files.extend(b_prefix_programs(ctx.cwd, &vs));
                            }
                            if matches!(o.name, "-dumpbase" | "-dumpbase-ext" | "-dumpdir") {
                                output_base_given = true;
                            }
                            if o.name.ends_with("specs=") {
                                // Like plugins: a specs file found on gcc's own search path
                                // is not covered by the key.
                                let full = ctx.cwd.join(Path::new(&value));
                                if !(ctx.exists)(&full) {
                                    return Err(Reason::UnsupportedOption);
                                }
                                p.extra_input_files.push(full);
                            }
                        }
                    }
                    p.hashed_args.extend(raw.iter().cloned());
                    p.preprocess_args.extend(raw);
                    continue;
                }
            }
        }
        p.hashed_args.push(a.clone());
        if keep_for_cpp {
            p.preprocess_args.push(a.clone());
        }
    }

    if output_base_given && (gcno || split_dwarf || stack_usage || callgraph_info) {
        // -dumpbase/-dumpdir rename the .gcno/.dwo/.su/.ci files we derive from -o.
        return Err(Reason::UnsupportedOption);
    }
    if dep_to_stdout && !dep_requested && wp_dep_output.is_none() {
        return Err(Reason::DepToStdout);
    }
    if !compile_only && !assemble_only {
        return Err(Reason::Linking);
    }
    if arch_count > 1 {
        return Err(Reason::MultipleArch);
    }
    let (input, lang) = match inputs.len() {
        0 => return Err(Reason::NoSource),
        1 => inputs.pop().expect("one input"),
        _ => return Err(Reason::MultipleSources),
    };
    let input_path = PathBuf::from(&input);
    let language = match lang? {
        Some(l) => l,
        None => language_from_extension(&input_path, compiler.cxx_driver)?,
    };
    if output.as_deref() == Some(OsStr::new("-")) {
        return Err(Reason::OutputToStdout);
    }
    // Default output: the input's base name with .o (-c) or .s (-S), in the working directory.
    let main_output = match &output {
        Some(o) => PathBuf::from(o),
        None => {
            let stem = input_path.file_stem().unwrap_or(OsStr::new("a"));
            let mut name = stem.to_os_string();
            name.push(if assemble_only { ".s" } else { ".o" });
            PathBuf::from(name)
        }
    };
    p.outputs.push(Output {
        kind: FileKind::Object,
        path: main_output.clone(),
        optional: false,
    });
    if dep_requested || wp_dep_output.is_some() {
        if main_output.to_str().is_none() {
            // The dep file's target is the object path, rewritten as text on a hit.
            return Err(Reason::UnsupportedOption);
        }
        let path = match (&wp_dep_output, &dep_output) {
            (Some(w), _) => PathBuf::from(w),
            (None, Some(f)) => PathBuf::from(f),
            (None, None) => with_extension(&main_output, "d"),
        };
        p.dep_file = Some(DepFile {
            path: path.clone(),
            target_fixed: dep_target_given,
            complete: dep_complete,
        });
        p.outputs.push(Output {
            kind: FileKind::DepFile,
            path,
            optional: false,
        });
    }
    if gcno {
        p.outputs.push(Output {
            kind: FileKind::Gcno,
            path: with_extension(&main_output, "gcno"),
            optional: false,
        });
    }
    if split_dwarf {
        // clang writes a .dwo only with debug info on; gcc also for -g0. Optional either way.
        p.outputs.push(Output {
            kind: FileKind::Dwo,
            path: with_extension(&main_output, "dwo"),
            optional: true,
        });
    }
    if stack_usage {
        p.outputs.push(Output {
            kind: FileKind::StackUsage,
            path: with_extension(&main_output, "su"),
            optional: true,
        });
    }
    if callgraph_info {
        p.outputs.push(Output {
            kind: FileKind::CallgraphInfo,
            path: with_extension(&main_output, "ci"),
            optional: true,
        });
    }

    // A forced include with a precompiled header beside it (in the cwd or any include
    // dir gcc searches for it) is read from the .gch instead: not modelled.
    for inc in &forced_includes {
        let dirs = std::iter::once(OsString::from(".")).chain(include_dirs.iter().cloned());
        for d in dirs {
            let base = ctx.cwd.join(&d).join(Path::new(inc));
            for ext in [".gch", ".pch"] {
                let mut g = base.clone().into_os_string();
                g.push(ext);
                if (ctx.exists)(Path::new(&g)) {
                    return Err(Reason::PrecompiledHeader);
                }
            }
        }
    }
    // Debug info embeds the cwd as rewritten by the last matching prefix map (gcc
    // applies them last to first): key on that, which is the raw cwd when none applies.
    let cwd_str = ctx.cwd.to_string_lossy().into_owned();
    let mapped_cwd = if compiler.family == Family::Clang {
        clang_prefix_map(&prefix_maps, &cwd_str)
    } else {
        prefix_maps.iter().rev().find_map(|m| {
            let (old, new) = m.split_once('=')?;
            let old = old.trim_end_matches('/');
            let rest = cwd_str.strip_prefix(old)?;
            (rest.is_empty() || rest.starts_with('/')).then(|| format!("{new}{rest}"))
        })
    };
    p.cwd_matters = debug || profile_paths || split_dwarf;
    if debug && !profile_paths && !split_dwarf {
        p.mapped_cwd = mapped_cwd;
    }
    p.records_command_line = record_switches || records_command_line;
    p.output_path_matters = profile_paths || split_dwarf;
    if record_switches || records_command_line {
        // The command line is stored in the object: every argument, outputs included.
        p.hashed_args = expanded.to_vec();
        p.cwd_matters = true;
    }
    if p.hashed_args
        .iter()
        .any(|a| a.to_string_lossy().contains("missing-include-dirs"))
    {
        p.presence_probes = include_dirs.iter().map(|d| ctx.cwd.join(d)).collect();
    }
    // Like -B, gcc looks for its programs under COMPILER_PATH's dirs and GCC_EXEC_PREFIX
    // (their values are keyed as environment; what lies there is keyed here).
    if compiler.family == super::Family::Gcc {
        if let Some(dirs) = (ctx.env)("COMPILER_PATH") {
            for d in std::env::split_paths(&dirs).filter(|d| !d.as_os_str().is_empty()) {
                let prefix = format!("{}/", d.to_string_lossy());
                p.program_files.extend(b_prefix_programs(ctx.cwd, &prefix));
            }
        }
        if let Some(prefix) = (ctx.env)("GCC_EXEC_PREFIX").filter(|v| !v.is_empty()) {
            p.program_files
                .extend(b_prefix_programs(ctx.cwd, &prefix.to_string_lossy()));
        }
    }
    p.unmodelled_macro_in_args = super::names_unmodelled_macro(&p.hashed_args);
    p.language = Some(language);
    p.input = input_path;
    p.compile_args = original.to_vec();
    if !colour_given && ctx.stderr_is_tty && super::colour_terminal((ctx.env)("TERM")) {
        // We capture stderr through a pipe, so the compiler would not colour it; force
        // colour and key on it, so terminal users keep coloured diagnostics.
        let flag = match compiler.family {
            Family::Clang => "-fcolor-diagnostics",
            _ => "-fdiagnostics-color=always",
        };
        p.compile_args.push(OsString::from(flag));
        p.hashed_args.push(OsString::from(flag));
        p.colour_forced = true;
    }
    p.preprocess_args.push(OsString::from("-E"));
    Ok(p)
}

/// Arguments that make the compiler print its include search list for this command
/// (`-v` on an empty input), to be parsed by [`parse_search_list`].
pub fn search_list_args(parsed: &Parsed) -> Vec<OsString> {
    // Without the files the preprocessor would read first (`-include`, `-imacros`,
    // clang's `-include-pch`): they do not change the search list, and one may be a pipe
    // the compile has already drained (`-include <(...)`), where this run would wait for
    // a writer for ever.
    let mut args: Vec<OsString> = Vec::new();
    let mut skip_value = false;
    for a in &parsed.preprocess_args {
        if std::mem::take(&mut skip_value) || Path::new(a) == parsed.input {
            continue;
        }
        let text = a.to_string_lossy();
        match text.as_ref() {
            "-include" | "-imacros" | "--include" | "--imacros" | "-include-pch" => {
                skip_value = true;
                continue;
            }
            t if t.starts_with("--include=") || t.starts_with("--imacros=") => continue,
            t if t.starts_with("-include") || t.starts_with("-imacros") => continue,
            _ => {}
        }
        args.push(a.clone());
    }
    let lang = parsed.language.map(|l| l.x_name()).unwrap_or("c");
    args.extend(["-v", "-x", lang, "/dev/null"].map(OsString::from));
    args
}

/// The directories between `#include "..." search starts here:` and
/// `End of search list.` in `-v` output, in search order (quote-only dirs first).
pub fn parse_search_list(stderr: &[u8]) -> Option<Vec<String>> {
    let text = String::from_utf8_lossy(stderr);
    let mut dirs = Vec::new();
    // Directories that do not exist yet are left out of the list by the compiler, but a
    // header created in one later would shadow: put them first (searched earliest is the
    // conservative assumption).
    let mut missing = Vec::new();
    let mut inside = false;
    let mut found_end = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("ignoring nonexistent directory \"") {
            missing.push(rest.trim_end_matches('"').trim_end_matches('/').to_string());
        } else if line.starts_with("#include \"...\" search starts here") {
            inside = true;
        } else if line.starts_with("End of search list") {
            found_end = true;
            break;
        } else if inside && line.starts_with(' ') {
            let d = line.trim().trim_end_matches(" (framework directory)");
            let d = d.trim_end_matches('/');
            dirs.push(if d.is_empty() {
                "/".to_string()
            } else {
                d.to_string()
            });
        }
    }
    missing.extend(dirs);
    (inside && found_end).then_some(missing)
}

#[cfg(test)]
#[path = "gcc_tests.rs"]
mod tests;
