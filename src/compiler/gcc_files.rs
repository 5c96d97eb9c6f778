//! gcc and clang options that name files: programs a `-B` prefix (or `COMPILER_PATH`)
//! substitutes, inputs read through options (list files, plugins, overlays), options
//! that write files the cache does not store, and clang's prefix-map choice. Split from
//! gcc.rs, which uses them while parsing (and nvcc/clang-cl for their host options).

use std::path::{Path, PathBuf};

/// The programs a `-B<prefix>` makes the driver look for: `<prefix><name>`, and
/// `<prefix>/<name>` when the prefix does not end in `/` (gcc tries both).
pub fn b_prefix_programs(cwd: &Path, prefix: &str) -> Vec<PathBuf> {
    const PROGRAMS: &[&str] = &[
        "as",
        "cc1",
        "cc1plus",
        "cc1obj",
        "cc1objplus",
        "collect2",
        "cpp",
        "ld",
        "lto1",
    ];
    let mut out = Vec::new();
    for name in PROGRAMS {
        out.push(cwd.join(format!("{prefix}{name}")));
        if !prefix.ends_with('/') {
            out.push(cwd.join(prefix).join(name));
        }
    }
    out
}

/// clang's `-fdebug-prefix-map` choice (LLVM 14, measured): the maps sit in a map
/// ordered by old prefix, greatest first, the first of equal old prefixes kept; the first
/// whose old prefix starts the path (as a string) applies. gcc applies the last match.
pub fn clang_prefix_map(maps: &[String], path: &str) -> Option<String> {
    let mut kept: Vec<(&str, &str)> = Vec::new();
    for m in maps {
        if let Some((old, new)) = m.split_once('=') {
            if kept.iter().all(|(o, _)| *o != old) {
                kept.push((old, new));
            }
        }
    }
    kept.sort_by(|a, b| b.0.cmp(a.0));
    kept.iter()
        .find_map(|(old, new)| path.strip_prefix(old).map(|rest| format!("{new}{rest}")))
}

/// Options naming a file the compiler reads that neither the dep file (in every mode)
/// nor the arguments cover: its content is keyed. (`-fplugin=` and `-specs=` are
/// handled beside their own rows.)
pub const READ_FILE_PREFIXES: &[&str] = &[
    "-fsanitize-ignorelist=",
    "-fsanitize-blacklist=",
    "-fsanitize-coverage-allowlist=",
    "-fsanitize-coverage-ignorelist=",
    "-fsanitize-coverage-whitelist=",
    "-fsanitize-coverage-blacklist=",
    "-fxray-attr-list=",
    "-fxray-always-instrument=",
    "-fxray-never-instrument=",
    "-fprofile-list=",
    "-fbasic-block-sections=list=",
    "-fpass-plugin=",
];

/// A cc1 option given through `-Xclang` that names no file and writes none: warnings,
/// `-f` flags outside the file-naming ones, plugin loading (handled by the caller).
pub fn xclang_safe(v: &str) -> bool {
    let flag_without_files = (v.starts_with("-W") || v.starts_with("-f"))
        && !v.contains("file")
        && !writes_unmodelled_file(v)
        && !READ_FILE_PREFIXES.iter().any(|p| v.starts_with(p))
        && ![
            "-fprofile",
            "-fxray",
            "-fbasic-block",
            "-fmodule",
            "-fdebug-compilation-dir",
        ]
        .iter()
        .any(|p| v.starts_with(p));
    flag_without_files
        || matches!(
            v,
            "-load" | "-add-plugin" | "-plugin" | "-disable-llvm-passes" | "-disable-O0-optnone"
        )
        || v.starts_with("-plugin-arg-")
}

/// A gcc/clang option passed to a host compiler (nvcc's `-Xcompiler`) that reads or
/// writes a file the cache does not model: besides [`writes_unmodelled_file`], profiles
/// and coverage, stack-usage and call-graph files, temporaries, split DWARF, dep files,
/// preprocessor options, plugins and specs.
pub fn host_option_touches_files(s: &str) -> bool {
    writes_unmodelled_file(s)
        || [
            "-fprofile",
            "-fauto-profile",
            "--coverage",
            "-coverage",
            "-ftest-coverage",
            "-fstack-usage",
            "-fcallgraph-info",
            "-save-temps",
            "--save-temps",
            "-gsplit-dwarf",
            "-M",
            "-Wp,",
            "-fplugin",
            "-specs",
            "--specs",
            "-aux-info",
        ]
        .iter()
        .any(|p| s.starts_with(p))
}

/// Options that make the compiler or assembler write a file we do not store: dumps,
/// optimization records and reports, time traces, assembler listings and dep files,
/// diagnostics written to files (SARIF).
pub fn writes_unmodelled_file(s: &str) -> bool {
    s.starts_with("-fdiagnostics-format=") && s.ends_with("-file")
        || s.starts_with("-fthin-link-bitcode=")
        || s.starts_with("-save-stats")
        || s.starts_with("-fproc-stat-report")
        || s.starts_with("-fdiagnostics-add-output")
        || (s.starts_with("-fdump-")
            && !matches!(
                s,
                "-fdump-noaddr" | "-fdump-unnumbered" | "-fdump-unnumbered-links" | "-fdump-passes"
            ))
        || s == "-ftime-trace"
        || s.starts_with("-ftime-trace=")
        || s.starts_with("-fsave-optimization-record")
        || s.starts_with("-foptimization-record-file=")
        || s.starts_with("-fopt-info") && s.contains('=')
        || s.strip_prefix("-Wa,").is_some_and(|rest| {
            rest.split(',').any(|p| {
                p.starts_with("-a") && p.contains('=') || p.starts_with("--MD") || p == "-MD"
            })
        })
}
