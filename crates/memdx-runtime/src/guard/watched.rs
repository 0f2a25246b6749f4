//! Watching guarded blocks (see `crate::watch`): closing a live block's
//! own page, opening it for good when the block stops being watched, and
//! the count of blocks watched now (the hooks that hand memory to the
//! kernel skip their work when it is 0).

use core::sync::atomic::{AtomicUsize, Ordering};

use super::{
    close_keeping, contains, meta, page_of, slot_of, Slot, BASE, LIVE, LOCK, NEXT_UNUSED, PAGE,
    SETUP, SLOTS_N, SLOT_BYTES, STATE, STEPPED,
};

/// Blocks watched now.
static WATCHED: AtomicUsize = AtomicUsize::new(0);

/// Whether some block is watched now (a racy hint: a block watched by
/// another thread meanwhile is not the caller's memory).
#[inline]
pub fn any() -> bool {
    WATCHED.load(Ordering::Relaxed) != 0
}

/// Marks `m` no longer watched, its page left as it is (the fault handler
/// opens it).
pub(super) fn forget(m: &mut Slot) {
    if m.watched {
        m.watched = false;
        WATCHED.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Stops watching `m`, whose page is `page`: opened for good (contents
/// kept).
pub(super) fn release(m: &mut Slot, page: usize) {
    if m.watched {
        forget(m);
        open_watched(page);
    }
}

/// Opens the page of a watched block for good (its contents kept).
fn open_watched(page: usize) {
    // SAFETY: a block page of our reservation, closed with mprotect.
    unsafe {
        libc::mprotect(
            page as *mut libc::c_void,
            PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
        )
    };
}

/// Watches live guarded block `q` (see `crate::watch`): its page is
/// closed, so every access to it faults and is checked against its exact
/// bounds, for its first `watch::BUDGET` faults. Call once the runtime has
/// written what it writes into the block (canaries, fill).
pub fn watch(q: usize) {
    if !contains(q) {
        return;
    }
    let slot = slot_of(q);
    let _pool = LOCK.lock();
    // SAFETY: slot < SLOTS_N, under LOCK.
    let m = unsafe { &mut *meta(slot) };
    // `watch::on` under LOCK: `watch::stop` releases every block under it
    // after turning watching off, so none is watched after it.
    if crate::watch::on()
        && STATE.at(slot).load(Ordering::Relaxed) == LIVE
        && m.q == q
        && !m.watched
    {
        m.watched = true;
        m.was_watched = true;
        WATCHED.fetch_add(1, Ordering::Relaxed);
        m.faults = 0;
        // Opened again by `open` through mprotect (see STEPPED).
        STEPPED.store(true, Ordering::Relaxed);
        close_keeping(page_of(slot));
    }
}

/// Stops watching the live guarded blocks whose pages `n` bytes at `p`
/// touch (at most 64 slots): their pages are opened for good, so that the
/// kernel can read and write them (a closed page is EFAULT to a system
/// call). Returns whether one was watched.
pub fn unwatch_range(p: usize, n: usize) -> bool {
    let base = BASE.load(Ordering::Relaxed);
    let slots = SLOTS_N.load(Ordering::Relaxed);
    if base == 0 || n == 0 || !any() {
        return false;
    }
    let end = p.saturating_add(n);
    let pool_end = base + slots * SLOT_BYTES;
    if end <= base || p >= pool_end {
        return false;
    }
    let first = slot_of(p.max(base));
    let last = slot_of(end.min(pool_end) - 1).min(first + 63);
    let mut any = false;
    for slot in first..=last {
        // SAFETY: slot < SLOTS_N; a racy read, confirmed under LOCK.
        if !unsafe { (*meta(slot)).watched } {
            continue;
        }
        let _pool = LOCK.lock();
        // SAFETY: under LOCK.
        let m = unsafe { &mut *meta(slot) };
        if m.watched {
            release(m, page_of(slot));
            any = true;
        }
    }
    any
}

/// Stops watching every block.
pub fn unwatch_all() {
    if !any() {
        return;
    }
    let _pool = LOCK.lock();
    unwatch_all_locked();
}

/// Stops watching every block, taking the lock even when none seems
/// watched (a racy hint): `watch::stop` must not miss a block another
/// thread is watching now.
pub fn unwatch_all_now() {
    let _pool = LOCK.lock();
    unwatch_all_locked();
}

/// Stops watching every block unless the lock is held (a signal handler
/// that interrupted its holder on this thread would wait for ever).
pub fn try_unwatch_all() {
    if let Some(_pool) = LOCK.try_lock() {
        unwatch_all_locked();
    }
}

/// Stops watching every block (under LOCK: the end-of-process report reads
/// block contents and canaries).
pub fn unwatch_all_locked() {
    if SETUP.load(Ordering::Acquire) != 1 {
        return;
    }
    let used = NEXT_UNUSED
        .load(Ordering::Relaxed)
        .min(SLOTS_N.load(Ordering::Relaxed));
    for slot in 0..used {
        // SAFETY: slot < SLOTS_N, under the caller's LOCK.
        let m = unsafe { &mut *meta(slot) };
        release(m, page_of(slot));
    }
}
