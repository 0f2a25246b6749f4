//! `memdx heap` over time on `tests/programs/heap_growth.c` (a cache filled
//! at start-up, a steady leak, growth given back at the three-quarter
//! mark): `report --leak-suspects` names the leak and only it, `diff`
//! between two runs and between two moments of one run shows what grew and
//! what shrank, `report --flamegraph` draws the sites.

// Test support: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use std::process::{Command, Output};
use tempfile::TempDir;

use memdx_testkit::{Deadline, DEADLINE};
use serde_json::Value;

/// A scratch directory under the cargo target dir, removed on drop.
fn scratch(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("heap-time-{name}-"))
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}

fn build(scratch: &TempDir) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/heap_growth.c");
    let exe = scratch.path().join("heap_growth");
    let out = Command::new("gcc")
        .args(["-O2", "-g", "-fomit-frame-pointer"])
        .arg(src)
        .arg("-o")
        .arg(&exe)
        .output_within(DEADLINE);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

fn memdx(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(args)
        .output_within(DEADLINE)
}

/// `memdx heap -o REC EXE ARGS`.
fn heap(exe: &Path, rec: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memdx"))
        .arg("heap")
        .arg("-o")
        .arg(rec)
        .arg(exe)
        .args(args)
        .output_within(DEADLINE)
}

