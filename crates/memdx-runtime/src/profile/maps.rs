//! The program's own mappings in profiling mode: the `mmap`/`munmap`/
//! `mremap` hooks (`hooks/mapping.rs`) record each range the program maps
//! (with the call's stack) or unmaps, into the same buffers as the
//! allocations (`HeapMap`/`HeapUnmap` records), so a burst orders them by
//! time with everything else. Every mapping is recorded, sampled mode or
//! not (they are few and large). Nothing here allocates or formats.

use core::sync::atomic::Ordering;

use libc::c_void;
use memdx_events::{heap_map_record, heap_unmap_record};

use super::{append, now, RECORDING};
use crate::{stacks, sys, tls};

/// The program mapped `len` bytes at `p` (`entry`: the hook called, the
/// stack's frame 0).
#[inline(never)]
pub fn mapped(p: *mut c_void, len: usize, entry: usize) {
    if !RECORDING.load(Ordering::Relaxed) {
        return;
    }
    let td = tls::get();
    if td.in_hook.get() {
        // The runtime's own work (its unwinder, a hook): not the program's.
        return;
    }
    // A flush talks to memdx over a socket: the program's errno stays its
    // own (a successful call leaves it as it was).
    let errno = sys::errno();
    let stack = stacks::capture_on(td, entry);
    let time = now();
    td.in_hook.set(true);
    append(&heap_map_record(p as u64, len as u64, stack, time));
    td.in_hook.set(false);
    sys::set_errno(errno);
}

/// The program unmaps `len` bytes at `p`.
#[inline(never)]
pub fn unmapped(p: *mut c_void, len: usize) {
    if !RECORDING.load(Ordering::Relaxed) {
        return;
    }
    let td = tls::get();
    if td.in_hook.get() {
        return;
    }
    let errno = sys::errno();
    let time = now();
    td.in_hook.set(true);
    append(&heap_unmap_record(p as u64, len as u64, time));
    td.in_hook.set(false);
    sys::set_errno(errno);
}
