//! `memdx serve`: a Prometheus / OpenMetrics endpoint for this machine's
//! memory (node_exporter's names), per-process memory (process-exporter's
//! names), cgroup memory (v2, or v1's memory controller) and the trends of
//! watched targets.

mod exposition;
mod trend;

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use clap::Args;
use memdx_proc::cgroup::{memory_mount, CgroupMemory};
use memdx_proc::pressure::MemoryPressure;
use memdx_proc::process::{read_all, ReadOptions};
use memdx_proc::{MemInfo, ProcRoot, VmStat};

use crate::exit::Exit;
use exposition::Snapshot;
use trend::{SamplerConfig, Trends, Watched};

use super::watch::target::Target;

pub const AFTER_HELP: &str = r#"Metrics (GET /metrics; OpenMetrics 1.0 when the scraper asks for it, else the
Prometheus text format 0.0.4):
  node_memory_<Field>_bytes        every /proc/meminfo field, node_exporter's names
                                   (node_memory_MemAvailable_bytes; HugePages_* are counts)
  node_vmstat_<field>              oom_kill, pgpg*, pswp*, pg*fault* of /proc/vmstat
  node_pressure_memory_waiting_seconds_total, node_pressure_memory_stalled_seconds_total
  namedprocess_namegroup_memory_bytes{groupname, memtype="resident|proportionalResident|
      swapped|proportionalSwapped|virtual"}   processes summed by name (comm),
                                   as process-exporter; PSS needs root for others' processes
  namedprocess_namegroup_num_procs{groupname}
  memdx_cgroup_memory_bytes{cgroup, memtype="current|working_set|anon|file|swap"}
  memdx_cgroup_memory_max_bytes{cgroup}   cgroups that processes are charged to
                                   (v2, or v1's memory controller: usage_in_bytes,
                                   limit_in_bytes, total_* of memory.stat)

Trend gauges of the targets named by --watch PID, --watch-name REGEX and
--watch-cgroup PATH (each repeatable; labels kind="pid|name|cgroup", target,
metric), judged as memdx watch judges them on the samples of the last
--watch-window (docs/watch.md):
  memdx_trend_slope_bytes_per_second       Theil-Sen slope of the judged figure
  memdx_trend_slope_lower_bytes_per_second, ..._upper_...   its 95% interval
  memdx_trend_verdict{verdict="growing|stable|sawtooth|step|shrinking|
      too_few_samples"}                    1 for the current verdict, else 0
  memdx_trend_time_to_limit_seconds        to the cgroup's memory.max (else
                                           MemAvailable) at the slope; growing only
  memdx_trend_time_to_limit_earliest_seconds, ..._latest_seconds
  memdx_trend_limit_remaining_bytes, memdx_trend_memory_bytes, memdx_trend_samples

Prometheus scrape config (prometheus.yml):
  scrape_configs:
    - job_name: memdx
      scrape_interval: 15s
      static_configs:
        - targets: ['127.0.0.1:9977']

Alert rules (rules.yml; lines fit 80 columns, so the YAML copies intact):
  groups:
    - name: memdx
      rules:
        - alert: MemoryRunsOutSoon
          expr: >-
            predict_linear(node_memory_MemAvailable_bytes[1h], 4 * 3600) < 0
          for: 15m
          annotations:
            summary: >-
              MemAvailable on {{ $labels.instance }} runs out within 4 h
              at the last hour's rate
        - alert: ProcessMemoryGrowing
          expr: >-
            deriv(namedprocess_namegroup_memory_bytes{
            memtype="proportionalResident"}[1h]) > 1048576 / 60
          for: 1h
          annotations:
            summary: >-
              {{ $labels.groupname }} grows by more than 1 MiB/min
              (check with: memdx watch --name)
        - alert: MemoryLimitWithinAnHour
          expr: memdx_trend_time_to_limit_seconds < 3600
          for: 10m
          annotations:
            summary: >-
              {{ $labels.kind }} {{ $labels.target }} reaches its memory
              limit in {{ $value | humanizeDuration }} at its trend
              (memdx serve --watch, --watch-name, --watch-cgroup)

The listener is loopback only by default; --listen 0.0.0.0:9977 exposes process
names to the network."#;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9977")]
    listen: String,
    /// Worker threads answering scrapes at the same time.
    #[arg(long, value_name = "N", default_value_t = 4)]
    threads: usize,
    /// Export the trend (slope, verdict, time to limit) of this process;
    /// repeatable.
    #[arg(long, value_name = "PID")]
    watch: Vec<u32>,
    /// Export the trend of every process whose name or command line
    /// matches REGEX, summed (as memdx watch --name); repeatable.
    #[arg(long, value_name = "REGEX")]
    watch_name: Vec<String>,
    /// Export the trend of this cgroup (as memdx watch --cgroup);
    /// repeatable.
    #[arg(long, value_name = "PATH")]
    watch_cgroup: Vec<String>,
    /// Time between samples of the watched targets.
    #[arg(long, value_name = "S", default_value = "5s")]
    watch_interval: String,
    /// The trend is judged on the samples of the last D.
    #[arg(long, value_name = "D", default_value = "1h")]
    watch_window: String,
    /// Leave out the first D after a watched target appears.
    #[arg(long, value_name = "D", default_value = "0")]
    watch_warmup: String,
}

