//! The interposed allocator family. Every hook calls glibc's real allocator
//! through its `__libc_*` names, records or checks the block in the table,
//! and reports bad frees without passing them to glibc (the program goes on,
//! as under Valgrind). Nothing here allocates through `malloc`, formats text
//! or panics; the per-thread `IN_HOOK` flag stops stack capture from
//! recursing when the unwinder itself allocates.
//!
//! This module holds the shared state (the re-entry flag, thread numbers,
//! the non-main arenas); the rest lives in:
//! - `alloc`: the allocation path every allocator entry point takes;
//! - `release`: the release path and the bad-free and damage reports;
//! - `fishy`: the "fishy (possibly negative)" argument report;
//! - `c`: malloc, free, calloc, malloc_usable_size;
//! - `realloc`: realloc, reallocarray;
//! - `aligned`: memalign, aligned_alloc, posix_memalign, valloc, pvalloc;
//! - `cxx`: the C++ `operator new` and `operator delete` family;
//! - `exit`: `_exit` and `_Exit`; the report's end at an unchecked `exec`;
//! - `mapping`: `mmap`, `mmap64`, `munmap`, `mremap` (recorded by `memdx heap`).

// The C++ operators keep their Itanium-mangled names (that is what is
// interposed), which are not snake case.
#![allow(non_snake_case)]

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::sys::{self, Racy, SpinLock};
use crate::{stacks, table, tls};

static NEXT_THREAD_NO: AtomicU32 = AtomicU32::new(2);

/// glibc's HEAP_MAX_SIZE on 64-bit: non-main arenas are heaps aligned to it.
const HEAP_MAX: usize = 64 << 20;
const MAX_ARENAS: usize = 1024;
pub static ARENAS: Racy<[usize; MAX_ARENAS]> = Racy::new([0; MAX_ARENAS]);
pub static ARENAS_N: AtomicUsize = AtomicUsize::new(0);
pub static ARENAS_LOCK: SpinLock = SpinLock::new();

/// Runs `f` with the re-entry flag set; returns `None` if it already was.
#[inline]
fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    let g = &tls::get().in_hook;
    if g.get() {
        return None;
    }
    g.set(true);
    let r = f();
    g.set(false);
    Some(r)
}

/// Sets the re-entry flag for the runtime's own work (constructor, report).
pub fn enter_runtime() -> bool {
    !tls::get().in_hook.replace(true)
}
pub fn leave_runtime() {
    tls::get().in_hook.set(false);
}

/// Valgrind-style thread number: 1 for the main thread, then in order of
/// first use of the allocator (Valgrind uses creation order).
pub fn thread_no() -> u32 {
    // SAFETY: getpid has no preconditions.
    if sys::gettid() == unsafe { libc::getpid() } {
        return 1;
    }
    let t = &tls::get().thread_no;
    if t.get() == 0 {
        t.set(NEXT_THREAD_NO.fetch_add(1, Ordering::Relaxed));
    }
    t.get()
}

/// Remembers the glibc heap a block came from when it is a non-main arena,
/// so the leak scan does not take glibc's own heap pages for roots.
#[inline]
///
/// # Safety
/// `p` is a block glibc's allocator returned and has not freed (its chunk
/// header is readable).
unsafe fn note_arena(p: usize) {
    // SAFETY: glibc keeps the chunk's size word (with its flag bits) just
    // before the user pointer.
    let size_word = unsafe { *((p - 8) as *const usize) };
    if size_word & 2 != 0 || size_word & 4 == 0 {
        return; // mmapped chunk, or the main (brk) arena
    }
    let base = p & !(HEAP_MAX - 1);
    if table::with_state(|s| core::mem::replace(&mut s.last_arena, base)) == Some(base) {
        return;
    }
    let _held = ARENAS_LOCK.lock();
    // SAFETY: under ARENAS_LOCK.
    let arenas = unsafe { &mut *ARENAS.get() };
    let n = ARENAS_N.load(Ordering::Relaxed);
    if !arenas[..n].contains(&base) && n < MAX_ARENAS {
        arenas[n] = base;
        ARENAS_N.store(n + 1, Ordering::Relaxed);
    }
}

/// This thread's current stack, or 0 inside the runtime's own work. (The
/// unwinding on a cache miss sets the re-entry flag itself.)
#[inline]
fn capture(td: &tls::ThreadData, entry: usize) -> u32 {
    if td.in_hook.get() {
        return 0;
    }
    stacks::capture_on(td, entry)
}

macro_rules! entry {
    ($f:ident) => {
        $f as *const () as usize
    };
}

mod aligned;
mod alloc;
mod c;
mod cxx;
mod exit;
mod fishy;
mod mapping;
mod realloc;
mod release;

use aligned::{aligned_alloc, memalign, posix_memalign, valloc};
use c::{calloc, malloc};
use cxx::{_Znam, _ZnamRKSt9nothrow_t, _Znwm, _ZnwmRKSt9nothrow_t};
pub use exit::{_Exit, _exit, announce_exec, TRACE_CHILDREN};
use realloc::{realloc, reallocarray};
pub use release::freed_corruptions;

/// The entry points programs allocate and free through most (the stack
/// cache keeps each in a way of its own: see `stack_cache::init`).
pub fn hot_entry_points() -> [usize; 9] {
    [
        c::malloc as *const () as usize,
        c::free as *const () as usize,
        c::calloc as *const () as usize,
        realloc::realloc as *const () as usize,
        cxx::_Znwm as *const () as usize,
        cxx::_Znam as *const () as usize,
        cxx::_ZdlPv as *const () as usize,
        cxx::_ZdlPvm as *const () as usize,
        cxx::_ZdaPv as *const () as usize,
    ]
}
