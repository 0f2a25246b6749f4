//! `/proc/meminfo`: the kernel's memory counters.
//!
//! Format (see `Documentation/filesystems/proc.rst`): one `Key: value [kB]`
//! line per counter. Sizes are in KiB (the kernel writes "kB"); the
//! `HugePages_*` counters are page counts and carry no unit. Which keys exist
//! depends on the kernel version and configuration, so every lookup returns
//! an `Option`.

use crate::error::Result;
use crate::root::ProcRoot;

/// Path of the file relative to the root.
pub const REL_PATH: &str = "proc/meminfo";

/// One parsed `/proc/meminfo`, keys in the kernel's order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemInfo {
    entries: Vec<(String, u64)>,
}

impl MemInfo {
    /// Reads and parses `proc/meminfo` under `root`.
    pub fn read(root: &ProcRoot) -> Result<Self> {
        root.read_parsed(REL_PATH, Self::parse)
    }

    /// Parses the text of a meminfo file. On error returns the 1-based line
    /// (0 for the whole file) and what was wrong.
    pub fn parse(text: &str) -> std::result::Result<Self, (usize, String)> {
        crate::root::whole_file(text, false)?;
        let mut entries = Vec::with_capacity(64);
        for (idx, line) in text.lines().enumerate() {
            let lineno = idx + 1;
            if line.trim().is_empty() {
                continue;
            }
            let (key, rest) = line.split_once(':').ok_or_else(|| {
                (
                    lineno,
                    format!(
                        "expected `Key: value`, found {}",
                        crate::error::quoted(line)
                    ),
                )
            })?;
            let key = key.trim();
            if key.is_empty() {
                return Err((
                    lineno,
                    format!("empty key in {}", crate::error::quoted(line)),
                ));
            }
            let mut words = rest.split_whitespace();
            let number = words
                .next()
                .ok_or_else(|| (lineno, format!("{key} has no value")))?;
            let value: u64 = number.parse().map_err(|_| {
                (
                    lineno,
                    format!(
                        "{key} has a non-numeric value {}",
                        crate::error::quoted(number)
                    ),
                )
            })?;
            match (words.next(), words.next()) {
                (None, None) | (Some("kB"), None) => {}
                _ => {
                    return Err((
                        lineno,
                        format!(
                            "unexpected text after {key}'s value in {}",
                            crate::error::quoted(line)
                        ),
                    ))
                }
            }
            entries.push((key.to_string(), value));
        }
        Ok(Self { entries })
    }

    /// The value of `key` as the kernel wrote it (KiB for sizes, a count for
    /// `HugePages_*`), or `None` when this kernel does not report it.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// All entries in file order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, u64)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Builds a `MemInfo` from `(key, value)` pairs, e.g. for tests.
    pub fn from_entries<K: Into<String>>(entries: impl IntoIterator<Item = (K, u64)>) -> Self {
        Self {
            entries: entries.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "MemTotal:       24684084 kB\nMemFree:        24165968 kB\nActive(anon):       1440 kB\nHugePages_Total:       0\n";

    #[test]
    fn parses_sizes_counts_and_parenthesised_keys() {
        let m = MemInfo::parse(SAMPLE).unwrap();
        assert_eq!(m.get("MemTotal"), Some(24684084));
        assert_eq!(m.get("Active(anon)"), Some(1440));
        assert_eq!(m.get("HugePages_Total"), Some(0));
        assert_eq!(m.get("MemAvailable"), None);
        assert_eq!(m.entries().count(), 4);
    }

    #[test]
    fn rejects_non_numeric_value_with_line_number() {
        let err = MemInfo::parse("MemTotal: 10 kB\nMemFree: lots kB\n").unwrap_err();
        assert_eq!(err.0, 2);
        assert!(err.1.contains("MemFree"), "{}", err.1);
    }

    #[test]
    fn rejects_truncated_and_empty_files() {
        assert!(MemInfo::parse("MemTotal: 10 kB\nMemFr").is_err());
        assert!(MemInfo::parse("").is_err());
        assert!(MemInfo::parse("garbage without colon\n").is_err());
    }

    #[test]
    fn rejects_values_beyond_u64() {
        assert!(MemInfo::parse("MemTotal: 99999999999999999999999 kB\n").is_err());
    }
}
