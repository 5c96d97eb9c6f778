//! Small helpers with no cache knowledge: file system operations, hex encoding, dates.

pub mod env;
pub mod fs;
pub mod path;
pub mod time;

/// Map the pages of a buffer about to be filled (`v`'s spare capacity) with one
/// madvise(MADV_POPULATE_WRITE) instead of a page fault per 4 KiB page as it is written.
/// A hit reads an entry and decompresses its files into fresh buffers: on the
/// zstd_compress.c hit (109 KB object) this took 147 page faults to 98. Buffers under
/// 16 KiB are left alone (few pages, often reused heap), and so is any error: a kernel
/// without the advice (before 5.14) faults the pages in as before.
pub fn prefault_spare(v: &mut Vec<u8>) {
    const MIN: usize = 16 << 10;
    const MADV_POPULATE_WRITE: libc::c_int = 23;
    let spare = v.spare_capacity_mut();
    if spare.len() < MIN {
        return;
    }
    // Whole pages inside the buffer only: its first and last pages may hold other data.
    // From the auxiliary vector, not sysconf: musl's sysconf reads a table that sits in a
    // page of read-only data a hit touches for nothing else.
    // SAFETY: getauxval only reads the process's auxiliary vector.
    let page = (unsafe { libc::getauxval(libc::AT_PAGESZ) } as usize).max(4096);
    let start = spare.as_mut_ptr() as usize;
    let (first, end) = (
        start.next_multiple_of(page),
        (start + spare.len()) / page * page,
    );
    if end > first {
        // SAFETY: [first, end) lies inside memory this Vec owns; populating only maps
        // pages (zero-filled where none was), it changes no byte the program can see.
        unsafe { libc::madvise(first as *mut libc::c_void, end - first, MADV_POPULATE_WRITE) };
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    /// The advice must map pages only: what the buffer holds stays, and its whole
    /// capacity can be written afterwards (buffers below, at and far above 16 KiB).
    #[test]
    fn prefault_keeps_what_the_buffer_holds() {
        for (len, cap) in [
            (0, 0),
            (0, 100),
            (5000, 70_000),
            (100, 16 << 10),
            (3, 1 << 20),
        ] {
            let mut v: Vec<u8> = Vec::with_capacity(cap);
            v.extend((0..len).map(|i| (i * 7 + 1) as u8));
            super::prefault_spare(&mut v);
            assert_eq!(v.len(), len);
            assert!(v.iter().enumerate().all(|(i, &b)| b == (i * 7 + 1) as u8));
            v.resize(v.capacity(), 0xaa);
            assert!(v[len..].iter().all(|&b| b == 0xaa));
            assert!(v[..len]
                .iter()
                .enumerate()
                .all(|(i, &b)| b == (i * 7 + 1) as u8));
        }
    }

    #[test]
    fn hex_encodes() {
        assert_eq!(super::hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
