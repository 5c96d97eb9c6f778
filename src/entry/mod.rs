//! The cache entry container: what one key maps to, as bytes on disk or in a remote.
//!
//! Grammar (all integers little-endian; stored enum values are append-only, never reused):
//! ```text
//! entry    = header payload tag
//! header   = magic:"CPOT" version:u16(=1) kind:u8 compression:u8
//!            key:[u8;32] created:u64(unix seconds) writer:[u8;16](NUL-padded version)
//!            raw_len:u64 data_len:u64
//! payload  = data_len bytes; zstd frame when compression = 1, raw when 0;
//!            decompresses to exactly raw_len bytes
//! tag      = [u8;32]: BLAKE3 of header and payload, or keyed BLAKE3 (a MAC) with a key
//!            derived from the shared secret (CACHEPOT_HMAC_KEY) when one is configured
//! kind     = 1 result | 2 manifest | 3 bundle
//! bundle payload (raw) = manifest_len:u32 manifest_entry result_key:[u8;32] result_entry
//!            (two complete entries, each with its own header and tag)
//! result payload (raw) = count:u32 { file_kind:u8 len:u64 bytes }*count
//! ```
//! The key inside the header binds an entry to the key it answers: a valid entry copied
//! under another key's name is rejected. Decoding never allocates more than the bytes it
//! actually decompresses, and stops at `raw_len` (a zstd bomb cannot exhaust memory); the
//! zstd decoder's own window buffer is capped by `raw_len` too ([`window_log_max`]).
//! Output files are identified by [`FileKind`], never by path: the paths come from the
//! current command line.

mod payload;

pub use payload::*;

use crate::hash::Key;
use std::borrow::Cow;
use std::io::Read;

const MAGIC: &[u8; 4] = b"CPOT";
const VERSION: u16 = 1;
const HEADER_LEN: usize = 4 + 2 + 1 + 1 + 32 + 8 + 16 + 8 + 8;
const TAG_LEN: usize = 32;
/// Upper bound on a decompressed payload: 4 GiB is far beyond any object or rlib, and
/// rejects absurd declared sizes before any work.
const MAX_RAW_LEN: u64 = 4 << 30;
/// zstd's default decoder limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT): a 128 MiB window. Our
/// levels (1-19) never write a window above 2^23.
const MAX_WINDOW_LOG: u32 = 27;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Result = 1,
    Manifest = 2,
    /// For remotes: a manifest with the result of its newest include set (see
    /// [`encode_bundle`]), so that one request answers a direct-mode lookup.
    Bundle = 3,
}

#[derive(Debug, Clone, Copy)]
pub struct DecodeError(pub &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid cache entry: {}", self.0)
    }
}

/// Secret for authenticated entries; `None` = plain BLAKE3 checksum.
pub struct Sealer<'a> {
    pub hmac_key: Option<&'a [u8]>,
    /// zstd level; 0 stores everything raw.
    pub compression_level: i32,
    /// Results with fewer payload bytes are stored raw (bundles are always compressed).
    pub compression_min_size: u64,
}

