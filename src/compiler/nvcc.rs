//! nvcc: the option table, the pure `parse` (argument vector → [`Parsed`] or [`Reason`]),
//! and the pure reading of `nvcc --dryrun` output into the passes the key covers ([`plan`]).
//!
//! nvcc splits one command into a host compilation and one device compilation per target
//! architecture, each behind its own run of the host preprocessor with a different
//! `__CUDA_ARCH__` (caching-spec part C). No single `-E` output covers them all, so the
//! pipeline (`pipeline::nvcc`) asks nvcc itself for its plan with `--dryrun`, and [`plan`]
//! picks out every preprocessor run that reads the user's source; the pipeline runs each
//! of them and keys on all their outputs, plus the normalized plan (every sub-tool's
//! flags). Everything else in the plan only reads temporary files those runs produce.
//! This module does no I/O: option files are read by the caller ([`expand_options_files`]
//! takes a reader), the dry run is run by the pipeline.
//!
//! Options missing from the table are hashed and passed on; if one takes a separate
//! argument, that argument looks like a second input and the command is counted
//! `multiple_sources`: a lost hit, never a wrong one.

use super::{DepFile, Language, Output, Parsed};
use crate::entry::FileKind;
use crate::error::Reason;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// What an option with an argument means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// `-o`: names the main output; not hashed.
    Output,
    /// `-MF`: names the dep file; not hashed.
    DepOutput,
    /// `-MT`: the dep file's target; hashed.
    DepTarget,
    /// `-x`: the language of every input.
    Lang,
    /// `-odir`: where default-named outputs go; not hashed.
    OutputDir,
    /// `--options-file`: expanded by the caller before parsing; here only hashed.
    OptionsFile,
    /// Hashed as written, passed on (`-I`, `-D`, `-gencode`, `-Xcompiler`, `-ccbin`...).
    Other,
    /// Writes a file we do not model.
    TooHard(Reason),
}

use Class::*;

/// An option with an argument: every spelling nvcc accepts for it. nvcc takes the
/// argument as the next word or after `=`; `glued` options also take it glued on (`-DX`).
struct Opt {
    names: &'static [&'static str],
    glued: bool,
    class: Class,
}

const fn opt(names: &'static [&'static str], glued: bool, class: Class) -> Opt {
    Opt {
        names,
        glued,
        class,
    }
}

/// nvcc 13's options that take an argument (`nvcc --help`).
const OPTIONS: &[Opt] = &[
    opt(&["-o", "--output-file"], false, Output),
    opt(&["-MF", "--dependency-output"], false, DepOutput),
    opt(&["-MT", "--dependency-target-name"], false, DepTarget),
    opt(&["-x", "--x"], false, Lang),
    opt(&["-odir", "--output-directory"], false, OutputDir),
    opt(&["-optf", "--options-file"], false, OptionsFile),
    opt(&["-I", "--include-path"], true, Other),
    opt(&["-O", "--optimize"], true, Other),
    opt(&["-isystem", "--system-include"], false, Other),
    opt(&["-D", "--define-macro"], true, Other),
    opt(&["-U", "--undefine-macro"], true, Other),
    opt(&["-include", "--pre-include"], false, Other),
    opt(&["-L", "--library-path"], true, Other),
    opt(&["-l", "--library"], false, Other),
    opt(&["-ccbin", "--compiler-bindir"], false, Other),
    opt(&["-arch", "--gpu-architecture"], false, Other),
    opt(&["-code", "--gpu-code"], false, Other),
    opt(&["-gencode", "--generate-code"], false, Other),
    opt(&["-Xcompiler", "--compiler-options"], false, Other),
    opt(&["-Xptxas", "--ptxas-options"], false, Other),
    opt(&["-Xnvlink", "--nvlink-options"], false, Other),
    opt(&["-Xlinker", "--linker-options"], false, Other),
    opt(&["-Xarchive", "--archive-options"], false, Other),
    opt(&["-Xfatbin", "--fatbin-options"], false, Other),
    opt(&["-Xcudafe"], false, Other),
    opt(&["-std", "--std"], false, Other),
    opt(&["-rdc", "--relocatable-device-code"], false, Other),
    opt(&["-ftz", "--ftz"], false, Other),
    opt(&["-prec-div", "--prec-div"], false, Other),
    opt(&["-prec-sqrt", "--prec-sqrt"], false, Other),
    opt(&["-fmad", "--fmad"], false, Other),
    opt(&["-maxrregcount", "--maxrregcount"], false, Other),
    opt(&["-m", "--machine"], false, Other),
    opt(&["-t", "--threads"], false, Other),
    opt(&["-split-compile", "--split-compile"], false, Other),
    opt(&["-cudart", "--cudart"], false, Other),
    opt(&["-cudadevrt", "--cudadevrt"], false, Other),
    opt(&["-default-stream", "--default-stream"], false, Other),
    opt(&["-diag-suppress", "--diag-suppress"], false, Other),
    opt(&["-diag-warn", "--diag-warn"], false, Other),
    opt(&["-diag-error", "--diag-error"], false, Other),
    opt(&["-Werror", "--Werror"], false, Other),
    opt(&["-keep-dir", "--keep-dir"], false, Other),
    opt(&["-e", "--entries"], false, Other),
    opt(&["-dopt", "--dopt"], false, Other),
    opt(
        &["-time", "--time"],
        false,
        TooHard(Reason::UnsupportedOption),
    ),
    opt(
        &["-fdevice-time-trace", "--fdevice-time-trace"],
        false,
        TooHard(Reason::UnsupportedOption),
    ),
];

