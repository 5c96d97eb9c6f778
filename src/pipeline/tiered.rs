//! The storage tiers seen from the pipeline: the local cache first, then the remotes in
//! order; what a remote hit, write or failure does to the statistics and to the on-disk
//! health markers. The backends themselves live in `storage::remote`.

use super::*;

/// An entry from the local cache, else from the first remote that has it (then also
/// written to the local cache). The bool says it came from a remote. The caller verifies.
pub(super) fn fetch(ctx: &mut Ctx, key: &Key) -> Option<(Vec<u8>, bool)> {
    match ctx.store.get(key) {
        Ok(Some(b)) => return Some((b, false)),
        Ok(None) => log::debug!("local: no entry {}", key.hex()),
        Err(f) => ctx.fault(f),
    }
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
            Ok(Some(b)) => {
                if let Err(f) = ctx.store.put(key, &b) {
                    ctx.fault(f);
                }
                return Some((b, true));
            }
            Ok(None) => log::debug!("{name}: no entry {}", key.hex()),
            Err(f) => remote_failed(ctx, &name, f),
        }
    }
    None
}

/// Write an entry to every remote (unless read-only); failures are faults, not errors.
pub(super) fn push(ctx: &mut Ctx, key: &Key, entry: &[u8]) {
    if ctx.cfg.remote_read_only {
        return;
    }
    for i in 0..ctx.remotes.len() {
        if ctx.remotes[i].read_only() {
            continue;
        }
        let name = ctx.remotes[i].name().to_string();
        if crate::storage::remote::skipped(&ctx.cfg.dir, &name) {
            continue;
        }
        let t = std::time::Instant::now();
        let r = ctx.remotes[i].put(key, entry);
        ctx.delta
            .add("remote_latency_ms", t.elapsed().as_millis() as u64);
        match r {
            Ok(()) => ctx.delta.incr("remote_writes"),
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
