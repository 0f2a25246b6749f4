//! Drawing one frame: summary, status line, process table, detail pane.

use memdx_model::ps::{Column, PsRow};
use memdx_model::top::HistoryPoint;
use memdx_proc::smaps::Breakdown;
use memdx_views::ps::short_cgroup;
use memdx_views::scale::{scale_size, Scale};
use memdx_views::top::summary_lines;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Sparkline, Table, TableState, Wrap};
use ratatui::Frame;

use crate::state::{Prompt, UiState};
use crate::Snapshot;

/// Columns shown at a given terminal width, with their widths; the command
/// takes what is left, at least 12 columns. Columns that would not fit
/// are dropped (CGROUP, SHR and VIRT, SWAP, USS, %MEM, USER, %CPU, in
/// that order; never `keep`, the sort column) rather than squeezed: a
/// squeezed cell would cut digits off a number (PID, RSS and PSS stay, and
/// are squeezed below 38 columns).
fn columns_for(width: u16, keep: Column) -> Vec<(Column, u16)> {
    let all = [
        (Column::Pid, 7),
        (Column::User, 8),
        (Column::Rss, 8),
        (Column::Pss, 8),
        (Column::Uss, 8),
        (Column::Swap, 7),
        (Column::Shr, 8),
        (Column::Virt, 9),
        (Column::Mem, 5),
        (Column::Cpu, 5),
        (Column::Cgroup, 24),
    ];
    let drop_order = [
        &[Column::Cgroup][..],
        &[Column::Shr, Column::Virt],
        &[Column::Swap],
        &[Column::Uss],
        &[Column::Mem],
        &[Column::User],
        &[Column::Cpu],
    ];
    let mut shown: Vec<(Column, u16)> = all.to_vec();
    // Each column is followed by one space; the command gets at least 12.
    let used = |cols: &[(Column, u16)]| cols.iter().map(|&(_, w)| w + 1).sum::<u16>() + 12;
    for dropped in drop_order {
        if used(&shown) <= width {
            break;
        }
        shown.retain(|(c, _)| *c == keep || !dropped.contains(c));
    }
    shown.push((Column::Command, 0));
    shown
}

fn header(c: Column) -> &'static str {
    match c {
        Column::Pid => "PID",
        Column::User => "USER",
        Column::Rss => "RSS",
        Column::Pss => "PSS",
        Column::Uss => "USS",
        Column::Swap => "SWAP",
        Column::Shr => "SHR",
        Column::Virt => "VIRT",
        Column::Mem => "%MEM",
        Column::Cpu => "%CPU",
        Column::Cgroup => "CGROUP",
        Column::Command => "COMMAND",
        Column::Count => "COUNT",
    }
}

/// A cell's text. A size wider than its column `width` is shown in human
/// units (`1.5Gi`), a percentage without its decimal, instead of being cut.
fn cell(r: &PsRow, c: Column, scale: Scale, full_command: bool, width: u16) -> String {
    let human = Scale {
        human: true,
        ..Scale::default()
    };
    let size = |v: Option<u64>| {
        v.map_or("-".to_string(), |b| {
            let text = scale_size(b / 1024, scale);
            if text.chars().count() > usize::from(width) && width > 0 {
                scale_size(b / 1024, human)
            } else {
                text
            }
        })
    };
    // 1234.5 % (many busy threads) loses its decimal, not a digit.
    let pct = |v: Option<f64>| {
        v.map_or("-".to_string(), |p| {
            let text = format!("{p:.1}");
            if text.len() > usize::from(width) && width > 0 {
                format!("{p:.0}")
            } else {
                text
            }
        })
    };
    match c {
        Column::Pid => r.pid.map_or("-".into(), |p| p.to_string()),
        Column::User => r.user.clone(),
        Column::Rss => size(r.rss),
        Column::Pss => size(r.pss),
        Column::Uss => size(r.uss),
        Column::Swap => size(r.swap),
        Column::Shr => size(r.shr),
        Column::Virt => size(r.virt),
        Column::Mem => pct(r.mem),
        Column::Cpu => pct(r.cpu),
        Column::Cgroup => short_cgroup(r.cgroup.as_deref()),
        Column::Command if full_command || r.program.is_empty() => r.command.clone(),
        Column::Command => r.program.clone(),
        Column::Count => r.count.to_string(),
    }
}

fn right_aligned(c: Column) -> bool {
    !matches!(c, Column::User | Column::Cgroup | Column::Command)
}

