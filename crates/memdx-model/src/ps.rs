//! `memdx ps`: per-process rows, filters, sort keys, groups and totals.
//!
//! Sizes are bytes. A size the kernel did not give us (a kernel thread has no
//! RSS; another user's PSS needs privileges) is `None` and sorts last; it is
//! never a 0 that would look like a measurement.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use memdx_proc::process::ProcessMemory;
use serde::Serialize;

/// A column of the table, also a sort key and a JSON field name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// Process id.
    Pid,
    /// Owner.
    User,
    /// Resident set size.
    Rss,
    /// Proportional set size.
    Pss,
    /// Unique set size.
    Uss,
    /// Swapped-out anonymous memory.
    Swap,
    /// Resident shared (file + shmem).
    Shr,
    /// Virtual size.
    Virt,
    /// RSS as a percentage of MemTotal.
    Mem,
    /// Cgroup path.
    Cgroup,
    /// Command line.
    Command,
    /// Number of processes (grouped views).
    Count,
    /// CPU use since the previous sample (top only).
    Cpu,
}

impl Column {
    /// Every column, in table order.
    pub const ALL: [Column; 13] = [
        Column::Pid,
        Column::User,
        Column::Rss,
        Column::Pss,
        Column::Uss,
        Column::Swap,
        Column::Shr,
        Column::Virt,
        Column::Mem,
        Column::Cgroup,
        Column::Command,
        Column::Count,
        Column::Cpu,
    ];

    /// The lower-case name used in `--sort` and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Column::Pid => "pid",
            Column::User => "user",
            Column::Rss => "rss",
            Column::Pss => "pss",
            Column::Uss => "uss",
            Column::Swap => "swap",
            Column::Shr => "shr",
            Column::Virt => "virt",
            Column::Mem => "mem",
            Column::Cgroup => "cgroup",
            Column::Command => "command",
            Column::Count => "count",
            Column::Cpu => "cpu",
        }
    }

    /// Parses a column name (case-insensitive; `%mem`, `vsz` and `comm`
    /// accepted as aliases).
    pub fn parse(name: &str) -> Option<Column> {
        let lower = name.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "%mem" | "pmem" => "mem",
            "%cpu" | "pcpu" => "cpu",
            "res" => "rss",
            "vsz" | "vms" => "virt",
            "comm" | "cmd" | "name" => "command",
            "shared" => "shr",
            other => other,
        };
        Column::ALL.into_iter().find(|c| c.name() == alias)
    }
}

/// One sort key: a column and a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// The column.
    pub column: Column,
    /// Largest first.
    pub descending: bool,
}

/// Parses `-pss,+pid` / `rss` (`-` descending, `+` or nothing ascending).
pub fn parse_sort(spec: &str) -> Result<Vec<SortKey>, String> {
    spec.split(',')
        .filter(|s| !s.is_empty())
        .map(|key| {
            let (descending, name) = match key.as_bytes()[0] {
                b'-' => (true, &key[1..]),
                b'+' => (false, &key[1..]),
                _ => (false, key),
            };
            Column::parse(name)
                .map(|column| SortKey { column, descending })
                .ok_or_else(|| {
                    let names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
                    format!(
                        "unknown sort column {name:?} (one of: {})",
                        names.join(", ")
                    )
                })
        })
        .collect()
}

/// One table row: a process, or a group of processes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PsRow {
    /// Process id (`None` for group and total rows).
    pub pid: Option<u32>,
    /// Parent pid (`None` for group and total rows).
    pub ppid: Option<u32>,
    /// User name (or numeric uid when unknown).
    pub user: String,
    /// Resident set size, bytes.
    pub rss: Option<u64>,
    /// Proportional set size, bytes.
    pub pss: Option<u64>,
    /// Unique set size, bytes.
    pub uss: Option<u64>,
    /// Swap, bytes.
    pub swap: Option<u64>,
    /// Resident shared, bytes.
    pub shr: Option<u64>,
    /// Virtual size, bytes.
    pub virt: Option<u64>,
    /// RSS / MemTotal x 100.
    pub mem: Option<f64>,
    /// Cgroup path.
    pub cgroup: Option<String>,
    /// Command line, or `[name]` when there is none (kernel threads).
    pub command: String,
    /// The program's name: the kernel's comm (`Name:`), as top shows it by
    /// default. Empty for group and total rows.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub program: String,
    /// Processes in this row (1 for a process).
    pub count: u64,
    /// Percent of one CPU used since the previous sample (`memdx top`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
}

