//! The local disk cache: a sharded directory coordinated by file locks and atomic renames.
//!
//! Layout (the format version is in the directory name, so a format change never needs
//! migration code, only a new directory):
//! ```text
//! <dir>/CACHEDIR.TAG
//! <dir>/v1/<h0>/lock          flock'd while a writer updates this shard
//! <dir>/v1/<h0>/stats         counters + the shard's size bookkeeping (stats.rs)
//! <dir>/v1/<h0>/<h1>/<key>    entries; <h0><h1> are the key's first two hex digits
//! ```
//! 16 shards × 16 leaf directories: ccache's proven fan-out; a 10 GB cache of ~100 kB
//! entries keeps ~400 files per leaf. Each shard may hold 1/16 of the size bound; a write
//! that pushes a shard past its share evicts the least recently used entries (mtime, which
//! a hit refreshes when it is older than [`LRU_GRAIN`]) down to 90% of the share, so eviction runs once per ~10% of growth
//! rather than on every write. Entries are written to a temporary file beside their final
//! name and renamed into place: readers need no lock and never see a partial entry.
//! A reader racing with eviction keeps the inode it opened. Reading is lock-free; only
//! renames, deletions and stats updates take the shard lock.
//!
//! What this module does not do: decide what an entry contains (entry/), or count hits
//! and misses (the pipeline passes it counter deltas to persist).

use crate::error::Fault;
use crate::hash::Key;
use crate::stats::{self, Counters};
use crate::storage::Storage;
use crate::util::fs::{
    atomic_write, create_dir_all_private, create_private, file_mode, fix_mode, temp_path_beside,
};
use fs2::FileExt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

pub const SHARDS: u8 = 16;
/// Eviction target as a fraction of a shard's share.
const EVICT_TO: f64 = 0.9;
/// A lock held longer than this means a stuck process (a compile never holds the lock:
/// only short renames and counter updates do), so give up and count a fault.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// Temporary files older than this are leftovers of a crashed writer.
const STALE_TEMP: Duration = Duration::from_secs(3600);
const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by cachepot.\n\
# For information about cache directory tags see https://bford.info/cachedir/\n";

pub struct LocalStore {
    dir: PathBuf,
    v1: PathBuf,
    max_size: u64,
}

/// A held shard lock; released on drop (and by the kernel if the process dies).
struct ShardLock(File);

impl Drop for ShardLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.0);
    }
}

fn hex_digit(n: u8) -> char {
    char::from_digit(n as u32, 16).expect("n < 16")
}

