//! `/proc/vmstat`: the kernel's virtual-memory event counters.
//!
//! Format: one `name value` line per counter. Which counters exist depends on
//! the kernel version and configuration, so every lookup is an `Option`.
//! `pgpgin`/`pgpgout` count KiB moved to and from block devices;
//! `pswpin`/`pswpout` count pages swapped in and out.

use crate::error::Result;
use crate::root::ProcRoot;

/// Path of the file relative to the root.
pub const REL_PATH: &str = "proc/vmstat";

/// One parsed `/proc/vmstat`, counters in the kernel's order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VmStat {
    entries: Vec<(String, u64)>,
}

impl VmStat {
    /// Reads and parses `proc/vmstat` under `root`.
    pub fn read(root: &ProcRoot) -> Result<Self> {
        root.read_parsed(REL_PATH, Self::parse)
    }

    /// Parses the text of a vmstat file. On error returns the 1-based line
    /// (0 for the whole file) and what was wrong.
    pub fn parse(text: &str) -> std::result::Result<Self, (usize, String)> {
        crate::root::whole_file(text, false)?;
        let mut entries = Vec::with_capacity(200);
        for (idx, line) in text.lines().enumerate() {
            let lineno = idx + 1;
            let mut words = line.split_whitespace();
            let Some(name) = words.next() else { continue };
            let value = words
                .next()
                .ok_or_else(|| (lineno, format!("{name} has no value")))?;
            let value: u64 = value.parse().map_err(|_| {
                (
                    lineno,
                    format!(
                        "{name} has a non-numeric value {}",
                        crate::error::quoted(value)
                    ),
                )
            })?;
            if words.next().is_some() {
                return Err((lineno, format!("unexpected text after {name}'s value")));
            }
            entries.push((name.to_string(), value));
        }
        Ok(Self { entries })
    }

    /// The counter `name`, or `None` when this kernel does not report it.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.entries
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
    }

    /// All counters in file order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, u64)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Builds a `VmStat` from `(name, value)` pairs, e.g. for tests.
    pub fn from_entries<K: Into<String>>(entries: impl IntoIterator<Item = (K, u64)>) -> Self {
        Self {
            entries: entries.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counters() {
        let v = VmStat::parse("nr_free_pages 999679\npgpgin 1936741\npswpin 0\n").unwrap();
        assert_eq!(v.get("pgpgin"), Some(1936741));
        assert_eq!(v.get("pswpin"), Some(0));
        assert_eq!(v.get("pswpout"), None);
        assert_eq!(v.entries().count(), 3);
    }

    #[test]
    fn rejects_non_numeric_and_truncated() {
        assert_eq!(VmStat::parse("a 1\npgpgin x\n").unwrap_err().0, 2);
        assert_eq!(VmStat::parse("a 1\npgpgin\n").unwrap_err().0, 2);
        assert!(VmStat::parse("a 1\npgpg").is_err());
        assert!(VmStat::parse("\n").is_err());
    }
}
