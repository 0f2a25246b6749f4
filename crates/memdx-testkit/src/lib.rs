//! Helpers shared by memdx's test suites (a dev-dependency only).
//!
//! A differential test compares memdx with a reference tool installed on the
//! machine (procps, Valgrind, smem, tmux, the Python consumers of Valgrind
//! XML). On a developer's machine without the tool it prints `SKIPPED: ...`
//! and passes; in CI (`.ci/run` sets `MEMDX_REQUIRE_TOOLS=1`) a missing tool
//! is a failure, so a green run always means the comparison ran.

pub mod cache;
pub mod tmux;

/// The environment variable that turns a missing reference tool into a
/// failure.
pub const REQUIRE_TOOLS: &str = "MEMDX_REQUIRE_TOOLS";

/// Whether missing reference tools fail the tests (`MEMDX_REQUIRE_TOOLS=1`).
pub fn tools_required() -> bool {
    std::env::var_os(REQUIRE_TOOLS).is_some_and(|v| v == "1")
}

/// Says that the reference tool a test needs is missing: prints
/// `SKIPPED: {what}` and returns, or panics when [`tools_required`].
///
/// # Panics
///
/// Under `MEMDX_REQUIRE_TOOLS=1`.
pub fn tool_missing(what: &str) {
    assert!(
        !tools_required(),
        "{what} ({REQUIRE_TOOLS}=1: this differential test must run, not be skipped)"
    );
    println!("SKIPPED: {what}");
}

/// The environment variable that limits the corpus tests to some programs:
/// a comma-separated list of file names, with or without their extension
/// (`MEMDX_CORPUS=double_free,lost_cycle.c`).
pub const CORPUS_FILTER: &str = "MEMDX_CORPUS";

/// Whether the corpus program `file_name` (e.g. `double_free.c`) is to run:
/// every program unless `MEMDX_CORPUS` names some.
pub fn corpus_selected(file_name: &str) -> bool {
    match std::env::var(CORPUS_FILTER) {
        Ok(list) if !list.trim().is_empty() => selected_by(&list, file_name),
        _ => true,
    }
}

/// Whether `MEMDX_CORPUS` narrows the corpus (the corpus tests then skip
/// their "the corpus did not shrink" checks).
pub fn corpus_filtered() -> bool {
    std::env::var(CORPUS_FILTER).is_ok_and(|l| !l.trim().is_empty())
}

fn selected_by(list: &str, file_name: &str) -> bool {
    let stem = file_name.rsplit_once('.').map_or(file_name, |(s, _)| s);
    list.split(',')
        .map(str::trim)
        .any(|want| want == file_name || want == stem)
}

/// The environment variable that sets how many corpus programs a corpus
/// test runs at once ([`corpus_jobs`]).
pub const CORPUS_JOBS: &str = "MEMDX_CORPUS_JOBS";

/// How many corpus programs a corpus test runs at once: `MEMDX_CORPUS_JOBS`,
/// else the number of CPUs. Cargo runs the test binaries one after another,
/// and a corpus test is one long loop: run alone it would leave the other
/// cores idle.
pub fn corpus_jobs() -> usize {
    std::env::var(CORPUS_JOBS)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `items.iter().map(f).collect()`, computed on up to `jobs` threads, each
/// taking the next item when done with one; the results are in the order
/// of `items`. A panic in `f` is raised again here, after the other
/// threads are done.
pub fn map_in_parallel<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every item was computed (a panic would have been raised)")
        })
        .collect()
}

/// How long a test lets one program run unless it says otherwise: long
/// enough for `memdx check` of a corpus program or a compiler on a loaded
/// 2-core machine, short enough that a hang fails the test, not the suite.
pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);

