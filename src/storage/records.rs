//! Pruning of the records kept beside the entries: file digests (`hashes-v1/`), headers'
//! facts packs (`facts-v1/`) and include search lists (`search-v1/`), each under a
//! directory named by the first two hex digits of the record's name. Each is
//! named by a hex digest of what it was made from (a path and its stat, a directory,
//! a command and its working directory), so every edited source, every new checkout
//! path and every new build directory leaves records that nothing will read again: a CI
//! runner that checks out into a fresh directory for every job added one `hashes-v1`
//! record per source file per job. They are all derived data: a missing record costs a
//! rehash or a compiler run, never a wrong result.
//!
//! A pass over one *slot* (the names starting with one pair of hex digits, 1/256 of the
//! records) removes the records not used for [`MAX_IDLE`], then, if the slot still holds
//! more than its share of the bound, the least recently used ones. "Used" is the later of
//! the access time and the modification time: reads keep the access time within a day
//! under Linux's default `relatime` at no cost to the hit path; on a `noatime` mount a
//! record in use can look idle, and removing it costs one rehash. One record write in
//! [`PASS_EVERY`] runs a pass over the slot of the record it wrote ([`after_write`]; hits
//! write records too, when a source's stat is new), and `--cleanup` one over every slot
//! (and removes records of the flat layout earlier versions wrote).
//!
//! Only names a record can have are touched: 64 lower-case hex digits, in the directory
//! named by their first two, or the temporary file of one; symbolic links, whether to a
//! record directory or in it, are not followed.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// The record directories; a record named `<h0h1...>` sits in `<dir>/<h0h1>/` (see
/// [`record_path`]).
const DIRS: [&str; 3] = ["hashes-v1", "facts-v1", "search-v1"];

/// Where the record `name` (hex digits) of the record directory `dir` is kept:
/// `<cache dir>/<dir>/<first two digits>/<name>`, so that a pass over a slot lists one
/// small directory of each kind.
pub fn record_path(cache_dir: &Path, dir: &str, name: &str) -> PathBuf {
    cache_dir.join(dir).join(&name[..2]).join(name)
}

/// Write the record at `path` (from [`record_path`] under `cache_dir`) atomically,
/// creating its directory, then give pruning its turn ([`after_write`]).
pub fn write(cache_dir: &Path, path: &Path, text: &[u8]) -> std::io::Result<()> {
    use crate::util::fs::{atomic_write, create_dir_all_private, file_mode};
    create_dir_all_private(path.parent().expect("records have a directory"))?;
    atomic_write(path, text, file_mode())?;
    if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
        after_write(cache_dir, name);
    }
    Ok(())
}

/// Records not used for this long are removed.
pub const MAX_IDLE: Duration = Duration::from_secs(30 * 24 * 3600);

/// The records may take this fraction of the cache's size bound, in disk blocks.
pub const SHARE_OF_BOUND: u64 = 8;

/// Temporary files older than this are left by writers that died.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// One record write in this many runs a pass over its slot.
pub const PASS_EVERY: u8 = 64;

/// The cache's size bound, for the records' share of it: set once from the
/// configuration, as every invocation is one process with one configuration. Unset (a
/// unit test), passes remove idle records only.
static BOUND: OnceLock<u64> = OnceLock::new();

/// Note the size bound of this process's cache (the first call wins).
pub fn set_bound(max_size: u64) {
    let _ = BOUND.set(max_size);
}

/// What a pass removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub records: u64,
    pub bytes: u64,
}

/// After a record named `name` was written: one write in [`PASS_EVERY`] (chosen by the
/// name's second byte, a digest's, so evenly) runs a pass over the name's slot.
pub fn after_write(cache_dir: &Path, name: &str) {
    if !is_record_name(name) {
        return;
    }
    let byte = |i: usize| u8::from_str_radix(&name[i..i + 2], 16).unwrap_or(1);
    if byte(2).is_multiple_of(PASS_EVERY) {
        let bound = BOUND.get().copied().unwrap_or(u64::MAX);
        let p = prune_slot(cache_dir, byte(0), bound, SystemTime::now());
        if p.records > 0 {
            log::debug!(
                "records: slot {}: removed {} ({} bytes)",
                &name[..2],
                p.records,
                p.bytes
            );
        }
    }
}

/// 64 lower-case hex digits: every record's name.
fn is_record_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `p` is a directory itself, not a symbolic link to one.
fn real_dir(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
}

