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
