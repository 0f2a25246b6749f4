//! The runtime's own `.eh_frame` unwinder against libgcc's: every corpus
//! program, the programs of `tests/unwind/` (dlopen/dlclose, a signal
//! handler, C++ threads and exceptions) and a few Debian programs run under
//! `memdx check` with `MEMDX_UNWIND_VERIFY`, which unwinds every captured
//! stack both ways and logs each difference. No capture may differ, and the
//! fast unwinder must have answered most of them (a fallback for every
//! capture would hide nothing but would also prove nothing).

#![allow(clippy::unwrap_used)]

mod check_util;

use memdx_testkit::{Deadline, DEADLINE};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use check_util::*;

const WATCHDOG: Duration = Duration::from_secs(120);

/// The per-process counts the runtime appends at exit.
#[derive(Default, Debug)]
struct Counts {
    fast: u64,
    fallback: u64,
    mismatches: Vec<String>,
    processes: usize,
}

fn read_counts(log: &Path) -> Counts {
    let mut c = Counts::default();
    let text = std::fs::read_to_string(log).unwrap_or_default();
    for line in text.lines() {
        if line.starts_with("memdx unwind mismatch:") {
            c.mismatches.push(line.chars().take(400).collect());
        } else if let Some(rest) = line.strip_prefix("memdx unwind: ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let field = |name: &str| -> u64 {
                words
                    .iter()
                    .position(|w| *w == name)
                    .and_then(|i| words.get(i + 1))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("bad summary line: {line}"))
            };
            c.fast += field("fast");
            c.fallback += field("fallback");
            c.processes += 1;
        }
    }
    c
}

