//! `memdx ps`: the process table and its JSON.

use std::io::{self, Write};

use std::fmt::Write as _;

use memdx_model::ps::{cgroup_name, GroupBy, PsRow};
use serde::Serialize;

use crate::scale::{scale_size, Scale};

/// What the table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PsLayout {
    /// How sizes are printed (free's units: default KiB).
    pub scale: Scale,
    /// Show PSS/USS columns (off for `--fast`).
    pub smaps: bool,
    /// Rows are groups (`ps --by`): a COUNT column instead of PID, and the
    /// group's name last (USER, COMMAND or CGROUP), never cut away.
    pub group: Option<GroupBy>,
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

/// Which columns fit the layout's width: the last column (command or group
/// name) keeps at least 12 columns. Columns that do not fit are dropped in
/// this order: CGROUP, SHR and VIRT, SWAP, USS, %MEM (top drops columns
/// that do not fit, too); what is left is cut at the width. Grouped views
/// have no USER or CGROUP column besides their name.
#[derive(Debug, Clone, Copy)]
struct Fit {
    user: bool,
    uss: bool,
    swap: bool,
    shr_virt: bool,
    mem: bool,
    cgroup: bool,
}

impl Fit {
    /// Columns used, the space before the last column included.
    fn width(&self, layout: &PsLayout) -> usize {
        let on = |shown: bool, w: usize| if shown { w } else { 0 };
        // PID or COUNT, RSS and the space before the last column.
        7 + 10
            + 1
            + on(self.user, 11)
            + on(layout.smaps, 10)
            + on(layout.smaps && self.uss, 10)
            + on(self.swap, 10)
            + on(self.shr_virt, 20)
            + on(self.mem, 6)
            + on(layout.cpu, 6)
            + on(self.cgroup, 29)
    }
}

fn fit(layout: &PsLayout) -> Fit {
    let mut fit = Fit {
        user: layout.group.is_none(),
        uss: true,
        swap: true,
        shr_virt: true,
        mem: true,
        cgroup: layout.group.is_none(),
    };
    let Some(width) = layout.width else {
        return fit;
    };
    let last = 12;
    let drops: [fn(&mut Fit); 5] = [
        |f| f.cgroup = false,
        |f| f.shr_virt = false,
        |f| f.swap = false,
        |f| f.uss = false,
        |f| f.mem = false,
    ];
    for drop in drops {
        if fit.width(layout) + last <= width {
            break;
        }
        drop(&mut fit);
    }
    fit
}

/// The name a grouped row is shown under.
fn group_name(r: &PsRow, by: GroupBy) -> String {
    match by {
        GroupBy::User => r.user.clone(),
        GroupBy::Command => r.command.clone(),
        GroupBy::Cgroup => r
            .cgroup
            .as_deref()
            .map_or_else(|| "-".to_string(), cgroup_name),
    }
}

/// Formats one row, without a newline and not cut.
pub fn format_row(r: &PsRow, layout: &PsLayout, first: &str) -> String {
    format_line(r, layout, first, None)
}

/// One row; `label` replaces the last column (the TOTAL row).
fn format_line(r: &PsRow, layout: &PsLayout, first: &str, label: Option<&str>) -> String {
    let s = layout.scale;
    let fit = fit(layout);
    let mut line = format!("{first:>7}");
    if fit.user {
        let user: String = if r.user.chars().count() > 10 {
            format!("{}+", r.user.chars().take(9).collect::<String>())
        } else {
            r.user.clone()
        };
        let _ = write!(line, " {user:<10}");
    }
    let _ = write!(line, " {:>9}", size(r.rss, s));
    if layout.smaps {
        let _ = write!(line, " {:>9}", size(r.pss, s));
        if fit.uss {
            let _ = write!(line, " {:>9}", size(r.uss, s));
        }
    }
    if fit.swap {
        let _ = write!(line, " {:>9}", size(r.swap, s));
    }
    if fit.shr_virt {
        let _ = write!(line, " {:>9} {:>9}", size(r.shr, s), size(r.virt, s));
    }
    if fit.mem {
        let mem = r.mem.map_or("-".to_string(), |m| format!("{m:.1}"));
        let _ = write!(line, " {mem:>5}");
    }
    if layout.cpu {
        let _ = write!(
            line,
            " {:>5}",
            r.cpu.map_or("-".to_string(), |c| format!("{c:.1}"))
        );
    }
    if fit.cgroup {
        let _ = write!(line, " {:<28}", short_cgroup(r.cgroup.as_deref()));
    }
    let last = match (label, layout.group) {
        (Some(label), _) => label.to_string(),
        (None, Some(by)) => group_name(r, by),
        (None, None) if layout.program && !r.program.is_empty() => r.program.clone(),
        (None, None) => r.command.clone(),
    };
    let _ = write!(line, " {last}");
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
    let fit = fit(layout);
    let first = if layout.group.is_some() {
        "COUNT"
    } else {
        "PID"
    };
    let mut line = format!("{first:>7}");
    if fit.user {
        let _ = write!(line, " {:<10}", "USER");
    }
    let _ = write!(line, " {:>9}", "RSS");
    if layout.smaps {
        let _ = write!(line, " {:>9}", "PSS");
        if fit.uss {
            let _ = write!(line, " {:>9}", "USS");
        }
    }
    if fit.swap {
        let _ = write!(line, " {:>9}", "SWAP");
    }
    if fit.shr_virt {
        let _ = write!(line, " {:>9} {:>9}", "SHR", "VIRT");
    }
    if fit.mem {
        let _ = write!(line, " {:>5}", "%MEM");
    }
    if layout.cpu {
        let _ = write!(line, " {:>5}", "%CPU");
    }
    if fit.cgroup {
        let _ = write!(line, " {:<28}", "CGROUP");
    }
    line.push_str(match layout.group {
        None | Some(GroupBy::Command) => " COMMAND",
        Some(GroupBy::User) => " USER",
        Some(GroupBy::Cgroup) => " CGROUP",
    });
    line
}

