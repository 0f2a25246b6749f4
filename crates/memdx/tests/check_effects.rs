//! `memdx check --uninit-effects=yes` (`tests/corpus/effects/`): the
//! differential runs name the allocation site whose uninitialised bytes
//! change what the program does (its exit status, its stdout through
//! stdio, a file its argument names), report nothing for a program that
//! reads uninitialised memory without depending on it, and recognise a
//! nondeterministic program without blaming a site.

// Test code: a failed step should stop the test loudly.
#![allow(clippy::unwrap_used)]

mod check_util;

use check_util::*;
use memdx_testkit::{Deadline, DEADLINE};
use std::path::{Path, PathBuf};
use std::process::Output;

fn effects_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/effects")
}

fn build_effects(name: &str, scratch: &Scratch) -> PathBuf {
    build(&effects_dir().join(name), &scratch.0, &[])
}

fn effects(exe: &Path, opts: &[&str], args: &[&str], cwd: &Path) -> Output {
    memdx()
        .current_dir(cwd)
        .arg("check")
        .arg("--uninit-effects=yes")
        .args(opts)
        .arg(exe)
        .args(args)
        .output_within(DEADLINE)
}

/// The report's lines without their `==PID==` prefix.
fn report(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("==")?;
            let (_, text) = rest.split_once("==")?;
            Some(text.strip_prefix(' ').unwrap_or(text).to_string())
        })
        .collect()
}

/// The function names of the stack after each headline, per finding.
fn blamed(lines: &[String]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i] == "Behaviour depends on uninitialised heap memory" {
            let what = lines.get(i + 1).cloned().unwrap_or_default();
            let mut funcs = Vec::new();
            let mut j = i + 2;
            while let Some(l) = lines.get(j) {
                let t = l.trim_start();
                let Some(rest) = t.strip_prefix("at 0x").or_else(|| t.strip_prefix("by 0x")) else {
                    break;
                };
                let f = rest.split_once(": ").map_or("", |(_, f)| f);
                funcs.push(f.split(' ').next().unwrap_or("").to_string());
                j += 1;
            }
            out.push((what.trim().to_string(), funcs));
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

fn runs_line(lines: &[String]) -> usize {
    let l = lines
        .iter()
        .find(|l| l.starts_with("Runs: "))
        .unwrap_or_else(|| panic!("no Runs line in {lines:#?}"));
    l["Runs: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn the_one_site_of_ten_whose_word_decides_the_exit_status_is_named() {
    let scratch = Scratch::new("effects-ten");
    let exe = build_effects("ten_sites.c", &scratch);
    let native = std::process::Command::new(&exe).output_within(DEADLINE);
    let out = effects(&exe, &[], &[], &scratch.0);
    let lines = report(&out.stderr);
    // The program's own output and status are those of its first run
    // (0x00 fill, as fresh pages natively).
    assert_eq!(out.stdout, native.stdout, "{lines:#?}");
    assert_eq!(out.status.code(), Some(0), "{lines:#?}");
    let found = blamed(&lines);
    assert_eq!(found.len(), 1, "{lines:#?}");
    assert_eq!(
        found[0].0,
        "exit status 0 vs 1 when the bytes of blocks from this site are 0x00 vs 0xff"
    );
    assert_eq!(found[0].1[0], "malloc", "{lines:#?}");
    assert_eq!(found[0].1[1], "site7", "{lines:#?}");
    assert!(found[0]
        .1
        .iter()
        .all(|f| !f.starts_with("site") || f == "site7"));
    assert!(lines
        .iter()
        .any(|l| l.contains("confirmed by a run changing only this site's fill")));
    // site7's one block: 16 ints and 7 bytes.
    assert!(
        lines.contains(&" Blocks from this site in a run: 1 (71 bytes filled)".into()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"ERROR SUMMARY: 1 errors from 1 contexts (suppressed: 0 from 0)".into())
    );
    let runs = runs_line(&lines);
    // 2 (same fill) + 1 (all 0xff) + at most 2 per halving of 11 sites
    // (10 and stdout's buffer) + 1 confirmation.
    assert!((6..=12).contains(&runs), "{runs} runs: {lines:#?}");

    // --error-exitcode applies to the finding.
    let out = effects(&exe, &["--error-exitcode=9"], &[], &scratch.0);
    assert_eq!(out.status.code(), Some(9));
}

#[test]
fn reading_uninitialised_memory_without_depending_on_it_is_no_finding() {
    let scratch = Scratch::new("effects-none");
    let exe = build_effects("no_effect.c", &scratch);
    let out = effects(&exe, &[], &[], &scratch.0);
    let lines = report(&out.stderr);
    assert_eq!(out.stdout, b"sum 2016\n");
    assert_eq!(out.status.code(), Some(0));
    assert!(blamed(&lines).is_empty(), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("No effect of uninitialised heap memory found")),
        "{lines:#?}"
    );
    assert_eq!(runs_line(&lines), 4, "{lines:#?}");
    assert!(
        lines.contains(&"ERROR SUMMARY: 0 errors from 0 contexts (suppressed: 0 from 0)".into())
    );
}

#[test]
fn a_nondeterministic_program_is_recognised_and_nothing_is_blamed() {
    let scratch = Scratch::new("effects-nondet");
    let exe = build_effects("nondeterministic.c", &scratch);
    let out = effects(&exe, &[], &[], &scratch.0);
    let lines = report(&out.stderr);
    assert!(blamed(&lines).is_empty(), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l
            .starts_with("The program is nondeterministic: two runs with the same fill")
            && l.contains("stdout differs")),
        "{lines:#?}"
    );
    assert_eq!(runs_line(&lines), 2, "{lines:#?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("started at "));
}

#[test]
fn output_through_stdio_and_a_named_file_are_traced_to_their_sites() {
    let scratch = Scratch::new("effects-stdio");
    let exe = build_effects("stdio_output.c", &scratch);
    let out = effects(&exe, &[], &["out.bin"], &scratch.0);
    let lines = report(&out.stderr);
    let found = blamed(&lines);
    assert_eq!(found.len(), 2, "{lines:#?}");
    let by_site = |f: &str| {
        found
            .iter()
            .find(|(_, funcs)| funcs.get(1).map(String::as_str) == Some(f))
            .unwrap_or_else(|| panic!("{f} not blamed: {lines:#?}"))
    };
    assert!(
        by_site("make_counter")
            .0
            .starts_with("stdout differs from byte 11 (\"0\\n\" vs \"-1\\n\")"),
        "{lines:#?}"
    );
    assert!(
        by_site("make_record")
            .0
            .starts_with("file 'out.bin' differs from byte 4 "),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("make_label")),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&" Blocks from this site in a run: 1 (12 bytes filled)".into()),
        "{lines:#?}"
    );
    // The file is left as the first run wrote it (0x00 fill).
    let written = std::fs::read(scratch.0.join("out.bin")).unwrap();
    assert_eq!(&written[..4], b"abc\0");
    assert!(written[4..].iter().all(|&b| b == 0), "{written:?}");
    assert_eq!(out.stdout, b"counter: 5 0\n");
}

