//! Allocation: the one allocation path every allocator entry point takes
//! (`memdx heap` or `memdx check`), its unaligned and aligned shorthands,
//! and the `std::bad_alloc` throw for a failed throwing `operator new`.

use libc::{c_int, c_void};
use memdx_events::AllocKind;

use super::fishy::fishy;
use super::release::give_to_glibc;
use super::{calloc, capture, enter_runtime, leave_runtime, note_arena};
use crate::{guard, profile, sys, table, tls, uninit};

/// Bytes glibc must give for a block of `size` at offset `off`, or None on
/// overflow.
#[inline]
fn raw_len(size: usize, off: usize) -> Option<usize> {
    if size > table::MAX_SIZE {
        return None;
    }
    size.checked_add(off)?.checked_add(table::redzone())
}

/// Allocates a block of `size` bytes aligned to `align` (zeroed when
/// `zero`): a guarded block when the pool wants it, else a glibc block with
/// header and redzone. Null (and errno) on failure.
#[inline(always)]
///
/// # Safety
/// Called from the allocator entry points only: `align` is 0 or a power
/// of two, and `entry` is the entry point's address (for the stack).
pub(super) unsafe fn allocate(
    size: usize,
    align: usize,
    zero: bool,
    kind: AllocKind,
    entry: usize,
) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe {
        if profile::checking() {
            allocate_checked(size, align, zero, kind, entry)
        } else if profile::unsampled(size) {
            // `memdx heap --sample`, no sample point in the block: glibc
            // and nothing else, a tail call from the exported hook.
            profile::raw_allocate(size, align, zero)
        } else {
            allocate_other(size, align, zero, kind, entry)
        }
    }
}

/// [`allocate`] when the block may be recorded (`memdx heap`), or before
/// the mode is known (the process's first allocation). Out of line and
/// `extern "C"` (it never unwinds), so the hooks reach it with a tail call
/// and their sampled fast path sets up no frame.
///
/// # Safety
/// As [`allocate`].
#[inline(never)]
unsafe extern "C" fn allocate_other(
    size: usize,
    align: usize,
    zero: bool,
    kind: AllocKind,
    entry: usize,
) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe {
        if profile::profiling() {
            profile::allocate(size, align, zero, entry)
        } else {
            allocate_undecided(size, align, zero, kind, entry)
        }
    }
}

/// [`allocate`] before the mode is known (kept apart so that deciding it,
/// a call, makes [`allocate_other`] save no registers).
///
/// # Safety
/// As [`allocate`].
#[cold]
#[inline(never)]
unsafe extern "C" fn allocate_undecided(
    size: usize,
    align: usize,
    zero: bool,
    kind: AllocKind,
    entry: usize,
) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe {
        if profile::on() {
            profile::allocate(size, align, zero, entry)
        } else {
            allocate_checked(size, align, zero, kind, entry)
        }
    }
}

