//! `/proc/slabinfo`: the kernel's slab caches (readable by root only).
//!
//! Format versions 2.0 and 2.1: a `slabinfo - version: 2.x` line, a `#`
//! header, then per cache `name active_objs num_objs objsize objperslab
//! pagesperslab : tunables ... : slabdata active_slabs num_slabs
//! sharedavail`, optionally followed by statistics.

use crate::error::Result;
use crate::root::ProcRoot;

/// Path of the file relative to the root.
pub const REL_PATH: &str = "proc/slabinfo";

/// One slab cache.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlabCache {
    /// Cache name.
    pub name: String,
    /// Objects in use.
    pub active_objs: u64,
    /// Objects allocated (in use or free).
    pub num_objs: u64,
    /// Size of one object in bytes.
    pub obj_size: u64,
    /// Objects per slab.
    pub objs_per_slab: u64,
    /// Pages per slab.
    pub pages_per_slab: u64,
    /// Slabs with at least one object in use.
    pub active_slabs: u64,
    /// Slabs allocated.
    pub num_slabs: u64,
}

/// One parsed `/proc/slabinfo`, caches in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlabInfo {
    /// `(major, minor)` of the format version line.
    pub version: (u32, u32),
    /// The caches, in the kernel's order.
    pub caches: Vec<SlabCache>,
}

impl SlabInfo {
    /// Reads and parses `proc/slabinfo` under `root`.
    pub fn read(root: &ProcRoot) -> Result<Self> {
        root.read_parsed(REL_PATH, Self::parse)
    }

    /// Parses the text of a slabinfo file. On error returns the 1-based line
    /// (0 for the whole file) and what was wrong.
    pub fn parse(text: &str) -> std::result::Result<Self, (usize, String)> {
        if !text.ends_with('\n') {
            return Err((0, "file is empty or truncated".into()));
        }
        let mut lines = text.lines().enumerate();
        let version = lines
            .next()
            .and_then(|(_, l)| l.strip_prefix("slabinfo - version: "))
            .and_then(|v| v.trim().split_once('.'))
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .ok_or_else(|| (1, "expected `slabinfo - version: 2.x`".to_string()))?;
        if version.0 != 2 {
            return Err((
                1,
                format!("unsupported slabinfo version {}.{}", version.0, version.1),
            ));
        }
        let mut caches = Vec::with_capacity(256);
        for (idx, line) in lines {
            let lineno = idx + 1;
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let num = |i: usize| -> std::result::Result<u64, (usize, String)> {
                let w = words
                    .get(i)
                    .ok_or_else(|| (lineno, format!("{} has too few fields", words[0])))?;
                w.parse().map_err(|_| {
                    (
                        lineno,
                        format!(
                            "{} has a non-numeric field {}",
                            crate::error::clipped(words[0]),
                            crate::error::quoted(w)
                        ),
                    )
                })
            };
            let slabdata = words
                .iter()
                .position(|w| *w == "slabdata")
                .ok_or_else(|| (lineno, format!("{} has no slabdata section", words[0])))?;
            caches.push(SlabCache {
                name: words[0].to_string(),
                active_objs: num(1)?,
                num_objs: num(2)?,
                obj_size: num(3)?,
                objs_per_slab: num(4)?,
                pages_per_slab: num(5)?,
                active_slabs: num(slabdata + 1)?,
                num_slabs: num(slabdata + 2)?,
            });
        }
        Ok(Self { version, caches })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "slabinfo - version: 2.1\n\
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n\
kmalloc-64          1536   1536     64   64    1 : tunables    0    0    0 : slabdata     24     24      0\n\
btrfs_delayed_node      0      0    312   13    1 : tunables    0    0    0 : slabdata      0      0      0\n";

    #[test]
    fn parses_caches() {
        let s = SlabInfo::parse(SAMPLE).unwrap();
        assert_eq!(s.version, (2, 1));
        assert_eq!(s.caches.len(), 2);
        let k = &s.caches[0];
        assert_eq!(
            (
                k.name.as_str(),
                k.active_objs,
                k.num_objs,
                k.obj_size,
                k.objs_per_slab
            ),
            ("kmalloc-64", 1536, 1536, 64, 64)
        );
        assert_eq!((k.active_slabs, k.num_slabs), (24, 24));
    }

    #[test]
    fn rejects_bad_version_and_fields() {
        assert_eq!(
            SlabInfo::parse("slabinfo - version: 1.1\n").unwrap_err().0,
            1
        );
        assert_eq!(SlabInfo::parse("hello\n").unwrap_err().0, 1);
        let bad = "slabinfo - version: 2.1\nfoo 1 x 3 4 5 : tunables 0 0 0 : slabdata 1 1 0\n";
        assert_eq!(SlabInfo::parse(bad).unwrap_err().0, 2);
        assert!(SlabInfo::parse("slabinfo - version: 2.1\nfoo 1 2").is_err());
    }
}
