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
//! Slots are prepared [`CHUNK`] at a time, as the pool fills: the chunk is
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

use core::ptr;
use core::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};

use crate::sys::{self, PrivatePtr, Racy, SpinGuard, SpinLock};
use crate::table::{self, Block};

mod watched;
pub use watched::{any as any_watched, unwatch_all, unwatch_all_locked, unwatch_range, watch};

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
        libc::mmap(
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

/// Slots prepared at a time (see the module docs).
const CHUNK: usize = 16;
/// `madvise` advice: install / remove guard markers (Linux 6.13).
const MADV_GUARD_INSTALL: libc::c_int = 102;
const MADV_GUARD_REMOVE: libc::c_int = 103;
/// Whether closed pages are guard markers (else `PROT_NONE`).
static MARKERS: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
/// Slots prepared so far (a multiple of [`CHUNK`], at most `SLOTS_N`).
static PREPARED: AtomicUsize = AtomicUsize::new(0);

/// Makes pages of the prepared part of the pool inaccessible. Their
/// contents are lost with guard markers: only for guard pages and the pages
/// of freed blocks.
fn close(addr: usize, len: usize) -> bool {
    let at = addr as *mut libc::c_void;
    // SAFETY: within our reservation.
    unsafe {
        if MARKERS.load(Ordering::Relaxed) {
            libc::madvise(at, len, MADV_GUARD_INSTALL) == 0
        } else {
            libc::mprotect(at, len, libc::PROT_NONE) == 0
        }
    }
}

/// Opens pages [`close`] or [`rearm`] closed (they read as zeros after a
/// guard marker). Async-signal-safe.
fn open(addr: usize, len: usize) -> bool {
    let at = addr as *mut libc::c_void;
    // SAFETY: within our reservation.
    unsafe {
        if MARKERS.load(Ordering::Relaxed) {
            let lifted = libc::madvise(at, len, MADV_GUARD_REMOVE) == 0;
            // A page closed again after a stepped access is PROT_NONE
            // (see `rearm`); an mprotect to the protection a page has
            // already is a no-op that splits nothing.
            lifted
                && (!STEPPED.load(Ordering::Relaxed)
                    || libc::mprotect(at, len, libc::PROT_READ | libc::PROT_WRITE) == 0)
        } else {
            libc::mprotect(at, len, libc::PROT_READ | libc::PROT_WRITE) == 0
        }
    }
}

/// Some page was closed again after a stepped access ([`rearm`]) with
/// `PROT_NONE` rather than a guard marker.
static STEPPED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Closes a page again after the access that faulted on it ran, keeping
/// what that access wrote (a guard marker would drop it: a program that
/// writes past its block and reads it back must read what it wrote, as
/// natively and under Valgrind).
fn close_keeping(page: usize) {
    // SAFETY: a page of our reservation.
    unsafe { libc::mprotect(page as *mut libc::c_void, PAGE, libc::PROT_NONE) };
}

/// Prepares the next chunk of slots (under LOCK): readable and writable,
/// guard pages closed (the chunk holding slot 0 also opens and closes the
/// pool's leading guard page). False when it could not be done.
fn prepare_chunk() -> bool {
    let n = SLOTS_N.load(Ordering::Relaxed);
    let first = PREPARED.load(Ordering::Relaxed);
    let end = (first + CHUNK).min(n);
    if first >= end {
        return false;
    }
    let base = BASE.load(Ordering::Relaxed);
    let lo = if first == 0 {
        base - PAGE
    } else {
        page_of(first)
    };
    let hi = page_of(end - 1) + SLOT_BYTES;
    // SAFETY: within our reservation.
    let rw = unsafe {
        libc::mprotect(
            lo as *mut libc::c_void,
            hi - lo,
            libc::PROT_READ | libc::PROT_WRITE,
        )
    };
    if rw != 0 {
        return false;
    }
    if first == 0 {
        // The first close decides: markers where the kernel has them.
        // SAFETY: the leading guard page of our reservation.
        let marked = unsafe { libc::madvise(lo as *mut libc::c_void, PAGE, MADV_GUARD_INSTALL) };
        MARKERS.store(marked == 0, Ordering::Relaxed);
        if marked != 0 && !close(lo, PAGE) {
            return false;
        }
    }
    for slot in first..end {
        if !close(page_of(slot) + PAGE, PAGE) {
            return false;
        }
    }
    PREPARED.store(end, Ordering::Relaxed);
    true
}

/// Allocates a guarded block, or None (pool off or exhausted). `align` is
/// the alignment the program asked for (0 for none; at most
/// [`MAX_ALIGN`]; one that is no power of two is rounded up to one, as
/// glibc does).
pub fn alloc(
    size: usize,
    align: usize,
    kind: u8,
    stack: u32,
    zero: bool,
    place: Place,
) -> Option<usize> {
    if align > MAX_ALIGN {
        return None;
    }
    if !setup() {
        return None;
    }
    let _held = LOCK.lock();
    let n = SLOTS_N.load(Ordering::Relaxed);
    let slot = if NEXT_UNUSED.load(Ordering::Relaxed) < n {
        let s = NEXT_UNUSED.fetch_add(1, Ordering::Relaxed);
        Some(s)
    } else if FREED_LEN.load(Ordering::Relaxed) > 0 {
        let h = FREED_HEAD.load(Ordering::Relaxed);
        // SAFETY: h < n, the ring's length.
        let s = unsafe { *(*FREED_RING.get()).get().add(h) } as usize;
        FREED_HEAD.store((h + 1) % n, Ordering::Relaxed);
        FREED_LEN.fetch_sub(1, Ordering::Relaxed);
        Some(s)
    } else {
        None
    };
    let slot = slot?;
    if slot >= PREPARED.load(Ordering::Relaxed) && !prepare_chunk() {
        // The slot stays unused (NEXT_UNUSED moved past it): nothing of the
        // pool beyond the prepared chunks is ever handed out.
        return None;
    }
    let page = page_of(slot);
    // SAFETY: slot metadata under LOCK.
    let m = unsafe { &mut *meta(slot) };
    let reused = STATE.at(slot).load(Ordering::Relaxed) == FREED;
    // A prepared slot's page is open until its block is freed.
    if reused && !open(page, PAGE) {
        return None;
    }
    // A guard page opened after a reported fault (this slot's overrun, or
    // an underflow of the next slot's block) is closed again; a slot never
    // used yet may have had it opened by its neighbour's underflow.
    if m.opened {
        close(page + PAGE, PAGE);
    }
    // The guard before a block at the start of its page is the previous
    // slot's: if a reported overrun of that slot's live block opened it,
    // this block goes at the end of its page instead.
    // SAFETY: slot - 1 < SLOTS_N; slot metadata under LOCK.
    let prev_opened = slot > 0 && unsafe { (*meta(slot - 1)).opened };
    let start = place == Place::Start
        && if slot == 0 {
            // The pool's leading guard page (an earlier underflow of slot
            // 0's block may have opened it).
            close(page - PAGE, PAGE)
        } else if prev_opened {
            // Opened while its block lives: that block's overrun was
            // reported and may go on; closing it would report it again.
            STATE.at(slot - 1).load(Ordering::Relaxed) != LIVE && close(page - PAGE, PAGE)
        } else {
            true
        };
    // glibc promises 16-byte alignment to every block of 16 bytes or more
    // (programs lay buffers out for it); smaller blocks cannot hold a type
    // that needs more than their size's largest power-of-two divisor. An
    // aligned allocation gets at least what it asked for.
    let natural = if size == 0 || size >= 16 {
        16
    } else {
        size & size.wrapping_neg()
    };
    let align = natural.max(align.next_power_of_two());
    let q = if start {
        page
    } else {
        (page + PAGE - size) & !(align - 1)
    };
    if reused || zero {
        // SAFETY: the page is ours and writable.
        unsafe { crate::strmem::raw_memset(page as *mut u8, 0, PAGE) };
    }
    // The slack between the block's end and the guard page (blocks whose
    // size is no multiple of their alignment) is canary too; after a block
    // at the start of its page, a redzone as wide as a glibc block's.
    let slack = if start {
        table::redzone().max(FRONT).min(PAGE - size)
    } else {
        page + PAGE - q - size
    };
    // SAFETY: within the page.
    unsafe { table::fill(q + size, table::CANARY, slack) };
    // The bytes before the block are its front redzone: checked on free.
    let front = FRONT.min(q - page);
    // SAFETY: within the page.
    unsafe { table::fill(q - front, table::CANARY, front) };
    *m = Slot {
        q,
        size,
        alloc_stack: stack,
        free_stack: 0,
        kind,
        opened: false,
        overrun_reported: false,
        faults: 0,
        left: start,
        slack: slack as u16,
        watched: false,
        underrun_reported: false,
    };
    STATE.at(slot).store(LIVE, Ordering::Release);
    Some(q)
}

/// The live guarded block starting at `q`.
pub fn lookup(q: usize) -> Option<Block> {
    if !contains(q) {
        return None;
    }
    let slot = slot_of(q);
    if STATE.at(slot).load(Ordering::Acquire) != LIVE {
        return None;
    }
    // SAFETY: slot < SLOTS_N.
    let m = unsafe { *meta(slot) };
    (m.q == q).then_some(m.block())
}

/// What releasing a pointer into the pool found.
pub enum GuardRelease {
    /// Released; with the damaged bytes before its start, if any (offsets
    /// counted back from the start), and in the slack after its end
    /// (offsets from the end).
    Live(Block, Option<(usize, usize)>, Option<(usize, usize)>),
    AlreadyFreed(table::Freed),
    Unknown,
}

/// Releases guarded block `q`: its page is closed (use after free faults)
/// and the slot joins the freed ring.
pub fn release(q: usize, free_stack: u32) -> GuardRelease {
    let slot = slot_of(q);
    let held = LOCK.lock();
    // SAFETY: slot < SLOTS_N, under LOCK.
    let m = unsafe { &mut *meta(slot) };
    let state = STATE.at(slot).load(Ordering::Relaxed);
    let r = if m.q != q {
        GuardRelease::Unknown
    } else if state == FREED {
        GuardRelease::AlreadyFreed(table::Freed {
            ptr: q,
            size: m.size,
            alloc_stack: m.alloc_stack,
            free_stack: m.free_stack,
        })
    } else if state == LIVE {
        let b = m.block();
        m.free_stack = free_stack;
        let page = page_of(slot);
        if m.watched {
            // Its canaries are read below: the page is closed again after.
            watched::release(m, page);
        }
        let front = FRONT.min(q - page);
        // SAFETY: the block's page is open while it is live.
        let zone = unsafe { core::slice::from_raw_parts((q - front) as *const u8, front) };
        let damaged = if m.underrun_reported {
            None // reported when the watched page caught it
        } else {
            zone.iter().position(|&c| c != table::CANARY).map(|lo| {
                let hi = zone.iter().rposition(|&c| c != table::CANARY).unwrap_or(lo);
                (front - lo, front - hi)
            })
        };
        let slack_len = usize::from(m.slack);
        // SAFETY: as above.
        let slack = unsafe { core::slice::from_raw_parts((q + m.size) as *const u8, slack_len) };
        let after = if m.overrun_reported {
            None // the overrun was reported when it hit the guard page
        } else {
            slack.iter().position(|&c| c != table::CANARY).map(|lo| {
                (
                    lo,
                    slack
                        .iter()
                        .rposition(|&c| c != table::CANARY)
                        .unwrap_or(lo),
                )
            })
        };
        STATE.at(slot).store(FREED, Ordering::Release);
        close(page, PAGE);
        // A closed page keeps no memory: a freed slot is only address
        // space until it is reused (the reuse clears the page anyway).
        // A guard marker has dropped the page already.
        if !MARKERS.load(Ordering::Relaxed) {
            // SAFETY: the slot's own page, within our reservation.
            unsafe { libc::madvise(page as *mut libc::c_void, PAGE, libc::MADV_DONTNEED) };
        }
        if m.opened {
            close(page + PAGE, PAGE);
            m.opened = false;
        }
        m.overrun_reported = false;
        m.underrun_reported = false;
        let n = SLOTS_N.load(Ordering::Relaxed);
        let at = (FREED_HEAD.load(Ordering::Relaxed) + FREED_LEN.load(Ordering::Relaxed)) % n;
        // SAFETY: at < n.
        unsafe { *(*FREED_RING.get()).get().add(at) = slot as u32 };
        FREED_LEN.fetch_add(1, Ordering::Relaxed);
        GuardRelease::Live(b, damaged, after)
    } else {
        GuardRelease::Unknown
    };
    drop(held);
    r
}

/// The slot whose block `addr` concerns, and its state, when it holds a
/// block (live or freed): the slot whose block page holds `addr`, or, in a
/// guard page, the nearer of the block ending at it (an overflow) and the
/// block starting right after it (an underflow). Lock-free (used by the
/// fault handler).
fn used_slot(addr: usize) -> Option<(usize, u8)> {
    let base = BASE.load(Ordering::Relaxed);
    let n = SLOTS_N.load(Ordering::Relaxed);
    // The pool's leading guard page belongs to no slot: only slot 0's
    // underflows land there.
    if base == 0 || addr < base - PAGE || addr >= base + n * SLOT_BYTES {
        return None;
    }
    // A slot's state and metadata, when it holds a block.
    let used = |s: usize| {
        let state = STATE.at(s).load(Ordering::Acquire);
        // SAFETY: s < SLOTS_N.
        (state != FREE).then(|| (s, state, unsafe { *meta(s) }))
    };
    let (before, in_guard) = if addr < base {
        (None, true)
    } else {
        let s = slot_of(addr);
        (Some(s), addr >= page_of(s) + PAGE)
    };
    if !in_guard {
        return before.and_then(used).map(|(s, state, _)| (s, state));
    }
    // The block ending at the guard page (an overflow) and the one starting
    // after it (an underflow), with their distance to `addr`; the nearer
    // wins, the overflow on a tie.
    let after = before.map_or(0, |s| s + 1);
    let ending = before
        .and_then(used)
        .filter(|(_, _, m)| !m.left)
        .map(|(s, state, m)| (s, state, addr - (m.q + m.size)));
    let starting = (after < n)
        .then_some(after)
        .and_then(used)
        .filter(|(_, _, m)| m.left)
        .map(|(s, state, m)| (s, state, m.q - addr));
    [ending, starting]
        .into_iter()
        .flatten()
        .min_by_key(|&(_, _, distance)| distance)
        .map(|(s, state, _)| (s, state))
}

/// Faults reported on one slot's pages (its block page when freed, the
/// guard pages around it) before they are left open: a loop reading a
/// freed block a million times would otherwise cost a million reports.
pub const FAULT_BUDGET: u16 = 1000;

/// What the fault handler does after a fault in the pool (the report
/// describes the block from the block table).
pub struct Hit {
    /// Whether the access is reported (an access inside a watched block,
    /// or made by the C library or the runtime, is not).
    pub report: bool,
    /// The page that was opened for the access.
    pub page: usize,
    /// Whether the page should be closed again after the access (within
    /// the slot's [`FAULT_BUDGET`]).
    pub rearm: bool,
}

/// A fault in the pool on behalf of a block (live or freed): the page to
/// open (after the report, by `step::open`) so that the access can be
/// executed when the handler returns. None when `addr` is not in the pool
/// or concerns no block (the fault is then the program's own).
///
/// Async-signal-safe: no locks (a fault inside the pool's own code cannot
/// happen), only mprotect or madvise.
pub fn on_fault(addr: usize, pc: usize) -> Option<Hit> {
    let (slot, state) = used_slot(addr)?;
    // SAFETY: slot < SLOTS_N; the metadata is not in the faulting page.
    let m = unsafe { &mut *meta(slot) };
    let page = page_of(slot);
    let live = state == LIVE;
    let fault_page = addr & !(PAGE - 1);
    if live && fault_page == page {
        if !m.watched {
            return None; // the block's own page is open: not our fault
        }
        let report = match crate::watch::judge(pc, addr, m.q, m.size) {
            crate::watch::Verdict::Release => {
                // Code outside the program (the C library, another shared
                // object) may hand the block to the kernel next.
                watched::forget(m);
                return Some(Hit {
                    report: false,
                    page,
                    rearm: false,
                });
            }
            crate::watch::Verdict::Inside => false,
            crate::watch::Verdict::Outside => true,
        };
        if report && addr >= m.q + m.size {
            m.overrun_reported = true;
        } else if report && addr < m.q {
            m.underrun_reported = true;
        }
        m.faults = m.faults.saturating_add(1);
        let rearm =
            m.faults <= crate::watch::BUDGET.load(Ordering::Relaxed) && crate::watch::spend();
        if !rearm {
            // Released to ordinary checking: the page stays open.
            watched::forget(m);
        }
        return Some(Hit {
            report,
            page,
            rearm,
        });
    }
    if fault_page == page {
        m.opened = true; // a freed block's page
    } else if fault_page >= BASE.load(Ordering::Relaxed) {
        // A guard page: the slot before it closes it when it is reused or
        // released (for an underflow, that is the previous slot; the
        // pool's leading guard page is closed again when slot 0 next takes
        // a block at the start of its page).
        // SAFETY: the guard page's own slot < SLOTS_N.
        unsafe { (*meta(slot_of(fault_page))).opened = true };
    }
    if live && !m.left {
        m.overrun_reported = true;
    }
    m.faults = m.faults.saturating_add(1);
    Some(Hit {
        report: true,
        page: fault_page,
        rearm: m.faults <= FAULT_BUDGET,
    })
}

/// Closes `page` again after the access that faulted on it ran (see
/// `step`): a guard page, or the page of a block that is still freed (one
/// reused by another thread meanwhile stays open).
pub fn rearm(page: usize) {
    let base = BASE.load(Ordering::Relaxed);
    if base == 0 || !(contains(page) || page == base - PAGE) {
        return;
    }
    let _held = LOCK.lock();
    if page < base {
        close_keeping(page); // the pool's leading guard
    } else {
        let slot = slot_of(page);
        // SAFETY: slot < SLOTS_N, under LOCK.
        let m = unsafe { &mut *meta(slot) };
        // A guard page, the page of a block still freed (not reused), or
        // of a block still watched.
        let state = STATE.at(slot).load(Ordering::Relaxed);
        if page != page_of(slot) || state == FREED || (state == LIVE && m.watched) {
            close_keeping(page);
            m.opened = false;
        }
    }
}

/// Opens `page` for the access that faulted on it, when it is a page of
/// the pool (a guard page, the leading guard page, a freed block's page):
/// a guard marker is not lifted by `mprotect`. False for any other page.
/// Async-signal-safe.
pub fn open_page(page: usize) -> bool {
    let base = BASE.load(Ordering::Relaxed);
    if base == 0 || !(contains(page) || page == base - PAGE) {
        return false;
    }
    STEPPED.store(true, Ordering::Relaxed);
    open(page, PAGE)
}

/// Opens the guard page after live guarded block `q` (a checked C routine
/// reported an overrun and is about to do it: it must not fault again).
pub fn open_after(q: usize) {
    if !contains(q) {
        return;
    }
    let slot = slot_of(q);
    if STATE.at(slot).load(Ordering::Acquire) != LIVE {
        return;
    }
    // SAFETY: slot < SLOTS_N.
    let m = unsafe { &mut *meta(slot) };
    // A block at the start of its page overruns into its own page's slack.
    if m.q == q && !m.left {
        m.overrun_reported = true;
    }
    if m.q == q && !m.left && !m.opened {
        open(page_of(slot) + PAGE, PAGE);
        m.opened = true;
    }
}

/// The guarded block (live or freed) whose page or guard page holds
/// `addr`: for describing addresses in reports.
pub fn find(addr: usize) -> Option<(bool, Block, u32)> {
    let (slot, state) = used_slot(addr)?;
    // SAFETY: slot < SLOTS_N.
    let m = unsafe { *meta(slot) };
    Some((state == LIVE, m.block(), m.free_stack))
}

/// Calls `f` with each live guarded block.
pub fn for_each_live(f: &mut dyn FnMut(Block)) {
    if SETUP.load(Ordering::Acquire) != 1 {
        return;
    }
    let used = NEXT_UNUSED
        .load(Ordering::Relaxed)
        .min(SLOTS_N.load(Ordering::Relaxed));
    for slot in 0..used {
        if STATE.at(slot).load(Ordering::Acquire) == LIVE {
            // SAFETY: slot < SLOTS_N.
            let m = unsafe { *meta(slot) };
            f(m.block());
        }
    }
}

/// The pool's address range (not a root for the leak scan).
pub fn range() -> Option<(usize, usize)> {
    let base = BASE.load(Ordering::Relaxed);
    (base != 0).then(|| (base, base + SLOTS_N.load(Ordering::Relaxed) * SLOT_BYTES))
}

pub fn lock() -> SpinGuard<'static> {
    LOCK.lock()
}

