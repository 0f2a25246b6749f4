//! Re-runs the REAL procps vmstat on every fixture case (through
//! `tests/fixtures/vmstat/regen.sh --check`, in private mount namespaces)
//! and compares memdx with what it prints now, byte for byte. This catches
//! stale goldens and a procps that is not the one the goldens came from.
//!
//! Needs root (bind mounts in `unshare -m`), gcc (for fakeclock.so) and
//! procps-ng 4.0.2; without them it prints `SKIPPED: <reason>` and passes,
//! and `vmstat_golden.rs` still checks memdx against the stored goldens.

#![allow(clippy::unwrap_used)]

use memdx_testkit::{Deadline, DEADLINE};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/vmstat")
}

fn skip_reason() -> Option<String> {
    let version = Command::new("vmstat").arg("-V").try_output_within(DEADLINE);
    match version {
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains("procps-ng 4.0.2") => {}
        Ok(o) => {
            return Some(format!(
                "vmstat is not procps-ng 4.0.2: {}",
                String::from_utf8_lossy(&o.stdout).trim()
            ))
        }
        Err(e) => return Some(format!("no vmstat: {e}")),
    }
    if Command::new("gcc")
        .arg("--version")
        .try_output_within(DEADLINE)
        .is_err()
    {
        return Some("no gcc to build fakeclock.so".into());
    }
    let probe = Command::new("unshare")
        .args(["-m", "sh", "-c", "mount --bind /proc/stat /proc/stat"])
        .try_output_within(DEADLINE);
    match probe {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "cannot bind-mount in a private mount namespace (need root): {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("no unshare: {e}")),
    }
}

#[test]
fn memdx_matches_procps_run_now_on_every_fixture_case() {
    if let Some(reason) = skip_reason() {
        skip(&reason);
        return;
    }
    let out = std::env::temp_dir().join(format!("memdx-vmstat-live-{}", std::process::id()));
    let status = Command::new(fixtures().join("regen.sh"))
        .arg("--check")
        .arg(&out)
        .status_within(DEADLINE);
    assert!(status.success(), "regen.sh --check failed");

    let cases = std::fs::read_to_string(fixtures().join("cases.txt")).unwrap();
    let mut failures = Vec::new();
    let mut compared = 0;
    for line in cases
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let mut w = line.split_whitespace();
        let (fixture, name) = (w.next().unwrap(), w.next().unwrap());
        let args: Vec<&str> = w.collect();
        let procps = std::fs::read(out.join(fixture).join(format!("{name}.stdout"))).unwrap();
        let fx = fixtures().join(fixture);
        if name.starts_with("tty") || name.starts_with("tz-") {
            continue; // pty and time-zone cases: vmstat_golden.rs runs them
        }
        let memdx = Command::new(env!("CARGO_BIN_EXE_memdx"))
            .arg("vmstat")
            .args(&args)
            .env("TZ", "UTC")
            .env("LC_ALL", "C")
            .env("MEMDX_REPLAY_ROOT", &fx)
            .env("MEMDX_REPLAY_EPOCH", "1700000000")
            .output_within(DEADLINE);
        compared += 1;
        if name.starts_with("version") {
            // -V appends memdx's version (deliberate deviation).
            assert!(memdx.stdout.starts_with(procps.trim_ascii_end()));
        } else if memdx.stdout != procps {
            failures.push(format!(
                "{fixture} {name} ({}):\n--- procps now\n{}--- memdx\n{}",
                args.join(" "),
                String::from_utf8_lossy(&procps),
                String::from_utf8_lossy(&memdx.stdout)
            ));
        }
        let golden = std::fs::read(fx.join("expected").join(format!("{name}.stdout"))).unwrap();
        if golden != procps {
            failures.push(format!(
                "{fixture} {name}: stored golden is stale (rerun regen.sh)"
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    assert!(compared > 40);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A missing tool fails under `MEMDX_REQUIRE_TOOLS=1`; a machine that does
/// not allow the bind mounts (no root, no user namespaces) is skipped.
fn skip(reason: &str) {
    if reason.starts_with("cannot bind-mount") {
        println!("SKIPPED: {reason}");
    } else {
        memdx_testkit::tool_missing(reason);
    }
}
