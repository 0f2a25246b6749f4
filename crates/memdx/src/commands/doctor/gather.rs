//! Gathering an observation for memdx-doctor: the only place `doctor`
//! reads `/proc`, `/sys` and the kernel log.
//!
//! Live, the window is real time. With `MEMDX_REPLAY_ROOT=DIR`, sample `k`
//! reads `DIR/k/` (a file absent there comes from the latest earlier sample
//! that has it, as `memdx vmstat` replays) and the clock advances by the
//! interval without sleeping: fixture trees can hold a swap storm or a
//! growing slab cache.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use memdx_doctor::{KernelLog, Observation, Series, Target};
use memdx_kernel::kmemleak::status as kmemleak_status;
use memdx_kernel::kmsg;
use memdx_kernel::oom;
use memdx_kernel::slab::{self, Sample as SlabSample};
use memdx_proc::cgroup::{memory_mount, CgroupMemory, MemoryLimit};
use memdx_proc::cgroup_walk::{memory_cgroups, CgroupUsage};
use memdx_proc::pressure::MemoryPressure;
use memdx_proc::process::{list_pids, read_all, read_process, ProcessMemory, ReadOptions};
use memdx_proc::statm::StatmReader;
use memdx_proc::{MemInfo, ProcRoot, Uptime, VmStat};
use memdx_trend::Point;
use regex::Regex;

use crate::commands::watch::target::Target as WatchTarget;

/// Environment variable naming a replay directory (as `memdx vmstat`).
pub const REPLAY_ENV: &str = "MEMDX_REPLAY_ROOT";

/// Where samples come from.
pub enum Source {
    /// The live root (or `MEMDX_PROC_ROOT`), real time.
    Live(ProcRoot),
    /// Recorded sample trees, simulated time.
    Replay {
        /// Holds `0/`, `1/`, ...
        dir: PathBuf,
        /// Current sample.
        step: std::cell::Cell<u32>,
    },
}

impl Source {
    pub fn from_env() -> Self {
        match std::env::var_os(REPLAY_ENV) {
            Some(dir) if !dir.is_empty() => Source::Replay {
                dir: PathBuf::from(dir),
                step: std::cell::Cell::new(0),
            },
            _ => Source::Live(ProcRoot::from_env()),
        }
    }

    /// The root holding `rel` for the current sample.
    pub fn root_for(&self, rel: &str) -> ProcRoot {
        match self {
            Source::Live(root) => root.clone(),
            Source::Replay { dir, step } => (0..=step.get())
                .rev()
                .map(|k| dir.join(k.to_string()))
                .find(|base| base.join(rel).exists())
                .map_or_else(|| ProcRoot::new(dir.join("0")), ProcRoot::new),
        }
    }

    /// The root holding the process directories for the current sample
    /// (a replay step may hold only `proc/slabinfo`, not processes).
    pub fn process_root(&self) -> ProcRoot {
        match self {
            Source::Live(root) => root.clone(),
            Source::Replay { dir, step } => (0..=step.get())
                .rev()
                .map(|k| dir.join(k.to_string()))
                .find(|base| has_pid_dir(&base.join("proc")))
                .map_or_else(|| ProcRoot::new(dir.join("0")), ProcRoot::new),
        }
    }

    /// The root of files read once (kernel config, mounts): the live root,
    /// or a replay's first sample.
    fn base(&self) -> ProcRoot {
        match self {
            Source::Live(root) => root.clone(),
            Source::Replay { dir, .. } => ProcRoot::new(dir.join("0")),
        }
    }

    fn is_replay(&self) -> bool {
        matches!(self, Source::Replay { .. })
    }

    /// Moves a replay to sample `k`.
    fn set_step(&self, k: u32) {
        if let Source::Replay { step, .. } = self {
            step.set(k);
        }
    }
}

fn has_pid_dir(proc_dir: &std::path::Path) -> bool {
    std::fs::read_dir(proc_dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
    })
}

/// The target as the gatherer needs it.
pub enum Aim {
    Machine,
    Pid(u32),
    Name(Regex),
    Cgroup { name: String, dir: PathBuf },
}

impl Aim {
    pub fn target(&self) -> Target {
        match self {
            Aim::Machine => Target::Machine,
            Aim::Pid(pid) => Target::Pid(*pid),
            Aim::Name(re) => Target::Name(re.as_str().to_string()),
            Aim::Cgroup { name, .. } => Target::Cgroup(name.clone()),
        }
    }
}

