//! MSVC command-line syntax: clang-cl (tested here with clang-cl 14 on Linux) and, by the
//! same code, cl.exe. The option table and the pure `parse` (argument sources → `Parsed`
//! or `Reason`), and the `/showIncludes` notes (`split_notes`).
//!
//! Options start with `/` or `-` and are case-sensitive; many take a glued-on value
//! (`/Fo<path>`), some also a separate one (`/I dir`). On Linux an absolute path also
//! starts with `/`: like clang, an argument is an option when it matches one, else an
//! input (we also require that it exists or has a source extension, else it is hashed
//! as an unknown option). Options missing from the table are hashed and passed on.
//!
//! What is cacheable and why not otherwise: docs/msvc.md. Not here: response files and
//! `CL`/`_CL_` (msvc_args.rs), running anything (pipeline/msvc.rs).

use super::msvc_args::Sources;
use super::{Language, Output, Parsed, ResolvedCompiler};
use crate::entry::FileKind;
use crate::error::Reason;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The line prefix of `/showIncludes` (clang-cl prints it in English; cl.exe in the
/// language of its installation, which is why only clang-cl uses direct mode).
pub const NOTE_PREFIX: &[u8] = b"Note: including file:";

/// Which `/showIncludes` the user asked for (it changes stdout, so it is hashed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShowIncludes {
    #[default]
    No,
    All,
    /// `/showIncludes:user`: system headers left out, so the notes are not a complete
    /// dependency list and we cannot add our own `/showIncludes` without changing them.
    User,
}

/// What the MSVC flow needs beyond the common fields of [`Parsed`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MsvcInfo {
    pub show_includes: ShowIncludes,
    /// The compiler prints `/showIncludes` notes in English (clang-cl): direct mode can
    /// read them. False for cl.exe, whose notes are localized.
    pub english_notes: bool,
    /// `/FI` was given: a forced include is looked up in the working directory first.
    pub forced_include: bool,
    /// Where flags of our own go in the compile's arguments (before a `--`); None when
    /// there is no such place (a `--` inside a response file).
    pub extra_at: Option<usize>,
    /// Arguments that print this command's include search list (`-v /E` on an empty
    /// file of the same language), for `gcc::parse_search_list`.
    pub search_args: Vec<OsString>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// `/Fo`: the object (a directory when it ends with a separator).
    Output,
    /// `/Tc`, `/Tp`: an input of that language.
    Input(Language),
    /// `/I`, `/external:I`, `/imsvc`: hashed; part of the search list.
    IncludeDir,
    /// `/FI`: a forced include (hashed; listed by /showIncludes).
    ForcedInclude,
    /// `/external:env:<VAR>`: the directories in VAR are searched: hash its value.
    EnvDirs,
    /// Names a file only used by other modes (`/Fd` PDB, `/Fe` exe, `/Fi` /P output,
    /// `/Fp` PCH): hashed, left out of the preprocessor run.
    OtherOutput,
    /// `/clang:<arg>`: checked against a short list of harmless clang options.
    ClangArg,
    /// `-Xclang <arg>`: a cc1 option; a few of them are known to be trouble.
    XclangArg,
    /// Anything else with a value: hashed as written, passed on.
    Other,
    TooHard(Reason),
}

struct Opt {
    name: &'static str,
    /// The value may be the next word (`/I dir`).
    separate: bool,
    /// Only with `-` (clang's own options accepted by clang-cl: `-Xclang`, `-mllvm`).
    dash_only: bool,
    class: Class,
}

const fn opt(name: &'static str, separate: bool, class: Class) -> Opt {
    Opt {
        name,
        separate,
        dash_only: false,
        class,
    }
}

const fn dash(name: &'static str, separate: bool, class: Class) -> Opt {
    Opt {
        name,
        separate,
        dash_only: true,
        class,
    }
}

use Class::*;

