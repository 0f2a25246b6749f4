//! What the user has chosen (sort, filter, units, selection) and how keys
//! change it. Pure: tested without a terminal.

use std::time::Duration;

use memdx_model::ps::{sort_rows, Column, PsRow, SortKey};
use memdx_views::scale::Scale;
use memdx_views::top::SummaryUnit;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The columns the table can show and sort by, left to right.
pub const COLUMNS: [Column; 12] = [
    Column::Pid,
    Column::User,
    Column::Rss,
    Column::Pss,
    Column::Uss,
    Column::Swap,
    Column::Shr,
    Column::Virt,
    Column::Mem,
    Column::Cpu,
    Column::Cgroup,
    Column::Command,
];

/// What a key asks for beyond a state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Keep going.
    None,
    /// Leave the UI.
    Quit,
}

/// Line-editing prompts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// Not editing.
    None,
    /// Typing a filter.
    Filter(String),
    /// Typing a delay in seconds.
    Delay(String),
}

/// Table units, cycled by `e`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableUnit {
    /// KiB.
    Kib,
    /// MiB.
    Mib,
    /// GiB.
    Gib,
    /// Human-readable per cell.
    Human,
}

impl TableUnit {
    fn next(self) -> Self {
        match self {
            TableUnit::Kib => TableUnit::Mib,
            TableUnit::Mib => TableUnit::Gib,
            TableUnit::Gib => TableUnit::Human,
            TableUnit::Human => TableUnit::Kib,
        }
    }

    /// The free-style scale for cells.
    pub fn scale(self) -> Scale {
        match self {
            TableUnit::Kib => Scale::default(),
            TableUnit::Mib => Scale {
                exponent: 3,
                ..Scale::default()
            },
            TableUnit::Gib => Scale {
                exponent: 4,
                ..Scale::default()
            },
            TableUnit::Human => Scale {
                human: true,
                ..Scale::default()
            },
        }
    }

    /// Label for the status line.
    pub fn label(self) -> &'static str {
        match self {
            TableUnit::Kib => "KiB",
            TableUnit::Mib => "MiB",
            TableUnit::Gib => "GiB",
            TableUnit::Human => "auto",
        }
    }
}

/// The UI's state.
#[derive(Debug, Clone)]
pub struct UiState {
    /// Sort key.
    pub sort: SortKey,
    /// Filter (a regular expression) and its compiled form.
    pub filter: Option<(String, regex::Regex)>,
    /// An error to show in the status line (bad filter, bad delay).
    pub message: Option<String>,
    /// Current prompt.
    pub prompt: Prompt,
    /// Table units.
    pub table_unit: TableUnit,
    /// Summary units.
    pub summary_unit: SummaryUnit,
    /// Time between refreshes.
    pub delay: Duration,
    delay_changed: bool,
    /// Index of the selected row in [`UiState::visible`].
    pub selected: usize,
    /// Rows after filter and sort, as last prepared.
    pub visible: Vec<PsRow>,
    /// Rows per page (set by the drawing code).
    pub page: usize,
    /// COMMAND shows full command lines (`c`), not program names.
    pub full_command: bool,
    /// The help screen is open (`h`, `?`); any key closes it.
    pub help: bool,
    selected_pid: Option<u32>,
}

impl UiState {
    /// A state sorting by `sort`, refreshing every `delay`.
    pub fn new(sort: SortKey, delay: Duration) -> Self {
        Self {
            sort,
            filter: None,
            message: None,
            prompt: Prompt::None,
            table_unit: TableUnit::Kib,
            summary_unit: SummaryUnit::Mib,
            delay,
            delay_changed: false,
            selected: 0,
            visible: Vec::new(),
            page: 10,
            full_command: false,
            help: false,
            selected_pid: None,
        }
    }

