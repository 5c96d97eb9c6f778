//! `__has_include` under another name: `#define XXH_HAS_INCLUDE __has_include` (xxhash.h,
//! which zstd and lz4 include) or `#define HAS(x) __has_include(x)`. Such a macro is only
//! called with a literal header name in practice (`XXH_HAS_INCLUDE(<arm_neon.h>)`), and
//! then the name can be probed like a direct `__has_include` call. Any other use of the
//! alias (another argument, the name passed on to a further macro) stays "computed".

/// When the `__has_include` token at `pos` is the whole body of a `#define` on its own
/// line, the name of that macro: `#define NAME __has_include` (or `_next`), or
/// `#define NAME(p) __has_include(p)` with one parameter passed straight through.
pub(super) fn alias_defined_at(content: &[u8], pos: usize) -> Option<String> {
    let start = content[..pos]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1);
    let end = content[pos..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(content.len(), |i| pos + i);
    // A continued line (`\` before the newline) is not a simple definition.
    if content[start..end].ends_with(b"\\") || content[start..end].ends_with(b"\\\r") {
        return None;
    }
    let head = skip_blanks(&content[start..pos]);
    let head = skip_blanks(head.strip_prefix(b"#")?);
    let head = head.strip_prefix(b"define")?;
    if !head.first().is_some_and(|c| matches!(c, b' ' | b'\t')) {
        return None;
    }
    let (name, head) = ident(skip_blanks(head))?;
    let param = if let Some(inner) = head.strip_prefix(b"(") {
        // Function-like: one parameter, then only blanks up to the operator.
        let (p, rest) = ident(skip_blanks(inner))?;
        let rest = skip_blanks(rest).strip_prefix(b")")?;
        if !skip_blanks(rest).is_empty() {
            return None;
        }
        Some(p)
    } else {
        // Object-like: only blanks (at least one) up to the operator.
        if head.is_empty() || !skip_blanks(head).is_empty() {
            return None;
        }
        None
    };
    // The body: the operator, then for a function-like alias `(param)`, then nothing but
    // blanks or a comment.
    let body = &content[pos..end];
    let body = body.strip_prefix(b"__has_include")?;
    let body = body.strip_prefix(b"_next").unwrap_or(body);
    if body.first().is_some_and(|&c| is_ident(c)) {
        return None;
    }
    let mut body = skip_blanks(body);
    if let Some(p) = param {
        body = skip_blanks(body.strip_prefix(b"(")?);
        let (arg, rest) = ident(body)?;
        if arg != p {
            return None;
        }
        body = skip_blanks(skip_blanks(rest).strip_prefix(b")")?);
    }
    let rest_ok = body.is_empty()
        || body.starts_with(b"//")
        || (body.starts_with(b"/*") && {
            let close = body.windows(2).position(|w| w == b"*/");
            close.is_some_and(|i| skip_blanks(&body[i + 2..]).is_empty())
        });
    rest_ok.then_some(name)
}

/// The header names `aliases` are called with in `content`: `NAME(<x.h>)` or
/// `NAME("x.h")`. `Err(())` for any other use that is not a definition, an `#undef`, or
/// a test of whether the name is defined.
pub(super) fn alias_calls(content: &[u8], aliases: &[String]) -> Result<Vec<String>, ()> {
    let mut names = Vec::new();
    for alias in aliases {
        let a = alias.as_bytes();
        for pos in memchr::memmem::find_iter(content, a) {
            let before_ok = pos == 0 || !is_ident(content[pos - 1]);
            let after = &content[pos + a.len()..];
            if !before_ok || after.first().is_some_and(|&c| is_ident(c)) {
                continue; // part of a longer identifier
            }
            // A call with a literal name is probed wherever it is, comments included (a
            // probe too many costs nothing; a call missed would be a wrong hit).
            if let Some(name) = literal_call(after) {
                names.push(name);
                continue;
            }
            let before = &content[..pos];
            let before = before
                .iter()
                .rposition(|c| !matches!(c, b' ' | b'\t' | b'('))
                .map_or(&before[..0], |e| &before[..=e]);
            let not_a_use = ["define", "undef", "ifdef", "ifndef", "defined"]
                .iter()
                .any(|w| before.ends_with(w.as_bytes()))
                || super::in_comment(content, pos);
            if !not_a_use {
                return Err(());
            }
        }
    }
    Ok(names)
}

