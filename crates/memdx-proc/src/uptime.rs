//! `/proc/uptime`: seconds since boot, and idle seconds summed over CPUs.

use crate::error::{ProcError, Result};
use crate::root::ProcRoot;

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
        let text = root.read_to_string(REL_PATH)?;
        Self::parse(&text).map_err(|message| ProcError::Parse {
            path: root.path(REL_PATH),
            line: 1,
            message,
        })
    }

    /// Parses the text of an uptime file.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut words = text.split_whitespace();
        let mut next = |what: &str| -> std::result::Result<f64, String> {
            let w = words.next().ok_or_else(|| format!("missing {what}"))?;
            w.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("{what} is not a number: {w:?}"))
        };
        Ok(Self {
            up_seconds: next("uptime")?,
            idle_seconds: next("idle time")?,
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