/// Options with a value, without the leading `/` or `-`. Every one accepts the value glued
/// on; `separate` ones also as the next word. Lookup takes the longest matching name.
/// Lower-case prefixes matter on Linux: clang-cl reads `/opt/x.c` as `/o pt/x.c` and
/// `/work/x.c` as `/wo rk/x.c`, so those names are here even where we only hash them.
const OPTIONS: &[Opt] = &[
    opt("D", true, Other),
    opt("EH", false, Other),
    opt("FA", false, TooHard(Reason::UnsupportedOption)),
    opt("FI", true, ForcedInclude),
    opt("FR", false, TooHard(Reason::UnsupportedOption)),
    opt("FU", true, Other),
    opt("Fa", false, TooHard(Reason::UnsupportedOption)),
    opt("Fd", false, OtherOutput),
    opt("Fe", false, OtherOutput),
    opt("Fi", false, OtherOutput),
    opt("Fm", false, TooHard(Reason::UnsupportedOption)),
    opt("Fo", false, Output),
    opt("Fp", false, OtherOutput),
    opt("Fr", false, TooHard(Reason::UnsupportedOption)),
    opt("Fx", false, TooHard(Reason::UnsupportedOption)),
    opt("I", true, IncludeDir),
    opt("MP", false, Other),
    opt("O", false, Other),
    opt("Tc", true, Input(Language::C)),
    opt("Tp", true, Input(Language::Cxx)),
    opt("U", true, Other),
    opt("W", false, Other),
    opt("Yc", false, TooHard(Reason::PrecompiledHeader)),
    opt("Yu", false, TooHard(Reason::PrecompiledHeader)),
    opt("Zc:", false, Other),
    opt("Zm", false, Other),
    opt("Zp", false, Other),
    opt("analyze", false, TooHard(Reason::UnsupportedOption)),
    opt("arch:", false, Other),
    opt("clang:", false, ClangArg),
    opt("d1", false, Other),
    opt("d2", false, Other),
    opt("diasdkdir", true, Other),
    opt("doc", false, TooHard(Reason::UnsupportedOption)),
    opt("execution-charset:", false, Other),
    opt("external:I", true, IncludeDir),
    opt("external:env:", false, EnvDirs),
    opt("external:W", false, Other),
    opt("favor:", false, Other),
    opt("fp:", false, Other),
    opt("guard:", false, Other),
    opt("imsvc", true, IncludeDir),
    opt("o", true, TooHard(Reason::UnsupportedOption)),
    opt(
        "sourceDependencies",
        true,
        TooHard(Reason::UnsupportedOption),
    ),
    opt("source-charset:", false, Other),
    opt("std:", false, Other),
    opt("tune:", false, Other),
    opt("vctoolsdir", true, Other),
    opt("vctoolsversion", true, Other),
    opt("vd", false, Other),
    opt("w1", false, Other),
    opt("w2", false, Other),
    opt("w3", false, Other),
    opt("w4", false, Other),
    opt("wd", false, Other),
    opt("we", false, Other),
    opt("winsdkdir", true, Other),
    opt("winsdkversion", true, Other),
    opt("winsysroot", true, Other),
    opt("wo", false, Other),
    dash("Xclang", true, XclangArg),
    dash("mllvm", true, Other),
    dash("target", true, Other),
];

/// Options a `/clang:` may pass without changing what we model.
const CLANG_SAFE_PREFIXES: &[&str] =
    &["-W", "-O", "-std=", "-fno-", "-fms-", "-fcolor-diagnostics"];

/// The option an argument body (without `/` or `-`) starts: an exact separate-form name
/// first (the value is the next word), then the longest name it starts with.
fn lookup(body: &str, dash: bool) -> Option<(&'static Opt, Option<&str>)> {
    let usable = |o: &&Opt| dash || !o.dash_only;
    if let Some(o) = OPTIONS
        .iter()
        .filter(usable)
        .find(|o| o.separate && o.name == body)
    {
        return Some((o, None));
    }
    OPTIONS
        .iter()
        .filter(usable)
        .filter(|o| body.starts_with(o.name))
        .max_by_key(|o| o.name.len())
        .map(|o| (o, Some(&body[o.name.len()..])))
}

/// What the parser needs from the world, given by the caller so that parsing is pure.
pub struct Context<'a> {
    pub cwd: &'a Path,
    pub env: &'a dyn Fn(&str) -> Option<OsString>,
    pub exists: &'a dyn Fn(&Path) -> bool,
}

fn language_from_extension(path: &Path) -> Option<Language> {
    match path.extension()?.to_str()? {
        "c" => Some(Language::C),
        "cc" | "cp" | "cpp" | "cxx" | "c++" | "C" | "CC" | "CPP" | "CXX" => Some(Language::Cxx),
        _ => None,
    }
}

/// LLVM's `has_extension`: the file name (after the last separator) contains a dot and is
/// not `.` or `..` (so `.obj` alone has one, unlike Rust's `Path::extension`).
fn llvm_has_extension(name: &[u8], seps: &[u8]) -> bool {
    let file = name.rsplit(|c| seps.contains(c)).next().unwrap_or(name);
    file != b"." && file != b".." && file.contains(&b'.')
}

