//! The checked `_FORTIFY_SOURCE` entry points (`__memcpy_chk` ...) and
//! mempcpy and stpncpy, checked with Valgrind's byte loops or, for the
//! `_chk` routines Valgrind does not replace, glibc's own loops.

use super::*;

/// Valgrind's byte loops of mempcpy, `__memcpy_chk` and `__memmove_chk`:
/// backwards when the destination is above the source, forwards when it is
/// below, nothing when they are equal. `overlap`: the routine first
/// reports overlapping arguments (mempcpy, `__memcpy_chk`).
pub(super) fn check_byte_copy(
    func: Routine,
    entry: usize,
    d: usize,
    s: usize,
    n: usize,
    overlap: bool,
) {
    if n == 0 || !hooks::enter_runtime() {
        return;
    }
    if overlap && is_overlap(d, s, n, n) {
        send_overlap(func, entry, d, s, n);
    }
    let (bd, bs) = (block_at(d), block_at(s));
    if bd.is_some_and(|b| leaves(&b, d, n)) || bs.is_some_and(|b| leaves(&b, s, n)) {
        let mut r = Replay::new();
        if d > s {
            for i in (0..n).rev() {
                r.access(false, 1, s + i, 1, bs);
                r.access(true, 1, d + i, 1, bd);
            }
        } else if d < s {
            for i in 0..n {
                r.access(false, 0, s + i, 1, bs);
                r.access(true, 0, d + i, 1, bd);
            }
        }
        r.send(func, entry);
    }
    hooks::leave_runtime();
}

pub(super) type CopyChk =
    unsafe extern "C" fn(*mut c_void, *const c_void, usize, usize) -> *mut c_void;
pub(super) type StrCopyChk = unsafe extern "C" fn(*mut c_char, *const c_char, usize) -> *mut c_char;

/// Which of Valgrind's replacements serves both `__memcpy_chk` and
/// `__memmove_chk`: 0 until the first call of either, then its [`Routine`]
/// wire value.
/// In glibc 2.36 the two are one function, and Valgrind redirects that
/// function to the replacement of whichever name the program resolved
/// first (lazily: its first call), for the rest of the run.
pub(super) static CHK_COPY: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// The checks of `__memcpy_chk` and `__memmove_chk` (`func`: the one
/// called). glibc aborts when `dstlen < n` (Valgrind's replacement would
/// exit with its own message, before copying: nothing is reported then,
/// glibc's abort is the program's native end). Otherwise Valgrind's byte
/// loop of the replacement in use, `__memcpy_chk`'s with its overlap check.
pub(super) fn chk_copy_checks(func: Routine, d: usize, s: usize, n: usize, dstlen: usize) {
    let mut used = CHK_COPY.load(Ordering::Relaxed);
    if used == 0 {
        used = match CHK_COPY.compare_exchange(0, func as u8, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => func as u8,
            Err(v) => v,
        };
    }
    if dstlen < n {
        return;
    }
    if used == F_MEMCPY_CHK as u8 {
        let entry = __memcpy_chk as *const () as usize;
        check_byte_copy(F_MEMCPY_CHK, entry, d, s, n, true);
    } else {
        let entry = __memmove_chk as *const () as usize;
        check_byte_copy(F_MEMMOVE_CHK, entry, d, s, n, false);
    }
}

/// `_FORTIFY_SOURCE`'s memcpy.
///
/// # Safety
/// memcpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __memcpy_chk(
    d: *mut c_void,
    s: *const c_void,
    n: usize,
    dstlen: usize,
) -> *mut c_void {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { memcpy_chk_work(d, s, n, dstlen) };
    repair_header();
    r
}

/// The checks and the work of [`__memcpy_chk`].
///
/// # Safety
/// As [`__memcpy_chk`].
#[inline(always)]
pub(super) unsafe fn memcpy_chk_work(
    d: *mut c_void,
    s: *const c_void,
    n: usize,
    dstlen: usize,
) -> *mut c_void {
    chk_copy_checks(F_MEMCPY_CHK, d as usize, s as usize, n, dstlen);
    if real(F_MEMCPY_CHK) == 0 {
        if dstlen < n {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: memcpy's contract.
        unsafe { copy_fwd(d.cast(), s.cast(), n) };
        return d;
    }
    call_real!(F_MEMCPY_CHK, CopyChk, d, s, n, dstlen)
}

/// `_FORTIFY_SOURCE`'s memmove.
///
/// # Safety
/// memmove(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __memmove_chk(
    d: *mut c_void,
    s: *const c_void,
    n: usize,
    dstlen: usize,
) -> *mut c_void {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { memmove_chk_work(d, s, n, dstlen) };
    repair_header();
    r
}