/// Entry files: the 64-hex key, or the key plus `.obj` (an uncompressed object kept for
/// hard-link restores, CACHEPOT_HARD_LINK). Both count in the size bound and are evicted
/// by age alike.
fn is_entry_name(name: &str) -> bool {
    let hex = name.strip_suffix(RAW_SUFFIX).unwrap_or(name);
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

const RAW_SUFFIX: &str = ".obj";

impl LocalStore {
    pub fn new(dir: &Path, max_size: u64) -> LocalStore {
        // The records beside the entries take a share of the same bound.
        super::records::set_bound(max_size);
        LocalStore {
            dir: dir.to_path_buf(),
            v1: dir.join("v1"),
            max_size,
        }
    }

    /// The shard a key belongs to.
    pub fn shard_of(key: &Key) -> u8 {
        key.0[0] >> 4
    }

    fn shard_dir(&self, shard: u8) -> PathBuf {
        self.v1.join(hex_digit(shard).to_string())
    }

    pub fn entry_path(&self, key: &Key) -> PathBuf {
        let hex = key.hex();
        self.v1.join(&hex[0..1]).join(&hex[1..2]).join(hex)
    }

    /// Where the uncompressed object of `key` is kept for hard-link restores.
    pub fn raw_path(&self, key: &Key) -> PathBuf {
        let mut p = self.entry_path(key).into_os_string();
        p.push(RAW_SUFFIX);
        PathBuf::from(p)
    }

    /// Keep an uncompressed, read-only copy of an object for hard-link restores.
    pub fn put_raw(&self, key: &Key, data: &[u8]) -> Result<(), Fault> {
        let shard = Self::shard_of(key);
        let dest = self.raw_path(key);
        let leaf = dest.parent().expect("entry paths have a parent");
        self.ensure_shard(shard)?;
        create_dir_all_private(leaf).map_err(|e| Fault::io("write", leaf, &e))?;
        let tmp = temp_path_beside(&dest);
        let written = create_private(&tmp).and_then(|mut f| {
            f.write_all(data)?;
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(0o444))
        });
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(Fault::io("write", &tmp, &e));
        }
        let _lock = self.lock(shard)?;
        let old = fs::metadata(&dest).ok().map(|m| m.len());
        if let Err(e) = fs::rename(&tmp, &dest) {
            let _ = fs::remove_file(&tmp);
            return Err(Fault::io("write", &dest, &e));
        }
        let mut c = self.read_counters(shard);
        c.add_signed(stats::SIZE, data.len() as i64 - old.unwrap_or(0) as i64);
        if old.is_none() {
            c.incr(stats::ENTRIES);
        }
        if c.get(stats::SIZE) > self.share() {
            self.evict_locked(shard, (self.share() as f64 * EVICT_TO) as u64, &mut c);
        }
        self.write_counters(shard, &c)
    }

    fn share(&self) -> u64 {
        self.max_size / SHARDS as u64
    }

    /// Create the cache root (owner-only, with CACHEDIR.TAG) and a shard directory.
    fn ensure_shard(&self, shard: u8) -> Result<PathBuf, Fault> {
        let sd = self.shard_dir(shard);
        if sd.is_dir() {
            return Ok(sd);
        }
        if !self.dir.is_dir() {
            create_dir_all_private(&self.dir).map_err(|e| Fault::io("cache_dir", &self.dir, &e))?;
        }
        let tag = self.dir.join("CACHEDIR.TAG");
        if !tag.exists() {
            atomic_write(&tag, CACHEDIR_TAG.as_bytes(), file_mode())
                .map_err(|e| Fault::io("cache_dir", &tag, &e))?;
        }
        create_dir_all_private(&sd).map_err(|e| Fault::io("cache_dir", &sd, &e))?;
        Ok(sd)
    }

    fn lock(&self, shard: u8) -> Result<ShardLock, Fault> {
        let path = self.shard_dir(shard).join("lock");
        let open = || {
            fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(file_mode())
                .open(&path)
        };
        // The shard is made only when the open says it is missing: a stat on every hit
        // for a directory that exists from the first compile on.
        let file = match open() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.ensure_shard(shard)?;
                open()
            }
            r => r,
        }
        .and_then(|f| crate::util::fs::fix_mode(&f, file_mode()).map(|_| f))
        .map_err(|e| Fault::io("lock", &path, &e))?;
        let start = Instant::now();
        let mut wait = Duration::from_micros(200);
        loop {
            match file.try_lock_exclusive() {
                Ok(()) => return Ok(ShardLock(file)),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.raw_os_error() == Some(libc::EWOULDBLOCK) =>
                {
                    if start.elapsed() > LOCK_TIMEOUT {
                        return Err(Fault::new(
                            "lock",
                            format!("{}: timed out after {:?}", path.display(), LOCK_TIMEOUT),
                        ));
                    }
                    // Back off: lock holders only rename files and rewrite a few lines.
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_millis(20));
                }
                Err(e) => return Err(Fault::io("lock", &path, &e)),
            }
        }
    }

    fn read_counters(&self, shard: u8) -> Counters {
        match crate::util::fs::read_record(&self.shard_dir(shard).join("stats")) {
            Ok(t) => Counters::parse(&t),
            Err(_) => Counters::default(),
        }
    }

    /// The counters for a reader that holds no lock (`--show-stats`): writers update the
    /// file in place, so read it under the lock too (after a lock timeout, as it is).
    fn read_counters_unlocked(&self, shard: u8) -> Counters {
        if !self.shard_dir(shard).is_dir() {
            return Counters::default();
        }
        let _lock = self.lock(shard);
        self.read_counters(shard)
    }

    /// The stats file, opened for reading and writing (created when missing).
    fn open_stats(&self, shard: u8) -> Result<(File, PathBuf), Fault> {
        let path = self.shard_dir(shard).join("stats");
        // Non-blocking: a FIFO put in its place must not hang the build (reads then
        // fail, and so does the positioned write: a counted fault).
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(file_mode())
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| Fault::io("stats", &path, &e))?;
        Ok((f, path))
    }

    /// Under the shard lock, on every hit and miss: rewritten in place, never replaced.
    /// Replacing it (temp file, rename, old inode freed) cost 0.3-1 ms on ext4, most of a
    /// hit's file system time.
    fn write_counters(&self, shard: u8, c: &Counters) -> Result<(), Fault> {
        let (f, path) = self.open_stats(shard)?;
        write_counters_to(&f, &path, c)
    }

    /// Add `delta` to a shard's counters.
    pub fn record(&self, shard: u8, delta: &Counters) -> Result<(), Fault> {
        if delta.is_empty() {
            return Ok(());
        }
        let _lock = self.lock(shard)?;
        // One open for the read and the write: this runs on every hit.
        let (mut f, path) = self.open_stats(shard)?;
        // Room for the whole file up front: one read and the one that finds its end,
        // where an empty String grows through reads of 32, 32, 64, 128... bytes.
        let mut text = String::with_capacity(4096);
        // Bounded: a symlink to /dev/zero in its place must not read forever.
        let mut c = match io::Read::read_to_string(
            &mut io::Read::take(&mut f, crate::util::fs::RECORD_LIMIT),
            &mut text,
        ) {
            Ok(_) => Counters::parse(&text),
            Err(_) => Counters::default(),
        };
        c.merge(delta);
        write_counters_to(&f, &path, &c)
    }

    /// Store an entry and add `delta` to its shard's counters under one lock.
    pub fn put_with_stats(&self, key: &Key, data: &[u8], delta: &Counters) -> Result<(), Fault> {
        let shard = Self::shard_of(key);
        if data.len() as u64 > (self.share() as f64 * EVICT_TO) as u64 {
            // Keeping it would break the size bound at once; it is not a fault.
            log::info!(
                "entry {} of {} bytes is larger than the shard share of the size bound; not stored",
                key.hex(),
                data.len()
            );
            return self.record(shard, delta);
        }
        let dest = self.entry_path(key);
        let leaf = dest.parent().expect("entry paths have a parent");
        self.ensure_shard(shard)?;
        create_dir_all_private(leaf).map_err(|e| Fault::io("write", leaf, &e))?;
        let tmp = temp_path_beside(&dest);
        let written = create_private(&tmp).and_then(|mut f| f.write_all(data));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(Fault::io("write", &tmp, &e));
        }
        let lock = match self.lock(shard) {
            Ok(l) => l,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let old = fs::metadata(&dest).ok().map(|m| m.len());
        if let Err(e) = fs::rename(&tmp, &dest) {
            let _ = fs::remove_file(&tmp);
            return Err(Fault::io("write", &dest, &e));
        }
        let mut c = self.read_counters(shard);
        // A lost or damaged stats file has no size bookkeeping: recount by walking.
        // (A shard whose size is 0 has no line either; walking it is cheap.)
        let size_unknown = !c.0.contains_key(stats::SIZE);
        c.merge(delta);
        c.add_signed(stats::SIZE, data.len() as i64 - old.unwrap_or(0) as i64);
        if old.is_none() {
            c.incr(stats::ENTRIES);
        }
        if size_unknown || c.get(stats::SIZE) > self.share() {
            self.evict_locked(shard, (self.share() as f64 * EVICT_TO) as u64, &mut c);
        }
        let r = self.write_counters(shard, &c);
        drop(lock);
        r
    }

    /// Remove an entry (found corrupt) and add `delta` to its shard's counters.
    pub fn remove_with_stats(&self, key: &Key, delta: &Counters) -> Result<(), Fault> {
        let shard = Self::shard_of(key);
        let _lock = self.lock(shard)?;
        let path = self.entry_path(key);
        let mut c = self.read_counters(shard);
        if let Ok(m) = fs::symlink_metadata(&path) {
            if fs::remove_file(&path).is_ok() {
                c.add_signed(stats::SIZE, -(m.len() as i64));
                c.add_signed(stats::ENTRIES, -1);
            }
        }
        c.merge(delta);
        self.write_counters(shard, &c)
    }

    /// Walk one shard: entries as (mtime, size, path); stale temporary files are removed.
    fn scan_shard(&self, shard: u8) -> Vec<(SystemTime, u64, PathBuf)> {
        let mut out = Vec::new();
        let sd = self.shard_dir(shard);
        for leaf in 0..16u8 {
            let ld = sd.join(hex_digit(leaf).to_string());
            let Ok(rd) = fs::read_dir(&ld) else { continue };
            for ent in rd.flatten() {
                let name = ent.file_name();
                let name = name.to_string_lossy();
                let Ok(meta) = ent.metadata() else { continue };
                let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                if is_entry_name(&name) && meta.is_file() {
                    out.push((mtime, meta.len(), ent.path()));
                } else if name.contains(".tmp.") {
                    let age = SystemTime::now().duration_since(mtime).unwrap_or_default();
                    if age > STALE_TEMP {
                        let _ = fs::remove_file(ent.path());
                    }
                }
            }
        }
        out
    }

    /// Evict least recently used entries until the shard holds at most `target` bytes;
    /// the shard lock must be held. Leaves exact size and entry counts in `c`.
    fn evict_locked(&self, shard: u8, target: u64, c: &mut Counters) {
        let mut entries = self.scan_shard(shard);
        entries.sort();
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        let mut count = entries.len() as u64;
        let mut evicted = 0u64;
        for (_, size, path) in &entries {
            if total <= target {
                break;
            }
            match fs::remove_file(path) {
                Ok(()) => {
                    total -= size;
                    count -= 1;
                    evicted += 1;
                }
                Err(e) => log::warn!("eviction: cannot remove {}: {e}", path.display()),
            }
        }
        log::debug!("shard {shard:x}: evicted {evicted} entries, {total} bytes left");
        c.0.insert(stats::SIZE.to_string(), total);
        c.0.insert(stats::ENTRIES.to_string(), count);
        c.add("evictions", evicted);
    }

    /// `--cleanup`: bring every shard within its share now.
    pub fn cleanup(&self) -> Result<(), Fault> {
        for shard in 0..SHARDS {
            if !self.shard_dir(shard).is_dir() {
                continue;
            }
            let _lock = self.lock(shard)?;
            let mut c = self.read_counters(shard);
            let total: u64 = self.scan_shard(shard).iter().map(|e| e.1).sum();
            let target = if total > self.share() {
                (self.share() as f64 * EVICT_TO) as u64
            } else {
                self.share()
            };
            self.evict_locked(shard, target, &mut c);
            self.write_counters(shard, &c)?;
        }
        let p = super::records::prune_all(&self.dir, self.max_size);
        log::info!(
            "cleanup: removed {} digest, facts and search-list records ({} bytes)",
            p.records,
            p.bytes
        );
        Ok(())
    }

    /// `--clear`: drop every entry, keep the statistics.
    pub fn clear(&self) -> Result<(), Fault> {
        for shard in 0..SHARDS {
            if !self.shard_dir(shard).is_dir() {
                continue;
            }
            let _lock = self.lock(shard)?;
            let mut c = self.read_counters(shard);
            self.evict_locked(shard, 0, &mut c);
            c.0.remove("evictions");
            let mut prev = self.read_counters(shard);
            prev.0.insert(stats::SIZE.to_string(), c.get(stats::SIZE));
            prev.0
                .insert(stats::ENTRIES.to_string(), c.get(stats::ENTRIES));
            self.write_counters(shard, &prev)?;
        }
        Ok(())
    }

    /// `--zero-stats`.
    pub fn zero_stats(&self) -> Result<(), Fault> {
        for shard in 0..SHARDS {
            if !self.shard_dir(shard).is_dir() {
                continue;
            }
            let _lock = self.lock(shard)?;
            let c = self.read_counters(shard).zeroed();
            self.write_counters(shard, &c)?;
        }
        Ok(())
    }

    /// Sum of every shard's counters.
    pub fn counters(&self) -> Counters {
        let mut total = Counters::default();
        for shard in 0..SHARDS {
            total.merge(&self.read_counters_unlocked(shard));
        }
        total
    }

    /// Exact size and entry count, by walking (maintenance commands only).
    pub fn usage(&self) -> (u64, u64) {
        let mut size = 0;
        let mut n = 0;
        for shard in 0..SHARDS {
            for (_, s, path) in self.scan_shard(shard) {
                size += s;
                // A hard-link/clone copy is part of its entry, not an entry of its own.
                if !path.to_string_lossy().ends_with(RAW_SUFFIX) {
                    n += 1;
                }
            }
        }
        (size, n)
    }
}

