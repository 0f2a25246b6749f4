//! `memdx ps` on live processes with known memory, against the kernel's own
//! smaps_rollup, procps `ps` and `top`, and smem.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use memdx_testkit::{Deadline, DEADLINE};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

const MIB: u64 = 1024 * 1024;

/// The parent and child of tests/programs/ps_sharer.c, killed on drop.
struct Sharer {
    parent: Child,
    pids: Vec<u32>,
}

impl Drop for Sharer {
    fn drop(&mut self) {
        for pid in &self.pids {
            let _ = Command::new("kill")
                .arg(pid.to_string())
                .try_status_within(DEADLINE);
        }
        let _ = self.parent.wait();
    }
}

/// Builds tests/programs/ps_sharer.c once for all tests (tests run in
/// parallel: rebuilding while another test executes it fails with ETXTBSY).
fn sharer_binary() -> Option<&'static PathBuf> {
    static BIN: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let src =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/ps_sharer.c");
        let bin = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ps_sharer");
        let cc = Command::new("gcc")
            .args(["-O2", "-o"])
            .arg(&bin)
            .arg(&src)
            .try_status_within(DEADLINE);
        if !cc.is_ok_and(|s| s.success()) {
            println!("SKIPPED: gcc could not build {}", src.display());
            return None;
        }
        Some(bin)
    })
    .as_ref()
}

fn start_sharer() -> Option<Sharer> {
    let bin = sharer_binary()?;
    let mut parent = Command::new(bin).stdout(Stdio::piped()).spawn().unwrap();
    let stdout = parent.stdout.take().unwrap();
    let Some(lines) =
        memdx_testkit::read_lines_within(stdout, 2, std::time::Duration::from_secs(60))
    else {
        let _ = parent.kill();
        let _ = parent.wait();
        panic!("ps_sharer did not say ready twice within 60 s");
    };
    let mut pids: Vec<u32> = lines
        .iter()
        .map(|line| line.strip_prefix("ready ").unwrap().parse().unwrap())
        .collect();
    pids.sort_unstable();
    Some(Sharer { parent, pids })
}

fn memdx_ps(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .arg("ps")
        .arg("--json")
        .args(args)
        .env_remove("MEMDX_PROC_ROOT")
        .output_within(DEADLINE);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn row(v: &Value, pid: u32) -> &Value {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pid"] == pid)
        .unwrap()
}

fn rollup_kb(pid: u32, keys: &[&str]) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            keys.contains(&k)
                .then(|| v.split_whitespace().next().unwrap().parse::<u64>().unwrap())
        })
        .sum()
}

fn can_read_own_smaps() -> bool {
    std::fs::read_to_string("/proc/self/smaps_rollup").is_ok()
}

#[test]
fn pss_and_uss_reflect_known_shared_and_private_memory() {
    if !can_read_own_smaps() {
        println!("SKIPPED: /proc/self/smaps_rollup is not readable here");
        return;
    }
    let Some(s) = start_sharer() else { return };
    let pid_list = format!("{},{}", s.pids[0], s.pids[1]);
    let v = memdx_ps(&["--pid", &pid_list]);
    let (parent, child) = (row(&v, s.pids[0]), row(&v, s.pids[1]));
    let (p_uss, c_uss) = (
        parent["uss"].as_u64().unwrap(),
        child["uss"].as_u64().unwrap(),
    );
    let (p_pss, c_pss) = (
        parent["pss"].as_u64().unwrap(),
        child["pss"].as_u64().unwrap(),
    );
    // Private memory is unique to each; the 32 MiB shared is in neither USS.
    assert!((16 * MIB..24 * MIB).contains(&p_uss), "parent uss {p_uss}");
    assert!((8 * MIB..16 * MIB).contains(&c_uss), "child uss {c_uss}");
    // Each carries half of the shared 32 MiB in its PSS.
    assert!(
        p_pss >= p_uss + 16 * MIB - MIB,
        "parent pss {p_pss} uss {p_uss}"
    );
    assert!(
        c_pss >= c_uss + 16 * MIB - MIB,
        "child pss {c_pss} uss {c_uss}"
    );
    // And both match the kernel's rollup read just after. Library pages are
    // shared with every other process on the machine, so their share moves
    // as processes come and go: allow 2 MiB (these processes map less file).
    for (r, pid) in [(parent, s.pids[0]), (child, s.pids[1])] {
        let near = |ours: &Value, kib: u64| ours.as_u64().unwrap().abs_diff(kib * 1024) <= 2 * MIB;
        assert!(
            near(&r["pss"], rollup_kb(pid, &["Pss"])),
            "pss {}",
            r["pss"]
        );
        assert!(
            near(
                &r["uss"],
                rollup_kb(pid, &["Private_Clean", "Private_Dirty", "Private_Hugetlb"])
            ),
            "uss {}",
            r["uss"]
        );
        assert_eq!(
            r["swap"].as_u64().unwrap(),
            rollup_kb(pid, &["Swap"]) * 1024
        );
    }
}

