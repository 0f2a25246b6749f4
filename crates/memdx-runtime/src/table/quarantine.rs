//! The per-thread quarantine (Valgrind's `--freelist-vol`): a ring of
//! freed, poisoned blocks held back from glibc until the ring's byte volume
//! is exceeded, then checked (poison, redzone) as they leave; and the
//! lookups of freed blocks still held.

use core::sync::atomic::{compiler_fence, AtomicUsize, Ordering};

use super::header::{
    header_at, read_block, FLAG_OVERRUN_REPORTED, FLAG_POISONED, HEADER, SIZE_MASK,
};
use super::redzone::{
    all_bytes, check_canary, first_last_not, poison_max, redzone, CANARY, POISON,
};
use super::state::{for_each_state, ThreadState};
use super::{Freed, Header};
use crate::sys;

/// Bytes of freed blocks each thread holds back (`--freelist-vol`).
pub const DEFAULT_QUARANTINE: usize = 2_000_000;
pub(super) static QUARANTINE_BYTES: AtomicUsize = AtomicUsize::new(DEFAULT_QUARANTINE);

pub fn set_quarantine_volume(total: usize) {
    QUARANTINE_BYTES.store(total, Ordering::Relaxed);
}

/// Damage found on a block leaving the quarantine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FreedDamage {
    /// Bytes of the freed block overwritten while it was quarantined
    /// (first and last offset from the block start).
    pub after_free: Option<(usize, usize)>,
    /// The damaged canary after the block's end (offsets from the end):
    /// written while the block was live or while it was quarantined.
    pub after_end: Option<(usize, usize)>,
}

/// Entries of a thread's first ring (it doubles when full).
const RING_FIRST: usize = 256;
/// Blocks evicted together once a quarantine is over its volume (see
/// `ThreadState::prefetch_entry`).
const EVICT_BATCH: usize = 16;

impl ThreadState {
    /// Calls `f` on each quarantined block start, oldest first.
    pub fn for_each_freed(&self, f: &mut dyn FnMut(usize)) {
        if self.busy.load(Ordering::Acquire) {
            return;
        }
        for k in 0..self.ring_len {
            let i = (self.ring_head + k) & (self.ring_cap.wrapping_sub(1));
            // SAFETY: i < ring_cap (ring_len > 0 implies a ring).
            f(unsafe { (*self.ring.add(i))[0] });
        }
    }

    fn grow_ring(&mut self) -> bool {
        let cap = if self.ring_cap == 0 {
            RING_FIRST
        } else {
            self.ring_cap * 2
        };
        let new = sys::map_private(cap * 16).cast::<[usize; 2]>();
        if new.is_null() {
            return false;
        }
        for k in 0..self.ring_len {
            // SAFETY: both indices within their rings.
            unsafe {
                *new.add(k) = *self.ring.add((self.ring_head + k) & (self.ring_cap - 1));
            }
        }
        if !self.ring.is_null() {
            sys::unmap_private(self.ring.cast(), self.ring_cap * 16);
        }
        self.ring = new;
        self.ring_cap = cap;
        self.ring_head = 0;
        true
    }

    /// Starts loading everything the eviction of ring entry `k` (counted
    /// from the head) will touch: its header (and glibc's chunk header
    /// before it), its poisoned lines and its redzone. Blocks leave the
    /// ring long after they were last used, so each of these lines misses
    /// the cache; a whole batch is prefetched together, a batch ahead, so
    /// the misses overlap instead of being waited for one after the other.
    #[inline(always)]
    fn prefetch_entry(&self, k: usize, pmax: usize, rz: usize) {
        // SAFETY: index masked below ring_cap, within the ring's entries.
        let [q, size] = unsafe { *self.ring.add((self.ring_head + k) & (self.ring_cap - 1)) };
        // glibc's size word, the header and the poison's first line.
        prefetch(q - HEADER - 8);
        let poison_end = q + size.min(pmax);
        let mut line = ((q - HEADER - 8) & !63) + 64;
        while line + 64 < poison_end {
            prefetch(line);
            line += 64;
        }
        prefetch(poison_end.saturating_sub(1));
        prefetch(q + size);
        prefetch(q + size + rz.saturating_sub(1));
    }

