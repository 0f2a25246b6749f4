//! cgroup memory: `memory.current`, `memory.stat`, `memory.max`,
//! `memory.swap.current`, `memory.peak` of one cgroup v2, or the cgroup v1
//! memory controller's `memory.usage_in_bytes`, `memory.limit_in_bytes`,
//! `memory.max_usage_in_bytes`, `memory.memsw.usage_in_bytes` and
//! `memory.stat` (whose hierarchical `total_*` keys the accessors prefer).
//!
//! The cgroup v2 hierarchy is mounted at `sys/fs/cgroup` (unified mode) or
//! `sys/fs/cgroup/unified` (systemd's hybrid mode); [`v2_mount`] finds it
//! under the root. cgroup v1's memory controller is at `sys/fs/cgroup/memory`.
//! [`memory_mount`] picks the hierarchy that accounts memory: v2 when its
//! root lists the `memory` controller, else v1's memory hierarchy when
//! mounted (v1 or hybrid mode), else v2 without it. A cgroup is named by its
//! path in that hierarchy, as `/proc/PID/cgroup` writes it after `0::` or
//! after `N:memory:` (`/system.slice/nginx.service`).
//!
//! Files the kernel did not write (the memory controller is not enabled for
//! the cgroup, an older kernel without `memory.peak`) are `None`; a cgroup
//! that does not exist is an error naming its directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{ProcError, Result};
use crate::root::ProcRoot;

/// Where cgroup v2 is mounted in unified mode, relative to the root.
pub const UNIFIED_MOUNT: &str = "sys/fs/cgroup";
/// Where systemd's hybrid mode mounts cgroup v2, relative to the root.
pub const HYBRID_MOUNT: &str = "sys/fs/cgroup/unified";

/// The cgroup v2 mount under `root`: `sys/fs/cgroup` when it holds
/// `cgroup.controllers` (unified), else `sys/fs/cgroup/unified` when that
/// does (hybrid), else `None` (cgroup v1 only, or no cgroups).
pub fn v2_mount(root: &ProcRoot) -> Option<PathBuf> {
    [UNIFIED_MOUNT, HYBRID_MOUNT]
        .into_iter()
        .map(|rel| root.path(rel))
        .find(|dir| dir.join("cgroup.controllers").is_file())
}

/// Where cgroup v1's memory controller is mounted, relative to the root.
pub const V1_MEMORY_MOUNT: &str = "sys/fs/cgroup/memory";

/// v1 limits at or above this are "no limit" (the kernel writes the
/// page-rounded 2^63 - 1, e.g. 9223372036854771712 with 4 KiB pages).
const V1_UNLIMITED: u64 = 1 << 62;

/// The memory hierarchy a cgroup lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// cgroup v1's memory controller.
    V1,
    /// cgroup v2.
    V2,
}

/// The hierarchy that accounts memory under `root`, and its version: cgroup
/// v2 when its `cgroup.controllers` lists `memory`; else cgroup v1's memory
/// hierarchy when mounted (`memory.usage_in_bytes` at its root); else the v2
/// mount without the controller (reading a cgroup there says so); else
/// `None`.
pub fn memory_mount(root: &ProcRoot) -> Option<(PathBuf, CgroupVersion)> {
    let v2 = v2_mount(root);
    if let Some(dir) = &v2 {
        let controllers =
            std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
        if controllers.split_whitespace().any(|c| c == "memory") {
            return v2.map(|d| (d, CgroupVersion::V2));
        }
    }
    let v1 = root.path(V1_MEMORY_MOUNT);
    if v1.join("memory.usage_in_bytes").is_file() {
        return Some((v1, CgroupVersion::V1));
    }
    v2.map(|d| (d, CgroupVersion::V2))
}

/// `memory.max` (and `memory.high`): a byte limit or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryLimit {
    /// At most this many bytes.
    Bytes(u64),
    /// `max`: no limit.
    Unlimited,
}

impl MemoryLimit {
    /// The limit in bytes, `None` when unlimited.
    pub fn bytes(self) -> Option<u64> {
        match self {
            Self::Bytes(b) => Some(b),
            Self::Unlimited => None,
        }
    }
}

/// `memory.stat`: every `key value` line, with accessors for the keys memdx
/// uses. Values are bytes for the size keys and counts for the event keys
/// (`pgfault`, `workingset_refault_anon`, ...), as the kernel writes them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemoryStat {
    /// Every key in the file.
    pub fields: BTreeMap<String, u64>,
}

