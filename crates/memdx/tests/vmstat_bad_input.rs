//! Bad input: corrupt, truncated or missing /proc files, bad arguments.
//! Each must give one line on stderr, a non-zero exit and never a panic.

#![allow(clippy::unwrap_used)]

use memdx_testkit::{Deadline, DEADLINE};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn live_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/vmstat/live/0")
}

/// A scratch root, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

/// A copy of the live fixture's sample 0 with `file` replaced by `text`
/// (or removed when `None`).
fn broken_root(tag: &str, file: &str, text: Option<&str>) -> Scratch {
    let dir = std::env::temp_dir().join(format!("memdx-vmstat-bad-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("proc")).unwrap();
    for f in [
        "stat",
        "vmstat",
        "meminfo",
        "diskstats",
        "slabinfo",
        "uptime",
    ] {
        std::fs::copy(
            live_fixture().join("proc").join(f),
            dir.join("proc").join(f),
        )
        .unwrap();
    }
    match text {
        Some(t) => std::fs::write(dir.join("proc").join(file), t).unwrap(),
        None => std::fs::remove_file(dir.join("proc").join(file)).unwrap(),
    }
    Scratch(dir)
}

fn vmstat(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memdx"))
        .arg("vmstat")
        .args(args)
        .env("MEMDX_PROC_ROOT", root)
        .env_remove("MEMDX_REPLAY_ROOT")
        .output_within(DEADLINE)
}

/// Asserts a one-line error mentioning every `needle`, exit 1, no panic.
fn assert_one_line_error(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    for n in needles {
        assert!(err.contains(n), "{err:?} lacks {n:?}");
    }
    assert!(
        out.stdout.is_empty(),
        "printed before failing: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn read_file(name: &str) -> String {
    std::fs::read_to_string(live_fixture().join("proc").join(name)).unwrap()
}

#[test]
fn truncated_stat_names_the_file() {
    let text = read_file("stat");
    let root = broken_root("stat-trunc", "stat", Some(&text[..text.len() / 2]));
    assert_one_line_error(&vmstat(&root, &[]), &["proc/stat", "truncated"]);
    assert_one_line_error(&vmstat(&root, &["-s"]), &["proc/stat"]);
    assert_one_line_error(&vmstat(&root, &["-f"]), &["proc/stat"]);
}

#[test]
fn non_numeric_stat_value_names_file_and_line() {
    let text = read_file("stat").replace("ctxt ", "ctxt x");
    let line = text.lines().position(|l| l.starts_with("ctxt")).unwrap() + 1;
    let root = broken_root("stat-nan", "stat", Some(&text));
    assert_one_line_error(
        &vmstat(&root, &[]),
        &["proc/stat", &format!("line {line}"), "ctxt"],
    );
}

#[test]
fn corrupt_vmstat_names_file_and_line() {
    let text = read_file("vmstat").replace("pgpgin ", "pgpgin -");
    let line = text.lines().position(|l| l.starts_with("pgpgin")).unwrap() + 1;
    let root = broken_root("vmstat-nan", "vmstat", Some(&text));
    assert_one_line_error(
        &vmstat(&root, &[]),
        &["proc/vmstat", &format!("line {line}")],
    );
    let root = broken_root("vmstat-empty", "vmstat", Some(""));
    assert_one_line_error(&vmstat(&root, &["-s"]), &["proc/vmstat", "empty"]);
}

#[test]
fn corrupt_or_incomplete_meminfo_is_an_error() {
    let text = read_file("meminfo");
    let root = broken_root("meminfo-trunc", "meminfo", Some(&text[..100]));
    assert_one_line_error(&vmstat(&root, &[]), &["proc/meminfo"]);
    let no_total: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    let root = broken_root("meminfo-nototal", "meminfo", Some(&no_total));
    assert_one_line_error(&vmstat(&root, &["-s"]), &["proc/meminfo", "MemTotal"]);
    let root = broken_root("meminfo-garbage", "meminfo", Some("MemTotal: lots kB\n"));
    assert_one_line_error(&vmstat(&root, &[]), &["proc/meminfo", "line 1"]);
}

#[test]
fn corrupt_diskstats_and_slabinfo_are_errors() {
    let root = broken_root("disk", "diskstats", Some("   8 0 sda 1 2 3\n"));
    assert_one_line_error(&vmstat(&root, &["-d"]), &["proc/diskstats", "line 1"]);
    assert_one_line_error(&vmstat(&root, &["-D"]), &["proc/diskstats"]);
    assert_one_line_error(&vmstat(&root, &["-p", "sda"]), &["proc/diskstats"]);
    let root = broken_root("slab", "slabinfo", Some("slabinfo - version: 9.9\n"));
    assert_one_line_error(&vmstat(&root, &["-m"]), &["proc/slabinfo", "version"]);
    assert_one_line_error(&vmstat(&root, &["-m", "-n"]), &["proc/slabinfo"]);
    let root = broken_root(
        "disk-n",
        "diskstats",
        Some("   8 0 sda x 2 3 4 5 6 7 8 9 10 11\n"),
    );
    assert_one_line_error(&vmstat(&root, &["-d", "-n"]), &["proc/diskstats", "line 1"]);
}

#[test]
fn missing_proc_names_the_missing_file() {
    let out = vmstat(Path::new("/nonexistent"), &[]);
    assert_one_line_error(&out, &["/nonexistent/proc/"]);
    assert_one_line_error(
        &vmstat(Path::new("/nonexistent"), &["-s"]),
        &["/nonexistent/proc/"],
    );
    assert_one_line_error(
        &vmstat(Path::new("/nonexistent"), &["-d"]),
        &["/nonexistent/proc/diskstats"],
    );
    let root = broken_root("no-meminfo", "meminfo", None);
    assert_one_line_error(&vmstat(&root, &[]), &["proc/meminfo"]);
}

#[test]
fn bad_arguments_give_procps_messages() {
    let root = live_fixture().parent().unwrap().to_path_buf();
    let cases: &[(&[&str], &str)] = &[
        (&["x"], "vmstat: failed to parse argument: 'x'"),
        (&["0"], "vmstat: delay must be positive integer"),
        (&["4294967296"], "vmstat: too large delay value"),
        (&["1", "y"], "vmstat: failed to parse argument: 'y'"),
        (
            &["-S", "q"],
            "vmstat: -S requires k, K, m or M (default is KiB)",
        ),
        (
            &["-S", ""],
            "vmstat: -S requires k, K, m or M (default is KiB)",
        ),
        (&["--bogus"], "memdx vmstat: "),
        (&["-Z"], "memdx vmstat: "),
        (&["1", "2", "3"], "memdx vmstat: "),
        (&["-d", "-m"], "memdx vmstat: "),
        (&["-p"], "memdx vmstat: "),
    ];
    for (args, message) in cases {
        let out = vmstat(&root.join("0"), args);
        assert_one_line_error(&out, &[message]);
    }
}

#[test]
fn unreadable_slabinfo_for_an_unprivileged_user_is_one_line() {
    // /proc/slabinfo is root-only; drop to nobody when we are root.
    let root = Command::new("id").arg("-u").output_within(DEADLINE);
    if String::from_utf8_lossy(&root.stdout).trim() != "0" {
        println!("SKIPPED: not root, cannot drop to another user");
        return;
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_memdx"))
        .args(["vmstat", "-m"])
        .env_remove("MEMDX_PROC_ROOT")
        .env_remove("MEMDX_REPLAY_ROOT")
        .try_output_within(DEADLINE);
    let Ok(out) = out else {
        memdx_testkit::tool_missing("no setpriv");
        return;
    };
    assert_one_line_error(&out, &["/proc/slabinfo", "Permission denied"]);
}
