//! `memdx oom` end to end on OOM reports from several kernels (4.9 syslog,
//! 5.10 dmesg, 6.1 memory-cgroup, 6.11 /dev/kmsg with two kills).

// Test helpers outside #[test] fns panic on purpose, like the tests.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, UNIX_EPOCH};

use memdx_testkit::output_with_deadline;

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/oom")
        .join(name)
}

fn memdx(args: &[&str], root: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_memdx"));
    cmd.args(args);
    match root {
        Some(r) => cmd.env("MEMDX_PROC_ROOT", r),
        None => cmd.env_remove("MEMDX_PROC_ROOT"),
    };
    output_with_deadline(&mut cmd, Duration::from_secs(60))
}

fn events(file: &str, extra: &[&str]) -> Vec<Value> {
    let path = fixture(file);
    let mut args = vec!["oom", path.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = memdx(&args, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["events"].as_array().unwrap().clone()
}

#[test]
fn global_oom_on_5_10_with_victim_rss_and_task_table() {
    let ev = events("dmesg-5.10-global.txt", &[]);
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["time"], 9021.551302);
    assert_eq!(e["trigger"]["comm"], "python3");
    assert_eq!(e["trigger"]["gfp_mask"], "0x100cca(GFP_HIGHUSER_MOVABLE)");
    assert_eq!(e["constraint"], "CONSTRAINT_NONE");
    assert_eq!(e["global"], true);
    assert_eq!(
        e["task_memcg"],
        "/user.slice/user-1000.slice/session-4.scope"
    );
    assert_eq!(e["victim"]["pid"], 23811);
    assert_eq!(e["victim"]["anon_rss"], 3_805_320u64 * 1024);
    assert_eq!(e["victim"]["file_rss"], 0);
    assert_eq!(e["victim"]["shmem_rss"], 0);
    assert_eq!(e["victim"]["uid"], 1000);
    assert_eq!(e["reaped"], true);
    let tasks = e["tasks"].as_array().unwrap();
    assert_eq!(
        tasks.len(),
        6,
        "Mem-Info and call trace lines are not tasks"
    );
    assert_eq!(tasks[1]["columns"]["oom_score_adj"], -1000);
    assert_eq!(tasks[5]["name"], "python3");
    assert_eq!(tasks[5]["columns"]["rss"], 951_330);
}

#[test]
fn memcg_oom_on_6_1_names_the_cgroup_and_its_limit() {
    let ev = events("dmesg-6.1-memcg.txt", &[]);
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["constraint"], "CONSTRAINT_MEMCG");
    assert_eq!(e["global"], false);
    assert_eq!(e["oom_memcg"], "/system.slice/batch-worker.service");
    assert_eq!(e["memcg"]["memory"]["usage"], 524_288u64 * 1024);
    assert_eq!(e["memcg"]["memory"]["limit"], 524_288u64 * 1024);
    assert_eq!(e["memcg"]["memory"]["failcnt"], 1812);
    // swap: limit 9007199254740988kB is the kernel's "no limit".
    assert!(e["memcg"]["swap"]["limit"].is_null(), "{}", e["memcg"]);
    assert_eq!(e["victim"]["comm"], "stress-ng-vm");
    assert_eq!(e["victim"]["oom_score_adj"], 1000);
    assert_eq!(e["tasks"].as_array().unwrap().len(), 3);
}

#[test]
fn kmsg_6_11_has_two_kills_and_the_new_rss_columns() {
    let ev = events("kmsg-6.11-two-kills.txt", &[]);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["victim"]["comm"], "java");
    assert_eq!(ev[0]["reaped"], true);
    assert_eq!(ev[0]["tasks"][1]["columns"]["rss_anon"], 1_989_988);
    assert_eq!(ev[0]["tasks"][2]["name"], "gradle daemon");
    assert_eq!(ev[1]["victim"]["comm"], "gradle daemon");
    assert_eq!(ev[1]["victim"]["pid"], 77488);
    assert_eq!(ev[1]["reaped"], false);
    assert_eq!(ev[1]["time"], 7204.511004);
    // --since counts back from the log's last line (7204.5 s): only the second kill.
    let recent = events("kmsg-6.11-two-kills.txt", &["--since", "30m"]);
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0]["victim"]["pid"], 77488);
    assert_eq!(
        events("kmsg-6.11-two-kills.txt", &["--since", "2h"]).len(),
        2
    );
}

