//! Output options of `memdx check` against the real Valgrind 3.19 on the
//! same binary: XML mode's silence on stderr, `-s` (the error list and
//! `used_suppression:` lines), `--error-markers`, `--child-silent-after-fork`, `--exit-on-first-error`, `--log-fd`,
//! `--xml-fd` with a closed descriptor, and the refused socket options.
//!
//! Texts are compared after the `Command:` line with the pid, addresses and
//! the allocator's object (Valgrind's vgpreload, memdx's runtime) masked.
#![allow(clippy::unwrap_used)]

mod check_util;

use memdx_testkit::{Deadline, DEADLINE};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use check_util::*;

fn programs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs")
}

/// tests/programs/check_error_list.c, built once for all tests.
fn error_list_program() -> PathBuf {
    static DIR: std::sync::OnceLock<(Scratch, PathBuf)> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let scratch = Scratch::new("options-programs");
        let exe = build(&programs_dir().join("check_error_list.c"), &scratch.0, &[]);
        (scratch, exe)
    })
    .1
    .clone()
}

fn supp_file() -> String {
    programs_dir()
        .join("check_error_list.supp")
        .display()
        .to_string()
}

fn valgrind(opts: &[&str], exe: &Path) -> Output {
    Command::new("valgrind")
        .args(opts)
        .arg(exe)
        .output_within(DEADLINE)
}

fn memdx_check(opts: &[&str], exe: &Path) -> Output {
    // Valgrind has no default suppressions of memdx's.
    memdx()
        .arg("check")
        .arg("--default-suppressions=no")
        .args(opts)
        .arg(exe)
        .output_within(DEADLINE)
}

