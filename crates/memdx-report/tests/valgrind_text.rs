//! The text renderer writes what Valgrind 3.19 prints: each program runs
//! twice under Valgrind with the same options, once for XML (read into the
//! model) and once for text (`--log-file`). The model gets what only the
//! text has (pid, parent pid, the three summaries), is rendered with
//! `text::write` (made of the same `text::Lines` pieces that `memdx
//! check`'s analyzer prints as errors arrive), and must give Valgrind's
//! text byte for byte.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use memdx_testkit::{Deadline, DEADLINE};
use std::path::Path;
use std::process::Command;

use common::{build, have_valgrind, program, valgrind_xml, work_dir};
use memdx_report::text::{self, LeakCheck, TextOptions};
use memdx_report::{
    xml, Amount, ErrorKind, ErrorSummary, HeapSummary, HeuristicAmount, LeakSummary, Report,
};

fn valgrind_text(tag: &str, bin: &Path, options: &[&str], args: &[&str]) -> String {
    let log = work_dir("text").join(format!("{tag}.txt"));
    Command::new("valgrind")
        .arg(format!("--log-file={}", log.display()))
        .args(options)
        .arg(bin)
        .args(args)
        .output_within(DEADLINE);
    std::fs::read_to_string(&log).unwrap()
}

/// The numbers of `label` lines like "    in use at exit: 1,024 bytes in 3 blocks".
fn numbers_after(text: &str, label: &str) -> Option<Vec<u64>> {
    let line = text
        .lines()
        .find_map(|l| l.split_once(label).map(|(_, r)| r))?;
    Some(
        line.split(|c: char| !c.is_ascii_digit() && c != ',')
            .filter(|w| !w.is_empty() && *w != ",")
            .map(|w| w.replace(',', "").parse().unwrap())
            .collect(),
    )
}

/// Adds to `report` what only Valgrind's text has.
fn add_text_facts(report: &mut Report, text: &str) {
    let first = text.lines().next().unwrap();
    report.pid = first
        .trim_start_matches("==")
        .split("==")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    report.ppid = numbers_after(text, "Parent PID: ").unwrap()[0] as u32;
    report.heap_summary = numbers_after(text, "in use at exit: ").map(|in_use| {
        let total = numbers_after(text, "total heap usage: ").unwrap();
        HeapSummary {
            in_use_bytes: in_use[0],
            in_use_blocks: in_use[1],
            allocs: total[0],
            frees: total[1],
            allocated_bytes: total[2],
        }
    });
    let amount = |label: &str| {
        let n = numbers_after(text, label).unwrap();
        Amount {
            bytes: n[0],
            blocks: n[1],
        }
    };
    // "                        newarray           : 40 bytes in 1 blocks"
    let heuristics = text
        .lines()
        .skip_while(|l| !l.ends_with("of which reachable via heuristic:"))
        .skip(1)
        .map_while(|l| {
            let rest = l
                .split_once("== ")?
                .1
                .strip_prefix("                        ")?;
            let (name, _) = rest.split_once(':')?;
            let n = numbers_after(rest, ":")?;
            Some(HeuristicAmount {
                heuristic: name.trim_end().to_owned(),
                amount: Amount {
                    bytes: n[0],
                    blocks: n[1],
                },
            })
        })
        .collect();
    report.leak_summary = text.contains("LEAK SUMMARY:").then(|| LeakSummary {
        definitely_lost: amount("definitely lost: "),
        indirectly_lost: amount("indirectly lost: "),
        possibly_lost: amount("possibly lost: "),
        still_reachable: amount("still reachable: "),
        reachable_via_heuristic: heuristics,
        suppressed: amount("suppressed: "),
    });
    if let Some(sig) = &mut report.fatal_signal {
        sig.main_stack_size =
            numbers_after(text, "The main thread stack size used in this run was ").map(|n| n[0]);
        sig.stack_overflow = text.lines().find_map(|l| {
            let at = l.find("Stack overflow in thread #")?;
            Some(l[at..].to_string())
        });
    }
    let e = numbers_after(text, "ERROR SUMMARY: ").unwrap();
    report.error_summary = Some(ErrorSummary {
        errors: e[0],
        contexts: e[1],
        suppressed: e[2],
        suppressed_contexts: e[3],
    });
}

