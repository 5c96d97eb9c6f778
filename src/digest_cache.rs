//! Content digests of input files, remembered on disk by (path, device, inode, size,
//! mtime, ctime), so that invocations after the first hash a file only when it changed.
//! Used for the big inputs every Rust invocation keys on (`--extern` rlibs, static libs).
//! A record is written only when the file's mtime and ctime are safely in the past
//! (a file rewritten within the same clock tick could otherwise keep a stale digest).
//! Layout: `<cache dir>/hashes-v1/<h0h1>/<digest of the stat tuple>` holding 64 hex digits.

use crate::compiler::identity::file_digest;
use crate::hash::{digest, Key};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Files changed this recently are hashed but not remembered.
const RACY_SECS: i64 = 2;

pub fn digest_file(cache_dir: &Path, path: &Path) -> std::io::Result<Key> {
    let m = std::fs::metadata(path)?;
    let tuple = format!("{}\0{}", path.display(), crate::util::fs::stat_fields(&m));
    let name = digest(tuple.as_bytes()).hex();
    let record = crate::storage::records::record_path(cache_dir, "hashes-v1", &name);
    if let Ok(text) = crate::util::fs::read_record(&record) {
        if let Some(k) = Key::from_hex(text.trim()) {
            return Ok(k);
        }
    }
    let d = file_digest(path)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if m.mtime() < now - RACY_SECS && m.ctime() < now - RACY_SECS {
        let stored = crate::storage::records::write(cache_dir, &record, d.hex().as_bytes());
        if let Err(e) = stored {
            log::debug!("digest cache: cannot write {}: {e}", record.display());
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_old_files_and_notices_changes() {
        let d = std::env::temp_dir().join(format!("cachepot-dc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("x.rlib");
        std::fs::write(&f, "one").unwrap();
        let old = filetime::FileTime::from_unix_time(1_000_000, 0);
        filetime::set_file_mtime(&f, old).unwrap();
        // ctime is now, so the first digest is not remembered; both calls agree anyway.
        assert_eq!(digest_file(&d, &f).unwrap(), digest(b"one"));
        std::fs::write(&f, "two").unwrap();
        assert_eq!(digest_file(&d, &f).unwrap(), digest(b"two"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
