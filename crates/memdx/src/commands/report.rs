//! `memdx report`: what a recording says about a time window: system memory
//! min/avg/max, what grew most, leak suspects, and charts.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use memdx_record::report::{self, json, plot, text, ReportOptions};
use memdx_record::{timespec, TimeRange};

use crate::commands::record::{default_db, now_unix, open_store};
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The database file [default: the one `memdx record` writes].
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Start of the window: a UTC date and time ('2026-12-07 10:00'), '-1h' (before now), or unix seconds.
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    since: Option<String>,
    /// End of the window (same forms as --since).
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    until: Option<String>,
    /// Only this process (its samples, by pid).
    #[arg(long, value_name = "P", conflicts_with = "cgroup")]
    pid: Option<u32>,
    /// Only this cgroup (path as in /proc/PID/cgroup) and the processes charged to it.
    #[arg(long, value_name = "C")]
    cgroup: Option<String>,
    /// Draw charts into this file (.svg or .png).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Rows in the "grew most" lists.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
}

fn time_arg(option: &str, text: &str, now: f64) -> Result<f64, Exit> {
    timespec::parse(text, now, |d| memdx_units::parse_duration(d).ok())
        .map_err(|e| Exit::new(1, format!("memdx report: {option}: {e}")))
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let now = now_unix();
    let since = args
        .since
        .as_deref()
        .map(|t| time_arg("--since", t, now))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|t| time_arg("--until", t, now))
        .transpose()?;
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            return Err(Exit::new(1, "memdx report: --since is after --until").into());
        }
    }
    let db = match args.db {
        Some(db) => db,
        None => default_db()?,
    };
    let store = open_store(&db, false)?;
    let opts = ReportOptions {
        range: TimeRange { since, until },
        pid: args.pid,
        cgroup: args.cgroup,
        top: args.top,
    };
    let report =
        report::build(&store, &opts).map_err(|e| Exit::new(1, format!("memdx report: {e}")))?;
    if let Some(path) = &args.plot {
        plot::draw(&report, path).map_err(|e| Exit::new(1, format!("memdx report: {e}")))?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        json::write(&mut out, &report)?;
    } else {
        text::write(&mut out, &report)?;
    }
    out.flush()?;
    Ok(())
}
