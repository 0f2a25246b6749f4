//! The C allocator entry points: malloc(3), free(3), calloc(3) and
//! malloc_usable_size(3).

use libc::{c_void, size_t};
use memdx_events::{AllocKind, Dealloc};

use super::alloc::{alloc, allocate};
use super::fishy::fishy;
use super::release::release;
use crate::{profile, table, tls};

/// malloc(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn malloc(size: size_t) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { alloc(size, AllocKind::Malloc, entry!(malloc)) }
}

/// free(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: forwarded contract.
    unsafe { release(p, Dealloc::Free, entry!(free)) }
}

/// calloc(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn calloc(n: size_t, size: size_t) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        // SAFETY: errno location is valid.
        unsafe { *libc::__errno_location() = libc::ENOMEM };
        return core::ptr::null_mut();
    };
    if (total as isize) < 0 && !tls::get().in_hook.get() {
        // Valgrind checks each argument when their product does not
        // overflow.
        let (arg, value) = if (n as isize) < 0 { (1, n) } else { (0, size) };
        if (value as isize) < 0 {
            fishy(entry!(calloc), arg, value);
        }
    }
    // SAFETY: forwarded.
    unsafe { allocate(total, 0, true, AllocKind::Malloc, entry!(calloc)) }
}

/// malloc_usable_size(3): the size asked for, as under Valgrind (using the
/// slack glibc leaves would hide overruns).
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> size_t {
    if profile::on() {
        return profile::usable_size(p);
    }
    if p.is_null() {
        return 0;
    }
    table::lookup(p as usize).map_or(0, |b| b.size)
}
