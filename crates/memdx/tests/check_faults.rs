//! Programs killed by an invalid access (or that catch it themselves): the
//! whole report, from the first error to the ERROR SUMMARY, is Valgrind
//! 3.19's byte for byte once pids, addresses and the path of the object
//! holding the allocator are set aside; and the process ends as natively.

#![allow(clippy::unwrap_used)]

mod check_util;

use memdx_testkit::{Deadline, DEADLINE};
use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use check_util::*;

/// The report without its preamble, with `==PID==`, hex addresses and
/// `(in /path/of/object)` made neutral.
fn normalized(stderr: &str) -> Vec<String> {
    let hex = regex::Regex::new(r"0x[0-9A-Fa-f]+").unwrap();
    let obj = regex::Regex::new(r"\(in [^)]*\)").unwrap();
    let mut lines = Vec::new();
    let mut in_preamble = true;
    for line in without_not_checked(stderr).lines() {
        let Some(rest) = line.strip_prefix("==") else {
            continue; // the program's own output
        };
        let Some((_, text)) = rest.split_once("== ") else {
            continue;
        };
        if in_preamble {
            // The preamble ends with the blank line after "Command:".
            if text.is_empty() && !lines.is_empty() {
                in_preamble = false;
                lines.clear();
            } else if text.starts_with("Command:") {
                lines.push(String::new());
            }
            continue;
        }
        let text = hex.replace_all(text, "0xA");
        lines.push(obj.replace_all(&text, "(in OBJ)").into_owned());
    }
    lines
}

