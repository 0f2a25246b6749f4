//! The Theil–Sen slope with its rank-based confidence interval.
//!
//! With the `N` pairwise slopes `(yj - yi) / (tj - ti)` (pairs with
//! `tj ≠ ti`) sorted ascending as `Q(1) ≤ … ≤ Q(N)`, the estimate is their
//! median. The interval at confidence `1 - α` (Sen 1968; Gilbert 1987,
//! §16.5) is
//!
//! ```text
//! C  = z(1 - α/2) · sqrt(Var S)          Var S: Mann–Kendall variance, tie-corrected
//! M1 = (N - C) / 2,  M2 = (N + C) / 2
//! lower = Q(M1),  upper = Q(M2 + 1)      (1-based ranks, interpolated between
//!                                          neighbours, clamped to 1..N)
//! ```
//!
//! For a series of one repeated value every slope is 0 and so is the
//! interval.

use serde::Serialize;

use crate::stats::{mann_kendall_variance, normal_quantile};

/// A slope (units of y per unit of t) and its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SlopeEstimate {
    /// The Theil–Sen slope: the median pairwise slope.
    pub slope: f64,
    /// Lower end of the interval.
    pub lower: f64,
    /// Upper end of the interval.
    pub upper: f64,
    /// The interval's confidence, e.g. 0.95.
    pub confidence: f64,
    /// The Theil–Sen intercept, `median(y - slope·t)`: the fitted line is
    /// `intercept + slope·t`.
    pub intercept: f64,
}

impl SlopeEstimate {
    /// The fitted line's value at `t`.
    pub fn at(&self, t: f64) -> f64 {
        self.intercept + self.slope * t
    }
}

fn median_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The value at 1-based, possibly fractional `rank` of sorted `v`
/// (interpolated, clamped to the ends).
fn at_rank(v: &[f64], rank: f64) -> f64 {
    let r = rank.clamp(1.0, v.len() as f64) - 1.0;
    let i = r.floor() as usize;
    let frac = r - i as f64;
    match v.get(i + 1) {
        Some(next) if frac > 0.0 => v[i] + frac * (next - v[i]),
        _ => v[i],
    }
}

/// Theil–Sen slope of `(t, y)` points (in time order) with its confidence
/// interval at `confidence` (0.95 for 95%). `None` with fewer than two
/// distinct t, or a confidence outside (0, 1).
pub fn theil_sen_ci(points: &[(f64, f64)], confidence: f64) -> Option<SlopeEstimate> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let mut slopes = Vec::with_capacity(points.len() * points.len().saturating_sub(1) / 2);
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            let dt = b.0 - a.0;
            if dt != 0.0 {
                slopes.push((b.1 - a.1) / dt);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_by(f64::total_cmp);
    let slope = median_sorted(&slopes);
    let values: Vec<f64> = points.iter().map(|p| p.1).collect();
    let c = normal_quantile(1.0 - (1.0 - confidence) / 2.0) * mann_kendall_variance(&values).sqrt();
    let n = slopes.len() as f64;
    let lower = at_rank(&slopes, (n - c) / 2.0);
    let upper = at_rank(&slopes, (n + c) / 2.0 + 1.0);
    let mut residuals: Vec<f64> = points.iter().map(|(t, y)| y - slope * t).collect();
    residuals.sort_by(f64::total_cmp);
    Some(SlopeEstimate {
        slope,
        lower: lower.min(slope),
        upper: upper.max(slope),
        confidence,
        intercept: median_sorted(&residuals),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_line_has_a_degenerate_interval() {
        let pts: Vec<(f64, f64)> = (0..20).map(|i| (i as f64, 5.0 + 2.0 * i as f64)).collect();
        let e = theil_sen_ci(&pts, 0.95).unwrap();
        assert_eq!((e.slope, e.lower, e.upper), (2.0, 2.0, 2.0));
        assert_eq!(e.intercept, 5.0);
        assert_eq!(e.at(10.0), 25.0);
    }

    #[test]
    fn noisy_line_interval_covers_the_true_slope_and_narrows_with_confidence() {
        // Deterministic noise of ±30 around slope 10.
        let noise = [13.0, -27.0, 5.0, 29.0, -11.0, -30.0, 21.0, 2.0, -19.0, 8.0];
        let pts: Vec<(f64, f64)> = (0..40)
            .map(|i| (i as f64, 1000.0 + 10.0 * i as f64 + noise[i % 10]))
            .collect();
        let e95 = theil_sen_ci(&pts, 0.95).unwrap();
        assert!(e95.lower < 10.0 && 10.0 < e95.upper, "{e95:?}");
        assert!((e95.slope - 10.0).abs() < 1.0, "{e95:?}");
        assert!(e95.upper - e95.lower < 4.0, "{e95:?}");
        let e50 = theil_sen_ci(&pts, 0.5).unwrap();
        assert!(
            e50.upper - e50.lower < e95.upper - e95.lower,
            "{e50:?} {e95:?}"
        );
    }

    #[test]
    fn interval_matches_the_formula_by_hand() {
        // 5 points, N = 10 slopes; Var S = 5·4·15/18 = 16.67, C = 1.96·4.08 = 8.0;
        // M1 = 1.0, M2 + 1 = 10.0: the interval is the extreme slopes.
        let pts = [(0.0, 0.0), (1.0, 3.0), (2.0, 3.5), (3.0, 7.0), (4.0, 7.5)];
        let e = theil_sen_ci(&pts, 0.95).unwrap();
        let mut all = vec![];
        for i in 0..5 {
            for j in i + 1..5 {
                all.push((pts[j].1 - pts[i].1) / (pts[j].0 - pts[i].0));
            }
        }
        all.sort_by(f64::total_cmp);
        assert!(
            (e.lower - all[0]).abs() < 0.1 * (all[1] - all[0]) + 1e-9,
            "{e:?} {all:?}"
        );
        assert_eq!(e.upper, all[9]);
        assert_eq!(e.slope, (all[4] + all[5]) / 2.0);
    }

    #[test]
    fn flat_series_and_degenerate_input() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 42.0)).collect();
        let e = theil_sen_ci(&pts, 0.95).unwrap();
        assert_eq!(
            (e.slope, e.lower, e.upper, e.intercept),
            (0.0, 0.0, 0.0, 42.0)
        );
        assert!(theil_sen_ci(&[(1.0, 1.0), (1.0, 2.0)], 0.95).is_none());
        assert!(theil_sen_ci(&pts, 1.0).is_none());
    }
}
