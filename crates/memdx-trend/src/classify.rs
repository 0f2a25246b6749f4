//! From a series of `(t, bytes)` samples to a verdict with its evidence.
//! The method is described in the crate documentation.

use serde::Serialize;

use crate::slope::{theil_sen_ci, SlopeEstimate};
use crate::stats::{mann_kendall, MannKendall};
use crate::window::window_minima;
use crate::Point;

/// The knobs of [`classify`]. `Params::default()` suits process and cgroup
/// memory sampled every fraction of a second to every few minutes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Params {
    /// Seconds at the start of the series to ignore (start-up allocations).
    pub warmup_s: f64,
    /// Confidence of the slope's interval (0.95).
    pub confidence: f64,
    /// Smallest change over the judged span that counts as growth (or a
    /// step), in bytes: below it a significant trend is still "stable".
    pub min_change_bytes: f64,
    /// Fewest samples (after the warm-up) to judge at all.
    pub min_samples: usize,
    /// Most points the O(n²) statistics look at: longer series are thinned
    /// evenly (jump detection always sees every sample).
    pub max_points: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            warmup_s: 0.0,
            confidence: 0.95,
            min_change_bytes: 256.0 * 1024.0,
            min_samples: 8,
            max_points: 400,
        }
    }
}

/// What a series does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Not enough samples after the warm-up to say anything.
    TooFewSamples {
        /// Samples available.
        have: usize,
        /// Samples needed.
        need: usize,
    },
    /// Grows steadily: the slope's interval lies above zero and the growth
    /// over the span is at least `min_change_bytes`. `on_minima`: judged on
    /// the troughs of a sawtooth (the floor rises under periodic releases).
    Growing {
        /// Bytes per second, with its interval.
        rate: SlopeEstimate,
        /// Whether the rate is that of the per-window minima.
        on_minima: bool,
    },
    /// Shrinks steadily (the mirror of `Growing`).
    Shrinking {
        /// Bytes per second, with its interval.
        rate: SlopeEstimate,
    },
    /// No trend worth the name: the interval holds zero, or the change over
    /// the span is below `min_change_bytes`.
    Stable {
        /// Bytes per second, with its interval.
        rate: SlopeEstimate,
    },
    /// Grows and is released periodically, and the troughs do not rise.
    Sawtooth {
        /// Median time between releases, seconds.
        period_s: f64,
        /// Median size of a release, bytes.
        amplitude_bytes: f64,
        /// How many releases were seen.
        releases: usize,
        /// The troughs' rate (per-window minima), when there were enough
        /// windows to estimate it.
        trough_rate: Option<SlopeEstimate>,
    },
    /// One jump (up or down), flat before and after.
    Step {
        /// Time of the first sample after the jump.
        at_t: f64,
        /// Median level before the jump, bytes.
        before_bytes: f64,
        /// Median level after the jump, bytes.
        after_bytes: f64,
    },
}

/// A verdict and the facts behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// The verdict.
    pub verdict: Verdict,
    /// Samples judged (after the warm-up).
    pub samples: usize,
    /// Time from the first to the last judged sample, seconds.
    pub span_s: f64,
    /// First and last judged values, bytes.
    pub first_bytes: f64,
    /// See `first_bytes`.
    pub last_bytes: f64,
    /// Lowest and highest judged values, bytes.
    pub min_bytes: f64,
    /// See `min_bytes`.
    pub max_bytes: f64,
    /// The Mann–Kendall test on the judged series (the samples, or the
    /// per-window minima of a sawtooth), when there were at least 4 points.
    pub mann_kendall: Option<MannKendall>,
}

impl Analysis {
    /// The rate the verdict rests on (growing, shrinking, stable, or a
    /// sawtooth's troughs).
    pub fn rate(&self) -> Option<&SlopeEstimate> {
        match &self.verdict {
            Verdict::Growing { rate, .. }
            | Verdict::Shrinking { rate }
            | Verdict::Stable { rate } => Some(rate),
            Verdict::Sawtooth { trough_rate, .. } => trough_rate.as_ref(),
            _ => None,
        }
    }
}

