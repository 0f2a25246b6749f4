//! One scrape: what /proc and the cgroup tree say now, as Prometheus /
//! OpenMetrics text. Names follow node_exporter where the meaning is the
//! same and process-exporter for per-process memory; memdx's own figures
//! (cgroups) are `memdx_*`.

use std::collections::BTreeMap;

use memdx_proc::cgroup::CgroupMemory;
use memdx_proc::pressure::MemoryPressure;
use memdx_proc::process::ProcessMemory;
use memdx_proc::{MemInfo, VmStat};
use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// What one scrape read.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// `/proc/meminfo`.
    pub meminfo: Option<MemInfo>,
    /// `/proc/vmstat`.
    pub vmstat: Option<VmStat>,
    /// `/proc/pressure/memory`.
    pub pressure: Option<MemoryPressure>,
    /// Every process (PSS where readable).
    pub processes: Vec<ProcessMemory>,
    /// Cgroups (v2) that processes are charged to, by path.
    pub cgroups: Vec<(String, CgroupMemory)>,
}

/// node_exporter's `untyped` (OpenMetrics `unknown`): /proc/vmstat fields
/// are exported with this type under their own names (a counter type would
/// add `_total` to the names).
#[derive(Debug)]
struct Untyped(i64);

impl EncodeMetric for Untyped {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.0)
    }
    fn metric_type(&self) -> MetricType {
        MetricType::Unknown
    }
}

/// /proc/vmstat fields node_exporter exports by default
/// (`^(oom_kill|pgpg|pswp|pg.*fault).*`).
fn exported_vmstat_field(name: &str) -> bool {
    name.starts_with("oom_kill")
        || name.starts_with("pgpg")
        || name.starts_with("pswp")
        || (name.starts_with("pg") && name.contains("fault"))
}

/// node_exporter's name for a meminfo key: `Active(anon)` → `Active_anon`.
fn meminfo_name(key: &str) -> String {
    key.replace('(', "_").replace(')', "")
}

