//! `memdx ps` in a real terminal (tmux panes of several widths): rows fit
//! the pane (columns never wrap; what does not fit is dropped, then the
//! command cut), and grouped views keep their group names
//! (ps_fixtures.rs has the `script` pty test of `-w`).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use memdx_testkit::tmux::Tmux;
use std::path::PathBuf;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/ps/cgroup-v2-containers")
}

/// Runs `memdx ps ARGS` on the fixture tree in a pane `width` columns wide
/// and returns the screen once it has printed; `None` without tmux.
fn ps_in_pane(name: &str, width: u16, args: &str) -> Option<String> {
    let cmd = format!(
        "env MEMDX_PROC_ROOT='{}' '{}' ps {args}; echo EXITED $?; sleep 30",
        fixture().display(),
        env!("CARGO_BIN_EXE_memdx")
    );
    let t = Tmux::start(name, width, 40, &cmd, "EXITED")?;
    Some(t.screen())
}

/// The screen's lines up to memdx's exit line.
fn table(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .take_while(|l| !l.starts_with("EXITED"))
        .collect()
}

#[test]
fn rows_fit_the_pane_and_never_wrap() {
    for width in [50u16, 80, 120] {
        let Some(screen) = ps_in_pane(&format!("fit{width}"), width, "--sort=pid") else {
            return;
        };
        assert!(screen.contains("EXITED 0"), "{screen}");
        let lines = table(&screen);
        // Header, 10 processes, TOTAL: one screen line each, so nothing
        // wrapped onto a second line.
        assert_eq!(lines.len(), 12, "width {width}:\n{screen}");
        assert!(
            lines[0].starts_with("    PID USER") && lines[0].ends_with(" COMMAND"),
            "{screen}"
        );
        let firefox = lines
            .iter()
            .find(|l| l.trim_start().starts_with("2210 "))
            .unwrap();
        // The command starts where the header says, and is cut at the edge.
        let at = lines[0].find("COMMAND").unwrap();
        let room = usize::from(width) - at;
        let expected: String = "/usr/lib/firefox-esr/firefox-esr"
            .chars()
            .take(room)
            .collect();
        assert!(
            firefox[at..].starts_with(&expected),
            "width {width}:\n{screen}"
        );
        assert!(firefox.chars().count() <= usize::from(width), "{screen}");
        assert!(lines[11].ends_with(" TOTAL"), "{screen}");
    }
    let Some(narrow) = ps_in_pane("fitcols", 80, "--sort=pid") else {
        return;
    };
    let head = table(&narrow)[0];
    assert!(
        head.contains("PSS") && head.contains("%MEM") && !head.contains("VIRT"),
        "{narrow}"
    );
}

#[test]
fn grouped_views_keep_their_names_in_a_narrow_pane() {
    for width in [50u16, 80] {
        let Some(screen) = ps_in_pane(&format!("bycg{width}"), width, "--by cgroup") else {
            return;
        };
        let lines = table(&screen);
        assert!(
            lines[0].starts_with("  COUNT ") && lines[0].ends_with(" CGROUP"),
            "{screen}"
        );
        let room = usize::from(width) - lines[0].find("CGROUP").unwrap();
        for name in [
            "app-firefox.scope",
            "docker:3f2a9c1be0d4",
            "backup.service",
            "session-3.scope",
        ] {
            let shown: String = name.chars().take(room).collect();
            assert!(
                lines.iter().any(|l| l.ends_with(&format!(" {shown}"))),
                "{name} missing at width {width}:\n{screen}"
            );
        }
        let Some(screen) = ps_in_pane(&format!("byuser{width}"), width, "--by user") else {
            return;
        };
        let lines = table(&screen);
        assert!(lines[0].ends_with(" USER"), "{screen}");
        for user in ["alice", "postgres", "root", "4242"] {
            assert!(
                lines.iter().any(|l| l.ends_with(&format!(" {user}"))),
                "{user}:\n{screen}"
            );
        }
    }
}
