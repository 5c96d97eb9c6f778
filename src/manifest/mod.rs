//! Direct-mode manifests: for one (compiler, arguments, source) they list the include
//! sets of earlier compiles, each mapping to a result key. A hit is one set whose files
//! still have the recorded content and whose include lookup would still find the same
//! files; it needs no process at all.
//!
//! An include set records:
//! * every file the compile read (from its dep file) with size, mtime, ctime and digest.
//!   Equal (size, mtime, ctime) is trusted only when the mtime was at least
//!   [`RACY_NS`] older than the recording (a file rewritten within the same clock tick
//!   keeps its mtime); otherwise the content is hashed again;
//! * the include search path and the directories of the files read, and the mtime of
//!   every directory where a new file could *shadow* a recorded header (the same relative
//!   name in a directory searched earlier, or beside an includer for quoted includes;
//!   caching-spec A1). An unchanged directory mtime proves nothing was added; only a
//!   changed directory costs the exact existence checks;
//! * the literal names probed by `__has_include` and which candidate paths existed;
//! * the date when `__DATE__` is used, and whether `__TIMESTAMP__` is (then mtimes must
//!   match exactly). A file using `__TIME__` is never recorded (caching-spec A2).
//!
//! Files modified at or after the compile started are never recorded (A3).
//! Manifests are stored as entries (kind 2) with a JSON payload, replaced atomically:
//! concurrent writers may lose an update (a later miss re-adds it) but never tear one.

