//! Wind River diab (`dcc`, and `dplus`, its C++ driver): the option table, `-@` response
//! files and the parser.
//!
//! What the option table knows comes from the diab front end of sccache (which options
//! take an argument, the dry-run, version and preprocess-only flags, the
//! `-Xmake-dependency*` family, `-@` with its redirections) and from diab command lines
//! recorded in public build logs. No diab compiler can be installed here, so nothing in
//! this file has been checked against a real one; where a fact was missing the choice
//! below is the one that can lose a hit but never give a wrong one (docs/diab.md).
//!
//! The flow is preprocessor mode only: the key holds `dcc -E` output, and the compile
//! runs the user's arguments unchanged. Direct and depend mode need the compiler to
//! take gcc's `-MD -MF <file>`, which diab does not.
//!
//! Deliberately conservative, each with a reason in place:
//! * the whole command line (outputs included) is hashed, and the working directory too:
//!   diab objects record the driver's options (with the object path) in a `.wrcm`
//!   section, as `-frecord-gcc-switches` does;
//! * no `-o <file>`: not cacheable, since where diab puts a default object is not known;
//! * `-S`: not cacheable (sccache's choice; the assembly name is not modelled);
//! * dependency rules without `-Xmake-dependency-savefile=`: not cacheable, the rules
//!   would go where we do not know.
//!
//! Not here: running anything, reading files (the caller expands `-@` response files
//! with [`expand_response_files`] and passes the environment in the [`Context`]).

use super::gcc::Context;
use super::{DepFile, Language, Output, Parsed, ResolvedCompiler};
use crate::entry::FileKind;
use crate::error::Reason;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Environment variables the diab driver reads to pick its target, configuration and
/// installation (`DIABLIB` also appears as `-WDDIABLIB=` in build scripts), and `DFLAGS`,
/// which adds options. Keyed when set; `DFLAGS` is also classified like arguments.
const KEYED_ENV: &[&str] = &[
    "DCONFIG", "DENVIRON", "DFLAGS", "DIABLIB", "DOBJECT", "DTARGET",
];

/// Nested `-@` files beyond this depth stay unexpanded (and the command is not cached):
/// a file that names itself must not loop.
const MAX_DEPTH: usize = 16;
/// And at most this many expansions per command line: a file naming itself twice would
/// otherwise expand 2^16 times within the depth limit. Real builds use one or two.
const MAX_EXPANSIONS: usize = 256;

/// What an option with an argument means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// `-o`: the object; hashed (the object records it) but not given to the preprocessor.
    Output,
    /// `-Xmake-dependency-savefile=`: where the make rules go.
    DepOutput,
    /// `-Xmake-dependency-target=`: the rules' target.
    DepTarget,
    /// `-Xmake-dependency=<mode>`: rules wanted.
    DepMode,
    /// Anything else with an argument: hashed, passed on, given to the preprocessor.
    Other,
}

type Opt = super::args::Opt<Class>;
use super::args::opt;

use Class::*;

/// Options that take an argument. Sorted by name; lookup prefers the longest joined
/// match. `-L`, `-l`, `-W` and `-t` take a separate word in sccache's table; their glued
/// forms (`-tPPCE200Z4VEN:simple`, `-Wa,...`, `-WDDIABLIB=...`) are hashed as written
/// either way. A bare `-Y` taking the next word is our assumption (`-YI,dir` is the usual
/// spelling): if diab disagrees, a hit is lost, never a wrong one made.
const OPTIONS: &[Opt] = &[
    opt("-D", true, true, Other),
    opt("-I", true, true, Other),
    opt("-L", true, true, Other),
    opt("-U", true, true, Other),
    opt("-W", true, false, Other),
    opt("-Xmake-dependency-savefile=", false, true, DepOutput),
    opt("-Xmake-dependency-target=", false, true, DepTarget),
    opt("-Xmake-dependency=", false, true, DepMode),
    opt("-Y", true, false, Other),
    opt("-include", true, true, Other),
    opt("-l", true, true, Other),
    opt("-o", true, false, Output),
    opt("-t", true, true, Other),
];

/// Find the option an argument starts: exact separate form first, then the longest
/// joined prefix. Returns the option and the glued-on value, if any.
fn lookup(arg: &str) -> Option<(&'static Opt, Option<&str>)> {
    super::args::lookup(OPTIONS, arg)
}