#[test]
fn the_run_cap_stops_the_search_and_says_so() {
    let scratch = Scratch::new("effects-cap");
    let exe = build_effects("ten_sites.c", &scratch);
    let out = effects(&exe, &["--uninit-effects-runs=5"], &[], &scratch.0);
    let lines = report(&out.stderr);
    assert_eq!(runs_line(&lines), 5, "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Runs: 5 (cap 5: reached, the search stopped there); address randomization off in every run; ")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Not narrowed to one site: the run cap stopped the narrowing")),
        "{lines:#?}"
    );
    let out = memdx()
        .args(["check", "--uninit-effects=yes", "--uninit-effects-runs=2"])
        .arg(&exe)
        .output_within(DEADLINE);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn an_uninitialised_pointer_that_kills_the_program_is_traced_to_its_block() {
    let scratch = Scratch::new("effects-pointer");
    let exe = build_effects("uninit_pointer.c", &scratch);
    let out = effects(&exe, &[], &[], &scratch.0);
    let lines = report(&out.stderr);
    // The first run (0x00: a NULL link) is the one passed on.
    assert_eq!(out.stdout, b"ok\n");
    assert_eq!(out.status.code(), Some(0));
    let found = blamed(&lines);
    assert_eq!(found.len(), 1, "{lines:#?}");
    assert!(
        found[0].0.starts_with(
            "exit status 0 vs death by signal 11 (Segmentation fault); stdout differs from byte 0"
        ),
        "{lines:#?}"
    );
    assert_eq!(found[0].1[1], "main", "{lines:#?}");
    assert!(
        lines.contains(&" Blocks from this site in a run: 1 (16 bytes filled)".into()),
        "{lines:#?}"
    );
}

#[test]
fn a_run_that_hangs_with_one_fill_is_killed_at_its_deadline_and_counted() {
    let scratch = Scratch::new("effects-hang");
    let exe = build_effects("hang_on_ff.c", &scratch);
    let out = effects(&exe, &["--uninit-effects-timeout=1"], &[], &scratch.0);
    let lines = report(&out.stderr);
    assert_eq!(out.stdout, b"done oo\n", "{lines:#?}");
    assert_eq!(out.status.code(), Some(0), "{lines:#?}");
    let found = blamed(&lines);
    assert_eq!(found.len(), 1, "{lines:#?}");
    assert!(
        found[0]
            .0
            .starts_with("exit status 0 vs no end within 1 s (killed); stdout differs from byte 0"),
        "{lines:#?}"
    );
    assert_eq!(found[0].1[1], "wait_flag", "{lines:#?}");
    let runs = lines.iter().find(|l| l.starts_with("Runs: ")).unwrap();
    // Every run that filled wait_flag's block with 0xff was killed: the
    // run with every site, each half holding it, and the confirmation.
    let killed: usize = runs
        .split("is killed (")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{runs}"));
    assert!(killed >= 3 && killed < runs_line(&lines), "{runs}");
    assert!(
        runs.contains("; a run still going after 1 s is killed ("),
        "{runs}"
    );
}

