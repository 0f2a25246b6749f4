//! The report over a recording: what `memdx report` prints, as one model
//! with three renderers ([`text`], [`json`], [`plot`]).
//!
//! [`build`] reads the series of a time window from a [`Store`] and derives
//! everything here: min/avg/max of used, available and swap; the PSI stall
//! share over the window (from the stored µs totals); the processes and
//! cgroups that grew most (last minus first sample); and the leak suspects,
//! judged by `memdx_trend::classify` (the analysis `memdx watch` uses) on
//! each process's RSS and each cgroup's usage.

pub mod json;
pub mod plot;
pub mod text;

use memdx_trend::{classify, time_to_limit, Analysis, Params, Point, TimeToLimit, Verdict};
use serde::Serialize;

use crate::error::Result;
use crate::store::{Extent, Store, SystemPoint, TimeRange};

/// What to report on.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// The time window.
    pub range: TimeRange,
    /// Only this pid's processes (and no cgroups).
    pub pid: Option<u32>,
    /// Only this cgroup, and the processes charged to it.
    pub cgroup: Option<String>,
    /// How many processes and cgroups the "grew most" lists hold.
    pub top: usize,
}

/// Lowest, mean and highest value, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MinAvgMax {
    /// Lowest.
    pub min: u64,
    /// Mean.
    pub avg: u64,
    /// Highest.
    pub max: u64,
}

impl MinAvgMax {
    fn of(values: impl Iterator<Item = u64>) -> Option<Self> {
        let (mut min, mut max, mut sum, mut n) = (u64::MAX, 0u64, 0u128, 0u128);
        for v in values {
            min = min.min(v);
            max = max.max(v);
            sum += u128::from(v);
            n += 1;
        }
        (n > 0).then(|| Self {
            min,
            avg: u64::try_from(sum / n).unwrap_or(u64::MAX),
            max,
        })
    }
}

/// System memory over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemorySummary {
    /// `MemTotal` at the last sample.
    pub total: Option<u64>,
    /// `MemTotal - MemAvailable` (procps `free`'s "used").
    pub used: Option<MinAvgMax>,
    /// `MemAvailable`.
    pub available: Option<MinAvgMax>,
    /// `SwapTotal - SwapFree`; `None` without swap.
    pub swap_used: Option<MinAvgMax>,
}

/// Memory pressure over the window: share of the time with stalls, percent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PressureSummary {
    /// Some task stalled on memory.
    pub some_percent: f64,
    /// All non-idle tasks stalled at once, when the kernel reports it.
    pub full_percent: Option<f64>,
}

/// Whose series a [`Growth`] is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// A process (one pid, name and command line).
    Process {
        /// Process id.
        pid: u32,
        /// Kernel comm.
        name: String,
        /// Command line.
        cmdline: String,
        /// Its cgroup.
        cgroup: Option<String>,
    },
    /// A cgroup.
    Cgroup {
        /// Path in the hierarchy.
        path: String,
        /// `memory.max` (bytes) at the last sample; `None`: no limit.
        limit: Option<u64>,
    },
}

impl Subject {
    /// A short label: `leaker (1234)` or the cgroup path.
    pub fn label(&self) -> String {
        match self {
            Subject::Process { pid, name, .. } => format!("{name} ({pid})"),
            Subject::Cgroup { path, .. } => path.clone(),
        }
    }
}

/// One process's or cgroup's memory over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Growth {
    /// Whose it is.
    pub subject: Subject,
    /// First and last sample time in the window (UTC unix seconds).
    pub first_time: f64,
    /// See `first_time`.
    pub last_time: f64,
    /// RSS (process) or usage (cgroup) at the first sample, bytes.
    pub first: u64,
    /// ... at the last sample.
    pub last: u64,
    /// Lowest in the window.
    pub min: u64,
    /// Highest in the window.
    pub max: u64,
    /// `last - first`, bytes.
    pub growth: i64,
    /// The trend analysis (verdict, rate with its interval, Mann–Kendall).
    pub analysis: Analysis,
    /// For a growing series: time until it reaches its limit (the cgroup's
    /// memory.max, or MemTotal for a process).
    pub time_to_limit: Option<TimeToLimit>,
}

