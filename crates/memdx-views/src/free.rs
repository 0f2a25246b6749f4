//! `free`: the text layout of procps-ng 4.0.2 and memdx's JSON object.

use std::io::{self, Write};

use memdx_model::FreeFigures;
use serde::Serialize;

use crate::scale::{scale_size, Scale};

/// Which lines and columns `free` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FreeLayout {
    /// Unit selection.
    pub scale: Scale,
    /// `-w`: separate buffers and cache columns.
    pub wide: bool,
    /// `-l`: Low and High lines.
    pub lohi: bool,
    /// `-t`: Total line (RAM + swap).
    pub total: bool,
    /// `-v`: Comm line (commit limit, committed, available to commit).
    pub committed: bool,
}

/// procps pads a row label to 9 columns (`print_head_col`).
fn label(out: &mut impl Write, name: &str) -> io::Result<()> {
    write!(out, "{name:<9}")
}

fn cells(out: &mut impl Write, values: &[u64], scale: Scale) -> io::Result<()> {
    for (i, v) in values.iter().enumerate() {
        let sep = if i == 0 { "" } else { " " };
        write!(out, "{sep}{:>11}", scale_size(*v, scale))?;
    }
    writeln!(out)
}

/// Writes one `free` report, byte for byte as procps-ng 4.0.2 prints it.
pub fn write_text(out: &mut impl Write, f: &FreeFigures, layout: &FreeLayout) -> io::Result<()> {
    let s = layout.scale;
    if layout.wide {
        writeln!(
            out,
            "               total        used        free      shared     buffers       cache   available"
        )?;
    } else {
        writeln!(
            out,
            "               total        used        free      shared  buff/cache   available"
        )?;
    }
    label(out, "Mem:")?;
    if layout.wide {
        cells(
            out,
            &[
                f.mem_total,
                f.mem_used,
                f.mem_free,
                f.shared,
                f.buffers,
                f.cache,
                f.available,
            ],
            s,
        )?;
    } else {
        cells(
            out,
            &[
                f.mem_total,
                f.mem_used,
                f.mem_free,
                f.shared,
                f.buffers.wrapping_add(f.cache),
                f.available,
            ],
            s,
        )?;
    }
    if layout.lohi {
        label(out, "Low:")?;
        cells(out, &[f.low_total, f.low_used, f.low_free], s)?;
        label(out, "High:")?;
        cells(out, &[f.high_total, f.high_used, f.high_free], s)?;
    }
    label(out, "Swap:")?;
    cells(out, &[f.swap_total, f.swap_used, f.swap_free], s)?;
    if layout.total {
        label(out, "Total:")?;
        cells(
            out,
            &[
                f.mem_total.wrapping_add(f.swap_total),
                f.mem_used.wrapping_add(f.swap_used),
                f.mem_free.wrapping_add(f.swap_free),
            ],
            s,
        )?;
    }
    if layout.committed {
        label(out, "Comm:")?;
        cells(
            out,
            &[f.commit_limit, f.committed_as, f.commit_free_wrapping()],
            s,
        )?;
    }
    Ok(())
}

/// The JSON object `memdx free --json` prints (all sizes in bytes). Field
/// names are stable; see `docs/json.md`.
#[derive(Debug, Clone, Serialize)]
pub struct FreeJson {
    /// Seconds since the epoch when the report was read (as `vmstat --json`).
    pub time: u64,
    /// Physical memory.
    pub mem: MemJson,
    /// Swap.
    pub swap: TotalUsedFree,
    /// Low memory (the whole of RAM on 64-bit kernels).
    pub low: TotalUsedFree,
    /// High memory (zero on 64-bit kernels).
    pub high: TotalUsedFree,
    /// RAM + swap.
    pub total: TotalUsedFree,
    /// Overcommit accounting.
    pub commit: CommitJson,
}

