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

// The crate's map: one concern per module.

// Start, end, signals and processes.
/// Exported assembly entries sharing one handler (`index_stubs!`).
#[macro_use]
mod stubs;
/// ELF64 records read from loaded objects' dynamic sections.
mod elf;
/// The fatal-signal handler: faults, traps, the report before death.
mod fatal;
/// The fork handlers and the interposed `daemon`.
mod fork;
/// The constructor and destructor: settings, connection, handlers.
mod init;
/// Fatal-signal dispositions and the interposed `sigaction`/`signal`.
mod signals;
/// Threads stopped and resumed around the leak scan.
mod suspend;
/// Each thread's alternate signal stack (the interposed `pthread_create`).
mod threads;

// The allocator and its blocks.
/// The guard-page pool for guarded blocks.
mod guard;
/// The C library's entry points that hand memory to the kernel: watched
/// blocks among their arguments are released first.
mod handoff;
/// Big freed blocks held inaccessible until the next allocation.
mod held;
/// The interposed allocator family and `_exit`.
mod hooks;
/// Pages closed again after a single-stepped instruction.
mod step;
/// Old symbol versions of hooked functions, for callers built against them.
mod symver;
/// Block headers, the live-block bitmap, per-thread quarantines.
mod table;
/// Per-thread data through the static-TLS offset.
mod tls;
/// Watched blocks: byte-precise checks of a call site's first blocks.
mod watch;

// What the program does with memory.
/// Invalid accesses found by a fault: decoding and reporting.
mod access;
/// `--uninit-effects=yes`'s fill plan.
mod effects;
/// glibc's stream write slots, checked for uninitialised bytes.
mod stdio;
/// The checked C memory and string routines.
mod strmem;
/// Outgoing system call buffers checked for uninitialised bytes.
mod syscalls;
/// Uninitialised heap bytes: the fill marker and its checks.
mod uninit;

// Stacks, reports and output.
/// Fault-tolerant reads with a recovery point.
mod catch;
/// Leak classification.
mod leak;
/// The event stream to the analyzer.
mod out;
/// The end-of-process report.
mod report;
/// The leak scan's roots.
mod roots;
/// The per-thread stack cache.
mod stack_cache;
/// Whether a system call's buffer lies on the caller's stack, and in which frame.
mod stack_place;
/// Stack capture and interning.
mod stacks;
/// The runtime's own `.eh_frame` unwinder.
mod unwind;

// Other modes.
/// Attaching late through `memdx heap --pid`.
mod attach;
/// `memdx heap`'s profiling mode.
mod profile;

/// System calls, locks and shared statics without the interposed malloc.
mod sys;

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
