//! The XML writer writes what Valgrind 3.19 writes: Valgrind's XML for real
//! programs is read into the model and written back, and the bytes must be
//! the same. Per-run values (pid, times, addresses) come from the document
//! read, so the round trip is exact.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::path::Path;

use common::{build, have_valgrind, program, valgrind_xml, FULL};
use memdx_report::{xml, ErrorKind, Report, SuppFrame, What};

/// Reads `theirs`, writes it back, requires the same bytes.
fn round_trip(theirs: &str) -> Report {
    let report = xml::read(theirs).unwrap_or_else(|e| panic!("reading: {e}\n{theirs}"));
    let mut ours = Vec::new();
    xml::write(&report, &mut ours).unwrap();
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
            "first difference at line {}:\n--- valgrind\n{}\n--- ours\n{}\n",
            i + 1,
            a[lo..(i + 5).min(a.len())].join("\n"),
            b[lo..(i + 5).min(b.len())].join("\n"),
        );
    }
    // Every leak headline is what What::leak words from its figures.
    for e in report.leak_errors() {
        let text = e.what.text();
        let nums: Vec<u64> = text
            .split(|c: char| !c.is_ascii_digit() && c != ',')
            .filter(|w| !w.is_empty() && *w != ",")
            .map(|w| w.replace(',', "").parse().unwrap())
            .collect();
        // [total, (direct, indirect,)? blocks, record, records]
        let (direct, indirect) = match nums.len() {
            6 => (nums[1], nums[2]),
            _ => (nums[0], 0),
        };
        let n = nums.len();
        let ours = What::leak(
            e.kind,
            direct,
            indirect,
            nums[n - 3],
            nums[n - 2],
            nums[n - 1],
        );
        assert_eq!(ours, e.what);
    }
    // The JSON document carries the same report.
    let mut json = Vec::new();
    memdx_report::json::write(&report, &mut json).unwrap();
    assert_eq!(
        memdx_report::json::read(std::str::from_utf8(&json).unwrap()).unwrap(),
        report
    );
    report
}

fn kinds(r: &Report) -> Vec<ErrorKind> {
    r.errors.iter().map(|e| e.kind).collect()
}

macro_rules! need_valgrind {
    () => {
        if !have_valgrind() {
            memdx_testkit::tool_missing("valgrind is not installed");
            return;
        }
    };
}

#[test]
fn leaks_of_every_kind_round_trip() {
    need_valgrind!();
    let bin = build(&program("leaks.c"), &[]);
    let r = round_trip(&valgrind_xml("leaks", &bin, FULL, &[]));
    let k = kinds(&r);
    for kind in [
        ErrorKind::LeakDefinitelyLost,
        ErrorKind::LeakIndirectlyLost,
        ErrorKind::LeakPossiblyLost,
        ErrorKind::LeakStillReachable,
    ] {
        assert!(k.contains(&kind), "{kind:?} missing from {k:?}");
    }
    // the list head: 32 bytes direct + two 32-byte nodes indirect
    let head = r
        .errors
        .iter()
        .find(|e| {
            e.what
                .text()
                .starts_with("96 (32 direct, 64 indirect) bytes")
        })
        .unwrap();
    assert_eq!(
        head.what,
        What::Leak {
            text: head.what.text().to_owned(),
            leaked_bytes: 96,
            leaked_blocks: 1
        }
    );
    assert_eq!(head.stack.frames[0].function.as_deref(), Some("malloc"));
    assert!(r.finished.is_some() && r.error_counts.is_empty());
}

#[test]
fn generated_suppressions_and_counts_round_trip() {
    need_valgrind!();
    let bin = build(&program("leaks.c"), &[]);
    let opts = [FULL, &["--gen-suppressions=all", "-s"]].concat();
    let r = round_trip(&valgrind_xml("leaks-gen", &bin, &opts, &[]));
    let s = r.errors[0].suppression.as_ref().unwrap();
    assert_eq!(s.kind, "Memcheck:Leak");
    assert!(s.aux.as_deref().unwrap().starts_with("match-leak-kinds: "));
    assert!(s.frames.contains(&SuppFrame::Fun("malloc".into())));
    assert!(r.errors.iter().all(|e| e.suppression.is_some()));
}