fn record(exe: &Path, rec: &Path, steps: &str) {
    let out = heap(exe, rec, &[steps]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// memdx with `args`, which must succeed.
fn memdx_ok(args: &[&str]) -> Output {
    let out = memdx(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The function of a group's or suspect's first frame outside the allocator.
fn site_function(frames: &Value) -> String {
    frames
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            !f["object"]
                .as_str()
                .unwrap_or("")
                .contains("libmemdx_runtime")
        })
        .and_then(|f| f["function"].as_str())
        .unwrap_or("?")
        .to_string()
}

#[test]
fn leak_suspects_name_the_steady_leak_only() {
    let scratch = scratch("suspects");
    let exe = build(&scratch);
    let rec = scratch.path().join("run.mdxh");
    record(&exe, &rec, "300");
    let rec = rec.to_str().unwrap();
    let report = json(&memdx(&[
        "heap",
        "report",
        "--json",
        "--leak-suspects",
        "--view",
        "exit",
        rec,
    ]));
    let suspects = report["leak_suspects"].as_array().unwrap();
    let names: Vec<String> = suspects
        .iter()
        .map(|s| site_function(&s["frames"]))
        .collect();
    // The cache (1 MiB, the most live at exit) and the given-back growth are
    // not suspects.
    assert_eq!(names, vec!["leak_step"], "{report:#}");
    let s = &suspects[0];
    assert_eq!(s["last_bytes"].as_f64().unwrap(), 300.0 * 1024.0);
    assert_eq!(s["exit_blocks"].as_f64().unwrap(), 300.0);
    let rate = &s["rate"];
    assert!(rate["lower"].as_f64().unwrap() > 0.0, "{rate}");
    // 1 KiB per 2 ms step at most (the sleeps only stretch it): 512,000 B/s.
    assert!(rate["slope"].as_f64().unwrap() <= 520_000.0, "{rate}");

    let text = memdx(&["heap", "report", "--leak-suspects", "--view", "exit", rec]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("leak suspects (live bytes growing steadily and not given back"),
        "{text}"
    );
    assert!(
        text.contains("by 0x") && text.contains("leak_step (heap_growth.c:"),
        "{text}"
    );

    let bad = memdx(&[
        "heap",
        "report",
        "--leak-suspects",
        "--min-growth",
        "lots",
        rec,
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.starts_with("memdx heap report: --min-growth:") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn diff_of_two_runs_shows_the_leak_grow_and_nothing_else() {
    let scratch = scratch("diff-runs");
    let exe = build(&scratch);
    let a = scratch.path().join("a.mdxh");
    let b = scratch.path().join("b.mdxh");
    record(&exe, &a, "100");
    record(&exe, &b, "300");
    let d = json(&memdx(&[
        "heap",
        "diff",
        "--json",
        "--group-by",
        "function",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]));
    let rows = d["rows"].as_array().unwrap();
    let row = |name: &str| {
        rows.iter()
            .find(|r| site_function(&r["frames"]) == name)
            .unwrap_or_else(|| panic!("{name} missing: {d:#}"))
    };
    let leak = row("leak_step");
    assert_eq!(
        (
            leak["before"].as_f64().unwrap(),
            leak["after"].as_f64().unwrap()
        ),
        (100.0 * 1024.0, 300.0 * 1024.0)
    );
    // The largest change comes first.
    assert_eq!(site_function(&rows[0]["frames"]), "leak_step", "{d:#}");
    let cache = row("fill_cache");
    assert_eq!(cache["before"], cache["after"]);
    assert_eq!(cache["after"].as_f64().unwrap(), 16.0 * 65536.0);
    // grow_step gives everything back before the end, in both runs.
    assert!(rows
        .iter()
        .all(|r| site_function(&r["frames"]) != "grow_step" || r["after"].as_f64() == Some(0.0)));
}

#[test]
fn diff_of_two_moments_of_one_run_shows_growth_and_what_was_given_back() {
    let scratch = scratch("diff-moments");
    let exe = build(&scratch);
    let rec = scratch.path().join("run.mdxh");
    record(&exe, &rec, "300");
    let rec = rec.to_str().unwrap();
    let report = json(&memdx(&["heap", "report", "--json", rec]));
    // A moment a third into the run: before the given-back growth is freed
    // (at three quarters of the steps), after the cache was filled.
    let third = report["duration_ns"].as_f64().unwrap() / 3.0 / 1e9;
    let from = format!("{third:.3}");
    let d = json(&memdx(&[
        "heap",
        "diff",
        "--json",
        "--group-by",
        "function",
        "--from",
        &from,
        rec,
    ]));
    assert!(d["before"].as_str().unwrap().contains(" at "), "{d:#}");
    let rows = d["rows"].as_array().unwrap();
    let delta = |name: &str| {
        rows.iter()
            .find(|r| site_function(&r["frames"]) == name)
            .map(|r| r["after"].as_f64().unwrap() - r["before"].as_f64().unwrap())
            .unwrap_or_else(|| panic!("{name} missing: {d:#}"))
    };
    assert!(delta("leak_step") > 0.0, "{d:#}");
    assert!(delta("grow_step") < 0.0, "{d:#}");
    assert_eq!(delta("fill_cache"), 0.0, "{d:#}");

    // Misuse is a one-line error.
    for (args, want) in [
        (vec!["heap", "diff", rec], "give a second recording"),
        (vec!["heap", "diff", "--from", "soon", rec], "--from"),
        (
            vec!["heap", "diff", "--from", "2s", "--to", "1s", rec],
            "later than",
        ),
        (
            vec!["heap", "diff", "--of", "peak", "--to", "1s", rec],
            "--of peak",
        ),
        (
            vec!["heap", "diff", rec, "/nonexistent.mdxh"],
            "/nonexistent.mdxh",
        ),
    ] {
        let out = memdx(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(want) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_flame_graph_draws_every_site_by_the_chosen_figure() {
    let scratch = scratch("flame");
    let exe = build(&scratch);
    let rec = scratch.path().join("run.mdxh");
    record(&exe, &rec, "50");
    let svg = scratch.path().join("peak.svg");
    memdx_ok(&[
        "heap",
        "report",
        "--view",
        "peak",
        "--flamegraph",
        svg.to_str().unwrap(),
        rec.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<?xml") && text.contains("<svg"),
        "not an SVG"
    );
    for name in [
        "fill_cache (heap_growth.c:",
        "leak_step (heap_growth.c:",
        "main (heap_growth.c:",
    ] {
        assert!(text.contains(name), "{name} not in the flame graph");
    }
    // By number of allocations: 50 leak_step blocks, 50 grow_step blocks.
    let count = scratch.path().join("count.svg");
    memdx_ok(&[
        "heap",
        "report",
        "--view",
        "count",
        "--flamegraph",
        count.to_str().unwrap(),
        "--of",
        "count",
        rec.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&count).unwrap();
    assert!(
        text.contains("leak_step (heap_growth.c:") && text.contains("50 allocations"),
        "counts"
    );
}

#[test]
fn a_plot_stacks_the_largest_sites_over_time_as_svg_or_png() {
    let scratch = scratch("plot");
    let exe = build(&scratch);
    let rec = scratch.path().join("run.mdxh");
    record(&exe, &rec, "50");
    let rec = rec.to_str().unwrap();
    let svg = scratch.path().join("heap.svg");
    memdx_ok(&[
        "heap",
        "report",
        "--view",
        "peak",
        "--plot",
        svg.to_str().unwrap(),
        rec,
    ]);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg"), "not an SVG");
    for label in [
        "fill_cache (heap_growth.c:",
        "leak_step (heap_growth.c:",
        "other sites",
        "live heap (KiB)",
    ] {
        assert!(text.contains(label), "{label} not in the plot");
    }
    let png = scratch.path().join("heap.png");
    memdx_ok(&[
        "heap",
        "report",
        "--view",
        "peak",
        "--plot",
        png.to_str().unwrap(),
        rec,
    ]);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let bad = memdx(&["heap", "report", "--plot", "/tmp/heap.txt", rec]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        err.contains("must end in .svg or .png") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn a_program_that_replaces_itself_is_said_to_have_done_so() {
    let scratch = scratch("exec");
    let exe = build(&scratch);
    let rec = scratch.path().join("run.mdxh");
    let out = heap(&exe, &rec, &["exec"]);
    // /bin/true's status and output, as natively.
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("it replaced itself with another program (exec"),
        "{err}"
    );
    // A program that ends normally gets no such line.
    let rec2 = scratch.path().join("normal.mdxh");
    let out = heap(&exe, &rec2, &["5"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("replaced itself"), "{err}");
}

#[test]
fn a_statically_linked_program_is_said_to_be_unseen_before_it_runs() {
    let scratch = scratch("static");
    let src = scratch.path().join("st.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <stdlib.h>\nint main(void) { void *p = malloc(10); puts(\"ok\"); return p == 0; }\n",
    )
    .unwrap();
    let exe = scratch.path().join("st");
    let out = Command::new("gcc")
        .args(["-static", "-O2"])
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output_within(DEADLINE);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec = scratch.path().join("st.mdxh");
    let out = heap(&exe, &rec, &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .next()
            .is_some_and(|l| l.starts_with("memdx heap: warning: ")
                && l.contains("is statically linked: memdx cannot see its heap")),
        "{err}"
    );
}

/// `tests/programs/heap_quiet.c` touches an 8 MiB block and sleeps 500 ms
/// without allocating: no burst comes meanwhile, so only memdx's timer
/// (every 20 ms, every 100 ms while the resident size does not change) can
/// read its RSS while the block is live. Those readings have RSS and PSS
/// and no heap figures (those come with bursts).
#[test]
fn a_quiet_program_gets_memory_readings_between_bursts() {
    let dir = scratch("quiet");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/heap_quiet.c");
    let exe = dir.path().join("heap_quiet");
    let out = Command::new("gcc")
        .args(["-O2", "-g"])
        .arg(src)
        .arg("-o")
        .arg(&exe)
        .output_within(DEADLINE);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec = dir.path().join("quiet.mdxh");
    let out = heap(&exe, &rec, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok "));
    let report = json(&memdx_ok(&[
        "heap",
        "report",
        rec.to_str().unwrap(),
        "--json",
    ]));
    let memory = report["memory"].as_array().unwrap();
    let block = 8u64 << 20;
    let while_live: Vec<&Value> = memory
        .iter()
        .filter(|m| m["rss"].as_u64().is_some_and(|r| r >= block))
        .collect();
    // 500 ms of a resident size that does not change: one reading per
    // 100 ms (a loaded machine may delay the timer, never speed it up).
    assert!(
        while_live.len() >= 3,
        "{} readings with the block live: {memory:?}",
        while_live.len()
    );
    for w in while_live.windows(2) {
        let gap = w[1]["time"].as_u64().unwrap() - w[0]["time"].as_u64().unwrap();
        if w[0]["rss"] == w[1]["rss"] {
            // (90 ms: the time is taken just before the check of the
            // process's resident size)
            assert!(
                gap >= 90_000_000,
                "an unchanged process read again after {gap} ns: {memory:?}"
            );
        } else {
            // (19 ms: the time is taken just after the 20 ms check)
            assert!(
                gap >= 19_000_000,
                "more than one reading per 20 ms: {memory:?}"
            );
        }
    }
    for m in &while_live {
        assert!(m["pss"].as_u64().is_some(), "{m}");
        assert!(
            m["live_heap"].is_null() && m["allocator_held"].is_null(),
            "{m}"
        );
    }
    // The last burst's reading, after the release: heap figures and RSS.
    let last = memory.last().unwrap();
    assert!(
        last["live_heap"].as_u64().is_some() && last["rss"].as_u64().is_some(),
        "{last}"
    );
    let times: Vec<u64> = memory.iter().map(|m| m["time"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}