/// `--cleanup`: a pass over every slot, each directory listed once.
pub fn prune_all(cache_dir: &Path, max_size: u64) -> Pruned {
    let now = SystemTime::now();
    let mut pruned = Pruned::default();
    let mut slots: Vec<Vec<Record>> = (0..256).map(|_| Vec::new()).collect();
    for dir in DIRS {
        let dir = cache_dir.join(dir);
        if !real_dir(&dir) {
            continue;
        }
        for slot in 0..=255u8 {
            let sub = dir.join(format!("{slot:02x}"));
            scan(&sub, now, &mut slots, &mut pruned);
        }
        remove_flat_records(&dir, &mut pruned);
    }
    for found in slots {
        prune(found, max_size, now, &mut pruned);
    }
    pruned
}

/// Remove the idle records of `slot`, then the least recently used ones beyond its share
/// of `max_size`; `now` is the time ages are measured from.
pub fn prune_slot(cache_dir: &Path, slot: u8, max_size: u64, now: SystemTime) -> Pruned {
    let prefix = format!("{slot:02x}");
    let mut pruned = Pruned::default();
    let mut slots: Vec<Vec<Record>> = (0..256).map(|_| Vec::new()).collect();
    for dir in DIRS {
        let dir = cache_dir.join(dir);
        if real_dir(&dir) {
            scan(&dir.join(&prefix), now, &mut slots, &mut pruned);
        }
    }
    prune(
        std::mem::take(&mut slots[slot as usize]),
        max_size,
        now,
        &mut pruned,
    );
    pruned
}

/// Records written straight into `facts-v1/` and `search-v1/` by earlier versions: no
/// version reads them now.
fn remove_flat_records(dir: &Path, pruned: &mut Pruned) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for ent in rd.flatten() {
        let record = ent.file_name().to_str().is_some_and(is_record_name);
        let file = ent.file_type().is_ok_and(|t| t.is_file());
        let Ok(meta) = ent.metadata() else { continue };
        if record && file && fs::remove_file(ent.path()).is_ok() {
            pruned.records += 1;
            pruned.bytes += meta.blocks() * 512;
        }
    }
}

/// A record: when it was last used, the disk space it takes, where it is.
type Record = (SystemTime, u64, PathBuf);

/// Add the records of the slot directory `dir` to `slots`, removing temporary files that
/// writers which died left behind.
fn scan(dir: &Path, now: SystemTime, slots: &mut [Vec<Record>], pruned: &mut Pruned) {
    let Some(slot) = dir
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| n.len() == 2)
        .and_then(|n| u8::from_str_radix(n, 16).ok())
    else {
        return;
    };
    if !real_dir(dir) {
        return;
    }
    let Ok(rd) = fs::read_dir(dir) else { return };
    for ent in rd.flatten() {
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        // A temporary file of an atomic write is `.<record name>.tmp.<...>`.
        let (record_name, temporary) = match name.strip_prefix('.') {
            Some(rest) => match rest.split_once(".tmp.") {
                Some((record, _)) => (record, true),
                None => continue,
            },
            None => (name, false),
        };
        if !is_record_name(record_name) || !record_name.starts_with(&format!("{slot:02x}")) {
            continue;
        }
        // Regular files only: `file_type` does not follow a symbolic link.
        if !ent.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Ok(meta) = ent.metadata() else { continue };
        if temporary {
            // Left by a writer that died; a live one finishes within the hour.
            let stale = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age > STALE_TEMP);
            if stale && fs::remove_file(ent.path()).is_ok() {
                pruned.records += 1;
                pruned.bytes += meta.blocks() * 512;
            }
            continue;
        }
        slots[slot as usize].push((last_use(&meta), meta.blocks() * 512, ent.path()));
    }
}

/// Remove the idle records of one slot, then its least recently used ones beyond the
/// slot's share of `max_size`.
fn prune(found: Vec<Record>, max_size: u64, now: SystemTime, pruned: &mut Pruned) {
    let mut remove = |path: &Path, bytes: u64| match fs::remove_file(path) {
        Ok(()) => {
            pruned.records += 1;
            pruned.bytes += bytes;
            true
        }
        Err(e) => {
            log::debug!("records: cannot remove {}: {e}", path.display());
            false
        }
    };
    let mut kept = Vec::with_capacity(found.len());
    for (used, bytes, path) in found {
        let idle = now.duration_since(used).is_ok_and(|age| age > MAX_IDLE);
        if !(idle && remove(&path, bytes)) {
            kept.push((used, bytes, path));
        }
    }
    let share = max_size / SHARE_OF_BOUND / 256;
    let mut total: u64 = kept.iter().map(|f| f.1).sum();
    if total <= share {
        return;
    }
    // Over its share, a slot goes down to 90% of it, as a shard of entries does, least
    // recently used first.
    kept.sort();
    for (_, bytes, path) in kept {
        if total <= share / 10 * 9 {
            break;
        }
        if remove(&path, bytes) {
            total = total.saturating_sub(bytes);
        }
    }
}

