//! Valgrind's leak classification (memcheck's `mc_leakcheck.c`), over blocks
//! sorted by address and memory the caller says is a root.
//!
//! Phase 1 scans the roots; a pointer to a block's start (or an interior
//! pointer accepted by a heuristic) coming from a root or a reachable block
//! makes the block reachable, any other pointer makes an unreached block
//! possibly lost; every block whose state changes is scanned in turn.
//! Phase 2 takes the blocks still unreached in address order: each is a
//! clique leader (definitely lost) and every unreached block it leads to,
//! start or interior pointer alike, becomes indirectly lost, its size (and
//! the indirect size of an earlier leader it swallows) added to the leader.

/// No pointer found (after phase 2: definitely lost).
pub const UNREACHED: u8 = 0;
/// Reached only from a lost block.
pub const INDIRECT: u8 = 1;
/// Reached through an interior pointer somewhere in the chain.
pub const POSSIBLE: u8 = 2;
/// Reached from a root through start pointers.
pub const REACHABLE: u8 = 3;

/// A block as the scanner sees it.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct ScanBlock {
    pub start: usize,
    pub size: usize,
    pub indirect: u64,
    pub stack: u32,
    pub state: u8,
    /// memdx_events::Heuristic as u8, 0 = none.
    pub heuristic: u8,
    /// The block starts on a page that cannot be read (the program
    /// protected or unmapped it): as memcheck (`lc_is_a_chunk_ptr`), a
    /// pointer to it does not count, so it is lost.
    pub unreadable: bool,
}

/// The marker: blocks sorted by start address and a mark stack with room
/// for at least `2 * blocks.len()` entries (a block is pushed at most twice
/// in phase 1 and once in phase 2).
pub struct Marker<'a> {
    pub blocks: &'a mut [ScanBlock],
    stack: &'a mut [u32],
    sp: usize,
    lo: usize,
    hi: usize,
    pub heuristics: bool,
    /// Debugging aid (MEMDX_DEBUG_ROOTS): called with (root address, block
    /// start) when a root makes a block reachable.
    pub on_root_hit: Option<fn(usize, usize)>,
    /// Sorted address ranges where vtables may live (read-only data of
    /// loaded objects), for the multipleinheritance heuristic.
    pub vtable_ranges: &'a [(usize, usize)],
    /// Bytes of roots and of block contents that could not be read and
    /// were skipped (see `catch`).
    pub skipped_root_bytes: usize,
    pub skipped_block_bytes: usize,
}

impl<'a> Marker<'a> {
    pub fn new(blocks: &'a mut [ScanBlock], stack: &'a mut [u32]) -> Self {
        let lo = blocks.first().map_or(usize::MAX, |b| b.start);
        let hi = blocks.last().map_or(0, |b| b.start + b.size.max(1));
        Marker {
            blocks,
            stack,
            sp: 0,
            lo,
            hi,
            heuristics: true,
            on_root_hit: None,
            vtable_ranges: &[],
            skipped_root_bytes: 0,
            skipped_block_bytes: 0,
        }
    }

    /// The block containing `addr` (a zero-sized block counts as one byte).
    #[inline]
    fn find(&self, addr: usize) -> Option<usize> {
        if addr < self.lo || addr >= self.hi {
            return None;
        }
        let i = self.blocks.partition_point(|b| b.start <= addr);
        let i = i.checked_sub(1)?;
        let b = self.blocks.get(i)?;
        (addr < b.start + b.size.max(1)).then_some(i)
    }

    fn push(&mut self, i: usize) {
        if let Some(slot) = self.stack.get_mut(self.sp) {
            *slot = i as u32;
            self.sp += 1;
        }
    }

    fn pop(&mut self) -> Option<usize> {
        self.sp = self.sp.checked_sub(1)?;
        self.stack.get(self.sp).map(|&i| i as usize)
    }

    /// Scans `[start, end)` of root memory (word-aligned reads). Pages
    /// that cannot be read (protected, unmapped, past the end of a mapped
    /// file) are skipped, as Valgrind skips them.
    ///
    /// # Safety
    /// The range must be mapped by the program, not the runtime's
    /// (its pages are probed, so a page the program made unreadable is
    /// only skipped).
    pub unsafe fn scan_root(&mut self, start: usize, end: usize) {
        self.skipped_root_bytes += crate::catch::for_each_readable(start, end, |a, b| {
            // SAFETY: a readable run of pages.
            unsafe { self.scan_words(a, b, true, None) };
        });
        self.process(None);
    }

