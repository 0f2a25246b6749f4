//! Who owns the memory, and what kind it is. Processes are ranked by PSS
//! (shared pages divided among their users), so a process mapping a large
//! shared region is not blamed for all of it; USS is what it alone frees.

use memdx_proc::process::ProcessMemory;
use memdx_units::format_bytes;

use crate::finding::{Area, Finding, Severity};
use crate::observation::{Observation, Target};
use crate::pressure::meminfo_bytes;
use crate::thresholds::*;

/// A process's own share: PSS, else RSS (PSS unreadable).
fn share(p: &ProcessMemory) -> u64 {
    p.pss.or(p.rss).unwrap_or(0)
}

/// One line naming a process and its figures.
pub(crate) fn describe(p: &ProcessMemory) -> String {
    let f = |v: Option<u64>| v.map_or("?".to_string(), |b| format_bytes(b as f64));
    match p.pss {
        Some(_) => format!(
            "{} (pid {}): PSS {}, USS {}, RSS {}",
            p.name,
            p.pid,
            f(p.pss),
            f(p.uss),
            f(p.rss)
        ),
        None => format!(
            "{} (pid {}): RSS {} (PSS/USS unreadable)",
            p.name,
            p.pid,
            f(p.rss)
        ),
    }
}

/// The processes that own the most memory, by PSS.
pub(crate) fn top_processes(o: &Observation) -> Option<Finding> {
    let mut procs: Vec<&ProcessMemory> = o
        .processes
        .iter()
        .filter(|p| p.rss.is_some_and(|r| r > 0))
        .collect();
    if procs.is_empty() {
        return None;
    }
    procs.sort_by_key(|p| std::cmp::Reverse(share(p)));
    let total_pss: u64 = procs.iter().filter_map(|p| p.pss).sum();
    let top = procs[0];
    let mut f = Finding::new(
        Severity::Info,
        Area::Who,
        "who.processes",
        format!(
            "largest process: {} (pid {}) with {} {}",
            top.name,
            top.pid,
            if top.pss.is_some() { "PSS" } else { "RSS" },
            format_bytes(share(top) as f64)
        ),
    )
    .figure("processes_pss_total_bytes", total_pss as f64);
    for p in procs.iter().take(TOP_OWNERS) {
        f = f.evidence(describe(p));
    }
    let denied = o.processes.iter().filter(|p| p.smaps_denied).count();
    if denied > 0 {
        let whose = if denied == 1 {
            "1 process's smaps_rollup was"
        } else {
            "processes' smaps_rollup were"
        };
        let why = if o.as_root {
            " even to root (a process in another user namespace, or not dumpable)"
        } else {
            " (another user's: run as root to rank them by PSS)"
        };
        let count = if denied == 1 {
            String::new()
        } else {
            format!("{denied} ")
        };
        f = f.evidence(format!("{count}{whose} unreadable{why}: ranked by RSS"));
    }
    Some(f.next("memdx ps --sort=-pss".to_string()))
}

/// The leaf cgroups charged the most.
pub(crate) fn top_cgroups(o: &Observation) -> Option<Finding> {
    let is_leaf = |path: &str| {
        !o.cgroups.iter().any(|c| {
            c.path.len() > path.len()
                && c.path.starts_with(path)
                && c.path[path.len()..].starts_with('/')
        })
    };
    let mut leaves: Vec<_> = o
        .cgroups
        .iter()
        .filter(|c| c.path != "/" && is_leaf(&c.path))
        .collect();
    if leaves.is_empty() {
        return None;
    }
    leaves.sort_by_key(|c| std::cmp::Reverse(c.current));
    let top = leaves[0];
    let mut f = Finding::new(
        Severity::Info,
        Area::Who,
        "who.cgroups",
        format!(
            "largest cgroup: {} with {}",
            top.path,
            format_bytes(top.current as f64)
        ),
    );
    for c in leaves.iter().take(TOP_OWNERS) {
        let limit = c.max.map_or(String::new(), |m| {
            format!(" of memory.max {}", format_bytes(m as f64))
        });
        let swap = c.swap.filter(|s| *s > 0).map_or(String::new(), |s| {
            format!(", swap {}", format_bytes(s as f64))
        });
        f = f.evidence(format!(
            "{}: {}{limit}{swap}",
            c.path,
            format_bytes(c.current as f64)
        ));
    }
    Some(f.next(format!("memdx watch --cgroup {} --duration 10m", top.path)))
}

