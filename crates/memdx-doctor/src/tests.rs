//! The diagnosis on observations built by hand.

use memdx_kernel::kmsg::parse_log;
use memdx_kernel::oom::parse_events;
use memdx_kernel::slab::{Sample, SlabCache};
use memdx_proc::cgroup_walk::CgroupUsage;
use memdx_proc::pressure::{MemoryPressure, PressureLine};
use memdx_proc::process::ProcessMemory;
use memdx_proc::{MemInfo, VmStat};
use memdx_trend::Point;

use crate::*;

const GIB: u64 = 1024 * 1024; // in kB

fn meminfo(total_kb: u64, avail_kb: u64) -> MemInfo {
    MemInfo::from_entries([
        ("MemTotal", total_kb),
        ("MemFree", avail_kb / 2),
        ("MemAvailable", avail_kb),
        ("Buffers", 100_000),
        ("Cached", 2_000_000),
        ("Shmem", 50_000),
        ("AnonPages", 3_000_000),
        ("SUnreclaim", 100_000),
        ("PageTables", 20_000),
    ])
}

fn vmstat(pswpin: u64, pswpout: u64, direct: u64) -> VmStat {
    VmStat::from_entries([
        ("pswpin", pswpin),
        ("pswpout", pswpout),
        ("pgscan_direct", direct),
        ("pgscan_kswapd", 0),
    ])
}

fn process(pid: u32, name: &str, rss: u64, pss: u64, uss: u64) -> ProcessMemory {
    ProcessMemory {
        pid,
        name: name.to_string(),
        state: 'S',
        rss: Some(rss),
        pss: Some(pss),
        uss: Some(uss),
        ..ProcessMemory::default()
    }
}

/// A healthy 16 GiB machine observed for 10 s.
fn healthy() -> Observation {
    Observation {
        target: Target::Machine,
        duration_s: 10.0,
        samples: 21,
        uptime_s: Some(100_000.0),
        meminfo_start: meminfo(16 * GIB, 10 * GIB),
        meminfo_end: meminfo(16 * GIB, 10 * GIB),
        vmstat_start: Some(vmstat(100, 200, 0)),
        vmstat_end: Some(vmstat(100, 200, 0)),
        pressure: Some(MemoryPressure {
            some: PressureLine::default(),
            full: Some(PressureLine::default()),
        }),
        processes: vec![
            process(1, "init", 10 << 20, 5 << 20, 4 << 20),
            process(2, "db", 900 << 20, 800 << 20, 790 << 20),
        ],
        target_pids: vec![],
        as_root: true,
        cgroups: vec![],
        series: vec![flat_series("pid 2 (db)", 900 << 20)],
        slab: None,
        kmemleak: None,
        kernel_log: KernelLog::Read {
            events: vec![],
            oomd_kills: vec![],
        },
        recent_since_s: Some(100_000.0 - 86_400.0),
        recent_span_s: 86_400.0,
        unreadable: vec![],
        heap: None,
    }
}

fn flat_series(label: &str, bytes: u64) -> Series {
    series(
        label,
        (0..20).map(|i| (i as f64 * 0.5, bytes as f64 + (i % 3) as f64 * 4096.0)),
    )
}

fn series(label: &str, points: impl Iterator<Item = (f64, f64)>) -> Series {
    Series {
        label: label.to_string(),
        watch_command: "memdx watch 2".to_string(),
        metric: "rss",
        points: points.map(|(t, bytes)| Point { t, bytes }).collect(),
        limit_bytes: None,
        is_target: false,
    }
}

fn ids(d: &Diagnosis) -> Vec<&'static str> {
    d.findings.iter().map(|f| f.id).collect()
}

fn find<'a>(d: &'a Diagnosis, id: &str) -> &'a Finding {
    d.findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no {id} in {:?}", ids(d)))
}

fn figure(f: &Finding, name: &str) -> f64 {
    f.figures
        .iter()
        .find(|x| x.name == name)
        .unwrap_or_else(|| panic!("no figure {name} in {f:?}"))
        .value
}

