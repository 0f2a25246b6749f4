//! memdx's checker runtime, preloaded into the program under test by
//! `memdx check` (`LD_PRELOAD`).
//!
//! It interposes the whole malloc family and every C++ `operator new` /
//! `operator delete` variant (`hooks`), keeps a table of live blocks and a
//! quarantine of freed ones (`table`), reports bad frees as they happen and,
//! at exit, scans memory for leaks with Valgrind's classification (`leak`,
//! `report`). It sends addresses and ids only, over the event stream defined
//! in `memdx-events`; the `memdx` CLI symbolizes and renders.
//!
//! Configuration comes from the environment (set by the CLI):
//! `MEMDX_EVENTS_SOCK` (Unix socket to connect to), `MEMDX_NUM_CALLERS`,
//! `MEMDX_FREELIST_VOL`, `MEMDX_LEAK_CHECK` (`no` skips the scan),
//! `MEMDX_UNDEF_VALUE_ERRORS` (`no`: fresh blocks are not filled and
//! outgoing buffers not checked for uninitialised bytes, see `uninit`),
//! `MEMDX_TRACE_CHILDREN` (unless `yes`, `LD_PRELOAD` is removed from the
//! environment so exec'd programs run unchecked).
//!
//! Rules for code in this crate: nothing reachable from a hook may allocate
//! through `malloc` (the crate's own global allocator goes straight to
//! glibc, as a safety net), format text, take a lock held across a call into
//! libc's allocator, or panic. Only the allocator family, `_exit`/`_Exit`,
//! `sigaction`, `signal`, `daemon`, `pthread_create`, `dlclose` (the unwinder's
//! module generation) and the checked memory and string routines (`strmem`)
//! are exported (`exports.map`).

// Every unsafe block says why it is sound, every unsafe fn what its
// caller must guarantee.
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]
// Under `cargo test` the hooks are not exported (so the test binary keeps
// glibc's allocator), which leaves most of the crate unused.
#![cfg_attr(test, allow(dead_code))]

mod access;
mod attach;
mod catch;
mod effects;
mod guard;
mod handoff;
mod held;
mod hooks;
mod leak;
mod out;
mod profile;
mod report;
mod roots;
mod stacks;
mod stdio;
mod step;
mod strmem;
mod suspend;
mod sys;
mod syscalls;
mod table;
mod threads;
mod tls;
mod uninit;
mod unwind;
mod watch;

use core::sync::atomic::Ordering;

/// The runtime's own Rust allocations (there should be none on hook paths)
/// go straight to glibc, never through the interposed `malloc`.
struct LibcAlloc;

// SAFETY: forwards to glibc's allocator with its alignment guarantees.
unsafe impl core::alloc::GlobalAlloc for LibcAlloc {
    /// # Safety
    /// As [`core::alloc::GlobalAlloc::alloc`].
    unsafe fn alloc(&self, l: core::alloc::Layout) -> *mut u8 {
        // SAFETY: glibc memalign accepts any power-of-two alignment.
        unsafe { sys::__libc_memalign(l.align().max(16), l.size()).cast() }
    }
    /// # Safety
    /// As [`core::alloc::GlobalAlloc::dealloc`].
    unsafe fn dealloc(&self, p: *mut u8, _l: core::alloc::Layout) {
        // SAFETY: p came from alloc above.
        unsafe { sys::__libc_free(p.cast()) }
    }
}

#[cfg(not(test))]
#[global_allocator]
static GLOBAL: LibcAlloc = LibcAlloc;

#[cfg(not(test))]
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = init;