/// The checks and the work of [`__memmove_chk`].
///
/// # Safety
/// As [`__memmove_chk`].
#[inline(always)]
pub(super) unsafe fn memmove_chk_work(
    d: *mut c_void,
    s: *const c_void,
    n: usize,
    dstlen: usize,
) -> *mut c_void {
    chk_copy_checks(F_MEMMOVE_CHK, d as usize, s as usize, n, dstlen);
    if real(F_MEMMOVE_CHK) == 0 {
        if dstlen < n {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: memmove's contract.
        unsafe { copy_move(d.cast(), s.cast(), n) };
        return d;
    }
    call_real!(F_MEMMOVE_CHK, CopyChk, d, s, n, dstlen)
}

/// # Safety
/// mempcpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn mempcpy(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { mempcpy_work(d, s, n) };
    repair_header();
    r
}

/// The checks and the work of [`mempcpy`].
///
/// # Safety
/// As [`mempcpy`].
#[inline(always)]
pub(super) unsafe fn mempcpy_work(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void {
    check_byte_copy(
        F_MEMPCPY,
        mempcpy as *const () as usize,
        d as usize,
        s as usize,
        n,
        true,
    );
    if real(F_MEMPCPY) == 0 {
        // SAFETY: mempcpy's contract.
        unsafe { copy_move(d.cast(), s.cast(), n) };
        return d.cast::<u8>().wrapping_add(n).cast();
    }
    call_real!(
        F_MEMPCPY,
        unsafe extern "C" fn(*mut c_void, *const c_void, usize) -> *mut c_void,
        d,
        s,
        n
    )
}

/// Valgrind's `__strcpy_chk`/`__stpcpy_chk` loop: it copies byte by byte
/// and gives up (exits) once `destlen` bytes are written without the NUL;
/// glibc checks the length first and aborts without copying. The accesses
/// Valgrind made before giving up are reported; glibc then runs.
pub(super) fn strcpy_chk_checks(func: Routine, entry: usize, d: usize, s: usize, destlen: usize) {
    if destlen == 0 || !hooks::enter_runtime() {
        return;
    }
    let (bd, bs) = (block_at(d), block_at(s));
    if bd.is_some() || bs.is_some() {
        // SAFETY: s is a C string (strcpy's contract).
        let k = (unsafe { c_strlen(s as *const u8) } + 1).min(destlen);
        if bd.is_some_and(|b| leaves(&b, d, k)) || bs.is_some_and(|b| leaves(&b, s, k)) {
            let mut r = Replay::new();
            for i in 0..k {
                r.access(false, S_READ_SRC, s + i, 1, bs);
                r.access(true, S_WRITE, d + i, 1, bd);
            }
            r.send(func, entry);
        }
    }
    hooks::leave_runtime();
}

/// # Safety
/// strcpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __strcpy_chk(
    d: *mut c_char,
    s: *const c_char,
    destlen: usize,
) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { strcpy_chk_work(d, s, destlen) };
    repair_header();
    r
}

/// The checks and the work of [`__strcpy_chk`].
///
/// # Safety
/// As [`__strcpy_chk`].
#[inline(always)]
pub(super) unsafe fn strcpy_chk_work(
    d: *mut c_char,
    s: *const c_char,
    destlen: usize,
) -> *mut c_char {
    strcpy_chk_checks(
        F_STRCPY_CHK,
        __strcpy_chk as *const () as usize,
        d as usize,
        s as usize,
        destlen,
    );
    if real(F_STRCPY_CHK) == 0 {
        // SAFETY: s is a C string.
        let n = unsafe { c_strlen(s.cast()) };
        if n >= destlen {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: strcpy's contract.
        unsafe { copy_fwd(d.cast(), s.cast(), n + 1) };
        return d;
    }
    call_real!(F_STRCPY_CHK, StrCopyChk, d, s, destlen)
}

/// # Safety
/// stpcpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __stpcpy_chk(
    d: *mut c_char,
    s: *const c_char,
    destlen: usize,
) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { stpcpy_chk_work(d, s, destlen) };
    repair_header();
    r
}