/// [`allocate`] under `memdx check`. Out of line and `extern "C"` (it
/// never unwinds), so the hooks reach it with a tail call.
///
/// # Safety
/// Called from the allocator entry points only: `align` is 0 or a power
/// of two, and `entry` is the entry point's address (for the stack).
#[inline(never)]
unsafe extern "C" fn allocate_checked(
    size: usize,
    align: usize,
    zero: bool,
    kind: AllocKind,
    entry: usize,
) -> *mut c_void {
    let fail = |e: c_int| {
        // SAFETY: errno location is valid.
        unsafe { *libc::__errno_location() = e };
        core::ptr::null_mut()
    };
    // Blocks the runtime's own work allocates (the unwinder loading
    // libgcc_s, dlsym) are not the program's: kept out of counts and leaks.
    let td = tls::get();
    let internal = td.in_hook.get();
    let stack = if internal { 0 } else { capture(td, entry) };
    if let Some(place) = (!internal && align <= guard::MAX_ALIGN)
        .then(|| guard::wanted(size, stack, td))
        .flatten()
    {
        if let Some(q) = guard::alloc(size, align, kind as u8, stack, zero, place) {
            table::count_alloc(size);
            if !zero && uninit::on() && uninit::wanted(stack) {
                // SAFETY: the fresh guarded block.
                unsafe { uninit::fill(q, size, stack) };
            }
            if td.watch_next.get() && crate::watch::wanted(stack) {
                guard::watch(q);
            }
            return q as *mut c_void;
        }
    }
    let off = if align <= table::HEADER {
        table::HEADER
    } else {
        // glibc rounds an alignment that is no power of two up to one.
        match align.checked_next_power_of_two() {
            Some(a) => a,
            None => return fail(libc::EINVAL),
        }
    };
    let Some(len) = raw_len(size, off) else {
        // calloc reported its own arguments.
        if !internal && (size as isize) < 0 && entry != calloc as *const () as usize {
            fishy(entry, 0, size);
        }
        return fail(libc::ENOMEM);
    };
    // SAFETY: glibc's allocator; for aligned blocks the header sits at the
    // end of the first `off` bytes, so the program's pointer keeps the
    // alignment.
    let recycled = if off == table::HEADER {
        table::take_recycled(td, len)
    } else {
        None
    };
    // SAFETY: as said above; a recycled chunk is one of ours, `len` bytes.
    let raw = unsafe {
        if let Some(raw) = recycled {
            if zero {
                crate::strmem::raw_memset((raw + off) as *mut u8, 0, size);
            }
            raw as *mut c_void
        } else if off > table::HEADER {
            let p = sys::__libc_memalign(off, len);
            if zero && !p.is_null() {
                crate::strmem::raw_memset(p.cast::<u8>(), 0, len);
            }
            p
        } else if zero {
            sys::__libc_calloc(1, len)
        } else {
            sys::__libc_malloc(len)
        }
    };
    // Big freed blocks held back (Valgrind's `--freelist-vol`) never make
    // an allocation fail: given back, and the allocation tried again.
    let raw = if raw.is_null() {
        retry_after_giving_back(off, len, zero)
    } else {
        raw
    };
    if raw.is_null() {
        return fail(libc::ENOMEM);
    }
    let raw = raw as usize;
    if recycled.is_none() {
        // SAFETY: raw is a fresh glibc block.
        unsafe { note_arena(raw) };
    }
    let q = raw + off;
    let kind = kind as u8 | if internal { table::INTERNAL } else { 0 };
    // SAFETY: raw .. q + size + redzone is the fresh block.
    if !unsafe { table::register(td, raw, q, size, kind, stack) } {
        // SAFETY: glibc's own block.
        unsafe { sys::__libc_free(raw as *mut c_void) };
        return fail(libc::ENOMEM);
    }
    if !zero && !internal && uninit::on() && uninit::wanted(stack) {
        // SAFETY: q .. q + size is the fresh block.
        unsafe { uninit::fill(q, size, stack) };
    }
    q as *mut c_void
}

/// The allocation of `len` bytes (at offset `off`, zeroed when `zero`)
/// that glibc refused, tried again after the big freed blocks held back
/// are given back (null when none were held, or it fails again). Out of
/// line: the allocation path keeps its registers.
#[cold]
#[inline(never)]
fn retry_after_giving_back(off: usize, len: usize, zero: bool) -> *mut c_void {
    if !crate::held::give_back_all(&mut give_to_glibc) {
        return core::ptr::null_mut();
    }
    // SAFETY: glibc's allocator, as in `allocate_checked`.
    unsafe {
        if off > table::HEADER {
            let p = sys::__libc_memalign(off, len);
            if zero && !p.is_null() {
                crate::strmem::raw_memset(p.cast::<u8>(), 0, len);
            }
            p
        } else if zero {
            sys::__libc_calloc(1, len)
        } else {
            sys::__libc_malloc(len)
        }
    }
}

/// [`allocate`] without alignment.
///
/// # Safety
/// As [`allocate`].
#[inline(always)]
pub(super) unsafe fn alloc(size: usize, kind: AllocKind, entry: usize) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe { allocate(size, 0, false, kind, entry) }
}

#[inline(always)]
/// [`allocate`] with an alignment.
///
/// # Safety
/// As [`allocate`].
pub(super) unsafe fn aligned(
    align: usize,
    size: usize,
    kind: AllocKind,
    entry: usize,
) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe { allocate(size, align, false, kind, entry) }
}

/// Throws std::bad_alloc for a failed throwing `operator new`.
///
/// # Safety
/// Only from a throwing `operator new` called by C++ code (the exception
/// unwinds through the caller's frames).
pub(super) unsafe fn throw_bad_alloc() -> ! {
    // SAFETY: dlsym with a static name; the function, when present, is
    // libstdc++'s `std::__throw_bad_alloc()`, which never returns.
    unsafe {
        // The lookup is the runtime's own work (dlsym may allocate).
        let entered = enter_runtime();
        let f = libc::dlsym(libc::RTLD_DEFAULT, c"_ZSt17__throw_bad_allocv".as_ptr());
        if entered {
            leave_runtime();
        }
        if !f.is_null() {
            let throw: extern "C-unwind" fn() -> ! = core::mem::transmute(f);
            throw();
        }
        libc::abort()
    }
}