/// Flags without an argument that decide whether the command can be cached.
fn flag_reason(s: &str) -> Option<Reason> {
    Some(match s {
        "-E" | "-P" => Reason::PreprocessOnly,
        // Assembly output, version banners, dry runs (`-##`/`-###` print the programs
        // the driver would run and run nothing).
        "-S" | "-V" | "-VV" | "-##" | "-###" => Reason::UnsupportedOption,
        "-" => Reason::StdinInput,
        // A `-@` left after expansion: `-@E=`/`-@O=` (stderr/stdout to a file),
        // `-@@name`, or a response file we could not read or split.
        _ if s.starts_with("-@") => Reason::UnsupportedOption,
        _ => return None,
    })
}

fn language_from_extension(path: &Path, cxx_driver: bool) -> Result<Language, Reason> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "c" if cxx_driver => Language::Cxx,
        "c" => Language::C,
        "cc" | "cp" | "cpp" | "cxx" | "CPP" | "c++" | "C" => Language::Cxx,
        // Assembly (das), preprocessed text, headers: not modelled.
        _ => return Err(Reason::UnknownLanguage),
    })
}

/// Parse an expanded argument vector (`-@` files already expanded by
/// [`expand_response_files`]). `original` is the user's vector, run unchanged.
pub fn parse(
    compiler: &ResolvedCompiler,
    expanded: &[OsString],
    original: &[OsString],
    ctx: &Context,
) -> Result<Parsed, Reason> {
    let mut p = Parsed::default();
    let mut env_keys: Vec<OsString> = Vec::new();
    // DFLAGS adds options: classify them as if they came first, so that a `-E` or a
    // savefile there is seen. The driver reads DFLAGS itself, so they are not added to
    // the preprocessor's or the compiler's arguments.
    let mut from_env: Vec<OsString> = Vec::new();
    for var in KEYED_ENV {
        if let Some(v) = (ctx.env)(var).filter(|v| !v.is_empty()) {
            if *var == "DFLAGS" {
                from_env = v
                    .as_bytes()
                    .split(|b| b.is_ascii_whitespace())
                    .filter(|w| !w.is_empty())
                    .map(|w| OsString::from_vec(w.to_vec()))
                    .collect();
            }
            let mut k = OsString::from(format!("<env {var}="));
            k.push(&v);
            k.push(">");
            env_keys.push(k);
        }
    }
    let n_env = from_env.len();
    let all: Vec<OsString> = from_env
        .into_iter()
        .chain(expanded.iter().cloned())
        .collect();

    let mut compile_only = false;
    let mut output: Option<OsString> = None;
    let mut inputs: Vec<OsString> = Vec::new();
    let mut dep_requested = false;
    let mut dep_output: Option<OsString> = None;

    let mut i = 0;
    while i < all.len() {
        let a = &all[i];
        let from_cmdline = i >= n_env;
        let s = a.to_string_lossy();
        let s = s.as_ref();
        i += 1;

        if let Some(r) = flag_reason(s) {
            return Err(r);
        }
        if !s.starts_with('-') {
            inputs.push(a.clone());
            if from_cmdline {
                p.preprocess_args.push(a.clone());
            }
            continue;
        }
        if s == "-c" {
            compile_only = true;
            continue;
        }
        if s == "-Xmake-dependency" {
            dep_requested = true;
            continue;
        }
        if s == "-Xmake-dependency-canonicalize-path-off" {
            continue;
        }
        let Some((o, joined)) = lookup(s) else {
            if s.starts_with("-Xmake-dependency") {
                // A dependency option we do not know may write a file we do not restore.
                return Err(Reason::UnsupportedOption);
            }
            // Unknown flag: hashed (below) and given to the preprocessor too.
            if from_cmdline {
                p.preprocess_args.push(a.clone());
            }
            continue;
        };
        let (value, raw): (OsString, Vec<OsString>) = match joined {
            Some(v) => (OsString::from(v), vec![a.clone()]),
            None => {
                let Some(next) = all.get(i) else {
                    return Err(Reason::UnsupportedOption);
                };
                i += 1;
                (next.clone(), vec![a.clone(), next.clone()])
            }
        };
        match o.class {
            Output => output = Some(value),
            DepOutput => dep_output = Some(value),
            DepMode => dep_requested = true,
            DepTarget => {}
            Other => {
                if from_cmdline {
                    p.preprocess_args.extend(raw);
                }
            }
        }
    }

    if !compile_only {
        return Err(Reason::Linking);
    }
    let input = match inputs.len() {
        0 => return Err(Reason::NoSource),
        1 => PathBuf::from(inputs.pop().expect("one input")),
        _ => return Err(Reason::MultipleSources),
    };
    let language = language_from_extension(&input, compiler.cxx_driver)?;
    let main_output = match output {
        Some(o) if o == OsStr::new("-") => return Err(Reason::OutputToStdout),
        Some(o) => PathBuf::from(o),
        // Where diab writes an object without -o is not known here: do not guess.
        None => return Err(Reason::UnsupportedOption),
    };
    if dep_requested && dep_output.is_none() {
        return Err(Reason::UnsupportedOption);
    }
    p.outputs.push(Output {
        kind: FileKind::Object,
        path: main_output,
        optional: false,
    });
    if let Some(d) = dep_output {
        let path = PathBuf::from(d);
        p.dep_file = Some(DepFile {
            path: path.clone(),
            // The whole command line is in the key, so a hit is for this very object
            // path: the rules are restored as diab wrote them, never retargeted.
            target_fixed: true,
            // Not a gcc dep file: never used for direct mode.
            complete: false,
        });
        p.outputs.push(Output {
            kind: FileKind::DepFile,
            path,
            // A savefile without `-Xmake-dependency` may not be written at all.
            optional: !dep_requested,
        });
    }

    // The object records the driver's options, the output path among them: hash the
    // whole command line as given (after `-@` expansion), and the working directory.
    p.hashed_args = all[n_env..].to_vec();
    p.hashed_args.extend(env_keys);
    p.records_command_line = true;
    p.cwd_matters = true;
    p.language = Some(language);
    p.input = input;
    p.compile_args = original.to_vec();
    p.preprocess_args.push(OsString::from("-E"));
    Ok(p)
}