impl PsRow {
    /// Builds a row from a process read by `memdx-proc`.
    pub fn from_process(
        p: &ProcessMemory,
        users: &HashMap<u32, String>,
        mem_total: Option<u64>,
    ) -> PsRow {
        let command = if p.cmdline.is_empty() {
            format!("[{}]", p.name)
        } else {
            p.cmdline.clone()
        };
        PsRow {
            pid: Some(p.pid),
            ppid: Some(p.ppid),
            user: users
                .get(&p.uid)
                .cloned()
                .unwrap_or_else(|| p.uid.to_string()),
            rss: p.rss,
            pss: p.pss,
            uss: p.uss,
            swap: p.swap.or(p.swap_status),
            shr: p.shr,
            virt: p.vsz,
            mem: match (p.rss, mem_total) {
                (Some(rss), Some(total)) if total > 0 => Some(rss as f64 * 100.0 / total as f64),
                _ => None,
            },
            cgroup: p.cgroup.clone(),
            command,
            program: p.name.clone(),
            count: 1,
            cpu: None,
        }
    }

    fn compare(&self, other: &PsRow, column: Column) -> Ordering {
        fn opt<T: PartialOrd>(a: &Option<T>, b: &Option<T>) -> Ordering {
            match (a, b) {
                (Some(a), Some(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
                (Some(_), None) => Ordering::Greater,
                (None, Some(_)) => Ordering::Less,
                (None, None) => Ordering::Equal,
            }
        }
        match column {
            Column::Pid => self.pid.cmp(&other.pid),
            Column::User => self.user.cmp(&other.user),
            Column::Rss => opt(&self.rss, &other.rss),
            Column::Pss => opt(&self.pss, &other.pss),
            Column::Uss => opt(&self.uss, &other.uss),
            Column::Swap => opt(&self.swap, &other.swap),
            Column::Shr => opt(&self.shr, &other.shr),
            Column::Virt => opt(&self.virt, &other.virt),
            Column::Mem => opt(&self.mem, &other.mem),
            Column::Cgroup => self.cgroup.cmp(&other.cgroup),
            Column::Command => self.command.cmp(&other.command),
            Column::Count => self.count.cmp(&other.count),
            Column::Cpu => opt(&self.cpu, &other.cpu),
        }
    }
}

/// Sorts rows by the keys in order; ties keep pid order. Missing values sort
/// after present ones whatever the direction.
pub fn sort_rows(rows: &mut [PsRow], keys: &[SortKey]) {
    rows.sort_by(|a, b| {
        for key in keys {
            let present = |r: &PsRow| match key.column {
                Column::Rss => r.rss.is_some(),
                Column::Pss => r.pss.is_some(),
                Column::Uss => r.uss.is_some(),
                Column::Swap => r.swap.is_some(),
                Column::Shr => r.shr.is_some(),
                Column::Virt => r.virt.is_some(),
                Column::Mem => r.mem.is_some(),
                Column::Cpu => r.cpu.is_some(),
                _ => true,
            };
            let ord = match (present(a), present(b)) {
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                _ => {
                    let o = a.compare(b, key.column);
                    if key.descending {
                        o.reverse()
                    } else {
                        o
                    }
                }
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        a.pid.cmp(&b.pid)
    });
}

/// Which rows to keep.
#[derive(Debug, Default)]
pub struct Filter {
    /// Keep only these pids (empty: all).
    pub pids: Vec<u32>,
    /// Keep only these users, by name or numeric uid (empty: all).
    pub users: Vec<String>,
    /// Keep rows whose command matches.
    pub name: Option<regex::Regex>,
    /// Keep rows whose cgroup path contains this text.
    pub cgroup: Option<String>,
}

impl Filter {
    /// Whether `row` passes every criterion given.
    pub fn keep(&self, row: &PsRow) -> bool {
        (self.pids.is_empty() || row.pid.is_some_and(|p| self.pids.contains(&p)))
            && (self.users.is_empty() || self.users.contains(&row.user))
            && self
                .name
                .as_ref()
                .is_none_or(|re| re.is_match(&row.command))
            && self.cgroup.as_ref().is_none_or(|c| {
                row.cgroup
                    .as_deref()
                    .is_some_and(|g| g.contains(c.as_str()))
            })
    }
}

/// What rows are summed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// One row per user.
    User,
    /// One row per command name (the kernel's comm, like smem's views).
    Command,
    /// One row per cgroup.
    Cgroup,
}

fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}

fn add_f(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    }
}

/// Sums `rows` into one row labelled `label` (pid and ppid left empty).
pub fn sum_rows<'a>(rows: impl IntoIterator<Item = &'a PsRow>, label: &str) -> PsRow {
    let mut total = PsRow {
        pid: None,
        ppid: None,
        user: String::new(),
        rss: None,
        pss: None,
        uss: None,
        swap: None,
        shr: None,
        virt: None,
        mem: None,
        cgroup: None,
        command: label.to_string(),
        program: String::new(),
        count: 0,
        cpu: None,
    };
    for r in rows {
        total.rss = add(total.rss, r.rss);
        total.pss = add(total.pss, r.pss);
        total.uss = add(total.uss, r.uss);
        total.swap = add(total.swap, r.swap);
        total.shr = add(total.shr, r.shr);
        total.virt = add(total.virt, r.virt);
        total.mem = add_f(total.mem, r.mem);
        total.cpu = add_f(total.cpu, r.cpu);
        total.count += r.count;
    }
    total
}