/// A run of consecutive large differences of one sign: one jump.
#[derive(Debug, Clone, Copy)]
struct Jump {
    /// Index of the first sample after the jump.
    after: usize,
    /// Total change, bytes.
    size: f64,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Jumps: consecutive differences at least `threshold` in size, runs of one
/// sign merged (a jump caught mid-way by a sample is still one jump).
fn jumps(points: &[Point], threshold: f64) -> Vec<Jump> {
    let mut out: Vec<Jump> = Vec::new();
    let mut last_index = usize::MAX;
    for i in 1..points.len() {
        let d = points[i].bytes - points[i - 1].bytes;
        if d.abs() < threshold {
            continue;
        }
        match out.last_mut() {
            Some(j) if last_index + 1 == i && (j.size > 0.0) == (d > 0.0) => {
                j.size += d;
                j.after = i;
            }
            _ => out.push(Jump { after: i, size: d }),
        }
        last_index = i;
    }
    out
}

/// Every `k`-th point so that at most `max` remain (the last one kept).
fn thin(points: &[Point], max: usize) -> Vec<(f64, f64)> {
    let max = max.max(4);
    let step = points.len().div_ceil(max).max(1);
    let mut out: Vec<(f64, f64)> = points
        .iter()
        .step_by(step)
        .map(|p| (p.t, p.bytes))
        .collect();
    if let Some(last) = points.last() {
        if out.last().map(|p| p.0) != Some(last.t) && out.len() < max {
            out.push((last.t, last.bytes));
        }
    }
    out
}

/// Trend on `points`: the slope with its interval, and the MK test.
fn trend(points: &[Point], params: &Params) -> Option<(SlopeEstimate, Option<MannKendall>)> {
    let pts = thin(points, params.max_points);
    let rate = theil_sen_ci(&pts, params.confidence)?;
    let values: Vec<f64> = pts.iter().map(|p| p.1).collect();
    Some((rate, mann_kendall(&values)))
}

/// Whether `rate` over `span_s` is growth (Some(true)), shrinkage
/// (Some(false)) or neither.
fn direction(rate: &SlopeEstimate, span_s: f64, params: &Params) -> Option<bool> {
    if rate.lower > 0.0 && rate.slope * span_s >= params.min_change_bytes {
        Some(true)
    } else if rate.upper < 0.0 && -rate.slope * span_s >= params.min_change_bytes {
        Some(false)
    } else {
        None
    }
}

/// Classifies a series of samples in time order. See the crate docs for the
/// method.
pub fn classify(series: &[Point], params: &Params) -> Analysis {
    let start = series.first().map_or(0.0, |p| p.t) + params.warmup_s;
    let points: Vec<Point> = series.iter().copied().filter(|p| p.t >= start).collect();
    let n = points.len();
    let (first, last) = match (points.first(), points.last()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => (Point { t: 0.0, bytes: 0.0 }, Point { t: 0.0, bytes: 0.0 }),
    };
    let min_bytes = points.iter().map(|p| p.bytes).fold(f64::INFINITY, f64::min);
    let max_bytes = points
        .iter()
        .map(|p| p.bytes)
        .fold(f64::NEG_INFINITY, f64::max);
    let mut analysis = Analysis {
        verdict: Verdict::TooFewSamples {
            have: n,
            need: params.min_samples.max(4),
        },
        samples: n,
        span_s: last.t - first.t,
        first_bytes: first.bytes,
        last_bytes: last.bytes,
        min_bytes: if n == 0 { 0.0 } else { min_bytes },
        max_bytes: if n == 0 { 0.0 } else { max_bytes },
        mann_kendall: None,
    };
    if n < params.min_samples.max(4) || analysis.span_s <= 0.0 {
        return analysis;
    }
    let span = analysis.span_s;

    // Noise: the robust spread (1.4826·MAD) of the differences.
    let mut diffs: Vec<f64> = points.windows(2).map(|w| w[1].bytes - w[0].bytes).collect();
    let med = median(&mut diffs);
    let mut dev: Vec<f64> = diffs.iter().map(|d| (d - med).abs()).collect();
    let noise = 1.4826 * median(&mut dev);
    let range = max_bytes - min_bytes;
    let threshold = (5.0 * noise)
        .max(0.25 * range)
        .max(params.min_change_bytes)
        .max(f64::MIN_POSITIVE);
    let found = jumps(&points, threshold);
    let releases: Vec<&Jump> = found.iter().filter(|j| j.size < 0.0).collect();

    if releases.len() >= 2 {
        let times: Vec<f64> = releases.iter().map(|j| points[j.after].t).collect();
        let mut gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let longest_gap = gaps.iter().copied().fold(0.0, f64::max);
        let period_s = median(&mut gaps);
        let mut sizes: Vec<f64> = releases.iter().map(|j| -j.size).collect();
        let amplitude_bytes = median(&mut sizes);
        // Windows as long as the longest gap between releases hold a trough each.
        let minima = window_minima(&points, longest_gap);
        let minima_trend = if minima.len() >= 4 {
            trend(&minima, params)
        } else {
            None
        };
        if let Some((rate, mk)) = minima_trend {
            analysis.mann_kendall = mk;
            let minima_span = minima.last().map_or(0.0, |l| l.t) - minima[0].t;
            if direction(&rate, minima_span, params) == Some(true) {
                analysis.verdict = Verdict::Growing {
                    rate,
                    on_minima: true,
                };
                return analysis;
            }
        }
        analysis.verdict = Verdict::Sawtooth {
            period_s,
            amplitude_bytes,
            releases: releases.len(),
            trough_rate: minima_trend.map(|(r, _)| r),
        };
        return analysis;
    }

    if let [jump] = found.as_slice() {
        let before = &points[..jump.after];
        let after = &points[jump.after..];
        if before.len() >= 2 && after.len() >= 3 {
            let mut b: Vec<f64> = before.iter().map(|p| p.bytes).collect();
            let mut a: Vec<f64> = after.iter().map(|p| p.bytes).collect();
            let before_bytes = median(&mut b);
            let after_bytes = median(&mut a);
            // Take the jump out; what is left must be flat.
            let shift = after_bytes - before_bytes;
            let flattened: Vec<Point> = before
                .iter()
                .copied()
                .chain(after.iter().map(|p| Point {
                    t: p.t,
                    bytes: p.bytes - shift,
                }))
                .collect();
            if let Some((rate, _)) = trend(&flattened, params) {
                if direction(&rate, span, params).is_none()
                    && shift.abs() >= params.min_change_bytes
                {
                    analysis.verdict = Verdict::Step {
                        at_t: after[0].t,
                        before_bytes,
                        after_bytes,
                    };
                    analysis.mann_kendall = trend(&points, params).and_then(|(_, mk)| mk);
                    return analysis;
                }
            }
        }
    }

    let Some((rate, mk)) = trend(&points, params) else {
        return analysis;
    };
    analysis.mann_kendall = mk;
    analysis.verdict = match direction(&rate, span, params) {
        Some(true) => Verdict::Growing {
            rate,
            on_minima: false,
        },
        Some(false) => Verdict::Shrinking { rate },
        None => Verdict::Stable { rate },
    };
    analysis
}