#[test]
fn healthy_machine_gets_one_ok_line() {
    let d = diagnose(&healthy());
    assert_eq!(ids(&d), vec!["fine"]);
    assert_eq!(d.worst(), Severity::Ok);
    let t = &d.findings[0].title;
    assert!(
        t.starts_with("memory is fine: 10.0 GiB of 16.0 GiB available (62%)"),
        "{t}"
    );
    assert!(t.contains("no OOM kill in the last 24.0 h"), "{t}");
    assert!(
        t.ends_with(
            "nothing grew over 10 s, the largest process, db (pid 2, PSS 800.0 MiB), is stable"
        ),
        "{t}"
    );
}

#[test]
fn a_sawtooth_is_said_to_be_fine() {
    let mut o = healthy();
    let mib = 1024.0 * 1024.0;
    // +10 MiB per 0.5 s, all released every 2 s.
    o.series.push(series(
        "pid 8 (java)",
        (0..20).map(|i| (i as f64 * 0.5, 500.0 * mib + (i % 4) as f64 * 10.0 * mib)),
    ));
    let d = diagnose(&o);
    assert_eq!(ids(&d), vec!["fine"]);
    assert!(
        d.findings[0]
            .title
            .ends_with(", pid 8 (java) rss is a sawtooth (released periodically)"),
        "{}",
        d.findings[0].title
    );
}

#[test]
fn a_busy_machine_starting_processes_is_not_a_kernel_leak() {
    // task_struct +2 objects/s of 9 KiB for 10 s: 180 KiB, steadily.
    let mut o = healthy();
    o.slab = Some(
        (0..21)
            .map(|i| Sample {
                t: i as f64 * 0.5,
                caches: vec![SlabCache::from_counters(memdx_proc::SlabCache {
                    name: "task_struct".to_string(),
                    active_objs: 100 + i,
                    num_objs: 100 + i,
                    obj_size: 9216,
                    objs_per_slab: 3,
                    pages_per_slab: 8,
                    active_slabs: (100 + i) / 3,
                    num_slabs: (100 + i) / 3,
                })],
            })
            .collect(),
    );
    assert_eq!(ids(&diagnose(&o)), vec!["fine"]);
}

#[test]
fn low_mem_available_is_warning_then_critical() {
    let mut o = healthy();
    o.meminfo_end = meminfo(16 * GIB, 16 * GIB * 8 / 100);
    let d = diagnose(&o);
    let f = find(&d, "pressure.mem_available");
    assert_eq!(f.severity, Severity::Warning);
    assert!((figure(f, "mem_available_pct") - 8.0).abs() < 0.01);
    // Trouble brings the owners in, largest PSS first.
    let who = find(&d, "who.processes");
    assert!(
        who.evidence[0].starts_with("db (pid 2): PSS 800.0 MiB, USS 790.0 MiB"),
        "{:?}",
        who.evidence
    );
    assert!(!ids(&d).contains(&"fine"));

    o.meminfo_end = meminfo(16 * GIB, 16 * GIB * 4 / 100);
    assert_eq!(
        find(&diagnose(&o), "pressure.mem_available").severity,
        Severity::Critical
    );
}

#[test]
fn swap_storm_rates_come_from_the_window() {
    let mut o = healthy();
    // 15,000 pages in and 20,000 out over 10 s.
    o.vmstat_end = Some(vmstat(100 + 15_000, 200 + 20_000, 5_000));
    let d = diagnose(&o);
    let f = find(&d, "pressure.swap");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(figure(f, "swap_in_pages_per_s"), 1500.0);
    assert_eq!(figure(f, "swap_out_pages_per_s"), 2000.0);
    let r = find(&d, "pressure.direct_reclaim");
    assert_eq!(figure(r, "pgscan_direct_per_s"), 500.0);
    // Below the critical swap-in rate it is a warning.
    o.vmstat_end = Some(vmstat(100 + 500, 200 + 1_000, 0));
    let d = diagnose(&o);
    assert_eq!(find(&d, "pressure.swap").severity, Severity::Warning);
    assert!(!ids(&d).contains(&"pressure.direct_reclaim"));
}

