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
    ((-ln(u) * t as f64) as i64).max(1)
}

/// The natural logarithm of a positive, finite, normal `x`, without the C
/// math library (one library fewer for every process to load): with
/// `x = m * 2^e`, `m` in [sqrt(1/2), sqrt(2)), `ln x = e ln 2 + 2 atanh(s)`
/// where `s = (m - 1) / (m + 1)` (|s| <= 0.172), and atanh's odd series to
/// `s^15` leaves an error under 1e-13: far below what an exponential
/// sampling gap needs.
fn ln(x: f64) -> f64 {
    const MANTISSA: u64 = (1 << 52) - 1;
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    // The mantissa with a zero exponent: m in [1, 2).
    let mut m = f64::from_bits((bits & MANTISSA) | (1023 << 52));
    if m > core::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series = 1.0
        + s2 * (1.0 / 3.0
            + s2 * (1.0 / 5.0
                + s2 * (1.0 / 7.0
                    + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0 + s2 / 15.0))))));
    e as f64 * core::f64::consts::LN_2 + 2.0 * s * series
}

/// Whether sampling is on and the block of `size` bytes certainly holds
/// no sample point (the thread's countdown, taken down by `size`, is still
/// positive). Never calls anything.
#[inline(always)]
pub fn unsampled(size: usize) -> bool {
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

#[cfg(test)]
mod tests {
    use super::ln;

    #[test]
    fn ln_matches_the_math_library_where_sampling_uses_it() {
        // Every value a gap is drawn from is (k + 1) / 2^53, k < 2^53:
        // from 2^-53 to 1, spread over every binade and mantissa.
        let mut worst = 0f64;
        let mut x = 1.0f64;
        let mut k = 0x9E37_79B9_7F4A_7C15u64;
        while x > 1e-17 {
            for _ in 0..2000 {
                k ^= k << 13;
                k ^= k >> 7;
                k ^= k << 17;
                let u = x * (0.5 + (k >> 11) as f64 / (1u64 << 54) as f64);
                let err = (ln(u) - u.ln()).abs() / u.ln().abs().max(1e-300);
                worst = worst.max(err);
            }
            x *= 0.5;
        }
        assert!(worst < 1e-13, "worst relative error {worst:e}");
        for (v, want) in [
            (1.0, 0.0),
            (0.5, -core::f64::consts::LN_2),
            (2f64.powi(-53), -53.0 * core::f64::consts::LN_2),
        ] {
            assert!(
                (ln(v) - want).abs() < 1e-13,
                "ln({v}) = {} not {want}",
                ln(v)
            );
        }
        // Near 1 (the series' own region) the absolute error matters.
        for i in 1..1000 {
            let u = 1.0 - i as f64 * 1e-6;
            assert!((ln(u) - u.ln()).abs() < 1e-15, "ln({u})");
        }
    }
}