#[test]
fn used_suppressions_round_trip() {
    need_valgrind!();
    let bin = build(&program("leaks.c"), &[]);
    let supp = program("leaks.supp");
    let supp_opt = format!("--suppressions={}", supp.display());
    let opts = [FULL, &["-s", &supp_opt]].concat();
    let r = round_trip(&valgrind_xml("leaks-supp", &bin, &opts, &[]));
    let names: Vec<(&str, u64)> = r
        .supp_counts
        .iter()
        .map(|c| (c.name.as_str(), c.count))
        .collect();
    assert!(names.contains(&("calloc-leak", 1)), "{names:?}");
    assert!(names.contains(&("indirect-list-nodes", 2)), "{names:?}");
    assert!(!kinds(&r).contains(&ErrorKind::LeakIndirectlyLost));
}

#[test]
fn heap_errors_round_trip() {
    need_valgrind!();
    let bin = build(&program("heap_errors.c"), &[]);
    let opts = [
        FULL,
        &["--gen-suppressions=all", "-s", "--track-origins=yes"],
    ]
    .concat();
    let r = round_trip(&valgrind_xml("heap-errors", &bin, &opts, &[]));
    let k = kinds(&r);
    for kind in [
        ErrorKind::InvalidRead,
        ErrorKind::InvalidWrite,
        ErrorKind::Overlap,
        ErrorKind::UninitCondition,
        ErrorKind::SyscallParam,
        ErrorKind::FishyValue,
        ErrorKind::InvalidFree,
        ErrorKind::LeakDefinitelyLost,
    ] {
        assert!(k.contains(&kind), "{kind:?} missing from {k:?}");
    }
    let fishy = r
        .errors
        .iter()
        .find(|e| e.kind == ErrorKind::FishyValue)
        .unwrap();
    assert_eq!(
        fishy.what.text(),
        "Argument 'size' of function malloc has a fishy (possibly negative) value: -3"
    );
    let double = r
        .errors
        .iter()
        .find(|e| {
            e.aux.iter().any(|a| a.what.contains("free'd")) && e.kind == ErrorKind::InvalidFree
        })
        .unwrap();
    assert_eq!(double.aux.len(), 2, "freed at, alloc'd at");
    assert!(double.aux.iter().all(|a| a.stack.is_some()));
    // one count per run-time error context; write_past runs twice
    assert_eq!(r.error_counts.len(), r.run_errors().count());
    let write = r
        .errors
        .iter()
        .find(|e| e.kind == ErrorKind::InvalidWrite)
        .unwrap();
    let count = r
        .error_counts
        .iter()
        .find(|c| c.unique == write.unique)
        .unwrap();
    assert_eq!(count.count, 2);
}

#[test]
fn cpp_mismatched_frees_and_escaped_names_round_trip() {
    need_valgrind!();
    let bin = build(&program("mismatch.cpp"), &[]);
    let opts = [FULL, &["--gen-suppressions=all"]].concat();
    let theirs = valgrind_xml("mismatch", &bin, &opts, &[]);
    assert!(theirs.contains("&lt;int&gt;"), "a template name is escaped");
    let r = round_trip(&theirs);
    let mismatched = kinds(&r)
        .iter()
        .filter(|k| **k == ErrorKind::MismatchedFree)
        .count();
    assert_eq!(mismatched, 3);
    assert!(r
        .errors
        .iter()
        .flat_map(|e| &e.stack.frames)
        .any(|f| f.function.as_deref() == Some("bool leak_if<int>(int&&)")));
}

#[test]
fn named_threads_and_fatal_signals_round_trip() {
    need_valgrind!();
    let bin = build(&program("named_thread.c"), &["-pthread"]);
    let r = round_trip(&valgrind_xml("thread", &bin, FULL, &[]));
    let write = r
        .errors
        .iter()
        .find(|e| e.kind == ErrorKind::InvalidWrite)
        .unwrap();
    assert_eq!(write.thread_name.as_deref(), Some("memdx-worker"));
    assert_eq!(write.tid, 2);
    assert!(r.fatal_signal.is_none());

    let r = round_trip(&valgrind_xml("thread-abort", &bin, FULL, &["abort"]));
    let sig = r.fatal_signal.as_ref().unwrap();
    assert_eq!((sig.signo, sig.signame.as_str()), (6, "SIGABRT"));
    assert_eq!(r.program.args, ["abort"]);
    assert!(kinds(&r).contains(&ErrorKind::LeakDefinitelyLost));

    let segv = build(&program("segv.c"), &[]);
    let r = round_trip(&valgrind_xml("segv", &segv, FULL, &[]));
    let sig = r.fatal_signal.as_ref().unwrap();
    assert_eq!(sig.signame, "SIGSEGV");
    assert_eq!(sig.siaddr, Some(0x10));
    assert_eq!(
        sig.event.as_deref(),
        Some("Access not within mapped region")
    );
}

