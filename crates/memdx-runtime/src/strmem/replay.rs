//! The replay engine: the block a pointer must stay inside, and Valgrind's
//! loops replayed (without touching memory) to report the same accesses,
//! access sizes and error counts as memcheck.

use super::*;

/// The live block (not one of the runtime's own) that a range from `p`
/// must stay inside: the one `p` starts or is inside, or whose header or
/// redzone holds `p` (`table::lookup_near`).
pub(super) fn block_at(p: usize) -> Option<Block> {
    if p < 4096 {
        return None;
    }
    table::lookup_near(p).filter(|b| b.kind & table::INTERNAL == 0)
}

/// Whether `n` bytes from `p` leave block `b` (see [`block_at`]).
pub(super) fn leaves(b: &Block, p: usize, n: usize) -> bool {
    p < b.ptr || p.saturating_add(n) > b.ptr + b.size
}

pub(super) fn is_overlap(dst: usize, src: usize, dstlen: usize, srclen: usize) -> bool {
    if dstlen == 0 || srclen == 0 {
        return false;
    }
    let (hi_s, hi_d) = (src + srclen - 1, dst + dstlen - 1);
    if src < dst {
        hi_s >= dst
    } else if dst < src {
        hi_d >= src
    } else {
        true
    }
}

/// One error context of a replayed routine: the accesses of one kind made
/// by one site of Valgrind's loop outside the block.
#[derive(Clone, Copy)]
pub(super) struct Group {
    pub(super) write: bool,
    pub(super) site: u8,
    pub(super) addr: usize,
    pub(super) size: usize,
    pub(super) count: u64,
    pub(super) block: Block,
}

/// `--partial-loads-ok` (Valgrind 3.19's default yes): an aligned word
/// read only partly outside its block is no error.
pub static PARTIAL_LOADS_OK: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(true);

/// Collects the invalid accesses of a replayed call.
pub(super) struct Replay {
    pub(super) groups: [Option<Group>; 16],
}

impl Replay {
    pub(super) fn new() -> Self {
        Replay { groups: [None; 16] }
    }

