//! Opening and closing the pool's pages (guard markers where the kernel
//! has them, else `mprotect`) and preparing slots [`CHUNK`] at a time.

use core::sync::atomic::{AtomicUsize, Ordering};

use super::{page_of, BASE, PAGE, SLOTS_N, SLOT_BYTES};

/// Slots prepared at a time (see the module docs).
const CHUNK: usize = 16;
/// `madvise` advice: install / remove guard markers (Linux 6.13).
const MADV_GUARD_INSTALL: libc::c_int = 102;
const MADV_GUARD_REMOVE: libc::c_int = 103;
/// Whether closed pages are guard markers (else `PROT_NONE`).
pub(super) static MARKERS: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);
/// Slots prepared so far (a multiple of [`CHUNK`], at most `SLOTS_N`).
pub(super) static PREPARED: AtomicUsize = AtomicUsize::new(0);

/// Makes pages of the prepared part of the pool inaccessible. Their
/// contents are lost with guard markers: only for guard pages and the pages
/// of freed blocks.
pub(super) fn close(addr: usize, len: usize) -> bool {
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
pub(super) fn open(addr: usize, len: usize) -> bool {
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
pub(super) static STEPPED: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Closes a page again after the access that faulted on it ran, keeping
/// what that access wrote (a guard marker would drop it: a program that
/// writes past its block and reads it back must read what it wrote, as
/// natively and under Valgrind).
pub(super) fn close_keeping(page: usize) {
    // SAFETY: a page of our reservation.
    unsafe { libc::mprotect(page as *mut libc::c_void, PAGE, libc::PROT_NONE) };
}

/// Prepares the next chunk of slots (under LOCK): readable and writable,
/// guard pages closed (the chunk holding slot 0 also opens and closes the
/// pool's leading guard page). False when it could not be done.
pub(super) fn prepare_chunk() -> bool {
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
