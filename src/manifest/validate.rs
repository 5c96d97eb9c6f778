//! Checking an include set at lookup: the recorded date and environment, every recorded
//! file (stat, then digest outside the racy window), then the watched directories; the
//! exact probes only below directories that changed, and the refresh of such
//! directories' stat when the probes still hold ([`Validity::Refreshed`]).

use super::*;

/// What checking an include set against the file system found.
#[derive(Debug)]
pub enum Validity {
    Invalid,
    Valid,
    /// Valid, but watched directories had changed (a build deleting its object directory
    /// changes the working directory) without anything the compile would see changing:
    /// the same set with their new stat, to be stored so that later hits skip the probes.
    Refreshed(Box<IncludeSet>),
}

/// Does `set` still describe what the compiler would read now?
pub fn still_valid(
    set: &IncludeSet,
    cwd: &Path,
    bases: &[PathBuf],
    digest_cache: Option<&Path>,
) -> bool {
    !matches!(validate(set, cwd, bases, digest_cache), Validity::Invalid)
}

/// [`still_valid`], saying also whether the set should be stored with refreshed watches.
pub fn validate(
    set: &IncludeSet,
    cwd: &Path,
    bases: &[PathBuf],
    digest_cache: Option<&Path>,
) -> Validity {
    // Before any stat: what this check proves holds from here on.
    validate_at(set, cwd, bases, digest_cache, now_ns())
}

/// [`validate`] for a check that began at `start` (tests put it later than now).
pub(super) fn validate_at(
    set: &IncludeSet,
    cwd: &Path,
    bases: &[PathBuf],
    digest_cache: Option<&Path>,
    start: i64,
) -> Validity {
    if set.result == PREPROCESS_MARK {
        return Validity::Invalid;
    }
    if let Some(d) = &set.date {
        if *d != current_date() {
            return Validity::Invalid;
        }
    }
    for (name, value) in &set.env {
        let now = crate::util::env::var_os(name)
            .and_then(|v| v.into_string().ok())
            .map(|v| crate::compiler::rustc::escape_env(&v));
        if now != *value {
            return Validity::Invalid;
        }
    }
    if set.absent.iter().any(|p| cwd.join(p).exists()) {
        return Validity::Invalid;
    }
    if set
        .file_macro_cwd
        .as_deref()
        .is_some_and(|c| Path::new(c) != cwd)
    {
        return Validity::Invalid;
    }
    // Saturating: `recorded` comes from a stored manifest, which may hold any number.
    let settled = set.recorded.saturating_sub(RACY_NS);
    let mut dirs = dirstat::DirStat::default();
    for f in &set.files {
        let full = cwd.join(&f.path);
        // Only regular files were ever recorded: anything else (a manifest naming
        // /dev/zero, a FIFO) would be read without end when its digest is checked.
        let Some(st) = dirs.stat(&full).filter(|st| st.regular) else {
            return Validity::Invalid;
        };
        if st.size != f.size || (set.timestamp && st.mtime != f.mtime) {
            return Validity::Invalid;
        }
        let same_stat = st.mtime == f.mtime && st.ctime == f.ctime && st.id == (f.dev, f.ino);
        let trusted = same_stat && f.mtime < settled && f.ctime < settled;
        if !trusted {
            // Through the shared digest cache when there is one: a touched header is
            // hashed once, not once per manifest and per hit.
            let d = match digest_cache {
                Some(dir) => crate::digest_cache::digest_file(dir, &full).ok(),
                None => std::fs::read(&full).ok().map(|c| digest(&c)),
            };
            if d.map(|d| d.hex()).as_deref() != Some(f.digest.as_str()) {
                return Validity::Invalid;
            }
        }
    }
    // Each changed watch with its stat now (taken before its probes are checked).
    let changed: HashMap<&str, Option<(i64, i64)>> = set
        .watches
        .iter()
        .filter_map(|w| {
            let now = dirs
                .stat_dir(&cwd.join(&w.path))
                .map(|s| (s.mtime, s.ctime));
            // A directory changed within a clock tick of the recording may hide an entry
            // added in that tick: treat it as changed.
            let racy = w.mtime >= settled || w.ctime >= settled;
            (racy || now != Some((w.mtime, w.ctime))).then_some((w.path.as_str(), now))
        })
        .collect();
    if changed.is_empty() {
        return Validity::Valid;
    }
    match probes_hold(
        set,
        cwd,
        bases,
        &changed,
        covered_by(set, &changed).as_deref(),
    ) {
        None => Validity::Invalid,
        Some(false) => Validity::Valid,
        Some(true) => refreshed(set, start, &changed),
    }
}