/// process-exporter's memory types of a process.
fn process_memtypes(p: &ProcessMemory) -> [(&'static str, Option<u64>); 5] {
    [
        ("resident", p.rss),
        ("proportionalResident", p.pss),
        ("swapped", p.swap.or(p.swap_status)),
        ("proportionalSwapped", p.swap_pss),
        ("virtual", p.vsz),
    ]
}

type GroupLabels = Vec<(String, String)>;

/// Builds the registry of one scrape.
pub fn registry(s: &Snapshot) -> Registry {
    let mut reg = Registry::default();
    if let Some(m) = &s.meminfo {
        for (key, value) in m.entries() {
            let name = meminfo_name(key);
            if key.starts_with("HugePages_") {
                reg.register(
                    format!("node_memory_{name}"),
                    format!("Memory information field {name}"),
                    ConstGauge::new(value as i64),
                );
            } else {
                reg.register(
                    format!("node_memory_{name}_bytes"),
                    format!("Memory information field {name}_bytes"),
                    ConstGauge::new(value.saturating_mul(1024) as i64),
                );
            }
        }
    }
    if let Some(v) = &s.vmstat {
        for (key, value) in v.entries().filter(|(k, _)| exported_vmstat_field(k)) {
            reg.register(
                format!("node_vmstat_{key}"),
                format!("/proc/vmstat information field {key}"),
                Untyped(value as i64),
            );
        }
    }
    if let Some(p) = &s.pressure {
        reg.register(
            "node_pressure_memory_waiting_seconds",
            "Total time in seconds that processes have waited for memory",
            ConstCounter::new(p.some.total_us as f64 / 1e6),
        );
        if let Some(full) = &p.full {
            reg.register(
                "node_pressure_memory_stalled_seconds",
                "Total time in seconds no process could make progress due to memory congestion",
                ConstCounter::new(full.total_us as f64 / 1e6),
            );
        }
    }

    // Per process name (comm), summed, as process-exporter's default
    // grouping by {{.Comm}} does. A figure some process of the group lacks
    // (PSS without privileges) is left out for that group.
    let mut groups: BTreeMap<&str, (u64, [Option<u64>; 5])> = BTreeMap::new();
    for p in &s.processes {
        if p.rss.is_none() {
            continue; // kernel threads, zombies
        }
        let entry = groups.entry(p.name.as_str()).or_insert((0, [Some(0); 5]));
        entry.0 += 1;
        for (slot, (_, v)) in entry.1.iter_mut().zip(process_memtypes(p)) {
            *slot = slot.zip(v).map(|(a, b)| a + b);
        }
    }
    let memory = Family::<GroupLabels, Gauge>::default();
    let procs = Family::<GroupLabels, Gauge>::default();
    for (name, (count, figures)) in &groups {
        procs
            .get_or_create(&vec![("groupname".into(), name.to_string())])
            .set(*count as i64);
        for ((memtype, _), value) in process_memtypes(&ProcessMemory::default())
            .iter()
            .zip(figures)
        {
            if let Some(v) = value {
                memory
                    .get_or_create(&vec![
                        ("groupname".into(), name.to_string()),
                        ("memtype".into(), memtype.to_string()),
                    ])
                    .set(*v as i64);
            }
        }
    }
    reg.register(
        "namedprocess_namegroup_memory_bytes",
        "number of bytes of memory in use",
        memory,
    );
    reg.register(
        "namedprocess_namegroup_num_procs",
        "number of processes in this group",
        procs,
    );

    let cg_memory = Family::<GroupLabels, Gauge>::default();
    let cg_max = Family::<GroupLabels, Gauge>::default();
    for (path, cg) in &s.cgroups {
        let stat = cg.stat.as_ref();
        for (memtype, value) in [
            ("current", cg.current),
            ("working_set", cg.working_set()),
            ("anon", stat.and_then(|s| s.anon())),
            ("file", stat.and_then(|s| s.file())),
            ("swap", cg.swap_current),
        ] {
            if let Some(v) = value {
                cg_memory
                    .get_or_create(&vec![
                        ("cgroup".into(), path.clone()),
                        ("memtype".into(), memtype.into()),
                    ])
                    .set(v as i64);
            }
        }
        if let Some(limit) = cg.limit() {
            cg_max
                .get_or_create(&vec![("cgroup".into(), path.clone())])
                .set(limit as i64);
        }
    }
    reg.register(
        "memdx_cgroup_memory_bytes",
        "cgroup v2 memory: memory.current, working set (current - inactive_file), anon, file, swap",
        cg_memory,
    );
    reg.register(
        "memdx_cgroup_memory_max_bytes",
        "cgroup v2 memory.max (cgroups with a limit only)",
        cg_max,
    );
    reg
}

/// The registry as text: OpenMetrics 1.0 (`openmetrics`) or the Prometheus
/// text format 0.0.4. Returns the text and its Content-Type.
pub fn encode(reg: &Registry, openmetrics: bool) -> (String, &'static str) {
    let mut out = String::new();
    if openmetrics {
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, reg);
        (
            out,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
    } else {
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, reg);
        (
            out,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        let proc_ = |pid, name: &str, rss, pss| ProcessMemory {
            pid,
            name: name.into(),
            rss: Some(rss),
            pss,
            swap: Some(0),
            swap_pss: Some(0),
            vsz: Some(rss * 4),
            ..Default::default()
        };
        Snapshot {
            meminfo: Some(MemInfo::from_entries([
                ("MemTotal", 1000u64),
                ("MemAvailable", 600),
                ("Active(anon)", 5),
                ("HugePages_Total", 3),
                ("Hugepagesize", 2048),
            ])),
            vmstat: Some(VmStat::from_entries([
                ("nr_free_pages", 1u64),
                ("pswpin", 7),
                ("pgmajfault", 9),
                ("oom_kill", 1),
            ])),
            pressure: MemoryPressure::parse(
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1000000\n",
            )
            .ok(),
            processes: vec![
                proc_(1, "nginx", 4096, Some(2048)),
                proc_(2, "nginx", 4096, Some(1024)),
                proc_(3, "sshd", 8192, None),
            ],
            cgroups: Vec::new(),
        }
    }

    #[test]
    fn node_exporter_names_and_units() {
        let (text, ctype) = encode(&registry(&snapshot()), false);
        assert!(ctype.starts_with("text/plain; version=0.0.4"));
        for line in [
            "node_memory_MemAvailable_bytes 614400",
            "node_memory_Active_anon_bytes 5120",
            "node_memory_HugePages_Total 3",
            "node_memory_Hugepagesize_bytes 2097152",
            "# TYPE node_vmstat_pswpin untyped",
            "node_vmstat_pswpin 7",
            "node_vmstat_pgmajfault 9",
            "node_vmstat_oom_kill 1",
            "node_pressure_memory_waiting_seconds_total 2.5",
            "node_pressure_memory_stalled_seconds_total 1.0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(!text.contains("nr_free_pages"), "{text}");
    }

    #[test]
    fn process_groups_by_name_summed_like_process_exporter() {
        let (text, _) = encode(&registry(&snapshot()), true);
        for line in [
            r#"namedprocess_namegroup_memory_bytes{groupname="nginx",memtype="resident"} 8192"#,
            r#"namedprocess_namegroup_memory_bytes{groupname="nginx",memtype="proportionalResident"} 3072"#,
            r#"namedprocess_namegroup_memory_bytes{groupname="sshd",memtype="resident"} 8192"#,
            r#"namedprocess_namegroup_num_procs{groupname="nginx"} 2"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // sshd's PSS was unreadable: no proportionalResident series for it.
        assert!(
            !text.contains(r#"groupname="sshd",memtype="proportionalResident""#),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn cgroup_memory_from_the_fixture_tree() {
        let root = memdx_proc::ProcRoot::new(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/fixtures/cgroup/v2-unified"),
        );
        let snap = Snapshot {
            cgroups: ["/system.slice/web.service", "/user.slice"]
                .into_iter()
                .map(|p| (p.to_string(), CgroupMemory::read(&root, p).unwrap()))
                .collect(),
            ..Snapshot::default()
        };
        let (text, _) = encode(&registry(&snap), false);
        for line in [
            r#"memdx_cgroup_memory_bytes{cgroup="/system.slice/web.service",memtype="current"} 322961408"#,
            r#"memdx_cgroup_memory_bytes{cgroup="/system.slice/web.service",memtype="working_set"} 249561088"#,
            r#"memdx_cgroup_memory_bytes{cgroup="/system.slice/web.service",memtype="swap"} 1048576"#,
            r#"memdx_cgroup_memory_max_bytes{cgroup="/system.slice/web.service"} 536870912"#,
            r#"memdx_cgroup_memory_bytes{cgroup="/user.slice",memtype="working_set"} 0"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // user.slice has no limit ("max"): no max series for it.
        assert!(
            !text.contains(r#"memdx_cgroup_memory_max_bytes{cgroup="/user.slice"}"#),
            "{text}"
        );
    }
}
