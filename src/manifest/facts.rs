//! What recording learns from reading a file: its content digest and what [`scan`]
//! finds in it. Remembered on disk by the file's (path, device, inode, size, mtime,
//! ctime), as the digest cache (`digest_cache.rs`) remembers digests, so that the
//! system headers every C++ miss reads (about 200 files, 2 MB, for a LevelDB file) are
//! read, hashed and scanned once, not at every miss.
//!
//! One record ("pack") per directory, not per file: a miss reads a few dozen packs
//! instead of hundreds of small files, and a cold build creates a few dozen files
//! (creating a file cost 0.1-0.2 ms on this project's test machine). A pack keeps one
//! entry per file name, the last stat seen, so editing a header replaces its entry and
//! packs do not grow with edits.
//!
//! An entry is added only when the file's mtime and ctime are more than the racy window
//! ([`super::RACY_NS`], 2 s) in the past (a file rewritten within the same clock tick could keep its stat and get a
//! stale entry), and only when the file's stat after the read equals its stat before.
//! Concurrent misses may each rewrite a pack: the last rename wins, and what the other
//! added is added again by a later miss; entries are keyed by stat, so none is wrong.
//!
//! Layout: `<cache dir>/facts-v1/<h0h1>/<BLAKE3 of (C scan or not, directory)>`, text:
//!
//! ```text
//! cachepot-facts 1 <code id: see code_id> <0|1: scanned as C> <directory>
//! <name>\t<dev> <ino> <size> <mtime s>.<ns> <ctime s>.<ns>\t<digest>\t<flags>[\ti<has_include name>]...[\ta<0|1><alias>]...
//! sum <BLAKE3 of all the text before this line>
//! ```
//!
//! Entries are sorted by name (looked up by binary search). `<flags>` is six 0/1 digits:
//! `__TIME__`, `__FILE__`, `__DATE__`, `__TIMESTAMP__`, computed `__has_include`,
//! unlisted input. A pack whose sum does not match, or that names another directory,
//! is no pack; an entry that does not parse is no entry. Names holding a tab or a
//! newline are never remembered.

use super::aliases::Alias;
use super::scan::{reads_unlisted_file, scan, Scan};
use crate::hash::digest;
use std::collections::{BTreeMap, HashMap};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Everything recording needs from a file's content.
pub(super) struct Facts {
    /// BLAKE3 of the content, 64 hex digits.
    pub(super) digest: String,
    pub(super) scan: Scan,
    /// [`reads_unlisted_file`] (checked for C sources only, else false).
    pub(super) reads_unlisted: bool,
}

impl Facts {
    /// Read them off `content`; `c_tokens` as for `record`.
    pub(super) fn of(content: &[u8], c_tokens: bool) -> Facts {
        Facts {
            digest: digest(content).hex(),
            scan: if c_tokens { scan(content) } else { scan(b"") },
            reads_unlisted: c_tokens && reads_unlisted_file(content),
        }
    }

    /// The entry's fields after the stat: digest, flags, names. None when a name cannot
    /// be written (a tab or a newline in it).
    fn encode(&self) -> Option<String> {
        let s = &self.scan;
        let bit = |b: bool| if b { '1' } else { '0' };
        let mut out = String::with_capacity(80);
        out.push_str(&self.digest);
        out.push('\t');
        for b in [
            s.time,
            s.file,
            s.date,
            s.timestamp,
            s.computed_has_include,
            self.reads_unlisted,
        ] {
            out.push(bit(b));
        }
        let plain = |n: &str| !n.contains(['\t', '\n']);
        for name in &s.has_include {
            if !plain(name) {
                return None;
            }
            out.push_str("\ti");
            out.push_str(name);
        }
        for a in &s.has_include_aliases {
            if !plain(&a.name) {
                return None;
            }
            out.push_str("\ta");
            out.push(bit(a.function_like));
            out.push_str(&a.name);
        }
        Some(out)
    }

