//! OOM-killer reports in kernel log text: one event per kill, with the
//! allocation that triggered it, the constraint and cgroups, the victim's
//! memory at the kill, and the task table the kernel printed.
//!
//! Layouts covered: 4.x (`Out of memory: Kill process N (comm) score S or
//! sacrifice child` then `Killed process ...`), 4.19+ (`oom-kill:constraint=...`
//! summary line, `Out of memory: Killed process ...`), memory-cgroup OOMs
//! (`Memory cgroup out of memory: Killed process ...`, `memory: usage ...kB,
//! limit ...kB, failcnt N`), and task tables with or without the
//! `rss_anon rss_file rss_shmem` columns (6.9+): columns are read from the
//! header line, not assumed.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::kmsg::LogLine;

pub mod render;

/// The allocation that ran out of memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Trigger {
    /// Task that invoked the OOM killer.
    pub comm: String,
    /// `gfp_mask=0x...(FLAGS)` as printed.
    pub gfp_mask: Option<String>,
    /// Allocation order.
    pub order: Option<u32>,
    /// The invoker's oom_score_adj.
    pub oom_score_adj: Option<i32>,
}

/// The killed task, with its memory at the kill in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Victim {
    /// Pid.
    pub pid: i64,
    /// Command name.
    pub comm: String,
    /// Uid, when printed (4.19+).
    pub uid: Option<u32>,
    /// `total-vm`, bytes.
    pub total_vm: Option<u64>,
    /// `anon-rss`, bytes.
    pub anon_rss: Option<u64>,
    /// `file-rss`, bytes.
    pub file_rss: Option<u64>,
    /// `shmem-rss`, bytes.
    pub shmem_rss: Option<u64>,
    /// `pgtables`, bytes.
    pub pgtables: Option<u64>,
    /// oom_score_adj, when printed.
    pub oom_score_adj: Option<i32>,
}

/// A memory cgroup's usage line (`memory: usage 524288kB, limit 524288kB, failcnt 52`), bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MemcgUsage {
    /// Usage, bytes.
    pub usage: u64,
    /// Limit, bytes; `None` when unlimited (the kernel prints its
    /// `PAGE_COUNTER_MAX`, 9007199254740988kB on 64-bit; cgroup v2 says `max`).
    pub limit: Option<u64>,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Limits from 2^52 kB up are the kernel's "no limit" (`PAGE_COUNTER_MAX`
/// pages, which is just under 2^53 kB with any page size on 64-bit).
const UNLIMITED_KB: u64 = 1 << 52;

/// One row of the task table (memory values in pages, as the kernel prints them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TaskRow {
    /// Pid.
    pub pid: i64,
    /// Command name.
    pub name: String,
    /// Every numeric column by its header name (`uid`, `tgid`, `total_vm`,
    /// `rss`, `rss_anon`, `pgtables_bytes`, `swapents`, `oom_score_adj`, ...).
    pub columns: BTreeMap<String, i64>,
}

/// One OOM kill.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OomEvent {
    /// Seconds since boot when the OOM killer was invoked (or the kill, if
    /// the start was not in the log).
    pub time: Option<f64>,
    /// The same moment in seconds since the epoch, when the log gave a
    /// wall-clock time (see [`crate::kmsg::place_in_time`]).
    pub wall_time: Option<f64>,
    /// The allocation that failed.
    pub trigger: Option<Trigger>,
    /// `CONSTRAINT_NONE`, `CONSTRAINT_MEMCG`, `CONSTRAINT_CPUSET`, `CONSTRAINT_MEMORY_POLICY`.
    pub constraint: Option<String>,
    /// Whether the whole machine ran out (`global_oom`) rather than a cgroup.
    pub global: Option<bool>,
    /// The cgroup whose limit was hit (`oom_memcg=`), for cgroup OOMs.
    pub oom_memcg: Option<String>,
    /// The victim's cgroup (`task_memcg=`).
    pub task_memcg: Option<String>,
    /// The cpuset.
    pub cpuset: Option<String>,
    /// Usage lines of the memory cgroup (memory, swap, kmem).
    pub memcg: BTreeMap<String, MemcgUsage>,
    /// The killed task.
    pub victim: Option<Victim>,
    /// Whether the oom_reaper reported reaping the victim.
    pub reaped: bool,
    /// The task table, as printed.
    pub tasks: Vec<TaskRow>,
    /// 1-based line where the event starts in its input.
    #[serde(skip)]
    pub line: usize,
}

fn kb_field(text: &str, key: &str) -> Option<u64> {
    let start = text.find(key)? + key.len();
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse::<u64>().ok().map(|v| v * 1024)
}

fn int_field<T: std::str::FromStr>(text: &str, key: &str) -> Option<T> {
    let start = text.find(key)? + key.len();
    let digits: String = text[start..]
        .chars()
        .enumerate()
        .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '-'))
        .map(|(_, c)| c)
        .collect();
    digits.parse().ok()
}

