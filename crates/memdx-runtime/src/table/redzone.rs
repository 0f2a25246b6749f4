//! The bytes the runtime writes around and into blocks: the redzone canary
//! after each block and the poison of freed blocks (their sizes, fixed at
//! first use), written and verified eight bytes at a time.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::sys;

/// Bytes written after each block and checked when it is freed
/// (`--redzone-size`, from `MEMDX_REDZONE_SIZE`). Fixed by the first
/// allocation (blocks made before the constructor ran must keep the size
/// their canary was written with).
static REDZONE: AtomicUsize = AtomicUsize::new(usize::MAX);
/// Redzone bytes when the option is not given (Valgrind's default).
pub const DEFAULT_REDZONE: usize = 16;

/// The redzone size.
#[inline]
pub fn redzone() -> usize {
    let rz = REDZONE.load(Ordering::Relaxed);
    if rz != usize::MAX {
        return rz;
    }
    redzone_first()
}

/// Fixes the redzone size at its first use.
#[cold]
#[inline(never)]
fn redzone_first() -> usize {
    let v = sys::getenv(c"MEMDX_REDZONE_SIZE")
        .and_then(sys::parse_usize)
        .map_or(DEFAULT_REDZONE, |v| v.min(4096));
    REDZONE.store(v, Ordering::Relaxed);
    v
}
/// The redzone canary byte.
pub const CANARY: u8 = 0xfa;
/// What freed blocks are filled with while in the quarantine.
pub const POISON: u8 = 0xfd;
/// Bytes of each freed block poisoned and verified when it leaves the
/// quarantine (the block's first bytes), from `MEMDX_POISON_SIZE`; fixed by
/// the first release, like the redzone.
static POISON_MAX: AtomicUsize = AtomicUsize::new(usize::MAX);
/// Poisoned bytes when the option is not given.
pub const DEFAULT_POISON: usize = 32;

/// Bytes of a freed block to poison.
#[inline]
pub fn poison_max() -> usize {
    let v = POISON_MAX.load(Ordering::Relaxed);
    if v != usize::MAX {
        return v;
    }
    poison_first()
}

/// Fixes the poisoned size at its first use.
#[cold]
#[inline(never)]
fn poison_first() -> usize {
    let v = sys::getenv(c"MEMDX_POISON_SIZE")
        .and_then(sys::parse_usize)
        .unwrap_or(DEFAULT_POISON);
    POISON_MAX.store(v, Ordering::Relaxed);
    v
}

/// Sets `n` bytes at `at` to `byte`: 8 to 32 bytes (the default canary
/// and poison) with two overlapping stores, other lengths with glibc's
/// memset (`ptr::write_bytes` would call the exported, checked `memset`).
///
/// # Safety
/// `at .. at + n` must be writable.
#[inline(always)]
pub unsafe fn fill(at: usize, byte: u8, n: usize) {
    if n == 0 {
        return;
    }
    if (16..=32).contains(&n) {
        // Two overlapping 16-byte stores.
        let v = u128::from_ne_bytes([byte; 16]);
        let p = at as *mut u8;
        // SAFETY: both stores end at or before at + n.
        unsafe {
            p.cast::<u128>().write_unaligned(v);
            p.add(n - 16).cast::<u128>().write_unaligned(v);
        }
    } else if (8..16).contains(&n) {
        let v = u64::from_ne_bytes([byte; 8]);
        let p = at as *mut u8;
        // SAFETY: both stores end at or before at + n.
        unsafe {
            p.cast::<u64>().write_unaligned(v);
            p.add(n - 8).cast::<u64>().write_unaligned(v);
        }
    } else {
        // SAFETY: forwarded.
        unsafe { crate::strmem::raw_memset(at as *mut u8, byte, n) };
    }
}

/// Writes the redzone canary after a block.
///
/// # Safety
/// `q + size .. q + size + REDZONE` must be writable and owned by the block.
#[inline]
pub unsafe fn write_canary(q: usize, size: usize) {
    let rz = redzone();
    // SAFETY: per the contract.
    unsafe { fill(q + size, CANARY, rz) };
}

/// Offsets (relative to the block end) of the first and last damaged byte
/// of the redzone, or None when the canary is intact.
///
/// # Safety
/// As [`write_canary`].
#[inline]
pub unsafe fn check_canary(q: usize, size: usize) -> Option<(usize, usize)> {
    let rz = redzone();
    // SAFETY: per the contract.
    if unsafe { all_bytes(q + size, CANARY, rz) } {
        return None;
    }
    // SAFETY: per the contract.
    let zone = unsafe { core::slice::from_raw_parts((q + size) as *const u8, rz) };
    first_last_not(zone, CANARY)
}

/// Whether all `n` bytes at `at` are `byte`: the check of every redzone
/// and poisoned block, so the default sizes (8 to 32 bytes) take two
/// overlapping loads, as [`fill`] writes them.
///
/// # Safety
/// `at .. at + n` must be readable.
#[inline(always)]
pub(super) unsafe fn all_bytes(at: usize, byte: u8, n: usize) -> bool {
    let p = at as *const u8;
    if (16..=32).contains(&n) {
        let v = u128::from_ne_bytes([byte; 16]);
        // SAFETY: both loads end at or before at + n.
        return unsafe {
            (p.cast::<u128>().read_unaligned() ^ v)
                | (p.add(n - 16).cast::<u128>().read_unaligned() ^ v)
        } == 0;
    }
    if (8..16).contains(&n) {
        let v = u64::from_ne_bytes([byte; 8]);
        // SAFETY: both loads end at or before at + n.
        return unsafe {
            (p.cast::<u64>().read_unaligned() ^ v)
                | (p.add(n - 8).cast::<u64>().read_unaligned() ^ v)
        } == 0;
    }
    // SAFETY: per the contract.
    let bytes = unsafe { core::slice::from_raw_parts(p, n) };
    first_last_not(bytes, byte).is_none()
}

/// Offsets of the first and last byte of `bytes` that differ from `want`.
/// Compares eight bytes at a time: this runs on every free.
#[inline]
pub(super) fn first_last_not(bytes: &[u8], want: u8) -> Option<(usize, usize)> {
    let pattern = u64::from_ne_bytes([want; 8]);
    let chunks = bytes.chunks_exact(8);
    let tail = chunks.remainder();
    // No early exit: the fold vectorises, and damage is the rare case.
    let diff = chunks.fold(0u64, |acc, c| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        acc | (u64::from_ne_bytes(w) ^ pattern)
    });
    if diff == 0 && tail.iter().all(|&b| b == want) {
        return None;
    }
    let first = bytes.iter().position(|&b| b != want)?;
    let last = bytes.iter().rposition(|&b| b != want).unwrap_or(first);
    Some((first, last))
}
