//! Big freed blocks held back from glibc (Valgrind's `--freelist-vol` and
//! `--freelist-big-blocks`).
//!
//! The per-thread quarantine (`table`) holds blocks up to half its volume;
//! a bigger block used to go back to glibc at once, which unmaps it (or
//! hands it to the next malloc), so a read of it after the free crashed or
//! read reused memory, unreported. Memcheck queues every freed block until
//! the queue's volume passes `--freelist-vol` (20,000,000 bytes), then
//! releases the oldest blocks of at least `--freelist-big-blocks` bytes
//! (default 1,000,000) first; a block of the whole volume or more goes at
//! once. Here such a block is held in a process-wide table of [`SLOTS`]
//! with the whole pages inside it made inaccessible, until the held bytes
//! pass the volume ([`set_volume`]; the oldest goes first), or until an
//! allocation fails for want of memory (then every held block is given
//! back and the allocation tried again: holding never makes the program's
//! own allocations fail). An access to those pages faults: it is reported
//! as an access to a freed block, the page is opened for the one
//! instruction and closed again after it (`step`), so every access
//! counts, as under Valgrind.
//!
//! Not covered: the bytes of the block on its first and last page (shared
//! with the block's header and whatever follows it) are not protected.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::sys::{Racy, SpinGuard, SpinLock};
use crate::table::Block;

const PAGE: usize = 4096;

/// Blocks held at once; a free that finds the table full gives back the
/// oldest first (20 blocks of Valgrind's default 1,000,000 bytes fill its
/// default volume).
pub const SLOTS: usize = 32;

/// Bytes held at most when `--freelist-vol` is not given (Valgrind's
/// default for its whole queue).
pub const DEFAULT_VOLUME: usize = 20_000_000;
static VOLUME: AtomicUsize = AtomicUsize::new(DEFAULT_VOLUME);

/// Sets the volume of held blocks (`--freelist-vol`): a block of this size
/// or more is given back at once.
pub fn set_volume(n: usize) {
    VOLUME.store(n, Ordering::Relaxed);
}

/// `--freelist-big-blocks` when not given (Valgrind's default).
pub const DEFAULT_BIG: usize = 1_000_000;
static BIG: AtomicUsize = AtomicUsize::new(DEFAULT_BIG);

/// Sets the size from which a freed block is held (0: every block the
/// quarantine does not hold).
pub fn set_big_blocks(n: usize) {
    BIG.store(n, Ordering::Relaxed);
}

/// Whether a block of `size` bytes that the quarantine does not hold is
/// held here when freed.
#[inline]
pub fn wanted(size: usize) -> bool {
    size >= BIG.load(Ordering::Relaxed) && size >= 2 * PAGE
}

/// One held block; `lo == 0` for a free slot. The fault handler reads
/// these without the lock: `lo` is written last when a block is held and
/// cleared first when it is given back.
#[derive(Clone, Copy)]
struct Held {
    block: Block,
    free_stack: u32,
    /// The inaccessible pages: `lo..hi`.
    lo: usize,
    hi: usize,
}

const EMPTY: Held = Held {
    block: Block {
        ptr: 0,
        size: 0,
        stack: 0,
        kind: 0,
    },
    free_stack: 0,
    lo: 0,
    hi: 0,
};

static TABLE: Racy<[Held; SLOTS]> = Racy::new([EMPTY; SLOTS]);
/// Publication of each slot's `lo` (the fault handler's view).
static LO: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
/// Faults reported on each held block (see [`on_fault`]).
static FAULTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
/// Blocks held now (the allocation path's one load).
static COUNT: AtomicUsize = AtomicUsize::new(0);
/// Bytes of the blocks held now (under LOCK).
static BYTES: AtomicUsize = AtomicUsize::new(0);
/// Order of holding, to give the oldest back first.
static SEQ: Racy<[u64; SLOTS]> = Racy::new([0; SLOTS]);
static NEXT_SEQ: AtomicUsize = AtomicUsize::new(1);
static LOCK: SpinLock = SpinLock::new();

fn protect(lo: usize, hi: usize, prot: libc::c_int) -> bool {
    // SAFETY: whole pages inside a block the runtime owns while held.
    unsafe { libc::mprotect(lo as *mut libc::c_void, hi - lo, prot) == 0 }
}