/// Writes the table: header, rows, and the total row when asked (the
/// total's count of processes in the first column, TOTAL last).
pub fn write_table(
    out: &mut impl Write,
    rows: &[PsRow],
    total: &PsRow,
    layout: &PsLayout,
) -> io::Result<()> {
    writeln!(out, "{}", cut(&header(layout), layout.width))?;
    for r in rows {
        let first = if layout.group.is_some() {
            r.count.to_string()
        } else {
            r.pid.map_or("-".into(), |p| p.to_string())
        };
        write_row(out, r, layout, &first)?;
    }
    if layout.totals {
        let line = format_line(total, layout, &total.count.to_string(), Some("TOTAL"));
        writeln!(out, "{}", cut(&line, layout.width))?;
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
    fn narrow_panes_drop_swap_uss_and_mem_before_cutting_the_command() {
        let table = |width: usize| {
            let layout = PsLayout {
                smaps: true,
                width: Some(width),
                ..Default::default()
            };
            let mut out = Vec::new();
            write_table(&mut out, &[row()], &row(), &layout).unwrap();
            String::from_utf8(out).unwrap()
        };
        let t70 = table(70);
        assert!(
            t70.starts_with("    PID USER             RSS       PSS       USS  %MEM COMMAND\n"),
            "{t70}"
        );
        let t50 = table(50);
        assert!(
            t50.starts_with("    PID USER             RSS       PSS COMMAND\n"),
            "{t50}"
        );
        assert!(t50.contains("      1024 sshd: alice\n"), "{t50}");
    }

    #[test]
    fn grouped_rows_put_their_name_last_and_keep_it_when_narrow() {
        let mut cgroup = row();
        cgroup.count = 3;
        let mut total = row();
        total.count = 3;
        total.cgroup = None;
        total.command = "TOTAL".into();
        for (by, head, name) in [
            (GroupBy::User, "USER", "averyverylongname"),
            (GroupBy::Command, "COMMAND", "sshd: alice [priv]"),
            (GroupBy::Cgroup, "CGROUP", "ssh.service"),
        ] {
            for width in [None, Some(80), Some(40)] {
                let layout = PsLayout {
                    smaps: true,
                    group: Some(by),
                    totals: true,
                    width,
                    ..Default::default()
                };
                let mut out = Vec::new();
                write_table(&mut out, &[cgroup.clone()], &total, &layout).unwrap();
                let text = String::from_utf8(out).unwrap();
                let lines: Vec<&str> = text.lines().collect();
                assert!(
                    lines[0].starts_with("  COUNT       RSS       PSS"),
                    "{text}"
                );
                assert!(lines[0].ends_with(&format!(" {head}")), "{text}");
                assert_eq!(
                    lines[0].matches("USER").count(),
                    usize::from(by == GroupBy::User),
                    "{text}"
                );
                assert!(
                    !lines[0].contains("CGROUP ") && !lines[0].contains("COMMAND "),
                    "{text}"
                );
                let shown: String = name.chars().take(width.map_or(99, |w| w - 28)).collect();
                assert!(
                    lines[1].starts_with("      3 ") && lines[1].ends_with(&format!(" {shown}")),
                    "{by:?} {width:?}\n{text}"
                );
                assert!(lines[2].ends_with(" TOTAL"), "{text}");
            }
        }
    }

    #[test]
    fn fast_layout_drops_pss_and_uss() {
        let mut out = Vec::new();
        write_table(&mut out, &[row()], &row(), &PsLayout::default()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("PSS") && !text.contains("USS"));
    }
}
