//! The storage tiers seen from the pipeline: the local cache first, then the remotes in
//! order; what a remote hit, write or failure does to the statistics and to the on-disk
//! health markers; and manifests, which go to the remotes bundled with their newest
//! result. The backends themselves live in `storage::remote`.

use super::*;

/// An entry from the local cache, else from the first remote that has it (then also
/// written to the local cache). The bool says it came from a remote. The caller verifies.
pub(super) fn fetch(ctx: &mut Ctx, key: &Key) -> Option<(Vec<u8>, bool)> {
    match ctx.store.get(key) {
        Ok(Some(b)) => return Some((b, false)),
        Ok(None) => log::debug!("local: no entry {}", key.hex()),
        Err(f) => ctx.fault(f),
    }
    let b = fetch_remote(ctx, key)?;
    if let Err(f) = ctx.store.put(key, &b) {
        ctx.fault(f);
    }
    Some((b, true))
}

/// A result stored raw locally (under `CACHEPOT_COMPRESSION_MIN_SIZE`), sealed again with
/// compression for the remotes: there the bytes cross a network. None when it is not such
/// a result, when compression is off (level 0) or does not make it smaller.
fn compressed_for_remotes(ctx: &Ctx, key: &Key, entry: &[u8]) -> Option<Vec<u8>> {
    if ctx.cfg.compression_level == 0 || !entry::stored_raw(entry, EntryKind::Result) {
        return None;
    }
    let raw = ctx.sealer().open(EntryKind::Result, key, entry).ok()?;
    let sealer = Sealer {
        compression_min_size: 0,
        ..ctx.sealer()
    };
    let sealed = sealer.seal(EntryKind::Result, key, &raw);
    (!entry::stored_raw(&sealed, EntryKind::Result)).then_some(sealed)
}

/// An entry from the first remote that has it (not written to the local cache).
fn fetch_remote(ctx: &mut Ctx, key: &Key) -> Option<Vec<u8>> {
    for i in 0..ctx.remotes.len() {
        let name = ctx.remotes[i].name().to_string();
        if crate::storage::remote::skipped(&ctx.cfg.dir, &name) {
            continue;
        }
        let t = std::time::Instant::now();
        let got = ctx.remotes[i].get(key);
        ctx.delta
            .add("remote_latency_ms", t.elapsed().as_millis() as u64);
        match got {
            Ok(Some(b)) => return Some(b),
            Ok(None) => log::debug!("{name}: no entry {}", key.hex()),
            Err(f) => remote_failed(ctx, &name, f),
        }
    }
    None
}

/// Write an entry to every remote (unless read-only); failures are faults, not errors.
/// Whether anything is ever written to a remote: some remote is configured and they
/// are not all read-only by `remote_read_only`.
fn writes_remotes(ctx: &Ctx) -> bool {
    !ctx.cfg.remote_read_only && !ctx.remotes.is_empty()
}

pub(super) fn push(ctx: &mut Ctx, key: &Key, entry: &[u8]) {
    if !writes_remotes(ctx) {
        return;
    }
    let compressed = compressed_for_remotes(ctx, key, entry);
    let entry = compressed.as_deref().unwrap_or(entry);
    for i in 0..ctx.remotes.len() {
        if ctx.remotes[i].read_only() {
            continue;
        }
        let name = ctx.remotes[i].name().to_string();
        if crate::storage::remote::skipped(&ctx.cfg.dir, &name) {
            continue;
        }
        let t = std::time::Instant::now();
        let r = ctx.remotes[i].put_kept(key, entry);
        ctx.delta
            .add("remote_latency_ms", t.elapsed().as_millis() as u64);
        match r {
            Ok(true) => ctx.delta.incr("remote_writes"),
            Ok(false) => log::info!("{name} declined {} ({} bytes)", key.hex(), entry.len()),
            Err(f) => remote_failed(ctx, &name, f),
        }
    }
}

/// A remote request failed: count it, and skip that remote for a while (on disk, so the
/// next invocations do not each pay the timeout).
fn remote_failed(ctx: &mut Ctx, name: &str, f: Fault) {
    log::warn!(
        "remote {name} failed, skipping it for {:?}: {f}",
        crate::storage::remote::BACKOFF
    );
    ctx.delta.incr("remote_errors");
    crate::storage::remote::mark_down(&ctx.cfg.dir, name);
}

/// Results up to this size travel to the remotes inside their manifest's bundle too, so
/// that a machine with an empty local cache needs one request per direct-mode hit, not
/// two. Larger ones (big rlibs) are only stored on their own.
const MAX_BUNDLED: usize = 4 << 20;

/// The manifest for `mkey` (empty when there is none), and whether it came from a
/// remote (a local one may lack what other machines recorded: see [`remote_manifest`]).
pub(super) fn load_manifest(ctx: &mut Ctx, mkey: &Key) -> (Manifest, bool) {
    let Some((bytes, remote)) = fetch(ctx, mkey) else {
        return (Manifest::default(), false);
    };
    match open_manifest(ctx, mkey, bytes, remote, true) {
        Some(m) => (m, remote),
        None => {
            ctx.fault(Fault::new(
                "corrupt_entry",
                format!("manifest {}", ctx.store.entry_path(mkey).display()),
            ));
            if let Err(f) = ctx.store.remove_with_stats(mkey, &Counters::default()) {
                log::warn!("cannot remove corrupt manifest: {f}");
            }
            (Manifest::default(), remote)
        }
    }
}

