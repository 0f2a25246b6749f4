//! `memdx ps`: the process table and its JSON.

use std::io::{self, Write};

use memdx_model::ps::PsRow;
use serde::Serialize;

use crate::scale::{scale_size, Scale};

/// What the table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PsLayout {
    /// How sizes are printed (free's units: default KiB).
    pub scale: Scale,
    /// Show PSS/USS columns (off for `--fast`).
    pub smaps: bool,
    /// Rows are groups: show a COUNT column instead of PID.
    pub grouped: bool,
    /// Print a TOTAL row.
    pub totals: bool,
    /// Show a %CPU column (top).
    pub cpu: bool,
}

fn size(v: Option<u64>, scale: Scale) -> String {
    match v {
        Some(bytes) => scale_size(bytes / 1024, scale),
        None => "-".into(),
    }
}

/// Shortens a cgroup path to its last two components (`system.slice/ssh.service`).
pub fn short_cgroup(path: Option<&str>) -> String {
    let Some(path) = path else { return "-".into() };
    if path == "/" {
        return "/".into();
    }
    let parts: Vec<&str> = path.trim_matches('/').rsplit('/').take(2).collect();
    let short: Vec<&str> = parts.into_iter().rev().collect();
    let mut s = short.join("/");
    if s.chars().count() > 28 {
        s = format!(
            "…{}",
            s.chars()
                .rev()
                .take(27)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<String>()
        );
    }
    s
}

/// Writes one row (used by the TUI too).
pub fn write_row(
    out: &mut impl Write,
    r: &PsRow,
    layout: &PsLayout,
    first: &str,
) -> io::Result<()> {
    let s = layout.scale;
    let user: String = if r.user.chars().count() > 10 {
        format!("{}+", r.user.chars().take(9).collect::<String>())
    } else {
        r.user.clone()
    };
    write!(out, "{first:>7} {user:<10} {:>9}", size(r.rss, s))?;
    if layout.smaps {
        write!(out, " {:>9} {:>9}", size(r.pss, s), size(r.uss, s))?;
    }
    let mem = r.mem.map_or("-".to_string(), |m| format!("{m:.1}"));
    write!(
        out,
        " {:>9} {:>9} {:>9} {:>5}",
        size(r.swap, s),
        size(r.shr, s),
        size(r.virt, s),
        mem,
    )?;
    if layout.cpu {
        write!(
            out,
            " {:>5}",
            r.cpu.map_or("-".to_string(), |c| format!("{c:.1}"))
        )?;
    }
    writeln!(
        out,
        " {:<28} {}",
        short_cgroup(r.cgroup.as_deref()),
        r.command
    )
}

/// Writes the table: header, rows, and the total row when asked.
pub fn write_table(
    out: &mut impl Write,
    rows: &[PsRow],
    total: &PsRow,
    layout: &PsLayout,
) -> io::Result<()> {
    let first = if layout.grouped { "COUNT" } else { "PID" };
    write!(out, "{first:>7} {:<10} {:>9}", "USER", "RSS")?;
    if layout.smaps {
        write!(out, " {:>9} {:>9}", "PSS", "USS")?;
    }
    write!(
        out,
        " {:>9} {:>9} {:>9} {:>5}",
        "SWAP", "SHR", "VIRT", "%MEM"
    )?;
    if layout.cpu {
        write!(out, " {:>5}", "%CPU")?;
    }
    writeln!(out, " {:<28} COMMAND", "CGROUP")?;
    for r in rows {
        let first = if layout.grouped {
            r.count.to_string()
        } else {
            r.pid.map_or("-".into(), |p| p.to_string())
        };
        write_row(out, r, layout, &first)?;
    }
    if layout.totals {
        write_row(out, total, layout, &total.count.to_string())?;
    }
    Ok(())
}

/// The object `memdx ps --json` prints; see docs/json.md.
#[derive(Debug, Serialize)]
pub struct PsJson<'a> {
    /// `process` or `user` / `command` / `cgroup` for grouped views.
    pub rows_are: &'a str,
    /// The rows, sorted and filtered.
    pub rows: &'a [PsRow],
    /// Sums over `rows`.
    pub totals: &'a PsRow,
    /// Why some figures are missing, if they are.
    pub notes: &'a [String],
}

/// Writes the JSON object on one line.
pub fn write_json(out: &mut impl Write, json: &PsJson<'_>) -> io::Result<()> {
    serde_json::to_writer(&mut *out, json)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> PsRow {
        PsRow {
            pid: Some(4242),
            ppid: Some(1),
            user: "averyverylongname".into(),
            rss: Some(2048 * 1024),
            pss: Some(1024 * 1024),
            uss: None,
            swap: Some(0),
            shr: Some(512 * 1024),
            virt: Some(8192 * 1024),
            mem: Some(12.345),
            cgroup: Some("/system.slice/ssh.service".into()),
            command: "sshd: alice [priv]".into(),
            count: 1,
            cpu: None,
        }
    }

    #[test]
    fn table_row_aligns_columns_and_marks_unknown_with_dash() {
        let mut out = Vec::new();
        let layout = PsLayout {
            smaps: true,
            ..Default::default()
        };
        write_table(&mut out, &[row()], &row(), &layout).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("    PID USER             RSS       PSS       USS      SWAP"));
        assert_eq!(
            lines[1],
            "   4242 averyvery+      2048      1024         -         0       512      8192  12.3 system.slice/ssh.service     sshd: alice [priv]"
        );
    }

    #[test]
    fn fast_layout_drops_pss_and_uss() {
        let mut out = Vec::new();
        write_table(&mut out, &[row()], &row(), &PsLayout::default()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("PSS") && !text.contains("USS"));
    }
}
