//! The rustc flow: always direct mode with a dep-info "depend" miss (there is no
//! preprocessor to fall back on, and sccache's per-hit `--emit=dep-info` pass is exactly
//! the cost we avoid). A hit validates the manifest's source files, `env-dep` values and
//! module-file probes, and restores rlib/rmeta/.d and stderr without running rustc.
//!
//! Manifest key: the common ingredients (identity incl. the resolved toolchain, hashed
//! arguments with base-dir rewriting, crate root path, cwd when debug info embeds it) +
//! the crate root's content + cargo's environment (`CARGO_*` but the jobserver,
//! `OUT_DIR`, `RUSTC_BOOTSTRAP`, `SOURCE_DATE_EPOCH`) + the content of every `--extern`
//! crate and bundled static library (via the on-disk digest cache).

use super::*;
use crate::compiler::rustc;
use crate::digest_cache;

/// Bump when an ingredient of the Rust keys changes, or the manifest format does
/// (rust-2: "CPM2" manifests, which earlier versions would take for corrupt ones).
const RUST_KEY_VERSION: &str = "rust-2";

pub(super) fn cached_compile(ctx: &mut Ctx, compiler: &ResolvedCompiler, parsed: &Parsed) -> Done {
    let key = identity::identity(compiler, None, &ctx.cfg.dir)
        .map_err(|e| Fault::new("identity", format!("{}: {e}", compiler.path.display())))
        .and_then(|ident| manifest_key(ctx, compiler, parsed, &ident));
    let mkey = match key {
        Ok(k) => k,
        Err(f) => return compile_after_fault(ctx, compiler, parsed, f),
    };
    // rustc creates its --out-dir; a hit must too (and so must a miss before the dep-info
    // we may have added, which rustc writes before creating the directory).
    let info = parsed.rust.as_ref().expect("rustc::parse sets rust info");
    let _ = std::fs::create_dir_all(ctx.cwd.join(&info.out_dir));
    let (mut manifest, from_remote) = load_manifest(ctx, &mkey);
    if !ctx.cfg.recache {
        let found = lookup_everywhere(
            ctx,
            parsed,
            &mkey,
            &mut manifest,
            from_remote,
            Language::Rust,
        );
        if let Some(done) = found {
            return done;
        }
    }
    miss(ctx, compiler, parsed, &mkey, manifest)
}

fn manifest_key(
    ctx: &Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    ident: &Key,
) -> Result<Key, Fault> {
    let info = parsed.rust.as_ref().expect("rustc::parse sets rust info");
    let root = ctx.cwd.join(&parsed.input);
    let src =
        digest_cache::digest_file(&ctx.cfg.dir, &root).map_err(|e| Fault::io("read", &root, &e))?;
    let mut h = KeyHasher::new("rust-manifest");
    h.str("rust-key-version", RUST_KEY_VERSION);
    common_ingredients(&mut h, ctx, compiler, parsed, ident);
    h.field("crate-root", &src.0);
    let mut vars: Vec<(String, OsString)> = std::env::vars_os()
        .filter_map(|(k, v)| {
            k.into_string()
                .ok()
                .filter(|k| rustc::keyed_env(k))
                .map(|k| (k, v))
        })
        .collect();
    vars.sort();
    for (k, v) in vars {
        h.str("env", &k);
        h.field("env-value", &key_path(ctx, parsed, &v));
    }
    if let Some(root) = &info.embedded_root {
        h.str("embedded-root", root);
    }
    for (tag, files) in [("extern", &info.externs), ("static-lib", &info.static_libs)] {
        for f in files {
            let d =
                digest_cache::digest_file(&ctx.cfg.dir, f).map_err(|e| Fault::io("read", f, &e))?;
            h.field(tag, &d.0);
        }
    }
    let searched = [
        (
            "searched-native",
            &info.native_dirs,
            is_static_lib as fn(&str) -> bool,
        ),
        ("searched-crate", &info.crate_dirs, is_crate_file),
    ];
    for (tag, dirs, wanted) in searched {
        for f in files_in(dirs, wanted) {
            let d = digest_cache::digest_file(&ctx.cfg.dir, &f)
                .map_err(|e| Fault::io("read", &f, &e))?;
            h.str(tag, &f.file_name().unwrap_or_default().to_string_lossy());
            h.field(tag, &d.0);
        }
    }
    Ok(h.finish())
}

fn is_static_lib(name: &str) -> bool {
    name.ends_with(".a") || name.ends_with(".lib")
}

fn is_crate_file(name: &str) -> bool {
    name.starts_with("lib") && [".rlib", ".rmeta", ".so"].iter().any(|e| name.ends_with(e))
}

/// The regular files (symlinks followed) in `dirs` whose names `wanted` accepts: what a
/// search through `-L` could find. Each directory's files in name order, directories in
/// command-line order; a missing directory has none.
fn files_in(dirs: &[PathBuf], wanted: fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        let mut found: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| wanted(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        out.extend(found);
    }
    out
}

/// The file a `mod` declaration could also resolve to: `a/b.rs` <-> `a/b/mod.rs`.
/// If it appears, rustc fails with E0761, so a hit would be wrong (caching-spec D1).
fn module_alternative(path: &str) -> Option<String> {
    let stem = path.strip_suffix(".rs")?;
    match stem.strip_suffix("/mod") {
        Some(dir) => Some(format!("{dir}.rs")),
        None => Some(format!("{stem}/mod.rs")),
    }
}

fn miss(
    ctx: &mut Ctx,
    compiler: &ResolvedCompiler,
    parsed: &Parsed,
    mkey: &Key,
    manifest: Manifest,
) -> Done {
    let info = parsed.rust.as_ref().expect("rustc::parse sets rust info");
    let start = manifest::now_ns();
    let (outcome, code, produced) = compile(ctx, compiler, parsed, &[]);
    let dep_path = ctx.cwd.join(&info.dep_info);
    let dep = std::fs::read(&dep_path);
    if info.dep_info_added {
        let _ = std::fs::remove_file(&dep_path);
    }
    let Some(produced) = produced else {
        return Done {
            outcome,
            code,
            key: None,
            entry: None,
        };
    };
    let bases = &ctx.cfg.basedirs;
    let recorded = dep
        .map_err(|e| format!("dep-info {}: {e}", dep_path.display()))
        .and_then(|dep| {
            let sources: Vec<String> = depfile::rustc_prerequisites(&dep)
                .into_iter()
                .map(|p| crate::util::path::relativize(&p, &ctx.cwd, bases).unwrap_or(p))
                .collect();
            let mut set = manifest::record(
                &sources,
                &[],
                &ctx.cwd,
                start,
                &Key([0; 32]),
                false,
                bases,
                Some(&ctx.cfg.dir),
            )
            .map_err(|e| format!("{e:?}"))?;
            set.env = rustc::env_deps(&dep);
            set.absent = sources
                .iter()
                .filter_map(|s| module_alternative(s))
                .filter(|alt| !sources.contains(alt))
                .collect();
            Ok(set)
        });
    record_depend_result(ctx, parsed, mkey, manifest, recorded, code, produced)
}

#[cfg(test)]
mod tests {
    #[test]
    fn module_alternatives() {
        assert_eq!(
            super::module_alternative("src/foo.rs").as_deref(),
            Some("src/foo/mod.rs")
        );
        assert_eq!(
            super::module_alternative("src/foo/mod.rs").as_deref(),
            Some("src/foo.rs")
        );
        assert_eq!(super::module_alternative("data.txt"), None);
    }
}
