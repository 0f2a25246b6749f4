//! `memdx doctor`: observe the machine (or one target) for a few seconds,
//! then print what is wrong, worst first, with the evidence and the next
//! command. The analysis is memdx-doctor's; this module gathers
//! (`gather`) and prints (`render`).

mod deep;
mod gather;
mod render;

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use clap::Args;
use memdx_proc::ProcRoot;
use regex::Regex;

use crate::exit::Exit;
use gather::{Aim, Plan, Source};

pub const AFTER_HELP: &str = "\
Targets (default: the whole machine):
  PID             one process (judged on its PSS)
  --name REGEX    the processes whose name or command line matches, summed
  --cgroup PATH   a cgroup (v2, or v1's memory controller): /system.slice/app.service
                  or /sys/fs/cgroup/...

It looks at, in order: pressure (MemAvailable, PSI memory stall, swap-in/out
and direct-reclaim rates over the window, OOM and systemd-oomd kills in the
kernel log since --since), who owns the memory (PSS with USS, cgroups, memory
by kind), what grew during the window (every process's RSS, every cgroup, the
target, unreclaimable slab caches). A healthy machine gets one line. What
could not be read (the kernel log or other users' smaps without root) is a
note, not an error.

--deep (one process: a PID, or a --name matching one) also captures its heap
through attach (memdx heap --pid, sampled) for the window: the allocation
sites that grew, and whether the growth is live memory (a leak) or memory
the allocator holds (fragmentation). The process is detached at the end and
runs on; when it cannot be attached to (ptrace forbidden, statically
linked...), a note says why.

Exit status: 0 nothing worse than info; 3 a warning; 4 something critical;
1 on errors.

Thresholds, method and the JSON schema: docs/doctor.md.";

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The process to look at (default: the whole machine).
    #[arg(value_name = "PID", conflicts_with_all = ["name", "cgroup"])]
    pid: Option<u32>,
    /// Look at the processes whose name or command line matches REGEX, summed.
    #[arg(long, value_name = "REGEX", conflicts_with = "cgroup")]
    name: Option<String>,
    /// Look at a cgroup (path in the hierarchy, or under /sys/fs/cgroup).
    #[arg(long, value_name = "PATH")]
    cgroup: Option<String>,
    /// How long to observe: seconds (0.5, 12) or with a unit (30s, 10m).
    #[arg(long, value_name = "D", default_value = "10")]
    duration: String,
    /// Time between samples (default: a twentieth of --duration).
    #[arg(long, value_name = "S")]
    interval: Option<String>,
    /// OOM kills this recent count (30m, 24h, 7d...).
    #[arg(long, value_name = "T", default_value = "24h")]
    since: String,
    /// Print one JSON object (schema in docs/doctor.md).
    #[arg(long)]
    json: bool,
    /// Also capture the process's heap through attach for the window (one process).
    #[arg(long, conflicts_with = "cgroup")]
    deep: bool,
}

fn fail(message: impl std::fmt::Display) -> Exit {
    Exit::new(1, format!("memdx doctor: {message}"))
}

fn duration_arg(option: &str, text: &str) -> Result<Duration, Exit> {
    memdx_units::parse_duration(text).map_err(|e| fail(format!("{option}: {e}")))
}

fn aim(root: &ProcRoot, args: &DoctorArgs) -> Result<Aim, Exit> {
    if let Some(pid) = args.pid {
        if !root.path(&format!("proc/{pid}")).is_dir() {
            return Err(fail(format!("no process {pid}")));
        }
        return Ok(Aim::Pid(pid));
    }
    if let Some(re) = &args.name {
        let regex = Regex::new(re).map_err(|e| {
            let text = e.to_string();
            let why = text
                .lines()
                .last()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_string();
            fail(format!("--name: '{re}' is not a regular expression: {why}"))
        })?;
        if !gather::any_matches(root, &regex) {
            return Err(fail(format!("no process matches --name {re}")));
        }
        return Ok(Aim::Name(regex));
    }
    if let Some(path) = &args.cgroup {
        let (dir, name) = gather::cgroup_dir(root, path).map_err(fail)?;
        return Ok(Aim::Cgroup { name, dir });
    }
    Ok(Aim::Machine)
}

/// The one process `--deep` attaches to.
fn deep_pid(root: &ProcRoot, aim: &Aim) -> Result<u32, Exit> {
    match aim {
        Aim::Pid(pid) => Ok(*pid),
        Aim::Name(re) => match gather::matching_pids(root, re).as_slice() {
            [pid] => Ok(*pid),
            pids => Err(fail(format!(
                "--deep needs one process: --name {} matches {} ({}): give its PID",
                re.as_str(),
                pids.len(),
                pids.iter()
                    .take(5)
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
                    + if pids.len() > 5 { ", ..." } else { "" }
            ))),
        },
        _ => Err(fail(
            "--deep needs one process: a PID, or a --name matching one",
        )),
    }
}

pub fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let duration = duration_arg("--duration", &args.duration)?;
    let interval = match &args.interval {
        Some(text) => duration_arg("--interval", text)?,
        None => duration / 20,
    };
    if interval < Duration::from_millis(10) {
        return Err(fail("--interval: too short: at least 0.01 s (or a longer --duration)").into());
    }
    if interval > duration {
        return Err(fail("--interval: longer than --duration").into());
    }
    let recent = duration_arg("--since", &args.since)?;
    let source = Source::from_env();
    let aim = aim(&source.process_root(), &args)?;
    let deep_pid = match args.deep {
        true => Some(deep_pid(&source.process_root(), &aim)?),
        false => None,
    };
    let plan = Plan {
        duration,
        interval,
        recent,
    };
    let progress = io::stderr().is_terminal();
    let mut frame = 0usize;
    // The capture runs beside the sampling, for the same window.
    let capture = deep_pid.map(|pid| deep::start(pid, duration));
    let observed = gather::observe(&source, &aim, &plan, |elapsed, total| {
        if progress {
            const SPIN: [char; 4] = ['|', '/', '-', '\\'];
            frame += 1;
            let mut err = io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[K{} memdx doctor: observing {:.1} s of {:.1} s",
                SPIN[frame % SPIN.len()],
                elapsed,
                total
            );
            let _ = err.flush();
        }
    });
    let heap = capture.map(deep::Capture::finish);
    let mut observation = observed.map_err(fail)?;
    match heap {
        Some(Ok(h)) => observation.heap = Some(h),
        Some(Err(note)) => observation.unreadable.push(note),
        None => {}
    }
    if progress {
        let mut err = io::stderr().lock();
        let _ = write!(err, "\r\x1b[K");
        let _ = err.flush();
    }
    let diagnosis = memdx_doctor::diagnose(&observation);
    let mut out = io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &render::to_json(&observation, &diagnosis))?;
        writeln!(out)?;
    } else {
        render::write_text(&mut out, &observation, &diagnosis)?;
    }
    out.flush()?;
    match render::exit_status(diagnosis.worst()) {
        0 => Ok(()),
        code => Err(Exit::silent(code).into()),
    }
}
