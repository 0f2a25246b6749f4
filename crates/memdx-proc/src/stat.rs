//! `/proc/stat`: CPU time and system-wide event counters since boot.
//!
//! Format (`Documentation/filesystems/proc.rst`): a `cpu` line with the
//! summed ticks of all CPUs, one `cpuN` line per online CPU, then
//! `intr`, `ctxt`, `btime`, `processes`, `procs_running`, `procs_blocked`
//! and `softirq` lines. The number of tick columns grew over the years
//! (iowait/irq/softirq in 2.6, steal in 2.6.11, guest in 2.6.24, guest_nice
//! in 2.6.33), so the later ones are `Option`.

use crate::error::Result;
use crate::root::ProcRoot;

/// Path of the file relative to the root.
pub const REL_PATH: &str = "proc/stat";

/// Ticks (units of 1/`USER_HZ` second) one CPU, or all together, spent in
/// each state since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTicks {
    /// Normal processes in user mode (includes guest time).
    pub user: u64,
    /// Niced processes in user mode (includes guest_nice time).
    pub nice: u64,
    /// Kernel mode.
    pub system: u64,
    /// Idle.
    pub idle: u64,
    /// Waiting for I/O (2.5.41+).
    pub iowait: Option<u64>,
    /// Servicing interrupts (2.6.0+).
    pub irq: Option<u64>,
    /// Servicing softirqs (2.6.0+).
    pub softirq: Option<u64>,
    /// Stolen by the hypervisor (2.6.11+).
    pub steal: Option<u64>,
    /// Running a guest (2.6.24+).
    pub guest: Option<u64>,
    /// Running a niced guest (2.6.33+).
    pub guest_nice: Option<u64>,
}

impl CpuTicks {
    /// How many tick columns the kernel wrote (4 to 10).
    pub fn columns(&self) -> usize {
        4 + [
            self.iowait,
            self.irq,
            self.softirq,
            self.steal,
            self.guest,
            self.guest_nice,
        ]
        .iter()
        .filter(|v| v.is_some())
        .count()
    }
}

/// One parsed `/proc/stat`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcStat {
    /// The `cpu` line: all CPUs summed.
    pub total: CpuTicks,
    /// The `cpuN` lines, in file order.
    pub cpus: Vec<CpuTicks>,
    /// First number of the `intr` line: interrupts serviced since boot.
    pub interrupts: Option<u64>,
    /// `ctxt`: context switches since boot.
    pub context_switches: Option<u64>,
    /// `btime`: boot time, seconds since the epoch.
    pub boot_time: Option<u64>,
    /// `processes`: forks since boot.
    pub processes: Option<u64>,
    /// `procs_running`: runnable tasks now.
    pub procs_running: Option<u64>,
    /// `procs_blocked`: tasks blocked on I/O now.
    pub procs_blocked: Option<u64>,
}

impl ProcStat {
    /// Reads and parses `proc/stat` under `root`.
    pub fn read(root: &ProcRoot) -> Result<Self> {
        root.read_parsed(REL_PATH, Self::parse)
    }

