//! Signal dispositions: which fatal signals the runtime reports, its
//! handler installed for them, and the interposed `sigaction` and `signal`
//! that keep that handler invisible to the program and chain the program's
//! own SIGSEGV, SIGBUS and SIGTRAP handlers behind it. The handler itself
//! is in `fatal`.

use core::sync::atomic::Ordering;

use crate::fatal::fatal_handler;
use crate::{guard, profile, sys};

/// Fatal signals whose default action kills the process: the report runs
/// first, then the signal is re-raised with its default action. These
/// nine are mostly raised by the thread's own action (a fault, abort, a
/// write to a closed pipe or past the file size limit, a forbidden system
/// call); the rest ([`ASYNC`]) come from outside (kill(2), a terminal, a
/// timer). A signal sent by a process (`si_code <= 0`) or one of [`ASYNC`]
/// can land while the thread is inside the runtime, holding one of its
/// locks: its report is deferred until the thread is out (see
/// [`defer_if_in_runtime`]).
const SYNC: [i32; 9] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGABRT,
    libc::SIGTRAP,
    libc::SIGPIPE,
    libc::SIGXFSZ,
    libc::SIGSYS,
];

/// Every fatal signal the runtime reports: [`SYNC`] and [`ASYNC`].
pub(crate) fn fatal_signals() -> impl Iterator<Item = i32> {
    SYNC.into_iter().chain(ASYNC)
}

/// The fatal signals that arrive asynchronously (from another process, a
/// terminal or a timer), whatever their `si_code`. They are blocked while
/// the runtime's handler runs, so a second one cannot cut a report short.
const ASYNC: [i32; 13] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGTERM,
    libc::SIGSTKFLT,
    libc::SIGXCPU,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGIO,
    libc::SIGPWR,
];

/// Whether this delivery of `sig` may have interrupted the thread anywhere
/// (sent by a process: kill, tgkill, sigqueue, a POSIX timer; or one of
/// [`ASYNC`]), rather than being caused by the interrupted instruction.
pub(crate) fn asynchronous(sig: i32, code: i32) -> bool {
    code <= 0 || ASYNC.contains(&sig)
}

/// Adds [`ASYNC`] to `mask`.
pub(crate) fn block_async(mask: &mut libc::sigset_t) {
    for s in ASYNC {
        // SAFETY: a valid set and signal number.
        unsafe { libc::sigaddset(mask, s) };
    }
}

/// Installs the runtime's handler for `sig` with the default action's
/// meaning (report, then die by the signal).
///
/// # Safety
/// Changes the process's disposition of `sig`.
pub(crate) unsafe fn install_fatal(sig: i32) {
    // SAFETY: a zeroed sigaction is valid; glibc's own sigaction.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = fatal_handler as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        block_async(&mut sa.sa_mask);
        __sigaction(sig, &sa, core::ptr::null_mut());
    }
}

/// Whether `act` gives fatal signal `sig` its default action. Also for a
/// signal that was ignored when the program started (run under `nohup`, a
/// background job): once the program sets the default action, the signal
/// kills it natively, and Valgrind reports that death.
fn sets_default(sig: libc::c_int, act: &libc::sigaction) -> bool {
    fatal_signals().any(|f| f == sig) && act.sa_sigaction == libc::SIG_DFL
}

/// Signals whose program handlers are chained behind the runtime's (so an
/// invalid access is reported before the program's handler runs, as under
/// Valgrind): SIGSEGV and SIGBUS; and SIGTRAP, whose trap after a
/// single-stepped instruction is the runtime's (see `step`).
const CHAIN: [i32; 3] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGTRAP];

/// Index of SIGTRAP in [`CHAIN`].
const CHAIN_TRAP: usize = 2;

/// The program's handler for each signal of [`CHAIN`], when it installed
/// one (then the kernel has the runtime's handler in its place).
static CHAINED: [core::sync::atomic::AtomicBool; 3] =
    [const { core::sync::atomic::AtomicBool::new(false) }; 3];
static PROGRAM_ACT: sys::Racy<[libc::sigaction; 3]> =
    // SAFETY: all-zero is a valid sigaction.
    sys::Racy::new(unsafe { core::mem::zeroed() });

fn chain_index(sig: i32) -> Option<usize> {
    CHAIN.iter().position(|&s| s == sig)
}

