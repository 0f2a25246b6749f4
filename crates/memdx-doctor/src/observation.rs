//! The input of the diagnosis: what the CLI gathered over the observation
//! window. Everything is already read; nothing here touches `/proc`.

use memdx_kernel::kmemleak::status::Status as KmemleakStatus;
use memdx_kernel::oom::OomEvent;
use memdx_kernel::slab::series::Sample as SlabSample;
use memdx_proc::cgroup_walk::CgroupUsage;
use memdx_proc::pressure::MemoryPressure;
use memdx_proc::process::ProcessMemory;
use memdx_proc::{MemInfo, VmStat};
use memdx_trend::Point;

/// What the observation was pointed at.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The whole machine.
    Machine,
    /// One process.
    Pid(u32),
    /// Every process whose name or command line matches (summed).
    Name(String),
    /// A cgroup (its path in the hierarchy).
    Cgroup(String),
}

/// A figure sampled over the window: `(t seconds since the start, bytes)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// What it is, for people: `pid 1234 (leaker)`, `cgroup /system.slice/x`.
    pub label: String,
    /// The command that watches it longer (`memdx watch 1234`).
    pub watch_command: String,
    /// Which figure: `rss`, `pss`, `working-set`, `current`.
    pub metric: &'static str,
    /// The samples.
    pub points: Vec<Point>,
    /// What growth would run into (a cgroup's memory.max), bytes; `None`
    /// for MemAvailable at the end of the window.
    pub limit_bytes: Option<f64>,
    /// Whether this is the figure of the target the user named.
    pub is_target: bool,
}

/// The OOM kills the kernel log holds, or why it could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum KernelLog {
    /// The log was read.
    Read {
        /// OOM-killer reports, oldest first.
        events: Vec<OomEvent>,
        /// systemd-oomd kill lines found in the same log, with their time
        /// (seconds since boot) when stamped.
        oomd_kills: Vec<(Option<f64>, String)>,
    },
    /// It could not be read; the reason (e.g. `kernel.dmesg_restrict`).
    Unreadable(String),
}

/// One observation of the machine (and of a target) over a window.
#[derive(Debug, Clone)]
pub struct Observation {
    /// What the user asked about.
    pub target: Target,
    /// Seconds between the first and the last sample.
    pub duration_s: f64,
    /// How many samples were taken.
    pub samples: usize,
    /// Seconds since boot at the end of the window, when known.
    pub uptime_s: Option<f64>,
    /// `/proc/meminfo` at the start and at the end.
    pub meminfo_start: MemInfo,
    /// See `meminfo_start`.
    pub meminfo_end: MemInfo,
    /// `/proc/vmstat` at the start and the end, when readable.
    pub vmstat_start: Option<VmStat>,
    /// See `vmstat_start`.
    pub vmstat_end: Option<VmStat>,
    /// PSI memory at the end, when the kernel has it.
    pub pressure: Option<MemoryPressure>,
    /// Every process at the end (PSS/USS when smaps_rollup was readable).
    pub processes: Vec<ProcessMemory>,
    /// The processes a `--name` target matched at the end.
    pub target_pids: Vec<u32>,
    /// Whether the observer ran as root (other users' smaps_rollup and the
    /// kernel log are readable).
    pub as_root: bool,
    /// Every memory cgroup at the end.
    pub cgroups: Vec<CgroupUsage>,
    /// Series judged for growth: every process's RSS, the target's figure,
    /// cgroups' usage.
    pub series: Vec<Series>,
    /// `/proc/slabinfo` (or sysfs) samples over the window, when readable.
    pub slab: Option<Vec<SlabSample>>,
    /// Whether kmemleak can be used on this kernel, and what blocks it
    /// (gathered with the slab samples).
    pub kmemleak: Option<KmemleakStatus>,
    /// OOM kills from the kernel log.
    pub kernel_log: KernelLog,
    /// Kills at or after this time (seconds since boot) are "recent".
    pub recent_since_s: Option<f64>,
    /// How far back "recent" reaches, seconds (said in the finding).
    pub recent_span_s: f64,
    /// What could not be read and why (one line each), reported as notes.
    pub unreadable: Vec<String>,
    /// `--deep`: the heap capture of the target over the window, when it
    /// was asked for and succeeded (a failure is a note in `unreadable`).
    pub heap: Option<HeapCapture>,
}

/// One allocation site of a heap capture: the first frame outside the
/// allocator, with the bytes and blocks it allocated during the capture
/// that were still live at its end.
#[derive(Debug, Clone, PartialEq)]
pub struct HeapSite {
    /// Function name (or the address when unsymbolized).
    pub function: String,
    /// `file:line`, when the program has debug information.
    pub location: Option<String>,
    /// Bytes still live (estimated from the samples).
    pub bytes: f64,
    /// Blocks still live (estimated).
    pub blocks: f64,
}

/// `--deep`: a sampled heap capture of one process through attach
/// (`memdx heap --pid`) over the observation window.
#[derive(Debug, Clone, PartialEq)]
pub struct HeapCapture {
    /// The process.
    pub pid: u32,
    /// Seconds the recording lasted.
    pub duration_s: f64,
    /// Mean bytes between samples (0: every allocation).
    pub sample_interval: u64,
    /// Heap in use at the attach, by the allocator's count (mallinfo2).
    pub heap_at_attach_bytes: Option<u64>,
    /// Sites by live bytes allocated during the capture, largest first.
    pub sites: Vec<HeapSite>,
    /// Bytes allocated during the capture and live at its end, all sites:
    /// the live heap's growth.
    pub live_growth_bytes: f64,
    /// The process's RSS growth from before the attach to after the detach.
    pub rss_growth_bytes: f64,
    /// Seconds between those two RSS readings.
    pub rss_span_s: f64,
}
