//! Every corpus program under `memdx check --leak-check=full`: the LEAK
//! SUMMARY figures, error headlines and exit status its header promises, and
//! the program's own stdout unchanged.

mod check_util;

use memdx_testkit::{Deadline, DEADLINE};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use check_util::*;

const KINDS: [&str; 3] = ["definitely lost", "indirectly lost", "possibly lost"];

#[test]
fn corpus_verdicts_match_expectations() {
    let scratch = Scratch::new("corpus");
    let sources = corpus_sources();
    assert!(
        memdx_testkit::corpus_filtered() || sources.len() >= 25,
        "corpus shrank: {}",
        sources.len()
    );
    // One program per CPU at a time (memdx_testkit::corpus_jobs); the results
    // are printed and judged afterwards, in the corpus's order.
    let results = memdx_testkit::map_in_parallel(&sources, memdx_testkit::corpus_jobs(), |src| {
        let text = std::fs::read_to_string(src).unwrap();
        let expect = parse_expect(&text);
        let exe = build(src, &scratch.0, &expect.build);
        let name = src.file_name().unwrap().to_string_lossy().to_string();
        let native = Command::new(&exe).output_within(DEADLINE);
        // The verdicts are Valgrind's: memdx's built-in suppressions (which
        // Valgrind does not have) are off.
        let out = run_memdx(&exe, &["--leak-check=full", "--default-suppressions=no"]);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let report = parse_report(&stderr);
        let mut problems = Vec::new();
        for kind in KINDS {
            let want = expect
                .leaks
                .get(kind)
                .cloned()
                .unwrap_or_else(|| "0 bytes in 0 blocks".into());
            let got = report.leak(kind);
            if got != want {
                problems.push(format!("{kind}: got '{got}', want '{want}'"));
            }
        }
        let mut got_errors = report.errors.clone();
        got_errors.sort();
        let mut want_errors = expect.errors.clone();
        want_errors.sort();
        if got_errors != want_errors {
            problems.push(format!("errors: got {got_errors:?}, want {want_errors:?}"));
        }
        match (expect.signal, out.status.signal()) {
            (Some(want), got) if got != Some(want) => {
                problems.push(format!("signal: got {got:?}, want {want}"))
            }
            (None, Some(sig)) => problems.push(format!("died by signal {sig}")),
            _ => {}
        }
        if expect.signal.is_none() && out.status.code() != Some(expect.exit.unwrap_or(0)) {
            problems.push(format!(
                "exit: got {:?}, want {}",
                out.status.code(),
                expect.exit.unwrap_or(0)
            ));
        }
        // A bad free aborts natively (glibc) but is skipped under memdx, as
        // under Valgrind: only programs without bad frees must end the same
        // way (an invalid read, write or jump is performed under memdx as it
        // is natively).
        let same_fate = expect.native_differs.is_none()
            && expect.errors.iter().all(|e| {
                e.starts_with("Invalid read of")
                    || e.starts_with("Invalid write of")
                    || e.starts_with("Jump to the invalid address")
            });
        if same_fate
            && (native.status.code() != out.status.code()
                || native.status.signal() != out.status.signal())
        {
            problems.push(format!(
                "status differs from the native run: {:?} vs {:?}",
                out.status, native.status
            ));
        }
        if same_fate && native.stdout != out.stdout {
            problems.push("stdout differs from the native run".into());
        }
        if report.heap_summary.len() != 2 && expect.signal != Some(6) {
            problems.push("no HEAP SUMMARY".into());
        }
        let line = format!(
            "{name:32} {}",
            if problems.is_empty() { "ok" } else { "FAILED" }
        );
        let failure = (!problems.is_empty()).then(|| {
            format!(
                "{name}:\n  {}\n--- stderr ---\n{stderr}",
                problems.join("\n  ")
            )
        });
        (line, failure)
    });
    let mut failures = Vec::new();
    for (line, failure) in results {
        println!("{line}");
        failures.extend(failure);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
