//! A block's life through the table: [`register`] finishes a fresh block
//! (header, canary, live bit, counters), [`release`] takes it back (live
//! bit, header check, poison, quarantine).

use core::sync::atomic::Ordering;

use super::header::{
    check_header, check_word, header_at, mark_freed, overrun_reported, read_block,
    underflow_reported, write_header, FLAG_FREED, FLAG_INTERNAL, FLAG_OVERRUN_REPORTED,
    FLAG_POISONED, INTERNAL, KIND_SHIFT, SIZE_MASK,
};
use super::live::{set_live, take_live, MAX_SIZE_SEEN};
use super::quarantine::{freed_at, Damaged, QUARANTINE_BYTES};
use super::redzone::{check_canary, fill, poison_max, redzone, write_canary, POISON};
use super::state::{on_state, state_of, with_state};
use super::{Block, Freed};
use crate::tls::ThreadData;

/// Finishes a fresh block: header, canary, live bit, counters. `raw` is
/// glibc's pointer, `q` the program's.
///
/// # Safety
/// `raw .. q + size + REDZONE` must be a fresh glibc block; `q - raw` is a
/// power of two of at least [`HEADER`].
#[inline]
pub unsafe fn register(
    td: &ThreadData,
    raw: usize,
    q: usize,
    size: usize,
    kind: u8,
    stack: u32,
) -> bool {
    let st = state_of(td);
    let off_log2 = (q - raw).trailing_zeros();
    // SAFETY: per the contract.
    unsafe {
        write_header(q, size, kind, stack, off_log2);
        write_canary(q, size);
    }
    if size > MAX_SIZE_SEEN.load(Ordering::Relaxed) {
        MAX_SIZE_SEEN.fetch_max(size, Ordering::Relaxed);
    }
    if !set_live(q) {
        return false;
    }
    if kind & INTERNAL == 0 {
        on_state(st, |s| {
            s.counters.allocs += 1;
            s.counters.bytes_allocated += size as u64;
        });
    }
    true
}

/// Damage found on a live block's edges when it was released: bytes before
/// its start (offsets counted back from the start, 1 = the byte just before)
/// and after its end (offsets from the end).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Damages {
    pub before_start: Option<(usize, usize)>,
    pub after_end: Option<(usize, usize)>,
}

/// What a release found.
pub enum Release {
    /// The block was live; it is now quarantined (or given back).
    Live(Block, Damages),
    /// The pointer is the start of a block freed earlier (still quarantined).
    AlreadyFreed(Freed),
    /// Not a block start the runtime knows.
    Unknown,
}

/// The raw glibc pointer of block `q`.
///
/// # Safety
/// `q` is a block start.
#[inline]
pub unsafe fn raw_of(q: usize) -> usize {
    // SAFETY: per the contract.
    q - unsafe { read_block(q) }.offset
}

