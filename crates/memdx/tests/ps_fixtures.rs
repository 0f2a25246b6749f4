//! `memdx ps` on fixture /proc trees: containers in cgroup v2 and v1, a
//! kernel thread, a zombie, a process that vanished mid-read, an unknown uid.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use memdx_testkit::{Deadline, DEADLINE};
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn tree(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/ps")
        .join(name)
}

fn run(tree_name: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memdx"))
        .arg("ps")
        .args(args)
        .env("MEMDX_PROC_ROOT", tree(tree_name))
        .output_within(DEADLINE)
}

fn json(tree_name: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run(tree_name, &all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn pids(v: &Value) -> Vec<u64> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pid"].as_u64().unwrap())
        .collect()
}

const DOCKER_ID: &str = "3f2a9c1be0d47e5a8c6f0e4d2b1a7c9e8f6d5b4a3c2e1f0a9b8c7d6e5f4a3b2c";

#[test]
fn default_order_is_pss_descending_with_unknown_last() {
    let v = json("cgroup-v2-containers", &[]);
    // firefox 447100, web content 131220, checkpointer 38211, bgwriter 27050,
    // postmaster 9421, backup 7100, systemd 4312, bash 2087, then no PSS:
    // the zombie and the kernel thread (ordered by pid).
    assert_eq!(
        pids(&v),
        vec![2210, 2301, 845, 846, 812, 3100, 1, 2400, 2, 2450]
    );
    assert_eq!(v["rows_are"], "process");
}

#[test]
fn vanished_process_is_skipped_silently() {
    let out = run("cgroup-v2-containers", &[]);
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pid_of_no_process_exits_1_like_ps_p() {
    // 2999 vanished mid-read; 4000 never existed.
    for pid in ["2999", "4000", "2999,4000"] {
        let out = run("cgroup-v2-containers", &["--json", "--pid", pid]);
        assert_eq!(out.status.code(), Some(1), "--pid {pid}");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(v["rows"].as_array().unwrap().is_empty());
        let out = run("cgroup-v2-containers", &["--pid", pid]);
        assert_eq!(out.status.code(), Some(1), "--pid {pid}");
        // The header alone, as ps -p prints it (no TOTAL of nothing).
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with("    PID USER"), "{text}");
    }
    // One of the pids exists: success.
    let out = run("cgroup-v2-containers", &["--pid", "4000,845"]);
    assert!(out.status.success());
}

#[test]
fn cgroups_print_as_container_and_unit_names() {
    let out = run("cgroup-v2-containers", &["--by", "cgroup"]);
    let text = String::from_utf8(out.stdout).unwrap();
    for name in [
        "docker:3f2a9c1be0d4",
        "app-firefox.scope",
        "session-3.scope",
        "backup.service",
        "init.scope",
    ] {
        assert!(
            text.lines().any(|l| l.ends_with(&format!(" {name}"))),
            "{name} missing:\n{text}"
        );
    }
    assert!(!text.contains(DOCKER_ID), "{text}");
    let out = run("cgroup-v1-docker", &["--pid", "845"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(" docker:3f2a9c1be0d4 "), "{text}");
}

#[test]
fn piped_output_has_full_rows() {
    // Not a terminal: nothing is cut, however long the command line.
    let out = run("cgroup-v2-containers", &["--pid", "2210"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let cmdline = std::fs::read_to_string(tree("cgroup-v2-containers").join("proc/2210/cmdline"))
        .unwrap()
        .trim_end_matches('\0')
        .replace('\0', " ");
    assert!(text.lines().nth(1).unwrap().ends_with(&cmdline), "{text}");
}

#[test]
fn sizes_are_bytes_from_status_and_smaps_rollup() {
    let v = json("cgroup-v2-containers", &["--pid", "812"]);
    let r = &v["rows"][0];
    assert_eq!(r["user"], "postgres");
    assert_eq!(r["rss"], 31264 * 1024);
    assert_eq!(r["pss"], 9421 * 1024);
    assert_eq!(r["uss"], (2210 + 3120) * 1024);
    assert_eq!(r["swap"], 1024 * 1024);
    assert_eq!(r["shr"], (10240 + 15904) * 1024);
    assert_eq!(r["virt"], 218036 * 1024);
    assert_eq!(
        r["command"],
        "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main"
    );
    assert_eq!(
        r["cgroup"],
        format!("/system.slice/docker-{DOCKER_ID}.scope")
    );
}

#[test]
fn kernel_threads_and_zombies_have_no_sizes_not_zero() {
    let v = json("cgroup-v2-containers", &["--pid", "2,2450"]);
    for r in v["rows"].as_array().unwrap() {
        assert!(r["rss"].is_null() && r["pss"].is_null(), "{r}");
    }
    assert_eq!(v["rows"][0]["command"], "[kthreadd]");
}

#[test]
fn cgroup_v1_memory_controller_path_is_used() {
    let v = json("cgroup-v1-docker", &["--pid", "845"]);
    assert_eq!(v["rows"][0]["cgroup"], format!("/docker/{DOCKER_ID}"));
}

#[test]
fn grouping_by_cgroup_sums_a_container() {
    for t in ["cgroup-v2-containers", "cgroup-v1-docker"] {
        let v = json(t, &["--by", "cgroup", "--cgroup", DOCKER_ID]);
        let rows = v["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{t}");
        assert_eq!(rows[0]["count"], 3);
        assert_eq!(rows[0]["pss"], (9421 + 38211 + 27050) * 1024);
        assert_eq!(v["rows_are"], "cgroup");
    }
}

#[test]
fn grouping_by_user_and_command() {
    let v = json("cgroup-v2-containers", &["--by", "user", "--sort", "user"]);
    let users: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, vec!["4242", "alice", "postgres", "root"]);
    let v = json(
        "cgroup-v2-containers",
        &["--by", "command", "--name", "postgres"],
    );
    assert_eq!(v["rows"][0]["command"], "postgres");
    assert_eq!(v["rows"][0]["count"], 3);
}

#[test]
fn filters_by_user_name_or_uid_and_regex() {
    let by_name = pids(&json(
        "cgroup-v2-containers",
        &["--user", "alice", "--sort", "pid"],
    ));
    let by_uid = pids(&json(
        "cgroup-v2-containers",
        &["--user", "1000", "--sort", "pid"],
    ));
    assert_eq!(by_name, vec![2210, 2301, 2400, 2450]);
    assert_eq!(by_name, by_uid);
    let re = pids(&json(
        "cgroup-v2-containers",
        &["--name", "^postgres: ", "--sort", "pid"],
    ));
    assert_eq!(re, vec![845, 846]);
}

#[test]
fn totals_sum_the_rows_shown() {
    let v = json("cgroup-v2-containers", &["--user", "postgres"]);
    assert_eq!(v["totals"]["count"], 3);
    assert_eq!(v["totals"]["rss"], (31264 + 81320 + 60112) * 1024);
}

#[test]
fn text_table_has_header_rows_and_total() {
    let out = run("cgroup-v2-containers", &["--user", "postgres", "-m"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[0].contains("PID") && lines[0].contains("PSS") && lines[0].contains("CGROUP"));
    assert!(
        lines[1].trim_start().starts_with("845 postgres"),
        "{}",
        lines[1]
    );
    assert!(lines[4].ends_with("TOTAL"), "{}", lines[4]);
    // -m: 81320 KiB RSS prints as 79 MiB
    assert!(lines[1].contains("       79 "), "{}", lines[1]);
}

#[test]
fn fast_mode_has_no_pss_but_keeps_swap_from_status() {
    let v = json("cgroup-v2-containers", &["--fast", "--pid", "2210"]);
    assert!(v["rows"][0]["pss"].is_null());
    assert_eq!(v["rows"][0]["swap"], 204800 * 1024);
    let out = run("cgroup-v2-containers", &["--fast"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("PSS"));
}

#[test]
fn bad_arguments_are_one_line_errors() {
    for args in [
        &["--sort", "-bogus"][..],
        &["--name", "("][..],
        &["--fast", "--sort", "-uss"][..],
        &["-k", "-m"][..],
    ] {
        let out = run("cgroup-v2-containers", args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn a_user_that_does_not_exist_is_an_error_like_ps_u() {
    for users in ["nosuchuser", "alice,nosuchuser"] {
        let out = run("cgroup-v2-containers", &["--user", users]);
        assert_eq!(out.status.code(), Some(1), "--user {users}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "memdx ps: --user nosuchuser: no such user\n"
        );
        assert!(out.stdout.is_empty());
    }
    // A uid without a name is a user (4242 owns pid 3100 in the tree).
    assert_eq!(
        pids(&json("cgroup-v2-containers", &["--user", "4242"])),
        vec![3100]
    );
}

#[test]
fn ps_habits_like_aux_and_ef_say_memdx_lists_every_process() {
    for habit in ["aux", "-ef", "-e", "-A"] {
        let out = run("cgroup-v2-containers", &[habit]);
        assert_eq!(out.status.code(), Some(1), "{habit}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err,
            format!("memdx ps: '{habit}' is not needed: memdx ps lists every process (narrow it with --user, --pid, --name or --cgroup; see 'memdx ps --help')\n")
        );
    }
    // Other unknown options keep clap's message.
    let out = run("cgroup-v2-containers", &["-x"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "memdx ps: unexpected argument '-x' found (see 'memdx ps --help')\n"
    );
}

#[test]
fn missing_proc_is_an_error_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .arg("ps")
        .env("MEMDX_PROC_ROOT", "/nonexistent-memdx")
        .output_within(DEADLINE);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent-memdx/proc"));
}

/// `memdx ps ARGS` on a 70-column terminal (util-linux `script` gives it a
/// pty); `None` when `script` is missing.
fn ps_on_terminal(args: &str) -> Option<String> {
    if Command::new("script")
        .arg("--version")
        .try_output_within(DEADLINE)
        .is_err()
    {
        memdx_testkit::tool_missing("script (util-linux) is not installed");
        return None;
    }
    let cmd = format!(
        "stty cols 70 rows 40; MEMDX_PROC_ROOT='{}' '{}' ps {args}",
        tree("cgroup-v2-containers").display(),
        env!("CARGO_BIN_EXE_memdx")
    );
    let out = memdx_testkit::output_with_deadline(
        Command::new("script").args(["-q", "-e", "-c", &cmd, "/dev/null"]),
        std::time::Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap().replace('\r', ""))
}

#[test]
fn terminal_output_fits_the_width_and_w_gives_full_rows() {
    let Some(text) = ps_on_terminal("") else {
        return;
    };
    assert!(text.contains("PID"), "{text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 70, "wider than 70: {line:?}");
    }
    // The command is cut, not the row wrapped: every pid's row is one line.
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("2210 ")),
        "{text}"
    );
    let Some(text) = ps_on_terminal("-w --pid 2210") else {
        return;
    };
    assert!(
        text.lines()
            .any(|l| l.ends_with("/usr/lib/firefox-esr/firefox-esr")),
        "{text}"
    );
}
