//! The flow of one wrapped compile, top-down. Read this file first.
//!
//! ```text
//! find_compiler -> detect family -> parse arguments -> identity -> preprocess
//!   -> result key -> from_cache (restore, exit 0) | compile -> to_cache
//! ```
//! Each stage returns a value or says why it stopped: a [`Reason`] (not cacheable: run the
//! compiler unchanged), a [`Fault`] (the cache failed: log, count, compile normally), or a
//! failed compile (its status and output pass through, nothing is stored). No stage knows
//! compiler specifics: those live in `compiler::*`, which hand back plain [`Parsed`] data.
//! Statistics for the request are gathered in one [`Counters`] delta and written once,
//! at the end, under the shard lock (together with the entry on a miss).

use crate::compiler::{self, gcc, identity, Language, Parsed, ResolvedCompiler};
use crate::config::Config;
use crate::entry::{self, EntryKind, FileKind, Sealer};
use crate::error::{Fatal, Fault, Reason};
use crate::exec::{self, Captured};
use crate::hash::{Key, KeyHasher};
use crate::stats::{self, Counters};
use crate::storage::local::LocalStore;
use crate::storage::Storage;
use std::ffi::{OsStr, OsString};
use std::io::IsTerminal;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Bump whenever an ingredient of the C-family result key changes (docs/how-it-works.md).
const KEY_VERSION: &str = "c-1";

/// Environment variables that change what gcc/clang produce (caching-spec.md part A).
const KEYED_ENV: &[&str] = &[
    "CPATH",
    "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH",
    "OBJC_INCLUDE_PATH",
    "OBJCPLUS_INCLUDE_PATH",
    "SOURCE_DATE_EPOCH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "GCC_COMPARE_DEBUG",
    "GCC_EXEC_PREFIX",
    "COMPILER_PATH",
    "TZ",
    "GCC_COLORS",
    "CCC_OVERRIDE_OPTIONS",
];

/// A wrapped compiler command as it arrived.
pub struct Request {
    /// The compiler as named by the user (`gcc`, `/usr/bin/clang`) or the masquerade name.
    pub compiler: OsString,
    pub args: Vec<OsString>,
}

/// How one request ended, for statistics.
enum Outcome {
    Hit(Language),
    Miss(Language),
    CompileFailed,
    NotCacheable(Reason),
}

struct Ctx<'a> {
    cfg: &'a Config,
    store: LocalStore,
    cwd: PathBuf,
    delta: Counters,
}

impl Ctx<'_> {
    fn fault(&mut self, f: Fault) {
        log::warn!("cache fault: {f}");
        self.delta.incr(stats::CACHE_ERRORS);
        self.delta.incr(&format!("error:{}", f.kind));
    }

    fn sealer(&self) -> Sealer<'_> {
        Sealer {
            hmac_key: self.cfg.hmac_key.as_deref(),
            compression_level: self.cfg.compression_level,
        }
    }
}

/// Run one wrapped compile; returns the exit status for the process.
pub fn run(cfg: &Config, req: Request) -> i32 {
    let cwd = match std::env::current_dir() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cachepot: error: cannot determine the working directory: {e}");
            return crate::error::EXIT_FATAL;
        }
    };
    let path = match find_compiler(&req.compiler, &cwd) {
        Ok(p) => p,
        Err(Fatal(msg)) => {
            eprintln!("{msg}");
            return crate::error::EXIT_FATAL;
        }
    };
    let mut ctx = Ctx {
        cfg,
        store: LocalStore::new(&cfg.dir, cfg.cache_size),
        cwd,
        delta: Counters::default(),
    };
    ctx.delta.incr(stats::COMPILE_REQUESTS);

    let Some(compiler) = compiler::detect(&path) else {
        return passthrough(ctx, &path, &req.args, Reason::UnknownCompiler);
    };
    let expanded = compiler::args::expand_response_files(&req.args, &ctx.cwd);
    let env = |k: &str| std::env::var_os(k);
    let exists = |p: &Path| p.exists();
    let pctx = gcc::Context {
        cwd: &ctx.cwd,
        stderr_is_tty: std::io::stderr().is_terminal(),
        env: &env,
        exists: &exists,
    };
    let parsed = match gcc::parse(&compiler, &expanded, &req.args, &pctx) {
        Ok(p) => p,
        Err(reason) => return passthrough(ctx, &path, &req.args, reason),
    };
    log::debug!(
        "{} {:?}: cacheable, input {}",
        compiler.invoked_name,
        req.args,
        parsed.input.display()
    );
    let done = cached_compile(&mut ctx, &compiler, &parsed);
    finish(ctx, done.outcome, done.key, done.entry);
    done.code
}