/// The option `arg` starts, with its argument if it is in the same word.
fn lookup(arg: &str) -> Option<(&'static Opt, Option<&str>)> {
    for o in OPTIONS {
        for name in o.names {
            if arg == *name {
                return Some((o, None));
            }
            if let Some(v) = arg.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                return Some((o, Some(v)));
            }
        }
    }
    OPTIONS
        .iter()
        .filter(|o| o.glued)
        .find_map(|o| {
            let short = o.names[0];
            (arg.len() > short.len() && arg.starts_with(short)).then(|| (o, &arg[short.len()..]))
        })
        .map(|(o, v)| (o, Some(v)))
}

/// What the command produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Link,
    Compile,
    Ptx,
    Cubin,
    Fatbin,
}

impl Mode {
    fn default_ext(self) -> &'static str {
        match self {
            Mode::Ptx => "ptx",
            Mode::Cubin => "cubin",
            Mode::Fatbin => "fatbin",
            _ => "o",
        }
    }
}

fn language_from_x(x: &str) -> Result<Option<Language>, Reason> {
    match x {
        "cu" => Ok(Some(Language::Cuda)),
        "c" => Ok(Some(Language::C)),
        "c++" => Ok(Some(Language::Cxx)),
        "none" => Ok(None),
        _ => Err(Reason::UnknownLanguage),
    }
}

/// The languages cached: CUDA, and C/C++ that nvcc hands to the host compiler. PTX,
/// cubin, fatbin, objects and libraries as inputs are not compiles we model.
fn language_from_extension(path: &Path) -> Result<Language, Reason> {
    match path.extension().and_then(OsStr::to_str).unwrap_or("") {
        "cu" => Ok(Language::Cuda),
        "c" => Ok(Language::C),
        "cc" | "cp" | "cxx" | "cpp" | "CPP" | "c++" | "C" => Ok(Language::Cxx),
        _ => Err(Reason::UnknownLanguage),
    }
}

