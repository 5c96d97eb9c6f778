//! The MSVC-syntax flow (clang-cl; cl.exe by the same code): direct mode first (no
//! process on a hit), then a depend-mode miss whose include set comes from
//! `/showIncludes` on the compile's stdout, or preprocessor mode (key on `/E` output).
//!
//! * Depend mode (clang-cl, direct mode on, no CodeView debug info, not
//!   `/showIncludes:user`): compile at once with `/showIncludes` appended unless the user
//!   gave it; the `Note: including file:` lines on stdout are the dependency list, and are
//!   removed from the replayed and stored stdout when the user did not ask for them.
//! * Preprocessor mode otherwise: `<args> /E` (plus `/showIncludes`, whose notes then go
//!   to stderr, to record the manifest in direct mode). `/Z7` objects record the cc1
//!   command line, so nothing may be added to their compile; cl.exe prints its notes in
//!   the installation's language, which we do not parse.
//!
//! The shared stages (lookup, restore, compile, store, statistics) are in `mod.rs`; what
//! the arguments mean is in `compiler::msvc`.

use super::*;
use crate::compiler::msvc::{self as front, ShowIncludes};

/// Bump whenever an MSVC-only ingredient changes (docs/msvc.md lists them).
const MSVC_KEY_VERSION: &str = "msvc-1";

/// Environment read by clang-cl / cl.exe besides `KEYED_ENV`: the include path (`INCLUDE`,
/// `EXTERNAL_INCLUDE`), arguments (`CL`, `_CL_`: also parsed into the arguments), where
/// clang-cl finds the MSVC and SDK headers without `INCLUDE`, and cl.exe's language.
const MSVC_ENV: &[&str] = &[
    "INCLUDE",
    "EXTERNAL_INCLUDE",
    "CL",
    "_CL_",
    "VCToolsInstallDir",
    "VCINSTALLDIR",
    "VSINSTALLDIR",
    "WindowsSdkDir",
    "WindowsSDKVersion",
    "WindowsSdkVersion",
    "UniversalCRTSdkDir",
    "UCRTVersion",
    "VSLANG",
];

/// Gather the argument sources (response files, `CL`, `_CL_`) and parse them.
pub(super) fn parse(
    ctx: &Ctx,
    compiler: &ResolvedCompiler,
    args: &[OsString],
) -> Result<Parsed, Reason> {
    let env = |k: &str| crate::util::env::var_os(k);
    let exists = |p: &Path| p.exists();
    let src = compiler::msvc_args::gather(args, &ctx.cwd, &env)?;
    let pctx = front::Context {
        cwd: &ctx.cwd,
        env: &env,
        exists: &exists,
    };
    let parsed = front::parse(compiler, &src, args, &pctx)?;
    log::debug!(
        "{} {:?}: cacheable, input {}",
        compiler.invoked_name,
        args,
        parsed.input.display()
    );
    Ok(parsed)
}

pub(super) fn cached_compile(ctx: &mut Ctx, compiler: &ResolvedCompiler, parsed: &Parsed) -> Done {
    let info = parsed.msvc.clone().unwrap_or_default();
    let language = parsed.language.expect("parsed commands have a language");
    let ident = match identity::identity(compiler, Some(language), &ctx.cfg.dir) {
        Ok(k) => k,
        Err(e) => {
            let what = format!("{}: {e}", compiler.path.display());
            return compile_after_fault(ctx, compiler, parsed, Fault::new("identity", what));
        }
    };

    let mut direct = None;
    if ctx.cfg.direct && info.english_notes && !parsed.unmodelled_macro_in_args {
        let mkey_of = |ctx: &Ctx, src: &Key| manifest_key(ctx, compiler, parsed, &ident, src);
        match direct_first(ctx, parsed, language, mkey_of) {
            Err(hit) => return hit,
            Ok(found) => direct = found,
        }
    }
    if let Some((mkey, manifest)) = &direct {
        if !parsed.records_command_line
            && info.show_includes != ShowIncludes::User
            && info.extra_at.is_some()
        {
            return depend_miss(ctx, compiler, parsed, &info, mkey, manifest.clone());
        }
    }
    preprocessor_mode(ctx, compiler, parsed, &info, &ident, direct)
}

