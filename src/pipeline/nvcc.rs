//! The nvcc flow: preprocessor mode only, over every pass nvcc would run.
//!
//! ```text
//! identity(nvcc) -> nvcc <args> --dryrun -> plan (compiler::nvcc::plan)
//!   -> identity(host compiler) -> run every preprocessor pass (host + one per arch)
//!   -> result key -> from_cache | compile -> seal
//! ```
//! No single preprocessor output covers an nvcc compile: device code sits behind
//! `__CUDA_ARCH__`, host-only code behind `#ifndef __CUDA_ARCH__`, and each `-gencode`
//! architecture sees its own branch (caching-spec part C). nvcc's own dry run lists every
//! step; the key covers each preprocessor run over the source (their outputs), and the
//! normalized list of steps (every sub-tool's flags, the toolkit location), so whatever a
//! later step (cudafe++, cicc, ptxas, fatbinary, the host compile) reads is either keyed
//! text or a temporary file made from it. A hit therefore runs the dry run and the
//! preprocessors, never the compile; there is no direct mode for nvcc (docs/nvcc.md).

use super::*;
use crate::compiler::nvcc::{self, Plan};

/// Bump whenever an ingredient of the nvcc result key changes (docs/nvcc.md).
const NVCC_KEY_VERSION: &str = "nvcc-1";

/// Environment variables nvcc reads: extra arguments, and the default host compiler.
const NVCC_ENV: &[&str] = &["NVCC_PREPEND_FLAGS", "NVCC_APPEND_FLAGS", "NVCC_CCBIN"];

/// Parse an nvcc command: the options files are read and spliced in, and the words of
/// `NVCC_PREPEND_FLAGS`/`NVCC_APPEND_FLAGS` put around the arguments, as nvcc does.
pub(super) fn parse(cwd: &Path, args: &[OsString]) -> Result<Parsed, Reason> {
    let env_words = |var: &str| -> Result<Vec<OsString>, Reason> {
        match std::env::var(var) {
            Ok(v) => shlex::split(&v)
                .map(|w| w.into_iter().map(OsString::from).collect())
                .ok_or(Reason::UnsupportedOption),
            Err(std::env::VarError::NotPresent) => Ok(Vec::new()),
            Err(std::env::VarError::NotUnicode(_)) => Err(Reason::UnsupportedOption),
        }
    };
    let mut all = env_words("NVCC_PREPEND_FLAGS")?;
    all.extend(args.iter().cloned());
    all.extend(env_words("NVCC_APPEND_FLAGS")?);
    let read = |p: &Path| std::fs::read_to_string(cwd.join(p)).ok();
    let (expanded, files) = nvcc::expand_options_files(&all, &read)?;
    let mut parsed = nvcc::parse(&expanded, args)?;
    parsed.extra_input_files = files.iter().map(|f| cwd.join(f)).collect();
    Ok(parsed)
}

/// The cacheable path of an nvcc command (preprocessor mode; see the module doc).
pub(super) fn cached_compile(ctx: &mut Ctx, compiler: &ResolvedCompiler, parsed: &Parsed) -> Done {
    let language = parsed.language.expect("parsed commands have a language");
    let ident = match identity::identity(compiler, Some(language), &ctx.cfg.dir) {
        Ok(k) => k,
        Err(e) => {
            let what = format!("{}: {e}", compiler.path.display());
            return compile_after_fault(ctx, compiler, parsed, Fault::new("identity", what));
        }
    };
    let plan = match dry_run(compiler, parsed) {
        Ok(p) => p,
        Err(reason) => return compile_uncached(ctx, compiler, parsed, reason),
    };
    let hosts = match host_identities(ctx, &plan) {
        Ok(h) => h,
        Err(f) => return compile_after_fault(ctx, compiler, parsed, f),
    };
    let texts = match run_passes(&plan, &hosts) {
        Some(t) => t,
        // The compile will most likely fail the same way; let it speak for itself.
        None => return compile_uncached(ctx, compiler, parsed, Reason::PreprocessorFailed),
    };
    let key = result_key(ctx, compiler, parsed, &ident, &plan, &hosts, &texts);
    log::debug!("nvcc result key {}", key.hex());
    if let Some(hit) = preprocessed_hit(ctx, parsed, &key, language) {
        return hit;
    }
    let (outcome, code, produced) = compile(ctx, compiler, parsed, &[]);
    let entry = produced.map(|(mut files, stdout, stderr)| {
        for (kind, data) in files.iter_mut() {
            if *kind == FileKind::DepFile {
                *data = tighten_first_rule(data);
            }
        }
        seal_result(ctx, parsed, &key, files, stdout, stderr)
    });
    Done {
        outcome,
        code,
        key: entry.as_ref().map(|_| key),
        entry,
    }
}