/// Whether memcheck reported uninitialised values (its `any_value_errors`).
fn value_errors(r: &Report) -> bool {
    r.errors.iter().any(|e| match e.kind {
        ErrorKind::UninitValue | ErrorKind::UninitCondition => true,
        ErrorKind::SyscallParam => e.what.text().contains("uninitialised"),
        _ => false,
    })
}

/// Whether Valgrind gives up on the program with a client message (e.g.
/// "new/new[] failed and should throw an exception, but Valgrind cannot throw
/// exceptions").
/// The XML run is `same_text`'s for `tag` (the shared cache runs it once).
fn valgrind_gives_up(tag: &str, bin: &Path) -> bool {
    valgrind_xml(&format!("text-{tag}"), bin, ALL, &[]).contains("<clientmsg>")
}

fn same_text(tag: &str, bin: &Path, options: &[&str], args: &[&str]) -> Report {
    let mut report = xml::read(&valgrind_xml(&format!("text-{tag}"), bin, options, args)).unwrap();
    let theirs = valgrind_text(tag, bin, options, args);
    add_text_facts(&mut report, &theirs);
    let reachable_shown = options.contains(&"--show-leak-kinds=all");
    let leak_check = if options.contains(&"--leak-check=no") {
        LeakCheck::No
    } else if options.contains(&"--leak-check=full") {
        LeakCheck::Full { reachable_shown }
    } else {
        LeakCheck::Summary
    };
    let opts = TextOptions {
        parent_pid: true,
        leak_check,
        track_origins_hint: value_errors(&report) && !options.contains(&"--track-origins=yes"),
    };
    let mut ours = Vec::new();
    text::write(&report, &opts, &mut ours).unwrap();
    let ours = String::from_utf8(ours).unwrap();
    if ours != theirs {
        let (a, b): (Vec<&str>, Vec<&str>) =
            (theirs.split('\n').collect(), ours.split('\n').collect());
        let i = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        let lo = i.saturating_sub(5);
        panic!(
            "{tag}: first difference at line {}:\n--- valgrind\n{}\n--- ours\n{}\n",
            i + 1,
            a[lo..(i + 5).min(a.len())].join("\n"),
            b[lo..(i + 5).min(b.len())].join("\n"),
        );
    }
    report
}

macro_rules! need_valgrind {
    () => {
        if !have_valgrind() {
            memdx_testkit::tool_missing("valgrind is not installed");
            return;
        }
    };
}

const ALL: &[&str] = &["--leak-check=full", "--show-leak-kinds=all"];
const DEFAULT_KINDS: &[&str] = &["--leak-check=full"];

#[test]
fn leaks_text_matches_valgrind() {
    need_valgrind!();
    let bin = build(&program("leaks.c"), &[]);
    let r = same_text("leaks-all", &bin, ALL, &[]);
    assert_eq!(r.leak_summary.unwrap().definitely_lost.bytes, 132);
    // default kinds: reachable blocks are not listed, and a hint says so
    let r = same_text("leaks-default", &bin, DEFAULT_KINDS, &[]);
    assert!(!r
        .errors
        .iter()
        .any(|e| e.kind == ErrorKind::LeakStillReachable));
    // suppressed leaks: counted in LEAK SUMMARY and ERROR SUMMARY, not listed
    let supp = format!("--suppressions={}", program("leaks.supp").display());
    let r = same_text("leaks-supp", &bin, &[ALL, &[supp.as_str()]].concat(), &[]);
    assert_eq!(r.leak_summary.unwrap().suppressed.blocks, 3);
    assert_eq!(r.error_summary.unwrap().suppressed, 1);
}

#[test]
fn heap_errors_text_matches_valgrind() {
    need_valgrind!();
    let bin = build(&program("heap_errors.c"), &[]);
    let r = same_text("heap-errors", &bin, DEFAULT_KINDS, &[]);
    assert!(value_errors(&r), "the track-origins hint is exercised");
    same_text(
        "heap-errors-origins",
        &bin,
        &[ALL, &["--track-origins=yes"]].concat(),
        &[],
    );
}