/// Count the reason and hand the process over to the compiler, unchanged.
fn passthrough(ctx: Ctx, path: &Path, args: &[OsString], reason: Reason) -> i32 {
    log::debug!(
        "not cacheable ({}): {} {:?}",
        reason.name(),
        path.display(),
        args
    );
    finish(ctx, Outcome::NotCacheable(reason), None, None);
    let err = exec::exec_replace(path, args);
    eprintln!("cachepot: error: cannot run {}: {err}", path.display());
    127
}

/// Record the request's statistics (and store an entry, on a miss) in one locked step.
fn finish(mut ctx: Ctx, outcome: Outcome, key: Option<Key>, entry: Option<Vec<u8>>) {
    match outcome {
        Outcome::Hit(l) => {
            ctx.delta.incr(stats::CACHE_HITS);
            ctx.delta.incr(&format!("hit:{}", l.stats_name()));
        }
        Outcome::Miss(l) => {
            ctx.delta.incr(stats::CACHE_MISSES);
            ctx.delta.incr(&format!("miss:{}", l.stats_name()));
        }
        Outcome::CompileFailed => ctx.delta.incr(stats::COMPILE_ERRORS),
        Outcome::NotCacheable(r) => {
            ctx.delta.incr(stats::NON_CACHEABLE);
            ctx.delta.incr(&format!("reason:{}", r.name()));
        }
    }
    let shard = key
        .map(|k| LocalStore::shard_of(&k))
        .unwrap_or((std::process::id() % 16) as u8);
    let result = match (key, entry) {
        (Some(k), Some(e)) => ctx.store.put_with_stats(&k, &e, &ctx.delta).or_else(|f| {
            // The entry could not be stored: still try to keep the counts.
            log::warn!("cache fault: {f}");
            let mut d = ctx.delta.clone();
            d.incr(stats::CACHE_ERRORS);
            d.incr(&format!("error:{}", f.kind));
            ctx.store.record(shard, &d)
        }),
        _ => ctx.store.record(shard, &ctx.delta),
    };
    if let Err(f) = result {
        log::warn!("statistics not recorded: {f}");
    }
}

/// How the cacheable path ended: the exit code, and on a miss the entry to store.
struct Done {
    outcome: Outcome,
    code: i32,
    key: Option<Key>,
    entry: Option<Vec<u8>>,
}

/// The cacheable path.
fn cached_compile(ctx: &mut Ctx, compiler: &ResolvedCompiler, parsed: &Parsed) -> Done {
    let language = parsed.language.expect("parsed commands have a language");
    let ident = match identity::identity(compiler, &ctx.cfg.dir) {
        Ok(k) => k,
        Err(e) => {
            ctx.fault(Fault::new(
                "identity",
                format!("{}: {e}", compiler.path.display()),
            ));
            let (outcome, code, _) = compile_and_store(ctx, compiler, parsed, None);
            return Done {
                outcome,
                code,
                key: None,
                entry: None,
            };
        }
    };
    let source_text = match preprocess(compiler, parsed, &ctx.cwd) {
        Ok(t) => t,
        Err(_) => {
            // The compile will most likely fail the same way; let it speak for itself.
            let (outcome, code, _) = compile_and_store(ctx, compiler, parsed, None);
            let outcome = match outcome {
                Outcome::Miss(_) => Outcome::NotCacheable(Reason::PreprocessorFailed),
                o => o,
            };
            return Done {
                outcome,
                code,
                key: None,
                entry: None,
            };
        }
    };
    let key = result_key(ctx, compiler, parsed, &ident, &source_text);
    log::debug!("result key {}", key.hex());

    if !ctx.cfg.recache {
        if let Some(code) = from_cache(ctx, parsed, &key) {
            ctx.delta.incr(stats::PREPROCESSED_HITS);
            return Done {
                outcome: Outcome::Hit(language),
                code,
                key: Some(key),
                entry: None,
            };
        }
    }
    // The entry is stored by `finish`, merged with the statistics update.
    let (outcome, code, entry) = compile_and_store(ctx, compiler, parsed, Some(&key));
    Done {
        outcome,
        code,
        key: Some(key),
        entry,
    }
}