/// The remotes' manifest for `mkey`, for a lookup that found nothing in the local one:
/// other machines may have recorded include sets (and pushed results) since this one
/// stored its manifest. Its result, when bundled, goes to the local cache.
pub(super) fn remote_manifest(ctx: &mut Ctx, mkey: &Key) -> Option<Manifest> {
    let bytes = fetch_remote(ctx, mkey)?;
    // Not kept locally as it is: the caller merges it into the local one.
    let m = open_manifest(ctx, mkey, bytes, true, false);
    if m.is_none() {
        ctx.fault(Fault::new(
            "corrupt_entry",
            format!("remote manifest {}", mkey.hex()),
        ));
    }
    m
}

/// A manifest entry (or a manifest bundle) verified and decoded. None when bad.
fn open_manifest(
    ctx: &mut Ctx,
    mkey: &Key,
    mut bytes: Vec<u8>,
    remote: bool,
    keep_locally: bool,
) -> Option<Manifest> {
    if bytes.get(6) == Some(&(EntryKind::Bundle as u8)) {
        match unbundle(ctx, mkey, &bytes, remote, keep_locally) {
            Some(m) => bytes = m,
            None => bytes.clear(), // a bad bundle: a corrupt manifest, below
        }
    }
    ctx.sealer()
        .open(EntryKind::Manifest, mkey, &bytes)
        .ok()
        .and_then(|raw| Manifest::decode(&raw))
}

/// A manifest bundle from a remote: keep its result in the local cache (when it is a
/// valid entry for the key it names), keep the plain manifest locally in place of the
/// bundle (when `keep_locally`), and return the manifest entry. None when the bundle
/// itself is bad.
fn unbundle(
    ctx: &mut Ctx,
    mkey: &Key,
    bytes: &[u8],
    remote: bool,
    keep_locally: bool,
) -> Option<Vec<u8>> {
    let raw = ctx.sealer().open(EntryKind::Bundle, mkey, bytes).ok()?;
    let (manifest, rkey, result) = entry::decode_bundle(&raw).ok()?;
    if ctx.sealer().open(EntryKind::Result, &rkey, result).is_ok() {
        match ctx.store.put(&rkey, result) {
            Ok(()) if remote => ctx.bundled = Some(rkey),
            Ok(()) => {}
            Err(f) => ctx.fault(f),
        }
    } else {
        log::warn!("manifest bundle {}: its result does not verify", mkey.hex());
    }
    if keep_locally {
        if let Err(f) = ctx.store.put(mkey, manifest) {
            ctx.fault(f);
        }
    }
    Some(manifest.to_vec())
}

/// Add a recorded include set to the manifest and store it; a compile that could not be
/// recorded is logged (it is still cached under its result key).
pub(super) fn add_to_manifest(
    ctx: &mut Ctx,
    mkey: &Key,
    mut manifest: Manifest,
    recorded: Result<manifest::IncludeSet, String>,
) {
    match recorded {
        Ok(set) => {
            manifest.add(set);
            store_manifest(ctx, mkey, &manifest);
        }
        Err(why) => log::info!("no manifest entry: {why}"),
    }
}

/// Store a manifest locally now; it goes to the remotes in `finish` (bundled with the
/// result when there is one to store).
pub(super) fn store_manifest(ctx: &mut Ctx, mkey: &Key, manifest: &Manifest) {
    let entry = keep_local_manifest(ctx, mkey, manifest);
    ctx.pending_manifest = Some((*mkey, entry));
}

/// Store a manifest in the local cache only (the remotes keep their own). Returns the
/// sealed entry.
pub(super) fn keep_local_manifest(ctx: &mut Ctx, mkey: &Key, manifest: &Manifest) -> Vec<u8> {
    let entry = ctx
        .sealer()
        .seal(EntryKind::Manifest, mkey, &manifest.encode());
    if let Err(f) = ctx.store.put(mkey, &entry) {
        ctx.fault(f);
    }
    entry
}

/// Store, in the local cache only, a manifest whose set `fresh` was revalidated with
/// changed watched directories (see [`manifest::Validity::Refreshed`]): later hits then
/// skip the probes. The stat it records is this machine's; remotes keep theirs.
pub(super) fn refresh_manifest(
    ctx: &mut Ctx,
    mkey: &Key,
    manifest: &Manifest,
    fresh: manifest::IncludeSet,
) {
    let mut m = manifest.clone();
    m.add(fresh);
    let entry = ctx.sealer().seal(EntryKind::Manifest, mkey, &m.encode());
    match ctx.store.put(mkey, &entry) {
        Ok(()) => log::debug!("manifest {}: watches refreshed", mkey.hex()),
        Err(f) => ctx.fault(f),
    }
}

/// Send the manifest `store_manifest` left pending to the remotes, bundled with `result`
/// (the result entry this invocation stores) when it is small enough.
pub(super) fn push_pending_manifest(ctx: &mut Ctx, result: Option<(&Key, &[u8])>) {
    let Some((mkey, manifest)) = ctx.pending_manifest.take() else {
        return;
    };
    // The bundle is sealed (compressed) for the remotes alone: without them it was an
    // eighth of a small file's miss (callgrind, lua's lctype.c).
    if !writes_remotes(ctx) {
        return;
    }
    let remote_entry = match result {
        Some((k, e)) if e.len() <= MAX_BUNDLED => ctx.sealer().seal(
            EntryKind::Bundle,
            &mkey,
            &entry::encode_bundle(&manifest, k, e),
        ),
        _ => manifest,
    };
    push(ctx, &mkey, &remote_entry);
}