impl Growth {
    /// Whether the analysis says it keeps growing.
    pub fn is_suspect(&self) -> bool {
        matches!(self.analysis.verdict, Verdict::Growing { .. })
    }
}

/// The series the charts draw (not part of the JSON).
#[derive(Debug, Clone, Default)]
pub struct ChartData {
    /// System memory, every sample.
    pub system: Vec<SystemPoint>,
    /// The largest processes' RSS: label and `(time, bytes)`.
    pub processes: Vec<(String, Vec<(f64, u64)>)>,
    /// The largest cgroups' usage.
    pub cgroups: Vec<(String, Vec<(f64, u64)>)>,
}

/// Everything `memdx report` says.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The database file.
    pub database: String,
    /// The window asked for (UTC unix seconds; `None`: open).
    pub since: Option<f64>,
    /// See `since`.
    pub until: Option<f64>,
    /// Samples in the window.
    pub samples: u64,
    /// First and last sample time in the window.
    pub first: Option<f64>,
    /// See `first`.
    pub last: Option<f64>,
    /// System memory.
    pub memory: MemorySummary,
    /// PSI; `None` when not recorded or fewer than two samples.
    pub pressure: Option<PressureSummary>,
    /// Processes that grew most, largest growth first (only growth > 0).
    pub processes: Vec<Growth>,
    /// Cgroups that grew most.
    pub cgroups: Vec<Growth>,
    /// Every process and cgroup judged to keep growing, fastest first.
    pub suspects: Vec<Growth>,
    /// How many process and cgroup series were judged.
    pub judged: usize,
    /// Series for the charts.
    #[serde(skip)]
    pub charts: ChartData,
}

/// Series drawn per chart.
const CHART_SERIES: usize = 8;

/// Builds the report of `opts`'s window from `store`.
pub fn build(store: &Store, opts: &ReportOptions) -> Result<Report> {
    let range = opts.range;
    let Extent {
        samples,
        first,
        last,
    } = store.extent(range)?;
    let system = store.system_series(range)?;
    let mem_total = system.last().and_then(|s| s.mem_total);

    let mut processes = store.process_series(range, opts.pid)?;
    if let Some(cg) = &opts.cgroup {
        processes.retain(|p| p.cgroup.as_deref() == Some(cg.as_str()));
    }
    let cgroups = if opts.pid.is_some() {
        Vec::new()
    } else {
        store.cgroup_series(range, opts.cgroup.as_deref())?
    };

    let mut all: Vec<(Growth, Vec<(f64, u64)>)> = Vec::new();
    for p in processes {
        let subject = Subject::Process {
            pid: p.pid,
            name: p.name,
            cmdline: p.cmdline,
            cgroup: p.cgroup,
        };
        if let Some(g) = growth(subject, &p.rss, mem_total) {
            all.push((g, p.rss));
        }
    }
    let mut cgroup_growths: Vec<(Growth, Vec<(f64, u64)>)> = Vec::new();
    for c in cgroups {
        let subject = Subject::Cgroup {
            path: c.path,
            limit: c.max,
        };
        if let Some(g) = growth(subject, &c.current, c.max.or(mem_total)) {
            cgroup_growths.push((g, c.current));
        }
    }
    let judged = all.len() + cgroup_growths.len();

    let mut suspects: Vec<Growth> = all
        .iter()
        .chain(&cgroup_growths)
        .filter(|(g, _)| g.is_suspect())
        .map(|(g, _)| g.clone())
        .collect();
    let rate = |g: &Growth| g.analysis.rate().map_or(0.0, |r| r.slope);
    suspects.sort_by(|a, b| rate(b).total_cmp(&rate(a)));

    let charts = ChartData {
        system: system.clone(),
        processes: largest(&all),
        cgroups: largest(&cgroup_growths),
    };
    let grew_most = |list: &[(Growth, Vec<(f64, u64)>)]| {
        let mut grew: Vec<Growth> = list
            .iter()
            .filter(|(g, _)| g.growth > 0)
            .map(|(g, _)| g.clone())
            .collect();
        grew.sort_by_key(|g| std::cmp::Reverse(g.growth));
        grew.truncate(opts.top);
        grew
    };

    Ok(Report {
        database: store.path().display().to_string(),
        since: range.since,
        until: range.until,
        samples,
        first,
        last,
        memory: memory_summary(&system),
        pressure: pressure_summary(&system),
        processes: grew_most(&all),
        cgroups: grew_most(&cgroup_growths),
        suspects,
        judged,
        charts,
    })
}

