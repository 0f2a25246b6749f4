//! `memdx top` in a real terminal (tmux): what the screen shows after
//! sorting, filtering and quitting; and batch mode.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/ps/cgroup-v2-containers")
}

/// A tmux server of the test's own (`-L socket`): tests run in parallel and
/// two `new-session`s racing to start one shared server can fail.
struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    /// Starts `memdx top` on the fixture tree in a detached tmux session of
    /// the given size; `None` (test skipped) when tmux is missing.
    fn start(name: &str, width: u16, height: u16) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            memdx_testkit::tool_missing("tmux is not installed");
            return None;
        }
        let session = format!("memdx-{name}-{}", std::process::id());
        let socket = session.clone();
        let cmd = format!(
            "env MEMDX_PROC_ROOT='{}' '{}' top -d 60; echo EXITED $?; sleep 30",
            fixture().display(),
            env!("CARGO_BIN_EXE_memdx")
        );
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                &cmd,
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session failed");
        let t = Tmux { socket, session };
        t.wait_for("PID");
        Some(t)
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "capture-pane",
                "-p",
                "-t",
                &self.session,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", "-t", &self.session, k])
                .status()
                .unwrap();
        }
    }

    /// Waits until the screen contains `text` (the UI redraws after each key).
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "screen never showed {text:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn first_pid(&self) -> String {
        let s = self.screen();
        let mut lines = s.lines().skip_while(|l| !l.contains("PID"));
        lines.next();
        lines
            .next()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

#[test]
fn sorts_filters_and_quits_cleanly() {
    let Some(t) = Tmux::start("sort", 120, 30) else {
        return;
    };
    let s = t.screen();
    assert!(s.contains("MiB Mem :") && s.contains("avail Mem"), "{s}");
    assert!(s.contains("PSS▼"), "{s}");
    assert_eq!(t.first_pid(), "2210", "largest PSS first");

    t.keys(&["R"]);
    t.wait_for("PSS▲");
    assert_eq!(t.first_pid(), "2400", "smallest known PSS first");

    t.keys(&["<"]);
    t.wait_for("RSS▲");
    assert_eq!(t.first_pid(), "2400");

    t.keys(&["/", "p", "o", "s", "t", "g", "r", "e", "s", "Enter"]);
    let s = t.wait_for("filter postgres");
    let rows: Vec<&str> = s
        .lines()
        .skip_while(|l| !l.contains("PID"))
        .skip(1)
        .take_while(|l| l.trim_start().starts_with(char::is_numeric))
        .collect();
    let pids: Vec<&str> = rows
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(pids, vec!["812", "846", "845"], "{s}");

    t.keys(&["q"]);
    let s = t.wait_for("EXITED");
    assert!(s.contains("EXITED 0"), "{s}");
    assert!(!s.contains("MiB Mem"), "alternate screen not left:\n{s}");
}

#[test]
fn fits_80x24_with_the_detail_pane() {
    let Some(t) = Tmux::start("small", 80, 24) else {
        return;
    };
    let s = t.wait_for("heap");
    for line in s.lines() {
        assert!(line.chars().count() <= 80, "line wider than 80: {line}");
    }
    assert!(s.contains("2210 /usr/lib/firefox-esr/firefox-esr"), "{s}");
    assert!(
        s.contains("anon") && s.contains("shmem") && s.contains("stack"),
        "{s}"
    );
    assert!(s.contains("RSS") && s.contains("PSS"));
    t.keys(&["e"]);
    t.wait_for("units MiB");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
}

#[test]
fn batch_mode_prints_frames_sorted_by_field() {
    let out = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(["top", "-b", "-n", "2", "-d", "0.1", "-o", "rss"])
        .env("MEMDX_PROC_ROOT", fixture())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.matches("memdx top - ").count(), 2, "{text}");
    let first_row = text
        .lines()
        .skip_while(|l| !l.contains("PID"))
        .nth(1)
        .unwrap();
    assert!(first_row.trim_start().starts_with("2210 "), "{first_row}");
    // second frame has %CPU from the tick delta (fixture ticks do not move: 0.0)
    let second = text.rsplit("memdx top - ").next().unwrap();
    let row = second
        .lines()
        .skip_while(|l| !l.contains("PID"))
        .nth(1)
        .unwrap();
    assert!(row.contains(" 0.0 "), "{row}");
}

#[test]
fn delay_takes_units_and_a_bad_one_is_named() {
    let run = |delay: &str| {
        Command::new(env!("CARGO_BIN_EXE_memdx"))
            .args(["top", "-b", "-n", "1", "-d", delay])
            .env("MEMDX_PROC_ROOT", fixture())
            .output()
            .unwrap()
    };
    let ok = run("2s");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = run("5x");
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8(bad.stderr).unwrap();
    assert!(
        err.starts_with("memdx top: -d: '5x' is not a duration"),
        "{err}"
    );
    let short = run("50ms");
    assert_eq!(short.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 0.1 s"));
}

#[test]
fn interactive_mode_without_a_terminal_says_so() {
    let out = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(["top"])
        .env("MEMDX_PROC_ROOT", fixture())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("use -b"));
}