/// `Killed process 1234 (stress) total-vm:...` (anywhere in the line).
fn parse_killed(text: &str) -> Option<Victim> {
    let at = text.find("Killed process ")? + "Killed process ".len();
    let rest = &text[at..];
    let (pid, rest) = rest.split_once(" (")?;
    let close = rest.rfind(')')?;
    let comm = rest[..close].to_string();
    let tail = &rest[close + 1..];
    Some(Victim {
        pid: pid.trim().parse().ok()?,
        comm,
        uid: int_field(tail, "UID:"),
        total_vm: kb_field(tail, "total-vm:"),
        anon_rss: kb_field(tail, "anon-rss:"),
        file_rss: kb_field(tail, "file-rss:"),
        shmem_rss: kb_field(tail, "shmem-rss:"),
        pgtables: kb_field(tail, "pgtables:"),
        oom_score_adj: int_field(tail, "oom_score_adj:"),
    })
}

/// `stress invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0`
fn parse_invoked(text: &str) -> Option<Trigger> {
    let at = text.find(" invoked oom-killer:")?;
    let comm = text[..at].trim().to_string();
    let rest = &text[at..];
    let gfp_mask = rest.find("gfp_mask=").map(|i| {
        let s = &rest[i + "gfp_mask=".len()..];
        let end = s
            .find("),")
            .map(|e| e + 1)
            .or_else(|| s.find(','))
            .unwrap_or(s.len());
        s[..end].to_string()
    });
    Some(Trigger {
        comm,
        gfp_mask,
        order: int_field(rest, "order="),
        oom_score_adj: int_field(rest, "oom_score_adj="),
    })
}

/// `oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a/b,task=x,pid=1,uid=0`
fn apply_summary(text: &str, ev: &mut OomEvent) {
    let Some(at) = text.find("oom-kill:") else {
        return;
    };
    for part in text[at + "oom-kill:".len()..].split(',') {
        match part.split_once('=') {
            Some(("constraint", v)) => ev.constraint = Some(v.to_string()),
            Some(("cpuset", v)) => ev.cpuset = Some(v.to_string()),
            Some(("oom_memcg", v)) => {
                ev.oom_memcg = Some(v.to_string());
                ev.global = Some(false);
            }
            Some(("task_memcg", v)) => ev.task_memcg = Some(v.to_string()),
            None if part == "global_oom" => ev.global = Some(true),
            _ => {}
        }
    }
    // Kernels without memory cgroups print neither `global_oom` nor
    // `oom_memcg=`; CONSTRAINT_NONE is then a machine-wide OOM all the same.
    if ev.global.is_none() && ev.constraint.as_deref() == Some("CONSTRAINT_NONE") {
        ev.global = Some(true);
    }
}

/// `memory: usage 524288kB, limit 524288kB, failcnt 52` (also `swap:`, `kmem:`, `memory+swap:`).
fn parse_memcg_usage(text: &str) -> Option<(String, MemcgUsage)> {
    let (kind, rest) = text.trim().split_once(": usage ")?;
    if kind.contains(' ') {
        return None;
    }
    Some((
        kind.to_string(),
        MemcgUsage {
            usage: kb_field(rest, "")?,
            limit: {
                let bytes = kb_field(rest, "limit ")?;
                (bytes / 1024 < UNLIMITED_KB).then_some(bytes)
            },
            failcnt: int_field(rest, "failcnt ")?,
        },
    ))
}

/// Header of the task table: the column names after `[  pid  ]`.
fn parse_task_header(text: &str) -> Option<Vec<String>> {
    let t = text.trim();
    let rest = t.strip_prefix('[')?;
    let (inside, cols) = rest.split_once(']')?;
    if inside.trim() != "pid" {
        return None;
    }
    let cols: Vec<String> = cols.split_whitespace().map(str::to_string).collect();
    (cols.last().map(String::as_str) == Some("name")).then_some(cols)
}

fn parse_task_row(text: &str, header: &[String]) -> Option<TaskRow> {
    let rest = text.trim().strip_prefix('[')?;
    let (pid, cols) = rest.split_once(']')?;
    let pid: i64 = pid.trim().parse().ok()?;
    let numeric = header.len() - 1;
    let mut tokens = cols.split_whitespace();
    let mut columns = BTreeMap::new();
    for name in &header[..numeric] {
        columns.insert(name.clone(), tokens.next()?.parse().ok()?);
    }
    let name = tokens.collect::<Vec<_>>().join(" ");
    Some(TaskRow { pid, name, columns })
}

