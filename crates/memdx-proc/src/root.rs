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

impl ProcRoot {
    /// Reads `rel` under this root and parses it with `parse`, which reports
    /// failure as `(1-based line or 0 for the whole file, what is wrong)`;
    /// the error then names the file and line.
    pub fn read_parsed<T>(
        &self,
        rel: &str,
        parse: impl FnOnce(&str) -> std::result::Result<T, (usize, String)>,
    ) -> Result<T> {
        let text = self.read_to_string(rel)?;
        parse(&text).map_err(|(line, message)| ProcError::Parse {
            path: self.path(rel),
            line,
            message,
        })
    }
}

/// Rejects text that cannot be a whole file the kernel wrote: empty (unless
/// `allow_empty`) or cut off mid-line (the kernel ends every line with a
/// newline).
pub(crate) fn whole_file(
    text: &str,
    allow_empty: bool,
) -> std::result::Result<(), (usize, String)> {
    if text.trim().is_empty() {
        return if allow_empty && text.is_empty() {
            Ok(())
        } else {
            Err((0, "file is empty".into()))
        };
    }
    if !text.ends_with('\n') {
        return Err((0, "file is truncated (last line has no newline)".into()));
    }
    Ok(())
}

impl Default for ProcRoot {
    fn default() -> Self {
        Self::from_env()
    }
}

/// The first `N` whitespace-separated fields of a one-line file, each a
/// finite non-negative number; `names` say what each is, for the error
/// (`/proc/uptime`, `/proc/loadavg`).
pub(crate) fn leading_numbers<const N: usize>(
    text: &str,
    names: [&str; N],
) -> std::result::Result<[f64; N], String> {
    let mut words = text.split_whitespace();
    let mut out = [0.0; N];
    for (slot, what) in out.iter_mut().zip(names) {
        let w = words.next().ok_or_else(|| format!("missing {what}"))?;
        *slot = w
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("{what} is not a number: {}", crate::error::quoted(w)))?;
    }
    Ok(out)
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
