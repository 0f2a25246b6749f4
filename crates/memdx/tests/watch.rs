//! `memdx watch` end to end: real processes with known memory shapes
//! (tests/programs/watch_mem.c: a steady leaker, a stable process, a
//! sawtooth, a step), a cgroup when the machine lets us create one, and the
//! cgroup fixture tree through MEMDX_PROC_ROOT. Every run has a deadline.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use memdx_testkit::{Deadline, DEADLINE};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const MIB: f64 = 1048576.0;

/// Builds tests/programs/watch_mem.c once (tests run in parallel).
fn program() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let src =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/watch_mem.c");
        let bin = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("watch_mem");
        let ok = Command::new("gcc")
            .args(["-O2", "-o"])
            .arg(&bin)
            .arg(&src)
            .try_status_within(DEADLINE)
            .is_ok_and(|s| s.success());
        assert!(ok, "gcc could not build {}", src.display());
        bin
    })
}

/// A running watch_mem, killed and reaped on drop.
struct Prog(Child);

impl Prog {
    fn start(args: &[&str]) -> Self {
        Self(Command::new(program()).args(args).spawn().unwrap())
    }
    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for Prog {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for `child` (the leader of its own process group) with a
/// deadline; kills its whole group and fails past the deadline.
fn finish(mut child: Child, deadline: Duration) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > deadline {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .try_status_within(DEADLINE);
            let out = child.wait_with_output().unwrap();
            panic!(
                "memdx watch still running after {deadline:?}; stdout: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn spawn_watch(args: &[&str], root: Option<&Path>) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_memdx"));
    cmd.arg("watch")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    match root {
        Some(r) => cmd.env("MEMDX_PROC_ROOT", r),
        None => cmd.env_remove("MEMDX_PROC_ROOT"),
    };
    cmd.spawn().unwrap()
}

fn watch(args: &[&str], root: Option<&Path>) -> Output {
    finish(spawn_watch(args, root), Duration::from_secs(60))
}

/// The JSON lines of a `--json` run: samples, then the verdict.
fn json_lines(out: &Output) -> (Vec<Value>, Value) {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let verdict = lines.pop().unwrap();
    assert_eq!(verdict["type"], "verdict", "{text}");
    assert!(lines.iter().all(|l| l["type"] == "sample"));
    (lines, verdict)
}

fn verdict_kind(v: &Value) -> &str {
    v["analysis"]["verdict"]["verdict"].as_str().unwrap()
}

#[test]
fn a_steady_leaker_is_growing_at_its_rate_and_fails_the_growth_limit() {
    let p = Prog::start(&["leak", "8", "60"]);
    let out = watch(
        &[
            &p.pid(),
            "--interval",
            "0.1",
            "--duration",
            "4",
            "--json",
            "--fail-on-growth",
            "1MiB/s",
        ],
        None,
    );
    let (samples, v) = json_lines(&out);
    assert!(samples.len() >= 20, "{}", samples.len());
    assert_eq!(verdict_kind(&v), "growing", "{v}");
    assert_eq!(v["metric"], "pss");
    let rate = &v["analysis"]["verdict"]["rate"];
    let slope = rate["slope"].as_f64().unwrap();
    assert!((slope - 8.0 * MIB).abs() < 0.25 * 8.0 * MIB, "{rate}");
    assert!(rate["lower"].as_f64().unwrap() > 1.0 * MIB, "{rate}");
    // The sampled figures agree with each other: PSS ≈ USS ≈ anon for private memory.
    let last = samples.last().unwrap();
    let (pss, uss) = (last["pss"].as_f64().unwrap(), last["uss"].as_f64().unwrap());
    assert!((pss - uss).abs() < 2.0 * MIB, "{last}");
    assert!(
        v["text"]
            .as_str()
            .unwrap()
            .starts_with("growing steadily: PSS +"),
        "{v}"
    );
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("exceeds --fail-on-growth 1MiB/s"), "{err}");
}