    /// Filters and sorts a new set of rows, keeping the selection on the
    /// same process when it is still there.
    pub fn prepare(&mut self, rows: &[PsRow]) {
        let keep = |r: &PsRow| match &self.filter {
            None => true,
            Some((_, re)) => {
                re.is_match(&r.command)
                    || re.is_match(&r.user)
                    || r.cgroup.as_deref().is_some_and(|c| re.is_match(c))
            }
        };
        let mut visible: Vec<PsRow> = rows.iter().filter(|r| keep(r)).cloned().collect();
        sort_rows(&mut visible, &[self.sort]);
        self.visible = visible;
        if let Some(pid) = self.selected_pid {
            if let Some(i) = self.visible.iter().position(|r| r.pid == Some(pid)) {
                self.selected = i;
            }
        }
        self.clamp();
    }

    fn clamp(&mut self) {
        self.selected = self.selected.min(self.visible.len().saturating_sub(1));
        self.selected_pid = self.visible.get(self.selected).and_then(|r| r.pid);
    }

    /// The pid of the selected row.
    pub fn selected_pid(&self) -> Option<u32> {
        self.selected_pid
    }

    /// Whether `d` changed the delay since the last call.
    pub fn take_delay_changed(&mut self) -> bool {
        std::mem::take(&mut self.delay_changed)
    }

    fn move_selection(&mut self, delta: isize) {
        let max = self.visible.len().saturating_sub(1) as isize;
        self.selected = (self.selected as isize + delta).clamp(0, max.max(0)) as usize;
        self.clamp();
    }

    fn sort_by(&mut self, column: Column, descending: bool) {
        self.sort = SortKey { column, descending };
        self.resort();
    }

    fn resort(&mut self) {
        sort_rows(&mut self.visible, &[self.sort]);
        if let Some(pid) = self.selected_pid {
            self.selected = self
                .visible
                .iter()
                .position(|r| r.pid == Some(pid))
                .unwrap_or(0);
        }
        self.clamp();
    }

    /// Applies a key.
    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        match std::mem::replace(&mut self.prompt, Prompt::None) {
            Prompt::Filter(text) => {
                match key.code {
                    KeyCode::Enter => self.apply_filter(&text),
                    KeyCode::Esc => {}
                    _ => self.prompt = edit(text, key, Prompt::Filter),
                }
                return Action::None;
            }
            Prompt::Delay(text) => {
                match key.code {
                    KeyCode::Enter => self.apply_delay(&text),
                    KeyCode::Esc => {}
                    _ => self.prompt = edit(text, key, Prompt::Delay),
                }
                return Action::None;
            }
            Prompt::None => {}
        }
        self.message = None;
        if self.help {
            // Any key closes the help screen, as in top; q still quits.
            self.help = false;
            return if key.code == KeyCode::Char('q') {
                Action::Quit
            } else {
                Action::None
            };
        }
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return Action::Quit,
            KeyCode::Char('h') | KeyCode::Char('?') => self.help = true,
            KeyCode::Char('c') => self.full_command = !self.full_command,
            KeyCode::Char('M') => {
                let col = if self.visible.iter().any(|r| r.pss.is_some()) {
                    Column::Pss
                } else {
                    Column::Rss
                };
                self.sort_by(col, true);
            }
            KeyCode::Char('P') => self.sort_by(Column::Cpu, true),
            KeyCode::Char('R') => {
                let SortKey { column, descending } = self.sort;
                self.sort_by(column, !descending);
            }
            KeyCode::Char('<') | KeyCode::Char('>') => {
                let i = COLUMNS
                    .iter()
                    .position(|c| *c == self.sort.column)
                    .unwrap_or(0);
                let j = if key.code == KeyCode::Char('<') {
                    i.saturating_sub(1)
                } else {
                    (i + 1).min(COLUMNS.len() - 1)
                };
                self.sort_by(COLUMNS[j], self.sort.descending);
            }
            KeyCode::Char('/') => {
                let current = self
                    .filter
                    .as_ref()
                    .map(|f| f.0.clone())
                    .unwrap_or_default();
                self.prompt = Prompt::Filter(current);
            }
            KeyCode::Char('d') => self.prompt = Prompt::Delay(String::new()),
            KeyCode::Char('e') => self.table_unit = self.table_unit.next(),
            KeyCode::Char('E') => self.summary_unit = self.summary_unit.next(),
            KeyCode::Up => self.move_selection(-1),
            KeyCode::Down => self.move_selection(1),
            KeyCode::PageUp => self.move_selection(-(self.page.max(1) as isize)),
            KeyCode::PageDown => self.move_selection(self.page.max(1) as isize),
            KeyCode::Home => self.move_selection(isize::MIN / 2),
            KeyCode::End => self.move_selection(isize::MAX / 2),
            _ => {}
        }
        Action::None
    }

    fn apply_filter(&mut self, text: &str) {
        if text.is_empty() {
            self.filter = None;
            return;
        }
        match regex::Regex::new(text) {
            Ok(re) => self.filter = Some((text.to_string(), re)),
            Err(_) => self.message = Some(format!("bad filter {text:?}: not a regular expression")),
        }
    }

    fn apply_delay(&mut self, text: &str) {
        match memdx_units::parse_duration(text) {
            Ok(delay) if delay >= Duration::from_millis(100) => {
                self.delay = delay;
                self.delay_changed = true;
            }
            Ok(_) => self.message = Some(format!("bad delay {text:?}: at least 0.1 s")),
            Err(e) => self.message = Some(format!("bad delay: {e}")),
        }
    }
}