fn fail(message: impl std::fmt::Display) -> Exit {
    Exit::new(1, format!("memdx serve: {message}"))
}

fn duration_arg(option: &str, text: &str) -> Result<Duration, Exit> {
    memdx_units::parse_duration(text).map_err(|e| fail(format!("{option}: {e}")))
}

/// The watched targets of the command line, checked: a PID must exist now,
/// a cgroup must exist with the memory controller; a name may match nothing
/// yet (its series appear when it does).
fn watched(args: &ServeArgs, root: &ProcRoot) -> Result<Vec<Watched>, Exit> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for pid in &args.watch {
        let target = Target::Pid(*pid);
        if memdx_proc::process::read_process(root, *pid, ReadOptions::default(), &mut buf)
            .ok()
            .flatten()
            .is_none()
        {
            return Err(fail(format!("--watch {pid}: no process {pid}")));
        }
        out.push(Watched {
            kind: "pid",
            label: pid.to_string(),
            target,
        });
    }
    for re in &args.watch_name {
        out.push(Watched {
            kind: "name",
            label: re.clone(),
            target: Target::name("--watch-name", re).map_err(fail)?,
        });
    }
    for path in &args.watch_cgroup {
        out.push(Watched {
            kind: "cgroup",
            label: path.clone(),
            target: Target::cgroup("--watch-cgroup", root, path).map_err(fail)?,
        });
    }
    Ok(out)
}

/// Reads everything one scrape exports. Missing files leave their part out.
fn snapshot(root: &ProcRoot, trends: &Trends) -> Snapshot {
    let processes = read_all(
        root,
        ReadOptions {
            smaps: true,
            cgroup: true,
            cpu: false,
        },
    )
    .unwrap_or_default();
    let mut cgroups = Vec::new();
    if memory_mount(root).is_some() {
        let mut paths: Vec<&str> = processes
            .iter()
            .filter_map(|p| p.cgroup.as_deref())
            .collect();
        paths.sort_unstable();
        paths.dedup();
        for path in paths {
            if let Ok(cg) = CgroupMemory::read(root, path) {
                if cg.has_memory_controller() {
                    cgroups.push((path.to_string(), cg));
                }
            }
        }
    }
    Snapshot {
        meminfo: MemInfo::read(root).ok(),
        vmstat: VmStat::read(root).ok(),
        pressure: MemoryPressure::read(root).ok().flatten(),
        processes,
        cgroups,
        trends: trends
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
    }
}

fn respond(root: &ProcRoot, trends: &Trends, request: tiny_http::Request) {
    let header = |name: &str, value: &str| {
        tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
    };
    let path = request
        .url()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let response = match (request.method(), path.as_str()) {
        (tiny_http::Method::Get, "/metrics") => {
            let openmetrics = request.headers().iter().any(|h| {
                h.field.equiv("Accept") && h.value.as_str().contains("application/openmetrics-text")
            });
            let reg = exposition::registry(&snapshot(root, trends));
            let (body, ctype) = exposition::encode(&reg, openmetrics);
            let mut r = tiny_http::Response::from_string(body);
            if let Some(h) = header("Content-Type", ctype) {
                r = r.with_header(h);
            }
            r
        }
        (tiny_http::Method::Get, "/") => {
            tiny_http::Response::from_string("memdx serve: metrics at /metrics\n")
        }
        _ => tiny_http::Response::from_string("not found: try /metrics\n").with_status_code(404),
    };
    // The scraper may have gone away; nothing to do about it.
    let _ = request.respond(response);
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let root = ProcRoot::from_env();
    let interval = duration_arg("--watch-interval", &args.watch_interval)?;
    if interval < Duration::from_millis(10) {
        return Err(fail(format!(
            "--watch-interval: '{}' is too short: at least 0.01 s",
            args.watch_interval
        ))
        .into());
    }
    let config = SamplerConfig {
        interval,
        window: duration_arg("--watch-window", &args.watch_window)?,
        warmup: duration_arg("--watch-warmup", &args.watch_warmup)?,
    };
    let watched = watched(&args, &root)?;
    let server = tiny_http::Server::http(&args.listen).map_err(|e| {
        Exit::new(
            1,
            format!("memdx serve: cannot listen on {}: {e}", args.listen),
        )
    })?;
    let server = Arc::new(server);
    let trends = trend::spawn_sampler(root.clone(), watched, config);
    eprintln!("memdx serve: metrics at http://{}/metrics", args.listen);
    let workers: Vec<_> = (0..args.threads.max(1))
        .map(|_| {
            let server = Arc::clone(&server);
            let root = root.clone();
            let trends = Arc::clone(&trends);
            std::thread::spawn(move || {
                while let Ok(request) = server.recv() {
                    respond(&root, &trends, request);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}