#[test]
fn psi_full_stall_is_critical() {
    let mut o = healthy();
    o.pressure = Some(MemoryPressure {
        some: PressureLine {
            avg10: 40.0,
            ..PressureLine::default()
        },
        full: Some(PressureLine {
            avg10: 12.5,
            ..PressureLine::default()
        }),
    });
    let f = find(&diagnose(&o), "pressure.psi").clone();
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(figure(&f, "psi_full_avg10_pct"), 12.5);
    o.pressure = Some(MemoryPressure {
        some: PressureLine {
            avg10: 11.0,
            ..PressureLine::default()
        },
        full: None,
    });
    assert_eq!(
        find(&diagnose(&o), "pressure.psi").severity,
        Severity::Warning
    );
}

const OOM_LOG: &str = "\
[ 1000.000000] stress invoked oom-killer: gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO), order=0, oom_score_adj=0
[ 1000.100000] oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/user.slice,task=stress,pid=4242,uid=1000
[ 1000.100001] Out of memory: Killed process 4242 (stress) total-vm:2101600kB, anon-rss:1998848kB, file-rss:128kB, shmem-rss:0kB, UID:1000 pgtables:4012kB oom_score_adj:0
[99000.000000] hog invoked oom-killer: gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO), order=0, oom_score_adj=0
[99000.100001] Out of memory: Killed process 5151 (hog) total-vm:2101600kB, anon-rss:1048576kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:4012kB oom_score_adj:0
";

#[test]
fn oom_kills_count_only_since_the_stated_time() {
    let mut o = healthy();
    o.kernel_log = KernelLog::Read {
        events: parse_events(&parse_log(OOM_LOG)),
        oomd_kills: vec![],
    };
    let d = diagnose(&o);
    let f = find(&d, "pressure.oom_kills");
    // 1000 s after boot is older than a day before 100,000 s: only hog counts.
    assert_eq!(figure(f, "oom_kills"), 1.0);
    assert!(
        f.evidence[0].starts_with("killed hog (pid 5151, rss 1.0 GiB) 17 min ago"),
        "{:?}",
        f.evidence
    );
    assert_eq!(f.severity, Severity::Critical, "killed 1000 s ago");
    assert_eq!(f.next.as_deref(), Some("memdx oom --since 24h"));
    // Two hours after the kill it is a warning.
    o.uptime_s = Some(99_000.0 + 7200.0);
    assert_eq!(
        find(&diagnose(&o), "pressure.oom_kills").severity,
        Severity::Warning
    );
}

#[test]
fn unreadable_kernel_log_is_a_note_not_a_failure() {
    let mut o = healthy();
    o.kernel_log = KernelLog::Unreadable("dmesg_restrict".to_string());
    o.unreadable
        .push("kernel log: permission denied".to_string());
    let d = diagnose(&o);
    assert_eq!(ids(&d), vec!["access.unreadable", "fine"], "info before ok");
    assert!(
        !d.findings[0].title.contains("OOM"),
        "an unread log does not say no OOM kill"
    );
    assert_eq!(d.worst(), Severity::Info);
}

#[test]
fn growing_process_has_rate_and_time_to_limit() {
    let mut o = healthy();
    // 2 MiB/s for 10 s on top of 100 MiB, with a little jitter.
    let mib = 1024.0 * 1024.0;
    o.series.push(series(
        "pid 77 (leaker)",
        (0..21).map(|i| {
            let t = i as f64 * 0.5;
            (
                t,
                100.0 * mib + 2.0 * mib * t + ((i * 7) % 5) as f64 * 4096.0,
            )
        }),
    ));
    let d = diagnose(&o);
    let f = find(&d, "growth.series");
    assert!(
        f.title.starts_with("pid 77 (leaker) grows +2.0 MiB/s"),
        "{}",
        f.title
    );
    let rate = figure(f, "rate_bytes_per_s") / mib;
    assert!((rate - 2.0).abs() < 0.01, "{rate}");
    // 10 GiB available at 2 MiB/s: about 85 minutes, more than the critical hour.
    let ttl = figure(f, "time_to_limit_s");
    assert!((ttl - 10.0 * 1024.0 / 2.0).abs() < 60.0, "{ttl}");
    assert_eq!(f.severity, Severity::Warning);
    // The stable series is not reported.
    assert_eq!(
        d.findings.iter().filter(|f| f.area == Area::Growth).count(),
        1
    );
    // Against a near cgroup limit the same growth is critical.
    o.series.last_mut().expect("pushed").limit_bytes = Some(200.0 * mib);
    assert_eq!(
        find(&diagnose(&o), "growth.series").severity,
        Severity::Critical
    );
}