/// Whether a process (other than this one) matches `--name` by its name or
/// command line.
pub fn any_matches(root: &ProcRoot, re: &Regex) -> bool {
    let opts = NAME_OPTS;
    let mut buf = Vec::new();
    list_pids(root).unwrap_or_default().into_iter().any(|pid| {
        pid != std::process::id()
            && read_process(root, pid, opts, &mut buf).is_ok_and(|p| {
                p.is_some_and(|p| {
                    p.state != 'Z' && (re.is_match(&p.name) || re.is_match(&p.cmdline))
                })
            })
    })
}

/// The processes (other than this one) matching `--name`.
pub fn matching_pids(root: &ProcRoot, re: &Regex) -> Vec<u32> {
    let mut buf = Vec::new();
    list_pids(root)
        .unwrap_or_default()
        .into_iter()
        .filter(|&pid| {
            pid != std::process::id()
                && read_process(root, pid, NAME_OPTS, &mut buf).is_ok_and(|p| {
                    p.is_some_and(|p| {
                        p.state != 'Z' && (re.is_match(&p.name) || re.is_match(&p.cmdline))
                    })
                })
        })
        .collect()
}

/// The cgroup named on the command line (as `memdx watch --cgroup` takes
/// it: v2, or v1's memory controller): its directory, and its path in the
/// hierarchy (`/system.slice/app.service`, as the cgroup list names it).
pub fn cgroup_dir(root: &ProcRoot, path: &str) -> Result<(PathBuf, String), String> {
    let dir = match WatchTarget::cgroup("--cgroup", root, path)? {
        WatchTarget::Cgroup { dir, .. } => dir,
        _ => return Err(format!("--cgroup {path}: not a cgroup")),
    };
    let rel = memory_mount(root)
        .and_then(|(mount, _)| dir.strip_prefix(mount).ok().map(|r| r.to_path_buf()))
        .map_or_else(|| path.to_string(), |r| format!("/{}", r.display()));
    let rel = if rel.len() > 1 {
        rel.trim_end_matches('/').to_string()
    } else {
        rel
    };
    Ok((dir, rel))
}

/// What to gather and for how long.
pub struct Plan {
    pub duration: Duration,
    pub interval: Duration,
    /// How far back an OOM kill counts as recent.
    pub recent: Duration,
}

/// A series being built: label, watch command, metric, points, limit.
struct Building {
    label: String,
    watch: String,
    metric: &'static str,
    points: Vec<Point>,
    limit: Option<f64>,
    is_target: bool,
}

impl Building {
    fn finish(self) -> Series {
        Series {
            label: self.label,
            watch_command: self.watch,
            metric: self.metric,
            points: self.points,
            limit_bytes: self.limit,
            is_target: self.is_target,
        }
    }
}

/// The gatherer's state across samples.
struct Gatherer<'a> {
    source: &'a Source,
    aim: &'a Aim,
    statm: Option<StatmReader>,
    by_pid: BTreeMap<u32, Building>,
    by_cgroup: BTreeMap<String, Building>,
    target: Option<Building>,
    slab: Option<Vec<SlabSample>>,
    unreadable: Vec<String>,
    buf: Vec<u8>,
    samples: usize,
}

/// What matching `--name` needs: name and command line, no smaps.
const NAME_OPTS: ReadOptions = ReadOptions {
    smaps: false,
    cgroup: false,
    cpu: false,
};

fn smaps_opts() -> ReadOptions {
    ReadOptions {
        smaps: true,
        cgroup: true,
        cpu: false,
    }
}

