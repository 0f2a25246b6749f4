//! `memdx heap --pid` end to end on `tests/programs/heap_attach_target.c`
//! (and its C++ and Rust siblings), started by the test. memdx is not the
//! target's ancestor, so the targets call `prctl(PR_SET_PTRACER_ANY)`: the
//! tests run under `kernel.yama.ptrace_scope` 0 and 1 (and without Yama, as
//! on the machines here); under 2 they need root, under 3 they are skipped
//! (SKIPPED, or a failure with MEMDX_REQUIRE_TOOLS=1). A steady leak is named by the report of the
//! recording, blocks allocated before the attach are freed during and after
//! it without errors and the program's output is the same as without memdx,
//! a multi-threaded allocation loop keeps running with counts that add up
//! (and can be attached to twice), a library dlopened while attached is
//! recorded, a killed memdx leaves the program's allocator as it was, an
//! exit status is carried, and the obstacles get one-line errors.

// Test support: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use memdx_testkit::{Deadline, GroupChild, DEADLINE};
use serde_json::Value;

/// Whether ptrace may attach here: no Yama, scope 0 or 1 (the targets
/// allow any tracer), or scope 2 as root. Prints SKIPPED otherwise.
fn attach_allowed() -> bool {
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if scope <= 1 || (scope == 2 && root) {
        return true;
    }
    memdx_testkit::tool_missing(&format!("ptrace (kernel.yama.ptrace_scope is {scope})"));
    false
}

/// A scratch directory under the cargo target dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("heap-attach-{name}-{}", std::process::id()));
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

/// Builds the target as a distribution would (-O2, -g, no frame pointers).
fn build(scratch: &Scratch, extra: &[&str]) -> PathBuf {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/heap_attach_target.c");
    let exe = scratch.0.join("heap_attach_target");
    let out = Command::new("gcc")
        .args(["-O2", "-g", "-fomit-frame-pointer", "-pthread"])
        .args(extra)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output_within(DEADLINE);
    assert!(
        out.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// The target running, its stdout's lines arriving on a channel.
struct Target {
    child: GroupChild,
    lines: mpsc::Receiver<String>,
    pid: i32,
}

impl Target {
    /// Starts `exe args` and waits for its "ready PID" line.
    fn start(exe: &Path, args: &[&str]) -> Target {
        let mut cmd = Command::new(exe);
        cmd.args(args);
        let t = Target::spawn(cmd);
        assert_eq!(t.pid as u32, t.child.id());
        t
    }

    /// Starts `cmd` (the target, or a command running it) and waits for
    /// the target's "ready PID" line.
    fn spawn(mut cmd: Command) -> Target {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = GroupChild::spawn(&mut cmd).unwrap();
        let out = child.child().stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let ready = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the target says it is ready");
        let pid: i32 = ready
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {ready:?}"));
        Target { child, lines, pid }
    }

    /// Waits for the end: exit status 0 and the lines after "ready".
    fn finish(mut self) -> Vec<String> {
        let status = self
            .child
            .wait_within(DEADLINE)
            .expect("the target ends within the deadline");
        assert!(status.success(), "the target ended with {status:?}");
        let mut rest = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(10)) {
            rest.push(l);
        }
        rest
    }
}

fn memdx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_memdx"))
}

/// `memdx heap --pid PID -o REC OPTS`.
fn attach(pid: i32, rec: &Path, opts: &[&str]) -> Output {
    let out = memdx()
        .args(["heap", "--pid", &pid.to_string(), "-o"])
        .arg(rec)
        .args(opts)
        .output_within(DEADLINE);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "memdx heap --pid failed: {err}");
    assert!(err.contains(&format!("attached to process {pid}")), "{err}");
    assert!(
        err.contains(&format!("detached from process {pid}")),
        "{err}"
    );
    out
}

/// `memdx heap --pid PID -o REC OPTS` running, once it says it has
/// attached; its later stderr lines arrive on the channel.
fn attach_in_background(
    pid: i32,
    rec: &Path,
    opts: &[&str],
) -> (GroupChild, mpsc::Receiver<String>) {
    let mut cmd = memdx();
    cmd.args(["heap", "--pid", &pid.to_string(), "-o"])
        .arg(rec)
        .args(opts)
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = GroupChild::spawn(&mut cmd).unwrap();
    let err = child.child().stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("memdx says it attached");
    assert!(
        first.contains(&format!("attached to process {pid}")),
        "{first}"
    );
    (child, lines)
}