/// The `CHART_SERIES` series with the highest peak.
fn largest(list: &[(Growth, Vec<(f64, u64)>)]) -> Vec<(String, Vec<(f64, u64)>)> {
    let mut by_peak: Vec<&(Growth, Vec<(f64, u64)>)> = list.iter().collect();
    by_peak.sort_by_key(|entry| std::cmp::Reverse(entry.0.max));
    by_peak
        .into_iter()
        .take(CHART_SERIES)
        .map(|(g, points)| (g.subject.label(), points.clone()))
        .collect()
}

fn growth(subject: Subject, points: &[(f64, u64)], limit: Option<u64>) -> Option<Growth> {
    let (&(first_time, first), &(last_time, last)) = (points.first()?, points.last()?);
    // Times relative to the first sample: unix seconds squared lose precision
    // in the slope's arithmetic.
    let series: Vec<Point> = points
        .iter()
        .map(|&(t, b)| Point {
            t: t - first_time,
            bytes: b as f64,
        })
        .collect();
    let analysis = classify(&series, &Params::default());
    let time_to_limit = match (&analysis.verdict, limit) {
        (Verdict::Growing { rate, .. }, Some(limit)) => {
            time_to_limit(rate, rate.at(last_time - first_time), limit as f64)
        }
        _ => None,
    };
    Some(Growth {
        subject,
        first_time,
        last_time,
        first,
        last,
        min: points.iter().map(|p| p.1).min().unwrap_or(0),
        max: points.iter().map(|p| p.1).max().unwrap_or(0),
        growth: last as i64 - first as i64,
        analysis,
        time_to_limit,
    })
}

fn memory_summary(system: &[SystemPoint]) -> MemorySummary {
    let used = system
        .iter()
        .filter_map(|s| Some(s.mem_total?.saturating_sub(s.mem_available?)));
    let swap_used: Vec<u64> = system
        .iter()
        .filter_map(|s| Some(s.swap_total?.saturating_sub(s.swap_free?)))
        .collect();
    let has_swap = system.iter().any(|s| s.swap_total.unwrap_or(0) > 0);
    MemorySummary {
        total: system.last().and_then(|s| s.mem_total),
        used: MinAvgMax::of(used),
        available: MinAvgMax::of(system.iter().filter_map(|s| s.mem_available)),
        swap_used: has_swap
            .then(|| MinAvgMax::of(swap_used.into_iter()))
            .flatten(),
    }
}

/// Stall share from the stored totals (µs) of the first and last sample
/// that have them.
fn pressure_summary(system: &[SystemPoint]) -> Option<PressureSummary> {
    let with = |get: fn(&SystemPoint) -> Option<u64>| {
        let mut it = system.iter().filter_map(|s| Some((s.time, get(s)?)));
        let first = it.next()?;
        let last = it.next_back()?;
        let elapsed_us = (last.0 - first.0) * 1e6;
        (elapsed_us > 0.0).then(|| 100.0 * last.1.saturating_sub(first.1) as f64 / elapsed_us)
    };
    Some(PressureSummary {
        some_percent: with(|s| s.psi_some_us)?,
        full_percent: with(|s| s.psi_full_us),
    })
}
