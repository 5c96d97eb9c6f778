//! `memcmp` and `bcmp` for the musl build, eight bytes at a time.
//!
//! Rust compares byte slices and strings (`==`, `strip_prefix`, hash-map keys) through
//! these two C functions. musl's compare one byte per loop turn, about four instructions
//! a byte. Validating a manifest compares paths thousands of times: on a zstd hit whose
//! working directory a `make clean` had just changed, musl's `memcmp` was 800K of the
//! hit's 2.8M instructions (callgrind). Defined here, they replace musl's (the linker
//! takes a symbol from libc.a only when nothing defines it already); glibc's, already
//! vectorised, are left alone.

use std::ffi::c_int;
#[cfg(target_env = "musl")]
use std::ffi::c_void;

/// The sign of the first differing byte (as unsigned), 0 when the `n` bytes are equal.
///
/// # Safety
/// `a` and `b` must be valid for reads of `n` bytes.
#[cfg(target_env = "musl")]
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const c_void, b: *const c_void, n: usize) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe { compare(a.cast(), b.cast(), n) }
}

/// Zero when the `n` bytes are equal, else nonzero (here, as `memcmp`).
///
/// # Safety
/// `a` and `b` must be valid for reads of `n` bytes.
#[cfg(target_env = "musl")]
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const c_void, b: *const c_void, n: usize) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe { compare(a.cast(), b.cast(), n) }
}

/// Words while eight bytes remain, then bytes. No slice comparison in here: that would
/// call `memcmp` again. Compiled (and tested) everywhere, exported only on musl.
///
/// # Safety
/// `a` and `b` must be valid for reads of `n` bytes.
#[inline(always)]
#[cfg_attr(not(target_env = "musl"), allow(dead_code))]
unsafe fn compare(a: *const u8, b: *const u8, n: usize) -> c_int {
    // SAFETY (both closures): callers pass i + 8 <= n; unaligned reads.
    let word = |p: *const u8, i: usize| unsafe { p.add(i).cast::<u64>().read_unaligned() };
    let order = |x: u64, y: u64| {
        // Big-endian order puts the first byte in memory most significant.
        if x.swap_bytes() < y.swap_bytes() {
            -1
        } else {
            1
        }
    };
    let mut i = 0;
    while i + 8 <= n {
        let (x, y) = (word(a, i), word(b, i));
        if x != y {
            return order(x, y);
        }
        i += 8;
    }
    if n >= 8 && i < n {
        // The last eight bytes, overlapping ones already found equal.
        let (x, y) = (word(a, n - 8), word(b, n - 8));
        return if x == y { 0 } else { order(x, y) };
    }
    while i < n {
        // SAFETY: i < n.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return c_int::from(x) - c_int::from(y);
        }
        i += 1;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(a: &[u8], b: &[u8]) -> i32 {
        for (x, y) in a.iter().zip(b) {
            if x != y {
                return if x < y { -1 } else { 1 };
            }
        }
        0
    }

    /// Every length up to 40, every offset of a single difference (with bytes on either
    /// side of 0x80, so a signed comparison would fail), unaligned starts.
    #[test]
    fn agrees_with_a_byte_by_byte_comparison() {
        let base: Vec<u8> = (0..64u32).map(|i| (i * 37 % 251) as u8).collect();
        for start in 0..8 {
            for n in 0..=40 {
                let a = &base[start..start + n];
                // SAFETY: both slices hold n bytes.
                let same = |x: &[u8], y: &[u8]| {
                    let c = unsafe { compare(x.as_ptr(), y.as_ptr(), n) };
                    (c.signum(), c != 0)
                };
                // A copy: equal bytes at another address.
                let copy = a.to_vec();
                assert_eq!(same(a, &copy), (0, false));
                for at in 0..n {
                    for (x, y) in [(0x7fu8, 0x80u8), (0x80, 0x7f), (0, 255), (255, 0), (1, 2)] {
                        let (mut p, mut q) = (a.to_vec(), a.to_vec());
                        p[at] = x;
                        q[at] = y;
                        // A later difference must not change the answer.
                        if at + 1 < n {
                            p[n - 1] = 0;
                            q[n - 1] = 255;
                        }
                        assert_eq!(same(&p, &q), (reference(&p, &q), true), "{start} {n} {at}");
                    }
                }
            }
        }
    }
}
