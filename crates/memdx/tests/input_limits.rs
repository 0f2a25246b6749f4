//! Inputs too large to read: every command that reads a file the user names
//! (a kmemleak report, a kernel log, slabinfo to replay, a suppression file)
//! refuses a 5 GB file with one line naming the limit, without reading it
//! (the files here are sparse: they take no disk space); standard input is
//! cut at the same limit; a 100 MB single line is handled (about twice its
//! size in memory), and an error about it does not print the line back.

// Test helpers outside #[test] fns panic on purpose, like the tests.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs memdx with `stdin` (or none), killed after a minute. Its output is
/// drained as it comes, so a huge error message cannot block it.
fn memdx(args: &[&str], stdin: Option<std::fs::File>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_memdx"));
    cmd.args(args)
        .env_remove("MEMDX_PROC_ROOT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(stdin.map_or_else(Stdio::null, Stdio::from));
    let mut child = cmd.spawn().unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            pipe.read_to_end(&mut v).unwrap();
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("memdx {args:?} did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("input_limits");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A sparse file of `len` bytes (reads as zeros, uses no disk).
fn sparse(name: &str, len: u64) -> PathBuf {
    let path = scratch(name);
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(len).unwrap();
    path
}

fn one_line_error(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

const FIVE_GB: u64 = 5 << 30;

#[test]
fn a_5_gb_kmemleak_report_kernel_log_or_slabinfo_is_refused_naming_the_limit() {
    let big = sparse("huge-report.txt", FIVE_GB);
    let big = big.to_str().unwrap();
    for (args, prefix) in [
        (vec!["kmemleak", "report", big], "memdx kmemleak: "),
        (vec!["oom", big], "memdx oom: "),
        (
            vec!["slab", "--replay", big, "--interval", "60"],
            "memdx slab: ",
        ),
    ] {
        let err = one_line_error(&memdx(&args, None));
        assert_eq!(
            err,
            format!(
                "{prefix}{big}: larger than 512 MiB, the most memdx reads of a kernel report or log \
                 (keep the part you need, e.g. with tail -c)\n"
            )
        );
    }
}

#[test]
fn endless_standard_input_is_cut_at_the_limit() {
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let err = one_line_error(&memdx(&["kmemleak", "report", "-"], Some(zero)));
    assert!(
        err.starts_with("memdx kmemleak: standard input: larger than 512 MiB"),
        "{err}"
    );
}

#[test]
fn a_5_gb_suppression_file_is_refused_naming_the_limit() {
    let big = sparse("huge.supp", FIVE_GB);
    let sarg = format!("--suppressions={}", big.display());
    let out = memdx(&["check", &sarg, "--", "true"], None);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!(
            "{}: larger than 64 MiB, the most memdx reads of a suppression file",
            big.display()
        )),
        "{err}"
    );
}

#[test]
fn a_100_mb_single_line_is_answered_without_echoing_it() {
    let path = scratch("one-line.txt");
    std::fs::write(&path, vec![b'x'; 100 << 20]).unwrap();
    let p = path.to_str().unwrap();
    let supp = format!("--suppressions={p}");
    for args in [
        vec!["kmemleak", "report", p],
        vec!["oom", p],
        vec!["slab", "--replay", p, "--interval", "60"],
        vec!["check", &supp, "--", "true"],
    ] {
        let out = memdx(&args, None);
        // Either a result or one error line; never the line itself back.
        assert!(
            out.stderr.len() < 4096,
            "{args:?}: {} bytes of stderr",
            out.stderr.len()
        );
        assert!(
            out.stdout.len() < 4096,
            "{args:?}: {} bytes of stdout",
            out.stdout.len()
        );
        assert!(
            out.status.code().is_some(),
            "{args:?} died: {:?}",
            out.status
        );
    }
    let _ = std::fs::remove_file(&path);
    // Under the suppression file's 64 MiB limit: a parse error quoting
    // the start of the line.
    let path = scratch("one-line.supp");
    std::fs::write(&path, vec![b'x'; 10 << 20]).unwrap();
    let out = memdx(
        &[
            "check",
            &format!("--suppressions={}", path.display()),
            "--",
            "true",
        ],
        None,
    );
    let err = one_line_error(&out);
    assert!(err.len() < 400, "{err}");
    assert!(
        err.contains(":1: expected '{' to start a suppression, found \"xxx"),
        "{err}"
    );
    let _ = std::fs::remove_file(&path);
}