/// Runs the program's own handler for `sig` (chained). Returns false when
/// there is none.
pub(crate) fn call_program_handler(
    sig: i32,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) -> bool {
    let Some(i) = chain_index(sig) else {
        return false;
    };
    if !CHAINED[i].load(Ordering::Acquire) {
        return false;
    }
    // SAFETY: PROGRAM_ACT[i] was written before CHAINED[i] was set.
    let act = unsafe { (*PROGRAM_ACT.get())[i] };
    if act.sa_sigaction == libc::SIG_IGN {
        // Only SIGTRAP is chained when ignored (see `ensure_trap_handler`):
        // one sent by a process is ignored; a trap the program's own
        // instruction raised kills it natively (the kernel resets an
        // ignored forced signal), so it goes on to the fatal report.
        // SAFETY: the kernel passes a valid siginfo pointer (or null).
        let code = unsafe { info.as_ref() }.map_or(0, |i| i.si_code);
        return asynchronous(sig, code);
    }
    if act.sa_flags & libc::SA_RESETHAND != 0 {
        // One-shot handler: the disposition becomes the default one, which
        // under memdx is the runtime's fatal handler.
        CHAINED[i].store(false, Ordering::Release);
        // SAFETY: reinstalling the runtime's handler for a chained signal.
        unsafe { install_fatal(sig) };
    }
    // The handler runs with SIGSEGV blocked (the signal itself without
    // SA_NODEFER, or its mask): a watched page it touches (Rust's
    // stack-overflow handler reads its thread's data) would kill the
    // process.
    if current_mask_blocks_fault() {
        crate::watch::stop(true);
    }
    // SAFETY: calling the handler the program registered, with the
    // kernel's arguments, as the kernel would have.
    unsafe {
        if act.sa_flags & libc::SA_SIGINFO != 0 {
            let h: extern "C" fn(i32, *mut libc::siginfo_t, *mut libc::c_void) =
                core::mem::transmute(act.sa_sigaction);
            h(sig, info, ctx);
        } else {
            let h: extern "C" fn(i32) = core::mem::transmute(act.sa_sigaction);
            h(sig);
        }
    }
    true
}

/// Whether this thread runs with SIGSEGV blocked now (the raw system
/// call: no hook, nothing allocated).
fn current_mask_blocks_fault() -> bool {
    crate::watch::current_mask().is_some_and(|m| crate::watch::mask_blocks_fault(&m))
}

/// Makes sure the runtime's handler receives SIGTRAP (a single-step trap
/// it asked for must not reach a handler of the program's, nor kill a
/// program that ignores or has the default action for it). The
/// constructor installs it unless SIGTRAP was ignored at start, and the
/// interposed `sigaction` keeps it in front; one installed behind the
/// interposition (a raw system call) is chained here. False when it
/// cannot be installed.
pub(crate) fn ensure_trap_handler() -> bool {
    let ours = fatal_handler as *const () as usize;
    // SAFETY: a zeroed sigaction is valid; glibc's own sigaction.
    unsafe {
        let mut cur: libc::sigaction = core::mem::zeroed();
        if __sigaction(libc::SIGTRAP, core::ptr::null(), &mut cur) != 0 {
            return false;
        }
        if cur.sa_sigaction == ours {
            return true;
        }
        if cur.sa_sigaction != libc::SIG_DFL {
            (*PROGRAM_ACT.get())[CHAIN_TRAP] = cur;
            CHAINED[CHAIN_TRAP].store(true, Ordering::Release);
        }
        install_fatal(libc::SIGTRAP);
        let mut now: libc::sigaction = core::mem::zeroed();
        __sigaction(libc::SIGTRAP, core::ptr::null(), &mut now) == 0 && now.sa_sigaction == ours
    }
}

extern "C" {
    /// glibc's sigaction under its other exported name.
    pub(crate) fn __sigaction(
        sig: libc::c_int,
        act: *const libc::sigaction,
        old: *mut libc::sigaction,
    ) -> libc::c_int;
}

