//! What recording learns from reading a header: its content digest and what [`scan`]
//! finds in it. Remembered on disk by (path, device, inode, size, mtime, ctime), as the
//! digest cache (`digest_cache.rs`) remembers digests, so that the system headers every
//! C++ miss reads (about 200 files, 2 MB, for a LevelDB file) are read, hashed and
//! scanned once, not at every miss.
//!
//! A record is written only when the file's mtime and ctime are more than
//! [`RACY_SECS`] in the past (a file rewritten within the same clock tick could keep its
//! stat and get a stale record), and only when the file's stat after the read equals its
//! stat before. Layout: `<cache dir>/facts-v1/<h0h1>/<digest of the stat tuple>`, text:
//!
//! ```text
//! cachepot-facts 1
//! digest <64 hex digits>
//! flags <time><file><date><timestamp><computed_has_include><reads_unlisted_file>   (0/1 each)
//! has_include <name>                        (once per name, in scan order)
//! alias <0|1 function-like> <name>          (once per alias, in scan order)
//! end
//! ```
//!
//! Anything else (a truncated or foreign file) is no record: the file is read again.

use super::aliases::Alias;
use super::scan::{reads_unlisted_file, scan, Scan};
use crate::hash::digest;
use crate::util::fs::{atomic_write, create_dir_all_private, file_mode};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Files changed this recently are scanned but not remembered.
const RACY_SECS: i64 = 2;

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

    fn encode(&self) -> String {
        let s = &self.scan;
        let bit = |b: bool| if b { '1' } else { '0' };
        let mut out = format!("cachepot-facts 1\ndigest {}\nflags ", self.digest);
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
        out.push('\n');
        for name in &s.has_include {
            out.push_str("has_include ");
            out.push_str(name);
            out.push('\n');
        }
        for a in &s.has_include_aliases {
            out.push_str("alias ");
            out.push(bit(a.function_like));
            out.push(' ');
            out.push_str(&a.name);
            out.push('\n');
        }
        out.push_str("end\n");
        out
    }

    fn decode(text: &str) -> Option<Facts> {
        let mut lines = text.strip_suffix('\n')?.split('\n');
        if lines.next()? != "cachepot-facts 1" {
            return None;
        }
        let digest = lines.next()?.strip_prefix("digest ")?;
        if digest.len() != 64 || !digest.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let flags = lines.next()?.strip_prefix("flags ")?.as_bytes();
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
        loop {
            let line = lines.next()?;
            if line == "end" {
                return lines.next().is_none().then_some(facts);
            }
            if let Some(name) = line.strip_prefix("has_include ") {
                facts.scan.has_include.push(name.to_string());
            } else if let Some(rest) = line.strip_prefix("alias ") {
                let (kind, name) = rest.split_once(' ')?;
                let function_like = match kind {
                    "0" => false,
                    "1" => true,
                    _ => return None,
                };
                facts.scan.has_include_aliases.push(Alias {
                    name: name.to_string(),
                    function_like,
                });
            } else {
                return None;
            }
        }
    }
}

/// Where the record of the file at `path` (absolute) with stat `m` lives, for `c_tokens`.
pub(super) fn record_path(
    cache_dir: &Path,
    path: &Path,
    m: &std::fs::Metadata,
    c_tokens: bool,
) -> PathBuf {
    let tuple = format!(
        "{}\0{} {} {} {} {}.{} {}.{}",
        path.display(),
        u8::from(c_tokens),
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    );
    let name = digest(tuple.as_bytes()).hex();
    cache_dir.join("facts-v1").join(&name[..2]).join(&name)
}

/// The remembered facts at `record`, if there is a well-formed record.
pub(super) fn load(record: &Path) -> Option<Facts> {
    Facts::decode(&crate::util::fs::read_record(record).ok()?)
}

/// Remember `facts` at `record` for a file with stat `m`, unless it changed too recently.
/// A failure (read-only or full cache) only costs the next miss a read.
pub(super) fn store(record: &Path, m: &std::fs::Metadata, facts: &Facts) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if m.mtime() >= now - RACY_SECS || m.ctime() >= now - RACY_SECS {
        return;
    }
    let stored = create_dir_all_private(record.parent().expect("has parent"))
        .and_then(|_| atomic_write(record, facts.encode().as_bytes(), file_mode()));
    if let Err(e) = stored {
        log::debug!("facts cache: cannot write {}: {e}", record.display());
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

    #[test]
    fn a_record_reads_back_as_written() {
        let f = sample();
        assert_eq!(f.scan.has_include, ["a b.h", "q/r.h"]);
        assert_eq!(f.scan.has_include_aliases.len(), 2);
        let back = Facts::decode(&f.encode()).expect("decodes");
        assert_eq!(back.encode(), f.encode());
        assert_eq!(back.digest, f.digest);
        assert_eq!(back.scan.has_include, f.scan.has_include);
        assert_eq!(back.scan.has_include_aliases, f.scan.has_include_aliases);
        let flags = |f: &Facts| {
            let s = &f.scan;
            [
                s.time,
                s.file,
                s.date,
                s.timestamp,
                s.computed_has_include,
                f.reads_unlisted,
            ]
        };
        assert_eq!(flags(&back), flags(&f));
        assert_eq!(flags(&f), [false, true, true, false, false, true]);
    }

    #[test]
    fn a_damaged_record_is_no_record() {
        let text = sample().encode();
        let mut damaged = vec![
            String::new(),
            text.replace("cachepot-facts 1", "cachepot-facts 2"),
            text.replace("flags 011001", "flags 01100"),
            text.replace("flags 011001", "flags 01100x"),
            text.replace("alias 1 HI", "alias 2 HI"),
            text.replace("has_include q/r.h", "has_inc q/r.h"),
            text.replace("digest ", "digest 0"),
            format!("{text}extra\n"),
        ];
        // Every truncation: a record cut short anywhere before its end line.
        damaged.extend((0..text.len()).map(|n| text[..n].to_string()));
        for d in damaged {
            assert!(Facts::decode(&d).is_none(), "{d:?}");
        }
        assert!(Facts::decode(&text).is_some());
    }

    #[test]
    fn only_files_older_than_the_racy_window_are_remembered() {
        let d = std::env::temp_dir().join(format!("cachepot-facts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let file = d.join("h.h");
        std::fs::write(&file, "int x;\n").unwrap();
        let m = std::fs::metadata(&file).unwrap();
        let record = record_path(&d, &file, &m, true);
        store(&record, &m, &Facts::of(b"int x;\n", true));
        assert!(
            load(&record).is_none(),
            "a file written just now is not remembered"
        );
        // Old: mtime set back (the ctime stays new, so still not remembered)...
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let m2 = std::fs::metadata(&file).unwrap();
        let record2 = record_path(&d, &file, &m2, true);
        assert_ne!(record2, record, "the mtime is part of the name");
        store(&record2, &m2, &Facts::of(b"int x;\n", true));
        assert!(load(&record2).is_none(), "a ctime of now is too recent");
        // ...and a system header, old on both counts, is.
        let sys = Path::new("/usr/include/stdio.h");
        let ms = std::fs::metadata(sys).unwrap();
        let rs = record_path(&d, sys, &ms, true);
        let facts = Facts::of(&std::fs::read(sys).unwrap(), true);
        store(&rs, &ms, &facts);
        assert_eq!(load(&rs).expect("remembered").encode(), facts.encode());
        assert_ne!(
            rs,
            record_path(&d, sys, &ms, false),
            "C scan or not: two records"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