/// The `Mem:` line in bytes.
#[derive(Debug, Clone, Serialize)]
pub struct MemJson {
    /// MemTotal.
    pub total: u64,
    /// total - available.
    pub used: u64,
    /// MemFree.
    pub free: u64,
    /// Shmem.
    pub shared: u64,
    /// Buffers.
    pub buffers: u64,
    /// Cached + SReclaimable.
    pub cache: u64,
    /// buffers + cache.
    pub buff_cache: u64,
    /// MemAvailable (MemFree when the kernel does not report it or reports
    /// more than MemTotal).
    pub available: u64,
    /// Whether the kernel reported MemAvailable itself.
    pub available_reported: bool,
}

/// A total/used/free triple in bytes.
#[derive(Debug, Clone, Serialize)]
pub struct TotalUsedFree {
    /// Total.
    pub total: u64,
    /// Used.
    pub used: u64,
    /// Free.
    pub free: u64,
}

/// Commit accounting in bytes.
#[derive(Debug, Clone, Serialize)]
pub struct CommitJson {
    /// CommitLimit.
    pub limit: u64,
    /// Committed_AS.
    pub committed: u64,
    /// limit - committed; negative when the machine is overcommitted.
    pub available: i64,
}

fn tuf(total: u64, used: u64, free: u64) -> TotalUsedFree {
    TotalUsedFree {
        total: total * 1024,
        used: used * 1024,
        free: free * 1024,
    }
}

impl FreeJson {
    /// The object for figures read at `time` (seconds since the epoch).
    pub fn new(f: &FreeFigures, time: u64) -> Self {
        FreeJson {
            time,
            mem: MemJson {
                total: f.mem_total * 1024,
                used: f.mem_used * 1024,
                free: f.mem_free * 1024,
                shared: f.shared * 1024,
                buffers: f.buffers * 1024,
                cache: f.cache * 1024,
                buff_cache: (f.buffers + f.cache) * 1024,
                available: f.available * 1024,
                available_reported: f.available_reported,
            },
            swap: tuf(f.swap_total, f.swap_used, f.swap_free),
            low: tuf(f.low_total, f.low_used, f.low_free),
            high: tuf(f.high_total, f.high_used, f.high_free),
            total: tuf(
                f.mem_total + f.swap_total,
                f.mem_used + f.swap_used,
                f.mem_free + f.swap_free,
            ),
            commit: CommitJson {
                limit: f.commit_limit * 1024,
                committed: f.committed_as * 1024,
                available: f.commit_free() * 1024,
            },
        }
    }
}

/// Writes one JSON object on one line; `time` is when the figures were
/// read, seconds since the epoch.
pub fn write_json(out: &mut impl Write, f: &FreeFigures, time: u64) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &FreeJson::new(f, time))?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> FreeFigures {
        FreeFigures {
            mem_total: 24684084,
            mem_used: 285208,
            mem_free: 24165968,
            shared: 8872,
            buffers: 4496,
            cache: 448960,
            available: 24398876,
            available_reported: true,
            low_total: 24684084,
            low_used: 518116,
            low_free: 24165968,
            swap_total: 0,
            swap_used: 0,
            swap_free: 0,
            commit_limit: 12342040,
            committed_as: 46776,
            ..Default::default()
        }
    }

    #[test]
    fn default_layout_matches_procps_columns() {
        let mut out = Vec::new();
        write_text(&mut out, &figures(), &FreeLayout::default()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "               total        used        free      shared  buff/cache   available\n\
             Mem:        24684084      285208    24165968        8872      453456    24398876\n\
             Swap:              0           0           0\n"
        );
    }

    #[test]
    fn json_is_in_bytes() {
        let mut out = Vec::new();
        write_json(&mut out, &figures(), 1_700_000_000).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["time"], 1_700_000_000u64);
        assert_eq!(v["mem"]["total"], 24684084u64 * 1024);
        assert_eq!(v["commit"]["available"], (12342040i64 - 46776) * 1024);
    }
}
