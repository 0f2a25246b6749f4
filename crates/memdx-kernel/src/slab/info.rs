//! Slab cache counters from `/proc/slabinfo` (version 2.1) or, where that
//! file is absent or unreadable, `/sys/kernel/slab/<cache>/`.

use serde::Serialize;

use memdx_proc::ProcRoot;

use crate::error::{read_text, KernelError, Result};

/// Path of slabinfo under a root.
pub const SLABINFO: &str = "proc/slabinfo";
/// Path of the SLUB sysfs directory under a root.
pub const SYSFS_SLAB: &str = "sys/kernel/slab";
/// Page size assumed for `pagesperslab` (4 KiB on x86 and most arm64 kernels).
pub const PAGE_SIZE: u64 = 4096;

/// One cache at one moment: the counters of `/proc/slabinfo` (memdx-proc's
/// one slabinfo parser and cache type) and whether the kernel reclaims it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlabCache {
    /// The counters, as `/proc/slabinfo` (or sysfs) gives them.
    pub counters: memdx_proc::SlabCache,
    /// Whether the kernel can reclaim it under pressure (SLAB_RECLAIM_ACCOUNT
    /// from sysfs, or a known reclaimable cache name).
    pub reclaimable: bool,
}

impl SlabCache {
    /// A cache from its counters; reclaimable when its name says so.
    pub fn from_counters(counters: memdx_proc::SlabCache) -> Self {
        Self {
            reclaimable: is_reclaimable_name(&counters.name),
            counters,
        }
    }
    /// The cache's name (`kmalloc-64`, `dentry`, ...).
    pub fn name(&self) -> &str {
        &self.counters.name
    }
    /// Bytes held by objects in use.
    pub fn active_bytes(&self) -> u64 {
        self.counters.active_objs * self.counters.obj_size
    }
    /// Bytes of the slabs themselves (what slabtop calls CACHE SIZE).
    pub fn cache_bytes(&self) -> u64 {
        self.counters.num_slabs * self.counters.pages_per_slab * PAGE_SIZE
    }
}

/// The JSON object of `docs/json.md` ("slab"): slabinfo's column names.
impl Serialize for SlabCache {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let c = &self.counters;
        let mut st = s.serialize_struct("SlabCache", 9)?;
        st.serialize_field("name", &c.name)?;
        st.serialize_field("active_objs", &c.active_objs)?;
        st.serialize_field("num_objs", &c.num_objs)?;
        st.serialize_field("objsize", &c.obj_size)?;
        st.serialize_field("objperslab", &c.objs_per_slab)?;
        st.serialize_field("pagesperslab", &c.pages_per_slab)?;
        st.serialize_field("active_slabs", &c.active_slabs)?;
        st.serialize_field("num_slabs", &c.num_slabs)?;
        st.serialize_field("reclaimable", &self.reclaimable)?;
        st.end()
    }
}

/// Caches the kernel shrinks under memory pressure: growth there is a cache
/// doing its job, not a leak, unless asked (`--include-reclaimable`).
pub fn is_reclaimable_name(name: &str) -> bool {
    matches!(
        name,
        "dentry"
            | "inode_cache"
            | "buffer_head"
            | "radix_tree_node"
            | "xfs_inode"
            | "xfs_ili"
            | "nfs_inode_cache"
            | "ext4_extent_status"
            | "btrfs_extent_map"
            | "mbcache"
            | "fuse_inode"
    ) || name.ends_with("_inode_cache")
        || name.ends_with("_inode")
}

/// Parses `/proc/slabinfo` text (memdx-proc's parser); errors name `source`
/// and the line.
pub fn parse_slabinfo(text: &str, source: &str) -> Result<Vec<SlabCache>> {
    let info = memdx_proc::SlabInfo::parse(text)
        .map_err(|(line, message)| KernelError::parse(source, line, message))?;
    Ok(info
        .caches
        .into_iter()
        .map(SlabCache::from_counters)
        .collect())
}