    /// Puts a released block in the ring. Blocks that leave it are checked
    /// (poison, redzone): clean ones are recycled (see [`Self::recycle`])
    /// or handed to `evict` (which gives them back to glibc), damaged ones
    /// are kept in `damaged` for the caller to report before it gives them
    /// back. Inlined into the release, with the eviction (one release in
    /// about sixteen) out of line: 24 instructions per malloc/free pair
    /// fewer than the whole of it out of line (`bench/check_instr.sh`).
    #[inline(always)]
    pub(super) fn quarantine<E: FnMut(usize)>(
        &mut self,
        q: usize,
        size: usize,
        damaged: &mut Damaged,
        evict: &mut E,
    ) {
        if self.ring_len == self.ring_cap {
            self.quarantine_slow(q, size, damaged, evict);
            return;
        }
        self.busy.store(true, Ordering::Relaxed);
        // Ordered against a signal handler on this thread (the stop).
        compiler_fence(Ordering::SeqCst);
        let i = (self.ring_head + self.ring_len) & (self.ring_cap - 1);
        // SAFETY: i < ring_cap.
        unsafe { *self.ring.add(i) = [q, size] };
        self.ring_len += 1;
        self.ring_bytes += size;
        if self.ring_bytes > QUARANTINE_BYTES.load(Ordering::Relaxed) {
            self.evict_batch(damaged, evict);
        }
        compiler_fence(Ordering::SeqCst);
        self.busy.store(false, Ordering::Relaxed);
    }

