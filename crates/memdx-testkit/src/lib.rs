//! Helpers shared by memdx's test suites (a dev-dependency only).
//!
//! A differential test compares memdx with a reference tool installed on the
//! machine (procps, Valgrind, smem, tmux, the Python consumers of Valgrind
//! XML). On a developer's machine without the tool it prints `SKIPPED: ...`
//! and passes; in CI (`.ci/run` sets `MEMDX_REQUIRE_TOOLS=1`) a missing tool
//! is a failure, so a green run always means the comparison ran.

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

/// Runs `cmd` to completion like [`std::process::Command::output`], but in
/// a process group of its own that is killed (SIGKILL to the whole group)
/// when `limit` passes, so that no test can hang the suite. Stdin is
/// `/dev/null`.
///
/// # Panics
///
/// When the program cannot be started, or when the deadline passed (after
/// killing the group; the message has what the program printed so far).
pub fn output_with_deadline(
    cmd: &mut std::process::Command,
    limit: std::time::Duration,
) -> std::process::Output {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;

    let mut child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
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
    let deadline = std::time::Instant::now() + limit;
    let group = format!("-{}", child.id());
    let kill_group = || {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            _ => {
                kill_group();
                let _ = child.wait();
                let stdout = out.join().unwrap_or_default();
                let stderr = err.join().unwrap_or_default();
                panic!(
                    "{cmd:?} still running after {limit:?}; killed its process group\nstdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&stdout),
                    String::from_utf8_lossy(&stderr)
                );
            }
        }
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
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
    fn the_corpus_filter_names_programs_with_or_without_extension() {
        assert!(selected_by("double_free, lost_cycle.c", "double_free.c"));
        assert!(selected_by("double_free, lost_cycle.c", "lost_cycle.c"));
        assert!(!selected_by("double_free", "double_free_twice.c"));
        assert!(!selected_by("lost_cycle.cpp", "lost_cycle.c"));
    }
}
