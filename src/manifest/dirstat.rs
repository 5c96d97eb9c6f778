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

/// At most this many directories are held open: a miss can name thousands, and the
/// process still needs descriptors for the cache files it writes afterwards.
const MAX_OPEN: usize = 256;
/// How many levels of parents a recording's directory has opened before it (see
/// [`DirStat::for_recording`]): enough for any include path, probe directories being a
/// few levels below a search directory.
const MAX_PARENTS: usize = 16;
/// Longer paths fail with ENAMETOOLONG whatever their parents are.
const PATH_MAX: usize = libc::PATH_MAX as usize;

pub(super) struct DirStat {
    /// Directory bytes and its descriptor. Without one, its files take the plain `stat`
    /// (which then says why, or finds them anyway).
    dirs: Vec<(Vec<u8>, Dir)>,
    /// Position in `dirs` by directory bytes: a miss records hundreds of directories,
    /// too many to search in turn for each of its thousands of probes.
    index: HashMap<Vec<u8>, usize, BuildFnv>,
    open: usize,
    /// open(2) calls made (the tests count them).
    opens: usize,
    max_open: usize,
    /// The slot the last lookup found: a set lists most of a directory's headers one
    /// after another, and this skips hashing the directory again for each.
    last: Option<usize>,
    /// Open a directory's parent before it, when the parent is not known yet (see
    /// [`DirStat::for_recording`]).
    parents_first: bool,
}

/// `name` followed by a NUL in `buf`, unless it is too long or holds a NUL itself (the
/// caller then takes the path's own way).
fn nul_terminated<'a>(name: &[u8], buf: &'a mut [u8; 256]) -> Option<&'a std::ffi::CStr> {
    if name.len() >= buf.len() || name.contains(&0) {
        return None;
    }
    buf[..name.len()].copy_from_slice(name);
    buf[name.len()] = 0;
    std::ffi::CStr::from_bytes_with_nul(&buf[..=name.len()]).ok()
}

/// What opening a directory gave.
enum Dir {
    Open(OwnedFd),
    /// ENOENT or ENOTDIR: there is no directory at that path (now).
    Missing,
    /// Any other failure (out of descriptors, no memory...), or over `MAX_OPEN`: says
    /// nothing about the directory.
    Unknown,
}

impl Default for DirStat {
    fn default() -> Self {
        DirStat::with_max_open(MAX_OPEN)
    }
}

impl DirStat {
    fn with_max_open(max_open: usize) -> Self {
        DirStat {
            dirs: Vec::new(),
            index: HashMap::default(),
            open: 0,
            opens: 0,
            max_open,
            last: None,
            parents_first: false,
        }
    }

