//! `memdx heap --trace-children=yes` on `tests/programs/heap_children.c`:
//! a fork child and a program run by a shell script each get a recording
//! of their own, named FILE.PID (or FILE with `%p` as the pid), holding
//! that process's allocations only; the summary lists them.

// Test support: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use memdx_testkit::{Deadline, DEADLINE};
use serde_json::Value;
use tempfile::TempDir;

fn scratch(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("heap-children-{name}-"))
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}

fn build(dir: &TempDir) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/heap_children.c");
    let exe = dir.path().join("heap_children");
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
    exe
}

fn memdx(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(args)
        .output_within(DEADLINE)
}

fn report(rec: &Path) -> Value {
    let out = memdx(&[
        "heap".as_ref(),
        "report".as_ref(),
        "--json".as_ref(),
        rec.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Recordings in `dir` other than `main`, by name.
fn others(dir: &Path, main: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("rec") && n != main)
        .collect();
    names.sort();
    names
}

#[test]
fn a_fork_child_gets_a_recording_of_its_own_named_by_its_pid() {
    let dir = scratch("fork");
    let exe = build(&dir);
    let rec = dir.path().join("rec.mdxh");
    let out = memdx(&[
        "heap".as_ref(),
        "--trace-children=yes".as_ref(),
        "-o".as_ref(),
        rec.as_os_str(),
        exe.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The program ran as natively: the child exited 0.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "parent 0\n");
    let children = others(dir.path(), "rec.mdxh");
    assert_eq!(children.len(), 1, "{children:?}\n{stderr}");
    let child_pid: u32 = children[0]
        .strip_prefix("rec.mdxh.")
        .unwrap()
        .parse()
        .unwrap();
    let child_rec = dir.path().join(&children[0]);
    assert!(
        stderr.contains(&format!(
            "memdx heap: process {child_pid} ({}): recording written to {} (",
            exe.display(),
            child_rec.display()
        )),
        "{stderr}"
    );
    // The parent: 1,000 bytes, then 3 x 333 kept; none of the child's.
    let parent = report(&rec);
    assert_eq!(parent["allocations"], 4.0);
    assert_eq!(parent["allocated_bytes"], 1999.0);
    assert_eq!(parent["exit_bytes"], 999.0);
    assert_ne!(parent["pid"], child_pid);
    // The child: its 10 x 777, all kept; the inherited block's release is
    // not a block of its recording.
    let child = report(&child_rec);
    assert_eq!(child["pid"], child_pid);
    assert_eq!(child["allocations"], 10.0);
    assert_eq!(child["exit_bytes"], 7770.0);
    assert_eq!(child["peak_bytes"], 7770.0);
}

#[test]
fn a_program_run_by_a_shell_script_is_recorded_under_the_pid_in_the_name() {
    let dir = scratch("script");
    let exe = build(&dir);
    let script = dir.path().join("run.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho start\n{} leak 7\necho end\n",
            exe.display()
        ),
    )
    .unwrap();
    let mut perm = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&script, perm).unwrap();
    let template = dir.path().join("rec.%p.mdxh");
    let out = memdx(&[
        "heap".as_ref(),
        "--trace-children=yes".as_ref(),
        "-o".as_ref(),
        template.as_os_str(),
        script.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "start\nend\n");
    let shell_pid = stderr
        .lines()
        .find_map(|l| l.strip_prefix("memdx heap: recording written to "))
        .and_then(|l| l.rsplit_once("rec.")?.1.split_once(".mdxh"))
        .map(|(pid, _)| pid.to_string())
        .unwrap_or_else(|| panic!("{stderr}"));
    let main = format!("rec.{shell_pid}.mdxh");
    assert!(dir.path().join(&main).exists(), "{stderr}");
    // Among the other recordings (a shell may fork before it executes the
    // program), exactly one is the program's: 7 blocks of 4,242 bytes.
    let mut found = Vec::new();
    for name in others(dir.path(), &main) {
        let r = report(&dir.path().join(&name));
        if r["exit_bytes"] == 7.0 * 4242.0 {
            found.push(name.clone());
            assert_eq!(r["allocations"], 7.0, "{name}");
            assert!(
                stderr.contains(&format!(
                    "({} leak 7): recording written to ",
                    exe.display()
                )),
                "{stderr}"
            );
        }
    }
    assert_eq!(found.len(), 1, "{found:?}\n{stderr}");
    // The shell's own recording holds none of the program's sites.
    let shell = report(&dir.path().join(&main));
    assert!(shell["allocations"].as_f64().unwrap() > 0.0);
    assert!(!shell.to_string().contains("heap_children.c"), "{shell}");
}
