//! `memdx doctor` end to end: replayed fixture trees for system states
//! (tests/fixtures/doctor: healthy, low available memory, a swap storm, OOM
//! kills, a growing slab cache), the JSON checked against the schema in
//! docs/doctor.md, and live scenarios with processes the tests start (a
//! steady leaker, a stable process, a process sharing a large mapping).
//! Every run has a deadline.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use memdx_testkit::{Deadline, GroupChild, DEADLINE};

use serde_json::Value;

const MIB: f64 = 1048576.0;

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn doctor(args: &[&str], replay: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_memdx"));
    cmd.arg("doctor").args(args).env_remove("MEMDX_PROC_ROOT");
    match replay {
        Some(state) => cmd.env(
            "MEMDX_REPLAY_ROOT",
            repo(&format!("tests/fixtures/doctor/{state}")),
        ),
        None => cmd.env_remove("MEMDX_REPLAY_ROOT"),
    };
    memdx_testkit::output_with_deadline(&mut cmd, Duration::from_secs(60))
}

fn replay(state: &str, json: bool) -> Output {
    let mut args = vec!["--duration", "4.5", "--interval", "0.5"];
    if json {
        args.push("--json");
    }
    doctor(&args, Some(state))
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn findings<'a>(v: &'a Value, id: &str) -> Vec<&'a Value> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

fn one<'a>(v: &'a Value, id: &str) -> &'a Value {
    let f = findings(v, id);
    assert_eq!(f.len(), 1, "{id} in {v:#}");
    f[0]
}

fn figure(f: &Value, name: &str) -> f64 {
    f["figures"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("no {name} in {f:#}"))
}

