//! What grew and what shrank between two moments: two recordings of the
//! same program, or two times of one recording (tracemalloc's
//! `Snapshot.compare_to`). Sites are matched by what they are (their
//! frames' functions and source lines, or objects), not by stack ids or
//! addresses, which differ from one run to the next.

use std::collections::HashMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::analysis::{SiteStats, Summary};
use crate::format::SymFrame;
use crate::mappings::Mapped;
use crate::render::{count, group, group_sites, Group, GroupBy, View};

/// One site (or group of sites) in both moments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffRow {
    /// What the group is: its frames' names, outermost last.
    pub key: String,
    /// The frames that name it.
    pub frames: Vec<SymFrame>,
    /// The compared figure before and after (bytes, or allocations for
    /// [`View::Count`] and [`View::Temporaries`]).
    pub before: f64,
    /// See `before`.
    pub after: f64,
    /// Blocks before and after (live blocks for [`View::Peak`] and
    /// [`View::Exit`], allocations otherwise).
    pub before_blocks: f64,
    /// See `before_blocks`.
    pub after_blocks: f64,
}

impl DiffRow {
    /// `after - before`.
    pub fn delta(&self) -> f64 {
        self.after - self.before
    }
}

/// A whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    /// The figure compared.
    pub of: View,
    /// How sites were grouped.
    pub group_by: GroupBy,
    /// The heap's figure before and after.
    pub total_before: f64,
    /// See `total_before`.
    pub total_after: f64,
    /// Every group present in either moment, largest change first.
    pub rows: Vec<DiffRow>,
    /// The program's own mappings (`mmap`/`mremap`) compared the same way.
    pub mapped: MappedDiff,
}

/// The program's own mappings in both moments: the figure of `of` for
/// mappings (bytes mapped at the mapped peak or at the moment's end, bytes
/// mapped over the run, or mappings made; nothing for temporaries), and
/// per group of mapping sites (`before_blocks`/`after_blocks`: ranges
/// mapped for [`View::Peak`] and [`View::Exit`], mappings made otherwise).
#[derive(Debug, Clone, Serialize)]
pub struct MappedDiff {
    /// Mapped in the first moment.
    pub total_before: f64,
    /// See `total_before`.
    pub total_after: f64,
    /// Every group of mapping sites in either moment, largest change first.
    pub rows: Vec<DiffRow>,
}

/// A frame's name without its address (which moves between runs).
fn frame_name(f: &SymFrame) -> String {
    let func = f.function.as_deref().unwrap_or("???");
    match (&f.file, &f.object) {
        (Some(file), _) if f.line > 0 => format!("{func} ({file}:{})", f.line),
        (_, Some(obj)) if f.function.is_some() => format!("{func} (in {obj})"),
        _ => format!("0x{:X}", f.addr),
    }
}

fn figures(s: &SiteStats, of: View) -> (f64, f64) {
    match of {
        View::Peak => (s.peak_bytes, s.peak_blocks),
        View::Exit => (s.exit_bytes, s.exit_blocks),
        View::Allocated => (s.allocated_bytes, s.allocations),
        View::Count => (s.allocations, s.allocations),
        View::Temporaries => (s.temporaries, s.allocations),
    }
}

fn total(s: &Summary, of: View) -> f64 {
    match of {
        View::Peak => s.peak_bytes,
        View::Exit => s.exit_bytes,
        View::Allocated => s.allocated_bytes,
        View::Count => s.allocations,
        View::Temporaries => s.temporaries,
    }
}

fn mapped_total(m: &Mapped, of: View) -> f64 {
    match of {
        View::Peak => m.peak_bytes as f64,
        View::Exit => m.exit_bytes as f64,
        View::Allocated => m.mapped_bytes as f64,
        View::Count => m.maps as f64,
        View::Temporaries => 0.0,
    }
}