use crate::hash::{digest, Key, KeyHasher};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::ControlFlow;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Files whose mtime is this close to the recording time are re-hashed on validation.
const RACY_NS: i64 = 2_000_000_000;
/// Caps (ccache's): past them the oldest include sets are dropped.
const MAX_SETS: usize = 100;
const MAX_FILES: usize = 10_000;

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Manifest {
    /// Newest first.
    pub sets: Vec<IncludeSet>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FileRec {
    pub path: String,
    pub size: u64,
    pub mtime: i64,
    pub ctime: i64,
    pub digest: String,
    /// Device and inode of the file the path resolved to: a symlink retargeted to another
    /// file of the same size and times is another file.
    #[serde(default)]
    pub dev: u64,
    #[serde(default)]
    pub ino: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DirRec {
    pub path: String,
    pub mtime: i64,
    pub ctime: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct IncludeSet {
    pub result: String,
    pub recorded: i64,
    pub files: Vec<FileRec>,
    pub search_dirs: Vec<String>,
    pub watches: Vec<DirRec>,
    pub has_include: Vec<String>,
    /// Probe paths (shadow candidates, `__has_include` names, `.gch` files) that existed
    /// when the set was recorded: validation requires the same existence state.
    pub has_include_present: Vec<String>,
    pub date: Option<String>,
    pub timestamp: bool,
    /// rustc's `# env-dep` lines: each variable's value as rustc wrote it, or unset.
    #[serde(default)]
    pub env: Vec<(String, Option<String>)>,
    /// Paths that must not exist (the other file a Rust `mod` could resolve to).
    #[serde(default)]
    pub absent: Vec<String>,
    /// With a base dir, a file using `__FILE__` ties the set to this working directory.
    #[serde(default)]
    pub file_macro_cwd: Option<String>,
}

/// Why a compile cannot be recorded in a manifest.
#[derive(Debug, PartialEq, Eq)]
pub enum NotRecordable {
    /// The compiler's include search list could not be had (`-v` failed or said nothing).
    NoSearchList,
    ModifiedDuringCompile(String),
    UsesTime(String),
    UnreadableInput(String),
    ComputedHasInclude(String),
    /// A header has a precompiled `.gch` beside it, which gcc reads instead.
    PrecompiledHeader(String),
    /// Assembler `.incbin`/`.include` or `#pragma GCC dependency`: reads or checks a
    /// file that no dep file lists.
    UnlistedInput(String),
    /// A directory the compiler searches is spelled with `..` after a symlink: the
    /// kernel follows `..` from the symlink's target, while the manifest's watches are
    /// lexical (`src/lib/../common` as `src/common`), so a header created where the
    /// compiler looks would go unseen.
    PhysicalDotDot(String),
}

fn ns(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The date `__DATE__` would expand to: from SOURCE_DATE_EPOCH when set (UTC, as gcc),
/// else today's local date (so TZ matters).
pub fn current_date() -> String {
    date_at(now_ns())
}

/// The `__DATE__` of a compile that started at `at_ns`.
fn date_at(at_ns: i64) -> String {
    if let Some(sde) = std::env::var_os("SOURCE_DATE_EPOCH") {
        return format!("sde:{}", sde.to_string_lossy());
    }
    let t = (at_ns / 1_000_000_000) as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which we own; `t` is a valid time_t.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&t, &mut tm) };
    format!(
        "{}-{:02}-{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday
    )
}

/// What one stat(2) of a file says: size, mtime and ctime in ns, and (device, inode).
#[derive(PartialEq)]
struct Stat {
    size: u64,
    mtime: i64,
    ctime: i64,
    id: (u64, u64),
    regular: bool,
}

/// Whether any of `files` (relative to `cwd`) is gone or was modified at or after
/// `start` (ns): a compile that read it may have seen other content than what was
/// hashed before it started.
pub fn any_changed_since(files: &[String], cwd: &Path, start: i64) -> bool {
    files
        .iter()
        .any(|f| modified_since(&cwd.join(f), start).unwrap_or(true))
}

/// Whether `path` was modified (mtime or ctime) at or after `start` (ns); None when it
/// cannot be stat'ed.
pub fn modified_since(path: &Path, start: i64) -> Option<bool> {
    stat_full(path).map(|st| st.mtime >= start || st.ctime >= start)
}

fn stat_full(p: &Path) -> Option<Stat> {
    std::fs::metadata(p).ok().map(|m| stat_of(&m))
}

fn stat_of(m: &std::fs::Metadata) -> Stat {
    Stat {
        size: m.size(),
        mtime: ns(m.mtime(), m.mtime_nsec()),
        ctime: ns(m.ctime(), m.ctime_nsec()),
        id: (m.dev(), m.ino()),
        regular: m.is_file(),
    }
}

#[cfg(test)]
fn stat_ns(p: &Path) -> Option<(u64, i64, i64)> {
    stat_full(p).map(|s| (s.size, s.mtime, s.ctime))
}

/// The nearest existing directory at or above `p` (a new subdirectory changes it).
fn existing_ancestor(p: &Path) -> PathBuf {
    existing_ancestor_by(p, &mut |d| d.is_dir())
}

/// [`existing_ancestor`], asking `is_dir` (a memo, when many directories share
/// ancestors).
fn existing_ancestor_by(p: &Path, is_dir: &mut impl FnMut(&Path) -> bool) -> PathBuf {
    let mut cur = p.to_path_buf();
    loop {
        if is_dir(&cur) || cur.parent().is_none() {
            return cur;
        }
        cur.pop();
        if cur.as_os_str().is_empty() {
            return PathBuf::from(".");
        }
    }
}

/// A path whose (non-)existence a set depends on, in pieces: `dir/rel` + `suffix` (just
/// `rel` + `suffix` when `dir` is empty). Building the path is left to those that need it.
#[derive(Clone, Copy)]
struct Probe<'a> {
    dir: &'a str,
    rel: &'a str,
    /// `rel` up to its last `/` (empty when it has none), worked out once per `rel`.
    rel_dir: &'a str,
    suffix: &'static str,
    /// Which directory `dir` is, as a small number: the search dirs by position, then the
    /// includers' directories in order, then the empty `dir` of `.gch` probes. Equal ids
    /// are equal `dir` texts, so a per-directory answer can be kept in a plain array.
    dir_id: usize,
}

/// `rel` up to its last `/`, empty when it has none.
fn rel_dir_of(rel: &str) -> &str {
    rel.rfind('/').map_or("", |i| &rel[..i])
}

impl<'a> Probe<'a> {
    fn path(&self) -> String {
        // Not format!: a miss builds thousands of these (13,843 for a LevelDB file).
        let mut s = String::with_capacity(self.dir.len() + 1 + self.rel.len() + self.suffix.len());
        if !self.dir.is_empty() {
            s.push_str(self.dir);
            s.push('/');
        }
        s.push_str(self.rel);
        s.push_str(self.suffix);
        s
    }

    /// Its directory as a pair of pieces (the same directory may come as several pairs).
    fn dir_key(&self) -> (&'a str, &'a str) {
        (self.dir, self.rel_dir)
    }

    /// How many distinct `dir_id`s the probes of `set` can have.
    fn dir_ids(set: &IncludeSet) -> usize {
        set.search_dirs.len() + set.files.len() + 1
    }

    fn is(&self, path: &str) -> bool {
        let (d, r, x) = (self.dir, self.rel, self.suffix);
        match path.strip_suffix(x).and_then(|p| p.strip_suffix(r)) {
            Some(head) if d.is_empty() => head.is_empty(),
            Some(head) => head.strip_suffix('/') == Some(d),
            None => false,
        }
    }
}

/// One answer per probe directory, as (`rel_dir`, `dir_id`) pairs: thousands of probes
/// share a few hundred such pairs. A run of probes shares one `rel_dir` slice, so its
/// number is looked up once per run.
struct DirMemo<'a, T> {
    n_dirs: usize,
    rel_ids: HashMap<&'a str, usize, BuildFnv>,
    /// The last `rel_dir` slice seen (pointer, length) and its number.
    last: Option<(*const u8, usize, usize)>,
    slots: Vec<Option<T>>,
}