/// The later of a record's access and modification times.
fn last_use(meta: &fs::Metadata) -> SystemTime {
    let m = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let a = meta.accessed().unwrap_or(SystemTime::UNIX_EPOCH);
    m.max(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use filetime::{set_file_times, FileTime};

    const DAY: u64 = 24 * 3600;

    /// A record name: `slot`'s two digits, then `n` in 62.
    fn name(slot: u8, n: u64) -> String {
        format!("{slot:02x}{n:062x}")
    }

    /// `<root>/<dir>/<slot>/<name>`.
    fn at(root: &Path, dir: &str, slot: u8, n: u64) -> PathBuf {
        record_path(root, dir, &name(slot, n))
    }

    fn record(path: &Path, days_ago: u64, now: SystemTime) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "0".repeat(64)).unwrap();
        let t = FileTime::from_system_time(now - Duration::from_secs(days_ago * DAY));
        set_file_times(path, t, t).unwrap();
    }

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn idle_records_go_and_recent_ones_stay_in_every_directory() {
        let d = dir();
        let now = SystemTime::now();
        let r = d.path();
        let old_hash = at(r, "hashes-v1", 0xab, 1);
        let new_hash = at(r, "hashes-v1", 0xab, 2);
        let old_facts = at(r, "facts-v1", 0xab, 3);
        let old_search = at(r, "search-v1", 0xab, 4);
        let new_search = at(r, "search-v1", 0xab, 5);
        let other_slot = at(r, "facts-v1", 0xcd, 6);
        for (p, days) in [
            (&old_hash, 40),
            (&new_hash, 3),
            (&old_facts, 31),
            (&old_search, 90),
            (&new_search, 29),
            (&other_slot, 90),
        ] {
            record(p, days, now);
        }
        let p = prune_slot(r, 0xab, 10 << 30, now);
        assert_eq!(p.records, 3);
        assert!(!old_hash.exists() && !old_facts.exists() && !old_search.exists());
        assert!(new_hash.exists() && new_search.exists());
        assert!(other_slot.exists(), "another slot's record was pruned");
    }

    #[test]
    fn a_recent_read_keeps_an_old_record() {
        let d = dir();
        let now = SystemTime::now();
        let r = at(d.path(), "hashes-v1", 0x12, 1);
        record(&r, 100, now);
        // Read yesterday (the access time relatime keeps), written 100 days ago.
        let written = FileTime::from_system_time(now - Duration::from_secs(100 * DAY));
        let read = FileTime::from_system_time(now - Duration::from_secs(DAY));
        set_file_times(&r, read, written).unwrap();
        assert_eq!(prune_slot(d.path(), 0x12, 10 << 30, now), Pruned::default());
        assert!(r.exists());
    }

    /// The disk space one small record takes here.
    fn record_bytes(d: &Path) -> u64 {
        let probe = d.join("probe");
        fs::write(&probe, "0".repeat(64)).unwrap();
        fs::metadata(&probe).unwrap().blocks() * 512
    }

    #[test]
    fn over_its_share_a_slot_loses_its_least_recently_used_records() {
        let d = dir();
        let now = SystemTime::now();
        // A bound whose slot share holds 10 records; 20 exist, aged 1..=20 days.
        let max_size = record_bytes(d.path()) * 10 * 256 * SHARE_OF_BOUND;
        let paths: Vec<PathBuf> = (1..=20u64)
            .map(|i| {
                let p = at(d.path(), "hashes-v1", 0x7f, i);
                record(&p, i, now);
                p
            })
            .collect();
        let p = prune_slot(d.path(), 0x7f, max_size, now);
        // Down to 90% of the share: 9 records, the most recently used.
        assert_eq!(p.records, 11);
        for (i, path) in paths.iter().enumerate() {
            assert_eq!(path.exists(), i < 9, "record {} days old", i + 1);
        }
    }

    #[test]
    fn removing_idle_records_can_bring_a_slot_within_its_share() {
        let d = dir();
        let now = SystemTime::now();
        // A share of 10 records; 10 in use and 1 idle: within it once the idle one goes.
        let max_size = record_bytes(d.path()) * 10 * 256 * SHARE_OF_BOUND;
        for i in 1..=11u64 {
            record(
                &at(d.path(), "facts-v1", 0x33, i),
                if i > 10 { 60 } else { i },
                now,
            );
        }
        let p = prune_slot(d.path(), 0x33, max_size, now);
        assert_eq!(p.records, 1, "records in use were evicted as well");
    }

    #[test]
    fn cleanup_removes_records_of_the_flat_layout_and_prunes_every_slot() {
        let d = dir();
        let now = SystemTime::now();
        let flat = d.path().join("facts-v1").join(name(0xab, 9));
        let other = d.path().join("facts-v1/notes.txt");
        let idle = [
            at(d.path(), "hashes-v1", 0x00, 1),
            at(d.path(), "facts-v1", 0x7f, 2),
            at(d.path(), "search-v1", 0xff, 3),
        ];
        let fresh = at(d.path(), "search-v1", 0xff, 4);
        record(&flat, 1, now);
        record(&other, 90, now);
        record(&fresh, 1, now);
        for r in &idle {
            record(r, 31, now);
        }
        let p = prune_all(d.path(), 10 << 30);
        assert_eq!(p.records, 4);
        assert!(!flat.exists() && idle.iter().all(|r| !r.exists()));
        assert!(other.exists() && fresh.exists());
    }

    #[test]
    fn one_record_write_in_sixty_four_prunes_the_slot_it_wrote_to() {
        let d = dir();
        let now = SystemTime::now();
        let idle = at(d.path(), "hashes-v1", 0x5c, 1);
        for pick in [1u8, 63, 65] {
            record(&idle, 90, now);
            let written = format!("5c{pick:02x}{:060x}", 7);
            write(
                d.path(),
                &record_path(d.path(), "search-v1", &written),
                b"ok\n",
            )
            .unwrap();
            assert!(idle.exists(), "a write with second byte {pick} ran a pass");
        }
        let written = format!("5c80{:060x}", 8);
        write(d.path(), &record_path(d.path(), "facts-v1", &written), b"x").unwrap();
        assert!(
            !idle.exists(),
            "a write with second byte 0x80 did not prune slot 5c"
        );
    }

    #[test]
    fn stale_temporary_files_go_and_other_names_stay() {
        let d = dir();
        let now = SystemTime::now();
        let slot = d.path().join("facts-v1/ab");
        let stale = slot.join(format!(".{}.tmp.123.0.99", name(0xab, 1)));
        let live = d
            .path()
            .join(format!("search-v1/ab/.{}.tmp.124.0.9a", name(0xab, 2)));
        let keep = [
            slot.join(format!("{}.keep", name(0xab, 3))),
            slot.join("ab56"),
            slot.join(name(0xab, 4).to_uppercase()),
            slot.join(name(0xcd, 5)),
        ];
        record(&stale, 2, now);
        record(&live, 0, now);
        for k in &keep {
            record(k, 90, now);
        }
        fs::create_dir_all(d.path().join("search-v1/ab").join(name(0xab, 6))).unwrap();
        let p = prune_slot(d.path(), 0xab, 10 << 30, now);
        assert_eq!(p.records, 1);
        assert!(!stale.exists(), "a temporary file two days old stayed");
        assert!(live.exists(), "a temporary file being written was removed");
        for k in &keep {
            assert!(k.exists(), "{} is not a record of this slot", k.display());
        }
    }

    #[test]
    fn symbolic_links_are_not_followed() {
        let d = dir();
        let now = SystemTime::now();
        let elsewhere = d.path().join("elsewhere");
        let victim = elsewhere.join("ab").join(name(0xab, 1));
        record(&victim, 90, now);
        // A record directory that is a link, and a link in a slot directory.
        std::os::unix::fs::symlink(&elsewhere, d.path().join("hashes-v1")).unwrap();
        let slot = d.path().join("facts-v1/ab");
        fs::create_dir_all(&slot).unwrap();
        std::os::unix::fs::symlink(&victim, slot.join(name(0xab, 2))).unwrap();
        assert_eq!(prune_slot(d.path(), 0xab, 10 << 30, now), Pruned::default());
        assert_eq!(prune_all(d.path(), 10 << 30), Pruned::default());
        assert!(victim.exists());
        assert!(fs::symlink_metadata(slot.join(name(0xab, 2))).is_ok());
    }
}
