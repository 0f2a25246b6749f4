//! Grouping unreferenced objects into leaks: one group per allocation
//! backtrace (or per contents crc, or per culprit function), titled after the
//! first frame that is not part of an allocator.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::kmemleak::record::{Frame, LeakObject};

/// What objects are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// The whole backtrace (function+offset per frame): one group per call path.
    #[default]
    Backtrace,
    /// Only the culprit function: call paths through it are merged.
    Function,
    /// The crc the kernel prints since 6.8 (a checksum of the object's
    /// contents, so equal crcs mean equal contents, not equal stacks).
    Crc,
}

/// Which objects to keep before grouping. Empty fields keep everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Keep objects with a frame in this module.
    pub module: Option<String>,
    /// Keep objects allocated by this task name.
    pub comm: Option<String>,
    /// Keep objects at least this large.
    pub min_size: Option<u64>,
    /// Keep objects at most this large.
    pub max_size: Option<u64>,
    /// Keep objects at least this old (objects the kernel printed no age for are dropped).
    pub min_age_ms: Option<u64>,
    /// Keep objects at most this old (objects without an age are dropped).
    pub max_age_ms: Option<u64>,
}

impl Filter {
    /// Whether `obj` passes every condition.
    pub fn keeps(&self, obj: &LeakObject) -> bool {
        if let Some(m) = &self.module {
            if !obj
                .backtrace
                .iter()
                .any(|f| f.module.as_deref() == Some(m.as_str()))
            {
                return false;
            }
        }
        if let Some(c) = &self.comm {
            if &obj.comm != c {
                return false;
            }
        }
        if self.min_size.is_some_and(|min| obj.size < min)
            || self.max_size.is_some_and(|max| obj.size > max)
        {
            return false;
        }
        if self.min_age_ms.is_some() || self.max_age_ms.is_some() {
            let Some(age) = obj.age_ms else { return false };
            if self.min_age_ms.is_some_and(|m| age < m) || self.max_age_ms.is_some_and(|m| age > m)
            {
                return false;
            }
        }
        true
    }
}

/// The grouped report: what `memdx kmemleak report --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct LeakReport {
    /// Number of unreferenced objects (after filtering).
    pub objects: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Groups, largest total size first.
    pub groups: Vec<LeakGroup>,
}

/// One leak: objects sharing a backtrace (or crc, or culprit).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeakGroup {
    /// "memory leak in <culprit>".
    pub title: String,
    /// The identity used to group and to diff runs.
    pub key: String,
    /// The first non-allocator function, when known.
    pub function: Option<String>,
    /// The module of the culprit frame (or of the first frame in a module).
    pub module: Option<String>,
    /// Number of objects.
    pub count: usize,
    /// Total bytes.
    pub bytes: u64,
    /// Object sizes and how many objects had each, smallest first.
    pub sizes: Vec<SizeCount>,
    /// Distinct allocating task names.
    pub comms: Vec<String>,
    /// Oldest and youngest age in ms, when the kernel printed ages.
    pub age_ms: Option<Range>,
    /// Earliest and latest allocation jiffies.
    pub jiffies: Range,
    /// The representative backtrace, as text (`func+0x1a [module]`).
    pub backtrace: Vec<String>,
    /// The same frames, structured.
    pub frames: Vec<Frame>,
    /// Up to 8 object addresses, for `echo dump=ADDR > kmemleak`.
    pub addresses: Vec<String>,
}

/// A size and its object count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SizeCount {
    /// Object size in bytes.
    pub size: u64,
    /// Objects of that size.
    pub count: usize,
}

/// A closed range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Range {
    /// Smallest value.
    pub min: u64,
    /// Largest value.
    pub max: u64,
}

impl Range {
    fn widen(self, v: u64) -> Self {
        Range {
            min: self.min.min(v),
            max: self.max.max(v),
        }
    }
}

/// Function-name prefixes of allocator internals, matched after leading
/// underscores are stripped and a `_noprof` suffix (6.10+ alloc tagging) is
/// ignored. A leak's culprit is the first frame outside these.
const ALLOCATOR_PREFIXES: &[&str] = &[
    "kmemleak_alloc",
    "kmemleak_vmalloc",
    "kmalloc",
    "do_kmalloc",
    "kmem_cache_alloc",
    "kmem_cache_zalloc",
    "kmem_alloc",
    "slab_alloc",
    "slab_post_alloc_hook",
    "alloc_slab",
    "kzalloc",
    "kcalloc",
    "kvmalloc",
    "kvzalloc",
    "kvcalloc",
    "kvrealloc",
    "krealloc",
    "kmemdup",
    "kstrdup",
    "kstrndup",
    "kasprintf",
    "kvasprintf",
    "memdup_user",
    "vmemdup_user",
    "vmalloc",
    "vzalloc",
    "vmap",
    "alloc_vmap",
    "pcpu_alloc",
    "alloc_percpu",
    "alloc_pages",
    "alloc_page",
    "get_free_pages",
    "folio_alloc",
    "mempool_alloc",
    "kmalloc_trace",
    "idr_alloc",
    "alloc_skb",
    "netdev_alloc_skb",
    "napi_alloc_skb",
];

