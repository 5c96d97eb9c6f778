//! Base-directory path rewriting (CACHEPOT_BASEDIR): absolute paths under a base
//! directory become relative to the working directory, so two checkouts of a project at
//! different places produce the same key. Only keys and stored text are rewritten; the
//! compiler always runs with the user's own arguments.

use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};

/// Marks a path in stored dep-file text that was made relative to the compile's working
/// directory; restoring turns it back into an absolute path under the current one.
/// (0x01 never occurs in a dep file that gcc or clang write.)
pub const REL_MARK: char = '\u{1}';

/// `a/./b/../c` -> `a/c`, without touching the file system.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            // `..` cancels a name before it; at the root it stays at the root; anywhere
            // else (`..`, `../..`) it is kept: popping a `..` would climb down instead.
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// [`normalize`] on text, for hot loops over many paths: `/`-separated, no allocation
/// per component. Empty components (`a//b`) are dropped as `.` is.
pub fn normalize_str(p: &str) -> String {
    // Most paths are normal already (a validation normalises hundreds): one byte scan
    // then, for no `.` or `..` component, no empty one and no trailing `/`.
    let b = p.as_bytes();
    let odd = b.first() == Some(&b'.')
        || (b.len() > 1 && b.last() == Some(&b'/'))
        || b.windows(2)
            .any(|w| w[0] == b'/' && matches!(w[1], b'/' | b'.'));
    if !odd {
        return p.to_string();
    }
    // Built in place: a name is appended, a `..` truncates back to the last `/` (a
    // validation normalises hundreds of long `..`-spelled paths; splitting on a `char`
    // and collecting the parts cost twice as much).
    let absolute = p.starts_with('/');
    let root = usize::from(absolute);
    let mut out = String::with_capacity(p.len());
    if absolute {
        out.push('/');
    }
    let mut start = 0;
    while start <= p.len() {
        let end = b[start..]
            .iter()
            .position(|&c| c == b'/')
            .map_or(p.len(), |i| start + i);
        match &p[start..end] {
            "" | "." => {}
            ".." => {
                let last = out.as_bytes()[root..]
                    .iter()
                    .rposition(|&c| c == b'/')
                    .map_or(root, |i| root + i + 1);
                if out.len() > root && &out[last..] != ".." {
                    out.truncate(last.saturating_sub(1).max(root));
                } else if !absolute {
                    if out.len() > root {
                        out.push('/');
                    }
                    out.push_str("..");
                }
            }
            name => {
                if out.len() > root {
                    out.push('/');
                }
                out.push_str(name);
            }
        }
        start = end + 1;
    }
    out
}

fn is_under(p: &Path, bases: &[PathBuf]) -> bool {
    p.is_absolute() && bases.iter().any(|b| p.starts_with(b))
}

/// `p` relative to `cwd` (both absolute), with `..` where needed.
pub fn relative_to(p: &Path, cwd: &Path) -> PathBuf {
    let p = normalize(p);
    let cwd = normalize(cwd);
    let pc: Vec<_> = p.components().collect();
    let cc: Vec<_> = cwd.components().collect();
    let common = pc.iter().zip(&cc).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..cc.len() {
        out.push("..");
    }
    for c in &pc[common..] {
        out.push(c.as_os_str());
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The relative form of `p` if it is absolute and under a base directory.
pub fn relativize(p: &str, cwd: &Path, bases: &[PathBuf]) -> Option<String> {
    let path = Path::new(p);
    is_under(path, bases).then(|| relative_to(path, cwd).to_string_lossy().into_owned())
}

/// Rewrite one argument for the key: a path (`/base/x`), or an option with a glued path
/// (`-I/base/inc`, `--sysroot=/base/sys`).
pub fn rewrite_arg(arg: &OsStr, cwd: &Path, bases: &[PathBuf]) -> OsString {
    let Some(s) = arg.to_str() else {
        return arg.to_os_string();
    };
    let Some(slash) = s.find('/') else {
        return arg.to_os_string();
    };
    let (prefix, path) = s.split_at(slash);
    let prefix_ok = prefix.is_empty()
        || (prefix.starts_with('-') && !prefix.contains(','))
        || prefix.ends_with('=');
    // `-fdebug-prefix-map=OLD=NEW`: only OLD is a path of this checkout.
    let (path, tail) = match path.split_once('=') {
        Some((p, t)) => (p, format!("={t}")),
        None => (path, String::new()),
    };
    match relativize(path, cwd, bases) {
        Some(rel) if prefix_ok => OsString::from(format!("{prefix}{rel}{tail}")),
        _ => arg.to_os_string(),
    }
}

/// Rewrite the file names of `# <line> "<file>"` markers in preprocessed text.
pub fn rewrite_line_markers(text: &[u8], cwd: &Path, bases: &[PathBuf]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for line in text.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"# ") {
            if let Some(q1) = line.iter().position(|&b| b == b'"') {
                if let Some(q2) = line[q1 + 1..].iter().position(|&b| b == b'"') {
                    let name = String::from_utf8_lossy(&line[q1 + 1..q1 + 1 + q2]);
                    if let Some(rel) = relativize(&name, cwd, bases) {
                        out.extend_from_slice(&line[..q1 + 1]);
                        out.extend_from_slice(rel.as_bytes());
                        out.extend_from_slice(&line[q1 + 1 + q2..]);
                        continue;
                    }
                }
            }
        }
        out.extend_from_slice(line);
    }
    out
}