impl MemoryStat {
    /// The value of `key`, `None` when this kernel does not write it.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.fields.get(key).copied()
    }
    /// cgroup v1's hierarchical `total_<v1>` (the cgroup and its
    /// descendants, as `memory.usage_in_bytes` counts), else v2's `v2`. v2
    /// has no `total_*` keys; v1's plain keys count the cgroup alone.
    fn hierarchical(&self, v1: &str, v2: &str) -> Option<u64> {
        self.get(&format!("total_{v1}")).or_else(|| self.get(v2))
    }
    /// Anonymous memory (heap, stacks, private mappings), bytes: v2 `anon`,
    /// v1 `total_rss`.
    pub fn anon(&self) -> Option<u64> {
        self.hierarchical("rss", "anon")
    }
    /// Page cache, bytes: v2 `file`, v1 `total_cache`.
    pub fn file(&self) -> Option<u64> {
        self.hierarchical("cache", "file")
    }
    /// `inactive_file` (v1 `total_inactive_file`): page cache on the
    /// inactive list (reclaimed first).
    pub fn inactive_file(&self) -> Option<u64> {
        self.hierarchical("inactive_file", "inactive_file")
    }
    /// `active_file` (v1 `total_active_file`).
    pub fn active_file(&self) -> Option<u64> {
        self.hierarchical("active_file", "active_file")
    }
    /// `shmem` (v1 `total_shmem`): tmpfs and shared anonymous memory.
    pub fn shmem(&self) -> Option<u64> {
        self.hierarchical("shmem", "shmem")
    }
    /// `kernel`: kernel memory charged to the cgroup (kernel 5.18+).
    pub fn kernel(&self) -> Option<u64> {
        self.get("kernel")
    }
    /// `slab`.
    pub fn slab(&self) -> Option<u64> {
        self.get("slab")
    }

    /// Parses the file's text. Errors are `(1-based line, what)`.
    pub fn parse(text: &str) -> std::result::Result<Self, (usize, String)> {
        let mut fields = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(key), Some(value), None) = (words.next(), words.next(), words.next()) else {
                return Err((
                    i + 1,
                    format!("expected 'key value', found {}", crate::error::quoted(line)),
                ));
            };
            let value: u64 = value.parse().map_err(|_| {
                (
                    i + 1,
                    format!("bad number {} for {key}", crate::error::quoted(value)),
                )
            })?;
            fields.insert(key.to_string(), value);
        }
        Ok(Self { fields })
    }
}

/// One cgroup's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMemory {
    /// The cgroup's directory.
    pub dir: PathBuf,
    /// The hierarchy it was read from (the figures below are named after
    /// v2's files; v1's equivalents are given with each).
    pub version: CgroupVersion,
    /// `memory.current` (v1 `memory.usage_in_bytes`): all memory charged to
    /// the cgroup, bytes.
    pub current: Option<u64>,
    /// `memory.max` (v1 `memory.limit_in_bytes`, near 2^63 = unlimited):
    /// the hard limit (the OOM killer acts beyond it).
    pub max: Option<MemoryLimit>,
    /// `memory.high`: the throttling limit (v2 only).
    pub high: Option<MemoryLimit>,
    /// `memory.peak` (v1 `memory.max_usage_in_bytes`): the highest
    /// `memory.current` seen (kernel 5.19+ on v2).
    pub peak: Option<u64>,
    /// `memory.swap.current`, bytes (v1: `memory.memsw.usage_in_bytes -
    /// memory.usage_in_bytes`, floored at 0, when swap is accounted).
    pub swap_current: Option<u64>,
    /// `memory.stat`.
    pub stat: Option<MemoryStat>,
}

impl CgroupMemory {
    /// The working set as the kubelet computes it: `memory.current -
    /// inactive_file`, floored at 0 (what container eviction and
    /// `kubectl top` go by). `None` when either figure is missing.
    pub fn working_set(&self) -> Option<u64> {
        let inactive = self.stat.as_ref()?.inactive_file()?;
        Some(self.current?.saturating_sub(inactive))
    }

    /// The hard limit in bytes, `None` when unlimited or not readable.
    pub fn limit(&self) -> Option<u64> {
        self.max.and_then(MemoryLimit::bytes)
    }

    /// Whether the memory controller answered at all (any memory file read).
    pub fn has_memory_controller(&self) -> bool {
        self.current.is_some() || self.stat.is_some() || self.max.is_some()
    }

