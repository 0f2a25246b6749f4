//! The aligned C allocator entry points: memalign(3), aligned_alloc(3),
//! posix_memalign(3), valloc(3) and pvalloc(3).

use libc::{c_int, c_void, size_t};
use memdx_events::AllocKind;

use super::alloc::aligned;

/// memalign(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memalign(align: size_t, size: size_t) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { aligned(align, size, AllocKind::Malloc, entry!(memalign)) }
}

/// aligned_alloc(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn aligned_alloc(align: size_t, size: size_t) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { aligned(align, size, AllocKind::Malloc, entry!(aligned_alloc)) }
}

/// posix_memalign(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn posix_memalign(
    out: *mut *mut c_void,
    align: size_t,
    size: size_t,
) -> c_int {
    if align == 0 || !align.is_power_of_two() || align % core::mem::size_of::<usize>() != 0 {
        return libc::EINVAL;
    }
    // SAFETY: forwarded contract.
    let p = unsafe { aligned(align, size, AllocKind::Malloc, entry!(posix_memalign)) };
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller passes a valid out pointer.
    unsafe { *out = p };
    0
}

/// valloc(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn valloc(size: size_t) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { aligned(4096, size, AllocKind::Malloc, entry!(valloc)) }
}

/// pvalloc(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn pvalloc(size: size_t) -> *mut c_void {
    // A size within a page of SIZE_MAX cannot be rounded up: it fails like
    // glibc's pvalloc (round_page would wrap to 0 and allocate a block).
    let Some(rounded) = size.max(1).checked_add(4095).map(|s| s & !4095) else {
        // SAFETY: errno location is valid.
        unsafe { *libc::__errno_location() = libc::ENOMEM };
        return core::ptr::null_mut();
    };
    // SAFETY: forwarded contract.
    unsafe { aligned(4096, rounded, AllocKind::Malloc, entry!(pvalloc)) }
}