/// `nvcc <args> --dryrun`: nvcc's own list of steps, read into a [`Plan`].
fn dry_run(compiler: &ResolvedCompiler, parsed: &Parsed) -> Result<Plan, Reason> {
    let out =
        exec::run_captured(&compiler.path, &parsed.preprocess_args, None, true).map_err(|e| {
            log::warn!("cannot run {} --dryrun: {e}", compiler.path.display());
            Reason::PreprocessorFailed
        })?;
    if !out.status.success() {
        log::debug!("nvcc --dryrun failed with {}", out.status);
        return Err(Reason::PreprocessorFailed);
    }
    let outputs: Vec<&Path> = parsed.outputs.iter().map(|o| o.path.as_path()).collect();
    let plan = nvcc::plan(
        &String::from_utf8_lossy(&out.stderr),
        &parsed.input,
        &outputs,
    );
    if let Err(r) = &plan {
        log::info!("nvcc plan not understood ({}): not cached", r.name());
    }
    plan
}

/// The host compiler of each pass, resolved on the `PATH` nvcc runs it with, and its
/// identity (a `-ccbin` switch or another `gcc` on `PATH` changes the key).
fn host_identities(ctx: &Ctx, plan: &Plan) -> Result<Vec<Host>, Fault> {
    let mut hosts: Vec<(String, PathBuf, Key)> = Vec::new();
    for pass in &plan.passes {
        if hosts.iter().any(|(p, _, _)| *p == pass.program) {
            continue;
        }
        let path = resolve_program(&ctx.cwd, &pass.program, plan.path.as_deref())
            .ok_or_else(|| Fault::new("identity", format!("host compiler {}", pass.program)))?;
        let host = compiler::detect(&path).unwrap_or_else(|| ResolvedCompiler {
            path: path.clone(),
            invoked_name: pass.program.clone(),
            family: compiler::Family::Gcc,
            cxx_driver: false,
            canonical: None,
        });
        let id = identity::identity(&host, None, &ctx.cfg.dir)
            .map_err(|e| Fault::new("identity", format!("{}: {e}", path.display())))?;
        hosts.push((pass.program.clone(), path, id));
    }
    Ok(hosts)
}

/// A host compiler: as the plan names it, where it is, its identity.
type Host = (String, PathBuf, Key);