/// `memdx heap report REC --json OPTS`.
fn report(rec: &Path, opts: &[&str]) -> Value {
    let out = memdx()
        .args(["heap", "report"])
        .arg(rec)
        .arg("--json")
        .args(opts)
        .output_within(DEADLINE);
    assert!(
        out.status.success(),
        "memdx heap report: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {key} in {v}"))
}

/// Compiles `tests/programs/NAME` with `compiler args`, into the scratch dir.
fn compile(scratch: &Scratch, compiler: &str, name: &str, args: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/programs")
        .join(name);
    let exe = scratch.0.join(name.split('.').next().unwrap());
    let out = Command::new(compiler)
        .args(args)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output_within(DEADLINE);
    assert!(
        out.status.success(),
        "{compiler}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Attaches for two seconds to `exe 5` (every allocation recorded) and
/// returns the report's stack view of what is live at the detach; the
/// program's output must be the same as without memdx.
fn leak_stacks(scratch: &Scratch, exe: &Path) -> Value {
    let rec = scratch.0.join("leak.mdxh");
    let target = Target::start(exe, &["5"]);
    attach(target.pid, &rec, &["--sample", "1", "--duration", "2"]);
    assert_eq!(target.finish(), native(exe, &["0"]));
    report(&rec, &["--view", "exit"])
}

/// Whether some frame of the top group of `r`'s first view is in a
/// function whose name contains `name`.
fn top_stack_has(r: &Value, name: &str) -> bool {
    r["views"][0]["groups"][0]["frames"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["function"].as_str().is_some_and(|n| n.contains(name)))
}

#[test]
fn a_cxx_program_s_operator_new_leak_is_named() {
    if !attach_allowed() {
        return;
    }
    let scratch = Scratch::new("cxx");
    let exe = compile(
        &scratch,
        "g++",
        "heap_attach_cpp.cpp",
        &["-O2", "-g", "-fomit-frame-pointer"],
    );
    let r = leak_stacks(&scratch, &exe);
    assert!(top_stack_has(&r, "leak_node"), "{r}");
    let top = &r["views"][0]["groups"][0]["stats"];
    // 64-byte nodes, one a millisecond.
    assert!(num(top, "exit_blocks") >= 200.0, "{top}");
    assert_eq!(
        num(top, "exit_bytes"),
        num(top, "exit_blocks") * 64.0,
        "{top}"
    );
}

#[test]
fn a_rust_program_with_a_read_only_got_is_recorded() {
    if !attach_allowed() {
        return;
    }
    let scratch = Scratch::new("rust");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let exe = compile(&scratch, &rustc, "heap_attach_rust.rs", &["-O", "-g"]);
    let r = leak_stacks(&scratch, &exe);
    assert!(top_stack_has(&r, "leak_vec"), "{r}");
    let top = &r["views"][0]["groups"][0]["stats"];
    assert!(num(top, "exit_blocks") >= 200.0, "{top}");
}

/// The program's output without memdx, to compare with.
fn native(exe: &Path, args: &[&str]) -> Vec<String> {
    Target::start(exe, args).finish()
}

#[test]
fn a_steady_leak_is_named_by_the_report_of_the_attach() {
    if !attach_allowed() {
        return;
    }
    let scratch = Scratch::new("leak");
    let exe = build(&scratch, &[]);
    let rec = scratch.0.join("leak.mdxh");
    let target = Target::start(&exe, &["leak", "6"]);
    attach(target.pid, &rec, &["--sample", "1", "--duration", "2"]);
    let rest = target.finish();
    assert_eq!(rest, native(&exe, &["leak", "1"]));

    let r = report(&rec, &["--view", "exit", "--group-by", "function"]);
    assert_eq!(r["exit"]["kind"], "detached");
    assert!(num(&r, "attached_heap_bytes") > 20000.0, "{r}");
    let top = &r["views"][0]["groups"][0];
    let key = top["key"].as_str().unwrap();
    assert!(key.starts_with("leaky_site"), "top leaking site: {top}");
    // 100 bytes a millisecond for two seconds, none freed while attached.
    let leaked = num(&top["stats"], "exit_blocks");
    assert!(leaked >= 200.0, "{top}");
    assert_eq!(num(&top["stats"], "exit_bytes"), leaked * 100.0, "{top}");

    // The text report says what is not known.
    let text = memdx()
        .args(["heap", "report"])
        .arg(&rec)
        .output_within(DEADLINE);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("allocations made before the attach are not known individually"),
        "{text}"
    );
    assert!(
        text.contains("memdx detached; the process runs on"),
        "{text}"
    );
}

#[test]
fn blocks_from_before_the_attach_are_freed_during_and_after_it_and_the_output_is_unchanged() {
    if !attach_allowed() {
        return;
    }
    let scratch = Scratch::new("frees");
    let exe = build(&scratch, &[]);
    let rec = scratch.0.join("frees.mdxh");
    let expected = native(&exe, &["frees", "1"]);
    assert_eq!(expected.len(), 1, "{expected:?}");
    // 20000 blocks from before the attach, one freed a millisecond: some
    // during the attach, the rest after; ring blocks allocated while
    // attached are freed after the detach.
    let target = Target::start(&exe, &["frees", "5"]);
    std::thread::sleep(Duration::from_millis(300));
    attach(target.pid, &rec, &["--sample", "1", "--duration", "1.5"]);
    assert_eq!(target.finish(), expected);

    let r = report(&rec, &[]);
    let allocations = num(&r, "allocations");
    assert!(allocations >= 500.0, "{r}");
    // What the ring holds: at most its 64 blocks of 48 bytes are live at
    // any time (frees of blocks from before the attach are not counted).
    assert!(num(&r, "peak_blocks") <= 64.0, "{r}");
    assert!(num(&r, "exit_blocks") <= 64.0, "{r}");
    assert!(num(&r, "exit_bytes") <= 64.0 * 48.0, "{r}");
}

#[test]
fn a_multi_threaded_allocation_loop_runs_on_with_counts_that_add_up_and_can_be_attached_twice() {
    if !attach_allowed() {
        return;
    }
    let scratch = Scratch::new("threads");
    let exe = build(&scratch, &[]);
    let first = scratch.0.join("threads1.mdxh");
    let second = scratch.0.join("threads2.mdxh");
    let target = Target::start(&exe, &["threads", "6", "4"]);
    std::thread::sleep(Duration::from_millis(200));
    attach(target.pid, &first, &["--sample", "1", "--duration", "1.5"]);
    attach(
        target.pid,
        &second,
        &["--sample", "64KiB", "--duration", "1"],
    );
    let rest = target.finish();
    assert_eq!(
        rest.first().map(String::as_str),
        Some("threads done"),
        "{rest:?}"
    );
    assert_eq!(rest[1..], native(&exe, &["frees", "0"])[..]);

    let r = report(&first, &[]);
    assert!(num(&r, "allocations") >= 1000.0, "{r}");
    // Four threads hold at most 16 blocks each at any time.
    assert!(num(&r, "peak_blocks") <= 64.0, "{r}");
    assert!(num(&r, "exit_blocks") <= 64.0, "{r}");
    assert!(num(&r, "temporaries") <= num(&r, "allocations"), "{r}");
    let r2 = report(&second, &[]);
    assert_eq!(r2["sample_interval"], 65536);
    assert!(num(&r2, "allocations") > 0.0, "{r2}");
}

#[test]
fn ctrl_c_detaches_and_the_program_runs_on() {
    if !attach_allowed() {
        return;
    }
    let scratch = Scratch::new("sigint");
    let exe = build(&scratch, &[]);
    let rec = scratch.0.join("sigint.mdxh");
    let target = Target::start(&exe, &["frees", "4"]);
    let mut cmd = memdx();
    cmd.args([
        "heap",
        "--pid",
        &target.pid.to_string(),
        "--sample",
        "1",
        "-o",
    ])
    .arg(&rec)
    .stdin(Stdio::null())
    .stderr(Stdio::piped());
    let mut memdx = GroupChild::spawn(&mut cmd).unwrap();
    let err = memdx.child().stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("memdx says it attached");
    assert!(first.contains("Ctrl-C detaches"), "{first}");
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(memdx.id() as i32, libc::SIGINT) };
    let status = memdx
        .wait_within(DEADLINE)
        .expect("memdx ends after Ctrl-C");
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> =
        std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(10)).ok()).collect();
    assert!(
        rest.iter().any(|l| l.contains("detached from process")),
        "{rest:?}"
    );
    assert_eq!(target.finish(), native(&exe, &["frees", "0"]));
    let r = report(&rec, &[]);
    assert_eq!(r["exit"]["kind"], "detached");
    assert!(num(&r, "allocations") > 0.0, "{r}");
}