#[test]
fn a_growing_target_is_reported_when_others_grow_faster() {
    let mut o = healthy();
    let mib = 1024.0 * 1024.0;
    let ramp = |rate: f64| {
        (0..21).map(move |i| (i as f64 * 0.5, 100.0 * mib + rate * mib * i as f64 * 0.5))
    };
    for k in 0..8 {
        o.series.push(series(
            &format!("pid {} (cc1)", 100 + k),
            ramp(20.0 + k as f64),
        ));
    }
    let mut target = series("pid 7 (leaker)", ramp(2.0));
    target.is_target = true;
    o.target = Target::Pid(7);
    o.series.push(target);
    let d = diagnose(&o);
    let growth: Vec<&str> = d
        .findings
        .iter()
        .filter(|f| f.id == "growth.series")
        .map(|f| f.title.as_str())
        .collect();
    assert_eq!(
        growth.len(),
        1 + thresholds::GROWTH_MAX_FINDINGS,
        "{growth:?}"
    );
    assert!(
        growth[0].starts_with("pid 7 (leaker) grows +2.0 MiB/s"),
        "{growth:?}"
    );
    assert!(
        growth[1].starts_with("pid 107 (cc1) grows +27.0 MiB/s"),
        "{growth:?}"
    );
}

#[test]
fn sub_mebibyte_wobble_is_not_growth() {
    let mut o = healthy();
    o.series.push(series(
        "pid 3 (busy)",
        (0..20).map(|i| (i as f64 * 0.5, 50e6 + i as f64 * 40_000.0)),
    ));
    assert_eq!(ids(&diagnose(&o)), vec!["fine"]);
}

fn cache(name: &str, objs: u64) -> SlabCache {
    SlabCache::from_counters(memdx_proc::SlabCache {
        name: name.to_string(),
        active_objs: objs,
        num_objs: objs,
        obj_size: 256,
        objs_per_slab: 16,
        pages_per_slab: 1,
        active_slabs: objs / 16,
        num_slabs: objs / 16,
    })
}

#[test]
fn growing_unreclaimable_slab_points_to_kmemleak() {
    let mut o = healthy();
    o.slab = Some(
        (0..10)
            .map(|i| Sample {
                t: i as f64,
                caches: vec![
                    cache("kmalloc-256", 10_000 + i * 500),
                    cache("dentry", 10_000 + i * 500),
                    cache("vm_area_struct", 5_000),
                ],
            })
            .collect(),
    );
    let d = diagnose(&o);
    let slab: Vec<&Finding> = d
        .findings
        .iter()
        .filter(|f| f.id == "growth.slab")
        .collect();
    assert_eq!(
        slab.len(),
        1,
        "dentry is reclaimable, vm_area_struct flat: {:?}",
        ids(&d)
    );
    assert!(
        slab[0]
            .title
            .starts_with("kernel slab cache kmalloc-256 grows"),
        "{}",
        slab[0].title
    );
    assert_eq!(figure(slab[0], "rate_bytes_per_s"), 500.0 * 256.0);
    assert_eq!(slab[0].next.as_deref(), Some("memdx kmemleak status"));
    assert_eq!(slab[0].evidence[2], "kmemleak's state was not checked");

    // What blocks kmemleak on this kernel is said, with its fix.
    use memdx_kernel::kmemleak::status::{Finding as Check, Status, Verdict};
    let check = |check, verdict, detail: &str, fix: Option<&str>| Check {
        check,
        verdict,
        detail: detail.to_string(),
        fix: fix.map(str::to_string),
    };
    o.kmemleak = Some(Status {
        usable: false,
        findings: vec![
            check(
                "kernel-config",
                Verdict::Blocks,
                "built without kmemleak",
                Some("boot another kernel"),
            ),
            check("user", Verdict::Ok, "running as root", None),
            check("debugfs", Verdict::Blocks, "debugfs is not mounted", None),
        ],
    });
    let d = diagnose(&o);
    let f = find(&d, "growth.slab");
    assert_eq!(
        f.evidence[2],
        "kmemleak cannot be used on this kernel: built without kmemleak (fix: boot another kernel); debugfs is not mounted"
    );
    assert_eq!(f.next.as_deref(), Some("memdx kmemleak status"));
    o.kmemleak = Some(Status {
        usable: true,
        findings: vec![],
    });
    let d = diagnose(&o);
    assert_eq!(
        find(&d, "growth.slab").next.as_deref(),
        Some("memdx kmemleak scan")
    );
}