/// Splits kernel log lines into OOM events.
pub fn parse_events(lines: &[LogLine]) -> Vec<OomEvent> {
    let mut events: Vec<OomEvent> = Vec::new();
    let mut open: Option<OomEvent> = None;
    let mut header: Option<Vec<String>> = None;
    for l in lines {
        let text = l.text.as_str();
        if let Some(trigger) = parse_invoked(text) {
            if let Some(done) = open.take() {
                events.push(done);
            }
            header = None;
            open = Some(OomEvent {
                time: l.time,
                wall_time: l.wall,
                trigger: Some(trigger),
                line: l.line,
                ..OomEvent::default()
            });
            continue;
        }
        if text.contains("oom-kill:constraint=") {
            apply_summary(
                text,
                open.get_or_insert_with(|| OomEvent {
                    time: l.time,
                    wall_time: l.wall,
                    line: l.line,
                    ..OomEvent::default()
                }),
            );
            continue;
        }
        if text.starts_with("oom_reaper: reaped process ") {
            let pid: Option<i64> = int_field(text, "reaped process ");
            if let Some(ev) = events
                .iter_mut()
                .rev()
                .find(|e| e.victim.as_ref().map(|v| v.pid) == pid)
            {
                ev.reaped = true;
            }
            continue;
        }
        if let Some(victim) = parse_killed(text) {
            let mut ev = open.take().unwrap_or_else(|| OomEvent {
                time: l.time,
                wall_time: l.wall,
                line: l.line,
                ..OomEvent::default()
            });
            ev.victim = Some(victim);
            events.push(ev);
            header = None;
            continue;
        }
        let Some(ev) = open.as_mut() else { continue };
        if let Some(cols) = parse_task_header(text) {
            header = Some(cols);
        } else if let Some(row) = header.as_ref().and_then(|h| parse_task_row(text, h)) {
            ev.tasks.push(row);
        } else if let Some((kind, usage)) = parse_memcg_usage(text) {
            ev.memcg.insert(kind, usage);
        }
    }
    if let Some(done) = open.take() {
        events.push(done);
    }
    events
}

/// Keeps events at or after `since_time` (seconds since boot); events
/// without a timestamp are kept.
pub fn since(events: Vec<OomEvent>, since_time: f64) -> Vec<OomEvent> {
    events
        .into_iter()
        .filter(|e| e.time.is_none_or(|t| t >= since_time))
        .collect()
}

/// Keeps events at or after `since_wall` (seconds since the epoch); events
/// without a wall-clock time are kept.
pub fn since_wall(events: Vec<OomEvent>, since_wall: f64) -> Vec<OomEvent> {
    events
        .into_iter()
        .filter(|e| e.wall_time.is_none_or(|t| t >= since_wall))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmsg::parse_log;

    #[test]
    fn killed_line_of_6_x_with_uid_and_pgtables() {
        let v = parse_killed("Out of memory: Killed process 4242 (stress-ng-vm) total-vm:2101600kB, anon-rss:1998848kB, file-rss:128kB, shmem-rss:0kB, UID:1000 pgtables:4012kB oom_score_adj:0").unwrap();
        assert_eq!(v.pid, 4242);
        assert_eq!(v.comm, "stress-ng-vm");
        assert_eq!(v.uid, Some(1000));
        assert_eq!(v.anon_rss, Some(1_998_848 * 1024));
        assert_eq!(v.pgtables, Some(4012 * 1024));
        assert_eq!(v.oom_score_adj, Some(0));
    }

    #[test]
    fn task_rows_follow_their_header() {
        let h = parse_task_header("[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj name").unwrap();
        let r = parse_task_row("[    812]  1000   812   525400   499712   499700       12        0  4030464        0          -500 my app", &h).unwrap();
        assert_eq!(r.pid, 812);
        assert_eq!(r.name, "my app");
        assert_eq!(r.columns["rss_anon"], 499_700);
        assert_eq!(r.columns["oom_score_adj"], -500);
    }

    #[test]
    fn dmesg_t_wall_clock_stamps_keep_the_comm_clean() {
        let text = "[Mon Nov 25 08:00:00 2026] python3 invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0\n\
[Mon Nov 25 08:00:00 2026] [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name\n\
[Mon Nov 25 08:00:00 2026] [    812]  1000   812   525400   499712  4030464        0             0 python3\n\
[Mon Nov 25 08:00:00 2026] Out of memory: Killed process 812 (python3) total-vm:2101600kB, anon-rss:1998848kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:3936kB oom_score_adj:0\n";
        let ev = parse_events(&parse_log(text));
        assert_eq!(ev.len(), 1);
        assert_eq!(
            ev[0].trigger.as_ref().map(|t| t.comm.as_str()),
            Some("python3")
        );
        assert_eq!(ev[0].tasks.len(), 1);
        assert_eq!(ev[0].time, None);
    }

    #[test]
    fn a_kill_without_its_start_is_still_an_event() {
        let lines = parse_log("[  99.5] Out of memory: Killed process 7 (x) total-vm:10kB, anon-rss:8kB, file-rss:0kB, shmem-rss:0kB\n[  99.6] oom_reaper: reaped process 7 (x), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB\n");
        let ev = parse_events(&lines);
        assert_eq!(ev.len(), 1);
        assert!(ev[0].reaped);
        assert_eq!(ev[0].time, Some(99.5));
        assert!(ev[0].trigger.is_none());
    }
}
