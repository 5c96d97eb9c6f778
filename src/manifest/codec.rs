//! Binary manifest payload. All integers little-endian; a string is `len:u32` and UTF-8
//! bytes, an option a `0|1:u8` flag and the value, a list `count:u32` and its items:
//! ```text
//! manifest = "CPM2" count:u32 set*
//! set      = result:str recorded:i64 files:[file] search_dirs:[str] watches:[dir]
//!            has_include:[str] has_include_present:[str] date:opt<str> timestamp:u8
//!            env:[str opt<str>] absent:[str] file_macro_cwd:opt<str>
//! file     = path:str size:u64 mtime:i64 ctime:i64 digest:str dev:u64 ino:u64
//! dir      = path:str mtime:i64 ctime:i64 covers:bytes
//! ```
//! `bytes` is `len:u32` and the bytes. "CPM1" manifests (before watches had `covers`)
//! are the same without it, and decode with empty ones.
//! Decoding checks every length against the bytes left and never reserves more items
//! than those bytes could hold, so a forged count cannot make it allocate.

use super::{DirRec, FileRec, IncludeSet, Manifest};

const MAGIC: &[u8; 4] = b"CPM2";
const MAGIC_V1: &[u8; 4] = b"CPM1";

struct W(Vec<u8>);

impl W {
    fn u32(&mut self, v: usize) {
        self.0.extend_from_slice(&(v as u32).to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len());
        self.0.extend_from_slice(v);
    }
    fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    fn opt(&mut self, v: &Option<String>) {
        match v {
            Some(s) => {
                self.0.push(1);
                self.str(s);
            }
            None => self.0.push(0),
        }
    }
    fn strs(&mut self, v: &[String]) {
        self.u32(v.len());
        for s in v {
            self.str(s);
        }
    }
}

pub fn encode(m: &Manifest) -> Vec<u8> {
    encode_as(m, true)
}

/// The "CPM1" form (no `covers`), as versions before it wrote: the tests' way to make one.
#[cfg(test)]
pub fn encode_v1(m: &Manifest) -> Vec<u8> {
    encode_as(m, false)
}

fn encode_as(m: &Manifest, v2: bool) -> Vec<u8> {
    let mut w = W(Vec::with_capacity(4096));
    w.0.extend_from_slice(if v2 { MAGIC } else { MAGIC_V1 });
    w.u32(m.sets.len());
    for set in &m.sets {
        w.str(&set.result);
        w.i64(set.recorded);
        w.u32(set.files.len());
        for f in &set.files {
            w.str(&f.path);
            w.u64(f.size);
            w.i64(f.mtime);
            w.i64(f.ctime);
            w.str(&f.digest);
            w.u64(f.dev);
            w.u64(f.ino);
        }
        w.strs(&set.search_dirs);
        w.u32(set.watches.len());
        for d in &set.watches {
            w.str(&d.path);
            w.i64(d.mtime);
            w.i64(d.ctime);
            if v2 {
                w.bytes(&d.covers);
            }
        }
        w.strs(&set.has_include);
        w.strs(&set.has_include_present);
        w.opt(&set.date);
        w.0.push(set.timestamp as u8);
        w.u32(set.env.len());
        for (k, v) in &set.env {
            w.str(k);
            w.opt(v);
        }
        w.strs(&set.absent);
        w.opt(&set.file_macro_cwd);
    }
    w.0
}

struct R<'a>(&'a [u8]);

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<usize> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()?;
        self.take(n)
    }
    fn str(&mut self) -> Option<String> {
        std::str::from_utf8(self.bytes()?).ok().map(str::to_owned)
    }
    fn opt(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.str()?)),
            _ => None,
        }
    }
    /// A list of items each at least `min` bytes long, read by `item`.
    fn list<T>(
        &mut self,
        min: usize,
        mut item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Vec<T>> {
        let n = self.u32()?;
        if n > self.0.len() / min {
            return None;
        }
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(item(self)?);
        }
        Some(v)
    }
    fn strs(&mut self) -> Option<Vec<String>> {
        self.list(4, |r| r.str())
    }
}

pub fn decode(raw: &[u8]) -> Option<Manifest> {
    let mut r = R(raw);
    let v2 = match r.take(4)? {
        m if m == MAGIC => true,
        m if m == MAGIC_V1 => false,
        _ => return None,
    };
    let sets = r.list(43, |r| {
        Some(IncludeSet {
            result: r.str()?,
            recorded: r.i64()?,
            files: r.list(48, |r| {
                Some(FileRec {
                    path: r.str()?,
                    size: r.u64()?,
                    mtime: r.i64()?,
                    ctime: r.i64()?,
                    digest: r.str()?,
                    dev: r.u64()?,
                    ino: r.u64()?,
                })
            })?,
            search_dirs: r.strs()?,
            watches: r.list(if v2 { 24 } else { 20 }, |r| {
                Some(DirRec {
                    path: r.str()?,
                    mtime: r.i64()?,
                    ctime: r.i64()?,
                    covers: if v2 { r.bytes()?.to_vec() } else { Vec::new() },
                })
            })?,
            has_include: r.strs()?,
            has_include_present: r.strs()?,
            date: r.opt()?,
            timestamp: match r.u8()? {
                0 => false,
                1 => true,
                _ => return None,
            },
            env: r.list(5, |r| Some((r.str()?, r.opt()?)))?,
            absent: r.strs()?,
            file_macro_cwd: r.opt()?,
        })
    })?;
    if !r.0.is_empty() {
        return None;
    }
    Some(Manifest { sets })
}