#[cfg(not(test))]
#[used]
#[link_section = ".fini_array"]
static FINI: extern "C" fn() = fini;

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
fn fatal_signals() -> impl Iterator<Item = i32> {
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
fn asynchronous(sig: i32, code: i32) -> bool {
    code <= 0 || ASYNC.contains(&sig)
}

/// Adds [`ASYNC`] to `mask`.
pub(crate) fn block_async(mask: &mut libc::sigset_t) {
    for s in ASYNC {
        // SAFETY: a valid set and signal number.
        unsafe { libc::sigaddset(mask, s) };
    }
}

/// Whether this library was loaded with the program through LD_PRELOAD
/// (its thread-local data is then in the static TLS block).
fn preloaded() -> bool {
    let Some(list) = sys::getenv(c"LD_PRELOAD") else {
        return false;
    };
    // SAFETY: dladdr on our own function; dli_fname is a C string owned by
    // the loader.
    let name = unsafe {
        let mut info: libc::Dl_info = core::mem::zeroed();
        if libc::dladdr(init as *const libc::c_void, &mut info) == 0 || info.dli_fname.is_null() {
            return false;
        }
        core::ffi::CStr::from_ptr(info.dli_fname).to_bytes()
    };
    let base = name.rsplit(|&b| b == b'/').next().unwrap_or(name);
    !base.is_empty()
        && list
            .split(|&b| b == b':' || b == b' ')
            .any(|item| item.rsplit(|&b| b == b'/').next() == Some(base))
}

extern "C" fn init() {
    if attach::decide_at_load() {
        // Loaded by `memdx heap --pid` (dlopen through ptrace): nothing
        // until it calls `memdx_attach`.
        return;
    }
    let entered = hooks::enter_runtime();
    if profile::on() {
        // `memdx heap`: none of the checker's machinery.
        profile::init();
        if entered {
            hooks::leave_runtime();
        }
        return;
    }
    strmem::init();
    uninit::init();
    syscalls::init();
    handoff::init();
    stdio::init();
    // SAFETY: getpid has no preconditions.
    report::OWNER_PID.store(unsafe { libc::getpid() }, Ordering::Relaxed);
    if let Some(n) = sys::getenv(c"MEMDX_NUM_CALLERS").and_then(sys::parse_usize) {
        stacks::NUM_CALLERS.store(n.clamp(1, stacks::CAPTURE), Ordering::Relaxed);
    }
    if let Some(v) = sys::getenv(c"MEMDX_FREELIST_VOL").and_then(sys::parse_usize) {
        table::set_quarantine_volume(v);
    }
    if let Some(v) = sys::getenv(c"MEMDX_FREELIST_BIG_BLOCKS").and_then(sys::parse_usize) {
        held::set_big_blocks(v);
    }
    if sys::getenv(c"MEMDX_PARTIAL_LOADS_OK") == Some(b"no") {
        strmem::PARTIAL_LOADS_OK.store(false, Ordering::Relaxed);
    }
    table::init_thread_key();
    // Settings read lazily elsewhere are latched now: the variables are
    // removed from the environment below.
    table::redzone();
    table::poison_max();
    guard::latch_settings();
    tls::init_fast_path(preloaded());
    if sys::getenv(c"MEMDX_DEBUG_ROOTS").is_some() {
        report::DEBUG_ROOTS.store(true, Ordering::Relaxed);
    }
    if sys::getenv(c"MEMDX_LEAK_CHECK") == Some(b"no") {
        report::LEAK_CHECK.store(false, Ordering::Relaxed);
    }

    let (lo, hi) = out::self_range(init as *const () as usize);
    stacks::SELF_LO.store(lo, Ordering::Relaxed);
    stacks::SELF_HI.store(hi, Ordering::Relaxed);
    let (lo, hi) = out::self_range(sys::__libc_malloc as *const () as usize);
    LIBC_LO.store(lo, Ordering::Relaxed);
    LIBC_HI.store(hi, Ordering::Relaxed);
    // Inside the runtime (entered above): the decoder's tables are internal.
    watch::init();
    // Load the unwinder now (it allocates and dlopens libgcc_s), not from
    // inside the program's first malloc.
    let mut warm = [core::ptr::null_mut(); 4];
    // SAFETY: 4-entry buffer.
    unsafe { sys::backtrace(warm.as_mut_ptr(), 4) };
    stacks::CAPTURE_ON.store(true, Ordering::Release);
    // SAFETY: dlsym with a static name, as runtime work.
    let exit_fn = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"exit".as_ptr()) };
    report::EXIT_FN.store(exit_fn as usize, Ordering::Relaxed);
    if let Some(path) = sys::getenv(c"MEMDX_EVENTS_SOCK") {
        out::configure(path);
        out::start(false);
    }
    if sys::getenv(c"MEMDX_TRACE_CHILDREN") != Some(b"yes") {
        // Programs exec'd from here run unchecked, and the program sees the
        // environment it would see without memdx.
        for var in [
            c"LD_PRELOAD",
            c"MEMDX_EVENTS_SOCK",
            c"MEMDX_NUM_CALLERS",
            c"MEMDX_FREELIST_VOL",
            c"MEMDX_FREELIST_BIG_BLOCKS",
            c"MEMDX_PARTIAL_LOADS_OK",
            c"MEMDX_REDZONE_SIZE",
            c"MEMDX_POISON_SIZE",
            c"MEMDX_GUARD_PAGES",
            c"MEMDX_WATCH_BLOCKS",
            c"MEMDX_WATCH_BUDGET",
            c"MEMDX_WATCH_TOTAL",
            c"MEMDX_LEAK_CHECK",
            c"MEMDX_TRACE_CHILDREN",
            c"MEMDX_DEBUG_ROOTS",
            c"MEMDX_UNDEF_VALUE_ERRORS",
            c"MEMDX_UNINIT_PLAN",
            c"MEMDX_UNINIT_SITES",
        ] {
            // SAFETY: unsetenv edits environ in place (no allocation).
            unsafe { libc::unsetenv(var.as_ptr()) };
        }
    }
    // The fault handler runs on its own stack (a stack overflow leaves no
    // room on the thread's own).
    access::install_alt_stack();
    threads::init();
    // SAFETY: registering plain C callbacks.
    unsafe {
        libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child));
        for sig in fatal_signals() {
            let mut old: libc::sigaction = core::mem::zeroed();
            __sigaction(sig, core::ptr::null(), &mut old);
            if old.sa_sigaction == libc::SIG_DFL {
                install_fatal(sig);
            }
        }
    }
    if entered {
        hooks::leave_runtime();
    }
}

