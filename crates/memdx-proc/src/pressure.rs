//! `/proc/pressure/memory`: pressure stall information (kernel 4.20+, and
//! only with CONFIG_PSI and without `psi=0`).
//!
//! ```text
//! some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//! full avg10=0.00 avg60=0.00 avg300=0.00 total=0
//! ```
//! `some`: share of time at least one task stalled on memory; `full`: all
//! non-idle tasks stalled at once. Averages are percentages.

use crate::error::{ProcError, Result};
use crate::root::ProcRoot;

/// Path relative to the root.
pub const REL_PATH: &str = "proc/pressure/memory";

/// One line of a pressure file.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PressureLine {
    /// Percent of the last 10 s.
    pub avg10: f64,
    /// Percent of the last 60 s.
    pub avg60: f64,
    /// Percent of the last 300 s.
    pub avg300: f64,
    /// Total stall time, microseconds.
    pub total_us: u64,
}

/// Memory pressure.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MemoryPressure {
    /// Some tasks stalled.
    pub some: PressureLine,
    /// All non-idle tasks stalled (absent on kernels before 5.x for cpu, always
    /// present for memory).
    pub full: Option<PressureLine>,
}

impl MemoryPressure {
    /// Reads it; `Ok(None)` when the kernel has no PSI (file absent).
    pub fn read(root: &ProcRoot) -> Result<Option<Self>> {
        let text = match root.read_to_string(REL_PATH) {
            Ok(t) => t,
            Err(e) if e.is_not_found() => return Ok(None),
            // "psi=0" on the kernel command line: the file exists, reads fail.
            Err(ProcError::Io { source, .. }) if source.raw_os_error() == Some(95) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        Self::parse(&text)
            .map(Some)
            .map_err(|(line, message)| ProcError::Parse {
                path: root.path(REL_PATH),
                line,
                message,
            })
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> std::result::Result<Self, (usize, String)> {
        let mut some = None;
        let mut full = None;
        for (i, line) in text.lines().enumerate() {
            let mut words = line.split_whitespace();
            let kind = words.next().unwrap_or_default();
            let mut p = PressureLine::default();
            for w in words {
                let (k, v) = w.split_once('=').ok_or((
                    i + 1,
                    format!("expected key=value, found {}", crate::error::quoted(w)),
                ))?;
                let bad = || (i + 1, format!("bad value in {}", crate::error::quoted(w)));
                match k {
                    "avg10" => p.avg10 = v.parse().map_err(|_| bad())?,
                    "avg60" => p.avg60 = v.parse().map_err(|_| bad())?,
                    "avg300" => p.avg300 = v.parse().map_err(|_| bad())?,
                    "total" => p.total_us = v.parse().map_err(|_| bad())?,
                    _ => {}
                }
            }
            match kind {
                "some" => some = Some(p),
                "full" => full = Some(p),
                _ => {
                    return Err((
                        i + 1,
                        format!("unknown line kind {}", crate::error::quoted(kind)),
                    ))
                }
            }
        }
        Ok(Self {
            some: some.ok_or((0, "no `some` line".to_string()))?,
            full,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_some_and_full() {
        let p = MemoryPressure::parse(
            "some avg10=1.50 avg60=0.25 avg300=0.00 total=12345\nfull avg10=0.75 avg60=0.10 avg300=0.00 total=678\n",
        )
        .unwrap();
        assert_eq!(p.some.avg10, 1.5);
        assert_eq!(p.some.total_us, 12345);
        assert_eq!(p.full.unwrap().avg10, 0.75);
    }

    #[test]
    fn absent_file_means_no_psi() {
        assert_eq!(
            MemoryPressure::read(&ProcRoot::new("/nonexistent-memdx")).unwrap(),
            None
        );
    }

    #[test]
    fn garbage_is_an_error_with_line() {
        assert_eq!(MemoryPressure::parse("some avg10=x\n").unwrap_err().0, 1);
    }
}
