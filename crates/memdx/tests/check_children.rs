//! Processes that outlive the program under `memdx check`: memdx returns
//! (with the program's status) as soon as the program's own process has
//! exited and its report is complete, as Valgrind 3.19 does, whatever the
//! program left running (fork children, daemons, with
//! `--trace-children=yes` what they exec). Their reports go to files of
//! their own when `--log-file` has `%p` (a collector left behind writes
//! them as they arrive); otherwise memdx says which processes it left and
//! drops their reports. Either way those processes run on exactly as
//! natively.
//!
//! Each run has a deadline: memdx must return within 15 s while the
//! processes it left wait for the test's release (60 s at most), so a
//! memdx that waits for them fails the test instead of hanging it.

#![allow(clippy::unwrap_used)]

mod check_util;

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use check_util::*;

/// How long memdx may take to return while the processes it left run on.
const RETURN_DEADLINE: Duration = Duration::from_secs(15);
/// How long a released process may take to write its report.
const REPORT_DEADLINE: Duration = Duration::from_secs(60);

fn build_program(scratch: &Scratch) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/outlive_children.c");
    build(&src, &scratch.0, &[])
}

/// Waits for `child` until the deadline; kills it and fails past it.
fn wait_with_deadline(child: &mut Child, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > RETURN_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("memdx did not return within {RETURN_DEADLINE:?}: it waited for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls for `path` to exist and hold `needle`, until the deadline.
fn wait_for_text(path: &Path, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            start.elapsed() < REPORT_DEADLINE,
            "{} never got {needle:?}; it holds:\n{text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_pid(dir: &Path, name: &str) -> u32 {
    std::fs::read_to_string(dir.join(name))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.contains(") Z") && !stat.contains(") X"))
}

/// Releases the processes of one run however the test ends (their own
/// limit is 60 s).
struct Release(PathBuf);
impl Drop for Release {
    fn drop(&mut self) {
        let _ = std::fs::write(self.0.join("release"), "");
    }
}

/// One run of `outlive_children MODE DIR` under memdx with `opts`:
/// memdx's exit status, stderr, and the pids it left running.
struct Run {
    status: ExitStatus,
    stderr: String,
    dir: PathBuf,
    child: u32,
    grandchild: u32,
    _release: Release,
}

fn run_outliving(scratch: &Scratch, mode: &str, opts: &[&str]) -> Run {
    let exe = build_program(scratch);
    let dir = scratch.0.join(format!("{mode}-handshake"));
    std::fs::create_dir_all(&dir).unwrap();
    let release = Release(dir.clone());
    // A daemon lets go of the stderr it was given: memdx's stderr is then
    // a pipe that must reach its end when memdx returns (a collector left
    // behind must not hold it). Fork children hold it themselves (as
    // natively): a file then.
    let err_path = scratch.0.join(format!("{mode}-stderr"));
    let daemon = mode == "daemon";
    let mut memdx = memdx()
        .arg("check")
        .args(opts)
        .arg(&exe)
        .arg(mode)
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(if daemon {
            Stdio::piped()
        } else {
            Stdio::from(std::fs::File::create(&err_path).unwrap())
        })
        .spawn()
        .unwrap();
    let piped = memdx.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            use std::io::Read;
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    });
    let status = wait_with_deadline(&mut memdx, "the program's children");
    let stderr = match piped {
        Some(reader) => {
            let start = Instant::now();
            while !reader.is_finished() {
                assert!(
                    start.elapsed() < RETURN_DEADLINE,
                    "memdx's stderr stayed open after it returned"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            reader.join().unwrap()
        }
        None => std::fs::read_to_string(&err_path).unwrap(),
    };
    let child = read_pid(&dir, "pid.child");
    let grandchild = read_pid(&dir, "pid.grandchild");
    assert!(
        running(child) && running(grandchild),
        "the children were gone before memdx returned"
    );
    Run {
        status,
        stderr,
        dir,
        child,
        grandchild,
        _release: release,
    }
}

impl Run {
    /// Lets the children end; the grandchild's fate, as its parent saw it.
    fn release(&self) -> String {
        std::fs::write(self.dir.join("release"), "").unwrap();
        wait_for_text(&self.dir.join("status"), "\n")
    }
}

/// `--trace-children=yes` and a detached `sleep` left behind: memdx returns
/// when the shell does, with its status and output.
#[test]
fn trace_children_returns_when_the_program_does() {
    let scratch = Scratch::new("children-sleep");
    let out_path = scratch.0.join("stdout");
    let err_path = scratch.0.join("stderr");
    let mut memdx = memdx()
        .args(["check", "--trace-children=yes", "sh", "-c"])
        .arg("setsid sleep 30 & echo hi")
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let status = wait_with_deadline(&mut memdx, "the detached sleep");
    let err = std::fs::read_to_string(&err_path).unwrap();
    // The note names the sleep; end it (our own child's child, by pid).
    let note = err
        .lines()
        .find(|l| l.contains("memdx: process "))
        .unwrap_or_else(|| panic!("no note about the sleep: {err}"));
    let pid: u32 = note
        .split("memdx: process ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {note:?}"));
    let sleeping = running(pid);
    // SAFETY: signalling the sleep this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "hi\n");
    assert!(sleeping, "process {pid} was not the running sleep: {err}");
    assert!(
        note.ends_with(
            "is still running; its report is not collected (a --log-file name with %p gives it a file of its own)"
        ),
        "{note}"
    );
    let report = parse_report(&err);
    assert_eq!(
        report.error_summary.as_deref(),
        Some("0 errors from 0 contexts (suppressed: 0 from 0)"),
        "{err}"
    );
}