#[test]
fn a_series_that_ends_lower_than_it_began_is_not_growth() {
    let mut o = healthy();
    let mib = 1024.0 * 1024.0;
    // 250 MiB, freed to 100 MiB at once, then +8 MiB/s back to 180 MiB:
    // the fit rises, the window does not.
    o.series.push(series(
        "pid 5 (rustc)",
        (0..21).map(|i| {
            let t = i as f64 * 0.5;
            let v = if i == 0 { 250.0 } else { 100.0 + 8.0 * t };
            (t, v * mib)
        }),
    ));
    assert_eq!(ids(&diagnose(&o)), vec!["fine"]);
}

#[test]
fn a_short_burst_far_from_any_limit_is_a_warning_not_critical() {
    let mut o = healthy();
    let mib = 1024.0 * 1024.0;
    // +20 MiB/s for 5 s with 10 GiB available: about 8.5 min away, within
    // the hour but 100 windows ahead.
    o.series.push(series(
        "pid 6 (cc1)",
        (0..11).map(|i| {
            let t = i as f64 * 0.5;
            (t, 100.0 * mib + 20.0 * mib * t)
        }),
    ));
    let d = diagnose(&o);
    let f = find(&d, "growth.series");
    assert_eq!(f.severity, Severity::Warning, "{f:?}");
    assert!(figure(f, "time_to_limit_s") < 3600.0);
}

#[test]
fn smaps_denied_to_root_is_not_blamed_on_the_user() {
    let mut o = healthy();
    o.meminfo_end = meminfo(16 * GIB, GIB / 2);
    o.processes.push(ProcessMemory {
        pid: 1,
        name: "init".into(),
        state: 'S',
        rss: Some(8 << 20),
        smaps_denied: true,
        ..ProcessMemory::default()
    });
    let who = find(&diagnose(&o), "who.processes").clone();
    assert!(
        who.evidence.contains(&"1 process's smaps_rollup was unreadable even to root (a process in another user namespace, or not dumpable): ranked by RSS".to_string()),
        "{:?}",
        who.evidence
    );
    o.as_root = false;
    let who = find(&diagnose(&o), "who.processes").clone();
    assert!(
        who.evidence
            .last()
            .is_some_and(|l| l.contains("another user's: run as root")),
        "{:?}",
        who.evidence
    );
}

#[test]
fn a_name_target_is_summed_and_a_cgroup_target_shows_its_limit() {
    let mut o = healthy();
    o.processes
        .push(process(20, "php-fpm", 30 << 20, 20 << 20, 10 << 20));
    o.processes
        .push(process(21, "php-fpm", 50 << 20, 40 << 20, 30 << 20));
    o.target = Target::Name("^php".into());
    o.target_pids = vec![20, 21];
    let d = diagnose(&o);
    let t = find(&d, "who.target");
    assert_eq!(
        t.title,
        "2 processes matching '^php': PSS 60.0 MiB, USS 40.0 MiB, RSS 80.0 MiB"
    );
    assert_eq!(
        t.evidence[0],
        "php-fpm (pid 21): PSS 40.0 MiB, USS 30.0 MiB, RSS 50.0 MiB"
    );
    assert_eq!(figure(t, "processes"), 2.0);

    o.target = Target::Cgroup("/system.slice/db.service".into());
    o.cgroups = vec![CgroupUsage {
        path: "/system.slice/db.service".into(),
        current: 6 << 30,
        swap: Some(1 << 30),
        max: Some(8 << 30),
    }];
    let d = diagnose(&o);
    let t = find(&d, "who.target");
    assert_eq!(t.title, "cgroup /system.slice/db.service: 6.0 GiB");
    assert_eq!(
        t.evidence,
        vec![
            "memory.current 6.0 GiB of memory.max 8.0 GiB (75.0%)".to_string(),
            "swap 1.0 GiB".to_string()
        ]
    );
}

