//! Response files (`@file`): expanded recursively with gcc's quoting rules (libiberty's
//! `buildargv`: whitespace separates, '...' and "..." quote, backslash escapes any byte).
//! An `@file` that cannot be read stays a literal argument, as gcc keeps it.
//! The expansion is what gets hashed, so a response file's content is in the key.
//! Also the row type of the gcc-style option tables (gcc/clang and diab) and their lookup.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// gcc gives up after this many nested response files; so do we (a loop is not an error
/// of ours: the compiler reports it).
const MAX_DEPTH: usize = 16;
/// Expansions in all, as libiberty's `expandargv` counts them (gcc then fails with "too
/// many @-files encountered"). Without it a file naming itself three times expanded
/// 3^16 times within the depth limit. Past it, `@file` stays literal: one more input,
/// so the command is not cacheable and gcc reports its own error.
const MAX_EXPANSIONS: usize = 2000;

pub fn expand_response_files(args: &[OsString], cwd: &Path) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut budget = MAX_EXPANSIONS;
    expand_into(args, cwd, 0, &mut budget, &mut out);
    out
}

fn expand_into(
    args: &[OsString],
    cwd: &Path,
    depth: usize,
    budget: &mut usize,
    out: &mut Vec<OsString>,
) {
    for a in args {
        let bytes = a.as_bytes();
        if bytes.len() > 1 && bytes[0] == b'@' && depth < MAX_DEPTH && *budget > 0 {
            let path = cwd.join(Path::new(std::ffi::OsStr::from_bytes(&bytes[1..])));
            if let Ok(content) = std::fs::read(&path) {
                *budget -= 1;
                let inner = split_response(&content);
                expand_into(&inner, cwd, depth + 1, budget, out);
                continue;
            }
        }
        out.push(a.clone());
    }
}

/// One row of a gcc-style option table (gcc/clang, diab): an option that takes an
/// argument, and what it means to the front end (`C`).
pub struct Opt<C: 'static> {
    pub name: &'static str,
    /// The argument may follow as the next word.
    pub separate: bool,
    /// The argument may be glued on (`-DFOO`, `--sysroot=/x`: the `=` is part of `name`).
    pub joined: bool,
    pub class: C,
}

pub const fn opt<C>(name: &'static str, separate: bool, joined: bool, class: C) -> Opt<C> {
    Opt {
        name,
        separate,
        joined,
        class,
    }
}

/// The row for `arg`: an exact match of a separate form first, else the longest joined
/// prefix, with the glued value.
pub fn lookup<'t, 'a, C>(
    table: &'t [Opt<C>],
    arg: &'a str,
) -> Option<(&'t Opt<C>, Option<&'a str>)> {
    if let Some(o) = table.iter().find(|o| o.separate && o.name == arg) {
        return Some((o, None));
    }
    table
        .iter()
        .filter(|o| o.joined && arg.len() > o.name.len() && arg.starts_with(o.name))
        .max_by_key(|o| o.name.len())
        .map(|o| (o, Some(&arg[o.name.len()..])))
}

/// Split response file content into arguments.
pub fn split_response(content: &[u8]) -> Vec<OsString> {
    let mut args = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut in_arg = false;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < content.len() {
        let c = content[i];
        if c == b'\\' && i + 1 < content.len() {
            cur.push(content[i + 1]);
            in_arg = true;
            i += 2;
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == b'\'' || c == b'"' => {
                quote = Some(c);
                in_arg = true;
            }
            None if c.is_ascii_whitespace() => {
                if in_arg {
                    args.push(OsString::from_vec(std::mem::take(&mut cur)));
                    in_arg = false;
                }
            }
            None => {
                cur.push(c);
                in_arg = true;
            }
        }
        i += 1;
    }
    if in_arg {
        args.push(OsString::from_vec(cur));
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[OsString]) -> Vec<String> {
        v.iter().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn quoting_rules() {
        let a = split_response(b"-DA=1  'a b' \"c d\" e\\ f -I\"x y\"\n-c\n");
        assert_eq!(s(&a), ["-DA=1", "a b", "c d", "e f", "-Ix y", "-c"]);
        assert_eq!(s(&split_response(b"''")), [""]);
    }

    #[test]
    fn nested_files_and_missing_ones() {
        let d = std::env::temp_dir().join(format!("cachepot-rsp-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("outer.rsp"), "-O2 @inner.rsp").unwrap();
        std::fs::write(d.join("inner.rsp"), "-DX -c").unwrap();
        let args: Vec<OsString> = ["@outer.rsp", "@missing.rsp", "x.c"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            s(&expand_response_files(&args, &d)),
            ["-O2", "-DX", "-c", "@missing.rsp", "x.c"]
        );
        // A self-including file terminates.
        std::fs::write(d.join("loop.rsp"), "-g @loop.rsp").unwrap();
        let r = expand_response_files(&[OsString::from("@loop.rsp")], &d);
        assert_eq!(r.len(), MAX_DEPTH + 1);
        // One naming itself three times stops after MAX_EXPANSIONS reads, not 3^16.
        std::fs::write(d.join("fan.rsp"), "-g @fan.rsp @fan.rsp @fan.rsp").unwrap();
        let r = expand_response_files(&[OsString::from("@fan.rsp")], &d);
        let literal = r.iter().filter(|a| *a == "@fan.rsp").count();
        assert_eq!(r.len() - literal, MAX_EXPANSIONS, "one -g per expansion");
        assert!(literal > 0, "past the limit, @file stays an argument");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