/// Compares `before` with `after` on the figure `of`, sites grouped `by`
/// (the heap's sites, then the mapping sites).
pub fn diff(before: &Summary, after: &Summary, by: GroupBy, of: View) -> Diff {
    let mapped = MappedDiff {
        total_before: mapped_total(&before.mapped, of),
        total_after: mapped_total(&after.mapped, of),
        rows: if matches!(of, View::Temporaries) {
            Vec::new()
        } else {
            compare(
                group_sites(&before.mapped.sites, by),
                group_sites(&after.mapped.sites, by),
                of,
            )
        },
    };
    Diff {
        of,
        group_by: by,
        total_before: total(before, of),
        total_after: total(after, of),
        rows: compare(group(before, by), group(after, by), of),
        mapped,
    }
}

/// The rows of two moments' groups, largest change first.
fn compare(before: Vec<Group>, after: Vec<Group>, of: View) -> Vec<DiffRow> {
    let mut rows: Vec<DiffRow> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (side, groups) in [(0, before), (1, after)] {
        for g in groups {
            let key = g
                .frames
                .iter()
                .map(frame_name)
                .collect::<Vec<_>>()
                .join(" <- ");
            let (value, blocks) = figures(&g.stats, of);
            let i = *index.entry(key.clone()).or_insert_with(|| {
                rows.push(DiffRow {
                    key,
                    frames: g.frames.clone(),
                    before: 0.0,
                    after: 0.0,
                    before_blocks: 0.0,
                    after_blocks: 0.0,
                });
                rows.len() - 1
            });
            let r = &mut rows[i];
            if side == 0 {
                r.before += value;
                r.before_blocks += blocks;
            } else {
                r.after += value;
                r.after_blocks += blocks;
            }
        }
    }
    rows.sort_by(|a, b| {
        b.delta()
            .abs()
            .total_cmp(&a.delta().abs())
            .then_with(|| a.key.cmp(&b.key))
    });
    rows
}

fn signed(x: f64) -> String {
    if x < 0.0 {
        format!("-{}", count(-x))
    } else {
        format!("+{}", count(x))
    }
}

fn unit(of: View) -> &'static str {
    match of {
        View::Count => "allocations",
        View::Temporaries => "temporaries",
        _ => "bytes",
    }
}

/// The comparison as text: the heap's change, then the `top` groups that
/// changed most (groups that did not change are left out).
pub fn write_text(
    out: &mut dyn Write,
    d: &Diff,
    before: &str,
    after: &str,
    top: usize,
) -> io::Result<()> {
    let u = unit(d.of);
    writeln!(out, "before: {before}")?;
    writeln!(out, "after:  {after}")?;
    writeln!(
        out,
        "heap: {} -> {} {u} ({})",
        count(d.total_before),
        count(d.total_after),
        signed(d.total_after - d.total_before)
    )?;
    write_rows(out, &d.rows, d.of, u, "blocks", top)?;
    let m = &d.mapped;
    if m.rows.is_empty() && m.total_before == 0.0 && m.total_after == 0.0 {
        return Ok(());
    }
    let u = match d.of {
        View::Count => "mappings",
        _ => "bytes",
    };
    writeln!(out)?;
    writeln!(
        out,
        "mapped by the program (its own mmap/mremap, whole pages): {} -> {} {u} ({})",
        count(m.total_before),
        count(m.total_after),
        signed(m.total_after - m.total_before)
    )?;
    write_rows(out, &m.rows, d.of, u, "ranges", top)
}

