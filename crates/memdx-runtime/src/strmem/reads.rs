//! The checked routines that only read: memchr, strnlen, strchr and
//! strrchr (Valgrind's `index` and `rindex`), strcmp, strncmp.

use super::*;

/// Reports Valgrind's byte loop reading `count` bytes from `s` (one site),
/// when they go past the block `s` starts.
pub(super) fn check_read(func: Routine, entry: usize, s: usize, count: usize) {
    if count == 0 || !hooks::enter_runtime() {
        return;
    }
    if let Some(b) = block_at(s).filter(|b| leaves(b, s, count)) {
        let mut r = Replay::new();
        for i in 0..count {
            r.access(false, S_READ_SRC, s + i, 1, Some(b));
        }
        r.send(func, entry);
    }
    hooks::leave_runtime();
}

/// # Safety
/// memchr(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memchr(s: *const c_void, c: c_int, n: usize) -> *mut c_void {
    let r = if real(F_MEMCHR) == 0 {
        let mut hit = core::ptr::null_mut();
        for i in 0..n {
            // SAFETY: s holds n bytes.
            if unsafe { s.cast::<u8>().add(i).read_volatile() } == c as u8 {
                hit = s.cast::<u8>().wrapping_add(i).cast_mut().cast();
                break;
            }
        }
        hit
    } else {
        call_real!(
            F_MEMCHR,
            unsafe extern "C" fn(*const c_void, c_int, usize) -> *mut c_void,
            s,
            c,
            n
        )
    };
    // Valgrind's loop reads up to the byte found, or all n.
    let count = if r.is_null() {
        n
    } else {
        r as usize - s as usize + 1
    };
    check_read(F_MEMCHR, memchr as *const () as usize, s as usize, count);
    r
}

/// strnlen: Valgrind's loop (one site) reads up to the NUL, or `n` bytes.
///
/// # Safety
/// strnlen(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strnlen(s: *const c_char, n: usize) -> usize {
    // SAFETY: s is a C string or holds n bytes.
    let len = unsafe { c_strnlen(s.cast(), n) };
    let count = if len < n { len + 1 } else { n };
    check_read(F_STRNLEN, strnlen as *const () as usize, s as usize, count);
    len
}

/// strchr: Valgrind's `index` loop reads up to the byte found or the NUL.
///
/// # Safety
/// strchr(3)'s contract.
unsafe fn strchr_checked(s: *const c_char, c: c_int, entry: usize) -> *mut c_char {
    let r = if real(F_STRCHR) == 0 {
        let mut i = 0;
        loop {
            // SAFETY: s is a C string.
            let x = unsafe { s.cast::<u8>().add(i).read_volatile() };
            if x == c as u8 {
                break s.wrapping_add(i).cast_mut();
            }
            if x == 0 {
                break core::ptr::null_mut();
            }
            i += 1;
        }
    } else {
        call_real!(
            F_STRCHR,
            unsafe extern "C" fn(*const c_char, c_int) -> *mut c_char,
            s,
            c
        )
    };
    let count = if r.is_null() {
        // SAFETY: s is a C string.
        unsafe { c_strlen(s.cast()) + 1 }
    } else {
        r as usize - s as usize + 1
    };
    check_read(F_STRCHR, entry, s as usize, count);
    r
}

/// strrchr: Valgrind's `rindex` loop reads the whole string and its NUL.
///
/// # Safety
/// strrchr(3)'s contract.
unsafe fn strrchr_checked(s: *const c_char, c: c_int, entry: usize) -> *mut c_char {
    let r = if real(F_STRRCHR) == 0 {
        let mut last = core::ptr::null_mut();
        let mut i = 0;
        loop {
            // SAFETY: s is a C string.
            let x = unsafe { s.cast::<u8>().add(i).read_volatile() };
            if x == c as u8 {
                last = s.wrapping_add(i).cast_mut();
            }
            if x == 0 {
                break last;
            }
            i += 1;
        }
    } else {
        call_real!(
            F_STRRCHR,
            unsafe extern "C" fn(*const c_char, c_int) -> *mut c_char,
            s,
            c
        )
    };
    // SAFETY: s is a C string.
    let count = unsafe { c_strlen(s.cast()) + 1 };
    check_read(F_STRRCHR, entry, s as usize, count);
    r
}

/// # Safety
/// strchr(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strchr(s: *const c_char, c: c_int) -> *mut c_char {
    // SAFETY: forwarded; reported under Valgrind's name, `index`.
    unsafe { strchr_checked(s, c, index as *const () as usize) }
}