fn edit(mut text: String, key: KeyEvent, wrap: fn(String) -> Prompt) -> Prompt {
    match key.code {
        KeyCode::Backspace => {
            text.pop();
            wrap(text)
        }
        KeyCode::Char(c) => {
            text.push(c);
            wrap(text)
        }
        _ => wrap(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pid: u32, pss: u64, cpu: f64, command: &str) -> PsRow {
        PsRow {
            pid: Some(pid),
            ppid: Some(1),
            user: "root".into(),
            rss: Some(pss * 2),
            pss: Some(pss),
            uss: Some(pss / 2),
            swap: Some(0),
            shr: Some(0),
            virt: Some(pss * 4),
            mem: Some(1.0),
            cgroup: None,
            command: command.into(),
            program: command.split_whitespace().next().unwrap_or("").into(),
            count: 1,
            cpu: Some(cpu),
        }
    }

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn rows() -> Vec<PsRow> {
        vec![
            row(1, 10, 50.0, "init"),
            row(2, 30, 1.0, "postgres"),
            row(3, 20, 9.0, "nginx"),
        ]
    }

    fn pids(ui: &UiState) -> Vec<u32> {
        ui.visible.iter().map(|r| r.pid.unwrap()).collect()
    }

    #[test]
    fn m_and_p_sort_by_memory_and_cpu() {
        let mut ui = UiState::new(
            SortKey {
                column: Column::Pid,
                descending: false,
            },
            Duration::from_secs(3),
        );
        ui.prepare(&rows());
        ui.on_key(key(KeyCode::Char('M')));
        assert_eq!(pids(&ui), vec![2, 3, 1]);
        ui.on_key(key(KeyCode::Char('P')));
        assert_eq!(pids(&ui), vec![1, 3, 2]);
        ui.on_key(key(KeyCode::Char('R')));
        assert_eq!(pids(&ui), vec![2, 3, 1]);
    }

    #[test]
    fn selection_follows_the_process_across_resorts() {
        let mut ui = UiState::new(
            SortKey {
                column: Column::Pid,
                descending: false,
            },
            Duration::from_secs(3),
        );
        ui.prepare(&rows());
        ui.on_key(key(KeyCode::Down));
        assert_eq!(ui.selected_pid(), Some(2));
        ui.on_key(key(KeyCode::Char('P')));
        assert_eq!(ui.selected_pid(), Some(2));
        assert_eq!(ui.selected, 2);
        ui.on_key(key(KeyCode::End));
        ui.on_key(key(KeyCode::Down));
        assert_eq!(ui.selected, 2);
    }

    #[test]
    fn filter_prompt_applies_on_enter_and_rejects_bad_regex() {
        let mut ui = UiState::new(
            SortKey {
                column: Column::Pid,
                descending: false,
            },
            Duration::from_secs(3),
        );
        ui.prepare(&rows());
        for c in "/ng".chars() {
            ui.on_key(key(KeyCode::Char(c)));
        }
        ui.on_key(key(KeyCode::Enter));
        ui.prepare(&rows());
        assert_eq!(pids(&ui), vec![3]);
        for code in [
            KeyCode::Char('/'),
            KeyCode::Backspace,
            KeyCode::Backspace,
            KeyCode::Char('('),
            KeyCode::Enter,
        ] {
            ui.on_key(key(code));
        }
        assert!(ui.message.as_deref().unwrap().contains("bad filter"));
        assert_eq!(ui.filter.as_ref().unwrap().0, "ng");
    }

    #[test]
    fn delay_prompt_changes_the_refresh_interval() {
        let mut ui = UiState::new(
            SortKey {
                column: Column::Pid,
                descending: false,
            },
            Duration::from_secs(3),
        );
        for code in [
            KeyCode::Char('d'),
            KeyCode::Char('0'),
            KeyCode::Char('.'),
            KeyCode::Char('5'),
            KeyCode::Enter,
        ] {
            ui.on_key(key(code));
        }
        assert_eq!(ui.delay, Duration::from_millis(500));
        assert!(ui.take_delay_changed());
        for code in [KeyCode::Char('d'), KeyCode::Char('x'), KeyCode::Enter] {
            ui.on_key(key(code));
        }
        assert!(ui
            .message
            .as_deref()
            .unwrap()
            .contains("'x' is not a duration"));
        assert_eq!(ui.delay, Duration::from_millis(500));
        for code in [
            KeyCode::Char('d'),
            KeyCode::Char('2'),
            KeyCode::Char('m'),
            KeyCode::Enter,
        ] {
            ui.on_key(key(code));
        }
        assert_eq!(ui.delay, Duration::from_secs(120));
    }

    #[test]
    fn q_quits_but_not_while_typing_a_filter() {
        let mut ui = UiState::new(
            SortKey {
                column: Column::Pid,
                descending: false,
            },
            Duration::from_secs(3),
        );
        ui.on_key(key(KeyCode::Char('/')));
        assert_eq!(ui.on_key(key(KeyCode::Char('q'))), Action::None);
        ui.on_key(key(KeyCode::Esc));
        assert_eq!(ui.on_key(key(KeyCode::Char('q'))), Action::Quit);
    }

    #[test]
    fn c_toggles_command_lines_and_h_opens_help_that_any_key_closes() {
        let mut ui = UiState::new(
            SortKey {
                column: Column::Pid,
                descending: false,
            },
            Duration::from_secs(3),
        );
        assert!(!ui.full_command);
        ui.on_key(key(KeyCode::Char('c')));
        assert!(ui.full_command);
        ui.on_key(key(KeyCode::Char('c')));
        assert!(!ui.full_command);
        for open in ['h', '?'] {
            ui.on_key(key(KeyCode::Char(open)));
            assert!(ui.help);
            // The closing key does nothing else (here: no sort change).
            assert_eq!(ui.on_key(key(KeyCode::Char('R'))), Action::None);
            assert!(!ui.help);
            assert!(!ui.sort.descending);
        }
        ui.on_key(key(KeyCode::Char('h')));
        assert_eq!(ui.on_key(key(KeyCode::Char('q'))), Action::Quit);
    }
}