/// A readable name for a cgroup path: the container (`docker:3f2a9c1be0d4`,
/// `podman:…`, `containerd:…`, `crio:…`, first 12 hex digits of the id as
/// `docker ps` shows them) or the innermost systemd unit
/// (`user@1000.service`, `session-3.scope`, `backup.service`; `init.scope`
/// inside a unit names that unit); a hexadecimal id under another parent
/// is `parent:id`. Other paths give their last component; the root is `/`.
pub fn cgroup_name(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return "/".into();
    }
    // Containers first: the id is what a user can pass to docker/podman.
    for (i, part) in parts.iter().enumerate().rev() {
        if let Some(name) = container_name(part, parts.get(i.wrapping_sub(1)).copied()) {
            return name;
        }
    }
    let units = |p: &str| p.ends_with(".service") || p.ends_with(".scope");
    let mut rest = &parts[..];
    if rest.len() > 1 && rest[rest.len() - 1] == "init.scope" {
        rest = &rest[..rest.len() - 1];
    }
    match rest.iter().rev().find(|p| units(p)) {
        Some(unit) => (*unit).to_string(),
        None => rest[rest.len() - 1].to_string(),
    }
}

/// `docker-<id>.scope`, `libpod-<id>.scope`, `cri-containerd-<id>.scope`,
/// `crio-<id>.scope`, or an id under a parent: cgroup v1's `docker/<id>`,
/// `kubepods/.../<id>`.
fn container_name(part: &str, parent: Option<&str>) -> Option<String> {
    let short = |id: &str| id.chars().take(12).collect::<String>();
    let is_id = |id: &str| id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let stem = part.strip_suffix(".scope").unwrap_or(part);
    for (prefix, engine) in [
        ("docker-", "docker"),
        ("libpod-", "podman"),
        ("cri-containerd-", "containerd"),
        ("crio-", "crio"),
    ] {
        if let Some(id) = stem.strip_prefix(prefix) {
            if is_id(id) {
                return Some(format!("{engine}:{}", short(id)));
            }
        }
    }
    // An id under a named parent (`docker/<id>`, a sandbox's
    // `process_api/<id>`): the parent names the engine.
    match parent {
        Some(p) if is_id(part) => {
            let engine = if p.starts_with("kubepods") || p.starts_with("pod") {
                "container"
            } else {
                p.strip_suffix(".slice").unwrap_or(p)
            };
            Some(format!("{engine}:{}", short(part)))
        }
        _ => None,
    }
}