/// Memory by kind, from meminfo at the end: `(label, bytes, warning share)`.
pub(crate) fn kinds(o: &Observation) -> Vec<Finding> {
    let m = &o.meminfo_end;
    let Some(total) = meminfo_bytes(m, "MemTotal").filter(|t| *t > 0.0) else {
        return Vec::new();
    };
    let get = |k: &str| meminfo_bytes(m, k).unwrap_or(0.0);
    let shmem = get("Shmem");
    let anon = get("AnonPages");
    let file = (get("Cached") - shmem).max(0.0) + get("Buffers");
    let sunreclaim = get("SUnreclaim");
    let page_tables = get("PageTables");
    let pct = |b: f64| 100.0 * b / total;
    let mut out = Vec::new();
    let mut breakdown = Finding::new(
        Severity::Info,
        Area::Who,
        "who.kinds",
        format!(
            "memory by kind: anonymous {}, file cache {} (reclaimable), shmem/tmpfs {}, unreclaimable slab {}, page tables {}",
            format_bytes(anon),
            format_bytes(file),
            format_bytes(shmem),
            format_bytes(sunreclaim),
            format_bytes(page_tables)
        ),
    );
    for (name, bytes) in [
        ("anon_bytes", anon),
        ("file_cache_bytes", file),
        ("shmem_bytes", shmem),
        ("slab_unreclaimable_bytes", sunreclaim),
        ("page_tables_bytes", page_tables),
    ] {
        breakdown = breakdown.figure(name, bytes);
    }
    breakdown = breakdown.evidence(format!(
        "of MemTotal {}: anonymous {:.1}%, file cache {:.1}%, shmem {:.1}%, SUnreclaim {:.1}%, PageTables {:.1}%",
        format_bytes(total),
        pct(anon),
        pct(file),
        pct(shmem),
        pct(sunreclaim),
        pct(page_tables)
    ));
    out.push(breakdown);
    let rules: [(&'static str, &str, f64, f64, &str); 3] = [
        (
            "who.shmem",
            "shared memory (tmpfs, shm) holds",
            shmem,
            SHMEM_WARNING_PCT,
            "df -t tmpfs",
        ),
        (
            "who.slab_unreclaimable",
            "the kernel's unreclaimable slab holds",
            sunreclaim,
            SUNRECLAIM_WARNING_PCT,
            "memdx slab",
        ),
        (
            "who.page_tables",
            "page tables hold",
            page_tables,
            PAGE_TABLES_WARNING_PCT,
            "memdx ps --sort=-rss",
        ),
    ];
    for (id, what, bytes, limit, next) in rules {
        if pct(bytes) > limit {
            out.push(
                Finding::new(
                    Severity::Warning,
                    Area::Who,
                    id,
                    format!(
                        "{what} {} ({:.1}% of memory)",
                        format_bytes(bytes),
                        pct(bytes)
                    ),
                )
                .evidence(format!(
                    "warning above {limit}% of MemTotal {}",
                    format_bytes(total)
                ))
                .figure("bytes", bytes)
                .figure("pct_of_total", pct(bytes))
                .next(next.to_string()),
            );
        }
    }
    out
}

/// The target's own figures: a process, the processes matching a name
/// (summed), or a cgroup.
pub(crate) fn target(o: &Observation) -> Option<Finding> {
    match &o.target {
        Target::Machine => None,
        Target::Pid(pid) => o
            .processes
            .iter()
            .find(|p| p.pid == *pid)
            .map(process_target),
        Target::Name(re) => Some(name_target(o, re)),
        Target::Cgroup(path) => o.cgroups.iter().find(|c| c.path == *path).map(|c| {
            let mut f = Finding::new(
                Severity::Info,
                Area::Who,
                "who.target",
                format!("cgroup {}: {}", c.path, format_bytes(c.current as f64)),
            )
            .figure("current_bytes", c.current as f64);
            if let Some(max) = c.max {
                f = f
                    .evidence(format!(
                        "memory.current {} of memory.max {} ({:.1}%)",
                        format_bytes(c.current as f64),
                        format_bytes(max as f64),
                        100.0 * c.current as f64 / max.max(1) as f64
                    ))
                    .figure("max_bytes", max as f64);
            }
            if let Some(swap) = c.swap.filter(|s| *s > 0) {
                f = f
                    .evidence(format!("swap {}", format_bytes(swap as f64)))
                    .figure("swap_bytes", swap as f64);
            }
            f.next(format!("memdx watch --cgroup {} --duration 10m", c.path))
        }),
    }
}

/// The processes matching `--name`, summed, the largest named.
fn name_target(o: &Observation, re: &str) -> Finding {
    let mut procs: Vec<&ProcessMemory> = o
        .processes
        .iter()
        .filter(|p| o.target_pids.contains(&p.pid))
        .collect();
    procs.sort_by_key(|p| std::cmp::Reverse(share(p)));
    let sum = |get: fn(&ProcessMemory) -> Option<u64>| -> Option<u64> {
        procs.iter().map(|p| get(p)).sum()
    };
    let (pss, uss, rss) = (sum(|p| p.pss), sum(|p| p.uss), sum(|p| p.rss));
    let f_bytes = |v: Option<u64>| v.map_or("?".to_string(), |b| format_bytes(b as f64));
    let mut f = Finding::new(
        Severity::Info,
        Area::Who,
        "who.target",
        format!(
            "{} process{} matching '{re}': PSS {}, USS {}, RSS {}",
            procs.len(),
            if procs.len() == 1 { "" } else { "es" },
            f_bytes(pss),
            f_bytes(uss),
            f_bytes(rss)
        ),
    )
    .figure("processes", procs.len() as f64);
    for (name, v) in [("pss_bytes", pss), ("uss_bytes", uss), ("rss_bytes", rss)] {
        if let Some(v) = v {
            f = f.figure(name, v as f64);
        }
    }
    for p in procs.iter().take(TOP_OWNERS) {
        f = f.evidence(describe(p));
    }
    if procs.len() > TOP_OWNERS {
        f = f.evidence(format!("and {} more", procs.len() - TOP_OWNERS));
    }
    f.next(format!("memdx watch --name '{re}' --duration 10m"))
}

/// One process's figures, and how much of its RSS it shares.
fn process_target(p: &ProcessMemory) -> Finding {
    let shared = match (p.rss, p.uss) {
        (Some(rss), Some(uss)) => rss.saturating_sub(uss),
        _ => 0,
    };
    let mut f = Finding::new(Severity::Info, Area::Who, "who.target", describe(p));
    if let Some(pss) = p.pss {
        f = f.figure("pss_bytes", pss as f64);
    }
    if let Some(uss) = p.uss {
        f = f.figure("uss_bytes", uss as f64);
    }
    if let Some(rss) = p.rss {
        f = f.figure("rss_bytes", rss as f64);
    }
    if shared > 0 {
        f = f.evidence(format!(
            "{} of its RSS is shared with other processes: only its PSS share counts as its own",
            format_bytes(shared as f64)
        ));
    }
    f.next(format!("memdx watch {} --duration 10m", p.pid))
}
