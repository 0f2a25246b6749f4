//! Uninitialised heap bytes passed to system calls (`tests/corpus/check/
//! uninit_*`): with `--track-origins=yes`, memdx's errors must be
//! Valgrind 3.19's, line for line once addresses are taken out: headline,
//! the system call's stack, "Address ... is N bytes inside a block of size
//! S alloc'd" with the block's stack, and "Uninitialised value was created
//! by a heap allocation" with the origin's stack; in text and in XML.
//! Without `--track-origins` there is no origin, and
//! `--undef-value-errors=no` turns the check off.

mod check_util;

use check_util::*;
use memdx_testkit::{Deadline, DEADLINE};
use std::path::Path;
use std::process::Command;

/// The corpus programs with uninitialised bytes to report.
const REPORTING: &[&str] = &[
    "uninit_write_direct.c",
    "uninit_write_direct_O0.c",
    "uninit_stdio.c",
    "uninit_stdio_O0.c",
    "uninit_memcpy.c",
    "uninit_memcpy_O0.c",
    "uninit_struct_padding.c",
    "uninit_struct_padding_O0.c",
    "uninit_cpp_stream.cpp",
    "uninit_cpp_stream_O0.cpp",
    "uninit_cpp_new.cpp",
    "uninit_cpp_new_O0.cpp",
    "uninit_stack_copy.c",
    "uninit_stack_copy_O0.c",
];

/// The "points to uninitialised byte(s)" errors of the first process's
/// text report, one entry per error, each its lines without the `==PID==`
/// prefix, code addresses, objects and the data address.
fn uninit_errors(stderr: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut current: Option<Vec<String>> = None;
    let mut pid = None;
    for line in stderr.lines() {
        let Some((p, text)) = line.strip_prefix("==").and_then(|r| r.split_once("== ")) else {
            continue;
        };
        if *pid.get_or_insert(p.to_string()) != p {
            continue;
        }
        if text.starts_with("Syscall param ") && text.contains("uninitialised") {
            current = Some(vec![text.to_string()]);
            continue;
        }
        let Some(lines) = current.as_mut() else {
            continue;
        };
        if text.trim().is_empty() {
            out.extend(current.take());
        } else {
            lines.push(normalise(text));
        }
    }
    out
}

/// `   at 0x4953350: write (write.c:26)` -> `at write (write.c:26)`;
/// `malloc (in /path/obj.so)` -> `malloc`; ` Address 0x4a40050 is` ->
/// ` Address is`.
fn normalise(text: &str) -> String {
    let t = text.trim_start();
    for lead in ["at 0x", "by 0x"] {
        if let Some(rest) = t.strip_prefix(lead) {
            let frame = rest.split_once(": ").map_or(rest, |(_, f)| f);
            let frame = match frame.find(" (in ") {
                Some(i) if frame.ends_with(')') => &frame[..i],
                _ => frame,
            };
            return format!("{} {frame}", &lead[..2]);
        }
    }
    if let Some(rest) = t.strip_prefix("Address 0x") {
        return format!("Address {}", rest.split_once(' ').map_or("", |(_, r)| r));
    }
    t.to_string()
}