/// The first and last damaged byte of a canary zone.
pub type Span = (usize, usize);

/// Calls `f` with each live guarded block and the damage found in its
/// canaries: the bytes before its start (offsets counted back from the
/// start) and its slack after the end (offsets from the end), as
/// [`release`] finds them on a free. For the exit-time check of blocks
/// never freed; other threads must be stopped.
pub fn for_each_live_damage(f: &mut dyn FnMut(Block, Option<Span>, Option<Span>)) {
    if SETUP.load(Ordering::Acquire) != 1 {
        return;
    }
    let used = NEXT_UNUSED
        .load(Ordering::Relaxed)
        .min(SLOTS_N.load(Ordering::Relaxed));
    let damaged = |zone: &[u8]| {
        let lo = zone.iter().position(|&c| c != table::CANARY)?;
        let hi = zone.iter().rposition(|&c| c != table::CANARY).unwrap_or(lo);
        Some((lo, hi))
    };
    for slot in 0..used {
        if STATE.at(slot).load(Ordering::Acquire) != LIVE {
            continue;
        }
        // SAFETY: slot < SLOTS_N.
        let m = unsafe { *meta(slot) };
        let front = FRONT.min(m.q - page_of(slot));
        // SAFETY: the block's page is open while it is live.
        let zone = unsafe { core::slice::from_raw_parts((m.q - front) as *const u8, front) };
        let before = if m.underrun_reported {
            None
        } else {
            damaged(zone).map(|(lo, hi)| (front - lo, front - hi))
        };
        let after = if m.opened || m.overrun_reported {
            None // the overrun was reported when it hit the guard page
        } else {
            // SAFETY: as above.
            let slack = unsafe {
                core::slice::from_raw_parts((m.q + m.size) as *const u8, usize::from(m.slack))
            };
            damaged(slack)
        };
        f(m.block(), before, after);
    }
}

/// The live guarded block whose slot holds `addr` (its page or the guard
/// page after it): a few loads, for the checked C routines' lookups
/// (`table::lookup_near`). An address in the guard page before a block at
/// the start of its page is not matched to that block.
#[inline]
pub fn live_in_slot(addr: usize) -> Option<Block> {
    let base = BASE.load(Ordering::Relaxed);
    let slot = addr.checked_sub(base)? / SLOT_BYTES;
    if slot >= SLOTS_N.load(Ordering::Relaxed) || STATE.at(slot).load(Ordering::Acquire) != LIVE {
        return None;
    }
    // SAFETY: slot < SLOTS_N.
    Some(unsafe { *meta(slot) }.block())
}
