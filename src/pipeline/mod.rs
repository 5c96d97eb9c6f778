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

mod c;
mod hit;
mod msvc;
mod nvcc;
mod resolve;
mod rust;
mod tiered;

use hit::{direct_first, lookup_everywhere, preprocessed_hit};
use resolve::{find_compiler, is_executable};
use tiered::{add_to_manifest, load_manifest, push, push_pending_manifest, store_manifest};

use crate::compiler::{self, gcc, identity, Language, Parsed, ResolvedCompiler};
use crate::config::Config;
use crate::depfile;
use crate::entry::{self, EntryKind, FileKind, Sealer};
use crate::error::{Fatal, Fault, Reason};
use crate::exec::{self, Captured};
use crate::hash::{Key, KeyHasher};
use crate::manifest::{self, Manifest};
use crate::stats::{self, Counters};
use crate::storage::local::LocalStore;
use crate::storage::Storage;
use crate::util::path::rewrite_arg;
use std::ffi::{OsStr, OsString};
use std::io::IsTerminal;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Bump whenever an ingredient of the C-family result key changes (docs/how-it-works.md).
const KEY_VERSION: &str = "c-2";

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
    /// Second-level caches, asked after a local miss and written after a compile.
    remotes: Vec<Box<dyn Storage>>,
    cwd: PathBuf,
    delta: Counters,
    /// The compiler family once detected, for the per-family hit and miss counters.
    family: Option<compiler::Family>,
    /// A manifest entry stored locally and not yet sent to the remotes: `finish` sends
    /// it, bundled with the result it points to when that result is the one being stored.
    pending_manifest: Option<(Key, Vec<u8>)>,
    /// A result that came from a remote inside a manifest bundle this invocation (it now
    /// sits in the local cache; a hit on it is a remote hit).
    bundled: Option<Key>,
    /// When this invocation started (ns), before any input was hashed for a key.
    started: i64,
    /// Outputs (joined to `cwd`) that did not exist when the command was checked: a
    /// restore renames onto such a name without first unlinking it (see `restore`).
    absent_outputs: Vec<PathBuf>,
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
            // Raw results must stay a small part of the bound: in a small cache, space
            // counts for more than the hit's decompression.
            compression_min_size: self
                .cfg
                .compression_min_size
                .min(self.cfg.cache_size / 1024),
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
    let remotes = match crate::storage::remote::from_config(cfg) {
        Ok(r) => r,
        Err(Fatal(msg)) => {
            eprintln!("{msg}");
            return crate::error::EXIT_FATAL;
        }
    };
    let mut ctx = Ctx {
        cfg,
        store: LocalStore::new(&cfg.dir, cfg.cache_size),
        remotes,
        cwd,
        delta: Counters::default(),
        family: None,
        pending_manifest: None,
        bundled: None,
        started: manifest::now_ns(),
        absent_outputs: Vec::new(),
    };
    ctx.delta.incr(stats::COMPILE_REQUESTS);

    let Some(compiler) = compiler::detect(&path) else {
        return passthrough(ctx, &path, &req.args, Reason::UnknownCompiler);
    };
    ctx.family = Some(compiler.family);
    if compiler.family != compiler::Family::Rustc {
        ctx.cwd = logical_cwd(std::mem::take(&mut ctx.cwd));
    }
    if compiler.family == compiler::Family::Rustc {
        let exists = |p: &Path| p.is_file();
        let mut parsed = match compiler::rustc::parse(&req.args, &ctx.cwd, &exists) {
            Ok(p) => p,
            Err(reason) => return passthrough(ctx, &path, &req.args, reason),
        };
        // rustc's automatic colour also needs no NO_COLOR.
        if std::io::stderr().is_terminal()
            && compiler::colour_terminal(crate::util::env::var_os("TERM"))
            && crate::util::env::var_os("NO_COLOR").is_none()
        {
            compiler::rustc::force_colour(&mut parsed);
        }
        if let Some(reason) = special_file(&parsed, &mut ctx) {
            return passthrough(ctx, &path, &req.args, reason);
        }
        let done = rust::cached_compile(&mut ctx, &compiler, &parsed);
        finish(ctx, done.outcome, done.key, done.entry);
        return done.code;
    }
    if compiler.family == compiler::Family::Nvcc {
        let parsed = match nvcc::parse(&ctx.cwd, &req.args) {
            Ok(p) => p,
            Err(reason) => return passthrough(ctx, &path, &req.args, reason),
        };
        if let Some(reason) = special_file(&parsed, &mut ctx) {
            return passthrough(ctx, &path, &req.args, reason);
        }
        let done = nvcc::cached_compile(&mut ctx, &compiler, &parsed);
        finish(ctx, done.outcome, done.key, done.entry);
        return done.code;
    }
    let msvc_mode = compiler.family == compiler::Family::Msvc
        || compiler.family == compiler::Family::Clang
            && req.args.iter().any(|a| a == "--driver-mode=cl");
    if msvc_mode {
        let parsed = msvc::parse(&ctx, &compiler, &req.args)
            .and_then(|p| special_file(&p, &mut ctx).map_or(Ok(p), Err));
        let done = match parsed {
            Ok(parsed) => msvc::cached_compile(&mut ctx, &compiler, &parsed),
            Err(reason) => return passthrough(ctx, &path, &req.args, reason),
        };
        finish(ctx, done.outcome, done.key, done.entry);
        return done.code;
    }
    let env = |k: &str| crate::util::env::var_os(k);
    let exists = |p: &Path| p.exists();
    let pctx = gcc::Context {
        cwd: &ctx.cwd,
        stderr_is_tty: std::io::stderr().is_terminal(),
        env: &env,
        exists: &exists,
    };
    let parsed = if compiler.family == compiler::Family::Diab {
        let expanded = compiler::diab::expand_response_files(&req.args, &ctx.cwd, &env);
        compiler::diab::parse(&compiler, &expanded, &req.args, &pctx)
    } else {
        let expanded = compiler::args::expand_response_files(&req.args, &ctx.cwd);
        gcc::parse(&compiler, &expanded, &req.args, &pctx)
    };
    let parsed = match parsed.and_then(|p| special_file(&p, &mut ctx).map_or(Ok(p), Err)) {
        Ok(p) => p,
        Err(reason) => return passthrough(ctx, &path, &req.args, reason),
    };
    log::debug!(
        "{} {:?}: cacheable, input {}",
        compiler.invoked_name,
        req.args,
        parsed.input.display()
    );
    let done = c::cached_compile(&mut ctx, &compiler, &parsed);
    finish(ctx, done.outcome, done.key, done.entry);
    done.code
}

