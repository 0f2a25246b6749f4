//! `memdx heap` end to end on `tests/programs/heap_patterns.c`: the program
//! runs as natively, the recording's figures are the program's (exact in
//! the default mode, within a stated tolerance when sampled), a recording
//! cut by SIGKILL is reported up to its last flush, a damaged one up to
//! the damage with a one-line error naming the frame's offset.

// Test support: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used)]

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A scratch directory under the cargo target dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("heap-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/heap_patterns.c")
}

/// Builds the pattern program as a distribution would (-O2, -g, no frame pointers).
fn build(scratch: &Scratch) -> PathBuf {
    let exe = scratch.0.join("heap_patterns");
    let status = Command::new("gcc")
        .args(["-O2", "-g", "-fomit-frame-pointer"])
        .arg(source())
        .arg("-o")
        .arg(&exe)
        .status()
        .expect("running gcc");
    assert!(status.success());
    exe
}

/// Runs `cmd` with a two-minute watchdog (killed and failed past it).
fn run(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("watchdog: {cmd:?} ran for two minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn memdx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_memdx"))
}

fn heap(exe: &Path, rec: &Path, opts: &[&str], args: &[&str]) -> Output {
    let mut c = memdx();
    c.arg("heap")
        .args(opts)
        .arg("-o")
        .arg(rec)
        .arg(exe)
        .args(args);
    run(c)
}

fn report_json(rec: &Path, group_by: &str) -> Value {
    let mut c = memdx();
    c.args([
        "heap",
        "report",
        "--json",
        "--top",
        "50",
        "--group-by",
        group_by,
    ])
    .arg(rec);
    let out = run(c);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The group named `key` in view `view`.
fn group<'a>(report: &'a Value, view: &str, key: &str) -> &'a Value {
    let v = report["views"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["view"] == view)
        .unwrap();
    v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in view {view}: {v}"))
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

/// The line of the source holding `marker`.
fn line_of(marker: &str) -> usize {
    std::fs::read_to_string(source())
        .unwrap()
        .lines()
        .position(|l| l.contains(marker))
        .unwrap()
        + 1
}

#[test]
fn known_patterns_are_reported_exactly_and_the_program_runs_as_natively() {
    let scratch = Scratch::new("exact");
    let exe = build(&scratch);
    let native = run(Command::new(&exe));
    let rec = scratch.0.join("rec.mdxh");
    let out = heap(&exe, &rec, &[], &[]);
    assert_eq!(out.stdout, native.stdout);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(native.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("peak heap: 1,000,000 bytes in 100 blocks"),
        "{err}"
    );
    assert!(
        err.contains("1,000 temporaries of 1,000 allocations"),
        "{err}"
    );
    assert!(
        err.contains("12,345 bytes in 1 block still allocated"),
        "{err}"
    );

    let r = report_json(&rec, "function");
    assert_eq!(num(&r["peak_bytes"]), 1_000_000.0);
    assert_eq!(num(&r["peak_blocks"]), 100.0);
    let peak = group(&r, "peak", "peak_site");
    assert_eq!(num(&peak["stats"]["peak_bytes"]), 1_000_000.0);
    assert_eq!(num(&peak["stats"]["peak_blocks"]), 100.0);
    assert_eq!(num(&peak["stats"]["exit_bytes"]), 0.0);
    assert_eq!(num(&peak["stats"]["allocations"]), 100.0);
    let temp = group(&r, "temporaries", "temp_site");
    assert_eq!(num(&temp["stats"]["temporaries"]), 1000.0);
    assert_eq!(num(&temp["stats"]["allocations"]), 1000.0);
    assert_eq!(num(&temp["stats"]["allocated_bytes"]), 64_000.0);
    assert_eq!(num(&temp["stats"]["peak_bytes"]), 0.0);
    let leak = group(&r, "exit", "leak_site");
    assert_eq!(num(&leak["stats"]["exit_bytes"]), 12_345.0);
    assert_eq!(num(&leak["stats"]["exit_blocks"]), 1.0);
    assert_eq!(num(&leak["stats"]["temporaries"]), 0.0);
    // The peak site is the first view's first entry.
    assert_eq!(r["views"][0]["groups"][0]["key"], "peak_site");

    // By line: the allocating lines of the source, as `memdx check` names them.
    let r = report_json(&rec, "line");
    let key = format!("peak_site (heap_patterns.c:{})", line_of("PEAK LINE"));
    assert_eq!(
        num(&group(&r, "peak", &key)["stats"]["peak_bytes"]),
        1_000_000.0
    );
    let key = format!("temp_site (heap_patterns.c:{})", line_of("TEMP LINE"));
    assert_eq!(
        num(&group(&r, "temporaries", &key)["stats"]["temporaries"]),
        1000.0
    );
    let key = format!("leak_site (heap_patterns.c:{})", line_of("LEAK LINE"));
    assert_eq!(
        num(&group(&r, "exit", &key)["stats"]["exit_bytes"]),
        12_345.0
    );

    // By stack: frames with function, file:line, up to main.
    let mut c = memdx();
    c.args(["heap", "report", "--view", "peak", "--top", "1"])
        .arg(&rec);
    let text = String::from_utf8(run(c).stdout).unwrap();
    assert!(text.contains("by 0x"), "{text}");
    assert!(
        text.contains(&format!(
            ": peak_site (heap_patterns.c:{})",
            line_of("PEAK LINE")
        )),
        "{text}"
    );
    assert!(text.contains(": main (heap_patterns.c:"), "{text}");
}