/// Runs `memdx check OPTS -- argv` with the verify log, under a watchdog.
fn run_verified(argv: &[&str], opts: &[&str], log: &Path, what: &str) {
    let _ = std::fs::remove_file(log);
    let mut child = memdx_testkit::GroupChild::spawn(
        memdx()
            .arg("check")
            .args(opts)
            .arg("--")
            .args(argv)
            .env("MEMDX_UNWIND_VERIFY", log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .unwrap_or_else(|e| panic!("{what}: cannot start memdx: {e}"));
    if child.wait_within(WATCHDOG).is_none() {
        panic!("{what}: still running after {WATCHDOG:?}");
    }
}

fn unwind_dir() -> PathBuf {
    corpus_dir().join("../../unwind")
}

fn gcc(args: &[&str], src: &Path, out: &Path) {
    let status = Command::new("gcc")
        .args(args)
        .arg(src)
        .arg("-o")
        .arg(out)
        .status_within(DEADLINE);
    assert!(status.success(), "compiling {}", src.display());
}

#[test]
fn corpus_stacks_match_libgcc() {
    let scratch = Scratch::new("unwind-corpus");
    let log = scratch.0.join("verify.log");
    let mut total = Counts::default();
    let mut failures = Vec::new();
    for src in corpus_sources() {
        let expect = parse_expect(&std::fs::read_to_string(&src).unwrap());
        let exe = build(&src, &scratch.0, &expect.build);
        let name = src.file_name().unwrap().to_string_lossy().to_string();
        run_verified(
            &[exe.to_str().unwrap()],
            &["--leak-check=full"],
            &log,
            &name,
        );
        let c = read_counts(&log);
        if !c.mismatches.is_empty() {
            failures.push(format!("{name}: {}", c.mismatches.join("\n  ")));
        }
        total.fast += c.fast;
        total.fallback += c.fallback;
        total.processes += c.processes;
    }
    eprintln!("corpus captures: {total:?}");
    assert!(
        failures.is_empty(),
        "stacks differ from libgcc's:\n{}",
        failures.join("\n")
    );
    assert!(total.processes > 0, "no process wrote its counts");
    assert!(
        total.fast > 10 * total.fallback,
        "the fast unwinder answered too few captures: {total:?}"
    );
}

#[test]
fn dlopen_signal_and_thread_stacks_match_libgcc() {
    let scratch = Scratch::new("unwind-mix");
    let dir = unwind_dir();
    let lib = dir.join("unwind_lib_a.c");
    let a = scratch.0.join("unwind_lib_a.so");
    let b = scratch.0.join("unwind_lib_b.so");
    gcc(
        &["-O2", "-g", "-fomit-frame-pointer", "-shared", "-fPIC"],
        &lib,
        &a,
    );
    gcc(
        &["-O0", "-g", "-fno-omit-frame-pointer", "-shared", "-fPIC"],
        &lib,
        &b,
    );
    let mix = build(&dir.join("unwind_mix.c"), &scratch.0, &["-ldl".into()]);
    let threads = build(
        &dir.join("unwind_threads.cpp"),
        &scratch.0,
        &["-pthread".into()],
    );
    let log = scratch.0.join("verify.log");

    run_verified(
        &[mix.to_str().unwrap(), scratch.0.to_str().unwrap()],
        &[],
        &log,
        "unwind_mix",
    );
    let c = read_counts(&log);
    assert!(c.mismatches.is_empty(), "unwind_mix: {:?}", c.mismatches);
    assert_eq!(c.processes, 1, "unwind_mix: {c:?}");
    // The signal handler's 12 mallocs and 12 frees go to libgcc (a signal
    // frame), the rest of the captures to the fast unwinder.
    assert!(
        c.fallback >= 24,
        "signal-frame captures not handed to libgcc: {c:?}"
    );
    assert!(c.fast > 100, "unwind_mix: {c:?}");

    run_verified(&[threads.to_str().unwrap()], &[], &log, "unwind_threads");
    let c = read_counts(&log);
    assert!(
        c.mismatches.is_empty(),
        "unwind_threads: {:?}",
        c.mismatches
    );
    // A capture while another thread holds the module table's lock goes to
    // libgcc by design (try-lock, never a wait): a few may, under load.
    // (Only misses of the stack cache unwind: its threads repeat their
    // stacks, so a hundred or so unwinds are all there is to check.)
    assert!(
        c.fast > 100 && c.fallback * 20 <= c.fast,
        "unwind_threads: {c:?}"
    );
}

#[test]
fn debian_program_stacks_match_libgcc() {
    let scratch = Scratch::new("unwind-debian");
    let log = scratch.0.join("verify.log");
    let script =
        "for i in 1 2 3; do echo $(echo $i | tr 1 x) | cat; done; (ls / | wc -l) >/dev/null";
    let cases: [(&str, Vec<&str>, &[&str]); 3] = [
        ("ls", vec!["ls", "-l", "/usr/lib"], &[]),
        (
            "bash",
            vec!["bash", "-c", script],
            &["--trace-children=yes"],
        ),
        (
            "perl",
            vec![
                "perl",
                "-MPOSIX",
                "-MList::Util=sum",
                "-e",
                "print sum(1..100)",
            ],
            &[],
        ),
    ];
    for (name, argv, opts) in cases {
        if Command::new(argv[0])
            .arg("--version")
            .try_output_within(DEADLINE)
            .is_err()
        {
            memdx_testkit::tool_missing(&format!("{name} is not installed"));
            continue;
        }
        run_verified(&argv, opts, &log, name);
        let c = read_counts(&log);
        assert!(c.mismatches.is_empty(), "{name}: {:?}", c.mismatches);
        assert!(c.processes >= 1 && c.fast > 0, "{name}: {c:?}");
    }
}

/// The per-thread stack cache answers repeated stacks without unwinding
/// (`tests/unwind/stack_cache.c`): a malloc/free loop from one place (the
/// two entry points must not evict each other's entry: with the old
/// 4-entry cache they did whenever their addresses fell in one way, and
/// every capture unwound), 640 stacks taken in turn (320 call stacks, each
/// for malloc and free: the old cache held 4), four threads whose
/// caches are made and unmapped, and a tree built and freed recursively
/// four times (stacks of one depth share their first return addresses and
/// differ further out: when the set was chosen by the first return
/// address alone, they all fell in one set of 4 and every capture
/// unwound; now the first round's stacks are unwound, the other rounds'
/// mostly not). Unwinds counted by the verify mode are the misses; every
/// capture is still checked against libgcc.
#[test]
fn stack_cache_answers_repeated_stacks() {
    let scratch = Scratch::new("unwind-cache");
    let exe = build(
        &unwind_dir().join("stack_cache.c"),
        &scratch.0,
        &["-pthread".into()],
    );
    let log = scratch.0.join("verify.log");
    let pairs: u64 = 20_000;
    // (mode, captures, at most 1 in `share` of them unwound). "sites" is
    // bimodal from run to run: 641 of 40,000 captures unwound in most
    // runs, ~8,600-8,900 in about one in fifteen (main before wave 7's
    // cache: one in five, ~9,500), decided by the address-space layout;
    // not diagnosed (issue 20's notes). 1 in 3 still fails a cache that
    // misses every capture, as session 5's did.
    for (mode, captures, share) in [
        ("one", 2 * pairs, 10),
        ("sites", 2 * pairs, 3),
        ("threads", 8 * pairs, 10),
        ("tree", 8 * pairs, 3),
    ] {
        run_verified(
            &[exe.to_str().unwrap(), mode, &pairs.to_string()],
            &[],
            &log,
            mode,
        );
        let c = read_counts(&log);
        assert!(c.mismatches.is_empty(), "{mode}: {:?}", c.mismatches);
        assert_eq!(c.processes, 1, "{mode}: {c:?}");
        let unwinds = c.fast + c.fallback;
        assert!(unwinds > 0, "{mode}: nothing unwound: {c:?}");
        assert!(
            unwinds * share < captures,
            "{mode}: {unwinds} of {captures} captures unwound (cache misses): {c:?}"
        );
    }
}
