//! Invalid accesses: a data access that faults (SIGSEGV), described the way
//! Valgrind describes it, and the alternate signal stack the fault handler
//! runs on.
//!
//! The handler does not decode the faulting instruction: it copies up to 16
//! bytes at the faulting pc into the `Access` record and the analyzer
//! decodes them (read or write, and the size). It allocates nothing: the
//! alternate stack is mapped with `mmap` at start, the record is encoded on
//! the stack.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use memdx_events::{Access, AccessKind, Place};

use crate::{hooks, out, report, stacks, sys, table};

/// How far past the end (or before the start) of a block an address is
/// still described as "N bytes after/before a block": memcheck's default
/// redzone for heap blocks (`--redzone-size=16`).
pub const REDZONE: usize = 16;

/// Bytes of the alternate signal stack (a guard page below it). The fatal
/// report (a leak scan) needs a few hundred KiB; the pages are only
/// committed when touched.
pub const ALT_STACK: usize = 1 << 20;

/// Fills `a.place`, `a.block_*`, `a.alloc_stack` and `a.free_stack` with the
/// heap block `addr` is inside of, or within [`REDZONE`] bytes after or
/// before (the nearest, as Valgrind does), live or in the quarantine of
/// freed blocks. Slow (walks the block table up to 2 * REDZONE + 1 times):
/// only for an error that is being reported.
pub fn describe(addr: usize, a: &mut Access) {
    if addr < 4096 {
        return; // the NULL page never holds a block
    }
    let mut found = table::find_containing(addr);
    for d in 1..=REDZONE {
        if found.is_some() {
            break;
        }
        // A block ending just before addr, then one starting just after.
        found = addr
            .checked_sub(d)
            .and_then(table::find_containing)
            .or_else(|| addr.checked_add(d).and_then(table::find_containing));
    }
    if let Some((live, b, free_stack)) = found {
        if b.kind & table::INTERNAL != 0 {
            return;
        }
        a.place = if live {
            Place::InsideLive
        } else {
            Place::InsideFreed
        };
        a.block_start = b.ptr as u64;
        a.block_size = b.size as u64;
        a.alloc_stack = b.stack;
        a.free_stack = free_stack;
    }
}

/// Sends `a` (and the stacks it refers to) and waits until it is rendered.
pub fn send(a: &Access) {
    out::burst(|| {
        out::ensure_modules();
        out::ensure_stack(a.stack);
        out::ensure_stack(a.alloc_stack);
        out::ensure_stack(a.free_stack);
        out::emit(|e| e.access(a));
        out::wait_ack();
    });
}

/// The stack of a fault: the faulting pc, then the return addresses above
/// the signal frame, without the runtime's own frames (the handler's, and
/// the trampoline that starts threads). `ctx`: the signal's context.
pub fn capture_fault_stack(pc: usize, ctx: *mut libc::c_void) -> u32 {
    let id = stacks::capture_from_signal(pc, ctx);
    let Some(rec) = stacks::get(id) else {
        return id;
    };
    let (lo, hi) = (
        stacks::SELF_LO.load(Ordering::Relaxed),
        stacks::SELF_HI.load(Ordering::Relaxed),
    );
    let n = (rec.n as usize).min(rec.frames.len());
    let all = rec.frames.get(..n).unwrap_or(&[]);
    let ours = |f: &u64| (*f as usize) >= lo && (*f as usize) < hi;
    if !all.iter().skip(1).any(ours) {
        return id;
    }
    let mut frames = [0u64; stacks::CAPTURE];
    let mut k = 0;
    for (i, f) in all.iter().enumerate() {
        if i == 0 || !ours(f) {
            frames[k] = *f;
            k += 1;
        }
    }
    stacks::intern(frames.get(..k).unwrap_or(&[]))
}

/// Copies up to 16 bytes of code at `pc` without faulting (a pc in an
/// unmapped page, or code near the end of a mapping, gives fewer bytes).
fn read_code(pc: usize, buf: &mut [u8; 16]) -> u8 {
    if pc == 0 {
        return 0;
    }
    let mut got = 0usize;
    // Page by page: process_vm_readv stops at the first unreadable page.
    while got < buf.len() {
        let at = pc + got;
        let want = (buf.len() - got).min(4096 - (at & 4095));
        let n = read_own(at, &mut buf[got..got + want]);
        if n == 0 {
            break;
        }
        got += n;
    }
    got as u8
}

/// Copies our own memory at `addr` into `dst` through the kernel (EFAULT
/// instead of a fault): the number of bytes read, 0 when none could be.
pub fn read_own(addr: usize, dst: &mut [u8]) -> usize {
    let local = libc::iovec {
        iov_base: dst.as_mut_ptr().cast(),
        iov_len: dst.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: dst.len(),
    };
    // SAFETY: reads our own memory through the kernel into `dst`.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    n.max(0) as usize
}

