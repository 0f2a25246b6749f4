//! The report as one JSON object (sizes in bytes, times UTC unix seconds,
//! rates in bytes per second). Fields are those of [`Report`]; the
//! analysis of each series is `memdx-trend`'s (`verdict` tagged by name).

use std::io::{self, Write};

use super::Report;

/// Writes `report` as pretty JSON and a newline.
pub fn write(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    // Serialized first, so an error writing (a closed pipe) stays an io::Error
    // of its own kind.
    let text = serde_json::to_string_pretty(report).map_err(io::Error::other)?;
    writeln!(out, "{text}")
}