impl Gatherer<'_> {
    fn note(&mut self, line: String) {
        if !self.unreadable.contains(&line) {
            self.unreadable.push(line);
        }
    }

    /// One sample of everything that forms a series.
    fn sample(&mut self, t: f64) {
        let me = std::process::id();
        self.samples += 1;
        let proc_root = self.source.process_root();
        // Live: keep statm files open between samples; replay: each sample
        // is another tree.
        if self.statm.is_none() || self.source.is_replay() {
            self.statm = Some(StatmReader::new(proc_root.clone(), 4096));
        }
        let target_pid = match self.aim {
            Aim::Pid(pid) => Some(*pid),
            _ => None,
        };
        match self.statm.as_mut().map(|s| s.read_all()) {
            Some(Ok(list)) => {
                for r in list {
                    if r.pid == me || Some(r.pid) == target_pid || r.rss == 0 {
                        continue;
                    }
                    let b = self.by_pid.entry(r.pid).or_insert_with(|| Building {
                        label: format!("pid {} ({})", r.pid, r.comm),
                        watch: format!("memdx watch {}", r.pid),
                        metric: "rss",
                        points: Vec::new(),
                        limit: None,
                        is_target: false,
                    });
                    b.points.push(Point {
                        t,
                        bytes: r.rss as f64,
                    });
                }
            }
            Some(Err(e)) => self.note(format!("process RSS: {e}")),
            None => {}
        }
        match memory_cgroups(&self.source.root_for("sys/fs/cgroup")) {
            Ok(list) => {
                let target = match self.aim {
                    Aim::Cgroup { name, .. } => Some(name.as_str()),
                    _ => None,
                };
                // The target's own series is judged below, on its working set.
                for c in leaf_cgroups(&list)
                    .into_iter()
                    .filter(|c| Some(c.path.as_str()) != target)
                {
                    let b = self
                        .by_cgroup
                        .entry(c.path.clone())
                        .or_insert_with(|| Building {
                            label: format!("cgroup {}", c.path),
                            watch: format!("memdx watch --cgroup {}", c.path),
                            metric: "current",
                            points: Vec::new(),
                            limit: c.max.map(|m| m as f64),
                            is_target: false,
                        });
                    b.points.push(Point {
                        t,
                        bytes: c.current as f64,
                    });
                }
            }
            Err(e) => self.note(format!("cgroups: {e}")),
        }
        self.sample_target(t, &proc_root);
        if let Some(samples) = self.slab.as_mut() {
            match slab::info::read(&self.source.root_for("proc/slabinfo")) {
                Ok(caches) => samples.push(SlabSample { t, caches }),
                Err(e) => {
                    self.slab = None;
                    let why = if e.os_error() == Some(13) || e.os_error() == Some(1) {
                        " (root only)"
                    } else {
                        ""
                    };
                    self.note(format!(
                        "slab caches: {e}{why}: kernel slab growth not checked"
                    ));
                }
            }
        }
    }

    /// The target cgroup's directory in the current sample (a replay's
    /// samples are different trees).
    fn cgroup_now(&self, name: &str, dir: &std::path::Path) -> PathBuf {
        if !self.source.is_replay() {
            return dir.to_path_buf();
        }
        memory_mount(&self.source.root_for("sys/fs/cgroup")).map_or_else(
            || dir.to_path_buf(),
            |(mount, _)| mount.join(name.trim_start_matches('/')),
        )
    }

    fn sample_target(&mut self, t: f64, proc_root: &ProcRoot) {
        let (bytes, metric, limit) = match self.aim {
            Aim::Machine => return,
            Aim::Pid(pid) => match read_process(proc_root, *pid, smaps_opts(), &mut self.buf) {
                Ok(Some(p)) if p.state != 'Z' => match p.pss {
                    Some(pss) => (pss, "pss", None),
                    None => (p.rss.unwrap_or(0), "rss", None),
                },
                _ => return,
            },
            Aim::Name(re) => {
                let mut sum = 0;
                let mut metric = "pss";
                for pid in list_pids(proc_root).unwrap_or_default() {
                    if pid == std::process::id() {
                        continue;
                    }
                    // Match on the cheap files; smaps_rollup of the matches only.
                    let matches =
                        read_process(proc_root, pid, NAME_OPTS, &mut self.buf).is_ok_and(|p| {
                            p.is_some_and(|p| {
                                p.state != 'Z' && (re.is_match(&p.name) || re.is_match(&p.cmdline))
                            })
                        });
                    if !matches {
                        continue;
                    }
                    if let Ok(Some(p)) = read_process(proc_root, pid, smaps_opts(), &mut self.buf) {
                        if p.pss.is_none() {
                            metric = "rss";
                        }
                        sum += p.pss.or(p.rss).unwrap_or(0);
                    }
                }
                (sum, metric, None)
            }
            Aim::Cgroup { name, dir } => {
                match CgroupMemory::read_dir(&self.cgroup_now(name, dir)) {
                    Ok(m) => {
                        let limit = match m.max {
                            Some(MemoryLimit::Bytes(b)) => Some(b as f64),
                            _ => None,
                        };
                        match m.working_set() {
                            Some(ws) => (ws, "working-set", limit),
                            None => (m.current.unwrap_or(0), "current", limit),
                        }
                    }
                    Err(_) => return,
                }
            }
        };
        let aim = self.aim;
        let b = self.target.get_or_insert_with(|| Building {
            label: match aim {
                Aim::Pid(pid) => format!("pid {pid}"),
                Aim::Name(re) => format!("processes matching '{}'", re.as_str()),
                Aim::Cgroup { name, .. } => format!("cgroup {name}"),
                Aim::Machine => String::new(),
            },
            watch: match aim {
                Aim::Pid(pid) => format!("memdx watch {pid}"),
                Aim::Name(re) => format!("memdx watch --name '{}'", re.as_str()),
                Aim::Cgroup { name, .. } => format!("memdx watch --cgroup {name}"),
                Aim::Machine => String::new(),
            },
            metric,
            points: Vec::new(),
            limit,
            is_target: true,
        });
        b.points.push(Point {
            t,
            bytes: bytes as f64,
        });
    }
}