/// Where a program named in the plan is: a path (relative to the cwd), or the first
/// executable of that name on `search` (nvcc's PATH), else on ours.
fn resolve_program(cwd: &Path, program: &str, search: Option<&str>) -> Option<PathBuf> {
    if program.contains('/') {
        let p = cwd.join(program);
        return p.is_file().then_some(p);
    }
    let ours = crate::util::env::var_os("PATH").unwrap_or_default();
    let search = search.map(OsString::from).unwrap_or(ours);
    std::env::split_paths(&search)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

/// Run every preprocessor pass of the plan (concurrently: they are independent) and
/// return their outputs in plan order. `None` when one fails.
fn run_passes(plan: &Plan, hosts: &[Host]) -> Option<Vec<Vec<u8>>> {
    let programs: Vec<&PathBuf> = plan
        .passes
        .iter()
        .map(|pass| hosts.iter().find(|h| h.0 == pass.program).map(|h| &h.1))
        .collect::<Option<_>>()?;
    let results: Vec<Option<Vec<u8>>> = std::thread::scope(|s| {
        let handles: Vec<_> = plan
            .passes
            .iter()
            .zip(&programs)
            .map(|(pass, program)| {
                s.spawn(move || {
                    let mut cmd = std::process::Command::new(program);
                    cmd.args(&pass.args).stdin(std::process::Stdio::null());
                    if let Some(p) = &plan.path {
                        cmd.env("PATH", p);
                    }
                    match cmd.output() {
                        Ok(out) if out.status.success() => Some(out.stdout),
                        Ok(out) => {
                            log::debug!("preprocessor pass {:?} failed: {}", pass.args, out.status);
                            None
                        }
                        Err(e) => {
                            log::warn!("cannot run {}: {e}", program.display());
                            None
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().ok().flatten())
            .collect()
    });
    results.into_iter().collect()
}

/// The toolkit files that turn the passes' outputs into the products, by (path, size,
/// mtime, ctime, inode): the programs (cudafe++, cicc, ptxas, fatbinary), libdevice, and
/// the toolkit's own headers, because cudafe++ makes the host compile include
/// `crt/host_runtime.h` and `fatbinary_section.h`, which no pass reads. nvcc's identity
/// hashes nvcc itself and its version; a reinstall, an upgrade or an edit rewrites these
/// stamps (hashing ~250 MB per cache dir would cost more than a compile). `include/`'s
/// subdirectories other than `crt/` (cccl's thousands of headers) are read by the passes
/// when used, so their text is keyed already.
fn toolkit_stamps(plan: &Plan) -> Vec<String> {
    let root = plan
        .normalized
        .iter()
        .find_map(|l| l.first().and_then(|w| w.strip_prefix("CUDA_ROOT=")));
    let Some(root) = root else {
        return Vec::new();
    };
    let mut stamps = Vec::new();
    for dir in [
        "bin",
        "nvvm/bin",
        "nvvm/libdevice",
        "include",
        "include/crt",
    ] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(Path::new(root).join(dir))
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        for p in names {
            if let Ok(m) = std::fs::metadata(&p) {
                if m.is_file() {
                    stamps.push(format!(
                        "{} {} {}.{} {}.{} {}",
                        p.display(),
                        m.len(),
                        m.mtime(),
                        m.mtime_nsec(),
                        m.ctime(),
                        m.ctime_nsec(),
                        m.ino()
                    ));
                }
            }
        }
    }
    stamps
}

/// The nvcc result key: the common ingredients (nvcc's identity, arguments, input,
/// environment, options files), nvcc's own variables, the host compilers' identities,
/// the toolkit, every step of the plan, and every pass with its preprocessed text.
fn result_key(
    ctx: &Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    ident: &Key,
    plan: &Plan,
    hosts: &[Host],
    texts: &[Vec<u8>],
) -> Key {
    let mut h = KeyHasher::new("result");
    common_ingredients(&mut h, ctx, compiler, parsed, ident);
    h.str("nvcc-key-version", NVCC_KEY_VERSION);
    for var in NVCC_ENV {
        if let Some(v) = crate::util::env::var_os(var) {
            h.field(var, v.as_encoded_bytes());
        }
    }
    for (_, path, id) in hosts {
        h.field("host-compiler", path.as_os_str().as_encoded_bytes());
        h.field("host-identity", &id.0);
    }
    for stamp in toolkit_stamps(plan) {
        h.str("toolkit-file", &stamp);
    }
    let words = |ws: &[String]| -> Vec<u8> {
        let mut line = Vec::new();
        for w in ws {
            line.extend(key_path(ctx, parsed, OsStr::new(w)));
            line.push(0);
        }
        line
    };
    for step in &plan.normalized {
        h.field("step", &words(step));
    }
    for (pass, text) in plan.passes.iter().zip(texts) {
        h.field("pass", &words(&pass.args));
        let text = if ctx.cfg.basedirs.is_empty() {
            std::borrow::Cow::Borrowed(text.as_slice())
        } else {
            std::borrow::Cow::Owned(crate::util::path::rewrite_line_markers(
                text,
                &ctx.cwd,
                &ctx.cfg.basedirs,
            ))
        };
        h.blob("pass-text", &text);
    }
    h.finish()
}

/// nvcc writes its dep file's first rule as `k.o : k.cu ...`; the stored copy says
/// `k.o: k.cu ...` (the same rule) so that a hit for another `-o` can retarget it.
fn tighten_first_rule(data: &[u8]) -> Vec<u8> {
    let first_line = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    match data[..first_line].windows(3).position(|w| w == b" : ") {
        Some(i) if !data[..i].contains(&b' ') => {
            let mut out = data[..i].to_vec();
            out.extend_from_slice(&data[i + 1..]);
            out
        }
        _ => data.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_file_first_rule_is_tightened_once() {
        assert_eq!(
            tighten_first_rule(b"k.o : k.cu \\\n    a.h\n\na.h :\n"),
            b"k.o: k.cu \\\n    a.h\n\na.h :\n".to_vec()
        );
        assert_eq!(tighten_first_rule(b"k.o: k.cu\n"), b"k.o: k.cu\n".to_vec());
        assert_eq!(tighten_first_rule(b"a b : c\n"), b"a b : c\n".to_vec());
        assert_eq!(tighten_first_rule(b""), b"".to_vec());
    }
}
