//! Routine lookup: glibc's implementations of the replaced routines,
//! found with `dlsym(RTLD_NEXT)` at start, and the fallbacks used before
//! that (or for the runtime's own copies).

use super::*;

pub(super) const F_MEMCPY: Routine = Routine::Memcpy;
pub(super) const F_MEMMOVE: Routine = Routine::Memmove;
pub(super) const F_MEMSET: Routine = Routine::Memset;
pub(super) const F_STRCPY: Routine = Routine::Strcpy;
pub(super) const F_STRNCPY: Routine = Routine::Strncpy;
pub(super) const F_STRCAT: Routine = Routine::Strcat;
pub(super) const F_STRNCAT: Routine = Routine::Strncat;
pub(super) const F_STRLEN: Routine = Routine::Strlen;
pub(super) const F_STRNLEN: Routine = Routine::Strnlen;
pub(super) const F_STPCPY: Routine = Routine::Stpcpy;
pub(super) const F_MEMPCPY: Routine = Routine::Mempcpy;
pub(super) const F_STPNCPY: Routine = Routine::Stpncpy;
pub(super) const F_MEMCPY_CHK: Routine = Routine::MemcpyChk;
pub(super) const F_MEMMOVE_CHK: Routine = Routine::MemmoveChk;
pub(super) const F_STRCPY_CHK: Routine = Routine::StrcpyChk;
pub(super) const F_STPCPY_CHK: Routine = Routine::StpcpyChk;
pub(super) const F_MEMCHR: Routine = Routine::Memchr;
pub(super) const F_STRCMP: Routine = Routine::Strcmp;
pub(super) const F_STRNCMP: Routine = Routine::Strncmp;
// glibc's routines without a name of their own in the reports (the checks
// report under the plain routine's name, as Valgrind does: Routine::name).
pub(super) const F_MEMSET_CHK: Routine = Routine::MemsetChk;
pub(super) const F_STRNCPY_CHK: Routine = Routine::StrncpyChk;
pub(super) const F_STRCAT_CHK: Routine = Routine::StrcatChk;
pub(super) const F_STRNCAT_CHK: Routine = Routine::StrncatChk;
pub(super) const F_MEMPCPY_CHK: Routine = Routine::MempcpyChk;
pub(super) const F_WCSLEN: Routine = Routine::Wcslen;
pub(super) const F_WCSNLEN: Routine = Routine::Wcsnlen;
pub(super) const F_WCSCPY: Routine = Routine::Wcscpy;
pub(super) const F_WCSCMP: Routine = Routine::Wcscmp;
pub(super) const F_WCSCHR: Routine = Routine::Wcschr;
pub(super) const F_STRCHR: Routine = Routine::Strchr;
pub(super) const F_STRRCHR: Routine = Routine::Strrchr;

/// glibc's implementations, by [`Routine`] wire value.
pub(super) static REAL: [AtomicUsize; 56] = [const { AtomicUsize::new(0) }; 56];

/// Resolves glibc's routines (every [`Routine`] with a C symbol); call
/// from the constructor.
pub fn init() {
    for r in Routine::ALL {
        let (Some(name), Some(slot)) = (r.c_symbol(), REAL.get(r as usize)) else {
            continue;
        };
        // SAFETY: dlsym with a static NUL-terminated name.
        let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
        slot.store(p as usize, Ordering::Release);
    }
}

pub(super) fn real(i: Routine) -> usize {
    REAL[i as usize].load(Ordering::Acquire)
}

// Fallbacks for calls made before the constructor resolved glibc's
// routines (other libraries' constructors, the dynamic loader). Volatile
// accesses keep the compiler from turning the loops back into calls.

/// Copies `n` bytes forward, one at a time.
///
/// # Safety
/// As `memcpy`: `s` is readable and `d` writable for `n` bytes.
pub(super) unsafe fn copy_fwd(d: *mut u8, s: *const u8, n: usize) {
    for i in 0..n {
        // SAFETY: the caller's contract (as for memcpy).
        unsafe { d.add(i).write_volatile(s.add(i).read_volatile()) };
    }
}

/// Copies `n` bytes in the direction that survives an overlap.
///
/// # Safety
/// As `memmove`: `s` is readable and `d` writable for `n` bytes.
pub(super) unsafe fn copy_move(d: *mut u8, s: *const u8, n: usize) {
    if (d as usize) <= (s as usize) {
        // SAFETY: forwarded.
        unsafe { copy_fwd(d, s, n) };
    } else {
        for i in (0..n).rev() {
            // SAFETY: the caller's contract (as for memmove).
            unsafe { d.add(i).write_volatile(s.add(i).read_volatile()) };
        }
    }
}

/// glibc's memcpy without the checks: the runtime's own copies (realloc).
/// A call to `ptr::copy_nonoverlapping` would bind to the exported, checked
/// `memcpy` above.
///
/// # Safety
/// memcpy(3)'s contract.
pub unsafe fn raw_memcpy(d: *mut u8, s: *const u8, n: usize) {
    let f = real(F_MEMCPY);
    if f == 0 {
        // SAFETY: forwarded.
        unsafe { copy_fwd(d, s, n) };
        return;
    }
    // SAFETY: glibc's memcpy with the caller's arguments.
    unsafe {
        let f: unsafe extern "C" fn(*mut u8, *const u8, usize) -> *mut u8 = core::mem::transmute(f);
        f(d, s, n);
    }
}

/// glibc's memset without the checks: the runtime's own fills (canaries,
/// poison, zeroing).
///
/// # Safety
/// memset(3)'s contract.
pub unsafe fn raw_memset(d: *mut u8, c: u8, n: usize) {
    let f = real(F_MEMSET);
    if f == 0 {
        for i in 0..n {
            // SAFETY: memset's contract; volatile keeps this a loop.
            unsafe { d.add(i).write_volatile(c) };
        }
        return;
    }
    // SAFETY: glibc's memset with the caller's arguments.
    unsafe {
        let f: unsafe extern "C" fn(*mut u8, c_int, usize) -> *mut u8 = core::mem::transmute(f);
        f(d, c_int::from(c), n);
    }
}

/// # Safety
/// `s` points to a NUL-terminated string.
pub(super) unsafe fn c_strlen(s: *const u8) -> usize {
    let f = real(F_STRLEN);
    if f != 0 {
        // SAFETY: glibc's strlen.
        let f: unsafe extern "C" fn(*const u8) -> usize = unsafe { core::mem::transmute(f) };
        // SAFETY: the caller's contract (a C string).
        return unsafe { f(s) };
    }
    let mut i = 0;
    // SAFETY: s is a C string (the caller's contract).
    while unsafe { s.add(i).read_volatile() } != 0 {
        i += 1;
    }
    i
}

/// # Safety
/// `s` is readable up to its NUL or for `n` bytes, whichever comes first.
pub(super) unsafe fn c_strnlen(s: *const u8, n: usize) -> usize {
    let f = real(F_STRNLEN);
    if f != 0 {
        // SAFETY: glibc's strnlen.
        let f: unsafe extern "C" fn(*const u8, usize) -> usize = unsafe { core::mem::transmute(f) };
        // SAFETY: the caller's contract.
        return unsafe { f(s, n) };
    }
    let mut i = 0;
    // SAFETY: s holds a C string or at least n bytes (the caller's contract).
    while i < n && unsafe { s.add(i).read_volatile() } != 0 {
        i += 1;
    }
    i
}