/// Expand `-@name` arguments as the diab driver does: the value of the environment
/// variable `name` if there is one, else the words of the file `name` (relative to
/// `cwd`). Reads files; [`expand_with`] is the pure part.
pub fn expand_response_files(
    args: &[OsString],
    cwd: &Path,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Vec<OsString> {
    expand_with(args, env, &|p: &Path| std::fs::read(cwd.join(p)).ok())
}

/// [`expand_response_files`] with the file reader given. Arguments that cannot be
/// expanded soundly stay as they are, and [`parse`] then refuses them: the output
/// redirections `-@E=`, `-@E+`, `-@O=`, `-@O+` and `-@@`, an unreadable file, and
/// contents with quotes or backslashes (diab's quoting rules are not modelled).
pub fn expand_with(
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
    read: &dyn Fn(&Path) -> Option<Vec<u8>>,
) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut budget = MAX_EXPANSIONS;
    expand_into(args, env, read, 0, &mut budget, &mut out);
    out
}

fn expand_into(
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
    read: &dyn Fn(&Path) -> Option<Vec<u8>>,
    depth: usize,
    budget: &mut usize,
    out: &mut Vec<OsString>,
) {
    for a in args {
        let words = (depth < MAX_DEPTH && *budget > 0)
            .then(|| response_words(a, env, read))
            .flatten();
        match words {
            Some(words) => {
                *budget -= 1;
                expand_into(&words, env, read, depth + 1, budget, out);
            }
            None => out.push(a.clone()),
        }
    }
}

/// The words `-@name` stands for, or None when it is not one we can expand.
fn response_words(
    arg: &OsStr,
    env: &dyn Fn(&str) -> Option<OsString>,
    read: &dyn Fn(&Path) -> Option<Vec<u8>>,
) -> Option<Vec<OsString>> {
    let name = arg.as_bytes().strip_prefix(b"-@")?;
    let redirect = [&b"E="[..], b"E+", b"O=", b"O+", b"@"];
    if name.is_empty() || redirect.iter().any(|r| name.starts_with(r)) {
        return None;
    }
    let name = OsStr::from_bytes(name);
    let content = match name.to_str().and_then(env) {
        Some(v) => v.into_vec(),
        None => read(Path::new(name))?,
    };
    if content.iter().any(|b| matches!(b, b'"' | b'\'' | b'\\')) {
        return None;
    }
    Some(
        content
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .map(|w| OsString::from_vec(w.to_vec()))
            .collect(),
    )
}

#[cfg(test)]
#[path = "diab_tests.rs"]
mod tests;