#[test]
fn cpp_and_threads_text_matches_valgrind() {
    need_valgrind!();
    same_text("mismatch", &build(&program("mismatch.cpp"), &[]), ALL, &[]);
    let bin = build(&program("named_thread.c"), &["-pthread"]);
    same_text("thread", &bin, ALL, &[]);
    let r = same_text("thread-abort", &bin, ALL, &["abort"]);
    assert!(r.fatal_signal.is_some());
}

#[test]
fn segv_heuristics_and_error_counts_text_matches_valgrind() {
    need_valgrind!();
    let r = same_text("segv", &build(&program("segv.c"), &[]), ALL, &[]);
    let sig = r.fatal_signal.unwrap();
    assert!(sig.main_stack_size.is_some() && sig.siaddr == Some(0x10));

    let bin = build(&program("heuristic.cpp"), &[]);
    for (tag, opts) in [("heuristic-all", ALL), ("heuristic-default", DEFAULT_KINDS)] {
        let r = same_text(tag, &bin, opts, &[]);
        let via = &r.leak_summary.unwrap().reachable_via_heuristic;
        assert_eq!(via.len(), 1, "{via:?}");
        assert_eq!(via[0].heuristic, "newarray");
    }

    let r = same_text("many", &build(&program("many_errors.c"), &[]), ALL, &[]);
    assert_eq!(r.error_summary.unwrap().errors, 1500);
    assert_eq!(r.error_counts[0].count, 1500);
}

#[test]
fn check_corpus_text_matches_valgrind() {
    need_valgrind!();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/check");
    let mut sources: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "c" || e == "cpp"))
        .filter(|p| memdx_testkit::corpus_selected(&p.file_name().unwrap().to_string_lossy()))
        .collect();
    sources.sort();
    // One program per CPU at a time (memdx_testkit::corpus_jobs); what each
    // printed is printed afterwards, in the corpus's order.
    let printed = memdx_testkit::map_in_parallel(&sources, memdx_testkit::corpus_jobs(), |src| {
        let name = src.file_stem().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(src).unwrap();
        if two_processes(&text) {
            return None; // two processes in one file, see valgrind_roundtrip.rs
        }
        let flags: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split("build:").nth(1))
            .flat_map(|f| f.trim_end_matches("*/").split_whitespace())
            .collect();
        let bin = build(src, &flags);
        if text.contains("valgrind: skip") {
            // timing-dependent: the XML run and the text run of Valgrind differ
            return Some(format!(
                "SKIPPED: {name}: declared timing-dependent (valgrind: skip)"
            ));
        }
        let tag = format!("corpus-{name}");
        if valgrind_gives_up(&tag, &bin) {
            return Some(format!(
                "SKIPPED: {name}: Valgrind aborts it (<clientmsg>), which the model does not hold"
            ));
        }
        same_text(&tag, &bin, ALL, &[]);
        None
    });
    for line in printed.into_iter().flatten() {
        println!("{line}");
    }
}

#[test]
fn summary_and_no_leak_check_text_matches_valgrind() {
    need_valgrind!();
    let bin = build(&program("leaks.c"), &[]);
    // Valgrind's XML lists loss records even with --leak-check=summary;
    // its text (and so ours, compared above) does not.
    let r = same_text("leaks-summary", &bin, &["--leak-check=summary"], &[]);
    assert_eq!(r.leak_errors().count(), 3);
    assert_eq!(r.leak_summary.unwrap().still_reachable.bytes, 77);
    let r = same_text("leaks-no", &bin, &["--leak-check=no"], &[]);
    assert!(r.leak_summary.is_none());
    assert_eq!(r.heap_summary.unwrap().in_use_blocks, 6);
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/check");
    let bin = build(&corpus.join("double_free.c"), &[]);
    let r = same_text("double-free-no", &bin, &["--leak-check=no"], &[]);
    assert_eq!(r.heap_summary.unwrap().in_use_blocks, 0);
}

/// Whether a corpus program makes a second process that Valgrind reports
/// into the same output (fork, vfork, posix_spawn, daemon).
fn two_processes(source: &str) -> bool {
    ["fork(", "posix_spawn(", "daemon("]
        .iter()
        .any(|f| source.contains(f))
}
