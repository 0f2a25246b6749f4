//! `memdx top` in a real terminal (tmux): what the screen shows after
//! sorting, filtering and quitting; and batch mode.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use memdx_testkit::tmux::Tmux;
use memdx_testkit::{Deadline, DEADLINE};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/ps/cgroup-v2-containers")
}

/// Starts `memdx top` on the fixture tree in a detached tmux session of
/// the given size; `None` (test skipped) when tmux is missing.
fn start(name: &str, width: u16, height: u16) -> Option<Tmux> {
    let cmd = format!(
        "env MEMDX_PROC_ROOT='{}' '{}' top -d 60; echo EXITED $?; sleep 30",
        fixture().display(),
        env!("CARGO_BIN_EXE_memdx")
    );
    Tmux::start(name, width, height, &cmd, "PID")
}

/// The pid on the table's first row.
fn first_pid(t: &Tmux) -> String {
    let s = t.screen();
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

#[test]
fn sorts_filters_and_quits_cleanly() {
    let Some(t) = start("sort", 120, 30) else {
        return;
    };
    let s = t.screen();
    assert!(s.contains("MiB Mem :") && s.contains("avail Mem"), "{s}");
    assert!(s.contains("PSS▼"), "{s}");
    assert_eq!(first_pid(&t), "2210", "largest PSS first");

    t.keys(&["R"]);
    t.wait_for("PSS▲");
    assert_eq!(first_pid(&t), "2400", "smallest known PSS first");

    t.keys(&["<"]);
    t.wait_for("RSS▲");
    assert_eq!(first_pid(&t), "2400");

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
fn command_key_help_screen_and_readable_cgroups() {
    let Some(t) = start("keys", 140, 30) else {
        return;
    };
    let s = t.screen();
    // Program names by default, readable cgroup names.
    let row = s
        .lines()
        .find(|l| l.trim_start().starts_with("2210 "))
        .unwrap();
    assert!(row.trim_end().ends_with(" firefox-esr"), "{row}");
    assert!(row.contains("app-firefox.scope"), "{row}");
    assert!(s.contains("docker:3f2a9c1be0d4"), "{s}");
    // The detail pane's title always has the command line: look at the row.
    t.keys(&["c"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = t.screen();
        let row = s
            .lines()
            .find(|l| l.trim_start().starts_with("2210 "))
            .unwrap_or("");
        if row.contains("/usr/lib/firefox-esr/firefox-esr") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "c did not show command lines:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    t.keys(&["h"]);
    let s = t.wait_for("Help for memdx top");
    assert!(
        s.contains("reverse the sort order") && s.contains("full command lines"),
        "{s}"
    );
    t.keys(&["x"]);
    t.wait_for("PID");
    t.keys(&["?"]);
    t.wait_for("Help for memdx top");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
}

#[test]
fn fits_80x24_with_the_detail_pane() {
    let Some(t) = start("small", 80, 24) else {
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
    // The help screen fits too: every key and what it does, uncut.
    t.keys(&["h"]);
    let s = t.wait_for("Help for memdx top");
    for (key, what) in memdx_tui::HELP {
        assert!(
            s.lines()
                .any(|l| l.trim_start().starts_with(key) && l.trim_end().ends_with(what)),
            "{key}: {what} not whole at 80 columns:\n{s}"
        );
    }
    t.keys(&["x"]);
    t.wait_for("PID");
    t.keys(&["e"]);
    t.wait_for("units MiB");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
}

#[test]
fn a_narrow_terminal_drops_columns_and_never_cuts_a_number() {
    let Some(t) = start("narrow", 60, 24) else {
        return;
    };
    let s = t.wait_for("firefox-esr");
    let head = s
        .lines()
        .find(|l| l.trim_start().starts_with("PID"))
        .unwrap();
    let words: Vec<&str> = head.split_whitespace().collect();
    assert_eq!(
        words,
        ["PID", "USER", "RSS", "PSS▼", "%MEM", "%CPU", "COMMAND"],
        "{s}"
    );
    // Whole figures (the fixture's RSS and PSS of 2210) and the program name.
    let row = s
        .lines()
        .find(|l| l.trim_start().starts_with("2210 "))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..4], ["2210", "alice", "512332", "447100"], "{s}");
    assert!(row.trim_end().ends_with(" firefox-esr"), "{row}");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
}

/// `memdx top ARGS` on the fixture tree, killed after a minute.
fn top_on_fixture(args: &[&str]) -> std::process::Output {
    memdx_testkit::output_with_deadline(
        Command::new(env!("CARGO_BIN_EXE_memdx"))
            .arg("top")
            .args(args)
            .env("MEMDX_PROC_ROOT", fixture())
            .env_remove("COLUMNS"),
        Duration::from_secs(60),
    )
}

fn stdout_ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Rows of the table: lines after the header, first word a number.
fn table_rows(frame: &str) -> Vec<&str> {
    frame
        .lines()
        .skip_while(|l| !l.contains("PID"))
        .skip(1)
        .filter(|l| l.trim_start().starts_with(char::is_numeric))
        .collect()
}

#[test]
fn batch_mode_prints_frames_sorted_by_field() {
    let text = stdout_ok(&top_on_fixture(&[
        "-b", "-n", "2", "-d", "0.1", "-o", "rss",
    ]));
    assert_eq!(text.matches("top - ").count(), 2, "{text}");
    let first_row = table_rows(&text)[0];
    assert!(first_row.trim_start().starts_with("2210 "), "{first_row}");
    // %CPU is a figure from the first frame on (fixture ticks do not move: 0.0)
    for frame in text.split("top - ").skip(1) {
        let row = table_rows(frame)[0];
        assert!(row.contains(" 0.0 "), "{row}");
    }
}

#[test]
fn batch_summary_has_tops_lines_from_the_fixture() {
    let text = stdout_ok(&top_on_fixture(&["-b", "-n", "1"]));
    let lines: Vec<&str> = text.lines().collect();
    // The clock is local time now; the rest comes from the fixture files.
    let (clock, rest) = lines[0]
        .strip_prefix("top - ")
        .unwrap()
        .split_once(' ')
        .unwrap();
    assert_eq!(clock.len(), 8, "{}", lines[0]);
    assert_eq!(
        rest,
        "up 1 day,  2:03,  2 users,  load average: 0.52, 1.08, 2.30"
    );
    assert_eq!(
        lines[1],
        "Tasks:  10 total,   0 running,   9 sleeping,   0 stopped,   1 zombie"
    );
    // /proc/stat does not move between the two samples: all idle.
    assert_eq!(
        lines[2],
        "%Cpu(s):  0.0 us,  0.0 sy,  0.0 ni,100.0 id,  0.0 wa,  0.0 hi,  0.0 si,  0.0 st "
    );
    assert!(
        lines[3].starts_with("MiB Mem :  24105.6 total,"),
        "{}",
        lines[3]
    );
    assert!(lines[3].ends_with(" buff/cache     "), "{:?}", lines[3]);
    assert!(
        lines[4].starts_with("MiB Swap:      0.0 total,"),
        "{}",
        lines[4]
    );
    assert!(lines[4].ends_with(" avail Mem "), "{:?}", lines[4]);
}

#[test]
fn batch_filters_by_pid_and_user_and_cuts_to_the_width() {
    let text = stdout_ok(&top_on_fixture(&["-b", "-n", "1", "-p", "845,2210"]));
    let mut pids: Vec<&str> = table_rows(&text)
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    pids.sort_unstable();
    assert_eq!(pids, vec!["2210", "845"], "{text}");
    // Tasks still counts the whole machine, as top's does.
    assert!(text.contains("Tasks:  10 total"), "{text}");

    let text = stdout_ok(&top_on_fixture(&["-b", "-n", "1", "-u", "postgres"]));
    let rows = table_rows(&text);
    assert_eq!(rows.len(), 3, "{text}");
    assert!(rows.iter().all(|r| r.contains(" postgres ")), "{text}");

    let out = top_on_fixture(&["-b", "-n", "1", "-u", "nosuchuser"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuchuser"));

    // Without -w or $COLUMNS a pipe gets 80 columns, as top.
    let text = stdout_ok(&top_on_fixture(&["-b", "-n", "1"]));
    let table: Vec<&str> = text.lines().skip_while(|l| !l.contains("PID")).collect();
    assert!(table.iter().all(|l| l.chars().count() <= 80), "{text}");
    // -w cuts every line, the summary too, as top's.
    let text = stdout_ok(&top_on_fixture(&["-b", "-n", "1", "-w", "40"]));
    assert!(text.lines().all(|l| l.chars().count() <= 40), "{text}");
    assert!(
        text.starts_with("top - ")
            && text.lines().nth(1).unwrap() == "Tasks:  10 total,   0 running,   9 sleep",
        "{text}"
    );
    let text = stdout_ok(&top_on_fixture(&["-b", "-n", "1", "-w", "60"]));
    assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");
    // COLUMNS is kept within top's 3 to 512.
    let out = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(["top", "-b", "-n", "1"])
        .env("MEMDX_PROC_ROOT", fixture())
        .env("COLUMNS", "2")
        .output_within(DEADLINE);
    let text = stdout_ok(&out);
    assert_eq!(text.lines().next(), Some("top"), "{text}");
}

#[test]
fn batch_rejects_widths_and_counts_top_rejects() {
    for (args, message) in [
        (
            &["-w", "2"][..],
            "memdx top: -w 2: give a width from 3 to 512\n",
        ),
        (
            &["-w", "513"][..],
            "memdx top: -w 513: give a width from 3 to 512\n",
        ),
        (&["-n", "0"][..], "memdx top: -n 0: give at least 1 frame\n"),
    ] {
        let mut all = vec!["-b"];
        all.extend_from_slice(args);
        let out = top_on_fixture(&all);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), message);
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn batch_command_is_the_program_name_and_c_gives_command_lines() {
    let text = stdout_ok(&top_on_fixture(&[
        "-b", "-n", "1", "-w", "200", "-p", "2210",
    ]));
    let row = table_rows(&text)[0];
    assert!(row.ends_with(" firefox-esr"), "{row}");
    // With room, CGROUP is the readable unit name.
    assert!(row.contains(" app-firefox.scope "), "{row}");
    let text = stdout_ok(&top_on_fixture(&[
        "-b", "-n", "1", "-w", "200", "-c", "-p", "2210",
    ]));
    let row = table_rows(&text)[0];
    assert!(row.contains(" /usr/lib/firefox-esr/firefox-esr"), "{row}");
    let text = stdout_ok(&top_on_fixture(&[
        "-b", "-n", "1", "-w", "200", "-p", "845",
    ]));
    assert!(
        table_rows(&text)[0].contains(" docker:3f2a9c1be0d4 "),
        "{text}"
    );
}

#[test]
fn batch_json_is_one_object_per_frame() {
    let text = stdout_ok(&top_on_fixture(&[
        "-b", "-n", "2", "-d", "0.1", "--json", "-p", "845",
    ]));
    let frames: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(frames.len(), 2, "{text}");
    for f in &frames {
        assert_eq!(f["users"], 2);
        assert_eq!(f["tasks"]["total"], 10);
        assert_eq!(f["load_average"][0], 0.52);
        assert_eq!(f["cpu"]["id"], 100.0);
        assert!(f["time"].as_u64().unwrap() > 1_700_000_000);
        assert_eq!(f["rows"].as_array().unwrap().len(), 1);
        assert_eq!(f["rows"][0]["pid"], 845);
        assert_eq!(f["rows"][0]["cpu"], 0.0);
    }
}

/// Each number with the blanks before it as ` 9`, runs of spaces as one:
/// the words, punctuation and order of a line, whatever the figures (their
/// widths are pinned by the fixture test and the views' unit tests).
fn shape(line: &str) -> String {
    let numbers = regex::Regex::new(r" *[0-9]+(\.[0-9]+)?").unwrap();
    let spaces = regex::Regex::new(r" +").unwrap();
    spaces
        .replace_all(&numbers.replace_all(line, " 9"), " ")
        .into_owned()
}

#[test]
fn live_summary_lines_have_the_layout_of_procps_top() {
    let top = match Command::new("top").arg("-v").try_output_within(DEADLINE) {
        Ok(_) => memdx_testkit::output_with_deadline(
            Command::new("top").args(["-b", "-n", "1"]),
            Duration::from_secs(60),
        ),
        Err(_) => {
            memdx_testkit::tool_missing("procps top is not installed");
            return;
        }
    };
    let ours = memdx_testkit::output_with_deadline(
        Command::new(env!("CARGO_BIN_EXE_memdx"))
            .args(["top", "-b", "-n", "1"])
            .env_remove("MEMDX_PROC_ROOT"),
        Duration::from_secs(60),
    );
    let theirs = String::from_utf8(top.stdout).unwrap();
    let ours = stdout_ok(&ours);
    for (a, b) in theirs.lines().zip(ours.lines()).take(5) {
        assert_eq!(shape(b), shape(a), "\nprocps: {a:?}\nmemdx:  {b:?}");
        // Same fields at the same places: compare lengths up to number widths.
        assert!(a.ends_with(' ') == b.ends_with(' '), "{a:?} / {b:?}");
    }
}

#[test]
fn live_first_frame_has_real_cpu_figures() {
    // A child that spins: its first-frame %CPU must be measured, not "-".
    // Killed with its group when dropped, also when the test fails.
    let spinner =
        memdx_testkit::GroupChild::spawn(Command::new("sh").args(["-c", "while :; do :; done"]))
            .unwrap();
    let pid = spinner.id().to_string();
    let out = memdx_testkit::output_with_deadline(
        Command::new(env!("CARGO_BIN_EXE_memdx"))
            .args(["top", "-b", "-n", "1", "--json", "-p", &pid])
            .env_remove("MEMDX_PROC_ROOT"),
        Duration::from_secs(60),
    );
    drop(spinner);
    let v: serde_json::Value = serde_json::from_str(stdout_ok(&out).trim()).unwrap();
    let cpu = v["rows"][0]["cpu"].as_f64();
    assert!(cpu.is_some(), "no %CPU in the first frame: {v}");
    let shares = &v["cpu"];
    let sum: f64 = ["us", "sy", "ni", "id", "wa", "hi", "si", "st"]
        .iter()
        .map(|k| shares[k].as_f64().unwrap())
        .sum();
    assert!((sum - 100.0).abs() < 0.01, "{shares}");
    assert!(
        shares["id"].as_f64().unwrap() < 100.0,
        "a CPU was spinning: {shares}"
    );
}

#[test]
fn a_process_started_between_frames_has_its_cpu_figure() {
    // top counts all the CPU time of a process new since the previous
    // frame; memdx printed "-" (null) for it until its second frame.
    let mut top = memdx_testkit::GroupChild::spawn(
        Command::new(env!("CARGO_BIN_EXE_memdx"))
            .args(["top", "-b", "-n", "2", "-d", "2", "--json", "--fast"])
            .env_remove("MEMDX_PROC_ROOT")
            .stdout(std::process::Stdio::piped()),
    )
    .unwrap();
    let stdout = top.child().stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let limit = Duration::from_secs(60);
    let first = rx.recv_timeout(limit).expect("no first frame");
    let spinner =
        memdx_testkit::GroupChild::spawn(Command::new("sh").args(["-c", "while :; do :; done"]))
            .unwrap();
    let pid = u64::from(spinner.id());
    let second = rx.recv_timeout(limit).expect("no second frame");
    drop(spinner);
    assert!(top.wait_within(limit).is_some_and(|s| s.success()));
    let rows = |frame: &str| -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_str(frame).unwrap();
        v["rows"].as_array().unwrap().clone()
    };
    assert!(!rows(&first).iter().any(|r| r["pid"] == pid), "{first}");
    let row = rows(&second)
        .into_iter()
        .find(|r| r["pid"] == pid)
        .unwrap_or_else(|| panic!("spinner {pid} not in the second frame: {second}"));
    let cpu = row["cpu"].as_f64();
    assert!(cpu.is_some_and(|c| c > 1.0), "spinner's %CPU: {row}");
}

#[test]
fn delay_takes_units_and_a_bad_one_is_named() {
    let run = |delay: &str| {
        Command::new(env!("CARGO_BIN_EXE_memdx"))
            .args(["top", "-b", "-n", "1", "-d", delay])
            .env("MEMDX_PROC_ROOT", fixture())
            .output_within(DEADLINE)
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
        .output_within(DEADLINE);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("use -b"));
}
