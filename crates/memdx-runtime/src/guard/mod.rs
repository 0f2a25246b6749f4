//! Guard pages around a bounded pool of sampled blocks.
//!
//! A guarded block sits alone at the end of a page, right before an
//! inaccessible page, so the first byte read or written past its end
//! faults; when it is freed its page is made inaccessible too, so a use
//! after free faults. The fault handler asks [`on_fault`] which block the
//! address belongs to, reports the access, opens the page and lets the
//! program go on (as under Valgrind, an invalid access is reported and
//! executed).
//!
//! Each slot is two pages of one reserved region (block page, guard page).
//! Slots are prepared `pages::CHUNK` at a time, as the pool fills: the chunk is
//! made readable and writable and its guard pages closed. Where the kernel
//! has guard markers (`MADV_GUARD_INSTALL`, Linux 6.13) a closed page is a
//! marker in the page table and the region stays one mapping; a closed page
//! keeps no contents (a freed block's page was emptied anyway). Elsewhere
//! pages are closed with `mprotect`, which splits the mapping: a slot then
//! costs up to two mappings (the pool, `--guard-pages`, default
//! [`DEFAULT_SLOTS`], stays far below the kernel's limit of about 65,000),
//! and every `fork` of the program copies them (bash with ~340 guarded call
//! sites had ~700 mappings; a fork cost 0.7-1.4 ms more than with markers).
//! Which blocks: the first allocation from each call site (stack id) at the
//! end of its page (overflows fault), the second one from the same site at
//! the start of its page (underflows fault: the page before it is the
//! previous slot's guard page, and the pool starts with a guard page of its
//! own), then one allocation in [`SAMPLE_EVERY`], alternately at the end and
//! at the start. When the pool is full, the slot freed longest ago is
//! reused; while no slot is free, blocks go to glibc.
//!
//! A fault in a guard page concerns the block before it (ending at the
//! page: an overflow) or the one after it (starting right after the page:
//! an underflow), whichever is nearer to the address.
//!
//! Blocks of 16 bytes or more start 16-aligned (glibc's promise: programs
//! lay buffers out for it), smaller ones at the largest power of two
//! dividing their size; an aligned allocation (memalign and the rest, up
//! to [`MAX_ALIGN`]) at least at the alignment asked for. Blocks whose
//! size is a multiple of their alignment end exactly at the guard page;
//! others leave up to alignment - 1 bytes of slack before it, canary
//! bytes where an overrun is not caught at once but when the block is
//! freed (the block keeps its exact size: a write into the slack is an
//! overrun, as under Valgrind, which tracks exact sizes). Sixteen canary
//! bytes before the block catch underflowing writes when it is freed. The
//! metadata lives in a side table (readable while the page is closed).
//!
//! On by default with [`DEFAULT_SLOTS`] slots (`--guard-pages=0` turns
//! the pool off). It was off for a while: a live thread's guarded TLS
//! vector sometimes went missing from the leak scan. The cause was the
//! scan's block array, sized before the other threads were stopped and
//! filled after (guarded blocks last, so they were the ones dropped); the
//! report now counts again once they are stopped.
//!
//! This module holds the pool's settings, state and setup, and the choice
//! of blocks to guard; the rest lives in:
//! - `pages`: opening and closing pages, preparing chunks of slots;
//! - `blocks`: allocating, looking up and releasing guarded blocks;
//! - `fault`: faults in the pool, and reopening or closing pages after them;
//! - `scan`: walking the pool (reports, leak scan, exit-time check);
//! - `watched`: watching guarded blocks.

use core::ptr;
use core::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};

use crate::sys::{self, PrivatePtr, Racy, SpinLock};
use crate::table::Block;

mod blocks;
mod fault;
mod pages;
mod scan;
mod watched;
pub use blocks::{alloc, lookup, release, GuardRelease};
pub use fault::{on_fault, open_after, open_page, rearm, FAULT_BUDGET};
use pages::{close_keeping, STEPPED};
pub use scan::{find, for_each_live, for_each_live_damage, live_in_slot, lock, range};
pub use watched::{
    any as any_watched, try_unwatch_all, unwatch_all, unwatch_all_locked, unwatch_all_now,
    unwatch_range, watch,
};

const PAGE: usize = 4096;
const SLOT_BYTES: usize = 2 * PAGE;
/// Slots when `--guard-pages` is not given.
pub const DEFAULT_SLOTS: usize = 4096;
/// The pool's size with `--guard-pages=all` (and the most allowed): two
/// mappings a slot stays well below the kernel's 65,530.
const MAX_SLOTS: usize = 30_000;
/// `--guard-pages=all`: every block that fits is guarded while slots last.
static ALL: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
/// One allocation in this many is guarded (besides first ones per site).
pub const SAMPLE_EVERY: u32 = 5000;
/// Largest block size that fits a slot.
const MAX_GUARDED: usize = PAGE;
/// Largest alignment a guarded block can have (a page: the slot's block
/// page starts one).
pub const MAX_ALIGN: usize = PAGE;