/// Installs the runtime's handler for `sig` with the default action's
/// meaning (report, then die by the signal).
///
/// # Safety
/// Changes the process's disposition of `sig`.
unsafe fn install_fatal(sig: i32) {
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
fn call_program_handler(sig: i32, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) -> bool {
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

extern "C" fn fini() {
    if attach::loaded_late() || profile::on() {
        profile::finish();
        return;
    }
    report::final_report_at_exit();
}

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
static LIBC_LO: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
static LIBC_HI: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Whether the thread a signal interrupted at `pc` is inside the runtime:
/// its re-entry flag is set, or, walking up from `pc` (unwound through the
/// signal frame), the first frame outside the C library is the runtime's
/// (a hook, possibly inside glibc's allocator). A runtime frame further up,
/// behind program code (the thread-start trampoline of `pthread_create`,
/// the fatal handler calling a program's chained handler), does not count.
/// Whether `pc` is in the C library's text.
pub(crate) fn in_libc(pc: usize) -> bool {
    (LIBC_LO.load(Ordering::Relaxed)..LIBC_HI.load(Ordering::Relaxed)).contains(&pc)
}

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

/// daemon(3), as glibc 2.36 implements it (`misc/daemon.c`), except that
/// the parent leaves through the runtime's `_exit`: glibc's calls its
/// internal `_exit`, which is not interposed, so the program's own process
/// would end without its report (Valgrind reports at `exit_group`).
///
/// # Safety
/// daemon(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn daemon(nochdir: libc::c_int, noclose: libc::c_int) -> libc::c_int {
    // SAFETY: the calls glibc's daemon makes, on local structures.
    unsafe {
        match libc::fork() {
            -1 => return -1,
            0 => {}
            _ => hooks::_exit(0),
        }
        if libc::setsid() == -1 {
            return -1;
        }
        if nochdir == 0 {
            libc::chdir(c"/".as_ptr());
        }
        if noclose == 0 {
            let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if fd == -1 {
                return -1;
            }
            let mut st: libc::stat = core::mem::zeroed();
            if libc::fstat(fd, &mut st) != 0 {
                libc::close(fd);
                return -1;
            }
            if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
                libc::close(fd);
                *libc::__errno_location() = libc::ENODEV;
                return -1;
            }
            libc::dup2(fd, 0);
            libc::dup2(fd, 1);
            libc::dup2(fd, 2);
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
    0
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

/// Every lock of the runtime, held by the forking thread from
/// `fork_prepare` to `fork_parent`/`fork_child`, taken in the lock order
/// (documented once, at [`sys::SpinLock`]). Fields drop in declaration
/// order: the last taken is released first.
struct ForkLocks {
    _private: sys::SpinGuard<'static>,
    _arenas: sys::SpinGuard<'static>,
    _out: sys::SpinGuard<'static>,
    _stacks: sys::SpinGuard<'static>,
    _held: sys::SpinGuard<'static>,
    _guard: sys::SpinGuard<'static>,
    _table: table::TableLocks,
    _bursts: sys::SpinGuard<'static>,
}

/// Only touched by the thread holding every lock in it (a second forking
/// thread waits in `fork_prepare` for the first lock).
static FORK_LOCKS: sys::Racy<Option<ForkLocks>> = sys::Racy::new(None);

extern "C" fn fork_prepare() {
    let bursts = out::lock_bursts();
    let table = table::lock_all();
    let guard = guard::lock();
    let held = held::lock();
    let stacks = stacks::lock();
    let out = out::lock();
    let arenas = hooks::ARENAS_LOCK.lock();
    let private = sys::private_lock();
    // SAFETY: this thread holds every lock (see FORK_LOCKS).
    unsafe {
        *FORK_LOCKS.get() = Some(ForkLocks {
            _private: private,
            _arenas: arenas,
            _out: out,
            _stacks: stacks,
            _held: held,
            _guard: guard,
            _table: table,
            _bursts: bursts,
        })
    };
}

extern "C" fn fork_parent() {
    // SAFETY: this thread holds every lock (fork_prepare).
    drop(unsafe { (*FORK_LOCKS.get()).take() });
}

extern "C" fn fork_child() {
    // SAFETY: the child's only thread is the one that forked, which holds
    // every lock (fork_prepare): dropping the guards releases them.
    drop(unsafe { (*FORK_LOCKS.get()).take() });
    // SAFETY: a fork child before anything else runs in it; these locks
    // (not taken by fork_prepare) may have been held by threads that did
    // not survive the fork.
    unsafe {
        sys::private_force_unlock();
        table::reset_in_child();
        step::reset_in_child();
        stacks::reset_lock_in_child();
        out::reset_in_child();
    }
    let entered = hooks::enter_runtime();
    // SAFETY: getpid has no preconditions.
    report::OWNER_PID.store(unsafe { libc::getpid() }, Ordering::Relaxed);
    report::reset_in_child();
    stacks::reset_emitted();
    out::start(true);
    if entered {
        hooks::leave_runtime();
    }
}
