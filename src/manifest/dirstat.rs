//! Stat many files through one descriptor per directory.
//!
//! A direct-mode hit stats every header its include set lists: about 100 for a lua
//! file, most of them four or five directories down (`/usr/include/x86_64-linux-gnu/
//! bits/...`), in a dozen directories. `stat(path)` walks every component each time;
//! `fstatat(dirfd, name)` walks one. Each directory is opened once (`O_PATH`, no read
//! permission needed), and what the kernel resolves is the same: the directory path as
//! `stat` would follow it, then the name, following a final symlink as `stat` does.

use super::validate::BuildFnv;
use super::{ns, stat_full, Stat};
use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

#[derive(Default)]
pub(super) struct DirStat {
    /// Directory bytes and its descriptor; None when it could not be opened, in which
    /// case its files take the plain `stat` (which then says why, or finds them anyway).
    dirs: Vec<(Vec<u8>, Option<OwnedFd>)>,
    /// Position in `dirs` by directory bytes: a miss records hundreds of directories,
    /// too many to search in turn for each of its thousands of probes.
    index: HashMap<Vec<u8>, usize, BuildFnv>,
}

impl DirStat {
    /// What `stat_full(p)` says, for the same file.
    pub(super) fn stat(&mut self, p: &Path) -> Option<Stat> {
        let bytes = p.as_os_str().as_bytes();
        // Not memchr: its first call probes the CPU (CPUID, which traps to the
        // hypervisor in a VM: about 20 us of a 0.8 ms hit), for paths of a few dozen bytes.
        let Some(slash) = bytes.iter().rposition(|&b| b == b'/') else {
            return stat_full(p);
        };
        let (dir, name) = (&bytes[..slash.max(1)], &bytes[slash + 1..]);
        if matches!(name, b"" | b"." | b"..") {
            return stat_full(p);
        }
        let i = self.slot(dir);
        let (Some(fd), Ok(name)) = (&self.dirs[i].1, CString::new(name)) else {
            return stat_full(p);
        };
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid descriptor, a NUL-terminated name and a stat buffer we own.
        if unsafe { libc::fstatat(fd.as_raw_fd(), name.as_ptr(), &mut st, 0) } != 0 {
            return None;
        }
        Some(to_stat(&st))
    }

    /// Whether `dir` resolves to a directory, as `Path::is_dir` says, found by opening
    /// the descriptor that the stats of its files then use (no separate stat).
    pub(super) fn dir_ok(&mut self, dir: &Path) -> bool {
        let bytes = dir.as_os_str().as_bytes();
        let i = self.slot(bytes);
        self.dirs[i].1.is_some()
    }

    /// Where `dir`'s descriptor is kept, opening it the first time.
    fn slot(&mut self, dir: &[u8]) -> usize {
        match self.index.get(dir) {
            Some(&i) => i,
            None => {
                self.dirs.push((dir.to_vec(), open_dir(dir)));
                self.index.insert(dir.to_vec(), self.dirs.len() - 1);
                self.dirs.len() - 1
            }
        }
    }

    /// What `stat_full(p)` says of a directory: through the descriptor already open for
    /// it when a file in it was stat'ed (no path walk), else by plain `stat`.
    pub(super) fn stat_dir(&self, p: &Path) -> Option<Stat> {
        let bytes = p.as_os_str().as_bytes();
        let Some((_, Some(fd))) = self.index.get(bytes).map(|&i| &self.dirs[i]) else {
            return stat_full(p);
        };
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid descriptor and a stat buffer we own.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return stat_full(p);
        }
        Some(to_stat(&st))
    }
}

// The casts are no-ops here, not on every target (`st_size` is `i32` on some).
#[allow(clippy::unnecessary_cast)]
fn to_stat(st: &libc::stat) -> Stat {
    Stat {
        size: st.st_size as u64,
        mtime: ns(st.st_mtime as i64, st.st_mtime_nsec as i64),
        ctime: ns(st.st_ctime as i64, st.st_ctime_nsec as i64),
        id: (st.st_dev as u64, st.st_ino as u64),
        regular: st.st_mode & libc::S_IFMT == libc::S_IFREG,
    }
}

fn open_dir(dir: &[u8]) -> Option<OwnedFd> {
    let c = CString::new(dir).ok()?;
    // SAFETY: a NUL-terminated path; the descriptor returned is ours to own.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: Option<Stat>, b: Option<Stat>) -> bool {
        match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                (a.size, a.mtime, a.ctime, a.id, a.regular)
                    == (b.size, b.mtime, b.ctime, b.id, b.regular)
            }
            _ => false,
        }
    }

    #[test]
    fn says_what_stat_says() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/a.h"), "x").unwrap();
        std::fs::write(d.join("top.h"), "yy").unwrap();
        std::os::unix::fs::symlink("sub", d.join("link")).unwrap();
        std::os::unix::fs::symlink("a.h", d.join("sub/ln.h")).unwrap();
        std::os::unix::fs::symlink("nowhere", d.join("sub/dangling.h")).unwrap();
        std::fs::write(d.join("file"), "").unwrap();
        let cases = [
            "sub/a.h",
            "top.h",
            "link/a.h",
            "sub/ln.h",
            "sub/dangling.h",
            "sub/missing.h",
            "missing/a.h",
            "sub/../top.h",
            "link/../top.h",
            "file/x.h",
            "sub/.",
            "sub/..",
            "sub/",
            "sub",
        ];
        let mut ds = DirStat::default();
        for round in 0..2 {
            for c in cases {
                let p = d.join(c);
                assert!(same(ds.stat(&p), stat_full(&p)), "{c} (round {round})");
            }
            // Directories, through the descriptors the stats above opened or not.
            for c in ["", "sub", "link", "missing", "file", "sub/ln.h"] {
                let p = if c.is_empty() {
                    d.to_path_buf()
                } else {
                    d.join(c)
                };
                assert!(
                    same(ds.stat_dir(&p), stat_full(&p)),
                    "dir {c} (round {round})"
                );
            }
        }
        assert!(ds.stat(Path::new("/")).is_some_and(|s| !s.regular));
        for c in [
            "",
            "sub",
            "link",
            "missing",
            "file",
            "sub/ln.h",
            "sub/dangling.h",
            "sub/.",
        ] {
            let p = d.join(c);
            assert_eq!(ds.dir_ok(&p), p.is_dir(), "dir_ok {c}");
        }
        // A file replaced after its directory was opened is seen as it is now.
        std::fs::write(d.join("sub/a.h"), "longer").unwrap();
        assert_eq!(ds.stat(&d.join("sub/a.h")).unwrap().size, 6);
    }
}