#[test]
fn a_process_that_ends_while_attached_leaves_a_whole_recording() {
    if !attach_allowed() {
        return;
    }
    let scratch = Scratch::new("ends");
    let exe = build(&scratch, &[]);
    let rec = scratch.0.join("ends.mdxh");
    let target = Target::start(&exe, &["leak", "2"]);
    let out = memdx()
        .args([
            "heap",
            "--pid",
            &target.pid.to_string(),
            "--sample",
            "1",
            "-o",
        ])
        .arg(&rec)
        .output_within(DEADLINE);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("ended while attached"), "{err}");
    assert!(
        err.contains("the process exited with status 0 while attached"),
        "{err}"
    );
    assert_eq!(target.finish(), native(&exe, &["leak", "0"]));
    let r = report(&rec, &["--view", "exit", "--group-by", "function"]);
    // The runtime's destructor sent the last burst, with the status.
    assert_eq!(r["exit"]["kind"], "exited", "{r}");
    assert_eq!(r["exit"]["value"], 0, "{r}");
    let top = &r["views"][0]["groups"][0];
    assert!(
        top["key"].as_str().unwrap().starts_with("leaky_site"),
        "{top}"
    );
}

#[test]
fn a_thread_asleep_in_one_long_system_call_is_attached_to_twice_and_sleeps_on() {
    if !attach_allowed() {
        return;
    }
    // coreutils' sleep does not allow any tracer: under Yama's scope 1
    // only root may attach to it.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 && Path::new("/proc/sys/kernel/yama").exists() {
        memdx_testkit::tool_missing("ptrace of sleep(1) (not root, Yama present)");
        return;
    }
    let scratch = Scratch::new("sleep");
    let mut cmd = Command::new("sleep");
    cmd.arg("4").stdin(Stdio::null());
    let mut sleeper = GroupChild::spawn(&mut cmd).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = sleeper.id() as i32;
    // The first stop interrupts clock_nanosleep, which then resumes as
    // restart_syscall: the second attach and both detaches stop it there.
    for n in 0..2 {
        let rec = scratch.0.join(format!("sleep{n}.mdxh"));
        attach(pid, &rec, &["--duration", "0.3"]);
    }
    let status = sleeper.wait_within(DEADLINE).expect("sleep ends");
    assert!(status.success(), "{status:?}");
}