/// Releases block `q`: the live bit is cleared, the header checked and
/// marked, the memory poisoned and quarantined. Blocks leaving the
/// quarantine clean, or never held, are recycled (see
/// [`ThreadState::recycle`]) or handed to `evict` (which gives them to
/// glibc); blocks found damaged on leaving are listed in `damaged` (the
/// caller reports them, then gives them back).
#[inline]
pub fn release<E: FnMut(usize)>(
    td: &ThreadData,
    q: usize,
    free_stack: u32,
    damaged: &mut Damaged,
    evict: &mut E,
) -> Release {
    let st = state_of(td);
    if !take_live(q) {
        with_state(|s| s.counters.frees += 1);
        return match freed_at(q) {
            Some(f) => Release::AlreadyFreed(f),
            None => Release::Unknown,
        };
    }
    let h = header_at(q);
    // SAFETY: we own the release of a block whose header was complete.
    let (w0, w1) = unsafe { (h.read(), h.add(1).read()) };
    if check_word(q, w0) != (w1 >> 32) as u32 {
        return release_damaged_header(q, free_stack, damaged, evict);
    }
    let mut kind = ((w0 >> KIND_SHIFT) & 0x0f) as u8;
    if w0 & FLAG_INTERNAL != 0 {
        kind |= INTERNAL;
    }
    let b = Block {
        ptr: q,
        size: (w0 & SIZE_MASK) as usize,
        stack: w1 as u32,
        kind,
    };
    let mut damage = Damages::default();
    // A block the quarantine will hold has its canary checked when it
    // leaves (see `leave_quarantine`): the block's end is often cold when
    // it is freed, and reading it there waited for memory on every free;
    // on eviction it has been prefetched. The report is the same: it
    // carries the stack of the block's free.
    let limit = QUARANTINE_BYTES.load(Ordering::Relaxed);
    let held = kind & INTERNAL == 0 && limit != 0 && b.size <= limit / 2;
    if !held {
        if w0 & FLAG_OVERRUN_REPORTED == 0 {
            // SAFETY: the canary was written at allocation.
            damage.after_end = unsafe { check_canary(q, b.size) };
        }
        if kind & INTERNAL == 0 {
            on_state(st, |s| s.counters.frees += 1);
            // A big block: its pages closed until the next allocation.
            if crate::held::wanted(b.size) && hold_big(b, free_stack, evict) {
                return Release::Live(b, damage);
            }
        }
        // Not worth poisoning or holding: recycled or given back at once.
        // SAFETY: st is this thread's state; the header was checked above.
        if st.is_null() || !unsafe { (*st).recycle(q, w0, redzone()) } {
            evict(q);
        }
        return Release::Live(b, damage);
    }
    let poison = b.size.min(poison_max());
    // SAFETY: as above; the block's memory is still ours.
    unsafe {
        h.write(w0 | FLAG_FREED | if poison > 0 { FLAG_POISONED } else { 0 });
        h.add(1)
            .write((w1 & 0xffff_ffff) | (u64::from(free_stack) << 32));
        fill(q, POISON, poison);
    }
    on_state(st, |s| {
        s.counters.frees += 1;
        s.quarantine(q, b.size, damaged, evict);
    });
    Release::Live(b, damage)
}

/// [`crate::held::hold`], out of line: the release of a small block,
/// the common case, keeps its registers (19 instructions per pair inline).
#[cold]
#[inline(never)]
fn hold_big<E: FnMut(usize)>(b: Block, free_stack: u32, evict: &mut E) -> bool {
    crate::held::hold(b, free_stack, evict)
}

/// The release of a live block whose check word was damaged (an underflow
/// wrote before it): reported, and held or given back only when the size
/// and alignment are still believable. It repeats the end of [`release`]
/// rather than rejoining it: with the damage known to be none on its path,
/// `release` and its caller's check of the result stay about eight
/// instructions shorter per free (`bench/check_instr.sh`).
#[cold]
#[inline(never)]
fn release_damaged_header<E: FnMut(usize)>(
    q: usize,
    free_stack: u32,
    damaged: &mut Damaged,
    evict: &mut E,
) -> Release {
    // SAFETY: we own the release of a block whose header was complete.
    let before = unsafe { check_header(q) };
    // SAFETY: as above.
    let mut b = unsafe { read_block(q) }.block;
    let mut damage = Damages {
        before_start: before
            .map(|d| (d.first, d.last))
            .filter(|_| !underflow_reported(q, true)),
        after_end: None,
    };
    if before.is_some_and(|d| !d.believable) {
        // The size and alignment were overwritten: the block cannot be
        // checked, held or given back safely. It stays allocated.
        b.size = 0;
        b.stack = 0;
        with_state(|s| s.counters.frees += 1);
        return Release::Live(b, damage);
    }
    let limit = QUARANTINE_BYTES.load(Ordering::Relaxed);
    let held = b.kind & INTERNAL == 0 && limit != 0 && b.size <= limit / 2;
    // SAFETY: the canary was written at allocation.
    if !held && !unsafe { overrun_reported(q) } {
        // SAFETY: as above.
        damage.after_end = unsafe { check_canary(q, b.size) };
    }
    if !held {
        if b.kind & INTERNAL == 0 {
            with_state(|s| s.counters.frees += 1);
        }
        evict(q);
        return Release::Live(b, damage);
    }
    let poison = b.size.min(poison_max());
    // SAFETY: as above.
    unsafe { mark_freed(q, b.stack, free_stack, poison > 0) };
    // SAFETY: the block's memory is still ours.
    unsafe { fill(q, POISON, poison) };
    with_state(|s| {
        s.counters.frees += 1;
        s.quarantine(q, b.size, damaged, evict);
    });
    Release::Live(b, damage)
}
