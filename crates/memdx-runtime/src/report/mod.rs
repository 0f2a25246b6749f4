//! The end-of-process report: freeres, stop the other threads, scan the
//! roots and the heap (see `leak`), send heap totals and loss records.
//!
//! Lock order while the world is stopped: all table shards, then the stack
//! interner and the output lock, then the other threads are suspended. A
//! suspended thread therefore holds none of the runtime's locks; the runtime
//! itself allocates only private memory (`mmap`) from here on.

//!
//! Its parts: `exit` (where the program left: the caller of `exit`, the
//! C library's freeres, stdio buffers), `blocks` (block headers read even
//! from protected pages), `scan` (the stopped world: totals, roots, the
//! marking), `damage` (redzones and poison checked at exit), `loss` (loss
//! records sent).

mod blocks;
mod damage;
mod exit;
mod loss;
mod scan;

pub use exit::EXIT_FN;

use exit::{discard_stdio_buffers, exit_caller_sp, leave_for_freeres, run_freeres};
use scan::scan_and_send;

use core::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use crate::hooks;
use crate::out;
use crate::suspend::for_each_task;
use crate::sys;

static DONE: AtomicBool = AtomicBool::new(false);
/// The thread holding the runtime's locks for the scan (0: none). A fault
/// of that thread that the scan did not expect (not one of `catch`'s)
/// must not go through the fault handler's report: it would wait for
/// those locks for ever.
static REPORTING_TID: AtomicI32 = AtomicI32::new(0);

/// Whether this thread holds the runtime's locks for the scan.
pub fn reporting_here() -> bool {
    let tid = REPORTING_TID.load(Ordering::Acquire);
    tid != 0 && tid == sys::gettid()
}
/// The pid whose report this is (a vfork child shares our memory but not
/// our pid, and must not run the report).
pub static OWNER_PID: AtomicI32 = AtomicI32::new(0);
/// `MEMDX_DEBUG_ROOTS`: print which root made which block reachable.
pub static DEBUG_ROOTS: AtomicBool = AtomicBool::new(false);
/// `--leak-check=no` turns the scan off (totals are still sent).
pub static LEAK_CHECK: AtomicBool = AtomicBool::new(true);

/// Set when the report runs from the runtime's ELF destructor, i.e. inside
/// `exit()`, which flushes stdio itself. Any other report without a fatal
/// signal comes from `_exit`/`_Exit`, which must not flush it.
static FROM_EXIT: AtomicBool = AtomicBool::new(false);

/// The report at `exit()` (the runtime's ELF destructor).
pub fn final_report_at_exit() {
    FROM_EXIT.store(true, Ordering::Relaxed);
    final_report(None);
}

/// Forget that the report ran (fork child).
pub fn reset_in_child() {
    DONE.store(false, Ordering::Relaxed);
    REPORTING_TID.store(0, Ordering::Relaxed);
}

/// The signal a process is dying from, as its handler saw it.
pub struct Fatal {
    pub signo: i32,
    pub code: i32,
    /// The fault address (`si_addr`).
    pub addr: usize,
    /// The interrupted pc and stack pointer.
    pub pc: usize,
    pub sp: usize,
    /// Where this thread's stack is scanned from: `sp`, or, for a signal
    /// raised from a program's handler on its alternate stack, the stack
    /// pointer that handler's signal interrupted.
    pub scan_sp: usize,
    /// The signal's context (the kernel's ucontext).
    pub ctx: *mut libc::c_void,
}

/// Runs the end-of-process report once. `fatal` describes the signal when
/// the process is dying from one.
pub fn final_report(fatal: Option<&Fatal>) {
    // SAFETY: getpid has no preconditions.
    if OWNER_PID.load(Ordering::Relaxed) != unsafe { libc::getpid() } {
        return;
    }
    if DONE.swap(true, Ordering::AcqRel) {
        return;
    }
    crate::effects::write_sites();
    let entered = hooks::enter_runtime();
    // Memory the program made unreadable (protected or unmapped heap
    // pages, a file mapping past the end of its file) and a smashed stack
    // are read fault-tolerantly from here on (see `catch`).
    let armed = crate::catch::Armed::new();
    // The whole report is one burst: its own connection, held from here to
    // the end (and taken before any other lock of the runtime).
    out::burst(|| report_body(fatal, entered));
    drop(armed);
    if entered {
        hooks::leave_runtime();
    }
}

