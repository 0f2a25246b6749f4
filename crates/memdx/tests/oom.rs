//! `memdx oom` end to end on OOM reports from several kernels (4.9 syslog,
//! 5.10 dmesg, 6.1 memory-cgroup, 6.11 /dev/kmsg with two kills).

// Test helpers outside #[test] fns panic on purpose, like the tests.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
    cmd.output().unwrap()
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