    /// One access of Valgrind's loop: `size` bytes at `addr`, checked
    /// against `block` (the block the pointer started). Reads that are
    /// naturally aligned words only partly outside are no error
    /// (`--partial-loads-ok=yes`, Valgrind's default; [`PARTIAL_LOADS_OK`]).
    pub(super) fn access(
        &mut self,
        write: bool,
        site: u8,
        addr: usize,
        size: usize,
        block: Option<Block>,
    ) {
        let Some(b) = block else { return };
        let end = b.ptr + b.size;
        let outside = addr < b.ptr || addr + size > end;
        if !outside {
            return;
        }
        let partial = addr < end && addr + size > b.ptr;
        if !write
            && partial
            && size >= 4
            && addr % size == 0
            && PARTIAL_LOADS_OK.load(core::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        for g in self.groups.iter_mut() {
            match g {
                Some(g) if g.write == write && g.site == site && g.size == size => {
                    g.count += 1;
                    return;
                }
                Some(_) => {}
                None => {
                    *g = Some(Group {
                        write,
                        site,
                        addr,
                        size,
                        count: 1,
                        block: b,
                    });
                    return;
                }
            }
        }
    }

    pub(super) fn any(&self) -> bool {
        self.groups[0].is_some()
    }

    /// Sends one record per context, in the order they first happened.
    pub(super) fn send(&self, func: Routine, entry: usize) {
        self.send_from(func, entry, &[]);
    }

    /// [`Replay::send`], with the frames of `below` (those not 0) shown
    /// below frame 0: the C library functions whose call of Valgrind's
    /// replacement made the accesses (see [`site_stack`]).
    pub(super) fn send_from(&self, func: Routine, entry: usize, below: &[usize]) {
        for g in self.groups.iter().flatten() {
            let mut a = Access {
                kind: if g.write {
                    AccessKind::Write
                } else {
                    AccessKind::Read
                },
                func: Some(func),
                addr: g.addr as u64,
                size: g.size as u64,
                len: g.count,
                tid: hooks::thread_no(),
                // Each site of Valgrind's loop is its own context there: a
                // distinct frame 0 inside the routine makes it one here.
                stack: site_stack(entry + g.site as usize, below),
                place: Place::InsideLive,
                block_start: g.block.ptr as u64,
                block_size: g.block.size as u64,
                alloc_stack: g.block.stack,
                ..Access::default()
            };
            if g.write {
                // The routine will do the write after this report: its
                // damage to the block's redzone is not a second error.
                table::note_overrun_reported(g.block.ptr);
                if g.addr < g.block.ptr {
                    table::note_underflow_reported(g.block.ptr);
                    if table::is_live(g.block.ptr) {
                        // SAFETY: a live block.
                        let (w0, w1) = unsafe { table::header_words(g.block.ptr) };
                        crate::tls::get().header_repair.set((g.block.ptr, w0, w1));
                    }
                }
            }
            if a.addr < a.block_start || a.addr >= a.block_start + a.block_size + 16 {
                // Beyond the redzone: described by whatever is there.
                a.place = Place::Unknown;
                access::describe(g.addr, &mut a);
            }
            access::send(&a);
        }
    }
}

/// The stack of an access made now by a site of Valgrind's loop: frame 0
/// at `pc`, then the return addresses of `below` that are not 0, innermost
/// first (inside the C library functions between the routine and the
/// program: Valgrind's replacement runs below glibc's `puts`, or below
/// `__vfprintf_internal` and `printf`, which the runtime's hook stands in
/// for), then the callers.
pub(super) fn site_stack(pc: usize, below: &[usize]) -> u32 {
    let mut inner = [0usize; 4];
    let mut n = 0;
    for &f in below.iter().filter(|&&f| f != 0) {
        if let Some(slot) = inner.get_mut(n) {
            *slot = f;
            n += 1;
        }
    }
    if n <= 1 {
        return stacks::capture_with_inner(pc, inner[0]);
    }
    let id = stacks::capture(pc);
    let Some(rec) = stacks::get(id) else {
        return id;
    };
    let want = stacks::NUM_CALLERS
        .load(Ordering::Relaxed)
        .clamp(n + 1, stacks::CAPTURE);
    let mut frames = [0u64; stacks::CAPTURE];
    let mut k = 0;
    let recorded = rec
        .frames
        .iter()
        .take((rec.n as usize).min(rec.frames.len()));
    for (i, &f) in recorded.enumerate() {
        if k == want {
            break;
        }
        frames[k] = f;
        k += 1;
        if i == 0 {
            for &g in inner.iter().take(n) {
                if k < want {
                    frames[k] = g as u64;
                    k += 1;
                }
            }
        }
    }
    stacks::intern(frames.get(..k).unwrap_or(&[]))
}

/// Puts back a block header that the routine just run overwrote after
/// its write before the block was reported (the header holds the block's
/// size and allocation stack; Valgrind keeps its own apart).
#[inline]
pub fn repair_header() {
    let td = crate::tls::get();
    let (q, w0, w1) = td.header_repair.get();
    // Not after the runtime's own copies while it reports (`in_hook`).
    if q != 0 && !td.in_hook.get() {
        td.header_repair.set((0, 0, 0));
        if table::is_live(q) {
            // SAFETY: a live block.
            unsafe { table::restore_header(q, w0, w1) };
        }
    }
}

pub(super) fn send_overlap(func: Routine, entry: usize, dst: usize, src: usize, len: usize) {
    let a = Access {
        kind: AccessKind::Overlap,
        func: Some(func),
        dst: dst as u64,
        src: src as u64,
        len: len as u64,
        tid: hooks::thread_no(),
        stack: stacks::capture(entry + 16),
        ..Access::default()
    };
    access::send(&a);
}

/// Replays Valgrind's memmove/memcpy loop over `len` bytes: `f(site,
/// offset, size)` for each element, in Valgrind's order.
pub(super) fn memmove_elems(d: usize, s: usize, len: usize, f: &mut dyn FnMut(u8, usize, usize)) {
    if len == 0 {
        return;
    }
    if d < s || !is_overlap(d, s, len, len) {
        let (mut sa, mut da, mut n, mut off) = (s, d, len, 0usize);
        let mut step = |site: u8, sz: usize, sa: &mut usize, da: &mut usize, n: &mut usize| {
            f(site, off, sz);
            off += sz;
            *sa += sz;
            *da += sz;
            *n -= sz;
        };
        if (sa ^ da) & 7 == 0 {
            while sa & 7 != 0 && n >= 1 {
                step(0, 1, &mut sa, &mut da, &mut n);
            }
            while n >= 32 {
                for site in 1..=4 {
                    step(site, 8, &mut sa, &mut da, &mut n);
                }
            }
            while n >= 8 {
                step(5, 8, &mut sa, &mut da, &mut n);
            }
            if n == 0 {
                return;
            }
        }
        if (sa | da) & 1 == 0 {
            while n >= 2 {
                step(6, 2, &mut sa, &mut da, &mut n);
            }
        }
        while n >= 1 {
            step(7, 1, &mut sa, &mut da, &mut n);
        }
    } else if d > s {
        let (mut sa, mut da, mut n) = (s + len, d + len, len);
        let mut step = |site: u8, sz: usize, sa: &mut usize, da: &mut usize, n: &mut usize| {
            *sa -= sz;
            *da -= sz;
            *n -= sz;
            f(site, *sa - s, sz);
        };
        if (sa ^ da) & 7 == 0 {
            while sa & 7 != 0 && n >= 1 {
                step(8, 1, &mut sa, &mut da, &mut n);
            }
            while n >= 32 {
                for site in 9..=12 {
                    step(site, 8, &mut sa, &mut da, &mut n);
                }
            }
            while n >= 8 {
                step(13, 8, &mut sa, &mut da, &mut n);
            }
            if n == 0 {
                return;
            }
        }
        if (sa | da) & 1 == 0 {
            while n >= 2 {
                step(14, 2, &mut sa, &mut da, &mut n);
            }
        }
        while n >= 1 {
            step(15, 1, &mut sa, &mut da, &mut n);
        }
    }
}
