//! Walking the pool for reports, the leak scan and the exit-time check of
//! live blocks' canaries.

use core::sync::atomic::Ordering;

use super::fault::used_slot;
use super::{
    meta, page_of, BASE, FRONT, LIVE, LOCK, NEXT_UNUSED, SETUP, SLOTS_N, SLOT_BYTES, STATE,
};
use crate::sys::SpinGuard;
use crate::table::{self, Block};

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