#[test]
fn a_healthy_machine_gets_one_line_and_status_0() {
    let out = replay("healthy", false);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(
        lines[0],
        "memdx doctor: the machine, observed 4.5 s (10 samples)"
    );
    assert!(
        lines[1].starts_with("ok       memory is fine: 11.4 GiB of 23.5 GiB available (49%)"),
        "{text}"
    );
    assert!(
        lines[1].contains("no OOM kill in the last 24.0 h"),
        "{text}"
    );
    assert!(
        lines[1].ends_with(
            "nothing grew over 4.5 s, the largest process, postgres (pid 812, PSS 9.2 MiB), is stable"
        ),
        "{text}"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn low_available_memory_is_critical_and_names_the_owners() {
    let out = replay("low-available", true);
    assert_eq!(out.status.code(), Some(4));
    let v = json(&out);
    assert_eq!(v["worst"], "critical");
    let f = one(&v, "pressure.mem_available");
    assert_eq!(f["severity"], "critical");
    assert_eq!(figure(f, "mem_available_bytes"), 700000.0 * 1024.0);
    let who = one(&v, "who.processes");
    assert_eq!(
        who["evidence"][0],
        "postgres (pid 812): PSS 9.2 MiB, USS 5.2 MiB, RSS 30.5 MiB"
    );
}

#[test]
fn a_swap_storm_is_critical_with_rates_over_the_window() {
    let out = replay("swap-storm", true);
    assert_eq!(out.status.code(), Some(4));
    let v = json(&out);
    assert_eq!(v["findings"][0]["severity"], "critical");
    let swap = one(&v, "pressure.swap");
    assert_eq!(swap["severity"], "critical");
    // 6,000 pages in and 8,000 out between the first and the last of 4.5 s.
    assert!((figure(swap, "swap_in_pages_per_s") - 6000.0 / 4.5).abs() < 1e-6);
    assert!((figure(swap, "swap_out_pages_per_s") - 8000.0 / 4.5).abs() < 1e-6);
    assert!(
        (figure(one(&v, "pressure.direct_reclaim"), "pgscan_direct_per_s") - 4000.0 / 4.5).abs()
            < 1e-6
    );
    assert_eq!(figure(one(&v, "pressure.psi"), "psi_full_avg10_pct"), 12.0);
}

#[test]
fn recent_oom_kills_in_the_kernel_log_are_critical() {
    let out = replay("oom-kills", false);
    assert_eq!(out.status.code(), Some(4));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("CRITICAL 2 OOM kills in the kernel log in the last 24.0 h\n         killed gradle daemon (pid 77488, rss 7.6 GiB) 10 min ago\n         killed java (pid 77120, rss 7.6 GiB) 70 min ago\n         next: memdx oom --since 24h\n"),
        "{text}"
    );
    // A shorter --since leaves the older kill out.
    let v = json(&doctor(
        &[
            "--duration",
            "1",
            "--interval",
            "0.5",
            "--since",
            "30m",
            "--json",
        ],
        Some("oom-kills"),
    ));
    assert_eq!(figure(one(&v, "pressure.oom_kills"), "oom_kills"), 1.0);
}

#[test]
fn a_systemd_oomd_kill_in_the_log_is_reported_with_its_line() {
    let v = json(&replay("oom-kills", true));
    let f = one(&v, "pressure.oomd_kills");
    // 300 s before the end of the window: within the critical hour.
    assert_eq!(f["severity"], "critical");
    assert_eq!(
        f["title"],
        "1 systemd-oomd kill in the log in the last 24.0 h"
    );
    assert_eq!(figure(f, "oomd_kills"), 1.0);
    assert!(
        f["evidence"][0]
            .as_str()
            .unwrap()
            .starts_with("systemd-oomd[412]: Killed /user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox.scope due to memory pressure"),
        "{f:#}"
    );
    assert_eq!(f["next"], "journalctl -u systemd-oomd");
    // Older than --since: not counted.
    let v = json(&doctor(
        &[
            "--duration",
            "1",
            "--interval",
            "0.5",
            "--since",
            "1m",
            "--json",
        ],
        Some("oom-kills"),
    ));
    assert!(findings(&v, "pressure.oomd_kills").is_empty(), "{v:#}");
}

#[test]
fn memory_no_process_owns_is_named_by_kind_with_a_stall() {
    let out = replay("kernel-heavy", true);
    assert_eq!(out.status.code(), Some(3));
    let v = json(&out);
    let psi = one(&v, "pressure.psi");
    assert_eq!(psi["severity"], "warning");
    assert_eq!(figure(psi, "psi_some_avg10_pct"), 15.0);
    assert_eq!(figure(psi, "psi_full_avg10_pct"), 0.5);
    let total = 24683772.0 * 1024.0;
    for (id, kb, next) in [
        ("who.shmem", 7864320.0, "df -t tmpfs"),
        ("who.slab_unreclaimable", 2621440.0, "memdx slab"),
        ("who.page_tables", 1310720.0, "memdx ps --sort=-rss"),
    ] {
        let f = one(&v, id);
        assert_eq!(f["severity"], "warning", "{id}");
        assert_eq!(figure(f, "bytes"), kb * 1024.0, "{id}");
        assert!((figure(f, "pct_of_total") - 100.0 * kb * 1024.0 / total).abs() < 1e-9);
        assert_eq!(f["next"], next);
    }
    let kinds = one(&v, "who.kinds");
    assert_eq!(figure(kinds, "shmem_bytes"), 7864320.0 * 1024.0);
    // File cache is Cached + Buffers without Shmem (tmpfs is not reclaimable).
    assert_eq!(
        figure(kinds, "file_cache_bytes"),
        (11143912.0 - 7864320.0 + 43220.0) * 1024.0
    );
    assert_eq!(figure(kinds, "anon_bytes"), 1577396.0 * 1024.0);
}

#[test]
fn a_growing_process_is_flagged_on_fixtures_by_machine_pid_and_name() {
    let mib_per_s = 16.0 * MIB;
    let avail = 12000000.0 * 1024.0;
    // The machine: every process's RSS (statm).
    let v = json(&replay("process-growing", true));
    assert_eq!(v["exit_status"], 3);
    let f = one(&v, "growth.series");
    assert_eq!(f["title"], "pid 812 (postgres) grows +16.0 MiB/s (rss)");
    assert_eq!(f["severity"], "warning");
    assert!((figure(f, "rate_bytes_per_s") - mib_per_s).abs() < 1.0);
    assert!((figure(f, "time_to_limit_s") - avail / mib_per_s).abs() < 1.0);
    assert_eq!(f["next"], "memdx watch 812 --duration 10m");
    // The process: its PSS (smaps_rollup), and its own figures.
    let v = json(&doctor(
        &["812", "--duration", "4.5", "--interval", "0.5", "--json"],
        Some("process-growing"),
    ));
    assert_eq!(v["target"], serde_json::json!({"kind": "pid", "pid": 812}));
    let f = one(&v, "growth.series");
    assert_eq!(f["title"], "pid 812 (postgres) grows +16.0 MiB/s (pss)");
    assert_eq!(figure(f, "first_bytes"), 9421.0 * 1024.0);
    assert_eq!(figure(f, "last_bytes"), (9421.0 + 9.0 * 8192.0) * 1024.0);
    let t = one(&v, "who.target");
    assert_eq!(figure(t, "rss_bytes"), (31264.0 + 9.0 * 8192.0) * 1024.0);
    // A name: the matching processes summed, judged once.
    let v = json(&doctor(
        &[
            "--name",
            "^postg",
            "--duration",
            "4.5",
            "--interval",
            "0.5",
            "--json",
        ],
        Some("process-growing"),
    ));
    let f = one(&v, "growth.series");
    assert_eq!(
        f["title"],
        "processes matching '^postg' grows +16.0 MiB/s (pss)"
    );
    assert_eq!(f["next"], "memdx watch --name '^postg' --duration 10m");
    let t = one(&v, "who.target");
    assert_eq!(
        t["title"],
        "1 process matching '^postg': PSS 81.2 MiB, USS 77.2 MiB, RSS 102.5 MiB"
    );
    // The healthy tree: the same process, flat, is not flagged.
    let v = json(&doctor(
        &["812", "--duration", "4.5", "--interval", "0.5", "--json"],
        Some("healthy"),
    ));
    assert!(findings(&v, "growth.series").is_empty(), "{v:#}");
    assert!(
        one(&v, "fine")["title"]
            .as_str()
            .unwrap()
            .ends_with("pid 812 (postgres) pss is stable over 4.5 s"),
        "{v:#}"
    );
}

#[test]
fn a_cgroup_growing_towards_its_limit_is_critical() {
    // 800 MiB + 16 MiB/s against memory.max 1 GiB: 9.5 s left at the end.
    let v = json(&replay("cgroup-growing", true));
    assert_eq!(v["exit_status"], 4);
    let f = one(&v, "growth.series");
    assert_eq!(f["severity"], "critical");
    assert_eq!(
        f["title"],
        "cgroup /system.slice/app.service grows +16.0 MiB/s (current)"
    );
    assert!((figure(f, "time_to_limit_s") - 9.5).abs() < 1e-6, "{f:#}");
    let cg = one(&v, "who.cgroups");
    assert_eq!(
        cg["title"],
        "largest cgroup: /system.slice/db.service with 2.0 GiB"
    );
    assert_eq!(
        cg["evidence"],
        serde_json::json!([
            "/system.slice/db.service: 2.0 GiB",
            "/system.slice/app.service: 872.0 MiB of memory.max 1.0 GiB"
        ])
    );
    // The cgroup as the target, named as under /sys/fs/cgroup.
    let v = json(&doctor(
        &[
            "--cgroup",
            "/sys/fs/cgroup/system.slice/app.service",
            "--duration",
            "4.5",
            "--interval",
            "0.5",
            "--json",
        ],
        Some("cgroup-growing"),
    ));
    assert_eq!(
        v["target"],
        serde_json::json!({"kind": "cgroup", "path": "/system.slice/app.service"})
    );
    let g = findings(&v, "growth.series");
    assert_eq!(g.len(), 1, "judged once: {v:#}");
    assert_eq!(g[0]["severity"], "critical");
    let t = one(&v, "who.target");
    assert_eq!(figure(t, "current_bytes"), 872.0 * MIB);
    assert_eq!(figure(t, "max_bytes"), 1024.0 * MIB);
    // No such cgroup: one line naming it.
    let out = doctor(
        &["--cgroup", "/system.slice/nope.service"],
        Some("cgroup-growing"),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("memdx doctor: --cgroup /system.slice/nope.service: ")
            && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn what_cannot_be_read_is_a_note_naming_the_file_and_what_is_not_checked() {
    let out = replay("unreadable", false);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let dir = repo("tests/fixtures/doctor/unreadable/0");
    let d = dir.display();
    assert_eq!(
        lines[1],
        "ok       memory is fine: 11.4 GiB of 23.5 GiB available (49%), 10.7 GiB of file cache is reclaimable, nothing grew over 4.5 s, the largest process, postgres (pid 812, PSS 9.2 MiB), is stable"
    );
    assert_eq!(
        lines[2..],
        [
            format!("note: slab caches: cannot read {d}/proc/slabinfo: No such file or directory (os error 2): kernel slab growth not checked"),
            format!("note: vmstat: cannot read {d}/proc/vmstat: No such file or directory (os error 2): swap and scan rates not checked"),
            format!("note: PSI: {d}/proc/pressure/memory is absent or disabled (a kernel without CONFIG_PSI, or booted with psi=0): memory stall not checked"),
            format!("note: kernel log: cannot read {d}/dev/kmsg: No such file or directory (os error 2): OOM kills not checked"),
        ]
    );
    let v = json(&replay("unreadable", true));
    let notes = findings(&v, "access.unreadable");
    assert_eq!(notes.len(), 4);
    assert!(notes
        .iter()
        .all(|n| n["severity"] == "info" && n["area"] == "access"));
}

#[test]
fn without_meminfo_it_fails_with_one_line_naming_the_file() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("doctor-no-meminfo");
    std::fs::create_dir_all(dir.join("0/proc")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_memdx"));
    cmd.args(["doctor", "--duration", "1"])
        .env_remove("MEMDX_PROC_ROOT")
        .env("MEMDX_REPLAY_ROOT", &dir);
    let out = memdx_testkit::output_with_deadline(&mut cmd, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("memdx doctor: ")
            && err.contains(&format!("{}", dir.join("0/proc/meminfo").display())),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_run_on_this_machine_finishes_in_its_default_10_s_with_a_diagnosis() {
    // What a newcomer runs first (README): the default window.
    let out = doctor(&["--json"], None);
    let v = json(&out);
    let status = out.status.code().unwrap();
    assert!([0, 3, 4].contains(&status), "{out:?}");
    assert_eq!(v["exit_status"], status);
    assert_eq!(v["target"]["kind"], "machine");
    // 21 on schedule; fewer only when sampling falls behind (a note says so).
    let samples = v["samples"].as_u64().unwrap();
    assert!((2..=21).contains(&samples), "{samples} samples");
    let d = v["duration_s"].as_f64().unwrap();
    assert!((10.0..11.0).contains(&d), "observed {d} s");
    let f = v["findings"].as_array().unwrap();
    // Either one line saying it is fine, or findings with their owners.
    if status == 0 {
        assert_eq!(f.iter().filter(|x| x["id"] == "fine").count(), 1, "{v:#}");
    } else {
        assert!(!findings(&v, "who.kinds").is_empty(), "{v:#}");
        assert!(!findings(&v, "who.processes").is_empty(), "{v:#}");
    }
    // MemAvailable is read: the fine line or the kinds say how much there is.
    let verdict = validate(&v);
    assert!(verdict.is_none_or(|ok| ok == "valid"));
    // And as text: a header, then severity-tagged lines.
    let out = doctor(&["--duration", "1"], None);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("memdx doctor: the machine, observed 1"),
        "{text}"
    );
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| ["ok ", "info ", "WARNING ", "CRITICAL "]
                .iter()
                .any(|t| l.starts_with(t))),
        "{text}"
    );
}

#[test]
fn a_growing_unreclaimable_slab_cache_points_to_kmemleak() {
    let out = replay("slab-growing", true);
    assert_eq!(out.status.code(), Some(3));
    let v = json(&out);
    let f = one(&v, "growth.slab");
    assert_eq!(
        f["title"],
        "kernel slab cache kmalloc-256 grows +1000.0 KiB/s (unreclaimable)"
    );
    // 2,000 objects of 256 bytes every 0.5 s.
    assert_eq!(figure(f, "rate_bytes_per_s"), 4000.0 * 256.0);
    assert_eq!(f["next"], "memdx kmemleak status");
    // What blocks kmemleak here (the fixture's kernel config), with the fix.
    let config = repo("tests/fixtures/doctor/slab-growing/0/boot/config-6.1.0-doctor");
    assert_eq!(
        f["evidence"][2],
        format!(
            "kmemleak cannot be used on this kernel: the kernel is built without kmemleak: CONFIG_DEBUG_KMEMLEAK is not set in {} (fix: boot a kernel built with CONFIG_DEBUG_KMEMLEAK=y (most distribution kernels are not); without it, `memdx slab --duration 10m` finds kernel caches that keep growing)",
            config.display()
        )
    );
}

/// The JSON schema of docs/doctor.md (the block after "```json schema").
fn schema() -> String {
    let doc = std::fs::read_to_string(repo("docs/doctor.md")).unwrap();
    let start = doc.find("```json schema\n").unwrap() + "```json schema\n".len();
    let len = doc[start..].find("```").unwrap();
    doc[start..start + len].to_string()
}

/// The first python that has jsonschema: `$MEMDX_PYTHON` (.ci/run's
/// virtualenv), `python3`, Debian's `/usr/bin/python3` (python3-jsonschema).
fn python_with_jsonschema() -> Option<&'static str> {
    static FOUND: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            let mut candidates: Vec<String> = std::env::var("MEMDX_PYTHON").into_iter().collect();
            candidates.extend(["python3".to_string(), "/usr/bin/python3".to_string()]);
            candidates.into_iter().find(|python| {
                Command::new(python)
                    .args(["-c", "import jsonschema"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .try_status_within(Duration::from_secs(60))
                    .is_ok_and(|s| s.success())
            })
        })
        .as_deref()
}

/// Validates with python's jsonschema; `None` without one.
fn validate(doc: &Value) -> Option<String> {
    let python = python_with_jsonschema()?;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("doctor-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("schema.json"), schema()).unwrap();
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("doc-{n}.json");
    std::fs::write(dir.join(&name), doc.to_string()).unwrap();
    let script = "import json,sys,jsonschema\nschema=json.load(open(sys.argv[1]))\njsonschema.Draft202012Validator.check_schema(schema)\njsonschema.validate(json.load(open(sys.argv[2])), schema, cls=jsonschema.Draft202012Validator)\nprint('valid')";
    let out = memdx_testkit::output_with_deadline(
        Command::new(python)
            .args(["-c", script])
            .arg(dir.join("schema.json"))
            .arg(dir.join(&name)),
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{doc:#}\ndoes not validate: {err}");
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn json_of_every_fixture_state_validates_against_the_documented_schema() {
    let schema: Value = serde_json::from_str(&schema()).unwrap();
    let documented: Vec<&str> = schema["properties"]["findings"]["items"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    let runs: Vec<(&str, Vec<&str>)> = [
        "healthy",
        "low-available",
        "swap-storm",
        "oom-kills",
        "slab-growing",
        "kernel-heavy",
        "process-growing",
        "cgroup-growing",
        "unreadable",
    ]
    .into_iter()
    .map(|s| (s, vec![]))
    .chain([
        ("process-growing", vec!["812"]),
        ("process-growing", vec!["--name", "postgres"]),
        (
            "cgroup-growing",
            vec!["--cgroup", "/system.slice/app.service"],
        ),
    ])
    .collect();
    for (state, target) in runs {
        let mut args = target.clone();
        args.extend(["--duration", "4.5", "--interval", "0.5", "--json"]);
        let v = json(&doctor(&args, Some(state)));
        // Every documented field is there, and no other (without python too).
        for f in v["findings"].as_array().unwrap() {
            let mut keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            let mut want = documented.clone();
            want.sort_unstable();
            assert_eq!(keys, want, "{state}");
        }
        match validate(&v) {
            Some(ok) => assert_eq!(ok, "valid"),
            None => memdx_testkit::tool_missing("python3 with jsonschema"),
        }
    }
}

#[test]
fn bad_arguments_are_one_line_errors() {
    for (args, want) in [
        (vec!["--duration", "soon"], "memdx doctor: --duration: "),
        (vec!["4294967294"], "memdx doctor: no process 4294967294"),
        (
            vec!["--name", "^no such process name$"],
            "memdx doctor: no process matches --name ^no such process name$",
        ),
        (
            vec!["--name", "("],
            "memdx doctor: --name: '(' is not a regular expression",
        ),
        (
            vec!["--duration", "1", "--interval", "2"],
            "memdx doctor: --interval: longer than --duration",
        ),
    ] {
        let out = doctor(&args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.starts_with(want) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
}

/// Builds a test program once (tests run in parallel).
fn program(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let bin = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("doctor_{name}"));
    let mut built = BUILT.lock().unwrap();
    if !built.iter().any(|b| b == name) {
        let src = repo(&format!("tests/programs/{name}.c"));
        let ok = Command::new("gcc")
            .args(["-O2", "-g", "-o"])
            .arg(&bin)
            .arg(&src)
            .try_status_within(DEADLINE)
            .is_ok_and(|s| s.success());
        assert!(ok, "gcc could not build {}", src.display());
        built.push(name.to_string());
    }
    bin
}

/// A running test program in a process group of its own: dropping it kills
/// the group (ps_sharer's child too). watch_mem also ends by itself after
/// the SECONDS it is given.
struct Prog(GroupChild);

impl Prog {
    fn start(bin: &Path, args: &[&str]) -> Self {
        Self(GroupChild::spawn(Command::new(bin).args(args).stdout(Stdio::piped())).unwrap())
    }
    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

fn growth_of<'a>(v: &'a Value, pid: &str) -> Vec<&'a Value> {
    findings(v, "growth.series")
        .into_iter()
        .filter(|f| {
            f["title"]
                .as_str()
                .unwrap()
                .starts_with(&format!("pid {pid} "))
        })
        .collect()
}

#[test]
fn a_steady_leaker_is_flagged_with_its_rate() {
    // watch_mem leak 8 30: 8 MiB more every second, paced by the clock.
    let p = Prog::start(&program("watch_mem"), &["leak", "8", "30"]);
    let out = doctor(
        &[&p.pid(), "--duration", "4", "--interval", "0.2", "--json"],
        None,
    );
    let v = json(&out);
    assert!(matches!(out.status.code(), Some(3 | 4)), "{v:#}");
    let g = growth_of(&v, &p.pid());
    assert_eq!(g.len(), 1, "{v:#}");
    assert!(
        g[0]["title"].as_str().unwrap().ends_with("(pss)"),
        "{:#}",
        g[0]
    );
    // Within 25% of the rate it was built to have (the pacing is by whole
    // seconds: 4 s hold 4 or 5 steps).
    let rate = figure(g[0], "rate_bytes_per_s") / MIB;
    assert!((rate - 8.0).abs() <= 2.0, "rate {rate} MiB/s, want 8 ± 2");
    assert_eq!(
        g[0]["next"],
        format!("memdx watch {} --duration 10m", p.pid())
    );
    let verdict = validate(&v);
    assert!(verdict.is_none_or(|ok| ok == "valid"));
}

/// Whether ptrace may attach here (as in heap_attach.rs: the test programs
/// allow any tracer, so Yama's scope 0 and 1 are fine, 2 needs root).
fn attach_allowed() -> bool {
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if scope <= 1 || (scope == 2 && root) {
        return true;
    }
    memdx_testkit::tool_missing(&format!("ptrace (kernel.yama.ptrace_scope is {scope})"));
    false
}

#[test]
fn a_steady_leaker_with_deep_has_its_leaking_function_named() {
    if !attach_allowed() {
        return;
    }
    // watch_mem mleak 8 30: 8 MiB more every second, malloc'd by leaky_site.
    let p = Prog::start(&program("watch_mem"), &["mleak", "8", "30"]);
    let out = doctor(
        &[
            &p.pid(),
            "--duration",
            "4",
            "--interval",
            "0.2",
            "--deep",
            "--json",
        ],
        None,
    );
    let v = json(&out);
    assert!(matches!(out.status.code(), Some(3 | 4)), "{v:#}");
    // The rate it was built to have, as without --deep.
    let g = growth_of(&v, &p.pid());
    assert_eq!(g.len(), 1, "{v:#}");
    let rate = figure(g[0], "rate_bytes_per_s") / MIB;
    assert!((rate - 8.0).abs() <= 2.0, "rate {rate} MiB/s, want 8 ± 2");
    // Its leaking function, first, with its source line.
    let sites = one(&v, "growth.heap_sites");
    let title = sites["title"].as_str().unwrap();
    assert!(
        title.starts_with(&format!(
            "growing allocation sites of pid {}: leaky_site (watch_mem.c:",
            p.pid()
        )),
        "{sites:#}"
    );
    assert_eq!(
        sites["next"],
        format!("memdx heap --pid {} --duration 10m", p.pid())
    );
    // The live heap grew about as the RSS did (sampled: within 40%).
    let live = figure(sites, "live_growth_bytes") / MIB / figure(sites, "capture_s");
    assert!((live - 8.0).abs() <= 3.2, "live {live} MiB/s, want 8");
    let verdict = one(&v, "growth.heap_live");
    assert!(figure(verdict, "live_share") >= 1.0 / 3.0, "{verdict:#}");
    assert!(findings(&v, "growth.heap_held").is_empty(), "{v:#}");
    let verdict = validate(&v);
    assert!(verdict.is_none_or(|ok| ok == "valid"));
    // The process runs on after the detach.
    std::thread::sleep(Duration::from_millis(300));
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.pid())).unwrap();
    let state = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(state == "S" || state == "R", "state {state}");
}

#[test]
fn deep_needs_one_process() {
    let out = doctor(&["--deep", "--duration", "0.5"], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "memdx doctor: --deep needs one process: a PID, or a --name matching one\n"
    );
    let p1 = Prog::start(&program("watch_mem"), &["stable", "1", "30"]);
    let p2 = Prog::start(&program("watch_mem"), &["stable", "1", "30"]);
    let out = doctor(
        &[
            "--name",
            "doctor_watch_mem stable",
            "--deep",
            "--duration",
            "0.5",
        ],
        None,
    );
    drop((p1, p2));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(
            "memdx doctor: --deep needs one process: --name doctor_watch_mem stable matches "
        ) && err.ends_with(": give its PID\n")
            && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn deep_on_a_process_it_cannot_attach_to_is_a_note() {
    // A stopped process is one attach refuses (resuming a thread would
    // wake it): doctor runs on, names the obstacle in a note, and leaves
    // the process stopped.
    let p = Prog::start(&program("watch_mem"), &["stable", "1", "30"]);
    // SAFETY: kill on our own child's pid.
    assert_eq!(unsafe { libc::kill(p.0.id() as i32, libc::SIGSTOP) }, 0);
    std::thread::sleep(Duration::from_millis(200));
    let out = doctor(&[&p.pid(), "--deep", "--duration", "0.5", "--json"], None);
    let v = json(&out);
    assert!(matches!(out.status.code(), Some(0 | 3 | 4)), "{out:?}");
    let notes: Vec<&str> = findings(&v, "access.unreadable")
        .iter()
        .filter_map(|f| f["title"].as_str())
        .filter(|t| t.starts_with("heap capture (--deep): "))
        .collect();
    assert_eq!(
        notes,
        [format!(
            "heap capture (--deep): process {0} is stopped (SIGSTOP or a job-control stop): continue it first (kill -CONT {0}): allocation sites not named",
            p.pid()
        )],
        "{v:#}"
    );
    assert!(findings(&v, "growth.heap_sites").is_empty());
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.pid())).unwrap();
    assert_eq!(
        stat.rsplit_once(')').unwrap().1.split_whitespace().next(),
        Some("T")
    );
}

#[test]
fn a_stable_process_is_not_flagged() {
    let p = Prog::start(&program("watch_mem"), &["stable", "64", "30"]);
    // Let it touch its 64 MiB first.
    std::thread::sleep(Duration::from_millis(700));
    let out = doctor(
        &[&p.pid(), "--duration", "3", "--interval", "0.2", "--json"],
        None,
    );
    let v = json(&out);
    assert!(growth_of(&v, &p.pid()).is_empty(), "{v:#}");
    let target = one(&v, "who.target");
    assert!(figure(target, "pss_bytes") >= 64.0 * MIB, "{target:#}");
}

#[test]
fn a_process_sharing_a_large_mapping_is_charged_its_share() {
    // ps_sharer: parent and child share 32 MiB, then touch 16 / 8 MiB each.
    let mut p = Prog::start(&program("ps_sharer"), &[]);
    let stdout = p.0.child().stdout.take().unwrap();
    let ready = memdx_testkit::read_lines_within(stdout, 2, Duration::from_secs(60));
    assert!(ready.is_some(), "ps_sharer did not say ready within 60 s");
    let parent = p.pid();
    let out = doctor(&[&parent, "--duration", "0.5", "--json"], None);
    let v = json(&out);
    let t = one(&v, "who.target");
    let (rss, pss, uss) = (
        figure(t, "rss_bytes"),
        figure(t, "pss_bytes"),
        figure(t, "uss_bytes"),
    );
    // Its own: 16 MiB private; its share of the 32 MiB: half.
    assert!(
        rss - pss >= 14.0 * MIB,
        "rss {rss} pss {pss}: blamed for the shared pages"
    );
    assert!(rss - uss >= 30.0 * MIB, "rss {rss} uss {uss}");
    assert!(
        t["evidence"][0]
            .as_str()
            .unwrap()
            .contains("of its RSS is shared"),
        "{t:#}"
    );
}