#[test]
fn a_stable_process_is_stable_and_passes_the_growth_limit() {
    let p = Prog::start(&["stable", "20", "60"]);
    let out = watch(
        &[
            &p.pid(),
            "--interval",
            "0.1",
            "--duration",
            "3",
            "--warmup",
            "0.5",
            "--fail-on-growth",
            "100KiB/s",
        ],
        None,
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No progress line when stderr is not a terminal.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdict = text.lines().last().unwrap();
    assert!(
        verdict.starts_with("verdict: stable: PSS between 2"),
        "{text}"
    );
    assert!(text.contains("stopped: duration reached after 3"), "{text}");
    // The header names the columns; every sample line has one figure per column.
    assert!(text
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .eq(["TIME", "RSS", "PSS", "USS", "SWAP", "ANON", "TREND"]));
}

#[test]
fn a_sawtooth_is_not_called_a_leak() {
    let p = Prog::start(&["sawtooth", "16", "0.8", "60"]);
    let out = watch(
        &[
            &p.pid(),
            "--interval",
            "0.1",
            "--duration",
            "6",
            "--warmup",
            "0.5",
            "--json",
        ],
        None,
    );
    let (_, v) = json_lines(&out);
    assert_eq!(verdict_kind(&v), "sawtooth", "{v}");
    let period = v["analysis"]["verdict"]["period_s"].as_f64().unwrap();
    assert!((0.6..=1.1).contains(&period), "{v}");
    let amplitude = v["analysis"]["verdict"]["amplitude_bytes"]
        .as_f64()
        .unwrap();
    assert!(amplitude > 8.0 * MIB && amplitude < 17.0 * MIB, "{v}");
    assert!(
        v["analysis"]["verdict"]["releases"].as_u64().unwrap() >= 4,
        "{v}"
    );
}

#[test]
fn one_allocation_then_nothing_is_a_step() {
    let p = Prog::start(&["step", "64", "1.5", "60"]);
    let out = watch(
        &[&p.pid(), "--interval", "0.1", "--duration", "4", "--json"],
        None,
    );
    let (_, v) = json_lines(&out);
    assert_eq!(verdict_kind(&v), "step", "{v}");
    let d = &v["analysis"]["verdict"];
    let jump = d["after_bytes"].as_f64().unwrap() - d["before_bytes"].as_f64().unwrap();
    assert!((jump - 64.0 * MIB).abs() < 2.0 * MIB, "{v}");
    let at = d["at_t"].as_f64().unwrap();
    assert!((1.0..3.0).contains(&at), "{v}");
}

#[test]
fn watching_ends_when_the_process_exits() {
    let p = Prog::start(&["leak", "4", "2"]);
    let out = watch(&[&p.pid(), "--interval", "0.1"], None);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("stopped: process {} exited", p.pid())),
        "{text}"
    );
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("verdict: growing steadily"),
        "{text}"
    );
}

#[test]
fn ctrl_c_stops_sampling_and_prints_the_verdict() {
    let p = Prog::start(&["stable", "4", "60"]);
    let child = spawn_watch(&[&p.pid(), "--interval", "0.1"], None);
    std::thread::sleep(Duration::from_millis(1500));
    unsafe_free_kill(child.id(), "-INT");
    let out = finish(child, Duration::from_secs(20));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("stopped: interrupted after"), "{text}");
    assert!(
        text.lines().last().unwrap().starts_with("verdict: "),
        "{text}"
    );
}

/// Sends a signal with kill(1) (no unsafe in tests).
fn unsafe_free_kill(pid: u32, signal: &str) {
    assert!(Command::new("kill")
        .args([signal, &pid.to_string()])
        .status_within(DEADLINE)
        .success());
}

