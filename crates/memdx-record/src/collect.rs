//! Takes one [`Sample`] from the readers in `memdx-proc`.
//!
//! Per sample: meminfo, vmstat, PSI, the status and cgroup of the chosen
//! processes, and every cgroup. The chosen processes are the largest `top`
//! by RSS plus the named ones; they are chosen again on every
//! `rescan_every`-th sample from every process's resident size (kept-open
//! statm files, see `memdx_proc::statm`). Listing and reading 2,000
//! processes costs about 8 ms of CPU, most of the budget of a 1-second
//! recorder, so between scans only the chosen processes are read; a process
//! that grows into the top N is recorded from the next scan on.

use std::collections::BTreeSet;

use memdx_proc::pressure::MemoryPressure;
use memdx_proc::process::{read_process, ReadOptions};
use memdx_proc::statm::StatmReader;
use memdx_proc::{MemInfo, ProcRoot, VmStat};

use crate::sample::{CgroupSample, ProcessSample, Sample};

/// Which processes a sample records.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The largest processes by RSS.
    pub top: usize,
    /// Processes with these pids, whatever their size.
    pub pids: Vec<u32>,
    /// Processes whose comm is one of these, whatever their size.
    pub names: Vec<String>,
}

/// Takes samples; keeps state (open files) between them.
pub struct Collector {
    root: ProcRoot,
    selection: Selection,
    statm: StatmReader,
    buf: Vec<u8>,
    rescan_every: u32,
    since_scan: u32,
    chosen: Vec<u32>,
}

impl Collector {
    /// A collector reading under `root`, keeping at most `max_open_files`
    /// statm files open, choosing the processes again every `rescan_every`
    /// samples (1: every sample).
    pub fn new(
        root: ProcRoot,
        selection: Selection,
        max_open_files: usize,
        rescan_every: u32,
    ) -> Self {
        Self {
            statm: StatmReader::new(root.clone(), max_open_files),
            root,
            selection,
            buf: Vec::with_capacity(4096),
            rescan_every: rescan_every.max(1),
            since_scan: 0,
            chosen: Vec::new(),
        }
    }

    /// Chooses the processes to record from every process's size.
    fn choose(&mut self) -> memdx_proc::Result<()> {
        let mut sizes = self.statm.read_all()?;
        let mut chosen: BTreeSet<u32> = sizes
            .iter()
            .filter(|r| self.selection.names.contains(&r.comm))
            .map(|r| r.pid)
            .collect();
        chosen.extend(self.selection.pids.iter().copied());
        sizes.sort_unstable_by(|a, b| b.rss.cmp(&a.rss).then(a.pid.cmp(&b.pid)));
        chosen.extend(sizes.iter().take(self.selection.top).map(|r| r.pid));
        self.chosen = chosen.into_iter().collect();
        Ok(())
    }

    /// Reads one sample stamped `time` (UTC unix seconds).
    pub fn sample(&mut self, time: f64) -> memdx_proc::Result<Sample> {
        let meminfo = MemInfo::read(&self.root)?;
        let vmstat = VmStat::read(&self.root)?;
        let pressure = MemoryPressure::read(&self.root)?;

        if self.since_scan == 0 {
            self.choose()?;
        }
        self.since_scan = (self.since_scan + 1) % self.rescan_every;

        let opts = ReadOptions {
            smaps: false,
            cgroup: true,
            cpu: false,
        };
        let mut processes = Vec::with_capacity(self.chosen.len());
        for &pid in &self.chosen {
            // One process that cannot be read (gone, or hidden from this
            // user) costs its row, not the sample.
            if let Ok(Some(p)) = read_process(&self.root, pid, opts, &mut self.buf) {
                processes.push(ProcessSample {
                    pid: p.pid,
                    name: p.name,
                    cmdline: p.cmdline,
                    cgroup: p.cgroup,
                    rss: p.rss,
                    rss_anon: p.rss_anon,
                    shr: p.shr,
                    swap: p.swap_status,
                    vsz: p.vsz,
                });
            }
        }
        let cgroups = memdx_proc::cgroup_walk::memory_cgroups(&self.root)?
            .into_iter()
            .map(|c| CgroupSample {
                path: c.path,
                current: c.current,
                swap: c.swap,
                max: c.max,
            })
            .collect();
        Ok(Sample {
            time,
            meminfo,
            vmstat,
            pressure,
            processes,
            cgroups,
        })
    }
}
