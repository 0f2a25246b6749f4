//! Every memory cgroup's usage, cheaply: only the usage, swap and limit
//! files of each cgroup (no `memory.stat`), for recording every second.
//!
//! cgroup v2 (unified or hybrid mount, see [`crate::cgroup::v2_mount`]):
//! `memory.current`, `memory.swap.current`, `memory.max`; cgroups without
//! `memory.current` (the root, cgroups without the memory controller) are
//! skipped. When no v2 cgroup has memory accounting, cgroup v1's `memory`
//! hierarchy (`sys/fs/cgroup/memory`): `memory.usage_in_bytes`,
//! `memory.limit_in_bytes` (the "unlimited" value, near 2^63, reads as no
//! limit) and swap as `memory.memsw.usage_in_bytes - memory.usage_in_bytes`
//! when swap accounting is on.

use std::path::{Path, PathBuf};

use crate::error::{ProcError, Result};
use crate::root::ProcRoot;

pub use crate::cgroup::V1_MEMORY_MOUNT;

/// Limits at or above this are v1's "no limit" (page-rounded 2^63 - 1).
const V1_UNLIMITED: u64 = 1 << 62;

/// One cgroup's memory, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupUsage {
    /// Path in the hierarchy, `/` for the root (as `/proc/PID/cgroup` writes it).
    pub path: String,
    /// Memory charged to it now (v2 `memory.current`, v1 `memory.usage_in_bytes`).
    pub current: u64,
    /// Swap charged to it, when the kernel accounts swap.
    pub swap: Option<u64>,
    /// The hard limit, `None` when unlimited.
    pub max: Option<u64>,
}

/// Every cgroup with memory accounting under `root`, parents before children.
/// An empty list when there are no cgroups.
pub fn memory_cgroups(root: &ProcRoot) -> Result<Vec<CgroupUsage>> {
    let mut out = Vec::new();
    if let Some(mount) = crate::cgroup::v2_mount(root) {
        walk(&mount, &mount, &mut out, read_v2)?;
    }
    if out.is_empty() {
        let v1 = root.path(V1_MEMORY_MOUNT);
        if v1.join("memory.usage_in_bytes").is_file() {
            walk(&v1, &v1, &mut out, read_v1)?;
        }
    }
    Ok(out)
}

type ReadOne = fn(&Path, String) -> Result<Option<CgroupUsage>>;

fn walk(mount: &Path, dir: &Path, out: &mut Vec<CgroupUsage>, read: ReadOne) -> Result<()> {
    let rel = dir.strip_prefix(mount).unwrap_or(Path::new(""));
    let path = format!("/{}", rel.display());
    if let Some(usage) = read(dir, path)? {
        out.push(usage);
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        // Removed while we walked.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ProcError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut children: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    children.sort();
    for child in children {
        walk(mount, &child, out, read)?;
    }
    Ok(())
}

/// A number file; `Ok(None)` when absent (or the cgroup went away).
fn number(dir: &Path, name: &str) -> Result<Option<u64>> {
    let path = dir.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        // ENODEV: a cgroup being removed.
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => return Ok(None),
        Err(source) => return Err(ProcError::Io { path, source }),
    };
    match text.trim() {
        "max" => Ok(Some(u64::MAX)),
        t => t.parse().map(Some).map_err(|_| ProcError::Parse {
            path,
            line: 1,
            message: format!("bad number {}", crate::error::quoted(t)),
        }),
    }
}

fn read_v2(dir: &Path, path: String) -> Result<Option<CgroupUsage>> {
    let Some(current) = number(dir, "memory.current")? else {
        return Ok(None);
    };
    Ok(Some(CgroupUsage {
        path,
        current,
        swap: number(dir, "memory.swap.current")?,
        max: number(dir, "memory.max")?.filter(|&m| m != u64::MAX),
    }))
}

fn read_v1(dir: &Path, path: String) -> Result<Option<CgroupUsage>> {
    let Some(current) = number(dir, "memory.usage_in_bytes")? else {
        return Ok(None);
    };
    let memsw = number(dir, "memory.memsw.usage_in_bytes")?;
    Ok(Some(CgroupUsage {
        path,
        current,
        swap: memsw.map(|m| m.saturating_sub(current)),
        max: number(dir, "memory.limit_in_bytes")?.filter(|&m| m < V1_UNLIMITED),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> ProcRoot {
        ProcRoot::new(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/fixtures/cgroup")
                .join(name),
        )
    }

    #[test]
    fn v2_lists_cgroups_with_memory_accounting_only() {
        let all = memory_cgroups(&fixture("v2-unified")).expect("read");
        let paths: Vec<&str> = all.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["/system.slice/web.service", "/user.slice"]);
        let web = &all[0];
        assert_eq!(web.current, 322_961_408);
        assert_eq!(web.max, Some(536_870_912));
        assert_eq!(web.swap, Some(1_048_576));
        assert_eq!(all[1].max, None, "'max' is no limit");
    }

    #[test]
    fn v1_memory_hierarchy_with_swap_accounting() {
        let dir = std::env::temp_dir().join(format!("memdx-cgv1-{}", std::process::id()));
        let mem = dir.join(V1_MEMORY_MOUNT);
        let app = mem.join("app");
        std::fs::create_dir_all(&app).expect("mkdir");
        for (d, usage, memsw, limit) in [
            (&mem, "5000\n", "5000\n", "9223372036854771712\n"),
            (&app, "3000\n", "3500\n", "1048576\n"),
        ] {
            std::fs::write(d.join("memory.usage_in_bytes"), usage).expect("write");
            std::fs::write(d.join("memory.memsw.usage_in_bytes"), memsw).expect("write");
            std::fs::write(d.join("memory.limit_in_bytes"), limit).expect("write");
        }
        let all = memory_cgroups(&ProcRoot::new(&dir)).expect("read");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            all,
            [
                CgroupUsage {
                    path: "/".into(),
                    current: 5000,
                    swap: Some(0),
                    max: None
                },
                CgroupUsage {
                    path: "/app".into(),
                    current: 3000,
                    swap: Some(500),
                    max: Some(1_048_576)
                },
            ]
        );
    }

    #[test]
    fn no_cgroups_is_an_empty_list() {
        let dir = std::env::temp_dir();
        let all = memory_cgroups(&ProcRoot::new(dir.join("memdx-no-such-root"))).expect("read");
        assert!(all.is_empty());
    }
}
