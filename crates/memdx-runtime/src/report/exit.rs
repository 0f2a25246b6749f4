//! Where the program left from: the stack pointer of its call to `exit`
//! (where the scan of its stack starts), and the C library's cleanup run
//! before the scan (freeres; stdio buffers dropped on the `_exit` path).

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::{hooks, sys};

extern "C" {
    fn _Unwind_Backtrace(
        cb: extern "C" fn(*mut libc::c_void, *mut libc::c_void) -> libc::c_int,
        arg: *mut libc::c_void,
    ) -> libc::c_int;
    fn _Unwind_GetIP(ctx: *mut libc::c_void) -> usize;
    fn _Unwind_GetCFA(ctx: *mut libc::c_void) -> usize;
    fn _Unwind_GetRegionStart(ctx: *mut libc::c_void) -> usize;
}

/// `exit`'s address, looked up in the constructor.
pub static EXIT_FN: AtomicUsize = AtomicUsize::new(0);

extern "C" fn find_exit_frame(ctx: *mut libc::c_void, arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: the unwinder passes a live context; arg is our [usize; 2].
    unsafe {
        let state = &mut *arg.cast::<[usize; 2]>();
        if state[0] == 0 {
            // The previous frame was exit(): in this callback the CFA is
            // exit()'s own, the stack pointer of its caller at the call.
            state[1] = _Unwind_GetCFA(ctx);
            return 5;
        }
        // The start of the function this frame runs in, from its unwind
        // entry (found for ip - 1, the call: exit() ends with a call to a
        // noreturn function, so its return address is past its last
        // byte). Not dladdr: it walks every symbol of the object (libc's
        // 3,000) for each frame, ~10 us a frame at every process's exit.
        if _Unwind_GetIP(ctx) > 1 && _Unwind_GetRegionStart(ctx) == state[0] {
            state[0] = 0; // take the CFA from the next frame
        }
    }
    0
}

/// The stack pointer of the program's call to exit(), _Exit() or _exit()
/// (the runtime's own two), if this thread is inside one of them.
pub(super) fn exit_caller_sp() -> Option<usize> {
    let ours: [unsafe extern "C" fn(libc::c_int) -> !; 2] = [hooks::_Exit, hooks::_exit];
    let fns = [
        EXIT_FN.load(Ordering::Relaxed),
        ours[0] as usize,
        ours[1] as usize,
    ];
    fns.into_iter().filter(|&f| f != 0).find_map(|f| {
        let mut state = [f, 0usize];
        // SAFETY: the callback only reads the context and writes `state`.
        unsafe { _Unwind_Backtrace(find_exit_frame, (&mut state as *mut [usize; 2]).cast()) };
        (state[1] != 0).then_some(state[1])
    })
}

/// The start of glibc's `struct _IO_FILE` (public layout,
/// `bits/types/struct_FILE.h`), up to the fields used here.
#[repr(C)]
struct IoFile {
    flags: libc::c_int,
    read_ptr: *mut u8,
    read_end: *mut u8,
    read_base: *mut u8,
    write_base: *mut u8,
    write_ptr: *mut u8,
    write_end: *mut u8,
    buf_base: *mut u8,
    buf_end: *mut u8,
    save_base: *mut u8,
    backup_base: *mut u8,
    save_end: *mut u8,
    markers: *mut libc::c_void,
    chain: *mut IoFile,
    fileno: libc::c_int,
    flags2: libc::c_int,
    old_offset: libc::off_t,
    cur_column: libc::c_ushort,
    vtable_offset: libc::c_schar,
    shortbuf: [libc::c_char; 1],
    lock: *mut libc::c_void,
    offset: libc::off64_t,
    codecvt: *mut libc::c_void,
    wide_data: *mut libc::c_void,
    freeres_list: *mut IoFile,
    freeres_buf: *mut libc::c_void,
    pad5: libc::size_t,
    mode: libc::c_int,
}

extern "C" {
    /// glibc's list of open streams (exported, GLIBC_2.2.5).
    static _IO_list_all: *mut IoFile;
}

/// Before `__libc_freeres` on the `_exit` path: freeres flushes every stdio
/// stream (and seeks input streams back to their logical position), which
/// `_exit` never does. Pending output and read-ahead are dropped first, so
/// the program's output is what it is without memdx (Valgrind 3.19 prints
/// it). Only byte-oriented streams are touched; the thread is alone.
pub(super) fn discard_stdio_buffers() {
    // SAFETY: walking glibc's stream list while no other thread runs; the
    // fields written are the public buffer pointers of each FILE.
    unsafe {
        let mut fp = _IO_list_all;
        let mut guard = 0;
        while !fp.is_null() && guard < 100_000 {
            let f = &mut *fp;
            if f.mode <= 0 {
                f.write_ptr = f.write_base;
                f.read_end = f.read_ptr;
            }
            fp = f.chain;
            guard += 1;
        }
    }
}

pub(super) fn leave_for_freeres(entered: bool) {
    // freeres frees through our hooks: let them capture stacks normally.
    if entered {
        hooks::leave_runtime();
    }
}

pub(super) fn run_freeres(cxx: *mut libc::c_void) {
    // SAFETY: glibc's documented cleanup hook for memory checkers, and
    // libstdc++'s equivalent when it is loaded.
    unsafe {
        sys::__libc_freeres();
        // freeres unloads glibc's own modules (NSS, iconv) without dlclose.
        crate::unwind::modules_may_have_changed();
        let f = cxx;
        if !f.is_null() {
            let f: extern "C" fn() = core::mem::transmute(f);
            f();
        }
    }
}