/// # Safety
/// index(3)'s contract (strchr's).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn index(s: *const c_char, c: c_int) -> *mut c_char {
    // SAFETY: forwarded.
    unsafe { strchr_checked(s, c, index as *const () as usize) }
}

/// # Safety
/// strrchr(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strrchr(s: *const c_char, c: c_int) -> *mut c_char {
    // SAFETY: forwarded; reported under Valgrind's name, `rindex`.
    unsafe { strrchr_checked(s, c, rindex as *const () as usize) }
}

/// # Safety
/// rindex(3)'s contract (strrchr's).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn rindex(s: *const c_char, c: c_int) -> *mut c_char {
    // SAFETY: forwarded.
    unsafe { strrchr_checked(s, c, rindex as *const () as usize) }
}

/// strcmp and strncmp (at most `n` bytes): Valgrind's loop reads a byte of
/// each string (two sites) until they differ or both end. Walked again
/// here only when one of the pointers starts a heap block.
pub(super) fn check_cmp(func: Routine, entry: usize, a: usize, b: usize, n: usize) {
    if n == 0 || !hooks::enter_runtime() {
        return;
    }
    let (ba, bb) = (block_at(a), block_at(b));
    // The loop reads at most one byte past the shorter string: a string
    // that ends inside its block keeps its reads inside.
    // SAFETY: the routine reads these strings up to their NUL (or n bytes).
    let ends_inside = |p: usize, k: Option<Block>| {
        k.is_none_or(|k| {
            let room = (k.ptr + k.size).saturating_sub(p);
            p >= k.ptr
                && (room >= n || {
                    // SAFETY: `room` bytes of block `k` from `p`.
                    let len = unsafe { c_strnlen(p as *const u8, room) };
                    len < room
                })
        })
    };
    if !(ends_inside(a, ba) && ends_inside(b, bb)) {
        let mut i = 0;
        let count = loop {
            if i >= n {
                break n;
            }
            // SAFETY: both are C strings (or hold n bytes): the routine
            // reads these bytes too.
            let (x, y) = unsafe {
                (
                    (a as *const u8).add(i).read_volatile(),
                    (b as *const u8).add(i).read_volatile(),
                )
            };
            if x != y || x == 0 {
                break i + 1;
            }
            i += 1;
        };
        if ba.is_some_and(|k| leaves(&k, a, count)) || bb.is_some_and(|k| leaves(&k, b, count)) {
            let mut r = Replay::new();
            for i in 0..count {
                r.access(false, 0, a + i, 1, ba);
                r.access(false, 1, b + i, 1, bb);
            }
            r.send(func, entry);
        }
    }
    hooks::leave_runtime();
}

/// # Safety
/// strcmp(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strcmp(a: *const c_char, b: *const c_char) -> c_int {
    check_cmp(
        F_STRCMP,
        strcmp as *const () as usize,
        a as usize,
        b as usize,
        usize::MAX,
    );
    if real(F_STRCMP) == 0 {
        let mut i = 0;
        loop {
            // SAFETY: both are C strings.
            let (x, y) = unsafe {
                (
                    a.cast::<u8>().add(i).read_volatile(),
                    b.cast::<u8>().add(i).read_volatile(),
                )
            };
            if x != y || x == 0 {
                return c_int::from(x) - c_int::from(y);
            }
            i += 1;
        }
    }
    call_real!(
        F_STRCMP,
        unsafe extern "C" fn(*const c_char, *const c_char) -> c_int,
        a,
        b
    )
}

/// # Safety
/// strncmp(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strncmp(a: *const c_char, b: *const c_char, n: usize) -> c_int {
    check_cmp(
        F_STRNCMP,
        strncmp as *const () as usize,
        a as usize,
        b as usize,
        n,
    );
    if real(F_STRNCMP) == 0 {
        for i in 0..n {
            // SAFETY: both are C strings or hold n bytes.
            let (x, y) = unsafe {
                (
                    a.cast::<u8>().add(i).read_volatile(),
                    b.cast::<u8>().add(i).read_volatile(),
                )
            };
            if x != y || x == 0 {
                return c_int::from(x) - c_int::from(y);
            }
        }
        return 0;
    }
    call_real!(
        F_STRNCMP,
        unsafe extern "C" fn(*const c_char, *const c_char, usize) -> c_int,
        a,
        b,
        n
    )
}
