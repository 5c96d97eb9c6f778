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

mod rust;

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
use crate::util::path::{dep_from_portable, rewrite_arg};
use std::ffi::{OsStr, OsString};
use std::io::IsTerminal;
use std::os::unix::ffi::OsStringExt;
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
    if compiler.family == compiler::Family::Rustc {
        let exists = |p: &Path| p.is_file();
        let parsed = match compiler::rustc::parse(&req.args, &ctx.cwd, &exists) {
            Ok(p) => p,
            Err(reason) => return passthrough(ctx, &path, &req.args, reason),
        };
        let done = rust::cached_compile(&mut ctx, &compiler, &parsed);
        finish(ctx, done.outcome, done.key, done.entry);
        return done.code;
    }
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

/// The cacheable path: direct mode first (no process on a hit), then either depend mode
/// (compile at once, key from the dep file) or preprocessor mode (key from `-E` output).
fn cached_compile(ctx: &mut Ctx, compiler: &ResolvedCompiler, parsed: &Parsed) -> Done {
    let language = parsed.language.expect("parsed commands have a language");
    let ident = match identity::identity(compiler, &ctx.cfg.dir) {
        Ok(k) => k,
        Err(e) => {
            ctx.fault(Fault::new(
                "identity",
                format!("{}: {e}", compiler.path.display()),
            ));
            let (outcome, code, _) = compile_and_store(ctx, compiler, parsed, None, &[]);
            return Done {
                outcome,
                code,
                key: None,
                entry: None,
            };
        }
    };

    let mut direct = None;
    if ctx.cfg.direct && language.is_preprocessed_by_compiler() {
        // The source's digest comes from the stat-keyed digest cache: a hit does not
        // re-read and re-hash an unchanged source (sqlite3.c is 9 MB).
        match crate::digest_cache::digest_file(&ctx.cfg.dir, &ctx.cwd.join(&parsed.input)) {
            Ok(src) => {
                let mkey = manifest_key(ctx, compiler, parsed, &ident, &src);
                let manifest = load_manifest(ctx, &mkey);
                if !ctx.cfg.recache {
                    if let Some(done) = direct_lookup(ctx, parsed, &manifest, language) {
                        return done;
                    }
                }
                direct = Some((mkey, manifest));
            }
            Err(e) => log::debug!(
                "direct mode off: cannot read {}: {e}",
                parsed.input.display()
            ),
        }
    }

    if let Some((mkey, manifest)) = &direct {
        // Depend mode needs a complete dep file: the user's -MD, or one we add, which we
        // must not when the object records its command line.
        let complete_deps = match &parsed.dep_file {
            Some(d) => d.complete,
            None => !parsed.records_command_line,
        };
        if complete_deps {
            return depend_miss(ctx, compiler, parsed, mkey, manifest.clone());
        }
    }
    preprocessor_mode(ctx, compiler, parsed, &ident, direct)
}

/// A direct hit: the first include set that still holds, restored. No process runs.
fn direct_lookup(
    ctx: &mut Ctx,
    parsed: &Parsed,
    manifest: &Manifest,
    language: Language,
) -> Option<Done> {
    for set in &manifest.sets {
        if !manifest::still_valid(set, &ctx.cwd, &ctx.cfg.basedirs) {
            continue;
        }
        let key = Key::from_hex(&set.result)?;
        if let Some(code) = from_cache(ctx, parsed, &key) {
            ctx.delta.incr(stats::DIRECT_HITS);
            return Some(Done {
                outcome: Outcome::Hit(language),
                code,
                key: Some(key),
                entry: None,
            });
        }
        log::debug!(
            "manifest names result {} which is not in the cache",
            set.result
        );
    }
    None
}