/// Whether `function` belongs to an allocator rather than to its caller.
pub fn is_allocator(function: &str) -> bool {
    let f = function.trim_start_matches('_');
    let f = f.strip_suffix("_noprof").unwrap_or(f);
    ALLOCATOR_PREFIXES.iter().any(|p| f.starts_with(p))
}

/// The frame a leak is blamed on: the first one outside the allocator. An
/// unsymbolized address counts as outside (allocators are in vmlinux, which
/// the kernel always symbolizes; raw addresses are modules or missing kallsyms).
pub fn culprit(backtrace: &[Frame]) -> Option<&Frame> {
    backtrace.iter().find(|f| match &f.function {
        Some(name) => !is_allocator(name),
        None => f.address.is_some(),
    })
}

/// The title of a leak with this backtrace.
pub fn title(backtrace: &[Frame]) -> String {
    match culprit(backtrace) {
        Some(f) => match (&f.function, f.address) {
            (Some(name), _) => format!("memory leak in {name}"),
            (None, Some(addr)) => format!("memory leak in 0x{addr:x}"),
            (None, None) => "memory leak".to_string(),
        },
        None if backtrace.is_empty() => "memory leak (no backtrace recorded)".to_string(),
        None => "memory leak in the allocator".to_string(),
    }
}

fn key_of(obj: &LeakObject, by: GroupBy) -> String {
    let stack_key = || {
        if obj.backtrace.is_empty() {
            match obj.crc {
                Some(crc) => format!("crc:{crc:08x}"),
                None => format!("size:{}", obj.size),
            }
        } else {
            obj.backtrace
                .iter()
                .map(Frame::key)
                .collect::<Vec<_>>()
                .join(" <- ")
        }
    };
    match by {
        GroupBy::Backtrace => stack_key(),
        GroupBy::Crc => match obj.crc {
            Some(crc) => format!("crc:{crc:08x}"),
            None => stack_key(),
        },
        GroupBy::Function => match culprit(&obj.backtrace) {
            Some(f) => match &f.function {
                Some(name) => format!("fn:{name}"),
                None => f.key(),
            },
            None => stack_key(),
        },
    }
}

/// Filters and groups objects. Groups are ordered by total bytes, then count,
/// then title, so output is stable for a given input.
pub fn group(objects: &[LeakObject], by: GroupBy, filter: &Filter) -> LeakReport {
    let mut order: Vec<String> = Vec::new();
    let mut members: HashMap<String, Vec<&LeakObject>> = HashMap::new();
    for obj in objects.iter().filter(|o| filter.keeps(o)) {
        let key = key_of(obj, by);
        let entry = members.entry(key.clone()).or_default();
        if entry.is_empty() {
            order.push(key);
        }
        entry.push(obj);
    }
    let mut groups: Vec<LeakGroup> = order
        .into_iter()
        .filter_map(|key| members.remove(&key).map(|objs| build_group(key, &objs)))
        .collect();
    groups.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then(b.count.cmp(&a.count))
            .then_with(|| a.title.cmp(&b.title))
            .then_with(|| a.key.cmp(&b.key))
    });
    LeakReport {
        objects: groups.iter().map(|g| g.count).sum(),
        bytes: groups.iter().map(|g| g.bytes).sum(),
        groups,
    }
}

