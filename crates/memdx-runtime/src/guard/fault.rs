//! Faults in the pool: which block a faulting address concerns, what the
//! fault handler does about it, and reopening or closing pages around the
//! access.

use core::sync::atomic::Ordering;

use super::pages::{close_keeping, open, STEPPED};
use super::watched;
use super::{
    contains, meta, page_of, slot_of, BASE, FREE, FREED, LIVE, LOCK, PAGE, SLOTS_N, SLOT_BYTES,
    STATE,
};

/// The slot whose block `addr` concerns, and its state, when it holds a
/// block (live or freed): the slot whose block page holds `addr`, or, in a
/// guard page, the nearer of the block ending at it (an overflow) and the
/// block starting right after it (an underflow). Lock-free (used by the
/// fault handler).
pub(super) fn used_slot(addr: usize) -> Option<(usize, u8)> {
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
            if m.was_watched {
                // Raised while the page was closed, handled after another
                // thread stopped watching the block (its fault budget, an
                // access by the C library, a release before a system
                // call) and before or after that thread opened the page:
                // open it (it stays open: the block is not watched) and
                // run the access again, unreported. Seen as a false
                // "Invalid read of size 4 ... 16 bytes inside a block of
                // size 48" on a Rust Arc<Mutex<Vec>> that four threads
                // lock (corpus rust_threads_clean.rs, under load).
                return Some(Hit {
                    report: false,
                    page,
                    rearm: false,
                });
            }
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
