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
//!   Each watch also records which probes it stands for, so that a changed one costs
//!   its own probes, not a walk through all of them;
//! * the literal names probed by `__has_include` and which candidate paths existed;
//! * the date when `__DATE__` is used, and whether `__TIMESTAMP__` is (then mtimes must
//!   match exactly). A file using `__TIME__` is never recorded (caching-spec A2).
//!
//! Files modified at or after the compile started are never recorded (A3).
//! Manifests are stored as entries (kind 2) with a JSON payload, replaced atomically:
//! concurrent writers may lose an update (a later miss re-adds it) but never tear one.

use crate::hash::{digest, Key, KeyHasher};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
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
    /// Which of the set's probes this directory watches, as a bitmap over the items they
    /// come from (a file's index; past the files, a `__has_include` name's): when it
    /// changed, only the probes of those items are checked. Empty in sets recorded
    /// before it existed, whose changed watches cost a walk through every probe.
    #[serde(default)]
    pub covers: Vec<u8>,
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
    if let Some(sde) = crate::util::env::var_os("SOURCE_DATE_EPOCH") {
        return format!("sde:{}", sde.to_string_lossy());
    }
    // The type is inferred as `time_t`, whose name libc deprecates on musl.
    let t = (at_ns / 1_000_000_000) as _;
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
mod probe;
mod record;
mod scan;
mod validate;

use probe::*;
pub use record::record;
#[cfg(test)]
use record::*;

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
