//! The runtime's handler of fatal signals (`fatal_handler`): the
//! runtime's own recoverable faults and single-step traps, invalid accesses
//! (reported, then the program's chained handler or the guard page opened),
//! and the end-of-process report before the process dies by the signal;
//! an asynchronous signal that interrupted the runtime is deferred.

use core::sync::atomic::Ordering;

use crate::signals::{__sigaction, asynchronous, call_program_handler};
use crate::{access, catch, guard, held, report, stacks, step, sys, tls};

/// The general registers of a signal's context, in the order of
/// `memdx_events::Event::FaultRegs` (zeros without a context).
fn fault_regs(ctx: *mut libc::c_void) -> [u64; memdx_events::FAULT_REGS] {
    let mut regs = [0u64; memdx_events::FAULT_REGS];
    if ctx.is_null() {
        return regs;
    }
    // SAFETY: the kernel passes a valid ucontext.
    let g = unsafe { &(*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    let order = [
        libc::REG_RAX,
        libc::REG_RCX,
        libc::REG_RDX,
        libc::REG_RBX,
        libc::REG_RSP,
        libc::REG_RBP,
        libc::REG_RSI,
        libc::REG_RDI,
        libc::REG_R8,
        libc::REG_R9,
        libc::REG_R10,
        libc::REG_R11,
        libc::REG_R12,
        libc::REG_R13,
        libc::REG_R14,
        libc::REG_R15,
    ];
    for (r, i) in regs.iter_mut().zip(order) {
        *r = g[i as usize] as u64;
    }
    // The handler runs on the faulting thread: its fs base is ours.
    regs[16] = tls::thread_pointer() as u64;
    regs
}

pub(crate) extern "C" fn fatal_handler(
    sig: i32,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    // A fault of the runtime's own fault-tolerant reads (the report's scan
    // of memory the program made unreadable, the walk of a smashed stack):
    // resume at the recovery point, nothing else.
    if catch::recover(sig, info, ctx) {
        return;
    }
    // The trap after an instruction that ran with a guard page opened for
    // it: the page is closed again (nothing else; the program never sees
    // this trap).
    if sig == libc::SIGTRAP {
        // SAFETY: the kernel passes a valid siginfo pointer (or null).
        let code = unsafe { info.as_ref() }.map_or(0, |i| i.si_code);
        if step::on_trap(code, ctx) {
            return;
        }
    }
    // SAFETY: the kernel passes valid siginfo and ucontext pointers.
    let (code, addr, pc, sp) = unsafe {
        let (code, addr) = if info.is_null() {
            (0, 0)
        } else {
            ((*info).si_code, (*info).si_addr() as usize)
        };
        let (pc, sp) = if ctx.is_null() {
            (0, 0)
        } else {
            let g = &(*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs;
            (
                g[libc::REG_RIP as usize] as usize,
                g[libc::REG_RSP as usize] as usize,
            )
        };
        (code, addr, pc, sp)
    };
    let regs = fault_regs(ctx);
    let asynchronous = asynchronous(sig, code);
    if !asynchronous && report::reporting_here() {
        // A fault in the report itself (a runtime bug): die by it now
        // rather than wait for the locks this thread holds.
        die_by(sig);
        return;
    }
    if asynchronous && defer_if_in_runtime(sig, pc) {
        return;
    }
    // An invalid access is reported first (Valgrind reports it before the
    // signal is delivered); then the program's own handler runs, if it
    // installed one. The reports need tens of KiB of stack: on a small
    // alternate signal stack (the program's own) they run on the
    // runtime's report stack.
    let report_access = || {
        let _armed = catch::Armed::new();
        access::report_fault(sig, code, addr, pc, sp, &regs, ctx);
    };
    // A guarded block's guard page, or a freed guarded block: report the
    // access, open the page and let the instruction run again (as under
    // Valgrind, an invalid access is reported and the program goes on).
    if sig == libc::SIGSEGV && !asynchronous {
        if let Some(hit) = guard::on_fault(addr, pc) {
            if hit.report {
                access::with_stack(64 * 1024, report_access);
            }
            // Opened now (not before the report: another thread's access
            // meanwhile faults and is reported too), and closed again once
            // the instruction has run, so that the next access to the same
            // place is reported too.
            step::open(ctx, hit.page, hit.rearm);
            return;
        }
        // A big freed block held until the next allocation: likewise.
        if let Some((page, rearm)) = held::on_fault(addr) {
            access::with_stack(64 * 1024, report_access);
            step::open(ctx, page, rearm);
            return;
        }
    }
    access::with_stack(64 * 1024, report_access);
    // A fatal signal the program's handler raises (abort() from a handler
    // on its alternate stack, as Rust's stack-overflow handler does) scans
    // this thread's stack from where this signal interrupted it.
    let td = tls::get();
    let outer = td.outer_sp.get();
    if outer == 0 {
        td.outer_sp.set(sp);
    }
    let handled = call_program_handler(sig, info, ctx);
    td.outer_sp.set(outer);
    if handled {
        return;
    }
    let scan_sp = match outer {
        o if o != 0 && access::on_alt_stack(sp) => o,
        _ => sp,
    };
    let fatal = report::Fatal {
        signo: sig,
        code,
        addr,
        pc,
        sp,
        scan_sp,
        ctx,
    };
    access::with_stack(256 * 1024, || report::final_report(Some(&fatal)));
    die_by(sig);
}

/// Restores the default action of `sig` and re-raises it: the signal is
/// blocked while its handler runs, so it is delivered (and kills) when the
/// handler returns (a fault's instruction runs again and faults).
fn die_by(sig: i32) {
    // SAFETY: a zeroed sigaction is valid; tgkill to this thread.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = libc::SIG_DFL;
        // glibc's own: the interposed one would put the runtime's back.
        __sigaction(sig, &sa, core::ptr::null_mut());
        libc::syscall(libc::SYS_tgkill, libc::getpid(), sys::gettid(), sig);
    }
}

/// The kernel timer that re-sends a deferred asynchronous signal (-1: none).
static DEFER_TIMER: core::sync::atomic::AtomicI32 = core::sync::atomic::AtomicI32::new(-1);

/// How long a deferred signal waits before it is sent again (1 ms).
const DEFER_NS: i64 = 1_000_000;

/// Called for an asynchronous fatal signal before anything else: when the
/// interrupted thread is inside the runtime (a hook, the unwinder called by
/// one, glibc's allocator called by one, or the runtime's own work), it may
/// hold a lock the report needs, so the report cannot run now. The signal
/// is then sent again to this thread a millisecond later by a one-shot
/// POSIX timer (a syscall: nothing allocated, no lock taken), by which time
/// the hook has returned; returns true. The program meanwhile runs on as
/// if the signal had not arrived yet (it is asynchronous: it might have).
fn defer_if_in_runtime(sig: i32, pc: usize) -> bool {
    let old = DEFER_TIMER.swap(-1, Ordering::AcqRel);
    if old >= 0 {
        // SAFETY: deleting the timer this handler armed (it has fired).
        unsafe { libc::syscall(libc::SYS_timer_delete, old) };
    }
    if !interrupted_in_runtime(pc) {
        return false;
    }
    /// The kernel's `struct sigevent` (64 bytes) with `SIGEV_THREAD_ID`.
    #[repr(C)]
    struct SigEvent {
        value: usize,
        signo: i32,
        notify: i32,
        tid: i32,
        pad: [i32; 11],
    }
    const SIGEV_THREAD_ID: i32 = 4;
    let ev = SigEvent {
        value: 0,
        signo: sig,
        notify: SIGEV_THREAD_ID,
        tid: sys::gettid(),
        pad: [0; 11],
    };
    let mut id: i32 = -1;
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: 0,
            tv_nsec: DEFER_NS,
        },
    };
    // SAFETY: raw timer syscalls on local structures.
    unsafe {
        if libc::syscall(
            libc::SYS_timer_create,
            libc::CLOCK_MONOTONIC,
            &ev as *const SigEvent,
            &mut id as *mut i32,
        ) != 0
        {
            // No timer: report now rather than lose the report (the
            // previous behaviour was to die without one).
            return false;
        }
        if libc::syscall(
            libc::SYS_timer_settime,
            id,
            0,
            &spec as *const libc::itimerspec,
            core::ptr::null_mut::<libc::itimerspec>(),
        ) != 0
        {
            libc::syscall(libc::SYS_timer_delete, id);
            return false;
        }
    }
    DEFER_TIMER.store(id, Ordering::Release);
    true
}

