//! `memdx heap` snapshots and the heap beside RSS, on
//! `tests/programs/heap_fragment.c` (200,000 blocks of 100 bytes, then
//! every other one freed, waiting for the test between the phases):
//! `memdx heap snapshot PID NAME` marks the moments, `report --at NAME` and
//! `diff --from NAME --to NAME2` use them, and the recording's memory
//! readings show the live heap halving while what glibc holds and the RSS
//! stay (fragmentation, not a leak).

// Test support: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use memdx_testkit::{Deadline, GroupChild, DEADLINE};
use serde_json::Value;
use tempfile::TempDir;

fn build(dir: &TempDir) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/heap_fragment.c");
    let exe = dir.path().join("heap_fragment");
    let out = Command::new("gcc")
        .args(["-O2", "-g"])
        .arg(src)
        .arg("-o")
        .arg(&exe)
        .output_within(DEADLINE);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

fn memdx(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(args)
        .output_within(DEADLINE)
}

/// Waits for the program to create `name` in `dir`; its content (a pid).
fn wait_for(dir: &Path, name: &str) -> String {
    let started = Instant::now();
    let path = dir.join(name);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            return text.trim().to_string();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no {name}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn snapshots_mark_moments_and_the_report_shows_rss_staying_while_the_heap_halves() {
    let dir = tempfile::Builder::new()
        .prefix("heap-snapshots-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let exe = build(&dir);
    let sync = dir.path().join("sync");
    std::fs::create_dir(&sync).unwrap();
    let rec = dir.path().join("rec.mdxh");
    let log = std::fs::File::create(dir.path().join("stderr")).unwrap();
    let mut run = GroupChild::spawn(
        Command::new(env!("CARGO_BIN_EXE_memdx"))
            .arg("heap")
            .arg("-o")
            .arg(&rec)
            .arg(&exe)
            .arg(&sync)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log),
    )
    .unwrap();

    let pid = wait_for(&sync, "filled");
    let out = memdx(&["heap", "snapshot", &pid, "filled"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("memdx heap: snapshot filled marked at ")
    );
    std::fs::write(sync.join("go1"), "").unwrap();
    wait_for(&sync, "halved");
    // Unnamed: the run's second snapshot.
    let out = memdx(&["heap", "snapshot", &pid]);
    assert!(String::from_utf8_lossy(&out.stdout)
        .starts_with("memdx heap: snapshot snapshot-2 marked at "));
    std::fs::write(sync.join("go2"), "").unwrap();
    let status = run
        .wait_within(DEADLINE)
        .expect("memdx heap ran past its deadline");
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("\nsnapshots:\n  filled at "), "{stderr}");
    assert!(stderr.contains("\nheap beside RSS "), "{stderr}");

    // The figures at each snapshot are exact.
    let r = rec.to_str().unwrap();
    let at_filled = json(&memdx(&["heap", "report", "--json", "--at", "filled", r]));
    let at_halved = json(&memdx(&[
        "heap",
        "report",
        "--json",
        "--at",
        "snapshot-2",
        r,
    ]));
    // The program's stdio buffers for its "filled" file come and go; the
    // blocks are 100 bytes each.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/heap_fragment.c");
    let line = std::fs::read_to_string(src)
        .unwrap()
        .lines()
        .position(|l| l.contains("/* fragment site */"))
        .unwrap()
        + 1;
    let at_site = |g: &Value| {
        g["frames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["file"] == "heap_fragment.c" && f["line"] == line)
    };
    let site = |report: &Value| -> f64 {
        report["views"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["view"] == "exit")
            .unwrap()["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| at_site(g))
            .map_or(0.0, |g| g["stats"]["exit_bytes"].as_f64().unwrap())
    };
    assert_eq!(site(&at_filled), 20_000_000.0, "{at_filled}");
    assert_eq!(site(&at_halved), 10_000_000.0, "{at_halved}");
    let diff = memdx(&["heap", "diff", r, "--from", "filled", "--to", "snapshot-2"]);
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(
        diff.status.success(),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(text.contains("-10,000,000"), "{text}");
    // A name that is neither: a one-line error naming the snapshots.
    let bad = memdx(&["heap", "report", "--at", "nope", r]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("snapshots: filled, snapshot-2"));

    // Heap beside RSS: at the highest live heap and at the end.
    let full = json(&memdx(&["heap", "report", "--json", r]));
    let memory = full["memory"].as_array().unwrap();
    let get = |m: &Value, k: &str| m[k].as_f64().unwrap_or_else(|| panic!("no {k} in {m}"));
    // The highest reading of each figure (RSS is read at most every 20 ms,
    // and at the last burst).
    let highest = |k: &str| {
        memory
            .iter()
            .filter_map(|m| m[k].as_f64())
            .fold(0.0, f64::max)
    };
    let last = memory.last().unwrap();
    assert!(highest("live_heap") >= 15_000_000.0, "{memory:?}");
    assert!(
        get(last, "live_heap") <= 0.6 * highest("live_heap"),
        "{last}"
    );
    // What glibc holds and the RSS stay where they were.
    assert!(
        get(last, "allocator_held") >= 0.95 * highest("allocator_held"),
        "{memory:?}"
    );
    assert!(
        get(last, "allocator_held") >= 1.8 * get(last, "live_heap"),
        "{last}"
    );
    assert!(get(last, "rss") >= 0.9 * highest("rss"), "{memory:?}");
    assert!(
        get(last, "rss") >= get(last, "live_heap") + 10_000_000.0,
        "{last}"
    );
    // The report says so.
    let text = memdx(&["heap", "report", r]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("not a leak"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
}

#[test]
fn a_snapshot_of_a_process_not_under_memdx_heap_is_a_one_line_error() {
    let out = memdx(&["heap", "snapshot", &std::process::id().to_string(), "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "memdx heap snapshot: process {} is not running under memdx heap\n",
            std::process::id()
        )
    );
}
