//! An allocator for a process that lives for one compile: blocks are cut from a fixed
//! zeroed region by moving a pointer and are not reused, except that the most recent
//! block gives its room back when freed and grows in place. Big blocks, and every block
//! once the region is used up, come from the C library's malloc.
//!
//! The release binary uses it where it is linked with musl (scripts/build-release.sh):
//! musl's own malloc maps and unmaps memory for every few blocks (56 `mmap`/`munmap`
//! calls in a lua hit), which made a hit slower than with glibc. With this one a lua
//! hit takes 0.65 ms of CPU against glibc's 0.79 (docs/direct-mode.md). Memory freed
//! in the region stays taken, so what a process can hold beyond glibc's heap is bounded
//! by the region's size; the region is `.bss`, whose pages the kernel maps only when
//! first written, so an unused part costs nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{
    AtomicUsize,
    Ordering::{AcqRel, Acquire},
};

/// Blocks of this size or more go to malloc: they are file contents, whose pages are
/// better given back when freed.
const BIG: usize = 1 << 20;

/// A bump allocator over `N` bytes of its own (see the module's comment).
#[repr(C, align(4096))]
pub struct Arena<const N: usize> {
    region: UnsafeCell<[u8; N]>,
    /// Bytes of the region handed out, from its start.
    used: AtomicUsize,
}

// SAFETY: every byte of the region is handed out to one owner at a time: `used` moves
// by compare-and-swap, and moves back only over the block that ends at it. Every swap
// is acquire-release, so a thread that gives room back has its writes to it ordered
// before those of the thread that takes the room next.
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Arena<N> {
    /// An empty arena; as a `static` it lives in `.bss`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Arena {
            region: UnsafeCell::new([0; N]),
            used: AtomicUsize::new(0),
        }
    }

    fn base(&self) -> usize {
        self.region.get() as usize
    }

    /// Offset of `p` in the region, if it lies there.
    fn offset(&self, p: *mut u8) -> Option<usize> {
        (p as usize).checked_sub(self.base()).filter(|&off| off < N)
    }

    /// A block cut from the region, or None when it does not fit.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        if layout.size() >= BIG {
            return None;
        }
        let base = self.base();
        let mut used = self.used.load(Acquire);
        loop {
            // Aligned as an address, not as an offset: the region's own alignment is
            // only a page.
            let start = (base + used).next_multiple_of(layout.align()) - base;
            let end = start.checked_add(layout.size()).filter(|&end| end <= N)?;
            match self.used.compare_exchange_weak(used, end, AcqRel, Acquire) {
                Ok(_) => return Some((base + start) as *mut u8),
                Err(now) => used = now,
            }
        }
    }
}

