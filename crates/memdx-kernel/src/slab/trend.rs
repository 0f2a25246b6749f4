//! Robust trend statistics for short, noisy series: the Theil–Sen slope
//! (median of pairwise slopes, unmoved by a few outliers such as a cache
//! shrink) and the Mann–Kendall test (does the series rise more often than
//! chance would have it?).

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
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannKendall {
    /// S: concordant minus discordant pairs.
    pub s: i64,
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
    // Variance with the tie correction: sum over tie groups of t(t-1)(2t+5).
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
    let var = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0;
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
        z,
        p_increasing: 1.0 - normal_cdf(z),
    })
}

/// Standard normal CDF via erfc (Numerical Recipes' rational approximation,
/// relative error below 1.2e-7).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
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
}
