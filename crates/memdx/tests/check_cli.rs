//! `memdx check` command-line behaviour: Valgrind option names and
//! defaults, warnings for known-but-unimplemented options, errors for
//! unknown ones, --error-exitcode, --log-file, -q, fork and exec.

mod check_util;

use check_util::*;
use memdx_testkit::{Deadline, DEADLINE};

#[test]
fn unknown_option_is_an_error_naming_it() {
    let out = memdx()
        .args(["check", "--bogus-option=1", "/bin/true"])
        .output_within(DEADLINE);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "memdx check: Unknown option: --bogus-option=1 (see 'memdx check --help')"
    );
}

#[test]
fn missing_program_is_an_error() {
    let out = memdx()
        .args(["check", "--leak-check=full"])
        .output_within(DEADLINE);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no program specified"));
    // As Valgrind and shells: 127 for no such program, 126 for one that
    // cannot be executed; one line naming the program and the reason.
    let out = memdx()
        .args(["check", "/nonexistent/program"])
        .output_within(DEADLINE);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "memdx check: cannot run '/nonexistent/program': No such file or directory\n"
    );
    let out = memdx()
        .args(["check", "/etc/hostname"])
        .output_within(DEADLINE);
    assert_eq!(out.status.code(), Some(126));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot run '/etc/hostname'"));
}

#[test]
fn an_unreadable_suppression_file_is_named_without_a_line() {
    let out = memdx()
        .args(["check", "--suppressions=/nonexistent/x.supp", "/bin/true"])
        .output_within(DEADLINE);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "memdx check: /nonexistent/x.supp: cannot read: No such file or directory\n"
    );
}

