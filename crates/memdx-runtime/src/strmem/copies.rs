//! The checked routines memcpy, memmove, memset, strcpy, stpcpy, strncpy,
//! strcat, strncat and strlen.

use super::*;

/// The checks of memcpy/memmove (same loop in Valgrind, no overlap check
/// on amd64).
pub(super) fn check_move(func: Routine, entry: usize, d: usize, s: usize, n: usize) {
    if n == 0 || !hooks::enter_runtime() {
        return;
    }
    let bd = block_at(d);
    let bs = block_at(s);
    if bd.is_some_and(|b| leaves(&b, d, n)) || bs.is_some_and(|b| leaves(&b, s, n)) {
        let mut r = Replay::new();
        memmove_elems(d, s, n, &mut |site, off, sz| {
            r.access(false, site, s + off, sz, bs);
            r.access(true, site, d + off, sz, bd);
        });
        if r.any() {
            r.send(func, entry);
        }
    }
    hooks::leave_runtime();
}

/// # Safety
/// memcpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memcpy(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { memcpy_work(d, s, n) };
    repair_header();
    r
}

/// The checks and the work of [`memcpy`].
///
/// # Safety
/// As [`memcpy`].
#[inline(always)]
pub(super) unsafe fn memcpy_work(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void {
    check_move(
        F_MEMCPY,
        memcpy as *const () as usize,
        d as usize,
        s as usize,
        n,
    );
    let f = real(F_MEMCPY);
    if f == 0 {
        // SAFETY: memcpy's contract.
        unsafe { copy_fwd(d.cast(), s.cast(), n) };
        return d;
    }
    // SAFETY: glibc's memcpy with the caller's arguments.
    unsafe {
        let f: unsafe extern "C" fn(*mut c_void, *const c_void, usize) -> *mut c_void =
            core::mem::transmute(f);
        f(d, s, n)
    }
}

/// # Safety
/// memmove(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memmove(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { memmove_work(d, s, n) };
    repair_header();
    r
}

/// The checks and the work of [`memmove`].
///
/// # Safety
/// As [`memmove`].
#[inline(always)]
pub(super) unsafe fn memmove_work(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void {
    check_move(
        F_MEMMOVE,
        memmove as *const () as usize,
        d as usize,
        s as usize,
        n,
    );
    let f = real(F_MEMMOVE);
    if f == 0 {
        // SAFETY: memmove's contract.
        unsafe { copy_move(d.cast(), s.cast(), n) };
        return d;
    }
    // SAFETY: glibc's memmove with the caller's arguments.
    unsafe {
        let f: unsafe extern "C" fn(*mut c_void, *const c_void, usize) -> *mut c_void =
            core::mem::transmute(f);
        f(d, s, n)
    }
}

/// The checks of memset (and of `__memset_chk` once its length check
/// passed: Valgrind reports glibc's memset there, whose word stores land
/// where Valgrind's own memset loop's do).
pub(super) fn memset_checks(entry: usize, a: usize, n: usize) {
    if n == 0 || !hooks::enter_runtime() {
        return;
    }
    if let Some(b) = block_at(a).filter(|b| leaves(b, a, n)) {
        let mut r = Replay::new();
        // Valgrind's memset: bytes to an 8-byte boundary, four words at
        // a time, words, bytes.
        let (mut p, mut left) = (a, n);
        let step = |r: &mut Replay, site: u8, sz: usize, p: &mut usize, left: &mut usize| {
            r.access(true, site, *p, sz, Some(b));
            *p += sz;
            *left -= sz;
        };
        while p & 7 != 0 && left >= 1 {
            step(&mut r, 0, 1, &mut p, &mut left);
        }
        while left >= 32 {
            for site in 1..=4 {
                step(&mut r, site, 8, &mut p, &mut left);
            }
        }
        while left >= 8 {
            step(&mut r, 5, 8, &mut p, &mut left);
        }
        while left >= 1 {
            step(&mut r, 6, 1, &mut p, &mut left);
        }
        r.send(F_MEMSET, entry);
    }
    hooks::leave_runtime();
}

/// # Safety
/// memset(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memset(d: *mut c_void, c: c_int, n: usize) -> *mut c_void {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { memset_work(d, c, n) };
    repair_header();
    r
}

