//! Live differential test: procps `vmstat -s` and `memdx vmstat -s` run back
//! to back on this machine agree exactly on what cannot change in between
//! (totals, boot time) and within a tolerance on the rest. Skips (printing
//! `SKIPPED: ...`) when procps vmstat is not installed.

#![allow(clippy::unwrap_used)]

use memdx_testkit::{Deadline, DEADLINE};
use std::collections::HashMap;
use std::process::Command;

/// `-s` output as label → value.
fn parse_stats(text: &str) -> HashMap<String, i128> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let (num, label) = l.split_once(' ')?;
            let label = label.trim_start_matches("K ").to_string();
            Some((label, num.parse().ok()?))
        })
        .collect()
}

fn run(cmd: &mut Command) -> Option<String> {
    let out = cmd.try_output_within(DEADLINE).ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn memdx() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_memdx"));
    c.env_remove("MEMDX_PROC_ROOT")
        .env_remove("MEMDX_REPLAY_ROOT")
        .arg("vmstat");
    c
}

#[test]
fn stats_agree_with_procps_on_the_live_machine() {
    let Some(procps) = run(Command::new("vmstat").arg("-s")) else {
        memdx_testkit::tool_missing("procps vmstat is not installed or failed");
        return;
    };
    let ours = run(memdx().arg("-s")).unwrap();
    let (p, m) = (parse_stats(&procps), parse_stats(&ours));
    assert_eq!(p.len(), 28, "{procps}");
    assert_eq!(
        p.keys().collect::<std::collections::BTreeSet<_>>(),
        m.keys().collect(),
        "same lines in the same units"
    );
    for exact in ["total memory", "total swap", "boot time"] {
        assert_eq!(p[exact], m[exact], "{exact}");
    }
    // Things that move between two runs a few milliseconds apart (other
    // jobs may be allocating: memory within 2% of RAM or 256 MiB).
    let mem_tolerance = (p["total memory"] / 50).max(256 * 1024);
    let tolerance = |label: &str| -> i128 {
        match label {
            l if l.ends_with("memory") || l.contains("swap") => mem_tolerance, // KiB
            l if l.ends_with("ticks") => 2000,
            "interrupts" | "CPU context switches" => 200_000,
            "forks" => 2000,
            _ => 100_000, // paging counters
        }
    };
    for (label, value) in &p {
        let diff = (value - m[label]).abs();
        assert!(
            diff <= tolerance(label),
            "{label}: procps {value}, memdx {}",
            m[label]
        );
    }
    // Monotonic counters cannot go backwards between the two runs.
    for counter in [
        "forks",
        "interrupts",
        "CPU context switches",
        "idle cpu ticks",
    ] {
        assert!(m[counter] >= p[counter], "{counter} went backwards");
    }
}

#[test]
fn default_report_agrees_with_procps_on_the_live_machine() {
    let Some(procps) = run(&mut Command::new("vmstat")) else {
        memdx_testkit::tool_missing("procps vmstat is not installed or failed");
        return;
    };
    let ours = run(&mut memdx()).unwrap();
    let (p, m): (Vec<&str>, Vec<&str>) = (procps.lines().collect(), ours.lines().collect());
    assert_eq!(p.len(), 3);
    assert_eq!(p[..2], m[..2], "headers");
    let nums = |l: &str| -> Vec<i64> { l.split_whitespace().map(|w| w.parse().unwrap()).collect() };
    let (pv, mv) = (nums(p[2]), nums(m[2]));
    assert_eq!(pv.len(), 17);
    assert_eq!(mv.len(), 17);
    // si so bi bo in cs are since-boot averages: they barely move.
    for (i, name) in [
        (6, "si"),
        (7, "so"),
        (8, "bi"),
        (9, "bo"),
        (10, "in"),
        (11, "cs"),
    ] {
        assert!(
            (pv[i] - mv[i]).abs() <= 2 + pv[i] / 50,
            "{name}: {p:?} vs {m:?}"
        );
    }
    // CPU percentages since boot: within a point or two.
    for i in 12..17 {
        assert!((pv[i] - mv[i]).abs() <= 2, "cpu column {i}: {p:?} vs {m:?}");
    }
}

#[test]
fn live_delay_mode_prints_timestamped_interval_lines() {
    // One real second of sleep; the format is checked, never the timing.
    let out = run(memdx().args(["-t", "-w", "1", "2"])).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].ends_with(" -----timestamp-----"), "{out}");
    for line in &lines[2..] {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.len(), 20, "{line}");
        assert!(
            words[..18].iter().all(|w| w.parse::<u64>().is_ok()),
            "{line}"
        );
        let (date, time) = (words[18], words[19]);
        let digits = |s: &str, seps: &[usize], sep: u8| {
            s.len() == seps.iter().max().map_or(0, |m| m + 3)
                && s.bytes().enumerate().all(|(i, b)| {
                    if seps.contains(&i) {
                        b == sep
                    } else {
                        b.is_ascii_digit()
                    }
                })
        };
        assert!(digits(date, &[4, 7], b'-'), "{date}");
        assert!(digits(time, &[2, 5], b':'), "{time}");
    }
    // CPU columns of an interval line add up to about 100.
    let cpu: u64 = lines[3].split_whitespace().collect::<Vec<_>>()[12..17]
        .iter()
        .map(|w| w.parse::<u64>().unwrap())
        .sum();
    assert!((97..=103).contains(&cpu), "{}", lines[3]);
}
