//! File system primitives: owner-only directories, atomic writes (write beside, rename),
//! and unique temporary names. Every error carries its path (see `error::Fault::io`).
//! Knows nothing about cache layout; `storage::local` decides where things go.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// `fs::canonicalize` without the C library's heap: std asks realpath(3) to allocate the
/// result, and on a musl build that one call set up musl's malloc (7 system calls and
/// about 6 page faults per process, docs/direct-mode.md) when every other block comes
/// from src/arena.rs. Here realpath writes into a buffer of `PATH_MAX` bytes; a path
/// longer than that goes to std's.
pub fn canonicalize(path: &Path) -> io::Result<PathBuf> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
    let mut buf = [0u8; libc::PATH_MAX as usize];
    // SAFETY: `c` is NUL-terminated and `buf` has the PATH_MAX bytes realpath may write.
    let r = unsafe { libc::realpath(c.as_ptr(), buf.as_mut_ptr().cast()) };
    if r.is_null() {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENAMETOOLONG) => fs::canonicalize(path),
            _ => Err(e),
        };
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok(PathBuf::from(std::ffi::OsString::from_vec(
        buf[..len].to_vec(),
    )))
}

/// Small records of the cache directory (identity, digests, search lists, stats, remote
/// health) are far below this; anything larger is not one of ours.
pub const RECORD_LIMIT: u64 = 1 << 20;

/// Read at most `limit` bytes of `path` without ever blocking on it: opened non-blocking
/// (a FIFO put there has no writer, and would hang the build), refused unless it is a
/// regular file (a symlink to `/dev/zero` never ends) and unless it fits in `limit`.
/// Costs what `fs::read` costs: one open, one fstat, the reads.
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    read_bounded_with_meta(path, limit).map(|(data, _)| data)
}

/// [`read_bounded`], with what fstat said of the file before it was read.
pub fn read_bounded_with_meta(path: &Path, limit: u64) -> io::Result<(Vec<u8>, fs::Metadata)> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let m = f.metadata()?;
    if !m.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    if m.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("{} bytes, more than the {limit} expected", m.len()),
        ));
    }
    // Room for one byte more than fstat said: a read that stops short of the room once
    // the promised size is in is the end of the file, so the usual case is one read(2)
    // (read_to_end would ask again for zero bytes, in 8 KiB pieces above that).
    let mut data = Vec::with_capacity(m.len() as usize + 1);
    super::prefault_spare(&mut data);
    loop {
        if data.len() == data.capacity() {
            if data.len() as u64 > limit {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "grew past its limit",
                ));
            }
            data.reserve(data.len().max(4096));
        }
        let want = data.capacity() - data.len();
        let n = read_spare(&f, &mut data)?;
        // Only a file with a size to trust: procfs says 0 and then reads a page or a
        // record at a time, every read short of the room.
        if n == 0 || (n < want && m.len() > 0 && data.len() as u64 >= m.len()) {
            break;
        }
    }
    if data.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "grew past its limit",
        ));
    }
    Ok((data, m))
}

/// Append all of `f` to `data` with read(2) alone: no fstat or lseek for a size hint,
/// for a buffer reused across many files (it already has room for most of them, and
/// each then takes one read and the one that finds the end).
pub fn read_all_into(f: &File, data: &mut Vec<u8>) -> io::Result<()> {
    loop {
        if data.capacity() - data.len() < 4096 {
            data.reserve(data.capacity().max(16 << 10));
        }
        if read_spare(f, data)? == 0 {
            return Ok(());
        }
    }
}