#[test]
fn old_4_9_sacrifice_child_layout_in_syslog() {
    let ev = events("syslog-4.9-sacrifice.txt", &[]);
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["victim"]["pid"], 1021);
    assert_eq!(e["victim"]["anon_rss"], 804_932u64 * 1024);
    assert_eq!(e["victim"]["uid"], Value::Null, "4.9 printed no UID");
    assert_eq!(e["constraint"], Value::Null);
    assert_eq!(e["tasks"][1]["columns"]["nr_ptes"], 560);
    assert_eq!(e["trigger"]["order"], 0);
}

#[test]
fn text_output_per_event() {
    let out = memdx(
        &[
            "oom",
            fixture("dmesg-6.1-memcg.txt").to_str().unwrap(),
            "--tasks",
            "1",
        ],
        None,
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(
            "OOM kill at 12004.331010s after boot: killed pid 50211 (stress-ng-vm), uid 998\n"
        ),
        "{text}"
    );
    assert!(text.contains("  constraint: CONSTRAINT_MEMCG (cgroup /system.slice/batch-worker.service hit its limit)"), "{text}");
    assert!(
        text.contains("  memcg memory: usage 512.0M of limit 512.0M, failcnt 1812\n"),
        "{text}"
    );
    assert!(
        text.contains("  memcg swap: usage 0.0M of limit max, failcnt 0\n"),
        "{text}"
    );
    assert!(
        text.contains("  tasks (top 1 of 3 by rss, pages):\n"),
        "{text}"
    );
}

