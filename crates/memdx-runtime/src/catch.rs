//! Fault-tolerant calls: the end-of-process report reads memory the program
//! may have made unreadable (a heap page it protected or unmapped, a file
//! mapping past the end of its file, a smashed stack the unwinder walks).
//! Such a read must not kill the process with a different signal, or hang
//! it, before the report is out.
//!
//! [`try_call`] runs a function with a recovery point: when it faults
//! (SIGSEGV or SIGBUS raised by the kernel for an instruction of this
//! thread), the fatal-signal handler asks [`recover`], which rewrites the
//! signal's context so that the thread resumes in `memdx_try_recover`: the
//! callee-saved registers and the stack pointer saved at the call are
//! restored and `try_call` returns false, as Valgrind's fault catcher does
//! for its leak scan. What the abandoned function was doing is lost, so it
//! must hold no lock and own no resource (the unwinder's walk, a word read).
//!
//! For the handler to run at all, the fault signals must have the runtime's
//! handler and be unblocked on the thread: [`Armed`] sees to both for the
//! duration of a report and restores what was there.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::tls;

// memdx_try_call(f, arg, buf): saves rbx, rbp, r12-r15, the caller's
// stack pointer after the return and the return address into buf[0..8],
// calls f(arg) and returns 0. memdx_try_recover(buf) (entered from a
// signal's context, rdi = buf) restores them and returns 1 from
// memdx_try_call's call site.
core::arch::global_asm!(
    ".pushsection .text.memdx_catch,\"ax\",@progbits",
    ".p2align 4",
    ".globl memdx_try_call",
    ".hidden memdx_try_call",
    ".type memdx_try_call,@function",
    "memdx_try_call:",
    ".cfi_startproc",
    "mov [rdx], rbx",
    "mov [rdx + 8], rbp",
    "mov [rdx + 16], r12",
    "mov [rdx + 24], r13",
    "mov [rdx + 32], r14",
    "mov [rdx + 40], r15",
    "lea rax, [rsp + 8]",
    "mov [rdx + 48], rax",
    "mov rax, [rsp]",
    "mov [rdx + 56], rax",
    "sub rsp, 8",
    ".cfi_adjust_cfa_offset 8",
    "mov rax, rdi",
    "mov rdi, rsi",
    "call rax",
    "add rsp, 8",
    ".cfi_adjust_cfa_offset -8",
    "xor eax, eax",
    "ret",
    ".cfi_endproc",
    ".size memdx_try_call, .-memdx_try_call",
    ".p2align 4",
    ".globl memdx_try_recover",
    ".hidden memdx_try_recover",
    ".type memdx_try_recover,@function",
    "memdx_try_recover:",
    "mov rbx, [rdi]",
    "mov rbp, [rdi + 8]",
    "mov r12, [rdi + 16]",
    "mov r13, [rdi + 24]",
    "mov r14, [rdi + 32]",
    "mov r15, [rdi + 40]",
    "mov rsp, [rdi + 48]",
    "mov eax, 1",
    "jmp qword ptr [rdi + 56]",
    ".size memdx_try_recover, .-memdx_try_recover",
    ".popsection",
);

extern "C" {
    fn memdx_try_call(
        f: extern "C" fn(*mut libc::c_void),
        arg: *mut libc::c_void,
        buf: *mut usize,
    ) -> u32;
    fn memdx_try_recover();
}

/// Runs `f(arg)`; false when it faulted (and was abandoned at the fault).
pub fn try_call(f: extern "C" fn(*mut libc::c_void), arg: *mut libc::c_void) -> bool {
    let td = tls::get();
    let outer = td.catch_buf.get();
    let mut buf = [0usize; 8];
    td.catch_buf.set(buf.as_mut_ptr() as usize);
    // SAFETY: memdx_try_call saves the registers the ABI asks it to keep
    // and returns normally, or through memdx_try_recover with them
    // restored; `buf` outlives the call.
    let faulted = unsafe { memdx_try_call(f, arg, buf.as_mut_ptr()) } != 0;
    td.catch_buf.set(outer);
    !faulted
}

