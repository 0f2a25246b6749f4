//! `memdx top`: successive process samples turned into rows with %CPU and a
//! short RSS/PSS history per process (for the TUI's sparkline).

use std::collections::{HashMap, VecDeque};

use memdx_proc::process::ProcessMemory;

use crate::ps::PsRow;

/// Clock ticks per second of `/proc/PID/stat` times. Linux has exported
/// USER_HZ = 100 to user space on every architecture for decades.
pub const USER_HZ: f64 = 100.0;

/// One sample of history: (rss, pss) in bytes.
pub type HistoryPoint = (Option<u64>, Option<u64>);

/// State carried between refreshes.
#[derive(Debug)]
pub struct TopModel {
    prev_ticks: HashMap<u32, u64>,
    history: HashMap<u32, VecDeque<HistoryPoint>>,
    capacity: usize,
}

impl TopModel {
    /// A model keeping `capacity` history points per process.
    pub fn new(capacity: usize) -> Self {
        Self {
            prev_ticks: HashMap::new(),
            history: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Turns a new sample into rows. `elapsed_secs` is the wall time since the
    /// previous sample (`None` for the first: %CPU is then unknown, as in
    /// top's first frame, which shows 0.0 — we show "-").
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
                row.cpu = match (elapsed_secs, self.prev_ticks.get(&p.pid)) {
                    (Some(secs), Some(&before)) if secs > 0.0 && t >= before => {
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
        let alive: std::collections::HashSet<u32> = procs.iter().map(|p| p.pid).collect();
        self.history.retain(|pid, _| alive.contains(pid));
        self.prev_ticks = ticks;
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
