//! `memdx top`'s terminal UI.
//!
//! The UI draws [`Snapshot`]s that a [`Source`] hands it and turns keys into
//! [`state::UiState`] changes; it never reads `/proc` (the CLI's source does,
//! through `memdx-proc`). Keys, like top's where they exist:
//!
//! | key | action |
//! |---|---|
//! | `q`, `Esc` | quit |
//! | `h`, `?` | help screen listing the keys (any key closes it) |
//! | `c` | COMMAND shows full command lines instead of program names |
//! | `M` / `P` | sort by memory (PSS, or RSS without PSS) / by %CPU |
//! | `<` `>` | sort by the column left / right of the current one |
//! | `R` | reverse the sort order |
//! | `/` | filter (regular expression on user, command and cgroup); empty clears |
//! | `e` / `E` | cycle the units of the table / of the summary |
//! | `d` | change the delay between refreshes (seconds) |
//! | arrows, PgUp, PgDn, Home, End | move the selection |
//!
//! The detail pane shows where the selected process's memory is (heap,
//! stacks, anonymous, file, shared memory) and a sparkline of its RSS and
//! PSS since the UI started.

#![deny(missing_docs)]

mod draw;
pub mod state;

use std::io;
use std::time::{Duration, Instant};

use memdx_model::ps::PsRow;
use memdx_model::top::HistoryPoint;
use memdx_proc::smaps::Breakdown;
use memdx_views::top::Summary;
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};

pub use draw::HELP;
pub use state::UiState;

/// One refresh worth of data.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Summary area.
    pub summary: Summary,
    /// Every process (the UI filters and sorts).
    pub rows: Vec<PsRow>,
}

/// Where the UI gets its data.
pub trait Source {
    /// Takes a new sample.
    fn sample(&mut self) -> Result<Snapshot, String>;
    /// Reads the selected process's memory by mapping kind.
    fn breakdown(&mut self, pid: u32) -> Result<Breakdown, String>;
    /// The selected process's RSS/PSS history, oldest first.
    fn history(&self, pid: u32) -> Vec<HistoryPoint>;
}

/// Puts the terminal back (raw mode off, main screen) — also from the panic
/// hook, so a crash never leaves the user's terminal unusable.
fn restore_terminal() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
}

/// Runs the UI until the user quits.
pub fn run(source: &mut impl Source, mut ui: UiState) -> io::Result<()> {
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous_hook(info);
    }));
    terminal::enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen)?;
    let backend = ratatui::backend::CrosstermBackend::new(io::stdout());
    let result =
        ratatui::Terminal::new(backend).and_then(|mut term| event_loop(&mut term, source, &mut ui));
    restore_terminal();
    let _ = std::panic::take_hook();
    result
}

fn event_loop<B: ratatui::backend::Backend>(
    term: &mut ratatui::Terminal<B>,
    source: &mut impl Source,
    ui: &mut UiState,
) -> io::Result<()> {
    let mut snapshot = source.sample().map_err(io::Error::other)?;
    let mut next_refresh = Instant::now() + ui.delay;
    loop {
        ui.prepare(&snapshot.rows);
        let selected = ui.selected_pid();
        let detail = selected.map(|pid| (source.breakdown(pid), source.history(pid)));
        term.draw(|f| draw::frame(f, ui, &snapshot, detail.as_ref()))?;

        let timeout = next_refresh.saturating_duration_since(Instant::now());
        if event::poll(timeout)? {
            match event::read()? {
                Event::Key(key) if key.kind != KeyEventKind::Release => {
                    if ui.on_key(key) == state::Action::Quit {
                        return Ok(());
                    }
                    if ui.take_delay_changed() {
                        next_refresh = Instant::now() + ui.delay;
                    }
                }
                _ => {} // resize and others: just redraw
            }
        }
        if Instant::now() >= next_refresh {
            snapshot = source.sample().map_err(io::Error::other)?;
            next_refresh = Instant::now() + ui.delay.max(Duration::from_millis(100));
        }
    }
}