/// Write counters over an open stats file in place. Shorter text is padded with newlines
/// (blank lines parse as nothing), so one `pwrite` leaves no stale tail; a file that has
/// grown unreasonably (damage) is cut to size.
fn write_counters_to(f: &File, path: &Path, c: &Counters) -> Result<(), Fault> {
    use std::os::unix::fs::FileExt as _;
    let io = |e: io::Error| Fault::io("stats", path, &e);
    let old = f.metadata().map_err(io)?.len();
    if old == 0 {
        fix_mode(f, file_mode()).map_err(io)?;
    }
    let mut text = c.render().into_bytes();
    let pad = old <= text.len() as u64 + 4096;
    if pad && (text.len() as u64) < old {
        text.resize(old as usize, b'\n');
    }
    f.write_all_at(&text, 0).map_err(io)?;
    if !pad {
        f.set_len(text.len() as u64).map_err(io)?;
    }
    Ok(())
}

/// How finely eviction tells entries apart by last use: a hit leaves an entry whose
/// mtime is at most this old as it is (the write of an inode saved on every hit of a
/// rebuild soon after the build that stored it). Eviction removes the oldest entries
/// first; among those used within this span the order may be off by at most this much.
const LRU_GRAIN: Duration = Duration::from_secs(600);

/// Whether an entry's mtime is within [`LRU_GRAIN`] before now. One from the future (a
/// clock set back, another host's clock on a shared file system) is not: touching it
/// puts it right.
fn young(meta: &fs::Metadata) -> bool {
    meta.modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age < LRU_GRAIN)
}

