//! Whether an address a system call is given lies on the calling thread's
//! stack, and in which frame of the call's stack: Valgrind's "Address 0x...
//! is on thread N's stack" and "in frame #F, created by FN (FILE:LINE)".
//!
//! Valgrind finds the frame by unwinding with stack pointers: frame `f`
//! holds the address when `sp[f] <= addr < sp[f + 1]`, `sp[0]` being the
//! stack pointer in the system call's wrapper and `sp[f + 1]` the one in
//! frame `f`'s caller (the callee's CFA). The runtime's unwinder gives,
//! for each return address, the slot it was read from (the callee's CFA
//! less 8), so the frame of return address `k` starts at `slot[k] + 8`.
//! Cold path: called only when an error is reported.

use core::ffi::c_void;
use core::sync::atomic::Ordering;

use crate::stacks;
use crate::unwind;

/// The largest distance between the stack pointer and an address taken
/// for a stack address (the main thread's default limit).
const STACK_MAX: usize = 8 << 20;

/// When `addr` is on this thread's stack above the caller's frame: the
/// index, in a stack captured by the caller's hook (frame 0 the system
/// call's wrapper, then `extra` frames the runtime inserts, then the
/// return addresses), of the frame holding it (`None` when no frame
/// does, as for an address above the outermost frame kept). `Some(None)`
/// then still says "on the stack".
#[inline(never)]
pub fn frame_holding(addr: usize, extra: usize) -> Option<Option<usize>> {
    let marker = 0u8;
    let here = core::hint::black_box(&marker) as *const u8 as usize;
    if addr < here || addr - here >= STACK_MAX || !mapped_between(here, addr) {
        return None;
    }
    let mut ras = [0usize; stacks::CAPTURE];
    let mut slots = [0usize; stacks::CAPTURE];
    // Valgrind's frames: --num-callers of them, the wrapper's included.
    let frames = stacks::NUM_CALLERS
        .load(Ordering::Relaxed)
        .clamp(2, stacks::CAPTURE);
    let n = unwind::backtrace_from(
        unwind::here(),
        unwind::Frames {
            ras: &mut ras,
            slots: &mut slots,
        },
        frames.saturating_sub(1 + extra),
        stacks::SELF_LO.load(Ordering::Relaxed),
        stacks::SELF_HI.load(Ordering::Relaxed),
    );
    let Some(n) = n else {
        return Some(None);
    };
    let slots = &slots[..n.min(stacks::CAPTURE)];
    // The frame of return address k spans [slot[k] + 8, slot[k + 1] + 8):
    // from the stack pointer after its callee returned to its own CFA.
    // The last frame has no upper bound known and is not used (Valgrind
    // does the same with the last frame of its walk).
    let frame = (0..slots.len().saturating_sub(1))
        .find(|&k| slots[k] + 8 <= addr && addr < slots[k + 1] + 8)
        .map(|k| k + 1 + extra);
    Some(frame)
}

/// Whether every page from `lo` to `hi` is mapped (no hole between the
/// stack pointer and the address).
fn mapped_between(lo: usize, hi: usize) -> bool {
    let mut page = lo & !4095;
    let mut vec = 0u8;
    while page <= hi {
        // SAFETY: mincore only reports residency; ENOMEM means unmapped.
        let r = unsafe { libc::mincore(page as *mut c_void, 4096, &mut vec) };
        if r != 0 {
            return false;
        }
        page += 4096;
    }
    true
}
