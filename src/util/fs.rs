//! File system primitives: owner-only directories, atomic writes (write beside, rename),
//! and unique temporary names. Every error carries its path (see `error::Fault::io`).
//! Knows nothing about cache layout; `storage::local` decides where things go.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Mode for cache directories: owner-only, so other users can neither read entries
/// (they may hold proprietary objects) nor plant poisoned ones.
pub const DIR_MODE: u32 = 0o700;
/// Mode for cache files.
pub const FILE_MODE: u32 = 0o600;

/// `mkdir -p` with owner-only permissions for the directories it creates.
pub fn create_dir_all_private(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name for a temporary file beside `dest` that no other process or thread uses.
/// The `.tmp.` infix lets cleanup recognise and remove leftovers of crashed writers.
pub fn temp_path_beside(dest: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dest.with_file_name(format!(
        ".{}.tmp.{}.{}.{:x}",
        name,
        std::process::id(),
        n,
        nanos
    ))
}

/// Write `data` to `dest` atomically: a reader sees the old file or the whole new one,
/// never a part. `mode` applies to newly created files (subject to the umask).
pub fn atomic_write(dest: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let tmp = temp_path_beside(dest);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        drop(f);
        fs::rename(&tmp, dest)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Create a new private file for writing (fails if it exists).
pub fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = std::env::temp_dir().join(format!("cachepot-fs-test-{}", std::process::id()));
        create_dir_all_private(&dir).unwrap();
        let f = dir.join("x");
        atomic_write(&f, b"one", 0o644).unwrap();
        atomic_write(&f, b"two!", 0o644).unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"two!");
        // No temporary file left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temp_names_are_unique() {
        let p = Path::new("/x/y");
        assert_ne!(temp_path_beside(p), temp_path_beside(p));
    }
}
