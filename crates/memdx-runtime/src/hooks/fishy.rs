//! Valgrind's "fishy (possibly negative)" allocation-argument report.

use core::sync::atomic::Ordering;

use memdx_events::{Access, AccessKind, Routine};

use super::{
    _Znam, _ZnamRKSt9nothrow_t, _Znwm, _ZnwmRKSt9nothrow_t, aligned_alloc, calloc, malloc,
    memalign, posix_memalign, realloc, reallocarray, valloc,
};
use super::{enter_runtime, leave_runtime, thread_no};
use crate::{access, stacks, sys};

/// Reports an allocation argument that is possibly negative (Valgrind's
/// "Argument 'size' of function malloc has a fishy (possibly negative)
/// value: -1"): `arg` 0 is `size`, 1 is `nmemb`. `entry` is the hook
/// called; the memalign family is named memalign, as Valgrind names it.
#[cold]
#[inline(never)]
pub(super) fn fishy(entry: usize, arg: u64, value: usize) {
    let (func, shown) = if entry == (malloc as *const () as usize) {
        (Routine::AllocMalloc, entry)
    } else if entry == (calloc as *const () as usize) {
        (Routine::AllocCalloc, entry)
    } else if entry == (realloc as *const () as usize)
        || entry == (reallocarray as *const () as usize)
    {
        (Routine::AllocRealloc, (realloc as *const () as usize))
    } else if entry == posix_memalign as *const () as usize {
        (Routine::AllocMemalign, entry)
    } else if [
        (memalign as *const () as usize),
        (aligned_alloc as *const () as usize),
        (valloc as *const () as usize),
    ]
    .contains(&entry)
    {
        (Routine::AllocMemalign, (memalign as *const () as usize))
    } else if entry == (_Znwm as *const () as usize)
        || entry == (_ZnwmRKSt9nothrow_t as *const () as usize)
    {
        (Routine::AllocNew, entry)
    } else if entry == (_Znam as *const () as usize)
        || entry == (_ZnamRKSt9nothrow_t as *const () as usize)
    {
        (Routine::AllocNewArray, entry)
    } else {
        return; // aligned operator new: Valgrind's name for it not known
    };
    if !enter_runtime() {
        return;
    }
    let errno = sys::errno();
    let mut stack = stacks::capture(shown);
    if entry == posix_memalign as *const () as usize {
        // Valgrind's posix_memalign calls its memalign: a memalign frame
        // above posix_memalign's (shown less one, as return addresses are).
        stack = posix_memalign_stack(stack);
    }
    let a = Access {
        kind: AccessKind::FishyValue,
        func: Some(func),
        addr: value as u64,
        size: arg,
        tid: thread_no(),
        stack,
        ..Access::default()
    };
    access::send(&a);
    sys::set_errno(errno);
    leave_runtime();
}

/// `stack` (posix_memalign's, frame 0 its entry) with memalign's entry
/// above it, as Valgrind shows a fishy posix_memalign argument.
fn posix_memalign_stack(stack: u32) -> u32 {
    let Some(rec) = stacks::get(stack) else {
        return stack;
    };
    let want = stacks::NUM_CALLERS
        .load(Ordering::Relaxed)
        .clamp(2, stacks::CAPTURE);
    let mut frames = [0u64; stacks::CAPTURE];
    frames[0] = memalign as *const () as usize as u64;
    let n = (rec.n as usize).min(rec.frames.len());
    let mut k = 1;
    for (i, &f) in rec.frames.iter().take(n).enumerate() {
        if k == want {
            break;
        }
        // Frame 0 is an entry, not a return address: one past it.
        frames[k] = if i == 0 { f + 1 } else { f };
        k += 1;
    }
    stacks::intern(&frames[..k])
}
