//! The payloads inside entries: a result's files, each identified by its kind (never
//! by a path: the paths come from the current command line), and the bundle that carries
//! a manifest and one result to the remotes. The container around them is in `mod.rs`.

use super::DecodeError;
use crate::hash::Key;

/// What an output file is. Stored on disk: append new values, never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    /// The main output: object (`-c`), assembly (`-S`), rlib...
    Object = 1,
    DepFile = 2,
    Gcno = 3,
    Dwo = 4,
    Stdout = 5,
    Stderr = 6,
    StackUsage = 7,
    CallgraphInfo = 8,
    /// The object path the entry was compiled for, used only to retarget the dep file.
    ObjectPathHint = 9,
    Rlib = 10,
    Rmeta = 11,
    Staticlib = 12,
    /// rustc's `.d` dep-info file.
    RustDepInfo = 13,
    /// The `--out-dir` a Rust entry was compiled for, to rewrite paths in stderr.
    OutDirHint = 14,
    /// The `.rmeta` file stored as where its bytes lie inside the rlib (rustc writes
    /// them verbatim into the rlib's `lib.rmeta` member): offset and length, u64 LE
    /// each. [`decode_result`] turns it back into an `Rmeta` slice of the rlib.
    RmetaInRlib = 15,
}

impl FileKind {
    fn from_u8(v: u8) -> Option<FileKind> {
        Some(match v {
            1 => FileKind::Object,
            2 => FileKind::DepFile,
            3 => FileKind::Gcno,
            4 => FileKind::Dwo,
            5 => FileKind::Stdout,
            6 => FileKind::Stderr,
            7 => FileKind::StackUsage,
            8 => FileKind::CallgraphInfo,
            9 => FileKind::ObjectPathHint,
            10 => FileKind::Rlib,
            11 => FileKind::Rmeta,
            12 => FileKind::Staticlib,
            13 => FileKind::RustDepInfo,
            14 => FileKind::OutDirHint,
            15 => FileKind::RmetaInRlib,
            _ => return None,
        })
    }
}

/// The payload of a bundle: a complete manifest entry, and the key and complete entry of
/// one result it points to.
pub fn encode_bundle(manifest_entry: &[u8], result_key: &Key, result_entry: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + manifest_entry.len() + 32 + result_entry.len());
    out.extend_from_slice(&(manifest_entry.len() as u32).to_le_bytes());
    out.extend_from_slice(manifest_entry);
    out.extend_from_slice(&result_key.0);
    out.extend_from_slice(result_entry);
    out
}

/// The parts of a bundle payload: (manifest entry, result key, result entry). Each part
/// is still to be opened (verified) as the entry it is.
pub fn decode_bundle(raw: &[u8]) -> Result<(&[u8], Key, &[u8]), DecodeError> {
    let short = DecodeError("bundle truncated");
    let len = u32::from_le_bytes(raw.get(..4).ok_or(short)?.try_into().expect("4 bytes"));
    let end = 4usize
        .checked_add(len as usize)
        .filter(|e| e + 32 <= raw.len())
        .ok_or(DecodeError("bundle truncated"))?;
    let key = Key(raw[end..end + 32].try_into().expect("32 bytes"));
    Ok((&raw[4..end], key, &raw[end + 32..]))
}

/// Encode a result's files. Each kind appears at most once.
pub fn encode_result<D: AsRef<[u8]>>(files: &[(FileKind, D)]) -> Vec<u8> {
    let total: usize = files.iter().map(|(_, d)| d.as_ref().len() + 9).sum();
    let mut out = Vec::with_capacity(4 + total);
    out.extend_from_slice(&(files.len() as u32).to_le_bytes());
    for (kind, data) in files {
        let data = data.as_ref();
        out.push(*kind as u8);
        out.extend_from_slice(&(data.len() as u64).to_le_bytes());
        out.extend_from_slice(data);
    }
    out
}