#[test]
fn a_name_regex_sums_the_matching_processes() {
    // A name no other test's processes have (comm keeps 15 characters).
    let bin = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("watch_mem_group");
    if !bin.exists() {
        // Copied by cp, not by this process: a file this process held open
        // for writing would be inherited by a child another test thread
        // forks at that moment, and exec'ing it would fail with ETXTBSY.
        let tmp = bin.with_extension(format!("tmp{}", std::process::id()));
        assert!(Command::new("cp")
            .arg(program())
            .arg(&tmp)
            .status_within(DEADLINE)
            .success());
        std::fs::rename(&tmp, &bin).unwrap();
    }
    let start = || {
        Prog(
            Command::new(&bin)
                .args(["stable", "8", "60"])
                .spawn()
                .unwrap(),
        )
    };
    let (a, b) = (start(), start());
    // Both have started and touched their memory.
    std::thread::sleep(Duration::from_millis(300));
    let out = watch(
        &[
            "--name",
            "^watch_mem_group$",
            "--interval",
            "0.1",
            "--duration",
            "1",
            "--json",
        ],
        None,
    );
    let (samples, _) = json_lines(&out);
    let last = samples.last().unwrap();
    assert_eq!(last["processes"], 2, "{last}");
    let uss = last["uss"].as_f64().unwrap();
    assert!(uss > 16.0 * MIB && uss < 20.0 * MIB, "{last}");
    drop((a, b));
}

#[test]
fn the_cgroup_fixture_is_read_through_memdx_proc_root() {
    let root =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/cgroup/v2-unified");
    for path in [
        "/system.slice/web.service",
        "/sys/fs/cgroup/system.slice/web.service",
    ] {
        let out = watch(
            &[
                "--cgroup",
                path,
                "--interval",
                "0.05",
                "--duration",
                "0.6",
                "--json",
            ],
            Some(&root),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (samples, v) = json_lines(&out);
        assert_eq!(samples[0]["current"], 322_961_408);
        assert_eq!(samples[0]["working_set"], 322_961_408 - 73_400_320);
        assert_eq!(samples[0]["anon"], 209_715_200);
        assert_eq!(samples[0]["swap"], 1_048_576);
        assert_eq!(v["metric"], "working_set");
        assert_eq!(verdict_kind(&v), "stable", "{v}");
        assert_eq!(v["analysis"]["verdict"]["rate"]["slope"], 0.0);
    }
}

#[test]
fn a_cgroup_v1_fixture_is_read_with_its_hierarchical_totals() {
    let root =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/cgroup/v1-hybrid");
    for path in [
        "/system.slice/web.service",
        "/sys/fs/cgroup/memory/system.slice/web.service",
    ] {
        let out = watch(
            &[
                "--cgroup",
                path,
                "--interval",
                "0.05",
                "--duration",
                "0.6",
                "--json",
            ],
            Some(&root),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (samples, v) = json_lines(&out);
        // usage_in_bytes; usage - total_inactive_file (the kubelet's v1
        // working set); total_rss; total_cache; memsw - usage.
        assert_eq!(samples[0]["current"], 322_961_408);
        assert_eq!(samples[0]["working_set"], 249_561_088);
        assert_eq!(samples[0]["anon"], 209_715_200);
        assert_eq!(samples[0]["file"], 104_857_600);
        assert_eq!(samples[0]["swap"], 1_048_576);
        assert_eq!(v["metric"], "working_set");
        assert_eq!(verdict_kind(&v), "stable", "{v}");
        assert_eq!(
            v["limit"]["event"],
            "the cgroup limit (memory.limit_in_bytes 512.0 MiB) is reached"
        );
        assert_eq!(v["limit"]["remaining_bytes"], 536_870_912.0 - 322_961_408.0);
    }
}

#[test]
fn bad_input_is_one_line_naming_the_value() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let cases: [(&[&str], Option<PathBuf>, &str); 7] = [
        (
            &["1", "--interval", "soon"],
            None,
            "memdx watch: --interval: 'soon' is not a duration",
        ),
        (
            &["1", "--duration", "5x"],
            None,
            "memdx watch: --duration: '5x' is not a duration",
        ),
        (
            &["1", "--fail-on-growth", "5MiB"],
            None,
            "memdx watch: --fail-on-growth: '5MiB' is not a rate",
        ),
        (
            &["1", "--metric", "vsz"],
            None,
            "memdx watch: --metric: 'vsz' is not one of rss, pss, uss, swap, anon",
        ),
        (&["4294967295"], None, "memdx watch: no process 4294967295"),
        (
            &["--name", "("],
            None,
            "memdx watch: --name: '(' is not a regular expression: unclosed group",
        ),
        (
            &["--cgroup", "/docker"],
            Some(fixtures.join("ps/cgroup-v1-docker")),
            "memdx watch: --cgroup /docker: no cgroup hierarchy with memory accounting under",
        ),
    ];
    for (args, root, want) in cases {
        let out = watch(args, root.as_deref());
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(want), "{args:?}: {err}");
    }
    let out = watch(
        &["--cgroup", "/nomem"],
        Some(&fixtures.join("cgroup/v2-unified")),
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("the memory controller is not enabled"),
        "{err}"
    );
}