/// Preprocessed text (or the source itself for languages the compiler does not preprocess).
fn preprocess(compiler: &ResolvedCompiler, parsed: &Parsed, cwd: &Path) -> Result<Vec<u8>, ()> {
    let language = parsed.language.expect("has language");
    if !language.is_preprocessed_by_compiler() {
        return std::fs::read(cwd.join(&parsed.input)).map_err(|_| ());
    }
    match exec::run_captured(&compiler.path, &parsed.preprocess_args, None, true) {
        Ok(Captured { status, stdout, .. }) if status.success() => Ok(stdout),
        Ok(c) => {
            log::debug!("preprocessor failed with {}", c.status);
            Err(())
        }
        Err(e) => {
            log::warn!("cannot run preprocessor {}: {e}", compiler.path.display());
            Err(())
        }
    }
}

/// Every ingredient of the result key; docs/how-it-works.md lists them with reasons.
fn result_key(
    ctx: &mut Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    ident: &Key,
    source_text: &[u8],
) -> Key {
    let mut h = KeyHasher::new("result");
    h.str("key-version", KEY_VERSION);
    h.field("compiler", &ident.0);
    h.str("driver", &compiler.invoked_name);
    h.str("language", parsed.language.expect("has language").x_name());
    for a in &parsed.hashed_args {
        h.field("arg", a.as_encoded_bytes());
    }
    h.field("input", parsed.input.as_os_str().as_encoded_bytes());
    h.blob("source", source_text);
    for var in KEYED_ENV {
        if let Some(v) = std::env::var_os(var) {
            h.field(var, v.as_encoded_bytes());
        }
    }
    if parsed.cwd_matters && ctx.cfg.hash_dir {
        h.field("cwd", ctx.cwd.as_os_str().as_encoded_bytes());
    }
    if parsed.output_path_matters {
        h.field(
            "output",
            parsed.main_output().as_os_str().as_encoded_bytes(),
        );
        if !ctx.cfg.hash_dir {
            // Coverage embeds the absolute object path even when the user opts out of cwd.
            h.field("cwd-for-output", ctx.cwd.as_os_str().as_encoded_bytes());
        }
    }
    for f in &parsed.extra_input_files {
        match identity::file_digest(f) {
            Ok(d) => h.field("input-file", &d.0),
            Err(_) => h.field("input-file-missing", f.as_os_str().as_encoded_bytes()),
        }
    }
    if parsed.needs_cpu_info {
        h.str("cpu", &cpu_description());
    }
    h.finish()
}

/// The host CPU, for `-march=native`: model and feature flags of the first processor.
fn cpu_description() -> String {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let mut out = String::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with("model name")
            || line.starts_with("flags")
            || line.starts_with("vendor_id")
            || line.starts_with("cpu family")
            || line.starts_with("model\t")
        {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Look up, verify and restore an entry. `Some(exit code)` on a hit; a bad entry is a
/// fault, removed, and the caller compiles.
fn from_cache(ctx: &mut Ctx, parsed: &Parsed, key: &Key) -> Option<i32> {
    let bytes = match ctx.store.get(key) {
        Ok(Some(b)) => b,
        Ok(None) => return None,
        Err(f) => {
            ctx.fault(f);
            return None;
        }
    };
    let files = match ctx
        .sealer()
        .open(EntryKind::Result, key, &bytes)
        .and_then(|raw| entry::decode_result(&raw))
    {
        Ok(f) => f,
        Err(e) => {
            let path = ctx.store.entry_path(key);
            ctx.fault(Fault::new(
                "corrupt_entry",
                format!("{}: {e}", path.display()),
            ));
            if let Err(f) = ctx.store.remove_with_stats(key, &Counters::default()) {
                log::warn!("cannot remove corrupt entry: {f}");
            }
            return None;
        }
    };
    match restore(ctx, parsed, &files) {
        Ok(()) => {
            let get = |k: FileKind| {
                files
                    .iter()
                    .find(|(kind, _)| *kind == k)
                    .map(|(_, d)| d.as_slice())
                    .unwrap_or(&[])
            };
            exec::replay(get(FileKind::Stdout), get(FileKind::Stderr));
            Some(0)
        }
        Err(f) => {
            ctx.fault(f);
            None
        }
    }
}

/// Write every output of the current command line from an entry's files.
fn restore(ctx: &Ctx, parsed: &Parsed, files: &[(FileKind, Vec<u8>)]) -> Result<(), Fault> {
    let find = |k: FileKind| files.iter().find(|(kind, _)| *kind == k).map(|(_, d)| d);
    let hint = find(FileKind::ObjectPathHint).map(|h| String::from_utf8_lossy(h).into_owned());
    // Check completeness before writing anything, so a bad entry leaves no partial result.
    for out in &parsed.outputs {
        if !out.optional && find(out.kind).is_none() {
            return Err(Fault::new(
                "corrupt_entry",
                format!("entry lacks {:?} for {}", out.kind, out.path.display()),
            ));
        }
    }
    for out in &parsed.outputs {
        let Some(data) = find(out.kind) else { continue };
        let dest = ctx.cwd.join(&out.path);
        let retargeted;
        let data = match (&parsed.dep_file, out.kind, &hint) {
            (Some(dep), FileKind::DepFile, Some(old)) if !dep.target_fixed => {
                let new = parsed.main_output().to_string_lossy();
                retargeted = crate::depfile::retarget(data, old, &new);
                &retargeted
            }
            _ => data,
        };
        crate::util::fs::atomic_write(&dest, data, 0o666)
            .map_err(|e| Fault::io("restore", &dest, &e))?;
    }
    Ok(())
}

/// (mtime, inode) of a file that may exist before a compile, to tell whether the compile
/// wrote an optional output or it is a stale leftover.
fn stamp(path: &Path) -> Option<(i64, i64, u64)> {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.mtime(), m.mtime_nsec(), m.ino()))
}