/// Canary bytes written before a guarded block (underflows are found
/// when it is freed).
const FRONT: usize = 16;

const FREE: u8 = 0;
const LIVE: u8 = 1;
const FREED: u8 = 2;

/// Per-slot metadata (also readable while the block's page is closed).
#[derive(Clone, Copy)]
struct Slot {
    q: usize,
    size: usize,
    alloc_stack: u32,
    free_stack: u32,
    kind: u8,
    /// The page or the guard page was opened after a reported fault (and
    /// not closed again yet: see [`rearm`]).
    opened: bool,
    /// An access past the block's end was reported at the guard page (the
    /// slack it crossed is not reported again when the block is freed).
    overrun_reported: bool,
    /// Faults reported on this slot's pages since its block was allocated
    /// (after [`FAULT_BUDGET`] the page stays open).
    faults: u16,
    /// The block starts its page (the guard before it catches underflows)
    /// instead of ending it.
    left: bool,
    /// Canary bytes between the block's end and the guard page (or, for a
    /// block at the start of its page, after its end).
    slack: u16,
    /// The block's own page is closed while it lives: each access faults
    /// and is checked against the block's exact bounds (see [`watch`]).
    watched: bool,
    /// The block has been watched (and may be no longer): a fault on its
    /// own page raised while it was closed can be handled after another
    /// thread stopped watching it (see `fault::on_fault`).
    was_watched: bool,
    /// An access before the block's start was reported from its watched
    /// page (its front canaries are not reported again on free).
    underrun_reported: bool,
}

impl Slot {
    fn block(&self) -> Block {
        Block {
            ptr: self.q,
            size: self.size,
            stack: self.alloc_stack,
            kind: self.kind,
        }
    }
}

static BASE: AtomicUsize = AtomicUsize::new(0);
static SLOTS_N: AtomicUsize = AtomicUsize::new(0);
static STATE: AtomicPtr8 = AtomicPtr8::new();
static META: Racy<PrivatePtr<Slot>> = Racy::new(PrivatePtr::null());
static LOCK: SpinLock = SpinLock::new();
/// Ring of freed slots, oldest first (reused when no slot is unused).
static FREED_RING: Racy<PrivatePtr<u32>> = Racy::new(PrivatePtr::null());
static FREED_HEAD: AtomicUsize = AtomicUsize::new(0);
static FREED_LEN: AtomicUsize = AtomicUsize::new(0);
/// Slots never used yet start here.
static NEXT_UNUSED: AtomicUsize = AtomicUsize::new(0);
/// 0: not set up; 1: ready; 2: off or failed.
static SETUP: AtomicU8 = AtomicU8::new(0);
/// Call sites that already had their first and second guarded blocks:
/// two bits per stack id.
static SEEN: AtomicUsize = AtomicUsize::new(0);
const SEEN_SITES: usize = 1 << 24;

/// Slot states, one byte each (in private memory).
struct AtomicPtr8(AtomicUsize);
impl AtomicPtr8 {
    const fn new() -> Self {
        AtomicPtr8(AtomicUsize::new(0))
    }
    fn at(&self, i: usize) -> &'static AtomicU8 {
        // SAFETY: i < SLOTS_N; the array has SLOTS_N bytes.
        unsafe { &*(self.0.load(Ordering::Acquire) as *const AtomicU8).add(i) }
    }
}

/// Pool size from `MEMDX_GUARD_PAGES` (latched by the constructor, before
/// the variable is removed from the environment); usize::MAX = not read.
static WANTED_SLOTS: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Reads the pool settings from the environment (once).
pub fn latch_settings() -> usize {
    let n = WANTED_SLOTS.load(Ordering::Relaxed);
    if n != usize::MAX {
        return n;
    }
    let v = sys::getenv(c"MEMDX_GUARD_PAGES");
    let n = if v == Some(b"all") {
        ALL.store(true, Ordering::Relaxed);
        MAX_SLOTS
    } else {
        v.and_then(sys::parse_usize)
            .unwrap_or(DEFAULT_SLOTS)
            .min(MAX_SLOTS)
    };
    WANTED_SLOTS.store(n, Ordering::Relaxed);
    if n == 0 {
        SETUP.store(2, Ordering::Release);
    }
    n
}

fn setup() -> bool {
    match SETUP.load(Ordering::Acquire) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    {
        let _held = LOCK.lock();
        if SETUP.load(Ordering::Acquire) == 0 {
            let n = latch_settings();
            let ok = n > 0 && reserve(n);
            SETUP.store(if ok { 1 } else { 2 }, Ordering::Release);
        }
    }
    SETUP.load(Ordering::Acquire) == 1
}

