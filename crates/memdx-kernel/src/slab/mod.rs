//! Slab caches: `/proc/slabinfo` and `/sys/kernel/slab` readers, the
//! kernel's own memory from meminfo, growth-trend detection over a series
//! of samples, and renderers.

pub mod info;
pub mod render;
pub mod series;
/// The trend statistics, now in `memdx-trend` (re-exported for old paths).
pub use memdx_trend::stats as trend;

use serde::Serialize;

pub use info::SlabCache;
pub use series::{trends, CacheTrend, Sample, TrendRule};

/// Kernel memory from `/proc/meminfo`, in bytes; `None` where this kernel
/// does not print the field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KernelMemory {
    /// `Slab`.
    pub slab: Option<u64>,
    /// `SReclaimable`.
    pub sreclaimable: Option<u64>,
    /// `SUnreclaim`.
    pub sunreclaim: Option<u64>,
    /// `KernelStack`.
    pub kernel_stack: Option<u64>,
    /// `PageTables`.
    pub page_tables: Option<u64>,
    /// `VmallocUsed`.
    pub vmalloc_used: Option<u64>,
    /// `Percpu`.
    pub percpu: Option<u64>,
}

impl KernelMemory {
    /// Picks the fields out of meminfo (which is in kB).
    pub fn from_meminfo(m: &memdx_proc::MemInfo) -> Self {
        let kb = |k: &str| m.get(k).map(|v| v * 1024);
        KernelMemory {
            slab: kb("Slab"),
            sreclaimable: kb("SReclaimable"),
            sunreclaim: kb("SUnreclaim"),
            kernel_stack: kb("KernelStack"),
            page_tables: kb("PageTables"),
            vmalloc_used: kb("VmallocUsed"),
            percpu: kb("Percpu"),
        }
    }
}

/// What `memdx slab` reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SlabReport {
    /// Samples taken (1 for a snapshot).
    pub samples: usize,
    /// Seconds between the first and last sample.
    pub duration_s: f64,
    /// Kernel memory at the last sample (absent when replaying files).
    pub kernel: Option<KernelMemory>,
    /// Caches at the last sample, largest first.
    pub caches: Vec<SlabCache>,
    /// Trends, when there were at least 4 samples; growing caches first.
    pub trends: Vec<CacheTrend>,
}

impl SlabReport {
    /// Builds the report from samples (time order) and the kernel memory
    /// seen at the end.
    pub fn build(samples: &[Sample], kernel: Option<KernelMemory>, rule: &TrendRule) -> Self {
        let mut caches = samples.last().map(|s| s.caches.clone()).unwrap_or_default();
        caches.sort_by(|a, b| {
            b.cache_bytes()
                .cmp(&a.cache_bytes())
                .then_with(|| a.name().cmp(b.name()))
        });
        SlabReport {
            samples: samples.len(),
            duration_s: match (samples.first(), samples.last()) {
                (Some(f), Some(l)) => l.t - f.t,
                _ => 0.0,
            },
            kernel,
            caches,
            trends: if samples.len() >= 4 {
                trends(samples, rule)
            } else {
                Vec::new()
            },
        }
    }
}