/// Sums process rows into one row per group key. `names` maps pid to the
/// kernel's comm for [`GroupBy::Command`].
pub fn group_rows(rows: &[PsRow], by: GroupBy, names: &HashMap<u32, String>) -> Vec<PsRow> {
    let mut groups: BTreeMap<String, Vec<&PsRow>> = BTreeMap::new();
    for r in rows {
        let key = match by {
            GroupBy::User => r.user.clone(),
            GroupBy::Command => r
                .pid
                .and_then(|p| names.get(&p).cloned())
                .unwrap_or_else(|| r.command.clone()),
            GroupBy::Cgroup => r.cgroup.clone().unwrap_or_else(|| "-".into()),
        };
        groups.entry(key).or_default().push(r);
    }
    groups
        .into_iter()
        .map(|(key, members)| {
            let mut row = sum_rows(members.iter().copied(), "");
            match by {
                GroupBy::User => {
                    row.user = key;
                    row.command = String::new();
                }
                GroupBy::Command => row.command = key,
                GroupBy::Cgroup => {
                    row.cgroup = Some(key);
                    row.command = String::new();
                }
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pid: u32, user: &str, pss: Option<u64>, rss: u64) -> PsRow {
        PsRow {
            pid: Some(pid),
            ppid: Some(1),
            user: user.into(),
            rss: Some(rss),
            pss,
            uss: pss.map(|p| p / 2),
            swap: Some(0),
            shr: Some(rss / 4),
            virt: Some(rss * 3),
            mem: Some(rss as f64 / 1000.0),
            cgroup: Some(format!("/user.slice/{user}")),
            command: format!("prog{pid} --flag"),
            program: format!("prog{pid}"),
            count: 1,
            cpu: None,
        }
    }

    #[test]
    fn sort_keys_parse_with_direction_and_aliases() {
        let keys = parse_sort("-pss,+pid,%mem").unwrap();
        assert_eq!(
            keys[0],
            SortKey {
                column: Column::Pss,
                descending: true
            }
        );
        assert_eq!(
            keys[1],
            SortKey {
                column: Column::Pid,
                descending: false
            }
        );
        assert_eq!(keys[2].column, Column::Mem);
        assert!(parse_sort("-bogus").unwrap_err().contains("bogus"));
    }

    #[test]
    fn descending_pss_puts_unknown_last() {
        let mut rows = vec![
            row(1, "a", Some(10), 5),
            row(2, "b", None, 50),
            row(3, "c", Some(30), 5),
        ];
        sort_rows(&mut rows, &parse_sort("-pss").unwrap());
        assert_eq!(
            rows.iter().map(|r| r.pid.unwrap()).collect::<Vec<_>>(),
            vec![3, 1, 2]
        );
        sort_rows(&mut rows, &parse_sort("pss").unwrap());
        assert_eq!(
            rows.iter().map(|r| r.pid.unwrap()).collect::<Vec<_>>(),
            vec![1, 3, 2]
        );
    }

    #[test]
    fn secondary_key_breaks_ties() {
        let mut rows = vec![
            row(5, "b", Some(10), 1),
            row(4, "a", Some(10), 1),
            row(6, "a", Some(10), 2),
        ];
        sort_rows(&mut rows, &parse_sort("user,-rss").unwrap());
        assert_eq!(
            rows.iter().map(|r| r.pid.unwrap()).collect::<Vec<_>>(),
            vec![6, 4, 5]
        );
    }

    #[test]
    fn grouping_by_user_sums_and_counts() {
        let rows = vec![
            row(1, "a", Some(10), 100),
            row(2, "a", None, 50),
            row(3, "b", Some(30), 5),
        ];
        let groups = group_rows(&rows, GroupBy::User, &HashMap::new());
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].user, "a");
        assert_eq!(groups[0].count, 2);
        assert_eq!(groups[0].rss, Some(150));
        assert_eq!(groups[0].pss, Some(10));
    }

    #[test]
    fn filters_combine() {
        let rows = [row(1, "a", Some(10), 100), row(2, "b", None, 50)];
        let f = Filter {
            users: vec!["b".into()],
            name: Some(regex::Regex::new("prog2").unwrap()),
            ..Default::default()
        };
        assert_eq!(rows.iter().filter(|r| f.keep(r)).count(), 1);
        let f = Filter {
            cgroup: Some("user.slice/a".into()),
            ..Default::default()
        };
        assert!(f.keep(&rows[0]) && !f.keep(&rows[1]));
    }

    #[test]
    fn cgroup_names_are_containers_or_units() {
        let id = "3f2a9c1be0d47e5a8c6f0e4d2b1a7c9e8f6d5b4a3c2e1f0a9b8c7d6e5f4a3b2c";
        let cases = [
            (
                format!("/system.slice/docker-{id}.scope"),
                "docker:3f2a9c1be0d4",
            ),
            (format!("/docker/{id}"), "docker:3f2a9c1be0d4"),
            (
                format!("/machine.slice/libpod-{id}.scope"),
                "podman:3f2a9c1be0d4",
            ),
            (
                format!("/kubepods.slice/kubepods-burstable.slice/cri-containerd-{id}.scope"),
                "containerd:3f2a9c1be0d4",
            ),
            (
                format!("/kubepods/burstable/pod1234/{id}"),
                "container:3f2a9c1be0d4",
            ),
            (
                "/user.slice/user-1000.slice/user@1000.service/init.scope".into(),
                "user@1000.service",
            ),
            (
                "/user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox.scope".into(),
                "app-firefox.scope",
            ),
            (
                "/user.slice/user-1000.slice/session-3.scope".into(),
                "session-3.scope",
            ),
            ("/system.slice/backup.service".into(), "backup.service"),
            ("/init.scope".into(), "init.scope"),
            ("/user.slice".into(), "user.slice"),
            ("/".into(), "/"),
            (
                "/process_api/f4e55f83e43031b4894c8651e0fbec66".into(),
                "process_api:f4e55f83e430",
            ),
            ("/docker-notanid.scope".into(), "docker-notanid.scope"),
        ];
        for (path, want) in cases {
            assert_eq!(cgroup_name(&path), want, "{path}");
        }
    }
}
