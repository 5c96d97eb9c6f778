//! What a recorded file's text says about how it may be cached: tokens whose expansion
//! depends on when or where the compile runs (`__TIME__`, `__DATE__`, `__FILE__`...),
//! the names `__has_include` probes (directly or through an alias, [`super::aliases`]),
//! directives that read files no dep file lists, and the first `#include` (for `.gch`).

use super::aliases;

/// Tokens whose expansion depends on when or where compiling happens.
pub(super) struct Scan {
    pub(super) time: bool,
    /// `__FILE__`/`__BASE_FILE__`: expands to paths as the compiler was given them.
    pub(super) file: bool,
    pub(super) date: bool,
    pub(super) timestamp: bool,
    pub(super) has_include: Vec<String>,
    pub(super) computed_has_include: bool,
    /// Macros defined as `__has_include` itself ([`aliases`]): their call sites are
    /// looked for in every file of the set.
    pub(super) has_include_aliases: Vec<aliases::Alias>,
}

/// Every non-overlapping occurrence of `needle` (memchr's SIMD search: a miss scans every
/// recorded header several times).
fn find_all<'a>(hay: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    memchr::memmem::find_iter(hay, needle)
}

/// Whether a compile of this text may depend on a file no dep file lists: assembler
/// `.incbin` or `.include` followed by a blank (in a `.s` file, or in an inline `asm`
/// string; ccache refuses `.incbin` too), or `#pragma GCC dependency` (a warning, an
/// error with `-Werror`, when the named file is newer than the source). Such a compile
/// cannot be cached.
pub fn reads_unlisted_file(content: &[u8]) -> bool {
    [&b".incbin"[..], b".include"].iter().any(|d| {
        find_all(content, d).any(|pos| matches!(content.get(pos + d.len()), Some(b' ' | b'\t')))
    }) || find_all(content, b"GCC dependency").next().is_some()
}

/// Whether `pos` lies in a comment: after `//` on its line, or after a `/*` with no `*/`
/// since. Rough (a `//` inside a string literal counts), which only matters where it
/// decides between "just prose" and "treat as computed" above. libstdc++'s c++config.h
/// and glibc's bits/statx.h mention `__has_include` in comments.
fn in_comment(content: &[u8], pos: usize) -> bool {
    let before = &content[..pos];
    let line = memchr::memrchr(b'\n', before).map_or(before, |nl| &before[nl + 1..]);
    if memchr::memmem::find(line, b"//").is_some() {
        return true;
    }
    match memchr::memmem::rfind(before, b"/*") {
        Some(open) => memchr::memmem::find(&before[open..], b"*/").is_none(),
        None => false,
    }
}

pub(super) fn scan(content: &[u8]) -> Scan {
    // As the preprocessor sees it: a token split by a line continuation is whole.
    let spliced = aliases::splice(content);
    let content: &[u8] = &spliced;
    let mut s = Scan {
        time: false,
        file: false,
        date: false,
        timestamp: false,
        has_include: Vec::new(),
        computed_has_include: false,
        has_include_aliases: Vec::new(),
    };
    // Cheap pre-check: almost no file has "__" followed by these letters.
    if memchr::memmem::find(content, b"__").is_none() {
        return s;
    }
    s.timestamp = find_all(content, b"__TIMESTAMP__").next().is_some();
    s.file = find_all(content, b"__FILE__").next().is_some()
        || find_all(content, b"__BASE_FILE__").next().is_some()
        || find_all(content, b"__builtin_FILE").next().is_some();
    s.time = find_all(content, b"__TIME__").next().is_some();
    s.date = find_all(content, b"__DATE__").next().is_some();
    for pos in find_all(content, b"__has_include") {
        let mut rest = &content[pos + b"__has_include".len()..];
        if rest.starts_with(b"_next") {
            rest = &rest[5..];
        }
        let rest = trim_start(rest);
        if !rest.starts_with(b"(") {
            // `#ifdef __has_include` / `defined(__has_include)` only test that the
            // operator exists. Anything else may still call it: through a macro
            // (`#define HI __has_include`), a line continuation or a comment before the
            // `(`: treated as computed.
            let before = &content[..pos];
            let before = before
                .iter()
                .rposition(|c| !matches!(c, b' ' | b'\t' | b'('))
                .map_or(&before[..0], |e| &before[..=e]);
            if before.ends_with(b"ifdef")
                || before.ends_with(b"ifndef")
                || before.ends_with(b"defined")
                || in_comment(content, pos)
            {
                continue;
            }
            match aliases::alias_defined_at(content, pos) {
                Some(name) => s.has_include_aliases.push(name),
                None => s.computed_has_include = true,
            }
            continue;
        }
        let rest = trim_start(&rest[1..]);
        let close = match rest.first() {
            Some(b'<') => b'>',
            Some(b'"') => b'"',
            _ => {
                match aliases::alias_defined_at(content, pos) {
                    Some(name) => s.has_include_aliases.push(name),
                    None => s.computed_has_include = true,
                }
                continue;
            }
        };
        match rest[1..].iter().position(|&c| c == close || c == b'\n') {
            Some(end) if rest[1 + end] == close => s
                .has_include
                .push(String::from_utf8_lossy(&rest[1..1 + end]).into_owned()),
            _ => s.computed_has_include = true,
        }
    }
    s
}

/// The header named by the first `#include` of a source, if it comes before any C token
/// (the only place gcc uses a precompiled header). Comments are skipped roughly: a
/// missed case only means a precompiled header we do not watch for, which the
/// preprocessor-mode check and `-include` check still catch for their paths.
pub(super) fn first_include(content: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(content);
    let mut in_block = false;
    for raw in text.lines() {
        let mut line = raw.trim();
        if in_block {
            match line.find("*/") {
                Some(i) => {
                    in_block = false;
                    line = line[i + 2..].trim();
                }
                None => continue,
            }
        }
        if let Some(rest) = line.strip_prefix("/*") {
            match rest.find("*/") {
                Some(i) => line = rest[i + 2..].trim(),
                None => {
                    in_block = true;
                    continue;
                }
            }
        }
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        let directive = line.strip_prefix('#')?;
        let directive = directive.trim_start();
        if let Some(rest) = directive.strip_prefix("include") {
            let rest = rest.trim_start();
            let close = match rest.chars().next()? {
                '"' => '"',
                '<' => '>',
                _ => return None,
            };
            let end = rest[1..].find(close)?;
            return Some(rest[1..1 + end].to_string());
        }
    }
    None
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| **c == b' ' || **c == b'\t').count();
    &b[n..]
}
