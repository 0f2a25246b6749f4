//! `vmstat -d`, `-D` and `-p`: block device counters as procps prints them.

use memdx_proc::{DiskStat, DiskStats};
use serde::Serialize;

/// Whether `name` is a whole disk: listed in `/sys/block`, or every device
/// when that directory could not be read (procps' rule).
pub fn is_disk(name: &str, whole_disks: Option<&[String]>) -> bool {
    whole_disks.is_none_or(|list| list.iter().any(|d| d == name))
}

/// One `-d` row. `in_progress` and `io_seconds` are procps' figures: the
/// in-flight I/O count (a C `int`) divided by 1000, and milliseconds spent
/// doing I/O divided by 1000.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DiskRow {
    /// Device name.
    pub name: String,
    /// Reads completed.
    pub reads: u64,
    /// Reads merged.
    pub reads_merged: u64,
    /// Sectors read.
    pub read_sectors: u64,
    /// Milliseconds reading.
    pub read_ms: u64,
    /// Writes completed.
    pub writes: u64,
    /// Writes merged.
    pub writes_merged: u64,
    /// Sectors written.
    pub write_sectors: u64,
    /// Milliseconds writing.
    pub write_ms: u64,
    /// procps' "cur": in-flight I/Os / 1000 (not in JSON).
    #[serde(skip)]
    pub in_progress: i32,
    /// procps' "sec": I/O milliseconds / 1000 (not in JSON).
    #[serde(skip)]
    pub io_seconds: u64,
    /// I/Os in flight now.
    pub io_in_flight: u64,
    /// Milliseconds spent doing I/O.
    pub io_ms: u64,
    /// Weighted milliseconds spent doing I/O.
    pub weighted_io_ms: u64,
}

/// A device in `/proc/diskstats` order with its disk/partition class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskEntry {
    /// Whole disk (printed by `-d`) or partition (skipped).
    pub is_disk: bool,
    /// The row.
    pub row: DiskRow,
}

fn in_progress(d: &DiskStat) -> i32 {
    // C: (int)io_inprogress / 1000.
    (d.io_in_progress as i32) / 1000
}

/// All devices, classified, in file order (procps' header repetition
/// counts partitions too, so the caller needs them).
pub fn entries(stats: &DiskStats, whole_disks: Option<&[String]>) -> Vec<DiskEntry> {
    stats
        .devices
        .iter()
        .map(|d| DiskEntry {
            is_disk: is_disk(&d.name, whole_disks),
            row: DiskRow {
                name: d.name.clone(),
                reads: d.reads,
                reads_merged: d.reads_merged,
                read_sectors: d.read_sectors,
                read_ms: d.read_ms,
                writes: d.writes,
                writes_merged: d.writes_merged,
                write_sectors: d.write_sectors,
                write_ms: d.write_ms,
                in_progress: in_progress(d),
                io_seconds: d.io_ms / 1000,
                io_in_flight: d.io_in_progress,
                io_ms: d.io_ms,
                weighted_io_ms: d.weighted_io_ms,
            },
        })
        .collect()
}

/// procps' device list for `-d` over several samples. procps keeps one
/// linked list for the whole run: a device is appended when first seen and
/// updated in place after that; a device that vanished from
/// `/proc/diskstats` stays listed with its last counters; one that comes
/// back after missing a read is dropped and appended again. Whether a
/// device is a disk is decided once, when it is appended.
#[derive(Debug, Clone, Default)]
pub struct DiskTracker {
    nodes: Vec<TrackedDevice>,
    old_stamp: i64,
    new_stamp: i64,
}

#[derive(Debug, Clone)]
struct TrackedDevice {
    entry: DiskEntry,
    stamped: i64,
}

