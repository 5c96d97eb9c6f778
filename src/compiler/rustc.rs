//! rustc as cargo's `RUSTC_WRAPPER` calls it: which invocations are cacheable, what the
//! outputs are, and which arguments and files go into the key (caching-spec.md part D).
//!
//! Cacheable: crate types lib/rlib/staticlib with `--out-dir` and any `--emit` of
//! link/metadata/dep-info. Passed through, counted: version and `--print` probes, stdin,
//! bin/dylib/cdylib/proc-macro crates (they link or are loaded by rustc), `--test`,
//! `-C incremental`, `-o` or no `--out-dir`. The dep-info file is always produced (added
//! to `--emit` when cargo did not ask for it) because it lists every source file and
//! environment variable the crate read: the Rust flow is always "depend mode".

use super::{Language, Output, Parsed};
use crate::entry::FileKind;
use crate::error::Reason;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Rust-specific facts the pipeline needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RustInfo {
    pub out_dir: PathBuf,
    /// `--extern` crate files: their content goes into the key.
    pub externs: Vec<PathBuf>,
    /// `-l static=name` libraries found in the `-L` dirs (bundled into the rlib).
    pub static_libs: Vec<PathBuf>,
    /// `-L` dirs searched for native libraries (kinds native, framework, all): a
    /// `#[link(kind = "static")]` in the source bundles one without the command line
    /// naming it, so every static library in them goes into the key.
    pub native_dirs: Vec<PathBuf>,
    /// `-L` dirs searched for crates (kinds crate, all): `extern crate` and a path-less
    /// `--extern` find crate files there, so every crate file in them goes into the key.
    pub crate_dirs: Vec<PathBuf>,
    /// An absolute crate root as rustc embeds it (after `--remap-path-prefix`) in panic
    /// locations, `file!()` and metadata: keyed as is, base dir or not.
    pub embedded_root: Option<String>,
    /// The `.d` file rustc writes.
    pub dep_info: PathBuf,
    /// cargo did not ask for dep-info: we added it and delete the file afterwards.
    pub dep_info_added: bool,
}

/// Options that take a value (as `--opt value`, `--opt=value`, or glued for short ones).
const WITH_VALUE: &[&str] = &[
    "--crate-name",
    "--crate-type",
    "--edition",
    "--emit",
    "--out-dir",
    "-o",
    "-C",
    "--codegen",
    "-L",
    "-l",
    "--extern",
    "--cfg",
    "--check-cfg",
    "--cap-lints",
    "--error-format",
    "--json",
    "--color",
    "--target",
    "-Z",
    "--remap-path-prefix",
    "--explain",
    "--print",
    "-A",
    "-W",
    "-D",
    "-F",
    "--force-warn",
    "--allow",
    "--warn",
    "--deny",
    "--forbid",
    "--sysroot",
    "--diagnostic-width",
    "--env-set",
    "--crate-attr",
    "--extern-location",
    "--cap-lints",
];

/// Split `args` into (option, value) pairs and positionals.
fn normalize(args: &[OsString]) -> Result<Vec<(String, Option<String>)>, Reason> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i]
            .to_str()
            .ok_or(Reason::UnsupportedOption)?
            .to_string();
        i += 1;
        if a.starts_with('@') {
            // rustc's response files (one argument per line): not modelled yet.
            return Err(Reason::UnsupportedOption);
        }
        if !a.starts_with('-') || a == "-" {
            out.push((a, None));
            continue;
        }
        if let Some((name, value)) = a
            .split_once('=')
            .filter(|(n, _)| n.starts_with("--") && WITH_VALUE.contains(n))
        {
            out.push((name.to_string(), Some(value.to_string())));
            continue;
        }
        if WITH_VALUE.contains(&a.as_str()) {
            let v = args
                .get(i)
                .and_then(|v| v.to_str())
                .ok_or(Reason::UnsupportedOption)?
                .to_string();
            i += 1;
            out.push((a, Some(v)));
            continue;
        }
        // Glued short options: -Copt-level=3, -Ldependency=/x, -lstatic=foo, -Zflag, -Awarnings.
        // `is_char_boundary`: `-é` must not be split inside the `é` (a panic, seen while
        // writing the fuzz targets).
        if a.len() > 2 && !a.starts_with("--") && a.is_char_boundary(2) {
            let (name, value) = a.split_at(2);
            if WITH_VALUE.contains(&name) {
                out.push((name.to_string(), Some(value.to_string())));
                continue;
            }
        }
        out.push((a, None));
    }
    Ok(out)
}

