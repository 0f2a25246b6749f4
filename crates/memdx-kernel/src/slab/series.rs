//! Slab samples over time and which caches grow without bound.

use serde::Serialize;

use crate::slab::info::SlabCache;
use memdx_trend::{mann_kendall, theil_sen};

/// One sample: seconds since the first sample, and every cache.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Seconds since the first sample.
    pub t: f64,
    /// The caches at that time.
    pub caches: Vec<SlabCache>,
}

/// When a cache counts as growing without bound.
#[derive(Debug, Clone, Copy)]
pub struct TrendRule {
    /// Largest one-sided Mann–Kendall p-value accepted as a rising trend.
    pub max_p: f64,
    /// Smallest growth over the window (Theil–Sen slope × duration), bytes.
    pub min_growth_bytes: f64,
    /// Also judge reclaimable caches (dentry, inodes, ...).
    pub include_reclaimable: bool,
}

impl Default for TrendRule {
    fn default() -> Self {
        Self {
            max_p: 0.01,
            min_growth_bytes: 64.0 * 1024.0,
            include_reclaimable: false,
        }
    }
}

/// One cache's trend over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheTrend {
    /// Cache name.
    pub name: String,
    /// Reclaimable under pressure.
    pub reclaimable: bool,
    /// Samples the cache appeared in.
    pub samples: usize,
    /// Bytes in use (active objects × object size) at the first and last sample.
    pub first_bytes: u64,
    /// See `first_bytes`.
    pub last_bytes: u64,
    /// Theil–Sen slope of bytes in use, per second.
    pub slope_bytes_per_s: f64,
    /// Theil–Sen slope of active objects, per second.
    pub slope_objs_per_s: f64,
    /// Mann–Kendall S.
    pub mk_s: i64,
    /// One-sided p-value for a rising trend.
    pub p_value: f64,
    /// The verdict: rising trend, significant, large enough, and not reclaimable (unless asked).
    pub growing: bool,
}

/// Judges every cache present in at least 4 samples. Growing caches first,
/// by slope.
pub fn trends(samples: &[Sample], rule: &TrendRule) -> Vec<CacheTrend> {
    let Some(first) = samples.first() else {
        return Vec::new();
    };
    let duration = samples.last().map_or(0.0, |l| l.t - first.t);
    let mut names: Vec<&str> = samples
        .iter()
        .flat_map(|s| s.caches.iter().map(|c| c.name()))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        let series: Vec<(f64, &SlabCache)> = samples
            .iter()
            .filter_map(|s| s.caches.iter().find(|c| c.name() == name).map(|c| (s.t, c)))
            .collect();
        if series.len() < 4 {
            continue;
        }
        let bytes: Vec<(f64, f64)> = series
            .iter()
            .map(|(t, c)| (*t, c.active_bytes() as f64))
            .collect();
        let objs: Vec<(f64, f64)> = series
            .iter()
            .map(|(t, c)| (*t, c.counters.active_objs as f64))
            .collect();
        let values: Vec<f64> = bytes.iter().map(|p| p.1).collect();
        let (Some(slope), Some(slope_objs), Some(mk)) =
            (theil_sen(&bytes), theil_sen(&objs), mann_kendall(&values))
        else {
            continue;
        };
        let reclaimable = series.iter().any(|(_, c)| c.reclaimable);
        let growing = slope > 0.0
            && mk.p_increasing <= rule.max_p
            && slope * duration >= rule.min_growth_bytes
            && (rule.include_reclaimable || !reclaimable);
        out.push(CacheTrend {
            name: name.to_string(),
            reclaimable,
            samples: series.len(),
            first_bytes: series[0].1.active_bytes(),
            last_bytes: series[series.len() - 1].1.active_bytes(),
            slope_bytes_per_s: slope,
            slope_objs_per_s: slope_objs,
            mk_s: mk.s,
            p_value: mk.p_increasing,
            growing,
        });
    }
    out.sort_by(|a, b| {
        b.growing
            .cmp(&a.growing)
            .then(b.slope_bytes_per_s.total_cmp(&a.slope_bytes_per_s))
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(name: &str, active: u64, size: u64) -> SlabCache {
        SlabCache::from_counters(memdx_proc::SlabCache {
            name: name.into(),
            active_objs: active,
            num_objs: active,
            obj_size: size,
            objs_per_slab: 32,
            pages_per_slab: 1,
            active_slabs: active / 32,
            num_slabs: active / 32,
        })
    }

    #[test]
    fn steady_growth_is_flagged_noise_and_reclaimable_caches_are_not() {
        let samples: Vec<Sample> = (0..10)
            .map(|i| Sample {
                t: 60.0 * i as f64,
                caches: vec![
                    cache("kmalloc-256", 1000 + 400 * i + (i % 3) * 17, 256),
                    cache(
                        "kmalloc-64",
                        5000 + [3, 9, 1, 7, 2, 8, 4, 6, 0, 5][i as usize] * 10,
                        64,
                    ),
                    cache("dentry", 40_000 + 2000 * i, 192),
                ],
            })
            .collect();
        let t = trends(&samples, &TrendRule::default());
        let growing: Vec<&str> = t
            .iter()
            .filter(|c| c.growing)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(growing, vec!["kmalloc-256"]);
        let k = t.iter().find(|c| c.name == "kmalloc-256").unwrap();
        assert!((k.slope_objs_per_s - 400.0 / 60.0).abs() < 0.5, "{k:?}");
        let with = trends(
            &samples,
            &TrendRule {
                include_reclaimable: true,
                ..TrendRule::default()
            },
        );
        assert!(with.iter().any(|c| c.name == "dentry" && c.growing));
    }

    #[test]
    fn tiny_growth_is_not_a_leak() {
        let samples: Vec<Sample> = (0..10)
            .map(|i| Sample {
                t: i as f64,
                caches: vec![cache("kmalloc-8", 100 + i, 8)],
            })
            .collect();
        let t = trends(&samples, &TrendRule::default());
        assert!(t[0].p_value < 0.01);
        assert!(
            !t[0].growing,
            "80 bytes over the window is below the size threshold"
        );
    }
}
