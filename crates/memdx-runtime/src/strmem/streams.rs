//! The C library functions that read a string or buffer through glibc's
//! internal routines, out of an interposer's reach: `puts`, `fputs`,
//! `fputs_unlocked` (their `strlen` is glibc's hidden one) and `strndup`
//! (its `strnlen` and `memcpy`). Under Valgrind those internal calls go to
//! its replacements, which report the reads outside a block (or inside a
//! freed one) with `strlen`/`strnlen`/`memmove` in frame 0 and glibc's
//! function below it. The hooks here check the argument as those
//! replacements read it, report it the same way (frame 0 in the runtime's
//! routine of that name, then the return address inside glibc's function
//! after its call, as Valgrind shows it), then call glibc's function with
//! the program's arguments.
//!
//! Not replayed: the copies that follow inside glibc's stream code
//! (`_IO_new_file_xsputn`'s `mempcpy`, `_IO_default_xsputn`'s byte loop),
//! which Valgrind also reports for a string that runs past its block and
//! whose route depends on the stream's buffer. A string that starts a
//! freed block is reported at its first byte only: the freed block holds
//! the runtime's poison, not the program's old text, so the length Valgrind
//! would see is not known. A string in a freed guarded block reads as
//! empty (its page keeps nothing): glibc's function is given an empty
//! string instead, with the same result, so that its own strlen does not
//! fault on the closed page and report the read a second time.
//! (`fwrite` and `fwrite_unlocked` are `handoff`'s hooks and are not
//! checked here.)

use super::*;

/// Valgrind's strlen loop: byte 0 is read by one instruction, the rest by
/// the loop's (two contexts under Valgrind).
pub(super) const S_FIRST: u8 = 0;
pub(super) const S_LOOP: u8 = 1;

/// Return addresses inside glibc's functions after their first call (to
/// the internal strlen or strnlen), by [`Inner`] slot.
static INNER: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];

#[derive(Clone, Copy)]
enum Inner {
    Puts = 0,
    Fputs = 1,
    FputsUnlocked = 2,
    Strndup = 3,
}

/// Finds the return addresses [`INNER`] holds; call from the constructor
/// after [`init`](super::init).
pub fn init_streams() {
    let names: [(Inner, Routine); 4] = [
        (Inner::Puts, Routine::Puts),
        (Inner::Fputs, Routine::Fputs),
        (Inner::FputsUnlocked, Routine::FputsUnlocked),
        (Inner::Strndup, Routine::Strndup),
    ];
    for (slot, r) in names {
        INNER[slot as usize].store(first_call_return(real(r)), Ordering::Relaxed);
    }
}

/// The return address after the first `call rel32` in the first 64 bytes
/// of glibc's function at `f` (its call of the internal strlen or
/// strnlen, the first thing it does), else 0.
fn first_call_return(f: usize) -> usize {
    if f == 0 {
        return 0;
    }
    // SAFETY: glibc's code, mapped readable and executable; 64 bytes stay
    // in the function or the code right after it in the same segment.
    let code = unsafe { core::slice::from_raw_parts(f as *const u8, 64) };
    // Skip the prologue's pushes and moves: the first 0xe8 preceded by a
    // whole instruction is not known without decoding, so take the first
    // 0xe8 whose target lands in the same object (a near call).
    (0..code.len().saturating_sub(5))
        .find(|&i| {
            code[i] == 0xe8 && {
                let rel = i32::from_le_bytes([code[i + 1], code[i + 2], code[i + 3], code[i + 4]]);
                rel.unsigned_abs() < 16 << 20
            }
        })
        .map_or(0, |i| f + i + 5)
}

/// glibc's function `r`, looked up now when called before the constructor
/// (by another library's constructor).
fn glibc(r: Routine) -> usize {
    let f = real(r);
    if f != 0 {
        return f;
    }
    let (Some(name), Some(slot)) = (r.c_symbol(), REAL.get(r as usize)) else {
        return 0;
    };
    // SAFETY: dlsym with a static NUL-terminated name.
    let f = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) } as usize;
    slot.store(f, Ordering::Release);
    f
}