    /// For recording a set: most of a miss's probe directories do not exist (703 of a
    /// LevelDB file's), many of them below a search directory that does not exist
    /// either (`/usr/local/include/x86_64-linux-gnu/bits`, `.../sys`...). Opening each
    /// directory's parent first lets one failed open answer for all of them. A hit's
    /// directories all exist, so its checks do not pay for the parents' opens.
    pub(super) fn for_recording() -> Self {
        DirStat {
            parents_first: true,
            ..DirStat::default()
        }
    }

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
        // The name NUL-terminated on the stack (file names are at most 255 bytes).
        let mut buf = [0u8; 256];
        let (Dir::Open(fd), Some(c_name)) = (&self.dirs[i].1, nul_terminated(name, &mut buf))
        else {
            return stat_full(p);
        };
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid descriptor, a NUL-terminated name and a stat buffer we own.
        if unsafe { libc::fstatat(fd.as_raw_fd(), c_name.as_ptr(), &mut st, 0) } != 0 {
            return None;
        }
        Some(to_stat(&st))
    }

    /// Whether `dir` resolves to a directory, as `Path::is_dir` says, found by opening
    /// the descriptor that the stats of its files then use (no separate stat). An open
    /// that failed for another reason than a missing directory (EMFILE...) proves
    /// nothing: `is_dir` answers then, so probes below an existing directory are never
    /// taken as absent unchecked.
    pub(super) fn dir_ok(&mut self, dir: &Path) -> bool {
        let bytes = dir.as_os_str().as_bytes();
        let i = self.slot(bytes);
        match self.dirs[i].1 {
            Dir::Open(_) => true,
            Dir::Missing => false,
            Dir::Unknown => dir.is_dir(),
        }
    }

    /// Where `dir`'s descriptor is kept, opening it the first time. When recording,
    /// below a directory known to be missing nothing is opened: the kernel resolves `parent/name` through
    /// `parent`, so with `parent` absent (ENOENT) or not a directory (ENOTDIR) the open
    /// would fail the same way.
    fn slot(&mut self, dir: &[u8]) -> usize {
        if let Some(i) = self.last.filter(|&i| self.dirs[i].0 == dir) {
            return i;
        }
        let i = self.slot_at(dir, 0);
        self.last = Some(i);
        i
    }

    /// [`DirStat::slot`], `depth` parents above the directory first asked for. Parents
    /// are opened first only a few levels up and for paths the kernel can take at all:
    /// a name of many thousand components (a `__has_include` argument is any text)
    /// must not recurse that deep or store every prefix.
    fn slot_at(&mut self, dir: &[u8], depth: usize) -> usize {
        if let Some(&i) = self.index.get(dir) {
            return i;
        }
        // Only recording asks: a hit's directories exist, and its checks skip the lookup.
        let parent = match parent_of(dir).filter(|_| self.parents_first) {
            Some(p) => match self.index.get(p) {
                Some(&i) => Some(i),
                None if depth < MAX_PARENTS && dir.len() < PATH_MAX => {
                    Some(self.slot_at(p, depth + 1))
                }
                None => None,
            },
            None => None,
        };
        let d = if parent.is_some_and(|i| matches!(self.dirs[i].1, Dir::Missing)) {
            Dir::Missing
        } else if self.open < self.max_open {
            self.opens += 1;
            open_dir(dir)
        } else {
            Dir::Unknown
        };
        self.open += usize::from(matches!(d, Dir::Open(_)));
        self.dirs.push((dir.to_vec(), d));
        self.index.insert(dir.to_vec(), self.dirs.len() - 1);
        self.dirs.len() - 1
    }

    /// What `stat_full(p)` says of a directory: through the descriptor already open for
    /// it when a file in it was stat'ed (no path walk), else by plain `stat`.
    pub(super) fn stat_dir(&self, p: &Path) -> Option<Stat> {
        let bytes = p.as_os_str().as_bytes();
        let Some((_, Dir::Open(fd))) = self.index.get(bytes).map(|&i| &self.dirs[i]) else {
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

/// `dir` without its last component (`/` for a directory right under the root); `None`
/// for the root, a single relative name, or a name ending in `/`.
fn parent_of(dir: &[u8]) -> Option<&[u8]> {
    let slash = dir.iter().rposition(|&b| b == b'/')?;
    if slash + 1 == dir.len() {
        return None;
    }
    Some(if slash == 0 { b"/" } else { &dir[..slash] })
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

fn open_dir(dir: &[u8]) -> Dir {
    let Ok(c) = CString::new(dir) else {
        return Dir::Unknown;
    };
    // SAFETY: a NUL-terminated path; the descriptor returned is ours to own.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd >= 0 {
        return Dir::Open(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => Dir::Missing,
        _ => Dir::Unknown,
    }
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
        // Out of descriptors (here: over its own limit of one), a directory it could not
        // open is still a directory, and its files are still found.
        let mut few = DirStat::with_max_open(1);
        assert!(few.dir_ok(&d.join("sub")));
        assert!(few.dir_ok(d), "an existing directory left unopened");
        assert!(!few.dir_ok(&d.join("missing")));
        assert!(same(
            few.stat(&d.join("top.h")),
            stat_full(&d.join("top.h"))
        ));
        assert!(few.stat(&d.join("top.h")).is_some());
        // Recording opens parents first, and a missing parent answers for everything
        // below it: the same answers as `is_dir` and `stat`, deep below a missing
        // directory, a file, a dangling symlink and a symlink loop, and beside existing
        // ones (each with an `f.h` where the directory exists).
        std::fs::create_dir_all(d.join("sub/deep/er")).unwrap();
        std::os::unix::fs::symlink("loop", d.join("loop")).unwrap();
        for dir in ["sub/deep", "sub/deep/er", "link/deep"] {
            std::fs::write(d.join(dir).join("f.h"), dir).unwrap();
        }
        let cases = [
            "missing/a/b",
            "missing/a",
            "missing",
            "file/x/y",
            "sub/dangling.h/z",
            "loop/x/y",
            "sub/deep/er",
            "sub/deep",
            "sub/deep/none/more",
            "link/deep/er",
            "link/deep",
            "sub/deep/er/..",
        ];
        for max_open in [MAX_OPEN, 2] {
            let mut rec = DirStat::for_recording();
            rec.max_open = max_open;
            for c in cases {
                let p = d.join(c);
                assert_eq!(rec.dir_ok(&p), p.is_dir(), "dir_ok {c} ({max_open} open)");
                let f = p.join("f.h");
                assert!(
                    same(rec.stat(&f), stat_full(&f)),
                    "stat {c} ({max_open} open)"
                );
            }
            // Out of descriptors, or with a parent that could not be opened (a symlink
            // loop), nothing is inferred: what exists is still found.
            assert!(rec.stat(&d.join("sub/deep/f.h")).is_some());
        }
        // Below a directory known to be missing, nothing more is opened.
        let mut rec = DirStat::for_recording();
        assert!(!rec.dir_ok(&d.join("missing")));
        let opened = rec.opens;
        for c in ["missing/a", "missing/a/b/c", "file/x"] {
            assert!(!rec.dir_ok(&d.join(c)));
        }
        assert_eq!(rec.opens, opened + 1, "only `file` itself was opened");
        // Names of a thousand components, and of more bytes than a path can have, do
        // not recurse that deep and are simply not directories.
        for n in [1_000, 20_000] {
            let deep = d.join("b".to_string() + &"/a".repeat(n));
            let before = rec.opens;
            assert!(!rec.dir_ok(&deep), "{n} components");
            assert!(rec.stat(&deep.join("f.h")).is_none(), "{n} components");
            assert!(rec.opens - before <= MAX_PARENTS + 1, "{n} components");
        }
        // A file replaced after its directory was opened is seen as it is now.
        std::fs::write(d.join("sub/a.h"), "longer").unwrap();
        assert_eq!(ds.stat(&d.join("sub/a.h")).unwrap().size, 6);
    }
}