/// The `top` rows that changed, largest change first, with their frames.
fn write_rows(
    out: &mut dyn Write,
    rows: &[DiffRow],
    of: View,
    u: &str,
    blocks_word: &str,
    top: usize,
) -> io::Result<()> {
    let changed: Vec<&DiffRow> = rows
        .iter()
        .filter(|r| r.delta().round() != 0.0)
        .take(top)
        .collect();
    writeln!(out)?;
    writeln!(out, "largest changes first:")?;
    if changed.is_empty() {
        writeln!(out, "  (no site changed)")?;
    }
    for r in changed {
        let blocks = match of {
            View::Peak | View::Exit => format!(
                ", {} -> {} {blocks_word}",
                count(r.before_blocks),
                count(r.after_blocks)
            ),
            _ => String::new(),
        };
        writeln!(
            out,
            "  {} {u}: {} -> {}{blocks}",
            signed(r.delta()),
            count(r.before),
            count(r.after)
        )?;
        for (i, f) in r.frames.iter().enumerate() {
            writeln!(
                out,
                "     {} {}",
                if i == 0 { "at" } else { "by" },
                f.render()
            )?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonDiff<'a> {
    before: &'a str,
    after: &'a str,
    #[serde(flatten)]
    diff: JsonBody<'a>,
}

#[derive(Serialize)]
struct JsonBody<'a> {
    of: View,
    group_by: GroupBy,
    total_before: f64,
    total_after: f64,
    rows: &'a [DiffRow],
    mapped: JsonMapped<'a>,
}

#[derive(Serialize)]
struct JsonMapped<'a> {
    total_before: f64,
    total_after: f64,
    rows: &'a [DiffRow],
}