#[test]
fn no_kills_and_bad_arguments() {
    let out = memdx(
        &[
            "oom",
            fixture("../kmemleak/dmesg-6.1.txt").to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "No OOM kills found.\n"
    );
    let out = memdx(&["oom", "/nonexistent/dmesg.txt"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/dmesg.txt"));
    let out = memdx(
        &[
            "oom",
            fixture("dmesg-6.1-memcg.txt").to_str().unwrap(),
            "--since",
            "yesterday",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn live_kmsg_under_a_fake_root_uses_its_uptime_for_since() {
    let dir = std::env::temp_dir().join(format!("memdx-oom-root-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("dev")).unwrap();
    std::fs::create_dir_all(dir.join("proc")).unwrap();
    std::fs::copy(fixture("kmsg-6.11-two-kills.txt"), dir.join("dev/kmsg")).unwrap();
    std::fs::write(dir.join("proc/uptime"), "9000.00 17000.00\n").unwrap();
    let out = memdx(&["oom", "--json", "--since", "1h"], Some(&dir));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ev = v["events"].as_array().unwrap();
    assert_eq!(
        ev.len(),
        1,
        "uptime 9000 s minus 1 h leaves only the kill at 7204 s"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn live_machine_lists_kills_or_explains_why_the_log_is_unreadable() {
    let out = memdx(&["oom", "--json"], None);
    if out.status.success() {
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(v["events"].is_array());
    } else {
        assert!(String::from_utf8_lossy(&out.stderr).contains("kmsg"));
    }
}

/// A real OOM kill captured by scripts/kmemleak-e2e.sh: a 6.1 tinyconfig
/// guest (no memory cgroups, so the summary line has no `global_oom`) where
/// two 300 MiB `dd` buffers met 512 MiB of RAM.
#[test]
fn real_oom_from_a_6_1_guest_without_memcg() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/kmemleak/qemu-6.1-kmemleak-test-dmesg.txt");
    let out = memdx(&["oom", path.to_str().unwrap(), "--json"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ev = v["events"].as_array().unwrap();
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["victim"]["comm"], "dd");
    assert_eq!(e["victim"]["anon_rss"], 245_772u64 * 1024);
    assert_eq!(e["constraint"], "CONSTRAINT_NONE");
    assert_eq!(
        e["global"], true,
        "CONSTRAINT_NONE without memcg is machine-wide"
    );
    assert_eq!(e["task_memcg"], Value::Null);
    let names: Vec<&str> = e["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.iter().filter(|n| **n == "dd").count(), 2, "{names:?}");
}

// ---- wall-clock times from every log format ----
//
// `*-6.1-memcg.txt` are the same 6.1 memory-cgroup OOM report as each tool
// prints it, on a machine in UTC+1 (`TZ=CET-1`, a POSIX zone that needs no
// tzdata) that booted at 2026-03-03 06:55:00 UTC: the kill's first line,
// 12004.331010 s after boot, is 2026-03-03 10:15:04.331010 UTC.

const KILL_UTC: f64 = 1_772_532_904.331_01;

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("memdx-oom-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies a fixture into `dir` with its modification time set to `written`
/// (unix seconds): a syslog stamp without a year is put in the year that
/// does not place it after the file was written.
fn copy_written_at(file: &str, dir: &Path, written: u64) -> PathBuf {
    let to = dir.join(file);
    std::fs::copy(fixture(file), &to).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&to)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(written))
        .unwrap();
    to
}

fn local_memdx(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_memdx"));
    cmd.args(args)
        .env("TZ", "CET-1")
        .env_remove("MEMDX_PROC_ROOT");
    output_with_deadline(&mut cmd, Duration::from_secs(60))
}

fn local_events(path: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["oom", path.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = local_memdx(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["events"].as_array().unwrap().clone()
}

/// 2026-03-04 00:00 UTC, the day after the kill.
const NEXT_DAY: u64 = 1_772_582_400;

#[test]
fn every_log_format_gives_the_kill_its_wall_clock_time() {
    let scratch = Scratch::new("formats");
    // (fixture, extra arguments, whether the stamps have microseconds)
    let cases: [(&str, &[&str], bool); 10] = [
        ("dmesg-T-6.1-memcg.txt", &[], false),
        ("dmesg-iso-6.1-memcg.txt", &[], true),
        ("journal-short-6.1-memcg.txt", &[], false),
        ("journal-short-precise-6.1-memcg.txt", &[], true),
        ("journal-short-iso-6.1-memcg.txt", &[], false),
        ("rsyslog-iso-6.1-memcg.txt", &[], true),
        // Times since boot only: the boot time makes them wall-clock times.
        (
            "dmesg-6.1-memcg.txt",
            &["--boot-time", "2026-03-03 07:55"],
            true,
        ),
        (
            "journal-short-monotonic-6.1-memcg.txt",
            &["--boot-time", "2026-03-03T06:55:00Z"],
            true,
        ),
        (
            "dmesg-6.1-memcg.txt",
            &["--boot-time", "2026-03-03 06:55 UTC"],
            true,
        ),
        (
            "dmesg-6.1-memcg.txt",
            &["--boot-time", "2026-03-03T01:55:00-05:00"],
            true,
        ),
    ];
    for (file, extra, precise) in cases {
        let path = copy_written_at(file, &scratch.0, NEXT_DAY);
        let ev = local_events(&path, extra);
        assert_eq!(ev.len(), 1, "{file}");
        assert_eq!(ev[0]["victim"]["pid"], 50211, "{file}");
        assert_eq!(ev[0]["tasks"].as_array().unwrap().len(), 3, "{file}");
        let wall = ev[0]["wall_time"]
            .as_f64()
            .unwrap_or_else(|| panic!("{file}: {}", ev[0]));
        let want = if precise { KILL_UTC } else { KILL_UTC.floor() };
        assert!((wall - want).abs() < 1e-5, "{file}: {wall} != {want}");
    }
}

#[test]
fn kmsg_records_and_syslog_lines_with_kernel_stamps() {
    // /dev/kmsg records saved to a file, with the boot time given.
    let ev = local_events(
        &fixture("kmsg-6.11-two-kills.txt"),
        &["--boot-time", "2026-11-25 08:00"],
    );
    assert_eq!(ev.len(), 2);
    // 08:00 CET is 07:00 UTC = 1795590000; the first kill is 3615.900112 s later.
    assert!(
        (ev[0]["wall_time"].as_f64().unwrap() - (1_795_590_000.0 + 3_615.900_112)).abs() < 1e-5
    );
    // A syslog line carries both the receiving time and the kernel's [secs]:
    // the kill gets the syslog time (local, year from the file's time).
    let scratch = Scratch::new("syslog");
    let path = copy_written_at("syslog-4.9-sacrifice.txt", &scratch.0, NEXT_DAY);
    let ev = local_events(&path, &[]);
    assert_eq!(ev[0]["time"], 1_209_911.201_12);
    // Mar 3 04:12:55 CET = 03:12:55 UTC.
    assert_eq!(ev[0]["wall_time"], 1_772_507_575.0);
}

#[test]
fn a_syslog_stamp_without_a_year_takes_the_year_the_file_was_written() {
    let scratch = Scratch::new("year");
    // Written in January 2027: "Mar 03" is last March, 2026.
    let path = copy_written_at("journal-short-6.1-memcg.txt", &scratch.0, 1_799_539_200);
    assert_eq!(local_events(&path, &[])[0]["wall_time"], KILL_UTC.floor());
    // Written in June 2028: "Mar 03" is that year's March.
    let path = copy_written_at("journal-short-6.1-memcg.txt", &scratch.0, 1_843_430_400);
    let wall = local_events(&path, &[])[0]["wall_time"].as_f64().unwrap();
    assert_eq!(wall, 1_835_691_304.0, "2028-03-03 10:15:04 UTC");
}

#[test]
fn text_output_shows_local_time_and_time_since_boot() {
    let out = local_memdx(&[
        "oom",
        fixture("dmesg-6.1-memcg.txt").to_str().unwrap(),
        "--boot-time",
        "2026-03-03 07:55",
        "--tasks",
        "1",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(
            "OOM kill at 2026-03-03 11:15:04 +0100 (12004.331010s after boot): killed pid 50211 (stress-ng-vm), uid 998\n"
        ),
        "{text}"
    );
    let scratch = Scratch::new("text");
    let path = copy_written_at("journal-short-iso-6.1-memcg.txt", &scratch.0, NEXT_DAY);
    let out = local_memdx(&["oom", path.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("OOM kill at 2026-03-03 11:15:04 +0100: killed pid 50211"),
        "{text}"
    );
}

#[test]
fn since_takes_a_date_time_in_any_zone_or_a_duration() {
    let scratch = Scratch::new("since");
    let path = copy_written_at("journal-short-precise-6.1-memcg.txt", &scratch.0, NEXT_DAY);
    for (since, kept) in [
        ("2026-03-03 11:15", 1), // local (CET): 10:15 UTC
        ("2026-03-03 11:16", 0),
        ("2026-03-03T10:15:04Z", 1),
        ("2026-03-03T10:15:05Z", 0),
        ("2026-03-03 10:15:05 UTC", 0),
        ("2026-03-03T05:15:04-05:00", 1),
        ("2026-03-03", 1),
        ("2026-03-04", 0),
        // A duration counts back from the log's last stamp.
        ("1m", 1),
    ] {
        assert_eq!(
            local_events(&path, &["--since", since]).len(),
            kept,
            "--since {since}"
        );
    }
    // Two kills an hour apart in /dev/kmsg records with a boot time given.
    let kmsg = fixture("kmsg-6.11-two-kills.txt");
    let boot = ["--boot-time", "2026-11-25 08:00"];
    let with = |since: &str| {
        let mut extra = boot.to_vec();
        extra.extend(["--since", since]);
        local_events(&kmsg, &extra).len()
    };
    assert_eq!(with("2026-11-25 09:00"), 2);
    assert_eq!(with("2026-11-25 09:30"), 1);
    assert_eq!(with("2026-11-25 10:01"), 0);
    assert_eq!(with("30m"), 1);
}

#[test]
fn a_date_time_since_on_times_since_boot_only_is_an_error_that_says_why() {
    let file = fixture("dmesg-6.1-memcg.txt");
    let out = local_memdx(&["oom", file.to_str().unwrap(), "--since", "2026-03-03 10:00"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dmesg-6.1-memcg.txt has times since boot only"),
        "{err}"
    );
    assert!(err.contains("--boot-time"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = local_memdx(&["oom", file.to_str().unwrap(), "--boot-time", "2h"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("memdx oom: --boot-time: '2h' is not a date and time"),
        "{err}"
    );
}

#[test]
fn live_kmsg_times_are_placed_by_the_uptime() {
    let dir = Scratch::new("live-wall");
    std::fs::create_dir_all(dir.0.join("dev")).unwrap();
    std::fs::create_dir_all(dir.0.join("proc")).unwrap();
    std::fs::copy(fixture("kmsg-6.11-two-kills.txt"), dir.0.join("dev/kmsg")).unwrap();
    std::fs::write(dir.0.join("proc/uptime"), "9000.00 17000.00\n").unwrap();
    let out = memdx(&["oom", "--json", "--since", "2000-01-01"], Some(&dir.0));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ev = v["events"].as_array().unwrap();
    assert_eq!(ev.len(), 2);
    // One boot for both: wall time minus time since boot is the same.
    let boot = |e: &Value| e["wall_time"].as_f64().unwrap() - e["time"].as_f64().unwrap();
    assert!((boot(&ev[0]) - boot(&ev[1])).abs() < 1e-3, "{ev:?}");
    // The kills were 9000 - 3615.9 s and 9000 - 7204.5 s before the uptime was read.
    assert!(boot(&ev[1]) > 1_700_000_000.0, "{ev:?}");
}