/// The end-of-process report, inside its burst.
fn report_body(fatal: Option<&Fatal>, entered: bool) {
    if let Some(&Fatal {
        signo,
        code,
        addr,
        pc,
        sp,
        ctx,
        ..
    }) = fatal
    {
        // As Valgrind: when the stack pointer itself is not readable (the
        // stack overflowed past its end) only the faulting instruction is
        // shown; a stack overflow of the main thread is named before and
        // after "Process terminating" ("can't grow stack to" the page of
        // the stack pointer less the 128-byte red zone).
        let stack = if crate::access::readable(sp, 8) {
            after_syscall(crate::access::capture_fault_stack(pc, ctx), pc)
        } else {
            crate::stacks::intern(&[pc as u64])
        };
        out::ensure_modules();
        out::ensure_stack(stack);
        if signo == libc::SIGSEGV
            && code == crate::access::SEGV_MAPERR
            && crate::access::is_stack_overflow(addr, sp)
            && hooks::thread_no() == 1
        {
            let base = (sp.wrapping_sub(128) & !4095) as u64;
            out::emit(|e| e.stack_overflow(1, base));
        }
        out::emit(|e| e.fatal_signal(signo, code, addr as u64, stack));
        out::wait_ack();
    } else {
        // Look libstdc++'s freeres up as runtime work (a failed dlsym
        // allocates its error message), then run both as the program would.
        // SAFETY: dlsym with a static name.
        let cxx = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"_ZN9__gnu_cxx9__freeresEv".as_ptr()) };
        // freeres frees buffers other threads may still be using: run it
        // only when this thread is alone (Valgrind stops the others first;
        // here they would still run after the report).
        let count = || {
            let mut threads = 0;
            for_each_task(|_| threads += 1);
            threads
        };
        let mut threads = count();
        // A thread the program has joined can still be listed for a
        // moment: pthread_join returns when the kernel clears the thread's
        // tid, and the task goes from /proc only once it has finished
        // exiting (seen on a loaded machine: the joined thread's stack,
        // not freed by the skipped freeres, kept its leak reachable).
        // Such a thread gets up to 10 ms to go.
        for _ in 0..20 {
            if threads <= 1 {
                break;
            }
            sys::sleep_us(500);
            threads = count();
        }
        if threads <= 1 {
            if !FROM_EXIT.load(Ordering::Relaxed) {
                discard_stdio_buffers();
            }
            leave_for_freeres(entered);
            run_freeres(cxx);
            hooks::enter_runtime();
        }
    }
    // The scan of this thread's stack starts at the caller of exit() (or
    // _exit()) when the program is exiting normally: Valgrind scans at exit_group, when
    // exit()'s own frames (and _dl_fini's, and ours) are gone, and stale
    // copies of pointers in them would otherwise keep lost blocks reachable.
    // Otherwise it starts at this frame: the runtime's own deeper frames
    // (which hold block addresses while scanning) are never scanned.
    let marker_frame = 0usize;
    let here = &marker_frame as *const usize as usize;
    // On a fatal signal, the scan starts at the interrupted stack pointer:
    // the signal frame (and the registers saved in it) is not the
    // program's memory; Valgrind has no such frame on the client stack.
    let my_sp = match fatal {
        None => exit_caller_sp().filter(|&sp| sp > here).unwrap_or(here),
        Some(f) if f.scan_sp != 0 => f.scan_sp,
        Some(_) => here,
    };
    let scanned = LEAK_CHECK.load(Ordering::Relaxed);
    let totals = scan_and_send(my_sp, scanned);
    out::ensure_modules();
    out::emit(|e| {
        e.heap_totals(&totals);
        e.report_end(scanned);
    });
    out::wait_ack();
}

/// A signal that interrupted a system call the kernel will restart leaves
/// the pc on the `syscall` instruction (0f 05); Valgrind shows the thread
/// after it (where it is while in the kernel). Frame 0 of `stack` is moved
/// there.
fn after_syscall(stack: u32, pc: usize) -> u32 {
    // Read through the kernel: the pc may be a wild jump's target.
    let mut code = [0u8; 2];
    let at_syscall = pc != 0 && crate::access::read_own(pc, &mut code) == 2 && code == [0x0f, 0x05];
    if !at_syscall {
        return stack;
    }
    let Some(rec) = crate::stacks::get(stack) else {
        return stack;
    };
    let n = (rec.n as usize).min(rec.frames.len());
    let mut frames = [0u64; crate::stacks::CAPTURE];
    for (d, s) in frames.iter_mut().zip(rec.frames.iter().take(n)) {
        *d = *s;
    }
    frames[0] = pc as u64 + 2;
    crate::stacks::intern(frames.get(..n.max(1)).unwrap_or(&[]))
}
