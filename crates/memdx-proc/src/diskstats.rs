//! `/proc/diskstats` and `/sys/block`: I/O counters per block device.
//!
//! Format (`Documentation/admin-guide/iostats.rst`): `major minor name`
//! followed by 11 counters (kernels since 2.6.25 for partitions too), then 4
//! discard counters (4.18+) and 2 flush counters (5.5+), which are `Option`.
//! Whether a device is a whole disk or a partition is not in the file: a
//! whole disk has an entry in `/sys/block`.

use crate::error::Result;
use crate::root::ProcRoot;

/// Path of the file relative to the root.
pub const REL_PATH: &str = "proc/diskstats";

/// Directory listing whole disks, relative to the root.
pub const SYS_BLOCK_REL_PATH: &str = "sys/block";

/// The counters of one block device since boot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiskStat {
    /// Major device number.
    pub major: u32,
    /// Minor device number.
    pub minor: u32,
    /// Kernel name (`sda`, `sda1`, `nvme0n1`, ...).
    pub name: String,
    /// Reads completed.
    pub reads: u64,
    /// Adjacent reads merged.
    pub reads_merged: u64,
    /// 512-byte sectors read.
    pub read_sectors: u64,
    /// Milliseconds spent reading.
    pub read_ms: u64,
    /// Writes completed.
    pub writes: u64,
    /// Adjacent writes merged.
    pub writes_merged: u64,
    /// 512-byte sectors written.
    pub write_sectors: u64,
    /// Milliseconds spent writing.
    pub write_ms: u64,
    /// I/Os currently in progress.
    pub io_in_progress: u64,
    /// Milliseconds spent doing I/O.
    pub io_ms: u64,
    /// Weighted milliseconds spent doing I/O.
    pub weighted_io_ms: u64,
    /// Discards completed (4.18+).
    pub discards: Option<u64>,
    /// Flush requests completed (5.5+).
    pub flushes: Option<u64>,
}

/// One parsed `/proc/diskstats`, devices in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiskStats {
    /// The devices, in the kernel's order.
    pub devices: Vec<DiskStat>,
}

impl DiskStats {
    /// Reads and parses `proc/diskstats` under `root`.
    pub fn read(root: &ProcRoot) -> Result<Self> {
        root.read_parsed(REL_PATH, Self::parse)
    }

    /// Parses the text of a diskstats file (an empty file is a machine
    /// without block devices). On error returns the 1-based line and what
    /// was wrong.
    pub fn parse(text: &str) -> std::result::Result<Self, (usize, String)> {
        if !text.is_empty() && !text.ends_with('\n') {
            return Err((0, "file is truncated (last line has no newline)".into()));
        }
        let mut devices = Vec::new();
        for (idx, line) in text.lines().enumerate() {
            let lineno = idx + 1;
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.is_empty() {
                continue;
            }
            if words.len() < 14 {
                return Err((
                    lineno,
                    format!(
                        "expected `major minor name` and at least 11 counters, found {} fields",
                        words.len()
                    ),
                ));
            }
            let num = |i: usize| -> std::result::Result<u64, (usize, String)> {
                words[i].parse().map_err(|_| {
                    (
                        lineno,
                        format!(
                            "{} has a non-numeric field {}",
                            crate::error::clipped(words[2]),
                            crate::error::quoted(words[i])
                        ),
                    )
                })
            };
            let small = |i: usize| -> std::result::Result<u32, (usize, String)> {
                words[i].parse().map_err(|_| {
                    (
                        lineno,
                        format!("bad device number {}", crate::error::quoted(words[i])),
                    )
                })
            };
            devices.push(DiskStat {
                major: small(0)?,
                minor: small(1)?,
                name: words[2].to_string(),
                reads: num(3)?,
                reads_merged: num(4)?,
                read_sectors: num(5)?,
                read_ms: num(6)?,
                writes: num(7)?,
                writes_merged: num(8)?,
                write_sectors: num(9)?,
                write_ms: num(10)?,
                io_in_progress: num(11)?,
                io_ms: num(12)?,
                weighted_io_ms: num(13)?,
                discards: if words.len() > 14 {
                    Some(num(14)?)
                } else {
                    None
                },
                flushes: if words.len() > 18 {
                    Some(num(18)?)
                } else {
                    None
                },
            });
        }
        Ok(Self { devices })
    }

    /// The device called `name`.
    pub fn get(&self, name: &str) -> Option<&DiskStat> {
        self.devices.iter().find(|d| d.name == name)
    }
}

/// The names in `sys/block` under `root` (the whole disks), or `None` when
/// the directory cannot be read (procps then counts every device as a
/// disk).
pub fn whole_disks(root: &ProcRoot) -> Option<Vec<String>> {
    let dir = std::fs::read_dir(root.path(SYS_BLOCK_REL_PATH)).ok()?;
    Some(
        dir.filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = " 254       0 vda 32723 7500 3873498 15447 21484 9570 3164216 7644 0 7172 23712 6978 70 927728 451 4214 169\n   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0\n";

    #[test]
    fn parses_devices_with_and_without_extensions() {
        let d = DiskStats::parse(SAMPLE).unwrap();
        assert_eq!(d.devices.len(), 2);
        let vda = d.get("vda").unwrap();
        assert_eq!((vda.major, vda.minor), (254, 0));
        assert_eq!(vda.reads, 32723);
        assert_eq!(vda.weighted_io_ms, 23712);
        assert_eq!(vda.discards, Some(6978));
        assert_eq!(vda.flushes, Some(4214));
        assert_eq!(d.get("loop0").unwrap().discards, None);
    }

    #[test]
    fn rejects_short_and_non_numeric_lines() {
        assert_eq!(DiskStats::parse("8 0 sda 1 2 3 4\n").unwrap_err().0, 1);
        assert_eq!(
            DiskStats::parse("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 1 sda1 x 2 3 4 5 6 7 8 9 10 11\n")
                .unwrap_err()
                .0,
            2
        );
        assert!(DiskStats::parse("8 0 sda 1 2 3").is_err());
        assert_eq!(DiskStats::parse("").unwrap().devices.len(), 0);
    }
}
