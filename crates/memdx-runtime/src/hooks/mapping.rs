//! The program's own mappings: mmap(2), mmap64, munmap(2), mremap(2).
//!
//! Each one is the system call itself (as glibc's wrapper makes it); in
//! profiling mode (`memdx heap`) a mapping the call made or removed is
//! recorded too, with the call's stack (`profile::mapped`/`unmapped`).
//! glibc's allocator and the dynamic loader map through glibc's internal
//! entry points, which do not reach these (a big block glibc maps is a
//! heap block already), and the runtime's own mappings use the system
//! calls directly (`sys::raw_mmap`). In checking mode nothing is recorded.

use libc::{c_int, c_void, off_t, size_t};

use crate::{profile, sys};

/// mmap(2)
///
/// # Safety
/// As mmap(2).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn mmap(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> *mut c_void {
    // SAFETY: forwarded.
    let p = unsafe { sys::raw_mmap(addr, len, prot, flags, fd, off) };
    if p != libc::MAP_FAILED && profile::on() {
        profile::mapped(p, len, entry!(mmap));
    }
    p
}

/// mmap64: the same as mmap on 64-bit.
///
/// # Safety
/// As mmap(2).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn mmap64(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> *mut c_void {
    // SAFETY: forwarded.
    let p = unsafe { sys::raw_mmap(addr, len, prot, flags, fd, off) };
    if p != libc::MAP_FAILED && profile::on() {
        profile::mapped(p, len, entry!(mmap64));
    }
    p
}

/// munmap(2). Recorded before the call (another thread may map the range
/// again as soon as it returns), unless the kernel would refuse it (an
/// address not page-aligned, or no length).
///
/// # Safety
/// As munmap(2).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn munmap(addr: *mut c_void, len: size_t) -> c_int {
    if addr as usize % 4096 == 0 && len != 0 && profile::on() {
        profile::unmapped(addr, len);
    }
    // SAFETY: forwarded.
    unsafe { sys::raw_munmap(addr, len) }
}

/// mremap(2): the old range is unmapped (unless `MREMAP_DONTUNMAP`) and
/// the new one mapped at this call's stack, as `realloc` is a release and
/// an allocation. C declares it variadic (`new_address` only with
/// `MREMAP_FIXED`); on x86-64 a variadic callee finds its fifth integer
/// argument where a fixed one would be, and it is passed on as it came.
///
/// # Safety
/// As mremap(2).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn mremap(
    old: *mut c_void,
    old_len: size_t,
    new_len: size_t,
    flags: c_int,
    new_addr: *mut c_void,
) -> *mut c_void {
    // SAFETY: forwarded.
    let p = unsafe { sys::raw_mremap(old, old_len, new_len, flags, new_addr) };
    if p != libc::MAP_FAILED && profile::on() {
        if flags & libc::MREMAP_DONTUNMAP == 0 {
            profile::unmapped(old, old_len);
        }
        profile::mapped(p, new_len, entry!(mremap));
    }
    p
}
