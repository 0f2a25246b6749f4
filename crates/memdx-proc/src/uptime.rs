//! `/proc/uptime`: seconds since boot, and idle seconds summed over CPUs.

use crate::error::Result;
use crate::root::{leading_numbers, ProcRoot};

/// Path of the file relative to the root.
pub const REL_PATH: &str = "proc/uptime";

/// One parsed `/proc/uptime`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Uptime {
    /// Seconds since boot.
    pub up_seconds: f64,
    /// Seconds all CPUs together spent idle.
    pub idle_seconds: f64,
}

impl Uptime {
    /// Reads and parses `proc/uptime` under `root`.
    pub fn read(root: &ProcRoot) -> Result<Self> {
        root.read_parsed(REL_PATH, |text| Self::parse(text).map_err(|m| (1, m)))
    }

    /// Parses the text of an uptime file.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let [up_seconds, idle_seconds] = leading_numbers(text, ["uptime", "idle time"])?;
        Ok(Self {
            up_seconds,
            idle_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_figures() {
        let u = Uptime::parse("1085.18 1986.69\n").unwrap();
        assert_eq!(u.up_seconds, 1085.18);
        assert_eq!(u.idle_seconds, 1986.69);
    }

    #[test]
    fn rejects_garbage() {
        assert!(Uptime::parse("abc 1\n").is_err());
        assert!(Uptime::parse("12.5").is_err());
    }
}