impl Sealer<'_> {
    fn tag(&self, data: &[u8]) -> [u8; 32] {
        match self.hmac_key {
            // A keyed BLAKE3 MAC; the secret of any length becomes a 256-bit key.
            Some(k) => {
                let key = blake3::derive_key("cachepot 2026 entry authentication", k);
                *blake3::keyed_hash(&key, data).as_bytes()
            }
            None => *blake3::hash(data).as_bytes(),
        }
    }

    /// Build a complete entry around `raw` (an encoded payload). Manifests are stored
    /// raw: every direct-mode lookup reads one, they are small (0.4% of the lua
    /// benchmark's cache, raw), and decompressing one was 7% of a C hit's instructions.
    /// Remotes still get them compressed inside bundles.
    pub fn seal(&self, kind: EntryKind, key: &Key, raw: &[u8]) -> Vec<u8> {
        let compressed = match kind {
            EntryKind::Manifest => None,
            _ if self.compression_level == 0 => None,
            EntryKind::Result if (raw.len() as u64) < self.compression_min_size => None,
            EntryKind::Result | EntryKind::Bundle => {
                zstd::bulk::compress(raw, self.compression_level).ok()
            }
        };
        let (compression, data) = match compressed {
            Some(c) if c.len() < raw.len() => (1u8, c),
            _ => (0u8, raw.to_vec()),
        };
        self.seal_parts(kind, key, compression, raw.len() as u64, &data)
    }

    /// The container around a payload as given (tests build malformed ones with it).
    fn seal_parts(
        &self,
        kind: EntryKind,
        key: &Key,
        compression: u8,
        raw_len: u64,
        data: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + data.len() + TAG_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.push(kind as u8);
        out.push(compression);
        out.extend_from_slice(&key.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        out.extend_from_slice(&now.to_le_bytes());
        let mut writer = [0u8; 16];
        let v = concat!("cachepot ", env!("CARGO_PKG_VERSION")).as_bytes();
        let n = v.len().min(16);
        writer[..n].copy_from_slice(&v[..n]);
        out.extend_from_slice(&writer);
        out.extend_from_slice(&raw_len.to_le_bytes());
        out.extend_from_slice(&(data.len() as u64).to_le_bytes());
        out.extend_from_slice(data);
        let tag = self.tag(&out);
        out.extend_from_slice(&tag);
        out
    }

    /// Check and unpack an entry that should answer `key`; returns the raw payload,
    /// borrowed from `entry` when it is stored raw (manifests always are).
    pub fn open<'e>(
        &self,
        kind: EntryKind,
        key: &Key,
        entry: &'e [u8],
    ) -> Result<Cow<'e, [u8]>, DecodeError> {
        if entry.len() < HEADER_LEN + TAG_LEN {
            return Err(DecodeError("truncated"));
        }
        if &entry[0..4] != MAGIC {
            return Err(DecodeError("bad magic"));
        }
        if u16::from_le_bytes([entry[4], entry[5]]) != VERSION {
            return Err(DecodeError("unknown format version"));
        }
        let (body, tag) = entry.split_at(entry.len() - TAG_LEN);
        let expected = self.tag(body);
        if !constant_time_eq(&expected, tag) {
            return Err(DecodeError(if self.hmac_key.is_some() {
                "authentication tag mismatch (altered, or written without the shared secret)"
            } else {
                "checksum mismatch"
            }));
        }
        if entry[6] != kind as u8 {
            return Err(DecodeError("wrong entry kind"));
        }
        if entry[8..40] != key.0 {
            return Err(DecodeError("entry belongs to another key"));
        }
        let raw_len = u64::from_le_bytes(entry[64..72].try_into().expect("8 bytes"));
        let data_len = u64::from_le_bytes(entry[72..80].try_into().expect("8 bytes"));
        if data_len != (body.len() - HEADER_LEN) as u64 {
            return Err(DecodeError("payload length mismatch"));
        }
        if raw_len > MAX_RAW_LEN {
            return Err(DecodeError("declared size too large"));
        }
        let data = &body[HEADER_LEN..];
        match entry[7] {
            0 => {
                if raw_len != data_len {
                    return Err(DecodeError("raw length mismatch"));
                }
                Ok(Cow::Borrowed(data))
            }
            1 if bulk_ok(raw_len, data.len()) => {
                // One-shot decompression straight into a buffer of the declared size:
                // no streaming window, no extra copies. zstd stops at the capacity, so
                // a frame that decompresses to more than raw_len is an error here.
                let mut out = Vec::with_capacity(raw_len as usize);
                // Pages mapped up front only for a size that real entries reach (objects
                // and dep files compress 2-5x): a forged size that the checksum let
                // through must not commit memory before zstd rejects it.
                if raw_len <= (data.len() as u64).saturating_mul(PREFAULT_RATIO) {
                    crate::util::prefault_spare(&mut out);
                }
                decompress_to_buffer(data, &mut out)
                    .map_err(|_| DecodeError("zstd data corrupt"))?;
                if out.len() as u64 != raw_len {
                    return Err(DecodeError("decompressed length mismatch"));
                }
                Ok(Cow::Owned(out))
            }
            1 => {
                let mut dec =
                    zstd::stream::read::Decoder::new(data).map_err(|_| DecodeError("zstd init"))?;
                dec.window_log_max(window_log_max(raw_len))
                    .map_err(|_| DecodeError("zstd init"))?;
                // Grow with what actually decompresses; raw_len only bounds it.
                let mut out =
                    Vec::with_capacity((raw_len as usize).min(data.len().saturating_mul(4)));
                (&mut dec)
                    .take(raw_len + 1)
                    .read_to_end(&mut out)
                    .map_err(|_| DecodeError("zstd data corrupt"))?;
                if out.len() as u64 != raw_len {
                    return Err(DecodeError("decompressed length mismatch"));
                }
                Ok(Cow::Owned(out))
            }
            _ => Err(DecodeError("unknown compression")),
        }
    }
}