/// Parse a rustc command line. `exists` finds static libraries in `-L` dirs.
pub fn parse(
    args: &[OsString],
    cwd: &Path,
    exists: &dyn Fn(&Path) -> bool,
) -> Result<Parsed, Reason> {
    let opts = normalize(args)?;
    let mut crate_name = None;
    let mut crate_types: Vec<String> = Vec::new();
    let mut emit: Option<Vec<String>> = None;
    let mut out_dir = None;
    let mut extra_filename = String::new();
    let mut inputs = Vec::new();
    let mut externs = Vec::new();
    let mut native_dirs = Vec::new();
    let mut crate_dirs = Vec::new();
    let mut static_names = Vec::new();
    let mut remaps: Vec<(String, String)> = Vec::new();
    let mut extra_input_files = Vec::new();
    let mut target_cpu_native = false;
    let mut json_artifacts = false;
    for (name, value) in &opts {
        let v = value.as_deref().unwrap_or("");
        match name.as_str() {
            "-V" | "--version" | "-vV" | "--print" | "--explain" | "-" => {
                return Err(Reason::RustProbe)
            }
            "--test" => return Err(Reason::RustCrateType),
            "-o" => return Err(Reason::RustOutputs),
            "--crate-name" => crate_name = Some(v.to_string()),
            "--crate-type" => crate_types.extend(v.split(',').map(str::to_string)),
            "--emit" => emit
                .get_or_insert_with(Vec::new)
                .extend(v.split(',').map(str::to_string)),
            "--out-dir" => out_dir = Some(PathBuf::from(v)),
            "-C" | "--codegen" => {
                let (k, val) = v.split_once('=').unwrap_or((v, ""));
                match k {
                    "incremental" => return Err(Reason::Incremental),
                    "extra-filename" => extra_filename = val.to_string(),
                    // Split debug info: `.dwo`/`.dwp` files we do not store, named by
                    // the output directory inside the rlib.
                    "split-debuginfo" if val != "off" => return Err(Reason::UnsupportedOption),
                    "target-cpu" if val == "native" => target_cpu_native = true,
                    _ => {}
                }
            }
            "--json" if v.split(',').any(|j| j == "artifacts") => json_artifacts = true,
            "-Z" if v == "tune-cpu=native" => target_cpu_native = true,
            "--remap-path-prefix" => {
                let (from, to) = v.split_once('=').ok_or(Reason::UnsupportedOption)?;
                remaps.push((from.to_string(), to.to_string()));
            }
            "--target" if v.ends_with(".json") => extra_input_files.push(cwd.join(v)),
            "--target" => {
                // Not a built-in name: rustc looks for `<name>.json` on RUST_TARGET_PATH.
                for dir in std::env::split_paths(
                    &crate::util::env::var_os("RUST_TARGET_PATH").unwrap_or_default(),
                ) {
                    extra_input_files.push(cwd.join(dir).join(format!("{v}.json")));
                }
            }
            "--extern" => {
                if let Some((_, path)) = v.split_once('=') {
                    externs.push(cwd.join(path));
                }
            }
            "-L" => {
                let (kind, dir) = match v.split_once('=') {
                    Some((k, d))
                        if matches!(k, "dependency" | "crate" | "native" | "framework" | "all") =>
                    {
                        (k, d)
                    }
                    _ => ("all", v),
                };
                // `dependency` dirs serve only crates that a direct dependency names,
                // whose metadata pins them by hash: the extern files in the key cover them.
                if matches!(kind, "native" | "framework" | "all") {
                    native_dirs.push(cwd.join(dir));
                }
                if matches!(kind, "crate" | "all") {
                    crate_dirs.push(cwd.join(dir));
                }
            }
            "-l" => {
                if let Some((kind, lib)) = v.split_once('=') {
                    if kind.split(':').next() == Some("static") {
                        static_names.push(lib.split(':').next().unwrap_or(lib).to_string());
                    }
                }
            }
            n if !n.starts_with('-') => inputs.push(n.to_string()),
            _ => {}
        }
    }
    let input = match inputs.as_slice() {
        [] => return Err(Reason::RustProbe),
        [one] => PathBuf::from(one),
        _ => return Err(Reason::MultipleSources),
    };
    if crate_types.is_empty() {
        crate_types.push("bin".into());
    }
    if crate_types
        .iter()
        .any(|t| !matches!(t.as_str(), "lib" | "rlib" | "staticlib"))
    {
        return Err(Reason::RustCrateType);
    }
    let out_dir = out_dir.ok_or(Reason::RustOutputs)?;
    let crate_name = crate_name.unwrap_or_else(|| {
        input
            .file_stem()
            .map(|s| s.to_string_lossy().replace('-', "_"))
            .unwrap_or_default()
    });
    // Output names are built from these: a name with a '/' (rustc rejects it, after
    // which we would delete the dep-info file we added, wherever it points) would place
    // outputs outside --out-dir. rustc accepts alphanumerics and '_' in crate names.
    if crate_name.is_empty()
        || !crate_name.chars().all(|c| c.is_alphanumeric() || c == '_')
        || extra_filename.contains('/')
    {
        return Err(Reason::UnsupportedOption);
    }
    let emit = emit.unwrap_or_else(|| vec!["link".into()]);
    if emit
        .iter()
        .any(|e| e.contains('=') || !matches!(e.as_str(), "link" | "metadata" | "dep-info"))
    {
        return Err(Reason::UnsupportedOption);
    }
    let stem = format!("{crate_name}{extra_filename}");
    let mut outputs = Vec::new();
    if emit.iter().any(|e| e == "link") {
        for t in &crate_types {
            let (kind, ext) = if t == "staticlib" {
                (FileKind::Staticlib, "a")
            } else {
                (FileKind::Rlib, "rlib")
            };
            let o = Output {
                kind,
                path: out_dir.join(format!("lib{stem}.{ext}")),
                optional: false,
            };
            if !outputs.contains(&o) {
                outputs.push(o);
            }
        }
    }
    if emit.iter().any(|e| e == "metadata") {
        outputs.push(Output {
            kind: FileKind::Rmeta,
            path: out_dir.join(format!("lib{stem}.rmeta")),
            optional: false,
        });
    }
    let dep_info = out_dir.join(format!("{stem}.d"));
    let dep_info_added = !emit.iter().any(|e| e == "dep-info");
    if dep_info_added && json_artifacts {
        // rustc would announce the dep-info file we add (and then delete) to a caller
        // that reads artifact notices. cargo always asks for dep-info itself.
        return Err(Reason::UnsupportedOption);
    }
    if !dep_info_added {
        outputs.push(Output {
            kind: FileKind::RustDepInfo,
            path: dep_info.clone(),
            optional: false,
        });
    }
    if outputs.is_empty() {
        return Err(Reason::RustOutputs);
    }
    let mut static_libs = Vec::new();
    for name in &static_names {
        let found = native_dirs
            .iter()
            .map(|d| d.join(format!("lib{name}.a")))
            .find(|p| exists(p));
        static_libs.push(found.ok_or(Reason::UnsupportedOption)?);
    }

    // Hashed: every argument except an absolute output directory (the outputs' paths are
    // derived from it; the artifact paths rustc prints are rewritten on restore). A
    // relative one is printed relative, which the rewriting does not see: keyed.
    let mut hashed_args = Vec::new();
    let mut skip_next = false;
    let unkeyed_out_dir = out_dir.is_absolute();
    for a in args {
        if skip_next {
            skip_next = false;
            continue;
        }
        let s = a.to_string_lossy();
        if s == "--out-dir" && unkeyed_out_dir {
            skip_next = true;
            continue;
        }
        if s.starts_with("--out-dir=") && unkeyed_out_dir {
            continue;
        }
        hashed_args.push(a.clone());
    }
    // One combined --emit with dep-info added (rustc does not merge several --emit).
    let mut compile_args = Vec::with_capacity(args.len() + 1);
    let mut skip_next = false;
    for a in args {
        if skip_next {
            skip_next = false;
            continue;
        }
        let s = a.to_string_lossy();
        if dep_info_added && s == "--emit" {
            skip_next = true;
            continue;
        }
        if dep_info_added && s.starts_with("--emit=") {
            continue;
        }
        compile_args.push(a.clone());
    }
    if dep_info_added {
        compile_args.push(OsString::from(format!(
            "--emit={},dep-info",
            emit.join(",")
        )));
    }
    let embedded_root = input.is_absolute().then(|| {
        let root = input.to_string_lossy().into_owned();
        remap(&remaps, &root).unwrap_or(root)
    });
    Ok(Parsed {
        language: Some(Language::Rust),
        input,
        outputs,
        hashed_args,
        compile_args,
        // The crate metadata records the working directory (after remapping), debug
        // info or not.
        cwd_matters: true,
        mapped_cwd: remap(&remaps, &cwd.to_string_lossy()),
        extra_input_files,
        needs_cpu_info: target_cpu_native,
        stream_output: true,
        // cargo's profile dir (`target/debug` above `deps`): --extern, -L and OUT_DIR
        // paths under it name the build location, not what is compiled.
        relocatable_dir: Some(match out_dir.parent() {
            Some(p) if out_dir.file_name().is_some_and(|n| n == "deps") => p.to_path_buf(),
            _ => out_dir.clone(),
        }),
        rust: Some(RustInfo {
            out_dir,
            externs,
            static_libs,
            native_dirs,
            crate_dirs,
            embedded_root,
            dep_info,
            dep_info_added,
        }),
        ..Parsed::default()
    })
}