/// Sends SIGKILL to every process in process group `pgid` (by `kill(1)`:
/// not libc, which this crate does not depend on).
fn kill_group(pgid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// A child started in a process group of its own. Dropping it (a test that
/// panicked, or one done with a server) kills the whole group and reaps the
/// child, so that neither it nor anything it started outlives the test.
pub struct GroupChild {
    child: std::process::Child,
}

impl GroupChild {
    /// Starts `cmd` as the leader of a new process group; the standard
    /// streams are as `cmd` set them (inherited by default).
    pub fn spawn(cmd: &mut std::process::Command) -> std::io::Result<GroupChild> {
        use std::os::unix::process::CommandExt;
        let child = cmd.process_group(0).spawn()?;
        Ok(GroupChild { child })
    }

    /// The child (its pid is also the group's id).
    pub fn child(&mut self) -> &mut std::process::Child {
        &mut self.child
    }

    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the child to end; past `limit`, kills the group and
    /// returns `None`.
    pub fn wait_within(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                _ => {
                    self.kill_group();
                    return None;
                }
            }
        }
    }

    /// Kills the whole group and reaps the child.
    pub fn kill_group(&mut self) {
        kill_group(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        // The leader may have ended already; its group may still have members.
        kill_group(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd` to completion like [`std::process::Command::output`], but in
/// a process group of its own that is killed (SIGKILL to the whole group)
/// when `limit` passes: while the program runs, or while something it
/// started still holds its stdout or stderr open after it ended (the test
/// would otherwise wait for that process). Processes it started that closed
/// both are left alone when it ends in time (some tests need a survivor).
/// `Err` when the program cannot be started; `Err` of kind `TimedOut`, whose
/// message has what the program printed, when the deadline passed.
pub fn try_output_with_deadline(
    cmd: &mut std::process::Command,
    limit: std::time::Duration,
) -> std::io::Result<std::process::Output> {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let deadline = Instant::now() + limit;
    let mut child = cmd
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let mut status = None;
    let mut late = "still running";
    while Instant::now() < deadline {
        if status.is_none() {
            status = child.try_wait()?;
        }
        if status.is_some() {
            if out.is_finished() && err.is_finished() {
                break;
            }
            late = "ended, but a process it started held its stdout or stderr open";
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let timed_out = status.is_none() || !(out.is_finished() && err.is_finished());
    if timed_out {
        kill_group(child.id());
        let _ = child.kill();
    }
    let status = child.wait()?;
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if timed_out {
        return Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "{cmd:?} {late} after {limit:?}; killed its process group\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            ),
        ));
    }
    Ok(std::process::Output {
        status,
        stdout,
        stderr,
    })
}

/// [`try_output_with_deadline`] with stdin `/dev/null`, for tests.
///
/// # Panics
///
/// When the program cannot be started, or when the deadline passed (after
/// killing the group; the message has what the program printed so far).
pub fn output_with_deadline(
    cmd: &mut std::process::Command,
    limit: std::time::Duration,
) -> std::process::Output {
    try_output_with_deadline(cmd.stdin(std::process::Stdio::null()), limit)
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Reads the first `n` lines of `pipe` (a child's stdout, for a "ready"
/// handshake), waiting at most `limit`. `None` past the deadline or at an
/// early end of input; the reading thread then ends once the caller kills
/// the child (which closes the pipe).
pub fn read_lines_within<R: std::io::Read + Send + 'static>(
    pipe: R,
    n: usize,
    limit: std::time::Duration,
) -> Option<Vec<String>> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let lines: Vec<String> = std::io::BufReader::new(pipe)
            .lines()
            .take(n)
            .map_while(Result::ok)
            .collect();
        let _ = tx.send(lines);
    });
    rx.recv_timeout(limit).ok().filter(|lines| lines.len() == n)
}

/// Deadlines for [`std::process::Command`]'s ways of running a program,
/// under the same names with `_within`. Each runs the program in a process
/// group of its own, with stdin `/dev/null` (use [`try_output_with_deadline`]
/// to give it another), and kills the whole group when the program ends or
/// the deadline passes.
pub trait Deadline {
    /// [`std::process::Command::output`] with a deadline. Panics when the
    /// program cannot be started or the deadline passed.
    fn output_within(&mut self, limit: std::time::Duration) -> std::process::Output;
    /// `output()` with a deadline, `Err` when it cannot start or timed out.
    fn try_output_within(
        &mut self,
        limit: std::time::Duration,
    ) -> std::io::Result<std::process::Output>;
    /// [`std::process::Command::status`] with a deadline; what the program
    /// printed goes to the test's own output (shown when a test fails).
    /// Panics when the program cannot be started or the deadline passed.
    fn status_within(&mut self, limit: std::time::Duration) -> std::process::ExitStatus;
    /// `status()` with a deadline, `Err` when it cannot start or timed out.
    fn try_status_within(
        &mut self,
        limit: std::time::Duration,
    ) -> std::io::Result<std::process::ExitStatus>;
}

impl Deadline for std::process::Command {
    fn output_within(&mut self, limit: std::time::Duration) -> std::process::Output {
        self.try_output_within(limit)
            .unwrap_or_else(|e| panic!("cannot run {self:?}: {e}"))
    }

    fn try_output_within(
        &mut self,
        limit: std::time::Duration,
    ) -> std::io::Result<std::process::Output> {
        try_output_with_deadline(self.stdin(std::process::Stdio::null()), limit)
    }

    fn status_within(&mut self, limit: std::time::Duration) -> std::process::ExitStatus {
        self.try_status_within(limit)
            .unwrap_or_else(|e| panic!("cannot run {self:?}: {e}"))
    }

    fn try_status_within(
        &mut self,
        limit: std::time::Duration,
    ) -> std::io::Result<std::process::ExitStatus> {
        let out = self.try_output_within(limit)?;
        // Through the test harness's capture, unlike inherited descriptors.
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        Ok(out.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_fails_only_when_tools_are_required() {
        // One test owns the variable: tests of this crate run in threads.
        std::env::remove_var(REQUIRE_TOOLS);
        tool_missing("nothing at all is installed");
        std::env::set_var(REQUIRE_TOOLS, "1");
        let caught = std::panic::catch_unwind(|| tool_missing("frobnicate is not installed"));
        std::env::remove_var(REQUIRE_TOOLS);
        let message = caught.expect_err("must fail when tools are required");
        let text = message
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(text.contains("frobnicate is not installed"), "{text}");
    }

    #[test]
    fn a_deadline_kills_the_whole_group_and_does_not_wait_for_its_pipes() {
        use std::process::Command;
        // Killed processes are reaped by init; give it a moment (a bounded
        // number of polls, not a time).
        let gone = |pid: &str| {
            (0..250).any(|_| {
                let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| !s.contains(") Z "));
                if alive {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                !alive
            })
        };
        // The shell starts a grandchild that holds stdout open and outlives
        // it; the deadline must end both, and return without waiting for
        // the grandchild's copy of the pipe.
        let dir = std::env::temp_dir().join(format!("memdx-testkit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let pidfile = dir.join("pid");
        let script = format!("sleep 600 & echo $! > {}; wait", pidfile.display());
        let err = Command::new("sh")
            .args(["-c", &script])
            .try_output_within(std::time::Duration::from_millis(500))
            .expect_err("must time out");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        let pid = std::fs::read_to_string(&pidfile).expect("the shell wrote the pid");
        assert!(
            gone(pid.trim()),
            "the grandchild sleep {pid} outlived the deadline"
        );
        let _ = std::fs::remove_file(&pidfile);
        // A grandchild that keeps stdout open after the program ended
        // cannot hold the test past the deadline either.
        let script = format!("sleep 600 & echo $! > {}; echo done", pidfile.display());
        let err = Command::new("sh")
            .args(["-c", &script])
            .try_output_within(std::time::Duration::from_millis(500))
            .expect_err("must time out");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(
            err.to_string()
                .contains("ended, but a process it started held"),
            "{err}"
        );
        let pid = std::fs::read_to_string(&pidfile).expect("the shell wrote the pid");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            gone(pid.trim()),
            "the grandchild sleep {pid} outlived the deadline"
        );
    }

    #[test]
    fn a_handshake_that_never_comes_ends_at_its_deadline() {
        use std::process::{Command, Stdio};
        let mut ready = GroupChild::spawn(
            Command::new("sh")
                .args(["-c", "echo ready; exec sleep 600"])
                .stdout(Stdio::piped()),
        )
        .expect("sh");
        let pipe = ready.child().stdout.take().expect("stdout");
        let lines = read_lines_within(pipe, 1, std::time::Duration::from_secs(60));
        assert_eq!(lines, Some(vec!["ready".to_string()]));
        let mut silent = GroupChild::spawn(
            Command::new("sh")
                .args(["-c", "exec sleep 600"])
                .stdout(Stdio::piped()),
        )
        .expect("sh");
        let pipe = silent.child().stdout.take().expect("stdout");
        assert_eq!(
            read_lines_within(pipe, 1, std::time::Duration::from_millis(200)),
            None
        );
        // Dropping both kills their groups (the sleeps) and ends the readers.
    }

    #[test]
    fn parallel_map_keeps_the_order_and_does_every_item_once() {
        let items: Vec<u32> = (0..100).collect();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        for jobs in [1, 2, 7, 200] {
            calls.store(0, std::sync::atomic::Ordering::Relaxed);
            let out = map_in_parallel(&items, jobs, |&n| {
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                n * 3
            });
            assert_eq!(out, items.iter().map(|n| n * 3).collect::<Vec<_>>());
            assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 100);
        }
        assert!(map_in_parallel(&[] as &[u32], 2, |&n| n).is_empty());
        let caught = std::panic::catch_unwind(|| {
            map_in_parallel(&items, 2, |&n| assert!(n != 42, "item {n}"))
        });
        assert!(caught.is_err(), "a panic in one item fails the whole map");
    }

    #[test]
    fn the_corpus_filter_names_programs_with_or_without_extension() {
        assert!(selected_by("double_free, lost_cycle.c", "double_free.c"));
        assert!(selected_by("double_free, lost_cycle.c", "lost_cycle.c"));
        assert!(!selected_by("double_free", "double_free_twice.c"));
        assert!(!selected_by("lost_cycle.cpp", "lost_cycle.c"));
    }
}
