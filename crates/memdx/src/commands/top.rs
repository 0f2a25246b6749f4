//! `memdx top`: the memory-first live view (TUI), or plain-text frames with
//! `-b` like top's batch mode.

use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use memdx_model::ps::{parse_sort, PsRow};
use memdx_model::top::{HistoryPoint, TopModel};
use memdx_model::FreeFigures;
use memdx_proc::pressure::MemoryPressure;
use memdx_proc::process::{read_all, read_users, ReadOptions};
use memdx_proc::smaps::{read_breakdown, Breakdown};
use memdx_proc::{MemInfo, ProcRoot};
use memdx_tui::{Snapshot, Source, UiState};
use memdx_views::ps::PsLayout;
use memdx_views::top::{write_frame, Summary, SummaryUnit};

use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Batch mode: print plain-text frames instead of the interactive view.
    #[arg(short = 'b', long)]
    batch: bool,
    /// Number of frames to print (batch mode); interactive mode ignores it.
    #[arg(short = 'n', long, value_name = "N")]
    iterations: Option<u64>,
    /// Time between refreshes: seconds (0.5, 3) or with a unit (2s, 1m); at least 0.1 s.
    #[arg(short = 'd', long, value_name = "DELAY", default_value = "3.0")]
    delay: String,
    /// Sort field (pid, user, rss, pss, uss, swap, shr, virt, mem, cpu, cgroup,
    /// command; prefix + for ascending). Default: pss, largest first.
    #[arg(short = 'o', long, value_name = "FIELD", allow_hyphen_values = true)]
    sort: Option<String>,
    /// Skip PSS/USS (no smaps_rollup reads): cheaper on machines with many processes.
    #[arg(long)]
    fast: bool,
}

/// The live data source: readers plus the top model.
struct LiveSource {
    root: ProcRoot,
    users: HashMap<u32, String>,
    model: TopModel,
    last: Option<Instant>,
    opts: ReadOptions,
}

impl LiveSource {
    fn new(fast: bool) -> Self {
        let root = ProcRoot::from_env();
        Self {
            users: read_users(&root),
            root,
            model: TopModel::new(600),
            last: None,
            opts: ReadOptions {
                smaps: !fast,
                cgroup: true,
                cpu: true,
            },
        }
    }

    fn snapshot(&mut self) -> anyhow::Result<Snapshot> {
        let meminfo = MemInfo::read(&self.root)?;
        let free = FreeFigures::from_meminfo(&meminfo).with_context(|| {
            self.root
                .path(memdx_proc::meminfo::REL_PATH)
                .display()
                .to_string()
        })?;
        let pressure = MemoryPressure::read(&self.root)?;
        let procs = read_all(&self.root, self.opts)?;
        let now = Instant::now();
        let elapsed = self.last.map(|t| now.duration_since(t).as_secs_f64());
        self.last = Some(now);
        let rows: Vec<PsRow> =
            self.model
                .update(&procs, elapsed, &self.users, Some(free.mem_total * 1024));
        Ok(Snapshot {
            summary: Summary {
                free,
                pressure,
                tasks: rows.len(),
                clock: utc_clock(),
            },
            rows,
        })
    }
}

impl Source for LiveSource {
    fn sample(&mut self) -> Result<Snapshot, String> {
        self.snapshot().map_err(|e| format!("{e:#}"))
    }

    fn breakdown(&mut self, pid: u32) -> Result<Breakdown, String> {
        read_breakdown(&self.root, pid).map_err(|e| {
            if e.is_permission_denied() {
                "reading another user's smaps needs root or CAP_SYS_PTRACE".to_string()
            } else {
                e.to_string()
            }
        })
    }

    fn history(&self, pid: u32) -> Vec<HistoryPoint> {
        self.model.history(pid).collect()
    }
}

/// `HH:MM:SS UTC` (memdx carries no time-zone database).
fn utc_clock() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let day = secs % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        day / 3600,
        day % 3600 / 60,
        day % 60
    )
}

pub fn run(args: TopArgs) -> anyhow::Result<()> {
    let delay = memdx_units::parse_duration(&args.delay)
        .map_err(|e| Exit::new(1, format!("memdx top: -d: {e}")))?;
    if delay < Duration::from_millis(100) {
        return Err(Exit::new(
            1,
            format!(
                "memdx top: -d: '{}' is too short: at least 0.1 s",
                args.delay
            ),
        )
        .into());
    }
    let spec = match args.sort.as_deref() {
        None if args.fast => "-rss".to_string(),
        None => "-pss".to_string(),
        // top's -o takes a field, largest first; "+field" asks for ascending.
        Some(f) if f.starts_with('+') || f.starts_with('-') => f.to_string(),
        Some(f) => format!("-{f}"),
    };
    let keys = parse_sort(&spec).map_err(|e| Exit::new(1, format!("memdx top: -o: {e}")))?;
    if keys.len() != 1 {
        return Err(Exit::new(1, "memdx top: -o takes one field").into());
    }
    let mut source = LiveSource::new(args.fast);

    if !args.batch {
        if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
            return Err(Exit::new(1, "memdx top: not a terminal; use -b for batch mode").into());
        }
        let ui = UiState::new(keys[0], delay);
        return memdx_tui::run(&mut source, ui).context("terminal");
    }

    let layout = PsLayout {
        scale: Default::default(),
        smaps: !args.fast,
        grouped: false,
        totals: false,
        cpu: true,
    };
    let mut printed = 0u64;
    loop {
        let mut snap = source.snapshot()?;
        memdx_model::ps::sort_rows(&mut snap.rows, &keys);
        let mut out = io::stdout().lock();
        if printed > 0 {
            writeln!(out)?;
        }
        write_frame(
            &mut out,
            &snap.summary,
            SummaryUnit::Mib,
            &snap.rows,
            &layout,
        )?;
        out.flush()?;
        printed += 1;
        if args.iterations.is_some_and(|n| printed >= n) {
            return Ok(());
        }
        drop(out);
        std::thread::sleep(delay);
    }
}
