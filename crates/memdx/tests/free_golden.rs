//! `memdx free` against golden outputs that real procps-ng 4.0.2 printed for
//! the same `/proc/meminfo` files (see tests/fixtures/free/regen.sh), and
//! against the installed procps itself when a private mount namespace is
//! allowed.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use memdx_testkit::{Deadline, DEADLINE};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/free")
}

/// Splits an options line as `sh` would for the simple quoting used in
/// options.txt (words, and '...' for a literal possibly-empty word).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                in_word = true;
            }
            ' ' if !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

fn slug(opts: &str) -> String {
    let s = if opts.is_empty() { "default" } else { opts };
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".,_-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn option_sets() -> Vec<String> {
    std::fs::read_to_string(fixtures().join("options.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("proc/meminfo").is_file())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 8,
        "expected the fixture trees, found {cases:?}"
    );
    cases
}

fn memdx_free(root: &Path, opts: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memdx"))
        .arg("free")
        .args(shell_words(opts))
        .env("MEMDX_PROC_ROOT", root)
        .output_within(DEADLINE)
}

#[test]
fn output_matches_procps_goldens_byte_for_byte() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for case in cases() {
        for opts in option_sets() {
            let stem = case.join("expected").join(slug(&opts));
            let golden = |ext: &str| std::path::PathBuf::from(format!("{}.{ext}", stem.display()));
            let out = std::fs::read(golden("out")).unwrap_or_else(|_| {
                panic!(
                    "no golden {}; run tests/fixtures/free/regen.sh",
                    stem.display()
                )
            });
            let err = std::fs::read(golden("err")).unwrap();
            let rc: i32 = std::fs::read_to_string(golden("rc"))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            let got = memdx_free(&case, &opts);
            let name = format!(
                "{} `free {opts}`",
                case.file_name().unwrap().to_string_lossy()
            );
            if got.stdout != out {
                failures.push(format!(
                    "{name}: stdout differs\n--- procps\n{}--- memdx\n{}",
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&got.stdout)
                ));
            }
            if got.stderr != err {
                failures.push(format!(
                    "{name}: stderr differs\n--- procps\n{}--- memdx\n{}",
                    String::from_utf8_lossy(&err),
                    String::from_utf8_lossy(&got.stderr)
                ));
            }
            if got.status.code() != Some(rc) {
                failures.push(format!("{name}: exit {:?}, procps {rc}", got.status.code()));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 200, "only {checked} comparisons");
}

/// Runs the installed procps `free` on a fixture meminfo via a bind mount in
/// a private mount namespace; `None` when that is not permitted here.
fn procps_free_on(meminfo: &Path, opts: &str) -> Option<Output> {
    let script = format!(
        "mount --bind '{}' /proc/meminfo && exec free {opts}",
        meminfo.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .try_output_within(DEADLINE)
        .ok()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("unshare:") || stderr.contains("mount:") {
        return None;
    }
    Some(out)
}

#[test]
fn goldens_are_what_the_installed_procps_prints_now() {
    let version = Command::new("free").arg("-V").try_output_within(DEADLINE);
    match version {
        Ok(v) if String::from_utf8_lossy(&v.stdout).contains("procps-ng 4.0.2") => {}
        _ => {
            memdx_testkit::tool_missing("procps-ng 4.0.2 `free` is not installed");
            return;
        }
    }
    let mut compared = 0;
    for case in cases() {
        for opts in [
            "",
            "-h -w -t -v -l",
            "--si -h",
            "-b -l",
            "-c 2 -s 0.01 --giga",
        ] {
            let Some(procps) = procps_free_on(&case.join("proc/meminfo"), opts) else {
                println!("SKIPPED: cannot bind-mount over /proc/meminfo here (needs root or user namespaces)");
                return;
            };
            let ours = memdx_free(&case, opts);
            assert_eq!(
                String::from_utf8_lossy(&ours.stdout),
                String::from_utf8_lossy(&procps.stdout),
                "{} `free {opts}`",
                case.display()
            );
            assert_eq!(ours.status.code(), procps.status.code());
            compared += 1;
        }
    }
    assert!(compared > 0);
}