/// One read(2) into `data`'s spare capacity (retried on EINTR); returns its count.
fn read_spare(f: &File, data: &mut Vec<u8>) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let spare = data.spare_capacity_mut();
    loop {
        // SAFETY: the kernel writes at most spare.len() bytes into memory we own; only
        // the bytes it reports written are then counted as initialised.
        let n = unsafe { libc::read(f.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) };
        if n >= 0 {
            let n = n as usize;
            unsafe { data.set_len(data.len() + n) };
            return Ok(n);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A file's identity and version as text: device, inode, size, and mtime and ctime with
/// nanoseconds. Records named by it (compiler identities, digests, header facts) are
/// never found again once the file changes.
pub fn stat_fields(m: &fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!(
        "{} {} {} {}.{} {}.{}",
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    )
}

/// [`read_bounded`] for text records: invalid UTF-8 is an error like any other damage.
pub fn read_record(path: &Path) -> io::Result<String> {
    String::from_utf8(read_bounded(path, RECORD_LIMIT)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"))
}

/// CACHEPOT_SHARED_GROUP, set once at start-up by [`set_shared_group`].
static SHARED_GROUP: AtomicBool = AtomicBool::new(false);

/// Cache files and directories are owner-only unless the cache is shared by a Unix group
/// (CACHEPOT_SHARED_GROUP): then they are group-readable and -writable, directories are
/// set-group-ID so that everything in them belongs to that group, and the modes are set
/// explicitly so that a member's restrictive umask cannot lock the others out.
pub fn set_shared_group(on: bool) {
    SHARED_GROUP.store(on, Ordering::Relaxed);
}

fn shared_group() -> bool {
    SHARED_GROUP.load(Ordering::Relaxed)
}

/// Mode for cache files (directories: 700, or 2770 when shared): owner-only by default,
/// so other users can neither read entries (they may hold proprietary objects) nor plant
/// poisoned ones.
pub fn file_mode() -> u32 {
    if shared_group() {
        0o660
    } else {
        0o600
    }
}

/// `mkdir -p` with the cache's directory mode for the directories it creates (and only
/// those: existing ancestors are never touched).
pub fn create_dir_all_private(path: &Path) -> io::Result<()> {
    create_dirs(path, shared_group())
}

fn create_dirs(path: &Path, shared: bool) -> io::Result<()> {
    let mode = if shared { 0o2770 } else { 0o700 };
    if path.is_dir() {
        return Ok(());
    }
    // The directories this call will create, deepest first.
    let missing: Vec<&Path> = path
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && fs::symlink_metadata(d).is_err())
        .collect();
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)?;
    if shared {
        // The umask applied at creation; set the group bits for real on what was made.
        for d in missing {
            fs::set_permissions(d, fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

/// Set a new cache file's mode exactly (past the umask) when the cache is group-shared.
pub fn fix_mode(f: &File, mode: u32) -> io::Result<()> {
    if shared_group() && mode == file_mode() {
        f.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    Ok(())
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
    dest.with_file_name(format!(".{}.tmp.{}.{}.{:x}", name, pid(), n, nanos))
}

/// This process's id, asked of the kernel once (getpid(2) is a system call each time,
/// and a hit names a temporary file per output). cachepot never forks without exec.
fn pid() -> u32 {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// Write `data` to `dest` atomically: a reader sees the old file or the whole new one,
/// never a part. `mode` applies to newly created files (subject to the umask).
pub fn atomic_write(dest: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    write_via_temp(dest, data, mode, false)
}

/// Write `data` to `dest` through a temporary file like [`atomic_write`], but remove an
/// existing `dest` before renaming the new file into place: a reader may find no file for
/// a moment, never a partial one. For files that are usually there already (restored
/// outputs, statistics): ext4 (`auto_da_alloc`) starts writeback of a file renamed over
/// another, which made such a rename cost 0.4-1 ms here, ten times a rename to a free name.
/// A compiler writing its output in place gives no more than this after a power loss.
pub fn replace_file(dest: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    write_via_temp(dest, data, mode, true)
}

/// Rename `tmp` to `dest`, removing `dest` first (see [`replace_file`]).
pub fn rename_replacing(tmp: &Path, dest: &Path) -> io::Result<()> {
    match fs::remove_file(dest) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        // A directory or an unwritable parent: let the rename report it.
        Err(_) => {}
    }
    fs::rename(tmp, dest)
}

fn write_via_temp(dest: &Path, data: &[u8], mode: u32, remove_first: bool) -> io::Result<()> {
    let tmp = temp_path_beside(dest);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        fix_mode(&f, mode)?;
        f.write_all(data)?;
        drop(f);
        if remove_first {
            rename_replacing(&tmp, dest)
        } else {
            fs::rename(&tmp, dest)
        }
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Make `dest` (which must not exist) a copy-on-write clone of `src`: the FICLONE ioctl
/// of Btrfs, XFS (reflink=1), bcachefs, OCFS2 and others. The new file gets `mode`
/// (subject to the umask). Fails, leaving nothing behind, where the file system cannot
/// share extents (EOPNOTSUPP, EXDEV across file systems, EINVAL).
pub fn reflink(src: &Path, dest: &Path, mode: u32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    /// `_IOW(0x94, 9, int)` from linux/fs.h.
    const FICLONE: libc::c_ulong = 0x4004_9409;
    let from = File::open(src)?;
    let to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(dest)?;
    // SAFETY: both descriptors are open for the duration of the call; FICLONE takes the
    // source descriptor as its argument and touches no memory of ours.
    let r = unsafe { libc::ioctl(to.as_raw_fd(), FICLONE as _, from.as_raw_fd()) };
    if r != 0 {
        let e = io::Error::last_os_error();
        drop(to);
        let _ = fs::remove_file(dest);
        return Err(e);
    }
    Ok(())
}

/// Set `path`'s modification time to now, leaving its access time alone: one
/// `utimensat` by path (`filetime` opens the file first, three system calls in all).
pub fn touch_mtime(path: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
    ];
    // SAFETY: `c` is a NUL-terminated path and `times` two valid timespecs, both alive
    // for the call; utimensat writes no memory of ours.
    if unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), 0) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Create a new private file for writing (fails if it exists).
pub fn create_private(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(file_mode())
        .open(path)?;
    fix_mode(&f, file_mode())?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalize_agrees_with_std() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        fs::create_dir(&real).unwrap();
        fs::write(real.join("f"), b"x").unwrap();
        std::os::unix::fs::symlink("real", d.path().join("link")).unwrap();
        std::os::unix::fs::symlink(d.path().join("link/f"), d.path().join("abs")).unwrap();
        for p in [
            d.path().join("link/f"),
            d.path().join("abs"),
            d.path().join("real/../link/./f"),
            d.path().to_path_buf(),
        ] {
            assert_eq!(
                canonicalize(&p).unwrap(),
                fs::canonicalize(&p).unwrap(),
                "{p:?}"
            );
        }
        let missing = canonicalize(&d.path().join("link/none")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        // Longer than PATH_MAX: std's answer, whatever it is.
        let long = d.path().join("a/".repeat(3000));
        assert_eq!(
            canonicalize(&long).map_err(|e| e.kind()),
            fs::canonicalize(&long).map_err(|e| e.kind())
        );
    }

    #[test]
    fn read_bounded_reads_whole_files_within_the_limit() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        for len in [0usize, 1, 31, 32, 4095, 4096, 4097, 8192, 8193, 100_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            fs::write(&f, &data).unwrap();
            assert_eq!(read_bounded(&f, len as u64).unwrap(), data, "{len}");
            if len > 0 {
                let e = read_bounded(&f, len as u64 - 1).unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::FileTooLarge, "{len}");
            }
        }
        // Not regular files: a directory, a FIFO (no writer: must not block), /dev/zero.
        std::fs::create_dir(d.path().join("dir")).unwrap();
        let fifo = d.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for p in [d.path().join("dir"), fifo, PathBuf::from("/dev/zero")] {
            assert!(read_bounded(&p, 1 << 20).is_err(), "{}", p.display());
        }
    }

    /// A file with more in it than fstat says (procfs says 0, then reads in short pieces)
    /// is read to its end, and refused past the limit. /proc/self/smaps is several reads
    /// long; its last mapping (the stack, vdso or vsyscall page) is the last line of
    /// /proc/self/maps, which nothing this test does can move.
    #[test]
    fn read_bounded_reads_past_a_short_stat() {
        let p = Path::new("/proc/self/smaps");
        assert_eq!(fs::metadata(p).unwrap().len(), 0);
        let got = String::from_utf8(read_bounded(p, 16 << 20).unwrap()).unwrap();
        assert!(
            got.len() > 8192,
            "test premise: several reads ({} bytes)",
            got.len()
        );
        let range = |line: &str| line.split(' ').next().unwrap_or("").to_string();
        let last_in_smaps = got
            .lines()
            .rfind(|l| {
                l.split(' ')
                    .next()
                    .is_some_and(|r| r.contains('-') && !r.ends_with(':'))
            })
            .map(range);
        let maps = fs::read_to_string("/proc/self/maps").unwrap();
        assert_eq!(
            last_in_smaps,
            maps.lines().next_back().map(range),
            "smaps cut short"
        );
        assert!(read_bounded(p, 1000).is_err());
    }

    #[test]
    fn touch_sets_mtime_only() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("e");
        fs::write(&f, "x").unwrap();
        let old = filetime::FileTime::from_unix_time(1_000_000, 0);
        filetime::set_file_times(&f, old, old).unwrap();
        touch_mtime(&f).unwrap();
        let m = fs::metadata(&f).unwrap();
        assert_eq!(filetime::FileTime::from_last_access_time(&m), old);
        assert!(filetime::FileTime::from_last_modification_time(&m).unix_seconds() > 1_000_000);
        assert!(touch_mtime(&d.path().join("missing")).is_err());
    }

    /// Shared-group mode sets the mode of the directories it made, and of nothing above.
    #[test]
    fn shared_dirs_leave_existing_ancestors_alone() {
        let d = tempfile::tempdir().unwrap();
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o751)).unwrap();
        create_dirs(&d.path().join("a/b/c"), true).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(d.path()), 0o751);
        for sub in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&d.path().join(sub)), 0o2770, "{sub}");
        }
    }

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
