//! `/proc/PID/smaps`: where one process's memory is, by kind of mapping.

use crate::error::Result;
use crate::root::ProcRoot;

/// The kinds of mapping a breakdown distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MappingKind {
    /// `[heap]`: the brk heap.
    Heap,
    /// `[stack]` and thread stacks (`[stack:TID]` on old kernels).
    Stack,
    /// Anonymous mappings without a name (mmap'd malloc arenas, JIT, ...).
    Anonymous,
    /// Mappings of files on disk (code, data, mmap'd files).
    File,
    /// Shared memory: SysV segments, /dev/shm, memfd, anonymous shared.
    Shmem,
    /// Kernel-provided: `[vdso]`, `[vvar]`, `[vsyscall]`, ...
    Other,
}

impl MappingKind {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            MappingKind::Heap => "heap",
            MappingKind::Stack => "stack",
            MappingKind::Anonymous => "anon",
            MappingKind::File => "file",
            MappingKind::Shmem => "shmem",
            MappingKind::Other => "other",
        }
    }

    fn classify(name: &str, shared: bool) -> MappingKind {
        if name == "[heap]" {
            MappingKind::Heap
        } else if name.starts_with("[stack") {
            MappingKind::Stack
        } else if name.starts_with("/dev/shm/")
            || name.starts_with("/SYSV")
            || name.starts_with("/memfd:")
        {
            MappingKind::Shmem
        } else if name.starts_with("[anon:") || name.is_empty() || name == "/dev/zero (deleted)" {
            if shared {
                MappingKind::Shmem
            } else {
                MappingKind::Anonymous
            }
        } else if name.starts_with('[') {
            MappingKind::Other
        } else {
            MappingKind::File
        }
    }
}

/// Resident and proportional bytes of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KindTotals {
    /// Number of mappings.
    pub mappings: u64,
    /// Rss.
    pub rss: u64,
    /// Pss.
    pub pss: u64,
    /// Swap.
    pub swap: u64,
}

/// A process's memory by mapping kind, in the order of [`MappingKind`].
pub type Breakdown = Vec<(MappingKind, KindTotals)>;

/// Reads and classifies `/proc/PID/smaps`. Needs the same permission as
/// smaps_rollup.
pub fn read_breakdown(root: &ProcRoot, pid: u32) -> Result<Breakdown> {
    root.read_parsed(&format!("proc/{pid}/smaps"), parse_breakdown)
}

/// Classifies the text of an smaps file.
pub fn parse_breakdown(text: &str) -> std::result::Result<Breakdown, (usize, String)> {
    let mut totals: std::collections::BTreeMap<MappingKind, KindTotals> = Default::default();
    let mut current: Option<MappingKind> = None;
    for (i, line) in text.lines().enumerate() {
        let first = line.split_whitespace().next().unwrap_or_default();
        if first.contains('-') && !first.ends_with(':') {
            // header: "addr-addr perms offset dev inode [name]"
            let mut f = line.splitn(6, ' ');
            let _range = f.next();
            let perms = f
                .next()
                .ok_or((i + 1, "mapping line without permissions".to_string()))?;
            let name = f.nth(3).unwrap_or("").trim();
            let kind = MappingKind::classify(name, perms.as_bytes().get(3) == Some(&b's'));
            totals.entry(kind).or_default().mappings += 1;
            current = Some(kind);
            continue;
        }
        let Some(kind) = current else { continue };
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let field = match key {
            "Rss" | "Pss" | "Swap" => key,
            _ => continue,
        };
        let kb: u64 = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or((i + 1, format!("bad {field} value")))?;
        let t = totals.entry(kind).or_default();
        match field {
            "Rss" => t.rss += kb * 1024,
            "Pss" => t.pss += kb * 1024,
            _ => t.swap += kb * 1024,
        }
    }
    Ok(totals.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d1c8a00000-55d1c8a21000 rw-p 00000000 00:00 0                          [heap]
Size:                132 kB
Rss:                  12 kB
Pss:                  12 kB
Swap:                  0 kB
7f3e4c000000-7f3e4c021000 rw-p 00000000 00:00 0 
Rss:                 100 kB
Pss:                 100 kB
Swap:                  4 kB
7f3e4d000000-7f3e4d200000 rw-s 00000000 00:01 1234                       /dev/shm/pulse-shm-1
Rss:                  64 kB
Pss:                  32 kB
7f3e4e000000-7f3e4e1a0000 r-xp 00000000 fe:01 5678                       /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                 900 kB
Pss:                  90 kB
7ffd1a000000-7ffd1a021000 rw-p 00000000 00:00 0                          [stack]
Rss:                  16 kB
Pss:                  16 kB
7ffd1a1fe000-7ffd1a200000 r-xp 00000000 00:00 0                          [vdso]
Rss:                   4 kB
Pss:                   0 kB
";

    #[test]
    fn mappings_are_classified_and_summed_in_bytes() {
        let b: std::collections::HashMap<_, _> =
            parse_breakdown(SMAPS).unwrap().into_iter().collect();
        assert_eq!(b[&MappingKind::Heap].rss, 12 * 1024);
        assert_eq!(b[&MappingKind::Anonymous].rss, 100 * 1024);
        assert_eq!(b[&MappingKind::Anonymous].swap, 4 * 1024);
        assert_eq!(b[&MappingKind::Shmem].pss, 32 * 1024);
        assert_eq!(b[&MappingKind::File].pss, 90 * 1024);
        assert_eq!(b[&MappingKind::Stack].rss, 16 * 1024);
        assert_eq!(b[&MappingKind::Other].mappings, 1);
    }
}