/// Depend mode: compile at once with a dep file, and key the result on the files it lists.
fn depend_miss(
    ctx: &mut Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    mkey: &Key,
    mut manifest: Manifest,
) -> Done {
    let language = parsed.language.expect("has language");
    let (dep_path, temp_dep) = match &parsed.dep_file {
        Some(d) => (ctx.cwd.join(&d.path), None),
        None => {
            let t = std::env::temp_dir().join(format!(
                "cachepot-{}-{}.d",
                std::process::id(),
                manifest::now_ns()
            ));
            (t.clone(), Some(t))
        }
    };
    let extra: Vec<OsString> = match &temp_dep {
        Some(t) => vec!["-MD".into(), "-MF".into(), t.clone().into_os_string()],
        None => Vec::new(),
    };
    let start = manifest::now_ns();
    let (outcome, code, run_files) = compile(ctx, compiler, parsed, &extra);
    let deps = std::fs::read(&dep_path);
    if let Some(t) = &temp_dep {
        let _ = std::fs::remove_file(t);
    }
    let Some((files, stdout, stderr)) = run_files else {
        return Done {
            outcome,
            code,
            key: None,
            entry: None,
        };
    };
    let record = deps
        .map_err(|e| format!("dep file {}: {e}", dep_path.display()))
        .and_then(|d| record_set(ctx, compiler, parsed, &d, start, &Key([0; 32])));
    let mut set = match record {
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
    let entry = seal_result(ctx, parsed, &key, files, stdout, stderr);
    Done {
        outcome: Outcome::Miss(language),
        code,
        key: Some(key),
        entry: Some(entry),
    }
}

/// Preprocessor mode: key on the preprocessed text. With direct mode on, the preprocessor
/// also writes a complete dep file so the compile can be recorded in the manifest.
fn preprocessor_mode(
    ctx: &mut Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    ident: &Key,
    direct: Option<(Key, Manifest)>,
) -> Done {
    let language = parsed.language.expect("has language");
    let start = manifest::now_ns();
    // A complete dep file from the preprocessor: for the manifest, and to see whether a
    // header has a precompiled .gch beside it (the compile would read that instead, while
    // `-E` reads the header's text: the key would not cover it).
    let temp_dep = language
        .is_preprocessed_by_compiler()
        .then(|| std::env::temp_dir().join(format!("cachepot-{}-{}.d", std::process::id(), start)));
    let source_text = match preprocess(compiler, parsed, &ctx.cwd, temp_dep.as_deref()) {
        Ok(t) => t,
        Err(_) => {
            if let Some(t) = &temp_dep {
                let _ = std::fs::remove_file(t);
            }
            // The compile will most likely fail the same way; let it speak for itself.
            let (outcome, code, _) = compile_and_store(ctx, compiler, parsed, None, &[]);
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
    let deps = temp_dep.as_ref().and_then(|t| {
        let d = std::fs::read(t).ok();
        let _ = std::fs::remove_file(t);
        d
    });
    if let Some(d) = &deps {
        let gch = depfile::prerequisites(d)
            .into_iter()
            .skip(1)
            .find(|h| ctx.cwd.join(format!("{h}.gch")).exists());
        if let Some(h) = gch {
            log::info!("{h}.gch exists: not cached");
            let (outcome, code, _) = compile_and_store(ctx, compiler, parsed, None, &[]);
            let outcome = match outcome {
                Outcome::Miss(_) => Outcome::NotCacheable(Reason::PrecompiledHeader),
                o => o,
            };
            return Done {
                outcome,
                code,
                key: None,
                entry: None,
            };
        }
    }
    let key = result_key(ctx, compiler, parsed, ident, &source_text);
    log::debug!("result key {}", key.hex());

    let mut done = None;
    if !ctx.cfg.recache {
        if let Some(code) = from_cache(ctx, parsed, &key) {
            ctx.delta.incr(stats::PREPROCESSED_HITS);
            done = Some(Done {
                outcome: Outcome::Hit(language),
                code,
                key: Some(key),
                entry: None,
            });
        }
    }
    let done = match done {
        Some(d) => d,
        None => {
            let (outcome, code, entry) = compile_and_store(ctx, compiler, parsed, Some(&key), &[]);
            Done {
                outcome,
                code,
                key: Some(key),
                entry,
            }
        }
    };
    if let (Some((mkey, mut manifest)), Some(deps), Outcome::Hit(_) | Outcome::Miss(_)) =
        (direct, deps, &done.outcome)
    {
        if done.key.is_some() {
            let recorded = record_set(ctx, compiler, parsed, &deps, start, &key);
            match recorded {
                Ok(set) => {
                    manifest.add(set);
                    store_manifest(ctx, &mkey, &manifest);
                }
                Err(why) => log::info!("no manifest entry: {why}"),
            }
        }
    }
    done
}

/// The include set of a finished compile from its complete dep file. Paths under a base
/// directory are stored relative to the working directory (resolved against the
/// current one at lookup, so each checkout validates its own files: caching-spec A5).
fn record_set(
    ctx: &mut Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    deps: &[u8],
    start: i64,
    result: &Key,
) -> Result<manifest::IncludeSet, String> {
    let search =
        search_dirs(ctx, compiler, parsed).ok_or_else(|| "no include search list".to_string())?;
    let bases = &ctx.cfg.basedirs;
    let portable = |p: String| crate::util::path::relativize(&p, &ctx.cwd, bases).unwrap_or(p);
    let files: Vec<String> = depfile::prerequisites(deps)
        .into_iter()
        .map(portable)
        .collect();
    let search: Vec<String> = search.into_iter().map(portable).collect();
    manifest::record(
        &files,
        &search,
        &ctx.cwd,
        start,
        result,
        true,
        &ctx.cfg.basedirs,
    )
    .map_err(|e| format!("{e:?}"))
}

fn load_manifest(ctx: &mut Ctx, mkey: &Key) -> Manifest {
    let bytes = match ctx.store.get(mkey) {
        Ok(Some(b)) => b,
        Ok(None) => return Manifest::default(),
        Err(f) => {
            ctx.fault(f);
            return Manifest::default();
        }
    };
    match ctx
        .sealer()
        .open(EntryKind::Manifest, mkey, &bytes)
        .ok()
        .and_then(|raw| Manifest::decode(&raw))
    {
        Some(m) => m,
        None => {
            ctx.fault(Fault::new(
                "corrupt_entry",
                format!("manifest {}", ctx.store.entry_path(mkey).display()),
            ));
            if let Err(f) = ctx.store.remove_with_stats(mkey, &Counters::default()) {
                log::warn!("cannot remove corrupt manifest: {f}");
            }
            Manifest::default()
        }
    }
}

fn store_manifest(ctx: &mut Ctx, mkey: &Key, manifest: &Manifest) {
    let entry = ctx
        .sealer()
        .seal(EntryKind::Manifest, mkey, &manifest.encode());
    if let Err(f) = ctx.store.put(mkey, &entry) {
        ctx.fault(f);
    }
}

/// The include search list of this command, from the compiler's `-v` output, kept on
/// disk per (compiler, arguments, environment, cwd) so only the first miss pays a spawn.
fn search_dirs(ctx: &mut Ctx, compiler: &ResolvedCompiler, parsed: &Parsed) -> Option<Vec<String>> {
    let args = gcc::search_list_args(parsed);
    let mut h = KeyHasher::new("search-list");
    h.str("compiler", &compiler.path.to_string_lossy());
    if let Ok(id) = identity::identity(compiler, &ctx.cfg.dir) {
        h.field("identity", &id.0);
    }
    for a in &args {
        h.field("arg", a.as_encoded_bytes());
    }
    for var in KEYED_ENV {
        if let Some(v) = std::env::var_os(var) {
            h.field(var, v.as_encoded_bytes());
        }
    }
    h.field("cwd", ctx.cwd.as_os_str().as_encoded_bytes());
    let file = ctx.cfg.dir.join("search-v1").join(h.finish().hex());
    if let Ok(text) = std::fs::read_to_string(&file) {
        if let Some(rest) = text.strip_prefix("ok\n") {
            return Some(rest.lines().map(str::to_string).collect());
        }
    }
    let out = exec::run_captured(&compiler.path, &args, None, true).ok()?;
    let dirs = gcc::parse_search_list(&out.stderr)?;
    let text = format!(
        "ok\n{}",
        dirs.iter().map(|d| format!("{d}\n")).collect::<String>()
    );
    let _ = crate::util::fs::create_dir_all_private(file.parent().expect("has parent")).and_then(
        |_| crate::util::fs::atomic_write(&file, text.as_bytes(), crate::util::fs::FILE_MODE),
    );
    Some(dirs)
}

/// Preprocessed text (or the source itself for languages the compiler does not preprocess).
fn preprocess(
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    cwd: &Path,
    dep_file: Option<&Path>,
) -> Result<Vec<u8>, ()> {
    let language = parsed.language.expect("has language");
    if !language.is_preprocessed_by_compiler() {
        return std::fs::read(cwd.join(&parsed.input)).map_err(|_| ());
    }
    let mut args = parsed.preprocess_args.clone();
    if let Some(d) = dep_file {
        args.extend([
            OsString::from("-MD"),
            OsString::from("-MF"),
            d.as_os_str().to_owned(),
        ]);
    }
    match exec::run_captured(&compiler.path, &args, None, true) {
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
        if let Some(v) = std::env::var_os(var) {
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
    if parsed.needs_cpu_info {
        h.str("cpu", &cpu_description());
    }
}

/// Preprocessor-mode result key: the common ingredients plus the preprocessed text.
fn result_key(
    ctx: &Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    ident: &Key,
    source_text: &[u8],
) -> Key {
    let mut h = KeyHasher::new("result");
    common_ingredients(&mut h, ctx, compiler, parsed, ident);
    let mut text = std::borrow::Cow::Borrowed(source_text);
    if !ctx.cfg.hash_dir {
        // With -g, gcc -E names the working directory in a `# 1 "<cwd>//"` marker.
        text = std::borrow::Cow::Owned(strip_cwd_marker(&text));
    }
    if !ctx.cfg.basedirs.is_empty() {
        text = std::borrow::Cow::Owned(crate::util::path::rewrite_line_markers(
            &text,
            &ctx.cwd,
            &ctx.cfg.basedirs,
        ));
    }
    h.blob("source", &text);
    h.finish()
}

/// Drop gcc's working-directory line marker (`# 1 "/dir//"`, emitted with -g).
fn strip_cwd_marker(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for line in text.split_inclusive(|&b| b == b'\n') {
        let t = line.strip_suffix(b"\n").unwrap_or(line);
        if t.starts_with(b"# ") && t.ends_with(b"//\"") {
            continue;
        }
        out.extend_from_slice(line);
    }
    out
}

/// Direct-mode manifest key: the common ingredients plus the source file's content.
fn manifest_key(
    ctx: &Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    ident: &Key,
    source: &Key,
) -> Key {
    let mut h = KeyHasher::new("manifest");
    h.str("manifest-version", "1");
    common_ingredients(&mut h, ctx, compiler, parsed, ident);
    h.field("source-file", &source.0);
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
        Ok(None) => {
            log::debug!("{}: no entry {}", ctx.store.name(), key.hex());
            return None;
        }
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
            exec::replay(
                &unmark(ctx, parsed, get(FileKind::Stdout)),
                &unmark(ctx, parsed, get(FileKind::Stderr)),
            );
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
    let hint = find(FileKind::ObjectPathHint)
        .map(|h| String::from_utf8_lossy(&dep_from_portable(h, &ctx.cwd)).into_owned());
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
            (Some(dep), FileKind::DepFile, Some(old)) => {
                let here = unmark(ctx, parsed, &dep_from_portable(data, &ctx.cwd));
                let new = parsed.main_output().to_string_lossy();
                retargeted = if dep.target_fixed {
                    here
                } else {
                    crate::depfile::retarget(&here, old, &new)
                };
                &retargeted
            }
            (_, FileKind::RustDepInfo | FileKind::DepFile, _) => {
                retargeted = unmark(ctx, parsed, &dep_from_portable(data, &ctx.cwd));
                &retargeted
            }
            _ => data,
        };
        crate::util::fs::atomic_write(&dest, data, 0o666)
            .map_err(|e| Fault::io("restore", &dest, &e))?;
    }
    Ok(())
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

/// Put the current relocatable directory (rustc's out-dir) back into stored text.
fn unmark(ctx: &Ctx, parsed: &Parsed, data: &[u8]) -> Vec<u8> {
    match &parsed.relocatable_dir {
        Some(dir) => crate::util::path::unmark_dir(data, &ctx.cwd.join(dir)),
        None => data.to_vec(),
    }
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
    let language = parsed.language.expect("has language");
    let before: Vec<_> = parsed
        .outputs
        .iter()
        .map(|o| stamp(&ctx.cwd.join(&o.path)))
        .collect();
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
            eprintln!(
                "cachepot: error: cannot run {}: {e}",
                compiler.path.display()
            );
            return (Outcome::CompileFailed, 127, None);
        }
    };
    if !parsed.stream_output {
        exec::replay(&run.stdout, &run.stderr);
    }
    let code = exec::exit_code(&run.status);
    if !run.status.success() {
        return (Outcome::CompileFailed, code, None);
    }
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
    (
        Outcome::Miss(language),
        code,
        Some((files, run.stdout, run.stderr)),
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
    ctx.sealer()
        .seal(EntryKind::Result, key, &entry::encode_result(&files))
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
