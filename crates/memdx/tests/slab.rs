//! `memdx slab` end to end: a slabinfo series with a planted leak (made from
//! a real capture by tests/fixtures/slab/plant-leak.sh), the sysfs fallback
//! on a fake tree, bad input, and the live machine.

// Test helpers outside #[test] fns panic on purpose, like the tests.
#![allow(clippy::unwrap_used)]

use memdx_testkit::{Deadline, DEADLINE};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/slab")
}

fn memdx(args: &[&str], root: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_memdx"));
    cmd.args(args);
    match root {
        Some(r) => cmd.env("MEMDX_PROC_ROOT", r),
        None => cmd.env_remove("MEMDX_PROC_ROOT"),
    };
    cmd.output_within(DEADLINE)
}

fn series(name: &str, n: usize) -> (PathBuf, Vec<String>) {
    let dir = std::env::temp_dir().join(format!("memdx-slab-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ok = Command::new("bash")
        .arg(fixtures().join("plant-leak.sh"))
        .arg(fixtures().join("slabinfo-6.18-base.txt"))
        .arg(n.to_string())
        .arg(&dir)
        .status_within(DEADLINE);
    assert!(ok.success());
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    files.sort();
    (dir, files)
}

fn replay_json(files: &[String], extra: &[&str]) -> Value {
    let mut args = vec!["slab", "--json", "--interval", "60", "--replay"];
    args.extend(files.iter().map(String::as_str));
    args.extend_from_slice(extra);
    let out = memdx(&args, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn growing(v: &Value) -> Vec<String> {
    v["trends"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["growing"] == true)
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn planted_leak_is_the_only_growing_cache() {
    let (dir, files) = series("planted", 12);
    let v = replay_json(&files, &[]);
    assert_eq!(v["samples"], 12);
    assert_eq!(v["duration_s"], 660.0);
    assert_eq!(growing(&v), vec!["kmalloc-192"]);
    let t = &v["trends"][0];
    // 1500 objects of 192 bytes per 60 s is 4800 B/s; the dip at step 6 does not move it much.
    let slope = t["slope_bytes_per_s"].as_f64().unwrap();
    assert!((4500.0..5200.0).contains(&slope), "{slope}");
    assert!(t["p_value"].as_f64().unwrap() < 0.001);
    let noisy = v["trends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "kmalloc-64")
        .unwrap();
    assert_eq!(noisy["growing"], false);
    // Reclaimable caches are judged only when asked.
    let v = replay_json(&files, &["--include-reclaimable"]);
    let g = growing(&v);
    assert!(
        g.contains(&"dentry".to_string()) && g.contains(&"kmalloc-192".to_string()),
        "{g:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn too_few_samples_give_no_verdict() {
    let (dir, files) = series("short", 3);
    let v = replay_json(&files, &[]);
    assert_eq!(v["trends"], serde_json::json!([]));
    let mut args = vec!["slab", "--replay"];
    args.extend(files.iter().map(String::as_str));
    let out = memdx(&args, None);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Trend detection needs at least 4 samples (have 3)."),
        "{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn text_lists_caches_like_slabtop() {
    // Mann-Kendall cannot reach p < 0.01 with 5 samples; 8 are plenty.
    let (dir, files) = series("text", 8);
    let mut args = vec!["slab", "--top", "2", "--interval", "1m", "--replay"];
    args.extend(files.iter().map(String::as_str));
    let out = memdx(&args, None);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("\n  OBJS ACTIVE  USE OBJ SIZE  SLABS OBJ/SLAB CACHE SIZE NAME\n"),
        "{text}"
    );
    assert!(
        text.contains(" Growing without bound (8 samples over 420s"),
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.ends_with("ext4_inode_cache") || l.ends_with("buffer_head"))
            .count(),
        2,
        "{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_slabinfo_names_file_and_line() {
    let dir = std::env::temp_dir().join(format!("memdx-slab-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("slabinfo");
    std::fs::write(
        &bad,
        "slabinfo - version: 2.1\nkmalloc-64 12 x 64 64 1 : tunables 0 0 0 : slabdata 1 1 0\n",
    )
    .unwrap();
    let out = memdx(&["slab", "--replay", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1);
    assert!(
        err.contains(&format!(
            "{} line 2: kmalloc-64 has a non-numeric field \"x\"",
            bad.display()
        )),
        "{err}"
    );
    let out = memdx(&["slab", "--interval", "soon"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("memdx slab: --interval: 'soon' is not a duration: give seconds"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn sysfs_is_read_when_slabinfo_is_absent() {
    let dir = std::env::temp_dir().join(format!("memdx-slab-sysfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let real = dir.join("sys/kernel/slab/:0000192");
    std::fs::create_dir_all(&real).unwrap();
    for (f, v) in [
        ("objects", "4200 N0=4200"),
        ("total_objects", "4221 N0=4221"),
        ("object_size", "192"),
        ("objs_per_slab", "21"),
        ("order", "0"),
        ("slabs", "201 N0=201"),
        ("reclaim_account", "0"),
    ] {
        std::fs::write(real.join(f), format!("{v}\n")).unwrap();
    }
    // Merged caches are symlinks to one directory: listed once.
    std::os::unix::fs::symlink(":0000192", dir.join("sys/kernel/slab/kmalloc-192")).unwrap();
    std::os::unix::fs::symlink(":0000192", dir.join("sys/kernel/slab/pid")).unwrap();
    std::fs::create_dir_all(dir.join("proc")).unwrap();
    let out = memdx(&["slab", "--json"], Some(&dir));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let caches = v["caches"].as_array().unwrap();
    assert_eq!(caches.len(), 1);
    assert_eq!(caches[0]["name"], "kmalloc-192");
    assert_eq!(caches[0]["active_objs"], 4200);
    assert_eq!(caches[0]["num_slabs"], 201);
    assert_eq!(v["kernel"], Value::Null, "no meminfo in this tree");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn live_snapshot_reads_this_machine_or_says_why_not() {
    let out = memdx(&["slab", "--json"], None);
    if out.status.success() {
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["samples"], 1);
        assert!(!v["caches"].as_array().unwrap().is_empty());
        assert!(v["kernel"]["sunreclaim"].is_u64());
    } else {
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.contains("slabinfo") || err.contains("sys/kernel/slab"),
            "{err}"
        );
    }
}
