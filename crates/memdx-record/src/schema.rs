//! The database layout and its migrations.
//!
//! `schema_version` holds one row with the layout's version. Opening a file
//! applies every migration above that version, each in its own transaction
//! together with the version bump, so an interrupted upgrade leaves the file
//! at the last complete version. Migrations are only ever appended: a file
//! written by any older memdx opens in a newer one.
//!
//! Version 2 (current), all sizes in bytes unless noted, times UTC unix
//! seconds (REAL):
//!
//! ```sql
//! sample(id INTEGER PRIMARY KEY, time REAL NOT NULL)          -- index on time
//! system(sample_id PK -> sample, mem_total, mem_free, mem_available, buffers,
//!        cached, swap_total, swap_free,                        -- from meminfo
//!        psi_some_us, psi_full_us,                             -- PSI totals, µs
//!        counters BLOB)                                        -- every meminfo (KiB)
//!                                                              -- and vmstat counter
//! counter_name(id INTEGER PRIMARY KEY, source TEXT, name TEXT) -- 'meminfo' | 'vmstat'
//! process(id INTEGER PRIMARY KEY, pid, name, cmdline, cgroup)  -- one row per identity
//! process_sample(sample_id -> sample, process_id -> process,
//!                rss, rss_anon, swap, shr, vsz)
//! cgroup(id INTEGER PRIMARY KEY, path TEXT UNIQUE)
//! cgroup_sample(sample_id -> sample, cgroup_id -> cgroup, current, swap, max)
//! ```
//!
//! Deleting a `sample` row deletes its `system`, `process_sample` and
//! `cgroup_sample` rows (foreign keys with ON DELETE CASCADE).
//!
//! Version 1 kept every counter as its own row (`counter(sample_id, name_id,
//! value)`, ~230 rows per sample) and had no cgroups; version 2 packs the
//! counters into `system.counters` (see [`crate::counters`]), adds the cgroup
//! tables and the process's cgroup, shared and virtual size.

use rusqlite::{Connection, Transaction};

/// The version this build writes.
pub const CURRENT_VERSION: i64 = 2;

/// Version 1's tables, as the first recorder created them.
pub const V1_SQL: &str = "
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES (1);
CREATE TABLE sample (id INTEGER PRIMARY KEY, time REAL NOT NULL);
CREATE INDEX sample_by_time ON sample (time);
CREATE TABLE system (
    sample_id INTEGER PRIMARY KEY REFERENCES sample (id) ON DELETE CASCADE,
    mem_total INTEGER, mem_free INTEGER, mem_available INTEGER, buffers INTEGER,
    cached INTEGER, swap_total INTEGER, swap_free INTEGER,
    psi_some_us INTEGER, psi_full_us INTEGER
);
CREATE TABLE counter_name (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, name TEXT NOT NULL, UNIQUE (source, name)
);
CREATE TABLE counter (
    sample_id INTEGER NOT NULL REFERENCES sample (id) ON DELETE CASCADE,
    name_id INTEGER NOT NULL REFERENCES counter_name (id),
    value INTEGER NOT NULL,
    PRIMARY KEY (sample_id, name_id)
) WITHOUT ROWID;
CREATE TABLE process (
    id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, name TEXT NOT NULL, cmdline TEXT NOT NULL,
    UNIQUE (pid, name, cmdline)
);
CREATE TABLE process_sample (
    sample_id INTEGER NOT NULL REFERENCES sample (id) ON DELETE CASCADE,
    process_id INTEGER NOT NULL REFERENCES process (id),
    rss INTEGER, rss_anon INTEGER, swap INTEGER,
    PRIMARY KEY (sample_id, process_id)
) WITHOUT ROWID;
";

const V2_SQL: &str = "
ALTER TABLE system ADD COLUMN counters BLOB;
ALTER TABLE process ADD COLUMN cgroup TEXT;
ALTER TABLE process_sample ADD COLUMN shr INTEGER;
ALTER TABLE process_sample ADD COLUMN vsz INTEGER;
CREATE TABLE cgroup (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE);
CREATE TABLE cgroup_sample (
    sample_id INTEGER NOT NULL REFERENCES sample (id) ON DELETE CASCADE,
    cgroup_id INTEGER NOT NULL REFERENCES cgroup (id),
    current INTEGER NOT NULL, swap INTEGER, max INTEGER,
    PRIMARY KEY (sample_id, cgroup_id)
) WITHOUT ROWID;
";

/// What [`version`] found in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// A new, empty file.
    Empty,
    /// A memdx recording at this version.
    Version(i64),
    /// Tables, but no `schema_version`: some other program's database.
    Foreign,
}

/// Reads the schema version of an open database.
pub fn version(conn: &Connection) -> rusqlite::Result<Found> {
    let tables: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |r| r.get(0),
    )?;
    if tables == 0 {
        return Ok(Found::Empty);
    }
    let has_version: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
        [],
        |r| r.get(0),
    )?;
    if has_version == 0 {
        return Ok(Found::Foreign);
    }
    conn.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
        .map(Found::Version)
}

/// Applies the migration from `from` to `from + 1` inside `tx`.
pub fn migrate_one(tx: &Transaction<'_>, from: i64) -> rusqlite::Result<()> {
    match from {
        0 => tx.execute_batch(V1_SQL)?,
        1 => {
            tx.execute_batch(V2_SQL)?;
            pack_v1_counters(tx)?;
            tx.execute_batch("DROP TABLE counter;")?;
        }
        _ => unreachable_version(from)?,
    }
    tx.execute("UPDATE schema_version SET version = ?1", [from + 1])?;
    Ok(())
}

fn unreachable_version(from: i64) -> rusqlite::Result<()> {
    Err(rusqlite::Error::InvalidParameterName(format!(
        "no migration from schema version {from}"
    )))
}

/// Version 1 → 2: each sample's counter rows become its `counters` blob.
fn pack_v1_counters(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let mut read =
        tx.prepare("SELECT sample_id, name_id, value FROM counter ORDER BY sample_id, name_id")?;
    let mut update = tx.prepare("UPDATE system SET counters = ?2 WHERE sample_id = ?1")?;
    let mut rows = read.query([])?;
    let mut current: Option<i64> = None;
    let mut pairs: Vec<(u64, u64)> = Vec::new();
    let mut flush = |sample: i64, pairs: &mut Vec<(u64, u64)>| -> rusqlite::Result<()> {
        let mut blob = Vec::new();
        crate::counters::encode(pairs.drain(..), &mut blob);
        update.execute(rusqlite::params![sample, blob])?;
        Ok(())
    };
    while let Some(row) = rows.next()? {
        let sample: i64 = row.get(0)?;
        let id: i64 = row.get(1)?;
        let value: i64 = row.get(2)?;
        if current.is_some_and(|c| c != sample) {
            if let Some(c) = current {
                flush(c, &mut pairs)?;
            }
        }
        current = Some(sample);
        pairs.push((id as u64, value as u64));
    }
    if let Some(c) = current {
        flush(c, &mut pairs)?;
    }
    Ok(())
}
