//! `memdx doctor` end to end: replayed fixture trees for system states
//! (tests/fixtures/doctor: healthy, low available memory, a swap storm, OOM
//! kills, a growing slab cache), the JSON checked against the schema in
//! docs/doctor.md, and live scenarios with processes the tests start (a
//! steady leaker, a stable process, a process sharing a large mapping).
//! Every run has a deadline.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use memdx_testkit::{Deadline, GroupChild, DEADLINE};

use serde_json::Value;

const MIB: f64 = 1048576.0;

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn doctor(args: &[&str], replay: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_memdx"));
    cmd.arg("doctor").args(args).env_remove("MEMDX_PROC_ROOT");
    match replay {
        Some(state) => cmd.env(
            "MEMDX_REPLAY_ROOT",
            repo(&format!("tests/fixtures/doctor/{state}")),
        ),
        None => cmd.env_remove("MEMDX_REPLAY_ROOT"),
    };
    memdx_testkit::output_with_deadline(&mut cmd, Duration::from_secs(60))
}

fn replay(state: &str, json: bool) -> Output {
    let mut args = vec!["--duration", "4.5", "--interval", "0.5"];
    if json {
        args.push("--json");
    }
    doctor(&args, Some(state))
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn findings<'a>(v: &'a Value, id: &str) -> Vec<&'a Value> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

fn one<'a>(v: &'a Value, id: &str) -> &'a Value {
    let f = findings(v, id);
    assert_eq!(f.len(), 1, "{id} in {v:#}");
    f[0]
}

fn figure(f: &Value, name: &str) -> f64 {
    f["figures"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("no {name} in {f:#}"))
}

