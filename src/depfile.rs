//! Make-style dependency files (`target: prereq prereq \` ...): retargeting a stored dep
//! file to the object path of the current command. The rules and prerequisites are
//! kept byte for byte; only the first rule's target changes, escaped the way gcc and
//! clang escape it (space -> `\ `, `#` -> `\#`, `$` -> `$$`).

/// Escape a path as a make target.
pub fn escape_target(path: &str) -> String {
    let mut s = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            ' ' | '\t' => {
                s.push('\\');
                s.push(c);
            }
            '#' => s.push_str("\\#"),
            '$' => s.push_str("$$"),
            _ => s.push(c),
        }
    }
    s
}

/// The target gcc writes for an output path: libcpp drops leading `./` (and the slashes
/// after it); clang keeps the path as given.
pub fn gcc_target(path: &str) -> &str {
    let mut t = path;
    while let Some(rest) = t.strip_prefix("./") {
        t = rest.trim_start_matches('/');
    }
    t
}

/// If the first rule's target is exactly `old` (unescaped path), replace it with `new`.
/// Anything else (a `-MT` target, clang/gcc differences) is returned unchanged.
pub fn retarget(content: &[u8], old: &str, new: &str) -> Vec<u8> {
    let old_t = escape_target(old);
    let new_t = escape_target(new);
    let ob = old_t.as_bytes();
    if content.len() > ob.len() && content.starts_with(ob) && content[ob.len()] == b':' {
        let mut out = Vec::with_capacity(content.len() + new_t.len());
        out.extend_from_slice(new_t.as_bytes());
        out.extend_from_slice(&content[ob.len()..]);
        return out;
    }
    content.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustc_dep_info_keeps_double_dollars() {
        let d = b"/o/libx.rlib: src/lib.rs src/a$$b.txt src/sp\\ ace.rs\n";
        assert_eq!(
            rustc_prerequisites(d),
            ["src/lib.rs", "src/a$$b.txt", "src/sp ace.rs"]
        );
        assert_eq!(
            prerequisites(d)[1],
            "src/a$b.txt",
            "make's reading, for gcc"
        );
    }

    #[test]
    fn gcc_drops_leading_dot_slashes() {
        assert_eq!(gcc_target("./a.o"), "a.o");
        assert_eq!(gcc_target(".//./obj/a.o"), "obj/a.o");
        assert_eq!(gcc_target("../a.o"), "../a.o");
        assert_eq!(gcc_target(".a.o"), ".a.o");
    }

    #[test]
    fn retargets_only_the_first_rule() {
        let d = b"build/a.o: src/a.c inc/a.h \\\n inc/b.h\ninc/a.h:\n";
        assert_eq!(
            retarget(d, "build/a.o", "out/x.o"),
            b"out/x.o: src/a.c inc/a.h \\\n inc/b.h\ninc/a.h:\n".to_vec()
        );
        assert_eq!(retarget(d, "other.o", "out/x.o"), d.to_vec());
        // A target that merely starts like the old one is left alone.
        assert_eq!(
            retarget(b"build/a.oo: x\n", "build/a.o", "y.o"),
            b"build/a.oo: x\n".to_vec()
        );
    }

    #[test]
    fn escapes_like_gcc() {
        assert_eq!(escape_target("a b#$.o"), "a\\ b\\#$$.o");
        assert_eq!(
            retarget(b"a\\ b.o: a.c\n", "a b.o", "c d.o"),
            b"c\\ d.o: a.c\n".to_vec()
        );
    }
}

/// The prerequisites of every rule in a dep file, in order, unescaped and deduplicated.
/// Phony rules (`-MP`: `header.h:` with nothing after) add nothing new.
pub fn prerequisites(content: &[u8]) -> Vec<String> {
    parse_prerequisites(content, true)
}

/// [`prerequisites`] of rustc's dep-info, which escapes only spaces: a `$$` in a file
/// name is two dollars there, not make's escaped one.
pub fn rustc_prerequisites(content: &[u8]) -> Vec<String> {
    parse_prerequisites(content, false)
}

fn parse_prerequisites(content: &[u8], make_dollars: bool) -> Vec<String> {
    let text = String::from_utf8_lossy(content);
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    // Join continuation lines, then split rules.
    let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
    for line in joined.lines() {
        let Some(colon) = find_rule_colon(line) else {
            continue;
        };
        let mut cur = String::new();
        let mut chars = line[colon + 1..].chars().peekable();
        let mut push = |cur: &mut String| {
            if !cur.is_empty() {
                let s = std::mem::take(cur);
                if seen.insert(s.clone()) {
                    out.push(s);
                }
            }
        };
        while let Some(c) = chars.next() {
            match c {
                '\\' if matches!(chars.peek(), Some(' ') | Some('#') | Some('\t')) => {
                    cur.push(chars.next().expect("peeked"))
                }
                '$' if make_dollars && chars.peek() == Some(&'$') => {
                    chars.next();
                    cur.push('$');
                }
                ' ' | '\t' => push(&mut cur),
                _ => cur.push(c),
            }
        }
        push(&mut cur);
    }
    out
}

/// The colon that ends a rule's targets: the first one followed by whitespace or the
/// end of the line, not escaped.
fn find_rule_colon(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    (0..b.len()).find(|&i| {
        b[i] == b':'
            && (i + 1 == b.len() || b[i + 1] == b' ' || b[i + 1] == b'\t')
            && (i == 0 || b[i - 1] != b'\\')
    })
}

#[cfg(test)]
mod prereq_tests {
    use super::*;

    #[test]
    fn parses_gcc_dep_files() {
        let d = b"build/a.o: src/a.c inc/a\\ b.h \\\n /usr/include/stdio.h inc/c$$.h\ninc/a\\ b.h:\n\n/usr/include/stdio.h:\n";
        assert_eq!(
            prerequisites(d),
            ["src/a.c", "inc/a b.h", "/usr/include/stdio.h", "inc/c$.h"]
        );
        assert!(prerequisites(b"").is_empty());
    }
}
