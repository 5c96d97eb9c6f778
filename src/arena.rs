//! An allocator for a process that lives for one compile: blocks are cut from a fixed
//! zeroed region by moving a pointer. The most recent block gives its room back when
//! freed and grows in place; blocks of a page or more are rounded up to a power of two
//! and, freed, wait on a list for the next block of their size. Smaller blocks are not
//! reused. Big blocks, and every block once the region is used up, come from the C
//! library's malloc.
//!
//! The release binary uses it where it is linked with musl (scripts/build-release.sh):
//! musl's own malloc maps and unmaps memory for every few blocks (56 `mmap`/`munmap`
//! calls in a lua hit), which made a hit slower than with glibc. With this one a lua
//! hit takes 0.65 ms of CPU against glibc's 0.79 (docs/direct-mode.md). The region is
//! `.bss`, whose pages the kernel maps only when first written, so an unused part costs
//! nothing; a page written for the first time costs a page fault (1.5 us on the machine
//! of docs/direct-mode.md), which is why the buffers of file contents, read and freed one
//! after another on a hit, reuse each other's pages. Small blocks freed in the region stay
//! taken, so what a process can hold beyond glibc's heap is bounded by the region's size.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{
    AtomicBool, AtomicUsize,
    Ordering::{AcqRel, Acquire, Release},
};

/// Blocks of this size or more go to malloc: they are file contents, whose pages are
/// better given back when freed. (One a little smaller takes this much room, and may be
/// grown to this size in place.)
const BIG: usize = 1 << 20;

/// Blocks from this size up take a power of two of room and are reused once freed.
const PAGE: usize = 4096;

/// One free list per power of two from `PAGE` to `BIG`.
const CLASSES: usize = (BIG.trailing_zeros() - PAGE.trailing_zeros() + 1) as usize;

/// The room a block of `size` bytes takes in the region.
fn room(size: usize) -> usize {
    if size < PAGE {
        size
    } else {
        size.next_power_of_two()
    }
}

/// The free list for blocks of `room` bytes, if they have one.
fn class(room: usize) -> Option<usize> {
    (PAGE..=BIG)
        .contains(&room)
        .then(|| (room.trailing_zeros() - PAGE.trailing_zeros()) as usize)
}

/// A bump allocator over `N` bytes of its own (see the module's comment).
#[repr(C, align(4096))]
pub struct Arena<const N: usize> {
    region: UnsafeCell<[u8; N]>,
    /// Bytes of the region handed out, from its start.
    used: AtomicUsize,
    /// Held while `free` is read or written.
    lock: AtomicBool,
    /// Per class, the address of the first freed block (0: none); each free block holds
    /// the address of the next in its first word.
    free: UnsafeCell<[usize; CLASSES]>,
}

// SAFETY: every byte of the region is handed out to one owner at a time: `used` moves
// by compare-and-swap, and moves back only over the block that ends at it; a block on a
// free list belongs to the list until `pop` hands it to one caller, and the lists are
// only touched under `lock`. Every swap is acquire-release and the lock is taken with
// acquire and released with release, so a thread that gives room or a block back has
// its writes to it ordered before those of the thread that takes it next.
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Arena<N> {
    /// An empty arena; as a `static` it lives in `.bss`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Arena {
            region: UnsafeCell::new([0; N]),
            used: AtomicUsize::new(0),
            lock: AtomicBool::new(false),
            free: UnsafeCell::new([0; CLASSES]),
        }
    }

    fn base(&self) -> usize {
        self.region.get() as usize
    }

    /// Offset of `p` in the region, if it lies there.
    fn offset(&self, p: *mut u8) -> Option<usize> {
        (p as usize).checked_sub(self.base()).filter(|&off| off < N)
    }

    /// Run `f` on the free lists, holding the lock.
    fn with_lists<R>(&self, f: impl FnOnce(&mut [usize; CLASSES]) -> R) -> R {
        while self
            .lock
            .compare_exchange_weak(false, true, Acquire, Acquire)
            .is_err()
        {
            std::hint::spin_loop();
        }
        // SAFETY: the lock is held: nothing else reads or writes the lists meanwhile.
        let r = f(unsafe { &mut *self.free.get() });
        self.lock.store(false, Release);
        r
    }

    /// A freed block of class `c`, if the first one is aligned to `align`.
    fn pop(&self, c: usize, align: usize) -> Option<*mut u8> {
        self.with_lists(|lists| {
            let head = lists[c];
            if head == 0 || head % align != 0 {
                return None;
            }
            // SAFETY: a block on the list is at least a page long and holds the next
            // block's address in its first word, written by `push`.
            lists[c] = unsafe { (head as *const usize).read_unaligned() };
            Some(head as *mut u8)
        })
    }

    /// Put a freed block of class `c` on its list.
    fn push(&self, c: usize, p: *mut u8) {
        self.with_lists(|lists| {
            // SAFETY: the block is the caller's to give up and at least a page long.
            unsafe { (p as *mut usize).write_unaligned(lists[c]) };
            lists[c] = p as usize;
        })
    }

    /// A block cut from the region, or None when it does not fit.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        if layout.size() >= BIG {
            return None;
        }
        let room = room(layout.size());
        if let Some(p) = class(room).and_then(|c| self.pop(c, layout.align())) {
            return Some(p);
        }
        let base = self.base();
        let mut used = self.used.load(Acquire);
        loop {
            // Aligned as an address, not as an offset: the region's own alignment is
            // only a page.
            let start = (base + used).next_multiple_of(layout.align()) - base;
            let end = start.checked_add(room).filter(|&end| end <= N)?;
            match self.used.compare_exchange_weak(used, end, AcqRel, Acquire) {
                Ok(_) => return Some((base + start) as *mut u8),
                Err(now) => used = now,
            }
        }
    }
}

