//! The SQLite store: open (create, migrate), write one sample per
//! transaction, delete old samples, read series back for reports.
//!
//! Durability: the file is in WAL mode with `synchronous=NORMAL`, so a
//! committed sample survives the recorder being killed (SIGKILL, OOM kill);
//! a power cut may lose the last few. Each sample is one transaction: a kill
//! loses at most the sample in flight, and a full disk rolls it back and
//! leaves every committed sample readable.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{RecordError, Result};
use crate::sample::Sample;
use crate::schema::{self, Found, CURRENT_VERSION};

/// An open recording.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    ids: IdCache,
}

/// Ids of names and identities already in the file, so a sample inserts
/// only its values. Cleared when a transaction fails (its rows are gone).
#[derive(Default)]
struct IdCache {
    counters: HashMap<(&'static str, String), i64>,
    processes: HashMap<(u32, String, String), i64>,
    cgroups: HashMap<String, i64>,
}

/// A time window, UTC unix seconds, both ends inclusive; `None` is open.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TimeRange {
    /// Earliest sample time.
    pub since: Option<f64>,
    /// Latest sample time.
    pub until: Option<f64>,
}

impl TimeRange {
    fn bounds(&self) -> (f64, f64) {
        (
            self.since.unwrap_or(f64::NEG_INFINITY),
            self.until.unwrap_or(f64::INFINITY),
        )
    }
}

/// How many samples a time range holds, and when the first and last were
/// taken ([`Store::extent`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Extent {
    /// Samples in the range.
    pub samples: u64,
    /// Time of the first one (seconds since the epoch), if any.
    pub first: Option<f64>,
    /// Time of the last one, if any.
    pub last: Option<f64>,
}

/// One meminfo or vmstat counter of a sample ([`Store::counters`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// "meminfo" (values in KiB) or "vmstat".
    pub source: String,
    /// The counter's name in its file.
    pub name: String,
    /// Its value.
    pub value: u64,
}

/// The system columns of one sample. Sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SystemPoint {
    /// Sample id.
    pub sample_id: i64,
    /// UTC unix seconds.
    pub time: f64,
    /// `MemTotal`.
    pub mem_total: Option<u64>,
    /// `MemFree`.
    pub mem_free: Option<u64>,
    /// `MemAvailable`.
    pub mem_available: Option<u64>,
    /// `Buffers`.
    pub buffers: Option<u64>,
    /// `Cached + SReclaimable` (free's "cache").
    pub cached: Option<u64>,
    /// `SwapTotal`.
    pub swap_total: Option<u64>,
    /// `SwapFree`.
    pub swap_free: Option<u64>,
    /// PSI memory "some" total stall, µs.
    pub psi_some_us: Option<u64>,
    /// PSI memory "full" total stall, µs.
    pub psi_full_us: Option<u64>,
}

/// One recorded process (pid, name and command line) and its samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProcessSeries {
    /// Process id.
    pub pid: u32,
    /// Kernel comm.
    pub name: String,
    /// Command line.
    pub cmdline: String,
    /// Its cgroup when first recorded.
    pub cgroup: Option<String>,
    /// `(time, rss bytes)`, oldest first.
    pub rss: Vec<(f64, u64)>,
    /// `(time, swap bytes)`, oldest first.
    pub swap: Vec<(f64, u64)>,
}

/// One cgroup and its samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CgroupSeries {
    /// Path below the cgroup root.
    pub path: String,
    /// `(time, memory.current bytes)`, oldest first.
    pub current: Vec<(f64, u64)>,
    /// The last `memory.max` seen, `None` for no limit.
    pub max: Option<u64>,
}

/// Which counters source a name belongs to.
const MEMINFO: &str = "meminfo";
const VMSTAT: &str = "vmstat";