/// Reports the data access that raised SIGSEGV (`si_code` > 0: the kernel's,
/// not a `kill`; a general protection fault carries the registers instead
/// of an address, see [`SI_KERNEL`]). The analyzer prints Valgrind's
/// "Invalid read/write of size N" error for it; the signal itself is
/// reported afterwards (fatal) or the program's own handler runs
/// (chained).
///
/// Only what memcheck would call unaddressable is reported: an address in
/// no mapping (`SEGV_MAPERR`), or one the runtime knows as (next to) a heap
/// block. A write to read-only memory, or an access to a page the program
/// protected itself (garbage collectors, JIT write barriers), is not an
/// invalid access for memcheck, whose addressability ignores page
/// protections: it only prints "Bad permissions for mapped region" when
/// the signal kills the program.
///
/// A fault just below the stack pointer is a stack overflow, which
/// Valgrind reports as such, not as an invalid access: no record.
pub fn report_fault(
    sig: i32,
    code: i32,
    addr: usize,
    pc: usize,
    sp: usize,
    regs: &[u64; memdx_events::FAULT_REGS],
    ctx: *mut libc::c_void,
) {
    if sig != libc::SIGSEGV || !matches!(code, SEGV_MAPERR | SEGV_ACCERR | SI_KERNEL) {
        return;
    }
    if is_stack_overflow(addr, sp) {
        return;
    }
    // SAFETY: getpid has no preconditions.
    if report::OWNER_PID.load(Ordering::Relaxed) != unsafe { libc::getpid() } {
        return; // a vfork child: its parent's report
    }
    // Not entered: the fault is inside the runtime itself, which may hold
    // a table lock; report the access without describing the address.
    let entered = hooks::enter_runtime();
    let mut a = Access {
        kind: AccessKind::Fault,
        addr: addr as u64,
        signo: sig,
        si_code: code,
        pc: pc as u64,
        tid: hooks::thread_no(),
        stack: capture_fault_stack(pc, ctx),
        ..Access::default()
    };
    a.code_len = read_code(pc, &mut a.code);
    if entered {
        describe(addr, &mut a);
    }
    if code == SI_KERNEL {
        // No address: the reader computes it from the registers and the
        // instruction, and reports the access only when it is one no
        // process can map (a non-canonical address, as memcheck sees it).
        out::burst(|| {
            out::emit(|e| e.fault_regs(regs));
            send(&a);
        });
    } else if code == SEGV_MAPERR || a.place != Place::Unknown {
        send(&a);
    }
    if entered {
        hooks::leave_runtime();
    }
}

/// Whether a fault at `addr` with the stack pointer at `sp` is the stack
/// running out: the address just below (or at) the stack pointer.
pub fn is_stack_overflow(addr: usize, sp: usize) -> bool {
    addr < sp.saturating_add(4096) && addr > sp.saturating_sub(1 << 20)
}

/// Whether `len` bytes (16 at most) at `addr` can be read, without
/// faulting.
pub fn readable(addr: usize, len: usize) -> bool {
    let mut buf = [0u8; 16];
    let len = len.min(buf.len());
    addr != 0 && len != 0 && read_own(addr, &mut buf[..len]) == len
}

/// `si_code` of SIGSEGV for an address in no mapping, and for one whose
/// mapping does not allow the access.
pub const SEGV_MAPERR: i32 = 1;
const SEGV_ACCERR: i32 = 2;
/// `si_code` of a SIGSEGV the kernel raised for a general protection fault
/// (a non-canonical address, a misaligned SSE operand, a privileged
/// instruction): no fault address.
const SI_KERNEL: i32 = 0x80;

static MAIN_ALT: AtomicBool = AtomicBool::new(false);

/// Gives the calling thread an alternate signal stack of [`ALT_STACK`]
/// bytes (mmap'd, registered as the runtime's private memory so the leak
/// scan skips it, a guard page below) unless it already has one.
pub fn install_alt_stack() {
    if MAIN_ALT.swap(true, Ordering::AcqRel) {
        return;
    }
    map_report_stack();
    // SAFETY: querying and setting this thread's alternate stack; the
    // mapping is checked and never unmapped (the thread may be handling a
    // signal on it at any time).
    unsafe {
        let mut cur: libc::stack_t = core::mem::zeroed();
        if libc::sigaltstack(core::ptr::null(), &mut cur) != 0
            || cur.ss_flags & libc::SS_DISABLE == 0
        {
            return;
        }
        let base = sys::map_private(ALT_STACK + 4096);
        if base.is_null() {
            return;
        }
        libc::mprotect(base.cast(), 4096, libc::PROT_NONE);
        let ss = libc::stack_t {
            ss_sp: base.add(4096).cast(),
            ss_flags: 0,
            ss_size: ALT_STACK,
        };
        libc::sigaltstack(&ss, core::ptr::null_mut());
    }
}