/// The checks and the work of [`__stpcpy_chk`].
///
/// # Safety
/// As [`__stpcpy_chk`].
#[inline(always)]
pub(super) unsafe fn stpcpy_chk_work(
    d: *mut c_char,
    s: *const c_char,
    destlen: usize,
) -> *mut c_char {
    strcpy_chk_checks(
        F_STPCPY_CHK,
        __stpcpy_chk as *const () as usize,
        d as usize,
        s as usize,
        destlen,
    );
    if real(F_STPCPY_CHK) == 0 {
        // SAFETY: s is a C string.
        let n = unsafe { c_strlen(s.cast()) };
        if n >= destlen {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: stpcpy's contract.
        unsafe { copy_fwd(d.cast(), s.cast(), n + 1) };
        return d.wrapping_add(n);
    }
    call_real!(F_STPCPY_CHK, StrCopyChk, d, s, destlen)
}

/// `_FORTIFY_SOURCE`'s memset. Valgrind does not replace it: glibc's
/// memset runs under memcheck, whose stores past a block are reported as
/// Valgrind's own memset loop would (same first address and size for the
/// lengths tested); glibc aborts when `dstlen < n`.
///
/// # Safety
/// memset(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __memset_chk(
    d: *mut c_void,
    c: c_int,
    n: usize,
    dstlen: usize,
) -> *mut c_void {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { memset_chk_work(d, c, n, dstlen) };
    repair_header();
    r
}

/// The checks and the work of [`__memset_chk`].
///
/// # Safety
/// As [`__memset_chk`].
#[inline(always)]
pub(super) unsafe fn memset_chk_work(
    d: *mut c_void,
    c: c_int,
    n: usize,
    dstlen: usize,
) -> *mut c_void {
    if dstlen >= n {
        memset_checks(__memset_chk as *const () as usize, d as usize, n);
    }
    if real(F_MEMSET_CHK) == 0 {
        if dstlen < n {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: memset's contract.
        unsafe { raw_memset(d.cast(), c as u8, n) };
        return d;
    }
    call_real!(
        F_MEMSET_CHK,
        unsafe extern "C" fn(*mut c_void, c_int, usize, usize) -> *mut c_void,
        d,
        c,
        n,
        dstlen
    )
}

/// `_FORTIFY_SOURCE`'s strncpy: glibc aborts when `destlen < n`, else it
/// calls strncpy, which is where Valgrind reports (its strncpy).
///
/// # Safety
/// strncpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __strncpy_chk(
    d: *mut c_char,
    s: *const c_char,
    n: usize,
    destlen: usize,
) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { strncpy_chk_work(d, s, n, destlen) };
    repair_header();
    r
}