    /// Parses the text of a stat file. On error returns the 1-based line (0
    /// for the whole file) and what was wrong.
    pub fn parse(text: &str) -> std::result::Result<Self, (usize, String)> {
        crate::root::whole_file(text, false)?;
        let mut stat = ProcStat::default();
        let mut saw_total = false;
        for (idx, line) in text.lines().enumerate() {
            let lineno = idx + 1;
            let mut words = line.split_whitespace();
            let Some(key) = words.next() else { continue };
            let number = |w: Option<&str>| -> std::result::Result<u64, (usize, String)> {
                let w = w.ok_or_else(|| (lineno, format!("{key} has no value")))?;
                w.parse().map_err(|_| {
                    (
                        lineno,
                        format!("{key} has a non-numeric value {}", crate::error::quoted(w)),
                    )
                })
            };
            match key {
                "cpu" => {
                    stat.total = parse_ticks(words, lineno, key)?;
                    saw_total = true;
                }
                k if k.starts_with("cpu") && k[3..].bytes().all(|b| b.is_ascii_digit()) => {
                    stat.cpus.push(parse_ticks(words, lineno, key)?);
                }
                "intr" => stat.interrupts = Some(number(words.next())?),
                "ctxt" => stat.context_switches = Some(number(words.next())?),
                "btime" => stat.boot_time = Some(number(words.next())?),
                "processes" => stat.processes = Some(number(words.next())?),
                "procs_running" => stat.procs_running = Some(number(words.next())?),
                "procs_blocked" => stat.procs_blocked = Some(number(words.next())?),
                // softirq and lines of future kernels carry nothing we show.
                _ => {}
            }
        }
        if !saw_total {
            return Err((1, "no `cpu` summary line".into()));
        }
        Ok(stat)
    }
}

fn parse_ticks<'a>(
    words: impl Iterator<Item = &'a str>,
    lineno: usize,
    key: &str,
) -> std::result::Result<CpuTicks, (usize, String)> {
    let mut values = Vec::with_capacity(10);
    for w in words {
        let v: u64 = w.parse().map_err(|_| {
            (
                lineno,
                format!(
                    "{key} has a non-numeric tick count {}",
                    crate::error::quoted(w)
                ),
            )
        })?;
        values.push(v);
    }
    if values.len() < 4 {
        return Err((
            lineno,
            format!(
                "{key} has {} tick columns, expected at least 4",
                values.len()
            ),
        ));
    }
    let at = |i: usize| values.get(i).copied();
    Ok(CpuTicks {
        user: values[0],
        nice: values[1],
        system: values[2],
        idle: values[3],
        iowait: at(4),
        irq: at(5),
        softirq: at(6),
        steal: at(7),
        guest: at(8),
        guest_nice: at(9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "cpu  11750 0 5296 198669 488 0 66 16 0 0\n\
cpu0 5591 0 2377 100168 43 0 17 7 0 0\n\
cpu1 6159 0 2918 98500 444 0 48 9 0 0\n\
intr 332182 0 0 14\n\
ctxt 871978\n\
btime 1795595068\n\
processes 21998\n\
procs_running 3\n\
procs_blocked 0\n\
softirq 187224 0 24756 4\n";

    #[test]
    fn parses_ticks_and_counters() {
        let s = ProcStat::parse(SAMPLE).unwrap();
        assert_eq!(s.total.user, 11750);
        assert_eq!(s.total.steal, Some(16));
        assert_eq!(s.total.guest_nice, Some(0));
        assert_eq!(s.cpus.len(), 2);
        assert_eq!(s.interrupts, Some(332182));
        assert_eq!(s.context_switches, Some(871978));
        assert_eq!(s.boot_time, Some(1795595068));
        assert_eq!(s.processes, Some(21998));
        assert_eq!(s.procs_running, Some(3));
        assert_eq!(s.procs_blocked, Some(0));
    }

    #[test]
    fn old_kernel_columns_are_none() {
        let s = ProcStat::parse("cpu 1 2 3 4 5 6 7\nintr 9\n").unwrap();
        assert_eq!(s.total.columns(), 7);
        assert_eq!(s.total.steal, None);
        assert_eq!(s.context_switches, None);
    }

    #[test]
    fn rejects_garbage_with_line_numbers() {
        assert_eq!(ProcStat::parse("cpu 1 2 3 4\nctxt x\n").unwrap_err().0, 2);
        assert_eq!(ProcStat::parse("cpu 1 2 3\n").unwrap_err().0, 1);
        assert_eq!(ProcStat::parse("cpu 1 2 3 4 x\n").unwrap_err().0, 1);
        assert!(ProcStat::parse("intr 5\n").is_err());
        assert!(ProcStat::parse("cpu 1 2 3 4\nctx").is_err());
        assert!(ProcStat::parse("").is_err());
    }
}
