//! realloc(3) and reallocarray(3).

use libc::{c_void, size_t};
use memdx_events::{AllocKind, Dealloc};

use super::alloc::alloc;
use super::c::malloc;
use super::release::release;
use crate::{guard, profile, table};

/// `realloc` (and `reallocarray`).
///
/// # Safety
/// `p` is what the program passed to `realloc` (as for [`release`]);
/// `entry` is the entry point's address.
unsafe fn realloc_impl(p: *mut c_void, size: usize, entry: usize) -> *mut c_void {
    if profile::on() {
        // SAFETY: forwarded.
        return unsafe { profile::realloc(p, size, entry) };
    }
    if p.is_null() {
        // Valgrind's realloc(NULL, n) is its malloc(n): a fishy size is
        // "of function malloc", frame 0 malloc (only the failing path
        // takes it: the stacks of blocks allocated so are unchanged).
        let entry = if (size as isize) < 0 && entry == realloc as *const () as usize {
            malloc as *const () as usize
        } else {
            entry
        };
        // SAFETY: forwarded.
        return unsafe { alloc(size, AllocKind::Malloc, entry) };
    }
    if size == 0 {
        // SAFETY: forwarded; glibc's realloc(p, 0) frees and returns NULL.
        unsafe { release(p, Dealloc::Realloc, entry) };
        return core::ptr::null_mut();
    }
    let addr = p as usize;
    let Some(old) = table::lookup(addr) else {
        // Freed or never allocated: report, leave memory alone, fail.
        table::count_failed_alloc(size);
        // SAFETY: forwarded; release() finds no live block and reports.
        unsafe { release(p, Dealloc::Realloc, entry) };
        return core::ptr::null_mut();
    };
    // Like Valgrind, always move: stale pointers into the old block then
    // point into a freed block.
    // SAFETY: a fresh block from our own malloc path.
    let q = unsafe { alloc(size, AllocKind::Malloc, entry) };
    if q.is_null() {
        return q;
    }
    // A watched block is opened for the copy (the runtime must not fault
    // on it); the new one is watched again after.
    guard::unwatch_range(addr, 1);
    let rewatch = guard::unwatch_range(q as usize, 1);
    // SAFETY: both blocks are at least min(old.size, size) long.
    unsafe { crate::strmem::raw_memcpy(q.cast::<u8>(), p as *const u8, old.size.min(size)) };
    if rewatch {
        guard::watch(q as usize);
    }
    // SAFETY: the old block is live; release() quarantines it.
    unsafe { release(p, Dealloc::Realloc, entry) };
    q
}

/// realloc(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: size_t) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { realloc_impl(p, size, entry!(realloc)) }
}

/// reallocarray(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: size_t, size: size_t) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        // SAFETY: errno location is valid.
        unsafe { *libc::__errno_location() = libc::ENOMEM };
        return core::ptr::null_mut();
    };
    // SAFETY: forwarded contract.
    unsafe { realloc_impl(p, total, entry!(reallocarray)) }
}