#[test]
fn a_program_killed_by_sigkill_leaves_a_recording_readable_up_to_its_last_flush() {
    let scratch = Scratch::new("kill");
    let exe = build(&scratch);
    let rec = scratch.0.join("rec.mdxh");
    let out = heap(&exe, &rec, &[], &["kill"]);
    // memdx ends as the program did.
    assert_eq!(out.status.signal(), Some(9));
    let r = report_json(&rec, "function");
    assert_eq!(r["exit"]["kind"], "signaled");
    assert_eq!(r["exit"]["value"], 9);
    assert_eq!(num(&r["peak_bytes"]), 1_000_000.0);
    let peak = group(&r, "peak", "peak_site");
    assert_eq!(num(&peak["stats"]["peak_bytes"]), 1_000_000.0);
    let leak = group(&r, "exit", "leak_site");
    assert_eq!(num(&leak["stats"]["exit_bytes"]), 12_345.0);
    // Of the 101,000 temporaries, those flushed before the kill (the
    // runtime's buffers hold a few thousand records each).
    let temps = num(&group(&r, "temporaries", "temp_site")["stats"]["temporaries"]);
    assert!((90_000.0..101_000.0).contains(&temps), "{temps}");
}

#[test]
fn a_damaged_recording_is_reported_up_to_the_damage_with_a_one_line_error() {
    let scratch = Scratch::new("corrupt");
    let exe = build(&scratch);
    let rec = scratch.0.join("rec.mdxh");
    let out = heap(&exe, &rec, &[], &["kill"]);
    assert_eq!(out.status.signal(), Some(9));
    let mut bytes = std::fs::read(&rec).unwrap();
    // Damage a byte two thirds into the file: inside some events frame.
    let at = bytes.len() * 2 / 3;
    bytes[at] ^= 0xff;
    let bad = scratch.0.join("bad.mdxh");
    std::fs::write(&bad, &bytes).unwrap();
    let mut c = memdx();
    c.args(["heap", "report", "--view", "peak"]).arg(&bad);
    let out = run(c);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    let prefix = format!(
        "memdx heap report: {}: damaged frame at offset ",
        bad.display()
    );
    assert!(err.starts_with(&prefix), "{err}");
    assert!(
        err.trim_end()
            .ends_with("(the report covers what comes before it)"),
        "{err}"
    );
    let offset: usize = err[prefix.len()..]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(offset <= at && at - offset < 200_000, "{offset} vs {at}");
    // What came before the damage: the peak site (in the first frames).
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("peak heap: 1,000,000 bytes in 100 blocks"),
        "{text}"
    );

    // Not a recording at all: one line naming the file.
    let mut c = memdx();
    c.args(["heap", "report"]).arg(&exe);
    let out = run(c);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "memdx heap report: {}: not a memdx heap recording (bad magic at offset 0)\n",
            exe.display()
        )
    );
}

/// `--sample 1` records every allocation, as with `--pid`: an exact
/// recording (interval 0, the same counts as without `--sample`), not a
/// Poisson draw per byte.
#[test]
fn sample_1_records_every_allocation() {
    let scratch = Scratch::new("sample1");
    let exe = build(&scratch);
    let args = ["churn", "3000", "200"];
    let exact_rec = scratch.0.join("exact.mdxh");
    let one_rec = scratch.0.join("one.mdxh");
    assert!(heap(&exe, &exact_rec, &[], &args).status.success());
    let out = heap(&exe, &one_rec, &["--sample", "1"], &args);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("sampled:"), "{err}");
    let exact = report_json(&exact_rec, "function");
    let one = report_json(&one_rec, "function");
    assert_eq!(num(&one["sample_interval"]), 0.0);
    for field in ["allocations", "allocated_bytes", "peak_bytes"] {
        assert_eq!(num(&one[field]), num(&exact[field]), "{field}");
    }
}