impl DiskTracker {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one sample read at `now` (seconds; procps stamps reads with
    /// `time(NULL)`).
    pub fn update(&mut self, stats: &DiskStats, whole_disks: Option<&[String]>, now: i64) {
        self.old_stamp = self.new_stamp;
        self.new_stamp = now;
        for fresh in entries(stats, whole_disks) {
            let found = self
                .nodes
                .iter()
                .position(|n| n.entry.row.name == fresh.row.name);
            let found = match found {
                Some(i)
                    if self.nodes[i].stamped != self.old_stamp
                        && self.nodes[i].stamped != self.new_stamp =>
                {
                    // stale: forget it, it is appended again below
                    self.nodes.remove(i);
                    None
                }
                other => other,
            };
            match found {
                Some(i) => {
                    let node = &mut self.nodes[i];
                    node.entry.row = fresh.row;
                    node.stamped = self.new_stamp;
                }
                None => self.nodes.push(TrackedDevice {
                    entry: fresh,
                    stamped: self.new_stamp,
                }),
            }
        }
    }

    /// The device called `name` as procps' `node_get` finds it: updated by
    /// the latest read or the one before (so a device that just vanished
    /// still shows its previous counters), else not found.
    pub fn get(&self, name: &str) -> Option<&DiskRow> {
        self.nodes
            .iter()
            .find(|n| n.entry.row.name == name)
            .filter(|n| n.stamped == self.old_stamp || n.stamped == self.new_stamp)
            .map(|n| &n.entry.row)
    }

    /// The list as procps prints it, partitions included (for the header
    /// arithmetic).
    pub fn entries(&self) -> impl Iterator<Item = &DiskEntry> {
        self.nodes.iter().map(|n| &n.entry)
    }
}

/// `-D`: the disks' counters summed (partitions only counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct DiskSummary {
    /// Whole disks.
    pub disks: i32,
    /// Partitions.
    pub partitions: i32,
    /// Reads.
    pub reads: u64,
    /// Merged reads.
    pub merged_reads: u64,
    /// Sectors read.
    pub read_sectors: u64,
    /// Milliseconds reading.
    pub milli_reading: u64,
    /// Writes.
    pub writes: u64,
    /// Merged writes.
    pub merged_writes: u64,
    /// Sectors written.
    pub written_sectors: u64,
    /// Milliseconds writing.
    pub milli_writing: u64,
    /// Sum of in-flight I/Os / 1000 per disk (procps' arithmetic).
    pub inprogress_io: u64,
    /// Sum of I/O milliseconds / 1000 per disk.
    pub milli_spent_io: u64,
    /// Sum of weighted I/O milliseconds / 1000 per disk.
    pub milli_weighted_io: u64,
}

impl DiskSummary {
    /// Sums the whole disks of `stats` in C `unsigned long` arithmetic.
    pub fn new(stats: &DiskStats, whole_disks: Option<&[String]>) -> Self {
        let mut s = Self::default();
        for d in &stats.devices {
            if !is_disk(&d.name, whole_disks) {
                s.partitions += 1;
                continue;
            }
            s.disks += 1;
            s.reads = s.reads.wrapping_add(d.reads);
            s.merged_reads = s.merged_reads.wrapping_add(d.reads_merged);
            s.read_sectors = s.read_sectors.wrapping_add(d.read_sectors);
            s.milli_reading = s.milli_reading.wrapping_add(d.read_ms);
            s.writes = s.writes.wrapping_add(d.writes);
            s.merged_writes = s.merged_writes.wrapping_add(d.writes_merged);
            s.written_sectors = s.written_sectors.wrapping_add(d.write_sectors);
            s.milli_writing = s.milli_writing.wrapping_add(d.write_ms);
            s.inprogress_io = s
                .inprogress_io
                .wrapping_add(i64::from(in_progress(d)) as u64);
            s.milli_spent_io = s.milli_spent_io.wrapping_add(d.io_ms / 1000);
            s.milli_weighted_io = s.milli_weighted_io.wrapping_add(d.weighted_io_ms / 1000);
        }
        s
    }
}

/// `-p`: the four counters of one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PartitionRow {
    /// Reads completed.
    pub reads: u64,
    /// Sectors read.
    pub read_sectors: u64,
    /// Writes completed.
    pub writes: u64,
    /// Sectors written ("requested writes").
    pub requested_writes: u64,
}

