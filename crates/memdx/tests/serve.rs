//! `memdx serve` end to end: the exposition checked by `promtool check
//! metrics`, concurrent scrapes, a taken port, and a real Prometheus server
//! scraping memdx, queried through its HTTP API and compared with /proc.
//! Without prometheus/promtool the tests print SKIPPED, or fail when
//! MEMDX_REQUIRE_TOOLS=1 (as .ci/run sets it after installing them).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use memdx_testkit::{Deadline, DEADLINE};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const MIB: f64 = 1048576.0;

/// The tool's path, or None after printing SKIPPED (a failure when tools are required).
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("MEMDX_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{name} is not installed and MEMDX_REQUIRE_TOOLS=1 (apt-get install prometheus)"
        );
        println!("SKIPPED: {name} is not installed (Debian package prometheus)");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed and reaped on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `memdx serve` on a free loopback port, once it accepts connections.
fn serve() -> (Running, u16) {
    serve_with(&[])
}

/// `memdx serve EXTRA...` on a free loopback port, once it accepts connections.
fn serve_with(extra: &[&str]) -> (Running, u16) {
    serve_in(None, extra)
}

/// `memdx serve EXTRA...` reading the tree `root` (MEMDX_PROC_ROOT), or the machine.
fn serve_in(root: Option<&Path>, extra: &[&str]) -> (Running, u16) {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_memdx"));
    command.env_remove("MEMDX_PROC_ROOT");
    if let Some(root) = root {
        command.env("MEMDX_PROC_ROOT", root);
    }
    let child = command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let running = Running(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "memdx serve did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (running, port)
}

/// GET `path` (HTTP/1.0), returning the status line's code, the headers and the body.
fn get(port: u16, path: &str, accept: Option<&str>) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{accept}\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, head.to_string(), body.to_string())
}

fn meminfo_kib(key: &str) -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn promtool_accepts_the_exposition() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    // Watching this test process, so the trend gauges are linted too.
    let me = std::process::id().to_string();
    let (_serve, port) = serve_with(&["--watch", &me, "--watch-interval", "0.1"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (code, head, body) = loop {
        let (code, head, body) = get(port, "/metrics", None);
        if body.contains("memdx_trend_verdict{") || Instant::now() > deadline {
            break (code, head, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(code, 200);
    assert!(body.contains("memdx_trend_verdict{"), "{body}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    // The exposition through a file as promtool's stdin, under a deadline.
    let body_file = std::env::temp_dir().join(format!("memdx-serve-body-{}", std::process::id()));
    std::fs::write(&body_file, body.as_bytes()).unwrap();
    let out = memdx_testkit::try_output_with_deadline(
        Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(&body_file).unwrap()),
        DEADLINE,
    );
    let _ = std::fs::remove_file(&body_file);
    let out = out.unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    // 0: clean; 3: naming lint only (node_exporter's camelCase meminfo names). 1 would be a format error.
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "promtool: {:?}\n{report}",
        out.status
    );
    for line in report.lines() {
        assert!(
            line.contains("camelCase"),
            "lint beyond node_exporter's names: {line}"
        );
    }
    // The OpenMetrics form when asked for it.
    let (_, head, body) = get(
        port,
        "/metrics",
        Some("application/openmetrics-text; version=1.0.0"),
    );
    assert!(head.contains("application/openmetrics-text"), "{head}");
    assert!(body.ends_with("# EOF\n"));
}

#[test]
fn concurrent_scrapes_are_all_answered() {
    let (_serve, port) = serve();
    let handles: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || get(port, "/metrics", None)))
        .collect();
    for h in handles {
        let (code, _, body) = h.join().unwrap();
        assert_eq!(code, 200);
        assert!(body.contains("\nnode_memory_MemAvailable_bytes "), "{body}");
        assert!(
            body.contains("namedprocess_namegroup_memory_bytes{"),
            "{body}"
        );
    }
    assert_eq!(get(port, "/nothing", None).0, 404);
}

#[test]
fn a_taken_port_is_one_clear_line() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(["serve", "--listen", &addr])
        .output_within(DEADLINE);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err,
        format!("memdx serve: cannot listen on {addr}: Address already in use (os error 98)\n")
    );
}

