//! `vmstat -d`, `-D` and `-p`.

use std::io::{self, Write};

use memdx_model::vmstat::disk::{DiskRow, DiskSummary, PartitionRow};

/// Writes `-d`'s two header lines (`zone` over the timestamp column with
/// `-t`).
pub fn write_disk_header(
    out: &mut impl Write,
    wide: bool,
    timestamp: bool,
    zone: &str,
) -> io::Result<()> {
    const TS: &str = " -----timestamp-----";
    if wide {
        out.write_all(b"disk- -------------------reads------------------- -------------------writes------------------ ------IO-------")?;
    } else {
        out.write_all(
            b"disk- ------------reads------------ ------------writes----------- -----IO------",
        )?;
    }
    if timestamp {
        out.write_all(TS.as_bytes())?;
    }
    out.write_all(b"\n")?;
    let n = [
        " ", "total", "merged", "sectors", "ms", "total", "merged", "sectors", "ms", "cur", "sec",
    ];
    if wide {
        write!(
            out,
            "{:>5} {:>9} {:>9} {:>11} {:>11} {:>9} {:>9} {:>11} {:>11} {:>7} {:>7}",
            n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8], n[9], n[10]
        )?;
    } else {
        write!(
            out,
            "{:>5} {:>6} {:>6} {:>7} {:>7} {:>6} {:>6} {:>7} {:>7} {:>6} {:>6}",
            n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8], n[9], n[10]
        )?;
    }
    if timestamp {
        let width = TS.len() - 1;
        let zone: String = zone.chars().take(width).collect();
        write!(out, " {zone:>width$}")?;
    }
    out.write_all(b"\n")
}

/// Writes one `-d` row (`timestamp` appended when given).
pub fn write_disk_row(
    out: &mut impl Write,
    r: &DiskRow,
    wide: bool,
    timestamp: Option<&str>,
) -> io::Result<()> {
    if wide {
        write!(
            out,
            "{:<5} {:>9} {:>9} {:>11} {:>11} {:>9} {:>9} {:>11} {:>11} {:>7} {:>7}",
            r.name,
            r.reads,
            r.reads_merged,
            r.read_sectors,
            r.read_ms,
            r.writes,
            r.writes_merged,
            r.write_sectors,
            r.write_ms,
            r.in_progress,
            r.io_seconds
        )?;
    } else {
        write!(
            out,
            "{:<5} {:>6} {:>6} {:>7} {:>7} {:>6} {:>6} {:>7} {:>7} {:>6} {:>6}",
            r.name,
            r.reads,
            r.reads_merged,
            r.read_sectors,
            r.read_ms,
            r.writes,
            r.writes_merged,
            r.write_sectors,
            r.write_ms,
            r.in_progress,
            r.io_seconds
        )?;
    }
    if let Some(ts) = timestamp {
        write!(out, " {ts}")?;
    }
    out.write_all(b"\n")
}

/// Writes `-D`'s lines.
pub fn write_disk_summary(out: &mut impl Write, s: &DiskSummary) -> io::Result<()> {
    writeln!(out, "{:>13} disks", s.disks)?;
    writeln!(out, "{:>13} partitions", s.partitions)?;
    for (v, label) in [
        (s.reads, "total reads"),
        (s.merged_reads, "merged reads"),
        (s.read_sectors, "read sectors"),
        (s.milli_reading, "milli reading"),
        (s.writes, "writes"),
        (s.merged_writes, "merged writes"),
        (s.written_sectors, "written sectors"),
        (s.milli_writing, "milli writing"),
        (s.inprogress_io, "inprogress IO"),
        (s.milli_spent_io, "milli spent IO"),
        (s.milli_weighted_io, "milli weighted IO"),
    ] {
        writeln!(out, "{v:>13} {label}")?;
    }
    Ok(())
}

/// Writes `-p`'s header line for device `name`.
pub fn write_partition_header(out: &mut impl Write, name: &str) -> io::Result<()> {
    writeln!(
        out,
        "{:<10} {:>10}  {:>16}  {:>10}  {:>16}",
        name, "reads", "read sectors", "writes", "requested writes"
    )
}

/// Writes one `-p` row.
pub fn write_partition_row(out: &mut impl Write, r: &PartitionRow) -> io::Result<()> {
    writeln!(
        out,
        "{:>21}  {:>16}  {:>10}  {:>16}",
        r.reads, r.read_sectors, r.writes, r.requested_writes
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_layout_matches_procps() {
        let mut out = Vec::new();
        write_partition_header(&mut out, "vda").unwrap();
        write_partition_row(
            &mut out,
            &PartitionRow {
                reads: 37553,
                read_sectors: 4822234,
                writes: 22747,
                requested_writes: 3211952,
            },
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "vda             reads      read sectors      writes  requested writes\n                37553           4822234       22747           3211952\n"
        );
    }

    #[test]
    fn disk_row_left_aligns_the_name() {
        let mut out = Vec::new();
        let row = DiskRow {
            name: "vda".into(),
            reads: 40492,
            reads_merged: 7708,
            read_sectors: 5250210,
            read_ms: 30899,
            writes: 23445,
            writes_merged: 14568,
            write_sectors: 3933064,
            write_ms: 12388,
            in_progress: 0,
            io_seconds: 8,
            ..Default::default()
        };
        write_disk_row(&mut out, &row, false, None).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "vda    40492   7708 5250210   30899  23445  14568 3933064   12388      0      8\n"
        );
    }
}