/// The checks and the work of [`memset`].
///
/// # Safety
/// As [`memset`].
#[inline(always)]
pub(super) unsafe fn memset_work(d: *mut c_void, c: c_int, n: usize) -> *mut c_void {
    memset_checks(memset as *const () as usize, d as usize, n);
    let f = real(F_MEMSET);
    if f == 0 {
        for i in 0..n {
            // SAFETY: memset's contract.
            unsafe { d.cast::<u8>().add(i).write_volatile(c as u8) };
        }
        return d;
    }
    // SAFETY: glibc's memset with the caller's arguments.
    unsafe {
        let f: unsafe extern "C" fn(*mut c_void, c_int, usize) -> *mut c_void =
            core::mem::transmute(f);
        f(d, c, n)
    }
}

/// Sites of the string loops (frame 0 offsets).
pub(super) const S_READ_SRC: u8 = 0;
pub(super) const S_WRITE: u8 = 1;
pub(super) const S_WRITE_NUL: u8 = 2;
pub(super) const S_READ_DST: u8 = 3;

/// Checks a string copy of `len` bytes plus a NUL from `s` to `d`, after
/// `scan`: strcat's search for the end of `d` (it reads that many bytes
/// and the NUL). Reports what Valgrind's loop would.
pub(super) fn check_str_copy(
    func: Routine,
    entry: usize,
    d: usize,
    s: usize,
    scan: Option<usize>,
    len: usize,
) {
    let bd = block_at(d);
    let bs = block_at(s);
    let dl = scan.unwrap_or(0);
    let bad = bd.is_some_and(|b| leaves(&b, d, dl + len + 1))
        || bs.is_some_and(|b| leaves(&b, s, len + 1));
    if !bad {
        return;
    }
    let mut r = Replay::new();
    if scan.is_some() {
        for i in 0..=dl {
            r.access(false, S_READ_DST, d + i, 1, bd);
        }
    }
    for i in 0..len {
        r.access(false, S_READ_SRC, s + i, 1, bs);
        r.access(true, S_WRITE, d + dl + i, 1, bd);
    }
    r.access(false, S_READ_SRC, s + len, 1, bs);
    r.access(true, S_WRITE_NUL, d + dl + len, 1, bd);
    r.send(func, entry);
}

/// strcpy and stpcpy.
pub(super) fn strcpy_checks(func: Routine, entry: usize, d: usize, s: usize) {
    if !hooks::enter_runtime() {
        return;
    }
    // SAFETY: s is a C string (strcpy's contract).
    let len = unsafe { c_strlen(s as *const u8) };
    check_str_copy(func, entry, d, s, None, len);
    if is_overlap(d, s, len + 1, len + 1) {
        send_overlap(func, entry, d, s, 0);
    }
    hooks::leave_runtime();
}

/// # Safety
/// strcpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strcpy(d: *mut c_char, s: *const c_char) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { strcpy_work(d, s) };
    repair_header();
    r
}

/// The checks and the work of [`strcpy`].
///
/// # Safety
/// As [`strcpy`].
#[inline(always)]
pub(super) unsafe fn strcpy_work(d: *mut c_char, s: *const c_char) -> *mut c_char {
    strcpy_checks(
        F_STRCPY,
        strcpy as *const () as usize,
        d as usize,
        s as usize,
    );
    let f = real(F_STRCPY);
    // SAFETY: glibc's strcpy, or a copy of the string with its NUL.
    unsafe {
        if f == 0 {
            let n = c_strlen(s.cast());
            copy_fwd(d.cast(), s.cast(), n + 1);
            return d;
        }
        let f: unsafe extern "C" fn(*mut c_char, *const c_char) -> *mut c_char =
            core::mem::transmute(f);
        f(d, s)
    }
}

/// # Safety
/// stpcpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn stpcpy(d: *mut c_char, s: *const c_char) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { stpcpy_work(d, s) };
    repair_header();
    r
}

/// The checks and the work of [`stpcpy`].
///
/// # Safety
/// As [`stpcpy`].
#[inline(always)]
pub(super) unsafe fn stpcpy_work(d: *mut c_char, s: *const c_char) -> *mut c_char {
    strcpy_checks(
        F_STPCPY,
        stpcpy as *const () as usize,
        d as usize,
        s as usize,
    );
    let f = real(F_STPCPY);
    // SAFETY: glibc's stpcpy, or a copy of the string with its NUL.
    unsafe {
        if f == 0 {
            let n = c_strlen(s.cast());
            copy_fwd(d.cast(), s.cast(), n + 1);
            return d.add(n);
        }
        let f: unsafe extern "C" fn(*mut c_char, *const c_char) -> *mut c_char =
            core::mem::transmute(f);
        f(d, s)
    }
}

