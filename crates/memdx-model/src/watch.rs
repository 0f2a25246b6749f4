//! `memdx watch`'s samples: the figures of one process, of a group of
//! processes (summed), or of a cgroup, at one moment.

use memdx_proc::cgroup::CgroupMemory;
use memdx_proc::process::ProcessMemory;
use serde::Serialize;

/// A figure `memdx watch` samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Resident set size (`VmRSS`).
    Rss,
    /// Proportional set size (`Pss` of smaps_rollup).
    Pss,
    /// Unique set size (private pages).
    Uss,
    /// Swapped out (`Swap` of smaps_rollup, else `VmSwap`; a cgroup's
    /// `memory.swap.current`).
    Swap,
    /// Anonymous memory: a process's resident `RssAnon`, a cgroup's `anon`.
    Anon,
    /// A cgroup's `memory.current`.
    Current,
    /// A cgroup's working set (`memory.current - inactive_file`).
    WorkingSet,
    /// A cgroup's page cache (`file`).
    File,
}

/// The columns of a process (or group of processes), in display order.
pub const PROCESS_METRICS: [Metric; 5] = [
    Metric::Rss,
    Metric::Pss,
    Metric::Uss,
    Metric::Swap,
    Metric::Anon,
];

/// The columns of a cgroup, in display order.
pub const CGROUP_METRICS: [Metric; 5] = [
    Metric::Current,
    Metric::WorkingSet,
    Metric::Anon,
    Metric::File,
    Metric::Swap,
];

impl Metric {
    /// The name used on the command line and in JSON (`working_set`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Rss => "rss",
            Self::Pss => "pss",
            Self::Uss => "uss",
            Self::Swap => "swap",
            Self::Anon => "anon",
            Self::Current => "current",
            Self::WorkingSet => "working_set",
            Self::File => "file",
        }
    }

    /// The column header (`WSET` for the working set).
    pub fn header(self) -> &'static str {
        match self {
            Self::Rss => "RSS",
            Self::Pss => "PSS",
            Self::Uss => "USS",
            Self::Swap => "SWAP",
            Self::Anon => "ANON",
            Self::Current => "CURRENT",
            Self::WorkingSet => "WSET",
            Self::File => "FILE",
        }
    }

    /// The metric named `text` (`working-set` and `working_set` both).
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.to_ascii_lowercase().replace('-', "_");
        [PROCESS_METRICS.as_slice(), CGROUP_METRICS.as_slice()]
            .concat()
            .into_iter()
            .find(|m| m.name() == t)
    }
}

/// One moment's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchSample {
    /// Seconds since the first sample.
    pub t: f64,
    /// Processes summed (`None` for a cgroup).
    pub processes: Option<usize>,
    /// The figures in bytes, `None` where unavailable (PSS of another
    /// user's process without privileges, a kernel without the field).
    pub values: Vec<(Metric, Option<u64>)>,
}

impl WatchSample {
    /// The figure of `metric`, if sampled and available.
    pub fn get(&self, metric: Metric) -> Option<u64> {
        self.values
            .iter()
            .find(|(m, _)| *m == metric)
            .and_then(|(_, v)| *v)
    }
}

/// Sums a figure over processes: `None` when any process lacks it (a partial
/// sum would look like a drop).
fn sum(procs: &[ProcessMemory], get: impl Fn(&ProcessMemory) -> Option<u64>) -> Option<u64> {
    procs.iter().map(get).sum()
}

/// The figures of `procs` (one process, or a group summed) at `t`.
pub fn process_sample(t: f64, procs: &[ProcessMemory]) -> WatchSample {
    let values = PROCESS_METRICS
        .iter()
        .map(|&m| {
            let v = match m {
                Metric::Rss => sum(procs, |p| p.rss),
                Metric::Pss => sum(procs, |p| p.pss),
                Metric::Uss => sum(procs, |p| p.uss),
                Metric::Swap => sum(procs, |p| p.swap.or(p.swap_status)),
                Metric::Anon => sum(procs, |p| p.rss_anon),
                _ => None,
            };
            (m, if procs.is_empty() { None } else { v })
        })
        .collect();
    WatchSample {
        t,
        processes: Some(procs.len()),
        values,
    }
}

/// The figures of a cgroup at `t`.
pub fn cgroup_sample(t: f64, cg: &CgroupMemory) -> WatchSample {
    let stat = cg.stat.as_ref();
    let values = CGROUP_METRICS
        .iter()
        .map(|&m| {
            let v = match m {
                Metric::Current => cg.current,
                Metric::WorkingSet => cg.working_set(),
                Metric::Anon => stat.and_then(|s| s.anon()),
                Metric::File => stat.and_then(|s| s.file()),
                Metric::Swap => cg.swap_current,
                _ => None,
            };
            (m, v)
        })
        .collect();
    WatchSample {
        t,
        processes: None,
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_(rss: u64, pss: Option<u64>) -> ProcessMemory {
        ProcessMemory {
            rss: Some(rss),
            pss,
            uss: pss,
            rss_anon: Some(rss / 2),
            swap_status: Some(0),
            ..Default::default()
        }
    }

    #[test]
    fn a_group_is_summed_and_a_missing_figure_is_missing_for_all() {
        let s = process_sample(1.5, &[proc_(100, Some(80)), proc_(50, Some(40))]);
        assert_eq!(s.get(Metric::Rss), Some(150));
        assert_eq!(s.get(Metric::Pss), Some(120));
        assert_eq!(s.get(Metric::Anon), Some(75));
        assert_eq!(s.get(Metric::Swap), Some(0));
        assert_eq!(s.processes, Some(2));
        let denied = process_sample(0.0, &[proc_(100, Some(80)), proc_(50, None)]);
        assert_eq!(denied.get(Metric::Pss), None);
        assert_eq!(process_sample(0.0, &[]).get(Metric::Rss), None);
    }

    #[test]
    fn metric_names_round_trip() {
        for m in PROCESS_METRICS.iter().chain(&CGROUP_METRICS) {
            assert_eq!(Metric::parse(m.name()), Some(*m));
        }
        assert_eq!(Metric::parse("working-set"), Some(Metric::WorkingSet));
        assert_eq!(Metric::parse("vsz"), None);
    }
}