impl<'a, T: Clone> DirMemo<'a, T> {
    fn new(set: &IncludeSet) -> Self {
        DirMemo {
            n_dirs: Probe::dir_ids(set),
            rel_ids: HashMap::default(),
            last: None,
            slots: Vec::new(),
        }
    }

    /// The answer for `probe`'s directory: None until one is set.
    fn slot(&mut self, probe: &Probe<'a>) -> &mut Option<T> {
        let rel_dir = probe.rel_dir;
        let rel_id = match self.last {
            Some((ptr, len, id)) if ptr == rel_dir.as_ptr() && len == rel_dir.len() => id,
            _ => {
                let next = self.rel_ids.len();
                let id = *self.rel_ids.entry(rel_dir).or_insert(next);
                if id == next {
                    self.slots.resize(self.slots.len() + self.n_dirs, None);
                }
                self.last = Some((rel_dir.as_ptr(), rel_dir.len(), id));
                id
            }
        };
        &mut self.slots[rel_id * self.n_dirs + probe.dir_id]
    }
}

/// Every probe of `set` in a fixed order (it orders `has_include_present`, part of the
/// depend key), duplicates included: shadow candidates, which must not exist; `.gch`
/// files beside headers; `__has_include` candidates, which must be as recorded.
/// `lexical_files` holds the set's files lexically normalised, `lexical_dirs` its search
/// dirs. Stops early when `visit` breaks.
fn for_each_probe<'a>(
    set: &'a IncludeSet,
    lexical_files: &'a [String],
    lexical_dirs: &'a [String],
    mut visit: impl FnMut(Probe<'a>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let includer_dirs: BTreeSet<&str> = set.files.iter().map(|f| dir_str(&f.path)).collect();
    let n = set.search_dirs.len();
    let includers = includer_dirs
        .iter()
        .copied()
        .enumerate()
        .map(|(j, d)| (n + j, d));
    for (f, file) in set.files.iter().zip(lexical_files).skip(1) {
        // Every search dir the header lies under is a way it may have been found
        // (`-Iinc -Iinc/sub`: `inc/sub/foo.h` is `sub/foo.h` or `foo.h`).
        // Compare lexically normalised spellings: `-I./include` finds `include/x.h`.
        for (k, d) in lexical_dirs.iter().enumerate() {
            let lexical_rel = if d == "." {
                (!file.starts_with('/') && !file.starts_with("..")).then_some(file.as_str())
            } else {
                file.strip_prefix(d.as_str())
                    .and_then(|r| r.strip_prefix('/'))
            };
            // An include name with `..` (`#include "../common/foo.h"` found as
            // `inc/sub/../common/foo.h`) only shows against the dep file's own spelling:
            // normalised, the header no longer lies under the dir that found it.
            let raw_rel = f
                .path
                .strip_prefix(set.search_dirs[k].as_str())
                .and_then(|r| r.strip_prefix('/'))
                .filter(|r| r.split('/').any(|c| c == "..") && Some(*r) != lexical_rel);
            for rel in [lexical_rel, raw_rel].into_iter().flatten() {
                let rel_dir = rel_dir_of(rel);
                let earlier = set.search_dirs[..k].iter().map(String::as_str).enumerate();
                for (dir_id, dir) in earlier.chain(includers.clone()) {
                    let p = Probe {
                        dir,
                        rel,
                        rel_dir,
                        suffix: "",
                        dir_id,
                    };
                    if !p.is(&f.path) {
                        visit(p)?;
                    }
                }
            }
        }
    }
    // gcc silently reads `<header>.gch` instead of a header that has one beside it.
    for f in set.files.iter().skip(1) {
        visit(Probe {
            dir: "",
            rel: &f.path,
            rel_dir: rel_dir_of(&f.path),
            suffix: ".gch",
            dir_id: Probe::dir_ids(set) - 1,
        })?;
    }
    for name in &set.has_include {
        let rel_dir = rel_dir_of(name);
        let dirs = set.search_dirs.iter().map(String::as_str).enumerate();
        for (dir_id, dir) in dirs.chain(includers.clone()) {
            visit(Probe {
                dir,
                rel: name,
                rel_dir,
                suffix: "",
                dir_id,
            })?;
        }
    }
    ControlFlow::Continue(())
}

