//! Third-party consumers of Valgrind XML accept what our writer writes:
//! ValgrindCI (PyPI `valgrindci`, HTML reports and summaries for CI) and
//! valgrind-codequality (PyPI `valgrind-codequality`, GitLab Code Quality
//! JSON). The report is built here, written with `xml::write`, and each
//! tool must find the errors, kinds, files and lines in it.
//!
//! The tools run under `$MEMDX_PYTHON` (set by `.ci/run`, which installs
//! them in a virtualenv) or `python3`; without them the tests print
//! `SKIPPED:`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use memdx_testkit::{Deadline, DEADLINE};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use memdx_report::{
    xml, Aux, CommandLine, Error, ErrorCount, ErrorKind, Frame, Report, Stack, Status, What,
};

fn python() -> String {
    std::env::var("MEMDX_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether `module` imports under [`python`].
fn have_module(module: &str) -> bool {
    Command::new(python())
        .args(["-c", &format!("import {module}")])
        .try_output_within(DEADLINE)
        .is_ok_and(|o| o.status.success())
}

fn run(args: &[&str]) -> Output {
    let out = Command::new(python()).args(args).output_within(DEADLINE);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A source tree with one C file, and a report of an invalid free on its
/// line 4 and a leak allocated on its line 7.
fn fixture(name: &str) -> (PathBuf, PathBuf) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("memdx-report/consumers")
        .join(name);
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("prog.c"),
        "#include <stdlib.h>\nint main(void) {\n    char *p = malloc(10);\n    free(p + 1);\n    free(p);\n    free(p);\n    p = malloc(99);\n    return 0;\n}\n",
    )
    .unwrap();
    let frame = |function: &str, line: Option<u32>, ip: u64| Frame {
        ip,
        obj: Some(if line.is_some() {
            "/tmp/prog".into()
        } else {
            "/usr/lib/x86_64-linux-gnu/libmemdx_runtime.so".into()
        }),
        function: Some(function.into()),
        dir: line.map(|_| src.display().to_string()),
        file: line.map(|_| "prog.c".into()),
        line,
    };
    let report = Report {
        tool: "memcheck".into(),
        preamble: vec![
            "Memcheck-compatible memory error detector (memdx check)".into(),
            "Command: /tmp/prog".into(),
        ],
        pid: 1234,
        ppid: 1,
        user_comment: None,
        checker: CommandLine {
            exe: "/usr/bin/memdx".into(),
            args: vec!["check".into(), "--xml=yes".into()],
        },
        program: CommandLine {
            exe: "/tmp/prog".into(),
            args: vec![],
        },
        started: Status { elapsed_ms: 3 },
        errors: vec![
            Error {
                unique: 0,
                tid: 1,
                thread_name: None,
                kind: ErrorKind::InvalidFree,
                what: What::Text("Invalid free() / delete / delete[] / realloc()".into()),
                stack: Stack {
                    frames: vec![
                        frame("free", None, 0x484417b),
                        frame("main", Some(4), 0x10907d),
                    ],
                },
                aux: vec![Aux {
                    what: "Address 0x4a43041 is 1 bytes inside a block of size 10 alloc'd".into(),
                    stack: Some(Stack {
                        frames: vec![
                            frame("malloc", None, 0x48417b4),
                            frame("main", Some(3), 0x10906a),
                        ],
                    }),
                }],
                suppression: None,
            },
            Error {
                unique: 1,
                tid: 1,
                thread_name: None,
                kind: ErrorKind::LeakDefinitelyLost,
                what: What::Leak {
                    text: "99 bytes in 1 blocks are definitely lost in loss record 1 of 1".into(),
                    leaked_bytes: 99,
                    leaked_blocks: 1,
                },
                stack: Stack {
                    frames: vec![
                        frame("malloc", None, 0x48417b4),
                        frame("main", Some(7), 0x1090a0),
                    ],
                },
                aux: vec![],
                suppression: None,
            },
        ],
        fatal_signal: None,
        finished: Some(Status { elapsed_ms: 40 }),
        error_counts: vec![ErrorCount {
            count: 1,
            unique: 0,
        }],
        supp_counts: vec![],
        error_summary: None,
        heap_summary: None,
        leak_summary: None,
        notes: vec![],
    };
    let path = dir.join("memdx.xml");
    let mut out = Vec::new();
    xml::write(&report, &mut out).unwrap();
    std::fs::write(&path, out).unwrap();
    (path, src)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn valgrind_ci_counts_summarises_and_renders_our_xml() {
    if !have_module("ValgrindCI") {
        memdx_testkit::tool_missing(&format!(
            "ValgrindCI (pip install valgrindci) is not available to {}",
            python()
        ));
        return;
    }
    let (xml_path, src) = fixture("valgrind-ci");
    let html = xml_path.parent().unwrap().join("html");
    let out = run(&[
        "-m",
        "ValgrindCI",
        s(&xml_path),
        "--source-dir",
        s(&src),
        "--number-of-errors",
        "--summary",
        "--output-dir",
        s(&html),
    ]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("2 errors."), "{stdout}");
    assert!(stdout.contains("prog.c:\n2 errors\n"), "{stdout}");
    assert!(
        stdout.contains("line 4: InvalidFree\t(1 errors)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 7: Leak_DefinitelyLost\t(1 errors)"),
        "{stdout}"
    );
    let index = std::fs::read_to_string(html.join("index.html")).unwrap();
    assert!(index.contains("prog.c"), "{index}");
    // The per-file page quotes the source lines our frames point at.
    let page = std::fs::read_dir(&html)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name().unwrap() != "index.html" && p.extension().is_some_and(|e| e == "html")
        })
        .unwrap();
    let page = std::fs::read_to_string(page).unwrap();
    assert!(page.contains("free(p + 1);"), "{page}");
    assert!(page.contains("Invalid free()"), "{page}");
}

#[test]
fn valgrind_codequality_converts_our_xml_to_gitlab_issues() {
    if !have_module("valgrind_codequality") {
        memdx_testkit::tool_missing(&format!(
            "valgrind-codequality (pip install valgrind-codequality) is not available to {}",
            python()
        ));
        return;
    }
    let (xml_path, src) = fixture("codequality");
    let json_path = xml_path.with_extension("json");
    run(&[
        "-m",
        "valgrind_codequality",
        "-i",
        s(&xml_path),
        "-o",
        s(&json_path),
        "-b",
        s(&src),
    ]);
    let issues: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let issues = issues.as_array().unwrap();
    assert_eq!(issues.len(), 2, "{issues:#?}");
    let find = |kind: &str| {
        issues
            .iter()
            .find(|i| i["description"].as_str().unwrap().starts_with(kind))
            .unwrap_or_else(|| panic!("no {kind} in {issues:#?}"))
    };
    let free = find("InvalidFree: Invalid free()");
    assert_eq!(free["severity"], "major");
    assert!(free["location"]["path"]
        .as_str()
        .unwrap()
        .ends_with("prog.c"));
    assert_eq!(free["location"]["lines"]["begin"], 4);
    let leak = find("Leak_DefinitelyLost: 99 bytes in 1 blocks");
    assert_eq!(leak["severity"], "blocker");
    assert_eq!(leak["location"]["lines"]["begin"], 7);
}