#[test]
fn rss_vsz_and_shr_agree_with_ps_and_top() {
    let Some(s) = start_sharer() else { return };
    let pid = s.pids[1];
    let v = memdx_ps(&["--fast", "--pid", &pid.to_string()]);
    let r = row(&v, pid);
    let Ok(ps) = Command::new("ps")
        .args(["-o", "rss=,vsz=", "-p", &pid.to_string()])
        .try_output_within(DEADLINE)
    else {
        memdx_testkit::tool_missing("procps ps is not installed");
        return;
    };
    let ps = String::from_utf8(ps.stdout).unwrap();
    let nums: Vec<u64> = ps.split_whitespace().map(|w| w.parse().unwrap()).collect();
    assert_eq!(r["rss"].as_u64().unwrap(), nums[0] * 1024, "rss vs ps");
    assert_eq!(r["virt"].as_u64().unwrap(), nums[1] * 1024, "vsz vs ps");

    let top = Command::new("top")
        .args(["-b", "-n", "1", "-p", &pid.to_string()])
        .env("LC_ALL", "C")
        .output_within(DEADLINE);
    let top = String::from_utf8(top.stdout).unwrap();
    let header = top
        .lines()
        .find(|l| l.contains("PID") && l.contains("SHR"))
        .unwrap();
    let shr_col = header.split_whitespace().position(|w| w == "SHR").unwrap();
    let line = top
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&pid.to_string()))
        .unwrap();
    let shr_kib: u64 = line
        .split_whitespace()
        .nth(shr_col)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(r["shr"].as_u64().unwrap(), shr_kib * 1024, "shr vs top");
}

#[test]
fn pss_uss_swap_agree_with_smem() {
    if Command::new("smem")
        .arg("--version")
        .try_output_within(DEADLINE)
        .is_err()
        || !can_read_own_smaps()
    {
        memdx_testkit::tool_missing(
            "smem is not installed (apt install smem) or smaps is unreadable",
        );
        return;
    }
    let Some(s) = start_sharer() else { return };
    let v = memdx_ps(&["--pid", &format!("{},{}", s.pids[0], s.pids[1])]);
    let smem = Command::new("smem")
        .args(["-H", "-c", "pid pss uss swap", "-P", "ps_sharer"])
        .output_within(DEADLINE);
    let smem = String::from_utf8(smem.stdout).unwrap();
    let mut seen = 0;
    for line in smem.lines() {
        let n: Vec<u64> = line
            .split_whitespace()
            .map(|w| w.parse().unwrap())
            .collect();
        let Some(pid) = s.pids.iter().find(|&&p| u64::from(p) == n[0]) else {
            continue;
        };
        let r = row(&v, *pid);
        // smem sums per-mapping figures the kernel rounds down to KiB (the
        // rollup rounds once), and shared library pages change hands between
        // the two reads: allow 2 MiB, far below the 8-48 MiB measured.
        let close = |ours: u64, theirs_kib: u64| (ours / 1024).abs_diff(theirs_kib) <= 2048;
        assert!(
            close(r["pss"].as_u64().unwrap(), n[1]),
            "pss {} vs smem {}",
            r["pss"],
            n[1]
        );
        assert!(
            close(r["uss"].as_u64().unwrap(), n[2]),
            "uss {} vs smem {}",
            r["uss"],
            n[2]
        );
        assert_eq!(r["swap"].as_u64().unwrap() / 1024, n[3], "swap");
        seen += 1;
    }
    assert_eq!(seen, 2, "smem output: {smem}");
}

#[test]
fn unprivileged_user_sees_blanks_and_one_note_explaining_why() {
    let is_root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !is_root {
        println!("SKIPPED: needs root to drop to another user");
        return;
    }
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_memdx"),
            "ps",
        ])
        .env_remove("MEMDX_PROC_ROOT")
        .try_output_within(DEADLINE);
    let Ok(out) = out else {
        memdx_testkit::tool_missing("setpriv is not installed");
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("CAP_SYS_PTRACE"), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    // Root's processes (pid 1 at least) are listed with '-' for PSS and USS.
    let init = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("1"))
        .unwrap();
    let cells: Vec<&str> = init.split_whitespace().collect();
    assert_eq!((cells[3], cells[4]), ("-", "-"), "{init}");
}

#[test]
fn memdx_does_not_list_itself_unless_asked() {
    let listed = |extra: &[&str]| -> (u32, bool) {
        let child = Command::new(env!("CARGO_BIN_EXE_memdx"))
            .args(["ps", "--json", "--fast"])
            .args(extra)
            .env_remove("MEMDX_PROC_ROOT")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        // Deadline: a watchdog kills the child if it has not finished.
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(60));
            if !flag.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .try_status_within(DEADLINE);
            }
        });
        let out = child.wait_with_output().unwrap();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(out.status.success());
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let rows = v["rows"].as_array().unwrap();
        (pid, rows.iter().any(|r| r["pid"] == pid))
    };
    let (pid, seen) = listed(&[]);
    assert!(!seen, "memdx ps listed itself (pid {pid})");
    let (pid, seen) = listed(&["--include-self"]);
    assert!(seen, "--include-self did not list pid {pid}");
}
