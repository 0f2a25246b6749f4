//! The report line as exact figures for JSON: sizes in bytes, true
//! per-second rates (since boot: divided by the uptime; over an interval:
//! divided by the measured interval), CPU shares in percent as floats.

use memdx_proc::{CpuTicks, ProcStat};
use serde::Serialize;

use super::{Machine, Memory, Paging};

/// One report of the default mode, exact. Field names are stable; see
/// `docs/json.md`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ExactReport {
    /// Runnable tasks.
    pub procs_running: u64,
    /// Tasks blocked on I/O.
    pub procs_blocked: u64,
    /// Memory in bytes.
    pub memory: MemoryBytes,
    /// Bytes swapped in per second.
    pub swap_in_bytes_per_second: f64,
    /// Bytes swapped out per second.
    pub swap_out_bytes_per_second: f64,
    /// Bytes read from block devices per second.
    pub io_read_bytes_per_second: f64,
    /// Bytes written to block devices per second.
    pub io_write_bytes_per_second: f64,
    /// Interrupts per second.
    pub interrupts_per_second: f64,
    /// Context switches per second.
    pub context_switches_per_second: f64,
    /// CPU time shares in percent.
    pub cpu: CpuPercent,
}

/// Memory figures in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct MemoryBytes {
    /// Swap in use.
    pub swap_used: u64,
    /// MemFree.
    pub free: u64,
    /// Buffers.
    pub buffers: u64,
    /// Cached + SReclaimable.
    pub cache: u64,
    /// Active.
    pub active: u64,
    /// Inactive.
    pub inactive: u64,
}

/// CPU time shares in percent (user excludes guest time, system includes
/// irq and softirq), summing to 100 apart from guest.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct CpuPercent {
    /// User and nice, minus guest.
    pub user: f64,
    /// System, irq and softirq.
    pub system: f64,
    /// Idle.
    pub idle: f64,
    /// Waiting for I/O.
    pub iowait: f64,
    /// Stolen by the hypervisor.
    pub stolen: f64,
    /// Running guests.
    pub guest: f64,
}

impl MemoryBytes {
    /// Converts KiB figures to bytes.
    pub fn from_memory(m: &Memory) -> Self {
        Self {
            swap_used: m.swap_used * 1024,
            free: m.free * 1024,
            buffers: m.buffers * 1024,
            cache: m.cache * 1024,
            active: m.active * 1024,
            inactive: m.inactive * 1024,
        }
    }
}

fn o(v: Option<u64>) -> u64 {
    v.unwrap_or(0)
}

fn cpu_percent(delta: impl Fn(fn(&CpuTicks) -> u64) -> u64) -> CpuPercent {
    let user = delta(|t| t.user) + delta(|t| t.nice);
    let system = delta(|t| t.system) + delta(|t| o(t.irq)) + delta(|t| o(t.softirq));
    let idle = delta(|t| t.idle);
    let iowait = delta(|t| o(t.iowait));
    let stolen = delta(|t| o(t.steal));
    let guest = delta(|t| o(t.guest)) + delta(|t| o(t.guest_nice));
    let total = (user + system + idle + iowait + stolen) as f64;
    if total == 0.0 {
        return CpuPercent {
            idle: 100.0,
            ..Default::default()
        };
    }
    let pct = |v: u64| 100.0 * v as f64 / total;
    CpuPercent {
        user: pct(user.saturating_sub(guest)),
        system: pct(system),
        idle: pct(idle),
        iowait: pct(iowait),
        stolen: pct(stolen),
        guest: pct(guest),
    }
}

/// Averages since boot over `uptime_seconds`.
pub fn since_boot(
    stat: &ProcStat,
    paging: &Paging,
    mem: &Memory,
    machine: &Machine,
    uptime_seconds: f64,
) -> ExactReport {
    let secs = if uptime_seconds > 0.0 {
        uptime_seconds
    } else {
        1.0
    };
    let rate = |v: u64| v as f64 / secs;
    ExactReport {
        procs_running: o(stat.procs_running),
        procs_blocked: o(stat.procs_blocked),
        memory: MemoryBytes::from_memory(mem),
        swap_in_bytes_per_second: rate(paging.pswpin * machine.page_size),
        swap_out_bytes_per_second: rate(paging.pswpout * machine.page_size),
        io_read_bytes_per_second: rate(paging.pgpgin * 1024),
        io_write_bytes_per_second: rate(paging.pgpgout * 1024),
        interrupts_per_second: rate(o(stat.interrupts)),
        context_switches_per_second: rate(o(stat.context_switches)),
        cpu: cpu_percent(|f| f(&stat.total)),
    }
}

/// Rates between two samples `seconds` apart (counters that went
/// backwards count as 0).
pub fn interval(
    prev: (&ProcStat, &Paging),
    cur: (&ProcStat, &Paging),
    mem: &Memory,
    machine: &Machine,
    seconds: f64,
) -> ExactReport {
    let secs = if seconds > 0.0 { seconds } else { 1.0 };
    let (ps, pp) = prev;
    let (cs, cp) = cur;
    let rate = |new: u64, old: u64| new.saturating_sub(old) as f64 / secs;
    ExactReport {
        procs_running: o(cs.procs_running),
        procs_blocked: o(cs.procs_blocked),
        memory: MemoryBytes::from_memory(mem),
        swap_in_bytes_per_second: rate(cp.pswpin, pp.pswpin) * machine.page_size as f64,
        swap_out_bytes_per_second: rate(cp.pswpout, pp.pswpout) * machine.page_size as f64,
        io_read_bytes_per_second: rate(cp.pgpgin, pp.pgpgin) * 1024.0,
        io_write_bytes_per_second: rate(cp.pgpgout, pp.pgpgout) * 1024.0,
        interrupts_per_second: rate(o(cs.interrupts), o(ps.interrupts)),
        context_switches_per_second: rate(o(cs.context_switches), o(ps.context_switches)),
        cpu: cpu_percent(|f| f(&cs.total).saturating_sub(f(&ps.total))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACHINE: Machine = Machine {
        hz: 100,
        page_size: 4096,
    };

    #[test]
    fn since_boot_divides_by_uptime_and_reports_bytes() {
        let stat = ProcStat {
            total: CpuTicks {
                user: 10,
                idle: 90,
                ..Default::default()
            },
            interrupts: Some(1000),
            ..Default::default()
        };
        let paging = Paging {
            pswpin: 10,
            pgpgin: 100,
            ..Default::default()
        };
        let mem = Memory {
            free: 2,
            ..Default::default()
        };
        let r = since_boot(&stat, &paging, &mem, &MACHINE, 10.0);
        assert_eq!(r.interrupts_per_second, 100.0);
        assert_eq!(r.swap_in_bytes_per_second, 4096.0);
        assert_eq!(r.io_read_bytes_per_second, 10240.0);
        assert_eq!(r.memory.free, 2048);
        assert_eq!((r.cpu.user, r.cpu.idle), (10.0, 90.0));
    }

    #[test]
    fn interval_uses_deltas() {
        let a = ProcStat {
            context_switches: Some(100),
            ..Default::default()
        };
        let b = ProcStat {
            context_switches: Some(300),
            total: CpuTicks {
                system: 50,
                idle: 150,
                ..Default::default()
            },
            ..Default::default()
        };
        let p = Paging::default();
        let r = interval((&a, &p), (&b, &p), &Memory::default(), &MACHINE, 2.0);
        assert_eq!(r.context_switches_per_second, 100.0);
        assert_eq!((r.cpu.system, r.cpu.idle), (25.0, 75.0));
    }
}
