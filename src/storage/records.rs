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
//! record in use can look idle, and removing it costs one rehash. The local store runs a
//! pass over a slot taken from the key of one store in [`PASS_EVERY`], and `--cleanup`
//! over every slot (and removes records of the flat layout earlier versions wrote).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
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

/// Records not used for this long are removed.
pub const MAX_IDLE: Duration = Duration::from_secs(30 * 24 * 3600);

/// The records may take this fraction of the cache's size bound, in disk blocks.
pub const SHARE_OF_BOUND: u64 = 8;

/// Temporary files older than this are left by writers that died.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// One store in this many runs a pass over one slot.
pub const PASS_EVERY: u8 = 64;

/// What a pass removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub records: u64,
    pub bytes: u64,
}

/// Run a pass over `slot` when the stored key's bytes pick this store (one in
/// [`PASS_EVERY`]); the slot is another byte of the key, so passes spread evenly.
pub fn maybe_prune(cache_dir: &Path, key: &[u8; 32], max_size: u64) {
    if key[1].is_multiple_of(PASS_EVERY) {
        let p = prune_slot(cache_dir, key[2], max_size, SystemTime::now());
        if p.records > 0 {
            log::debug!(
                "records: slot {:02x}: removed {} ({} bytes)",
                key[2],
                p.records,
                p.bytes
            );
        }
    }
}

/// `--cleanup`: a pass over every slot, each directory listed once.
pub fn prune_all(cache_dir: &Path, max_size: u64) -> Pruned {
    let now = SystemTime::now();
    let mut pruned = Pruned::default();
    let mut slots: Vec<Vec<Record>> = (0..256).map(|_| Vec::new()).collect();
    for dir in DIRS {
        let dir = cache_dir.join(dir);
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
        scan(
            &cache_dir.join(dir).join(&prefix),
            now,
            &mut slots,
            &mut pruned,
        );
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
        let name = ent.file_name();
        let bytes = name.as_encoded_bytes();
        let record = bytes.len() == 64 && bytes.iter().all(u8::is_ascii_hexdigit);
        let Ok(meta) = ent.metadata() else { continue };
        if record && meta.is_file() && fs::remove_file(ent.path()).is_ok() {
            pruned.records += 1;
            pruned.bytes += meta.blocks() * 512;
        }
    }
}

/// A record: when it was last used, the disk space it takes, where it is.
type Record = (SystemTime, u64, PathBuf);