#[test]
fn fault_reports_are_valgrinds() {
    if !valgrind_available() {
        memdx_testkit::tool_missing("valgrind is not installed (.ci/run installs it)");
        return;
    }
    let scratch = Scratch::new("faults");
    let mut failures = Vec::new();
    for name in [
        "null_read.c",
        "null_write.c",
        "wild_pointer.c",
        "segv_after_leak.c",
        "own_segv_handler.c",
        "sigbus_past_eof.c",
        "memcpy_overflow.c",
        "strcpy_overflow.c",
        "strcpy_overlap.c",
        "signal_handlers_chained.c",
        "fortify_overflows.c",
        "fortify_memcpy_overlap.c",
        "fortify_memmove_first.c",
        "mempcpy_stpncpy.c",
        "read_overruns.c",
        "sigterm_self_after_leak.c",
        "sigterm_handled_exit.c",
        "signal_from_outside.c",
    ] {
        let exe = build_corpus(name, &scratch);
        let ours = run_memdx(&exe, &["--leak-check=full", "--default-suppressions=no"]);
        let theirs = run_valgrind(&exe);
        let native = Command::new(&exe).output_within(DEADLINE);
        // Valgrind names its replacement of glibc 2.36's memcpy "memmove"
        // (memcpy and memmove are one function in this glibc, and Valgrind
        // prefers its memmove replacement then); memdx's is memcpy.
        let theirs_text = String::from_utf8_lossy(&theirs.stderr).replace(
            ": memmove (in /usr/libexec/valgrind/",
            ": memcpy (in /usr/libexec/valgrind/",
        );
        let (a, b) = (
            normalized(&String::from_utf8_lossy(&ours.stderr)),
            normalized(&theirs_text),
        );
        assert!(b.len() > 5, "{name}: no valgrind report");
        if a != b {
            let diff: Vec<String> = a
                .iter()
                .zip(b.iter())
                .filter(|(x, y)| x != y)
                .map(|(x, y)| format!("memdx:    {x}\nvalgrind: {y}"))
                .collect();
            failures.push(format!(
                "{name}: reports differ ({} vs {} lines)\n{}",
                a.len(),
                b.len(),
                diff.join("\n")
            ));
        }
        if ours.status.signal() != native.status.signal()
            || ours.status.code() != native.status.code()
        {
            failures.push(format!(
                "{name}: status {:?} under memdx, {:?} natively",
                ours.status, native.status
            ));
        }
        if ours.stdout != native.stdout {
            failures.push(format!("{name}: stdout differs from the native run"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Kills process `pid` after 120 s unless the returned flag is set first
/// (a hang then fails the test on its status instead of hanging it).
fn watchdog(pid: i32) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let handle = std::thread::spawn(move || {
        for _ in 0..1200 {
            if flag.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // SAFETY: killing the process group of the child we started (not
        // reaped yet, so the group id is still ours): the program and the
        // checker's worker with it.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    });
    (done, handle)
}

/// Runs `cmd` with stdout piped, waits for the program's "ready" line,
/// sends `sig` to the process `cmd` started (memdx, or valgrind: the tool's
/// own process, as `kill` or `timeout` would) and returns its output. A
/// watchdog kills it after 120 s (the test then fails on its status).
fn signal_when_ready(mut cmd: Command, sig: i32) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (done, watchdog) = watchdog(pid);
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    // SAFETY: signalling the child we started.
    unsafe { libc::kill(pid, sig) };
    let out = child.wait_with_output().unwrap();
    done.store(true, Ordering::Release);
    watchdog.join().unwrap();
    out
}

/// SIGTERM sent to memdx's own process (`kill PID`, `timeout`, `docker
/// stop`) reaches the program, which is reported as Valgrind reports a
/// program killed by it ("Process terminating with default action of
/// signal 15 (SIGTERM)", the stack where it arrived, the summaries), and
/// memdx dies by SIGTERM as the program did.
#[test]
fn sigterm_sent_to_memdx_reaches_the_program() {
    let scratch = Scratch::new("sigterm-outside");
    let exe = build_corpus("signal_from_outside.c", &scratch);
    let mut ours = memdx();
    ours.args(["check", "--leak-check=full", "--default-suppressions=no"])
        .arg(&exe)
        .arg("wait");
    let ours = signal_when_ready(ours, libc::SIGTERM);
    let text = String::from_utf8_lossy(&ours.stderr);
    assert_eq!(ours.status.signal(), Some(libc::SIGTERM), "{text}");
    assert!(
        text.contains("Process terminating with default action of signal 15 (SIGTERM)"),
        "{text}"
    );
    assert!(
        text.contains("definitely lost: 40 bytes in 1 blocks"),
        "{text}"
    );
    if !valgrind_available() {
        memdx_testkit::tool_missing("the comparison: valgrind is not installed");
        return;
    }
    let mut theirs = Command::new("valgrind");
    theirs.arg("--leak-check=full").arg(&exe).arg("wait");
    let theirs = signal_when_ready(theirs, libc::SIGTERM);
    assert_eq!(theirs.status.signal(), Some(libc::SIGTERM));
    assert_eq!(
        normalized(&text),
        normalized(&String::from_utf8_lossy(&theirs.stderr))
    );
}

/// A signal landing inside the runtime's allocator hooks (a profiling
/// timer while the program allocates in a loop) does not deadlock the
/// report: it is deferred until the hook returns, the report is complete
/// and the program dies by the signal. Several runs, as where the signal
/// lands varies.
#[test]
fn signal_inside_the_allocator_still_reports() {
    let scratch = Scratch::new("sigprof-malloc");
    let exe = build_corpus("sigprof_during_malloc.c", &scratch);
    for run in 0..4 {
        let mut cmd = memdx();
        cmd.args(["check", "--leak-check=full"]).arg(&exe);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let (done, watchdog) = watchdog(child.id() as i32);
        let out = child.wait_with_output().unwrap();
        done.store(true, Ordering::Release);
        watchdog.join().unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGPROF),
            "run {run}: {text}"
        );
        assert!(
            text.contains("Process terminating with default action of signal 27 (SIGPROF)"),
            "run {run}: {text}"
        );
        assert!(
            text.contains("definitely lost: 40 bytes in 1 blocks"),
            "run {run}: {text}"
        );
        assert!(text.contains("ERROR SUMMARY: "), "run {run}: {text}");
    }
}

/// A program that handles SIGTERM itself gets it when SIGTERM is sent to
/// memdx, runs its handler and exits normally: a normal exit report (no
/// "Process terminating"), and memdx exits with the program's status.
#[test]
fn sigterm_sent_to_memdx_reaches_the_programs_own_handler() {
    let scratch = Scratch::new("sigterm-handler");
    let src = scratch.0.join("handles_term.c");
    std::fs::write(
        &src,
        "#include <signal.h>\n#include <stdio.h>\n#include <unistd.h>\n\
         static volatile sig_atomic_t got;\n\
         static void on(int s) { got = s; }\n\
         int main(void) { signal(SIGTERM, on); puts(\"ready\"); fflush(stdout);\n\
         while (!got) pause(); printf(\"got %d\\n\", got); return 3; }\n",
    )
    .unwrap();
    let exe = build(&src, &scratch.0, &[]);
    let mut cmd = memdx();
    cmd.args(["check", "--leak-check=full"]).arg(&exe);
    let out = signal_when_ready(cmd, libc::SIGTERM);
    let text = String::from_utf8_lossy(&out.stderr);
    // 3: returned from main after the handler ran.
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(!text.contains("Process terminating"), "{text}");
    assert!(text.contains("ERROR SUMMARY: 0 errors"), "{text}");
}

/// A stack overflow of the main thread is named as Valgrind names it:
/// "Stack overflow in thread #1: can't grow stack to ADDR" before the blank
/// line of "Process terminating" and again after "Access not within mapped
/// region", then the "If you believe ..." advice, the leak check, and death
/// by SIGSEGV. Compared with Valgrind line for line, stack frames aside:
/// which instruction meets the end of the stack depends on where the stack
/// starts (it differs between the two runs), and with it whether the stack
/// pointer is still readable, which decides between Valgrind's one-frame
/// and full stacks (memdx follows the same rule).
#[test]
fn main_thread_stack_overflow_is_named_as_valgrind_names_it() {
    let scratch = Scratch::new("stack-overflow");
    let exe = build_corpus("stack_overflow_main.c", &scratch);
    let ours = run_memdx(&exe, &["--leak-check=full", "--default-suppressions=no"]);
    let native = Command::new(&exe).output_within(DEADLINE);
    let text = String::from_utf8_lossy(&ours.stderr);
    assert_eq!(ours.status.signal(), Some(libc::SIGSEGV), "{text}");
    assert_eq!(native.status.signal(), Some(libc::SIGSEGV));
    assert_eq!(ours.stdout, native.stdout);
    let overflow_lines = text
        .lines()
        .filter(|l| l.contains("Stack overflow in thread #1: can't grow stack to 0x"))
        .count();
    assert_eq!(overflow_lines, 2, "{text}");
    assert!(
        text.contains("definitely lost: 10 bytes in 1 blocks"),
        "{text}"
    );
    if !valgrind_available() {
        memdx_testkit::tool_missing("the comparison: valgrind is not installed");
        return;
    }
    let theirs = run_valgrind(&exe);
    let without_frames = |report: &str| -> Vec<String> {
        normalized(report)
            .into_iter()
            .filter(|l| !l.starts_with("   at 0xA: ") && !l.starts_with("   by 0xA: "))
            .collect()
    };
    let (a, b) = (
        without_frames(&text),
        without_frames(&String::from_utf8_lossy(&theirs.stderr)),
    );
    assert_eq!(a, b);
}

/// A garbage pointer whose address is not canonical faults with no address
/// (the kernel's general protection fault): the address comes from the
/// registers and the instruction, and the report is Valgrind's, "General
/// Protection Fault" included, frames aside (Valgrind's frame 0 there is
/// where its translation last recorded the pc, not the faulting callee).
#[test]
fn a_non_canonical_access_is_a_general_protection_fault_as_under_valgrind() {
    let scratch = Scratch::new("gpf");
    let exe = build_corpus("wild_noncanonical_read.c", &scratch);
    let ours = run_memdx(&exe, &["--leak-check=full", "--default-suppressions=no"]);
    let native = Command::new(&exe).output_within(DEADLINE);
    let text = String::from_utf8_lossy(&ours.stderr).into_owned();
    assert_eq!(ours.status.signal(), Some(libc::SIGSEGV), "{text}");
    assert_eq!(native.status.signal(), Some(libc::SIGSEGV));
    let address = "Address 0xabababababababbb is not stack'd, malloc'd or (recently) free'd";
    assert!(text.contains(address), "{text}");
    assert!(text.contains("==  General Protection Fault\n"), "{text}");
    if !valgrind_available() {
        memdx_testkit::tool_missing("the comparison: valgrind is not installed");
        return;
    }
    let theirs = String::from_utf8_lossy(&run_valgrind(&exe).stderr).into_owned();
    assert!(theirs.contains(address), "{theirs}");
    let without_frames = |report: &str| -> Vec<String> {
        normalized(report)
            .into_iter()
            .filter(|l| !l.starts_with("   at 0xA: ") && !l.starts_with("   by 0xA: "))
            .collect()
    };
    assert_eq!(without_frames(&text), without_frames(&theirs));
}

/// With `--xml=yes` the report goes to the XML file, but Valgrind still
/// prints its user messages on stderr: the stack-overflow advice after an
/// access to an unmapped address, and the "Stack overflow in thread #1"
/// lines. memdx prints the same lines there, and nothing else.
#[test]
fn xml_mode_prints_valgrinds_user_messages_on_stderr() {
    let scratch = Scratch::new("xml-umsg");
    let hex = regex::Regex::new(r"0x[0-9A-Fa-f]+").unwrap();
    let lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("==")?.split_once("== "))
            .map(|(_, t)| hex.replace_all(t, "0xA").into_owned())
            .collect()
    };
    for name in ["null_read.c", "stack_overflow_main.c"] {
        let exe = build_corpus(name, &scratch);
        let xml = scratch.0.join(format!("{name}.xml"));
        let xml_file = format!("--xml-file={}", xml.display());
        let ours = run_memdx(&exe, &["--xml=yes", &xml_file]);
        let ours_text = String::from_utf8_lossy(&ours.stderr).into_owned();
        assert!(
            ours_text.contains("If you believe this happened as a result of a stack"),
            "{name}: {ours_text}"
        );
        assert!(std::fs::read_to_string(&xml)
            .unwrap()
            .contains("<fatal_signal>"));
        if !valgrind_available() {
            memdx_testkit::tool_missing("the comparison: valgrind is not installed");
            continue;
        }
        let vxml = scratch.0.join(format!("{name}.vg.xml"));
        let theirs = Command::new("valgrind")
            .arg("--xml=yes")
            .arg(format!("--xml-file={}", vxml.display()))
            .arg(&exe)
            .output_within(DEADLINE);
        assert_eq!(
            lines(&ours_text),
            lines(&String::from_utf8_lossy(&theirs.stderr)),
            "{name}"
        );
    }
}

/// A block the quarantine does not hold (`--freelist-vol=0`, or one bigger
/// than half of it) has its redzone checked when it is freed, and only then:
/// one overrun is one error (it was counted again when the block was
/// given back right after).
#[test]
fn an_overrun_of_a_block_given_back_at_once_is_one_error() {
    let scratch = Scratch::new("overrun-once");
    let exe = build_corpus("redzone_overflow_write.c", &scratch);
    let ours = run_memdx(&exe, &["--freelist-vol=0", "--guard-pages=0"]);
    let text = String::from_utf8_lossy(&ours.stderr);
    assert_eq!(
        text.matches("Invalid write after the end of a block")
            .count(),
        1,
        "{text}"
    );
    assert!(
        text.contains("ERROR SUMMARY: 1 errors from 1 contexts"),
        "{text}"
    );
}
