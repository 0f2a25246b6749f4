//! `/proc/loadavg`: the 1, 5 and 15 minute load averages.

use crate::error::Result;
use crate::root::{leading_numbers, ProcRoot};

/// Path of the file relative to the root.
pub const REL_PATH: &str = "proc/loadavg";

/// One parsed `/proc/loadavg` (its first three fields).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LoadAvg {
    /// Average over 1 minute.
    pub one: f64,
    /// Average over 5 minutes.
    pub five: f64,
    /// Average over 15 minutes.
    pub fifteen: f64,
}

impl LoadAvg {
    /// Reads and parses `proc/loadavg` under `root`.
    pub fn read(root: &ProcRoot) -> Result<Self> {
        root.read_parsed(REL_PATH, |text| Self::parse(text).map_err(|m| (1, m)))
    }

    /// Parses the text of a loadavg file.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let [one, five, fifteen] =
            leading_numbers(text, ["1-minute load", "5-minute load", "15-minute load"])?;
        Ok(Self { one, five, fifteen })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_averages_and_rejects_garbage() {
        let l = LoadAvg::parse("10.73 12.17 11.61 16/221 21771\n").unwrap();
        assert_eq!((l.one, l.five, l.fifteen), (10.73, 12.17, 11.61));
        assert!(LoadAvg::parse("1.0 x 2.0")
            .unwrap_err()
            .contains("5-minute"));
        assert!(LoadAvg::parse("").is_err());
    }
}
