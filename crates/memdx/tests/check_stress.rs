//! 16 threads allocating and freeing concurrently under `memdx check`,
//! several runs: each must finish (a watchdog kills a hung run after two
//! minutes and fails the test) with the exact leak the program makes.

mod check_util;

use std::process::Stdio;
use std::time::{Duration, Instant};

use check_util::*;

#[test]
fn sixteen_threads_finish_with_the_right_answer() {
    let scratch = Scratch::new("stress");
    let src = corpus_dir().join("stress_16_threads.c");
    let expect = parse_expect(&std::fs::read_to_string(&src).unwrap());
    let exe = build(&src, &scratch.0, &expect.build);
    for run in 0..3 {
        let mut child = memdx()
            .args(["check", "--leak-check=full"])
            .arg(&exe)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if start.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                panic!("run {run}: memdx check did not finish (deadlock?)");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
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
