//! The store on real SQLite files: round trip, migration from version 1,
//! retention, and files it must refuse.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use memdx_proc::{MemInfo, VmStat};
use memdx_record::{
    schema, CgroupSample, Counter, Extent, ProcessSample, RecordError, Sample, Store, TimeRange,
};

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("memdx-record-{}-{name}", std::process::id()));
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

fn counter(source: &str, name: &str, value: u64) -> Counter {
    Counter {
        source: source.into(),
        name: name.into(),
        value,
    }
}

fn sample(time: f64, available_kib: u64, leaker_rss: u64) -> Sample {
    Sample {
        time,
        meminfo: MemInfo::from_entries([
            ("MemTotal", 8_000_000),
            ("MemFree", 1_000_000),
            ("MemAvailable", available_kib),
            ("Buffers", 100_000),
            ("Cached", 2_000_000),
            ("SReclaimable", 50_000),
            ("SwapTotal", 1_000_000),
            ("SwapFree", 900_000),
        ]),
        vmstat: VmStat::from_entries([("pgfault", 1_000 + time as u64), ("pswpin", 7)]),
        pressure: None,
        processes: vec![ProcessSample {
            pid: 42,
            name: "leaker".into(),
            cmdline: "./leaker --fast".into(),
            cgroup: Some("/user.slice".into()),
            rss: Some(leaker_rss),
            rss_anon: Some(leaker_rss / 2),
            swap: Some(0),
            ..Default::default()
        }],
        cgroups: vec![CgroupSample {
            path: "/user.slice".into(),
            current: leaker_rss * 2,
            swap: Some(0),
            max: None,
        }],
    }
}

#[test]
fn samples_round_trip_with_every_counter() {
    let dir = Dir::new("roundtrip");
    let mut store = Store::open(&dir.db()).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::CURRENT_VERSION);
    let ids: Vec<i64> = (0u32..5)
        .map(|i| {
            store
                .insert(&sample(
                    1000.0 + f64::from(i),
                    4_000_000 - u64::from(i),
                    1 << (20 + i),
                ))
                .unwrap()
        })
        .collect();
    drop(store);

    let store = Store::open(&dir.db()).unwrap();
    assert_eq!(
        store.extent(TimeRange::default()).unwrap(),
        Extent {
            samples: 5,
            first: Some(1000.0),
            last: Some(1004.0)
        }
    );
    let system = store.system_series(TimeRange::default()).unwrap();
    assert_eq!(system.len(), 5);
    assert_eq!(system[4].mem_available, Some((4_000_000 - 4) * 1024));
    assert_eq!(
        system[0].cached,
        Some(2_050_000 * 1024),
        "Cached + SReclaimable"
    );
    let counters = store.counters(ids[2]).unwrap();
    assert!(counters.contains(&counter("vmstat", "pgfault", 2002)));
    assert!(counters.contains(&counter("meminfo", "SwapFree", 900_000)));
    assert_eq!(counters.len(), 10);

    let procs = store.process_series(TimeRange::default(), None).unwrap();
    assert_eq!(procs.len(), 1);
    assert_eq!(procs[0].name, "leaker");
    assert_eq!(procs[0].rss.last(), Some(&(1004.0, 1 << 24)));
    let window = TimeRange {
        since: Some(1001.0),
        until: Some(1003.0),
    };
    assert_eq!(
        store.process_series(window, Some(42)).unwrap()[0].rss.len(),
        3
    );
    assert!(store.process_series(window, Some(43)).unwrap().is_empty());
    let cgroups = store.cgroup_series(window, Some("/user.slice")).unwrap();
    assert_eq!(
        cgroups[0].current,
        vec![(1001.0, 4 << 20), (1002.0, 8 << 20), (1003.0, 16 << 20)]
    );
}