/// Bytes of the report stack: where a report runs when the signal handler
/// is on a small alternate stack the program set up (16 KiB is common;
/// the end-of-process report needs a few hundred KiB). Mapped at start
/// with a guard page below; pages are committed only when touched.
const REPORT_STACK: usize = 1 << 20;

/// The top of the report stack (0: none), and whether a report runs on it.
static REPORT_TOP: AtomicUsize = AtomicUsize::new(0);
static REPORT_BUSY: AtomicBool = AtomicBool::new(false);

/// Maps the report stack (registered as the runtime's private memory, so
/// the leak scan skips it).
fn map_report_stack() {
    let base = sys::map_private(REPORT_STACK + 4096);
    if base.is_null() {
        return;
    }
    // SAFETY: the first page of our own mapping becomes the guard page.
    unsafe { libc::mprotect(base.cast(), 4096, libc::PROT_NONE) };
    REPORT_TOP.store(base as usize + 4096 + REPORT_STACK, Ordering::Release);
}

/// Bytes of stack left below this frame when running on an alternate
/// signal stack; `usize::MAX` on the thread's normal stack.
pub fn stack_room() -> usize {
    // SAFETY: querying the current alternate stack.
    unsafe {
        let mut ss: libc::stack_t = core::mem::zeroed();
        if libc::sigaltstack(core::ptr::null(), &mut ss) != 0 || ss.ss_flags & libc::SS_ONSTACK == 0
        {
            return usize::MAX;
        }
        let here = &ss as *const libc::stack_t as usize;
        here.saturating_sub(ss.ss_sp as usize)
    }
}

/// Whether `sp` lies in this thread's alternate signal stack.
pub fn on_alt_stack(sp: usize) -> bool {
    // SAFETY: querying the current alternate stack.
    unsafe {
        let mut ss: libc::stack_t = core::mem::zeroed();
        libc::sigaltstack(core::ptr::null(), &mut ss) == 0
            && ss.ss_flags & libc::SS_DISABLE == 0
            && sp >= ss.ss_sp as usize
            && sp < (ss.ss_sp as usize).saturating_add(ss.ss_size)
    }
}

// memdx_call_on_stack(f, arg, top): calls f(arg) with the stack pointer at
// `top` (aligned down to 16 bytes) and returns on the caller's stack. The
// frame keeps the caller's stack pointer in rbp and says so in its unwind
// information, so a stack captured inside f reaches the caller's frames.
core::arch::global_asm!(
    ".pushsection .text.memdx_call_on_stack,\"ax\",@progbits",
    ".p2align 4",
    ".globl memdx_call_on_stack",
    ".hidden memdx_call_on_stack",
    ".type memdx_call_on_stack,@function",
    "memdx_call_on_stack:",
    ".cfi_startproc",
    "push rbp",
    ".cfi_def_cfa_offset 16",
    ".cfi_offset rbp, -16",
    "mov rbp, rsp",
    ".cfi_def_cfa_register rbp",
    "mov rsp, rdx",
    "and rsp, -16",
    "mov rax, rdi",
    "mov rdi, rsi",
    "call rax",
    "mov rsp, rbp",
    ".cfi_def_cfa_register rsp",
    "pop rbp",
    ".cfi_def_cfa_offset 8",
    "ret",
    ".cfi_endproc",
    ".size memdx_call_on_stack, .-memdx_call_on_stack",
    ".popsection",
);

extern "C" {
    fn memdx_call_on_stack(f: extern "C" fn(*mut libc::c_void), arg: *mut libc::c_void, top: usize);
}

extern "C" fn call_closure(arg: *mut libc::c_void) {
    // SAFETY: `with_stack` passes a live `&mut dyn FnMut()`.
    let f = unsafe { &mut *arg.cast::<&mut dyn FnMut()>() };
    f();
}

/// Runs `f` with at least `need` bytes of stack: here when there is room
/// (the thread's own stack, or an alternate signal stack big enough), else
/// on the report stack. When that is in use too (another thread reports),
/// `f` is skipped rather than risking an overflow that would turn the
/// program's death into a different one.
pub fn with_stack(need: usize, mut f: impl FnMut()) {
    if stack_room() >= need {
        f();
        return;
    }
    let top = REPORT_TOP.load(Ordering::Acquire);
    if top == 0 || REPORT_BUSY.swap(true, Ordering::AcqRel) {
        return;
    }
    let mut dynf: &mut dyn FnMut() = &mut f;
    // SAFETY: the report stack is ours (REPORT_BUSY) and mapped; the
    // closure outlives the call.
    unsafe {
        memdx_call_on_stack(
            call_closure,
            (&mut dynf as *mut &mut dyn FnMut()).cast(),
            top,
        )
    };
    REPORT_BUSY.store(false, Ordering::Release);
}