/// Every probe's path, once each: (path relative to cwd, must exist). The tests' oracle
/// for [`stat_probes`].
#[cfg(test)]
fn probes(set: &IncludeSet) -> Vec<(String, bool)> {
    let lexical_files: Vec<String> = set.files.iter().map(|f| lexical(&f.path)).collect();
    let lexical_dirs: Vec<String> = set.search_dirs.iter().map(|d| lexical(d)).collect();
    let present: HashSet<&str, BuildFnv> =
        set.has_include_present.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    // Room for a typical C++ set's probes up front (a LevelDB file has 14,000): growing
    // a table of strings rehashes every one of them each time it doubles.
    let mut seen: HashSet<String, BuildFnv> =
        HashSet::with_capacity_and_hasher((set.files.len() * 64).min(1 << 15), BuildFnv::default());
    let _ = for_each_probe(set, &lexical_files, &lexical_dirs, |p| {
        let path = p.path();
        if seen.insert(path.clone()) {
            let exists = present.contains(path.as_str());
            out.push((path, exists));
        }
        ControlFlow::Continue(())
    });
    out
}

/// `dir_of` without allocating: the text before the last `/` (`.` when there is none).
/// Only a lookup key: `a//b` gives `a/`, which names the same directory as `a`.
fn dir_str(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => ".",
    }
}

/// `./a/../b` -> `b` (no file system access); `.` for an empty result.
fn lexical(p: &str) -> String {
    let s = crate::util::path::normalize_str(p);
    if s.is_empty() {
        ".".to_string()
    } else {
        s
    }
}

/// How a directory is named in a manifest: relative to the cwd when the probe that needs
/// it was relative, or it is under the cwd or a base dir (so another checkout checks its
/// own directories), else absolute.
fn stored_form(abs: &Path, cwd: &Path, bases: &[PathBuf], probe_relative: bool) -> String {
    let abs = crate::util::path::normalize(abs);
    if let Ok(rel) = abs.strip_prefix(cwd) {
        let r = rel.to_string_lossy();
        return if r.is_empty() {
            ".".to_string()
        } else {
            r.into_owned()
        };
    }
    if probe_relative || bases.iter().any(|b| abs.starts_with(b)) {
        return crate::util::path::relative_to(&abs, cwd)
            .to_string_lossy()
            .into_owned();
    }
    abs.to_string_lossy().into_owned()
}

