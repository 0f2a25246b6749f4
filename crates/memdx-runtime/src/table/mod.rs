//! Block metadata without a global table: a 16-byte header in front of
//! every block, a bitmap of live block starts, and per-thread quarantines.
//!
//! Layout of a block the program gets (glibc's chunk around it):
//!
//! ```text
//! raw (from glibc)          q (the program's pointer)
//! | pad | header (16 bytes) | size bytes ...     | redzone (canary) | glibc slack
//! ```
//!
//! `raw + offset == q`; `offset` is 16, or the alignment for aligned blocks
//! whose alignment exceeds 16 (the header then sits at the end of the pad).
//!
//! Header word 0: size (bits 0..48), kind (48..52), flags (52..56),
//! log2(offset) (56..62). Word 1: allocation stack id (low 32 bits), free
//! stack id (high 32 bits).
//!
//! Whether a pointer is a live block start is answered by a bitmap with one
//! bit per 16 bytes of address space (two levels: a directory of 1 GiB
//! leaves, each mapped lazily without reserve, with a per-page summary so the
//! leak scan visits only touched pages). Setting the bit is the last step of
//! an allocation and clearing it (an atomic read-modify-write whose old value
//! says whether the block was live) is the first step of a release, so two
//! threads freeing the same pointer cannot both win, and any set bit has a
//! complete header behind it.
//!
//! Freed blocks go to the freeing thread's quarantine ring (Valgrind's
//! `--freelist-vol`, here per thread): their memory is poisoned and not
//! given back to glibc until the ring's byte volume is exceeded, so a
//! second free is recognised (with the stacks of the first free and of the
//! allocation) and writes after free are found when the block leaves the
//! ring. A thread's state (counters, ring) outlives the thread: it is handed
//! to the next new thread.

//!
//! Where each part lives:
//! - `header`: the block header's encoding and the checks of writes before a block;
//! - `redzone`: the canary after blocks and the poison in freed ones;
//! - `live`: the live-block bitmap (lookups, enumeration);
//! - `state`: per-thread state (counters, the orphan state, thread exit);
//! - `quarantine`: the per-thread ring of freed blocks and its checks;
//! - `recycle`: clean chunks kept for the thread's next allocations;
//! - `lifecycle`: a block's registration and release.

mod header;
mod lifecycle;
mod live;
mod quarantine;
mod recycle;
mod redzone;
mod state;

pub use header::{
    decode_header, header_damage, header_words, note_overrun_reported, note_underflow_reported,
    overrun_reported, read_block, restore_header, underflow_reported, HEADER, INTERNAL, MAX_SIZE,
};
pub use lifecycle::{raw_of, register, release, Damages, Release};
pub use live::{for_each_live, is_live, lookup, lookup_near, set_threaded, MAX_SIZE_SEEN};
pub use quarantine::{check_freed, find_freed, set_quarantine_volume, Damaged, FreedDamage};
pub use recycle::take_recycled;
pub use redzone::{check_canary, fill, poison_max, redzone, CANARY};
pub use state::{
    count_alloc, count_failed_alloc, count_free, for_each_state, init_thread_key, totals,
    with_state, ThreadState,
};

use core::sync::atomic::Ordering;

use crate::sys::SpinGuard;
use live::{live_start_below, DIR_LOCK};
use state::{ORPHAN_LOCK, STATES_LOCK};
/// One block as the rest of the runtime sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// The program's pointer.
    pub ptr: usize,
    pub size: usize,
    pub stack: u32,
    /// AllocKind, with [`INTERNAL`] or'ed in for the runtime's own blocks.
    pub kind: u8,
}

/// What a block's header says ([`read_block`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub block: Block,
    /// The stack that freed it (0 while it is live).
    pub free_stack: u32,
    /// Whether it was freed (it is in a quarantine).
    pub freed: bool,
    /// Bytes from the start of glibc's chunk to the block (a power of two).
    pub offset: usize,
}

/// A freed block still in a quarantine.
#[derive(Clone, Copy, Debug)]
pub struct Freed {
    pub ptr: usize,
    pub size: usize,
    pub alloc_stack: u32,
    pub free_stack: u32,
}

/// The block (live or quarantined) whose memory or redzone holds `addr`:
/// `(live, block, free stack)`. Slow: for error reports only.
pub fn find_containing(addr: usize) -> Option<(bool, Block, u32)> {
    if let Some(found) = crate::guard::find(addr) {
        return Some(found);
    }
    let rz = redzone();
    let reach = MAX_SIZE_SEEN.load(Ordering::Relaxed) + rz;
    if let Some(q) = live_start_below(addr, reach) {
        // SAFETY: a set bit means a complete header.
        let b = unsafe { read_block(q) }.block;
        if addr < q + b.size.max(1) && b.kind & INTERNAL == 0 {
            return Some((true, b, 0));
        }
    }
    let inside = |f: &Freed| addr >= f.ptr && addr < f.ptr + f.size.max(1);
    if let Some(f) = find_freed(inside).or_else(|| crate::held::find_freed(&mut { inside })) {
        return Some((
            false,
            Block {
                ptr: f.ptr,
                size: f.size,
                stack: f.alloc_stack,
                kind: 0,
            },
            f.free_stack,
        ));
    }
    None
}

/// The runtime's table locks, held until dropped (fork prepare,
/// end-of-process report).
pub struct TableLocks {
    // Fields drop in order: the directory's lock first, as it was taken last.
    _dir: SpinGuard<'static>,
    _states: SpinGuard<'static>,
}

/// Holds the runtime's table locks (fork prepare, end-of-process report).
pub fn lock_all() -> TableLocks {
    let states = STATES_LOCK.lock();
    let dir = DIR_LOCK.lock();
    TableLocks {
        _dir: dir,
        _states: states,
    }
}

/// Frees the orphan state's lock (fork child; the others are released by
/// the fork handlers' [`TableLocks`]).
///
/// # Safety
/// Only in a fork child: the lock's holder did not survive the fork.
pub unsafe fn reset_in_child() {
    // SAFETY: as this function's.
    unsafe { ORPHAN_LOCK.force_unlock() };
}

#[cfg(test)]
mod tests;