/// The checks of strncpy and stpncpy (one loop in Valgrind: the copy, its
/// read of the terminating NUL, the padding; the overlap check after the
/// copy loop).
pub(super) fn strncpy_checks(func: Routine, entry: usize, da: usize, sa: usize, n: usize) {
    if n == 0 || !hooks::enter_runtime() {
        return;
    }
    let (bd, bs) = (block_at(da), block_at(sa));
    if bd.is_none() && bs.is_none() && !is_overlap(da, sa, n, n) {
        // Nothing to check: the source's length does not matter.
        hooks::leave_runtime();
        return;
    }
    // SAFETY: s holds a string or n bytes (strncpy's contract).
    let m = unsafe { c_strnlen(sa as *const u8, n) };
    let src_read = if m < n { m + 1 } else { m };
    if bd.is_some_and(|b| leaves(&b, da, n)) || bs.is_some_and(|b| leaves(&b, sa, src_read)) {
        let mut r = Replay::new();
        for i in 0..m {
            r.access(false, S_READ_SRC, sa + i, 1, bs);
            r.access(true, S_WRITE, da + i, 1, bd);
        }
        if m < n {
            r.access(false, S_READ_SRC, sa + m, 1, bs);
        }
        for i in m..n {
            r.access(true, S_WRITE_NUL, da + i, 1, bd);
        }
        r.send(func, entry);
    }
    let srclen = if m < n { m + 1 } else { n };
    if is_overlap(da, sa, n, srclen) {
        // Valgrind prints the pointers as they are after its copy loop.
        send_overlap(func, entry, da + m, sa + m, n);
    }
    hooks::leave_runtime();
}

/// # Safety
/// strncpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strncpy(d: *mut c_char, s: *const c_char, n: usize) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { strncpy_work(d, s, n) };
    repair_header();
    r
}

/// The checks and the work of [`strncpy`].
///
/// # Safety
/// As [`strncpy`].
#[inline(always)]
pub(super) unsafe fn strncpy_work(d: *mut c_char, s: *const c_char, n: usize) -> *mut c_char {
    strncpy_checks(
        F_STRNCPY,
        strncpy as *const () as usize,
        d as usize,
        s as usize,
        n,
    );
    let f = real(F_STRNCPY);
    // SAFETY: glibc's strncpy, or the same copy and padding.
    unsafe {
        if f == 0 {
            let m = c_strnlen(s.cast(), n);
            copy_fwd(d.cast(), s.cast(), m);
            for i in m..n {
                d.cast::<u8>().add(i).write_volatile(0);
            }
            return d;
        }
        let f: unsafe extern "C" fn(*mut c_char, *const c_char, usize) -> *mut c_char =
            core::mem::transmute(f);
        f(d, s, n)
    }
}

/// # Safety
/// strcat(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strcat(d: *mut c_char, s: *const c_char) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { strcat_work(d, s) };
    repair_header();
    r
}

/// The checks and the work of [`strcat`].
///
/// # Safety
/// As [`strcat`].
#[inline(always)]
pub(super) unsafe fn strcat_work(d: *mut c_char, s: *const c_char) -> *mut c_char {
    if hooks::enter_runtime() {
        let (da, sa) = (d as usize, s as usize);
        // SAFETY: both are C strings (strcat's contract).
        let (dl, sl) = unsafe { (c_strlen(d.cast()), c_strlen(s.cast())) };
        check_str_copy(F_STRCAT, strcat as *const () as usize, da, sa, Some(dl), sl);
        if is_overlap(da, sa, dl + sl + 1, sl + 1) {
            send_overlap(F_STRCAT, strcat as *const () as usize, da, sa, 0);
        }
        hooks::leave_runtime();
    }
    let f = real(F_STRCAT);
    // SAFETY: glibc's strcat, or the same copy.
    unsafe {
        if f == 0 {
            let dl = c_strlen(d.cast());
            let n = c_strlen(s.cast());
            copy_fwd(d.cast::<u8>().add(dl), s.cast(), n + 1);
            return d;
        }
        let f: unsafe extern "C" fn(*mut c_char, *const c_char) -> *mut c_char =
            core::mem::transmute(f);
        f(d, s)
    }
}