/// The `memdx check` corpus: every program, with generated suppressions and
/// suppression counts. `fork_child` is left out: its child writes the end
/// of a second document into the parent's file, which is not one protocol
/// 4 document (the reader says so; tested below).
#[test]
fn check_corpus_round_trips() {
    need_valgrind!();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/check");
    let mut sources: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "c" || e == "cpp"))
        .filter(|p| memdx_testkit::corpus_selected(&p.file_name().unwrap().to_string_lossy()))
        .collect();
    sources.sort();
    let opts = [FULL, &["--gen-suppressions=all", "-s"]].concat();
    // One program per CPU at a time (memdx_testkit::corpus_jobs); what each
    // printed is printed afterwards, in the corpus's order.
    let outcomes = memdx_testkit::map_in_parallel(&sources, memdx_testkit::corpus_jobs(), |src| {
        let name = src.file_stem().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(src).unwrap();
        if two_processes(&text) {
            // A fork child (and, under Valgrind, a vfork or posix_spawn
            // child whose exec fails) writes into the same file.
            return Err(None);
        }
        let flags: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split("build:").nth(1))
            .flat_map(|f| f.trim_end_matches("*/").split_whitespace())
            .collect();
        let bin = build(src, &flags);
        let theirs = valgrind_xml(&format!("corpus-{name}"), &bin, &opts, &[]);
        if theirs.contains("<clientmsg>") {
            // Valgrind itself gave up on this program (e.g. "new/new[] failed
            // and should throw an exception, but Valgrind cannot throw
            // exceptions"): the model has no <clientmsg> yet.
            return Err(Some(format!(
                "SKIPPED: {name}: Valgrind wrote <clientmsg>, which the model does not hold"
            )));
        }
        round_trip(&theirs);
        Ok(())
    });
    let mut done = 0;
    for outcome in outcomes {
        match outcome {
            Ok(()) => done += 1,
            Err(Some(line)) => println!("{line}"),
            Err(None) => {}
        }
    }
    assert!(
        memdx_testkit::corpus_filtered() || done >= 20,
        "only {done} corpus programs"
    );
}

#[test]
fn a_child_writing_into_the_parents_file_is_not_one_document() {
    need_valgrind!();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/check");
    let bin = build(&corpus.join("fork_child.c"), &[]);
    let theirs = valgrind_xml("fork", &bin, FULL, &[]);
    let err = xml::read(&theirs).unwrap_err();
    assert!(
        matches!(err, memdx_report::ReportError::Structure(_)),
        "{err}"
    );
}

#[test]
fn user_comments_heuristics_and_repeated_errors_round_trip() {
    need_valgrind!();
    let bin = build(&program("many_errors.c"), &[]);
    let comment = r#"<ci job="7">build &amp; test 42</ci>"#;
    let opt = format!("--xml-user-comment={comment}");
    let r = round_trip(&valgrind_xml(
        "many",
        &bin,
        &[FULL, &[opt.as_str()]].concat(),
        &[],
    ));
    assert_eq!(r.user_comment.as_deref(), Some(comment));
    assert_eq!(r.error_counts.len(), 1);
    assert_eq!(r.error_counts[0].count, 1500);
    assert_eq!(r.errors[0].kind, ErrorKind::InvalidRead);

    let bin = build(&program("heuristic.cpp"), &[]);
    let r = round_trip(&valgrind_xml("heuristic", &bin, FULL, &[]));
    assert_eq!(r.leak_errors().count(), 3);
    assert!(r
        .leak_errors()
        .all(|e| e.kind == ErrorKind::LeakStillReachable));
}

/// Whether a corpus program makes a second process that Valgrind reports
/// into the same output (fork, vfork, posix_spawn, daemon).
fn two_processes(source: &str) -> bool {
    ["fork(", "posix_spawn(", "daemon("]
        .iter()
        .any(|f| source.contains(f))
}