/// The object path of `/Fo<value>` for `input` (clang's `MakeCLOutputFilename`): a value
/// ending with a separator is a directory for `<stem>.obj`; a name without extension
/// gets `.obj`; no value means `<stem>.obj` in the working directory.
fn object_path(fo: Option<&OsStr>, input: &Path, seps: &[u8]) -> PathBuf {
    let stem = input
        .file_name()
        .map(|n| Path::new(n).with_extension("obj"))
        .unwrap_or_else(|| PathBuf::from("a.obj"));
    let Some(v) = fo.map(OsStr::as_bytes).filter(|v| !v.is_empty()) else {
        return stem;
    };
    let mut out = v.to_vec();
    if v.last().is_some_and(|c| seps.contains(c)) {
        out.extend_from_slice(stem.as_os_str().as_bytes());
    } else if !llvm_has_extension(v, seps) {
        out.extend_from_slice(b".obj");
    }
    PathBuf::from(OsString::from_vec(out))
}

/// Whether an argument that matches no option names an input (clang: anything that
/// matches no option is an input; we also want it to exist or look like a source, so a
/// `/flag` we do not know is hashed rather than taken for a file).
fn looks_like_input(s: &str, ctx: &Context) -> bool {
    let p = Path::new(s);
    language_from_extension(p).is_some() || (ctx.exists)(&ctx.cwd.join(p))
}