/// Build the include set of a finished compile. `files` are the dep file's prerequisites
/// (the source first), `start` the time just before the compiler ran. `c_tokens`: scan
/// for the C preprocessor's time macros and `__has_include` (not for Rust sources).
/// `facts_dir`: the cache directory whose facts cache (facts.rs) spares reading headers
/// seen before; None reads every file.
#[allow(clippy::too_many_arguments)]
pub fn record(
    files: &[String],
    search_dirs: &[String],
    cwd: &Path,
    start: i64,
    result: &Key,
    c_tokens: bool,
    bases: &[PathBuf],
    facts_dir: Option<&Path>,
) -> Result<IncludeSet, NotRecordable> {
    let mut set = IncludeSet {
        result: result.hex(),
        recorded: now_ns(),
        files: Vec::with_capacity(files.len()),
        search_dirs: search_dirs.to_vec(),
        watches: Vec::new(),
        has_include: Vec::new(),
        has_include_present: Vec::new(),
        date: None,
        timestamp: false,
        env: Vec::new(),
        absent: Vec::new(),
        file_macro_cwd: None,
    };
    let mut names = BTreeSet::new();
    let mut aliases: BTreeSet<aliases::Alias> = BTreeSet::new();
    // Files and probes are stat'ed through one descriptor per directory: a LevelDB miss
    // stats about 5,000 paths six or seven directories down, in a few hundred
    // directories (see dirstat.rs).
    let mut ds = dirstat::DirStat::for_recording();
    // One buffer for every file's content: a fresh one each time cost a page fault per
    // 4 KiB of the 3 MB of headers a C++ file reads.
    let mut content = Vec::new();
    let mut facts_cache = facts_dir.map(|d| facts::FactsCache::new(d, c_tokens));
    for (i, f) in files.iter().enumerate() {
        let full = cwd.join(f);
        // A header seen before with this very stat: what reading it would tell, from the
        // facts cache (facts.rs). The source is always read (its first `#include`
        // matters too).
        let known = match &mut facts_cache {
            Some(cache) if i > 0 => std::fs::metadata(&full)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| (cache.lookup(&full, &m), m)),
            _ => None,
        };
        let (meta, facts) = match known {
            Some((Some(facts), m)) => (m, facts),
            known => {
                content.clear();
                // Only a regular file is read: the compiler may have read a FIFO
                // (`-include <(...)`) or a device, which would block or never end here.
                // Opened without blocking, and checked before the read. Then read, and
                // stat the file that was read (not the path again): a change after the
                // compile started shows in its mtime or ctime below.
                let meta = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(&full)
                    .and_then(|file| {
                        if !file.metadata()?.is_file() {
                            return Err(std::io::Error::other("not a regular file"));
                        }
                        crate::util::fs::read_all_into(&file, &mut content)?;
                        file.metadata()
                    })
                    .map_err(|_| NotRecordable::UnreadableInput(f.clone()))?;
                let facts = facts::Facts::of(&content, c_tokens);
                // Remembered only for the stat it was read under.
                if let (Some((None, before)), Some(cache)) = (known, &mut facts_cache) {
                    if stat_of(&before) == stat_of(&meta) {
                        cache.remember(&full, &meta, &facts);
                    }
                }
                (meta, facts)
            }
        };
        let Stat {
            size,
            mtime,
            ctime,
            id: (dev, ino),
            ..
        } = stat_of(&meta);
        if mtime >= start || ctime >= start {
            return Err(NotRecordable::ModifiedDuringCompile(f.clone()));
        }
        let s = facts.scan;
        if facts.reads_unlisted {
            return Err(NotRecordable::UnlistedInput(f.clone()));
        }
        if s.time {
            return Err(NotRecordable::UsesTime(f.clone()));
        }
        if s.computed_has_include {
            return Err(NotRecordable::ComputedHasInclude(f.clone()));
        }
        if s.date {
            set.date = Some(date_at(start));
        }
        set.timestamp |= s.timestamp;
        if s.file && !bases.is_empty() {
            // Base-dir keys are path-independent, but `__FILE__` names this checkout:
            // only the same working directory (hence the same absolute paths) may hit.
            set.file_macro_cwd = Some(cwd.to_string_lossy().into_owned());
        }
        names.extend(s.has_include);
        aliases.extend(s.has_include_aliases);
        if c_tokens && set.files.is_empty() {
            // gcc may replace the source's first #include by a `.gch` found beside the
            // header, and its dep file then names neither: watch for such files.
            if let Some(first) = first_include(&content) {
                names.insert(format!("{first}.gch"));
            }
        }
        set.files.push(FileRec {
            path: f.clone(),
            size,
            mtime,
            ctime,
            digest: facts.digest,
            dev,
            ino,
        });
    }
    if let Some(cache) = facts_cache {
        cache.flush();
    }
    if !aliases.is_empty() {
        names.extend(alias_call_names(&set.files, cwd, &aliases)?);
    }
    set.has_include = names.into_iter().collect();
    let (present, watches) = stat_probes(&set, cwd, start, bases, &mut ds)?;
    set.has_include_present = present;
    set.watches = watches;
    Ok(set)
}

