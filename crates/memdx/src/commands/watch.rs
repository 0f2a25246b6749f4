//! `memdx watch`: sample a process, a group of processes or a cgroup until
//! a duration passes, Ctrl-C, or the process exits; print the trend as it
//! goes and a verdict (growing, stable, sawtooth, step) at the end.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use memdx_model::watch::{Metric, CGROUP_METRICS, PROCESS_METRICS};
use memdx_proc::ProcRoot;
use memdx_trend::{classify, Analysis, Params, Point};
use memdx_units::{format_duration, format_rate, RateUnit};
use memdx_views::watch as view;

use crate::exit::Exit;

pub mod target;

use target::{limit_info, take_sample, Target};

/// Exit status when `--fail-on-growth` is exceeded.
pub const GROWTH_EXIT_CODE: u8 = 3;

pub const AFTER_HELP: &str = "\
Targets:
  PID             one process
  --name REGEX    every process whose name (comm) or command line matches, summed
                  (the group's footprint; the PROCS column counts them)
  --cgroup PATH   a cgroup (v2, or v1's memory controller): /system.slice/app.service
                  or /sys/fs/cgroup/...

The trend is judged on one figure (--metric): PSS for processes (RSS when
smaps_rollup is not readable), the working set (memory.current - inactive_file,
as the kubelet computes it) for cgroups. Durations: seconds (0.5, 12) or with a
unit (30s, 10m, 2h). Rates: 1MiB/min, 100KiB/s.

Exit status: 0; 1 on errors; 3 when --fail-on-growth RATE is exceeded (the lower
end of the growth rate's 95% confidence interval is above RATE).

Examples:
  memdx watch 1234 --interval 5 --duration 10m
  memdx watch --name '^php-fpm' --duration 1h --fail-on-growth 1MiB/min
  memdx watch --cgroup /system.slice/app.service --json

Method and output formats: docs/watch.md.";

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The process to watch.
    // Not `required_unless_present_any`: clap's message would name only
    // <PID>; run() says "give a PID, --name REGEX or --cgroup PATH".
    #[arg(value_name = "PID", conflicts_with_all = ["name", "cgroup"])]
    pid: Option<u32>,
    /// Watch every process whose name or command line matches REGEX, summed.
    #[arg(long, value_name = "REGEX", conflicts_with = "cgroup")]
    name: Option<String>,
    /// Watch a cgroup, v2 or v1's memory controller (path in the hierarchy,
    /// or under /sys/fs/cgroup).
    #[arg(long, value_name = "PATH")]
    cgroup: Option<String>,
    /// Time between samples: seconds (0.5, 12) or with a unit (30s, 10m).
    #[arg(long, value_name = "S", default_value = "1")]
    interval: String,
    /// Stop after this long (default: until Ctrl-C or the process exits).
    #[arg(long, value_name = "D")]
    duration: Option<String>,
    /// Leave the first D out of the verdict (start-up allocations).
    #[arg(long, value_name = "D", default_value = "0")]
    warmup: String,
    /// The figure the trend is judged on: rss, pss, uss, swap, anon (processes);
    /// current, working-set, anon, file, swap (cgroups).
    #[arg(long, value_name = "METRIC")]
    metric: Option<String>,
    /// Exit with status 3 when the growth rate's lower 95% bound exceeds RATE
    /// (e.g. 1MiB/min, 100KiB/s).
    #[arg(long, value_name = "RATE")]
    fail_on_growth: Option<String>,
    /// One JSON object per line: each sample, then the verdict.
    #[arg(long)]
    json: bool,
}

/// Why sampling stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Duration,
    Interrupted,
    Exited,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn catch_sigint() {
    // SAFETY: the handler only stores to an atomic (async-signal-safe); the
    // sigaction struct is zero-initialised and fully set before use.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}

fn fail(message: impl std::fmt::Display) -> Exit {
    Exit::new(1, format!("memdx watch: {message}"))
}

fn duration_arg(option: &str, text: &str) -> Result<Duration, Exit> {
    memdx_units::parse_duration(text).map_err(|e| fail(format!("{option}: {e}")))
}

/// Draws "waiting" on stderr (a terminal) until `deadline`, an interrupt, or
/// nothing; clears the line before returning.
struct Progress {
    enabled: bool,
    frame: usize,
}

impl Progress {
    fn draw(&mut self, what: &str, samples: usize, elapsed: f64, total: Option<f64>, next_in: f64) {
        if !self.enabled {
            return;
        }
        const SPIN: [char; 4] = ['|', '/', '-', '\\'];
        self.frame += 1;
        let of = total.map_or(String::new(), |d| format!(" of {}", format_duration(d)));
        let mut err = io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[K{} watching {what}: {samples} samples, {}{of}, next in {next_in:.1}s (Ctrl-C for the verdict)",
            SPIN[self.frame % SPIN.len()],
            format_duration(elapsed)
        );
        let _ = err.flush();
    }

    fn clear(&self) {
        if self.enabled {
            let mut err = io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }
}

/// Sleeps until `deadline` in small steps; false when interrupted.
fn wait_until(deadline: Instant, mut tick: impl FnMut(f64)) -> bool {
    loop {
        if INTERRUPTED.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        tick((deadline - now).as_secs_f64());
        std::thread::sleep((deadline - now).min(Duration::from_millis(100)));
    }
}

pub fn run(args: WatchArgs) -> anyhow::Result<()> {
    let root = ProcRoot::from_env();
    let interval = duration_arg("--interval", &args.interval)?;
    if interval < Duration::from_millis(10) {
        return Err(fail(format!(
            "--interval: '{}' is too short: at least 0.01 s",
            args.interval
        ))
        .into());
    }
    let duration = args
        .duration
        .as_deref()
        .map(|d| duration_arg("--duration", d))
        .transpose()?;
    let warmup = duration_arg("--warmup", &args.warmup)?;
    let fail_rate = args
        .fail_on_growth
        .as_deref()
        .map(|r| memdx_units::parse_rate(r).map_err(|e| fail(format!("--fail-on-growth: {e}"))))
        .transpose()?;

    let target = match (&args.pid, &args.name, &args.cgroup) {
        (Some(pid), _, _) => Target::Pid(*pid),
        (_, Some(re), _) => Target::name("--name", re).map_err(fail)?,
        (_, _, Some(path)) => Target::cgroup("--cgroup", &root, path).map_err(fail)?,
        _ => return Err(fail("give a PID, --name REGEX or --cgroup PATH").into()),
    };
    let columns: &[Metric] = match target {
        Target::Cgroup { .. } => &CGROUP_METRICS,
        _ => &PROCESS_METRICS,
    };
    let chosen = match &args.metric {
        Some(text) => {
            let m = Metric::parse(text)
                .filter(|m| columns.contains(m))
                .ok_or_else(|| {
                    let names: Vec<&str> = columns.iter().map(|m| m.name()).collect();
                    fail(format!(
                        "--metric: '{text}' is not one of {}",
                        names.join(", ")
                    ))
                })?;
            Some(m)
        }
        None => None,
    };

    let mut buf = Vec::with_capacity(4096);
    let start = Instant::now();
    let Some((first, first_procs)) = take_sample(&root, &target, 0.0, &mut buf).map_err(fail)?
    else {
        return Err(match &target {
            Target::Pid(pid) => fail(format!("no process {pid}")),
            Target::Name(re) => fail(format!("no process matches --name {}", re.as_str())),
            Target::Cgroup { name, .. } => fail(format!("--cgroup {name}: gone")),
        }
        .into());
    };
    let metric = chosen.unwrap_or_else(|| target.default_metric(&first));
    if first.get(metric).is_none() {
        return Err(fail(format!(
            "--metric {}: not available for this target (PSS and USS of another user's process need root)",
            metric.name()
        ))
        .into());
    }
    let what = match &target {
        Target::Pid(pid) => format!(
            "pid {pid} ({})",
            first_procs.first().map_or("?", |p| p.name.as_str())
        ),
        Target::Name(re) => format!("processes matching '{}'", re.as_str()),
        Target::Cgroup { name, .. } => format!("cgroup {name}"),
    };
    let params = Params {
        warmup_s: warmup.as_secs_f64(),
        ..Params::default()
    };

    catch_sigint();
    let mut progress = Progress {
        enabled: io::stderr().is_terminal(),
        frame: 0,
    };
    let stdout = io::stdout();
    let mut out = io::LineWriter::new(stdout.lock());
    if !args.json {
        writeln!(
            out,
            "memdx watch: {what}, {} every {}{}; trend judged on {}",
            columns
                .iter()
                .map(|m| m.header())
                .collect::<Vec<_>>()
                .join("/"),
            format_duration(interval.as_secs_f64()),
            duration.map_or(String::new(), |d| format!(
                " for {}",
                format_duration(d.as_secs_f64())
            )),
            metric.header()
        )?;
        view::write_header(&mut out, columns, matches!(target, Target::Name(_)))?;
    }

    let mut points: Vec<Point> = Vec::new();
    let mut sample = first;
    let mut last_procs = first_procs;
    let mut analysis: Analysis;
    let mut k: u32 = 0;
    let stop = loop {
        if let Some(v) = sample.get(metric) {
            points.push(Point {
                t: sample.t,
                bytes: v as f64,
            });
        }
        analysis = classify(&points, &params);
        progress.clear();
        if args.json {
            serde_json::to_writer(&mut out, &view::sample_json(&sample))?;
            writeln!(out)?;
        } else {
            let group = matches!(target, Target::Name(_));
            view::write_sample(
                &mut out,
                &sample,
                columns,
                group,
                &view::trend_label(&analysis),
            )?;
        }
        k += 1;
        let next = interval * k;
        if duration.is_some_and(|d| next > d) {
            break Stop::Duration;
        }
        let elapsed = start.elapsed().as_secs_f64();
        let total = duration.map(|d| d.as_secs_f64());
        let n = points.len();
        if !wait_until(start + next, |left| {
            progress.draw(&what, n, elapsed, total, left)
        }) {
            break Stop::Interrupted;
        }
        let t = start.elapsed().as_secs_f64();
        match take_sample(&root, &target, t, &mut buf).map_err(fail)? {
            Some((s, procs)) => {
                sample = s;
                last_procs = procs;
            }
            None => break Stop::Exited,
        }
    };
    progress.clear();

    let limit = limit_info(&root, &target, &last_procs);
    let reason = match stop {
        Stop::Duration => "duration reached".to_string(),
        Stop::Interrupted => "interrupted".to_string(),
        Stop::Exited => match &target {
            Target::Pid(pid) => format!("process {pid} exited"),
            Target::Name(_) => "no matching process left".to_string(),
            Target::Cgroup { .. } => "the cgroup was removed".to_string(),
        },
    };
    if args.json {
        let mut v = view::verdict_json(&analysis, metric, limit.as_ref());
        v["stopped"] = serde_json::json!(reason);
        serde_json::to_writer(&mut out, &v)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "stopped: {reason} after {}, {} samples",
            format_duration(start.elapsed().as_secs_f64()),
            points.len()
        )?;
        writeln!(
            out,
            "verdict: {}",
            view::verdict_sentence(&analysis, metric, limit.as_ref())
        )?;
    }
    out.flush()?;

    if let (Some(threshold), Some(rate)) = (fail_rate, analysis.rate()) {
        if rate.lower > threshold {
            let unit = RateUnit::for_span(analysis.span_s);
            return Err(Exit::new(
                GROWTH_EXIT_CODE,
                format!(
                    "memdx watch: growth {} (lower {:.0}% bound {}) exceeds --fail-on-growth {}",
                    format_rate(rate.slope, unit),
                    rate.confidence * 100.0,
                    format_rate(rate.lower, unit),
                    args.fail_on_growth.as_deref().unwrap_or_default()
                ),
            )
            .into());
        }
    }
    Ok(())
}
