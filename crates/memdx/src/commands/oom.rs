//! `memdx oom`: OOM kills from /dev/kmsg or saved kernel log text.

use std::io::{self, Write};

use clap::Args;
use memdx_kernel::kmsg;
use memdx_kernel::oom::{self, render};
use memdx_proc::ProcRoot;

use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct OomArgs {
    /// Kernel log text (dmesg, journalctl -k, /dev/kmsg records), `-` for standard input; the live /dev/kmsg when absent.
    file: Option<String>,
    /// Only kills in the last T (seconds, or 30m, 2h, 1d) before now (live) or before the log's last line (files).
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// Task table rows shown per event in text output, largest rss first (0 = all).
    #[arg(long, value_name = "N", default_value_t = 10)]
    tasks: usize,
    /// Print `{"events": [...]}`.
    #[arg(long)]
    json: bool,
}

pub fn run(args: OomArgs) -> anyhow::Result<()> {
    let root = ProcRoot::from_env();
    let (text, live) = match args.file.as_deref() {
        None => {
            let text = kmsg::read_kmsg(&root).map_err(|e| {
                let hint = if e.os_error() == Some(1) || e.os_error() == Some(13) {
                    " (kernel.dmesg_restrict hides the kernel log from non-root users: run as root, or pass a saved dmesg file)"
                } else {
                    ""
                };
                Exit::new(1, format!("memdx oom: {e}{hint}"))
            })?;
            (text, true)
        }
        Some("-") => {
            let text = memdx_kernel::read_limited(
                io::stdin(),
                "standard input",
                memdx_kernel::MAX_INPUT_BYTES,
            )
            .map_err(|e| Exit::new(1, format!("memdx oom: {e}")))?;
            (text, false)
        }
        Some(path) => (
            memdx_kernel::read_text(std::path::Path::new(path))
                .map_err(|e| Exit::new(1, format!("memdx oom: {e}")))?,
            false,
        ),
    };
    let lines = kmsg::parse_log(&text);
    let mut events = oom::parse_events(&lines);
    if let Some(t) = &args.since {
        let span = memdx_units::parse_duration(t)
            .map_err(|e| Exit::new(1, format!("memdx oom: --since: {e}")))?;
        let now = if live {
            root.read_to_string("proc/uptime").ok().and_then(|u| {
                u.split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
            })
        } else {
            lines
                .iter()
                .filter_map(|l| l.time)
                .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))))
        };
        if let Some(now) = now {
            events = oom::since(events, now - span.as_secs_f64());
        }
    }
    let mut out = io::stdout().lock();
    if args.json {
        render::write_json(&mut out, &events)?;
    } else {
        render::write_text(&mut out, &events, args.tasks)?;
    }
    out.flush()?;
    Ok(())
}