/// Record's probe pass: which probes of `set` exist (in probe order, once each), and a
/// watch over each probe directory (its nearest existing ancestor's mtime and ctime).
///
/// A LevelDB file has about 25,000 probes, 9,000 of them distinct, in a few hundred
/// directories, most of which do not exist. So each (include name's directory, search
/// directory) pair is worked out once: its directory text, whether it exists, its watch.
/// A probe's path is built only when its directory exists (a probe under a path that
/// does not resolve to a directory cannot exist: the kernel resolves the probe through
/// that very path), and only such probes are stat'ed.
fn stat_probes(
    set: &IncludeSet,
    cwd: &Path,
    start: i64,
    bases: &[PathBuf],
    ds: &mut dirstat::DirStat,
) -> Result<(Vec<String>, Vec<DirRec>), NotRecordable> {
    let lexical_files: Vec<String> = set.files.iter().map(|f| lexical(&f.path)).collect();
    let lexical_dirs: Vec<String> = set.search_dirs.iter().map(|d| lexical(d)).collect();
    // Per probe directory: whether it exists, once worked out.
    let mut dir_memo: DirMemo<bool> = DirMemo::new(set);
    let mut dir_exists: HashMap<String, bool, BuildFnv> = HashMap::default();
    let mut watched_dirs: HashSet<String, BuildFnv> = HashSet::default();
    let mut watches: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut seen: HashSet<String, BuildFnv> = HashSet::default();
    let mut present = Vec::new();
    // Whether a path is a symlink, for the `..` rule: the probe directories of a
    // set spelled with `..` share their leading components (gcc's own
    // `12/../../../../x86_64-linux-gnu/include` and its subdirectories).
    let mut is_symlink =
        memo(|p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()));
    let mut failed = None;
    let _ = for_each_probe(set, &lexical_files, &lexical_dirs, |probe| {
        let slot = dir_memo.slot(&probe);
        let (exists, new_dir) = match *slot {
            Some(exists) => (exists, None),
            None => {
                let path = probe.path();
                let dir = dir_str(&path).to_string();
                let exists = match dir_exists.get(&dir) {
                    Some(&e) => e,
                    None => {
                        let e = ds.dir_ok(&cwd.join(&dir));
                        dir_exists.insert(dir.clone(), e);
                        e
                    }
                };
                *slot = Some(exists);
                (exists, Some(dir))
            }
        };
        if exists {
            let path = probe.path();
            if !seen.contains(&path) {
                if let Some(Stat { mtime, ctime, .. }) = ds.stat(&cwd.join(&path)) {
                    if path.ends_with(".gch") {
                        failed = Some(NotRecordable::PrecompiledHeader(path));
                        return ControlFlow::Break(());
                    }
                    // Created during the compile: it may have appeared after the
                    // compiler's lookup, so "present" would not describe what the
                    // compiler saw.
                    if mtime >= start || ctime >= start {
                        failed = Some(NotRecordable::ModifiedDuringCompile(path));
                        return ControlFlow::Break(());
                    }
                    present.push(path.clone());
                }
                seen.insert(path);
            }
        }
        // The first probe in a directory adds the directory's watch.
        let Some(dir) = new_dir else {
            return ControlFlow::Continue(());
        };
        if watched_dirs.contains(&dir) {
            return ControlFlow::Continue(());
        }
        let relative = Path::new(&dir).is_relative();
        if !dotdot_is_lexical_by(cwd, &dir, &mut is_symlink) {
            failed = Some(NotRecordable::PhysicalDotDot(dir));
            return ControlFlow::Break(());
        }
        let parent = crate::util::path::normalize(&cwd.join(&dir));
        watched_dirs.insert(dir);
        // Whether a directory exists, from what the probes' stats already found out
        // (the same descriptors, the same answers as `is_dir`): the watches of many
        // probe directories walk up through the same missing ones.
        let w = existing_ancestor_by(&parent, &mut |d| ds.dir_ok(d));
        let key = stored_form(&w, cwd, bases, relative);
        if let std::collections::btree_map::Entry::Vacant(e) = watches.entry(key) {
            if let Some(Stat { mtime, ctime, .. }) = ds.stat_dir(&w) {
                e.insert((mtime, ctime));
            }
        }
        ControlFlow::Continue(())
    });
    if let Some(why) = failed {
        return Err(why);
    }
    let watches = watches
        .into_iter()
        .map(|(path, (mtime, ctime))| DirRec { path, mtime, ctime })
        .collect();
    Ok((present, watches))
}