    fn decode(fields: &str) -> Option<Facts> {
        let mut it = fields.split('\t');
        let digest = it.next()?;
        if digest.len() != 64 || !digest.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let flags = it.next()?.as_bytes();
        if flags.len() != 6 || !flags.iter().all(|c| matches!(c, b'0' | b'1')) {
            return None;
        }
        let f = |i: usize| flags[i] == b'1';
        let mut facts = Facts {
            digest: digest.to_string(),
            scan: Scan {
                time: f(0),
                file: f(1),
                date: f(2),
                timestamp: f(3),
                has_include: Vec::new(),
                computed_has_include: f(4),
                has_include_aliases: Vec::new(),
            },
            reads_unlisted: f(5),
        };
        for field in it {
            if let Some(name) = field.strip_prefix('i') {
                facts.scan.has_include.push(name.to_string());
            } else if let Some(rest) = field.strip_prefix('a') {
                let function_like = match rest.as_bytes().first()? {
                    b'0' => false,
                    b'1' => true,
                    _ => return None,
                };
                facts.scan.has_include_aliases.push(Alias {
                    name: rest[1..].to_string(),
                    function_like,
                });
            } else {
                return None;
            }
        }
        Some(facts)
    }
}

/// The stat fields an entry is keyed on, as written in the pack.
fn stat_text(m: &std::fs::Metadata) -> String {
    crate::util::fs::stat_fields(m)
}

/// Which scanning code wrote a pack: the digest of its source text, so that any change
/// to what [`scan`] or [`reads_unlisted_file`] report (or to this format) makes earlier
/// packs no packs, with no version number to forget to bump.
fn code_id() -> String {
    let mut h = crate::hash::KeyHasher::new("facts-code");
    for (name, text) in [
        ("scan.rs", include_str!("scan.rs")),
        ("aliases.rs", include_str!("aliases.rs")),
        ("facts.rs", include_str!("facts.rs")),
    ] {
        h.str(name, text);
    }
    h.finish().hex()[..16].to_string()
}

fn header(c_tokens: bool, code: &str, dir: &Path) -> String {
    format!(
        "cachepot-facts 1 {code} {} {}\n",
        u8::from(c_tokens),
        dir.display()
    )
}

/// One directory's pack as read: its text and where each entry line starts and ends.
struct Pack {
    file: PathBuf,
    text: String,
    /// (start, end) of each entry line in `text`, in name order.
    lines: Vec<(usize, usize)>,
    /// Entries to add: name -> fields after the name.
    added: BTreeMap<String, String>,
}

impl Pack {
    fn load(file: PathBuf, head: &str) -> Pack {
        let text = crate::util::fs::read_record(&file).unwrap_or_default();
        let lines = Self::entries(&text, head).unwrap_or_else(|| {
            if !text.is_empty() {
                log::info!(
                    "facts cache: {} is damaged or from another cachepot; its files are read",
                    file.display()
                );
            }
            Vec::new()
        });
        Pack {
            file,
            text,
            lines,
            added: BTreeMap::new(),
        }
    }

    /// The entry lines of `text` when it is a whole pack with header `head`.
    fn entries(text: &str, head: &str) -> Option<Vec<(usize, usize)>> {
        let body = text.strip_prefix(head)?;
        let last = body.strip_suffix('\n')?.rfind('\n').map_or(0, |i| i + 1);
        let sum = body[last..].strip_prefix("sum ")?.strip_suffix('\n')?;
        if digest(&text.as_bytes()[..head.len() + last]).hex() != sum {
            return None;
        }
        let mut lines = Vec::new();
        let mut at = head.len();
        for line in body[..last].split_terminator('\n') {
            lines.push((at, at + line.len()));
            at += line.len() + 1;
        }
        Some(lines)
    }

