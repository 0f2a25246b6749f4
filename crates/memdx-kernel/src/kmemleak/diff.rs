//! Comparing two grouped reports: which leaks are new, gone, or grew.

use serde::Serialize;

use crate::kmemleak::group::{LeakGroup, LeakReport};

/// How a group changed between two runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Only in the new report.
    New,
    /// Only in the old report.
    Gone,
    /// In both, with more objects now.
    Grew,
    /// In both, with fewer objects now.
    Shrank,
    /// In both, same count.
    Same,
}

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupDiff {
    /// What happened.
    pub change: Change,
    /// The group's title.
    pub title: String,
    /// The grouping key both runs share.
    pub key: String,
    /// Objects before.
    pub old_count: usize,
    /// Objects now.
    pub new_count: usize,
    /// Bytes before.
    pub old_bytes: u64,
    /// Bytes now.
    pub new_bytes: u64,
    /// Backtrace of the group (from whichever report has it).
    pub backtrace: Vec<String>,
}

/// The whole diff, in the order: new, grew, shrank, gone, same; each by size.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct LeakDiff {
    /// Objects in the old report.
    pub old_objects: usize,
    /// Objects in the new report.
    pub new_objects: usize,
    /// Per-group changes.
    pub groups: Vec<GroupDiff>,
}

fn entry(change: Change, old: Option<&LeakGroup>, new: Option<&LeakGroup>) -> Option<GroupDiff> {
    let any = new.or(old)?;
    Some(GroupDiff {
        change,
        title: any.title.clone(),
        key: any.key.clone(),
        old_count: old.map_or(0, |g| g.count),
        new_count: new.map_or(0, |g| g.count),
        old_bytes: old.map_or(0, |g| g.bytes),
        new_bytes: new.map_or(0, |g| g.bytes),
        backtrace: any.backtrace.clone(),
    })
}

/// Matches groups by key (both reports must be grouped the same way).
pub fn diff(old: &LeakReport, new: &LeakReport) -> LeakDiff {
    let mut groups = Vec::new();
    for n in &new.groups {
        let o = old.groups.iter().find(|g| g.key == n.key);
        let change = match o {
            None => Change::New,
            Some(o) if n.count > o.count => Change::Grew,
            Some(o) if n.count < o.count => Change::Shrank,
            Some(_) => Change::Same,
        };
        groups.extend(entry(change, o, Some(n)));
    }
    for o in &old.groups {
        if !new.groups.iter().any(|g| g.key == o.key) {
            groups.extend(entry(Change::Gone, Some(o), None));
        }
    }
    let rank = |c: Change| match c {
        Change::New => 0,
        Change::Grew => 1,
        Change::Shrank => 2,
        Change::Gone => 3,
        Change::Same => 4,
    };
    groups.sort_by(|a, b| {
        rank(a.change)
            .cmp(&rank(b.change))
            .then(
                b.new_bytes
                    .max(b.old_bytes)
                    .cmp(&a.new_bytes.max(a.old_bytes)),
            )
            .then_with(|| a.key.cmp(&b.key))
    });
    LeakDiff {
        old_objects: old.objects,
        new_objects: new.objects,
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmemleak::group::{group, Filter, GroupBy};
    use crate::kmemleak::record::{parse_symbol, LeakObject};

    fn objs(spec: &[(&str, usize)]) -> Vec<LeakObject> {
        spec.iter()
            .flat_map(|(f, n)| {
                (0..*n).map(move |_| LeakObject {
                    size: 16,
                    backtrace: parse_symbol(f).into_iter().collect(),
                    ..LeakObject::default()
                })
            })
            .collect()
    }

    #[test]
    fn new_gone_and_grew_are_told_apart() {
        let old = group(
            &objs(&[("a+0x1/0x2", 1), ("b+0x1/0x2", 2), ("c+0x1/0x2", 1)]),
            GroupBy::Backtrace,
            &Filter::default(),
        );
        let new = group(
            &objs(&[("a+0x1/0x2", 3), ("b+0x1/0x2", 2), ("d+0x1/0x2", 1)]),
            GroupBy::Backtrace,
            &Filter::default(),
        );
        let d = diff(&old, &new);
        let changes: Vec<(Change, &str)> = d
            .groups
            .iter()
            .map(|g| (g.change, g.title.as_str()))
            .collect();
        assert_eq!(
            changes,
            vec![
                (Change::New, "memory leak in d"),
                (Change::Grew, "memory leak in a"),
                (Change::Gone, "memory leak in c"),
                (Change::Same, "memory leak in b"),
            ]
        );
        assert_eq!(d.groups[1].old_count, 1);
        assert_eq!(d.groups[1].new_count, 3);
    }
}