/// Make-style dep text for storing: absolute paths under a base dir become marked
/// relative paths, so the entry can be restored into another checkout.
pub fn dep_to_portable(text: &[u8], cwd: &Path, bases: &[PathBuf]) -> Vec<u8> {
    map_tokens(text, |tok| {
        let (body, colon) = match tok.strip_suffix(':') {
            Some(b) => (b, ":"),
            None => (tok, ""),
        };
        let unescaped = body
            .replace("\\ ", " ")
            .replace("\\#", "#")
            .replace("$$", "$");
        relativize(&unescaped, cwd, bases)
            .map(|rel| format!("{REL_MARK}{}{colon}", crate::depfile::escape_target(&rel)))
    })
}

/// The inverse of [`dep_to_portable`] for the current working directory.
pub fn dep_from_portable(text: &[u8], cwd: &Path) -> Vec<u8> {
    if !text.contains(&(REL_MARK as u8)) {
        return text.to_vec();
    }
    map_tokens(text, |tok| {
        let rest = tok.strip_prefix(REL_MARK)?;
        let (body, colon) = match rest.strip_suffix(':') {
            Some(b) => (b, ":"),
            None => (rest, ""),
        };
        let unescaped = body
            .replace("\\ ", " ")
            .replace("\\#", "#")
            .replace("$$", "$");
        let abs = normalize(&cwd.join(unescaped));
        Some(format!(
            "{}{colon}",
            crate::depfile::escape_target(&abs.to_string_lossy())
        ))
    })
}