/// Default options: fork children still running when the program exits
/// are not waited for (Valgrind returns then too). Their reports would go
/// to memdx's stderr, which memdx does not hold open for them: memdx says
/// so, and the children run on unharmed (the grandchild writes its report
/// into a socket nobody reads any more).
#[test]
fn fork_children_running_at_exit_are_left_with_a_note() {
    let scratch = Scratch::new("children-fork");
    let run = run_outliving(&scratch, "fork", &["--leak-check=full"]);
    assert_eq!(run.status.code(), Some(3), "{}", run.stderr);
    let report = parse_report(&run.stderr);
    assert_eq!(
        report.leak("definitely lost"),
        "5 bytes in 1 blocks",
        "{}",
        run.stderr
    );
    let (a, b) = (run.child.min(run.grandchild), run.child.max(run.grandchild));
    let note = format!(
        "== memdx: processes {a}, {b} are still running; their reports are not collected \
         (a --log-file name with %p gives each a file of its own)\n"
    );
    assert!(run.stderr.ends_with(&note), "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("HEAP SUMMARY").count(),
        1,
        "{}",
        run.stderr
    );
    assert_eq!(run.release(), "exit 0\n");
}

/// With `--log-file=DIR/log.%p` each process left running gets its report
/// in its own file, written after memdx has returned.
#[test]
fn fork_children_reports_arrive_in_their_own_log_files() {
    let scratch = Scratch::new("children-fork-logs");
    let logs = scratch.0.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let template = format!("--log-file={}/log.%p", logs.display());
    let run = run_outliving(&scratch, "fork", &["--leak-check=full", &template]);
    assert_eq!(run.status.code(), Some(3), "{}", run.stderr);
    assert_eq!(run.stderr, "", "nothing goes to stderr");
    check_logs(&run, &logs);
}

/// A daemon (it left the session and closed every descriptor, memdx's
/// socket too) under `--trace-children=yes`: memdx returns and lets go of
/// its stderr, and the daemon's report (over a new connection at its exit)
/// and its child's arrive in their files.
#[test]
fn daemon_reports_arrive_in_their_own_log_files() {
    let scratch = Scratch::new("children-daemon-logs");
    let logs = scratch.0.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let template = format!("--log-file={}/log.%p", logs.display());
    let run = run_outliving(
        &scratch,
        "daemon",
        &["--leak-check=full", "--trace-children=yes", &template],
    );
    assert_eq!(run.status.code(), Some(3), "{}", run.stderr);
    assert_eq!(run.stderr, "", "nothing goes to stderr");
    check_logs(&run, &logs);
}

/// The program's log is complete when memdx returns; the children's
/// arrive once they end.
fn check_logs(run: &Run, logs: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let main_log = names
        .iter()
        .find(|n| {
            let pid = n.trim_start_matches("log.");
            pid != run.child.to_string() && pid != run.grandchild.to_string()
        })
        .unwrap_or_else(|| panic!("no log of the program among {names:?}"));
    let main_text = std::fs::read_to_string(logs.join(main_log)).unwrap();
    let report = parse_report(&main_text);
    assert_eq!(
        report.leak("definitely lost"),
        "5 bytes in 1 blocks",
        "{main_text}"
    );
    assert!(main_text.contains("ERROR SUMMARY"), "{main_text}");
    assert!(!main_text.contains("memdx: process"), "{main_text}");
    assert_eq!(run.release(), "exit 0\n");
    let grand = wait_for_text(
        &logs.join(format!("log.{}", run.grandchild)),
        "ERROR SUMMARY",
    );
    assert!(
        grand.contains("77 bytes in 1 blocks are definitely lost"),
        "{grand}"
    );
    // The block is its call site's first, watched (the default): the
    // write is reported at its line, as Valgrind reports it.
    assert!(
        grand.contains("Invalid write of size 1")
            && grand.contains("0 bytes after a block of size 20"),
        "{grand}"
    );
    let child = wait_for_text(&logs.join(format!("log.{}", run.child)), "ERROR SUMMARY");
    assert!(child.contains("LEAK SUMMARY"), "{child}");
}