/// Depend mode: compile at once with `/showIncludes`; key the result on the files named.
fn depend_miss(
    ctx: &mut Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    info: &front::MsvcInfo,
    mkey: &Key,
    manifest: Manifest,
) -> Done {
    let user_asked = info.show_includes == ShowIncludes::All;
    // `/showIncludes` goes before a `--` (CMake writes `-c -- <source>`), where it is
    // still an option.
    let mut run = parsed.clone();
    if !user_asked {
        let at = info.extra_at.unwrap_or(run.compile_args.len());
        run.compile_args.insert(at, OsString::from("/showIncludes"));
    }
    let start = manifest::now_ns();
    let mut raw = Vec::new();
    let (outcome, code, produced) = compile_filtered(ctx, compiler, &run, &[], &mut |out| {
        raw = out.to_vec();
        if user_asked {
            out.to_vec()
        } else {
            front::split_notes(out).1
        }
    });
    let Some(produced) = produced else {
        return Done {
            outcome,
            code,
            key: None,
            entry: None,
        };
    };
    let (headers, _) = front::split_notes(&raw);
    let record = record_set(ctx, compiler, parsed, info, &headers, start, &Key([0; 32]));
    record_depend_result(ctx, parsed, mkey, manifest, record, code, produced)
}

/// Preprocessor mode: key on the `/E` text. In direct mode the same run's notes (on
/// stderr with `/E`) record the include set in the manifest.
fn preprocessor_mode(
    ctx: &mut Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    info: &front::MsvcInfo,
    ident: &Key,
    direct: Option<(Key, Manifest)>,
) -> Done {
    let language = parsed.language.expect("has language");
    let start = manifest::now_ns();
    let mut args = parsed.preprocess_args.clone();
    if direct.is_some() {
        // Before `/E` (and the `--` that may follow it).
        let at = args.iter().position(|a| a == "/E").unwrap_or(args.len());
        args.insert(at, OsString::from("/showIncludes"));
    }
    let (text, notes) = match exec::run_captured(&compiler.path, &args, None, true) {
        Ok(Captured {
            status,
            stdout,
            stderr,
        }) if status.success() => (stdout, stderr),
        Ok(c) => {
            log::debug!("preprocessor failed with {}", c.status);
            return compile_uncached(ctx, compiler, parsed, Reason::PreprocessorFailed);
        }
        Err(e) => {
            log::warn!("cannot run preprocessor {}: {e}", compiler.path.display());
            return compile_uncached(ctx, compiler, parsed, Reason::PreprocessorFailed);
        }
    };
    if manifest::reads_unlisted_file(&text) {
        return compile_uncached(ctx, compiler, parsed, Reason::UnlistedInput);
    }
    let key = result_key(ctx, compiler, parsed, ident, &text);
    log::debug!("result key {}", key.hex());
    let done = match preprocessed_hit(ctx, parsed, &key, language) {
        Some(hit) => hit,
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
    if let (Some((mkey, manifest)), Outcome::Hit(_) | Outcome::Miss(_), Some(_)) =
        (direct, &done.outcome, &done.key)
    {
        let (headers, _) = front::split_notes(&notes);
        let recorded = record_set(ctx, compiler, parsed, info, &headers, start, &key);
        add_to_manifest(ctx, &mkey, manifest, recorded);
    }
    done
}

/// The include set of a finished compile: the source, then the files its notes named.
/// Paths under a base directory are stored relative to the working directory.
fn record_set(
    ctx: &mut Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    info: &front::MsvcInfo,
    headers: &[String],
    start: i64,
    result: &Key,
) -> Result<manifest::IncludeSet, String> {
    let search =
        search_dirs(ctx, compiler, info).ok_or_else(|| "no include search list".to_string())?;
    let bases = &ctx.cfg.basedirs;
    let portable = |p: String| crate::util::path::relativize(&p, &ctx.cwd, bases).unwrap_or(p);
    let mut files = vec![portable(parsed.input.to_string_lossy().into_owned())];
    files.extend(headers.iter().cloned().map(portable));
    let mut search: Vec<String> = search.into_iter().map(portable).collect();
    // A forced include (/FI) is looked up in the working directory before the include
    // path: a header created there later would shadow.
    if info.forced_include {
        search.insert(0, ".".to_string());
    }
    manifest::record(
        &files,
        &search,
        &ctx.cwd,
        start,
        result,
        true,
        bases,
        Some(&ctx.cfg.dir),
    )
    .map_err(|e| format!("{e:?}"))
}

/// The include search list of this command (`-v /E` on an empty file), kept on disk per
/// (compiler, arguments, environment, cwd) so that only the first miss pays a spawn.
fn search_dirs(
    ctx: &mut Ctx,
    compiler: &ResolvedCompiler,
    info: &front::MsvcInfo,
) -> Option<Vec<String>> {
    let args = &info.search_args;
    let mut h = KeyHasher::new("msvc-search-list");
    h.str("compiler", &compiler.path.to_string_lossy());
    if let Ok(id) = identity::identity(compiler, None, &ctx.cfg.dir) {
        h.field("identity", &id.0);
    }
    for a in args {
        h.field("arg", a.as_encoded_bytes());
    }
    for var in KEYED_ENV.iter().chain(MSVC_ENV) {
        if let Some(v) = crate::util::env::var_os(var) {
            h.field(var, v.as_encoded_bytes());
        }
    }
    h.field("cwd", ctx.cwd.as_os_str().as_encoded_bytes());
    super::c::cached_search_list(ctx, compiler, args, h)
}

/// The common ingredients plus the MSVC ones (docs/msvc.md).
fn ingredients(
    h: &mut KeyHasher,
    ctx: &Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    ident: &Key,
) {
    common_ingredients(h, ctx, compiler, parsed, ident);
    h.str("msvc-key-version", MSVC_KEY_VERSION);
    for var in MSVC_ENV {
        if let Some(v) = crate::util::env::var_os(var) {
            h.field(var, v.as_encoded_bytes());
        }
    }
    let shows = parsed
        .msvc
        .as_ref()
        .is_some_and(|i| i.show_includes != ShowIncludes::No);
    if shows && !ctx.cfg.basedirs.is_empty() {
        // The notes the user asked for name headers by the paths of this checkout
        // (a build system reads them as dependencies): never share them across checkouts.
        h.field("notes-cwd", ctx.cwd.as_os_str().as_encoded_bytes());
    }
    if parsed.records_command_line {
        // CodeView's build info names the compiler's path.
        h.field(
            "compiler-path",
            compiler.path.as_os_str().as_encoded_bytes(),
        );
    }
}

/// Preprocessor-mode result key: the ingredients plus the `/E` text.
fn result_key(
    ctx: &Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    ident: &Key,
    text: &[u8],
) -> Key {
    let mut h = KeyHasher::new("result");
    ingredients(&mut h, ctx, compiler, parsed, ident);
    if ctx.cfg.basedirs.is_empty() {
        h.blob("source", text);
    } else {
        let t = crate::util::path::rewrite_line_markers(text, &ctx.cwd, &ctx.cfg.basedirs);
        h.blob("source", &t);
    }
    h.finish()
}

/// Direct-mode manifest key: the ingredients plus the source file's content.
fn manifest_key(
    ctx: &Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    ident: &Key,
    source: &Key,
) -> Key {
    let mut h = KeyHasher::new("manifest");
    // 2: sets recorded before a `..` after a symlink was refused may watch the wrong
    // directory; they are not looked up again. 3: manifests in the "CPM2" format (watches
    // with `covers`), which earlier versions would take for corrupt ones.
    h.str("manifest-version", "3");
    ingredients(&mut h, ctx, compiler, parsed, ident);
    h.field("source-file", &source.0);
    h.finish()
}