// SAFETY: blocks from the region are disjoint, aligned and at least `layout.size()` long
// (`bump`); the others are malloc's, and go back to it.
unsafe impl<const N: usize> GlobalAlloc for Arena<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(p) => p,
            // SAFETY: the caller's layout has a non-zero size, as GlobalAlloc requires.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(p) => {
                // Bytes given back by a freed last block may have been written.
                // SAFETY: `p` is a fresh block of `layout.size()` bytes.
                unsafe { std::ptr::write_bytes(p, 0, layout.size()) };
                p
            }
            // SAFETY: as in `alloc`.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        match self.offset(p) {
            // Only the last block gives its room back; the swap fails for the others.
            Some(off) => {
                let _ = self
                    .used
                    .compare_exchange(off + layout.size(), off, AcqRel, Acquire);
            }
            // SAFETY: `p` came from malloc with this layout (`alloc`).
            None => unsafe { System.dealloc(p, layout) },
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(off) = self.offset(p) else {
            // SAFETY: `p` came from malloc with this layout; the caller's contract.
            return unsafe { System.realloc(p, layout, new_size) };
        };
        if new_size <= layout.size() {
            // Shrinking: give the tail back if this is the last block, else keep it.
            let _ =
                self.used
                    .compare_exchange(off + layout.size(), off + new_size, AcqRel, Acquire);
            return p;
        }
        // Growing the last block in place, while it stays small and in the region.
        if new_size < BIG
            && off + new_size <= N
            && self
                .used
                .compare_exchange(off + layout.size(), off + new_size, AcqRel, Acquire)
                .is_ok()
        {
            return p;
        }
        // SAFETY: the caller guarantees a valid layout for `new_size`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `new_layout` has a non-zero size.
        let q = unsafe { self.alloc(new_layout) };
        if !q.is_null() {
            // SAFETY: both blocks are at least `layout.size()` long and disjoint.
            unsafe {
                std::ptr::copy_nonoverlapping(p, q, layout.size());
                self.dealloc(p, layout);
            }
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_keep_their_bytes() {
        static A: Arena<{ 1 << 16 }> = Arena::new();
        let mut blocks = Vec::new();
        for i in 0..200usize {
            let l = layout(1 + i % 37, 1 << (i % 7));
            // SAFETY: non-zero size.
            let p = unsafe { A.alloc(l) };
            assert_eq!(p as usize % l.align(), 0);
            // SAFETY: `p` has `l.size()` bytes.
            unsafe { std::ptr::write_bytes(p, i as u8, l.size()) };
            blocks.push((p, l, i as u8));
        }
        for &(p, l, v) in &blocks {
            // SAFETY: each block is still allocated and was filled with `v`.
            let bytes = unsafe { std::slice::from_raw_parts(p, l.size()) };
            assert!(bytes.iter().all(|&b| b == v), "a block was overwritten");
        }
    }

    #[test]
    fn the_last_block_gives_room_back_and_grows_in_place() {
        static A: Arena<{ 1 << 16 }> = Arena::new();
        let l = layout(100, 8);
        // SAFETY: non-zero sizes; each block is used only while allocated.
        unsafe {
            let a = A.alloc(l);
            let b = A.alloc(l);
            A.dealloc(b, l);
            assert_eq!(A.alloc(l), b, "the freed last block's room is reused");
            std::ptr::write_bytes(b, 7, 100);
            let grown = A.realloc(b, l, 300);
            assert_eq!(grown, b, "the last block grows where it is");
            // A block that is not last moves, with its bytes.
            std::ptr::write_bytes(a, 9, 100);
            let moved = A.realloc(a, l, 200);
            assert_ne!(moved, a);
            assert!(std::slice::from_raw_parts(moved, 100)
                .iter()
                .all(|&x| x == 9));
            assert!(std::slice::from_raw_parts(grown, 100)
                .iter()
                .all(|&x| x == 7));
        }
    }

    #[test]
    fn zeroed_blocks_are_zero_even_where_a_freed_block_wrote() {
        static A: Arena<{ 1 << 16 }> = Arena::new();
        let l = layout(64, 8);
        // SAFETY: non-zero sizes; each block is used only while allocated.
        unsafe {
            let p = A.alloc(l);
            std::ptr::write_bytes(p, 0xff, 64);
            A.dealloc(p, l);
            let z = A.alloc_zeroed(l);
            assert_eq!(z, p);
            assert!(std::slice::from_raw_parts(z, 64).iter().all(|&x| x == 0));
        }
    }

    #[test]
    fn past_the_region_and_for_big_blocks_malloc_serves() {
        static A: Arena<4096> = Arena::new();
        // SAFETY: non-zero sizes; each block is used only while allocated.
        unsafe {
            let big = layout(BIG, 8);
            let p = A.alloc(big);
            assert!(A.offset(p).is_none(), "a big block comes from malloc");
            std::ptr::write_bytes(p, 1, BIG);
            A.dealloc(p, big);
            let fill = layout(4000, 8);
            let f = A.alloc(fill);
            assert!(A.offset(f).is_some());
            let over = layout(200, 8);
            let o = A.alloc(over);
            assert!(A.offset(o).is_none(), "a full region falls back to malloc");
            // A region block grown past the region moves to malloc.
            std::ptr::write_bytes(f, 3, 4000);
            let g = A.realloc(f, fill, 8000);
            assert!(A.offset(g).is_none());
            assert!(std::slice::from_raw_parts(g, 4000).iter().all(|&x| x == 3));
            A.dealloc(g, layout(8000, 8));
            A.dealloc(o, over);
        }
    }

    #[test]
    fn threads_never_share_a_block() {
        static A: Arena<{ 1 << 20 }> = Arena::new();
        std::thread::scope(|s| {
            for t in 0..8u8 {
                s.spawn(move || {
                    let l = layout(48, 16);
                    let mut mine = Vec::new();
                    for i in 0..500 {
                        // SAFETY: non-zero size; blocks are used only while allocated.
                        unsafe {
                            let p = A.alloc(l);
                            std::ptr::write_bytes(p, t, 48);
                            if i % 3 == 0 {
                                A.dealloc(p, l);
                            } else {
                                mine.push(p);
                            }
                        }
                    }
                    for p in mine {
                        // SAFETY: still allocated, 48 bytes long.
                        let bytes = unsafe { std::slice::from_raw_parts(p, 48) };
                        assert!(bytes.iter().all(|&b| b == t), "another thread wrote here");
                    }
                });
            }
        });
    }
}
