//! What `free` shows, derived from `/proc/meminfo` exactly as procps-ng
//! 4.0.2's `library/meminfo.c` derives it.
//!
//! All figures are KiB, as in meminfo. procps computes in C `unsigned long`,
//! so subtractions that go below zero wrap around; we do the same with
//! `wrapping_sub` where procps does not guard the subtraction, because the
//! output must be byte-identical (the classic case is the "Comm:" line's
//! `CommitLimit - Committed_AS` on an overcommitted machine).

use memdx_proc::MemInfo;
use serde::Serialize;

/// A field `free` cannot do without is absent from meminfo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is missing from meminfo")]
pub struct MissingField(pub &'static str);

/// The figures `free` prints, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct FreeFigures {
    /// MemTotal.
    pub mem_total: u64,
    /// MemTotal - MemAvailable (or - MemFree when that would be negative).
    pub mem_used: u64,
    /// MemFree.
    pub mem_free: u64,
    /// Shmem.
    pub shared: u64,
    /// Buffers.
    pub buffers: u64,
    /// Cached + SReclaimable.
    pub cache: u64,
    /// MemAvailable after procps' fallbacks (see [`FreeFigures::from_meminfo`]).
    pub available: u64,
    /// Whether the kernel reported MemAvailable at all (it appeared in 3.14).
    pub available_reported: bool,
    /// LowTotal, or MemTotal when the kernel has no low/high split.
    pub low_total: u64,
    /// LowTotal - LowFree.
    pub low_used: u64,
    /// LowFree, or MemFree when the kernel has no low/high split.
    pub low_free: u64,
    /// HighTotal (0 without highmem).
    pub high_total: u64,
    /// HighTotal - HighFree.
    pub high_used: u64,
    /// HighFree.
    pub high_free: u64,
    /// SwapTotal.
    pub swap_total: u64,
    /// SwapTotal - SwapFree.
    pub swap_used: u64,
    /// SwapFree.
    pub swap_free: u64,
    /// CommitLimit.
    pub commit_limit: u64,
    /// Committed_AS.
    pub committed_as: u64,
}

impl FreeFigures {
    /// Derives the figures with procps-ng 4.0.2's rules:
    ///
    /// * a field the kernel does not report counts as 0;
    /// * MemAvailable falls back to MemFree when it is absent (kernels before
    ///   3.14) or larger than MemTotal (LXC containers show the host's figure);
    /// * used = MemTotal - MemAvailable, or MemTotal - MemFree if negative;
    /// * cache = Cached + SReclaimable;
    /// * Low* default to Mem* when the kernel has no LowTotal.
    ///
    /// MemTotal and MemFree must be present: without them nothing `free`
    /// prints would mean anything.
    pub fn from_meminfo(m: &MemInfo) -> Result<Self, MissingField> {
        let field = |k: &str| m.get(k).unwrap_or(0);
        let mem_total = m.get("MemTotal").ok_or(MissingField("MemTotal"))?;
        let mem_free = m.get("MemFree").ok_or(MissingField("MemFree"))?;

        let available_reported = m.get("MemAvailable").is_some();
        let mut available = field("MemAvailable");
        if available == 0 || available > mem_total {
            available = mem_free;
        }
        // C: signed long mem_used = MemTotal - MemAvailable (unsigned, then
        // converted); negative only when MemFree > MemTotal.
        let mut mem_used = mem_total.wrapping_sub(available) as i64;
        if mem_used < 0 {
            mem_used = mem_total.wrapping_sub(mem_free) as i64;
        }

        let high_total = field("HighTotal");
        let high_free = field("HighFree");
        let high_used = high_total.saturating_sub(high_free);

        let (mut low_total, mut low_free) = (field("LowTotal"), field("LowFree"));
        if low_total == 0 {
            low_total = mem_total;
            low_free = mem_free;
        }
        let low_used = low_total.saturating_sub(low_free);

        let swap_total = field("SwapTotal");
        let swap_free = field("SwapFree");
        let swap_used = swap_total.saturating_sub(swap_free);

        Ok(Self {
            mem_total,
            mem_used: mem_used as u64,
            mem_free,
            shared: field("Shmem"),
            buffers: field("Buffers"),
            cache: field("Cached").wrapping_add(field("SReclaimable")),
            available,
            available_reported,
            low_total,
            low_used,
            low_free,
            high_total,
            high_used,
            high_free,
            swap_total,
            swap_used,
            swap_free,
            commit_limit: field("CommitLimit"),
            committed_as: field("Committed_AS"),
        })
    }

    /// CommitLimit - Committed_AS as procps computes it (C `unsigned long`,
    /// so it wraps when the machine is overcommitted).
    pub fn commit_free_wrapping(&self) -> u64 {
        self.commit_limit.wrapping_sub(self.committed_as)
    }

    /// CommitLimit - Committed_AS as a true signed figure (for JSON).
    pub fn commit_free(&self) -> i64 {
        self.commit_limit as i64 - self.committed_as as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meminfo(pairs: &[(&str, u64)]) -> MemInfo {
        MemInfo::from_entries(pairs.iter().map(|(k, v)| (k.to_string(), *v)))
    }

    #[test]
    fn used_is_total_minus_available_and_cache_includes_sreclaimable() {
        let f = FreeFigures::from_meminfo(&meminfo(&[
            ("MemTotal", 1000),
            ("MemFree", 100),
            ("MemAvailable", 600),
            ("Cached", 300),
            ("SReclaimable", 50),
            ("Buffers", 20),
        ]))
        .unwrap();
        assert_eq!(f.mem_used, 400);
        assert_eq!(f.cache, 350);
        assert_eq!(f.available, 600);
        assert!(f.available_reported);
    }

    #[test]
    fn lxc_available_above_total_falls_back_to_free() {
        let f = FreeFigures::from_meminfo(&meminfo(&[
            ("MemTotal", 1000),
            ("MemFree", 100),
            ("MemAvailable", 5000),
        ]))
        .unwrap();
        assert_eq!(f.available, 100);
        assert_eq!(f.mem_used, 900);
    }

    #[test]
    fn missing_available_falls_back_to_free_and_low_defaults_to_mem() {
        let f =
            FreeFigures::from_meminfo(&meminfo(&[("MemTotal", 1000), ("MemFree", 250)])).unwrap();
        assert_eq!(f.available, 250);
        assert!(!f.available_reported);
        assert_eq!((f.low_total, f.low_used, f.low_free), (1000, 750, 250));
    }

    #[test]
    fn overcommitted_commit_free_wraps_like_c() {
        let f = FreeFigures::from_meminfo(&meminfo(&[
            ("MemTotal", 10),
            ("MemFree", 5),
            ("CommitLimit", 100),
            ("Committed_AS", 150),
        ]))
        .unwrap();
        assert_eq!(f.commit_free(), -50);
        assert_eq!(f.commit_free_wrapping(), u64::MAX - 49);
    }

    #[test]
    fn memtotal_is_required() {
        assert_eq!(
            FreeFigures::from_meminfo(&meminfo(&[("MemFree", 5)])),
            Err(MissingField("MemTotal"))
        );
    }
}
