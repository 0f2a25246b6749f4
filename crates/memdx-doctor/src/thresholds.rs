//! Every threshold the diagnosis uses, in one place. Each says why it is
//! where it is; `docs/doctor.md` lists them for users.

/// MemAvailable below this share of MemTotal (percent) is critical: the
/// kernel is about to reclaim hard, swap or kill.
pub const MEM_AVAILABLE_CRITICAL_PCT: f64 = 5.0;
/// MemAvailable below this share of MemTotal (percent) is a warning.
pub const MEM_AVAILABLE_WARNING_PCT: f64 = 10.0;

/// PSI memory "some" avg10 (percent of the last 10 s in which at least one
/// task waited for memory) at or above this is a warning.
pub const PSI_SOME_WARNING_PCT: f64 = 10.0;
/// PSI memory "full" avg10 (every non-idle task waited) at or above this is
/// a warning: work stops, not only slows.
pub const PSI_FULL_WARNING_PCT: f64 = 1.0;
/// PSI memory "full" avg10 at or above this is critical.
pub const PSI_FULL_CRITICAL_PCT: f64 = 10.0;

/// Swap-in plus swap-out (pages per second over the window) at or above
/// this is a warning (about 400 KiB/s with 4 KiB pages).
pub const SWAP_WARNING_PAGES_PER_S: f64 = 100.0;
/// Swap-in (pages per second) at or above this is critical: pages come back
/// as fast as they go out (thrashing, about 4 MiB/s).
pub const SWAP_IN_CRITICAL_PAGES_PER_S: f64 = 1000.0;
/// Direct-reclaim page scanning (pages per second) at or above this is a
/// warning: allocating tasks reclaim themselves, kswapd does not keep up.
pub const DIRECT_SCAN_WARNING_PAGES_PER_S: f64 = 100.0;

/// An OOM kill this recent (seconds before the end of the window) is
/// critical; older kills within the "recent" span are warnings.
pub const OOM_CRITICAL_AGE_S: f64 = 3600.0;

/// Shared memory (tmpfs, shm) above this share of MemTotal (percent) is a
/// warning: it is neither owned by one process nor reclaimable without swap.
pub const SHMEM_WARNING_PCT: f64 = 25.0;
/// Unreclaimable slab above this share of MemTotal (percent) is a warning.
pub const SUNRECLAIM_WARNING_PCT: f64 = 10.0;
/// Page tables above this share of MemTotal (percent) is a warning (many
/// processes mapping much memory, or huge sparse mappings).
pub const PAGE_TABLES_WARNING_PCT: f64 = 5.0;

/// How many processes and cgroups the "who" findings name.
pub const TOP_OWNERS: usize = 5;

/// A process's or cgroup's growth counts only when it grew at least this
/// much over the window (on top of memdx-trend's own `min_change_bytes`):
/// a 10 s window of a busy machine has many sub-MiB wobbles.
pub const GROWTH_MIN_BYTES: f64 = 1024.0 * 1024.0;
/// A growing series reaching its limit sooner than this even at the lower
/// end of its rate's interval is critical.
pub const GROWTH_CRITICAL_TTL_S: f64 = 3600.0;
/// ... and only when that is at most this many observation windows ahead:
/// a rate measured over 10 s says little about the next hour (a compiler
/// grows for a few seconds, then exits).
pub const GROWTH_CRITICAL_WINDOWS: f64 = 30.0;
/// How many growing series are reported, fastest first.
pub const GROWTH_MAX_FINDINGS: usize = 5;

/// A slab cache counts as growing when Mann–Kendall's one-sided p-value is
/// at most this (memdx slab's rule).
pub const SLAB_MAX_P: f64 = 0.01;
/// ... and it grew at least this much over the window, bytes: a busy
/// machine starting processes grows task_struct and friends by tens of KiB
/// in seconds (`memdx slab --duration 10m` is for slower leaks).
pub const SLAB_MIN_GROWTH_BYTES: f64 = 1024.0 * 1024.0;

/// `--deep`: how many growing allocation sites are named.
pub const HEAP_TOP_SITES: usize = 5;
/// `--deep`: the target's RSS growth is called "held by the allocator"
/// (fragmentation or caching) when the live heap grew at less than this
/// share of the RSS growth rate (and the RSS grew at least
/// [`GROWTH_MIN_BYTES`]); else it is live memory the program holds.
pub const HEAP_LIVE_SHARE_MIN: f64 = 1.0 / 3.0;