/// `ask`, answered once per path (one `record` call asks about the same directories
/// many times; what changes meanwhile is caught by the watches' racy window).
fn memo(ask: impl Fn(&Path) -> bool) -> impl FnMut(&Path) -> bool {
    let mut known: HashMap<PathBuf, bool, BuildFnv> = HashMap::default();
    move |p: &Path| {
        if let Some(&k) = known.get(p) {
            return k;
        }
        let answer = ask(p);
        known.insert(p.to_path_buf(), answer);
        answer
    }
}

/// Whether no `..` in `dir` (relative to `cwd`, or absolute) cancels a symlink: the
/// kernel resolves `link/..` to the parent of the link's *target*, where the lexical
/// normal form that watches use names the link's parent. (A `..` after a missing name or
/// a file resolves to nothing, so its probes cannot exist; nonexistent search dirs are
/// common, and such names are taken as written. That a directory created later under
/// that name would make them resolve is a documented limit.)
#[cfg(test)]
fn dotdot_is_lexical(cwd: &Path, dir: &str) -> bool {
    dotdot_is_lexical_by(cwd, dir, &mut |p| {
        std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
    })
}

/// [`dotdot_is_lexical`], asking `is_symlink` (a memo, for many directories with one
/// prefix).
fn dotdot_is_lexical_by(cwd: &Path, dir: &str, is_symlink: &mut impl FnMut(&Path) -> bool) -> bool {
    if !dir.split('/').any(|c| c == "..") {
        return true;
    }
    let mut at = if dir.starts_with('/') {
        PathBuf::from("/")
    } else {
        cwd.to_path_buf()
    };
    let mut names = 0usize;
    for c in dir.split('/') {
        match c {
            "" | "." => {}
            ".." if names > 0 => {
                if is_symlink(&at) {
                    return false;
                }
                at.pop();
                names -= 1;
            }
            // Above the start: `cwd` and `/` are directories, resolved as written.
            ".." => at.push(".."),
            name => {
                at.push(name);
                names += 1;
            }
        }
    }
    true
}

/// The header names that macros defined as `__has_include` are called with, in every
/// file of a set: a second read, only for the rare sets that define such a macro (the
/// definition may come from a file listed after its use). A file whose content is not
/// what was recorded changed during the compile.
fn alias_call_names(
    files: &[FileRec],
    cwd: &Path,
    aliases: &BTreeSet<aliases::Alias>,
) -> Result<Vec<String>, NotRecordable> {
    let aliases: Vec<aliases::Alias> = aliases.iter().cloned().collect();
    let mut names = Vec::new();
    for f in files {
        let content = std::fs::read(cwd.join(&f.path))
            .map_err(|_| NotRecordable::UnreadableInput(f.path.clone()))?;
        if digest(&content).hex() != f.digest {
            return Err(NotRecordable::ModifiedDuringCompile(f.path.clone()));
        }
        let found = aliases::alias_calls(&aliases::splice(&content), &aliases)
            .map_err(|()| NotRecordable::ComputedHasInclude(f.path.clone()))?;
        names.extend(found);
    }
    Ok(names)
}

