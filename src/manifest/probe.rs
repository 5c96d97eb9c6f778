//! Where a set's probes are: every path whose (non-)existence decides which header a
//! lookup finds (shadow candidates, `.gch` files, `__has_include` names), worked out
//! from the set alone, with the helpers that name their directories. Shared by
//! recording (record.rs) and validation (validate.rs).

use super::*;

/// The nearest existing directory at or above `p` (a new subdirectory changes it).
pub(super) fn existing_ancestor(p: &Path) -> PathBuf {
    existing_ancestor_by(p, &mut |d| d.is_dir())
}

/// [`existing_ancestor`], asking `is_dir` (a memo, when many directories share
/// ancestors).
pub(super) fn existing_ancestor_by(p: &Path, is_dir: &mut impl FnMut(&Path) -> bool) -> PathBuf {
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
pub(super) struct Probe<'a> {
    pub(super) dir: &'a str,
    pub(super) rel: &'a str,
    /// `rel` up to its last `/` (empty when it has none), worked out once per `rel`.
    pub(super) rel_dir: &'a str,
    pub(super) suffix: &'static str,
    /// Which directory `dir` is, as a small number: the search dirs by position, then the
    /// includers' directories in order, then the empty `dir` of `.gch` probes. Equal ids
    /// are equal `dir` texts, so a per-directory answer can be kept in a plain array.
    pub(super) dir_id: usize,
    /// What the probe comes from, as a bit of a watch's `covers`: the index of the file
    /// it may shadow (or whose `.gch` it is), or `files.len()` plus the index of its
    /// `__has_include` name.
    pub(super) item: usize,
}

/// `rel` up to its last `/`, empty when it has none.
fn rel_dir_of(rel: &str) -> &str {
    rel.rfind('/').map_or("", |i| &rel[..i])
}

impl<'a> Probe<'a> {
    pub(super) fn path(&self) -> String {
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
    pub(super) fn dir_key(&self) -> (&'a str, &'a str) {
        (self.dir, self.rel_dir)
    }

    /// How many distinct `dir_id`s the probes of `set` can have.
    pub(super) fn dir_ids(set: &IncludeSet) -> usize {
        set.search_dirs.len() + set.files.len() + 1
    }

    /// How many distinct `item`s the probes of `set` can have.
    pub(super) fn items(set: &IncludeSet) -> usize {
        set.files.len() + set.has_include.len()
    }

    pub(super) fn is(&self, path: &str) -> bool {
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
pub(super) struct DirMemo<'a, T> {
    n_dirs: usize,
    rel_ids: HashMap<&'a str, usize, BuildFnv>,
    /// The last `rel_dir` slice seen (pointer, length) and its number.
    last: Option<(*const u8, usize, usize)>,
    slots: Vec<Option<T>>,
}

impl<'a, T: Clone> DirMemo<'a, T> {
    pub(super) fn new(set: &IncludeSet) -> Self {
        DirMemo {
            n_dirs: Probe::dir_ids(set),
            rel_ids: HashMap::default(),
            last: None,
            slots: Vec::new(),
        }
    }

    /// The answer for `probe`'s directory: None until one is set.
    pub(super) fn slot(&mut self, probe: &Probe<'a>) -> &mut Option<T> {
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
/// dirs. `only`: when given, watches' `covers` (see [`Covers`]); the probes whose
/// `item` or `dir_id` it lacks are skipped. Stops early when `visit` breaks.
pub(super) fn for_each_probe<'a>(
    set: &'a IncludeSet,
    lexical_files: &'a [String],
    lexical_dirs: &'a [String],
    only: Option<&[u8]>,
    mut visit: impl FnMut(Probe<'a>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let layout = Covers::of(set);
    let wanted = |item: usize| only.is_none_or(|bits| layout.has_item(bits, item));
    let wanted_dir = |dir_id: usize| only.is_none_or(|bits| layout.has_dir(bits, dir_id));
    let includer_dirs: BTreeSet<&str> = set.files.iter().map(|f| dir_str(&f.path)).collect();
    let n = set.search_dirs.len();
    let includers = includer_dirs
        .iter()
        .copied()
        .enumerate()
        .map(|(j, d)| (n + j, d));
    for (item, (f, file)) in set.files.iter().zip(lexical_files).enumerate().skip(1) {
        if !wanted(item) {
            continue;
        }
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
                    if !wanted_dir(dir_id) {
                        continue;
                    }
                    let p = Probe {
                        dir,
                        rel,
                        rel_dir,
                        suffix: "",
                        dir_id,
                        item,
                    };
                    if !p.is(&f.path) {
                        visit(p)?;
                    }
                }
            }
        }
    }
    // gcc silently reads `<header>.gch` instead of a header that has one beside it.
    let gch_dir = Probe::dir_ids(set) - 1;
    for (item, f) in set.files.iter().enumerate().skip(1) {
        if !wanted(item) || !wanted_dir(gch_dir) {
            continue;
        }
        visit(Probe {
            dir: "",
            rel: &f.path,
            rel_dir: rel_dir_of(&f.path),
            suffix: ".gch",
            dir_id: gch_dir,
            item,
        })?;
    }
    for (j, name) in set.has_include.iter().enumerate() {
        let item = set.files.len() + j;
        if !wanted(item) {
            continue;
        }
        let rel_dir = rel_dir_of(name);
        let dirs = set.search_dirs.iter().map(String::as_str).enumerate();
        for (dir_id, dir) in dirs.chain(includers.clone()) {
            if !wanted_dir(dir_id) {
                continue;
            }
            visit(Probe {
                dir,
                rel: name,
                rel_dir,
                suffix: "",
                dir_id,
                item,
            })?;
        }
    }
    ControlFlow::Continue(())
}

/// Every probe's path, once each: (path relative to cwd, must exist). The tests' oracle
/// for [`stat_probes`].
#[cfg(test)]
pub(super) fn probes(set: &IncludeSet) -> Vec<(String, bool)> {
    let lexical_files: Vec<String> = set.files.iter().map(|f| lexical(&f.path)).collect();
    let lexical_dirs: Vec<String> = set.search_dirs.iter().map(|d| lexical(d)).collect();
    let present: HashSet<&str, BuildFnv> =
        set.has_include_present.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    // Room for a typical C++ set's probes up front (a LevelDB file has 14,000): growing
    // a table of strings rehashes every one of them each time it doubles.
    let mut seen: HashSet<String, BuildFnv> =
        HashSet::with_capacity_and_hasher((set.files.len() * 64).min(1 << 15), BuildFnv::default());
    let _ = for_each_probe(set, &lexical_files, &lexical_dirs, None, |p| {
        let path = p.path();
        if seen.insert(path.clone()) {
            let exists = present.contains(path.as_str());
            out.push((path, exists));
        }
        ControlFlow::Continue(())
    });
    out
}

/// The layout of a watch's `covers`: a bitmap of the `item`s its probes come from, then
/// one of their `dir_id`s. A probe under the watch has both bits set, so a probe lacking
/// either is under another watch.
#[derive(Clone, Copy)]
pub(super) struct Covers {
    item_bytes: usize,
    dir_bytes: usize,
}

impl Covers {
    pub(super) fn of(set: &IncludeSet) -> Self {
        Covers {
            item_bytes: Probe::items(set).div_ceil(8),
            dir_bytes: Probe::dir_ids(set).div_ceil(8),
        }
    }