    /// The fields after `name` of its entry.
    fn find(&self, name: &str) -> Option<&str> {
        let name_of = |&(s, e): &(usize, usize)| {
            let line = &self.text[s..e];
            line.split_once('\t').map_or(line, |(n, _)| n)
        };
        let i = self.lines.binary_search_by(|l| name_of(l).cmp(name)).ok()?;
        let (s, e) = self.lines[i];
        self.text[s..e].split_once('\t').map(|(_, rest)| rest)
    }
}

/// The facts cache of one recording: packs are read once each, and entries added
/// meanwhile are written by [`FactsCache::flush`].
pub(super) struct FactsCache {
    /// The cache directory; packs are `records::record_path(cache_dir, "facts-v1", ..)`.
    cache_dir: PathBuf,
    c_tokens: bool,
    /// [`code_id`].
    code: String,
    packs: HashMap<PathBuf, Pack>,
}

impl FactsCache {
    pub(super) fn new(cache_dir: &Path, c_tokens: bool) -> FactsCache {
        FactsCache {
            cache_dir: cache_dir.to_path_buf(),
            c_tokens,
            code: code_id(),
            packs: HashMap::new(),
        }
    }

    /// The pack of the directory of `path` (absolute: the caller joins the dep file's
    /// spelling to the working directory), and the file's name in it.
    fn pack_of(&mut self, path: &Path) -> Option<(&mut Pack, String)> {
        let (dir, name) = (path.parent()?, path.file_name()?.to_str()?);
        if name.contains(['\t', '\n']) {
            return None;
        }
        if !self.packs.contains_key(dir) {
            let mut key = vec![u8::from(self.c_tokens)];
            key.extend_from_slice(dir.as_os_str().as_bytes());
            let file = crate::storage::records::record_path(
                &self.cache_dir,
                "facts-v1",
                &digest(&key).hex(),
            );
            let pack = Pack::load(file, &header(self.c_tokens, &self.code, dir));
            self.packs.insert(dir.to_path_buf(), pack);
        }
        Some((self.packs.get_mut(dir)?, name.to_string()))
    }

    /// The remembered facts of the file at `path` with stat `m`.
    pub(super) fn lookup(&mut self, path: &Path, m: &std::fs::Metadata) -> Option<Facts> {
        let (pack, name) = self.pack_of(path)?;
        let (stat, fields) = pack.find(&name)?.split_once('\t')?;
        if stat != stat_text(m) {
            return None;
        }
        Facts::decode(fields)
    }

    /// Remember `facts` for the file at `path` with stat `m`, unless it changed too
    /// recently.
    pub(super) fn remember(&mut self, path: &Path, m: &std::fs::Metadata, facts: &Facts) {
        // The racy window that validation applies to recorded stats (mod.rs).
        let stat = super::stat_of(m);
        let since = super::now_ns() - super::RACY_NS;
        if stat.mtime >= since || stat.ctime >= since {
            return;
        }
        let Some(fields) = facts.encode() else {
            return;
        };
        if let Some((pack, name)) = self.pack_of(path) {
            pack.added
                .insert(name, format!("{}\t{fields}", stat_text(m)));
        }
    }

