//! The hit side of the pipeline: a direct-mode lookup through a manifest's include sets,
//! a lookup by the preprocessed-text key, and restoring an entry (verify, write every
//! output, replay stdout and stderr). No process runs here.

use super::tiered::fetch;
use super::*;
use crate::util::path::dep_from_portable;

/// Direct mode's first step for the C-family flows: the manifest key (`mkey_of`, given the
/// source's digest), the manifest, and a lookup in it. `Err` is a hit, done; `Ok(None)`
/// when the source cannot be read (direct mode is off for this command); else the key
/// and manifest for recording the miss. The source's digest comes from the stat-keyed
/// digest cache: a hit does not re-read and re-hash an unchanged source (sqlite3.c is
/// 9 MB).
pub(super) fn direct_first(
    ctx: &mut Ctx,
    parsed: &Parsed,
    language: Language,
    mkey_of: impl FnOnce(&Ctx, &Key) -> Key,
) -> Result<Option<(Key, Manifest)>, Done> {
    let src = match crate::digest_cache::digest_file(&ctx.cfg.dir, &ctx.cwd.join(&parsed.input)) {
        Ok(src) => src,
        Err(e) => {
            log::debug!(
                "direct mode off: cannot read {}: {e}",
                parsed.input.display()
            );
            return Ok(None);
        }
    };
    let mkey = mkey_of(ctx, &src);
    let (mut manifest, from_remote) = load_manifest(ctx, &mkey);
    if !ctx.cfg.recache {
        let found = lookup_everywhere(ctx, parsed, &mkey, &mut manifest, from_remote, language);
        if let Some(done) = found {
            return Err(done);
        }
    }
    Ok(Some((mkey, manifest)))
}

/// [`direct_lookup`] in the manifest at hand; when that one is the local cache's, finds
/// nothing and remotes are configured, also in the remotes' manifest. Other machines
/// record include sets after this one stored its manifest (a header changed back and
/// forth, another branch): their sets are merged into `manifest`, so that a miss here
/// pushes a manifest that still names them, and kept locally.
pub(super) fn lookup_everywhere(
    ctx: &mut Ctx,
    parsed: &Parsed,
    mkey: &Key,
    manifest: &mut Manifest,
    from_remote: bool,
    language: Language,
) -> Option<Done> {
    if let Some(done) = direct_lookup(ctx, parsed, mkey, manifest, 0, language) {
        return Some(done);
    }
    if from_remote || ctx.remotes.is_empty() {
        return None;
    }
    let remote = tiered::remote_manifest(ctx, mkey)?;
    // The local sets stay first, already tried: only the merged-in ones are looked at.
    let first_new = manifest.sets.len();
    if manifest.merge_older(remote.sets) == 0 {
        return None;
    }
    tiered::keep_local_manifest(ctx, mkey, manifest);
    direct_lookup(ctx, parsed, mkey, manifest, first_new, language)
}

