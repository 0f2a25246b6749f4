//! `memdx top`'s summary lines (as top prints them, plus MemAvailable and
//! pressure) and batch-mode frames.

use std::io::{self, Write};

use memdx_model::ps::PsRow;
use memdx_model::top::{CpuShares, TaskCounts};
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

/// top's first line: clock, uptime, users, load averages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Headline {
    /// `HH:MM:SS`, local time.
    pub clock: String,
    /// The same instant, seconds since the epoch (UTC).
    pub epoch_seconds: u64,
    /// Seconds since boot.
    pub up_seconds: f64,
    /// Logged-in users.
    pub users: usize,
    /// Load averages over 1, 5 and 15 minutes.
    pub load: [f64; 3],
}

/// What the summary shows.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Clock, uptime, users and load.
    pub headline: Headline,
    /// Processes by state (the whole machine's, not only those listed).
    pub tasks: TaskCounts,
    /// CPU shares since the previous sample.
    pub cpu: CpuShares,
    /// Memory figures (KiB).
    pub free: FreeFigures,
    /// Memory pressure, when the kernel has PSI.
    pub pressure: Option<MemoryPressure>,
}

/// procps 4.0.2's uptime text: `3 days,  2:05, ` or `44 min, ` (with the
/// trailing comma and space).
pub fn uptime_text(up_seconds: f64) -> String {
    let secs = up_seconds as u64;
    let days = secs / 86_400;
    let minutes = secs / 60 % 60;
    let hours = secs / 3600 % 24;
    let mut s = String::new();
    if days > 0 {
        s.push_str(&format!(
            "{days} {}, ",
            if days > 1 { "days" } else { "day" }
        ));
    }
    if hours > 0 {
        s.push_str(&format!("{hours:2}:{minutes:02}, "));
    } else {
        s.push_str(&format!("{minutes} min, "));
    }
    s
}