#[test]
fn help_shows_a_scrape_config_and_an_alert_rule() {
    let out = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(["serve", "--help"])
        .output_within(DEADLINE);
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(
        help.contains("scrape_configs:") && help.contains("targets: ['127.0.0.1:9977']"),
        "{help}"
    );
    assert!(
        help.contains("predict_linear(node_memory_MemAvailable_bytes[1h]"),
        "{help}"
    );
    assert!(
        help.contains("expr: memdx_trend_time_to_limit_seconds < 3600"),
        "{help}"
    );
    // Both blocks, copied from the help as they are, are valid for promtool.
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let block = |start: &str| -> String {
        let lines: Vec<&str> = help
            .lines()
            .skip_while(|l| !l.starts_with(start))
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(|l| l.strip_prefix("  ").unwrap_or(l))
            .collect();
        assert!(!lines.is_empty(), "no block after {start:?} in\n{help}");
        lines.join("\n") + "\n"
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-help");
    std::fs::create_dir_all(&dir).unwrap();
    for (file, start, check) in [
        ("prometheus.yml", "Prometheus scrape config", "config"),
        ("rules.yml", "Alert rules", "rules"),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, block(start)).unwrap();
        let out = Command::new(&promtool)
            .args(["check", check])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool check {check} on the help's {file}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Builds tests/programs/watch_mem.c as `name`, a name no other process has.
fn probe_program(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/watch_mem.c");
    let bin = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let ok = Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&bin)
        .arg(&src)
        .status_within(DEADLINE)
        .success();
    assert!(ok, "gcc failed on {}", src.display());
    bin
}

/// The result of `query` now (empty when no series matches).
fn query_once(port: u16, query: &str) -> Vec<Value> {
    let encoded: String = query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (code, _, body) = get(port, &format!("/api/v1/query?query={encoded}"), None);
    assert_eq!(code, 200, "{query}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// Queries Prometheus until `query` has a result (scrapes take a moment).
fn query(port: u16, query: &str, deadline: Instant) -> Vec<Value> {
    let encoded: String = query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            drop(s);
            let (code, _, body) = get(port, &format!("/api/v1/query?query={encoded}"), None);
            if code == 200 {
                let v: Value = serde_json::from_str(&body).unwrap();
                let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
                if !result.is_empty() {
                    return result;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus has no result for {query}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn value_of(result: &[Value]) -> f64 {
    result[0]["value"][1].as_str().unwrap().parse().unwrap()
}

/// A Prometheus server (temp config and TSDB, free loopback port) scraping
/// memdx on `target_port` every second; stopped and cleaned up on drop.
struct Prometheus {
    port: u16,
    dir: PathBuf,
    child: Running,
}

impl Prometheus {
    fn start(prometheus: &Path, target_port: u16, tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("memdx-serve-prom-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: memdx\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Running(
            Command::new(prometheus)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
                .spawn()
                .unwrap(),
        );
        Self { port, dir, child }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // The server is stopped first (fields drop after this body runs),
        // so stop it here before removing its TSDB.
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn prometheus_scrapes_memdx_and_agrees_with_proc() {
    let Some(prometheus) = tool("prometheus") else {
        return;
    };
    let probe = Running(
        Command::new(probe_program("promprobe"))
            .args(["stable", "32", "300"])
            .spawn()
            .unwrap(),
    );
    let (_serve, port) = serve();
    let prom = Prometheus::start(&prometheus, port, "proc");
    let prom_port = prom.port;
    let deadline = Instant::now() + Duration::from_secs(120);
    let avail = value_of(&query(
        prom_port,
        "node_memory_MemAvailable_bytes",
        deadline,
    ));
    let now = meminfo_kib("MemAvailable") * 1024.0;
    assert!(
        (avail - now).abs() < 0.1 * now,
        "Prometheus {avail} vs /proc {now}"
    );

    // The probe's resident memory: 32 MiB touched, plus the program itself.
    let status = std::fs::read_to_string(format!("/proc/{}/status", probe.0.id())).unwrap();
    let rss_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let series = query(
        prom_port,
        r#"namedprocess_namegroup_memory_bytes{groupname="promprobe",memtype="resident"}"#,
        deadline,
    );
    let resident = value_of(&series);
    assert!(
        (resident - rss_kib * 1024.0).abs() < 2.0 * MIB,
        "Prometheus {resident} vs VmRSS {rss_kib} KiB"
    );
    assert!(resident > 32.0 * MIB, "{resident}");
    let up = query(prom_port, r#"up{job="memdx"}"#, deadline);
    assert_eq!(value_of(&up), 1.0);
}

#[test]
fn prometheus_scrapes_the_trend_gauges_of_watched_processes() {
    let Some(prometheus) = tool("prometheus") else {
        return;
    };
    let program = probe_program("promtrend");
    let leaker = Running(
        Command::new(&program)
            .args(["leak", "2", "120"])
            .spawn()
            .unwrap(),
    );
    let stable = Running(
        Command::new(&program)
            .args(["stable", "16", "120"])
            .spawn()
            .unwrap(),
    );
    let (leak_pid, stable_pid) = (leaker.0.id().to_string(), stable.0.id().to_string());
    let (_serve, port) = serve_with(&[
        "--watch",
        &leak_pid,
        "--watch",
        &stable_pid,
        "--watch-name",
        "^promtrend$",
        "--watch-interval",
        "0.2",
        "--watch-warmup",
        "1",
    ]);
    let prom = Prometheus::start(&prometheus, port, "trend");
    let deadline = Instant::now() + Duration::from_secs(120);
    let leak = format!(r#"kind="pid",target="{leak_pid}",metric="pss""#);
    let calm = format!(r#"kind="pid",target="{stable_pid}",metric="pss""#);
    query(
        prom.port,
        &format!(r#"memdx_trend_verdict{{{leak},verdict="growing"}} == 1"#),
        deadline,
    );
    query(
        prom.port,
        &format!(r#"memdx_trend_verdict{{{calm},verdict="stable"}} == 1"#),
        deadline,
    );
    query(
        prom.port,
        r#"memdx_trend_verdict{kind="name",target="^promtrend$",verdict="growing"} == 1"#,
        deadline,
    );

    let figure = |name: &str, labels: &str| -> Option<f64> {
        let r = query_once(prom.port, &format!("{name}{{{labels}}}"));
        (!r.is_empty()).then(|| value_of(&r))
    };
    let slope = figure("memdx_trend_slope_bytes_per_second", &leak).unwrap();
    let lower = figure("memdx_trend_slope_lower_bytes_per_second", &leak).unwrap();
    let upper = figure("memdx_trend_slope_upper_bytes_per_second", &leak).unwrap();
    assert!(
        (slope - 2.0 * MIB).abs() < 0.25 * 2.0 * MIB,
        "slope {slope} B/s, the leaker grows 2 MiB/s"
    );
    assert!(
        lower > 0.0 && lower <= slope && slope <= upper,
        "{lower} {slope} {upper}"
    );
    let remaining = figure("memdx_trend_limit_remaining_bytes", &leak).unwrap();
    let total = meminfo_kib("MemTotal") * 1024.0;
    assert!(remaining > 0.0 && remaining < total, "{remaining}");
    // Time to the limit is the room over the rate, in the same scrape.
    let ratio = query_once(
        prom.port,
        &format!(
            "memdx_trend_time_to_limit_seconds{{{leak}}} * memdx_trend_slope_bytes_per_second{{{leak}}} / memdx_trend_limit_remaining_bytes{{{leak}}}"
        ),
    );
    let ratio = value_of(&ratio);
    assert!(
        (ratio - 1.0).abs() < 1e-6,
        "time to limit × slope / room = {ratio}"
    );
    let earliest = figure("memdx_trend_time_to_limit_earliest_seconds", &leak).unwrap();
    let ttl = figure("memdx_trend_time_to_limit_seconds", &leak).unwrap();
    assert!(earliest > 0.0 && earliest <= ttl, "{earliest} {ttl}");

    // A stable process has a rate near zero and no time to a limit.
    let calm_slope = figure("memdx_trend_slope_bytes_per_second", &calm).unwrap();
    assert!(calm_slope.abs() < 0.05 * MIB, "{calm_slope}");
    assert_eq!(figure("memdx_trend_time_to_limit_seconds", &calm), None);
    let calm_memory = figure("memdx_trend_memory_bytes", &calm).unwrap();
    assert!(calm_memory > 16.0 * MIB, "{calm_memory}");
}

#[test]
fn a_watched_cgroup_v1_fixture_has_its_trend_and_room() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/cgroup/v1-hybrid");
    let (_serve, port) = serve_in(
        Some(&root),
        &[
            "--watch-cgroup",
            "/system.slice/web.service",
            "--watch-interval",
            "0.05",
        ],
    );
    let labels = r#"kind="cgroup",target="/system.slice/web.service",metric="working_set""#;
    let deadline = Instant::now() + Duration::from_secs(30);
    // The fixture does not change: after 8 samples the verdict is stable.
    let body = loop {
        let (code, _, body) = get(port, "/metrics", None);
        assert_eq!(code, 200);
        if body.contains(&format!(
            r#"memdx_trend_verdict{{{labels},verdict="stable"}} 1"#
        )) {
            break body;
        }
        assert!(Instant::now() < deadline, "never stable:\n{body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for line in [
        // usage_in_bytes - total_inactive_file.
        format!("memdx_trend_memory_bytes{{{labels}}} 249561088"),
        // limit_in_bytes - usage_in_bytes.
        format!("memdx_trend_limit_remaining_bytes{{{labels}}} 213909504"),
        format!("memdx_trend_slope_bytes_per_second{{{labels}}} 0"),
    ] {
        assert!(
            body.lines().any(|l| l == line || l == format!("{line}.0")),
            "missing {line:?} in\n{body}"
        );
    }
    assert!(
        !body.contains("memdx_trend_time_to_limit_seconds{"),
        "{body}"
    );
}

#[test]
fn bad_watch_options_are_one_clear_line() {
    for (args, message) in [
        (
            vec!["--watch", "999999999"],
            "memdx serve: --watch 999999999: no process 999999999\n",
        ),
        (
            vec!["--watch-name", "("],
            "memdx serve: --watch-name: '(' is not a regular expression: unclosed group\n",
        ),
        (vec!["--watch", "1", "--watch-interval", "soon"], ""),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_memdx"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        if message.is_empty() {
            assert!(
                err.starts_with("memdx serve: --watch-interval: 'soon' is not a duration")
                    && err.lines().count() == 1,
                "{err}"
            );
        } else {
            assert_eq!(err, message, "{args:?}");
        }
    }
}
