//! The runtime's start and end: the constructor (`init`, from
//! `.init_array`) reads the settings from the environment, latches them,
//! connects the event stream and installs the fork and fatal-signal
//! handlers; the destructor (`fini`, from `.fini_array`) runs the
//! end-of-process report.

use core::sync::atomic::Ordering;

use crate::fork::{fork_child, fork_parent, fork_prepare};
use crate::signals::{__sigaction, fatal_signals, install_fatal};
use crate::{
    access, attach, fatal, guard, handoff, held, hooks, out, profile, report, stacks, stdio,
    strmem, sys, syscalls, table, threads, tls, uninit, watch,
};

#[cfg(not(test))]
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = init;

#[cfg(not(test))]
#[used]
#[link_section = ".fini_array"]
static FINI: extern "C" fn() = fini;

/// Whether this library was loaded with the program through LD_PRELOAD
/// (its thread-local data is then in the static TLS block).
pub(crate) fn preloaded() -> bool {
    // Asked twice at load (attach's decision, then the constructor): the
    // answer does not change, so dladdr runs once.
    static KNOWN: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);
    match KNOWN.load(Ordering::Relaxed) {
        1 => return false,
        2 => return true,
        _ => {}
    }
    let answer = find_preloaded();
    KNOWN.store(if answer { 2 } else { 1 }, Ordering::Relaxed);
    answer
}

fn find_preloaded() -> bool {
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
    // Old symbol versions of hooked functions (both modes hook them).
    crate::symver::init();
    if profile::on() {
        // `memdx heap`: none of the checker's machinery.
        profile::init();
        if entered {
            hooks::leave_runtime();
        }
        return;
    }
    strmem::init();
    strmem::init_streams();
    strmem::init_printf();
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
        held::set_volume(v);
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
    fatal::LIBC_LO.store(lo, Ordering::Relaxed);
    fatal::LIBC_HI.store(hi, Ordering::Relaxed);
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
    let trace_children = sys::getenv(c"MEMDX_TRACE_CHILDREN") == Some(b"yes");
    hooks::TRACE_CHILDREN.store(trace_children, Ordering::Relaxed);
    if !trace_children {
        // Programs exec'd from here run unchecked, and the program sees the
        // environment it would see without memdx.
        sys::remove_env(&[
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
        ]);
    }
    // The fault handler runs on its own stack (a stack overflow leaves no
    // room on the thread's own).
    access::install_alt_stack();
    threads::init();
    crate::stack_cache::init();
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

extern "C" fn fini() {
    if attach::loaded_late() || profile::on() {
        profile::finish();
        return;
    }
    report::final_report_at_exit();
}
