//! `memdx record` and `memdx report` on real SQLite files and real processes:
//! a recorder killed with SIGKILL, a database on a full filesystem, a file
//! written by the version-1 schema, bad input. Every wait has a deadline.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use memdx_testkit::{Deadline, DEADLINE};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const MIB: u64 = 1024 * 1024;
const MEMDX: &str = env!("CARGO_BIN_EXE_memdx");

/// A directory under the target's temp dir, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("record-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }
    fn db(&self) -> PathBuf {
        self.0.join("record.db")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child killed (SIGKILL) and reaped on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Builds tests/programs/record_leaker.c once.
fn leaker_binary() -> &'static PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let src =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/record_leaker.c");
        let bin = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("record_leaker");
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

fn start_leaker(mode: &str) -> Killed {
    let mut child = Killed(
        Command::new(leaker_binary())
            .arg(mode)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    // On a failed handshake the child is killed on drop, ending the reader.
    let lines = memdx_testkit::read_lines_within(stdout, 1, Duration::from_secs(60));
    assert_eq!(lines, Some(vec!["ready".to_string()]));
    child
}

fn memdx(args: &[&str]) -> Output {
    Command::new(MEMDX)
        .args(args)
        .output_within(Duration::from_secs(60))
}

fn samples(db: &Path) -> i64 {
    // A reader beside the writer, as `memdx report` would be.
    rusqlite::Connection::open(db)
        .and_then(|c| c.query_row("SELECT count(*) FROM sample", [], |r| r.get(0)))
        .unwrap_or(0)
}

fn wait_for_samples(db: &Path, n: i64, recorder: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while samples(db) < n {
        if let Some(status) = recorder.try_wait().unwrap() {
            panic!("the recorder exited early: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {n} samples after 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn report_json(db: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["report", "--db", db.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = memdx(&args);
    assert!(
        out.status.success(),
        "report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn pid_of(v: &Value) -> Option<u64> {
    v["subject"]["pid"].as_u64()
}

/// Every sample is whole: its system row and one row per recorded process.
fn assert_whole_samples(db: &Path, processes_per_sample: i64) {
    let c = rusqlite::Connection::open(db).unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let partial: i64 = c
        .query_row(
            "SELECT count(*) FROM sample s WHERE NOT EXISTS \
               (SELECT 1 FROM system y WHERE y.sample_id = s.id) \
             OR (SELECT count(*) FROM process_sample p WHERE p.sample_id = s.id) != ?1",
            [processes_per_sample],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(partial, 0, "samples with missing rows");
}

#[test]
fn sigkill_mid_recording_then_report_finds_the_leak() {
    let dir = Dir::new("sigkill");
    let leaker = start_leaker("leak");
    let steady = start_leaker("steady");
    let (leak_pid, steady_pid) = (leaker.0.id(), steady.0.id());
    let db = dir.db();
    let mut recorder = Killed(
        Command::new(MEMDX)
            .args(["record", "--interval", "0.1", "--top", "0"])
            .args([
                "--pid",
                &leak_pid.to_string(),
                "--pid",
                &steady_pid.to_string(),
            ])
            .arg("--db")
            .arg(&db)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for_samples(&db, 40, &mut recorder.0);
    recorder.0.kill().unwrap(); // SIGKILL, mid-recording
    let status = recorder.0.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );

    assert_whole_samples(&db, 2);
    let report = report_json(&db, &[]);
    assert!(report["samples"].as_u64().unwrap() >= 40);
    let suspects = report["suspects"].as_array().unwrap();
    let leak = suspects
        .iter()
        .find(|s| pid_of(s) == Some(leak_pid.into()))
        .unwrap_or_else(|| panic!("the leaker is not a suspect: {report:#}"));
    assert_eq!(leak["analysis"]["verdict"]["verdict"], "growing");
    // 1 MiB per 50 ms: about 20 MiB/s (the estimate's interval must hold it
    // loosely; scheduling on a busy machine slows the leaker, never speeds it).
    let rate = leak["analysis"]["verdict"]["rate"]["slope"]
        .as_f64()
        .unwrap();
    assert!(
        rate > 5.0 * MIB as f64 && rate < 25.0 * MIB as f64,
        "rate {rate}"
    );
    assert!(
        suspects
            .iter()
            .all(|s| pid_of(s) != Some(steady_pid.into())),
        "the steady process is no suspect: {report:#}"
    );
    let grew = report["processes"].as_array().unwrap();
    assert_eq!(pid_of(&grew[0]), Some(leak_pid.into()));
    assert!(grew[0]["growth"].as_i64().unwrap() > 20 * MIB as i64);

    // --pid narrows the report to that process.
    let only = report_json(&db, &["--pid", &steady_pid.to_string()]);
    let procs = only["processes"].as_array().unwrap();
    assert!(procs.iter().all(|p| pid_of(p) == Some(steady_pid.into())));
    assert!(only["suspects"].as_array().unwrap().is_empty());

    // The killed recording takes new samples.
    let out = memdx(&[
        "record",
        "--db",
        db.to_str().unwrap(),
        "--count",
        "2",
        "--top",
        "3",
        "--interval",
        "0.1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = report_json(&db, &[]);
    assert_eq!(
        again["samples"].as_u64().unwrap(),
        report["samples"].as_u64().unwrap() + 2
    );
}

#[test]
fn time_window_and_charts() {
    let dir = Dir::new("window");
    let db = dir.db();
    let out = memdx(&[
        "record",
        "--db",
        db.to_str().unwrap(),
        "--interval",
        "0.2",
        "--count",
        "6",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = report_json(&db, &[]);
    assert_eq!(all["samples"], 6);
    let first = all["first"].as_f64().unwrap();
    let last = all["last"].as_f64().unwrap();
    assert!(last > first);
    // A window ending before the first sample is empty; one starting at it has all.
    let before = format!("{}", (first - 1.0).floor());
    assert_eq!(report_json(&db, &["--until", &before])["samples"], 0);
    assert_eq!(report_json(&db, &["--since", &before])["samples"], 6);
    assert_eq!(report_json(&db, &["--since", "-1h"])["samples"], 6);
    let memory = &all["memory"];
    let used = &memory["used"];
    assert!(used["min"].as_u64().unwrap() <= used["avg"].as_u64().unwrap());
    assert!(used["avg"].as_u64().unwrap() <= used["max"].as_u64().unwrap());
    assert!(memory["available"]["max"].as_u64().unwrap() <= memory["total"].as_u64().unwrap());

    let text = memdx(&["report", "--db", db.to_str().unwrap(), "--until", &before]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("No samples between"));

    for ext in ["svg", "png"] {
        let chart = dir.0.join(format!("chart.{ext}"));
        let out = memdx(&[
            "report",
            "--db",
            db.to_str().unwrap(),
            "--plot",
            chart.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(&chart).unwrap();
        if ext == "svg" {
            let svg = String::from_utf8(bytes).unwrap();
            assert!(svg.starts_with("<svg"));
            for title in [
                "System memory (GiB)",
                "Largest processes",
                "Largest cgroups",
                "buff/cache",
            ] {
                assert!(svg.contains(title), "{title} missing from the SVG");
            }
        } else {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
            assert!(bytes.len() > 10_000, "a PNG of {} bytes", bytes.len());
        }
    }
}

fn assert_one_line_error(out: &Output, needles: &[&str]) {
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_input_is_a_one_line_error() {
    let dir = Dir::new("bad");
    let db = dir.db();
    let dbs = db.to_str().unwrap();
    assert_one_line_error(&memdx(&["report", "--db", dbs]), &["no such recording"]);
    let out = memdx(&["record", "--db", dbs, "--count", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_one_line_error(
        &memdx(&["report", "--db", dbs, "--since", "yesterday"]),
        &["--since", "'yesterday'", "2026-12-07 10:00"],
    );
    assert_one_line_error(
        &memdx(&["report", "--db", dbs, "--until", "2026-02-30"]),
        &["--until", "'2026-02-30'"],
    );
    assert_one_line_error(
        &memdx(&["report", "--db", dbs, "--since", "-1h", "--until", "-2h"]),
        &["--since is after --until"],
    );
    let txt = dir.0.join("chart.txt");
    assert_one_line_error(
        &memdx(&["report", "--db", dbs, "--plot", txt.to_str().unwrap()]),
        &["chart.txt", ".svg or .png"],
    );
    assert_one_line_error(
        &memdx(&["record", "--db", dbs, "--interval", "soon"]),
        &["--interval", "'soon'"],
    );
    assert_one_line_error(
        &memdx(&["record", "--db", dbs, "--interval", "0"]),
        &["--interval"],
    );
    assert_one_line_error(
        &memdx(&["record", "--db", dbs, "--retain=-1d"]),
        &["--retain", "'-1d'"],
    );
    let garbage = dir.0.join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 8192]).unwrap();
    // Each message names the command, the file and the reason.
    let gs = garbage.to_str().unwrap();
    for cmd in ["report", "record"] {
        let mut args = vec![cmd, "--db", gs];
        if cmd == "record" {
            args.extend(["--count", "1"]);
        }
        let out = memdx(&args);
        assert_one_line_error(&out, &[]);
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("memdx {cmd}: {gs}: not a memdx recording (not an SQLite database)\n")
        );
    }
    // The garbage is left as it was.
    assert_eq!(std::fs::read(&garbage).unwrap(), vec![b'x'; 8192]);
    // A file that cannot be created: the system's reason, not SQLite's
    // "unable to open database file".
    let out = memdx(&["record", "--db", "/proc/memdx-test.db", "--count", "1"]);
    assert_one_line_error(&out, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("memdx record: cannot write /proc/memdx-test.db: ")
            && !err.contains("unable to open")
            && !err.contains("os error"),
        "{err}"
    );
}

#[test]
fn a_version_1_database_is_migrated_and_reported() {
    let dir = Dir::new("v1");
    let db = dir.db();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(memdx_record::schema::V1_SQL).unwrap();
    let mut sql = String::from(
        "INSERT INTO counter_name (id, source, name) VALUES (1, 'meminfo', 'MemTotal');\
         INSERT INTO process (id, pid, name, cmdline) VALUES (1, 4242, 'oldleak', './oldleak');",
    );
    for i in 0..12 {
        let t = 1_700_000_000 + i;
        let rss = (10 + 4 * i) * MIB as i64;
        sql += &format!(
            "INSERT INTO sample (id, time) VALUES ({id}, {t});\
             INSERT INTO system (sample_id, mem_total, mem_free, mem_available, swap_total, swap_free) \
               VALUES ({id}, 8589934592, 1073741824, {avail}, 0, 0);\
             INSERT INTO counter VALUES ({id}, 1, 8388608);\
             INSERT INTO process_sample (sample_id, process_id, rss, rss_anon, swap) VALUES ({id}, 1, {rss}, {rss}, 0);",
            id = i + 1,
            avail = 4 * 1024 * MIB as i64 - rss,
        );
    }
    conn.execute_batch(&sql).unwrap();
    drop(conn);

    let report = report_json(&db, &["--since", "2023-11-14 22:13"]);
    assert_eq!(report["samples"], 12);
    assert_eq!(report["memory"]["used"]["min"], 4 * 1024 * MIB + 10 * MIB);
    assert_eq!(report["suspects"][0]["subject"]["name"], "oldleak");
    assert_eq!(
        report["suspects"][0]["analysis"]["verdict"]["rate"]["slope"],
        4.0 * MIB as f64
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, memdx_record::schema::CURRENT_VERSION);
    drop(conn);
    // And it records on (keeping the 2023 samples: the default --retain 7d
    // would delete them).
    let out = memdx(&[
        "record",
        "--db",
        db.to_str().unwrap(),
        "--count",
        "1",
        "--retain",
        "forever",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(samples(&db), 13);
}

/// Mounts a small tmpfs at `dir` (root only); `None` when not allowed.
fn mount_tmpfs(dir: &Path, size: &str) -> Option<()> {
    let out = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size}"),
            "memdx-record-test",
        ])
        .arg(dir)
        .try_output_within(DEADLINE)
        .ok()?;
    out.status.success().then_some(())
}

fn skip(why: &str) {
    if std::env::var_os("MEMDX_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
        panic!("MEMDX_REQUIRE_TOOLS=1 and {why}");
    }
    println!("\n*** SKIPPED full-disk test: {why} ***\n");
}

#[test]
fn a_full_disk_stops_the_recorder_and_leaves_the_database_readable() {
    let dir = Dir::new("full");
    let mnt = dir.0.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    if mount_tmpfs(&mnt, "320k").is_none() {
        return skip("cannot mount a tmpfs here (needs root)");
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount")
                .arg(&self.0)
                .try_status_within(DEADLINE);
        }
    }
    let _unmount = Unmount(mnt.clone());
    let db = mnt.join("record.db");
    let out = memdx(&[
        "record",
        "--db",
        db.to_str().unwrap(),
        "--interval",
        "0.01",
        "--top",
        "200",
    ]);
    assert_one_line_error(&out, &["record.db", "disk is full", "recording stopped"]);
    let taken = samples(&db);
    assert!(taken > 0, "no sample fitted: make the filesystem larger");
    let report = report_json(&db, &[]);
    assert_eq!(report["samples"].as_i64().unwrap(), taken);
    let c = rusqlite::Connection::open(&db).unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

/// `memdx report` as the unprivileged user `nobody`, through setpriv.
fn report_as_nobody(db: &Path) -> Option<Output> {
    let mut child = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            MEMDX,
            "report",
            "--json",
            "--db",
        ])
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "report as nobody ran over 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(child.wait_with_output().unwrap())
}

#[test]
fn another_users_recording_is_read_read_only() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("\n*** SKIPPED read-only test: needs root to run report as another user ***\n");
        return;
    }
    // Under /tmp: the target directory may sit below one that `nobody`
    // cannot enter (/root).
    let dir = Dir(std::env::temp_dir().join(format!("memdx-record-ro-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let public = dir.0.join("public");
    std::fs::create_dir_all(&public).unwrap();
    let chmod = |path: &Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    for d in [&dir.0, &public] {
        chmod(d, 0o755);
    }
    let db = public.join("record.db");
    let out = memdx(&[
        "record",
        "--db",
        db.to_str().unwrap(),
        "--count",
        "3",
        "--interval",
        "0.1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    chmod(&db, 0o644);
    let Some(out) = report_as_nobody(&db) else {
        return skip("setpriv is not installed");
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["samples"], 3);

    // An old schema it may not upgrade: a clear error.
    let old = public.join("old.db");
    let conn = rusqlite::Connection::open(&old).unwrap();
    conn.execute_batch(memdx_record::schema::V1_SQL).unwrap();
    drop(conn);
    chmod(&old, 0o644);
    let out = report_as_nobody(&old).unwrap();
    assert_one_line_error(&out, &["old.db", "schema version 1", "as its owner"]);
}