/// What a set contributes to a depend-mode result key: every file's path and digest,
/// the `__has_include` outcome, the date.
pub fn set_key(manifest_key: &Key, set: &IncludeSet) -> Key {
    let mut h = KeyHasher::new("depend");
    h.str("depend-version", "1");
    h.field("manifest", &manifest_key.0);
    for f in &set.files {
        h.str("file", &f.path);
        h.str("digest", &f.digest);
        if set.timestamp {
            h.str("mtime", &f.mtime.to_string());
        }
    }
    for p in &set.has_include_present {
        h.str("has-include", p);
    }
    if let Some(d) = &set.date {
        h.str("date", d);
    }
    for (name, value) in &set.env {
        h.str("env-dep", name);
        h.str("env-value", value.as_deref().unwrap_or("\0unset"));
    }
    for p in &set.absent {
        h.str("absent", p);
    }
    if let Some(c) = &set.file_macro_cwd {
        h.str("file-macro-cwd", c);
    }
    h.finish()
}

/// The `result` of the set that marks a manifest "preprocessor mode only": an earlier
/// compile of this command read a header that calls `__has_include` in a way no set can
/// record (through a macro, as xxhash.h's `XXH_HAS_INCLUDE`). No lookup ever accepts it:
/// [`validate`] rejects it first, and its `date` ([`PREPROCESS_MARK_DATE`]) is never
/// today's for the versions that predate it.
pub const PREPROCESS_MARK: &str = "preprocessor-mode";
const PREPROCESS_MARK_DATE: &str = "never: preprocessor mode";

impl Manifest {
    /// Whether this command is looked up by its preprocessed text only.
    pub fn preprocessor_only(&self) -> bool {
        self.sets.iter().any(|s| s.result == PREPROCESS_MARK)
    }

    /// Mark this command for preprocessor mode (see [`PREPROCESS_MARK`]); its other sets
    /// stay and are still tried first.
    pub fn mark_preprocessor_only(&mut self) {
        self.add(IncludeSet {
            result: PREPROCESS_MARK.to_string(),
            recorded: now_ns(),
            files: Vec::new(),
            search_dirs: Vec::new(),
            watches: Vec::new(),
            has_include: Vec::new(),
            has_include_present: Vec::new(),
            date: Some(PREPROCESS_MARK_DATE.to_string()),
            timestamp: false,
            env: Vec::new(),
            absent: Vec::new(),
            file_macro_cwd: None,
        });
    }

    /// Add a set (newest first), replacing one with the same result, within the caps.
    pub fn add(&mut self, set: IncludeSet) {
        self.sets.retain(|s| s.result != set.result);
        self.sets.insert(0, set);
        self.apply_caps();
    }

    /// At most MAX_SETS sets and, past the first, MAX_FILES recorded files: the oldest go.
    fn apply_caps(&mut self) {
        self.sets.truncate(MAX_SETS);
        let mut files = 0;
        let keep = self.sets.iter().take_while(|s| {
            files += s.files.len();
            files <= MAX_FILES
        });
        let n = keep.count().max(1);
        self.sets.truncate(n);
    }

    /// Add sets recorded elsewhere (another machine's, through a remote) after this
    /// manifest's own, skipping results it already names, within the caps (which drop
    /// the added ones first). Returns how many were added before the caps.
    pub fn merge_older(&mut self, sets: Vec<IncludeSet>) -> usize {
        let before = self.sets.len();
        for set in sets {
            if self.sets.iter().all(|s| s.result != set.result) {
                self.sets.push(set);
            }
        }
        let added = self.sets.len() - before;
        self.apply_caps();
        added
    }

    /// The compact binary form (see [`codec`]): a hit decodes a manifest on every
    /// lookup, and this is about ten times cheaper to parse than JSON.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Binary manifests, and the JSON ones written before it (they start with `{`).
    /// None for anything malformed.
    pub fn decode(raw: &[u8]) -> Option<Manifest> {
        if raw.first() == Some(&b'{') {
            return serde_json::from_slice(raw).ok();
        }
        codec::decode(raw)
    }
}

mod aliases;
mod codec;
mod dirstat;
mod facts;
mod scan;
mod validate;

use scan::first_include;
pub use scan::reads_unlisted_file;
#[cfg(test)]
use scan::scan;

#[cfg(test)]
use validate::validate_at;
use validate::BuildFnv;
pub use validate::{still_valid, validate, Validity};

#[cfg(test)]
mod tests;
