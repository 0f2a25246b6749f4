//! Robust trend statistics for short, noisy series: the Theil–Sen slope
//! (median of pairwise slopes, unmoved by a few outliers such as a cache
//! shrink) and the Mann–Kendall test (does the series rise more often than
//! chance would have it?), plus the normal distribution they lean on.

use serde::Serialize;

/// Theil–Sen slope of `(x, y)` points: the median of `(yj - yi) / (xj - xi)`
/// over all pairs with distinct x. `None` with fewer than two distinct x.
pub fn theil_sen(points: &[(f64, f64)]) -> Option<f64> {
    let mut slopes = Vec::with_capacity(points.len() * points.len() / 2);
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            let dx = b.0 - a.0;
            if dx != 0.0 {
                slopes.push((b.1 - a.1) / dx);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_by(f64::total_cmp);
    let n = slopes.len();
    Some(if n % 2 == 1 {
        slopes[n / 2]
    } else {
        (slopes[n / 2 - 1] + slopes[n / 2]) / 2.0
    })
}

/// Result of the Mann–Kendall test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MannKendall {
    /// S: concordant minus discordant pairs.
    pub s: i64,
    /// Var(S) under "no trend", tie-corrected (see [`mann_kendall_variance`]).
    pub variance: f64,
    /// Normal approximation of S (with continuity correction and tie correction).
    pub z: f64,
    /// One-sided p-value for an increasing trend.
    pub p_increasing: f64,
}

/// The Mann–Kendall test on values in time order. `None` below 4 values,
/// where the test cannot reach any useful significance.
pub fn mann_kendall(values: &[f64]) -> Option<MannKendall> {
    let n = values.len();
    if n < 4 {
        return None;
    }
    let mut s: i64 = 0;
    for i in 0..n {
        for j in i + 1..n {
            s += match values[j].partial_cmp(&values[i]) {
                Some(std::cmp::Ordering::Greater) => 1,
                Some(std::cmp::Ordering::Less) => -1,
                _ => 0,
            };
        }
    }
    let var = mann_kendall_variance(values);
    let z = if var <= 0.0 {
        0.0
    } else if s > 0 {
        (s as f64 - 1.0) / var.sqrt()
    } else if s < 0 {
        (s as f64 + 1.0) / var.sqrt()
    } else {
        0.0
    };
    Some(MannKendall {
        s,
        variance: var,
        z,
        p_increasing: 1.0 - normal_cdf(z),
    })
}

/// Var(S) of the Mann–Kendall statistic when there is no trend, with the
/// tie correction: `(n(n-1)(2n+5) - Σ t(t-1)(2t+5)) / 18`, the sum over
/// groups of `t` equal values. A series of one repeated value has variance 0.
pub fn mann_kendall_variance(values: &[f64]) -> f64 {
    let n = values.len();
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && sorted[j + 1] == sorted[i] {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        if t > 1.0 {
            ties += t * (t - 1.0) * (2.0 * t + 5.0);
        }
        i = j + 1;
    }
    let nf = n as f64;
    ((nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0).max(0.0)
}

/// Standard normal CDF via erfc (Numerical Recipes' rational approximation,
/// relative error below 1.2e-7).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Inverse of the standard normal CDF (Acklam's rational approximation,
/// relative error below 1.2e-9): `normal_quantile(0.975)` ≈ 1.96.
/// `p` outside (0, 1) gives ±infinity.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theil_sen_ignores_one_outlier() {
        let mut pts: Vec<(f64, f64)> = (0..10)
            .map(|i| (i as f64, 100.0 + 3.0 * i as f64))
            .collect();
        pts[4].1 = 10_000.0;
        assert_eq!(theil_sen(&pts), Some(3.0));
        assert_eq!(theil_sen(&[(1.0, 1.0)]), None);
    }

    #[test]
    fn mann_kendall_separates_rising_from_flat_noise() {
        let rising: Vec<f64> = (0..12)
            .map(|i| 1000.0 + 10.0 * i as f64 + if i % 2 == 0 { 4.0 } else { -4.0 })
            .collect();
        let mk = mann_kendall(&rising).unwrap();
        assert!(mk.p_increasing < 0.001, "{mk:?}");
        let noise = [5.0, 3.0, 6.0, 2.0, 5.0, 4.0, 6.0, 3.0, 5.0, 4.0];
        let mk = mann_kendall(&noise).unwrap();
        assert!(mk.p_increasing > 0.1, "{mk:?}");
        let flat = [7.0; 8];
        let mk = mann_kendall(&flat).unwrap();
        assert_eq!(mk.s, 0);
        assert!((mk.p_increasing - 0.5).abs() < 1e-6);
        assert!(mann_kendall(&[1.0, 2.0, 3.0]).is_none());
    }

    #[test]
    fn normal_cdf_matches_tables() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.96) - 0.975).abs() < 1e-4);
        assert!((normal_cdf(-2.326) - 0.01).abs() < 1e-4);
    }

    #[test]
    fn normal_quantile_inverts_the_cdf() {
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-5);
        assert!((normal_quantile(0.5)).abs() < 1e-9);
        assert!((normal_quantile(0.01) + 2.326_348).abs() < 1e-5);
        for p in [0.001, 0.02, 0.3, 0.7, 0.99, 0.9999] {
            assert!((normal_cdf(normal_quantile(p)) - p).abs() < 1e-6, "{p}");
        }
        assert_eq!(normal_quantile(1.0), f64::INFINITY);
    }

    #[test]
    fn tie_correction_lowers_the_variance() {
        // n = 6 without ties: 6·5·17/18.
        let plain = mann_kendall_variance(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!((plain - 28.333_333).abs() < 1e-5);
        // One group of three equal values: minus 3·2·11 = 66.
        let tied = mann_kendall_variance(&[1.0, 2.0, 2.0, 2.0, 5.0, 6.0]);
        assert!((tied - (510.0 - 66.0) / 18.0).abs() < 1e-9);
        assert_eq!(mann_kendall_variance(&[4.0; 6]), 0.0);
    }
}
