//! `memdx top`: successive process samples turned into rows with %CPU and a
//! short RSS/PSS history per process (for the TUI's sparkline).

use std::collections::{HashMap, HashSet, VecDeque};

use memdx_proc::process::ProcessMemory;
use memdx_proc::CpuTicks;
use serde::Serialize;

use crate::ps::PsRow;

/// top's `Tasks:` line: processes by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TaskCounts {
    /// Every process.
    pub total: usize,
    /// State R.
    pub running: usize,
    /// States S, D and I (idle kernel threads), as top counts them.
    pub sleeping: usize,
    /// States T and t.
    pub stopped: usize,
    /// State Z.
    pub zombie: usize,
}

impl TaskCounts {
    /// Counts processes by their `State:` letter.
    pub fn count(procs: &[ProcessMemory]) -> Self {
        let mut c = TaskCounts {
            total: procs.len(),
            ..Default::default()
        };
        for p in procs {
            match p.state {
                'R' => c.running += 1,
                'T' | 't' => c.stopped += 1,
                'Z' => c.zombie += 1,
                _ => c.sleeping += 1,
            }
        }
        c
    }
}

/// top's `%Cpu(s):` line: shares of all CPUs' ticks between two samples of
/// `/proc/stat`'s `cpu` line, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct CpuShares {
    /// User (not niced).
    pub us: f64,
    /// System.
    pub sy: f64,
    /// Niced user.
    pub ni: f64,
    /// Idle.
    pub id: f64,
    /// Waiting for I/O.
    pub wa: f64,
    /// Hardware interrupts.
    pub hi: f64,
    /// Software interrupts.
    pub si: f64,
    /// Stolen by the hypervisor.
    pub st: f64,
}

impl CpuShares {
    /// top's arithmetic: each state's tick delta (negative deltas, from a
    /// CPU going offline, count as 0) over the sum of the deltas; with no
    /// ticks at all between the samples the CPUs count as idle.
    pub fn between(before: &CpuTicks, after: &CpuTicks) -> Self {
        let d = |a: u64, b: u64| a.saturating_sub(b) as f64;
        let o = |a: Option<u64>, b: Option<u64>| d(a.unwrap_or(0), b.unwrap_or(0));
        let us = d(after.user, before.user);
        let sy = d(after.system, before.system);
        let ni = d(after.nice, before.nice);
        let mut id = d(after.idle, before.idle);
        let wa = o(after.iowait, before.iowait);
        let hi = o(after.irq, before.irq);
        let si = o(after.softirq, before.softirq);
        let st = o(after.steal, before.steal);
        let mut total = us + sy + ni + id + wa + hi + si + st;
        if total < 1.0 {
            id = 1.0;
            total = 1.0;
        }
        let pct = |v: f64| v * 100.0 / total;
        CpuShares {
            us: pct(us),
            sy: pct(sy),
            ni: pct(ni),
            id: pct(id),
            wa: pct(wa),
            hi: pct(hi),
            si: pct(si),
            st: pct(st),
        }
    }
}

/// Clock ticks per second of `/proc/PID/stat` times. Linux has exported
/// USER_HZ = 100 to user space on every architecture for decades.
pub const USER_HZ: f64 = 100.0;

/// One sample of history: (rss, pss) in bytes.
pub type HistoryPoint = (Option<u64>, Option<u64>);

/// State carried between refreshes.
#[derive(Debug)]
pub struct TopModel {
    prev_ticks: HashMap<u32, u64>,
    /// Every pid of the previous sample (`None` before the first), with
    /// CPU times or without (an unreadable stat).
    prev_pids: Option<HashSet<u32>>,
    history: HashMap<u32, VecDeque<HistoryPoint>>,
    capacity: usize,
}