/// Calls glibc's function `r` (of type `$t`) with the caller's arguments;
/// one missing from the C library aborts (see [`assert_ne_or_abort`]).
macro_rules! call_glibc {
    ($i:expr, $t:ty, $($a:expr),*) => {{
        let f = glibc($i);
        assert_ne_or_abort(f);
        // SAFETY: glibc's function of this type (dlsym), not null.
        let f: $t = unsafe { core::mem::transmute(f) };
        // SAFETY: the caller's arguments, under the function's contract.
        unsafe { f($($a),*) }
    }};
}

/// A function glibc always has: its absence is no C library the runtime
/// runs under, and the process cannot go on.
fn assert_ne_or_abort(f: usize) {
    if f == 0 {
        // SAFETY: abort has no preconditions.
        unsafe { libc::abort() };
    }
}

fn inner(slot: Inner) -> usize {
    INNER[slot as usize].load(Ordering::Relaxed)
}

/// Reports `count` one-byte reads from `s` on, in freed block `b` (freed
/// at `free_stack`), by the site at `pc` of routine `func`, called from
/// the return addresses of `below` (see [`site_stack`]).
pub(super) fn send_freed_reads(
    func: Routine,
    pc: usize,
    below: &[usize],
    s: usize,
    count: usize,
    b: Block,
    free_stack: u32,
) {
    if count == 0 {
        return;
    }
    let a = Access {
        kind: AccessKind::Read,
        func: Some(func),
        addr: s as u64,
        size: 1,
        len: count as u64,
        tid: hooks::thread_no(),
        stack: site_stack(pc, below),
        place: Place::InsideFreed,
        block_start: b.ptr as u64,
        block_size: b.size as u64,
        alloc_stack: b.stack,
        free_stack,
        ..Access::default()
    };
    access::send(&a);
}

/// The freed guarded block `s` starts, and its free stack. Its page
/// keeps nothing: the string reads as empty once the page is opened.
pub(super) fn freed_guarded(s: usize) -> Option<(Block, u32)> {
    if !crate::guard::contains(s) {
        return None;
    }
    match crate::guard::find(s) {
        Some((false, b, free_stack)) if s >= b.ptr && s < b.ptr + b.size.max(1) => {
            Some((b, free_stack))
        }
        _ => None,
    }
}

/// The string glibc's function is given for `s`: an empty one for a
/// string in a freed guarded block, which reads as empty (see
/// [`freed_guarded`]) and whose closed page would make glibc's own strlen
/// fault and be reported a second time, in glibc; else `s`.
fn readable(s: *const c_char) -> *const c_char {
    if freed_guarded(s as usize).is_some() {
        c"".as_ptr()
    } else {
        s
    }
}

/// Valgrind's strlen (or strnlen, at most `max` bytes) over `s`, called
/// from glibc's function at `below` (return addresses, innermost first):
/// its reads outside the live block `s` is in or next to, or its first
/// read of a freed block `s` starts.
fn check_string(func: Routine, entry: usize, below: &[usize], s: usize, max: usize) {
    if max == 0 || !hooks::enter_runtime() {
        return;
    }
    check_string_in(func, entry, below, s, max);
    hooks::leave_runtime();
}

/// [`check_string`] inside the runtime (its re-entry flag already set).
pub(super) fn check_string_in(func: Routine, entry: usize, below: &[usize], s: usize, max: usize) {
    if max == 0 {
        return;
    }
    if let Some(b) = block_at(s) {
        let count = string_reads(&b, s, max);
        if leaves(&b, s, count) {
            let mut r = Replay::new();
            // strnlen's loop is one site under Valgrind, strlen's two.
            let split = func == F_STRLEN;
            for i in 0..count {
                let site = if split && i == 0 { S_FIRST } else { S_LOOP };
                r.access(false, site, s + i, 1, Some(b));
            }
            r.send_from(func, entry, below);
            if s.saturating_add(count) > b.ptr + b.size {
                // glibc's function reads past the end next: a guarded
                // block's guard page must not fault and report it again.
                crate::guard::open_after(b.ptr);
            }
        }
    } else if let Some((b, free_stack)) = crate::syscalls::freed_block_at(s) {
        send_freed_reads(func, entry + S_FIRST as usize, below, s, 1, b, free_stack);
    }
}

