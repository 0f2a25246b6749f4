//! The default report: two header lines and one line per sample.

use std::io::{self, Write};

use memdx_model::vmstat::report::ReportLine;

/// Layout switches of the default report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportLayout {
    /// `-w`: wide columns, with the guest column.
    pub wide: bool,
    /// `-a`: inact/active instead of buff/cache.
    pub active: bool,
    /// `-t`: timestamp column.
    pub timestamp: bool,
}

/// The header procps appends for `-t`; its length minus one is the width
/// the time zone name is right-aligned (and truncated) to.
const TIMESTAMP_HEADER: &str = " -----timestamp-----";

/// Writes the two header lines. `zone` is the time zone abbreviation
/// (`%Z`) shown over the timestamp column with `-t`.
pub fn write_header(out: &mut impl Write, layout: &ReportLayout, zone: &str) -> io::Result<()> {
    if layout.wide {
        out.write_all(b"--procs-- -----------------------memory---------------------- ---swap-- -----io---- -system-- ----------cpu----------")?;
    } else {
        out.write_all(
            b"procs -----------memory---------- ---swap-- -----io---- -system-- ------cpu-----",
        )?;
    }
    if layout.timestamp {
        out.write_all(TIMESTAMP_HEADER.as_bytes())?;
    }
    out.write_all(b"\n")?;
    let (buff, cache) = if layout.active {
        ("inact", "active")
    } else {
        ("buff", "cache")
    };
    if layout.wide {
        write!(
            out,
            "{:>4} {:>4} {:>12} {:>12} {:>12} {:>12} {:>4} {:>4} {:>5} {:>5} {:>4} {:>4} {:>3} {:>3} {:>3} {:>3} {:>3} {:>3}",
            "r", "b", "swpd", "free", buff, cache, "si", "so", "bi", "bo", "in", "cs", "us", "sy", "id", "wa", "st", "gu"
        )?;
    } else {
        write!(
            out,
            "{:>2} {:>2} {:>6} {:>6} {:>6} {:>6} {:>4} {:>4} {:>5} {:>5} {:>4} {:>4} {:>2} {:>2} {:>2} {:>2} {:>2}",
            "r", "b", "swpd", "free", buff, cache, "si", "so", "bi", "bo", "in", "cs", "us", "sy", "id", "wa", "st"
        )?;
    }
    if layout.timestamp {
        let width = TIMESTAMP_HEADER.len() - 1;
        let zone: String = zone.chars().take(width).collect();
        write!(out, " {zone:>width$}")?;
    }
    out.write_all(b"\n")
}

/// Writes one report line; `timestamp` is printed after it with `-t`.
pub fn write_line(
    out: &mut impl Write,
    line: &ReportLine,
    layout: &ReportLayout,
    timestamp: &str,
) -> io::Result<()> {
    let l = line;
    if layout.wide {
        write!(
            out,
            "{:>4} {:>4} {:>12} {:>12} {:>12} {:>12} {:>4} {:>4} {:>5} {:>5} {:>4} {:>4} {:>3} {:>3} {:>3} {:>3} {:>3} {:>3}",
            l.running, l.blocked, l.swpd, l.free, l.buff_or_inact, l.cache_or_active,
            l.si, l.so, l.bi, l.bo, l.interrupts, l.cs, l.us, l.sy, l.id, l.wa, l.st, l.gu
        )?;
    } else {
        // procps' narrow format has no conversion for the guest column.
        write!(
            out,
            "{:>2} {:>2} {:>6} {:>6} {:>6} {:>6} {:>4} {:>4} {:>5} {:>5} {:>4} {:>4} {:>2} {:>2} {:>2} {:>2} {:>2}",
            l.running, l.blocked, l.swpd, l.free, l.buff_or_inact, l.cache_or_active,
            l.si, l.so, l.bi, l.bo, l.interrupts, l.cs, l.us, l.sy, l.id, l.wa, l.st
        )?;
    }
    if layout.timestamp {
        write!(out, " {timestamp}")?;
    }
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl Fn(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn narrow_header_and_line_match_procps() {
        let layout = ReportLayout::default();
        let line = ReportLine {
            running: 1,
            swpd: 0,
            free: 23116340,
            buff_or_inact: 28924,
            cache_or_active: 1416004,
            bi: 980,
            bo: 800,
            interrupts: 104,
            cs: 228,
            us: 2,
            sy: 2,
            id: 96,
            gu: 7,
            ..Default::default()
        };
        assert_eq!(
            text(|o| write_header(o, &layout, "UTC")),
            "procs -----------memory---------- ---swap-- -----io---- -system-- ------cpu-----\n r  b   swpd   free   buff  cache   si   so    bi    bo   in   cs us sy id wa st\n"
        );
        assert_eq!(
            text(|o| write_line(o, &line, &layout, "")),
            " 1  0      0 23116340  28924 1416004    0    0   980   800  104  228  2  2 96  0  0\n"
        );
    }

    #[test]
    fn wide_active_timestamp_header() {
        let layout = ReportLayout {
            wide: true,
            active: true,
            timestamp: true,
        };
        let h = text(|o| write_header(o, &layout, "UTC"));
        assert!(
            h.ends_with("  us  sy  id  wa  st  gu                 UTC\n"),
            "{h}"
        );
        assert!(h.contains("        inact       active"), "{h}");
    }
}