fn valgrind(exe: &Path, opts: &[&str]) -> String {
    let out = Command::new("valgrind")
        .args(opts)
        .arg(exe)
        .output_within(DEADLINE);
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn errors_and_origins_are_valgrinds_with_track_origins() {
    if !valgrind_available() {
        memdx_testkit::tool_missing("valgrind is not installed (.ci/run installs it)");
        return;
    }
    let scratch = Scratch::new("uninit-text");
    let mut failures = Vec::new();
    let mut compared = 0;
    for name in REPORTING {
        if !memdx_testkit::corpus_selected(name) {
            continue;
        }
        let exe = build_corpus(name, &scratch);
        let ours = run_memdx(&exe, &["--track-origins=yes", "--default-suppressions=no"]);
        let ours = uninit_errors(&String::from_utf8_lossy(&ours.stderr));
        let theirs = uninit_errors(&valgrind(&exe, &["--track-origins=yes"]));
        assert!(
            !theirs.is_empty(),
            "{name}: valgrind reports nothing uninitialised"
        );
        assert!(
            theirs.iter().all(|e| e
                .iter()
                .any(|l| l == "Uninitialised value was created by a heap allocation")),
            "{name}: {theirs:?}"
        );
        compared += theirs.len();
        if ours != theirs {
            failures.push(format!(
                "{name}:\n  memdx    {ours:#?}\n  valgrind {theirs:#?}"
            ));
        }
    }
    println!("compared {compared} errors with valgrind");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn xml_carries_the_origin_as_valgrind_writes_it() {
    if !valgrind_available() {
        memdx_testkit::tool_missing("valgrind is not installed (.ci/run installs it)");
        return;
    }
    let scratch = Scratch::new("uninit-xml");
    for (name, errors) in [
        ("uninit_stdio.c", 1),
        ("uninit_memcpy.c", 1),
        ("uninit_cpp_new.cpp", 1),
        ("uninit_stack_copy.c", 2),
    ] {
        let exe = build_corpus(name, &scratch);
        let ours = scratch.0.join(format!("{name}.memdx.xml"));
        let theirs = scratch.0.join(format!("{name}.valgrind.xml"));
        memdx()
            .args(["check", "--track-origins=yes", "--xml=yes"])
            .arg(format!("--xml-file={}", ours.display()))
            .arg(&exe)
            .output_within(DEADLINE);
        Command::new("valgrind")
            .args(["--track-origins=yes", "--xml=yes"])
            .arg(format!("--xml-file={}", theirs.display()))
            .arg(&exe)
            .output_within(DEADLINE);
        let read = |p: &Path| {
            let r = memdx_report::xml::read(&std::fs::read_to_string(p).unwrap()).unwrap();
            r.errors
                .iter()
                .filter(|e| e.kind == memdx_report::ErrorKind::SyscallParam)
                .map(|e| {
                    let names = |s: &memdx_report::Stack| -> Vec<String> {
                        s.frames
                            .iter()
                            .map(|f| {
                                format!(
                                    "{} {}:{}",
                                    f.function.as_deref().unwrap_or("???"),
                                    f.file.as_deref().unwrap_or("?"),
                                    f.line.unwrap_or(0)
                                )
                            })
                            .collect()
                    };
                    let mut v = vec![format!("{:?}", e.what), names(&e.stack).join(" | ")];
                    for a in &e.aux {
                        // The address differs from run to run.
                        let what = match a.what.strip_prefix("Address 0x") {
                            Some(rest) => rest.split_once(' ').map_or("", |(_, r)| r).to_string(),
                            None => a.what.clone(),
                        };
                        v.push(what);
                        v.push(a.stack.as_ref().map(names).unwrap_or_default().join(" | "));
                    }
                    v
                })
                .collect::<Vec<_>>()
        };
        let (a, b) = (read(&ours), read(&theirs));
        assert_eq!(b.len(), errors, "{name}: {b:?}");
        assert_eq!(a, b, "{name}");
    }
}

/// A copy on a second thread's stack: its stack differs from Valgrind's
/// (`__libc_write` and `clone` there), its description does not.
#[test]
fn a_copy_on_a_threads_stack_is_described_as_valgrind_does() {
    if !valgrind_available() {
        memdx_testkit::tool_missing("valgrind is not installed (.ci/run installs it)");
        return;
    }
    let scratch = Scratch::new("uninit-thread");
    let exe = build_corpus("uninit_stack_thread.c", &scratch);
    let described = |errors: Vec<Vec<String>>| -> Vec<String> {
        errors
            .into_iter()
            .flatten()
            .filter(|l| l.starts_with("Address ") || l.starts_with("in frame #"))
            .collect()
    };
    let ours = run_memdx(&exe, &[]);
    let ours = described(uninit_errors(&String::from_utf8_lossy(&ours.stderr)));
    let theirs = described(uninit_errors(&valgrind(&exe, &[])));
    assert_eq!(
        theirs,
        [
            "Address is on thread 2's stack",
            "in frame #1, created by emit_local (uninit_stack_thread.c:21)"
        ]
    );
    assert_eq!(ours, theirs);
}

#[test]
fn no_origin_without_track_origins_and_no_check_with_undef_value_errors_no() {
    let scratch = Scratch::new("uninit-opts");
    let exe = build_corpus("uninit_write_direct.c", &scratch);
    let out = run_memdx(&exe, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    let errors = uninit_errors(&err);
    assert_eq!(errors.len(), 4, "{err}");
    assert!(!err.contains("Uninitialised value was created"), "{err}");
    assert!(!err.contains("warning"), "{err}");
    assert!(
        err.contains("ERROR SUMMARY: 4 errors from 4 contexts"),
        "{err}"
    );

    let out = run_memdx(&exe, &["--undef-value-errors=no"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(uninit_errors(&err).is_empty(), "{err}");
    assert!(
        err.contains("ERROR SUMMARY: 0 errors from 0 contexts"),
        "{err}"
    );
    // The program's own output is the same either way.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "64 48 64 64\n");
}

#[test]
fn json_report_carries_the_origin() {
    let scratch = Scratch::new("uninit-json");
    let exe = build_corpus("uninit_memcpy.c", &scratch);
    let json = scratch.0.join("r.json");
    run_memdx(
        &exe,
        &["--track-origins=yes", &format!("--json={}", json.display())],
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).expect("memdx's JSON");
    let text = v.to_string();
    assert!(
        text.contains("Syscall param write(buf) points to uninitialised byte(s)"),
        "{text}"
    );
    assert!(
        text.contains("Uninitialised value was created by a heap allocation"),
        "{text}"
    );
}