/// rustc colours its human-readable diagnostics only when stderr is a terminal, and we
/// capture stderr through a pipe: when the user's stderr is a terminal and the command
/// leaves colour and format to rustc, ask for colour (and key on it), as for gcc/clang.
/// cargo always passes `--error-format=json`, which this leaves alone.
pub fn force_colour(p: &mut Parsed) {
    let decided = p.compile_args.iter().any(|a| {
        let a = a.to_string_lossy();
        a.starts_with("--color") || a.starts_with("--error-format")
    });
    if !decided {
        p.compile_args.push("--color=always".into());
        p.hashed_args.push("--color=always".into());
        p.colour_forced = true;
    }
}

/// `path` as `--remap-path-prefix` rewrites it: the last matching mapping applies, on
/// whole path components. None when no mapping matches.
fn remap(remaps: &[(String, String)], path: &str) -> Option<String> {
    remaps.iter().rev().find_map(|(from, to)| {
        let rest = path.strip_prefix(from.trim_end_matches('/'))?;
        (rest.is_empty() || rest.starts_with('/')).then(|| format!("{to}{rest}"))
    })
}

/// The `# env-dep:NAME=value` lines of a dep-info file: (name, value as written).
pub fn env_deps(dep_info: &[u8]) -> Vec<(String, Option<String>)> {
    String::from_utf8_lossy(dep_info)
        .lines()
        .filter_map(|l| l.strip_prefix("# env-dep:"))
        .map(|rest| match rest.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (rest.to_string(), None),
        })
        .collect()
}