/// One zstd frame (or several) decompressed into `out`'s spare capacity, as
/// `zstd::bulk::Decompressor::decompress_to_buffer` does, but with the decoder's 96 KiB
/// context allocated through Rust's allocator rather than the C library's malloc: on a
/// musl build that is the arena (src/arena.rs) instead of a `mmap`/`munmap` pair, and the
/// C library's malloc is never set up on a hit.
fn decompress_to_buffer(data: &[u8], out: &mut Vec<u8>) -> Result<(), ()> {
    use zstd::zstd_safe::zstd_sys;
    let mem = zstd_sys::ZSTD_customMem {
        customAlloc: Some(zstd_alloc),
        customFree: Some(zstd_free),
        opaque: std::ptr::null_mut(),
    };
    // SAFETY: the functions of `mem` allocate and free as zstd expects (below); the
    // context is freed before returning, and only it is used with them.
    let dctx = unsafe { zstd_sys::ZSTD_createDCtx_advanced(mem) };
    if dctx.is_null() {
        return Err(());
    }
    let spare = out.spare_capacity_mut();
    // SAFETY: zstd writes at most `spare.len()` bytes at its start and reads `data`.
    let n = unsafe {
        zstd_sys::ZSTD_decompressDCtx(
            dctx,
            spare.as_mut_ptr().cast(),
            spare.len(),
            data.as_ptr().cast(),
            data.len(),
        )
    };
    // SAFETY: `dctx` came from ZSTD_createDCtx_advanced and is not used again.
    unsafe { zstd_sys::ZSTD_freeDCtx(dctx) };
    // SAFETY: a pure function of its argument.
    if unsafe { zstd_sys::ZSTD_isError(n) } != 0 {
        return Err(());
    }
    // SAFETY: zstd reported `n` bytes written, within the spare capacity.
    unsafe { out.set_len(out.len() + n) };
    Ok(())
}

/// Room in front of each block handed to zstd, for its size (zstd's free gives none).
const ZSTD_HEADER: usize = 16;

unsafe extern "C" fn zstd_alloc(_: *mut std::ffi::c_void, size: usize) -> *mut std::ffi::c_void {
    let Some(total) = size.checked_add(ZSTD_HEADER) else {
        return std::ptr::null_mut();
    };
    let Ok(layout) = std::alloc::Layout::from_size_align(total, ZSTD_HEADER) else {
        return std::ptr::null_mut();
    };
    // SAFETY: `layout` has a non-zero size.
    let p = unsafe { std::alloc::alloc(layout) };
    if p.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: the block is `total` bytes, 16-aligned: the size fits in front, and what
    // follows it is `size` bytes, 16-aligned like malloc's.
    unsafe {
        p.cast::<usize>().write(total);
        p.add(ZSTD_HEADER).cast()
    }
}

