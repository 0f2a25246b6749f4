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
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("MEMDX_PROC_ROOT")
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
    let (_serve, port) = serve();
    let (code, head, body) = get(port, "/metrics", None);
    assert_eq!(code, 200);
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
}

/// Builds tests/programs/watch_mem.c under a name no other process has.
fn probe_program() -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/watch_mem.c");
    let bin = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("promprobe");
    let ok = Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&bin)
        .arg(&src)
        .status_within(DEADLINE)
        .success();
    assert!(ok, "gcc failed on {}", src.display());
    bin
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

#[test]
fn prometheus_scrapes_memdx_and_agrees_with_proc() {
    let Some(prometheus) = tool("prometheus") else {
        return;
    };
    let probe = Running(
        Command::new(probe_program())
            .args(["stable", "32", "300"])
            .spawn()
            .unwrap(),
    );
    let (_serve, port) = serve();
    let dir = std::env::temp_dir().join(format!("memdx-serve-prom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: memdx\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    let prom_port = free_port();
    let _prom = Running(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .unwrap(),
    );
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
    drop(_prom);
    let _ = std::fs::remove_dir_all(&dir);
}