/// An environment value as rustc writes it into dep-info.
pub fn escape_env(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

/// Environment variables that go into a Rust key: cargo's (but not its jobserver) and
/// the few rustc reads itself. Paths among them are base-dir rewritten by the caller.
pub fn keyed_env(name: &str) -> bool {
    // CARGO_TARGET_DIR / CARGO_TARGET_TMPDIR only say where outputs go; cargo's own
    // configuration (CARGO_<section>_<key>: jobs, colours, network, registries,
    // profiles and target settings, which reach rustc as arguments when they matter)
    // says nothing about a crate's output. A crate that reads any of them with env! or
    // option_env! gets it recorded as an env-dep, which every hit checks.
    const CARGO_CONFIG: &[&str] = &[
        "CARGO_ALIAS_",
        "CARGO_BUILD_",
        "CARGO_CACHE_",
        "CARGO_CARGO_NEW_",
        "CARGO_FUTURE_INCOMPAT_REPORT_",
        "CARGO_HOME",
        "CARGO_HTTP_",
        "CARGO_INCREMENTAL",
        "CARGO_INSTALL_",
        "CARGO_LOG",
        "CARGO_NET_",
        "CARGO_PROFILE_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_TARGET_",
        "CARGO_TERM_",
        "CARGO_UNSTABLE_",
    ];
    (name.starts_with("CARGO")
        && name != "CARGO_MAKEFLAGS"
        && !CARGO_CONFIG.iter().any(|p| name.starts_with(p)))
        || matches!(
            name,
            "OUT_DIR"
                | "RUSTC_BOOTSTRAP"
                | "SOURCE_DATE_EPOCH"
                | "RUSTC_BREAK_ON_ICE"
                | "RUSTC_FORCE_RUSTC_VERSION"
                | "RUST_TARGET_PATH"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &str) -> Result<Parsed, Reason> {
        let v: Vec<OsString> = args.split_whitespace().map(OsString::from).collect();
        parse(&v, Path::new("/w"), &|p| p.ends_with("libnative.a"))
    }

    #[test]
    fn review_round_two() {
        let base = "--crate-type lib --crate-name a a.rs";
        // Split debug info writes files we do not store.
        for split in ["packed", "unpacked"] {
            let cmd = format!("{base} --out-dir /o -C debuginfo=2 -C split-debuginfo={split}");
            assert_eq!(p(&cmd).unwrap_err(), Reason::UnsupportedOption);
        }
        assert!(p(&format!("{base} --out-dir /o -C split-debuginfo=off")).is_ok());
        // target-cpu=native: the key must name this machine's CPU.
        let cpu = |extra: &str| {
            p(&format!("{base} --out-dir /o {extra}"))
                .unwrap()
                .needs_cpu_info
        };
        assert!(cpu("-C target-cpu=native") && cpu("-Z tune-cpu=native"));
        assert!(!cpu("-C target-cpu=znver3"));
        // A relative --out-dir is printed relative in dep-info and artifact notices: keyed.
        let rel = p(&format!("{base} --out-dir o1")).unwrap();
        assert!(rel.hashed_args.contains(&OsString::from("o1")));
        let abs = p(&format!("{base} --out-dir /t/o1")).unwrap();
        assert!(!abs.hashed_args.iter().any(|a| a == "/t/o1"));
        // Artifact notices would announce the dep-info file we add.
        assert_eq!(
            p(&format!(
                "{base} --out-dir /o --error-format=json --json=artifacts"
            ))
            .unwrap_err(),
            Reason::UnsupportedOption
        );
        assert!(p(&format!(
            "{base} --out-dir /o --emit=dep-info,link --error-format=json --json=artifacts"
        ))
        .is_ok());
    }

    #[test]
    fn colour_is_forced_only_when_rustc_would_decide() {
        let mut plain = p("--crate-type lib --crate-name a a.rs --out-dir o").unwrap();
        force_colour(&mut plain);
        assert!(plain.colour_forced);
        assert!(plain
            .compile_args
            .contains(&OsString::from("--color=always")));
        assert!(plain
            .hashed_args
            .contains(&OsString::from("--color=always")));
        for given in [
            "--color never",
            "--error-format=json",
            "--error-format short",
        ] {
            let cmd = format!("--crate-type lib --crate-name a a.rs --out-dir o {given}");
            let mut q = p(&cmd).unwrap();
            force_colour(&mut q);
            assert!(!q.colour_forced, "{given}");
        }
    }

    const LIB: &str = "--crate-name foo --edition=2021 src/lib.rs --error-format=json --json=diagnostic-rendered-ansi,artifacts,future-incompat --crate-type lib --emit=dep-info,metadata,link -C embed-bitcode=no -C debuginfo=2 -C metadata=abc -C extra-filename=-abc --out-dir /t/deps -L dependency=/t/deps --extern bar=/t/deps/libbar-1.rmeta";

    #[test]
    fn cargo_lib_build() {
        let r = p(LIB).unwrap();
        let outs: Vec<_> = r
            .outputs
            .iter()
            .map(|o| (o.kind, o.path.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(
            outs,
            [
                (FileKind::Rlib, "/t/deps/libfoo-abc.rlib".to_string()),
                (FileKind::Rmeta, "/t/deps/libfoo-abc.rmeta".into()),
                (FileKind::RustDepInfo, "/t/deps/foo-abc.d".into())
            ]
        );
        let info = r.rust.unwrap();
        assert_eq!(info.externs, [PathBuf::from("/t/deps/libbar-1.rmeta")]);
        assert!(!info.dep_info_added);
        assert!(r.cwd_matters);
        assert!(!r.hashed_args.iter().any(|a| a == "/t/deps"));
    }

    #[test]
    fn cargo_check_adds_nothing_and_emits_rmeta_only() {
        let r = p("--crate-name foo src/lib.rs --crate-type lib --emit=dep-info,metadata --out-dir /t/deps").unwrap();
        assert_eq!(r.outputs.len(), 2);
        let r = p("--crate-name foo src/lib.rs --crate-type rlib --out-dir /t").unwrap();
        assert!(r.rust.unwrap().dep_info_added);
        assert_eq!(r.compile_args.last().unwrap(), "--emit=link,dep-info");
        let r = p("--crate-name foo src/lib.rs --crate-type rlib --emit metadata --out-dir /t")
            .unwrap();
        assert_eq!(
            r.compile_args
                .iter()
                .filter(|a| a.to_string_lossy().starts_with("--emit"))
                .count(),
            1
        );
        assert_eq!(r.compile_args.last().unwrap(), "--emit=metadata,dep-info");
    }

    #[test]
    fn passthrough_cases() {
        assert_eq!(p("-vV").unwrap_err(), Reason::RustProbe);
        assert_eq!(
            p("- --crate-name ___ --print=file-names --crate-type bin").unwrap_err(),
            Reason::RustProbe
        );
        assert_eq!(
            p("--crate-name b src/main.rs --crate-type bin --out-dir /t").unwrap_err(),
            Reason::RustCrateType
        );
        assert_eq!(
            p("--crate-name build_script_build build.rs --crate-type bin --out-dir /t")
                .unwrap_err(),
            Reason::RustCrateType
        );
        assert_eq!(
            p("--crate-name m src/lib.rs --crate-type proc-macro --out-dir /t").unwrap_err(),
            Reason::RustCrateType
        );
        assert_eq!(
            p("--crate-name m src/lib.rs --crate-type cdylib --out-dir /t").unwrap_err(),
            Reason::RustCrateType
        );
        assert_eq!(
            p("--crate-name m src/lib.rs --crate-type lib --out-dir /t -C incremental=/t/inc")
                .unwrap_err(),
            Reason::Incremental
        );
        assert_eq!(
            p("--crate-name m src/lib.rs --crate-type lib").unwrap_err(),
            Reason::RustOutputs
        );
        assert_eq!(
            p("--crate-name m src/lib.rs --crate-type lib --out-dir /t --test").unwrap_err(),
            Reason::RustCrateType
        );
        assert_eq!(
            p("--crate-name m src/lib.rs --crate-type lib --out-dir /t --emit=asm").unwrap_err(),
            Reason::UnsupportedOption
        );
    }

    #[test]
    fn static_libs_are_found_in_lib_dirs() {
        let r = p(
            "--crate-name m src/lib.rs --crate-type lib --out-dir /t -L native=/n -l static=native",
        )
        .unwrap();
        assert_eq!(
            r.rust.unwrap().static_libs,
            [PathBuf::from("/n/libnative.a")]
        );
        assert_eq!(
            p("--crate-name m src/lib.rs --crate-type lib --out-dir /t -l static=missing")
                .unwrap_err(),
            Reason::UnsupportedOption
        );
    }

    #[test]
    fn non_ascii_after_a_dash_is_not_split_inside_a_character() {
        // Panicked: byte 2 of "-é..." is inside the two-byte 'é'.
        let r = p("--crate-name m src/lib.rs --crate-type lib --out-dir /t -éx -\u{10348}");
        assert_eq!(r.unwrap().outputs[0].path, PathBuf::from("/t/libm.rlib"));
        let v: Vec<OsString> = ["-é"].iter().map(OsString::from).collect();
        assert_eq!(
            parse(&v, Path::new("/w"), &|_| false).unwrap_err(),
            Reason::RustProbe
        );
    }

    #[test]
    fn outputs_never_leave_the_out_dir() {
        // `--crate-name /deps` put the dep-info we add (and delete after the compile)
        // at /deps-x.d: found by tests/fuzz_corpus.rs, input in fuzz/corpus/rustc_args/.
        for bad in [
            "--crate-name /deps -C extra-filename=-x",
            "--crate-name a/../../b",
            "--crate-name foo-bar",
            "--crate-name m -C extra-filename=/../x",
        ] {
            assert_eq!(
                p(&format!("{bad} src/lib.rs --crate-type lib --out-dir /t")).unwrap_err(),
                Reason::UnsupportedOption,
                "{bad}"
            );
        }
        assert_eq!(
            p("src/my.lib.rs --crate-type lib --out-dir /t").unwrap_err(),
            Reason::UnsupportedOption
        );
        let r = p("src/my-lib.rs --crate-type lib --out-dir /t -C extra-filename=-1f").unwrap();
        assert_eq!(r.outputs[0].path, PathBuf::from("/t/libmy_lib-1f.rlib"));
        let r = p("--crate-name café src/lib.rs --crate-type lib --out-dir /t").unwrap();
        assert_eq!(r.rust.unwrap().dep_info, PathBuf::from("/t/café.d"));
    }

    #[test]
    fn staticlib_output() {
        let r = p("--crate-name m src/lib.rs --crate-type staticlib --out-dir /t").unwrap();
        assert_eq!(r.outputs[0].path, PathBuf::from("/t/libm.a"));
    }

    #[test]
    fn env_dep_lines() {
        let d = b"/t/foo.d: src/lib.rs\n\nsrc/lib.rs:\n\n# env-dep:CARGO_PKG_NAME=foo\n# env-dep:MAYBE\n";
        assert_eq!(
            env_deps(d),
            [
                ("CARGO_PKG_NAME".to_string(), Some("foo".to_string())),
                ("MAYBE".to_string(), None)
            ]
        );
        assert_eq!(escape_env("a\nb\\"), "a\\nb\\\\");
        assert!(
            keyed_env("CARGO_PKG_NAME")
                && !keyed_env("CARGO_MAKEFLAGS")
                && keyed_env("OUT_DIR")
                && keyed_env("RUSTC_FORCE_RUSTC_VERSION")
                && !keyed_env("CARGO_TERM_COLOR")
                && !keyed_env("CARGO_BUILD_JOBS")
                && !keyed_env("CARGO_TARGET_DIR")
                && keyed_env("CARGO_PKG_VERSION")
                && keyed_env("CARGO_MANIFEST_DIR")
                && keyed_env("CARGO")
                && !keyed_env("HOME")
        );
    }
}
