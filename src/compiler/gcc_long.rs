//! gcc's long option spellings (`--output=x.o`, `--language c++`, `--compile`...), which
//! gcc's driver (its `option_map`) and clang's (aliases in its option table) turn into the
//! short options before anything else. The parser sees the short forms; the compiler still
//! gets the user's arguments. gcc also accepts any unambiguous abbreviation of these
//! (`--outp=x.o`): such an abbreviation is not cached rather than guessed at.

use crate::error::Reason;
use std::ffi::OsString;

/// How a long option's value is written in its short form.
#[derive(Clone, Copy)]
enum Value {
    /// No value.
    None,
    /// A value, given as the next argument (`-o x.o`).
    Separate,
    /// A value glued on (`-DNAME`, `-std=c99`).
    Joined,
    /// An optional glued value (`--debug` -> `-g`, `--debug=3` -> `-g3`).
    Optional,
}

/// gcc's `option_map` rows that matter to a cache: the ones that change inputs, outputs,
/// language or mode, and the include and macro options.
const ALIASES: &[(&str, &str, Value)] = &[
    ("--assemble", "-S", Value::None),
    ("--comments", "-C", Value::None),
    ("--comments-in-macros", "-CC", Value::None),
    ("--compile", "-c", Value::None),
    ("--debug", "-g", Value::Optional),
    ("--define-macro", "-D", Value::Joined),
    ("--dependencies", "-M", Value::None),
    ("--dumpbase", "-dumpbase", Value::Separate),
    ("--dumpdir", "-dumpdir", Value::Separate),
    ("--imacros", "-imacros", Value::Separate),
    ("--include", "-include", Value::Separate),
    ("--include-barrier", "-I-", Value::None),
    ("--include-directory", "-I", Value::Joined),
    ("--include-directory-after", "-idirafter", Value::Separate),
    ("--include-prefix", "-iprefix", Value::Separate),
    ("--include-with-prefix", "-iwithprefix", Value::Separate),
    (
        "--include-with-prefix-after",
        "-iwithprefix",
        Value::Separate,
    ),
    (
        "--include-with-prefix-before",
        "-iwithprefixbefore",
        Value::Separate,
    ),
    ("--language", "-x", Value::Separate),
    ("--no-line-commands", "-P", Value::None),
    ("--no-standard-includes", "-nostdinc", Value::None),
    ("--optimize", "-O", Value::Optional),
    ("--output", "-o", Value::Separate),
    ("--prefix", "-B", Value::Separate),
    ("--preprocess", "-E", Value::None),
    ("--print-missing-file-dependencies", "-MG", Value::None),
    ("--save-temps", "-save-temps", Value::None),
    ("--std", "-std=", Value::Joined),
    ("--trace-includes", "-H", Value::None),
    ("--undefine-macro", "-U", Value::Joined),
    ("--user-dependencies", "-MM", Value::None),
    ("--write-dependencies", "-MD", Value::None),
    ("--write-user-dependencies", "-MMD", Value::None),
];

/// Long options both drivers take as they are (they have rows in the option table or
/// are plain flags there), even where they begin like an alias.
const KEPT: &[&str] = &["--coverage", "--param", "--specs", "--sysroot", "--target"];

/// Rewrite the long aliases into their short forms. Other arguments are kept as they are.
pub fn to_short_forms(args: &[OsString]) -> Result<Vec<OsString>, Reason> {
    let mut out = Vec::with_capacity(args.len());
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        let Some(s) = a.to_str().filter(|s| s.starts_with("--") && s.len() > 2) else {
            out.push(a.clone());
            continue;
        };
        let (name, glued) = match s.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (s, None),
        };
        if KEPT.contains(&name) {
            out.push(a.clone());
            continue;
        }
        let Some(&(_, short, kind)) = ALIASES.iter().find(|(long, _, _)| *long == name) else {
            if ALIASES.iter().any(|(long, _, _)| long.starts_with(name)) {
                // An abbreviation gcc would expand: do not guess which.
                return Err(Reason::UnsupportedOption);
            }
            out.push(a.clone());
            continue;
        };
        let value = match (kind, glued) {
            (Value::None, Some(_)) => return Err(Reason::UnsupportedOption),
            (Value::None, None) | (Value::Optional, None) => None,
            (_, Some(v)) => Some(OsString::from(v)),
            (Value::Separate | Value::Joined, None) => {
                let Some(v) = args.get(i) else {
                    return Err(Reason::UnsupportedOption);
                };
                i += 1;
                Some(v.clone())
            }
        };
        match (kind, value) {
            (Value::Separate, Some(v)) => {
                out.push(OsString::from(short));
                out.push(v);
            }
            (_, Some(v)) => {
                let mut joined = OsString::from(short);
                joined.push(v);
                out.push(joined);
            }
            (_, None) => out.push(OsString::from(short)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(args: &str) -> Result<String, Reason> {
        let v: Vec<OsString> = args.split(' ').map(OsString::from).collect();
        to_short_forms(&v).map(|o| {
            o.iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    #[test]
    fn long_aliases_become_short_options() {
        assert_eq!(
            short("--output=x.o --compile a.c").unwrap(),
            "-o x.o -c a.c"
        );
        assert_eq!(short("--output x.o").unwrap(), "-o x.o");
        assert_eq!(short("--language=c++ a.c").unwrap(), "-x c++ a.c");
        assert_eq!(short("--language c++").unwrap(), "-x c++");
        assert_eq!(
            short("--define-macro=A=1 --define-macro B").unwrap(),
            "-DA=1 -DB"
        );
        assert_eq!(short("--include-directory=inc").unwrap(), "-Iinc");
        assert_eq!(
            short("--std=c99 --debug --debug=3 --optimize=2").unwrap(),
            "-std=c99 -g -g3 -O2"
        );
        assert_eq!(
            short("--write-dependencies --save-temps").unwrap(),
            "-MD -save-temps"
        );
    }

    #[test]
    fn other_long_options_are_kept_and_abbreviations_refused() {
        assert_eq!(
            short("--param max-inline-insns-single=10 --coverage --sysroot=/s --target=x").unwrap(),
            "--param max-inline-insns-single=10 --coverage --sysroot=/s --target=x"
        );
        assert_eq!(
            short("--serialize-diagnostics f").unwrap(),
            "--serialize-diagnostics f"
        );
        assert_eq!(short("--outp=x.o").unwrap_err(), Reason::UnsupportedOption);
        assert_eq!(short("--lang c").unwrap_err(), Reason::UnsupportedOption);
        assert_eq!(short("--compile=x").unwrap_err(), Reason::UnsupportedOption);
        assert_eq!(short("--output").unwrap_err(), Reason::UnsupportedOption);
        assert_eq!(short("- -- a.c").unwrap(), "- -- a.c");
    }
}