/// sigaction(2), interposed only to keep the runtime's fatal-signal
/// handlers invisible: a program (Rust's runtime, for one) that asks whether
/// SIGSEGV still has its default action must get the answer it would get
/// without memdx, or it changes what it does (Rust then skips its stack
/// overflow handler). Installing a handler replaces ours, as it would
/// replace the default.
///
/// # Safety
/// sigaction(2)'s contract.
///
/// Setting the default action of one of the fatal signals installs the
/// runtime's handler instead (which reports, then dies by the default
/// action): a program whose own handler cleans up, restores the default and
/// re-raises (coreutils `sort` on SIGPIPE) still gets its report.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn sigaction(
    sig: libc::c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> libc::c_int {
    // The kernel reads and writes these: not on a watched page.
    guard::unwatch_range(act as usize, 1);
    guard::unwatch_range(old as usize, 1);
    // A handler of the program's that runs with SIGSEGV blocked could
    // touch a watched page (see `watch::stop`); the chained SIGSEGV
    // handler's own blocking is seen when it is called
    // (`call_program_handler`). The runtime's own handlers (suspend.rs's,
    // installed under the guard pool's lock) touch none.
    if sig != libc::SIGSEGV && !act.is_null() {
        // SAFETY: the caller's act is readable when not null.
        let (h, mask) = unsafe { ((*act).sa_sigaction, &(*act).sa_mask) };
        let own = crate::stacks::SELF_LO.load(Ordering::Relaxed)
            ..crate::stacks::SELF_HI.load(Ordering::Relaxed);
        if h != libc::SIG_DFL
            && h != libc::SIG_IGN
            && !own.contains(&h)
            && crate::watch::mask_blocks_fault(mask)
        {
            crate::watch::stop(false);
        }
    }
    if profile::on() {
        // No handler of the runtime's to hide in profiling mode.
        // SAFETY: forwarded to glibc with the caller's pointers.
        return unsafe { __sigaction(sig, act, old) };
    }
    if let Some(i) = chain_index(sig) {
        // SAFETY: sigaction's contract for the caller's pointers.
        return unsafe { chained_sigaction(i, sig, act, old) };
    }
    // A program restoring the default action of a fatal signal (sort's
    // "clean up, SIG_DFL, raise") gets the runtime's handler back, so the
    // report still runs; queries keep answering SIG_DFL.
    // SAFETY: a zeroed sigaction is valid.
    let mut ours: libc::sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: the caller's act is readable when not null.
    let act = if !act.is_null() && unsafe { sets_default(sig, &*act) } {
        // SAFETY: copying the caller's mask into our replacement.
        unsafe {
            ours.sa_mask = (*act).sa_mask;
        }
        block_async(&mut ours.sa_mask);
        ours.sa_sigaction = fatal_handler as *const () as usize;
        ours.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
        &ours as *const libc::sigaction
    } else {
        act
    };
    // SAFETY: forwarded to glibc with the caller's pointers.
    let r = unsafe { __sigaction(sig, act, old) };
    if r == 0 && !old.is_null() && fatal_signals().any(|f| f == sig) {
        // SAFETY: glibc filled *old.
        unsafe {
            if (*old).sa_sigaction == fatal_handler as *const () as usize {
                (*old).sa_sigaction = libc::SIG_DFL;
                (*old).sa_flags = 0;
                libc::sigemptyset(&mut (*old).sa_mask);
            }
        }
    }
    r
}

/// signal(2), as glibc implements it (BSD semantics: `SA_RESTART`, the
/// signal blocked in its handler), through the interposed `sigaction`, so
/// a SIGSEGV handler installed with `signal()` is chained too.
///
/// # Safety
/// signal(2)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn signal(
    sig: libc::c_int,
    handler: libc::sighandler_t,
) -> libc::sighandler_t {
    // SAFETY: a zeroed sigaction is valid; our sigaction with local structs.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = handler;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaddset(&mut sa.sa_mask, sig) != 0 {
            return libc::SIG_ERR;
        }
        let mut old: libc::sigaction = core::mem::zeroed();
        if sigaction(sig, &sa, &mut old) != 0 {
            return libc::SIG_ERR;
        }
        old.sa_sigaction
    }
}

/// sigaction for SIGSEGV and SIGBUS: a program handler is remembered and
/// the runtime's stays installed in front of it (with the program's mask
/// and flags, so the kernel treats the signal as the program asked);
/// queries see the program's handler, or the default action.
///
/// # Safety
/// sigaction(2)'s contract.
unsafe fn chained_sigaction(
    i: usize,
    sig: libc::c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> libc::c_int {
    // SAFETY: the caller's pointers, checked for null; glibc's sigaction.
    unsafe {
        let mut prev: libc::sigaction = core::mem::zeroed();
        let r = __sigaction(sig, core::ptr::null(), &mut prev);
        if r != 0 {
            return r;
        }
        let ours = fatal_handler as *const () as usize;
        let was_chained = CHAINED[i].load(Ordering::Acquire);
        let shown = if was_chained {
            (*PROGRAM_ACT.get())[i]
        } else if prev.sa_sigaction == ours {
            let mut dfl: libc::sigaction = core::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            dfl
        } else {
            prev
        };
        if !act.is_null() {
            let h = (*act).sa_sigaction;
            if h == libc::SIG_DFL {
                CHAINED[i].store(false, Ordering::Release);
                install_fatal(sig);
            } else if h == libc::SIG_IGN {
                CHAINED[i].store(false, Ordering::Release);
                let r = __sigaction(sig, act, core::ptr::null_mut());
                if r != 0 {
                    return r;
                }
            } else {
                let mut sa = *act;
                sa.sa_sigaction = ours;
                sa.sa_flags = ((*act).sa_flags | libc::SA_SIGINFO) & !libc::SA_RESETHAND;
                CHAINED[i].store(false, Ordering::Release);
                (*PROGRAM_ACT.get())[i] = *act;
                let r = __sigaction(sig, &sa, core::ptr::null_mut());
                if r != 0 {
                    return r;
                }
                CHAINED[i].store(true, Ordering::Release);
            }
        }
        if !old.is_null() {
            *old = shown;
        }
        0
    }
}