impl TopModel {
    /// A model keeping `capacity` history points per process.
    pub fn new(capacity: usize) -> Self {
        Self {
            prev_ticks: HashMap::new(),
            prev_pids: None,
            history: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records CPU times without making rows: a short first sample so that
    /// the first frame's %CPU is real, as top does.
    pub fn prime(&mut self, procs: &[ProcessMemory]) {
        self.prev_ticks = procs
            .iter()
            .filter_map(|p| p.cpu_ticks.map(|t| (p.pid, t)))
            .collect();
        self.prev_pids = Some(procs.iter().map(|p| p.pid).collect());
    }

    /// Turns a new sample into rows. `elapsed_secs` is the wall time since the
    /// previous sample (`None` for the first: %CPU is then unknown, as in
    /// top's first frame, which shows 0.0 — we show "-"). A process that
    /// was not in the previous sample counts all its CPU time, as in top.
    pub fn update(
        &mut self,
        procs: &[ProcessMemory],
        elapsed_secs: Option<f64>,
        users: &HashMap<u32, String>,
        mem_total: Option<u64>,
    ) -> Vec<PsRow> {
        let mut ticks = HashMap::with_capacity(procs.len());
        let mut rows = Vec::with_capacity(procs.len());
        for p in procs {
            let mut row = PsRow::from_process(p, users, mem_total);
            if let Some(t) = p.cpu_ticks {
                ticks.insert(p.pid, t);
                // A process that started since the previous sample spent
                // all its CPU time in the interval (top counts it so, too).
                let new = self
                    .prev_pids
                    .as_ref()
                    .is_some_and(|pids| !pids.contains(&p.pid));
                let before = match self.prev_ticks.get(&p.pid) {
                    Some(&before) => Some(before),
                    None if new => Some(0),
                    None => None,
                };
                row.cpu = match (elapsed_secs, before) {
                    (Some(secs), Some(before)) if secs > 0.0 && t >= before => {
                        Some((t - before) as f64 / USER_HZ / secs * 100.0)
                    }
                    _ => None,
                };
            }
            let h = self.history.entry(p.pid).or_default();
            if h.len() == self.capacity {
                h.pop_front();
            }
            h.push_back((row.rss, row.pss));
            rows.push(row);
        }
        let alive: HashSet<u32> = procs.iter().map(|p| p.pid).collect();
        self.history.retain(|pid, _| alive.contains(pid));
        self.prev_ticks = ticks;
        self.prev_pids = Some(alive);
        rows
    }

    /// The RSS/PSS history of a process, oldest first.
    pub fn history(&self, pid: u32) -> impl Iterator<Item = HistoryPoint> + '_ {
        self.history
            .get(&pid)
            .into_iter()
            .flat_map(|h| h.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: u32, ticks: u64, rss: u64) -> ProcessMemory {
        ProcessMemory {
            pid,
            name: "p".into(),
            rss: Some(rss),
            cpu_ticks: Some(ticks),
            ..Default::default()
        }
    }

    #[test]
    fn cpu_is_tick_delta_over_wall_time() {
        let mut m = TopModel::new(4);
        let users = HashMap::new();
        let first = m.update(&[proc(1, 100, 10)], None, &users, None);
        assert_eq!(first[0].cpu, None);
        // 150 ticks = 1.5 s of CPU in 3 s of wall time = 50 %.
        let second = m.update(&[proc(1, 250, 20)], Some(3.0), &users, None);
        assert!((second[0].cpu.unwrap() - 50.0).abs() < 1e-9);
    }

    #[test]
    fn priming_gives_the_first_frame_a_cpu_figure() {
        let mut m = TopModel::new(4);
        m.prime(&[proc(1, 100, 10)]);
        let rows = m.update(
            &[proc(1, 110, 10), proc(2, 5, 1)],
            Some(0.2),
            &HashMap::new(),
            None,
        );
        assert!((rows[0].cpu.unwrap() - 50.0).abs() < 1e-9);
        // Pid 2 started during the 0.2 s: its 5 ticks are 25 %.
        assert!((rows[1].cpu.unwrap() - 25.0).abs() < 1e-9);
    }

    #[test]
    fn a_process_seen_before_without_cpu_times_gets_no_figure() {
        let mut m = TopModel::new(4);
        let mut unreadable = proc(1, 0, 10);
        unreadable.cpu_ticks = None;
        m.prime(&[unreadable]);
        let rows = m.update(&[proc(1, 500, 10)], Some(1.0), &HashMap::new(), None);
        // Its 500 ticks are not all from the last second.
        assert_eq!(rows[0].cpu, None);
    }

    #[test]
    fn tasks_are_counted_by_state_as_top_does() {
        let states = ['R', 'S', 'D', 'I', 'T', 't', 'Z', 'R'];
        let procs: Vec<ProcessMemory> = states
            .iter()
            .map(|&state| ProcessMemory {
                state,
                ..Default::default()
            })
            .collect();
        let c = TaskCounts::count(&procs);
        assert_eq!(
            (c.total, c.running, c.sleeping, c.stopped, c.zombie),
            (8, 2, 3, 2, 1)
        );
    }

    #[test]
    fn cpu_shares_are_tick_deltas_over_their_sum() {
        let before = CpuTicks {
            user: 100,
            system: 50,
            idle: 1000,
            iowait: Some(10),
            ..Default::default()
        };
        let after = CpuTicks {
            user: 160,
            system: 90,
            idle: 1090,
            iowait: Some(20),
            ..Default::default()
        };
        let c = CpuShares::between(&before, &after);
        // deltas 60 us, 40 sy, 90 id, 10 wa = 200 ticks.
        assert_eq!((c.us, c.sy, c.id, c.wa, c.ni), (30.0, 20.0, 45.0, 5.0, 0.0));
        let idle = CpuShares::between(&after, &after);
        assert_eq!((idle.id, idle.us), (100.0, 0.0));
    }

    #[test]
    fn history_is_bounded_and_dropped_for_exited_processes() {
        let mut m = TopModel::new(2);
        let users = HashMap::new();
        for rss in [1, 2, 3] {
            m.update(&[proc(7, 0, rss), proc(8, 0, rss)], Some(1.0), &users, None);
        }
        let h: Vec<_> = m.history(7).collect();
        assert_eq!(h, vec![(Some(2), None), (Some(3), None)]);
        m.update(&[proc(7, 0, 4)], Some(1.0), &users, None);
        assert_eq!(m.history(8).count(), 0);
    }
}