fn pad(text: String, width: u16, right: bool) -> String {
    let w = width as usize;
    if w == 0 {
        return text;
    }
    let t: String = text.chars().take(w).collect();
    if right {
        format!("{t:>w$}")
    } else {
        format!("{t:<w$}")
    }
}

pub fn frame(
    f: &mut Frame,
    ui: &mut UiState,
    snap: &Snapshot,
    detail: Option<&(Result<Breakdown, String>, Vec<HistoryPoint>)>,
) {
    let area = f.area();
    let detail_height = if area.height >= 20 { 8 } else { 0 };
    let [summary_area, status_area, table_area, detail_area] = Layout::vertical([
        Constraint::Length(6),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(detail_height),
    ])
    .areas(area);

    let lines: Vec<Line> = summary_lines(&snap.summary, ui.summary_unit)
        .into_iter()
        .map(Line::from)
        .collect();
    f.render_widget(Paragraph::new(lines), summary_area);

    let status = match (&ui.prompt, &ui.message) {
        (Prompt::Filter(t), _) => format!("filter (regex, Enter applies, empty clears): {t}_"),
        (Prompt::Delay(t), _) => format!("delay in seconds: {t}_"),
        (Prompt::None, Some(m)) => m.clone(),
        (Prompt::None, None) => format!(
            "sort {}{}  filter {}  units {}  delay {:.1}s   h help  M/P sort  </> column  / filter  c command  q quit",
            if ui.sort.descending { "-" } else { "+" },
            ui.sort.column.name(),
            ui.filter.as_ref().map_or("none", |f| f.0.as_str()),
            ui.table_unit.label(),
            ui.delay.as_secs_f64(),
        ),
    };
    f.render_widget(
        Paragraph::new(status).style(Style::default().add_modifier(Modifier::REVERSED)),
        status_area,
    );

    if ui.help {
        let [_, below] = Layout::vertical([Constraint::Length(7), Constraint::Fill(1)]).areas(area);
        draw_help(f, below);
        return;
    }
    draw_table(f, ui, table_area);
    if detail_height > 0 {
        draw_detail(f, ui, detail, detail_area);
    }
}

/// The keys and what each does, one per line (`h` / `?` shows them).
pub const HELP: &[(&str, &str)] = &[
    ("q, Esc", "quit"),
    ("h, ?", "this help (any key closes it)"),
    ("M / P", "sort by memory (PSS, or RSS) / by %CPU"),
    ("< >", "sort by the column left / right of the current one"),
    ("R", "reverse the sort order"),
    (
        "/",
        "filter: regular expression on user, command and cgroup",
    ),
    ("c", "COMMAND: program names / full command lines"),
    ("e / E", "cycle the units of the table / of the summary"),
    ("d", "delay between refreshes (seconds)"),
    ("Up Down PgUp PgDn", "move the selection"),
    ("Home End", "select the first / last row"),
];

fn draw_help(f: &mut Frame, area: Rect) {
    let mut lines = vec![
        Line::from("Help for memdx top (any key returns)"),
        Line::from(""),
    ];
    // As narrow as the keys allow, so that it fits 80 columns.
    let keys = HELP.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    lines.extend(
        HELP.iter()
            .map(|(key, what)| Line::from(format!("  {key:<keys$} {what}"))),
    );
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::TOP)),
        area,
    );
}

fn draw_table(f: &mut Frame, ui: &mut UiState, area: Rect) {
    let cols = columns_for(area.width, ui.sort.column);
    let scale = ui.table_unit.scale();
    let head = Row::new(cols.iter().map(|&(c, w)| {
        let mut h = header(c).to_string();
        if c == ui.sort.column {
            h.push(if ui.sort.descending { '▼' } else { '▲' });
        }
        pad(h, w, right_aligned(c))
    }))
    .style(Style::default().add_modifier(Modifier::BOLD));
    let rows = ui.visible.iter().map(|r| {
        Row::new(
            cols.iter()
                .map(|&(c, w)| pad(cell(r, c, scale, ui.full_command, w), w, right_aligned(c))),
        )
    });
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|&(_, w)| {
            if w == 0 {
                Constraint::Fill(1)
            } else {
                Constraint::Length(w)
            }
        })
        .collect();
    ui.page = area.height.saturating_sub(1) as usize;
    let table = Table::new(rows, widths)
        .header(head)
        .column_spacing(1)
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(Some(ui.selected));
    f.render_stateful_widget(table, area, &mut state);
}

