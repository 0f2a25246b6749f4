//! The diagnosis behind `memdx doctor`.
//!
//! The CLI gathers an [`Observation`] of the machine over a short window
//! (meminfo and vmstat at both ends, PSI, every process with PSS/USS, every
//! memory cgroup, RSS series, slab samples, OOM kills from the kernel log);
//! [`diagnose`] turns it into [`Finding`]s ordered by severity, each with its
//! evidence and the memdx command to run next. No I/O here: tests build
//! observations by hand.
//!
//! The questions, in order:
//! - pressure ([`pressure`]): MemAvailable's share of MemTotal, PSI memory
//!   stall, swap-in/out and direct-reclaim scan rates over the window, OOM
//!   and systemd-oomd kills since a stated time;
//! - who ([`who`]): the processes owning most by PSS (with USS: shared pages
//!   are not blamed on one process), the largest leaf cgroups, memory by kind
//!   (anonymous, reclaimable file cache, shmem/tmpfs, unreclaimable slab,
//!   page tables);
//! - growth ([`growth`]): processes and cgroups growing during the window by
//!   memdx-trend's classifier (rate, its interval, time to the limit),
//!   unreclaimable slab caches growing (with what blocks kmemleak on this
//!   kernel, or `memdx kmemleak scan` when nothing does);
//! - where ([`heap`], `--deep`): a heap capture of the target names its
//!   growing allocation sites and tells live memory (a leak) from memory
//!   the allocator holds (fragmentation, caching);
//! - what is fine: when nothing is wrong, one line saying so.
//!
//! The thresholds are named constants in [`thresholds`].

pub mod finding;
pub mod growth;
mod heap;
pub mod observation;
mod pressure;
pub mod thresholds;
mod who;

#[cfg(test)]
mod tests;

pub use finding::{Area, Diagnosis, Figure, Finding, Severity};
pub use observation::{HeapCapture, HeapSite, KernelLog, Observation, Series, Target};

use memdx_trend::{classify, Verdict};
use memdx_units::{format_bytes, format_duration};

/// Findings of one observation, worst first.
pub fn diagnose(o: &Observation) -> Diagnosis {
    let mut findings = Vec::new();
    findings.extend(pressure::mem_available(o));
    findings.extend(pressure::stall(o));
    findings.extend(pressure::paging(o));
    findings.extend(pressure::kills(o));
    findings.extend(growth::series(o));
    findings.extend(growth::slab(o));
    findings.extend(heap::findings(o));
    let kinds = who::kinds(o);
    let (breakdown, kind_warnings): (Vec<Finding>, Vec<Finding>) = kinds
        .into_iter()
        .partition(|f| f.severity == Severity::Info);
    findings.extend(kind_warnings);
    let troubled = findings.iter().any(|f| f.severity >= Severity::Warning);
    findings.extend(who::target(o));
    if troubled {
        // Who owns the memory matters once something is wrong; a healthy
        // machine gets one line.
        findings.extend(who::top_processes(o));
        findings.extend(who::top_cgroups(o));
        findings.extend(breakdown);
    } else {
        findings.push(fine(o));
    }
    for why in &o.unreadable {
        findings.push(Finding::new(
            Severity::Info,
            Area::Access,
            "access.unreadable",
            why.clone(),
        ));
    }
    findings.sort_by_key(|f| (std::cmp::Reverse(f.severity), f.area));
    Diagnosis { findings }
}

/// What is fine about the machine's processes: the largest is stable, and
/// which ones release memory periodically (a sawtooth, not a leak).
fn machine_fine(o: &Observation) -> Vec<String> {
    let mut parts = Vec::new();
    let params = growth::params();
    let largest = o
        .processes
        .iter()
        .filter(|p| p.pss.is_some())
        .max_by_key(|p| p.pss);
    if let Some(p) = largest {
        let label = format!("pid {} ", p.pid);
        let stable = o
            .series
            .iter()
            .find(|s| s.label.starts_with(&label))
            .is_some_and(|s| {
                matches!(classify(&s.points, &params).verdict, Verdict::Stable { .. })
            });
        if stable {
            parts.push(format!(
                "the largest process, {} (pid {}, PSS {}), is stable",
                p.name,
                p.pid,
                format_bytes(p.pss.unwrap_or(0) as f64)
            ));
        }
    }
    for s in &o.series {
        if parts.len() >= 3 {
            break;
        }
        if let Verdict::Sawtooth { .. } = classify(&s.points, &params).verdict {
            parts.push(format!(
                "{} {} is a sawtooth (released periodically)",
                s.label, s.metric
            ));
        }
    }
    parts
}

/// The one line of a healthy machine (or target).
fn fine(o: &Observation) -> Finding {
    let mut parts = Vec::new();
    let m = &o.meminfo_end;
    let kib = |k: &str| m.get(k).map(|v| v as f64 * 1024.0);
    if let (Some(total), Some(avail)) = (kib("MemTotal"), kib("MemAvailable")) {
        if total > 0.0 {
            parts.push(format!(
                "{} of {} available ({:.0}%)",
                format_bytes(avail),
                format_bytes(total),
                100.0 * avail / total
            ));
        }
    }
    let cache =
        kib("Cached").unwrap_or(0.0) + kib("Buffers").unwrap_or(0.0) - kib("Shmem").unwrap_or(0.0);
    if cache > 0.0 {
        parts.push(format!(
            "{} of file cache is reclaimable",
            format_bytes(cache)
        ));
    }
    if o.pressure.is_some() {
        parts.push("no memory stall".to_string());
    }
    if o.vmstat_start.is_some() && o.duration_s > 0.0 {
        parts.push("no swapping".to_string());
    }
    if let KernelLog::Read { .. } = o.kernel_log {
        parts.push(format!(
            "no OOM kill in the last {}",
            format_duration(o.recent_span_s)
        ));
    }
    if let Some(t) = o.series.iter().find(|s| s.is_target) {
        let a = classify(&t.points, &growth::params());
        let verdict = match a.verdict {
            Verdict::Stable { .. } => "stable".to_string(),
            Verdict::Sawtooth { .. } => "a sawtooth (released periodically)".to_string(),
            Verdict::Shrinking { .. } => "shrinking".to_string(),
            Verdict::Step { .. } => "one step, flat since".to_string(),
            Verdict::TooFewSamples { have, need } => {
                format!("not judged ({have} of {need} samples)")
            }
            Verdict::Growing { .. } => "growing".to_string(),
        };
        parts.push(format!(
            "{} {} is {verdict} over {}",
            t.label,
            t.metric,
            format_duration(o.duration_s)
        ));
    } else if o.duration_s > 0.0 && !o.series.is_empty() {
        parts.push(format!(
            "nothing grew over {}",
            format_duration(o.duration_s)
        ));
        parts.extend(machine_fine(o));
    }
    Finding::new(
        Severity::Ok,
        Area::Fine,
        "fine",
        format!("memory is fine: {}", parts.join(", ")),
    )
}