/// The comparison as one JSON object (every group, unchanged ones too, up
/// to `top`).
pub fn write_json(
    out: &mut dyn Write,
    d: &Diff,
    before: &str,
    after: &str,
    top: usize,
) -> io::Result<()> {
    let rows = &d.rows[..d.rows.len().min(top)];
    let j = JsonDiff {
        before,
        after,
        diff: JsonBody {
            of: d.of,
            group_by: d.group_by,
            total_before: d.total_before,
            total_after: d.total_after,
            rows,
            mapped: JsonMapped {
                total_before: d.mapped.total_before,
                total_after: d.mapped.total_after,
                rows: &d.mapped.rows[..d.mapped.rows.len().min(top)],
            },
        },
    };
    serde_json::to_writer_pretty(&mut *out, &j).map_err(io::Error::from)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Analysis;
    use crate::format::Event;
    use crate::reader::Record;

    fn summary(events: Vec<Event>, until: Option<u64>) -> Summary {
        let mut a = Analysis::new();
        if let Some(t) = until {
            a = a.until(t);
        }
        let frames = |f: &str, line| {
            vec![SymFrame {
                addr: 0x1000 + line as u64,
                function: Some(f.into()),
                file: Some("p.c".into()),
                line,
                ..SymFrame::default()
            }]
        };
        a.add(Record::Symbols(
            [(1, frames("grow", 10)), (2, frames("shrink", 20))]
                .into_iter()
                .collect(),
        ));
        a.add(Record::Events(events));
        a.summary()
    }

    fn alloc(time: u64, ptr: u64, size: u64, stack: u32) -> Event {
        Event::Alloc {
            time,
            ptr,
            size,
            stack,
        }
    }

    #[test]
    fn two_moments_of_one_recording_show_what_grew_and_what_shrank() {
        let events = vec![
            alloc(1, 1, 100, 1),
            alloc(2, 2, 500, 2),
            alloc(10, 3, 100, 1),
            alloc(11, 4, 100, 1),
            Event::Free { time: 12, ptr: 2 },
        ];
        let a = summary(events.clone(), Some(5));
        let b = summary(events, None);
        let d = diff(&a, &b, GroupBy::Line, View::Exit);
        assert_eq!((d.total_before, d.total_after), (600.0, 300.0));
        let got: Vec<(String, f64, f64)> = d
            .rows
            .iter()
            .map(|r| (r.key.clone(), r.before, r.after))
            .collect();
        assert_eq!(
            got,
            vec![
                ("shrink (p.c:20)".to_string(), 500.0, 0.0),
                ("grow (p.c:10)".to_string(), 100.0, 300.0),
            ]
        );
        let mut text = Vec::new();
        write_text(&mut text, &d, "at 5 ns", "at exit", 10).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("heap: 600 -> 300 bytes (-300)"), "{text}");
        assert!(
            text.contains("  -500 bytes: 500 -> 0, 1 -> 0 blocks"),
            "{text}"
        );
        assert!(
            text.contains("  +200 bytes: 100 -> 300, 1 -> 3 blocks"),
            "{text}"
        );
    }

    #[test]
    fn mapped_bytes_are_compared_per_site_beside_the_heap() {
        use crate::mappings::{MapEvent, PAGE};
        const MIB: u64 = 1 << 20;
        let maps = vec![
            // Site 1 maps 1 MiB at 1 and 1 MiB more at 10; site 2 maps
            // 64 KiB at 2 and gives it back at 11.
            MapEvent::Map {
                time: 1,
                addr: 0x10_0000_0000,
                len: MIB,
                stack: 1,
            },
            MapEvent::Map {
                time: 2,
                addr: 0x20_0000_0000,
                len: 16 * PAGE,
                stack: 2,
            },
            MapEvent::Map {
                time: 10,
                addr: 0x30_0000_0000,
                len: MIB,
                stack: 1,
            },
            MapEvent::Unmap {
                time: 11,
                addr: 0x20_0000_0000,
                len: 16 * PAGE,
            },
        ];
        let at = |until: Option<u64>| {
            let mut a = Analysis::new();
            if let Some(t) = until {
                a = a.until(t);
            }
            a.add(Record::Symbols(
                [1, 2]
                    .into_iter()
                    .map(|id| {
                        let f = SymFrame {
                            addr: 0x1000 + u64::from(id),
                            function: Some(format!("map{id}")),
                            file: Some("p.c".into()),
                            line: id,
                            ..SymFrame::default()
                        };
                        (id, vec![f])
                    })
                    .collect(),
            ));
            a.add(Record::Maps(maps.clone()));
            a.summary()
        };
        let (a, b) = (at(Some(5)), at(None));
        let d = diff(&a, &b, GroupBy::Line, View::Exit);
        assert!(d.rows.is_empty(), "{:?}", d.rows);
        let m = &d.mapped;
        assert_eq!(
            (m.total_before, m.total_after),
            ((MIB + 16 * PAGE) as f64, (2 * MIB) as f64)
        );
        let got: Vec<(&str, f64, f64, f64, f64)> = m
            .rows
            .iter()
            .map(|r| {
                (
                    r.key.as_str(),
                    r.before,
                    r.after,
                    r.before_blocks,
                    r.after_blocks,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("map1 (p.c:1)", MIB as f64, (2 * MIB) as f64, 1.0, 2.0),
                ("map2 (p.c:2)", (16 * PAGE) as f64, 0.0, 1.0, 0.0),
            ]
        );
        let mut text = Vec::new();
        write_text(&mut text, &d, "at 5 ns", "at exit", 10).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains(
                "mapped by the program (its own mmap/mremap, whole pages): \
                 1,114,112 -> 2,097,152 bytes (+983,040)"
            ),
            "{text}"
        );
        assert!(
            text.contains("  +1,048,576 bytes: 1,048,576 -> 2,097,152, 1 -> 2 ranges"),
            "{text}"
        );
        assert!(
            text.contains("  -65,536 bytes: 65,536 -> 0, 1 -> 0 ranges"),
            "{text}"
        );
        // Over the run: bytes mapped and mappings made.
        let d = diff(&a, &b, GroupBy::Line, View::Count);
        assert_eq!((d.mapped.total_before, d.mapped.total_after), (2.0, 3.0));
        let mut json = Vec::new();
        write_json(&mut json, &d, "a", "b", 10).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["mapped"]["rows"][0]["key"], "map1 (p.c:1)");
        assert_eq!(v["mapped"]["rows"][0]["after"], 2.0);
    }

    #[test]
    fn sites_are_matched_by_name_not_by_address() {
        let f = |addr| SymFrame {
            addr,
            function: Some("f".into()),
            object: Some("/lib/x.so".into()),
            ..SymFrame::default()
        };
        assert_eq!(frame_name(&f(0x10)), frame_name(&f(0x99)));
        let bare = SymFrame {
            addr: 0x10,
            ..SymFrame::default()
        };
        assert_eq!(frame_name(&bare), "0x10");
    }
}