/// Run the real compile; on success with a key, build the entry (stored by `finish`).
fn compile_and_store(
    ctx: &mut Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    key: Option<&Key>,
) -> (Outcome, i32, Option<Vec<u8>>) {
    let language = parsed.language.expect("has language");
    let before: Vec<_> = parsed
        .outputs
        .iter()
        .map(|o| stamp(&ctx.cwd.join(&o.path)))
        .collect();
    let prefix = ctx.cfg.prefix_command.as_deref();
    let run = match exec::run_captured(&compiler.path, &parsed.compile_args, prefix, false) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "cachepot: error: cannot run {}: {e}",
                compiler.path.display()
            );
            return (Outcome::CompileFailed, 127, None);
        }
    };
    exec::replay(&run.stdout, &run.stderr);
    let code = exec::exit_code(&run.status);
    if !run.status.success() {
        return (Outcome::CompileFailed, code, None);
    }
    let Some(key) = key else {
        return (Outcome::Miss(language), code, None);
    };
    let mut files: Vec<(FileKind, Vec<u8>)> = Vec::new();
    for (out, before) in parsed.outputs.iter().zip(before) {
        let path = ctx.cwd.join(&out.path);
        if out.optional && before.is_some() && stamp(&path) == before {
            continue; // a leftover the compiler did not rewrite
        }
        match std::fs::read(&path) {
            Ok(d) => files.push((out.kind, d)),
            Err(_) if out.optional => {}
            Err(e) => {
                log::info!(
                    "expected output {} missing after compile: {e}",
                    path.display()
                );
                return (Outcome::NotCacheable(Reason::MissingOutput), code, None);
            }
        }
    }
    files.push((FileKind::Stdout, run.stdout));
    files.push((FileKind::Stderr, run.stderr));
    files.push((
        FileKind::ObjectPathHint,
        parsed.main_output().as_os_str().as_encoded_bytes().to_vec(),
    ));
    let entry = ctx
        .sealer()
        .seal(EntryKind::Result, key, &entry::encode_result(&files));
    (Outcome::Miss(language), code, Some(entry))
}

/// Resolve the compiler to run, never ourselves (masquerade links may be on PATH).
pub fn find_compiler(name: &OsStr, cwd: &Path) -> Result<PathBuf, Fatal> {
    let me = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::canonicalize(p).ok());
    let is_me = |p: &Path| me.is_some() && std::fs::canonicalize(p).ok() == me;
    let path = Path::new(name);
    if path.components().count() > 1 || name.as_encoded_bytes().contains(&b'/') {
        let full = cwd.join(path);
        if full.is_file() && !is_me(&full) {
            return Ok(full);
        }
        if !full.is_file() {
            return Err(Fatal(format!(
                "cachepot: error: compiler {} not found",
                path.display()
            )));
        }
    }
    let base = path.file_name().unwrap_or(name);
    let search = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&search) {
        let dir = if dir.as_os_str().is_empty() {
            cwd.to_path_buf()
        } else {
            dir
        };
        let cand = dir.join(base);
        if is_executable(&cand) && !is_me(&cand) {
            return Ok(cand);
        }
    }
    Err(Fatal(format!(
        "cachepot: error: compiler '{}' not found in PATH",
        base.to_string_lossy()
    )))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
