//! Differential test: Valgrind 3.19 and `memdx check` on the same corpus
//! binaries must give the same LEAK SUMMARY bytes and blocks for definitely,
//! indirectly and possibly lost, the same error headlines and the same
//! HEAP SUMMARY and ERROR SUMMARY (unless a program's header documents why
//! not).

mod check_util;

use check_util::*;

#[test]
fn corpus_agrees_with_valgrind() {
    if !valgrind_available() {
        memdx_testkit::tool_missing("valgrind is not installed (.ci/run installs it)");
        return;
    }
    let scratch = Scratch::new("valgrind");
    let sources = corpus_sources();
    // One program per CPU at a time (memdx_testkit::corpus_jobs); the results
    // are printed and judged afterwards, in the corpus's order.
    let results = memdx_testkit::map_in_parallel(&sources, memdx_testkit::corpus_jobs(), |src| {
        let expect = parse_expect(&std::fs::read_to_string(src).unwrap());
        let name = src.file_name().unwrap().to_string_lossy().to_string();
        if let Some(why) = &expect.valgrind_skip {
            return (format!("{name:32} not compared: {why}"), None, false);
        }
        let exe = build(src, &scratch.0, &expect.build);
        let ours = parse_report(&String::from_utf8_lossy(
            &run_memdx(&exe, &["--leak-check=full", "--default-suppressions=no"]).stderr,
        ));
        let vg_out = run_valgrind(&exe);
        let vg_text = String::from_utf8_lossy(&vg_out.stderr).to_string();
        let theirs = parse_report(&vg_text);
        let mut problems = Vec::new();
        for kind in ["definitely lost", "indirectly lost", "possibly lost"] {
            if ours.leak(kind) != theirs.leak(kind) {
                problems.push(format!(
                    "{kind}: memdx '{}', valgrind '{}'",
                    ours.leak(kind),
                    theirs.leak(kind)
                ));
            }
        }
        // The HEAP SUMMARY (in use at exit, allocs, frees, bytes) must be
        // the same too, unless the program says why not.
        if ours.heap_summary != theirs.heap_summary && expect.heap_summary_differs.is_none() {
            problems.push(format!(
                "heap summary: memdx {:?}, valgrind {:?}",
                ours.heap_summary, theirs.heap_summary
            ));
        }
        if ours.error_summary != theirs.error_summary && expect.error_summary_differs.is_none() {
            problems.push(format!(
                "error summary: memdx {:?}, valgrind {:?}",
                ours.error_summary, theirs.error_summary
            ));
        }
        let (mut a, mut b) = (ours.errors.clone(), theirs.errors.clone());
        a.sort();
        b.sort();
        if a != b {
            problems.push(format!("errors: memdx {a:?}, valgrind {b:?}"));
        }
        // Invalid accesses: the same "N bytes after/before/inside a block
        // of size M alloc'd/free'd" facts.
        let (mut a, mut b) = (ours.facts.clone(), theirs.facts.clone());
        a.sort();
        b.sort();
        if a != b {
            problems.push(format!("address facts: memdx {a:?}, valgrind {b:?}"));
        }
        let line = format!(
            "{name:32} {}",
            if problems.is_empty() {
                "same"
            } else {
                "DIFFERENT"
            }
        );
        let failure =
            (!problems.is_empty()).then(|| format!("{name}: {}\n{vg_text}", problems.join("; ")));
        (line, failure, true)
    });
    let mut failures = Vec::new();
    let mut compared = 0;
    for (line, failure, was_compared) in results {
        println!("{line}");
        failures.extend(failure);
        compared += usize::from(was_compared);
    }
    println!("compared {compared} programs with valgrind");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