/// The checks and the work of [`__strncpy_chk`].
///
/// # Safety
/// As [`__strncpy_chk`].
#[inline(always)]
pub(super) unsafe fn strncpy_chk_work(
    d: *mut c_char,
    s: *const c_char,
    n: usize,
    destlen: usize,
) -> *mut c_char {
    if destlen >= n {
        strncpy_checks(
            F_STRNCPY,
            strncpy as *const () as usize,
            d as usize,
            s as usize,
            n,
        );
    }
    if real(F_STRNCPY_CHK) == 0 {
        if destlen < n {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: strncpy's contract.
        return unsafe { strncpy(d, s, n) };
    }
    call_real!(
        F_STRNCPY_CHK,
        unsafe extern "C" fn(*mut c_char, *const c_char, usize, usize) -> *mut c_char,
        d,
        s,
        n,
        destlen
    )
}

/// Sites of glibc's `__strcat_chk`/`__strncat_chk` loops (frame 0 offsets).
pub(super) const C_SCAN: u8 = 0;
pub(super) const C_READ: u8 = 1;
pub(super) const C_WRITE: u8 = 2;
pub(super) const C_READ4: u8 = 3; // ..=6: strncat's loop unrolled by four
pub(super) const C_WRITE4: u8 = 7; // ..=10
pub(super) const C_READ_TAIL: u8 = 11;
pub(super) const C_WRITE_TAIL: u8 = 12;
pub(super) const C_WRITE_NUL: u8 = 13;

/// The checks of `__strcat_chk` (`n` None) and `__strncat_chk`. Valgrind
/// has no replacement for them: glibc's own C loops (debug/strcat_chk.c,
/// debug/strncat_chk.c) run under memcheck, which reports each of their
/// byte accesses outside a block, one context per access site, and they
/// call `__chk_fail` (abort) when `destlen` runs out, after the accesses
/// made so far. The replay follows those loops (strncat's is unrolled by
/// four: four sites, then a tail loop and the NUL store).
pub(super) fn strcat_chk_checks(
    func: Routine,
    entry: usize,
    d: usize,
    s: usize,
    n: Option<usize>,
    destlen: usize,
) {
    if !hooks::enter_runtime() {
        return;
    }
    let (bd, bs) = (block_at(d), block_at(s));
    if bd.is_none() && bs.is_none() {
        hooks::leave_runtime();
        return;
    }
    // SAFETY: d is a C string, s a string or n bytes (strcat's contract).
    let dl = unsafe { c_strlen(d as *const u8) };
    // SAFETY: as above.
    let m = unsafe {
        match n {
            None => c_strlen(s as *const u8),
            Some(n) => c_strnlen(s as *const u8, n),
        }
    };
    let src_read = match n {
        Some(n) if m == n => m,
        _ => m + 1,
    };
    if !(bd.is_some_and(|b| leaves(&b, d, dl + m + 1))
        || bs.is_some_and(|b| leaves(&b, s, src_read)))
    {
        hooks::leave_runtime();
        return;
    }
    let mut r = Replay::new();
    strcat_chk_replay(&mut r, d, s, dl, m, n, destlen, bd, bs);
    r.send(func, entry);
    hooks::leave_runtime();
}

/// glibc's `__strcat_chk`/`__strncat_chk` loops over `d` (a string of
/// `dl` bytes) and `s` (`m` bytes copied: its length, at most `n`), up to
/// the end or to `__chk_fail` when `destlen` runs out.
#[allow(clippy::too_many_arguments)]
pub(super) fn strcat_chk_replay(
    r: &mut Replay,
    d: usize,
    s: usize,
    dl: usize,
    m: usize,
    n: Option<usize>,
    destlen: usize,
    bd: Option<Block>,
    bs: Option<Block>,
) {
    let mut left = destlen;
    // One step of a loop: false when glibc gives up (`__chk_fail`).
    let take = |left: &mut usize| {
        if *left == 0 {
            return false;
        }
        *left -= 1;
        true
    };
    'replay: {
        for i in 0..=dl {
            if !take(&mut left) {
                break 'replay;
            }
            r.access(false, C_SCAN, d + i, 1, bd);
        }
        left += 1;
        let w = d + dl;
        match n {
            None => {
                for i in 0..=m {
                    if !take(&mut left) {
                        break 'replay;
                    }
                    r.access(false, C_READ, s + i, 1, bs);
                    r.access(true, C_WRITE, w + i, 1, bd);
                }
            }
            Some(n) => {
                // The byte copied at i is the NUL when i == m < n.
                let (mut i, mut rest) = (0usize, n);
                if n >= 4 {
                    for _ in 0..n >> 2 {
                        for k in 0..4u8 {
                            if !take(&mut left) {
                                break 'replay;
                            }
                            r.access(false, C_READ4 + k, s + i, 1, bs);
                            r.access(true, C_WRITE4 + k, w + i, 1, bd);
                            i += 1;
                            if i - 1 == m {
                                break 'replay;
                            }
                        }
                    }
                    rest &= 3;
                }
                while rest > 0 {
                    if !take(&mut left) {
                        break 'replay;
                    }
                    r.access(false, C_READ_TAIL, s + i, 1, bs);
                    r.access(true, C_WRITE_TAIL, w + i, 1, bd);
                    i += 1;
                    if i - 1 == m {
                        break 'replay;
                    }
                    rest -= 1;
                }
                // n bytes copied without a NUL (n > 0): glibc adds one.
                if n > 0 && take(&mut left) {
                    r.access(true, C_WRITE_NUL, w + i, 1, bd);
                }
            }
        }
    }
}

/// # Safety
/// strcat(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __strcat_chk(
    d: *mut c_char,
    s: *const c_char,
    destlen: usize,
) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { strcat_chk_work(d, s, destlen) };
    repair_header();
    r
}

