//! The report model and its text and JSON renderers on a recording made of
//! known series: a leaking process, a steady one, a cgroup growing towards
//! its limit.

#![allow(clippy::unwrap_used)]

use memdx_proc::{MemInfo, VmStat};
use memdx_record::report::{self, json, text, ReportOptions};
use memdx_record::{CgroupSample, ProcessSample, Sample, Store, TimeRange};

const MIB: u64 = 1024 * 1024;

fn process(pid: u32, name: &str, rss: u64) -> ProcessSample {
    ProcessSample {
        pid,
        name: name.into(),
        cmdline: format!("./{name}"),
        cgroup: Some("/app".into()),
        rss: Some(rss),
        ..Default::default()
    }
}

fn recording(name: &str) -> (Store, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("memdx-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut store = Store::open(&dir.join("r.db")).unwrap();
    for i in 0..30u64 {
        let available_kib = 4_000_000 - i * 1024;
        store
            .insert(&Sample {
                time: 1_800_000_000.0 + i as f64 * 10.0,
                meminfo: MemInfo::from_entries([
                    ("MemTotal", 8_000_000),
                    ("MemFree", 2_000_000),
                    ("MemAvailable", available_kib),
                    ("SwapTotal", 0),
                    ("SwapFree", 0),
                ]),
                vmstat: VmStat::from_entries([("pgfault", i)]),
                pressure: None,
                processes: vec![
                    process(10, "leaker", (100 + 2 * i) * MIB),
                    process(11, "steady", 50 * MIB + (i % 2) * 4096),
                ],
                cgroups: vec![CgroupSample {
                    path: "/app".into(),
                    current: (200 + 2 * i) * MIB,
                    swap: None,
                    max: Some(1024 * MIB),
                }],
            })
            .unwrap();
    }
    (store, dir)
}

#[test]
fn the_leak_and_the_cgroup_are_suspects_and_the_steady_process_is_not() {
    let (store, dir) = recording("suspects");
    let opts = ReportOptions {
        top: 10,
        ..Default::default()
    };
    let r = report::build(&store, &opts).unwrap();
    assert_eq!(r.samples, 30);
    let used = r.memory.used.unwrap();
    assert_eq!(used.min, (8_000_000 - 4_000_000) * 1024);
    assert_eq!(used.max, (8_000_000 - 4_000_000 + 29 * 1024) * 1024);
    assert!(r.memory.swap_used.is_none(), "no swap configured");
    let labels: Vec<String> = r.suspects.iter().map(|g| g.subject.label()).collect();
    assert_eq!(
        labels,
        ["leaker (10)", "/app"],
        "fastest first (equal rates keep order)"
    );
    let leak_rate = r.suspects[0].analysis.rate().unwrap().slope;
    assert!(
        (leak_rate - 2.0 * MIB as f64 / 10.0).abs() < 1.0,
        "{leak_rate}"
    );
    // /app reaches 1 GiB from 258 MiB at 0.2 MiB/s: (1024 - 258) / 0.2 s.
    let ttl = r.suspects[1].time_to_limit.unwrap().estimate_s;
    assert!((ttl - 3830.0).abs() < 1.0, "{ttl}");
    assert_eq!(r.processes.len(), 2);
    assert_eq!(r.processes[0].growth, 58 * MIB as i64);

    let mut out = Vec::new();
    text::write(&mut out, &r).unwrap();
    let text = String::from_utf8(out).unwrap();
    for needle in [
        "Window:    2027-01-15 08:00:00 .. 2027-01-15 08:04:50 UTC (5 min, 30 samples)",
        "Leak suspects (growing steadily):",
        "  leaker (10): +12.0 MiB/min",
        "/app: +12.0 MiB/min",
        "reaches its memory.max in about 64 min",
        "no swap",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
    let steady_row = text.lines().find(|l| l.ends_with("steady (11)")).unwrap();
    assert!(steady_row.contains("stable"), "{steady_row}");

    let mut out = Vec::new();
    json::write(&mut out, &r).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["suspects"][1]["subject"]["kind"], "cgroup");
    assert_eq!(v["suspects"][1]["subject"]["limit"], 1024 * MIB);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn filters_and_windows_narrow_the_report() {
    let (store, dir) = recording("filters");
    let only_steady = ReportOptions {
        pid: Some(11),
        top: 10,
        ..Default::default()
    };
    let r = report::build(&store, &only_steady).unwrap();
    assert!(r.suspects.is_empty());
    assert!(r.cgroups.is_empty(), "--pid leaves cgroups out");
    assert_eq!(r.judged, 1);

    let by_cgroup = ReportOptions {
        cgroup: Some("/app".into()),
        top: 1,
        ..Default::default()
    };
    let r = report::build(&store, &by_cgroup).unwrap();
    assert_eq!(r.processes.len(), 1, "--top 1");
    assert_eq!(r.judged, 3);

    let late = ReportOptions {
        range: TimeRange {
            since: Some(1_800_000_200.0),
            until: None,
        },
        top: 10,
        ..Default::default()
    };
    let r = report::build(&store, &late).unwrap();
    assert_eq!(r.samples, 10);
    assert_eq!(r.processes[0].first, 140 * MIB);
    let _ = std::fs::remove_dir_all(dir);
}
