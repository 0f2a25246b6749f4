//! What one recorded sample holds: the raw figures the kernel wrote, nothing
//! derived. Rates (page faults per second, PSI stall share) are computed from
//! two samples when reading.

use memdx_proc::pressure::MemoryPressure;
use memdx_proc::{MemInfo, VmStat};

/// One sample of the whole machine.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sample {
    /// When it was taken: UTC unix seconds (fractional).
    pub time: f64,
    /// `/proc/meminfo` (KiB, as the kernel wrote it).
    pub meminfo: MemInfo,
    /// `/proc/vmstat` counters.
    pub vmstat: VmStat,
    /// `/proc/pressure/memory`, when the kernel has PSI.
    pub pressure: Option<MemoryPressure>,
    /// The processes recorded in this sample (the largest N and any named).
    pub processes: Vec<ProcessSample>,
    /// Every memory cgroup.
    pub cgroups: Vec<CgroupSample>,
}

/// One process in one sample. Sizes in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessSample {
    /// Process id.
    pub pid: u32,
    /// The kernel's comm (`Name:`).
    pub name: String,
    /// Command line, NULs as spaces.
    pub cmdline: String,
    /// The cgroup its memory is charged to.
    pub cgroup: Option<String>,
    /// `VmRSS`.
    pub rss: Option<u64>,
    /// `RssAnon`.
    pub rss_anon: Option<u64>,
    /// `RssFile + RssShmem`.
    pub shr: Option<u64>,
    /// `VmSwap`.
    pub swap: Option<u64>,
    /// `VmSize`.
    pub vsz: Option<u64>,
}

/// One cgroup in one sample. Sizes in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CgroupSample {
    /// Path below the cgroup root, starting with `/`.
    pub path: String,
    /// `memory.current`.
    pub current: u64,
    /// `memory.swap.current`, when present.
    pub swap: Option<u64>,
    /// `memory.max`, `None` for "max" (no limit) or absent.
    pub max: Option<u64>,
}
