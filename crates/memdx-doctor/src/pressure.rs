//! Is the machine short of memory? MemAvailable, PSI, swapping and page
//! scanning over the window, OOM kills in the kernel log.

use memdx_units::{format_bytes, format_duration};

use crate::finding::{Area, Finding, Severity};
use crate::observation::{KernelLog, Observation};
use crate::thresholds::*;

/// kB figure of meminfo, in bytes.
pub(crate) fn meminfo_bytes(m: &memdx_proc::MemInfo, key: &str) -> Option<f64> {
    m.get(key).map(|kb| kb as f64 * 1024.0)
}

/// MemAvailable as a share of MemTotal at the end of the window.
pub(crate) fn mem_available(o: &Observation) -> Option<Finding> {
    let total = meminfo_bytes(&o.meminfo_end, "MemTotal")?;
    let avail = meminfo_bytes(&o.meminfo_end, "MemAvailable")?;
    if total <= 0.0 {
        return None;
    }
    let pct = 100.0 * avail / total;
    let severity = if pct < MEM_AVAILABLE_CRITICAL_PCT {
        Severity::Critical
    } else if pct < MEM_AVAILABLE_WARNING_PCT {
        Severity::Warning
    } else {
        return None;
    };
    Some(
        Finding::new(
            severity,
            Area::Pressure,
            "pressure.mem_available",
            format!(
                "low available memory: {} of {} ({pct:.1}%)",
                format_bytes(avail),
                format_bytes(total)
            ),
        )
        .evidence(format!(
            "MemAvailable {} is {pct:.1}% of MemTotal {} (warning below {MEM_AVAILABLE_WARNING_PCT}%, critical below {MEM_AVAILABLE_CRITICAL_PCT}%)",
            format_bytes(avail),
            format_bytes(total)
        ))
        .figure("mem_available_bytes", avail)
        .figure("mem_total_bytes", total)
        .figure("mem_available_pct", pct)
        .next("memdx ps --sort=-pss".to_string()),
    )
}

/// PSI memory stall (avg10).
pub(crate) fn stall(o: &Observation) -> Option<Finding> {
    let p = o.pressure.as_ref()?;
    let some = p.some.avg10;
    let full = p.full.map(|f| f.avg10);
    let full_v = full.unwrap_or(0.0);
    let severity = if full_v >= PSI_FULL_CRITICAL_PCT {
        Severity::Critical
    } else if full_v >= PSI_FULL_WARNING_PCT || some >= PSI_SOME_WARNING_PCT {
        Severity::Warning
    } else {
        return None;
    };
    let full_text = full.map_or("no full line".to_string(), |f| format!("full {f:.2}%"));
    let mut f = Finding::new(
        severity,
        Area::Pressure,
        "pressure.psi",
        format!("tasks stall waiting for memory: some {some:.2}%, {full_text} of the last 10 s"),
    )
    .evidence(format!(
        "PSI memory avg10: some {some:.2}%, {full_text} (warning: some ≥ {PSI_SOME_WARNING_PCT}% or full ≥ {PSI_FULL_WARNING_PCT}%; critical: full ≥ {PSI_FULL_CRITICAL_PCT}%)"
    ))
    .figure("psi_some_avg10_pct", some)
    .next("memdx vmstat 1 10".to_string());
    if let Some(full) = full {
        f = f.figure("psi_full_avg10_pct", full);
    }
    Some(f)
}

/// Per-second rate of a vmstat counter over the window.
fn rate(o: &Observation, keys: &[&str]) -> Option<f64> {
    let (a, b) = (o.vmstat_start.as_ref()?, o.vmstat_end.as_ref()?);
    if o.duration_s <= 0.0 {
        return None;
    }
    let mut seen = false;
    let mut delta = 0.0;
    for key in keys {
        if let (Some(x), Some(y)) = (a.get(key), b.get(key)) {
            seen = true;
            delta += y.saturating_sub(x) as f64;
        }
    }
    seen.then_some(delta / o.duration_s)
}