/// Sampling at a mean interval of 64 KiB over 300,000 blocks of 16..4,111
/// bytes (about 620 MB allocated, 41 MB live at the peak): about 9,400
/// samples in all and 630 at the peak, so the relative standard errors are
/// about 1% (bytes and count allocated) and 4% (the peak). The test allows
/// 10% and 20%: five standard errors or more.
#[test]
fn sampled_estimates_are_within_tolerance_of_the_exact_figures() {
    let scratch = Scratch::new("sample");
    let exe = build(&scratch);
    let exact_rec = scratch.0.join("exact.mdxh");
    let sampled_rec = scratch.0.join("sampled.mdxh");
    let args = ["churn", "300000", "20000"];
    let out = heap(&exe, &exact_rec, &[], &args);
    assert!(out.status.success());
    let out = heap(&exe, &sampled_rec, &["--sample", "64KiB"], &args);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    let exact = report_json(&exact_rec, "function");
    let sampled = report_json(&sampled_rec, "function");
    assert_eq!(num(&exact["sample_interval"]), 0.0);
    assert_eq!(num(&sampled["sample_interval"]), 65536.0);
    let close = |field: &str, tolerance: f64| {
        let (e, s) = (num(&exact[field]), num(&sampled[field]));
        assert!(
            ((s - e) / e).abs() <= tolerance,
            "{field}: sampled {s} vs exact {e}"
        );
    };
    close("allocated_bytes", 0.10);
    close("allocations", 0.10);
    close("peak_bytes", 0.20);
    // The recording is smaller: about 9,400 of 600,000 events (the
    // exact recording of this regular pattern compresses about 20 times,
    // the sampled one's scattered events about 2 times).
    let (e, s) = (
        std::fs::metadata(&exact_rec).unwrap().len(),
        std::fs::metadata(&sampled_rec).unwrap().len(),
    );
    assert!(s * 2 < e, "sampled {s} bytes vs exact {e}");
}

#[test]
fn a_bad_sample_size_is_a_one_line_error() {
    let out = run({
        let mut c = memdx();
        c.args(["heap", "--sample", "lots", "/bin/true"]);
        c
    });
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("memdx heap: --sample: "), "{err}");
}

#[test]
fn an_unwritable_recording_stops_memdx_before_the_program_runs() {
    let scratch = Scratch::new("unwritable");
    let marker = scratch.0.join("ran");
    let rec = scratch.0.join("no-such-dir").join("rec.mdxh");
    let mut c = memdx();
    c.arg("heap")
        .arg("-o")
        .arg(&rec)
        .args(["/bin/sh", "-c", "touch \"$0\""])
        .arg(&marker);
    let out = run(c);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("memdx heap: {}: No such file or directory\n", rec.display())
    );
    assert!(!marker.exists(), "the program ran");

    // A program that cannot be run: 127, as shells and `memdx check`, and
    // no recording left behind.
    let rec = scratch.0.join("rec.mdxh");
    let mut c = memdx();
    c.arg("heap")
        .arg("-o")
        .arg(&rec)
        .arg("/nonexistent/program");
    let out = run(c);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "memdx heap: cannot run '/nonexistent/program': No such file or directory\n"
    );
    assert!(!rec.exists());
}

#[test]
fn threads_whose_records_interleave_in_a_burst_are_counted_exactly() {
    // Four threads write to different buffers of the runtime; each burst
    // interleaves them and the recorder orders them by time before the
    // file and the summary see them.
    let scratch = Scratch::new("threads");
    let exe = scratch.0.join("heap_threads");
    let status = Command::new("gcc")
        .args(["-O2", "-g", "-fomit-frame-pointer", "-pthread"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/heap_threads.c"))
        .arg("-o")
        .arg(&exe)
        .status()
        .expect("running gcc");
    assert!(status.success());
    let rec = scratch.0.join("rec.mdxh");
    let out = heap(&exe, &rec, &[], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"done\n");
    let r = report_json(&rec, "function");
    let worker = group(&r, "count", "worker");
    assert_eq!(num(&worker["stats"]["allocations"]), 200_400.0, "{worker}");
    assert_eq!(
        num(&worker["stats"]["allocated_bytes"]),
        4.0 * (50_000.0 * 24.0 + 100.0 * 40.0)
    );
    assert_eq!(num(&worker["stats"]["exit_blocks"]), 400.0, "{worker}");
    assert_eq!(num(&worker["stats"]["exit_bytes"]), 16_000.0, "{worker}");
}
