//! Text and JSON output for OOM events.

use std::io::{self, Write};

use memdx_units::datetime::{format_in_zone, Zone};

use crate::oom::OomEvent;

fn mib(b: Option<u64>) -> String {
    b.map_or("-".into(), |v| format!("{:.1}M", v as f64 / 1_048_576.0))
}

/// When an event happened: the wall-clock time in `zone` and the time
/// since boot, whichever the log gave.
fn when(e: &OomEvent, zone: &dyn Zone) -> String {
    match (e.wall_time, e.time) {
        (Some(w), Some(t)) => format!("{} ({t:.6}s after boot)", format_in_zone(w, zone)),
        (Some(w), None) => format_in_zone(w, zone),
        (None, Some(t)) => format!("{t:.6}s after boot"),
        (None, None) => "unknown time".into(),
    }
}

/// Writes events as text, times in `zone`; `tasks` limits the task table
/// rows (by rss, 0 = all).
pub fn write_text(
    out: &mut dyn Write,
    events: &[OomEvent],
    tasks: usize,
    zone: &dyn Zone,
) -> io::Result<()> {
    if events.is_empty() {
        writeln!(out, "No OOM kills found.")?;
        return Ok(());
    }
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let when = when(e, zone);
        match &e.victim {
            Some(v) => writeln!(
                out,
                "OOM kill at {when}: killed pid {} ({}){}",
                v.pid,
                v.comm,
                v.uid.map(|u| format!(", uid {u}")).unwrap_or_default()
            )?,
            None => writeln!(out, "OOM at {when}: no kill recorded")?,
        }
        if let Some(t) = &e.trigger {
            let mut detail = Vec::new();
            if let Some(g) = &t.gfp_mask {
                detail.push(format!("gfp_mask={g}"));
            }
            if let Some(o) = t.order {
                detail.push(format!("order={o}"));
            }
            writeln!(
                out,
                "  trigger: {} invoked oom-killer ({})",
                t.comm,
                detail.join(", ")
            )?;
        }
        let mut scope = e
            .constraint
            .clone()
            .unwrap_or_else(|| "constraint not printed".into());
        match (e.global, &e.oom_memcg) {
            (Some(true), _) => scope.push_str(" (global)"),
            (_, Some(m)) => scope.push_str(&format!(" (cgroup {m} hit its limit)")),
            _ => {}
        }
        if let Some(m) = &e.task_memcg {
            scope.push_str(&format!("; victim cgroup {m}"));
        }
        writeln!(out, "  constraint: {scope}")?;
        if let Some(v) = &e.victim {
            writeln!(
                out,
                "  victim RSS at kill: anon {}, file {}, shmem {}; total-vm {}; pgtables {}{}",
                mib(v.anon_rss),
                mib(v.file_rss),
                mib(v.shmem_rss),
                mib(v.total_vm),
                mib(v.pgtables),
                if e.reaped { "; reaped" } else { "" }
            )?;
        }
        for (kind, u) in &e.memcg {
            writeln!(
                out,
                "  memcg {kind}: usage {} of limit {}, failcnt {}",
                mib(Some(u.usage)),
                u.limit.map_or("max".to_string(), |l| mib(Some(l))),
                u.failcnt
            )?;
        }
        if !e.tasks.is_empty() {
            let mut rows: Vec<_> = e.tasks.iter().collect();
            rows.sort_by_key(|r| std::cmp::Reverse(r.columns.get("rss").copied().unwrap_or(0)));
            let shown = if tasks == 0 {
                rows.len()
            } else {
                tasks.min(rows.len())
            };
            writeln!(
                out,
                "  tasks (top {shown} of {} by rss, pages):",
                rows.len()
            )?;
            writeln!(
                out,
                "    {:>8} {:>6} {:>10} {:>10} {:>6}  name",
                "pid", "uid", "total_vm", "rss", "adj"
            )?;
            for r in &rows[..shown] {
                let c = |k: &str| r.columns.get(k).map_or("-".into(), |v| v.to_string());
                writeln!(
                    out,
                    "    {:>8} {:>6} {:>10} {:>10} {:>6}  {}",
                    r.pid,
                    c("uid"),
                    c("total_vm"),
                    c("rss"),
                    c("oom_score_adj"),
                    r.name
                )?;
            }
        }
    }
    Ok(())
}

/// Writes `{"events": [...]}` as JSON.
pub fn write_json(out: &mut dyn Write, events: &[OomEvent]) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &serde_json::json!({ "events": events }))?;
    writeln!(out)
}