/// `(<name>)` or `("name")`, blanks allowed around the name, at the start of `after`.
fn literal_call(after: &[u8]) -> Option<String> {
    let rest = skip_blanks(skip_blanks(after).strip_prefix(b"(")?);
    let close = match rest.first() {
        Some(b'<') => b'>',
        Some(b'"') => b'"',
        _ => return None,
    };
    let end = rest[1..]
        .iter()
        .position(|&c| c == close || c == b'\n')
        .filter(|&e| rest[1 + e] == close)?;
    skip_blanks(&rest[2 + end..])
        .starts_with(b")")
        .then(|| String::from_utf8_lossy(&rest[1..1 + end]).into_owned())
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn skip_blanks(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t' | b'\r'))
        .count();
    &b[n..]
}

/// A C identifier at the start of `b`, and what follows it.
fn ident(b: &[u8]) -> Option<(String, &[u8])> {
    let n = b.iter().take_while(|&&c| is_ident(c)).count();
    (n > 0 && !b[0].is_ascii_digit())
        .then(|| (String::from_utf8_lossy(&b[..n]).into_owned(), &b[n..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defined(text: &str) -> Option<String> {
        let pos = text.find("__has_include").expect("has the token");
        alias_defined_at(text.as_bytes(), pos)
    }

    #[test]
    fn alias_definitions() {
        for (text, want) in [
            (
                "#    define XXH_HAS_INCLUDE __has_include\n",
                Some("XXH_HAS_INCLUDE"),
            ),
            (
                "#define HI __has_include_next /* the next one */\n",
                Some("HI"),
            ),
            ("# define HI\t__has_include // comment\n", Some("HI")),
            ("#define HAS(x) __has_include(x)\n", Some("HAS")),
            ("#define HAS( h ) __has_include ( h )\r\n", Some("HAS")),
            // Not a plain alias: computed, as before.
            ("#define HAS(x) __has_include(y)\n", None),
            ("#define HAS(x) __has_include(<x.h>)\n", None),
            ("#define HAS(x, y) __has_include(x)\n", None),
            ("#define HI __has_include && 1\n", None),
            ("#define HI __has_include_nextx\n", None),
            ("#define HI __has_include \\\n", None),
            ("#if HI __has_include\n", None),
            ("int x = __has_include;\n", None),
            ("#define HI /* */ __has_include\n", None),
        ] {
            assert_eq!(defined(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn alias_call_sites() {
        let aliases = ["XXH_HAS_INCLUDE".to_string()];
        let text = b"#ifndef XXH_HAS_INCLUDE\n#  ifdef __has_include\n#    define XXH_HAS_INCLUDE __has_include\n#  else\n#    define XXH_HAS_INCLUDE(x) 0\n#  endif\n#endif\n#if defined(__wasm_simd128__) && XXH_HAS_INCLUDE(<arm_neon.h>) /* x */\n#elif XXH_HAS_INCLUDE( \"local.h\" )\n#endif\n#undef XXH_HAS_INCLUDE\nint MY_XXH_HAS_INCLUDE_2;\n";
        assert_eq!(
            alias_calls(text, &aliases).unwrap(),
            ["arm_neon.h", "local.h"]
        );
        for bad in [
            &b"#if XXH_HAS_INCLUDE(HEADER)\n"[..],
            b"#define MORE XXH_HAS_INCLUDE\n#if MORE(<a.h>)\n",
            b"#if XXH_HAS_INCLUDE (<a.h> , x)\n",
            b"#if XXH_HAS_INCLUDE(<a.h\n",
            b"#if XXH_HAS_INCLUDE\n",
        ] {
            assert!(
                alias_calls(bad, &aliases).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // A mention in a comment is prose; a call is probed wherever it is, also after a
        // "/*" in a string, which the comment heuristic takes for an open comment.
        assert!(alias_calls(b"// XXH_HAS_INCLUDE is ours\n", &aliases)
            .unwrap()
            .is_empty());
        assert_eq!(
            alias_calls(
                b"const char *s = \"/*\";\n#if XXH_HAS_INCLUDE(<d.h>)\n#endif\n",
                &aliases
            )
            .unwrap(),
            ["d.h"]
        );
    }
}