unsafe extern "C" fn zstd_free(_: *mut std::ffi::c_void, p: *mut std::ffi::c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: `p` came from `zstd_alloc`, which put the block's size in front of it.
    unsafe {
        let block = p.cast::<u8>().sub(ZSTD_HEADER);
        let total = block.cast::<usize>().read();
        std::alloc::dealloc(
            block,
            std::alloc::Layout::from_size_align_unchecked(total, ZSTD_HEADER),
        );
    }
}

/// Decompressed size, in multiples of the compressed size, up to which the one-shot
/// buffer is mapped before decompressing (see `util::prefault_spare`).
const PREFAULT_RATIO: u64 = 8;

/// Whether a payload may be decompressed in one shot into a buffer allocated at its
/// declared size up front: when that size is small, or a plausible ratio of the
/// compressed size. Anything else (a forged size on a tiny payload) takes the streaming
/// path, which grows only with what really decompresses.
fn bulk_ok(raw_len: u64, data_len: usize) -> bool {
    raw_len <= (16 << 20) || raw_len <= (data_len as u64).saturating_mul(64)
}

/// The largest zstd window a frame of `raw_len` bytes can have been written with: zstd
/// shrinks the window of a frame whose size it knows to the next power of two of that
/// size, at least 2^10 (ZSTD_WINDOWLOG_ABSOLUTEMIN), and `seal` always gives the size.
/// Without this cap a garbage frame declaring a 128 MiB window makes the decoder allocate
/// it, whatever the entry's declared size.
fn window_log_max(raw_len: u64) -> u32 {
    let ceil_log2 = 64 - raw_len.saturating_sub(1).leading_zeros();
    ceil_log2.clamp(10, MAX_WINDOW_LOG)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `entry` is a well-formed-looking entry of `kind` stored raw (compression 0).
/// Nothing is verified: the caller opens it before using its payload.
pub fn stored_raw(entry: &[u8], kind: EntryKind) -> bool {
    entry.len() >= HEADER_LEN && entry[6] == kind as u8 && entry[7] == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::digest;

    fn sealer() -> Sealer<'static> {
        Sealer {
            hmac_key: None,
            compression_level: 1,
            compression_min_size: 0,
        }
    }

    #[test]
    fn round_trip() {
        let key = digest(b"k");
        let files = vec![
            (FileKind::Object, vec![7u8; 10_000]),
            (FileKind::Stderr, b"warning".to_vec()),
        ];
        let e = sealer().seal(EntryKind::Result, &key, &encode_result(&files));
        let raw = sealer().open(EntryKind::Result, &key, &e).unwrap();
        let back = decode_result(&raw).unwrap();
        assert_eq!(back.len(), files.len());
        for ((k, d), (k2, d2)) in back.iter().zip(&files) {
            assert_eq!((k, *d), (k2, &d2[..]));
        }
    }

    /// Manifests are read on every direct-mode lookup and stay raw; results and bundles
    /// are compressed when that makes them smaller.
    #[test]
    fn manifests_are_stored_raw() {
        let key = digest(b"k");
        let payload = vec![b'a'; 4096];
        let compression = |kind| sealer().seal(kind, &key, &payload)[7];
        assert_eq!(compression(EntryKind::Manifest), 0);
        assert_eq!(compression(EntryKind::Result), 1);
        assert_eq!(compression(EntryKind::Bundle), 1);
        let e = sealer().seal(EntryKind::Manifest, &key, &payload);
        assert_eq!(
            sealer().open(EntryKind::Manifest, &key, &e).unwrap(),
            payload
        );
    }

    /// Results under the minimum size stay raw (and open without a copy), bundles are
    /// compressed whatever their size, and level 0 compresses nothing.
    #[test]
    fn small_results_are_stored_raw() {
        let key = digest(b"k");
        let payload = vec![b'a'; 4096];
        let with = |level, min| Sealer {
            hmac_key: None,
            compression_level: level,
            compression_min_size: min,
        };
        let compression = |s: Sealer, kind| s.seal(kind, &key, &payload)[7];
        assert_eq!(compression(with(1, 4097), EntryKind::Result), 0);
        assert_eq!(compression(with(1, 4096), EntryKind::Result), 1);
        assert_eq!(compression(with(1, 1 << 20), EntryKind::Bundle), 1);
        assert_eq!(compression(with(0, 0), EntryKind::Result), 0);
        assert_eq!(compression(with(0, 0), EntryKind::Bundle), 0);
        let e = with(1, 4097).seal(EntryKind::Result, &key, &payload);
        let opened = sealer().open(EntryKind::Result, &key, &e).unwrap();
        assert!(matches!(opened, Cow::Borrowed(_)));
        assert_eq!(opened, payload);
    }

    /// Re-seal `e` (checksum recomputed, as a forger without a MAC key can) with its
    /// declared raw length replaced.
    fn with_raw_len(e: &[u8], raw_len: u64) -> Vec<u8> {
        let mut body = e[..e.len() - TAG_LEN].to_vec();
        body[64..72].copy_from_slice(&raw_len.to_le_bytes());
        let tag = sealer().tag(&body);
        body.extend_from_slice(&tag);
        body
    }

    #[test]
    fn a_lying_declared_size_is_rejected_on_both_paths() {
        let key = digest(b"k");
        // Compressible: 1 MiB of zeros is a payload of a few hundred bytes.
        let raw = encode_result(&[(FileKind::Object, vec![0u8; 1 << 20])]);
        let e = sealer().seal(EntryKind::Result, &key, &raw);
        assert_eq!(e[7], 1, "compressed");
        let real = raw.len() as u64;
        // Too small (one-shot path, zstd stops at the capacity) and too large.
        for lie in [real - 1, 1, real + 1] {
            assert!(bulk_ok(lie, e.len()));
            let err = sealer()
                .open(EntryKind::Result, &key, &with_raw_len(&e, lie))
                .unwrap_err();
            assert!(
                err.0.contains("length") || err.0.contains("corrupt"),
                "{lie}: {err}"
            );
        }
        // A huge declared size on a tiny payload takes the streaming path, which
        // allocates only what really decompresses, and is rejected.
        let huge = 3u64 << 30;
        assert!(!bulk_ok(huge, e.len()));
        assert!(sealer()
            .open(EntryKind::Result, &key, &with_raw_len(&e, huge))
            .is_err());
        assert_eq!(sealer().open(EntryKind::Result, &key, &e).unwrap(), raw);
    }

    #[test]
    fn bundles_split_into_their_entries() {
        let (mk, rk) = (digest(b"m"), digest(b"r"));
        let m = sealer().seal(EntryKind::Manifest, &mk, b"manifest");
        let r = sealer().seal(EntryKind::Result, &rk, &encode_result::<&[u8]>(&[]));
        let b = sealer().seal(EntryKind::Bundle, &mk, &encode_bundle(&m, &rk, &r));
        let raw = sealer().open(EntryKind::Bundle, &mk, &b).unwrap();
        let (m2, rk2, r2) = decode_bundle(&raw).unwrap();
        assert_eq!((m2, rk2, r2), (&m[..], rk, &r[..]));
        // A bundle is not a manifest, and truncated payloads are errors.
        assert!(sealer().open(EntryKind::Manifest, &mk, &b).is_err());
        for n in 0..36 {
            assert!(decode_bundle(&raw[..n]).is_err(), "{n}");
        }
        let mut huge = raw.to_vec();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_bundle(&huge).is_err());
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let key = digest(b"k");
        let e = sealer().seal(
            EntryKind::Result,
            &key,
            &encode_result(&[(FileKind::Object, b"abcdef".repeat(50))]),
        );
        for i in 0..e.len() {
            let mut bad = e.clone();
            bad[i] ^= 0x40;
            assert!(
                sealer().open(EntryKind::Result, &key, &bad).is_err(),
                "byte {i}"
            );
        }
        for n in 0..e.len() {
            assert!(
                sealer().open(EntryKind::Result, &key, &e[..n]).is_err(),
                "truncated to {n}"
            );
        }
    }

    #[test]
    fn entry_is_bound_to_its_key_and_kind() {
        let e = sealer().seal(
            EntryKind::Result,
            &digest(b"a"),
            &encode_result::<&[u8]>(&[]),
        );
        assert!(sealer().open(EntryKind::Result, &digest(b"b"), &e).is_err());
        assert!(sealer()
            .open(EntryKind::Manifest, &digest(b"a"), &e)
            .is_err());
    }

    #[test]
    fn hmac_rejects_entries_without_the_secret() {
        let key = digest(b"k");
        let plain = sealer().seal(EntryKind::Result, &key, &encode_result::<&[u8]>(&[]));
        let secret = Sealer {
            hmac_key: Some(b"s"),
            compression_level: 1,
            compression_min_size: 0,
        };
        assert!(secret.open(EntryKind::Result, &key, &plain).is_err());
        let signed = secret.seal(EntryKind::Result, &key, &encode_result::<&[u8]>(&[]));
        assert!(secret.open(EntryKind::Result, &key, &signed).is_ok());
        let other = Sealer {
            hmac_key: Some(b"t"),
            compression_level: 1,
            compression_min_size: 0,
        };
        assert!(other.open(EntryKind::Result, &key, &signed).is_err());
    }

    #[test]
    fn every_size_and_level_fits_the_window_cap() {
        let key = digest(b"k");
        let mut sizes: Vec<usize> = (0..40).map(|i| 1 << (i / 2)).collect();
        sizes.extend(sizes.clone().iter().map(|s| s + 1));
        sizes.retain(|s| *s <= 3 << 20);
        for level in [1, 3, 19] {
            let s = Sealer {
                hmac_key: None,
                compression_level: level,
                compression_min_size: 0,
            };
            for &n in &sizes {
                // Compressible but not trivially: a window's worth of matches matters.
                let raw: Vec<u8> = (0..n).map(|i| (i % 251) as u8 ^ (i / 7919) as u8).collect();
                let e = s.seal(EntryKind::Result, &key, &raw);
                assert_eq!(
                    s.open(EntryKind::Result, &key, &e).unwrap(),
                    raw,
                    "{n} at {level}"
                );
            }
        }
        assert_eq!(window_log_max(0), 10);
        assert_eq!(window_log_max(1025), 11);
        assert_eq!(window_log_max(1 << 20), 20);
        assert_eq!(window_log_max(MAX_RAW_LEN), MAX_WINDOW_LOG);
    }

    #[test]
    fn a_frame_with_a_window_larger_than_the_declared_size_is_rejected() {
        use std::io::Write;
        let key = digest(b"k");
        // 17 MiB that compress to a few kB: too large and too compressible for the
        // one-shot path, so the streaming decoder (which allocates a window) opens it.
        let raw = b"abc".repeat((17 << 20) / 3);
        // A streamed frame (no content size) that declares a 128 MiB window: without the
        // cap the decoder allocates the window before reading a byte of data.
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        enc.set_parameter(zstd::zstd_safe::CParameter::WindowLog(27))
            .unwrap();
        enc.write_all(&raw).unwrap();
        let frame = enc.finish().unwrap();
        assert!(!bulk_ok(raw.len() as u64, frame.len()));
        let e = sealer().seal_parts(EntryKind::Result, &key, 1, raw.len() as u64, &frame);
        assert_eq!(
            sealer().open(EntryKind::Result, &key, &e).unwrap_err().0,
            "zstd data corrupt"
        );
        // The same data in a frame of its size opens.
        let frame = zstd::bulk::compress(&raw, 1).unwrap();
        let e = sealer().seal_parts(EntryKind::Result, &key, 1, raw.len() as u64, &frame);
        assert!(sealer().open(EntryKind::Result, &key, &e).unwrap() == raw);
        // The one-shot path (small entries) writes straight into a buffer of the
        // declared size and allocates no window at all, whatever the frame declares.
        let small = b"abc".repeat(400);
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        enc.set_parameter(zstd::zstd_safe::CParameter::WindowLog(27))
            .unwrap();
        enc.write_all(&small).unwrap();
        let frame = enc.finish().unwrap();
        assert!(bulk_ok(small.len() as u64, frame.len()));
        let e = sealer().seal_parts(EntryKind::Result, &key, 1, small.len() as u64, &frame);
        assert_eq!(sealer().open(EntryKind::Result, &key, &e).unwrap(), small);
    }

    #[test]
    fn rmeta_inside_the_rlib_is_stored_as_its_place() {
        let rmeta = b"rust\0\0\0\nmetadata of the crate".to_vec();
        let mut rlib = b"!<arch>\nheader".to_vec();
        rlib.extend_from_slice(&rmeta);
        rlib.extend_from_slice(b"object code");
        let mut files = vec![
            (FileKind::Rlib, rlib.clone()),
            (FileKind::Rmeta, rmeta.clone()),
        ];
        share_rmeta(&mut files);
        assert_eq!(files[1].0, FileKind::RmetaInRlib);
        assert_eq!(files[1].1.len(), 16);
        let raw = encode_result(&files);
        let back = decode_result(&raw).unwrap();
        assert_eq!(back[0], (FileKind::Rlib, &rlib[..]));
        assert_eq!(back[1], (FileKind::Rmeta, &rmeta[..]));

        // Not in the rlib (or no rlib): stored as it is.
        let mut other = vec![
            (FileKind::Rlib, b"!<arch>\nsomething else".to_vec()),
            (FileKind::Rmeta, rmeta.clone()),
        ];
        share_rmeta(&mut other);
        assert_eq!(other[1], (FileKind::Rmeta, rmeta.clone()));
        let mut alone = vec![(FileKind::Rmeta, rmeta.clone())];
        share_rmeta(&mut alone);
        assert_eq!(alone[0], (FileKind::Rmeta, rmeta));
    }

    #[test]
    fn bad_rmeta_placements_are_rejected() {
        let place = |at: u64, len: u64| {
            let mut p = at.to_le_bytes().to_vec();
            p.extend_from_slice(&len.to_le_bytes());
            p
        };
        let rlib = (FileKind::Rlib, b"0123456789".to_vec());
        for files in [
            vec![rlib.clone(), (FileKind::RmetaInRlib, place(8, 3))],
            vec![rlib.clone(), (FileKind::RmetaInRlib, place(u64::MAX, 2))],
            vec![rlib.clone(), (FileKind::RmetaInRlib, vec![0; 15])],
            vec![(FileKind::RmetaInRlib, place(0, 1))],
            vec![
                rlib.clone(),
                (FileKind::Rmeta, b"x".to_vec()),
                (FileKind::RmetaInRlib, place(0, 1)),
            ],
        ] {
            assert!(decode_result(&encode_result(&files)).is_err(), "{files:?}");
        }
        let raw = encode_result(&[rlib, (FileKind::RmetaInRlib, place(8, 2))]);
        assert_eq!(
            decode_result(&raw).unwrap()[1],
            (FileKind::Rmeta, &b"89"[..])
        );
    }

    #[test]
    fn decode_rejects_bad_results() {
        assert!(decode_result(&[]).is_err());
        assert!(decode_result(&[1, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        // Declared length past the end.
        assert!(decode_result(&[1, 0, 0, 0, 1, 255, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }
}