/// The checks and the work of [`__strcat_chk`].
///
/// # Safety
/// As [`__strcat_chk`].
#[inline(always)]
pub(super) unsafe fn strcat_chk_work(
    d: *mut c_char,
    s: *const c_char,
    destlen: usize,
) -> *mut c_char {
    strcat_chk_checks(
        F_STRCAT,
        __strcat_chk as *const () as usize,
        d as usize,
        s as usize,
        None,
        destlen,
    );
    if real(F_STRCAT_CHK) == 0 {
        // SAFETY: both are C strings.
        let (dl, sl) = unsafe { (c_strlen(d.cast()), c_strlen(s.cast())) };
        if dl + sl >= destlen {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: strcat's contract.
        unsafe { copy_fwd(d.cast::<u8>().add(dl), s.cast(), sl + 1) };
        return d;
    }
    call_real!(F_STRCAT_CHK, StrCopyChk, d, s, destlen)
}

/// # Safety
/// strncat(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __strncat_chk(
    d: *mut c_char,
    s: *const c_char,
    n: usize,
    destlen: usize,
) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { strncat_chk_work(d, s, n, destlen) };
    repair_header();
    r
}

/// The checks and the work of [`__strncat_chk`].
///
/// # Safety
/// As [`__strncat_chk`].
#[inline(always)]
pub(super) unsafe fn strncat_chk_work(
    d: *mut c_char,
    s: *const c_char,
    n: usize,
    destlen: usize,
) -> *mut c_char {
    strcat_chk_checks(
        F_STRNCAT,
        __strncat_chk as *const () as usize,
        d as usize,
        s as usize,
        Some(n),
        destlen,
    );
    if real(F_STRNCAT_CHK) == 0 {
        // SAFETY: d is a C string, s a string or n bytes.
        let (dl, m) = unsafe { (c_strlen(d.cast()), c_strnlen(s.cast(), n)) };
        if dl + m >= destlen {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: strncat's contract.
        unsafe {
            copy_fwd(d.cast::<u8>().add(dl), s.cast(), m);
            d.cast::<u8>().add(dl + m).write_volatile(0);
        }
        return d;
    }
    call_real!(
        F_STRNCAT_CHK,
        unsafe extern "C" fn(*mut c_char, *const c_char, usize, usize) -> *mut c_char,
        d,
        s,
        n,
        destlen
    )
}

/// `_FORTIFY_SOURCE`'s mempcpy. Valgrind does not replace it: glibc's
/// memcpy runs under memcheck, whose stores past a block are reported as
/// Valgrind's own memcpy word loop would (same first address and size for
/// the lengths tested), without an overlap check; glibc aborts when
/// `dstlen < n`.
///
/// # Safety
/// mempcpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __mempcpy_chk(
    d: *mut c_void,
    s: *const c_void,
    n: usize,
    dstlen: usize,
) -> *mut c_void {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { mempcpy_chk_work(d, s, n, dstlen) };
    repair_header();
    r
}

/// The checks and the work of [`__mempcpy_chk`].
///
/// # Safety
/// As [`__mempcpy_chk`].
#[inline(always)]
pub(super) unsafe fn mempcpy_chk_work(
    d: *mut c_void,
    s: *const c_void,
    n: usize,
    dstlen: usize,
) -> *mut c_void {
    if dstlen >= n {
        check_move(
            F_MEMPCPY,
            __mempcpy_chk as *const () as usize,
            d as usize,
            s as usize,
            n,
        );
    }
    if real(F_MEMPCPY_CHK) == 0 {
        if dstlen < n {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: mempcpy's contract.
        unsafe { copy_move(d.cast(), s.cast(), n) };
        return d.cast::<u8>().wrapping_add(n).cast();
    }
    call_real!(F_MEMPCPY_CHK, CopyChk, d, s, n, dstlen)
}

/// # Safety
/// stpncpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn stpncpy(d: *mut c_char, s: *const c_char, n: usize) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { stpncpy_work(d, s, n) };
    repair_header();
    r
}

/// The checks and the work of [`stpncpy`].
///
/// # Safety
/// As [`stpncpy`].
#[inline(always)]
pub(super) unsafe fn stpncpy_work(d: *mut c_char, s: *const c_char, n: usize) -> *mut c_char {
    strncpy_checks(
        F_STPNCPY,
        stpncpy as *const () as usize,
        d as usize,
        s as usize,
        n,
    );
    if real(F_STPNCPY) == 0 {
        // SAFETY: s holds a string or n bytes.
        let m = unsafe { c_strnlen(s.cast(), n) };
        // SAFETY: stpncpy's contract.
        unsafe {
            copy_fwd(d.cast(), s.cast(), m);
            for i in m..n {
                d.cast::<u8>().add(i).write_volatile(0);
            }
        }
        return d.wrapping_add(m);
    }
    call_real!(
        F_STPNCPY,
        unsafe extern "C" fn(*mut c_char, *const c_char, usize) -> *mut c_char,
        d,
        s,
        n
    )
}
