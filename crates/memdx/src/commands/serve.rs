//! `memdx serve`: a Prometheus / OpenMetrics endpoint for this machine's
//! memory (node_exporter's names), per-process memory (process-exporter's
//! names) and cgroup v2 memory.

mod exposition;

use std::sync::Arc;

use clap::Args;
use memdx_proc::cgroup::{v2_mount, CgroupMemory};
use memdx_proc::pressure::MemoryPressure;
use memdx_proc::process::{read_all, ReadOptions};
use memdx_proc::{MemInfo, ProcRoot, VmStat};

use crate::exit::Exit;
use exposition::Snapshot;

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
  memdx_cgroup_memory_max_bytes{cgroup}   cgroups v2 that processes are charged to

Prometheus scrape config (prometheus.yml):
  scrape_configs:
    - job_name: memdx
      scrape_interval: 15s
      static_configs:
        - targets: ['127.0.0.1:9977']

Alert rules (rules.yml):
  groups:
    - name: memdx
      rules:
        - alert: MemoryRunsOutSoon
          expr: predict_linear(node_memory_MemAvailable_bytes[1h], 4 * 3600) < 0
          for: 15m
          annotations:
            summary: "MemAvailable on {{ $labels.instance }} runs out within 4 h at the last hour's rate"
        - alert: ProcessMemoryGrowing
          expr: deriv(namedprocess_namegroup_memory_bytes{memtype="proportionalResident"}[1h]) > 1048576 / 60
          for: 1h
          annotations:
            summary: "{{ $labels.groupname }} grows by more than 1 MiB/min (check with: memdx watch --name)"

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
}

/// Reads everything one scrape exports. Missing files leave their part out.
fn snapshot(root: &ProcRoot) -> Snapshot {
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
    if v2_mount(root).is_some() {
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
    }
}

fn respond(root: &ProcRoot, request: tiny_http::Request) {
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
            let reg = exposition::registry(&snapshot(root));
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
    let server = tiny_http::Server::http(&args.listen).map_err(|e| {
        Exit::new(
            1,
            format!("memdx serve: cannot listen on {}: {e}", args.listen),
        )
    })?;
    let server = Arc::new(server);
    let root = ProcRoot::from_env();
    eprintln!("memdx serve: metrics at http://{}/metrics", args.listen);
    let workers: Vec<_> = (0..args.threads.max(1))
        .map(|_| {
            let server = Arc::clone(&server);
            let root = root.clone();
            std::thread::spawn(move || {
                while let Ok(request) = server.recv() {
                    respond(&root, request);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}
