//! Takes one [`Sample`] from the readers in `memdx-proc`.
//!
//! Per sample: meminfo, vmstat, PSI, every process's resident size (kept-open
//! statm files, see `memdx_proc::statm`), then the full status and cgroup of
//! the largest `top` processes and of any named ones, then every cgroup.

use std::collections::BTreeSet;

use memdx_proc::pressure::MemoryPressure;
use memdx_proc::process::{read_process, ReadOptions};
use memdx_proc::statm::StatmReader;
use memdx_proc::{MemInfo, ProcRoot, VmStat};

use crate::sample::{ProcessSample, Sample};

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
}

impl Collector {
    /// A collector reading under `root`, keeping at most `max_open_files`
    /// statm files open.
    pub fn new(root: ProcRoot, selection: Selection, max_open_files: usize) -> Self {
        Self {
            statm: StatmReader::new(root.clone(), max_open_files),
            root,
            selection,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Reads one sample stamped `time` (UTC unix seconds).
    pub fn sample(&mut self, time: f64) -> memdx_proc::Result<Sample> {
        let meminfo = MemInfo::read(&self.root)?;
        let vmstat = VmStat::read(&self.root)?;
        let pressure = MemoryPressure::read(&self.root)?;

        let mut sizes = self.statm.read_all()?;
        let mut chosen: BTreeSet<u32> = sizes
            .iter()
            .filter(|r| {
                self.selection.pids.contains(&r.pid) || self.selection.names.contains(&r.comm)
            })
            .map(|r| r.pid)
            .collect();
        sizes.sort_unstable_by(|a, b| b.rss.cmp(&a.rss).then(a.pid.cmp(&b.pid)));
        chosen.extend(sizes.iter().take(self.selection.top).map(|r| r.pid));

        let opts = ReadOptions {
            smaps: false,
            cgroup: true,
            cpu: false,
        };
        let mut processes = Vec::with_capacity(chosen.len());
        for pid in chosen {
            if let Some(p) = read_process(&self.root, pid, opts, &mut self.buf)? {
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
        Ok(Sample {
            time,
            meminfo,
            vmstat,
            pressure,
            processes,
            cgroups: Vec::new(),
        })
    }
}