/// Cgroups with no child in the list (a parent's usage includes its children's).
fn leaf_cgroups(list: &[CgroupUsage]) -> Vec<&CgroupUsage> {
    list.iter()
        .filter(|c| {
            c.path != "/"
                && !list.iter().any(|o| {
                    o.path.len() > c.path.len()
                        && o.path.starts_with(&c.path)
                        && o.path[c.path.len()..].starts_with('/')
                })
        })
        .collect()
}

/// The kernel log's OOM kills (and its text), or why it could not be read.
fn kernel_log(root: &ProcRoot, unreadable: &mut Vec<String>) -> (KernelLog, Option<String>) {
    match kmsg::read_kmsg(root) {
        Ok(text) => {
            let lines = kmsg::parse_log(&text);
            let events = oom::parse_events(&lines);
            let oomd_kills = lines
                .iter()
                .filter(|l| l.text.contains("systemd-oomd") && l.text.contains("Killed"))
                .map(|l| (l.time, l.text.clone()))
                .collect();
            (KernelLog::Read { events, oomd_kills }, Some(text))
        }
        Err(e) => {
            let hint = if e.os_error() == Some(1) || e.os_error() == Some(13) {
                " (kernel.dmesg_restrict hides it from non-root users: run as root)"
            } else {
                ""
            };
            let why = format!("kernel log: {e}{hint}: OOM kills not checked");
            unreadable.push(why.clone());
            (KernelLog::Unreadable(why), None)
        }
    }
}

