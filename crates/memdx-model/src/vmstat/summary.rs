//! `vmstat -s` (event counter statistics) and `-f` (forks).

use memdx_proc::ProcStat;
use serde::Serialize;

use super::{DataUnit, Memory, Paging};

/// The figures `-s` prints, in the order it prints them. Memory is in the
/// `-S` unit (procps' `float` conversion); ticks are `long long` as procps
/// prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct StatsSummary {
    /// MemTotal.
    pub total_memory: u64,
    /// MemTotal - MemAvailable.
    pub used_memory: u64,
    /// Active.
    pub active_memory: u64,
    /// Inactive.
    pub inactive_memory: u64,
    /// MemFree.
    pub free_memory: u64,
    /// Buffers.
    pub buffer_memory: u64,
    /// Cached + SReclaimable (procps labels it "swap cache").
    pub swap_cache: u64,
    /// SwapTotal.
    pub total_swap: u64,
    /// SwapTotal - SwapFree.
    pub used_swap: u64,
    /// SwapFree.
    pub free_swap: u64,
    /// user ticks.
    pub user_ticks: i64,
    /// nice ticks.
    pub nice_ticks: i64,
    /// system ticks.
    pub system_ticks: i64,
    /// idle ticks.
    pub idle_ticks: i64,
    /// iowait ticks.
    pub iowait_ticks: i64,
    /// irq ticks.
    pub irq_ticks: i64,
    /// softirq ticks.
    pub softirq_ticks: i64,
    /// stolen ticks.
    pub stolen_ticks: i64,
    /// guest ticks.
    pub guest_ticks: i64,
    /// guest_nice ticks.
    pub guest_nice_ticks: i64,
    /// pgpgin (KiB).
    pub paged_in: u64,
    /// pgpgout (KiB).
    pub paged_out: u64,
    /// pswpin (pages).
    pub pages_swapped_in: u64,
    /// pswpout (pages).
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

impl StatsSummary {
    /// Derives the summary; memory converted to `unit`.
    pub fn new(stat: &ProcStat, paging: &Paging, mem: &Memory, unit: DataUnit) -> Self {
        let c = |kib: u64| unit.convert_kib(kib);
        let t = &stat.total;
        let o = |v: Option<u64>| v.unwrap_or(0);
        Self {
            total_memory: c(mem.total),
            used_memory: c(mem.used),
            active_memory: c(mem.active),
            inactive_memory: c(mem.inactive),
            free_memory: c(mem.free),
            buffer_memory: c(mem.buffers),
            swap_cache: c(mem.cache),
            total_swap: c(mem.swap_total),
            used_swap: c(mem.swap_used),
            free_swap: c(mem.swap_free),
            user_ticks: t.user as i64,
            nice_ticks: t.nice as i64,
            system_ticks: t.system as i64,
            idle_ticks: t.idle as i64,
            iowait_ticks: o(t.iowait) as i64,
            irq_ticks: o(t.irq) as i64,
            softirq_ticks: o(t.softirq) as i64,
            stolen_ticks: o(t.steal) as i64,
            guest_ticks: o(t.guest) as i64,
            guest_nice_ticks: o(t.guest_nice) as i64,
            paged_in: paging.pgpgin,
            paged_out: paging.pgpgout,
            pages_swapped_in: paging.pswpin,
            pages_swapped_out: paging.pswpout,
            interrupts: o(stat.interrupts),
            context_switches: o(stat.context_switches),
            boot_time: o(stat.boot_time),
            forks: o(stat.processes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_converted_and_counters_copied() {
        let mem = Memory {
            total: 2048,
            swap_total: 1000,
            ..Default::default()
        };
        let stat = ProcStat {
            processes: Some(42),
            ..Default::default()
        };
        let s = StatsSummary::new(
            &stat,
            &Paging::default(),
            &mem,
            DataUnit::from_arg("M").unwrap(),
        );
        assert_eq!((s.total_memory, s.total_swap, s.forks), (2, 0, 42));
    }
}