/// Splices the words of every `--options-file`/`-optf` file into the vector after the
/// option (which stays, so the key sees both). Returns the files read, for the key. A
/// file that cannot be read: `Err(UnsupportedOption)` (nvcc will report it).
pub fn expand_options_files(
    args: &[OsString],
    read: &dyn Fn(&Path) -> Option<String>,
) -> Result<(Vec<OsString>, Vec<PathBuf>), Reason> {
    let mut out = Vec::new();
    let mut files = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        out.push(a.clone());
        let s = a.to_string_lossy();
        let file = match lookup(&s) {
            Some((o, joined)) if o.class == OptionsFile => match joined {
                Some(v) => PathBuf::from(v),
                None => {
                    let Some(next) = args.get(i) else {
                        return Err(Reason::UnsupportedOption);
                    };
                    i += 1;
                    out.push(next.clone());
                    PathBuf::from(next)
                }
            },
            _ => continue,
        };
        let text = read(&file).ok_or(Reason::UnsupportedOption)?;
        let words = shlex::split(&text).ok_or(Reason::UnsupportedOption)?;
        // An options file naming another one is not followed: nvcc's rules for that are
        // undocumented, and a wrong guess would leave a file out of the key.
        if words
            .iter()
            .any(|w| lookup(w).is_some_and(|(o, _)| o.class == OptionsFile))
        {
            return Err(Reason::UnsupportedOption);
        }
        out.extend(words.into_iter().map(OsString::from));
        files.push(file);
    }
    Ok((out, files))
}

/// Parse an nvcc command. `expanded` is the user's vector with the options files spliced
/// in ([`expand_options_files`]) and `NVCC_PREPEND_FLAGS`/`NVCC_APPEND_FLAGS` around it;
/// `original` is what runs (nvcc applies the files and the variables itself).
pub fn parse(expanded: &[OsString], original: &[OsString]) -> Result<Parsed, Reason> {
    let mut p = Parsed::default();
    let mut mode = Mode::Link;
    let mut output: Option<OsString> = None;
    let mut output_dir: Option<OsString> = None;
    let mut x_lang: Result<Option<Language>, Reason> = Ok(None);
    let mut inputs: Vec<OsString> = Vec::new();
    let mut dep_with_compile = false;
    let mut dep_only = false;
    let mut dep_output: Option<OsString> = None;
    let mut dep_target_given = false;
    let mut debug = false;

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
            inputs.push(a.clone());
            p.hashed_args.push(OsString::from("<input>"));
            continue;
        }
        match s {
            "-c" | "--compile" | "-dw" | "--device-w" | "-dc" | "--device-c" => {
                mode = Mode::Compile
            }
            "-ptx" | "--ptx" => mode = Mode::Ptx,
            "-cubin" | "--cubin" => mode = Mode::Cubin,
            "-fatbin" | "--fatbin" => mode = Mode::Fatbin,
            "-E" | "--preprocess" | "-cuda" | "--cuda" => return Err(Reason::PreprocessOnly),
            "-M" | "--generate-dependencies" | "-MM" | "--generate-nonsystem-dependencies" => {
                dep_only = true
            }
            "-MD"
            | "--generate-dependencies-with-compile"
            | "-MMD"
            | "--generate-nonsystem-dependencies-with-compile" => dep_with_compile = true,
            "-keep" | "--keep" | "-save-temps" | "--save-temps" => return Err(Reason::SaveTemps),
            "-run" | "--run" | "-link" | "--link" | "-lib" | "--lib" | "-dlink"
            | "--device-link" => mode = Mode::Link,
            "-dryrun" | "--dryrun" | "-optix-ir" | "--optix-ir" => {
                return Err(Reason::UnsupportedOption)
            }
            "-g" | "--debug" | "-G" | "--device-debug" => debug = true,
            _ => {
                if let Some((o, joined)) = lookup(s) {
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
                    match o.class {
                        Output => output = Some(value),
                        DepOutput => dep_output = Some(value),
                        OutputDir => output_dir = Some(value),
                        TooHard(r) => return Err(r),
                        DepTarget | Lang | OptionsFile | Other => {
                            let host = raw[0].to_string_lossy();
                            if (host.starts_with("-Xcompiler")
                                || host.starts_with("--compiler-options"))
                                && value
                                    .to_string_lossy()
                                    .split(',')
                                    .any(|w| super::gcc_files::host_option_touches_files(w.trim()))
                            {
                                return Err(Reason::UnsupportedOption);
                            }
                            if host.starts_with("-Xcompiler")
                                || host.starts_with("--compiler-options")
                            {
                                let words = value.to_string_lossy();
                                if words.split(',').any(|w| {
                                    matches!(
                                        w.trim(),
                                        "-march=native" | "-mtune=native" | "-mcpu=native"
                                    )
                                }) {
                                    p.needs_cpu_info = true;
                                }
                            }
                            if o.class == DepTarget {
                                dep_target_given = true;
                            }
                            if o.class == Lang {
                                x_lang = language_from_x(&value.to_string_lossy());
                            }
                            p.hashed_args.extend(raw);
                        }
                    }
                    continue;
                }
            }
        }
        p.hashed_args.push(a.clone());
    }

    if output.is_some() && output_dir.is_some() && dep_with_compile {
        // With -o, -odir only changes the dep file's target, which we would not match.
        return Err(Reason::UnsupportedOption);
    }
    if dep_only {
        // Rules only, no compile: to stdout, or to the -MF file.
        return Err(if dep_output.is_none() {
            Reason::DepToStdout
        } else {
            Reason::PreprocessOnly
        });
    }
    if mode == Mode::Link {
        return Err(Reason::Linking);
    }
    let input = match inputs.len() {
        0 => return Err(Reason::NoSource),
        1 => PathBuf::from(inputs.pop().expect("one input")),
        _ => return Err(Reason::MultipleSources),
    };
    let language = match x_lang? {
        Some(l) => l,
        None => language_from_extension(&input)?,
    };
    if output.as_deref() == Some(OsStr::new("-")) {
        return Err(Reason::OutputToStdout);
    }
    let main_output = match (&output, &output_dir) {
        (Some(o), _) => PathBuf::from(o),
        (None, dir) => {
            let mut name = input.file_stem().unwrap_or(OsStr::new("a")).to_os_string();
            name.push(".");
            name.push(mode.default_ext());
            match dir {
                Some(d) => Path::new(d).join(name),
                None => PathBuf::from(name),
            }
        }
    };
    p.outputs.push(Output {
        kind: FileKind::Object,
        path: main_output.clone(),
        optional: false,
    });
    if dep_with_compile {
        let path = dep_output
            .map(PathBuf::from)
            .unwrap_or_else(|| main_output.with_extension("d"));
        p.dep_file = Some(DepFile {
            path: path.clone(),
            target_fixed: dep_target_given,
            complete: true,
        });
        p.outputs.push(Output {
            kind: FileKind::DepFile,
            path,
            optional: false,
        });
    }
    p.language = Some(language);
    p.input = input;
    p.cwd_matters = debug;
    p.compile_args = original.to_vec();
    p.preprocess_args = original.to_vec();
    p.preprocess_args.push(OsString::from("--dryrun"));
    Ok(p)
}