#[test]
fn shared_pages_are_not_blamed_on_a_mapper() {
    let mut o = healthy();
    o.meminfo_end = meminfo(16 * GIB, GIB / 2);
    // A mapper of 4 GiB shared with 3 others: RSS 4 GiB, PSS 1 GiB, USS tiny.
    o.processes
        .push(process(9, "mapper", 4 << 30, 1 << 30, 1 << 20));
    o.processes
        .push(process(10, "hog", 2 << 30, 2 << 30, 2 << 30));
    let d = diagnose(&o);
    let who = find(&d, "who.processes");
    assert!(
        who.title
            .starts_with("largest process: hog (pid 10) with PSS 2.0 GiB"),
        "{}",
        who.title
    );
    assert!(who.evidence[1].starts_with("mapper (pid 9): PSS 1.0 GiB, USS 1.0 MiB, RSS 4.0 GiB"));
    o.target = Target::Pid(9);
    let t = find(&diagnose(&o), "who.target").clone();
    assert!(
        t.evidence[0].contains("of its RSS is shared"),
        "{:?}",
        t.evidence
    );
}

#[test]
fn kind_warnings_and_leaf_cgroups() {
    let mut o = healthy();
    o.meminfo_end = MemInfo::from_entries([
        ("MemTotal", 16 * GIB),
        ("MemAvailable", 8 * GIB),
        ("Cached", 6 * GIB),
        ("Shmem", 5 * GIB),
        ("SUnreclaim", 2 * GIB),
        ("PageTables", GIB),
    ]);
    o.cgroups = vec![
        CgroupUsage {
            path: "/system.slice".into(),
            current: 9 << 30,
            swap: None,
            max: None,
        },
        CgroupUsage {
            path: "/system.slice/db.service".into(),
            current: 6 << 30,
            swap: None,
            max: Some(8 << 30),
        },
        CgroupUsage {
            path: "/system.slice/web.service".into(),
            current: 3 << 30,
            swap: Some(1 << 20),
            max: None,
        },
    ];
    let d = diagnose(&o);
    for id in ["who.shmem", "who.slab_unreclaimable", "who.page_tables"] {
        assert_eq!(find(&d, id).severity, Severity::Warning, "{id}");
    }
    let cg = find(&d, "who.cgroups");
    assert_eq!(
        cg.title,
        "largest cgroup: /system.slice/db.service with 6.0 GiB"
    );
    assert_eq!(
        cg.evidence.len(),
        2,
        "the parent is not listed: {:?}",
        cg.evidence
    );
    let kinds = find(&d, "who.kinds");
    assert_eq!(figure(kinds, "file_cache_bytes"), (GIB * 1024) as f64);
}

#[test]
fn findings_are_ordered_worst_first() {
    let mut o = healthy();
    o.meminfo_end = meminfo(16 * GIB, 16 * GIB * 8 / 100); // warning
    o.vmstat_end = Some(vmstat(100 + 20_000, 200, 0)); // critical
    o.unreadable.push("x".into());
    let d = diagnose(&o);
    let sev: Vec<Severity> = d.findings.iter().map(|f| f.severity).collect();
    let mut sorted = sev.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(sev, sorted);
    assert_eq!(d.findings[0].id, "pressure.swap");
    assert_eq!(d.worst(), Severity::Critical);
    assert_eq!(d.findings.last().map(|f| f.area), Some(Area::Access));
}

const MIB_F: f64 = 1024.0 * 1024.0;

