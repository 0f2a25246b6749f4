//! Readers of `/proc` and `/sys`.
//!
//! Every reader takes a [`ProcRoot`], so the same code reads the live machine
//! or a fixture tree captured from another machine (`tests/fixtures/...`).
//! Readers never print and never interpret: they return what the kernel
//! wrote, with fields the kernel did not write as `None`. Arithmetic and
//! formatting live in `memdx-model` and `memdx-views`.

#![deny(missing_docs)]

pub mod cgroup;
pub mod cgroup_walk;
pub mod diskstats;
mod error;
pub mod loadavg;
pub mod meminfo;
pub mod pressure;
pub mod process;
mod root;
pub mod slabinfo;
pub mod smaps;
pub mod stat;
pub mod statm;
pub mod sysconf;
pub mod uptime;
pub mod utmp;
pub mod vmstat;

pub use cgroup::{CgroupMemory, MemoryLimit, MemoryStat};
pub use diskstats::{DiskStat, DiskStats};
pub use error::{ProcError, Result};
pub use loadavg::LoadAvg;
pub use meminfo::MemInfo;
pub use root::ProcRoot;
pub use slabinfo::{SlabCache, SlabInfo};
pub use stat::{CpuTicks, ProcStat};
pub use uptime::Uptime;
pub use vmstat::VmStat;
