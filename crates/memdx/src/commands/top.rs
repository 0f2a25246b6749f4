//! `memdx top`: the memory-first live view (TUI), or plain-text frames with
//! `-b` like top's batch mode.

use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use memdx_model::ps::{parse_sort, Filter, PsRow};
use memdx_model::top::{CpuShares, HistoryPoint, TaskCounts, TopModel};
use memdx_model::FreeFigures;
use memdx_proc::pressure::MemoryPressure;
use memdx_proc::process::{read_all, read_users, ReadOptions};
use memdx_proc::smaps::{read_breakdown, Breakdown};
use memdx_proc::utmp::count_users;
use memdx_proc::{CpuTicks, LoadAvg, MemInfo, ProcRoot, ProcStat, Uptime};
use memdx_tui::{Snapshot, Source, UiState};
use memdx_views::ps::PsLayout;
use memdx_views::top::{write_frame, write_json_frame, Headline, Summary, SummaryUnit};

use crate::commands::vmstat::clock::{format_local, terminal_columns};
use crate::exit::Exit;

/// The first frame's %CPU covers this interval (top's short first sample).
const FIRST_INTERVAL: Duration = Duration::from_millis(200);

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
    /// Only these processes (comma separated or repeated), as top -p.
    #[arg(short = 'p', long = "pid", value_delimiter = ',', value_name = "PID")]
    pids: Vec<u32>,
    /// Only processes of this user (name or uid), as top -u.
    #[arg(short = 'u', long = "user", value_name = "USER")]
    user: Option<String>,
    /// Batch mode's line width (cut lines there; default: $COLUMNS, else the
    /// terminal's width, else 80, as top; -w alone: 512).
    #[arg(short = 'w', long = "width", value_name = "COLS", num_args = 0..=1,
          default_missing_value = "512")]
    width: Option<usize>,
    /// COMMAND shows full command lines, not program names (the `c` key).
    #[arg(short = 'c', long = "command-lines")]
    command_lines: bool,
    /// Batch mode: print one JSON object per frame (JSON Lines; sizes in bytes).
    #[arg(long)]
    json: bool,
}

/// The live data source: readers plus the top model.
struct LiveSource {
    root: ProcRoot,
    users: HashMap<u32, String>,
    model: TopModel,
    last: Option<Instant>,
    last_stat: Option<CpuTicks>,
    opts: ReadOptions,
    filter: Filter,
}

impl LiveSource {
    fn new(fast: bool, filter: Filter, users: HashMap<u32, String>) -> Self {
        Self {
            users,
            root: ProcRoot::from_env(),
            model: TopModel::new(600),
            last: None,
            last_stat: None,
            opts: ReadOptions {
                smaps: !fast,
                cgroup: true,
                cpu: true,
            },
            filter,
        }
    }

    /// A cheap first sample (CPU times only), so that the first frame's
    /// %CPU figures, per process and in `%Cpu(s)`, are real: top does the
    /// same with a short first interval.
    fn prime(&mut self) -> anyhow::Result<()> {
        let opts = ReadOptions {
            smaps: false,
            cgroup: false,
            cpu: true,
        };
        let procs = read_all(&self.root, opts)?;
        self.last_stat = Some(ProcStat::read(&self.root)?.total);
        self.model.prime(&procs);
        self.last = Some(Instant::now());
        Ok(())
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
        let stat = ProcStat::read(&self.root)?.total;
        let cpu = CpuShares::between(
            self.last_stat.as_ref().unwrap_or(&CpuTicks::default()),
            &stat,
        );
        self.last_stat = Some(stat);
        let procs = read_all(&self.root, self.opts)?;
        let now = Instant::now();
        let elapsed = self.last.map(|t| now.duration_since(t).as_secs_f64());
        self.last = Some(now);
        let mut rows: Vec<PsRow> =
            self.model
                .update(&procs, elapsed, &self.users, Some(free.mem_total * 1024));
        rows.retain(|r| self.filter.keep(r));
        let epoch_seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let load = LoadAvg::read(&self.root)?;
        Ok(Snapshot {
            summary: Summary {
                headline: Headline {
                    clock: format_local(epoch_seconds as i64, "%H:%M:%S"),
                    epoch_seconds,
                    up_seconds: Uptime::read(&self.root)?.up_seconds,
                    users: count_users(&self.root),
                    load: [load.one, load.five, load.fifteen],
                },
                tasks: TaskCounts::count(&procs),
                cpu,
                free,
                pressure,
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

/// The batch width: -w, else $COLUMNS, else the terminal's, else 80, kept
/// within top's 3 to 512 columns.
fn batch_width(arg: Option<usize>) -> usize {
    arg.or_else(|| {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse().ok())
            .filter(|&c: &usize| c > 0)
    })
    .or_else(terminal_columns)
    .unwrap_or(80)
    .clamp(3, 512)
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
    let root = ProcRoot::from_env();
    let users = read_users(&root);
    let filter = Filter {
        pids: args.pids.clone(),
        users: args
            .user
            .iter()
            .map(|u| {
                u.parse::<u32>()
                    .ok()
                    .and_then(|uid| users.get(&uid).cloned())
                    .unwrap_or_else(|| u.clone())
            })
            .collect(),
        name: None,
        cgroup: None,
    };
    if let Some(user) = &args.user {
        if !users.values().any(|name| name == &filter.users[0]) && user.parse::<u32>().is_err() {
            return Err(Exit::new(1, format!("memdx top: -u {user}: no such user")).into());
        }
    }
    // top's limits: 3 to 512 columns, at least one frame.
    if let Some(w) = args.width.filter(|w| !(3..=512).contains(w)) {
        return Err(Exit::new(1, format!("memdx top: -w {w}: give a width from 3 to 512")).into());
    }
    if args.iterations == Some(0) {
        return Err(Exit::new(1, "memdx top: -n 0: give at least 1 frame").into());
    }
    let mut source = LiveSource::new(args.fast, filter, users);

    source.prime()?;
    std::thread::sleep(FIRST_INTERVAL);
    if !args.batch && !args.json {
        if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
            return Err(Exit::new(1, "memdx top: not a terminal; use -b for batch mode").into());
        }
        let mut ui = UiState::new(keys[0], delay);
        ui.full_command = args.command_lines;
        return memdx_tui::run(&mut source, ui).context("terminal");
    }

    let layout = PsLayout {
        scale: Default::default(),
        smaps: !args.fast,
        group: None,
        totals: false,
        cpu: true,
        program: !args.command_lines,
        width: Some(batch_width(args.width)),
    };
    let mut printed = 0u64;
    loop {
        let mut snap = source.snapshot()?;
        memdx_model::ps::sort_rows(&mut snap.rows, &keys);
        let mut out = io::stdout().lock();
        if args.json {
            write_json_frame(&mut out, &snap.summary, &snap.rows)?;
        } else {
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
        }
        out.flush()?;
        printed += 1;
        if args.iterations.is_some_and(|n| printed >= n) {
            return Ok(());
        }
        drop(out);
        std::thread::sleep(delay);
    }
}
