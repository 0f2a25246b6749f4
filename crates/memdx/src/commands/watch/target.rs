//! What `memdx watch` (and `memdx serve --watch*`) samples: one process, the
//! processes matching a name, or a cgroup (v2, or v1's memory controller); one sample of it; and the limit
//! its growth would run into. Errors are messages without the command's
//! prefix (each command adds its own).

use std::path::PathBuf;

use memdx_model::watch::{cgroup_sample, process_sample, Metric, WatchSample};
use memdx_proc::cgroup::{memory_mount, CgroupMemory, CgroupVersion, MemoryLimit};
use memdx_proc::process::{list_pids, read_process, ProcessMemory, ReadOptions};
use memdx_proc::{MemInfo, ProcRoot};
use memdx_units::format_bytes;
use memdx_views::watch::LimitInfo;
use regex::Regex;

/// What is watched.
pub enum Target {
    Pid(u32),
    Name(Regex),
    Cgroup { name: String, dir: PathBuf },
}

impl Target {
    /// `--name REGEX`: the regex, or a one-line message naming it.
    pub fn name(option: &str, re: &str) -> Result<Self, String> {
        Regex::new(re).map(Self::Name).map_err(|e| {
            // regex's message spans lines (pattern, caret, "error: ...").
            let text = e.to_string();
            let why = text
                .lines()
                .last()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_string();
            format!("{option}: '{re}' is not a regular expression: {why}")
        })
    }

    /// `--cgroup PATH`, relative to the memory hierarchy (cgroup v2, or v1's
    /// memory controller; see `memory_mount`), checked to exist with memory
    /// accounting.
    pub fn cgroup(option: &str, root: &ProcRoot, path: &str) -> Result<Self, String> {
        let rel = [
            "/sys/fs/cgroup/unified",
            "/sys/fs/cgroup/memory",
            "/sys/fs/cgroup",
        ]
        .iter()
        .find_map(|prefix| {
            path.strip_prefix(prefix)
                .filter(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .unwrap_or(path);
        let (mount, _) = memory_mount(root).ok_or_else(|| {
            format!(
                "{option} {path}: no cgroup hierarchy with memory accounting under {} (neither cgroup v2 nor v1's memory controller)",
                root.path("sys/fs/cgroup").display()
            )
        })?;
        let dir = mount.join(rel.trim_start_matches('/'));
        let m = CgroupMemory::read_dir(&dir).map_err(|e| format!("{option} {path}: {e}"))?;
        if !m.has_memory_controller() {
            return Err(format!(
                "{option} {path}: no memory.current in {} (the memory controller is not enabled for it)",
                dir.display()
            ));
        }
        Ok(Self::Cgroup {
            name: path.to_string(),
            dir,
        })
    }

    /// The figure the trend is judged on by default: a cgroup's working
    /// set (`memory.current` without memory.stat), a process's PSS (RSS
    /// when smaps_rollup is not readable).
    pub fn default_metric(&self, first: &WatchSample) -> Metric {
        match self {
            Self::Cgroup { .. } if first.get(Metric::WorkingSet).is_some() => Metric::WorkingSet,
            Self::Cgroup { .. } => Metric::Current,
            _ if first.get(Metric::Pss).is_some() => Metric::Pss,
            _ => Metric::Rss,
        }
    }
}

fn opts() -> ReadOptions {
    ReadOptions {
        smaps: true,
        cgroup: true,
        cpu: false,
    }
}

/// The processes of the target now; empty when they are gone.
fn processes(
    root: &ProcRoot,
    target: &Target,
    buf: &mut Vec<u8>,
) -> Result<Vec<ProcessMemory>, String> {
    let err = |e: memdx_proc::ProcError| e.to_string();
    match target {
        Target::Pid(pid) => Ok(read_process(root, *pid, opts(), buf)
            .map_err(err)?
            .filter(|p| p.state != 'Z' && p.rss.is_some())
            .into_iter()
            .collect()),
        Target::Name(re) => {
            let me = std::process::id();
            let light = ReadOptions {
                smaps: false,
                cgroup: false,
                cpu: false,
            };
            let mut out = Vec::new();
            for pid in list_pids(root).map_err(err)? {
                if pid == me {
                    continue;
                }
                let Some(p) = read_process(root, pid, light, buf).map_err(err)? else {
                    continue;
                };
                if p.state == 'Z'
                    || p.rss.is_none()
                    || !(re.is_match(&p.name) || re.is_match(&p.cmdline))
                {
                    continue;
                }
                if let Some(full) = read_process(root, pid, opts(), buf).map_err(err)? {
                    out.push(full);
                }
            }
            Ok(out)
        }
        Target::Cgroup { .. } => Ok(Vec::new()),
    }
}

/// One sample at `t` seconds, with the processes it summed; `None` when the
/// target is gone (the process exited, nothing matches, the cgroup was
/// removed).
pub fn take_sample(
    root: &ProcRoot,
    target: &Target,
    t: f64,
    buf: &mut Vec<u8>,
) -> Result<Option<(WatchSample, Vec<ProcessMemory>)>, String> {
    if let Target::Cgroup { name, dir } = target {
        return match CgroupMemory::read_dir(dir) {
            Ok(m) => Ok(Some((cgroup_sample(t, &m), Vec::new()))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(format!("--cgroup {name}: {e}")),
        };
    }
    let procs = processes(root, target, buf)?;
    if procs.is_empty() {
        return Ok(None);
    }
    Ok(Some((process_sample(t, &procs), procs)))
}

/// What growth would run into: the cgroup's memory.max or v1
/// memory.limit_in_bytes (the watched cgroup,
/// or the one the processes are charged to), else MemAvailable.
pub fn limit_info(root: &ProcRoot, target: &Target, procs: &[ProcessMemory]) -> Option<LimitInfo> {
    let cgroup = match target {
        Target::Cgroup { dir, .. } => CgroupMemory::read_dir(dir).ok(),
        _ => {
            let mut paths: Vec<&str> = procs.iter().filter_map(|p| p.cgroup.as_deref()).collect();
            paths.dedup();
            match paths.as_slice() {
                [one] => CgroupMemory::read(root, one).ok(),
                _ => None,
            }
        }
    };
    if let Some(cg) = cgroup {
        if let (Some(MemoryLimit::Bytes(max)), Some(current)) = (cg.max, cg.current) {
            return Some(LimitInfo {
                event: format!(
                    "the cgroup limit ({} {}) is reached",
                    match cg.version {
                        CgroupVersion::V1 => "memory.limit_in_bytes",
                        CgroupVersion::V2 => "memory.max",
                    },
                    format_bytes(max as f64)
                ),
                remaining_bytes: max as f64 - current as f64,
            });
        }
    }
    let avail = MemInfo::read(root)
        .ok()?
        .get("MemAvailable")?
        .saturating_mul(1024);
    Some(LimitInfo {
        event: format!("MemAvailable ({} now) runs out", format_bytes(avail as f64)),
        remaining_bytes: avail as f64,
    })
}