    /// [`Self::quarantine`] with a full ring: grown, or the block leaves
    /// at once when it cannot be.
    #[cold]
    #[inline(never)]
    fn quarantine_slow<E: FnMut(usize)>(
        &mut self,
        q: usize,
        size: usize,
        damaged: &mut Damaged,
        evict: &mut E,
    ) {
        self.busy.store(true, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        let grown = self.grow_ring();
        compiler_fence(Ordering::SeqCst);
        self.busy.store(false, Ordering::Relaxed);
        if grown {
            self.quarantine(q, size, damaged, evict);
        } else {
            leave_quarantine(q, size, poison_max(), redzone(), damaged, &mut |p, _| {
                evict(p)
            });
        }
    }

    /// Over the volume: evicts a batch of the oldest blocks (at least
    /// enough to get back under it). The lines of the batch after it are
    /// prefetched now: they have arrived by the time it leaves, some
    /// sixteen releases later, where a batch prefetched just before its
    /// own checks still waited on its first blocks.
    #[inline(never)]
    fn evict_batch<E: FnMut(usize)>(&mut self, damaged: &mut Damaged, evict: &mut E) {
        let limit = QUARANTINE_BYTES.load(Ordering::Relaxed);
        let batch = self.ring_len.min(EVICT_BATCH);
        let (pmax, rz) = (poison_max(), redzone());
        for k in batch..self.ring_len.min(2 * EVICT_BATCH) {
            self.prefetch_entry(k, pmax, rz);
        }
        // The ring's position in locals (the busy flag covers the whole
        // change): stores through `self` in the loop would make the
        // compiler reload them on every block.
        let mask = self.ring_cap - 1;
        let (mut head, mut len, mut bytes) = (self.ring_head, self.ring_len, self.ring_bytes);
        let mut evicted = 0;
        // A full `damaged` list stops the batch: the rest stays held (and
        // checked) until a later release.
        while (evicted < batch || bytes > limit) && len > 0 && !damaged.full() {
            // SAFETY: head < ring_cap.
            let [old, old_size] = unsafe { *self.ring.add(head) };
            head = (head + 1) & mask;
            len -= 1;
            bytes -= old_size;
            leave_quarantine(old, old_size, pmax, rz, damaged, &mut |p, w0| {
                // SAFETY: a clean block that left the quarantine, its
                // header's size the one recorded at its release.
                if !unsafe { self.recycle(p, w0, rz) } {
                    evict(p);
                }
            });
            evicted += 1;
        }
        (self.ring_head, self.ring_len, self.ring_bytes) = (head, len, bytes);
    }
}

/// Blocks found damaged as they left a quarantine, not yet given back.
pub struct Damaged {
    n: usize,
    /// The first `n` are set. Left unset, not zeroed: every free makes
    /// one, and almost all stay empty.
    items: [core::mem::MaybeUninit<usize>; DAMAGED_MAX],
}

/// Damaged blocks one release can hand back for reporting.
const DAMAGED_MAX: usize = 8;

impl Damaged {
    /// An empty list.
    #[inline]
    pub const fn new() -> Damaged {
        Damaged {
            n: 0,
            items: [core::mem::MaybeUninit::uninit(); DAMAGED_MAX],
        }
    }
    #[inline]
    fn full(&self) -> bool {
        self.n == DAMAGED_MAX
    }
    /// The damaged block starts (still quarantined memory, headers intact).
    pub fn blocks(&self) -> &[usize] {
        let set = self.items.get(..self.n).unwrap_or(&[]);
        // SAFETY: the first `n` items are set; MaybeUninit<usize> has
        // usize's layout.
        unsafe { core::slice::from_raw_parts(set.as_ptr().cast::<usize>(), set.len()) }
    }
}

/// A block leaves the quarantine: given to `evict` (with its header's
/// first word) when its header still holds the size the ring recorded at
/// its release (`size`) and its poison and redzone are intact, else kept
/// in `damaged` (see [`check_freed`] for the details the report needs). A
/// header overwritten after the free (an underflowing write) is never
/// trusted with the block's size: its chunk is not recycled for it.
#[inline(always)]
pub(super) fn leave_quarantine<E: FnMut(usize, u64)>(
    q: usize,
    size: usize,
    pmax: usize,
    rz: usize,
    damaged: &mut Damaged,
    evict: &mut E,
) {
    // SAFETY: a quarantined block keeps its header.
    let w0 = unsafe { header_at(q).read() };
    // SAFETY: the block's memory and redzone are still ours.
    let clean = (w0 & SIZE_MASK) as usize == size
        && unsafe {
            (w0 & FLAG_POISONED == 0 || all_bytes(q, POISON, size.min(pmax)))
                && (w0 & FLAG_OVERRUN_REPORTED != 0 || all_bytes(q + size, CANARY, rz))
        };
    if clean || damaged.full() {
        evict(q, w0);
    } else {
        damaged.items[damaged.n] = core::mem::MaybeUninit::new(q);
        damaged.n += 1;
    }
}

/// Asks the CPU to start loading the cache line of `at` (a hint: it never
/// faults).
#[inline]
fn prefetch(at: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(at as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Checks a block leaving the quarantine (or still in it at exit): its
/// poison, and its canary (deferred from the release, see [`release`]).
///
/// # Safety
/// `q` is a quarantined (freed) block start.
pub unsafe fn check_freed(q: usize) -> FreedDamage {
    let mut d = FreedDamage::default();
    // SAFETY: per the contract.
    let Header {
        block: b, freed, ..
    } = unsafe { read_block(q) };
    if !freed {
        return d;
    }
    // SAFETY: as above.
    let h = unsafe { header_at(q).read() };
    if h & FLAG_POISONED != 0 {
        let n = b.size.min(poison_max());
        // SAFETY: the block's memory is still ours.
        if !unsafe { all_bytes(q, POISON, n) } {
            // SAFETY: as above.
            let bytes = unsafe { core::slice::from_raw_parts(q as *const u8, n) };
            d.after_free = first_last_not(bytes, POISON);
        }
    }
    if h & FLAG_OVERRUN_REPORTED == 0 {
        // SAFETY: the canary was written at allocation and is still ours.
        d.after_end = unsafe { check_canary(q, b.size) };
    }
    d
}

/// A quarantined block matching `pred` (all threads' rings).
pub fn find_freed(mut pred: impl FnMut(&Freed) -> bool) -> Option<Freed> {
    let mut found = None;
    for_each_state(&mut |s| {
        if found.is_some() {
            return;
        }
        s.for_each_freed(&mut |q| {
            if found.is_some() {
                return;
            }
            // SAFETY: quarantined blocks keep their headers.
            let Header {
                block: b,
                free_stack,
                ..
            } = unsafe { read_block(q) };
            let f = Freed {
                ptr: q,
                size: b.size,
                alloc_stack: b.stack,
                free_stack,
            };
            if pred(&f) {
                found = Some(f);
            }
        });
    });
    found
}

/// The freed block starting at `q`, in a quarantine or held as a big
/// block (see `held`). Out of line: the release that calls it for a
/// double free keeps its registers for the common case.
#[cold]
#[inline(never)]
pub(super) fn freed_at(q: usize) -> Option<Freed> {
    find_freed(|f| f.ptr == q).or_else(|| crate::held::find_freed(&mut |f| f.ptr == q))
}
