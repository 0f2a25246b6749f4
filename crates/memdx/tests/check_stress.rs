//! 16 threads allocating and freeing concurrently under `memdx check`,
//! several runs: each must finish (a watchdog kills a hung run after two
//! minutes and fails the test) with the exact leak the program makes.

#![allow(clippy::unwrap_used)]

mod check_util;

use memdx_testkit::{Deadline, DEADLINE};
use std::time::Duration;

use check_util::*;

#[test]
fn sixteen_threads_finish_with_the_right_answer() {
    let scratch = Scratch::new("stress");
    let src = corpus_dir().join("stress_16_threads.c");
    let expect = parse_expect(&std::fs::read_to_string(&src).unwrap());
    let exe = build(&src, &scratch.0, &expect.build);
    for run in 0..3 {
        let out = memdx()
            .args(["check", "--leak-check=full"])
            .arg(&exe)
            .try_output_within(Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("run {run}: memdx check did not finish (deadlock?): {e}"));
        assert!(out.status.success(), "run {run}: {:?}", out.status);
        let report = parse_report(&String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            report.leak("definitely lost"),
            "640 bytes in 16 blocks",
            "run {run}"
        );
        assert_eq!(
            report.leak("possibly lost"),
            "0 bytes in 0 blocks",
            "run {run}"
        );
        assert!(report.errors.is_empty(), "run {run}: {:?}", report.errors);
    }
}

/// Parses "1,152 bytes in 4 blocks" into (1152, 4).
fn bytes_blocks(s: &str) -> (u64, u64) {
    let num = |t: &str| t.replace(',', "").parse::<u64>().unwrap();
    let mut w = s.split_whitespace();
    let bytes = num(w.next().unwrap());
    let blocks = num(w.nth(2).unwrap());
    (bytes, blocks)
}

/// Threads still churning the heap when main returns: the exit checks
/// (redzones, poison) and the totals are taken with them stopped, so a
/// correct program gets no error and a HEAP SUMMARY that adds up to its
/// LEAK SUMMARY. (Before, the checks read blocks the threads were freeing
/// and reusing: about one run in four reported a false "Invalid write".)
#[test]
fn threads_running_at_exit_get_no_false_errors_and_consistent_totals() {
    let scratch = Scratch::new("stress-exit");
    let src = corpus_dir().join("threads_running_at_exit.c");
    let expect = parse_expect(&std::fs::read_to_string(&src).unwrap());
    let exe = build(&src, &scratch.0, &expect.build);
    for run in 0..12 {
        let leak_check = if run % 2 == 0 { "full" } else { "no" };
        let out = memdx()
            .args(["check", &format!("--leak-check={leak_check}")])
            .arg(&exe)
            .output_within(DEADLINE);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let report = parse_report(&stderr);
        assert!(
            out.status.success(),
            "run {run}: {:?}\n{stderr}",
            out.status
        );
        assert!(report.errors.is_empty(), "run {run}:\n{stderr}");
        if leak_check == "no" {
            continue;
        }
        let in_use = report.heap_summary[0]
            .strip_prefix("in use at exit: ")
            .map(bytes_blocks)
            .unwrap();
        let mut sum = (0, 0);
        let suppressed = stderr
            .lines()
            .find_map(|l| l.split_once("suppressed: ").map(|(_, v)| v.to_string()))
            .filter(|v| v.contains(" bytes in "))
            .unwrap_or_else(|| "0 bytes in 0 blocks".into());
        for kind in [
            "definitely lost",
            "indirectly lost",
            "possibly lost",
            "still reachable",
        ] {
            let (b, n) = bytes_blocks(&report.leak(kind));
            sum = (sum.0 + b, sum.1 + n);
        }
        let (sb, sn) = bytes_blocks(&suppressed);
        assert_eq!(in_use, (sum.0 + sb, sum.1 + sn), "run {run}:\n{stderr}");
    }
}