#[test]
fn obstacles_get_one_line_errors() {
    if !attach_allowed() {
        return;
    }
    // No such process.
    let out = memdx()
        .args(["heap", "--pid", "999999999", "--duration", "1"])
        .output_within(DEADLINE);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim(), "memdx heap: no process 999999999");

    // Another user's process (memdx run as nobody on one of ours), when
    // the test runs as root with util-linux's setpriv.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 && Path::new("/usr/bin/setpriv").exists() {
        let mine = GroupChild::spawn(Command::new("sleep").arg("30").stdin(Stdio::null())).unwrap();
        let out = Command::new("/usr/bin/setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_memdx"))
            .args(["heap", "--pid", &mine.id().to_string()])
            .output_within(DEADLINE);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(
            err.trim(),
            format!(
                "memdx heap: process {} belongs to uid 0, not to you (uid 65534): run memdx as that user or as root",
                mine.id()
            )
        );
        drop(mine);
    }

    // A stopped process (resuming a thread for the calls would wake it).
    let mut stopped =
        GroupChild::spawn(Command::new("sleep").arg("30").stdin(Stdio::null())).unwrap();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(stopped.id() as i32, libc::SIGSTOP) };
    let spid = stopped.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(format!("/proc/{spid}/stat"))
        .unwrap_or_default()
        .contains(") T ")
    {
        assert!(std::time::Instant::now() < deadline, "sleep did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = memdx()
        .args(["heap", "--pid", &spid.to_string()])
        .output_within(DEADLINE);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("is stopped"), "{err}");
    stopped.kill_group();

    // A statically linked program.
    let scratch = Scratch::new("static");
    let exe = build(&scratch, &["-static"]);
    let target = Target::start(&exe, &["frees", "3"]);
    let out = memdx()
        .args(["heap", "--pid", &target.pid.to_string()])
        .output_within(DEADLINE);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("statically linked"), "{err}");
    assert_eq!(target.finish(), native(&exe, &["frees", "0"]));

    // A process already under memdx.
    let under_dir = Scratch::new("under");
    let dynamic = build(&under_dir, &[]);
    let mut cmd = memdx();
    cmd.args(["heap", "-o"])
        .arg(scratch.0.join("under.mdxh"))
        .arg("--")
        .arg(&dynamic)
        .args(["frees", "3"])
        .stderr(Stdio::null());
    let under = Target::spawn(cmd);
    let out = memdx()
        .args(["heap", "--pid", &under.pid.to_string(), "-o"])
        .arg(scratch.0.join("second.mdxh"))
        .output_within(DEADLINE);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("already runs under memdx"), "{err}");
    assert_eq!(under.finish(), native(&dynamic, &["frees", "0"]));
}