/// Store a result's `.rmeta` as its place in the rlib when its bytes are there verbatim
/// (they are, in rustc's rlibs: 78 of 189 MB of rlib bytes in the benchmark's crate
/// graph are such copies), so that it is neither compressed nor decompressed twice.
/// Anything else leaves `files` as it is.
pub fn share_rmeta(files: &mut [(FileKind, Vec<u8>)]) {
    let find = |k: FileKind| files.iter().position(|(kind, _)| *kind == k);
    let (Some(ri), Some(mi)) = (find(FileKind::Rlib), find(FileKind::Rmeta)) else {
        return;
    };
    let (rlib, rmeta) = (&files[ri].1, &files[mi].1);
    if rmeta.is_empty() {
        return;
    }
    let prefix = &rmeta[..rmeta.len().min(4096)];
    let at = memchr::memmem::find_iter(rlib, prefix)
        .find(|&at| rlib.get(at..at + rmeta.len()) == Some(&rmeta[..]));
    if let Some(at) = at {
        let mut place = Vec::with_capacity(16);
        place.extend_from_slice(&(at as u64).to_le_bytes());
        place.extend_from_slice(&(rmeta.len() as u64).to_le_bytes());
        files[mi] = (FileKind::RmetaInRlib, place);
    }
}

/// The files of a result payload, as slices of it (an rlib of 20 MB is not copied again).
/// An `RmetaInRlib` comes back as the `Rmeta` slice of the rlib it names.
pub fn decode_result(raw: &[u8]) -> Result<Vec<(FileKind, &[u8])>, DecodeError> {
    let mut files = decode_files(raw)?;
    if let Some(i) = files.iter().position(|(k, _)| *k == FileKind::RmetaInRlib) {
        let place = files[i].1;
        let rlib = files
            .iter()
            .find(|(k, _)| *k == FileKind::Rlib)
            .map(|(_, d)| *d)
            .ok_or(DecodeError("rmeta placed in a missing rlib"))?;
        if place.len() != 16 || files.iter().any(|(k, _)| *k == FileKind::Rmeta) {
            return Err(DecodeError("bad rmeta placement"));
        }
        let at = u64::from_le_bytes(place[..8].try_into().expect("8 bytes"));
        let len = u64::from_le_bytes(place[8..].try_into().expect("8 bytes"));
        let slice = usize::try_from(at)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(at, len)| rlib.get(at..at.checked_add(len)?))
            .ok_or(DecodeError("rmeta placed outside the rlib"))?;
        files[i] = (FileKind::Rmeta, slice);
    }
    Ok(files)
}

fn decode_files(raw: &[u8]) -> Result<Vec<(FileKind, &[u8])>, DecodeError> {
    let mut pos = 0usize;
    let take = |pos: &mut usize, n: usize| -> Result<&[u8], DecodeError> {
        let end = pos
            .checked_add(n)
            .filter(|e| *e <= raw.len())
            .ok_or(DecodeError("result truncated"))?;
        let s = &raw[*pos..end];
        *pos = end;
        Ok(s)
    };
    let count = u32::from_le_bytes(take(&mut pos, 4)?.try_into().expect("4 bytes"));
    if count > 64 {
        return Err(DecodeError("too many files"));
    }
    let mut files: Vec<(FileKind, &[u8])> = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let kind =
            FileKind::from_u8(take(&mut pos, 1)?[0]).ok_or(DecodeError("unknown file kind"))?;
        if files.iter().any(|(k, _)| *k == kind) {
            return Err(DecodeError("duplicate file kind"));
        }
        let len = u64::from_le_bytes(take(&mut pos, 8)?.try_into().expect("8 bytes"));
        let len = usize::try_from(len).map_err(|_| DecodeError("file too large"))?;
        files.push((kind, take(&mut pos, len)?));
    }
    if pos != raw.len() {
        return Err(DecodeError("trailing bytes"));
    }
    Ok(files)
}