/// The summary lines, without newlines, laid out as procps-ng 4.0.2's
/// `top -b` prints them (trailing spaces included), then memdx's PSI line.
pub fn summary_lines(s: &Summary, unit: SummaryUnit) -> Vec<String> {
    let f = &s.free;
    let u = |v: u64| unit.scale(v);
    let h = &s.headline;
    // procps says "user" for 0 and 1.
    let users = if h.users > 1 { "users" } else { "user" };
    let t = &s.tasks;
    let c = &s.cpu;
    let mut lines = vec![
        format!(
            "top - {} up {}{:2} {users},  load average: {:.2}, {:.2}, {:.2}",
            h.clock,
            uptime_text(h.up_seconds),
            h.users,
            h.load[0],
            h.load[1],
            h.load[2]
        ),
        format!(
            "Tasks: {:3} total, {:3} running, {:3} sleeping, {:3} stopped, {:3} zombie",
            t.total, t.running, t.sleeping, t.stopped, t.zombie
        ),
        format!(
            "%Cpu(s):{:5.1} us,{:5.1} sy,{:5.1} ni,{:5.1} id,{:5.1} wa,{:5.1} hi,{:5.1} si,{:5.1} st ",
            c.us, c.sy, c.ni, c.id, c.wa, c.hi, c.si, c.st
        ),
        format!(
            "{} Mem :{:9.1} total,{:9.1} free,{:9.1} used,{:9.1} buff/cache     ",
            unit.label(),
            u(f.mem_total),
            u(f.mem_free),
            u(f.mem_used),
            u(f.buffers + f.cache)
        ),
        format!(
            "{} Swap:{:9.1} total,{:9.1} free,{:9.1} used.{:9.1} avail Mem ",
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
    // top cuts its summary lines to the width as well.
    for line in summary_lines(summary, unit) {
        writeln!(out, "{}", crate::ps::cut(&line, layout.width))?;
    }
    writeln!(out)?;
    let total = memdx_model::ps::sum_rows(rows, "TOTAL");
    write_table(out, rows, &total, layout)
}

/// One `memdx top -b --json` frame, as one line (JSON Lines; see
/// docs/json.md). Sizes are bytes.
pub fn write_json_frame(out: &mut impl Write, s: &Summary, rows: &[PsRow]) -> io::Result<()> {
    let f = &s.free;
    let kib = |v: u64| v * 1024;
    let line = |l: &memdx_proc::pressure::PressureLine| serde_json::json!({"avg10": l.avg10, "avg60": l.avg60, "avg300": l.avg300});
    let pressure = s
        .pressure
        .as_ref()
        .map(|p| serde_json::json!({"some": line(&p.some), "full": p.full.as_ref().map(line)}));
    let value = serde_json::json!({
        "time": s.headline.epoch_seconds,
        "clock": s.headline.clock,
        "uptime_seconds": s.headline.up_seconds,
        "users": s.headline.users,
        "load_average": s.headline.load,
        "tasks": s.tasks,
        "cpu": s.cpu,
        "memory": {
            "total": kib(f.mem_total),
            "free": kib(f.mem_free),
            "used": kib(f.mem_used),
            "buff_cache": kib(f.buffers + f.cache),
            "available": kib(f.available),
            "swap_total": kib(f.swap_total),
            "swap_free": kib(f.swap_free),
            "swap_used": kib(f.swap_used),
        },
        "pressure": pressure,
        "rows": rows,
    });
    serde_json::to_writer(&mut *out, &value)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            headline: Headline {
                clock: "03:38:23".into(),
                epoch_seconds: 1_796_442_703,
                up_seconds: 44.0 * 60.0 + 5.0,
                users: 0,
                load: [10.95, 12.27, 11.63],
            },
            tasks: TaskCounts {
                total: 122,
                running: 4,
                sleeping: 117,
                stopped: 0,
                zombie: 1,
            },
            cpu: CpuShares {
                us: 60.0,
                sy: 40.0,
                ..Default::default()
            },
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
        }
    }

    /// Lines captured from procps-ng 4.0.2's `top -b -n 1` (with the
    /// figures of `summary()`), trailing spaces included.
    #[test]
    fn summary_uses_tops_layout_and_units() {
        let s = summary();
        let lines = summary_lines(&s, SummaryUnit::Mib);
        assert_eq!(
            lines[0],
            "top - 03:38:23 up 44 min,  0 user,  load average: 10.95, 12.27, 11.63"
        );
        assert_eq!(
            lines[1],
            "Tasks: 122 total,   4 running, 117 sleeping,   0 stopped,   1 zombie"
        );
        assert_eq!(
            lines[2],
            "%Cpu(s): 60.0 us, 40.0 sy,  0.0 ni,  0.0 id,  0.0 wa,  0.0 hi,  0.0 si,  0.0 st "
        );
        assert_eq!(
            lines[3],
            "MiB Mem :  24105.6 total,  20995.1 free,    651.1 used,   2760.6 buff/cache     "
        );
        assert_eq!(
            lines[4],
            "MiB Swap:      0.0 total,      0.0 free,      0.0 used.  23454.5 avail Mem "
        );
        assert!(lines[5].contains("not available"));
        assert!(summary_lines(&s, SummaryUnit::Gib)[3].starts_with("GiB Mem :     23.5 total"));
    }

    #[test]
    fn json_frame_has_summary_in_bytes_and_rows() {
        let mut out = Vec::new();
        write_json_frame(&mut out, &summary(), &[]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["memory"]["total"], 24684084u64 * 1024);
        assert_eq!(v["tasks"]["zombie"], 1);
        assert_eq!(v["cpu"]["us"], 60.0);
        assert_eq!(v["load_average"][2], 11.63);
        assert_eq!(v["time"], 1_796_442_703u64);
        assert!(v["rows"].as_array().unwrap().is_empty());
    }

    #[test]
    fn uptime_reads_as_procps_prints_it() {
        assert_eq!(uptime_text(59.0), "0 min, ");
        assert_eq!(uptime_text(3600.0 * 2.0 + 5.0 * 60.0), " 2:05, ");
        assert_eq!(uptime_text(86_400.0 + 60.0), "1 day, 1 min, ");
        assert_eq!(
            uptime_text(3.0 * 86_400.0 + 13.0 * 3600.0),
            "3 days, 13:00, "
        );
        let mut s = summary();
        s.headline.users = 2;
        assert!(summary_lines(&s, SummaryUnit::Mib)[0].contains(",  2 users,  load"));
    }
}