/// The set with every changed watch's new stat and `recorded` moved to `start`, the
/// moment before this check began: all its files were found unchanged (by stat, or by
/// digest when the stat was racy) and its probes as recorded after `start`. A new stat
/// still within the racy window of `start` stays "changed" next time. `Valid` when no
/// watch would stop being checked.
fn refreshed(
    set: &IncludeSet,
    start: i64,
    changed: &HashMap<&str, Option<(i64, i64)>>,
) -> Validity {
    let settled = start.saturating_sub(RACY_NS);
    let gains = changed
        .values()
        .any(|now| now.is_some_and(|(m, c)| m < settled && c < settled));
    if !gains {
        return Validity::Valid;
    }
    let mut fresh = set.clone();
    fresh.recorded = start;
    for w in &mut fresh.watches {
        if let Some(Some((m, c))) = changed.get(w.path.as_str()) {
            (w.mtime, w.ctime) = (*m, *c);
        }
    }
    Validity::Refreshed(Box::new(fresh))
}

/// The union of the `changed` watches' `covers` (see [`Covers`]): the items and the
/// directories of every probe that can be under one of them. None when one of them has
/// no `covers` (a set recorded before them): then every probe is looked at.
pub(super) fn covered_by(
    set: &IncludeSet,
    changed: &HashMap<&str, Option<(i64, i64)>>,
) -> Option<Vec<u8>> {
    let n = Covers::of(set).len();
    let mut union = vec![0u8; n];
    for w in set
        .watches
        .iter()
        .filter(|w| changed.contains_key(w.path.as_str()))
    {
        if w.covers.len() != n || n == 0 {
            return None;
        }
        for (u, c) in union.iter_mut().zip(&w.covers) {
            *u |= c;
        }
    }
    Some(union)
}