    /// Write the packs that gained entries: each read again (another miss may have
    /// written it since), merged (a name's new entry replaces its old one), and replaced
    /// atomically. A failure (read-only or full cache) only costs later misses reads.
    pub(super) fn flush(self) {
        for (dir, pack) in self.packs {
            if pack.added.is_empty() {
                continue;
            }
            let head = header(self.c_tokens, &self.code, &dir);
            let now = crate::util::fs::read_record(&pack.file).unwrap_or_default();
            let mut all: BTreeMap<&str, &str> = BTreeMap::new();
            for (s, e) in Pack::entries(&now, &head).unwrap_or_default() {
                if let Some((name, rest)) = now[s..e].split_once('\t') {
                    all.insert(name, rest);
                }
            }
            for (name, rest) in &pack.added {
                all.insert(name, rest);
            }
            let mut text = head;
            for (name, rest) in all {
                text.push_str(name);
                text.push('\t');
                text.push_str(rest);
                text.push('\n');
            }
            let sum = digest(text.as_bytes()).hex();
            text.push_str("sum ");
            text.push_str(&sum);
            text.push('\n');
            let stored =
                crate::storage::records::write(&self.cache_dir, &pack.file, text.as_bytes());
            if let Err(e) = stored {
                log::debug!("facts cache: cannot write {}: {e}", pack.file.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Facts {
        let mut f = Facts::of(
            b"#if __has_include(<a b.h>) && __has_include(\"q/r.h\")\n#define HI(x) __has_include(x)\n#define HJ __has_include_next\nconst char *d = __DATE__ __FILE__;\n",
            true,
        );
        f.reads_unlisted = true;
        f
    }

    fn flags(f: &Facts) -> [bool; 6] {
        let s = &f.scan;
        [
            s.time,
            s.file,
            s.date,
            s.timestamp,
            s.computed_has_include,
            f.reads_unlisted,
        ]
    }

    #[test]
    fn an_entry_reads_back_as_written() {
        let f = sample();
        assert_eq!(f.scan.has_include, ["a b.h", "q/r.h"]);
        assert_eq!(f.scan.has_include_aliases.len(), 2);
        let text = f.encode().unwrap();
        let back = Facts::decode(&text).expect("decodes");
        assert_eq!(back.encode().unwrap(), text);
        assert_eq!(back.digest, f.digest);
        assert_eq!(back.scan.has_include, f.scan.has_include);
        assert_eq!(back.scan.has_include_aliases, f.scan.has_include_aliases);
        assert_eq!(flags(&back), flags(&f));
        assert_eq!(flags(&f), [false, true, true, false, false, true]);
        for bad in [
            text.replace("\t011001", "\t01100"),
            text.replace("\t011001", "\t01100x"),
            text.replace("\ta1HI", "\ta2HI"),
            text.replace("\tiq/r.h", "\tq/r.h"),
            format!("0{text}"),
        ] {
            assert!(Facts::decode(&bad).is_none(), "{bad:?}");
        }
        let mut tab = sample();
        tab.scan.has_include.push("a\tb.h".into());
        assert!(tab.encode().is_none(), "a name with a tab is not written");
    }

    /// A scratch directory with old (remembered) and new (too recent) headers.
    fn scratch(tag: &str) -> (PathBuf, PathBuf) {
        let d = std::env::temp_dir().join(format!("cachepot-facts-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("inc")).unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        for name in ["a.h", "b.h", "new.h"] {
            std::fs::write(d.join("inc").join(name), format!("int {};\n", &name[..1])).unwrap();
        }
        for name in ["a.h", "b.h"] {
            let f = std::fs::File::options()
                .write(true)
                .open(d.join("inc").join(name))
                .unwrap();
            f.set_modified(old).unwrap();
        }
        (d.join("cache"), d.join("inc"))
    }

    /// `remember` an entry for each of `names` in `inc`, from the file's content.
    fn remember(cache: &Path, inc: &Path, names: &[&str]) {
        let mut c = FactsCache::new(cache, true);
        for name in names {
            let p = inc.join(name);
            c.remember(
                &p,
                &std::fs::metadata(&p).unwrap(),
                &Facts::of(&std::fs::read(&p).unwrap(), true),
            );
        }
        c.flush();
    }

    fn lookup(cache: &Path, p: &Path) -> Option<Facts> {
        FactsCache::new(cache, true).lookup(p, &std::fs::metadata(p).unwrap())
    }

    /// Setting the mtime back leaves the ctime at now: only a file old on both counts
    /// is remembered, as a system header is.
    #[test]
    fn only_files_older_than_the_racy_window_are_remembered() {
        let (cache, inc) = scratch("racy");
        remember(&cache, &inc, &["new.h", "a.h"]);
        assert!(lookup(&cache, &inc.join("new.h")).is_none());
        assert!(
            lookup(&cache, &inc.join("a.h")).is_none(),
            "a ctime of now is too recent"
        );
        assert!(
            !cache.join("facts-v1").exists(),
            "nothing to write, no pack"
        );
        let sys = Path::new("/usr/include");
        remember(&cache, sys, &["stdio.h", "stdlib.h"]);
        let f = lookup(&cache, &sys.join("stdio.h")).expect("remembered");
        assert_eq!(
            f.digest,
            digest(&std::fs::read("/usr/include/stdio.h").unwrap()).hex()
        );
        assert!(lookup(&cache, &sys.join("stdlib.h")).is_some());
        assert!(
            lookup(&cache, &sys.join("string.h")).is_none(),
            "never remembered"
        );
        // Scanned as C or not: two packs.
        assert!(FactsCache::new(&cache, false)
            .lookup(
                &sys.join("stdio.h"),
                &std::fs::metadata(sys.join("stdio.h")).unwrap()
            )
            .is_none());
        std::fs::remove_dir_all(cache.parent().unwrap()).unwrap();
    }

    /// Entries merge with what another recording wrote meanwhile; a file's new stat
    /// replaces its entry; a changed stat finds nothing; a damaged pack is no pack.
    #[test]
    fn packs_merge_replace_and_reject_damage() {
        let (cache, inc) = scratch("merge");
        // Old enough on both counts: system headers, under another name in a copy dir
        // would change their ctime, so use /usr/include's own.
        let sys = Path::new("/usr/include");
        remember(&cache, sys, &["stdio.h"]);
        remember(&cache, sys, &["stdlib.h"]);
        assert!(
            lookup(&cache, &sys.join("stdio.h")).is_some(),
            "kept by the merge"
        );
        assert!(lookup(&cache, &sys.join("stdlib.h")).is_some());
        // A pack's entry is for one stat: another stat of the same name finds nothing.
        let p = sys.join("stdio.h");
        let m = std::fs::metadata(&p).unwrap();
        let mut c = FactsCache::new(&cache, true);
        let (pack, name) = c.pack_of(&p).unwrap();
        let fields = pack.find(&name).unwrap().to_string();
        assert!(fields.starts_with(&stat_text(&m)));
        let other = std::fs::metadata(sys.join("stdlib.h")).unwrap();
        assert!(c.lookup(&p, &other).is_none());
        // Replaced, not added: one entry per name.
        let forged = Facts::of(b"int forged;\n", true);
        let mut c = FactsCache::new(&cache, true);
        let (pack, name) = c.pack_of(&p).unwrap();
        pack.added.insert(
            name,
            format!("{}\t{}", stat_text(&m), forged.encode().unwrap()),
        );
        c.flush();
        assert_eq!(lookup(&cache, &p).unwrap().digest, forged.digest);
        let pack = walkdir::WalkDir::new(cache.join("facts-v1"))
            .into_iter()
            .flatten()
            .find(|e| e.file_type().is_file())
            .unwrap()
            .into_path();
        let text = std::fs::read_to_string(&pack).unwrap();
        assert_eq!(text.matches("\nstdio.h\t").count(), 1, "{text}");
        // Damage: any changed byte or a cut breaks the sum.
        for bad in [
            text.replacen("stdio.h", "stdiO.h", 1),
            text[..text.len() - 1].to_string(),
            text.replacen(" 1 /usr/include\n", " 0 /usr/include\n", 1),
            text.replacen(&code_id(), &"0".repeat(16), 1),
        ] {
            std::fs::write(&pack, &bad).unwrap();
            assert!(lookup(&cache, &p).is_none(), "{bad:?}");
            assert!(lookup(&cache, &sys.join("stdlib.h")).is_none());
        }
        std::fs::write(&pack, &text).unwrap();
        assert!(lookup(&cache, &p).is_some());
        let _ = inc;
        std::fs::remove_dir_all(cache.parent().unwrap()).unwrap();
    }
}