    /// Treats one register value as a root.
    pub fn root_word(&mut self, w: usize) {
        self.reach(w, true);
        self.process(None);
    }

    /// Scans words of `[start, end)`.
    ///
    /// # Safety
    /// The range must be readable.
    unsafe fn scan_words(
        &mut self,
        start: usize,
        end: usize,
        definite: bool,
        clique: Option<usize>,
    ) {
        let mut a = (start + 7) & !7;
        while a + 8 <= end {
            // SAFETY: the caller guarantees the range is readable.
            let w = unsafe { core::ptr::read_volatile(a as *const usize) };
            if w >= self.lo && w < self.hi {
                if let (Some(f), true, None) = (self.on_root_hit, self.sp == 0, clique) {
                    if let Some(i) = self.find(w) {
                        if let Some(b) = self.blocks.get(i) {
                            if b.state != REACHABLE {
                                f(a, b.start);
                            }
                        }
                    }
                }
                match clique {
                    None => self.reach(w, definite),
                    Some(c) => self.reach_in_clique(w, c),
                }
            }
            a += 8;
        }
    }

    /// The block containing `w`, unless it is [`ScanBlock::unreadable`].
    #[inline]
    fn find_readable(&self, w: usize) -> Option<usize> {
        let i = self.find(w)?;
        (!self.blocks.get(i)?.unreadable).then_some(i)
    }

    fn reach(&mut self, w: usize, prior_definite: bool) {
        let Some(i) = self.find_readable(w) else {
            return;
        };
        let heuristics = self.heuristics;
        let Some(b) = self.blocks.get_mut(i) else {
            return;
        };
        if b.state == REACHABLE {
            if b.heuristic != 0 && w == b.start {
                b.heuristic = 0;
            }
            return;
        }
        let via_start = if w == b.start {
            true
        } else if heuristics {
            // SAFETY: b is a live block, readable in full.
            let h = unsafe { heuristic(b, w, self.vtable_ranges) };
            b.heuristic = h;
            h != 0
        } else {
            false
        };
        if via_start && prior_definite {
            b.state = REACHABLE;
            self.push(i);
        } else if b.state == UNREACHED {
            b.state = POSSIBLE;
            self.push(i);
        }
    }

    fn reach_in_clique(&mut self, w: usize, clique: usize) {
        let Some(i) = self.find_readable(w) else {
            return;
        };
        if i == clique {
            return;
        }
        let Some(b) = self.blocks.get_mut(i) else {
            return;
        };
        if b.state != UNREACHED {
            return;
        }
        b.state = INDIRECT;
        let moved = b.indirect + b.size as u64;
        b.indirect = 0;
        self.push(i);
        if let Some(leader) = self.blocks.get_mut(clique) {
            leader.indirect += moved;
        }
    }

    fn process(&mut self, clique: Option<usize>) {
        while let Some(i) = self.pop() {
            let Some(&b) = self.blocks.get(i) else {
                continue;
            };
            let definite = b.state == REACHABLE;
            // A block in pages the program protected or unmapped is
            // scanned where it can be read.
            self.skipped_block_bytes +=
                crate::catch::for_each_readable(b.start, b.start + b.size, |a, e| {
                    // SAFETY: a readable run of the block's pages.
                    unsafe { self.scan_words(a, e, definite, clique) };
                });
        }
    }

    /// Phase 2: group what is still unreached into cliques.
    #[cfg(test)]
    pub fn finish(&mut self) {
        self.finish_first(0..0);
    }

    /// Phase 2, trying the blocks in `first` (indices) before the others
    /// for leadership. The leader of a lost structure is the first of its
    /// blocks tried; Valgrind tries in address order, which in its heap is
    /// allocation order. Guarded blocks (the first allocations from each
    /// call site) live in a pool above the heap, so they are tried first.
    pub fn finish_first(&mut self, first: core::ops::Range<usize>) {
        for i in first
            .clone()
            .chain((0..self.blocks.len()).filter(|i| !first.contains(i)))
        {
            if self.blocks.get(i).map(|b| b.state) == Some(UNREACHED) {
                self.push(i);
                self.process(Some(i));
            }
        }
    }
}

