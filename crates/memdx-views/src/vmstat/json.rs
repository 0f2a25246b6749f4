//! `memdx vmstat --json`: one JSON object per line, one line per report
//! (per sample with a delay). Sizes are bytes, rates are per second, and
//! figures are exact rather than procps' (see `docs/json.md`, "vmstat").

use std::io::{self, Write};

use memdx_model::vmstat::disk::{DiskRow, DiskSummary, PartitionRow};
use memdx_model::vmstat::exact::ExactReport;
use memdx_model::vmstat::slab::SlabRow;
use memdx_model::vmstat::summary::StatsSummary;
use memdx_model::vmstat::Memory;
use serde::Serialize;

/// A default-mode report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportJson<'a> {
    /// Seconds since the epoch when the sample was taken.
    pub time: i64,
    /// True for the first report, averaged since boot.
    pub since_boot: bool,
    /// Seconds the rates are averaged over (the uptime for the first report).
    pub interval_seconds: f64,
    /// The figures.
    #[serde(flatten)]
    pub figures: &'a ExactReport,
}

/// `-s` in bytes and raw counters.
#[derive(Debug, Clone, Serialize)]
pub struct StatsJson {
    /// Memory in bytes.
    pub memory: StatsMemory,
    /// Swap in bytes.
    pub swap: StatsSwap,
    /// CPU ticks since boot (units of 1/`clock_ticks_per_second` s).
    pub cpu_ticks: CpuTicksJson,
    /// Clock ticks per second.
    pub clock_ticks_per_second: u64,
    /// Bytes read from block devices since boot.
    pub paged_in_bytes: u64,
    /// Bytes written to block devices since boot.
    pub paged_out_bytes: u64,
    /// Pages swapped in since boot.
    pub pages_swapped_in: u64,
    /// Pages swapped out since boot.
    pub pages_swapped_out: u64,
    /// Interrupts since boot.
    pub interrupts: u64,
    /// Context switches since boot.
    pub context_switches: u64,
    /// Boot time, seconds since the epoch.
    pub boot_time: u64,
    /// Forks since boot.
    pub forks: u64,
}

/// `-s` memory lines in bytes.
#[derive(Debug, Clone, Serialize)]
pub struct StatsMemory {
    /// MemTotal.
    pub total: u64,
    /// MemTotal - MemAvailable.
    pub used: u64,
    /// Active.
    pub active: u64,
    /// Inactive.
    pub inactive: u64,
    /// MemFree.
    pub free: u64,
    /// Buffers.
    pub buffers: u64,
    /// Cached + SReclaimable (procps' "swap cache" line).
    pub cache: u64,
}

/// `-s` swap lines in bytes.
#[derive(Debug, Clone, Serialize)]
pub struct StatsSwap {
    /// SwapTotal.
    pub total: u64,
    /// SwapTotal - SwapFree.
    pub used: u64,
    /// SwapFree.
    pub free: u64,
}

/// CPU ticks by state.
#[derive(Debug, Clone, Serialize)]
pub struct CpuTicksJson {
    /// user.
    pub user: i64,
    /// nice.
    pub nice: i64,
    /// system.
    pub system: i64,
    /// idle.
    pub idle: i64,
    /// iowait.
    pub iowait: i64,
    /// irq.
    pub irq: i64,
    /// softirq.
    pub softirq: i64,
    /// steal.
    pub stolen: i64,
    /// guest.
    pub guest: i64,
    /// guest_nice.
    pub guest_nice: i64,
}

impl StatsJson {
    /// Builds the object from the summary (counters) and the KiB memory
    /// figures (so bytes are exact, not through procps' float).
    pub fn new(s: &StatsSummary, mem: &Memory, hz: u64) -> Self {
        Self {
            memory: StatsMemory {
                total: mem.total * 1024,
                used: mem.used * 1024,
                active: mem.active * 1024,
                inactive: mem.inactive * 1024,
                free: mem.free * 1024,
                buffers: mem.buffers * 1024,
                cache: mem.cache * 1024,
            },
            swap: StatsSwap {
                total: mem.swap_total * 1024,
                used: mem.swap_used * 1024,
                free: mem.swap_free * 1024,
            },
            cpu_ticks: CpuTicksJson {
                user: s.user_ticks,
                nice: s.nice_ticks,
                system: s.system_ticks,
                idle: s.idle_ticks,
                iowait: s.iowait_ticks,
                irq: s.irq_ticks,
                softirq: s.softirq_ticks,
                stolen: s.stolen_ticks,
                guest: s.guest_ticks,
                guest_nice: s.guest_nice_ticks,
            },
            clock_ticks_per_second: hz,
            paged_in_bytes: s.paged_in * 1024,
            paged_out_bytes: s.paged_out * 1024,
            pages_swapped_in: s.pages_swapped_in,
            pages_swapped_out: s.pages_swapped_out,
            interrupts: s.interrupts,
            context_switches: s.context_switches,
            boot_time: s.boot_time,
            forks: s.forks,
        }
    }
}

/// `-d`: one object per sample.
#[derive(Debug, Clone, Serialize)]
pub struct DisksJson<'a> {
    /// Seconds since the epoch.
    pub time: i64,
    /// Whole disks in `/proc/diskstats` order.
    pub disks: Vec<&'a DiskRow>,
}

/// `-p`: one object per sample.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionJson<'a> {
    /// Seconds since the epoch.
    pub time: i64,
    /// Device name.
    pub device: &'a str,
    /// Counters.
    #[serde(flatten)]
    pub row: &'a PartitionRow,
}

/// `-m`: one object per sample.
#[derive(Debug, Clone, Serialize)]
pub struct SlabsJson<'a> {
    /// Seconds since the epoch.
    pub time: i64,
    /// Caches sorted by name.
    pub caches: &'a [SlabRow],
}

/// `-D`.
#[derive(Debug, Clone, Serialize)]
pub struct DiskSummaryJson<'a> {
    /// The sums.
    #[serde(flatten)]
    pub summary: &'a DiskSummary,
}

/// `-f`.
#[derive(Debug, Clone, Serialize)]
pub struct ForksJson {
    /// Forks since boot.
    pub forks: u64,
}

/// Writes `value` as one line of JSON.
pub fn write_json_line(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_flattens_figures_into_one_object() {
        let figures = ExactReport {
            interrupts_per_second: 12.5,
            ..Default::default()
        };
        let mut out = Vec::new();
        write_json_line(
            &mut out,
            &ReportJson {
                time: 1700000000,
                since_boot: true,
                interval_seconds: 100.0,
                figures: &figures,
            },
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["interrupts_per_second"], 12.5);
        assert_eq!(v["since_boot"], true);
        assert_eq!(v["memory"]["free"], 0);
        assert_eq!(v["cpu"]["idle"], 0.0);
        assert!(out.ends_with(b"}\n"));
    }

    #[test]
    fn stats_memory_is_exact_bytes() {
        let mem = Memory {
            total: 16_777_217,
            ..Default::default()
        };
        let j = StatsJson::new(&StatsSummary::default(), &mem, 100);
        assert_eq!(j.memory.total, 16_777_217 * 1024);
    }
}
