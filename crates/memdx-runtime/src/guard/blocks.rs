//! Guarded blocks: allocating one in a slot, looking a live one up, and
//! releasing one (its page closed, its slot in the freed ring).

use core::sync::atomic::Ordering;

use super::pages::{close, open, prepare_chunk, MARKERS, PREPARED};
use super::watched;
use super::{
    contains, meta, page_of, setup, slot_of, Place, Slot, FREED, FREED_HEAD, FREED_LEN, FREED_RING,
    FRONT, LIVE, LOCK, MAX_ALIGN, NEXT_UNUSED, PAGE, SLOTS_N, STATE,
};
use crate::table::{self, Block};

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
        was_watched: false,
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