/// Valgrind's default heuristics (`--leak-check-heuristics=all`).
/// Valgrind recognises a vtable by its `_ZTV` symbol; memdx accepts any
/// address in the read-only data of a loaded object (an approximation).
///
/// # Safety
/// `b` must be readable in full.
unsafe fn heuristic(b: &ScanBlock, w: usize, vtables: &[(usize, usize)]) -> u8 {
    const WORD: usize = 8;
    let word_at = |off: usize| -> Option<usize> {
        let at = b.start + off;
        // SAFETY: inside the block, in readable pages.
        (off + WORD <= b.size && crate::catch::range_readable(at, at + WORD))
            .then(|| unsafe { core::ptr::read_volatile(at as *const usize) })
    };
    // stdstring: length, capacity, refcount, then the chars.
    if w == b.start + 3 * WORD {
        if let (Some(len), Some(cap)) = (word_at(0), word_at(WORD)) {
            if cap.checked_add(3 * WORD + 1) == Some(b.size) && len <= cap {
                return memdx_events::Heuristic::StdString as u8;
            }
        }
    }
    if w == b.start + WORD {
        if let Some(first) = word_at(0) {
            // length64: the rest of the block's length.
            if first > 0 && b.size - WORD == first {
                return memdx_events::Heuristic::Length64 as u8;
            }
            // newarray: the element count of a new[] array.
            if first > 0 && (b.size - WORD) % first == 0 {
                return memdx_events::Heuristic::NewArray as u8;
            }
        }
    }
    // multipleinheritance: the interior pointer points at a vtable pointer,
    // and so does the block's first word.
    let is_vtable = |a: usize| {
        a % WORD == 0 && a >= 4096 && {
            let i = vtables.partition_point(|r| r.1 <= a);
            vtables.get(i).is_some_and(|r| r.0 <= a)
        }
    };
    if w % WORD == 0 && !vtables.is_empty() {
        if let (Some(inner), Some(first)) = (word_at(w - b.start), word_at(0)) {
            if is_vtable(inner) && is_vtable(first) {
                return memdx_events::Heuristic::MultipleInheritance as u8;
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Word-addressed fake heap: each block is a real boxed slice of words.
    struct Heap {
        bufs: Vec<Box<[usize]>>,
    }

    impl Heap {
        fn new(sizes_in_words: &[usize]) -> Heap {
            Heap {
                bufs: sizes_in_words
                    .iter()
                    .map(|&n| vec![0usize; n].into_boxed_slice())
                    .collect(),
            }
        }
        fn addr(&self, i: usize) -> usize {
            self.bufs[i].as_ptr() as usize
        }
        fn set(&mut self, i: usize, word: usize, v: usize) {
            self.bufs[i][word] = v;
        }
        fn classify(&self, roots: &[usize]) -> Vec<(u8, u64)> {
            let mut blocks: Vec<ScanBlock> = self
                .bufs
                .iter()
                .enumerate()
                .map(|(i, b)| ScanBlock {
                    start: b.as_ptr() as usize,
                    size: b.len() * 8,
                    stack: i as u32,
                    ..Default::default()
                })
                .collect();
            blocks.sort_by_key(|b| b.start);
            let mut stack = vec![0u32; blocks.len() * 2 + 1];
            let mut m = Marker::new(&mut blocks, &mut stack);
            let r = roots.as_ptr() as usize;
            // SAFETY: the roots array is readable.
            unsafe { m.scan_root(r, r + roots.len() * 8) };
            m.finish();
            let mut out = vec![(0, 0); self.bufs.len()];
            for b in blocks.iter() {
                out[b.stack as usize] = (b.state, b.indirect);
            }
            out
        }
    }

    #[test]
    fn start_pointer_from_root_is_reachable_and_no_pointer_is_definite() {
        let h = Heap::new(&[2, 2]);
        let got = h.classify(&[h.addr(0)]);
        assert_eq!(got, vec![(REACHABLE, 0), (UNREACHED, 0)]);
    }

    #[test]
    fn lost_tree_has_one_definite_root_and_indirect_children() {
        let mut h = Heap::new(&[2, 2, 2]);
        let (b, c) = (h.addr(1), h.addr(2));
        h.set(0, 0, b);
        h.set(1, 0, c);
        let got = h.classify(&[]);
        assert_eq!(got[0], (UNREACHED, 32));
        assert_eq!(got[1], (INDIRECT, 0));
        assert_eq!(got[2], (INDIRECT, 0));
    }

    #[test]
    fn lost_cycle_has_exactly_one_leader() {
        let mut h = Heap::new(&[2, 2, 2]);
        let (a, b, c) = (h.addr(0), h.addr(1), h.addr(2));
        h.set(0, 0, b);
        h.set(1, 0, c);
        h.set(2, 0, a);
        let got = h.classify(&[]);
        let leaders: Vec<_> = got.iter().filter(|s| s.0 == UNREACHED).collect();
        assert_eq!(leaders.len(), 1);
        assert_eq!(leaders[0].1, 32);
        assert_eq!(got.iter().filter(|s| s.0 == INDIRECT).count(), 2);
    }

    #[test]
    fn interior_pointer_makes_possibly_lost_and_children_follow() {
        let mut h = Heap::new(&[4, 2]);
        let b = h.addr(1);
        h.set(0, 0, b);
        // Interior pointer 16 bytes into block 0 (not a heuristic offset).
        let got = h.classify(&[h.addr(0) + 16]);
        assert_eq!(got[0].0, POSSIBLE);
        assert_eq!(
            got[1].0, POSSIBLE,
            "a start pointer from a possible block stays possible"
        );
    }

    #[test]
    fn later_start_pointer_upgrades_possible_to_reachable() {
        let mut h = Heap::new(&[4, 2]);
        let b = h.addr(1);
        h.set(0, 0, b);
        let got = h.classify(&[h.addr(0) + 16, h.addr(0)]);
        assert_eq!(got[0].0, REACHABLE);
        assert_eq!(got[1].0, REACHABLE);
    }

    #[test]
    fn a_pointer_to_an_unreadable_block_does_not_count() {
        let h = Heap::new(&[2, 2]);
        let mut blocks: Vec<ScanBlock> = (0..2)
            .map(|i| ScanBlock {
                start: h.addr(i),
                size: 16,
                stack: i as u32,
                unreadable: i == 1,
                ..Default::default()
            })
            .collect();
        blocks.sort_by_key(|b| b.start);
        let mut stack = vec![0u32; 8];
        let mut m = Marker::new(&mut blocks, &mut stack);
        let roots = [h.addr(0), h.addr(1)];
        let r = roots.as_ptr() as usize;
        // SAFETY: the roots array is readable (16 bytes).
        unsafe { m.scan_root(r, r + 16) };
        m.finish();
        let state = |i: u32| blocks.iter().find(|b| b.stack == i).unwrap().state;
        assert_eq!(state(0), REACHABLE);
        assert_eq!(
            state(1),
            UNREACHED,
            "a root points to it, but it is unreadable"
        );
    }

    #[test]
    fn newarray_heuristic_counts_as_reachable() {
        let mut h = Heap::new(&[5]);
        h.set(0, 0, 4); // four 8-byte elements follow the count
        let got = h.classify(&[h.addr(0) + 8]);
        assert_eq!(got[0].0, REACHABLE);
    }

    #[test]
    fn earlier_leader_swallowed_by_later_leader_moves_its_indirect_size() {
        // Blocks sorted by address; make the lower block point to a child and
        // the higher block point to the lower one.
        let mut h = Heap::new(&[2, 2, 2]);
        let mut order: Vec<usize> = (0..3).collect();
        order.sort_by_key(|&i| h.addr(i));
        let (low, mid, high) = (order[0], order[1], order[2]);
        let (low_a, mid_a) = (h.addr(low), h.addr(mid));
        h.set(mid, 0, low_a); // mid -> low
        h.set(low, 0, 0);
        h.set(high, 0, mid_a); // high -> mid
        let got = h.classify(&[]);
        // low is processed first: it points nowhere, stays a leader with 0.
        // mid is next: swallows low (16). high: swallows mid (16 + 16).
        assert_eq!(got[high], (UNREACHED, 32));
        assert_eq!(got[mid].0, INDIRECT);
        assert_eq!(got[low].0, INDIRECT);
    }
}