/// Called first by the fatal-signal handler: when `sig` is a fault of this
/// thread inside [`try_call`], points the interrupted context at the
/// recovery code and returns true (the handler then just returns).
pub fn recover(sig: i32, info: *const libc::siginfo_t, ctx: *mut libc::c_void) -> bool {
    if !(sig == libc::SIGSEGV || sig == libc::SIGBUS) || info.is_null() || ctx.is_null() {
        return false;
    }
    // SAFETY: the kernel passed a valid siginfo.
    if unsafe { (*info).si_code } <= 0 {
        return false; // sent by a process, not a fault
    }
    let td = tls::get();
    let buf = td.catch_buf.get();
    if buf == 0 {
        return false;
    }
    td.catch_buf.set(0);
    // SAFETY: the kernel passes a valid ucontext; the context resumes in
    // memdx_try_recover with rdi = the recovery buffer.
    unsafe {
        let g = &mut (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs;
        g[libc::REG_RIP as usize] = memdx_try_recover as *const () as usize as i64;
        g[libc::REG_RDI as usize] = buf as i64;
    }
    true
}

extern "C" fn touch(arg: *mut libc::c_void) {
    // SAFETY: may fault; try_call recovers.
    unsafe { core::ptr::read_volatile(arg.cast::<u8>()) };
}

/// A run of pages found readable, `[KNOWN_LO, KNOWN_HI)`, one per process
/// (the report runs on one thread). It grows as neighbouring pages are
/// probed, so a heap (contiguous pages) is soon one run and a check is two
/// compares.
static KNOWN_LO: AtomicUsize = AtomicUsize::new(0);
static KNOWN_HI: AtomicUsize = AtomicUsize::new(0);

#[inline]
fn known(start: usize, end: usize) -> bool {
    start >= KNOWN_LO.load(Ordering::Relaxed) && end <= KNOWN_HI.load(Ordering::Relaxed)
}

/// Whether the page holding `addr` can be read (probed with one load that
/// may fault). Needs an [`Armed`] report.
pub fn page_readable(addr: usize) -> bool {
    let page = addr & !4095;
    if page == 0 {
        return false;
    }
    if known(page, page + 4096) {
        return true;
    }
    if !try_call(touch, page as *mut libc::c_void) {
        return false;
    }
    let (lo, hi) = (
        KNOWN_LO.load(Ordering::Relaxed),
        KNOWN_HI.load(Ordering::Relaxed),
    );
    if page == hi {
        KNOWN_HI.store(page + 4096, Ordering::Relaxed);
    } else if page + 4096 == lo {
        KNOWN_LO.store(page, Ordering::Relaxed);
    } else {
        KNOWN_LO.store(page, Ordering::Relaxed);
        KNOWN_HI.store(page + 4096, Ordering::Relaxed);
    }
    true
}

/// Whether every page of `[start, end)` can be read.
#[inline]
pub fn range_readable(start: usize, end: usize) -> bool {
    known(start, end) || range_readable_slow(start, end)
}

#[inline(never)]
fn range_readable_slow(start: usize, end: usize) -> bool {
    let mut page = start & !4095;
    while page < end {
        if !page_readable(page) {
            return false;
        }
        page += 4096;
    }
    true
}

/// Calls `f` with each readable run of pages of `[start, end)` (clipped to
/// the range); returns the bytes skipped.
#[inline]
pub fn for_each_readable(start: usize, end: usize, mut f: impl FnMut(usize, usize)) -> usize {
    if known(start, end) {
        f(start, end);
        return 0;
    }
    let mut skipped = 0;
    let mut run = start;
    let mut at = start;
    while at < end {
        let next = ((at & !4095) + 4096).min(end);
        if !page_readable(at) {
            if run < at {
                f(run, at);
            }
            skipped += next - at;
            run = next;
        }
        at = next;
    }
    if run < end {
        f(run, end);
    }
    skipped
}

/// Forget the pages found readable (before a report: the program may have
/// changed its mappings since).
pub fn forget_pages() {
    KNOWN_LO.store(0, Ordering::Relaxed);
    KNOWN_HI.store(0, Ordering::Relaxed);
}

/// The fault signals the runtime's handler recovers from.
const FAULTS: [i32; 2] = [libc::SIGSEGV, libc::SIGBUS];

/// While alive: the runtime's handler is the action of SIGSEGV and SIGBUS
/// and both are unblocked on this thread, so a fault in [`try_call`] is
/// recovered from (inside the handler of one of them, or with a handler
/// the program installed behind the runtime's back). Dropped, the previous
/// actions and mask come back.
pub struct Armed {
    old: [libc::sigaction; 2],
    mask: libc::sigset_t,
}

impl Armed {
    pub fn new() -> Armed {
        forget_pages();
        // SAFETY: zeroed sigaction and sigset are valid; glibc's own
        // sigaction (the interposed one hides and chains).
        unsafe {
            let mut armed = Armed {
                old: core::mem::zeroed(),
                mask: core::mem::zeroed(),
            };
            for (i, &sig) in FAULTS.iter().enumerate() {
                let mut sa: libc::sigaction = core::mem::zeroed();
                sa.sa_sigaction = crate::fatal::fatal_handler as *const () as usize;
                sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
                libc::sigemptyset(&mut sa.sa_mask);
                crate::signals::block_async(&mut sa.sa_mask);
                crate::signals::__sigaction(sig, &sa, &mut armed.old[i]);
            }
            let mut unblock: libc::sigset_t = core::mem::zeroed();
            libc::sigemptyset(&mut unblock);
            for sig in FAULTS {
                libc::sigaddset(&mut unblock, sig);
            }
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &unblock, &mut armed.mask);
            armed
        }
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        // SAFETY: restoring what `new` saved.
        unsafe {
            for (i, &sig) in FAULTS.iter().enumerate() {
                crate::signals::__sigaction(sig, &self.old[i], core::ptr::null_mut());
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.mask, core::ptr::null_mut());
        }
    }
}