/// One run of the host preprocessor over the user's source, as nvcc would run it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pass {
    /// The host compiler as the plan names it (`gcc`, `/usr/bin/g++`): resolve on `path`.
    pub program: String,
    /// Its arguments, with the output removed (the text goes to stdout) and a compile
    /// (`-c`, for C/C++ inputs that nvcc hands straight over) turned into `-E`.
    pub args: Vec<String>,
}

/// What `nvcc --dryrun` says the compile will do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Every preprocessor run over the source: the host pass and one per device
    /// architecture, in nvcc's order.
    pub passes: Vec<Pass>,
    /// Every step and setting, one line of words each, with temporary file names and
    /// the user's output paths replaced by markers: the flags of every sub-tool (cicc,
    /// ptxas, fatbinary, the host compile) and the toolkit location go into the key.
    pub normalized: Vec<Vec<String>>,
    /// The `PATH` nvcc runs its tools with (it finds the host compiler there).
    pub path: Option<String>,
}

/// Programs of the CUDA toolkit that appear in a plan; any other program is the host
/// compiler. Each reads only temporary files made by earlier steps (checked).
const TOOLKIT_STEPS: &[&str] = &[
    "cudafe++",
    "$CICC_PATH/cicc",
    "cicc",
    "ptxas",
    "fatbinary",
    "nvlink",
    "bin2c",
    "rm",
];

