//! `memdx record`: samples system, cgroup and process memory into an SQLite
//! file at a fixed interval, until killed or `--count` samples are taken.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use memdx_proc::ProcRoot;
use memdx_record::collect::{Collector, Selection};
use memdx_record::Store;

use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Time between samples (seconds; fractions and s/m/h suffixes allowed).
    #[arg(long, value_name = "S", default_value = "10")]
    interval: String,
    /// The database file [default: $XDG_DATA_HOME/memdx/record.db, else ~/.local/share/memdx/record.db].
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Delete samples older than this (e.g. 7d, 12h); 'forever' keeps everything.
    #[arg(long, value_name = "DURATION", default_value = "7d")]
    retain: String,
    /// Record the N largest processes (by RSS) in each sample.
    #[arg(long, value_name = "N", default_value_t = 20)]
    top: usize,
    /// Also record this process in every sample, whatever its size (repeatable).
    #[arg(long, value_name = "PID")]
    pid: Vec<u32>,
    /// Also record processes with this name (comm), whatever their size (repeatable).
    #[arg(long, value_name = "NAME")]
    process: Vec<String>,
    /// Stop after this many samples (e.g. 1 from cron); run until killed when absent.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
}

/// How often the recorded processes are chosen again (every sample when the
/// interval is longer): scanning every process is most of a sample's cost.
const RESCAN_EVERY: Duration = Duration::from_secs(10);

/// How often old samples are deleted (and once at start).
const RETENTION_EVERY: Duration = Duration::from_secs(600);

/// `$XDG_DATA_HOME/memdx/record.db`, else `$HOME/.local/share/memdx/record.db`.
pub fn default_db() -> Result<PathBuf, Exit> {
    let nonempty = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(data) = nonempty("XDG_DATA_HOME") {
        return Ok(PathBuf::from(data).join("memdx/record.db"));
    }
    if let Some(home) = nonempty("HOME") {
        return Ok(PathBuf::from(home).join(".local/share/memdx/record.db"));
    }
    Err(Exit::new(
        1,
        "memdx: no database given and neither XDG_DATA_HOME nor HOME is set: pass --db PATH",
    ))
}

fn duration_arg(option: &str, text: &str) -> Result<Duration, Exit> {
    memdx_units::parse_duration(text).map_err(|_| {
        Exit::new(
            1,
            format!("memdx record: {option} must be a duration such as 0.5, 30s, 10m or 2h, not '{text}'"),
        )
    })
}

pub fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Lets this process keep one statm file open per process: raises the soft
/// descriptor limit to the hard one and returns how many to use for statm.
fn statm_budget() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    // Keep 64 for SQLite (database, WAL, shm, journal) and the readers.
    usize::try_from(lim.rlim_cur)
        .unwrap_or(usize::MAX)
        .saturating_sub(64)
        .min(1 << 20)
}

pub fn open_store(db: &Path, create: bool) -> Result<Store, Exit> {
    let command = if create {
        "memdx record"
    } else {
        "memdx report"
    };
    if create {
        if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Exit::new(
                    1,
                    format!(
                        "{command}: cannot create {}: {}",
                        dir.display(),
                        io_reason(&e)
                    ),
                )
            })?;
        }
        // The system's reason (SQLite says only "unable to open database file").
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(db)
            .map_err(|e| {
                Exit::new(
                    1,
                    format!(
                        "{command}: cannot write {}: {}",
                        db.display(),
                        io_reason(&e)
                    ),
                )
            })?;
    } else if !db.exists() {
        return Err(Exit::new(
            1,
            format!(
                "memdx report: {}: no such recording (start one with 'memdx record --db {0}')",
                db.display()
            ),
        ));
    }
    let store = if create {
        Store::open(db)
    } else {
        Store::open_to_read(db)
    };
    store.map_err(|e| Exit::new(1, format!("{command}: {e}")))
}

/// An I/O error's text without Rust's " (os error N)".
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

pub fn run(args: RecordArgs) -> anyhow::Result<()> {
    let interval = duration_arg("--interval", &args.interval)?;
    if interval.is_zero() {
        return Err(Exit::new(1, "memdx record: --interval must be more than 0").into());
    }
    let retain = match args.retain.as_str() {
        "forever" => None,
        text => Some(duration_arg("--retain", text)?),
    };
    let db = match args.db {
        Some(db) => db,
        None => default_db()?,
    };
    let mut store = open_store(&db, true)?;
    let root = ProcRoot::from_env();
    let selection = Selection {
        top: args.top,
        pids: args.pid,
        names: args.process,
    };
    let rescan = (RESCAN_EVERY.as_secs_f64() / interval.as_secs_f64()).ceil() as u32;
    let mut collector = Collector::new(root, selection, statm_budget(), rescan);

    let start = Instant::now();
    let mut last_retention: Option<Instant> = None;
    let mut taken: u64 = 0;
    let mut tick: u32 = 0;
    loop {
        if let Some(retain) = retain {
            if last_retention.is_none_or(|t| t.elapsed() >= RETENTION_EVERY) {
                store
                    .delete_before(now_unix() - retain.as_secs_f64())
                    .map_err(|e| stopped(&db, taken, &e))?;
                last_retention = Some(Instant::now());
            }
        }
        let sample = collector
            .sample(now_unix())
            .map_err(|e| Exit::new(1, format!("memdx record: {e}")))?;
        store.insert(&sample).map_err(|e| stopped(&db, taken, &e))?;
        taken += 1;
        if args.count.is_some_and(|n| taken >= n) {
            return Ok(());
        }
        // Fixed schedule: a slow sample delays the next one, never the grid.
        let elapsed = start.elapsed();
        tick = tick.saturating_add(1);
        while interval * tick <= elapsed {
            tick = tick.saturating_add(1);
        }
        std::thread::sleep(interval * tick - elapsed);
    }
}

fn stopped(db: &Path, taken: u64, e: &memdx_record::RecordError) -> Exit {
    let note = if e.is_disk_full() {
        format!(
            "; recording stopped ({taken} samples written by this run; free some space, then start it again; 'memdx report --db {}' reads what was recorded)",
            db.display()
        )
    } else {
        String::new()
    };
    Exit::new(1, format!("memdx record: {e}{note}"))
}
