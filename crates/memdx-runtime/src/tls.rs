//! The runtime's per-thread data, in one thread-local block reached without
//! calling `__tls_get_addr`.
//!
//! Rust's `thread_local!` in a shared library uses the general-dynamic TLS
//! model: every access calls `__tls_get_addr` (about 3 ns), and the hooks
//! made seven such accesses per malloc/free pair. A library loaded at
//! program start (as `LD_PRELOAD` loads this one) lives in the static TLS
//! block, at the same offset from the thread pointer in every thread (what
//! the initial-exec model relies on). The constructor measures that offset
//! once on the main thread; from then on an access is one load of `%fs:0`
//! plus the offset. Before the constructor has run (allocations by the
//! dynamic loader) the slow, always-correct path is used.

use core::cell::Cell;

use crate::stack_cache::{Cache, Entry, MRU_WAYS};
use crate::table::ThreadState;

/// Everything the runtime keeps per thread.
pub struct ThreadData {
    /// Set while the runtime's own code runs on this thread (re-entry
    /// guard: allocations then are the runtime's, not the program's).
    pub in_hook: Cell<bool>,
    /// This thread's counters and quarantine (see `table`).
    pub state: Cell<*mut ThreadState>,
    /// Valgrind-style thread number (0 until first needed).
    pub thread_no: Cell<u32>,
    /// Allocations left before the next sampled guarded block.
    pub sample_countdown: Cell<u32>,
    /// Whether the last sampled guarded block went at the start of its
    /// page (the next goes at the end, and so on).
    pub sample_start: Cell<bool>,
    /// A call site (stack id) whose two guarded blocks were taken (see
    /// `guard::wanted`); 0 for none.
    pub site_done: Cell<u32>,
    /// The block `guard::wanted` last chose is one of its call site's
    /// first two (watched: see `watch`).
    pub watch_next: Cell<bool>,
    /// This thread's stack cache (see `stack_cache`): null until its
    /// first miss, `stack_cache::GONE` once unmapped.
    pub stack_cache: Cell<*mut Cache>,
    /// Per allocator entry point (hashed), the cache entry that answered
    /// last (null: none).
    pub stack_mru: [Cell<*const Entry>; MRU_WAYS],
    /// The recovery point of a fault-tolerant call running on this thread
    /// (see `catch::try_call`); 0 for none.
    pub catch_buf: Cell<usize>,
    /// The stack pointer a chained program handler of SIGSEGV/SIGBUS
    /// interrupted (0 outside one): a fatal signal raised from that
    /// handler, on its alternate stack, scans this thread's stack from
    /// there.
    pub outer_sp: Cell<usize>,
    /// A block header a checked C routine is about to overwrite (a write
    /// before the block, reported first) and its two words, put back
    /// after the routine (see `strmem::repair_header`); 0 for none.
    pub header_repair: Cell<(usize, u64, u64)>,
    /// Pages to close again once a faulting instruction has run (see
    /// `step`).
    pub step: crate::step::Pending,
    /// `memdx heap --sample`: bytes left before the next sample point (0:
    /// not drawn yet) and the generator's state (see `profile`).
    pub heap_countdown: Cell<i64>,
    pub heap_rng: Cell<u64>,
}

thread_local! {
    static DATA: ThreadData = const {
        ThreadData {
            in_hook: Cell::new(false),
            state: Cell::new(core::ptr::null_mut()),
            thread_no: Cell::new(0),
            sample_countdown: Cell::new(crate::guard::SAMPLE_EVERY),
            watch_next: Cell::new(false),
            sample_start: Cell::new(false),
            site_done: Cell::new(0),
            stack_cache: Cell::new(core::ptr::null_mut()),
            stack_mru: [const { Cell::new(core::ptr::null()) }; MRU_WAYS],
            catch_buf: Cell::new(0),
            outer_sp: Cell::new(0),
            header_repair: Cell::new((0, 0, 0)),
            step: crate::step::Pending::new(),
            heap_countdown: Cell::new(0),
            heap_rng: Cell::new(0),
        }
    };
}

/// Offset of DATA from the thread pointer; 0 while unknown.
/// Written once, by the constructor before the program runs (so before
/// any other thread exists) and read without atomics afterwards, so the
/// compiler can reuse one read for every access in a hook.
static OFFSET: crate::sys::Racy<isize> = crate::sys::Racy::new(0);

/// This thread's thread pointer (distinct for every live thread).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[inline]
pub fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: on x86-64 Linux, %fs:0 holds the thread pointer itself
    // (the TCB's self pointer), readable in every thread.
    unsafe {
        // `pure, nomem`: a thread's thread pointer never changes, so the
        // compiler may reuse one read for every access in a hook.
        core::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(pure, nomem, nostack, preserves_flags))
    };
    tp
}

/// This thread's identity where the thread pointer is not read directly.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
pub fn thread_pointer() -> usize {
    DATA.with(|d| d as *const ThreadData as usize)
}

/// Measures the static-TLS offset (from the constructor, on the main
/// thread). Only done when the library was loaded with the program (its
/// TLS is then static); `preloaded` says so.
pub fn init_fast_path(preloaded: bool) {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    if preloaded {
        let addr = DATA.with(|d| d as *const ThreadData as usize);
        let off = addr as isize - thread_pointer() as isize;
        if off != 0 {
            // SAFETY: the constructor runs before any other thread exists.
            unsafe { *OFFSET.get() = off };
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    let _ = preloaded;
}

/// This thread's data.
#[inline(always)]
pub fn get() -> &'static ThreadData {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        // SAFETY: see OFFSET.
        let off = unsafe { *OFFSET.get() };
        if off != 0 {
            // SAFETY: static TLS sits at the same offset from the thread
            // pointer in every thread (measured in init_fast_path); the
            // block lives as long as the thread, and ThreadData is only
            // touched by its own thread.
            return unsafe { &*((thread_pointer() as isize + off) as *const ThreadData) };
        }
    }
    get_slow()
}

/// This thread's data through `__tls_get_addr` (before the offset is
/// known, or when the library was not preloaded). Kept out of line so the
/// compiler does not hoist the call into the hooks' fast paths.
/// The calling thread's data when it is reachable without a call (the
/// runtime was preloaded on x86-64 Linux: a fixed offset from the thread
/// pointer); `None` otherwise.
#[inline(always)]
pub fn get_fast() -> Option<&'static ThreadData> {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        // SAFETY: as in `get`.
        let off = unsafe { *OFFSET.get() };
        if off != 0 {
            // SAFETY: as in `get`.
            return Some(unsafe { &*((thread_pointer() as isize + off) as *const ThreadData) });
        }
    }
    None
}

#[cold]
#[inline(never)]
fn get_slow() -> &'static ThreadData {
    // SAFETY: ThreadData has no destructor, so the slot never goes away
    // while the thread runs.
    DATA.with(|d| unsafe { &*(d as *const ThreadData) })
}
