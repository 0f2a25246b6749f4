//! `memdx top`'s summary lines (as top prints them, plus MemAvailable and
//! pressure) and batch-mode frames.

use std::io::{self, Write};

use memdx_model::ps::PsRow;
use memdx_model::FreeFigures;
use memdx_proc::pressure::MemoryPressure;

use crate::ps::{write_table, PsLayout};

/// Units of the summary area (top's `E` key cycles them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SummaryUnit {
    /// KiB.
    Kib,
    /// MiB (top's default).
    #[default]
    Mib,
    /// GiB.
    Gib,
    /// TiB.
    Tib,
}

impl SummaryUnit {
    /// The next unit, wrapping.
    pub fn next(self) -> Self {
        match self {
            SummaryUnit::Kib => SummaryUnit::Mib,
            SummaryUnit::Mib => SummaryUnit::Gib,
            SummaryUnit::Gib => SummaryUnit::Tib,
            SummaryUnit::Tib => SummaryUnit::Kib,
        }
    }

    fn label(self) -> &'static str {
        match self {
            SummaryUnit::Kib => "KiB",
            SummaryUnit::Mib => "MiB",
            SummaryUnit::Gib => "GiB",
            SummaryUnit::Tib => "TiB",
        }
    }

    fn scale(self, kib: u64) -> f64 {
        let div = match self {
            SummaryUnit::Kib => 1.0,
            SummaryUnit::Mib => 1024.0,
            SummaryUnit::Gib => 1024.0 * 1024.0,
            SummaryUnit::Tib => 1024.0 * 1024.0 * 1024.0,
        };
        kib as f64 / div
    }
}

/// What the summary shows.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Memory figures (KiB).
    pub free: FreeFigures,
    /// Memory pressure, when the kernel has PSI.
    pub pressure: Option<MemoryPressure>,
    /// Number of processes listed.
    pub tasks: usize,
    /// `HH:MM:SS` of the sample.
    pub clock: String,
}

/// The summary lines, without trailing newlines.
pub fn summary_lines(s: &Summary, unit: SummaryUnit) -> Vec<String> {
    let f = &s.free;
    let u = |v: u64| unit.scale(v);
    let mut lines = vec![
        format!("memdx top - {}  {} tasks", s.clock, s.tasks),
        format!(
            "{} Mem :{:9.1} total,{:9.1} free,{:9.1} used,{:9.1} buff/cache",
            unit.label(),
            u(f.mem_total),
            u(f.mem_free),
            u(f.mem_used),
            u(f.buffers + f.cache)
        ),
        format!(
            "{} Swap:{:9.1} total,{:9.1} free,{:9.1} used.{:9.1} avail Mem",
            unit.label(),
            u(f.swap_total),
            u(f.swap_free),
            u(f.swap_used),
            u(f.available)
        ),
    ];
    lines.push(match &s.pressure {
        Some(p) => {
            let full = p.full.map_or("-".to_string(), |l| {
                format!("{:.2} {:.2} {:.2}", l.avg10, l.avg60, l.avg300)
            });
            format!(
                "PSI mem : some {:.2} {:.2} {:.2}, full {full} (avg10 avg60 avg300 %)",
                p.some.avg10, p.some.avg60, p.some.avg300
            )
        }
        None => "PSI mem : not available (kernel without /proc/pressure)".to_string(),
    });
    lines
}

/// One batch-mode frame: summary, a blank line, the table.
pub fn write_frame(
    out: &mut impl Write,
    summary: &Summary,
    unit: SummaryUnit,
    rows: &[PsRow],
    layout: &PsLayout,
) -> io::Result<()> {
    for line in summary_lines(summary, unit) {
        writeln!(out, "{line}")?;
    }
    writeln!(out)?;
    let total = memdx_model::ps::sum_rows(rows, "TOTAL");
    write_table(out, rows, &total, layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_uses_tops_layout_and_units() {
        let s = Summary {
            free: FreeFigures {
                mem_total: 24684084,
                mem_free: 21498982,
                mem_used: 666726,
                buffers: 4496,
                cache: 2822323,
                available: 24017357,
                ..Default::default()
            },
            pressure: None,
            tasks: 80,
            clock: "08:49:38".into(),
        };
        let lines = summary_lines(&s, SummaryUnit::Mib);
        assert_eq!(
            lines[1],
            "MiB Mem :  24105.6 total,  20995.1 free,    651.1 used,   2760.6 buff/cache"
        );
        assert_eq!(
            lines[2],
            "MiB Swap:      0.0 total,      0.0 free,      0.0 used.  23454.5 avail Mem"
        );
        assert!(lines[3].contains("not available"));
        assert!(summary_lines(&s, SummaryUnit::Gib)[1].starts_with("GiB Mem :     23.5 total"));
    }
}
