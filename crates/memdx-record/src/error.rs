//! The store's typed errors. Each names the database file, so the binary can
//! print one line without context.

use std::path::PathBuf;

/// Result of a store operation.
pub type Result<T> = std::result::Result<T, RecordError>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The filesystem holding the database is full. The transaction in
    /// flight was rolled back; everything committed before stays readable.
    #[error("{}: the disk is full (the sample in flight was dropped; the database stays readable)", path.display())]
    DiskFull {
        /// The database file.
        path: PathBuf,
    },
    /// The file was written by a newer memdx whose schema this one does not know.
    #[error("{}: schema version {found} is newer than this memdx understands ({supported}); use a newer memdx", path.display())]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The version stored in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A read-only file (another user's) of an older schema version: it
    /// needs an upgrade this user cannot write.
    #[error("{}: schema version {found} needs upgrading to {current}, which needs write access: run 'memdx report' on it once as its owner", path.display())]
    ReadOnlyUpgrade {
        /// The database file.
        path: PathBuf,
        /// The version stored in the file.
        found: i64,
        /// The version this build writes.
        current: i64,
    },
    /// The file is not an SQLite database at all (a recording is one).
    #[error("{}: not a memdx recording (not an SQLite database)", path.display())]
    NotADatabase {
        /// The file.
        path: PathBuf,
    },
    /// The file is an SQLite database, but not one memdx wrote.
    #[error("{}: not a memdx recording (no schema_version table, and it already holds other tables)", path.display())]
    Foreign {
        /// The database file.
        path: PathBuf,
    },
    /// A stored value did not decode (a damaged counters blob, ...).
    #[error("{}: damaged record: {what}", path.display())]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
    /// Any other SQLite failure, with what the store was doing.
    #[error("{}: {doing}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What the store was doing ("opening", "writing a sample", ...).
        doing: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
}

impl RecordError {
    /// Wraps an SQLite error, turning "disk full" into [`RecordError::DiskFull`].
    pub(crate) fn sqlite(
        path: &std::path::Path,
        doing: &'static str,
        source: rusqlite::Error,
    ) -> Self {
        if is_disk_full(&source) {
            return RecordError::DiskFull {
                path: path.to_path_buf(),
            };
        }
        if source.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
            return RecordError::NotADatabase {
                path: path.to_path_buf(),
            };
        }
        RecordError::Sqlite {
            path: path.to_path_buf(),
            doing,
            source,
        }
    }

    /// Whether this is [`RecordError::DiskFull`].
    pub fn is_disk_full(&self) -> bool {
        matches!(self, RecordError::DiskFull { .. })
    }
}

fn is_disk_full(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull)
}