/// Apply `f` to each whitespace-separated token (an escaped space stays inside a token);
/// separators are kept byte for byte.
fn map_tokens(text: &[u8], f: impl Fn(&str) -> Option<String>) -> Vec<u8> {
    let s = String::from_utf8_lossy(text);
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            out.push(b[i] as char);
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len()
            && !(b[i].is_ascii_whitespace() && !(i > start && b[i - 1] == b'\\' && b[i] == b' '))
        {
            i += 1;
        }
        let tok = &s[start..i];
        match f(tok) {
            Some(r) => out.push_str(&r),
            None => out.push_str(tok),
        }
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bases() -> Vec<PathBuf> {
        vec![PathBuf::from("/home/u")]
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_to(Path::new("/a/b/c"), Path::new("/a/d")),
            PathBuf::from("../b/c")
        );
        assert_eq!(
            relative_to(Path::new("/a/b"), Path::new("/a/b")),
            PathBuf::from(".")
        );
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("../../x")), PathBuf::from("../../x"));
        assert_eq!(normalize(Path::new("a/../../x")), PathBuf::from("../x"));
        assert_eq!(normalize(Path::new("./..")), PathBuf::from(".."));
        assert_eq!(normalize(Path::new("/../a")), PathBuf::from("/a"));
        for p in [
            "/a/./b/../c",
            "../../x",
            "a/../../x",
            "./..",
            "/../a",
            "a//b/",
            "/",
            ".",
            "",
            "/usr/include/../lib/./x",
            "src/compress/../common/../../common",
            "a/b",
            "/a/b",
            "a",
            "a/.hidden/b",
            "a/b/.",
            "a/b/..",
            "..",
            ".a/b",
            "a/",
            "//a",
            "../a/..",
            "a/../..",
            "/..",
            "../..",
            "x/../y/../z",
            "a/b/../../..",
            "/a/b/../../..",
            "a/./../b/./c/..",
            "../../a/b/../c",
        ] {
            let via_path = normalize(Path::new(p));
            assert_eq!(normalize_str(p), via_path.to_string_lossy(), "{p}");
        }
    }

    #[test]
    fn args_under_base_only() {
        let cwd = Path::new("/home/u/p1/build");
        let r = |a: &str| {
            rewrite_arg(OsStr::new(a), cwd, &bases())
                .to_string_lossy()
                .into_owned()
        };
        assert_eq!(r("-I/home/u/p1/inc"), "-I../inc");
        assert_eq!(r("/home/u/p1/src/a.c"), "../src/a.c");
        assert_eq!(r("--sysroot=/home/u/sys"), "--sysroot=../../sys");
        assert_eq!(r("-I/usr/include"), "-I/usr/include");
        assert_eq!(r("-Wl,/home/u/x"), "-Wl,/home/u/x");
        assert_eq!(r("-O2"), "-O2");
        assert_eq!(
            r("-fdebug-prefix-map=/home/u/p1=/src"),
            "-fdebug-prefix-map=..=/src"
        );
    }

    #[test]
    fn dep_files_move_between_checkouts() {
        let d = b"/home/u/p1/build/a.o: /home/u/p1/src/a.c /usr/include/stdio.h \\\n /home/u/p1/inc/x\\ y.h\n";
        let portable = dep_to_portable(d, Path::new("/home/u/p1/build"), &bases());
        assert!(!String::from_utf8_lossy(&portable).contains("/home/u/p1"));
        let back = dep_from_portable(&portable, Path::new("/home/u/p2/build"));
        assert_eq!(String::from_utf8(back).unwrap(), "/home/u/p2/build/a.o: /home/u/p2/src/a.c /usr/include/stdio.h \\\n /home/u/p2/inc/x\\ y.h\n");
        assert_eq!(dep_from_portable(d, Path::new("/x")), d.to_vec());
    }

    #[test]
    fn line_markers() {
        let t = b"# 1 \"/home/u/p1/src/a.c\"\nint x;\n# 3 \"/usr/include/stdio.h\" 2\n";
        let r = rewrite_line_markers(t, Path::new("/home/u/p1"), &bases());
        assert_eq!(
            r,
            b"# 1 \"src/a.c\"\nint x;\n# 3 \"/usr/include/stdio.h\" 2\n".to_vec()
        );
    }
}

/// Stands for the relocatable directory (rustc's `--out-dir`) in stored output. It must
/// not start with [`REL_MARK`]: restoring resolves base-dir paths first, then this.
const DIR_MARK: &[u8] = b"\x02D\x02";

fn replace_bytes(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return data.to_vec();
    }
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

/// Replace every mention of `dir` by a marker (for storing).
pub fn mark_dir(data: &[u8], dir: &Path) -> Vec<u8> {
    replace_bytes(data, dir.as_os_str().as_encoded_bytes(), DIR_MARK)
}

/// Replace the marker by `dir` (for restoring).
pub fn unmark_dir(data: &[u8], dir: &Path) -> Vec<u8> {
    replace_bytes(data, DIR_MARK, dir.as_os_str().as_encoded_bytes())
}

#[cfg(test)]
mod dir_mark_tests {
    use super::*;

    #[test]
    fn out_dir_moves() {
        let s = br#"{"artifact":"/a/t/deps/libx.rmeta","emit":"metadata"}"#;
        let m = mark_dir(s, Path::new("/a/t/deps"));
        assert!(!m.windows(4).any(|w| w == b"/a/t"));
        assert_eq!(
            unmark_dir(&m, Path::new("/b/deps")),
            br#"{"artifact":"/b/deps/libx.rmeta","emit":"metadata"}"#.to_vec()
        );
    }
}
