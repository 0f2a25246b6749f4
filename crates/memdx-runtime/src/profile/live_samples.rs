//! The sampled blocks still live (`memdx heap --sample`): a release is
//! recorded only for a block recorded at its allocation.

use core::sync::atomic::{AtomicU8, Ordering};

use crate::sys::{Racy, SpinLock};

const FILTER: usize = 1 << 11;
const CAP: usize = 1 << 16;
const MASK: usize = CAP - 1;

/// A counting filter of the live sampled blocks (saturating at 255,
/// changed under LOCK): a zero means "not sampled" without taking the
/// lock. Small (2 KiB: it must stay in cache, a miss on every release
/// costs more than the rest of the path); it counts live samples only,
/// so it stays nearly empty at usual intervals.
static COUNTS: [AtomicU8; FILTER] = [const { AtomicU8::new(0) }; FILTER];
static LOCK: SpinLock = SpinLock::new();
/// Linear probing, 0 for empty, backward-shift deletion.
static TABLE: Racy<[usize; CAP]> = Racy::new([0; CAP]);
static COUNT: Racy<usize> = Racy::new(0);

fn hash(p: usize) -> usize {
    (p >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn slot(p: usize) -> &'static AtomicU8 {
    &COUNTS[hash(p) >> (usize::BITS - 11)]
}

fn home(p: usize) -> usize {
    hash(p) >> (usize::BITS - 16)
}

/// Remembers a sampled block; false when the set is full (the block
/// is then not recorded).
pub fn insert(p: usize) -> bool {
    let _held = LOCK.lock();
    // SAFETY: under LOCK.
    let (t, n) = unsafe { (&mut *TABLE.get(), &mut *COUNT.get()) };
    if *n >= CAP / 4 * 3 {
        return false;
    }
    let mut i = home(p);
    while t[i] != 0 && t[i] != p {
        i = (i + 1) & MASK;
    }
    if t[i] == 0 {
        *n += 1;
    }
    t[i] = p;
    let c = slot(p);
    let n = c.load(Ordering::Relaxed);
    if n < u8::MAX {
        c.store(n + 1, Ordering::Relaxed);
    }
    true
}

/// Whether `p` may be a sampled block (false: certainly not).
#[inline(always)]
pub fn maybe_sampled(p: usize) -> bool {
    slot(p).load(Ordering::Relaxed) != 0
}

/// Forgets `p`; whether it was a sampled block.
pub fn remove(p: usize) -> bool {
    maybe_sampled(p) && remove_locked(p)
}

fn remove_locked(p: usize) -> bool {
    let _held = LOCK.lock();
    // SAFETY: under LOCK.
    let (t, n) = unsafe { (&mut *TABLE.get(), &mut *COUNT.get()) };
    let mut i = home(p);
    while t[i] != p {
        if t[i] == 0 {
            return false;
        }
        i = (i + 1) & MASK;
    }
    // Backward-shift deletion: move later entries of the run whose
    // home is not in (i, j] into the hole.
    let mut j = i;
    loop {
        j = (j + 1) & MASK;
        let v = t[j];
        if v == 0 {
            break;
        }
        let k = home(v);
        let stays = if i <= j {
            i < k && k <= j
        } else {
            i < k || k <= j
        };
        if !stays {
            t[i] = v;
            i = j;
        }
    }
    t[i] = 0;
    *n -= 1;
    let c = slot(p);
    let k = c.load(Ordering::Relaxed);
    if k < u8::MAX {
        // A saturated counter stays (it may stand for more blocks).
        c.store(k - 1, Ordering::Relaxed);
    }
    true
}

/// Forgets every sampled block (a new attach: the earlier ones are
/// not in the new recording).
pub fn clear() {
    let _held = LOCK.lock();
    // SAFETY: under LOCK.
    unsafe {
        (*TABLE.get()).fill(0);
        *COUNT.get() = 0;
    }
    for c in &COUNTS {
        c.store(0, Ordering::Relaxed);
    }
}

/// A fork child: the lock's holder may not exist any more.
///
/// # Safety
/// Only in a fork child, whose only thread is the one that forked.
pub unsafe fn reset_lock() {
    // SAFETY: as this function's.
    unsafe { LOCK.force_unlock() };
}