fn build_group(key: String, objs: &[&LeakObject]) -> LeakGroup {
    let first = objs[0];
    let mut sizes: BTreeMap<u64, usize> = BTreeMap::new();
    let mut comms: BTreeSet<String> = BTreeSet::new();
    let mut age: Option<Range> = None;
    let mut jiffies = Range {
        min: first.jiffies,
        max: first.jiffies,
    };
    for o in objs {
        *sizes.entry(o.size).or_default() += 1;
        comms.insert(o.comm.clone());
        jiffies = jiffies.widen(o.jiffies);
        if let Some(a) = o.age_ms {
            age = Some(age.map_or(Range { min: a, max: a }, |r| r.widen(a)));
        }
    }
    let culprit_frame = culprit(&first.backtrace);
    let module = culprit_frame
        .and_then(|f| f.module.clone())
        .or_else(|| first.backtrace.iter().find_map(|f| f.module.clone()));
    LeakGroup {
        title: title(&first.backtrace),
        key,
        function: culprit_frame.and_then(|f| f.function.clone()),
        module,
        count: objs.len(),
        bytes: objs.iter().map(|o| o.size).sum(),
        sizes: sizes
            .into_iter()
            .map(|(size, count)| SizeCount { size, count })
            .collect(),
        comms: comms.into_iter().collect(),
        age_ms: age,
        jiffies,
        backtrace: first.backtrace.iter().map(Frame::display).collect(),
        frames: first.backtrace.clone(),
        addresses: objs
            .iter()
            .take(8)
            .map(|o| format!("0x{:x}", o.address))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmemleak::record::parse_symbol;

    fn obj(size: u64, comm: &str, frames: &[&str]) -> LeakObject {
        LeakObject {
            size,
            comm: comm.into(),
            backtrace: frames.iter().filter_map(|f| parse_symbol(f)).collect(),
            ..LeakObject::default()
        }
    }

    #[test]
    fn allocator_frames_are_skipped_in_the_title() {
        let o = obj(
            32,
            "insmod",
            &[
                "kmemleak_alloc+0x4e/0xb0",
                "__kmalloc_cache_noprof+0x2f7/0x3a0",
                "kmalloc_trace+0x26/0x90",
                "foo_init+0x7a/0x1000 [foo]",
            ],
        );
        assert_eq!(title(&o.backtrace), "memory leak in foo_init");
    }

    #[test]
    fn module_functions_named_like_kmemleak_are_not_allocators() {
        let o = obj(
            32,
            "insmod",
            &[
                "kmemleak_alloc+0x4e/0xb0",
                "kmemleak_test_init+0x45/0x1000 [kmemleak_test]",
            ],
        );
        assert_eq!(title(&o.backtrace), "memory leak in kmemleak_test_init");
    }

    #[test]
    fn unsymbolized_module_address_is_the_culprit() {
        let o = obj(
            32,
            "insmod",
            &[
                "kmalloc_trace+0x22f/0x2c0",
                "0xffffffffc0a0105e",
                "do_one_initcall+0x5b/0x300",
            ],
        );
        assert_eq!(title(&o.backtrace), "memory leak in 0xffffffffc0a0105e");
    }

    #[test]
    fn same_stack_is_one_group_with_counts_sizes_and_comms() {
        let stack = ["__kmalloc+0x1/0x2", "bar+0x10/0x20 [m]", "baz+0x1/0x9"];
        let objs = vec![
            obj(32, "a", &stack),
            obj(64, "b", &stack),
            obj(32, "a", &stack),
            obj(8, "c", &["qux+0x1/0x2"]),
        ];
        let r = group(&objs, GroupBy::Backtrace, &Filter::default());
        assert_eq!(r.objects, 4);
        assert_eq!(r.bytes, 136);
        assert_eq!(r.groups.len(), 2);
        let g = &r.groups[0];
        assert_eq!(g.title, "memory leak in bar");
        assert_eq!(g.count, 3);
        assert_eq!(g.bytes, 128);
        assert_eq!(g.module.as_deref(), Some("m"));
        assert_eq!(
            g.sizes,
            vec![
                SizeCount { size: 32, count: 2 },
                SizeCount { size: 64, count: 1 }
            ]
        );
        assert_eq!(g.comms, vec!["a".to_string(), "b".to_string()]);
    }

    #[test]
    fn different_offsets_split_by_backtrace_but_merge_by_function() {
        let objs = vec![
            obj(8, "a", &["bar+0x10/0x20"]),
            obj(8, "a", &["bar+0x14/0x20"]),
        ];
        assert_eq!(
            group(&objs, GroupBy::Backtrace, &Filter::default())
                .groups
                .len(),
            2
        );
        assert_eq!(
            group(&objs, GroupBy::Function, &Filter::default())
                .groups
                .len(),
            1
        );
    }

    #[test]
    fn filters_drop_objects_before_grouping() {
        let objs = vec![
            obj(8, "a", &["bar+0x10/0x20 [m]"]),
            obj(4096, "b", &["baz+0x14/0x20"]),
        ];
        let f = Filter {
            module: Some("m".into()),
            ..Filter::default()
        };
        assert_eq!(group(&objs, GroupBy::Backtrace, &f).objects, 1);
        let f = Filter {
            min_size: Some(1000),
            ..Filter::default()
        };
        assert_eq!(
            group(&objs, GroupBy::Backtrace, &f).groups[0].title,
            "memory leak in baz"
        );
        let f = Filter {
            min_age_ms: Some(1),
            ..Filter::default()
        };
        assert_eq!(
            group(&objs, GroupBy::Backtrace, &f).objects,
            0,
            "objects without an age fail an age filter"
        );
    }
}