impl PartitionRow {
    /// The four counters of a `-d` row.
    pub fn from_row(r: &DiskRow) -> Self {
        Self {
            reads: r.reads,
            read_sectors: r.read_sectors,
            writes: r.writes,
            requested_writes: r.write_sectors,
        }
    }

    /// The row of device `name`, if present.
    pub fn find(stats: &DiskStats, name: &str) -> Option<Self> {
        stats.get(name).map(|d| Self {
            reads: d.reads,
            read_sectors: d.read_sectors,
            writes: d.writes,
            requested_writes: d.write_sectors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> DiskStats {
        DiskStats::parse(
            "8 0 sda 10 1 100 5 20 2 200 7 1500 2500 9999\n8 1 sda1 4 0 40 1 2 0 20 1 0 0 0\n",
        )
        .unwrap()
    }

    #[test]
    fn partitions_are_what_sys_block_does_not_list() {
        let whole = vec!["sda".to_string()];
        let e = entries(&stats(), Some(&whole));
        assert!(e[0].is_disk && !e[1].is_disk);
        assert_eq!((e[0].row.in_progress, e[0].row.io_seconds), (1, 2));
        let all = entries(&stats(), None);
        assert!(all[1].is_disk);
    }

    #[test]
    fn tracker_keeps_vanished_devices_and_appends_new_ones_like_procps() {
        let whole = vec!["sda".to_string(), "sdb".to_string()];
        let a = DiskStats::parse("8 0 sda 1 0 0 0 0 0 0 0 0 0 0\n8 16 sdb 2 0 0 0 0 0 0 0 0 0 0\n")
            .unwrap();
        let b = DiskStats::parse("8 32 sdc 3 0 0 0 0 0 0 0 0 0 0\n8 0 sda 4 0 0 0 0 0 0 0 0 0 0\n")
            .unwrap();
        let c = DiskStats::parse("8 16 sdb 5 0 0 0 0 0 0 0 0 0 0\n8 0 sda 6 0 0 0 0 0 0 0 0 0 0\n")
            .unwrap();
        let mut t = DiskTracker::new();
        t.update(&a, Some(&whole), 100);
        t.update(&b, Some(&whole), 101);
        let seen: Vec<(String, u64, bool)> = t
            .entries()
            .map(|e| (e.row.name.clone(), e.row.reads, e.is_disk))
            .collect();
        // sdb vanished but stays with its last counters; sdc (not in
        // /sys/block here) is appended as a partition.
        assert_eq!(
            seen,
            vec![
                ("sda".into(), 4, true),
                ("sdb".into(), 2, true),
                ("sdc".into(), 3, false)
            ]
        );
        t.update(&c, Some(&whole), 102);
        let names: Vec<&str> = t.entries().map(|e| e.row.name.as_str()).collect();
        // sdb missed a read: dropped and appended again.
        assert_eq!(names, vec!["sda", "sdc", "sdb"]);
        // sdc vanished in this read: still found (previous counters) ...
        assert_eq!(t.get("sdc").map(|r| r.reads), Some(3));
        t.update(&c, Some(&whole), 103);
        // ... but not after missing a second read.
        assert!(t.get("sdc").is_none());
    }

    #[test]
    fn summary_sums_disks_and_counts_partitions() {
        let whole = vec!["sda".to_string()];
        let s = DiskSummary::new(&stats(), Some(&whole));
        assert_eq!((s.disks, s.partitions, s.reads), (1, 1, 10));
        assert_eq!(
            (s.inprogress_io, s.milli_spent_io, s.milli_weighted_io),
            (1, 2, 9)
        );
    }

    #[test]
    fn partition_row_by_name() {
        let p = PartitionRow::find(&stats(), "sda1").unwrap();
        assert_eq!(
            (p.reads, p.read_sectors, p.writes, p.requested_writes),
            (4, 40, 2, 20)
        );
        assert!(PartitionRow::find(&stats(), "sdz").is_none());
    }
}
