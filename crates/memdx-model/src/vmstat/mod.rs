//! What procps-ng 4.0.2's `vmstat` shows, derived from raw `/proc` samples
//! with its exact arithmetic (C integer types, its `float` unit conversion,
//! its known quirks), plus exact figures for JSON and the opt-in fixes.
//!
//! * [`report`] — the default report line, since boot or over an interval;
//! * [`exact`] — the same figures as true per-second rates (JSON);
//! * [`summary`] — `-s` and `-f`;
//! * [`disk`] — `-d`, `-D`, `-p`;
//! * [`slab`] — `-m`.

pub mod disk;
pub mod exact;
pub mod report;
pub mod slab;
pub mod summary;
mod unit;

pub use unit::DataUnit;

use memdx_proc::{MemInfo, ProcStat, VmStat};

use crate::free::{FreeFigures, MissingField};

/// The files one default-mode report line is computed from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sample {
    /// `/proc/stat`.
    pub stat: ProcStat,
    /// `/proc/vmstat`.
    pub vm: VmStat,
    /// `/proc/meminfo`.
    pub mem: MemInfo,
}

/// The machine constants procps takes from `sysconf(3)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    /// Clock ticks per second (`USER_HZ`).
    pub hz: u64,
    /// Page size in bytes.
    pub page_size: u64,
}

/// Memory figures as procps' meminfo library derives them, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Memory {
    /// MemTotal.
    pub total: u64,
    /// MemTotal - MemAvailable (procps' "used").
    pub used: u64,
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
    /// SwapTotal.
    pub swap_total: u64,
    /// SwapTotal - SwapFree.
    pub swap_used: u64,
    /// SwapFree.
    pub swap_free: u64,
}

impl Memory {
    /// Derives the figures; absent optional fields count as 0 like procps.
    pub fn from_meminfo(m: &MemInfo) -> Result<Self, MissingField> {
        let f = FreeFigures::from_meminfo(m)?;
        Ok(Self {
            total: f.mem_total,
            used: f.mem_used,
            free: f.mem_free,
            buffers: f.buffers,
            cache: f.cache,
            active: m.get("Active").unwrap_or(0),
            inactive: m.get("Inactive").unwrap_or(0),
            swap_total: f.swap_total,
            swap_used: f.swap_used,
            swap_free: f.swap_free,
        })
    }
}

/// `/proc/vmstat` counters vmstat uses; absent ones are 0 as in procps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Paging {
    /// `pgpgin`: KiB read from block devices.
    pub pgpgin: u64,
    /// `pgpgout`: KiB written to block devices.
    pub pgpgout: u64,
    /// `pswpin`: pages swapped in.
    pub pswpin: u64,
    /// `pswpout`: pages swapped out.
    pub pswpout: u64,
}

impl Paging {
    /// Picks the four counters out of `/proc/vmstat`.
    pub fn from_vmstat(v: &VmStat) -> Self {
        Self {
            pgpgin: v.get("pgpgin").unwrap_or(0),
            pgpgout: v.get("pgpgout").unwrap_or(0),
            pswpin: v.get("pswpin").unwrap_or(0),
            pswpout: v.get("pswpout").unwrap_or(0),
        }
    }
}
