//! The checked wide-character routines that Valgrind 3.19 replaces:
//! wcslen, wcsnlen, wcscpy, wcscmp and wcschr. Its loops read and write one
//! element (its `Int`, 4 bytes) at a time, so each element outside a block
//! is an "Invalid read/write of size 4", as replayed here. (Valgrind 3.19
//! does not replace wcsncpy or wmemcpy: under it they are checked as
//! glibc's own instructions, which a preloaded library cannot see.)

use super::*;
use libc::wchar_t;

/// Bytes per element.
const W: usize = core::mem::size_of::<wchar_t>();

/// Elements of wide string `s` before its NUL, at most `max`.
///
/// # Safety
/// `s` is readable up to its NUL or for `max` elements, whichever comes
/// first.
unsafe fn wide_len(s: *const wchar_t, max: usize) -> usize {
    let mut i = 0;
    // SAFETY: the caller's contract.
    while i < max && unsafe { s.add(i).read_volatile() } != 0 {
        i += 1;
    }
    i
}

/// Reports Valgrind's loop reading `count` elements from `s` (one site),
/// when they go past the block `s` starts.
fn check_wide_read(func: Routine, entry: usize, s: usize, count: usize) {
    if count == 0 || !hooks::enter_runtime() {
        return;
    }
    if let Some(b) = block_at(s).filter(|b| leaves(b, s, count.saturating_mul(W))) {
        let mut r = Replay::new();
        for i in 0..count {
            r.access(false, S_READ_SRC, s + i * W, W, Some(b));
        }
        r.send(func, entry);
    }
    hooks::leave_runtime();
}

/// # Safety
/// wcslen(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn wcslen(s: *const wchar_t) -> usize {
    let len = if real(F_WCSLEN) == 0 {
        // SAFETY: s is a wide string.
        unsafe { wide_len(s, usize::MAX) }
    } else {
        call_real!(F_WCSLEN, unsafe extern "C" fn(*const wchar_t) -> usize, s)
    };
    // Valgrind's loop reads the elements and the NUL.
    check_wide_read(F_WCSLEN, wcslen as *const () as usize, s as usize, len + 1);
    len
}

/// # Safety
/// wcsnlen(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn wcsnlen(s: *const wchar_t, max: usize) -> usize {
    let len = if real(F_WCSNLEN) == 0 {
        // SAFETY: s is a wide string or holds `max` elements.
        unsafe { wide_len(s, max) }
    } else {
        call_real!(
            F_WCSNLEN,
            unsafe extern "C" fn(*const wchar_t, usize) -> usize,
            s,
            max
        )
    };
    // Valgrind's loop reads up to the NUL, or `max` elements.
    let count = if len < max { len + 1 } else { max };
    check_wide_read(F_WCSNLEN, wcsnlen as *const () as usize, s as usize, count);
    len
}

/// wcscpy's checks: Valgrind's loop reads an element and writes it
/// (`S_READ_SRC`, `S_WRITE`) up to the NUL, which it writes apart
/// (`S_WRITE_NUL`), then checks the overlap.
fn wcscpy_checks(entry: usize, d: usize, s: usize) {
    if !hooks::enter_runtime() {
        return;
    }
    // SAFETY: s is a wide string (wcscpy's contract).
    let len = unsafe { wide_len(s as *const wchar_t, usize::MAX) };
    let bytes = (len + 1).saturating_mul(W);
    let (bd, bs) = (block_at(d), block_at(s));
    if bd.is_some_and(|b| leaves(&b, d, bytes)) || bs.is_some_and(|b| leaves(&b, s, bytes)) {
        let mut r = Replay::new();
        for i in 0..len {
            r.access(false, S_READ_SRC, s + i * W, W, bs);
            r.access(true, S_WRITE, d + i * W, W, bd);
        }
        r.access(false, S_READ_SRC, s + len * W, W, bs);
        r.access(true, S_WRITE_NUL, d + len * W, W, bd);
        r.send(F_WCSCPY, entry);
    }
    // Valgrind's ranges: the bytes from each start to its last element's
    // first byte, plus one.
    if is_overlap(d, s, len * W + 1, len * W + 1) {
        send_overlap(F_WCSCPY, entry, d, s, 0);
    }
    hooks::leave_runtime();
}

/// # Safety
/// wcscpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn wcscpy(d: *mut wchar_t, s: *const wchar_t) -> *mut wchar_t {
    wcscpy_checks(wcscpy as *const () as usize, d as usize, s as usize);
    let r = if real(F_WCSCPY) == 0 {
        // SAFETY: s is a wide string and d holds it (wcscpy's contract).
        unsafe {
            let n = wide_len(s, usize::MAX);
            copy_fwd(d.cast(), s.cast(), (n + 1) * W);
        }
        d
    } else {
        call_real!(
            F_WCSCPY,
            unsafe extern "C" fn(*mut wchar_t, *const wchar_t) -> *mut wchar_t,
            d,
            s
        )
    };
    repair_header();
    r
}

/// # Safety
/// wcscmp(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn wcscmp(a: *const wchar_t, b: *const wchar_t) -> c_int {
    let entry = wcscmp as *const () as usize;
    if hooks::enter_runtime() {
        let (ba, bb) = (block_at(a as usize), block_at(b as usize));
        if ba.is_some() || bb.is_some() {
            // Valgrind's loop reads an element of each (two sites) until
            // they differ or both end.
            let mut i = 0;
            let count = loop {
                // SAFETY: both are wide strings: the routine reads these
                // elements too.
                let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
                if x != y || x == 0 {
                    break i + 1;
                }
                i += 1;
            };
            let bytes = count.saturating_mul(W);
            let (pa, pb) = (a as usize, b as usize);
            if ba.is_some_and(|k| leaves(&k, pa, bytes))
                || bb.is_some_and(|k| leaves(&k, pb, bytes))
            {
                let mut r = Replay::new();
                for i in 0..count {
                    r.access(false, 0, pa + i * W, W, ba);
                    r.access(false, 1, pb + i * W, W, bb);
                }
                r.send(F_WCSCMP, entry);
            }
        }
        hooks::leave_runtime();
    }
    if real(F_WCSCMP) == 0 {
        let mut i = 0;
        loop {
            // SAFETY: both are wide strings.
            let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
            if x != y {
                return if x < y { -1 } else { 1 };
            }
            if x == 0 {
                return 0;
            }
            i += 1;
        }
    }
    call_real!(
        F_WCSCMP,
        unsafe extern "C" fn(*const wchar_t, *const wchar_t) -> c_int,
        a,
        b
    )
}

/// # Safety
/// wcschr(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn wcschr(s: *const wchar_t, c: wchar_t) -> *mut wchar_t {
    let r = if real(F_WCSCHR) == 0 {
        let mut i = 0;
        loop {
            // SAFETY: s is a wide string.
            let x = unsafe { s.add(i).read_volatile() };
            if x == c {
                break s.wrapping_add(i).cast_mut();
            }
            if x == 0 {
                break core::ptr::null_mut();
            }
            i += 1;
        }
    } else {
        call_real!(
            F_WCSCHR,
            unsafe extern "C" fn(*const wchar_t, wchar_t) -> *mut wchar_t,
            s,
            c
        )
    };
    // Valgrind's loop reads up to the element found, or to the NUL.
    let count = if r.is_null() {
        // SAFETY: s is a wide string.
        unsafe { wide_len(s, usize::MAX) + 1 }
    } else {
        (r as usize - s as usize) / W + 1
    };
    check_wide_read(F_WCSCHR, wcschr as *const () as usize, s as usize, count);
    r
}