/// How many bytes Valgrind's strlen (strnlen, at most `max`) reads from
/// `s`, which is in live block `b` or next to it: up to the string's NUL
/// when it is in the block, else up to the first byte past the block's
/// end, which it finds 0 (memcheck's fresh redzone; here the guard page
/// or the runtime's own bytes, which are not read).
fn string_reads(b: &Block, s: usize, max: usize) -> usize {
    let end = b.ptr + b.size;
    if s >= end {
        return max.min(1);
    }
    let room = end - s;
    // SAFETY: s is a C string or holds `max` bytes (the caller's
    // contract): glibc's function reads these bytes too; none past the
    // block's end is read here.
    let len = unsafe { c_strnlen(s as *const u8, max.min(room)) };
    if len < max.min(room) {
        len + 1
    } else {
        max.min(room + 1)
    }
}

pub(super) fn strlen_entry() -> usize {
    strlen as *const () as usize
}

/// # Safety
/// puts(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn puts(s: *const c_char) -> c_int {
    check_string(
        F_STRLEN,
        strlen_entry(),
        &[inner(Inner::Puts)],
        s as usize,
        usize::MAX,
    );
    call_glibc!(
        Routine::Puts,
        unsafe extern "C" fn(*const c_char) -> c_int,
        readable(s)
    )
}

/// # Safety
/// fputs(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn fputs(s: *const c_char, stream: *mut libc::FILE) -> c_int {
    check_string(
        F_STRLEN,
        strlen_entry(),
        &[inner(Inner::Fputs)],
        s as usize,
        usize::MAX,
    );
    call_glibc!(
        Routine::Fputs,
        unsafe extern "C" fn(*const c_char, *mut libc::FILE) -> c_int,
        readable(s),
        stream
    )
}

/// # Safety
/// fputs_unlocked(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn fputs_unlocked(s: *const c_char, stream: *mut libc::FILE) -> c_int {
    check_string(
        F_STRLEN,
        strlen_entry(),
        &[inner(Inner::FputsUnlocked)],
        s as usize,
        usize::MAX,
    );
    call_glibc!(
        Routine::FputsUnlocked,
        unsafe extern "C" fn(*const c_char, *mut libc::FILE) -> c_int,
        readable(s),
        stream
    )
}

/// strndup: glibc's strnlen (Valgrind's, one site), then its memcpy of
/// the bytes found into the new block (Valgrind's memmove loop).
///
/// # Safety
/// strndup(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strndup(s: *const c_char, n: usize) -> *mut c_char {
    let sa = s as usize;
    let at = inner(Inner::Strndup);
    check_string(
        F_STRNLEN,
        super::reads::strnlen as *const () as usize,
        &[at],
        sa,
        n,
    );
    let r: *mut c_char = call_glibc!(
        Routine::Strndup,
        unsafe extern "C" fn(*const c_char, usize) -> *mut c_char,
        readable(s),
        n
    );
    if !r.is_null() && hooks::enter_runtime() {
        if let Some(b) = block_at(sa) {
            // SAFETY: glibc's strndup wrote a C string into `r`.
            let len = unsafe { c_strlen(r.cast()) };
            if leaves(&b, sa, len) {
                let mut rp = Replay::new();
                memmove_elems(r as usize, sa, len, &mut |site, off, sz| {
                    rp.access(false, site, sa + off, sz, Some(b));
                });
                // Valgrind names glibc's memcpy call `memmove` on amd64.
                rp.send_from(F_MEMMOVE, memmove as *const () as usize, &[]);
            }
        }
        hooks::leave_runtime();
    }
    r
}