/// # Safety
/// strncat(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strncat(d: *mut c_char, s: *const c_char, n: usize) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { strncat_work(d, s, n) };
    repair_header();
    r
}

/// The checks and the work of [`strncat`].
///
/// # Safety
/// As [`strncat`].
#[inline(always)]
pub(super) unsafe fn strncat_work(d: *mut c_char, s: *const c_char, n: usize) -> *mut c_char {
    if hooks::enter_runtime() {
        let (da, sa) = (d as usize, s as usize);
        // SAFETY: d is a C string, s a string or n bytes (strncat's contract).
        let (dl, m) = unsafe { (c_strlen(d.cast()), c_strnlen(s.cast(), n)) };
        let (bd, bs) = (block_at(da), block_at(sa));
        let src_read = if m < n { m + 1 } else { m };
        if bd.is_some_and(|b| leaves(&b, da, dl + m + 1))
            || bs.is_some_and(|b| leaves(&b, sa, src_read))
        {
            let mut r = Replay::new();
            for i in 0..=dl {
                r.access(false, S_READ_DST, da + i, 1, bd);
            }
            for i in 0..m {
                r.access(false, S_READ_SRC, sa + i, 1, bs);
                r.access(true, S_WRITE, da + dl + i, 1, bd);
            }
            if m < n {
                r.access(false, S_READ_SRC, sa + m, 1, bs);
            }
            r.access(true, S_WRITE_NUL, da + dl + m, 1, bd);
            r.send(F_STRNCAT, strncat as *const () as usize);
        }
        if is_overlap(da, sa, dl + m + 1, m) {
            send_overlap(F_STRNCAT, strncat as *const () as usize, da, sa, n);
        }
        hooks::leave_runtime();
    }
    let f = real(F_STRNCAT);
    // SAFETY: glibc's strncat, or the same copy.
    unsafe {
        if f == 0 {
            let dl = c_strlen(d.cast());
            let m = c_strnlen(s.cast(), n);
            copy_fwd(d.cast::<u8>().add(dl), s.cast(), m);
            d.cast::<u8>().add(dl + m).write_volatile(0);
            return d;
        }
        let f: unsafe extern "C" fn(*mut c_char, *const c_char, usize) -> *mut c_char =
            core::mem::transmute(f);
        f(d, s, n)
    }
}

/// # Safety
/// strlen(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strlen(s: *const c_char) -> usize {
    if crate::guard::contains(s as usize) {
        if let Some(len) = strlen_of_freed_guarded(s as usize) {
            return len;
        }
    }
    // SAFETY: s is a C string.
    let len = unsafe { c_strlen(s.cast()) };
    if hooks::enter_runtime() {
        let sa = s as usize;
        if let Some(b) = block_at(sa).filter(|b| leaves(b, sa, len + 1)) {
            let mut r = Replay::new();
            for i in 0..=len {
                r.access(false, S_READ_SRC, sa + i, 1, Some(b));
            }
            r.send(F_STRLEN, strlen as *const () as usize);
        }
        hooks::leave_runtime();
    }
    len
}

/// strlen of a string that starts a freed guarded block (a deleted
/// `std::string`'s buffer, say), else `None`. glibc's vector loop would
/// fault on the block's closed page and be reported there ("Invalid read
/// of size 32 at __strlen_evex"), where Valgrind's strlen reads byte by
/// byte: "Invalid read of size 1" at strlen, 0 bytes inside the freed
/// block. The page of a freed guarded block keeps nothing (it reads as
/// zeros once opened), so the string is empty, as glibc would find it
/// after the fault: 0, without touching the page. (Valgrind, which keeps
/// the old text, reports a second context for its other bytes: not
/// known here.)
#[cold]
#[inline(never)]
fn strlen_of_freed_guarded(s: usize) -> Option<usize> {
    let (b, free_stack) = super::streams::freed_guarded(s)?;
    if hooks::enter_runtime() {
        super::streams::send_freed_reads(
            F_STRLEN,
            strlen as *const () as usize + super::streams::S_FIRST as usize,
            &[],
            s,
            1,
            b,
            free_stack,
        );
        hooks::leave_runtime();
    }
    Some(0)
}
