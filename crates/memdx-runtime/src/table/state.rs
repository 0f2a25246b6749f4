//! Per-thread state: each thread's counters, quarantine ring and recycled
//! chunks, in private memory, found through the thread's TLS. A state
//! outlives its thread (it is handed to the next new thread); frees while
//! a thread exits use a shared orphan state under its lock.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use super::live::{ensure_state, set_threaded, FIRST_STATE};
use super::recycle::RECYCLE_CLASSES;
use crate::sys::{self, SpinLock};
use crate::tls::ThreadData;

#[derive(Clone, Copy, Default)]
pub struct Counters {
    pub allocs: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
}

/// A thread's counters and quarantine ring, in private memory.
pub struct ThreadState {
    pub counters: Counters,
    /// Quarantined blocks, oldest at `ring_head`: (block start, size). The
    /// size is kept here so that evicting and prefetching need not read
    /// the block's header first (a cache miss they would wait on).
    pub(super) ring: *mut [usize; 2],
    pub(super) ring_cap: usize,
    pub(super) ring_head: usize,
    pub(super) ring_len: usize,
    pub(super) ring_bytes: usize,
    /// Base of the last non-main glibc heap seen (see hooks::note_arena).
    pub last_arena: usize,
    /// Clean glibc chunks that left the quarantine, kept for this thread's
    /// next allocations of their size class (see [`Self::recycle`]): the head of
    /// an intrusive list per class, and the bytes they hold.
    pub(super) recycled: [usize; RECYCLE_CLASSES],
    pub(super) recycled_bytes: usize,
    next: *mut ThreadState,
    in_use: AtomicBool,
    /// Set while the owner changes its ring. The leak report stops threads
    /// with a signal wherever they are; a ring caught halfway through a
    /// change (an entry counted but not written, a block handed to glibc
    /// but still listed) is not read then.
    pub(super) busy: AtomicBool,
}

/// Every state ever made (a singly linked list, newest first).
static STATES: AtomicPtr<ThreadState> = AtomicPtr::new(ptr::null_mut());
pub(super) static STATES_LOCK: SpinLock = SpinLock::new();
/// Used after a thread's state was handed back (frees while the thread
/// exits), under ORPHAN_LOCK.
pub(super) static ORPHAN_LOCK: SpinLock = SpinLock::new();
static ORPHAN: AtomicPtr<ThreadState> = AtomicPtr::new(ptr::null_mut());
static KEY: AtomicUsize = AtomicUsize::new(usize::MAX);

const EXITED: *mut ThreadState = ptr::without_provenance_mut(1);

/// Creates the thread-exit key (from the constructor).
pub fn init_thread_key() {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: plain key creation with a C destructor.
    if unsafe { libc::pthread_key_create(&mut key, Some(thread_exit)) } == 0 {
        KEY.store(key as usize, Ordering::Relaxed);
    }
}

extern "C" fn thread_exit(v: *mut libc::c_void) {
    let st = v.cast::<ThreadState>();
    if st.is_null() {
        return;
    }
    crate::tls::get().state.set(EXITED);
    // SAFETY: st came from new_state; the thread no longer uses it.
    unsafe { (*st).in_use.store(false, Ordering::Release) };
}

fn new_state() -> *mut ThreadState {
    let _held = STATES_LOCK.lock();
    let mut s = STATES.load(Ordering::Acquire);
    while !s.is_null() {
        // SAFETY: states are never freed.
        let st = unsafe { &*s };
        if st
            .in_use
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return s;
        }
        s = st.next;
    }
    let p = sys::map_private(core::mem::size_of::<ThreadState>()).cast::<ThreadState>();
    if !p.is_null() {
        // SAFETY: fresh private memory of the right size.
        unsafe {
            p.write(ThreadState {
                counters: Counters::default(),
                ring: ptr::null_mut(),
                ring_cap: 0,
                ring_head: 0,
                ring_len: 0,
                ring_bytes: 0,
                last_arena: 0,
                recycled: [0; RECYCLE_CLASSES],
                recycled_bytes: 0,
                next: STATES.load(Ordering::Relaxed),
                in_use: AtomicBool::new(true),
                busy: AtomicBool::new(false),
            })
        };
        STATES.store(p, Ordering::Release);
    }
    p
}

