use std::path::{Path, PathBuf};

use crate::error::{ProcError, Result};

/// Environment variable naming a directory that stands in for `/` when
/// reading `/proc` and `/sys` (so `$MEMDX_PROC_ROOT/proc/meminfo` is read
/// instead of `/proc/meminfo`).
pub const ROOT_ENV: &str = "MEMDX_PROC_ROOT";

/// The directory under which `proc/` and `sys/` are found: `/` on a live
/// machine, a fixture directory in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcRoot {
    base: PathBuf,
}

impl ProcRoot {
    /// The live machine's root, `/`.
    pub fn live() -> Self {
        Self::new("/")
    }

    /// A root at `base` (a fixture tree holding `proc/meminfo`, ...).
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Self { base: base.into() }
    }

    /// The root named by `$MEMDX_PROC_ROOT`, or the live root when it is unset
    /// or empty.
    pub fn from_env() -> Self {
        match std::env::var_os(ROOT_ENV) {
            Some(dir) if !dir.is_empty() => Self::new(dir),
            _ => Self::live(),
        }
    }

    /// The base directory.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Path of `rel` (e.g. `"proc/meminfo"`) under this root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.base.join(rel)
    }

    /// Reads a whole file under this root as UTF-8 text.
    pub fn read_to_string(&self, rel: &str) -> Result<String> {
        let path = self.path(rel);
        let bytes = std::fs::read(&path).map_err(|source| ProcError::Io {
            path: path.clone(),
            source,
        })?;
        String::from_utf8(bytes).map_err(|_| ProcError::Parse {
            path,
            line: 0,
            message: "not valid UTF-8 text".into(),
        })
    }
}

impl Default for ProcRoot {
    fn default() -> Self {
        Self::from_env()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_joins_relative_names_under_the_base() {
        let root = ProcRoot::new("/tmp/fixture");
        assert_eq!(
            root.path("proc/meminfo"),
            PathBuf::from("/tmp/fixture/proc/meminfo")
        );
    }

    #[test]
    fn missing_file_error_names_the_path() {
        let root = ProcRoot::new("/nonexistent-memdx-root");
        let err = root.read_to_string("proc/meminfo").unwrap_err();
        assert!(
            err.to_string()
                .contains("/nonexistent-memdx-root/proc/meminfo"),
            "{err}"
        );
    }
}