    /// The length of every watch's `covers` in the set.
    pub(super) fn len(&self) -> usize {
        self.item_bytes + self.dir_bytes
    }

    /// Record `probe` in `bits` (of [`Covers::len`] bytes).
    pub(super) fn add(&self, bits: &mut [u8], probe: &Probe) {
        set_bit(&mut bits[..self.item_bytes], probe.item);
        set_bit(&mut bits[self.item_bytes..], probe.dir_id);
    }

    pub(super) fn has_item(&self, bits: &[u8], item: usize) -> bool {
        bit(&bits[..self.item_bytes.min(bits.len())], item)
    }

    pub(super) fn has_dir(&self, bits: &[u8], dir_id: usize) -> bool {
        bit(bits.get(self.item_bytes..).unwrap_or_default(), dir_id)
    }
}

/// Whether bit `i` of `bits` is set (a bit past its end is not).
fn bit(bits: &[u8], i: usize) -> bool {
    bits.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
}

fn set_bit(bits: &mut [u8], i: usize) {
    bits[i / 8] |= 1 << (i % 8);
}

/// `dir_of` without allocating: the text before the last `/` (`.` when there is none).
/// Only a lookup key: `a//b` gives `a/`, which names the same directory as `a`.
pub(super) fn dir_str(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => ".",
    }
}

/// `./a/../b` -> `b` (no file system access); `.` for an empty result.
pub(super) fn lexical(p: &str) -> String {
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
pub(super) fn stored_form(
    abs: &Path,
    cwd: &Path,
    bases: &[PathBuf],
    probe_relative: bool,
) -> String {
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

/// [`stored_form`] of a normalised absolute path given as text (`cwd_text`: the
/// normalised working directory).
pub(super) fn stored_form_str<'a>(
    abs: &'a str,
    cwd_text: &str,
    cwd: &Path,
    bases: &[PathBuf],
    probe_relative: bool,
) -> std::borrow::Cow<'a, str> {
    use std::borrow::Cow;
    if abs == cwd_text {
        return Cow::Borrowed(".");
    }
    if let Some(rel) = abs.strip_prefix(cwd_text).and_then(|r| {
        r.strip_prefix('/')
            .or(if cwd_text == "/" { Some(r) } else { None })
    }) {
        return Cow::Borrowed(rel);
    }
    if !probe_relative && !bases.iter().any(|b| Path::new(abs).starts_with(b)) {
        return Cow::Borrowed(abs);
    }
    Cow::Owned(stored_form(Path::new(abs), cwd, bases, probe_relative))
}