impl Storage for LocalStore {
    fn name(&self) -> &str {
        "local"
    }

    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, Fault> {
        let path = self.entry_path(key);
        // Regular files only, no larger than the whole cache may be (read_bounded).
        match crate::util::fs::read_bounded_with_meta(&path, self.max_size.max(1)) {
            Ok((data, meta)) => {
                // LRU: a hit makes the entry young again. Failure only costs eviction
                // order. One utimensat by path (setting it through the file `fs::read`
                // opened measured slower: 14 more page faults and about 0.2 ms per hit),
                // and none for an entry already younger than LRU_GRAIN.
                if !young(&meta) {
                    if let Err(e) = crate::util::fs::touch_mtime(&path) {
                        log::debug!("cannot touch {} (LRU order only): {e}", path.display());
                    }
                }
                Ok(Some(data))
            }
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.kind() == io::ErrorKind::NotADirectory =>
            {
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::FileTooLarge => {
                // Stored under a larger size bound than today's: it would be evicted
                // at the next store anyway. Dropped now, as a miss, not a fault.
                log::info!("{}: {e}; dropped", path.display());
                let _ = fs::remove_file(&path);
                Ok(None)
            }
            Err(e) => Err(Fault::io("read", &path, &e)),
        }
    }

    fn put(&self, key: &Key, entry: &[u8]) -> Result<(), Fault> {
        self.put_with_stats(key, entry, &Counters::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::digest;

    /// A store in a directory of its own: tests run in parallel, and two with the same
    /// size bound shared one (put_get_and_account then saw clear_keeps_stats' entry).
    fn store(max: u64) -> (LocalStore, PathBuf) {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("cachepot-local-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        (LocalStore::new(&d, max), d)
    }

    #[test]
    fn put_get_and_account() {
        let (s, d) = store(1 << 30);
        let k = digest(b"a");
        assert!(s.get(&k).unwrap().is_none());
        s.put(&k, b"hello").unwrap();
        assert_eq!(s.get(&k).unwrap().unwrap(), b"hello");
        s.put(&k, b"hello!").unwrap();
        assert_eq!(s.counters().get(stats::SIZE), 6);
        assert_eq!(s.counters().get(stats::ENTRIES), 1);
        assert_eq!(s.usage(), (6, 1));
        assert!(d.join("CACHEDIR.TAG").exists());
        fs::remove_dir_all(d).unwrap();
    }

    /// A hit makes an entry young again, unless it is already younger than LRU_GRAIN;
    /// one dated in the future is put right.
    #[test]
    fn hits_refresh_the_mtime_of_older_entries_only() {
        let (s, d) = store(1 << 29);
        let k = digest(b"lru");
        s.put(&k, b"entry").unwrap();
        let path = s.entry_path(&k);
        let mtime =
            |p: &Path| filetime::FileTime::from_last_modification_time(&fs::metadata(p).unwrap());
        let now = filetime::FileTime::now().unix_seconds();
        for (age, touched) in [(7200, true), (60, false), (-3600, true)] {
            let t = filetime::FileTime::from_unix_time(now - age, 0);
            filetime::set_file_mtime(&path, t).unwrap();
            assert!(s.get(&k).unwrap().is_some());
            let after = mtime(&path).unix_seconds();
            if touched {
                assert!(
                    (after - now).abs() <= 60,
                    "age {age}: mtime now {after}, not ~{now}"
                );
            } else {
                assert_eq!(mtime(&path), t, "age {age}: touched");
            }
        }
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn eviction_holds_the_bound() {
        let (s, d) = store(16 * 10_000);
        for i in 0..200u32 {
            s.put(&digest(&i.to_le_bytes()), &[0u8; 3000]).unwrap();
        }
        let (size, _) = s.usage();
        assert!(size <= 16 * 10_000, "{size}");
        assert_eq!(s.counters().get(stats::SIZE), size);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn clear_keeps_stats() {
        let (s, d) = store(1 << 30);
        let k = digest(b"x");
        let mut delta = Counters::default();
        delta.incr(stats::CACHE_MISSES);
        s.put_with_stats(&k, b"data", &delta).unwrap();
        s.clear().unwrap();
        assert!(s.get(&k).unwrap().is_none());
        assert_eq!(s.counters().get(stats::CACHE_MISSES), 1);
        assert_eq!(s.usage(), (0, 0));
        fs::remove_dir_all(d).unwrap();
    }
    #[test]
    fn stats_are_rewritten_in_place_and_shrink_cleanly() {
        use std::os::unix::fs::MetadataExt;
        let (s, d) = store(1 << 30);
        let mut many = Counters::default();
        for name in ["cache_hits", "cache_misses", "direct_hits", "hitcc:gcc"] {
            many.add(name, 123_456_789);
        }
        s.record(3, &many).unwrap();
        let path = s.shard_dir(3).join("stats");
        let inode = fs::metadata(&path).unwrap().ino();
        s.zero_stats().unwrap();
        let mut one = Counters::default();
        one.incr(stats::CACHE_HITS);
        s.record(3, &one).unwrap();
        // The same file, padded rather than left with a stale tail.
        assert_eq!(fs::metadata(&path).unwrap().ino(), inode);
        assert_eq!(s.read_counters(3).get(stats::CACHE_HITS), 1);
        assert_eq!(s.read_counters(3).get(stats::CACHE_MISSES), 0);
        assert_eq!(s.counters().get(stats::CACHE_HITS), 1);
        // A damaged file far longer than its counters is cut to size.
        fs::write(&path, vec![b'x'; 100_000]).unwrap();
        s.record(3, &one).unwrap();
        assert!(fs::metadata(&path).unwrap().len() < 100);
        assert_eq!(s.read_counters(3).get(stats::CACHE_HITS), 1);
        fs::remove_dir_all(d).unwrap();
    }
}