/// Read `nvcc --dryrun` output (its stderr). `input` is the source as the command names
/// it; `outputs` the user's output paths (replaced by markers so `-o` stays out of the
/// key). `Err` when the plan has a step we cannot account for.
pub fn plan(dryrun: &str, input: &Path, outputs: &[&Path]) -> Result<Plan, Reason> {
    let input = input.to_string_lossy();
    let outputs: Vec<String> = outputs
        .iter()
        .map(|o| o.to_string_lossy().into_owned())
        .collect();
    let mut plan = Plan::default();
    for line in dryrun.lines() {
        let Some(rest) = line.strip_prefix("#$ ") else {
            continue;
        };
        if let Some((name, value)) = env_assignment(rest) {
            if name == "PATH" {
                // The host compiler found on it is keyed by its identity instead.
                plan.path = Some(value.to_string());
            } else {
                plan.normalized
                    .push(vec![format!("{name}={}", normalize_word(value))]);
            }
            continue;
        }
        if rest.starts_with("-- ") {
            // "-- Filter Dependencies -- > k.d": nvcc writes the dep file itself.
            let words = rest.split_whitespace().map(|w| {
                if outputs.iter().any(|o| o == w) {
                    "<output>".to_string()
                } else {
                    normalize_word(w)
                }
            });
            plan.normalized.push(words.collect());
            continue;
        }
        let words = shlex::split(rest).ok_or(Reason::UnsupportedOption)?;
        let Some(program) = words.first().cloned() else {
            continue;
        };
        let norm: Vec<String> = words
            .iter()
            .map(|w| {
                if outputs.iter().any(|o| o == w) {
                    "<output>".to_string()
                } else {
                    normalize_word(w)
                }
            })
            .collect();
        plan.normalized.push(norm);
        let reads_input = words
            .iter()
            .enumerate()
            .skip(1)
            .any(|(i, w)| *w == input && !words[i - 1].starts_with("--orig_src_"));
        let tool = Path::new(&program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if TOOLKIT_STEPS.contains(&program.as_str()) || TOOLKIT_STEPS.contains(&tool.as_str()) {
            if reads_input {
                // A toolkit step reading the source directly: not covered by a pass.
                return Err(Reason::UnsupportedOption);
            }
            continue;
        }
        let preprocesses = words.iter().any(|w| w == "-E");
        let compiles = words.iter().any(|w| w == "-c");
        if !reads_input {
            if preprocesses || !compiles {
                return Err(Reason::UnsupportedOption);
            }
            continue; // the host compile of cudafe++'s output
        }
        let mut args = Vec::new();
        let mut it = words[1..].iter();
        while let Some(w) = it.next() {
            match w.as_str() {
                "-o" => {
                    it.next();
                }
                "-c" => args.push("-E".to_string()),
                _ => args.push(w.clone()),
            }
        }
        plan.passes.push(Pass { program, args });
    }
    if plan.passes.is_empty() {
        return Err(Reason::UnsupportedOption);
    }
    Ok(plan)
}

/// `NAME=value` with an upper-case name (nvcc's settings lines: `CUDA_ROOT=...`).
fn env_assignment(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once('=')?;
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    ok.then_some((name, value))
}

/// Replace every temporary file name (`/tmp/tmpxft_0000799f_00000000-5_k.cpp4.ii`: its
/// directory and process-specific prefix) by `<tmp>`, keeping the stable tail
/// (`-5_k.cpp4.ii`).
pub fn normalize_word(word: &str) -> String {
    const MARK: &str = "tmpxft_";
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(i) = rest.find(MARK) {
        // The name starts after the last separator before it (`=`, `,`, `"`, space).
        let start = rest[..i]
            .rfind(['=', ',', '"', ' '])
            .map(|j| j + 1)
            .unwrap_or(0);
        out.push_str(&rest[..start]);
        out.push_str("<tmp>");
        let after = &rest[i + MARK.len()..];
        // tmpxft_<hex>_<hex> then `-`.
        let end = after
            .find(|c: char| !(c.is_ascii_hexdigit() || c == '_'))
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[path = "nvcc_tests.rs"]
mod tests;