#[test]
fn retention_deletes_old_samples_and_their_rows() {
    let dir = Dir::new("retention");
    let mut store = Store::open(&dir.db()).unwrap();
    for i in 0..10 {
        store.insert(&sample(2000.0 + f64::from(i), 1, 1)).unwrap();
    }
    assert_eq!(store.delete_before(2006.0).unwrap(), 6);
    assert_eq!(store.extent(TimeRange::default()).unwrap().samples, 4);
    assert_eq!(
        store.process_series(TimeRange::default(), None).unwrap()[0]
            .rss
            .len(),
        4
    );
    // Everything gone: the process and cgroup names go too, and a later
    // sample re-creates them (the id cache was dropped).
    assert_eq!(store.delete_before(3000.0).unwrap(), 4);
    assert!(store
        .process_series(TimeRange::default(), None)
        .unwrap()
        .is_empty());
    store.insert(&sample(3001.0, 1, 5)).unwrap();
    assert_eq!(
        store.process_series(TimeRange::default(), None).unwrap()[0].rss,
        vec![(3001.0, 5)]
    );
    assert_eq!(
        store
            .cgroup_series(TimeRange::default(), None)
            .unwrap()
            .len(),
        1
    );
}

/// A file as the version-1 recorder wrote it: counters as rows.
fn write_v1(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(schema::V1_SQL).unwrap();
    conn.execute_batch(
        "INSERT INTO counter_name (id, source, name) VALUES (1, 'meminfo', 'MemTotal'), \
           (2, 'vmstat', 'pgfault');
         INSERT INTO sample (id, time) VALUES (1, 100.0), (2, 101.0);
         INSERT INTO system (sample_id, mem_total, mem_free, mem_available, swap_total, swap_free) \
           VALUES (1, 8192000, 1024000, 4096000, 0, 0), (2, 8192000, 1024000, 2048000, 0, 0);
         INSERT INTO counter VALUES (1, 1, 8000), (1, 2, 5), (2, 1, 8000), (2, 2, 9);
         INSERT INTO process (id, pid, name, cmdline) VALUES (1, 7, 'old', 'old -x');
         INSERT INTO process_sample (sample_id, process_id, rss, rss_anon, swap) \
           VALUES (1, 1, 1000, 500, 0), (2, 1, 3000, 2500, 0);",
    )
    .unwrap();
}

#[test]
fn a_version_1_file_is_migrated_and_keeps_its_samples() {
    let dir = Dir::new("migrate");
    write_v1(&dir.db());
    let mut store = Store::open(&dir.db()).unwrap();
    assert_eq!(store.schema_version().unwrap(), 2);
    assert_eq!(
        store.counters(2).unwrap(),
        vec![
            counter("meminfo", "MemTotal", 8000),
            counter("vmstat", "pgfault", 9)
        ]
    );
    let procs = store.process_series(TimeRange::default(), None).unwrap();
    assert_eq!(procs[0].rss, vec![(100.0, 1000), (101.0, 3000)]);
    assert_eq!(procs[0].cgroup, None);
    let system = store.system_series(TimeRange::default()).unwrap();
    assert_eq!(system[1].mem_available, Some(2048000));
    // The migrated file takes new samples, with the tables version 2 added.
    store.insert(&sample(102.0, 1, 4000)).unwrap();
    assert_eq!(
        store
            .cgroup_series(TimeRange::default(), None)
            .unwrap()
            .len(),
        1
    );
    drop(store);
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let v1_table: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'counter'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(v1_table, 0, "the per-row counter table is gone");
}

#[test]
fn a_newer_schema_is_refused_by_name() {
    let dir = Dir::new("newer");
    drop(Store::open(&dir.db()).unwrap());
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    conn.execute("UPDATE schema_version SET version = 99", [])
        .unwrap();
    drop(conn);
    let err = Store::open(&dir.db()).err().expect("refused");
    assert!(
        matches!(err, RecordError::NewerSchema { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("record.db"), "{err}");
}

#[test]
fn another_programs_database_is_refused() {
    let dir = Dir::new("foreign");
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    conn.execute_batch("CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('x');")
        .unwrap();
    drop(conn);
    let err = Store::open(&dir.db()).err().expect("refused");
    assert!(matches!(err, RecordError::Foreign { .. }), "{err}");
}

#[test]
fn a_file_that_is_not_sqlite_is_a_clear_error() {
    let dir = Dir::new("garbage");
    std::fs::write(dir.db(), vec![b'x'; 4096]).unwrap();
    let err = Store::open(&dir.db()).err().expect("refused");
    assert!(matches!(err, RecordError::NotADatabase { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("record.db")
            && text.ends_with(": not a memdx recording (not an SQLite database)"),
        "{text}"
    );
}