/// Runs `f` with this thread's state (or the shared orphan state, under its
/// lock, when the thread is exiting or has no TLS).
#[inline]
pub fn with_state<T>(f: impl FnOnce(&mut ThreadState) -> T) -> Option<T> {
    let cur = crate::tls::get().state.get();
    if !cur.is_null() && cur != EXITED {
        // SAFETY: this thread's own state.
        return Some(f(unsafe { &mut *cur }));
    }
    if cur.is_null() {
        if FIRST_STATE.swap(true, Ordering::AcqRel) {
            set_threaded();
        }
        let s = new_state();
        if !s.is_null() {
            crate::tls::get().state.set(s);
            let key = KEY.load(Ordering::Relaxed);
            if key != usize::MAX {
                // SAFETY: a valid key; the value is our state.
                unsafe { libc::pthread_setspecific(key as libc::pthread_key_t, s.cast()) };
            }
            // SAFETY: just made or adopted for this thread.
            return Some(f(unsafe { &mut *s }));
        }
    }
    set_threaded();
    let _held = ORPHAN_LOCK.lock();
    let mut o = ORPHAN.load(Ordering::Acquire);
    if o.is_null() {
        o = new_state();
        ORPHAN.store(o, Ordering::Release);
    }
    if o.is_null() {
        None
    } else {
        // SAFETY: under ORPHAN_LOCK.
        Some(f(unsafe { &mut *o }))
    }
}

/// Calls `f` on every thread state (the report, with other threads
/// stopped or gone).
pub fn for_each_state(f: &mut dyn FnMut(&ThreadState)) {
    let mut s = STATES.load(Ordering::Acquire);
    while !s.is_null() {
        // SAFETY: states are never freed.
        let st = unsafe { &*s };
        f(st);
        s = st.next;
    }
}

/// Sum of all threads' counters.
pub fn totals() -> Counters {
    let mut t = Counters::default();
    for_each_state(&mut |s| {
        t.allocs += s.counters.allocs;
        t.frees += s.counters.frees;
        t.bytes_allocated += s.counters.bytes_allocated;
    });
    t
}

/// Counts a guarded block's allocation (see `guard`).
pub fn count_alloc(size: usize) {
    with_state(|s| {
        s.counters.allocs += 1;
        s.counters.bytes_allocated += size as u64;
    });
}

/// Counts a release that `release` did not see (guarded blocks, and bad
/// frees of addresses in the guard pool).
pub fn count_free() {
    with_state(|s| s.counters.frees += 1);
}

/// Counts an allocation that made no block (Valgrind counts a realloc of
/// an invalid pointer as an allocation of the new size).
pub fn count_failed_alloc(size: usize) {
    with_state(|s| {
        s.counters.allocs += 1;
        s.counters.bytes_allocated += size as u64;
    });
}

/// This thread's own state, or null when it has none yet or is exiting
/// (then [`with_state`] finds or makes one; the thread is given its state
/// first, as [`ensure_state`] does). `td` is this thread's data: the hooks
/// pass it along, as the compiler would otherwise compute its address
/// again after each store.
#[inline(always)]
pub(super) fn state_of(td: &ThreadData) -> *mut ThreadState {
    let cur = td.state.get();
    if !cur.is_null() && cur != EXITED {
        return cur;
    }
    ensure_state();
    ptr::null_mut()
}

/// Runs `f` with state `st` from [`state_of`], or through [`with_state`]
/// when that was null.
#[inline(always)]
pub(super) fn on_state<T>(
    st: *mut ThreadState,
    f: impl FnOnce(&mut ThreadState) -> T,
) -> Option<T> {
    if st.is_null() {
        with_state(f)
    } else {
        // SAFETY: this thread's own state (see state_of).
        Some(f(unsafe { &mut *st }))
    }
}
