//! `memdx free` on the live machine against the installed procps, and on bad
//! input.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use memdx_testkit::{Deadline, DEADLINE};
use std::path::Path;
use std::process::{Command, Output};

fn memdx(args: &[&str], root: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_memdx"));
    cmd.args(args);
    if let Some(root) = root {
        cmd.env("MEMDX_PROC_ROOT", root);
    } else {
        cmd.env_remove("MEMDX_PROC_ROOT");
    }
    cmd.output_within(DEADLINE)
}

/// Parses `free -b` text into rows of numbers keyed by the row label.
fn rows(text: &str) -> Vec<(String, Vec<i64>)> {
    text.lines()
        .skip(1)
        .map(|l| {
            let mut words = l.split_whitespace();
            let label = words.next().unwrap().to_string();
            (label, words.map(|w| w.parse().unwrap()).collect())
        })
        .collect()
}

#[test]
fn live_totals_agree_with_procps_and_the_rest_is_close() {
    let Ok(procps) = Command::new("free")
        .args(["-b", "-t", "-v"])
        .try_output_within(DEADLINE)
    else {
        memdx_testkit::tool_missing("procps `free` is not installed");
        return;
    };
    let ours = memdx(&["free", "-b", "-t", "-v"], None);
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let (theirs, ours) = (
        rows(&String::from_utf8_lossy(&procps.stdout)),
        rows(&String::from_utf8_lossy(&ours.stdout)),
    );
    assert_eq!(
        theirs.iter().map(|r| &r.0).collect::<Vec<_>>(),
        ours.iter().map(|r| &r.0).collect::<Vec<_>>()
    );
    // Other tests (and builds) allocate and free between the two runs: allow
    // 5 % of RAM, at least 256 MiB. The totals must still agree exactly.
    let mem_total = theirs[0].1[0];
    let tolerance = (mem_total / 20).max(256 << 20);
    for ((label, a), (_, b)) in theirs.iter().zip(&ours) {
        assert_eq!(a.len(), b.len(), "{label}");
        // Column 0 of Mem/Swap/Total/Comm is a total the kernel does not change.
        assert_eq!(a[0], b[0], "{label} total");
        for (x, y) in a.iter().zip(b).skip(1) {
            assert!(
                (x - y).abs() <= tolerance,
                "{label}: procps {x} vs memdx {y}"
            );
        }
    }
}

#[test]
fn json_reports_bytes_that_match_the_text() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/free/laptop-swap-overcommit");
    let json = memdx(&["free", "--json"], Some(&root));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let text = String::from_utf8(memdx(&["free", "-b", "-w", "-v"], Some(&root)).stdout).unwrap();
    let rows = rows(&text);
    let mem = &rows[0].1;
    assert_eq!(v["mem"]["total"].as_i64().unwrap(), mem[0]);
    assert_eq!(v["mem"]["used"].as_i64().unwrap(), mem[1]);
    assert_eq!(v["mem"]["cache"].as_i64().unwrap(), mem[5]);
    assert_eq!(v["mem"]["available"].as_i64().unwrap(), mem[6]);
    assert_eq!(v["swap"]["used"].as_i64().unwrap(), rows[1].1[1]);
    // Overcommitted: procps prints the wrapped difference, JSON a true negative.
    assert_eq!(v["commit"]["available"].as_i64().unwrap(), rows[2].1[2]);
    assert!(v["commit"]["available"].as_i64().unwrap() < 0);
}

#[test]
fn json_with_count_prints_one_object_per_line() {
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/free/debian12-idle");
    let out = memdx(&["free", "--json", "-c", "3", "-s", "0.01"], Some(&root));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 3);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut last = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["mem"]["total"], 24684084u64 * 1024);
        // Each line carries when it was read, as vmstat --json does.
        let time = v["time"].as_u64().unwrap();
        assert!(time >= last && time <= now && time + 600 > now, "{line}");
        last = time;
    }
}

fn assert_one_line_error(out: &Output, must_mention: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(must_mention),
        "{stderr:?} should mention {must_mention:?}"
    );
}

fn bad_meminfo(name: &str, content: &str) -> tempdir::Dir {
    let dir = tempdir::Dir::new(name);
    std::fs::create_dir_all(dir.path().join("proc")).unwrap();
    std::fs::write(dir.path().join("proc/meminfo"), content).unwrap();
    dir
}

mod tempdir {
    use std::path::{Path, PathBuf};

    /// A directory under the target's temp dir, removed on drop.
    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new(name: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("memdx-test-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn corrupt_meminfo_is_a_one_line_error_naming_file_and_line() {
    let dir = bad_meminfo("nonnumeric", "MemTotal: 1000 kB\nMemFree: abc kB\n");
    let out = memdx(&["free"], Some(dir.path()));
    assert_one_line_error(&out, "proc/meminfo line 2");
}

#[test]
fn truncated_meminfo_is_an_error() {
    let dir = bad_meminfo(
        "truncated",
        "MemTotal:       24684084 kB\nMemFree:        241",
    );
    assert_one_line_error(&memdx(&["free"], Some(dir.path())), "truncated");
}

#[test]
fn empty_meminfo_is_an_error() {
    let dir = bad_meminfo("empty", "");
    assert_one_line_error(&memdx(&["free", "-h"], Some(dir.path())), "empty");
}

#[test]
fn meminfo_without_memtotal_is_an_error() {
    let dir = bad_meminfo("nototal", "MemFree: 10 kB\nBuffers: 1 kB\n");
    assert_one_line_error(&memdx(&["free"], Some(dir.path())), "MemTotal is missing");
}

#[test]
fn missing_proc_says_which_file_does_not_exist() {
    let out = memdx(&["free"], Some(Path::new("/nonexistent-memdx")));
    assert_one_line_error(
        &out,
        "free: Memory information file /nonexistent-memdx/proc/meminfo does not exist",
    );
}

#[test]
fn unknown_option_is_a_one_line_usage_error() {
    let out = memdx(&["free", "--bogus"], None);
    assert_one_line_error(&out, "--bogus");
}

#[test]
fn stray_argument_is_rejected() {
    let out = memdx(&["free", "extra"], None);
    assert_one_line_error(&out, "extra");
}

#[test]
fn broken_pipe_is_not_an_error() {
    use std::io::Read;
    use std::process::Stdio;
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/free/debian12-idle");
    let mut group = memdx_testkit::GroupChild::spawn(
        Command::new(env!("CARGO_BIN_EXE_memdx"))
            .args(["free", "-s", "0.01", "-c", "500"])
            .env("MEMDX_PROC_ROOT", &root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .unwrap();
    let child = group.child();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let status = group
        .wait_within(DEADLINE)
        .expect("memdx free still running after its stdout was closed");
    let mut err = Vec::new();
    stderr.read_to_end(&mut err).unwrap();
    let out = std::process::Output {
        status,
        stdout: Vec::new(),
        stderr: err,
    };
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