/// The C library's mapped range, to tell its frames from the program's.
pub(crate) static LIBC_LO: core::sync::atomic::AtomicUsize =
    core::sync::atomic::AtomicUsize::new(0);
pub(crate) static LIBC_HI: core::sync::atomic::AtomicUsize =
    core::sync::atomic::AtomicUsize::new(0);

/// Whether `pc` is in the C library's text.
pub(crate) fn in_libc(pc: usize) -> bool {
    (LIBC_LO.load(Ordering::Relaxed)..LIBC_HI.load(Ordering::Relaxed)).contains(&pc)
}

/// Whether the thread a signal interrupted at `pc` is inside the runtime:
/// its re-entry flag is set, or, walking up from `pc` (unwound through the
/// signal frame), the first frame outside the C library is the runtime's
/// (a hook, possibly inside glibc's allocator). A runtime frame further up,
/// behind program code (the thread-start trampoline of `pthread_create`,
/// the fatal handler calling a program's chained handler), does not count.
fn interrupted_in_runtime(pc: usize) -> bool {
    if tls::get().in_hook.get() {
        return true;
    }
    let (lo, hi) = (
        stacks::SELF_LO.load(Ordering::Relaxed),
        stacks::SELF_HI.load(Ordering::Relaxed),
    );
    let (clo, chi) = (
        LIBC_LO.load(Ordering::Relaxed),
        LIBC_HI.load(Ordering::Relaxed),
    );
    let ours = |a: usize| a >= lo && a < hi;
    let libc = |a: usize| a >= clo && a < chi;
    if ours(pc) {
        return true;
    }
    if !libc(pc) {
        return false;
    }
    let mut raw = [core::ptr::null_mut::<libc::c_void>(); stacks::CAPTURE];
    // SAFETY: the buffer holds CAPTURE entries.
    let n = unsafe { sys::backtrace(raw.as_mut_ptr(), stacks::CAPTURE as i32) };
    let raw = raw
        .get(..(n.max(0) as usize).min(stacks::CAPTURE))
        .unwrap_or(&[]);
    // The handler's own frames come first, then the interrupted pc.
    let Some(s) = raw.iter().position(|&f| f as usize == pc) else {
        return false;
    };
    raw.iter()
        .skip(s + 1)
        .map(|&f| f as usize)
        .find(|&f| !libc(f))
        .is_some_and(ours)
}
