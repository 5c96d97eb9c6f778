//! Where an MSVC-syntax command's arguments come from, besides argv: response files
//! (`@file`) and the `CL` / `_CL_` environment variables. This is the only I/O of the
//! MSVC front end; [`super::msvc::parse`] then works on the result without touching the
//! file system.
//!
//! Facts (clang-cl 14 on Linux, measured; cl.exe documents the same):
//! * Response files use **Windows** quoting in CL mode, also on Linux (clang's driver
//!   picks the tokenizer by driver mode; `--rsp-quoting=posix|windows` overrides it). A
//!   file starting with a UTF-16LE byte-order mark is UTF-16, a UTF-8 BOM is skipped.
//!   A nested `@file` is relative to the working directory, not to the file naming it.
//! * `CL` is tokenized with the same Windows rules and **prepended** to the arguments,
//!   `_CL_` **appended**; in each of their words the first `#` stands for `=` (so that
//!   `CL=/DX#1` can be set from cmd.exe). An `@file` inside them is not expanded by
//!   clang-cl: we count such a command `unsupported_option` rather than guess.
//!
//! Not here: what the arguments mean (msvc.rs).

use crate::error::Reason;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// clang gives up on deeper nesting; so do we (as a reason, not a guess).
const MAX_DEPTH: usize = 16;

/// The arguments of one command in the order the compiler sees them: `CL`'s words, the
/// command line with response files expanded, `_CL_`'s words.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    pub prefix: Vec<OsString>,
    pub args: Vec<OsString>,
    pub suffix: Vec<OsString>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quoting {
    Windows,
    Posix,
}

/// Expand response files of `args` (relative to `cwd`) and read `CL` / `_CL_` via `env`.
pub fn gather(
    args: &[OsString],
    cwd: &Path,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Sources, Reason> {
    let mut quoting = Quoting::Windows;
    for a in args {
        match a.as_bytes() {
            b"--rsp-quoting=posix" => quoting = Quoting::Posix,
            b"--rsp-quoting=windows" => quoting = Quoting::Windows,
            _ => {}
        }
    }
    let read = |p: &Path| std::fs::read(cwd.join(p)).ok();
    let mut out = Vec::with_capacity(args.len());
    expand_into(args, quoting, &read, 0, &mut out)?;
    let from_env = |name: &str| -> Result<Vec<OsString>, Reason> {
        let Some(v) = env(name) else {
            return Ok(Vec::new());
        };
        let words = env_words(v.as_bytes());
        if words.iter().any(|w| w.as_bytes().starts_with(b"@")) {
            return Err(Reason::UnsupportedOption);
        }
        Ok(words)
    };
    Ok(Sources {
        prefix: from_env("CL")?,
        args: out,
        suffix: from_env("_CL_")?,
    })
}

/// Response-file expansion with a reader, so that it can be tested without files.
pub fn expand_into(
    args: &[OsString],
    quoting: Quoting,
    read: &dyn Fn(&Path) -> Option<Vec<u8>>,
    depth: usize,
    out: &mut Vec<OsString>,
) -> Result<(), Reason> {
    for a in args {
        let bytes = a.as_bytes();
        if bytes.len() > 1 && bytes[0] == b'@' {
            if let Some(content) = read(Path::new(std::ffi::OsStr::from_bytes(&bytes[1..]))) {
                if depth >= MAX_DEPTH {
                    return Err(Reason::UnsupportedOption);
                }
                let text = decode(&content).ok_or(Reason::UnsupportedOption)?;
                let words = match quoting {
                    Quoting::Windows => tokenize_windows(&text),
                    Quoting::Posix => super::args::split_response(&text),
                };
                expand_into(&words, quoting, read, depth + 1, out)?;
                continue;
            }
            // Unreadable: clang keeps it as an input name and reports the error itself.
        }
        out.push(a.clone());
    }
    Ok(())
}

/// Response-file bytes as clang reads them: UTF-16LE with a BOM is converted to UTF-8
/// (None when it is not valid UTF-16), a UTF-8 BOM is dropped, anything else is used
/// byte for byte.
pub fn decode(content: &[u8]) -> Option<Vec<u8>> {
    if let Some(rest) = content.strip_prefix(&[0xff, 0xfe]) {
        if rest.len() % 2 != 0 {
            return None;
        }
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16(&units).ok().map(String::into_bytes);
    }
    Some(
        content
            .strip_prefix(&[0xef, 0xbb, 0xbf])
            .unwrap_or(content)
            .to_vec(),
    )
}

/// The words of `CL` / `_CL_`: Windows quoting, then the first `#` of each word is `=`.
pub fn env_words(value: &[u8]) -> Vec<OsString> {
    tokenize_windows(value)
        .into_iter()
        .map(|w| {
            let mut b = w.into_vec();
            if let Some(i) = b.iter().position(|&c| c == b'#') {
                b[i] = b'=';
            }
            OsString::from_vec(b)
        })
        .collect()
}

/// LLVM's `TokenizeWindowsCommandLine` (clang 14): whitespace separates words outside
/// quotes; `2n` backslashes before `"` are `n` backslashes and the quote toggles quoting,
/// `2n+1` are `n` backslashes and a literal `"`; other backslashes are literal; inside
/// quotes `""` is a literal `"`. `""` alone is an empty word.
pub fn tokenize_windows(src: &[u8]) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut tok: Vec<u8> = Vec::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut i = 0;
    let white = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    while i < src.len() {
        let c = src[i];
        if !quoted && white(c) {
            if in_word {
                out.push(OsString::from_vec(std::mem::take(&mut tok)));
                in_word = false;
            }
            i += 1;
            continue;
        }
        in_word = true;
        if c == b'\\' {
            let n = src[i..].iter().take_while(|&&b| b == b'\\').count();
            i += n;
            if src.get(i) == Some(&b'"') {
                tok.extend(std::iter::repeat_n(b'\\', n / 2));
                if n % 2 == 1 {
                    tok.push(b'"');
                    i += 1;
                }
                // Even: the quote is handled as a quote on the next round.
            } else {
                tok.extend(std::iter::repeat_n(b'\\', n));
            }
            continue;
        }
        if c == b'"' {
            if quoted && src.get(i + 1) == Some(&b'"') {
                tok.push(b'"');
                i += 2;
                continue;
            }
            quoted = !quoted;
            i += 1;
            continue;
        }
        tok.push(c);
        i += 1;
    }
    if in_word {
        out.push(OsString::from_vec(tok));
    }
    out
}
