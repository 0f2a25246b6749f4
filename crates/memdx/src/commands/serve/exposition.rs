//! One scrape: what /proc and the cgroup tree say now, as Prometheus /
//! OpenMetrics text. Names follow node_exporter where the meaning is the
//! same and process-exporter for per-process memory; memdx's own figures
//! (cgroups) are `memdx_*`.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

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

use super::trend::{TrendGauge, VERDICTS};

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
    /// Cgroups that processes are charged to, by path.
    pub cgroups: Vec<(String, CgroupMemory)>,
    /// The watched targets' trends (`--watch*`).
    pub trends: Vec<TrendGauge>,
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
        "cgroup memory: memory.current (v1 usage_in_bytes), working set (current - inactive_file), anon, file, swap",
        cg_memory,
    );
    reg.register(
        "memdx_cgroup_memory_max_bytes",
        "cgroup memory.max (v1 limit_in_bytes; cgroups with a limit only)",
        cg_max,
    );
    register_trends(&mut reg, &s.trends);
    reg
}

type FloatFamily = Family<GroupLabels, Gauge<f64, AtomicU64>>;

/// memdx's trend gauges of the watched targets (`--watch*`). Every series
/// has the labels `kind` (pid, name, cgroup), `target` (the PID, the regex,
/// the cgroup path) and `metric` (the judged figure); a figure that does not
/// apply now (no rate yet, not growing) has no series.
fn register_trends(reg: &mut Registry, trends: &[TrendGauge]) {
    if trends.is_empty() {
        return;
    }
    let labels = |g: &TrendGauge| -> GroupLabels {
        vec![
            ("kind".into(), g.kind.into()),
            ("target".into(), g.target.clone()),
            ("metric".into(), g.metric.into()),
        ]
    };
    let family = || FloatFamily::default();
    let (bytes, samples, verdict) = (family(), family(), family());
    let (slope, lower, upper) = (family(), family(), family());
    let (remaining, ttl, earliest, latest) = (family(), family(), family(), family());
    for g in trends {
        let l = labels(g);
        let set = |f: &FloatFamily, v: Option<f64>| {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                f.get_or_create(&l).set(v);
            }
        };
        set(&bytes, g.bytes);
        set(&samples, Some(g.samples as f64));
        set(&slope, g.rate.map(|r| r.slope));
        set(&lower, g.rate.map(|r| r.lower));
        set(&upper, g.rate.map(|r| r.upper));
        set(&remaining, g.remaining_bytes);
        set(&ttl, g.time_to_limit.map(|t| t.estimate_s));
        set(&earliest, g.time_to_limit.map(|t| t.earliest_s));
        set(&latest, g.time_to_limit.and_then(|t| t.latest_s));
        for name in VERDICTS {
            let mut l = l.clone();
            l.push(("verdict".into(), name.into()));
            verdict
                .get_or_create(&l)
                .set(if name == g.verdict { 1.0 } else { 0.0 });
        }
    }
    let families: [(&str, &str, FloatFamily); 10] = [
        (
            "memdx_trend_memory_bytes",
            "the judged figure at the last sample",
            bytes,
        ),
        (
            "memdx_trend_samples",
            "samples in the window the trend is judged on (after the warm-up)",
            samples,
        ),
        (
            "memdx_trend_verdict",
            "1 for the current verdict (memdx watch's analysis), 0 for the others",
            verdict,
        ),
        (
            "memdx_trend_slope_bytes_per_second",
            "Theil-Sen slope of the judged figure (a sawtooth: of its troughs)",
            slope,
        ),
        (
            "memdx_trend_slope_lower_bytes_per_second",
            "lower end of the slope's 95% confidence interval",
            lower,
        ),
        (
            "memdx_trend_slope_upper_bytes_per_second",
            "upper end of the slope's 95% confidence interval",
            upper,
        ),
        (
            "memdx_trend_limit_remaining_bytes",
            "room left before the limit: the cgroup's memory.max, else MemAvailable",
            remaining,
        ),
        (
            "memdx_trend_time_to_limit_seconds",
            "time until the limit is reached at the slope (growing only)",
            ttl,
        ),
        (
            "memdx_trend_time_to_limit_earliest_seconds",
            "time to the limit at the upper end of the slope's interval",
            earliest,
        ),
        (
            "memdx_trend_time_to_limit_latest_seconds",
            "time to the limit at the lower end of the slope's interval (absent: maybe never)",
            latest,
        ),
    ];
    for (name, help, f) in families {
        reg.register(name, help, f);
    }
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
            trends: Vec::new(),
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

    #[test]
    fn cgroup_v1_memory_from_the_fixture_tree() {
        let root = memdx_proc::ProcRoot::new(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/fixtures/cgroup/v1-hybrid"),
        );
        let snap = Snapshot {
            cgroups: ["/system.slice/web.service", "/user.slice"]
                .into_iter()
                .map(|p| (p.to_string(), CgroupMemory::read(&root, p).unwrap()))
                .collect(),
            ..Snapshot::default()
        };
        let (text, _) = encode(&registry(&snap), false);
        let web = r#"cgroup="/system.slice/web.service""#;
        for line in [
            format!(r#"memdx_cgroup_memory_bytes{{{web},memtype="current"}} 322961408"#),
            format!(r#"memdx_cgroup_memory_bytes{{{web},memtype="working_set"}} 249561088"#),
            format!(r#"memdx_cgroup_memory_bytes{{{web},memtype="anon"}} 209715200"#),
            format!(r#"memdx_cgroup_memory_bytes{{{web},memtype="file"}} 104857600"#),
            format!(r#"memdx_cgroup_memory_bytes{{{web},memtype="swap"}} 1048576"#),
            format!(r#"memdx_cgroup_memory_max_bytes{{{web}}} 536870912"#),
            r#"memdx_cgroup_memory_bytes{cgroup="/user.slice",memtype="working_set"} 0"#
                .to_string(),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // limit_in_bytes 9223372036854771712 is v1's "no limit": no max series.
        assert!(
            !text.contains(r#"memdx_cgroup_memory_max_bytes{cgroup="/user.slice"}"#),
            "{text}"
        );
        // No swap accounting in user.slice: no swap series.
        assert!(
            !text.contains(r#"cgroup="/user.slice",memtype="swap""#),
            "{text}"
        );
    }

    #[test]
    fn trend_gauges_carry_the_verdict_the_interval_and_the_time_to_limit() {
        let rate = memdx_trend::SlopeEstimate {
            slope: 1048576.0,
            lower: 900000.0,
            upper: 1200000.0,
            confidence: 0.95,
            intercept: 0.0,
        };
        let growing = TrendGauge {
            kind: "pid",
            target: "42".into(),
            metric: "pss",
            samples: 30,
            bytes: Some(5e7),
            verdict: "growing",
            rate: Some(rate),
            remaining_bytes: Some(3600.0 * 1048576.0),
            time_to_limit: memdx_trend::time_to_limit(&rate, 0.0, 3600.0 * 1048576.0),
        };
        let stable = TrendGauge {
            kind: "cgroup",
            target: "/system.slice/web.service".into(),
            metric: "working_set",
            verdict: "stable",
            time_to_limit: None,
            ..growing.clone()
        };
        let snap = Snapshot {
            trends: vec![growing, stable],
            ..Snapshot::default()
        };
        let (text, _) = encode(&registry(&snap), false);
        let pid = r#"kind="pid",target="42",metric="pss""#;
        let cg = r#"kind="cgroup",target="/system.slice/web.service",metric="working_set""#;
        for line in [
            format!("memdx_trend_slope_bytes_per_second{{{pid}}} 1048576.0"),
            format!("memdx_trend_slope_lower_bytes_per_second{{{pid}}} 900000.0"),
            format!("memdx_trend_slope_upper_bytes_per_second{{{pid}}} 1200000.0"),
            format!("memdx_trend_time_to_limit_seconds{{{pid}}} 3600.0"),
            format!("memdx_trend_time_to_limit_earliest_seconds{{{pid}}} 3145.728"),
            format!("memdx_trend_time_to_limit_latest_seconds{{{pid}}} 4194.304"),
            format!("memdx_trend_verdict{{{pid},verdict=\"growing\"}} 1.0"),
            format!("memdx_trend_verdict{{{pid},verdict=\"stable\"}} 0.0"),
            format!("memdx_trend_verdict{{{cg},verdict=\"stable\"}} 1.0"),
            format!("memdx_trend_verdict{{{cg},verdict=\"growing\"}} 0.0"),
            format!("memdx_trend_samples{{{cg}}} 30.0"),
            "# TYPE memdx_trend_time_to_limit_seconds gauge".to_string(),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // Not growing: no time to the limit for the cgroup.
        assert!(
            !text.contains(&format!("memdx_trend_time_to_limit_seconds{{{cg}}}")),
            "{text}"
        );
        // Six verdict series per target.
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("memdx_trend_verdict{"))
                .count(),
            12
        );
    }

    #[test]
    fn no_watched_targets_no_trend_metrics() {
        let (text, _) = encode(&registry(&snapshot()), false);
        assert!(!text.contains("memdx_trend_"), "{text}");
    }
}