/// The report after the `Command:` line, pids, addresses and the
/// allocator's object masked.
fn normalized(text: &str) -> String {
    let prefix = regex::Regex::new(r"^(==|--)\d+(==|--)").unwrap();
    let addr = regex::Regex::new(r"0x[0-9A-Fa-f]+").unwrap();
    let alloc =
        regex::Regex::new(r"\(in [^)]*(vgpreload_memcheck-amd64-linux|libmemdx_runtime)\.so\)")
            .unwrap();
    let mut out = Vec::new();
    let mut started = false;
    for line in without_not_checked(text).lines() {
        let line = prefix.replace(line, "${1}PID${2}");
        if !started {
            started = line.contains("Command: ");
            continue;
        }
        let line = addr.replace_all(&line, "0xADDR");
        out.push(alloc.replace_all(&line, "(in PRELOAD)").into_owned());
    }
    out.join("\n")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[test]
fn show_error_list_matches_valgrind() {
    if !valgrind_available() {
        eprintln!("valgrind not installed: skipped");
        return;
    }
    let exe = error_list_program();
    let supp = format!("--suppressions={}", supp_file());
    for opts in [
        vec!["-s", "--leak-check=full"],
        vec!["--show-error-list=yes", "--leak-check=full", supp.as_str()],
        vec!["-s", "--leak-check=summary", supp.as_str()],
        vec!["-s", "--leak-check=no"],
        vec!["-s", "--gen-suppressions=all", "--leak-check=full"],
    ] {
        let ours = memdx_check(&opts, &exe);
        let theirs = valgrind(&opts, &exe);
        let (a, b) = (
            normalized(&text(&ours.stderr)),
            normalized(&text(&theirs.stderr)),
        );
        assert!(b.contains("errors in context 1 of"), "{b}");
        assert_eq!(a, b, "options {opts:?}");
        assert_eq!(ours.status.code(), theirs.status.code());
    }
}

#[test]
fn error_markers_match_valgrind() {
    if !valgrind_available() {
        eprintln!("valgrind not installed: skipped");
        return;
    }
    let exe = error_list_program();
    for opts in [
        vec!["--error-markers=<<BEGIN>>,<<END>>", "--leak-check=full"],
        vec![
            "--error-markers=[[[",
            "-s",
            "--gen-suppressions=all",
            "--leak-check=full",
        ],
        vec!["--error-markers=,]]]", "--leak-check=summary"],
    ] {
        let ours = memdx_check(&opts, &exe);
        let theirs = valgrind(&opts, &exe);
        let (a, b) = (
            normalized(&text(&ours.stderr)),
            normalized(&text(&theirs.stderr)),
        );
        assert!(
            b.contains("BEGIN") || b.contains("[[[") || b.contains("]]]"),
            "{b}"
        );
        assert_eq!(a, b, "options {opts:?}");
        assert_eq!(ours.status.code(), theirs.status.code());
    }
}

#[test]
fn child_silent_after_fork_matches_valgrind() {
    if !valgrind_available() {
        eprintln!("valgrind not installed: skipped");
        return;
    }
    let scratch = Scratch::new("child-silent");
    let exe = build(&programs_dir().join("fork_child_errors.c"), &scratch.0, &[]);
    let opts = ["--child-silent-after-fork=yes", "--leak-check=full"];
    let ours = memdx_check(&opts, &exe);
    let theirs = valgrind(&opts, &exe);
    let (a, b) = (
        normalized(&text(&ours.stderr)),
        normalized(&text(&theirs.stderr)),
    );
    assert!(!b.contains("8 bytes inside"), "{b}");
    assert_eq!(a, b);
    assert_eq!(ours.stdout, theirs.stdout);
    assert_eq!(ours.status.code(), theirs.status.code());
    // Without it, the child's own report (its bad free) is printed too.
    let loud = memdx_check(&["--leak-check=full"], &exe);
    assert!(
        text(&loud.stderr).contains("8 bytes inside a block of size 16"),
        "{}",
        text(&loud.stderr)
    );
}

#[test]
fn exit_on_first_error_matches_valgrind() {
    if !valgrind_available() {
        eprintln!("valgrind not installed: skipped");
        return;
    }
    let exe = error_list_program();
    let scratch = Scratch::new("eofe");
    let supp = format!("--suppressions={}", supp_file());
    let leak_only = build(&corpus_dir().join("definite_leak.c"), &scratch.0, &[]);
    let cases: Vec<(Vec<&str>, &Path)> = vec![
        // The first bad free stops the program: "after" is never printed.
        (
            vec!["--exit-on-first-error=yes", "--error-exitcode=42"],
            &exe,
        ),
        // Without --error-exitcode Valgrind complains, runs, and exits 0.
        (vec!["--exit-on-first-error=yes"], &exe),
        // The leak check's first shown loss record stops it too.
        (
            vec![
                "--exit-on-first-error=yes",
                "--error-exitcode=7",
                "--leak-check=full",
            ],
            &leak_only,
        ),
        // A suppressed loss record does not.
        (
            vec![
                "--exit-on-first-error=yes",
                "--error-exitcode=7",
                "--leak-check=full",
                supp.as_str(),
                "--show-leak-kinds=definite",
            ],
            &leak_only,
        ),
    ];
    for (opts, exe) in cases {
        let ours = memdx_check(&opts, exe);
        let theirs = valgrind(&opts, exe);
        let (ae, be) = (text(&ours.stderr), text(&theirs.stderr));
        assert_eq!(text(&ours.stdout), text(&theirs.stdout), "{opts:?}");
        assert_eq!(ours.status.code(), theirs.status.code(), "{opts:?}\n{ae}");
        // The "Bad option" lines come before the banner.
        let before = |t: &str| {
            t.lines()
                .take_while(|l| !l.contains("Memcheck"))
                .map(|l| normalized(&format!("==1== Command: x\n{l}")))
                .collect::<Vec<_>>()
        };
        assert_eq!(before(&ae), before(&be), "{opts:?}");
        assert_eq!(normalized(&ae), normalized(&be), "{opts:?}");
    }
}

#[test]
fn exit_on_first_error_xml_is_closed_after_the_error() {
    if !valgrind_available() {
        eprintln!("valgrind not installed: skipped");
        return;
    }
    let exe = error_list_program();
    let scratch = Scratch::new("eofe-xml");
    let leak_only = build(&corpus_dir().join("definite_leak.c"), &scratch.0, &[]);
    for (exe, leak) in [(&exe, false), (&leak_only, true)] {
        let mine = scratch.0.join("memdx.xml");
        let theirs = scratch.0.join("valgrind.xml");
        let opts = |f: &Path| {
            vec![
                "--exit-on-first-error=yes".to_string(),
                "--error-exitcode=9".to_string(),
                "--leak-check=full".to_string(),
                "--xml=yes".to_string(),
                format!("--xml-file={}", f.display()),
            ]
        };
        let o: Vec<String> = opts(&mine);
        let ours = memdx_check(&o.iter().map(String::as_str).collect::<Vec<_>>(), exe);
        let o: Vec<String> = opts(&theirs);
        let vg = valgrind(&o.iter().map(String::as_str).collect::<Vec<_>>(), exe);
        assert_eq!(ours.status.code(), Some(9));
        assert_eq!(vg.status.code(), Some(9));
        // In XML mode only the notice is on stderr, in both.
        assert_eq!(
            normalized(&format!("==1== Command: x\n{}", text(&ours.stderr))),
            normalized(&format!("==1== Command: x\n{}", text(&vg.stderr)))
        );
        let (a, b) = (
            std::fs::read_to_string(&mine).unwrap(),
            std::fs::read_to_string(&theirs).unwrap(),
        );
        // The same sequence of top-level elements and error kinds, closed
        // right after the one error.
        let skeleton = |x: &str| {
            x.lines()
                .filter(|l| {
                    l.starts_with("<error")
                        || l.starts_with("</error")
                        || l.starts_with("  <kind>")
                        || l.starts_with("  <state>")
                        || l.starts_with("<errorcounts")
                        || l.starts_with("<suppcounts")
                        || l.starts_with("</valgrindoutput")
                })
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(skeleton(&a), skeleton(&b), "leak={leak}\n{a}");
        assert!(a.ends_with("</error>\n\n</valgrindoutput>\n"), "{a}");
        assert!(b.ends_with("</error>\n\n</valgrindoutput>\n"));
    }
}

#[test]
fn xml_mode_prints_no_text_report_like_valgrind() {
    if !valgrind_available() {
        eprintln!("valgrind not installed: skipped");
        return;
    }
    let exe = error_list_program();
    let scratch = Scratch::new("xml-quiet");
    for log in [false, true] {
        let mut outs = Vec::new();
        for tool in ["memdx", "valgrind"] {
            let xml = scratch.0.join(format!("{tool}.xml"));
            let logf = scratch.0.join(format!("{tool}.log"));
            let mut opts = vec![
                "--leak-check=full".to_string(),
                "--xml=yes".to_string(),
                format!("--xml-file={}", xml.display()),
            ];
            if log {
                opts.push(format!("--log-file={}", logf.display()));
            }
            let o: Vec<&str> = opts.iter().map(String::as_str).collect();
            let out = if tool == "memdx" {
                memdx_check(&o, &exe)
            } else {
                valgrind(&o, &exe)
            };
            let xml_text = std::fs::read_to_string(&xml).unwrap();
            assert!(xml_text.contains("<kind>InvalidFree</kind>"), "{tool}");
            let log_text = log.then(|| std::fs::read_to_string(&logf).unwrap());
            outs.push((
                text(&out.stderr),
                log_text,
                out.status.code(),
                text(&out.stdout),
            ));
        }
        assert_eq!(outs[0], outs[1], "log file: {log}");
        assert_eq!(outs[0].0, "", "nothing on stderr");
    }
}

#[test]
fn log_fd_sends_the_report_there_like_valgrind() {
    if !valgrind_available() {
        eprintln!("valgrind not installed: skipped");
        return;
    }
    let exe = error_list_program();
    let scratch = Scratch::new("log-fd");
    let mut reports = Vec::new();
    for tool in ["memdx", "valgrind"] {
        let file = scratch.0.join(format!("{tool}.fd5"));
        let cmd = if tool == "memdx" {
            format!(
                "'{}' check --default-suppressions=no",
                env!("CARGO_BIN_EXE_memdx")
            )
        } else {
            "valgrind".to_string()
        };
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{cmd} --leak-check=full --log-fd=5 '{}' 5>'{}'",
                exe.display(),
                file.display()
            ))
            .output_within(DEADLINE);
        assert_eq!(text(&out.stderr), "", "{tool}: nothing on stderr");
        assert_eq!(out.status.code(), Some(3));
        let report = std::fs::read_to_string(&file).unwrap();
        assert!(
            report.contains("ERROR SUMMARY: 6 errors from 4 contexts"),
            "{report}"
        );
        reports.push(normalized(&report));
    }
    assert_eq!(reports[0], reports[1]);
    // A descriptor that is not open: Valgrind's notice, then stderr.
    let ours = memdx_check(&["--log-fd=77"], &exe);
    let theirs = valgrind(&["--log-fd=77"], &exe);
    let first = |o: &Output| {
        normalized(&format!(
            "==1== Command: x\n{}",
            text(&o.stderr).lines().next().unwrap_or("")
        ))
    };
    assert_eq!(first(&ours), first(&theirs));
    assert!(first(&ours).contains("failed to move log file descriptor"));
    assert_eq!(
        normalized(&text(&ours.stderr)),
        normalized(&text(&theirs.stderr))
    );
}