/// Parse an MSVC-syntax command. `src` holds `CL`'s words, the expanded command line and
/// `_CL_`'s words; `original` is the command line as given (what the compiler runs with:
/// it reads `CL`/`_CL_` itself).
pub fn parse(
    compiler: &ResolvedCompiler,
    src: &Sources,
    original: &[OsString],
    ctx: &Context,
) -> Result<Parsed, Reason> {
    let mut p = Parsed::default();
    let mut info = MsvcInfo {
        english_notes: compiler.invoked_name.contains("clang"),
        ..MsvcInfo::default()
    };
    // clang-cl on a POSIX host splits paths at `/` only; cl.exe also at `\`.
    let seps: &[u8] = if info.english_notes { b"/" } else { b"/\\" };
    let mut compile_only = false;
    let mut all_lang: Option<Language> = None;
    let mut inputs: Vec<(OsString, Option<Language>)> = Vec::new();
    let mut fo: Option<OsString> = None;
    let mut debug = false;
    let mut only_inputs = false;
    // Index in `src.args` of a `--` on the command line (everything after it is an input).
    let mut dashdash: Option<usize> = None;
    // Plain inputs for the preprocessor run: after `/E --`, so none reads as an option.
    let mut cpp_inputs: Vec<OsString> = Vec::new();

    // (word, comes from the command line rather than CL/_CL_)
    let words: Vec<(&OsString, bool)> = src
        .prefix
        .iter()
        .map(|w| (w, false))
        .chain(src.args.iter().map(|w| (w, true)))
        .chain(src.suffix.iter().map(|w| (w, false)))
        .collect();
    let mut i = 0;
    while i < words.len() {
        let (a, from_cmdline) = words[i];
        let s = a.to_string_lossy();
        let s = s.as_ref();
        i += 1;
        // The preprocessor run gets only command-line words: the compiler reads CL itself.
        let mut cpp: Vec<OsString> = Vec::new();
        let mut keep_for_cpp = true;
        let mut is_input = |name: &OsString, lang: Option<Language>, raw: Vec<OsString>| {
            inputs.push((name.clone(), lang));
            if from_cmdline {
                cpp.extend(raw);
            }
        };

        let prefixed = !only_inputs && (s.starts_with('/') || s.starts_with('-')) && s.len() > 1;
        if s == "-" && !only_inputs {
            return Err(Reason::StdinInput);
        }
        if !prefixed {
            is_input(a, None, vec![a.clone()]);
            p.hashed_args.push(OsString::from("<input>"));
            cpp_inputs.extend(cpp);
            continue;
        }
        let dash = s.starts_with('-');
        let body = &s[1..];
        match body {
            "-" if dash => {
                if !from_cmdline && i <= src.prefix.len() {
                    // `--` in CL: every argument after it, ours included, is an input.
                    return Err(Reason::UnsupportedOption);
                }
                only_inputs = true;
                if from_cmdline && dashdash.is_none() {
                    dashdash = Some(i - 1 - src.prefix.len());
                }
                p.hashed_args.push(a.clone());
                continue;
            }
            "c" => {
                compile_only = true;
                keep_for_cpp = false;
            }
            "E" | "EP" | "P" => return Err(Reason::PreprocessOnly),
            "Zs" => return Err(Reason::SyntaxOnly),
            "Zi" | "ZI" => return Err(Reason::Pdb),
            "Z7" | "Zd" => debug = true,
            "link" => return Err(Reason::Linking),
            "LD" | "LDd" | "analyze-" => {}
            "TC" => all_lang = Some(Language::C),
            "TP" => all_lang = Some(Language::Cxx),
            "showIncludes" => {
                info.show_includes = ShowIncludes::All;
                keep_for_cpp = false;
            }
            "showIncludes:user" => {
                info.show_includes = ShowIncludes::User;
                keep_for_cpp = false;
            }
            "Gm" => return Err(Reason::UnsupportedOption),
            "v" | "###" | "-version" | "help" | "?" => return Err(Reason::UnsupportedOption),
            "-coverage" if dash => return Err(Reason::UnsupportedOption),
            "-" => {}
            _ if dash && body.starts_with("fprofile") => return Err(Reason::ProfileUse),
            _ if dash
                && (body.starts_with("ftest-coverage")
                    || body.starts_with("fcoverage")
                    || body.starts_with("gsplit-dwarf")
                    || body.starts_with("fsanitize-blacklist")
                    || body.starts_with("fsanitize-ignorelist")
                    || body.starts_with("fmodule")
                    || body.starts_with("save-temps")
                    || body.starts_with("fsyntax-only")
                    || super::gcc_files::writes_unmodelled_file(&format!("-{body}"))) =>
            {
                return Err(Reason::UnsupportedOption)
            }
            _ if dash && body.starts_with('g') && !body.starts_with("gno-") => debug = true,
            _ => {
                if let Some((o, glued)) = lookup(body, dash) {
                    let (value, raw): (OsString, Vec<OsString>) = match glued {
                        // From the raw bytes: a non-UTF-8 path must stay what it is.
                        // (The prefix and the name are ASCII: same offset in both.)
                        Some(_) => {
                            let v = &a.as_bytes()[1 + o.name.len()..];
                            (OsString::from_vec(v.to_vec()), vec![a.clone()])
                        }
                        None => {
                            let Some(&(next, next_cmdline)) = words.get(i) else {
                                return Err(Reason::UnsupportedOption);
                            };
                            if next_cmdline != from_cmdline {
                                // A value across the CL / command line boundary.
                                return Err(Reason::UnsupportedOption);
                            }
                            i += 1;
                            (next.clone(), vec![a.clone(), next.clone()])
                        }
                    };
                    let vs = value.to_string_lossy().into_owned();
                    match o.class {
                        Output => {
                            // clang-cl 14 writes `/Fo:x.obj` to a file named `:x.obj`;
                            // newer compilers read the colon as a separator. Not guessed.
                            if vs.starts_with(':') {
                                return Err(Reason::UnsupportedOption);
                            }
                            fo = Some(value);
                            continue;
                        }
                        Input(lang) => {
                            is_input(&value, Some(lang), raw.clone());
                            p.hashed_args.push(OsString::from(format!("/{}", o.name)));
                            p.hashed_args.push(OsString::from("<input>"));
                            p.preprocess_args.extend(cpp);
                            continue;
                        }
                        ForcedInclude => info.forced_include = true,
                        EnvDirs => {
                            let v = (ctx.env)(&vs).unwrap_or_default();
                            let mut h = OsString::from(format!("<env {vs}>="));
                            h.push(v);
                            p.hashed_args.push(h);
                        }
                        OtherOutput => {
                            p.hashed_args.extend(raw);
                            continue;
                        }
                        ClangArg => {
                            if !CLANG_SAFE_PREFIXES.iter().any(|pre| vs.starts_with(pre))
                                || vs.starts_with("-fno-pch")
                                || vs.starts_with("-Wp,")
                                || vs.starts_with("-Wa,")
                            {
                                return Err(Reason::UnsupportedOption);
                            }
                        }
                        XclangArg => {
                            if vs.contains("pch")
                                || vs.contains("dependency")
                                || vs.starts_with("-M")
                                || vs.starts_with("-E")
                                || vs.starts_with("-o")
                            {
                                return Err(Reason::UnsupportedOption);
                            }
                        }
                        TooHard(r) => return Err(r),
                        IncludeDir | Other => {}
                    }
                    p.hashed_args.extend(raw.iter().cloned());
                    if from_cmdline {
                        p.preprocess_args.extend(raw);
                    }
                    continue;
                }
                if !dash && looks_like_input(s, ctx) {
                    is_input(a, None, vec![a.clone()]);
                    p.hashed_args.push(OsString::from("<input>"));
                    cpp_inputs.extend(cpp);
                    continue;
                }
            }
        }
        p.hashed_args.push(a.clone());
        if keep_for_cpp && from_cmdline {
            p.preprocess_args.push(a.clone());
        }
    }

    if !compile_only {
        return Err(Reason::Linking);
    }
    let (input, explicit) = match inputs.len() {
        0 => return Err(Reason::NoSource),
        1 => inputs.pop().expect("one input"),
        _ => return Err(Reason::MultipleSources),
    };
    let input = PathBuf::from(input);
    // /Tc and /Tp name their file's language; /TC and /TP every other input's.
    let language = explicit
        .or(all_lang)
        .or_else(|| language_from_extension(&input))
        .ok_or(Reason::UnknownLanguage)?;
    p.outputs.push(Output {
        kind: FileKind::Object,
        path: object_path(fo.as_deref(), &input, seps),
        optional: false,
    });
    if debug {
        // CodeView debug info records the working directory, the object's path, the
        // compiler's path and the whole cc1 command line (LF_BUILDINFO): key on all of
        // them, and add nothing to the compile (no internal /showIncludes).
        p.cwd_matters = true;
        p.output_path_matters = true;
        p.records_command_line = true;
        let mut all = src.prefix.clone();
        all.extend(src.args.iter().cloned());
        all.extend(src.suffix.iter().cloned());
        p.hashed_args = all;
    }
    info.search_args = search_args(&p.preprocess_args, &input, language);
    p.preprocess_args.push(OsString::from("/E"));
    if !cpp_inputs.is_empty() {
        p.preprocess_args.push(OsString::from("--"));
        p.preprocess_args.extend(cpp_inputs);
    }
    // Our own flags (`/showIncludes`) go before a `--`; one inside a response file
    // leaves no place for them.
    info.extra_at = match dashdash {
        None => Some(original.len()),
        Some(k) if src.args == original => Some(k),
        Some(_) => None,
    };
    p.unmodelled_macro_in_args = super::names_unmodelled_macro(&p.hashed_args);
    p.language = Some(language);
    p.input = input;
    p.compile_args = original.to_vec();
    p.msvc = Some(info);
    Ok(p)
}