#[test]
fn a_healthy_machine_gets_one_line_and_status_0() {
    let out = replay("healthy", false);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(
        lines[0],
        "memdx doctor: the machine, observed 4.5 s (10 samples)"
    );
    assert!(
        lines[1].starts_with("ok       memory is fine: 11.4 GiB of 23.5 GiB available (49%)"),
        "{text}"
    );
    assert!(
        lines[1].contains("no OOM kill in the last 24.0 h"),
        "{text}"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn low_available_memory_is_critical_and_names_the_owners() {
    let out = replay("low-available", true);
    assert_eq!(out.status.code(), Some(4));
    let v = json(&out);
    assert_eq!(v["worst"], "critical");
    let f = one(&v, "pressure.mem_available");
    assert_eq!(f["severity"], "critical");
    assert_eq!(figure(f, "mem_available_bytes"), 700000.0 * 1024.0);
    let who = one(&v, "who.processes");
    assert_eq!(
        who["evidence"][0],
        "postgres (pid 812): PSS 9.2 MiB, USS 5.2 MiB, RSS 30.5 MiB"
    );
}

#[test]
fn a_swap_storm_is_critical_with_rates_over_the_window() {
    let out = replay("swap-storm", true);
    assert_eq!(out.status.code(), Some(4));
    let v = json(&out);
    assert_eq!(v["findings"][0]["severity"], "critical");
    let swap = one(&v, "pressure.swap");
    assert_eq!(swap["severity"], "critical");
    // 6,000 pages in and 8,000 out between the first and the last of 4.5 s.
    assert!((figure(swap, "swap_in_pages_per_s") - 6000.0 / 4.5).abs() < 1e-6);
    assert!((figure(swap, "swap_out_pages_per_s") - 8000.0 / 4.5).abs() < 1e-6);
    assert!(
        (figure(one(&v, "pressure.direct_reclaim"), "pgscan_direct_per_s") - 4000.0 / 4.5).abs()
            < 1e-6
    );
    assert_eq!(figure(one(&v, "pressure.psi"), "psi_full_avg10_pct"), 12.0);
}

#[test]
fn recent_oom_kills_in_the_kernel_log_are_critical() {
    let out = replay("oom-kills", false);
    assert_eq!(out.status.code(), Some(4));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("CRITICAL 2 OOM kills in the kernel log in the last 24.0 h\n         killed gradle daemon (pid 77488, rss 7.6 GiB) 10 min ago\n         killed java (pid 77120, rss 7.6 GiB) 70 min ago\n         next: memdx oom --since 24h\n"),
        "{text}"
    );
    // A shorter --since leaves the older kill out.
    let v = json(&doctor(
        &[
            "--duration",
            "1",
            "--interval",
            "0.5",
            "--since",
            "30m",
            "--json",
        ],
        Some("oom-kills"),
    ));
    assert_eq!(figure(one(&v, "pressure.oom_kills"), "oom_kills"), 1.0);
}

#[test]
fn a_growing_unreclaimable_slab_cache_points_to_kmemleak() {
    let out = replay("slab-growing", true);
    assert_eq!(out.status.code(), Some(3));
    let v = json(&out);
    let f = one(&v, "growth.slab");
    assert_eq!(
        f["title"],
        "kernel slab cache kmalloc-256 grows +1000.0 KiB/s (unreclaimable)"
    );
    // 2,000 objects of 256 bytes every 0.5 s.
    assert_eq!(figure(f, "rate_bytes_per_s"), 4000.0 * 256.0);
    assert_eq!(f["next"], "memdx kmemleak status");
}

/// The JSON schema of docs/doctor.md (the block after "```json schema").
fn schema() -> String {
    let doc = std::fs::read_to_string(repo("docs/doctor.md")).unwrap();
    let start = doc.find("```json schema\n").unwrap() + "```json schema\n".len();
    let len = doc[start..].find("```").unwrap();
    doc[start..start + len].to_string()
}

/// Validates with python's jsonschema (MEMDX_PYTHON, else python3).
fn validate(doc: &Value) -> Option<String> {
    let python = std::env::var("MEMDX_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("doctor-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("schema.json"), schema()).unwrap();
    let name = format!("doc-{}.json", doc["target"]["kind"].as_str().unwrap_or("x"));
    std::fs::write(dir.join(&name), doc.to_string()).unwrap();
    let script = "import json,sys,jsonschema\nschema=json.load(open(sys.argv[1]))\njsonschema.Draft202012Validator.check_schema(schema)\njsonschema.validate(json.load(open(sys.argv[2])), schema, cls=jsonschema.Draft202012Validator)\nprint('valid')";
    let out = memdx_testkit::output_with_deadline(
        Command::new(&python)
            .args(["-c", script])
            .arg(dir.join("schema.json"))
            .arg(dir.join(&name)),
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    if err.contains("No module named 'jsonschema'") {
        return None;
    }
    assert!(out.status.success(), "{doc:#}\ndoes not validate: {err}");
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn json_of_every_fixture_state_validates_against_the_documented_schema() {
    let schema: Value = serde_json::from_str(&schema()).unwrap();
    let documented: Vec<&str> = schema["properties"]["findings"]["items"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    for state in [
        "healthy",
        "low-available",
        "swap-storm",
        "oom-kills",
        "slab-growing",
    ] {
        let v = json(&replay(state, true));
        // Every documented field is there, and no other (without python too).
        for f in v["findings"].as_array().unwrap() {
            let mut keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            let mut want = documented.clone();
            want.sort_unstable();
            assert_eq!(keys, want, "{state}");
        }
        match validate(&v) {
            Some(ok) => assert_eq!(ok, "valid"),
            None => memdx_testkit::tool_missing("python3 with jsonschema"),
        }
    }
}

#[test]
fn bad_arguments_are_one_line_errors() {
    for (args, want) in [
        (vec!["--duration", "soon"], "memdx doctor: --duration: "),
        (vec!["4294967294"], "memdx doctor: no process 4294967294"),
        (
            vec!["--name", "("],
            "memdx doctor: --name: '(' is not a regular expression",
        ),
        (
            vec!["--duration", "1", "--interval", "2"],
            "memdx doctor: --interval: longer than --duration",
        ),
    ] {
        let out = doctor(&args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.starts_with(want) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
}

/// Builds a test program once (tests run in parallel).
fn program(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let bin = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("doctor_{name}"));
    let mut built = BUILT.lock().unwrap();
    if !built.iter().any(|b| b == name) {
        let src = repo(&format!("tests/programs/{name}.c"));
        let ok = Command::new("gcc")
            .args(["-O2", "-o"])
            .arg(&bin)
            .arg(&src)
            .try_status_within(DEADLINE)
            .is_ok_and(|s| s.success());
        assert!(ok, "gcc could not build {}", src.display());
        built.push(name.to_string());
    }
    bin
}

/// A running test program in a process group of its own: dropping it kills
/// the group (ps_sharer's child too). watch_mem also ends by itself after
/// the SECONDS it is given.
struct Prog(GroupChild);

impl Prog {
    fn start(bin: &Path, args: &[&str]) -> Self {
        Self(GroupChild::spawn(Command::new(bin).args(args).stdout(Stdio::piped())).unwrap())
    }
    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

fn growth_of<'a>(v: &'a Value, pid: &str) -> Vec<&'a Value> {
    findings(v, "growth.series")
        .into_iter()
        .filter(|f| {
            f["title"]
                .as_str()
                .unwrap()
                .starts_with(&format!("pid {pid} "))
        })
        .collect()
}

#[test]
fn a_steady_leaker_is_flagged_with_its_rate() {
    // watch_mem leak 8 30: 8 MiB more every second, paced by the clock.
    let p = Prog::start(&program("watch_mem"), &["leak", "8", "30"]);
    let out = doctor(
        &[&p.pid(), "--duration", "4", "--interval", "0.2", "--json"],
        None,
    );
    let v = json(&out);
    assert!(matches!(out.status.code(), Some(3 | 4)), "{v:#}");
    let g = growth_of(&v, &p.pid());
    assert_eq!(g.len(), 1, "{v:#}");
    assert!(
        g[0]["title"].as_str().unwrap().ends_with("(pss)"),
        "{:#}",
        g[0]
    );
    // Within 25% of the rate it was built to have (the pacing is by whole
    // seconds: 4 s hold 4 or 5 steps).
    let rate = figure(g[0], "rate_bytes_per_s") / MIB;
    assert!((rate - 8.0).abs() <= 2.0, "rate {rate} MiB/s, want 8 ± 2");
    assert_eq!(
        g[0]["next"],
        format!("memdx watch {} --duration 10m", p.pid())
    );
    let verdict = validate(&v);
    assert!(verdict.is_none_or(|ok| ok == "valid"));
}

#[test]
fn a_stable_process_is_not_flagged() {
    let p = Prog::start(&program("watch_mem"), &["stable", "64", "30"]);
    // Let it touch its 64 MiB first.
    std::thread::sleep(Duration::from_millis(700));
    let out = doctor(
        &[&p.pid(), "--duration", "3", "--interval", "0.2", "--json"],
        None,
    );
    let v = json(&out);
    assert!(growth_of(&v, &p.pid()).is_empty(), "{v:#}");
    let target = one(&v, "who.target");
    assert!(figure(target, "pss_bytes") >= 64.0 * MIB, "{target:#}");
}

#[test]
fn a_process_sharing_a_large_mapping_is_charged_its_share() {
    // ps_sharer: parent and child share 32 MiB, then touch 16 / 8 MiB each.
    let mut p = Prog::start(&program("ps_sharer"), &[]);
    let stdout = p.0.child().stdout.take().unwrap();
    let ready = memdx_testkit::read_lines_within(stdout, 2, Duration::from_secs(60));
    assert!(ready.is_some(), "ps_sharer did not say ready within 60 s");
    let parent = p.pid();
    let out = doctor(&[&parent, "--duration", "0.5", "--json"], None);
    let v = json(&out);
    let t = one(&v, "who.target");
    let (rss, pss, uss) = (
        figure(t, "rss_bytes"),
        figure(t, "pss_bytes"),
        figure(t, "uss_bytes"),
    );
    // Its own: 16 MiB private; its share of the 32 MiB: half.
    assert!(
        rss - pss >= 14.0 * MIB,
        "rss {rss} pss {pss}: blamed for the shared pages"
    );
    assert!(rss - uss >= 30.0 * MIB, "rss {rss} uss {uss}");
    assert!(
        t["evidence"][0]
            .as_str()
            .unwrap()
            .contains("of its RSS is shared"),
        "{t:#}"
    );
}