/// The findings of `ten_sites.c` in XML (Valgrind protocol 4, memdx's own
/// `<kind>`, read back by the repo's reader), JSON (memdx's report
/// schema) and on `--log-fd`.
#[test]
fn findings_go_to_xml_json_and_log_fd() {
    let scratch = Scratch::new("effects-machine");
    let exe = build_effects("ten_sites.c", &scratch);
    let xml = scratch.0.join("r.xml");
    let json = scratch.0.join("r.json");
    let out = effects(
        &exe,
        &[
            "--xml=yes",
            &format!("--xml-file={}", xml.display()),
            &format!("--json={}", json.display()),
        ],
        &[],
        &scratch.0,
    );
    assert_eq!(out.status.code(), Some(0));
    // As in the other check, --xml=yes silences the text report.
    assert!(report(&out.stderr).is_empty(), "{:?}", report(&out.stderr));
    let text = std::fs::read_to_string(&xml).unwrap();
    assert!(text.starts_with("<?xml version=\"1.0\"?>"), "{text}");
    assert!(
        text.contains("<protocolversion>4</protocolversion>"),
        "{text}"
    );
    assert!(text.contains("<kind>Memdx_UninitEffect</kind>"), "{text}");
    assert!(text.trim_end().ends_with("</valgrindoutput>"), "{text}");
    let check = |r: &memdx_report::Report, what: &str| {
        assert_eq!(r.errors.len(), 1, "{what}: {r:?}");
        let e = &r.errors[0];
        assert_eq!(e.kind, memdx_report::ErrorKind::UninitEffect, "{what}");
        assert_eq!(
            e.what,
            memdx_report::What::Text("Behaviour depends on uninitialised heap memory".into())
        );
        let funcs: Vec<&str> = e
            .stack
            .frames
            .iter()
            .filter_map(|f| f.function.as_deref())
            .collect();
        assert_eq!(funcs.get(1), Some(&"site7"), "{what}: {funcs:?}");
        assert!(
            e.aux[0].what.starts_with(
                "exit status 0 vs 1 when the bytes of blocks from this site are 0x00 vs 0x"
            ),
            "{what}: {:?}",
            e.aux
        );
        assert!(
            e.aux.iter().any(|a| a.what.starts_with("Found in ")),
            "{what}: {:?}",
            e.aux
        );
    };
    check(
        &memdx_report::xml::read(&text).expect("the repo's XML reader"),
        "xml",
    );
    let json_text = std::fs::read_to_string(&json).unwrap();
    assert!(json_text.contains("\"Memdx_UninitEffect\""), "{json_text}");
    let from_json = memdx_report::json::read(&json_text).expect("memdx's JSON reader");
    check(&from_json, "json");
    // The JSON also carries the closing lines and the summary (the XML has
    // no place for them).
    assert!(
        from_json.notes.iter().any(|n| n.starts_with("Runs: ")),
        "{:?}",
        from_json.notes
    );
    assert_eq!(from_json.error_summary.map(|s| s.errors), Some(1));

    // A third-party reader of Valgrind's XML (ValgrindCI, PyPI
    // `valgrindci`) takes the document and counts the finding at its line.
    let python = std::env::var("MEMDX_PYTHON").unwrap_or_else(|_| "python3".into());
    let have = std::process::Command::new(&python)
        .args(["-c", "import ValgrindCI"])
        .try_output_within(DEADLINE)
        .is_ok_and(|o| o.status.success());
    if have {
        let ci = std::process::Command::new(&python)
            .args(["-m", "ValgrindCI"])
            .arg(&xml)
            .args(["--number-of-errors", "--summary"])
            .output_within(DEADLINE);
        let said = String::from_utf8_lossy(&ci.stdout).to_string();
        assert!(ci.status.success(), "{said}");
        assert!(said.contains("Memdx_UninitEffect"), "{said}");
        assert!(said.starts_with("1 errors."), "{said}");
    } else {
        memdx_testkit::tool_missing(&format!(
            "ValgrindCI (pip install valgrindci) is not available to {python}"
        ));
    }

    // --log-fd: the text report on that descriptor, stderr left to the
    // program.
    let log = scratch.0.join("fd.log");
    let memdx_bin = memdx().get_program().to_owned();
    let out = std::process::Command::new("sh")
        .current_dir(&scratch.0)
        .arg("-c")
        .arg(format!(
            "exec 7>'{}'; exec '{}' check --uninit-effects=yes --log-fd=7 '{}'",
            log.display(),
            Path::new(&memdx_bin).display(),
            exe.display()
        ))
        .output_within(DEADLINE);
    assert_eq!(out.status.code(), Some(0));
    assert!(report(&out.stderr).is_empty(), "{:?}", report(&out.stderr));
    let logged = report(&std::fs::read(&log).unwrap());
    let found = blamed(&logged);
    assert_eq!(found.len(), 1, "{logged:#?}");
    assert_eq!(found[0].1[1], "site7", "{logged:#?}");
}