/// A cgroup v2 directory with the memory controller that we may create
/// children in, or why not.
fn cgroup_parent() -> Result<PathBuf, String> {
    let mount = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .map(PathBuf::from)
        .find(|d| d.join("cgroup.controllers").is_file())
        .ok_or("no cgroup v2 hierarchy mounted")?;
    let controllers = std::fs::read_to_string(mount.join("cgroup.controllers")).unwrap_or_default();
    if !controllers.split_whitespace().any(|c| c == "memory") {
        return Err(format!(
            "the memory controller is not available in {} (controllers: '{}')",
            mount.display(),
            controllers.trim()
        ));
    }
    let subtree = std::fs::read_to_string(mount.join("cgroup.subtree_control")).unwrap_or_default();
    if !subtree.split_whitespace().any(|c| c == "memory")
        && std::fs::write(mount.join("cgroup.subtree_control"), "+memory").is_err()
    {
        return Err(format!(
            "cannot enable +memory in {}/cgroup.subtree_control",
            mount.display()
        ));
    }
    Ok(mount)
}

#[test]
fn a_leaking_cgroup_is_growing_towards_its_limit() {
    let parent = match cgroup_parent() {
        Ok(p) => p,
        Err(reason) => {
            println!("SKIPPED: cannot create a cgroup here: {reason}");
            return;
        }
    };
    let dir = parent.join(format!("memdx-watch-test-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir(&dir) {
        println!(
            "SKIPPED: cannot create a cgroup here: mkdir {}: {e}",
            dir.display()
        );
        return;
    }
    let p = Prog::start(&["leak", "8", "60"]);
    std::fs::write(dir.join("memory.max"), "536870912").unwrap();
    std::fs::write(dir.join("cgroup.procs"), p.pid()).unwrap();
    let rel = dir
        .strip_prefix(&parent)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let out = watch(
        &[
            "--cgroup",
            &format!("/{rel}"),
            "--interval",
            "0.1",
            "--duration",
            "4",
            "--json",
        ],
        None,
    );
    drop(p);
    let _ = std::fs::remove_dir(&dir);
    let (_, v) = json_lines(&out);
    assert_eq!(verdict_kind(&v), "growing", "{v}");
    let slope = v["analysis"]["verdict"]["rate"]["slope"].as_f64().unwrap();
    assert!((slope - 8.0 * MIB).abs() < 0.3 * 8.0 * MIB, "{v}");
    assert!(
        v["text"]
            .as_str()
            .unwrap()
            .contains("the cgroup limit (memory.max 512.0 MiB) is reached in"),
        "{v}"
    );
}

#[test]
fn a_terminal_gets_a_progress_line_that_is_cleared_before_each_sample() {
    let Some(script) = ["/usr/bin/script", "/bin/script"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
    else {
        println!("SKIPPED: script(1) (util-linux) is not installed");
        return;
    };
    let p = Prog::start(&["stable", "4", "60"]);
    let command = format!(
        "{} watch {} --interval 0.5 --duration 1.5",
        env!("CARGO_BIN_EXE_memdx"),
        p.pid()
    );
    let child = Command::new(script)
        .args(["-qec", &command, "/dev/null"])
        .env_remove("MEMDX_PROC_ROOT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let out = finish(child, Duration::from_secs(30));
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{tty}");
    assert!(
        tty.contains(&format!("watching pid {} (watch_mem): 1 samples", p.pid())),
        "{tty}"
    );
    // Each sample line starts on a cleared line, not after the progress text.
    for line in tty
        .lines()
        .filter(|l| l.contains("MiB") && !l.contains("verdict:"))
    {
        let visible = line.rsplit("\x1b[K").next().unwrap();
        assert!(
            visible
                .trim_start()
                .starts_with(|c: char| c.is_ascii_digit()),
            "{line:?}"
        );
    }
}