/// Holds freed block `b` (its release counted, its live bit cleared):
/// false when it cannot be (too few whole pages inside it, as big as the
/// volume or bigger, or mprotect refused), and the caller gives it back.
/// `give` gives a block back (the oldest ones, while the table is full or
/// the held bytes would pass the volume).
pub fn hold(b: Block, free_stack: u32, give: &mut dyn FnMut(usize)) -> bool {
    let lo = (b.ptr + PAGE - 1) & !(PAGE - 1);
    let hi = (b.ptr + b.size) & !(PAGE - 1);
    let volume = VOLUME.load(Ordering::Relaxed);
    if hi <= lo || b.size >= volume {
        return false;
    }
    let _held = LOCK.lock();
    // SAFETY: the table and its order under LOCK.
    let (table, seq) = unsafe { (&mut *TABLE.get(), &mut *SEQ.get()) };
    while BYTES.load(Ordering::Relaxed) + b.size > volume || table.iter().all(|h| h.lo != 0) {
        let Some(oldest) = (0..SLOTS)
            .filter(|&i| table[i].lo != 0)
            .min_by_key(|&i| seq[i])
        else {
            break;
        };
        let old = take(table, oldest);
        give(old.block.ptr);
    }
    let Some(slot) = table.iter().position(|h| h.lo == 0) else {
        return false;
    };
    if !protect(lo, hi, libc::PROT_NONE) {
        return false;
    }
    table[slot] = Held {
        block: b,
        free_stack,
        lo,
        hi,
    };
    seq[slot] = NEXT_SEQ.fetch_add(1, Ordering::Relaxed) as u64;
    FAULTS[slot].store(0, Ordering::Relaxed);
    LO[slot].store(lo, Ordering::Release);
    COUNT.fetch_add(1, Ordering::Release);
    BYTES.fetch_add(b.size, Ordering::Relaxed);
    true
}

/// Empties slot `i` (under LOCK): its pages opened, its entry cleared.
fn take(table: &mut [Held; SLOTS], i: usize) -> Held {
    let h = table[i];
    LO[i].store(0, Ordering::Release);
    protect(h.lo, h.hi, libc::PROT_READ | libc::PROT_WRITE);
    table[i] = EMPTY;
    COUNT.fetch_sub(1, Ordering::Release);
    BYTES.fetch_sub(h.block.size, Ordering::Relaxed);
    h
}

/// Called when glibc could not allocate: gives every held block back;
/// whether there was any (then the allocation is worth trying again).
#[cold]
#[inline(never)]
pub fn give_back_all(give: &mut dyn FnMut(usize)) -> bool {
    if COUNT.load(Ordering::Acquire) == 0 {
        return false;
    }
    let _held = LOCK.lock();
    // SAFETY: the table under LOCK.
    let table = unsafe { &mut *TABLE.get() };
    let mut any = false;
    for i in 0..SLOTS {
        if table[i].lo != 0 {
            let h = take(table, i);
            give(h.block.ptr);
            any = true;
        }
    }
    any
}

/// The held block whose inaccessible pages hold `addr`. Lock-free (the
/// fault handler).
fn slot_of(addr: usize) -> Option<usize> {
    if COUNT.load(Ordering::Acquire) == 0 {
        return None;
    }
    (0..SLOTS).find(|&i| {
        let lo = LO[i].load(Ordering::Acquire);
        // SAFETY: `hi` was written before `lo` was published.
        lo != 0 && addr >= lo && addr < unsafe { (*TABLE.get())[i].hi }
    })
}

/// A fault at `addr`: when it is in a held block's inaccessible pages,
/// the page to open for the access (it is reported, then executed; see
/// `step::open`) and whether to close it again after it ([`rearm`]):
/// for the block's first [`crate::guard::FAULT_BUDGET`] faults (a
/// `memcpy` out of a freed 4 MiB block faults once per vector load).
pub fn on_fault(addr: usize) -> Option<(usize, bool)> {
    let i = slot_of(addr)?;
    let n = FAULTS[i].fetch_add(1, Ordering::Relaxed) + 1;
    Some((
        addr & !(PAGE - 1),
        n <= usize::from(crate::guard::FAULT_BUDGET),
    ))
}

/// Whether `page` is in a held block (then it is closed again).
pub fn rearm(page: usize) -> bool {
    if COUNT.load(Ordering::Acquire) == 0 {
        return false;
    }
    let _lock = LOCK.lock();
    let held = slot_of(page).is_some();
    if held {
        protect(page, page + PAGE, libc::PROT_NONE);
    }
    held
}

/// The first held block `pred` accepts, as a freed block.
pub fn find_freed(
    pred: &mut dyn FnMut(&crate::table::Freed) -> bool,
) -> Option<crate::table::Freed> {
    if COUNT.load(Ordering::Acquire) == 0 {
        return None;
    }
    (0..SLOTS).find_map(|i| {
        if LO[i].load(Ordering::Acquire) == 0 {
            return None;
        }
        // SAFETY: published entry (see `slot_of`).
        let h = unsafe { (*TABLE.get())[i] };
        let f = crate::table::Freed {
            ptr: h.block.ptr,
            size: h.block.size,
            alloc_stack: h.block.stack,
            free_stack: h.free_stack,
        };
        pred(&f).then_some(f)
    })
}

pub fn lock() -> SpinGuard<'static> {
    LOCK.lock()
}
