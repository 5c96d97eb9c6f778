//! The gcc/clang flow: direct mode first (no process on a hit), then depend mode
//! (compile at once with a complete dep file, key on the files it lists) or
//! preprocessor mode (key on `-E` output; -MMD commands and CACHEPOT_DIRECT=0).
//! diab takes no gcc dependency flags, so its commands go straight to preprocessor mode.
//! The shared stages (lookup, restore, compile, store, statistics) are in `mod.rs`.

use super::*;
use crate::manifest::NotRecordable;

/// The cacheable path: direct mode first (no process on a hit), then either depend mode
/// (compile at once, key from the dep file) or preprocessor mode (key from `-E` output).
pub(super) fn cached_compile(ctx: &mut Ctx, compiler: &ResolvedCompiler, parsed: &Parsed) -> Done {
    let language = parsed.language.expect("parsed commands have a language");
    let ident = match identity::identity(compiler, Some(language), &ctx.cfg.dir) {
        Ok(k) => k,
        Err(e) => {
            let what = format!("{}: {e}", compiler.path.display());
            return compile_after_fault(ctx, compiler, parsed, Fault::new("identity", what));
        }
    };

    let mut direct = None;
    if ctx.cfg.direct
        && !parsed.unmodelled_macro_in_args
        && compiler.family.takes_gcc_dep_flags()
        && language.is_preprocessed_by_compiler()
    {
        let mkey_of = |ctx: &Ctx, src: &Key| manifest_key(ctx, compiler, parsed, &ident, src);
        match direct_first(ctx, parsed, language, mkey_of) {
            Err(hit) => return hit,
            Ok(found) => direct = found,
        }
    }

    if let Some((_, manifest)) = &direct {
        if manifest.preprocessor_only() {
            // An earlier compile of this command read a header calling `__has_include`
            // in a way no include set can record: the preprocessed text decides.
            return preprocessor_mode(ctx, compiler, parsed, &ident, None);
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

/// Depend mode: compile at once with a dep file, and key the result on the files it lists.
fn depend_miss(
    ctx: &mut Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    mkey: &Key,
    manifest: Manifest,
) -> Done {
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
    let Some(produced) = run_files else {
        return Done {
            outcome,
            code,
            key: None,
            entry: None,
        };
    };
    let deps = match deps {
        Ok(d) => d,
        Err(e) => {
            let why = Err(format!("dep file {}: {e}", dep_path.display()));
            return record_depend_result(ctx, parsed, mkey, manifest, why, code, produced);
        }
    };
    match record_set(ctx, compiler, parsed, &deps, start, &Key([0; 32])) {
        Err(why @ (NotRecordable::ComputedHasInclude(_) | NotRecordable::PhysicalDotDot(_))) => {
            // Not stored now: `-E` after the compile would see what the compile itself
            // wrote (`__has_include("main.o")` with `-o main.o`) or what appeared since,
            // and the object would go under the key of another text. The next call runs
            // `-E` first, as preprocessor mode always does.
            log::info!("{why:?}: no manifest can describe this command's headers; it is keyed on its preprocessed text from its next call on");
            let mut manifest = manifest;
            manifest.mark_preprocessor_only();
            store_manifest(ctx, mkey, &manifest);
            let language = parsed.language.expect("has language");
            Done {
                outcome: Outcome::Miss(language),
                code,
                key: None,
                entry: None,
            }
        }
        record => {
            let record = record.map_err(|e| format!("{e:?}"));
            record_depend_result(ctx, parsed, mkey, manifest, record, code, produced)
        }
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
    let (key, deps) = match preprocessed_key(ctx, compiler, parsed, ident) {
        Ok(k) => k,
        // A failed preprocessor: the compile will most likely fail the same way; let it
        // speak for itself.
        Err(reason) => return compile_uncached(ctx, compiler, parsed, reason),
    };

    let done = match preprocessed_hit(ctx, parsed, &key, language) {
        Some(hit) => hit,
        None => {
            let (outcome, code, mut entry) =
                compile_and_store(ctx, compiler, parsed, Some(&key), &[]);
            let mut key = Some(key);
            // The key is the text `-E` saw; the compile reads the files again. One that
            // changed since must not leave its result under that key.
            let changed = || {
                let files = depfile::prerequisites(deps.as_deref().unwrap_or_default());
                manifest::any_changed_since(&files, &ctx.cwd, start)
            };
            if entry.is_some() && deps.is_some() && changed() {
                log::info!("an input changed while it was compiled: not cached");
                entry = None;
                key = None;
            }
            Done {
                outcome,
                code,
                key,
                entry,
            }
        }
    };
    if let (Some((mkey, manifest)), Some(deps), Outcome::Hit(_) | Outcome::Miss(_)) =
        (direct, deps, &done.outcome)
    {
        if done.key.is_some() {
            let recorded = record_set(ctx, compiler, parsed, &deps, start, &key);
            add_to_manifest(ctx, &mkey, manifest, recorded.map_err(|e| format!("{e:?}")));
        }
    }
    done
}

/// Run the preprocessor and key on its text: the result key, and the complete dep file
/// the preprocessor wrote (for the manifest and the changed-input check), when the
/// compiler writes one. The reason not to cache when the preprocessor fails, the text
/// reads a file no dep file lists, or a header has a precompiled `.gch` beside it (the
/// compile would read that instead, while `-E` reads the header's text).
fn preprocessed_key(
    ctx: &mut Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    ident: &Key,
) -> Result<(Key, Option<Vec<u8>>), Reason> {
    let language = parsed.language.expect("has language");
    let temp_dep = (compiler.family.takes_gcc_dep_flags()
        && language.is_preprocessed_by_compiler())
    .then(|| {
        let n = manifest::now_ns();
        std::env::temp_dir().join(format!("cachepot-{}-{n}.d", std::process::id()))
    });
    let text = preprocess(compiler, parsed, &ctx.cwd, temp_dep.as_deref());
    let deps = temp_dep.as_ref().and_then(|t| {
        let d = std::fs::read(t).ok();
        let _ = std::fs::remove_file(t);
        d
    });
    let text = text.map_err(|_| Reason::PreprocessorFailed)?;
    if manifest::reads_unlisted_file(&text) {
        return Err(Reason::UnlistedInput);
    }
    if let Some(d) = &deps {
        let gch = depfile::prerequisites(d)
            .into_iter()
            .skip(1)
            .find(|h| ctx.cwd.join(format!("{h}.gch")).exists());
        if let Some(h) = gch {
            log::info!("{h}.gch exists: not cached");
            return Err(Reason::PrecompiledHeader);
        }
    }
    let key = result_key(ctx, compiler, parsed, ident, &text);
    log::debug!("result key {}", key.hex());
    Ok((key, deps))
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
) -> Result<manifest::IncludeSet, NotRecordable> {
    let search = search_dirs(ctx, compiler, parsed).ok_or(NotRecordable::NoSearchList)?;
    let bases = &ctx.cfg.basedirs;
    let portable = |p: String| crate::util::path::relativize(&p, &ctx.cwd, bases).unwrap_or(p);
    let files: Vec<String> = depfile::prerequisites(deps)
        .into_iter()
        .map(portable)
        .collect();
    let mut search: Vec<String> = search.into_iter().map(portable).collect();
    // gcc looks for a forced include (`-include`, `-imacros`) in the working directory
    // before the include path: a header created there later would shadow.
    let forced = parsed.hashed_args.iter().any(|a| {
        let a = a.to_string_lossy();
        a.starts_with("-include") || a.starts_with("-imacros")
    });
    if forced {
        search.insert(0, ".".to_string());
    }
    manifest::record(
        &files,
        &search,
        &ctx.cwd,
        start,
        result,
        true,
        &ctx.cfg.basedirs,
        Some(&ctx.cfg.dir),
    )
}

/// The include search list of this command, from the compiler's `-v` output, kept on
/// disk per (compiler, arguments, environment, cwd) so only the first miss pays a spawn.
fn search_dirs(ctx: &mut Ctx, compiler: &ResolvedCompiler, parsed: &Parsed) -> Option<Vec<String>> {
    let args = gcc::search_list_args(parsed);
    let mut h = KeyHasher::new("search-list");
    h.str("compiler", &compiler.path.to_string_lossy());
    if let Ok(id) = identity::identity(compiler, parsed.language, &ctx.cfg.dir) {
        h.field("identity", &id.0);
    }
    for a in &args {
        h.field("arg", a.as_encoded_bytes());
    }
    for var in KEYED_ENV {
        if let Some(v) = crate::util::env::var_os(var) {
            h.field(var, v.as_encoded_bytes());
        }
    }
    h.field("cwd", ctx.cwd.as_os_str().as_encoded_bytes());
    for p in &parsed.resolved_paths {
        h.field("resolved", &resolved(p));
    }
    cached_search_list(ctx, compiler, &args, h)
}

/// The search list that `compiler` prints (`-v`) for `args`: from its `search-v1`
/// record named by `h` (everything the list depends on), else by running it and keeping
/// the list. Shared by the gcc-style and MSVC-style front ends.
pub(super) fn cached_search_list(
    ctx: &Ctx,
    compiler: &ResolvedCompiler,
    args: &[std::ffi::OsString],
    h: KeyHasher,
) -> Option<Vec<String>> {
    let file = crate::storage::records::record_path(&ctx.cfg.dir, "search-v1", &h.finish().hex());
    if let Ok(text) = crate::util::fs::read_record(&file) {
        if let Some(rest) = text.strip_prefix("ok\n") {
            return Some(rest.lines().map(str::to_string).collect());
        }
    }
    let out = exec::run_captured(&compiler.path, args, None, true).ok()?;
    let dirs = gcc::parse_search_list(&out.stderr)?;
    let text = format!(
        "ok\n{}",
        dirs.iter().map(|d| format!("{d}\n")).collect::<String>()
    );
    if let Err(e) = crate::storage::records::write(&ctx.cfg.dir, &file, text.as_bytes()) {
        log::debug!("search list: cannot write {}: {e}", file.display());
    }
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
    // 2: sets recorded before a `..` after a symlink was refused may watch the wrong
    // directory; they are not looked up again. 3: manifests in the "CPM2" format (watches
    // with `covers`), which earlier versions would take for corrupt ones.
    h.str("manifest-version", "3");
    common_ingredients(&mut h, ctx, compiler, parsed, ident);
    h.field("source-file", &source.0);
    h.finish()
}