/// A direct hit: the first include set that still holds, restored. No process runs.
/// `first`: the sets before it were already tried.
pub(super) fn direct_lookup(
    ctx: &mut Ctx,
    parsed: &Parsed,
    mkey: &Key,
    manifest: &Manifest,
    first: usize,
    language: Language,
) -> Option<Done> {
    for set in manifest.sets.iter().skip(first) {
        let refreshed =
            match manifest::validate(set, &ctx.cwd, &ctx.cfg.basedirs, Some(&ctx.cfg.dir)) {
                manifest::Validity::Invalid => continue,
                manifest::Validity::Valid => None,
                manifest::Validity::Refreshed(fresh) => Some(*fresh),
            };
        let key = Key::from_hex(&set.result)?;
        if let Some(code) = from_cache(ctx, parsed, &key) {
            ctx.delta.incr(stats::DIRECT_HITS);
            if let Some(fresh) = refreshed {
                tiered::refresh_manifest(ctx, mkey, manifest, fresh);
            }
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

/// A hit on the result key of the preprocessed text (unless `CACHEPOT_RECACHE`), counted
/// as such.
pub(super) fn preprocessed_hit(
    ctx: &mut Ctx,
    parsed: &Parsed,
    key: &Key,
    language: Language,
) -> Option<Done> {
    if ctx.cfg.recache {
        return None;
    }
    let code = from_cache(ctx, parsed, key)?;
    ctx.delta.incr(stats::PREPROCESSED_HITS);
    Some(Done {
        outcome: Outcome::Hit(language),
        code,
        key: Some(*key),
        entry: None,
    })
}

/// Look up, verify and restore an entry. `Some(exit code)` on a hit; a bad entry is a
/// fault, removed, and the caller compiles.
fn from_cache(ctx: &mut Ctx, parsed: &Parsed, key: &Key) -> Option<i32> {
    let (bytes, remote) = fetch(ctx, key)?;
    let remote = remote || ctx.bundled == Some(*key);
    let raw = ctx.sealer().open(EntryKind::Result, key, &bytes);
    let files = match raw
        .as_ref()
        .map_err(|e| *e)
        .and_then(|r| entry::decode_result(r))
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
    match restore(ctx, parsed, &files, key) {
        Ok(()) => {
            let get = |k: FileKind| {
                files
                    .iter()
                    .find(|(kind, _)| *kind == k)
                    .map(|(_, d)| *d)
                    .unwrap_or(&[])
            };
            exec::replay(
                &unmark(ctx, parsed, get(FileKind::Stdout)),
                &unmark(ctx, parsed, get(FileKind::Stderr)),
            );
            if remote {
                ctx.delta.incr("remote_hits");
            }
            Some(0)
        }
        Err(f) => {
            ctx.fault(f);
            None
        }
    }
}

/// Write every output of the current command line from an entry's files.
fn restore(
    ctx: &Ctx,
    parsed: &Parsed,
    files: &[(FileKind, &[u8])],
    key: &Key,
) -> Result<(), Fault> {
    let find = |k: FileKind| files.iter().find(|(kind, _)| *kind == k).map(|(_, d)| *d);
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
    for (i, out) in parsed.outputs.iter().enumerate() {
        let Some(data) = find(out.kind) else { continue };
        let dest = ctx.cwd.join(&out.path);
        if i == 0 && (ctx.cfg.hard_link || ctx.cfg.file_clone) && link_raw(ctx, key, data, &dest) {
            continue;
        }
        let retargeted;
        let data = match (&parsed.dep_file, out.kind, &hint) {
            (Some(dep), FileKind::DepFile, Some(old)) => {
                let here = unmark(ctx, parsed, &dep_from_portable(data, &ctx.cwd));
                let new = parsed.main_output().to_string_lossy();
                retargeted = if dep.target_fixed {
                    here
                } else if ctx.family == Some(crate::compiler::Family::Gcc) {
                    let (old, new) = (
                        crate::depfile::gcc_target(old),
                        crate::depfile::gcc_target(&new),
                    );
                    crate::depfile::retarget(&here, old, new)
                } else {
                    crate::depfile::retarget(&here, old, &new)
                };
                &retargeted[..]
            }
            (_, FileKind::RustDepInfo | FileKind::DepFile, _) => {
                retargeted = unmark(ctx, parsed, &dep_from_portable(data, &ctx.cwd));
                &retargeted[..]
            }
            _ => data,
        };
        // An output that was there is unlinked before the new file is renamed onto its
        // name (see `replace_file`); one that was not needs no unlink (a failed unlink
        // still locks the directory, which the other jobs of a build write into). Should
        // it have appeared since, the rename still replaces it whole.
        let written = if ctx.absent_outputs.contains(&dest) {
            crate::util::fs::atomic_write(&dest, data, 0o666)
        } else {
            crate::util::fs::replace_file(&dest, data, 0o666)
        };
        written.map_err(|e| Fault::io("restore", &dest, &e))?;
    }
    Ok(())
}

/// CACHEPOT_HARD_LINK: make `dest` a hard link to the cache's uncompressed copy of the main
/// output; CACHEPOT_FILE_CLONE: make it a copy-on-write clone of that copy (an independent
/// file that shares the copy's blocks). Either is made beside `dest`, then renamed over
/// it: never a partial file. False when there is no usable copy or the file system cannot
/// do it; the caller then writes `data`, the bytes from the entry.
fn link_raw(ctx: &Ctx, key: &Key, data: &[u8], dest: &Path) -> bool {
    let raw = ctx.store.raw_path(key);
    // The copy is read-only, but root (or a chmod) can still write to a linked object in
    // place, which changes the copy: it is used only while it still holds the entry's
    // bytes (decoded already; reading the copy back costs less than writing a new file).
    match crate::util::fs::read_bounded(&raw, data.len() as u64) {
        Ok(held) if held == data => {}
        Ok(_) => {
            log::info!("{} was changed in place: not linked again", raw.display());
            let _ = std::fs::remove_file(&raw);
            return false;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return false,
        Err(_) => {
            let _ = std::fs::remove_file(&raw);
            return false;
        }
    }
    let tmp = crate::util::fs::temp_path_beside(dest);
    let (how, made) = if ctx.cfg.hard_link {
        ("hard link", std::fs::hard_link(&raw, &tmp))
    } else {
        ("clone", crate::util::fs::reflink(&raw, &tmp, 0o666))
    };
    let placed = made.and_then(|_| {
        if ctx.absent_outputs.iter().any(|p| p == dest) {
            std::fs::rename(&tmp, dest)
        } else {
            crate::util::fs::rename_replacing(&tmp, dest)
        }
    });
    match placed {
        Ok(()) => {
            log::debug!(
                "restored {} as a {how} of {}",
                dest.display(),
                raw.display()
            );
            true
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            log::debug!(
                "{how} {} -> {}: {e}; copying instead",
                raw.display(),
                dest.display()
            );
            false
        }
    }
}

/// Put the current relocatable directory (rustc's out-dir) back into stored text.
fn unmark(ctx: &Ctx, parsed: &Parsed, data: &[u8]) -> Vec<u8> {
    match &parsed.relocatable_dir {
        Some(dir) => crate::util::path::unmark_dir(data, &ctx.cwd.join(dir)),
        None => data.to_vec(),
    }
}
