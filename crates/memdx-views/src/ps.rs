//! `memdx ps`: the process table and its JSON.

use std::io::{self, Write};

use std::fmt::Write as _;

use memdx_model::ps::{cgroup_name, PsRow};
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
    /// COMMAND shows the program name (comm), not the command line (top's
    /// default; `-c` shows command lines).
    pub program: bool,
    /// Cut every line to this many columns (characters); `None` prints
    /// full rows.
    pub width: Option<usize>,
}

fn size(v: Option<u64>, scale: Scale) -> String {
    match v {
        Some(bytes) => scale_size(bytes / 1024, scale),
        None => "-".into(),
    }
}

/// A cgroup's readable name (container or systemd unit, see
/// [`memdx_model::ps::cgroup_name`]), cut to 28 columns from the left.
pub fn short_cgroup(path: Option<&str>) -> String {
    let Some(path) = path else { return "-".into() };
    let name = cgroup_name(path);
    let len = name.chars().count();
    if len > 28 {
        format!("…{}", name.chars().skip(len - 27).collect::<String>())
    } else {
        name
    }
}

/// Cuts `line` to `width` characters (`None`: unchanged).
pub fn cut(line: &str, width: Option<usize>) -> &str {
    match width.and_then(|w| line.char_indices().nth(w)) {
        Some((at, _)) => &line[..at],
        None => line,
    }
}

/// Which optional columns fit the layout's width: the command keeps at
/// least 12 columns; CGROUP goes first, then SHR and VIRT (top drops
/// columns that do not fit, too).
#[derive(Debug, Clone, Copy)]
struct Fit {
    shr_virt: bool,
    cgroup: bool,
}

fn fit(layout: &PsLayout) -> Fit {
    let Some(width) = layout.width else {
        return Fit {
            shr_virt: true,
            cgroup: true,
        };
    };
    // PID, USER, RSS, SWAP, %MEM and the space before COMMAND.
    let mut base = 7 + 11 + 10 + 10 + 6 + 1;
    if layout.smaps {
        base += 20;
    }
    if layout.cpu {
        base += 6;
    }
    let command = 12;
    Fit {
        shr_virt: width >= base + 20 + command,
        cgroup: width >= base + 20 + 29 + command,
    }
}

/// Formats one row, without a newline and not cut.
pub fn format_row(r: &PsRow, layout: &PsLayout, first: &str) -> String {
    let s = layout.scale;
    let user: String = if r.user.chars().count() > 10 {
        format!("{}+", r.user.chars().take(9).collect::<String>())
    } else {
        r.user.clone()
    };
    let mut line = format!("{first:>7} {user:<10} {:>9}", size(r.rss, s));
    if layout.smaps {
        let _ = write!(line, " {:>9} {:>9}", size(r.pss, s), size(r.uss, s));
    }
    let mem = r.mem.map_or("-".to_string(), |m| format!("{m:.1}"));
    let fit = fit(layout);
    let _ = write!(line, " {:>9}", size(r.swap, s));
    if fit.shr_virt {
        let _ = write!(line, " {:>9} {:>9}", size(r.shr, s), size(r.virt, s));
    }
    let _ = write!(line, " {mem:>5}");
    if layout.cpu {
        let _ = write!(
            line,
            " {:>5}",
            r.cpu.map_or("-".to_string(), |c| format!("{c:.1}"))
        );
    }
    let command = if layout.program && !r.program.is_empty() {
        &r.program
    } else {
        &r.command
    };
    if fit.cgroup {
        let _ = write!(line, " {:<28}", short_cgroup(r.cgroup.as_deref()));
    }
    let _ = write!(line, " {command}");
    line
}

/// Writes one row, cut to the layout's width.
pub fn write_row(
    out: &mut impl Write,
    r: &PsRow,
    layout: &PsLayout,
    first: &str,
) -> io::Result<()> {
    writeln!(out, "{}", cut(&format_row(r, layout, first), layout.width))
}

/// The header line, not cut.
pub fn header(layout: &PsLayout) -> String {
    let first = if layout.grouped { "COUNT" } else { "PID" };
    let mut line = format!("{first:>7} {:<10} {:>9}", "USER", "RSS");
    if layout.smaps {
        let _ = write!(line, " {:>9} {:>9}", "PSS", "USS");
    }
    let fit = fit(layout);
    let _ = write!(line, " {:>9}", "SWAP");
    if fit.shr_virt {
        let _ = write!(line, " {:>9} {:>9}", "SHR", "VIRT");
    }
    let _ = write!(line, " {:>5}", "%MEM");
    if layout.cpu {
        let _ = write!(line, " {:>5}", "%CPU");
    }
    if fit.cgroup {
        let _ = write!(line, " {:<28}", "CGROUP");
    }
    line.push_str(" COMMAND");
    line
}

/// Writes the table: header, rows, and the total row when asked.
pub fn write_table(
    out: &mut impl Write,
    rows: &[PsRow],
    total: &PsRow,
    layout: &PsLayout,
) -> io::Result<()> {
    writeln!(out, "{}", cut(&header(layout), layout.width))?;
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
            program: "sshd".into(),
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
            "   4242 averyvery+      2048      1024         -         0       512      8192  12.3 ssh.service                  sshd: alice [priv]"
        );
    }

    #[test]
    fn narrow_widths_drop_cgroup_then_shr_and_virt_and_cut_the_rest() {
        let table = |width: Option<usize>, program: bool| {
            let layout = PsLayout {
                smaps: true,
                width,
                program,
                ..Default::default()
            };
            let mut out = Vec::new();
            write_table(&mut out, &[row()], &row(), &layout).unwrap();
            String::from_utf8(out).unwrap()
        };
        let full = table(None, false);
        assert!(full.contains("CGROUP") && full.contains("sshd: alice [priv]"));
        let wide = table(Some(130), true);
        assert!(
            wide.contains("CGROUP") && wide.contains(" sshd\n"),
            "{wide}"
        );
        for line in wide.lines() {
            assert!(line.chars().count() <= 130);
        }
        let mid = table(Some(100), false);
        assert!(!mid.contains("CGROUP") && mid.contains("VIRT"), "{mid}");
        let narrow = table(Some(80), false);
        assert!(
            !narrow.contains("VIRT") && narrow.contains("%MEM"),
            "{narrow}"
        );
        let cut_row = narrow.lines().nth(1).unwrap();
        assert_eq!(cut_row.chars().count(), 80, "{narrow}");
        assert!(cut_row.ends_with(" sshd: alice [pr"), "{narrow}");
    }

    #[test]
    fn fast_layout_drops_pss_and_uss() {
        let mut out = Vec::new();
        write_table(&mut out, &[row()], &row(), &PsLayout::default()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("PSS") && !text.contains("USS"));
    }
}