// SAFETY: blocks from the region are disjoint, aligned and at least `layout.size()` long
// (`bump`, `pop`); the others are malloc's, and go back to it.
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
                // Reused blocks, and room given back by a freed last block, may have
                // been written.
                // SAFETY: `p` is a fresh block of at least `layout.size()` bytes.
                unsafe { std::ptr::write_bytes(p, 0, layout.size()) };
                p
            }
            // SAFETY: as in `alloc`.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        let Some(off) = self.offset(p) else {
            // SAFETY: `p` came from malloc with this layout (`alloc`).
            return unsafe { System.dealloc(p, layout) };
        };
        let room = room(layout.size());
        // The last block gives its room back; a block of a page or more that is not
        // last waits on its list; the room of a smaller one stays taken.
        if self
            .used
            .compare_exchange(off + room, off, AcqRel, Acquire)
            .is_err()
        {
            if let Some(c) = class(room) {
                self.push(c, p);
            }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(off) = self.offset(p) else {
            // SAFETY: `p` came from malloc with this layout; the caller's contract.
            return unsafe { System.realloc(p, layout, new_size) };
        };
        let (old_room, new_room) = (room(layout.size()), room(new_size));
        if new_size <= old_room {
            // It fits where it is. Shrinking: the tail goes back if this is the last
            // block, else it stays taken (the block counts as `new_room` from now on,
            // which its room holds).
            if new_room < old_room {
                let _ = self
                    .used
                    .compare_exchange(off + old_room, off + new_room, AcqRel, Acquire);
            }
            return p;
        }
        // Growing the last block in place, while it stays small and in the region.
        if new_size < BIG
            && off + new_room <= N
            && self
                .used
                .compare_exchange(off + old_room, off + new_room, AcqRel, Acquire)
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
    fn freed_blocks_of_a_page_or_more_serve_the_next_of_their_size() {
        static A: Arena<{ 1 << 20 }> = Arena::new();
        // SAFETY: non-zero sizes; each block is used only while allocated.
        unsafe {
            let a = A.alloc(layout(5000, 8));
            let small = A.alloc(layout(100, 8));
            A.dealloc(a, layout(5000, 8));
            // Same power of two (8 KiB): the freed block, though it is not the last.
            let b = A.alloc(layout(7000, 8));
            assert_eq!(b, a, "a freed 8 KiB block is reused");
            std::ptr::write_bytes(b, 5, 7000);
            // Another size, or an alignment the block lacks, takes new room.
            let c = A.alloc(layout(20_000, 8));
            assert!(c as usize >= small as usize + 100);
            A.dealloc(b, layout(7000, 8));
            let d = A.alloc(layout(5000, 1 << 16));
            assert_ne!(d, b, "an unaligned freed block is not handed out");
            assert_eq!(d as usize % (1 << 16), 0);
            // The freed block still waits for an 8 KiB block with a lesser alignment.
            assert_eq!(A.alloc(layout(8192, 16)), b);
            // Blocks under a page are not reused once another follows them.
            let s1 = A.alloc(layout(3000, 8));
            let _s2 = A.alloc(layout(10, 8));
            A.dealloc(s1, layout(3000, 8));
            assert_ne!(A.alloc(layout(3000, 8)), s1);
            let _ = (c, small);
        }
    }

    #[test]
    fn a_shrunk_block_keeps_its_bytes_and_is_reused_at_its_new_size() {
        static A: Arena<{ 1 << 20 }> = Arena::new();
        // SAFETY: non-zero sizes; each block is used only while allocated.
        unsafe {
            let l = layout(20_000, 8);
            let p = A.alloc(l);
            std::ptr::write_bytes(p, 4, 20_000);
            let _after = A.alloc(layout(64, 8));
            let q = A.realloc(p, l, 5000);
            assert_eq!(q, p, "shrinking keeps the block where it is");
            assert!(std::slice::from_raw_parts(q, 5000).iter().all(|&x| x == 4));
            // Growing within what a block of 5000 bytes has (8 KiB) stays too.
            let r = A.realloc(q, layout(5000, 8), 8000);
            assert_eq!(r, p);
            assert!(std::slice::from_raw_parts(r, 5000).iter().all(|&x| x == 4));
            A.dealloc(r, layout(8000, 8));
            assert_eq!(
                A.alloc(layout(6000, 8)),
                p,
                "it is reused as an 8 KiB block"
            );
        }
    }

    #[test]
    fn threads_never_share_a_reused_block() {
        static A: Arena<{ 4 << 20 }> = Arena::new();
        std::thread::scope(|s| {
            for t in 0..8u8 {
                s.spawn(move || {
                    let l = layout(5000 + 1000 * (t as usize % 3), 8);
                    let mut mine = Vec::new();
                    for i in 0..300 {
                        // SAFETY: non-zero size; blocks are used only while allocated.
                        unsafe {
                            let p = A.alloc(l);
                            std::ptr::write_bytes(p, t, l.size());
                            if i % 2 == 0 {
                                let bytes = std::slice::from_raw_parts(p, l.size());
                                assert!(bytes.iter().all(|&b| b == t), "shared block");
                                A.dealloc(p, l);
                            } else {
                                mine.push(p);
                            }
                        }
                    }
                    for p in mine {
                        // SAFETY: still allocated, `l.size()` bytes long.
                        let bytes = unsafe { std::slice::from_raw_parts(p, l.size()) };
                        assert!(bytes.iter().all(|&b| b == t), "another thread wrote here");
                    }
                });
            }
        });
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