/// Sort the records of `dir` into `slots` by their names' first byte, removing temporary
/// files that writers which died left behind.
fn scan(dir: &Path, now: SystemTime, slots: &mut [Vec<Record>], pruned: &mut Pruned) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for ent in rd.flatten() {
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        // A temporary file of an atomic write is `.<record name>.tmp.<...>`.
        let (record_name, temporary) = match name.strip_prefix('.') {
            Some(rest) => (rest.split('.').next().unwrap_or(""), name.contains(".tmp.")),
            None => (name, false),
        };
        let slot = record_name
            .get(..2)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        let Some(slot) = slot else { continue };
        if !record_name.bytes().all(|b| b.is_ascii_hexdigit())
            || (record_name.len() != name.len() && !temporary)
        {
            continue;
        }
        let Ok(meta) = ent.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
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
fn prune(mut found: Vec<Record>, max_size: u64, now: SystemTime, pruned: &mut Pruned) {
    found.sort();
    let share = max_size / SHARE_OF_BOUND / 256;
    let mut total: u64 = found.iter().map(|f| f.1).sum();
    // Once over its share, a slot goes down to 90% of it, as a shard of entries does.
    let target = if total > share { share / 10 * 9 } else { share };
    for (used, bytes, path) in found {
        let idle = now.duration_since(used).is_ok_and(|age| age > MAX_IDLE);
        // Oldest first: past the idle ones, stop once within the target.
        if !idle && total <= target {
            break;
        }
        match fs::remove_file(&path) {
            Ok(()) => {
                pruned.records += 1;
                pruned.bytes += bytes;
                total = total.saturating_sub(bytes);
            }
            Err(e) => log::debug!("records: cannot remove {}: {e}", path.display()),
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
        let old_hash = d.path().join("hashes-v1/ab/ab01");
        let new_hash = d.path().join("hashes-v1/ab/ab02");
        let old_facts = d.path().join("facts-v1/ab/ab03");
        let old_search = d.path().join("search-v1/ab/ab04");
        let new_search = d.path().join("search-v1/ab/ab05");
        let other_slot = d.path().join("facts-v1/cd/cd06");
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
        let p = prune_slot(d.path(), 0xab, 10 << 30, now);
        assert_eq!(p.records, 3);
        assert!(!old_hash.exists() && !old_facts.exists() && !old_search.exists());
        assert!(new_hash.exists() && new_search.exists());
        assert!(other_slot.exists(), "another slot's record was pruned");
    }

    #[test]
    fn a_recent_read_keeps_an_old_record() {
        let d = dir();
        let now = SystemTime::now();
        let r = d.path().join("hashes-v1/12/1234");
        record(&r, 100, now);
        // Read yesterday (the access time relatime keeps), written 100 days ago.
        let written = FileTime::from_system_time(now - Duration::from_secs(100 * DAY));
        let read = FileTime::from_system_time(now - Duration::from_secs(DAY));
        set_file_times(&r, read, written).unwrap();
        assert_eq!(prune_slot(d.path(), 0x12, 10 << 30, now), Pruned::default());
        assert!(r.exists());
    }

    #[test]
    fn over_its_share_a_slot_loses_its_least_recently_used_records() {
        let d = dir();
        let now = SystemTime::now();
        let blocks = {
            let probe = d.path().join("probe");
            fs::write(&probe, "0".repeat(64)).unwrap();
            fs::metadata(&probe).unwrap().blocks() * 512
        };
        // A bound whose slot share holds 10 records; 20 exist, aged 1..=20 days.
        let max_size = blocks * 10 * 256 * SHARE_OF_BOUND;
        let paths: Vec<PathBuf> = (1..=20u64)
            .map(|i| {
                let p = d.path().join(format!("hashes-v1/7f/7f{i:02x}"));
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
    fn cleanup_removes_records_of_the_flat_layout_and_prunes_every_slot() {
        let d = dir();
        let now = SystemTime::now();
        let flat = d.path().join("facts-v1").join("ab".repeat(32));
        let other = d.path().join("facts-v1/notes.txt");
        let idle: Vec<PathBuf> = ["hashes-v1/00/0001", "facts-v1/7f/7f02", "search-v1/ff/ff03"]
            .iter()
            .map(|r| d.path().join(r))
            .collect();
        let fresh = d.path().join("search-v1/ff/ff04");
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
    fn one_store_in_sixty_four_prunes_the_slot_its_key_names() {
        let d = dir();
        let now = SystemTime::now();
        let r = d.path().join("hashes-v1/5c/5c01");
        let mut key = [0u8; 32];
        key[2] = 0x5c;
        for skip in [1u8, 63, 65] {
            record(&r, 90, now);
            key[1] = skip;
            maybe_prune(d.path(), &key, 10 << 30);
            assert!(r.exists(), "key byte {skip} ran a pass");
        }
        key[1] = 128;
        maybe_prune(d.path(), &key, 10 << 30);
        assert!(!r.exists(), "key byte 128 did not prune slot 5c");
    }

    #[test]
    fn stale_temporary_files_go_and_other_names_stay() {
        let d = dir();
        let now = SystemTime::now();
        let stale = d.path().join("facts-v1/ab/.ab12.tmp.123.0.99");
        let live = d.path().join("search-v1/ab/.ab34.tmp.124.0.9a");
        let foreign = d.path().join("facts-v1/ab/ab56.keep");
        record(&stale, 2, now);
        record(&live, 0, now);
        record(&foreign, 90, now);
        fs::create_dir_all(d.path().join("search-v1/ab/abcd")).unwrap();
        let p = prune_slot(d.path(), 0xab, 10 << 30, now);
        assert_eq!(p.records, 1);
        assert!(!stale.exists(), "a temporary file two days old stayed");
        assert!(live.exists(), "a temporary file being written was removed");
        assert!(foreign.exists() && d.path().join("search-v1/ab/abcd").is_dir());
    }
}