    /// Reads the cgroup at `dir`, a directory in the cgroup v2 hierarchy or
    /// in cgroup v1's memory hierarchy (told apart by `memory.usage_in_bytes`).
    pub fn read_dir(dir: &Path) -> Result<Self> {
        let meta = std::fs::metadata(dir).map_err(|source| ProcError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(ProcError::Parse {
                path: dir.to_path_buf(),
                line: 0,
                message: "not a cgroup directory".into(),
            });
        }
        if dir.join("memory.usage_in_bytes").is_file() {
            return Self::read_v1(dir);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            version: CgroupVersion::V2,
            current: optional(dir, "memory.current", parse_u64)?,
            max: optional(dir, "memory.max", parse_limit)?,
            high: optional(dir, "memory.high", parse_limit)?,
            peak: optional(dir, "memory.peak", parse_u64)?,
            swap_current: optional(dir, "memory.swap.current", parse_u64)?,
            stat: optional(dir, "memory.stat", MemoryStat::parse)?,
        })
    }

    fn read_v1(dir: &Path) -> Result<Self> {
        let current = optional(dir, "memory.usage_in_bytes", parse_u64)?;
        let memsw = optional(dir, "memory.memsw.usage_in_bytes", parse_u64)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            version: CgroupVersion::V1,
            current,
            max: optional(dir, "memory.limit_in_bytes", parse_u64)?.map(|b| {
                if b >= V1_UNLIMITED {
                    MemoryLimit::Unlimited
                } else {
                    MemoryLimit::Bytes(b)
                }
            }),
            high: None,
            peak: optional(dir, "memory.max_usage_in_bytes", parse_u64)?,
            swap_current: memsw.zip(current).map(|(sw, mem)| sw.saturating_sub(mem)),
            stat: optional(dir, "memory.stat", MemoryStat::parse)?,
        })
    }

    /// Reads the cgroup named `cgroup` (`/system.slice/x.service`, as in
    /// `/proc/PID/cgroup`; `/` is the root cgroup) in the memory hierarchy
    /// of `root` ([`memory_mount`]). An error names the mount when there is
    /// none.
    pub fn read(root: &ProcRoot, cgroup: &str) -> Result<Self> {
        let (mount, _) = memory_mount(root).ok_or_else(|| ProcError::Parse {
            path: root.path(UNIFIED_MOUNT),
            line: 0,
            message: "no cgroup memory hierarchy here (neither cgroup v2's cgroup.controllers nor v1's memory/memory.usage_in_bytes)".into(),
        })?;
        Self::read_dir(&mount.join(cgroup.trim_start_matches('/')))
    }
}

/// Reads `dir/name` and parses it; `Ok(None)` when the file does not exist.
fn optional<T>(
    dir: &Path,
    name: &str,
    parse: impl FnOnce(&str) -> std::result::Result<T, (usize, String)>,
) -> Result<Option<T>> {
    let path = dir.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ProcError::Io { path, source }),
    };
    parse(&text)
        .map(Some)
        .map_err(|(line, message)| ProcError::Parse {
            path,
            line,
            message,
        })
}

fn parse_u64(text: &str) -> std::result::Result<u64, (usize, String)> {
    let t = text.trim();
    t.parse()
        .map_err(|_| (1, format!("bad number {}", crate::error::quoted(t))))
}

fn parse_limit(text: &str) -> std::result::Result<MemoryLimit, (usize, String)> {
    match text.trim() {
        "max" => Ok(MemoryLimit::Unlimited),
        _ => parse_u64(text).map(MemoryLimit::Bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_keeps_every_key_and_rejects_garbage_with_its_line() {
        let s =
            MemoryStat::parse("anon 4096\nfile 8192\ninactive_file 1024\npgfault 77\n").unwrap();
        assert_eq!(s.anon(), Some(4096));
        assert_eq!(s.get("pgfault"), Some(77));
        assert_eq!(s.kernel(), None);
        assert_eq!(MemoryStat::parse("anon 1\nfile x\n").unwrap_err().0, 2);
        assert_eq!(MemoryStat::parse("anon\n").unwrap_err().0, 1);
    }

    #[test]
    fn limits_and_working_set() {
        assert_eq!(parse_limit("max\n").unwrap(), MemoryLimit::Unlimited);
        assert_eq!(
            parse_limit("536870912\n").unwrap(),
            MemoryLimit::Bytes(536_870_912)
        );
        assert!(parse_limit("lots\n").is_err());
        let mut m = CgroupMemory {
            dir: PathBuf::new(),
            version: CgroupVersion::V2,
            current: Some(1000),
            max: Some(MemoryLimit::Unlimited),
            high: None,
            peak: None,
            swap_current: None,
            stat: Some(MemoryStat::parse("inactive_file 300\n").unwrap()),
        };
        assert_eq!(m.working_set(), Some(700));
        assert_eq!(m.limit(), None);
        // More inactive file than usage (stat and current read at different moments).
        m.current = Some(200);
        assert_eq!(m.working_set(), Some(0));
        m.stat = None;
        assert_eq!(m.working_set(), None);
    }
}
