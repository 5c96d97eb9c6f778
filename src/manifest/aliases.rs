//! `__has_include` under another name: `#define XXH_HAS_INCLUDE __has_include` (xxhash.h,
//! which zstd and lz4 include) or `#define HAS(x) __has_include(x)`. Such a macro is only
//! called with a literal header name in practice (`XXH_HAS_INCLUDE(<arm_neon.h>)`), and
//! then the name can be probed like a direct `__has_include` call. Any other use of the
//! alias (another argument, the name passed on to a further macro) stays "computed".

/// An alias of the operator: its name, and whether it is function-like.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Alias {
    pub name: String,
    /// `#define HAS(x) __has_include(x)`: its argument is collected as tokens and macro
    /// expanded, so `HAS(<linux/x.h>)` asks for `1/x.h` in GNU modes. Only a quoted name
    /// (one string token) is what it seems.
    pub function_like: bool,
}

/// When the `__has_include` token at `pos` is the whole body of a `#define` on its own
/// line, that macro: `#define NAME __has_include` (or `_next`), or
/// `#define NAME(p) __has_include(p)` with one parameter passed straight through.
/// `content` has its line continuations spliced ([`splice`]).
pub(super) fn alias_defined_at(content: &[u8], pos: usize) -> Option<Alias> {
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
    if let Some(p) = &param {
        body = skip_blanks(body.strip_prefix(b"(")?);
        let (arg, rest) = ident(body)?;
        if &arg != p {
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
    rest_ok.then_some(Alias {
        name,
        function_like: param.is_some(),
    })
}

/// The header names `aliases` are called with in `content` (spliced): `NAME(<x.h>)` or
/// `NAME("x.h")`, `<...>` only for an object-like alias and outside a macro body (where
/// its pieces would be macro expanded). `Err(())` for any other use that is not a
/// definition, an `#undef`, a test of whether the name is defined, or in a comment or a
/// string literal.
pub(super) fn alias_calls(content: &[u8], aliases: &[Alias]) -> Result<Vec<String>, ()> {
    let mut names = Vec::new();
    let mut prose: Option<Vec<(usize, usize)>> = None;
    for alias in aliases {
        let a = alias.name.as_bytes();
        for pos in memchr::memmem::find_iter(content, a) {
            let before_ok = pos == 0 || !is_ident(content[pos - 1]);
            let after = &content[pos + a.len()..];
            if !before_ok || after.first().is_some_and(|&c| is_ident(c)) {
                continue; // part of a longer identifier
            }
            // A call with a literal name is probed wherever it is, comments included (a
            // probe too many costs nothing; a call missed would be a wrong hit).
            if let Some(name) = literal_call(after) {
                let angled = skip_blanks(&skip_blanks(after)[1..]).starts_with(b"<");
                if angled && (alias.function_like || in_macro_body(content, pos)) {
                    return Err(());
                }
                names.push(name);
                continue;
            }
            let before = &content[..pos];
            let before = before
                .iter()
                .rposition(|c| !matches!(c, b' ' | b'\t' | b'('))
                .map_or(&before[..0], |e| &before[..=e]);
            let directive = ["define", "undef", "ifdef", "ifndef", "defined"]
                .iter()
                .any(|w| ends_with_word(before, w.as_bytes()));
            let prose = prose.get_or_insert_with(|| comments_and_strings(content));
            let in_prose = prose.iter().any(|&(a, b)| a <= pos && pos < b);
            if !(directive || in_prose) {
                return Err(());
            }
        }
    }
    Ok(names)
}

/// Whether `b` ends with the whole word `w`.
fn ends_with_word(b: &[u8], w: &[u8]) -> bool {
    b.ends_with(w) && (b.len() == w.len() || !is_ident(b[b.len() - w.len() - 1]))
}

/// Whether `pos` is on a `#define` line (spliced content: one line per directive).
pub(super) fn in_macro_body(content: &[u8], pos: usize) -> bool {
    let start = content[..pos]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1);
    let line = skip_blanks(&content[start..pos]);
    line.strip_prefix(b"#")
        .is_some_and(|d| skip_blanks(d).starts_with(b"define"))
}

/// The byte ranges of comments and string and character literals, by a small C lexer
/// over spliced content. A `'` after a digit or letter is a C++14 digit separator
/// (`1'000`), not a character literal.
fn comments_and_strings(content: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < content.len() {
        let c = content[i];
        let next = content.get(i + 1).copied();
        let end = match (c, next) {
            (b'/', Some(b'/')) => {
                memchr::memchr(b'\n', &content[i..]).map_or(content.len(), |e| i + e)
            }
            (b'/', Some(b'*')) => memchr::memmem::find(&content[i + 2..], b"*/")
                .map_or(content.len(), |e| i + 2 + e + 2),
            (b'"', _) | (b'\'', _)
                if !(c == b'\'' && i > 0 && content[i - 1].is_ascii_alphanumeric()) =>
            {
                let mut j = i + 1;
                while j < content.len() && content[j] != c && content[j] != b'\n' {
                    j += if content[j] == b'\\' { 2 } else { 1 };
                }
                (j + 1).min(content.len())
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.push((i, end));
        i = end.max(i + 1);
    }
    out
}

/// `content` with its line continuations (`\` and a newline) removed, as the
/// preprocessor's second phase does: a name or a directive split over lines is whole
/// again. Borrowed when there is none.
pub(super) fn splice(content: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if memchr::memmem::find(content, b"\\\n").is_none()
        && memchr::memmem::find(content, b"\\\r\n").is_none()
    {
        return std::borrow::Cow::Borrowed(content);
    }
    let mut out = Vec::with_capacity(content.len());
    let mut i = 0;
    while i < content.len() {
        if content[i] == b'\\' {
            if content[i + 1..].starts_with(b"\n") {
                i += 2;
                continue;
            }
            if content[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
        }
        out.push(content[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
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
        alias_defined_at(text.as_bytes(), pos).map(|a| a.name)
    }

    fn object_like(name: &str) -> Alias {
        Alias {
            name: name.to_string(),
            function_like: false,
        }
    }

    /// A function-like alias's argument is macro expanded: only a quoted name is
    /// probed. Line continuations are spliced first.
    #[test]
    fn function_like_aliases_and_continuations() {
        let has = [Alias {
            name: "HAS".to_string(),
            function_like: true,
        }];
        assert_eq!(alias_calls(b"#if HAS(\"a.h\")\n", &has).unwrap(), ["a.h"]);
        assert!(alias_calls(b"#if HAS(<linux/a.h>)\n", &has).is_err());
        let text = splice(b"#if HA\\\nS(\"b.h\")\n#define X \\\r\n  1\n");
        assert_eq!(&*text, b"#if HAS(\"b.h\")\n#define X   1\n");
        assert_eq!(alias_calls(&text, &has).unwrap(), ["b.h"]);
        assert!(matches!(
            splice(b"no continuation\\ here\n"),
            std::borrow::Cow::Borrowed(_)
        ));
        // Strings and comments, as the lexer sees them.
        let t = b"a = '\"'; /* \"x */ s = \"// \\\" y\"; n = 1'000; // z\n";
        let ranges = comments_and_strings(t);
        let spans: Vec<&[u8]> = ranges.iter().map(|&(a, b)| &t[a..b]).collect();
        assert_eq!(
            spans,
            [&b"'\"'"[..], b"/* \"x */", b"\"// \\\" y\"", b"// z"]
        );
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
        let aliases = [object_like("XXH_HAS_INCLUDE")];
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
            // In a macro body the pieces of <...> are macro expanded (#define CFG gen).
            b"#define HAVE_OPT XXH_HAS_INCLUDE(<CFG/opt.h>)\n",
            // Only the whole word `defined` tests a name.
            b"#if is_defined(XXH_HAS_INCLUDE)\n",
            // A "/*" in a line comment opens no comment.
            b"// plugins in lib/*.so\n#define MORE XXH_HAS_INCLUDE\n",
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