/// The preprocessor arguments without the input (and the `/Tc`/`/Tp` naming it) and
/// without forced includes, plus
/// `-v /E` on an empty file of the same language: the include search list on stderr.
fn search_args(cpp: &[OsString], input: &Path, language: Language) -> Vec<OsString> {
    let mut out = Vec::with_capacity(cpp.len() + 3);
    let mut i = 0;
    while i < cpp.len() {
        let a = &cpp[i];
        let s = a.to_string_lossy();
        if Path::new(a) == input {
            i += 1;
            continue;
        }
        let body = s.get(1..).unwrap_or("");
        if (s.starts_with('/') || s.starts_with('-')) && (body == "Tc" || body == "Tp") {
            i += 2;
            continue;
        }
        if (s.starts_with('/') || s.starts_with('-'))
            && (body.starts_with("Tc") || body.starts_with("Tp"))
            && Path::new(&body[2..]) == input
        {
            i += 1;
            continue;
        }
        // A forced include (`/FI`, case-sensitive: `/Fi` names the preprocessed output)
        // does not change the search list, and may be a pipe the compile has drained:
        // the query would wait on it for ever.
        if (s.starts_with('/') || s.starts_with('-')) && body.starts_with("FI") {
            i += if body == "FI" { 2 } else { 1 };
            continue;
        }
        out.push(a.clone());
        i += 1;
    }
    let tail = match language {
        Language::Cxx => "/Tp/dev/null",
        _ => "/Tc/dev/null",
    };
    out.extend(["-v", "/E", tail].map(OsString::from));
    out
}

/// Split a compile's stdout into the files its `/showIncludes` notes name (in order, as
/// printed, duplicates removed) and the stdout without those lines.
pub fn split_notes(stdout: &[u8]) -> (Vec<String>, Vec<u8>) {
    let mut files: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut rest = Vec::with_capacity(stdout.len());
    for line in stdout.split_inclusive(|&b| b == b'\n') {
        match line.strip_prefix(NOTE_PREFIX) {
            Some(path) => {
                // Nesting is shown by extra spaces before the path.
                let text = String::from_utf8_lossy(path);
                let path = text.trim_start_matches(' ').trim_end_matches(['\n', '\r']);
                if !path.is_empty() && seen.insert(path.to_string()) {
                    files.push(path.to_string());
                }
            }
            None => rest.extend_from_slice(line),
        }
    }
    (files, rest)
}

#[cfg(test)]
#[path = "msvc_tests.rs"]
mod tests;