/// Reads `proc/slabinfo` under `root`.
pub fn read_slabinfo(root: &ProcRoot) -> Result<Vec<SlabCache>> {
    let path = root.path(SLABINFO);
    parse_slabinfo(&read_text(&path)?, &path.display().to_string())
}

fn first_number(root: &ProcRoot, rel: &str) -> Result<u64> {
    let path = root.path(rel);
    let text = read_text(&path)?;
    text.split_whitespace()
        .next()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| {
            KernelError::parse(
                path.display().to_string(),
                1,
                format!("expected a number: {}", crate::error::quoted(text.trim())),
            )
        })
}

/// Reads SLUB's `/sys/kernel/slab`. Merged caches appear once, under the
/// first name pointing at them.
pub fn read_sysfs(root: &ProcRoot) -> Result<Vec<SlabCache>> {
    let dir = root.path(SYSFS_SLAB);
    let mut names: Vec<(String, std::path::PathBuf)> = std::fs::read_dir(&dir)
        .map_err(|e| KernelError::io("read", &dir, e))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (!name.starts_with(':'))
                .then(|| (name, std::fs::canonicalize(e.path()).unwrap_or(e.path())))
        })
        .collect();
    names.sort();
    let mut seen = std::collections::HashSet::new();
    let mut caches = Vec::new();
    for (name, target) in names {
        if !seen.insert(target) {
            continue;
        }
        let rel = |f: &str| format!("{SYSFS_SLAB}/{name}/{f}");
        let objperslab = first_number(root, &rel("objs_per_slab"))?;
        let order = first_number(root, &rel("order"))?;
        let slabs = first_number(root, &rel("slabs"))?;
        let reclaimable = first_number(root, &rel("reclaim_account"))
            .map(|v| v == 1)
            .unwrap_or(false)
            || is_reclaimable_name(&name);
        caches.push(SlabCache {
            counters: memdx_proc::SlabCache {
                active_objs: first_number(root, &rel("objects"))?,
                num_objs: first_number(root, &rel("total_objects"))?,
                obj_size: first_number(root, &rel("object_size"))?,
                objs_per_slab: objperslab,
                pages_per_slab: 1 << order,
                active_slabs: slabs,
                num_slabs: slabs,
                name,
            },
            reclaimable,
        });
    }
    Ok(caches)
}

/// `/proc/slabinfo`, or sysfs when slabinfo is missing or unreadable.
pub fn read(root: &ProcRoot) -> Result<Vec<SlabCache>> {
    match read_slabinfo(root) {
        Ok(c) => Ok(c),
        Err(e @ KernelError::Parse { .. }) => Err(e),
        Err(first) => read_sysfs(root).map_err(|_| first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "slabinfo - version: 2.1\n# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\nkmalloc-64          5120   5376     64   64    1 : tunables    0    0    0 : slabdata     84     84      0\ndentry             40000  40530    192   21    1 : tunables    0    0    0 : slabdata   1930   1930      0\n";

    #[test]
    fn slabinfo_rows_become_caches() {
        let c = parse_slabinfo(TEXT, "s").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].name(), "kmalloc-64");
        assert_eq!(c[0].active_bytes(), 5120 * 64);
        assert_eq!(c[0].cache_bytes(), 84 * 4096);
        assert!(!c[0].reclaimable);
        assert!(c[1].reclaimable);
    }

    #[test]
    fn short_row_names_the_line() {
        let bad = "slabinfo - version: 2.1\nkmalloc-64 1 2 3\n";
        assert_eq!(
            parse_slabinfo(bad, "/proc/slabinfo")
                .unwrap_err()
                .to_string(),
            "/proc/slabinfo line 2: kmalloc-64 has no slabdata section"
        );
        assert!(parse_slabinfo("hello\n", "x")
            .unwrap_err()
            .to_string()
            .starts_with("x line 1: expected `slabinfo - version: 2.x`"));
    }
}