#[test]
fn xml_fd_not_open_falls_back_to_stderr_like_valgrind() {
    if !valgrind_available() {
        eprintln!("valgrind not installed: skipped");
        return;
    }
    let exe = error_list_program();
    let opts = ["--leak-check=full", "--xml=yes", "--xml-fd=77"];
    let ours = memdx_check(&opts, &exe);
    let theirs = valgrind(&opts, &exe);
    for o in [&ours, &theirs] {
        let e = text(&o.stderr);
        let first = e.lines().next().unwrap_or("");
        assert!(
            first.ends_with(
                "== Valgrind: failed to move XML file descriptor into safe range, using stderr"
            ),
            "{e}"
        );
        let doc = e.split_once('\n').map(|(_, d)| d).unwrap_or("");
        let report = memdx_report::xml::read(doc).unwrap();
        assert_eq!(report.errors.len(), 4, "{doc}");
    }
}

#[test]
fn socket_options_are_refused_in_one_line() {
    for opt in ["--xml-socket=127.0.0.1:1500", "--log-socket=127.0.0.1"] {
        let out = memdx()
            .args(["check", opt, "/bin/true"])
            .output_within(DEADLINE);
        assert_eq!(out.status.code(), Some(1));
        let e = text(&out.stderr);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains("is not supported"), "{e}");
    }
}

#[test]
fn verbose_prints_the_symbolization_time() {
    let exe = error_list_program();
    let out = memdx_check(&["-v", "--leak-check=full"], &exe);
    let e = text(&out.stderr);
    let re =
        regex::Regex::new(r"(?m)^==\d+== memdx: symbolization: ([\d,]+) addresses, \d+\.\d{3} s$")
            .unwrap();
    let n: u64 = re.captures(&e).expect("a symbolization line")[1]
        .replace(',', "")
        .parse()
        .unwrap();
    // malloc, free, main's call sites, free_junk: at least those.
    assert!(n >= 6, "{e}");
}
