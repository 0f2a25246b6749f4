//! `memdx heap` counts the mappings a program makes itself
//! (`tests/programs/heap_mmaps.c`: known `mmap`/`munmap`/`mremap` sizes
//! from known functions, and a 4 MiB `malloc` block that glibc maps
//! itself and that stays a heap block): exact figures in the report's
//! "mapped by the program" section and its JSON, in the exact and the
//! sampled mode; under `memdx check` the program runs as natively.

// Test support: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use memdx_testkit::{Deadline, DEADLINE};
use serde_json::Value;
use tempfile::TempDir;

const MIB: u64 = 1 << 20;
const PAGE: u64 = 4096;

fn scratch(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("heap-mmaps-{name}-"))
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}

fn build(scratch: &TempDir) -> PathBuf {
    build_program(scratch, "heap_mmaps")
}

/// Compiles `tests/programs/NAME.c` into the scratch directory.
fn build_program(scratch: &TempDir, name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/programs")
        .join(format!("{name}.c"));
    let exe = scratch.path().join(name);
    let out = Command::new("gcc")
        .args(["-O1", "-g"])
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

/// `memdx heap [extra] -o REC EXE`, which must run the program as natively.
fn record(exe: &Path, rec: &Path, extra: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .arg("heap")
        .args(extra)
        .arg("-o")
        .arg(rec)
        .arg(exe)
        .output_within(DEADLINE);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn report_json(rec: &Path) -> Value {
    let out = memdx(&[
        "heap",
        "report",
        "--json",
        "--group-by",
        "function",
        rec.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `view`'s groups of the `mapped` object: function to (bytes, ranges) in
/// that view's figures (`peak_*` or `exit_*`).
fn mapped_view(report: &Value, view: &str) -> Vec<(String, u64, u64)> {
    let (bytes, ranges) = match view {
        "peak" => ("peak_bytes", "peak_blocks"),
        _ => ("exit_bytes", "exit_blocks"),
    };
    let views = report["mapped"]["views"].as_array().unwrap();
    let v = views.iter().find(|v| v["view"] == view).unwrap();
    let mut rows: Vec<(String, u64, u64)> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_string(),
                g["stats"][bytes].as_f64().unwrap() as u64,
                g["stats"][ranges].as_f64().unwrap() as u64,
            )
        })
        .filter(|r| r.1 > 0)
        .collect();
    rows.sort();
    rows
}

/// The figures the program makes exact (see its header comment).
fn assert_mapped_figures(report: &Value) {
    let m = &report["mapped"];
    assert_eq!(m["maps"], 6, "{m:#}");
    assert_eq!(m["unmaps"], 4);
    assert_eq!(m["mapped_bytes"], 5 * MIB + 2 * PAGE + 16 * PAGE);
    assert_eq!(m["peak_bytes"], 3 * MIB + 2 * PAGE + 16 * PAGE);
    assert_eq!(m["exit_bytes"], 3 * MIB + 2 * PAGE - PAGE);
    let s = |f: &str, b: u64, r: u64| (f.to_string(), b, r);
    assert_eq!(
        mapped_view(report, "peak"),
        vec![
            s("grow", 2 * MIB, 1),
            s("map_anon", MIB, 1),
            s("map_file", 2 * PAGE, 1),
            s("map_shared", 16 * PAGE, 1),
        ]
    );
    assert_eq!(
        mapped_view(report, "exit"),
        vec![
            s("grow", 2 * MIB, 1),
            s("map_anon", MIB - PAGE, 1),
            s("map_file", 2 * PAGE, 1),
        ]
    );
    // Bytes mapped over the run, per site: map_anon's three calls.
    let allocated = m["views"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["view"] == "allocated")
        .unwrap();
    let anon = allocated["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "map_anon")
        .unwrap();
    assert_eq!(anon["stats"]["allocations"], 3.0);
    assert_eq!(anon["stats"]["allocated_bytes"], (3 * MIB) as f64);
}

#[test]
fn the_programs_own_mappings_are_counted_by_site_at_the_peak_and_at_exit() {
    let scratch = scratch("exact");
    let exe = build(&scratch);
    let rec = scratch.path().join("run.mdxh");
    let out = record(&exe, &rec, &[]);
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains(
            "mapped by the program (its own mmap/mremap, not through the allocator; whole \
             pages): 6 mappings, 5,316,608 bytes mapped, 4 ranges unmapped\n  peak mapped: \
             3,219,456 bytes at "
        ),
        "{summary}"
    );
    assert!(
        summary.contains("; still mapped at exit: 3,149,824 bytes\n"),
        "{summary}"
    );
    let report = report_json(&rec);
    assert_mapped_figures(&report);
    // glibc's own 4 MiB mapping is a heap block (the heap's peak), never
    // a mapping of the program's.
    assert_eq!(report["peak_bytes"], (4 * MIB) as f64);
    let text = memdx(&["heap", "report", rec.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&text.stdout);
    let section = &text[text.find("still mapped at exit:\n").unwrap()..];
    assert!(
        section.starts_with(
            "still mapped at exit:\n  2,097,152 bytes in 1 range (of 2,097,152 bytes mapped in 1 \
             call)\n     at "
        ),
        "{section}"
    );
    // Frame 0 is the hook the program called, then its caller.
    let grow = &section[..section.find("\n  1,044,480 bytes in 1 range").unwrap()];
    assert!(grow.contains(": mremap (in "), "{grow}");
    assert!(grow.contains(": grow (heap_mmaps.c:"), "{grow}");
}

/// `memdx heap diff REC --from 0`: from the start (nothing mapped yet) to
/// the end, the mappings grow by what is still mapped at exit, per site.
#[test]
fn diff_compares_the_programs_mappings_per_site() {
    let scratch = scratch("diff");
    let exe = build(&scratch);
    let rec = scratch.path().join("run.mdxh");
    record(&exe, &rec, &[]);
    let rec = rec.to_str().unwrap();
    let args = ["heap", "diff", rec, "--from", "0", "--group-by", "function"];
    let out = memdx(&[&args[..], &["--json"]].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = &v["mapped"];
    assert_eq!(
        (m["total_before"].as_f64(), m["total_after"].as_f64()),
        (Some(0.0), Some(3_149_824.0)),
        "{m}"
    );
    let changed: Vec<(String, f64, f64, f64)> = m["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["before"] != r["after"])
        .map(|r| {
            (
                r["frames"][0]["function"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
                r["before"].as_f64().unwrap(),
                r["after"].as_f64().unwrap(),
                r["after_blocks"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        vec![
            ("grow".to_string(), 0.0, (2 * MIB) as f64, 1.0),
            ("map_anon".to_string(), 0.0, (MIB - 4096) as f64, 1.0),
            ("map_file".to_string(), 0.0, 8192.0, 1.0),
        ],
        "{m}"
    );
    let out = memdx(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    let section = &text[text
        .find("mapped by the program")
        .unwrap_or_else(|| panic!("{text}"))..];
    assert!(
        section.starts_with(
            "mapped by the program (its own mmap/mremap, whole pages): 0 -> 3,149,824 bytes \
             (+3,149,824)\n\nlargest changes first:\n  +2,097,152 bytes: 0 -> 2,097,152, 0 -> 1 \
             ranges\n     at "
        ),
        "{section}"
    );
    assert!(
        section.contains("  +8,192 bytes: 0 -> 8,192, 0 -> 1 ranges\n"),
        "{section}"
    );
}

/// `tests/programs/heap_map_growth.c`: a mapping site that maps 16 KiB
/// every 2 ms and keeps it is a leak suspect; a 1 MiB mapping made once at
/// the start and mappings all unmapped before the end are not.
#[test]
fn leak_suspects_name_a_site_whose_mappings_grow_steadily() {
    let scratch = scratch("suspects");
    let exe = build_program(&scratch, "heap_map_growth");
    let rec = scratch.path().join("run.mdxh");
    record(&exe, &rec, &[]);
    let rec = rec.to_str().unwrap();
    let out = memdx(&["heap", "report", "--json", "--leak-suspects", rec]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let suspects = report["leak_suspects"].as_array().unwrap();
    let named = |s: &Value, f: &str| {
        s["frames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|fr| fr["function"] == f)
    };
    assert_eq!(suspects.len(), 1, "{report:#}");
    let s = &suspects[0];
    assert!(named(s, "map_step"), "{s:#}");
    assert_eq!(s["mapped"], true);
    assert_eq!(s["exit_blocks"].as_f64(), Some(300.0));
    // The last bucket ends at the last record, which may be the last
    // mapping itself.
    let last = s["last_bytes"].as_f64().unwrap();
    assert!((299.0 * 16384.0..=300.0 * 16384.0).contains(&last), "{s:#}");
    // 16 KiB per 2 ms step at most (the sleeps only stretch it).
    let rate = &s["rate"];
    assert!(rate["lower"].as_f64().unwrap() > 0.0, "{rate}");
    assert!(
        rate["slope"].as_f64().unwrap() <= 8_192_000.0 * 1.02,
        "{rate}"
    );
    let out = memdx(&["heap", "report", "--leak-suspects", "--view", "exit", rec]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("bytes mapped by the program (its own mmap/mremap), 300 ranges at the end\n"),
        "{text}"
    );
    assert!(text.contains("map_step (heap_map_growth.c:"), "{text}");
}

#[test]
fn sampling_records_every_mapping() {
    let scratch = scratch("sampled");
    let exe = build(&scratch);
    let rec = scratch.path().join("run.mdxh");
    record(&exe, &rec, &["--sample", "512KiB"]);
    let report = report_json(&rec);
    assert_eq!(report["sample_interval"], 524288);
    assert_mapped_figures(&report);
}

#[test]
fn a_program_that_maps_nothing_itself_has_no_mapped_section() {
    let scratch = scratch("none");
    let src = scratch.path().join("plain.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <stdlib.h>\nint main(void) { void *p = malloc(8 << 20); \
         free(p); puts(\"ok\"); return 0; }\n",
    )
    .unwrap();
    let exe = scratch.path().join("plain");
    let out = Command::new("gcc")
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output_within(DEADLINE);
    assert!(out.status.success());
    let rec = scratch.path().join("run.mdxh");
    let out = record(&exe, &rec, &[]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("mapped by the program"));
    let report = report_json(&rec);
    assert_eq!(report["mapped"]["maps"], 0);
    assert_eq!(report["mapped"]["peak_bytes"], 0);
}

#[test]
fn under_memdx_check_the_mapping_calls_behave_as_natively() {
    let scratch = scratch("check");
    let exe = build(&scratch);
    let out = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .arg("check")
        .arg(&exe)
        .output_within(DEADLINE);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("ERROR SUMMARY: 0 errors"), "{err}");
}