fn to_sql(v: Option<u64>) -> Option<i64> {
    v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

fn from_sql(v: Option<i64>) -> Option<u64> {
    v.map(|v| u64::try_from(v).unwrap_or(0))
}

impl Store {
    /// Opens `path`, creating it when absent, and brings its schema to the
    /// current version (the directory must exist).
    pub fn open(path: &Path) -> Result<Self> {
        let err = |doing, e| RecordError::sqlite(path, doing, e);
        let conn = Connection::open(path).map_err(|e| err("opening", e))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| err("opening", e))?;
        // journal_mode answers with a row; in WAL mode it stays set in the file.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| err("switching to WAL mode", e))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(|e| err("setting pragmas", e))?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            ids: IdCache::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing recording to read it: like [`Store::open`] (which
    /// upgrades an old schema) when the file is writable, read-only when it
    /// is not (another user's recording). A read-only file must already be
    /// at the current schema version.
    pub fn open_to_read(path: &Path) -> Result<Self> {
        match Self::open(path) {
            Err(RecordError::Sqlite { source, .. }) if is_read_only(&source) => {
                Self::open_read_only(path)
            }
            other => other,
        }
    }

    fn open_read_only(path: &Path) -> Result<Self> {
        use rusqlite::OpenFlags;
        let err = |e| RecordError::sqlite(path, "opening read-only", e);
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = match Connection::open_with_flags(path, flags) {
            Ok(conn)
                if conn
                    .query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
                    .is_ok() =>
            {
                conn
            }
            // A WAL file needs its -shm beside it; with no recorder running
            // (no -wal file) there is no writer, and the file can be read as
            // immutable.
            _ if !wal_path(path).exists() => Connection::open_with_flags(
                format!("file:{}?immutable=1", uri_escape(path)),
                flags | OpenFlags::SQLITE_OPEN_URI,
            )
            .map_err(err)?,
            Ok(_) | Err(_) => Connection::open_with_flags(path, flags).map_err(err)?,
        };
        let store = Store {
            conn,
            path: path.to_path_buf(),
            ids: IdCache::default(),
        };
        let version = store.schema_version()?;
        if version != CURRENT_VERSION {
            return Err(RecordError::ReadOnlyUpgrade {
                path: path.to_path_buf(),
                found: version,
                current: CURRENT_VERSION,
            });
        }
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, doing: &'static str) -> impl Fn(rusqlite::Error) -> RecordError + '_ {
        move |e| RecordError::sqlite(&self.path, doing, e)
    }

    /// The file's schema version (after [`Store::open`], the current one).
    pub fn schema_version(&self) -> Result<i64> {
        match schema::version(&self.conn).map_err(self.err("reading the schema version"))? {
            Found::Version(v) => Ok(v),
            Found::Empty => Ok(0),
            Found::Foreign => Err(RecordError::Foreign {
                path: self.path.clone(),
            }),
        }
    }

    fn migrate(&mut self) -> Result<()> {
        let mut version = self.schema_version()?;
        if version > CURRENT_VERSION {
            return Err(RecordError::NewerSchema {
                path: self.path.clone(),
                found: version,
                supported: CURRENT_VERSION,
            });
        }
        while version < CURRENT_VERSION {
            let path = self.path.clone();
            let err = |e| RecordError::sqlite(&path, "upgrading the schema", e);
            let tx = self.conn.transaction().map_err(err)?;
            schema::migrate_one(&tx, version).map_err(err)?;
            tx.commit().map_err(err)?;
            version += 1;
        }
        Ok(())
    }

    /// Writes one sample in one transaction and returns its id. On failure
    /// nothing of the sample is kept.
    pub fn insert(&mut self, sample: &Sample) -> Result<i64> {
        let result = self.insert_tx(sample);
        if result.is_err() {
            self.ids = IdCache::default();
        }
        result.map_err(|e| RecordError::sqlite(&self.path, "writing a sample", e))
    }

    fn insert_tx(&mut self, s: &Sample) -> rusqlite::Result<i64> {
        let tx = self.conn.transaction()?;
        tx.prepare_cached("INSERT INTO sample (time) VALUES (?1)")?
            .execute([s.time])?;
        let id = tx.last_insert_rowid();

        let kib = |key: &str| s.meminfo.get(key).map(|v| v.saturating_mul(1024));
        let cached = match (kib("Cached"), kib("SReclaimable")) {
            (Some(c), r) => Some(c + r.unwrap_or(0)),
            (None, _) => None,
        };
        let mut pairs = Vec::new();
        for (source, entries) in [
            (MEMINFO, s.meminfo.entries().collect::<Vec<_>>()),
            (VMSTAT, s.vmstat.entries().collect::<Vec<_>>()),
        ] {
            for (name, value) in entries {
                let name_id = counter_id(&tx, &mut self.ids, source, name)?;
                pairs.push((name_id as u64, value));
            }
        }
        let mut blob = Vec::with_capacity(pairs.len() * 4);
        crate::counters::encode(pairs, &mut blob);
        tx.prepare_cached(
            "INSERT INTO system (sample_id, mem_total, mem_free, mem_available, buffers, cached, \
             swap_total, swap_free, psi_some_us, psi_full_us, counters) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            id,
            to_sql(kib("MemTotal")),
            to_sql(kib("MemFree")),
            to_sql(kib("MemAvailable")),
            to_sql(kib("Buffers")),
            to_sql(cached),
            to_sql(kib("SwapTotal")),
            to_sql(kib("SwapFree")),
            to_sql(s.pressure.map(|p| p.some.total_us)),
            to_sql(s.pressure.and_then(|p| p.full).map(|f| f.total_us)),
            blob,
        ])?;

        for p in &s.processes {
            let key = (p.pid, p.name.clone(), p.cmdline.clone());
            let process_id = match self.ids.processes.get(&key) {
                Some(&pid) => pid,
                None => {
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO process (pid, name, cmdline, cgroup) \
                         VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![p.pid, p.name, p.cmdline, p.cgroup])?;
                    let found: i64 = tx
                        .prepare_cached(
                            "SELECT id FROM process WHERE pid = ?1 AND name = ?2 AND cmdline = ?3",
                        )?
                        .query_row(params![p.pid, p.name, p.cmdline], |r| r.get(0))?;
                    self.ids.processes.insert(key, found);
                    found
                }
            };
            tx.prepare_cached(
                "INSERT OR REPLACE INTO process_sample \
                 (sample_id, process_id, rss, rss_anon, swap, shr, vsz) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                id,
                process_id,
                to_sql(p.rss),
                to_sql(p.rss_anon),
                to_sql(p.swap),
                to_sql(p.shr),
                to_sql(p.vsz)
            ])?;
        }

        for c in &s.cgroups {
            let cgroup_id = match self.ids.cgroups.get(&c.path) {
                Some(&cid) => cid,
                None => {
                    tx.prepare_cached("INSERT OR IGNORE INTO cgroup (path) VALUES (?1)")?
                        .execute([&c.path])?;
                    let found: i64 = tx
                        .prepare_cached("SELECT id FROM cgroup WHERE path = ?1")?
                        .query_row([&c.path], |r| r.get(0))?;
                    self.ids.cgroups.insert(c.path.clone(), found);
                    found
                }
            };
            tx.prepare_cached(
                "INSERT OR REPLACE INTO cgroup_sample (sample_id, cgroup_id, current, swap, max) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                id,
                cgroup_id,
                to_sql(Some(c.current)),
                to_sql(c.swap),
                to_sql(c.max)
            ])?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// Deletes samples older than `before` (UTC unix seconds) and the
    /// process and cgroup names no sample refers to any more. Returns the
    /// number of samples deleted.
    pub fn delete_before(&mut self, before: f64) -> Result<usize> {
        let path = self.path.clone();
        let err = |e| RecordError::sqlite(&path, "deleting old samples", e);
        let tx = self.conn.transaction().map_err(err)?;
        let deleted = tx
            .execute("DELETE FROM sample WHERE time < ?1", [before])
            .map_err(err)?;
        if deleted > 0 {
            tx.execute_batch(
                "DELETE FROM process WHERE NOT EXISTS \
                   (SELECT 1 FROM process_sample WHERE process_id = process.id); \
                 DELETE FROM cgroup WHERE NOT EXISTS \
                   (SELECT 1 FROM cgroup_sample WHERE cgroup_id = cgroup.id);",
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        if deleted > 0 {
            self.ids = IdCache::default();
        }
        Ok(deleted)
    }

    /// Number of samples, and the first and last sample time, in `range`.
    pub fn extent(&self, range: TimeRange) -> Result<Extent> {
        let (lo, hi) = range.bounds();
        self.conn
            .query_row(
                "SELECT count(*), min(time), max(time) FROM sample WHERE time >= ?1 AND time <= ?2",
                [lo, hi],
                |r| {
                    Ok(Extent {
                        samples: r.get::<_, i64>(0)? as u64,
                        first: r.get(1)?,
                        last: r.get(2)?,
                    })
                },
            )
            .map_err(self.err("reading the samples"))
    }

    /// The system columns of every sample in `range`, oldest first.
    pub fn system_series(&self, range: TimeRange) -> Result<Vec<SystemPoint>> {
        let (lo, hi) = range.bounds();
        let err = self.err("reading system memory");
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.id, s.time, y.mem_total, y.mem_free, y.mem_available, y.buffers, \
                 y.cached, y.swap_total, y.swap_free, y.psi_some_us, y.psi_full_us \
                 FROM sample s JOIN system y ON y.sample_id = s.id \
                 WHERE s.time >= ?1 AND s.time <= ?2 ORDER BY s.time",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([lo, hi], |r| {
                Ok(SystemPoint {
                    sample_id: r.get(0)?,
                    time: r.get(1)?,
                    mem_total: from_sql(r.get(2)?),
                    mem_free: from_sql(r.get(3)?),
                    mem_available: from_sql(r.get(4)?),
                    buffers: from_sql(r.get(5)?),
                    cached: from_sql(r.get(6)?),
                    swap_total: from_sql(r.get(7)?),
                    swap_free: from_sql(r.get(8)?),
                    psi_some_us: from_sql(r.get(9)?),
                    psi_full_us: from_sql(r.get(10)?),
                })
            })
            .map_err(&err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
    }

    /// Every meminfo and vmstat counter of one sample.
    pub fn counters(&self, sample_id: i64) -> Result<Vec<Counter>> {
        let err = self.err("reading counters");
        let blob: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT counters FROM system WHERE sample_id = ?1",
                [sample_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(&err)?
            .flatten();
        let Some(blob) = blob else {
            return Ok(Vec::new());
        };
        let pairs = crate::counters::decode(&blob).ok_or_else(|| RecordError::Damaged {
            path: self.path.clone(),
            what: format!("sample {sample_id}'s counters blob does not decode"),
        })?;
        let mut names: HashMap<i64, (String, String)> = HashMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT id, source, name FROM counter_name")
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
            .map_err(&err)?;
        for row in rows {
            let (id, name) = row.map_err(&err)?;
            names.insert(id, name);
        }
        pairs
            .into_iter()
            .map(|(id, value)| {
                let (source, name) =
                    names
                        .get(&(id as i64))
                        .cloned()
                        .ok_or_else(|| RecordError::Damaged {
                            path: self.path.clone(),
                            what: format!("sample {sample_id} names unknown counter id {id}"),
                        })?;
                Ok(Counter {
                    source,
                    name,
                    value,
                })
            })
            .collect()
    }

    /// Every recorded process with its samples in `range` (only those with
    /// at least one), optionally only the processes with this pid.
    pub fn process_series(&self, range: TimeRange, pid: Option<u32>) -> Result<Vec<ProcessSeries>> {
        let (lo, hi) = range.bounds();
        let err = self.err("reading processes");
        let mut stmt = self
            .conn
            .prepare(
                "SELECT p.id, p.pid, p.name, p.cmdline, p.cgroup, s.time, ps.rss, ps.swap \
                 FROM process_sample ps JOIN sample s ON s.id = ps.sample_id \
                 JOIN process p ON p.id = ps.process_id \
                 WHERE s.time >= ?1 AND s.time <= ?2 AND (?3 IS NULL OR p.pid = ?3) \
                 ORDER BY p.id, s.time",
            )
            .map_err(&err)?;
        let mut rows = stmt.query(params![lo, hi, pid]).map_err(&err)?;
        let mut out: Vec<ProcessSeries> = Vec::new();
        let mut last_id = None;
        while let Some(r) = rows.next().map_err(&err)? {
            let id: i64 = r.get(0).map_err(&err)?;
            if last_id != Some(id) {
                last_id = Some(id);
                out.push(ProcessSeries {
                    pid: r.get(1).map_err(&err)?,
                    name: r.get(2).map_err(&err)?,
                    cmdline: r.get(3).map_err(&err)?,
                    cgroup: r.get(4).map_err(&err)?,
                    ..Default::default()
                });
            }
            let time: f64 = r.get(5).map_err(&err)?;
            let rss: Option<i64> = r.get(6).map_err(&err)?;
            let swap: Option<i64> = r.get(7).map_err(&err)?;
            if let Some(series) = out.last_mut() {
                if let Some(rss) = from_sql(rss) {
                    series.rss.push((time, rss));
                }
                if let Some(swap) = from_sql(swap) {
                    series.swap.push((time, swap));
                }
            }
        }
        Ok(out)
    }

    /// Every cgroup with its samples in `range`, optionally only `path`.
    pub fn cgroup_series(&self, range: TimeRange, path: Option<&str>) -> Result<Vec<CgroupSeries>> {
        let (lo, hi) = range.bounds();
        let err = self.err("reading cgroups");
        let mut stmt = self
            .conn
            .prepare(
                "SELECT c.id, c.path, s.time, cs.current, cs.max \
                 FROM cgroup_sample cs JOIN sample s ON s.id = cs.sample_id \
                 JOIN cgroup c ON c.id = cs.cgroup_id \
                 WHERE s.time >= ?1 AND s.time <= ?2 AND (?3 IS NULL OR c.path = ?3) \
                 ORDER BY c.id, s.time",
            )
            .map_err(&err)?;
        let mut rows = stmt.query(params![lo, hi, path]).map_err(&err)?;
        let mut out: Vec<CgroupSeries> = Vec::new();
        let mut last_id = None;
        while let Some(r) = rows.next().map_err(&err)? {
            let id: i64 = r.get(0).map_err(&err)?;
            if last_id != Some(id) {
                last_id = Some(id);
                out.push(CgroupSeries {
                    path: r.get(1).map_err(&err)?,
                    ..Default::default()
                });
            }
            let time: f64 = r.get(2).map_err(&err)?;
            let current: Option<i64> = r.get(3).map_err(&err)?;
            let max: Option<i64> = r.get(4).map_err(&err)?;
            if let Some(series) = out.last_mut() {
                if let Some(c) = from_sql(current) {
                    series.current.push((time, c));
                }
                series.max = from_sql(max);
            }
        }
        Ok(out)
    }
}

fn is_read_only(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::PermissionDenied))
}

fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// A path as the path part of an SQLite `file:` URI.
fn uri_escape(path: &Path) -> String {
    let mut out = String::new();
    for b in path.as_os_str().as_encoded_bytes() {
        match b {
            b'?' | b'#' | b'%' | 0..=0x20 | 0x7f..=0xff => out.push_str(&format!("%{b:02X}")),
            _ => out.push(char::from(*b)),
        }
    }
    out
}

fn counter_id(
    tx: &rusqlite::Transaction<'_>,
    ids: &mut IdCache,
    source: &'static str,
    name: &str,
) -> rusqlite::Result<i64> {
    if let Some(&id) = ids.counters.get(&(source, name.to_string())) {
        return Ok(id);
    }
    tx.prepare_cached("INSERT OR IGNORE INTO counter_name (source, name) VALUES (?1, ?2)")?
        .execute([source, name])?;
    let id: i64 = tx
        .prepare_cached("SELECT id FROM counter_name WHERE source = ?1 AND name = ?2")?
        .query_row([source, name], |r| r.get(0))?;
    ids.counters.insert((source, name.to_string()), id);
    Ok(id)
}
