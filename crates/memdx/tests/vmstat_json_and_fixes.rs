//! memdx-only behaviour on fixtures: `--json` objects (exact figures in
//! bytes and per second, documented in docs/json.md), `--exact-rates` and
//! `--fresh-memory` (the opt-in fixes of procps 4.0.2's quirks).

#![allow(clippy::unwrap_used)]

use memdx_testkit::{Deadline, DEADLINE};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/vmstat")
        .join(name)
}

fn replay(name: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .arg("vmstat")
        .args(args)
        .env("MEMDX_REPLAY_ROOT", fixture(name))
        .env("MEMDX_REPLAY_EPOCH", "1700000000")
        .env("TZ", "UTC")
        .output_within(DEADLINE);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A `Key: value` from a fixture's meminfo or a `key value` from vmstat.
fn proc_value(name: &str, sample: u32, file: &str, key: &str) -> u64 {
    let text = std::fs::read_to_string(
        fixture(name)
            .join(sample.to_string())
            .join("proc")
            .join(file),
    )
    .unwrap();
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(if file == "meminfo" { ':' } else { ' ' })?;
            (k == key).then(|| v.split_whitespace().next().unwrap().parse().unwrap())
        })
        .unwrap()
}

fn stat_value(name: &str, sample: u32, key: &str) -> u64 {
    let text =
        std::fs::read_to_string(fixture(name).join(sample.to_string()).join("proc/stat")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .map(|v| v.split_whitespace().next().unwrap().parse().unwrap())
        .unwrap()
}

fn uptime(name: &str) -> f64 {
    std::fs::read_to_string(fixture(name).join("0/proc/uptime"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn json_report_lines_are_exact_bytes_and_rates() {
    let lines = json_lines(&replay("swap", &["--json", "1", "3"]));
    assert_eq!(lines.len(), 3);
    let first = &lines[0];
    assert_eq!(first["since_boot"], true);
    assert_eq!(first["time"], 1_700_000_000);
    let up = uptime("swap");
    assert_eq!(first["interval_seconds"].as_f64().unwrap(), up);
    let intr = stat_value("swap", 0, "intr") as f64;
    assert!((first["interrupts_per_second"].as_f64().unwrap() - intr / up).abs() < 1e-6);
    assert_eq!(
        first["memory"]["free"],
        proc_value("swap", 0, "meminfo", "MemFree") * 1024
    );
    for (k, line) in lines.iter().enumerate().skip(1) {
        let k = k as u32;
        assert_eq!(line["since_boot"], false);
        assert_eq!(line["interval_seconds"], 1.0);
        assert_eq!(line["time"], 1_700_000_000 + i64::from(k));
        // memory is re-read for every JSON report
        assert_eq!(
            line["memory"]["free"],
            proc_value("swap", k, "meminfo", "MemFree") * 1024
        );
        let pages = proc_value("swap", k, "vmstat", "pswpin")
            - proc_value("swap", k - 1, "vmstat", "pswpin");
        assert_eq!(
            line["swap_in_bytes_per_second"].as_f64().unwrap(),
            (pages * 4096) as f64
        );
        let cpu = &line["cpu"];
        let sum: f64 = ["user", "system", "idle", "iowait", "stolen"]
            .iter()
            .map(|k| cpu[k].as_f64().unwrap())
            .sum();
        assert!((sum - 100.0).abs() < 1e-9, "{cpu}");
    }
}

#[test]
fn json_other_modes_are_one_object_per_report() {
    let s = json_lines(&replay("huge", &["--json", "-s"]));
    assert_eq!(s.len(), 1);
    // exact bytes, not procps' float conversion
    assert_eq!(
        s[0]["memory"]["total"],
        proc_value("huge", 0, "meminfo", "MemTotal") * 1024
    );
    assert_eq!(s[0]["boot_time"], 1_700_000_000);
    let d = json_lines(&replay("disks", &["--json", "-d", "1", "2"]));
    assert_eq!(d.len(), 2);
    let names: Vec<&str> = d[0]["disks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"sda") && !names.contains(&"sda1"),
        "{names:?}"
    );
    // JSON lists each sample's own devices (text keeps procps' remembered
    // list, where a vanished disk stays).
    let hot = json_lines(&replay("hotplug", &["--json", "-d", "1", "2"]));
    let names = |v: &Value| -> Vec<String> {
        v["disks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&hot[0]), ["sda", "sdb"]);
    assert_eq!(names(&hot[1]), ["sda", "sdc"]);
    let p = json_lines(&replay("disks", &["--json", "-p", "sda2"]));
    assert_eq!(p[0]["device"], "sda2");
    assert!(p[0]["reads"].as_u64().unwrap() > 0);
    let m = json_lines(&replay("oldkernel", &["--json", "-m"]));
    assert_eq!(m[0]["caches"].as_array().unwrap().len(), 4);
    let dsum = json_lines(&replay("disks", &["--json", "-D"]));
    assert_eq!(dsum[0]["partitions"], 16);
    let f = json_lines(&replay("live", &["--json", "-f"]));
    assert_eq!(f[0]["forks"], stat_value("live", 0, "processes"));
}

#[test]
fn exact_rates_divide_the_first_line_by_the_uptime() {
    let procps_like = replay("busy", &[]);
    let exact = replay("busy", &["--exact-rates"]);
    let cols = |t: &str| -> Vec<u64> {
        t.lines()
            .nth(2)
            .unwrap()
            .split_whitespace()
            .map(|w| w.parse().unwrap())
            .collect()
    };
    let (p, e) = (cols(&procps_like), cols(&exact));
    let up = uptime("busy");
    let intr = stat_value("busy", 0, "intr") as f64;
    let ctxt = stat_value("busy", 0, "ctxt") as f64;
    assert_eq!(e[10], (intr / up + 0.5) as u64, "in");
    assert_eq!(e[11], (ctxt / up + 0.5) as u64, "cs");
    // procps' figure is smaller by about the number of CPUs (8 here).
    assert!(e[10] > 7 * p[10] && e[10] < 9 * p[10], "{p:?} {e:?}");
    // memory and CPU columns are unchanged
    assert_eq!(p[..6], e[..6]);
    assert_eq!(p[12..], e[12..]);
}

#[test]
fn fresh_memory_rereads_meminfo_where_procps_repeats_the_first() {
    let free_col = |t: &str| -> Vec<u64> {
        t.lines()
            .skip(2)
            .map(|l| l.split_whitespace().nth(3).unwrap().parse().unwrap())
            .collect()
    };
    let procps_like = free_col(&replay("swap", &["1", "3"]));
    let fresh = free_col(&replay("swap", &["--fresh-memory", "1", "3"]));
    let expected: Vec<u64> = (0..3)
        .map(|k| proc_value("swap", k, "meminfo", "MemFree"))
        .collect();
    assert_eq!(fresh, expected);
    assert_eq!(procps_like, vec![expected[0]; 3]);
}

#[test]
fn help_documents_the_fixes_and_version_names_both() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_memdx"))
            .arg("vmstat")
            .args(args)
            .output_within(DEADLINE);
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let help = run(&["--help"]);
    assert_eq!(help, run(&["-h"]));
    for needle in [
        "--exact-rates",
        "--fresh-memory",
        "--json",
        "-S, --unit <char>",
        "-y, --no-first",
    ] {
        assert!(help.contains(needle), "help lacks {needle}");
    }
    let version = run(&["-V"]);
    assert!(
        version.starts_with("vmstat from procps-ng 4.0.2 (memdx "),
        "{version}"
    );
}
