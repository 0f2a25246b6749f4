//! Sampling (`memdx heap --sample BYTES`): a per-thread countdown of
//! allocated bytes drawn from an exponential distribution (see the
//! parent module's docs).

use core::sync::atomic::Ordering;

use super::{now, INTERVAL};
use crate::tls;

/// Whether an allocation of `size` bytes is recorded: always when every
/// allocation is; when sampling, when it holds a sample point. The common
/// case (no sample point) is a subtraction on the thread's countdown.
#[inline(always)]
pub(super) fn wanted(size: usize) -> bool {
    let t = INTERVAL.load(Ordering::Relaxed);
    if t == 0 || size as u64 >= t {
        return true;
    }
    let td = tls::get();
    let left = td.heap_countdown.get() - size as i64;
    if left > 0 {
        td.heap_countdown.set(left);
        return false;
    }
    countdown_ran_out(td, size, t)
}

/// The countdown started at 0 (a new thread) or ran out inside this block:
/// a new exponential gap starts (memoryless, so the block holds a sample
/// point with probability 1 - exp(-size/T)).
#[cold]
#[inline(never)]
fn countdown_ran_out(td: &tls::ThreadData, size: usize, t: u64) -> bool {
    let first = td.heap_countdown.get() == 0;
    td.heap_countdown.set(next_gap(td, t));
    if first {
        return wanted(size);
    }
    true
}

/// An exponential gap of mean `t` bytes (xorshift64* per thread).
fn next_gap(td: &tls::ThreadData, t: u64) -> i64 {
    let mut x = td.heap_rng.get();
    if x == 0 {
        x = now() ^ tls::thread_pointer() as u64 | 1;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    td.heap_rng.set(x);
    let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
    let u = ((r >> 11) + 1) as f64 / (1u64 << 53) as f64;
    ((-u.ln() * t as f64) as i64).max(1)
}

/// Whether sampling is on and the block of `size` bytes certainly holds
/// no sample point (the thread's countdown, taken down by `size`, is still
/// positive). Never calls anything.
#[inline(always)]
pub(super) fn unsampled(size: usize) -> bool {
    let t = INTERVAL.load(Ordering::Relaxed);
    if t == 0 || size as u64 >= t {
        return false;
    }
    let Some(td) = tls::get_fast() else {
        return false;
    };
    let left = td.heap_countdown.get() - size as i64;
    if left > 0 {
        td.heap_countdown.set(left);
        return true;
    }
    false
}