/// The working directory as gcc and clang (LLVM) name it in debug info and coverage
/// files: `$PWD` when it is absolute and is the same directory as `.` (it keeps the
/// symlinks the user went through), else the physical path that `getcwd` gives. rustc
/// uses `getcwd` alone.
fn logical_cwd(physical: PathBuf) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let Some(pwd) = crate::util::env::var_os("PWD").map(PathBuf::from) else {
        return physical;
    };
    if !pwd.is_absolute() || pwd == physical {
        return physical;
    }
    match (std::fs::metadata(&pwd), std::fs::metadata(&physical)) {
        (Ok(a), Ok(b)) if a.dev() == b.dev() && a.ino() == b.ino() => pwd,
        _ => physical,
    }
}

/// Files that are not what a cache can stand in for: a source that is not a regular file
/// (hashing a pipe would consume what the compiler must read), or an existing output that
/// is neither a regular file nor a symlink (the compiler writes into a device or a pipe;
/// a restore would replace it by a new file, `/dev/null` included when run as root).
/// Notes in `ctx.absent_outputs` the outputs that do not exist.
fn special_file(parsed: &Parsed, ctx: &mut Ctx) -> Option<Reason> {
    let cwd = &ctx.cwd;
    let input = cwd.join(&parsed.input);
    if std::fs::metadata(&input).is_ok_and(|m| !m.is_file()) {
        return Some(Reason::SpecialFile);
    }
    let outputs = parsed.outputs.iter().map(|o| &o.path);
    // The dep file is usually among the outputs too: one lstat each.
    let dep_file = (parsed.dep_file.iter().map(|d| &d.path))
        .filter(|d| !parsed.outputs.iter().any(|o| &o.path == *d));
    for p in outputs.chain(dep_file) {
        let full = cwd.join(p);
        match std::fs::symlink_metadata(&full) {
            // A symlink is replaced by the assembler too (BFD unlinks "ordinary" outputs).
            Ok(m) if !m.is_file() && !m.file_type().is_symlink() => {
                return Some(Reason::SpecialFile)
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ctx.absent_outputs.push(full),
            Err(_) => {}
        }
    }
    None
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
            if let Some(f) = ctx.family {
                ctx.delta
                    .incr(&format!("{}{}", stats::HIT_BY_COMPILER, f.name()));
            }
        }
        Outcome::Miss(l) => {
            ctx.delta.incr(stats::CACHE_MISSES);
            ctx.delta.incr(&format!("miss:{}", l.stats_name()));
            if let Some(f) = ctx.family {
                ctx.delta
                    .incr(&format!("{}{}", stats::MISS_BY_COMPILER, f.name()));
            }
        }
        Outcome::CompileFailed => ctx.delta.incr(stats::COMPILE_ERRORS),
        Outcome::NotCacheable(r) => {
            ctx.delta.incr(stats::NON_CACHEABLE);
            ctx.delta.incr(&format!("reason:{}", r.name()));
        }
    }
    let shard = key
        .map(|k| LocalStore::shard_of(&k))
        .unwrap_or_else(|| (std::process::id() % 16) as u8);
    if let (Some(k), Some(e)) = (&key, &entry) {
        push(&mut ctx, k, e);
    }
    push_pending_manifest(&mut ctx, key.as_ref().zip(entry.as_deref()));
    let result = match (key, entry) {
        (Some(k), Some(e)) => ctx.store.put_with_stats(&k, &e, &ctx.delta).or_else(|f| {
            // After a lock timeout, waiting on the same lock again would double the stall.
            if f.kind == "lock" {
                return Err(f);
            }
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

/// The cache failed before a key existed (compiler identity, a host compiler): count the
/// fault and compile without storing.
fn compile_after_fault(
    ctx: &mut Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    fault: Fault,
) -> Done {
    ctx.fault(fault);
    let (outcome, code, _) = compile_and_store(ctx, compiler, parsed, None, &[]);
    Done {
        outcome,
        code,
        key: None,
        entry: None,
    }
}

/// The ingredients shared by the result key and the manifest key: everything but the
/// source text. docs/how-it-works.md lists them with reasons.
fn common_ingredients(
    h: &mut KeyHasher,
    ctx: &Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    ident: &Key,
) {
    h.str("key-version", KEY_VERSION);
    h.str("compiler", &ident.hex());
    h.str("driver", &compiler.invoked_name);
    h.str("language", parsed.language.expect("has language").x_name());
    for a in &parsed.hashed_args {
        h.field("arg", &key_path(ctx, parsed, a));
    }
    h.field("input", &key_path(ctx, parsed, parsed.input.as_os_str()));
    for var in KEYED_ENV {
        if let Some(v) = crate::util::env::var_os(var) {
            h.field(var, v.as_encoded_bytes());
        }
    }
    // A cwd under a base dir is the user's opt-in to sharing across checkouts, debug info
    // included (it then names the first checkout's paths unless a prefix map is used).
    // Coverage and split DWARF write the absolute cwd into their own outputs: no sharing.
    let cwd_in_base =
        !parsed.output_path_matters && ctx.cfg.basedirs.iter().any(|b| ctx.cwd.starts_with(b));
    if parsed.cwd_matters && ctx.cfg.hash_dir && !cwd_in_base {
        match &parsed.mapped_cwd {
            Some(m) => h.str("mapped-cwd", m),
            None => h.field("cwd", ctx.cwd.as_os_str().as_encoded_bytes()),
        }
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
    for f in &parsed.program_files {
        // Through the digest cache: a `cc1` is tens of megabytes, hashed once per change.
        match crate::digest_cache::digest_file(&ctx.cfg.dir, f) {
            Ok(d) => {
                h.field("program", &key_path(ctx, parsed, f.as_os_str()));
                h.field("program-digest", &d.0);
            }
            Err(_) => h.field("program-missing", &key_path(ctx, parsed, f.as_os_str())),
        }
    }
    for p in &parsed.resolved_paths {
        h.field("resolved", &resolved(p));
    }
    for p in &parsed.presence_probes {
        let tag = if p.is_dir() { "present" } else { "absent" };
        h.field(tag, &key_path(ctx, parsed, p.as_os_str()));
    }
    if parsed.needs_cpu_info {
        h.str("cpu", &cpu_description());
    }
}

/// Where `path` leads once every symlink is followed (its text when it does not resolve).
fn resolved(path: &Path) -> Vec<u8> {
    crate::util::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .into_os_string()
        .into_encoded_bytes()
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

/// An argument or path as it goes into a key: the relocatable directory (rustc's target
/// profile dir) as a marker, then paths under a base dir made relative to the cwd.
fn key_path(ctx: &Ctx, parsed: &Parsed, arg: &OsStr) -> Vec<u8> {
    let arg = match &parsed.relocatable_dir {
        Some(dir) => {
            let marked = crate::util::path::mark_dir(arg.as_encoded_bytes(), &ctx.cwd.join(dir));
            OsString::from_vec(marked)
        }
        None => arg.to_os_string(),
    };
    rewrite_arg(&arg, &ctx.cwd, &ctx.cfg.basedirs)
        .as_encoded_bytes()
        .to_vec()
}

/// (mtime, inode) of a file that may exist before a compile, to tell whether the compile
/// wrote an optional output or it is a stale leftover.
fn stamp(path: &Path) -> Option<(i64, i64, u64)> {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.mtime(), m.mtime_nsec(), m.ino()))
}

/// Output files of a successful compile, with its stdout and stderr.
type Produced = (Vec<(FileKind, Vec<u8>)>, Vec<u8>, Vec<u8>);

/// Run the real compile (with `extra` arguments appended) and collect its outputs.
/// `None` in the third place when it failed or an expected output is missing.
fn compile(
    ctx: &Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    extra: &[OsString],
) -> (Outcome, i32, Option<Produced>) {
    compile_filtered(ctx, compiler, parsed, extra, &mut |out: &[u8]| out.to_vec())
}

/// [`compile`], with the compiler's stdout passed through `stdout_filter` before it is
/// replayed and stored (MSVC: drop the `/showIncludes` notes we asked for).
fn compile_filtered(
    ctx: &Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    extra: &[OsString],
    stdout_filter: &mut dyn FnMut(&[u8]) -> Vec<u8>,
) -> (Outcome, i32, Option<Produced>) {
    let language = parsed.language.expect("has language");
    let before: Vec<_> = parsed
        .outputs
        .iter()
        .map(|o| stamp(&ctx.cwd.join(&o.path)))
        .collect();
    if ctx.cfg.hard_link {
        // An output that is a hard link into the cache must not be overwritten in place
        // by the compiler: unlink it first.
        for o in &parsed.outputs {
            let p = ctx.cwd.join(&o.path);
            if std::fs::symlink_metadata(&p).is_ok_and(|m| m.nlink() > 1) {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    let prefix = ctx.cfg.prefix_command.as_deref();
    let mut args = parsed.compile_args.clone();
    args.extend(extra.iter().cloned());
    let run = if parsed.stream_output {
        exec::run_tee(&compiler.path, &args, prefix)
    } else {
        exec::run_captured(&compiler.path, &args, prefix, false)
    };
    let run = match run {
        Ok(r) => r,
        Err(e) => {
            // Name what failed to start: the prefix command (CACHEPOT_PREFIX_COMMAND)
            // runs first, and it is the usual culprit when it is set.
            match prefix.and_then(|p| p.first()) {
                Some(first) => eprintln!(
                    "cachepot: error: cannot run the prefix command {} (CACHEPOT_PREFIX_COMMAND) \
                     for {}: {e}",
                    first,
                    compiler.path.display()
                ),
                None => eprintln!(
                    "cachepot: error: cannot run {}: {e}",
                    compiler.path.display()
                ),
            }
            return (Outcome::CompileFailed, 127, None);
        }
    };
    let stdout = stdout_filter(&run.stdout);
    if !parsed.stream_output {
        exec::replay(&stdout, &run.stderr);
    }
    let code = exec::exit_code(&run.status);
    if !run.status.success() {
        return (Outcome::CompileFailed, code, None);
    }
    // Programs and files keyed by content before the compile (`-B` programs, plugins,
    // list files): one rewritten since may have run or been read in its new form.
    let keyed_before = parsed.program_files.iter().chain(&parsed.extra_input_files);
    // (A file that is gone was keyed as it was, or as missing: nothing to compare.)
    let changed = |p: &&PathBuf| manifest::modified_since(p, ctx.started) == Some(true);
    if let Some(p) = keyed_before.into_iter().find(changed) {
        log::info!("{} changed during the compile: not cached", p.display());
        return (Outcome::Miss(language), code, None);
    }
    let mut files: Vec<(FileKind, Vec<u8>)> = Vec::new();
    for (out, before) in parsed.outputs.iter().zip(before) {
        let path = ctx.cwd.join(&out.path);
        if before.is_some() && stamp(&path) == before {
            if out.optional {
                continue; // a leftover the compiler did not rewrite
            }
            // The compiler wrote its output elsewhere (an option we do not model): the
            // file there is a leftover, not this compile's result.
            log::info!("{} was not rewritten by the compile", path.display());
            return (Outcome::NotCacheable(Reason::MissingOutput), code, None);
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
    (
        Outcome::Miss(language),
        code,
        Some((files, stdout, run.stderr)),
    )
}

/// The entry for a compile's outputs under `key`.
fn seal_result(
    ctx: &Ctx,
    parsed: &Parsed,
    key: &Key,
    mut files: Vec<(FileKind, Vec<u8>)>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
) -> Vec<u8> {
    if ctx.cfg.hard_link || ctx.cfg.file_clone {
        let main = parsed.outputs.first().map(|o| o.kind);
        if let Some((_, data)) = files.iter().find(|(k, _)| Some(*k) == main) {
            if let Err(f) = ctx.store.put_raw(key, data) {
                log::warn!("cache fault: {f}");
            }
        }
    }
    files.push((FileKind::Stdout, stdout));
    files.push((FileKind::Stderr, stderr));
    files.push((
        FileKind::ObjectPathHint,
        parsed.main_output().as_os_str().as_encoded_bytes().to_vec(),
    ));
    for (kind, data) in files.iter_mut() {
        let textual = matches!(
            kind,
            FileKind::DepFile | FileKind::RustDepInfo | FileKind::Stdout | FileKind::Stderr
        );
        if let (true, Some(dir)) = (textual, &parsed.relocatable_dir) {
            *data = crate::util::path::mark_dir(data, &ctx.cwd.join(dir));
        }
        // Dep files (and the target hint) keep base-dir paths portable.
        if !ctx.cfg.basedirs.is_empty()
            && matches!(
                kind,
                FileKind::DepFile | FileKind::RustDepInfo | FileKind::ObjectPathHint
            )
        {
            *data = crate::util::path::dep_to_portable(data, &ctx.cwd, &ctx.cfg.basedirs);
        }
    }
    entry::share_rmeta(&mut files);
    ctx.sealer()
        .seal(EntryKind::Result, key, &entry::encode_result(&files))
}

/// Compile without storing: a success becomes "not cacheable" for `reason`.
fn compile_uncached(
    ctx: &mut Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    reason: Reason,
) -> Done {
    let (outcome, code, _) = compile_and_store(ctx, compiler, parsed, None, &[]);
    let outcome = match outcome {
        Outcome::Miss(_) => Outcome::NotCacheable(reason),
        o => o,
    };
    Done {
        outcome,
        code,
        key: None,
        entry: None,
    }
}

/// End of a depend-mode miss (C and Rust alike): key the result on the recorded set,
/// add the set to the manifest, and build the entry. An unrecordable compile is a miss
/// that stores nothing.
#[allow(clippy::too_many_arguments)]
fn record_depend_result(
    ctx: &mut Ctx,
    parsed: &Parsed,
    mkey: &Key,
    mut manifest: Manifest,
    recorded: Result<manifest::IncludeSet, String>,
    code: i32,
    produced: Produced,
) -> Done {
    let language = parsed.language.expect("has language");
    let mut set = match recorded {
        Ok(s) => s,
        Err(why) => {
            log::info!("not cached: {why}");
            return Done {
                outcome: Outcome::Miss(language),
                code,
                key: None,
                entry: None,
            };
        }
    };
    let key = manifest::set_key(mkey, &set);
    set.result = key.hex();
    manifest.add(set);
    store_manifest(ctx, mkey, &manifest);
    let (files, stdout, stderr) = produced;
    let entry = seal_result(ctx, parsed, &key, files, stdout, stderr);
    Done {
        outcome: Outcome::Miss(language),
        code,
        key: Some(key),
        entry: Some(entry),
    }
}

/// Compile; with a key, also build the entry (stored by `finish`).
fn compile_and_store(
    ctx: &mut Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    key: Option<&Key>,
    extra: &[OsString],
) -> (Outcome, i32, Option<Vec<u8>>) {
    let (outcome, code, produced) = compile(ctx, compiler, parsed, extra);
    let entry = match (key, produced) {
        (Some(k), Some((files, out, err))) => Some(seal_result(ctx, parsed, k, files, out, err)),
        _ => None,
    };
    (outcome, code, entry)
}