fn reserve(n: usize) -> bool {
    // One more page in front: the guard before slot 0's block page.
    let len = n * SLOT_BYTES + PAGE;
    // SAFETY: a fresh inaccessible reservation; checked below.
    let base = unsafe {
        sys::raw_mmap(
            ptr::null_mut(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return false;
    }
    let meta = sys::map_private(n * core::mem::size_of::<Slot>()).cast::<Slot>();
    let states = sys::map_private(n);
    let ring = sys::map_private(n * 4).cast::<u32>();
    let seen = sys::map_private_noreserve(SEEN_SITES * 2 / 8);
    if meta.is_null() || states.is_null() || ring.is_null() || seen.is_null() {
        return false;
    }
    // SAFETY: under LOCK, before SETUP publishes them.
    unsafe {
        *META.get() = PrivatePtr::new(meta);
        *FREED_RING.get() = PrivatePtr::new(ring);
    }
    STATE.0.store(states as usize, Ordering::Release);
    SEEN.store(seen as usize, Ordering::Release);
    SLOTS_N.store(n, Ordering::Release);
    BASE.store(base as usize + PAGE, Ordering::Release);
    true
}

/// Where a guarded block goes in its page.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Place {
    /// At the end, against the guard page after it: overflows fault.
    End,
    /// At the start, right after the guard page before it: underflows fault.
    Start,
}

/// Whether (and where) the allocation about to be made from call site
/// `stack` should be guarded.
#[inline(always)]
pub fn wanted(size: usize, stack: u32, td: &crate::tls::ThreadData) -> Option<Place> {
    if size > MAX_GUARDED {
        return None;
    }
    // A loop allocating from the call site this thread last found with
    // both its blocks taken, between two samples: nothing else to check
    // (`site_done` is only set with the pool up and not guarding all).
    if stack != 0 && stack == td.site_done.get() {
        let c = td.sample_countdown.get();
        if c > 1 {
            td.sample_countdown.set(c - 1);
            return None;
        }
    }
    wanted_full(stack, td)
}

/// [`wanted`] past its loop case.
#[inline]
fn wanted_full(stack: u32, td: &crate::tls::ThreadData) -> Option<Place> {
    if SETUP.load(Ordering::Relaxed) == 2 {
        return None;
    }
    // Two bits per call site: its first guarded block (at the end of its
    // page) and its second (at the start) were taken.
    let mut seen = SEEN.load(Ordering::Relaxed);
    if seen == 0 {
        // The first allocation of all: set the pool up, so that this call
        // site's first block is counted as such.
        if !setup() {
            return None;
        }
        seen = SEEN.load(Ordering::Relaxed);
    }
    let i = stack as usize;
    // The call site this thread last found with both its blocks taken:
    // a loop allocating from one site skips the bitset.
    if stack != 0 && stack != td.site_done.get() && i < SEEN_SITES {
        // SAFETY: 2i / 64 < SEEN_SITES * 2 / 64 words of the bitset.
        let w = unsafe { &*(seen as *const AtomicU64).add(i / 32) };
        let shift = 2 * (i % 32);
        let v = (w.load(Ordering::Relaxed) >> shift) & 3;
        if v != 3 {
            let bit = if v & 1 == 0 { 1u64 } else { 2u64 };
            if w.fetch_or(bit << shift, Ordering::Relaxed) & (bit << shift) == 0 {
                td.watch_next.set(true);
                return Some(if bit == 1 { Place::End } else { Place::Start });
            }
        } else if !ALL.load(Ordering::Relaxed) {
            td.site_done.set(stack);
        }
    }
    td.watch_next.set(false);
    if ALL.load(Ordering::Relaxed) {
        return Some(Place::End);
    }
    let c = td.sample_countdown.get();
    if c <= 1 {
        td.sample_countdown.set(SAMPLE_EVERY);
        let start = !td.sample_start.get();
        td.sample_start.set(start);
        return Some(if start { Place::Start } else { Place::End });
    }
    td.sample_countdown.set(c - 1);
    None
}

#[inline]
pub fn contains(addr: usize) -> bool {
    let base = BASE.load(Ordering::Relaxed);
    base != 0 && addr.wrapping_sub(base) < SLOTS_N.load(Ordering::Relaxed) * SLOT_BYTES
}

fn slot_of(addr: usize) -> usize {
    (addr - BASE.load(Ordering::Relaxed)) / SLOT_BYTES
}

fn page_of(slot: usize) -> usize {
    BASE.load(Ordering::Relaxed) + slot * SLOT_BYTES
}

fn meta(slot: usize) -> *mut Slot {
    // SAFETY: slot < SLOTS_N; META has SLOTS_N entries once set up.
    unsafe { (*META.get()).get().add(slot) }
}
