//! Recording: the include set of a finished compile, from its dep file. Reads (or takes
//! from the facts cache) every file it lists, then stats the set's probes.

use super::*;

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
/// watch over each probe directory (its nearest existing ancestor's mtime and ctime),
/// with the probes it stands for (`covers`).
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
    // Per probe directory: whether it exists and its watch (an index into `watches`;
    // None when the watch could not be stat'ed), once worked out.
    let mut dir_memo: DirMemo<(bool, Option<usize>)> = DirMemo::new(set);
    let mut dir_exists: HashMap<String, bool, BuildFnv> = HashMap::default();
    let mut watch_of_dir: HashMap<String, Option<usize>, BuildFnv> = HashMap::default();
    let mut watch_index: HashMap<String, usize, BuildFnv> = HashMap::default();
    let mut watches: Vec<DirRec> = Vec::new();
    // Whether every probe has a watch: only then do the watches' `covers` account for
    // all of them (a probe without one is checked whenever any watch changed).
    let mut all_covered = true;
    let layout = Covers::of(set);
    let mut seen: HashSet<String, BuildFnv> = HashSet::default();
    let mut present = Vec::new();
    // Whether a path is a symlink, for the `..` rule: the probe directories of a
    // set spelled with `..` share their leading components (gcc's own
    // `12/../../../../x86_64-linux-gnu/include` and its subdirectories).
    let mut is_symlink =
        memo(|p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()));
    // The normalised working directory as text, when it is UTF-8 (else watches are
    // worked out through `Path`).
    let cwd_text = cwd.to_str().map(crate::util::path::normalize_str);
    let mut failed = None;
    let _ = for_each_probe(set, &lexical_files, &lexical_dirs, None, |probe| {
        let slot = dir_memo.slot(&probe);
        let (exists, watch) = match *slot {
            Some(known) => known,
            None => {
                let path = probe.path();
                let dir = dir_str(&path);
                let exists = match dir_exists.get(dir) {
                    Some(&e) => e,
                    None => {
                        let e = ds.dir_ok(&cwd.join(dir));
                        dir_exists.insert(dir.to_string(), e);
                        e
                    }
                };
                // The first probe in a directory finds the directory's watch.
                let watch = match watch_of_dir.get(dir) {
                    Some(&w) => w,
                    None => {
                        let relative = Path::new(dir).is_relative();
                        if !dotdot_is_lexical_by(cwd, dir, &mut is_symlink) {
                            failed = Some(NotRecordable::PhysicalDotDot(dir.to_string()));
                            return ControlFlow::Break(());
                        }
                        // Whether a directory exists, from what the probes' stats already
                        // found out (the same descriptors, the same answers as `is_dir`):
                        // the watches of many probe directories walk up through the same
                        // missing ones.
                        let (w, key) = match &cwd_text {
                            // As text, the way validation names watches (`Path`'s
                            // normalisation and `stored_form` were a sixth of a miss).
                            Some(cwd_text) => {
                                let parent = if relative {
                                    crate::util::path::normalize_str(&format!("{cwd_text}/{dir}"))
                                } else {
                                    crate::util::path::normalize_str(dir)
                                };
                                let w =
                                    existing_ancestor_by(Path::new(&parent), &mut |d| ds.dir_ok(d));
                                let text = w.to_str().unwrap_or_default();
                                let key = stored_form_str(text, cwd_text, cwd, bases, relative);
                                let key = key.into_owned();
                                (w, key)
                            }
                            None => {
                                let parent = crate::util::path::normalize(&cwd.join(dir));
                                let w = existing_ancestor_by(&parent, &mut |d| ds.dir_ok(d));
                                let key = stored_form(&w, cwd, bases, relative);
                                (w, key)
                            }
                        };
                        let index = match watch_index.get(&key) {
                            Some(&i) => Some(i),
                            None => ds.stat_dir(&w).map(|st| {
                                watches.push(DirRec {
                                    path: key.clone(),
                                    mtime: st.mtime,
                                    ctime: st.ctime,
                                    covers: vec![0; layout.len()],
                                });
                                watch_index.insert(key, watches.len() - 1);
                                watches.len() - 1
                            }),
                        };
                        watch_of_dir.insert(dir.to_string(), index);
                        index
                    }
                };
                *slot = Some((exists, watch));
                (exists, watch)
            }
        };
        match watch {
            Some(w) => layout.add(&mut watches[w].covers, &probe),
            None => all_covered = false,
        }
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
        ControlFlow::Continue(())
    });
    if let Some(why) = failed {
        return Err(why);
    }
    if !all_covered {
        for w in &mut watches {
            w.covers.clear();
        }
    }
    watches.sort_by(|a, b| a.path.cmp(&b.path));
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
pub(super) fn dotdot_is_lexical(cwd: &Path, dir: &str) -> bool {
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