#[test]
fn a_library_dlopened_while_attached_is_recorded_and_its_leak_named() {
    if !attach_allowed() {
        return;
    }
    let scratch = Scratch::new("plugin");
    let exe = build(&scratch, &[]);
    let lib = scratch.0.join("libheap_attach_plugin.so");
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/heap_attach_plugin.c");
    let out = Command::new("gcc")
        .args(["-O2", "-g", "-fomit-frame-pointer", "-shared", "-fPIC"])
        .arg(&src)
        .arg("-o")
        .arg(&lib)
        .output_within(DEADLINE);
    assert!(
        out.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trigger = scratch.0.join("load-now");
    let lib_s = lib.to_str().unwrap();
    let trigger_s = trigger.to_str().unwrap();
    let rec = scratch.0.join("plugin.mdxh");
    let target = Target::start(&exe, &["plugin", "6", lib_s, trigger_s]);
    let (mut memdx, lines) =
        attach_in_background(target.pid, &rec, &["--sample", "1", "--duration", "3"]);
    // Loaded after the attach; 500 leaks of 80 bytes a millisecond apart,
    // then unloaded while memdx is still attached.
    std::fs::write(&trigger, b"").unwrap();
    let status = memdx.wait_within(DEADLINE).expect("memdx detaches");
    let rest: Vec<String> =
        std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(10)).ok()).collect();
    assert!(status.success(), "{rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("detached from process")),
        "{rest:?}"
    );
    assert_eq!(
        target.finish(),
        native(&exe, &["plugin", "0", lib_s, trigger_s])
    );
    let r = report(&rec, &["--view", "exit", "--group-by", "function"]);
    let groups = r["views"][0]["groups"].as_array().unwrap();
    let plugin = groups
        .iter()
        .find(|g| {
            g["key"]
                .as_str()
                .is_some_and(|k| k.starts_with("plugin_leak"))
        })
        .unwrap_or_else(|| panic!("no plugin_leak group: {r}"));
    let blocks = num(&plugin["stats"], "exit_blocks");
    assert!(blocks >= 100.0, "{plugin}");
    assert_eq!(
        num(&plugin["stats"], "exit_bytes"),
        blocks * 80.0,
        "{plugin}"
    );
}

#[test]
fn a_killed_memdx_leaves_the_program_s_allocator_as_it_was() {
    if !attach_allowed() {
        return;
    }
    let scratch = Scratch::new("killed");
    let exe = build(&scratch, &[]);
    let rec = scratch.0.join("killed.mdxh");
    let target = Target::start(&exe, &["threads-check", "4", "2"]);
    let (mut memdx, _lines) = attach_in_background(target.pid, &rec, &["--sample", "1"]);
    std::thread::sleep(Duration::from_millis(500));
    // SIGKILL: no detach. The runtime's next flush finds the recorder
    // gone and puts the slots back itself; the program checks at its end
    // that its GOT slot for malloc holds the C library's again.
    memdx.kill_group();
    let rest = target.finish();
    assert_eq!(rest, native(&exe, &["threads-check", "0", "2"]));
    assert!(
        rest.iter().any(|l| l == "malloc is the C library's: yes"),
        "{rest:?}"
    );
}

#[test]
fn the_exit_status_of_a_process_that_ends_while_attached_is_in_the_summary() {
    if !attach_allowed() {
        return;
    }
    let scratch = Scratch::new("status");
    let exe = build(&scratch, &[]);
    // Returning 7 from main (exit: an on_exit handler sees it), and _exit(9).
    for (how, status) in [("7", 7), ("_9", 9)] {
        let rec = scratch.0.join(format!("status{status}.mdxh"));
        let mut cmd = Command::new(&exe);
        cmd.args(["leak", "2"]).env("HEAP_ATTACH_EXIT", how);
        let mut target = Target::spawn(cmd);
        let out = memdx()
            .args([
                "heap",
                "--pid",
                &target.pid.to_string(),
                "--sample",
                "1",
                "-o",
            ])
            .arg(&rec)
            .output_within(DEADLINE);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(
            err.contains(&format!(
                "the process exited with status {status} while attached"
            )),
            "{err}"
        );
        let code = target.child.wait_within(DEADLINE).expect("the target ends");
        assert_eq!(code.code(), Some(status));
        let r = report(&rec, &[]);
        assert_eq!(r["exit"]["kind"], "exited", "{r}");
        assert_eq!(r["exit"]["value"], status, "{r}");
    }
}