fn draw_detail(
    f: &mut Frame,
    ui: &UiState,
    detail: Option<&(Result<Breakdown, String>, Vec<HistoryPoint>)>,
    area: Rect,
) {
    let Some(row) = ui.visible.get(ui.selected) else {
        f.render_widget(
            Block::default()
                .borders(Borders::TOP)
                .title(" no process selected "),
            area,
        );
        return;
    };
    let title = format!(
        " {} {} ",
        row.pid.unwrap_or(0),
        row.command.chars().take(60).collect::<String>()
    );
    let block = Block::default().borders(Borders::TOP).title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [left, right] =
        Layout::horizontal([Constraint::Length(46), Constraint::Fill(1)]).areas(inner);

    let human = Scale {
        human: true,
        ..Scale::default()
    };
    let size = |b: u64| scale_size(b / 1024, human);
    let lines: Vec<Line> = match detail.map(|d| &d.0) {
        Some(Ok(kinds)) => {
            let mut v = vec![Line::from(format!(
                "{:<7}{:>9}{:>9}{:>9}{:>6}",
                "where", "RSS", "PSS", "SWAP", "maps"
            ))];
            v.extend(kinds.iter().map(|(k, t)| {
                Line::from(format!(
                    "{:<7}{:>9}{:>9}{:>9}{:>6}",
                    k.name(),
                    size(t.rss),
                    size(t.pss),
                    size(t.swap),
                    t.mappings
                ))
            }));
            v
        }
        Some(Err(why)) => vec![Line::from(format!("memory map unavailable: {why}"))],
        None => vec![],
    };
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), left);

    let history = detail.map(|d| d.1.as_slice()).unwrap_or_default();
    let [rss_area, pss_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Fill(1)]).areas(right);
    for (i, area) in [(0usize, rss_area), (1, pss_area)] {
        let data: Vec<u64> = history
            .iter()
            .map(|h| if i == 0 { h.0 } else { h.1 }.unwrap_or(0) / 1024)
            .collect();
        let last = data.last().copied().unwrap_or(0);
        let label = format!(
            "{} {}",
            if i == 0 { "RSS" } else { "PSS" },
            scale_size(last, human)
        );
        let spark = Sparkline::default()
            .block(Block::default().title(label))
            .data(&data[data.len().saturating_sub(area.width as usize)..]);
        f.render_widget(spark, area);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(cols: &[(Column, u16)]) -> Vec<&'static str> {
        cols.iter().map(|&(c, _)| header(c)).collect()
    }

    #[test]
    fn columns_that_do_not_fit_are_dropped_not_squeezed() {
        for width in [30u16, 45, 60, 80, 100, 120, 200] {
            let cols = columns_for(width, Column::Pss);
            // Each fixed column and its space, then the command.
            let fixed: u16 = cols[..cols.len() - 1].iter().map(|&(_, w)| w + 1).sum();
            assert!(
                fixed + 12 <= width || cols.len() == 4,
                "{width}: {:?}",
                names(&cols)
            );
            assert_eq!(cols.last().unwrap().0, Column::Command);
        }
        assert_eq!(
            names(&columns_for(80, Column::Pss)),
            ["PID", "USER", "RSS", "PSS", "USS", "SWAP", "%MEM", "%CPU", "COMMAND"]
        );
        assert_eq!(
            names(&columns_for(60, Column::Pss)),
            ["PID", "USER", "RSS", "PSS", "%MEM", "%CPU", "COMMAND"]
        );
        assert!(names(&columns_for(120, Column::Pss)).contains(&"CGROUP"));
        // The sort column stays.
        assert!(names(&columns_for(60, Column::Swap)).contains(&"SWAP"));
    }

    #[test]
    fn a_figure_wider_than_its_column_is_shortened_not_cut() {
        let row = PsRow {
            pid: Some(1),
            ppid: None,
            user: "root".into(),
            rss: Some(200 << 30),
            pss: Some(1 << 20),
            uss: None,
            swap: None,
            shr: None,
            virt: None,
            mem: None,
            cgroup: None,
            command: "big".into(),
            program: "big".into(),
            count: 1,
            cpu: None,
        };
        // 200 GiB is 209715200 KiB: nine digits in an 8-wide column.
        assert_eq!(cell(&row, Column::Rss, Scale::default(), false, 8), "200Gi");
        assert_eq!(cell(&row, Column::Pss, Scale::default(), false, 8), "1024");
        let busy = PsRow {
            cpu: Some(1234.56),
            ..row
        };
        assert_eq!(cell(&busy, Column::Cpu, Scale::default(), false, 5), "1235");
        assert_eq!(
            cell(&busy, Column::Cpu, Scale::default(), false, 6),
            "1234.6"
        );
    }
}