/// Gathers the observation; `tick(elapsed, total)` is called while waiting.
/// Only the first reads (meminfo) fail the command: everything else
/// missing becomes a note.
pub fn observe(
    source: &Source,
    aim: &Aim,
    plan: &Plan,
    mut tick: impl FnMut(f64, f64),
) -> Result<Observation, String> {
    let meminfo_start =
        MemInfo::read(&source.root_for("proc/meminfo")).map_err(|e| e.to_string())?;
    let vmstat_start = VmStat::read(&source.root_for("proc/vmstat")).ok();
    let slab_probe = slab::info::read(&source.root_for("proc/slabinfo"));
    let mut g = Gatherer {
        source,
        aim,
        statm: None,
        by_pid: BTreeMap::new(),
        by_cgroup: BTreeMap::new(),
        target: None,
        slab: Some(Vec::new()),
        unreadable: Vec::new(),
        buf: Vec::with_capacity(4096),
        samples: 0,
    };
    if let Err(e) = slab_probe {
        g.slab = None;
        let why = if e.os_error() == Some(13) || e.os_error() == Some(1) {
            " (root only)"
        } else {
            ""
        };
        g.note(format!(
            "slab caches: {e}{why}: kernel slab growth not checked"
        ));
    }
    let total = plan.duration.as_secs_f64();
    let steps = (plan.duration.as_secs_f64() / plan.interval.as_secs_f64()).floor() as u32;
    let start = Instant::now();
    g.sample(0.0);
    let mut last_t = 0.0;
    for k in 1..=steps {
        // The run is bounded by --duration: when sampling falls behind (a
        // machine with very many processes or cgroups), the sample taken
        // past the end is the last.
        let late = matches!(g.source, Source::Live(_)) && start.elapsed() >= plan.duration;
        let t = plan.interval.as_secs_f64() * f64::from(k);
        match g.source {
            Source::Live(_) => {
                let deadline = start + plan.interval * k;
                loop {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    tick(start.elapsed().as_secs_f64(), total);
                    std::thread::sleep((deadline - now).min(Duration::from_millis(100)));
                }
            }
            Source::Replay { .. } => {}
        }
        g.source.set_step(k);
        let t = match g.source {
            Source::Live(_) => start.elapsed().as_secs_f64(),
            Source::Replay { .. } => t,
        };
        g.sample(t);
        last_t = t;
        if late && k < steps {
            g.note(format!(
                "sampling was slower than --interval: {} of {} samples in {}",
                g.samples,
                steps + 1,
                memdx_units::format_duration(t)
            ));
            break;
        }
    }
    let source = g.source;
    let end_root = |rel: &str| source.root_for(rel);
    let meminfo_end = MemInfo::read(&end_root("proc/meminfo")).map_err(|e| e.to_string())?;
    let vmstat_end = match VmStat::read(&end_root("proc/vmstat")) {
        Ok(v) => Some(v),
        Err(e) => {
            g.note(format!("vmstat: {e}: swap and scan rates not checked"));
            None
        }
    };
    let pressure = match MemoryPressure::read(&end_root("proc/pressure/memory")) {
        Ok(Some(p)) => Some(p),
        Ok(None) => {
            g.note(format!(
                "PSI: {} is absent or disabled (a kernel without CONFIG_PSI, or booted with psi=0): memory stall not checked",
                end_root("proc/pressure/memory").path("proc/pressure/memory").display()
            ));
            None
        }
        Err(e) => {
            g.note(format!("PSI: {e}: memory stall not checked"));
            None
        }
    };
    let processes: Vec<ProcessMemory> = read_all(&source.process_root(), smaps_opts())
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|p| p.pid != std::process::id())
        .collect();
    let cgroups = memory_cgroups(&end_root("sys/fs/cgroup")).unwrap_or_default();
    let uptime_s = Uptime::read(&end_root("proc/uptime"))
        .ok()
        .map(|u| u.up_seconds);
    let mut unreadable = std::mem::take(&mut g.unreadable);
    let (kernel_log, log_text) = kernel_log(&end_root("dev/kmsg"), &mut unreadable);
    // What stands between a growing slab cache and kmemleak here.
    let kmemleak = g
        .slab
        .is_some()
        .then(|| kmemleak_status::diagnose(&source.base(), log_text.as_deref()));
    let target_pids = match aim {
        Aim::Name(re) => processes
            .iter()
            .filter(|p| p.state != 'Z' && (re.is_match(&p.name) || re.is_match(&p.cmdline)))
            .map(|p| p.pid)
            .collect(),
        _ => Vec::new(),
    };
    let recent_span_s = plan.recent.as_secs_f64();
    // A name target's processes are judged together, on their summed PSS.
    let mut series: Vec<Series> = g
        .by_pid
        .into_iter()
        .filter(|(pid, _)| !target_pids.contains(pid))
        .map(|(_, b)| b.finish())
        .collect();
    series.extend(g.by_cgroup.into_values().map(Building::finish));
    if let Some(mut t) = g.target {
        if let Some(p) = processes.iter().find(|p| Some(p.pid) == aim_pid(aim)) {
            let pid = p.pid;
            t.label = format!("pid {pid} ({})", p.name);
        }
        series.push(t.finish());
    }
    Ok(Observation {
        target: aim.target(),
        duration_s: last_t,
        samples: g.samples,
        uptime_s,
        meminfo_start,
        meminfo_end,
        vmstat_start,
        vmstat_end,
        pressure,
        processes,
        target_pids,
        // SAFETY: geteuid has no preconditions and cannot fail.
        as_root: unsafe { libc::geteuid() } == 0,
        cgroups,
        series,
        slab: g.slab.filter(|s| s.len() >= 2),
        kmemleak,
        kernel_log,
        recent_since_s: uptime_s.map(|u| u - recent_span_s),
        recent_span_s,
        unreadable,
        heap: None,
    })
}

fn aim_pid(aim: &Aim) -> Option<u32> {
    match aim {
        Aim::Pid(pid) => Some(*pid),
        _ => None,
    }
}