/// Check the probes under changed (or unrecorded) watches: None when one appeared or
/// vanished, else whether the changed watches may be refreshed. One may not when it
/// vanished, or when a directory now exists between it and one of its probes.
/// `only`: which probes can be under a changed watch ([`covered_by`]); the others are
/// not looked at.
fn probes_hold(
    set: &IncludeSet,
    cwd: &Path,
    bases: &[PathBuf],
    changed: &HashMap<&str, Option<(i64, i64)>>,
    only: Option<&[u8]>,
) -> Option<bool> {
    let watched: HashSet<&str, BuildFnv> = set.watches.iter().map(|w| w.path.as_str()).collect();
    let present: HashSet<&str, BuildFnv> =
        set.has_include_present.iter().map(String::as_str).collect();
    // Only the files whose probes are walked need their lexical form.
    let layout = Covers::of(set);
    let lexical_files: Vec<String> = set
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| match only {
            Some(bits) if !layout.has_item(bits, i) => String::new(),
            _ => lexical(&f.path),
        })
        .collect();
    let lexical_dirs: Vec<String> = set.search_dirs.iter().map(|d| lexical(d)).collect();
    // Thousands of probes share a few hundred directories: resolve each directory's watch
    // once, and build a probe's path only when its directory needs checking.
    // The answer per probe directory: unknown / no / yes.
    let n_dirs = Probe::dir_ids(set);
    let mut memo: DirMemo<bool> = DirMemo::new(set);
    let mut resolved = 0usize;
    let mut dir_lex: Vec<Option<String>> = vec![None; n_dirs];
    let cwd_text = crate::util::path::normalize_str(&cwd.to_string_lossy());
    let mut stuck: HashSet<String> = HashSet::new();
    let (mut seen, mut checked) = (0usize, 0usize);
    let flow = for_each_probe(set, &lexical_files, &lexical_dirs, only, |probe| {
        seen += 1;
        let (dir, rel_dir) = probe.dir_key();
        let slot = memo.slot(&probe);
        let check = *slot.get_or_insert_with(|| {
            resolved += 1;
            // Most probes sit directly in a watched directory, named as it was stored
            // (stored forms are normalised, so an equal string is that directory). An
            // includer's directory may be spelled with `..` (`src/lib/../common`): compare
            // it lexically normalised, as the parent below is.
            let dir: &str = dir_lex[probe.dir_id].get_or_insert_with(|| {
                if dir.is_empty() || dir.starts_with('/') || plain(dir) {
                    dir.to_string()
                } else {
                    lexical(dir)
                }
            });
            if rel_dir.is_empty() {
                if let Some(&w) = watched.get(dir) {
                    return match changed.get(w) {
                        None => false,
                        Some(now) => {
                            if now.is_none() {
                                stuck.insert(w.to_string());
                            }
                            true
                        }
                    };
                }
            }
            // Below a watched directory that no changed watch is at or under, the
            // probe's own watch (that directory or a deeper one) is unchanged.
            if !matches!(dir, "" | "." | "/")
                && watched.contains(dir)
                && plain(rel_dir)
                && !changed.keys().any(|w| {
                    w.strip_prefix(dir)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                })
            {
                return false;
            }
            let relative = if dir.is_empty() {
                !probe.rel.starts_with('/')
            } else {
                !dir.starts_with('/')
            };
            // The watch recorded for this probe: its nearest recorded ancestor directory.
            // (Text forms: one that differs from what `record` stored finds no watch, and
            // its probes are all checked.)
            let (watch, parent) =
                nearest_watch(dir, rel_dir, relative, &cwd_text, cwd, bases, &watched);
            let Some(w) = watch else { return true };
            match changed.get(w.as_str()) {
                None => false,
                Some(now) => {
                    // Refreshing `w` is sound only while it is still the nearest existing
                    // directory above the probe: a file created in a new subdirectory
                    // would not change `w`.
                    let nearest = existing_ancestor(Path::new(&parent.absolute(&cwd_text)));
                    if now.is_none() || stored_form(&nearest, cwd, bases, relative) != w {
                        stuck.insert(w);
                    }
                    true
                }
            }
        });
        if !check {
            return ControlFlow::Continue(());
        }
        checked += 1;
        let path = probe.path();
        if cwd.join(&path).exists() != present.contains(path.as_str()) {
            log::debug!("direct mode: {path} appeared or vanished; include set invalid");
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    log::debug!(
        "direct mode: {checked} of {seen} probes checked ({} directories) for changed watches {:?}",
        resolved,
        changed.keys()
    );
    if flow.is_break() {
        return None;
    }
    if !stuck.is_empty() {
        log::debug!("direct mode: watches {stuck:?} no longer cover their probes");
    }
    Some(stuck.is_empty())
}

/// A probe directory, normalised: absolute, or relative to the working directory and
/// under it (without `..` in front).
enum ProbeDir {
    Absolute(String),
    UnderCwd(String),
}

impl ProbeDir {
    fn absolute(&self, cwd_text: &str) -> String {
        match self {
            ProbeDir::Absolute(p) => p.clone(),
            ProbeDir::UnderCwd(r) if r.is_empty() => cwd_text.to_string(),
            ProbeDir::UnderCwd(r) => {
                let sep = if cwd_text.ends_with('/') { "" } else { "/" };
                format!("{cwd_text}{sep}{r}")
            }
        }
    }
}

/// The probe directory `dir`/`rel_dir` (relative to the working directory when
/// `relative`), and its nearest ancestor, itself included, that `watched` holds in its
/// stored form ([`stored_form`]).
fn nearest_watch(
    dir: &str,
    rel_dir: &str,
    relative: bool,
    cwd_text: &str,
    cwd: &Path,
    bases: &[PathBuf],
    watched: &HashSet<&str, BuildFnv>,
) -> (Option<String>, ProbeDir) {
    let mut joined = String::with_capacity(cwd_text.len() + dir.len() + rel_dir.len() + 2);
    if relative {
        // Most relative probe directories lie under the working directory, where a
        // directory's stored form is its normalised relative path: walked up without
        // the working directory's own components.
        if !dir.is_empty() {
            joined.push_str(dir);
            joined.push('/');
        }
        joined.push_str(rel_dir);
        let lex = crate::util::path::normalize_str(&joined);
        if lex != ".." && !lex.starts_with("../") {
            let mut cur: &str = if lex.is_empty() { "." } else { &lex };
            loop {
                if watched.contains(cur) {
                    let w = cur.to_string();
                    return (Some(w), ProbeDir::UnderCwd(lex));
                }
                match cur.rfind('/') {
                    Some(i) => cur = &cur[..i],
                    None if cur != "." => cur = ".",
                    None => break,
                }
            }
        }
        // Above the working directory, or under it without a watch there: the whole
        // path, up to the root.
        joined.clear();
        joined.push_str(cwd_text);
        joined.push('/');
    }
    joined.push_str(dir);
    joined.push('/');
    joined.push_str(rel_dir);
    let parent = crate::util::path::normalize_str(&joined);
    let mut cur: &str = &parent;
    let watch = loop {
        let s = stored_form_str(cur, cwd_text, cwd, bases, relative);
        if watched.contains(s.as_ref()) {
            break Some(s.into_owned());
        }
        match cur.rfind('/') {
            Some(0) if cur.len() > 1 => cur = "/",
            Some(i) if i > 0 => cur = &cur[..i],
            _ => break None,
        }
    };
    (watch, ProbeDir::Absolute(parent))
}

/// FNV-1a, for the per-probe lookups of [`probes_hold`] and of `record`: SipHash was a
/// fifth of a validation's instructions there, and 15% of a miss's. Collisions only cost time; the keys come from a
/// manifest whose size is capped.
#[derive(Default)]
pub(super) struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub(super) type BuildFnv = std::hash::BuildHasherDefault<Fnv>;

/// No empty, `.` or `..` component: the text is already in its lexical normal form.
fn plain(r: &str) -> bool {
    r.split('/').all(|c| !matches!(c, "" | "." | ".."))
}