/// Swapping and direct reclaim over the window.
pub(crate) fn paging(o: &Observation) -> Vec<Finding> {
    let mut out = Vec::new();
    let window = format_duration(o.duration_s);
    if let (Some(sin), Some(sout)) = (rate(o, &["pswpin"]), rate(o, &["pswpout"])) {
        let severity = if sin >= SWAP_IN_CRITICAL_PAGES_PER_S {
            Some(Severity::Critical)
        } else if sin + sout >= SWAP_WARNING_PAGES_PER_S {
            Some(Severity::Warning)
        } else {
            None
        };
        if let Some(severity) = severity {
            out.push(
                Finding::new(
                    severity,
                    Area::Pressure,
                    "pressure.swap",
                    format!("swapping: {sin:.0} pages/s in, {sout:.0} pages/s out over {window}"),
                )
                .evidence(format!(
                    "/proc/vmstat pswpin +{:.0}/s, pswpout +{:.0}/s (warning: in+out ≥ {SWAP_WARNING_PAGES_PER_S}/s; critical: in ≥ {SWAP_IN_CRITICAL_PAGES_PER_S}/s)",
                    sin, sout
                ))
                .figure("swap_in_pages_per_s", sin)
                .figure("swap_out_pages_per_s", sout)
                .next("memdx vmstat 1 10".to_string()),
            );
        }
    }
    if let Some(direct) = rate(o, &["pgscan_direct"]) {
        if direct >= DIRECT_SCAN_WARNING_PAGES_PER_S {
            let kswapd = rate(o, &["pgscan_kswapd"]).unwrap_or(0.0);
            out.push(
                Finding::new(
                    Severity::Warning,
                    Area::Pressure,
                    "pressure.direct_reclaim",
                    format!("direct reclaim: allocating tasks scan {direct:.0} pages/s themselves over {window}"),
                )
                .evidence(format!(
                    "/proc/vmstat pgscan_direct +{direct:.0}/s, pgscan_kswapd +{kswapd:.0}/s (warning: direct ≥ {DIRECT_SCAN_WARNING_PAGES_PER_S}/s)"
                ))
                .figure("pgscan_direct_per_s", direct)
                .figure("pgscan_kswapd_per_s", kswapd)
                .next("memdx vmstat 1 10".to_string()),
            );
        }
    }
    out
}

/// OOM-killer and systemd-oomd kills in the recent part of the kernel log.
pub(crate) fn kills(o: &Observation) -> Vec<Finding> {
    let KernelLog::Read { events, oomd_kills } = &o.kernel_log else {
        return Vec::new();
    };
    let recent = |t: Option<f64>| match (t, o.recent_since_s) {
        (Some(t), Some(since)) => t >= since,
        _ => true,
    };
    let span = format_duration(o.recent_span_s);
    let severity_for = |latest: Option<f64>| match (latest, o.uptime_s) {
        (Some(t), Some(now)) if now - t <= OOM_CRITICAL_AGE_S => Severity::Critical,
        _ => Severity::Warning,
    };
    let mut out = Vec::new();
    let kills: Vec<_> = events.iter().filter(|e| recent(e.time)).collect();
    if let Some(last) = kills.last() {
        let latest = last.time;
        let mut f = Finding::new(
            severity_for(latest),
            Area::Pressure,
            "pressure.oom_kills",
            format!(
                "{} OOM kill{} in the kernel log in the last {span}",
                kills.len(),
                if kills.len() == 1 { "" } else { "s" }
            ),
        )
        .figure("oom_kills", kills.len() as f64);
        for e in kills.iter().rev().take(3) {
            let who = e
                .victim
                .as_ref()
                .map_or("an unnamed task".to_string(), |v| {
                    let rss = v.anon_rss.unwrap_or(0)
                        + v.file_rss.unwrap_or(0)
                        + v.shmem_rss.unwrap_or(0);
                    format!(
                        "{} (pid {}, rss {})",
                        v.comm,
                        v.pid,
                        format_bytes(rss as f64)
                    )
                });
            let when = match (e.time, o.uptime_s) {
                (Some(t), Some(now)) => format!("{} ago", format_duration((now - t).max(0.0))),
                (Some(t), None) => format!("at {t:.0} s after boot"),
                _ => "at an unknown time".to_string(),
            };
            let scope = match (&e.global, &e.oom_memcg) {
                (Some(false), Some(cg)) => format!(", cgroup limit of {cg}"),
                _ => String::new(),
            };
            f = f.evidence(format!("killed {who} {when}{scope}"));
        }
        if let (Some(t), Some(now)) = (latest, o.uptime_s) {
            f = f.figure("latest_kill_age_s", (now - t).max(0.0));
        }
        out.push(f.next(format!("memdx oom --since {}", since_arg(o.recent_span_s))));
    }
    let oomd: Vec<_> = oomd_kills.iter().filter(|(t, _)| recent(*t)).collect();
    if let Some(last) = oomd.last() {
        let mut f = Finding::new(
            severity_for(last.0),
            Area::Pressure,
            "pressure.oomd_kills",
            format!(
                "{} systemd-oomd kill{} in the log in the last {span}",
                oomd.len(),
                if oomd.len() == 1 { "" } else { "s" }
            ),
        )
        .figure("oomd_kills", oomd.len() as f64);
        for (_, line) in oomd.iter().rev().take(3) {
            f = f.evidence(line.clone());
        }
        out.push(f.next("journalctl -u systemd-oomd".to_string()));
    }
    out
}

/// A duration for `--since`: whole hours or minutes when exact.
fn since_arg(secs: f64) -> String {
    let s = secs.round() as u64;
    if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}
