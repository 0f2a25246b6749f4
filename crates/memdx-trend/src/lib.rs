//! Is this memory series leaking? Robust statistics for memory sampled over
//! time, and a classifier that turns a series into a verdict with evidence.
//! No I/O: callers (`memdx watch`, `memdx report`, `memdx slab`) sample and
//! print.
//!
//! # Method
//!
//! [`classify`] takes samples `(t seconds, bytes)` in time order and
//! [`Params`]:
//!
//! 1. **Warm-up.** Samples in the first `warmup_s` seconds are dropped
//!    (start-up allocations are not a trend). Fewer than `min_samples` left:
//!    [`Verdict::TooFewSamples`].
//! 2. **Jumps.** The noise level is the robust spread of the differences
//!    between consecutive samples (1.4826 × their median absolute deviation).
//!    A *jump* is a run of consecutive differences of one sign, each at least
//!    `max(5 × noise, 25% of the range, min_change_bytes)`; a drop is a
//!    *release*.
//! 3. **Sawtooth.** Two or more releases: memory grows and is given back.
//!    Growth is then judged on the **per-window minima** ([`window_minima`];
//!    windows as long as the longest time between releases, so each holds a
//!    trough): if the troughs rise (test 5 on at least 4 minima), the verdict
//!    is [`Verdict::Growing`] with `on_minima`; otherwise
//!    [`Verdict::Sawtooth`] with the median period and release size.
//! 4. **Step.** Exactly one jump, with at least 2 samples before and 3 after:
//!    the jump (difference of the medians after and before) is taken out; if
//!    what is left is flat by test 5 and the jump is at least
//!    `min_change_bytes`, the verdict is [`Verdict::Step`].
//! 5. **Trend.** The Theil–Sen slope (median of pairwise slopes; a few wild
//!    samples do not move it) with its rank-based confidence interval
//!    ([`theil_sen_ci`], formula there), and the Mann–Kendall test with the tie
//!    correction ([`mann_kendall`]; flat series of repeated values are many
//!    ties and get no spurious significance). Growing: the interval's lower
//!    end is above zero *and* the slope times the span is at least
//!    `min_change_bytes`. Shrinking: the mirror. Otherwise stable.
//!
//! Series longer than `max_points` are thinned evenly before the O(n²)
//! statistics (jump detection always sees every sample).
//!
//! [`time_to_limit`] projects a growth rate onto a limit (a cgroup's
//! `memory.max`, MemTotal), with the interval that the rate's interval gives.
//!
//! ```
//! use memdx_trend::{classify, Params, Point, Verdict};
//! // 1 MiB per second for a minute, a sample every 2 s.
//! let series: Vec<Point> = (0..30)
//!     .map(|i| Point { t: 2.0 * i as f64, bytes: 50e6 + 2.0 * 1048576.0 * i as f64 })
//!     .collect();
//! let analysis = classify(&series, &Params::default());
//! let Verdict::Growing { rate, .. } = analysis.verdict else { panic!() };
//! assert!((rate.slope - 1048576.0).abs() < 1.0);
//! ```

#![deny(missing_docs)]

mod classify;
mod limit;
mod slope;
pub mod stats;
mod window;

pub use classify::{classify, Analysis, Params, Verdict};
pub use limit::{time_to_limit, TimeToLimit};
pub use slope::{theil_sen_ci, SlopeEstimate};
pub use stats::{
    mann_kendall, mann_kendall_variance, normal_cdf, normal_quantile, theil_sen, MannKendall,
};
pub use window::window_minima;

/// One sample: seconds (from any origin) and bytes.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Point {
    /// Time, seconds.
    pub t: f64,
    /// Bytes.
    pub bytes: f64,
}

#[cfg(test)]
mod tests;
