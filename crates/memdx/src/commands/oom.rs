//! `memdx oom`: OOM kills from /dev/kmsg or saved kernel log text.

use std::io::{self, Write};

use clap::Args;
use memdx_kernel::kmsg;
use memdx_kernel::logstamp::LogClock;
use memdx_kernel::oom::{self, render};
use memdx_proc::ProcRoot;
use memdx_units::datetime::{parse_since, Since};

use crate::exit::Exit;
use crate::local_zone::LocalZone;

#[derive(Debug, Args)]
pub struct OomArgs {
    /// Kernel log text (dmesg, dmesg -T, journalctl -k, syslog, /dev/kmsg records), `-` for standard input; the live /dev/kmsg when absent.
    file: Option<String>,
    /// Only kills from T on: a duration back from now (live) or from the log's last time stamp (files), such as 30m, 2h, 1d; or a date and time, such as "2026-12-07 10:00" (local time unless it ends in Z, UTC or an offset such as +01:00).
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// When the machine that wrote the log booted (a date and time as --since takes): gives the times since boot of raw dmesg and /dev/kmsg records a wall-clock time. Not needed live, nor for syslog lines that carry both stamps.
    #[arg(long, value_name = "DATE")]
    boot_time: Option<String>,
    /// Task table rows shown per event in text output, largest rss first (0 = all).
    #[arg(long, value_name = "N", default_value_t = 10)]
    tasks: usize,
    /// Print `{"events": [...]}`.
    #[arg(long)]
    json: bool,
}

/// Seconds since the epoch now.
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The log's text, whether it is the live /dev/kmsg, and the latest moment
/// it can be from (now, or when the file was last written).
fn read_log(file: Option<&str>, root: &ProcRoot) -> anyhow::Result<(String, bool, f64)> {
    Ok(match file {
        None => {
            let text = kmsg::read_kmsg(root).map_err(|e| {
                let hint = if e.os_error() == Some(1) || e.os_error() == Some(13) {
                    " (kernel.dmesg_restrict hides the kernel log from non-root users: run as root, or pass a saved dmesg file)"
                } else {
                    ""
                };
                Exit::new(1, format!("memdx oom: {e}{hint}"))
            })?;
            (text, true, now())
        }
        Some("-") => {
            let text = memdx_kernel::read_limited(
                io::stdin(),
                "standard input",
                memdx_kernel::MAX_INPUT_BYTES,
            )
            .map_err(|e| Exit::new(1, format!("memdx oom: {e}")))?;
            (text, false, now())
        }
        Some(path) => {
            let path = std::path::Path::new(path);
            let text = memdx_kernel::read_text(path)
                .map_err(|e| Exit::new(1, format!("memdx oom: {e}")))?;
            let written = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or_else(now, |d| d.as_secs_f64());
            (text, false, written)
        }
    })
}

fn uptime(root: &ProcRoot) -> Option<f64> {
    root.read_to_string("proc/uptime").ok().and_then(|u| {
        u.split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
    })
}

fn latest(values: impl Iterator<Item = f64>) -> Option<f64> {
    values.fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))))
}

pub fn run(args: OomArgs) -> anyhow::Result<()> {
    let root = ProcRoot::from_env();
    let zone = LocalZone::new();
    let (text, live, written) = read_log(args.file.as_deref(), &root)?;
    let boot = match &args.boot_time {
        Some(t) => match parse_since(t) {
            Ok(Since::At(m)) => Some(m.to_utc(&zone)),
            _ => {
                return Err(Exit::new(
                    1,
                    format!("memdx oom: --boot-time: '{t}' is not a date and time (2026-12-07 10:00, 2026-12-07T10:00:30+01:00)"),
                )
                .into())
            }
        },
        None if live => uptime(&root).map(|up| written - up),
        None => None,
    };
    let mut lines = kmsg::parse_log(&text);
    kmsg::place_in_time(
        &mut lines,
        &LogClock {
            zone: &zone,
            latest: written,
            boot,
        },
    );
    let mut events = oom::parse_events(&lines);
    if let Some(t) = &args.since {
        let since = parse_since(t).map_err(|e| Exit::new(1, format!("memdx oom: --since: {e}")))?;
        let has_wall = lines.iter().any(|l| l.wall.is_some());
        match since {
            Since::Ago(span) if has_wall => {
                let end = if live { Some(written) } else { latest(lines.iter().filter_map(|l| l.wall)) };
                if let Some(end) = end {
                    events = oom::since_wall(events, end - span.as_secs_f64());
                }
            }
            Since::Ago(span) => {
                let end = if live { uptime(&root) } else { latest(lines.iter().filter_map(|l| l.time)) };
                if let Some(end) = end {
                    events = oom::since(events, end - span.as_secs_f64());
                }
            }
            Since::At(m) if has_wall || events.is_empty() => {
                events = oom::since_wall(events, m.to_utc(&zone));
            }
            Since::At(_) => {
                return Err(Exit::new(
                    1,
                    format!(
                        "memdx oom: --since {t}: {} has times since boot only (raw dmesg or /dev/kmsg records): give --boot-time, or a duration such as 2h",
                        args.file.as_deref().unwrap_or("the kernel log")
                    ),
                )
                .into())
            }
        }
    }
    let mut out = io::stdout().lock();
    if args.json {
        render::write_json(&mut out, &events)?;
    } else {
        render::write_text(&mut out, &events, args.tasks, &zone)?;
    }
    out.flush()?;
    Ok(())
}