/// A target pid 7 with a heap capture: `live` MiB of live growth over 10 s
/// at two sites (3:1), `rss` MiB of RSS growth over 10.5 s.
fn captured(live: f64, rss: f64) -> Observation {
    let mut o = healthy();
    o.target = Target::Pid(7);
    o.heap = Some(HeapCapture {
        pid: 7,
        duration_s: 10.0,
        sample_interval: 512 * 1024,
        heap_at_attach_bytes: Some(4 << 20),
        sites: vec![
            HeapSite {
                function: "leaky_site".to_string(),
                location: Some("leaker.c:12".to_string()),
                bytes: 0.75 * live * MIB_F,
                blocks: 600.0,
            },
            HeapSite {
                function: "cache_put".to_string(),
                location: None,
                bytes: 0.25 * live * MIB_F,
                blocks: 200.0,
            },
        ],
        live_growth_bytes: live * MIB_F,
        rss_growth_bytes: rss * MIB_F,
        rss_span_s: 10.5,
    });
    o
}

#[test]
fn deep_names_the_growing_sites_largest_first() {
    let d = diagnose(&captured(8.0, 8.4));
    let f = d
        .findings
        .iter()
        .find(|f| f.id == "growth.heap_sites")
        .unwrap();
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.title,
        "growing allocation sites of pid 7: leaky_site (leaker.c:12) +6.0 MiB in 600 blocks, cache_put +2.0 MiB in 200 blocks"
    );
    assert_eq!(f.next.as_deref(), Some("memdx heap --pid 7 --duration 10m"));
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("sampled every 512.0 KiB")),
        "{f:?}"
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.starts_with("heap in use at the attach: 4.0 MiB")),
        "{f:?}"
    );
    let live = f
        .figures
        .iter()
        .find(|x| x.name == "live_growth_bytes")
        .unwrap();
    assert_eq!(live.value, 8.0 * MIB_F);
}

#[test]
fn deep_calls_growth_matched_by_the_live_heap_live_memory() {
    let d = diagnose(&captured(8.0, 8.4));
    let f = d
        .findings
        .iter()
        .find(|f| f.id == "growth.heap_live")
        .unwrap();
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.title.contains("live memory it holds"), "{}", f.title);
    assert!(!d.findings.iter().any(|f| f.id == "growth.heap_held"));
    let share = f
        .figures
        .iter()
        .find(|x| x.name == "live_share")
        .unwrap()
        .value;
    assert!((share - (0.8 / (8.4 / 10.5))).abs() < 1e-9, "{share}");
}

#[test]
fn deep_calls_rss_growth_without_live_growth_allocator_held() {
    // RSS +30 MiB while the live heap grew 2 MiB: fragmentation or caching.
    let d = diagnose(&captured(2.0, 30.0));
    let f = d
        .findings
        .iter()
        .find(|f| f.id == "growth.heap_held")
        .unwrap();
    assert!(f.title.contains("held by the allocator"), "{}", f.title);
    assert!(
        f.evidence.iter().any(|e| e.contains("malloc_trim")),
        "{f:?}"
    );
    assert!(!d.findings.iter().any(|f| f.id == "growth.heap_live"));
}

#[test]
fn deep_gives_no_verdict_when_the_rss_did_not_grow() {
    let d = diagnose(&captured(0.5, 0.2));
    assert!(!d
        .findings
        .iter()
        .any(|f| f.id == "growth.heap_live" || f.id == "growth.heap_held"));
    let f = d
        .findings
        .iter()
        .find(|f| f.id == "growth.heap_sites")
        .unwrap();
    assert_eq!(f.severity, Severity::Info);
}

#[test]
fn deep_with_nothing_live_says_no_site_grew() {
    let mut o = captured(0.0, 0.0);
    if let Some(c) = o.heap.as_mut() {
        c.sites.clear();
    }
    let d = diagnose(&o);
    let f = d
        .findings
        .iter()
        .find(|f| f.id == "growth.heap_sites")
        .unwrap();
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(
        f.title,
        "pid 7: no allocation site grew during the heap capture (10 s)"
    );
}