#[test]
fn known_unimplemented_option_warns_once_and_runs() {
    let scratch = Scratch::new("warn");
    let exe = build_corpus("exit_status.c", &scratch);
    let out = run_memdx(&exe, &["--track-origins=yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<_> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("--track-origins=yes is honoured in part"));
    assert!(
        warnings[0].contains("only where they reach write, pwrite, writev, send or sendto"),
        "{}",
        warnings[0]
    );
    assert_eq!(out.status.code(), Some(3), "the program still ran");
    assert!(err.contains("LEAK SUMMARY"));
    let out = run_memdx(&exe, &["--undef-value-errors=yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<_> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("other uses of uninitialised values"));
    // =no turns the check off: no warning.
    let out = run_memdx(&exe, &["--undef-value-errors=no", "--track-origins=no"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("warning"), "{err}");
}

/// Each text report ends with one line naming the error classes memdx did
/// not check, right after the (last) ERROR SUMMARY; not with -q, not on
/// stderr in XML mode. `check --help` and `memdx man check` have a
/// Limitations section.
#[test]
fn reports_end_with_what_was_not_checked_and_help_lists_limitations() {
    let scratch = Scratch::new("not-checked");
    let exe = build_corpus("definite_leak.c", &scratch);
    for opts in [&["--leak-check=full"][..], &["-s", "--leak-check=full"][..]] {
        let out = run_memdx(&exe, opts);
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().collect();
        let n = lines.len();
        assert!(n >= 2, "{err}");
        assert!(
            lines[n - 1].contains(
                "== Not checked by memdx: uses of uninitialised values other than heap bytes \
                 passed to write/send calls, "
            ),
            "{opts:?}: {err}"
        );
        assert!(
            lines[n - 2].contains("== ERROR SUMMARY: "),
            "{opts:?}: {err}"
        );
        assert_eq!(err.matches("Not checked by memdx").count(), 1, "{err}");
    }
    let quiet = run_memdx(&exe, &["-q", "--leak-check=full"]);
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("Not checked"));
    let xml = scratch.0.join("r.xml");
    let xml_opt = format!("--xml-file={}", xml.display());
    let out = run_memdx(&exe, &["--xml=yes", &xml_opt]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Not checked"));
    assert!(!std::fs::read_to_string(&xml)
        .unwrap()
        .contains("Not checked"));

    let help = memdx().args(["check", "--help"]).output_within(DEADLINE);
    let help = String::from_utf8_lossy(&help.stdout);
    let at = help.find("\nLimitations:\n").expect(&help);
    assert!(help[at..].contains("Uses of uninitialised values are checked only where"));
    let man = memdx().args(["man", "check"]).output_within(DEADLINE);
    let man = String::from_utf8_lossy(&man.stdout);
    let at = man.find(".SH LIMITATIONS").expect(&man);
    assert!(man[at..].contains("Uses of uninitialised values are checked only where"));
}

#[test]
fn error_exitcode_applies_to_errors_and_full_leaks_only() {
    let scratch = Scratch::new("exitcode");
    let leak = build_corpus("definite_leak.c", &scratch);
    let bad = build_corpus("double_free.c", &scratch);
    let clean = build_corpus("realloc_moves.c", &scratch);
    // A definite leak is an error only with --leak-check=full (Valgrind).
    assert_eq!(
        run_memdx(&leak, &["--error-exitcode=42", "--leak-check=full"])
            .status
            .code(),
        Some(42)
    );
    assert_eq!(
        run_memdx(&leak, &["--error-exitcode=42"]).status.code(),
        Some(0)
    );
    assert_eq!(
        run_memdx(&bad, &["--error-exitcode=42"]).status.code(),
        Some(42)
    );
    assert_eq!(
        run_memdx(&clean, &["--error-exitcode=42", "--leak-check=full"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn log_file_gets_the_report_with_pid_expanded() {
    let scratch = Scratch::new("logfile");
    let exe = build_corpus("definite_leak.c", &scratch);
    let template = scratch.0.join("report.%p.txt");
    let out = run_memdx(&exe, &[&format!("--log-file={}", template.display())]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("=="), "report went to stderr: {err}");
    let logs: Vec<_> = std::fs::read_dir(&scratch.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("report."))
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let text = std::fs::read_to_string(&logs[0]).unwrap();
    let report = parse_report(&text);
    assert!(logs[0]
        .to_string_lossy()
        .contains(&format!("report.{}.txt", report.pid)));
    assert_eq!(report.leak("definitely lost"), "100 bytes in 1 blocks");
}

#[test]
fn quiet_prints_errors_but_no_preamble_or_summaries() {
    let scratch = Scratch::new("quiet");
    let exe = build_corpus("double_free.c", &scratch);
    let out = run_memdx(&exe, &["-q"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Invalid free() / delete / delete[] / realloc()"));
    assert!(!err.contains("Command:"));
    assert!(!err.contains("HEAP SUMMARY"));
    assert!(!err.contains("ERROR SUMMARY"));
}

#[test]
fn leak_check_levels_follow_valgrind() {
    let scratch = Scratch::new("levels");
    let exe = build_corpus("reachable_chain.c", &scratch);
    let summary = String::from_utf8_lossy(&run_memdx(&exe, &[]).stderr).to_string();
    assert!(summary.contains("LEAK SUMMARY"));
    assert!(summary.contains("Rerun with --leak-check=full to see details of leaked memory"));
    assert!(!summary.contains("loss record"));
    let none = String::from_utf8_lossy(&run_memdx(&exe, &["--leak-check=no"]).stderr).to_string();
    assert!(none.contains("HEAP SUMMARY"));
    assert!(!none.contains("LEAK SUMMARY"));
    let full = String::from_utf8_lossy(&run_memdx(&exe, &["--leak-check=full"]).stderr).to_string();
    assert!(full.contains(
        "32 (16 direct, 16 indirect) bytes in 1 blocks are definitely lost in loss record"
    ));
    assert!(!full.contains("are still reachable in loss record"));
    assert!(full.contains("To see them, rerun with: --leak-check=full --show-leak-kinds=all"));
    let all = String::from_utf8_lossy(
        &run_memdx(&exe, &["--leak-check=full", "--show-leak-kinds=all"]).stderr,
    )
    .to_string();
    assert!(all.contains("160 bytes in 10 blocks are still reachable in loss record"));
    assert!(all.contains("bytes in 1 blocks are indirectly lost in loss record"));
}

#[test]
fn loss_record_stack_names_the_allocating_function_and_line() {
    let scratch = Scratch::new("stack");
    let exe = build_corpus("definite_leak.c", &scratch);
    let err = String::from_utf8_lossy(&run_memdx(&exe, &["--leak-check=full"]).stderr).to_string();
    let record: Vec<&str> = err
        .lines()
        .skip_while(|l| !l.contains("are definitely lost in loss record 1 of 1"))
        .take(4)
        .collect();
    assert!(record[1].contains(": malloc (in "), "{err}");
    assert!(record[1].contains("libmemdx_runtime.so)"), "{err}");
    // -O2 inlines leak() into main: the inlined frame and main, with lines.
    assert!(record[2].contains("leak (definite_leak.c:4)"), "{err}");
    assert!(record[3].contains("main (definite_leak.c:5)"), "{err}");
}

#[test]
fn fork_child_gets_its_own_report() {
    let scratch = Scratch::new("fork");
    let exe = build_corpus("fork_child.c", &scratch);
    let out = run_memdx(&exe, &[]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let pids: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("HEAP SUMMARY"))
        .map(|l| l.split("==").nth(1).unwrap())
        .collect();
    assert_eq!(pids.len(), 2, "{err}");
    // The parent waits for the child, so the child's report comes first
    // (reports are acknowledged, hence in order, as under Valgrind). The
    // child inherits the parent's leaked block and adds its own.
    let child = pids[0];
    assert!(!err.contains(&format!("=={child}== Command:")), "{err}");
    assert!(
        err.contains(&format!(
            "=={child}==    definitely lost: 18 bytes in 2 blocks"
        )),
        "{err}"
    );
    let parent = parse_report(
        &err.lines()
            .filter(|l| !l.contains(&format!("=={child}==")))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    assert_eq!(parent.leak("definitely lost"), "7 bytes in 1 blocks");
}

#[test]
fn trace_children_decides_whether_exec_is_checked() {
    let scratch = Scratch::new("trace");
    let src = scratch.0.join("spawn.c");
    std::fs::write(
        &src,
        "#include <unistd.h>\n#include <sys/wait.h>\nint main(void){ pid_t c = fork(); if (c == 0) { execl(\"/bin/echo\", \"echo\", \"hi\", (char*)0); _exit(127);} int st; waitpid(c, &st, 0); return 0; }\n",
    )
    .unwrap();
    let exe = build(&src, &scratch.0, &[]);
    let no = run_memdx(&exe, &[]);
    assert_eq!(String::from_utf8_lossy(&no.stdout), "hi\n");
    let no_err = String::from_utf8_lossy(&no.stderr).to_string();
    assert_eq!(no_err.matches("Command:").count(), 1, "{no_err}");
    let yes = run_memdx(&exe, &["--trace-children=yes"]);
    assert_eq!(String::from_utf8_lossy(&yes.stdout), "hi\n");
    let yes_err = String::from_utf8_lossy(&yes.stderr).to_string();
    assert_eq!(yes_err.matches("Command:").count(), 2, "{yes_err}");
    assert!(yes_err.contains("Command: echo hi"), "{yes_err}");
}

/// Without --trace-children=yes an exec'd program runs unchecked, as under
/// Valgrind, and the report says so in place of a summary. bash defines
/// its own getenv/unsetenv: the programs it execs must still not get
/// memdx's variables (they used to, and were checked by accident).
#[test]
fn an_unchecked_exec_ends_the_report_saying_so_and_passes_on_no_memdx_variables() {
    let environ = |out: &std::process::Output| {
        let mut vars: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split('\0')
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect();
        vars.sort();
        vars
    };
    let script = "exec cat /proc/self/environ";
    let native = std::process::Command::new("bash")
        .args(["-c", script])
        .output_within(DEADLINE);
    let checked = memdx()
        .args(["check", "--", "bash", "-c", script])
        .output_within(DEADLINE);
    assert!(checked.status.success());
    assert_eq!(environ(&checked), environ(&native));
    let err = String::from_utf8_lossy(&checked.stderr);
    assert!(err.contains("memdx: the process exec'd /"), "{err}");
    assert!(
        err.contains(
            "cat, which ran unchecked: exec'd programs are checked with --trace-children=yes"
        ),
        "{err}"
    );
    assert!(!err.contains("HEAP SUMMARY"), "{err}");
    assert!(!err.contains("without a final report"), "{err}");
    // env execs through execvp, and with -q nothing is said (no error).
    let quiet = memdx()
        .args(["check", "-q", "--", "env", "true"])
        .output_within(DEADLINE);
    assert!(quiet.status.success());
    assert_eq!(String::from_utf8_lossy(&quiet.stderr), "");
    let said = memdx()
        .args(["check", "--", "env", "true"])
        .output_within(DEADLINE);
    let err = String::from_utf8_lossy(&said.stderr);
    assert!(
        err.contains("memdx: the process exec'd true, which ran unchecked"),
        "{err}"
    );
}

#[test]
fn fatal_signal_is_reported_then_the_program_dies_by_it() {
    use std::os::unix::process::ExitStatusExt;
    let scratch = Scratch::new("segv");
    let exe = build_corpus("segv_after_leak.c", &scratch);
    let out = run_memdx(&exe, &[]);
    assert_eq!(out.status.signal(), Some(11));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let lines: Vec<&str> = err
        .lines()
        .map(|l| l.split_once("== ").map_or(l, |(_, t)| t))
        .collect();
    let at = lines
        .iter()
        .position(|l| *l == "Process terminating with default action of signal 11 (SIGSEGV)")
        .expect(&err);
    assert_eq!(
        lines[at + 1],
        " Access not within mapped region at address 0x10"
    );
    assert!(
        lines[at + 2].contains(": main (segv_after_leak.c:"),
        "{err}"
    );
    assert!(err.contains("definitely lost: 32 bytes in 1 blocks"));
}

/// Started with SIGHUP ignored (under `nohup`), the program sets its
/// default action and raises it: it dies by SIGHUP natively, and Valgrind
/// reports that death; memdx did not (it left alone a signal ignored at
/// start, even after the program restored the default).
#[test]
fn a_signal_ignored_at_start_then_restored_to_default_still_gets_the_report() {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let scratch = Scratch::new("nohup");
    let exe = build_corpus("signal_from_outside.c", &scratch);
    let mut cmd = memdx();
    cmd.arg("check").arg(&exe);
    // SAFETY: signal() is async-signal-safe, called between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let out = cmd.output_within(DEADLINE);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGHUP), "{err}");
    assert!(
        err.contains("Process terminating with default action of signal 1 (SIGHUP)"),
        "{err}"
    );
    assert!(
        err.contains("definitely lost: 40 bytes in 1 blocks"),
        "{err}"
    );
}

#[test]
fn num_callers_limits_the_frames_shown() {
    let scratch = Scratch::new("callers");
    let exe = build_corpus("indirect_tree.c", &scratch);
    let frames_after_headline = |opts: &[&str]| {
        let err = String::from_utf8_lossy(&run_memdx(&exe, opts).stderr).to_string();
        err.lines()
            .skip_while(|l| !l.contains("are definitely lost in loss record"))
            .skip(1)
            .take_while(|l| l.contains(" at 0x") || l.contains(" by 0x"))
            .count()
    };
    assert_eq!(
        frames_after_headline(&["--leak-check=full", "--num-callers=1"]),
        1
    );
    assert_eq!(
        frames_after_headline(&["--leak-check=full", "--num-callers=2"]),
        2
    );
    assert!(frames_after_headline(&["--leak-check=full"]) > 2);
}

#[test]
fn show_and_error_leak_kinds_select_records_and_errors() {
    let scratch = Scratch::new("kinds");
    let exe = build_corpus("possibly_lost.c", &scratch);
    let run = |opts: &[&str]| String::from_utf8_lossy(&run_memdx(&exe, opts).stderr).to_string();
    let default = run(&["--leak-check=full"]);
    assert!(default.contains("are possibly lost in loss record"));
    assert!(default.contains("ERROR SUMMARY: 1 errors from 1 contexts"));
    // Valgrind counts a hidden record of an error kind as an error.
    let definite_only = run(&["--leak-check=full", "--show-leak-kinds=definite"]);
    assert!(!definite_only.contains("are possibly lost in loss record"));
    assert!(definite_only.contains("ERROR SUMMARY: 1 errors from 1 contexts"));
    let not_errors = run(&["--leak-check=full", "--errors-for-leak-kinds=definite"]);
    assert!(not_errors.contains("are possibly lost in loss record"));
    assert!(not_errors.contains("ERROR SUMMARY: 0 errors from 0 contexts"));
}

#[test]
fn a_process_killed_without_a_report_is_said_so_and_the_signal_passes_through() {
    use std::os::unix::process::ExitStatusExt;
    let scratch = Scratch::new("sigkill");
    let src = scratch.0.join("killed.c");
    std::fs::write(
        &src,
        "#include <signal.h>\n#include <stdlib.h>\n#include <unistd.h>\nint main(void){ void *p = malloc(5); __asm__ volatile(\"\" : : \"g\"(p) : \"memory\"); kill(getpid(), SIGKILL); return 0; }\n",
    )
    .unwrap();
    let exe = build(&src, &scratch.0, &[]);
    let out = run_memdx(&exe, &[]);
    assert_eq!(out.status.signal(), Some(9));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("memdx: the process ended without a final report"),
        "{err}"
    );
}

#[test]
fn memory_for_coverage_options_are_checked() {
    for (args, want) in [
        (
            vec!["--redzone-size=5000"],
            "Invalid --redzone-size value 5000: the maximum is 4096",
        ),
        (
            vec!["--guard-pages=some"],
            "Invalid number 'some' for option --guard-pages",
        ),
        (
            vec!["--poison-size=x"],
            "Invalid number 'x' for option --poison-size",
        ),
    ] {
        let out = memdx()
            .arg("check")
            .args(&args)
            .arg("/bin/true")
            .output_within(DEADLINE);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    // Accepted values run the program.
    let out = memdx()
        .args([
            "check",
            "-q",
            "--redzone-size=64",
            "--guard-pages=all",
            "--poison-size=0",
            "/bin/true",
        ])
        .output_within(DEADLINE);
    assert_eq!(out.status.code(), Some(0));
}

/// A fork child still running when the program exits is not waited for
/// (Valgrind returns then too); with `--log-file=...%p` its report still
/// reaches its own file, written after memdx returned (check_children.rs
/// has the cases with a handshake).
#[test]
fn fork_child_outliving_the_parent_still_reports() {
    let scratch = Scratch::new("parent-first");
    let exe = build_corpus("fork_parent_exits_first.c", &scratch);
    let logs = scratch.0.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let out = memdx()
        .args(["check", "--leak-check=full"])
        .arg(format!("--log-file={}/log.%p", logs.display()))
        .arg(&exe)
        .output_within(DEADLINE);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{err}");
    // The child holds the parent's 5 bytes too.
    let start = std::time::Instant::now();
    let texts = loop {
        let mut texts: Vec<String> = std::fs::read_dir(&logs)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        texts.sort();
        if texts.len() == 2 && texts.iter().all(|t| t.contains("ERROR SUMMARY")) {
            break texts;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "the child's report is missing: {texts:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        texts
            .iter()
            .any(|t| t.contains("77 bytes in 1 blocks are definitely lost")
                && t.contains("definitely lost: 82 bytes in 2 blocks")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("definitely lost: 5 bytes in 1 blocks")),
        "{texts:?}"
    );
}

/// daemon(3): memdx returns when the program's own process exits, with its
/// report and status, while the daemon (its fork child) still runs, as
/// Valgrind does, with --trace-children=yes too; it says that the daemon's
/// report is not collected (stderr is not held open for it). A watchdog
/// fails the test instead of hanging.
#[test]
fn daemon_child_is_not_waited_for() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let scratch = Scratch::new("daemon");
    let exe = build_corpus("daemon_child.c", &scratch);
    for (i, opts) in [
        &["--leak-check=full"][..],
        &["--leak-check=full", "--trace-children=yes"][..],
    ]
    .into_iter()
    .enumerate()
    {
        let dir = scratch.0.join(format!("handshake{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let release = dir.join("release");
        // The watchdog releases the daemon (and so lets memdx return even
        // if it waits for it) after 120 s; the test then fails below.
        let done = Arc::new(AtomicBool::new(false));
        let timed_out = Arc::new(AtomicBool::new(false));
        let watchdog = {
            let (done, timed_out, release) = (done.clone(), timed_out.clone(), release.clone());
            std::thread::spawn(move || {
                for _ in 0..1200 {
                    if done.load(Ordering::Acquire) {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                timed_out.store(true, Ordering::Release);
                let _ = std::fs::write(&release, "");
            })
        };
        let out = memdx()
            .arg("check")
            .args(opts)
            .arg(&exe)
            .arg(&dir)
            .output_within(DEADLINE);
        let daemon_pid = std::fs::read_to_string(dir.join("pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        let daemon_alive = daemon_pid
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
            .is_some_and(|stat| !stat.contains(") Z"));
        std::fs::write(&release, "").unwrap();
        done.store(true, Ordering::Release);
        watchdog.join().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            !timed_out.load(Ordering::Acquire),
            "memdx waited for the daemon ({opts:?}): {err}"
        );
        assert!(
            daemon_alive,
            "the daemon was not running when memdx returned ({opts:?}): {err}"
        );
        assert_eq!(out.status.code(), Some(0), "{err}");
        let report = parse_report(&err);
        assert_eq!(
            report.leak("definitely lost"),
            "40 bytes in 1 blocks",
            "{err}"
        );
        assert_eq!(err.matches("HEAP SUMMARY").count(), 1, "{err}");
        let note = format!(
            "== memdx: process {} is still running; its report is not collected",
            daemon_pid.unwrap_or(0)
        );
        assert!(err.contains(&note), "{opts:?}: {err}");
    }
}

/// `-q` output with the stack frames dropped and hexadecimal numbers
/// blanked (addresses differ between the tools), without the `==PID==`
/// prefix.
fn quiet_shape(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|l| l.split_once("== ").map_or(l, |(_, t)| t).to_string())
        .filter(|l| !l.starts_with("   at 0x") && !l.starts_with("   by 0x"))
        .map(|l| {
            let mut out = String::new();
            let mut rest = l.as_str();
            while let Some(i) = rest.find("0x") {
                out.push_str(&rest[..i + 2]);
                rest = rest[i + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
                out.push('_');
            }
            out.push_str(rest);
            out
        })
        .collect()
}

/// With `-q` a death by signal prints what Valgrind 3.19 `-q` prints:
/// "Process terminating with default action of signal N" (and the
/// si_code's words) only for a fault or trap the kernel raised, nothing
/// for abort(), kill, raise or SIGPIPE; the program still dies by the
/// signal.
#[test]
fn quiet_prints_fatal_signals_as_valgrind_quiet_does() {
    use std::os::unix::process::ExitStatusExt;
    let scratch = Scratch::new("quiet-signals");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/programs/fatal_signals.c");
    let exe = build(&src, &scratch.0, &[]);
    let with_valgrind = valgrind_available();
    if !with_valgrind {
        println!("valgrind not installed: only memdx's own expectations checked");
    }
    // (argument, signal, whether Valgrind -q prints the death)
    let cases = [
        ("abort", libc::SIGABRT, false),
        ("kill-term", libc::SIGTERM, false),
        ("raise-int", libc::SIGINT, false),
        ("raise-quit", libc::SIGQUIT, false),
        ("raise-segv", libc::SIGSEGV, false),
        ("sigpipe", libc::SIGPIPE, false),
        // EPIPE then `_exit(3)` at once: the signal must not be deferred
        // as if raised inside the runtime (the write/send hooks leave no
        // frame around glibc's call).
        ("sigpipe-write-exit", libc::SIGPIPE, false),
        ("sigpipe-writev-exit", libc::SIGPIPE, false),
        ("sigpipe-send-exit", libc::SIGPIPE, false),
        ("sigpipe-sendto-exit", libc::SIGPIPE, false),
        ("null-read", libc::SIGSEGV, true),
        ("read-only-write", libc::SIGSEGV, true),
        ("trap", libc::SIGTRAP, true),
        ("ill", libc::SIGILL, true),
        ("divide", libc::SIGFPE, true),
    ];
    let mut failures = Vec::new();
    for (arg, signo, shown) in cases {
        let ours = std::process::Command::new("timeout")
            .arg("120")
            .arg(env!("CARGO_BIN_EXE_memdx"))
            .args(["check", "-q"])
            .arg(&exe)
            .arg(arg)
            .output_within(DEADLINE);
        // `timeout` reports a child's death by signal as 128 + N.
        if ours.status.code() != Some(128 + signo) && ours.status.signal() != Some(signo) {
            failures.push(format!(
                "{arg}: status {:?}, want signal {signo}",
                ours.status
            ));
        }
        let shape = quiet_shape(&ours.stderr);
        let said = shape
            .iter()
            .any(|l| l.starts_with("Process terminating with default action of signal"));
        if said != shown {
            failures.push(format!("{arg}: printed {shape:#?}"));
        }
        if with_valgrind {
            let theirs = std::process::Command::new("timeout")
                .args(["120", "valgrind", "-q"])
                .arg(&exe)
                .arg(arg)
                .output_within(DEADLINE);
            let want = quiet_shape(&theirs.stderr);
            if shape != want {
                failures.push(format!("{arg}: memdx {shape:#?}\nvalgrind {want:#?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The lines of a run's stderr that warn that memdx cannot see the heap.
fn blind_warnings(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.contains("memdx cannot see"))
        .map(str::to_string)
        .collect()
}

/// Runs `exe` natively and under `memdx check OPTS` (with a deadline) and
/// requires the same stdout and exit status.
fn run_both(exe: &std::path::Path, opts: &[&str]) -> std::process::Output {
    let native = std::process::Command::new("timeout")
        .arg("60")
        .arg(exe)
        .output_within(DEADLINE);
    let ours = std::process::Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_memdx"))
        .arg("check")
        .args(opts)
        .arg(exe)
        .output_within(DEADLINE);
    assert_eq!(ours.stdout, native.stdout, "stdout differs from native");
    assert_eq!(ours.status.code(), native.status.code());
    ours
}

/// A statically linked program (LD_PRELOAD has no effect) gets one
/// warning line saying memdx cannot see its heap, in `==PID==` style, and
/// runs as natively. Needs the static C library (libc6-dev's libc.a);
/// without it this part is skipped and the own-malloc test still runs.
#[test]
fn static_program_gets_a_warning_that_its_heap_is_unseen() {
    let libc_a = std::process::Command::new("gcc")
        .arg("-print-file-name=libc.a")
        .output_within(DEADLINE);
    let libc_a = String::from_utf8_lossy(&libc_a.stdout).trim().to_string();
    if !std::path::Path::new(&libc_a).is_absolute() {
        println!("no static C library (libc.a): static case not run");
        return;
    }
    let scratch = Scratch::new("static");
    let src = scratch.0.join("static_leak.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <stdlib.h>\nint main(void){ char *p = malloc(10); \
         __asm__ volatile(\"\" : : \"g\"(p) : \"memory\"); p = 0; puts(\"static\"); return 7; }\n",
    )
    .unwrap();
    let exe = build(&src, &scratch.0, &["-static".to_string()]);
    for opts in [&[][..], &["-q"][..]] {
        let out = run_both(&exe, opts);
        let warnings = blind_warnings(&out.stderr);
        assert_eq!(
            warnings.len(),
            1,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let w = &warnings[0];
        assert!(w.starts_with("==") && w.contains("== Warning: "), "{w}");
        assert!(w.contains("static_leak is statically linked"), "{w}");
    }
}

/// An executable that defines and exports its own malloc, free, calloc
/// and realloc (they come before the preloaded runtime) gets one warning
/// line naming them and runs as natively; a program using the C library's
/// allocator gets none.
#[test]
fn program_with_its_own_malloc_gets_a_warning_naming_it() {
    let scratch = Scratch::new("own-malloc");
    let src = scratch.0.join("own_malloc.c");
    std::fs::write(
        &src,
        r#"#include <stddef.h>
#include <stdio.h>
#include <string.h>
static char arena[1 << 20];
static size_t used;
void *malloc(size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (used + n > sizeof arena) return NULL;
  void *p = arena + used;
  used += n;
  return p;
}
void free(void *p) { (void)p; }
void *calloc(size_t n, size_t s) { void *p = malloc(n * s); if (p) memset(p, 0, n * s); return p; }
void *realloc(void *p, size_t n) { void *q = malloc(n); if (q && p) memcpy(q, p, n); return q; }
int main(void) {
  char *p = malloc(10);
  __asm__ volatile("" : : "g"(p) : "memory");
  p = 0;
  puts("own allocator");
  return 3;
}
"#,
    )
    .unwrap();
    let exe = build(&src, &scratch.0, &[]);
    for opts in [&[][..], &["-q"][..]] {
        let out = run_both(&exe, opts);
        let warnings = blind_warnings(&out.stderr);
        assert_eq!(
            warnings.len(),
            1,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            warnings[0].contains("own_malloc defines its own malloc, free, calloc, realloc"),
            "{}",
            warnings[0]
        );
    }
    let plain = build_corpus("exit_status.c", &scratch);
    let out = run_both(&plain, &[]);
    assert_eq!(blind_warnings(&out.stderr), Vec::<String>::new());
}
