//! `memdx heap`'s summary and `memdx heap report`'s views, as text or JSON,
//! written to any `io::Write`.

use std::collections::HashMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::analysis::{Exit, Site, SiteStats, Summary};
use crate::format::SymFrame;

/// How sites are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// One entry per distinct stack.
    Stack,
    /// By the function that called the allocator.
    Function,
    /// By the source line that called the allocator.
    Line,
}

/// One ranking of the sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// Live bytes at the heap's peak.
    Peak,
    /// Bytes still live at exit.
    Exit,
    /// Bytes allocated over the run.
    Allocated,
    /// Number of allocations.
    Count,
    /// Temporary allocations (released before the next allocation).
    Temporaries,
}

impl View {
    /// Every view, in the order the text report shows them.
    pub const ALL: [View; 5] = [
        View::Peak,
        View::Exit,
        View::Allocated,
        View::Count,
        View::Temporaries,
    ];

    fn key(self, s: &SiteStats) -> f64 {
        match self {
            View::Peak => s.peak_bytes,
            View::Exit => s.exit_bytes,
            View::Allocated => s.allocated_bytes,
            View::Count => s.allocations,
            View::Temporaries => s.temporaries,
        }
    }

    fn title(self) -> &'static str {
        match self {
            View::Peak => "top sites at the peak (live bytes)",
            View::Exit => "sites still holding memory at exit",
            View::Allocated => "top sites by bytes allocated",
            View::Count => "top sites by number of allocations",
            View::Temporaries => "top sources of temporary allocations",
        }
    }
}

/// A group of sites with its figures and the frames that name it.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// What the group is (stack id, function or file:line).
    pub key: String,
    /// Its frames: the whole stack (by stack), or the one naming frame.
    pub frames: Vec<SymFrame>,
    /// Summed figures.
    pub stats: SiteStats,
}

/// Whether a frame is the allocator itself (memdx's runtime or the C
/// library's allocator entry points), not the program's call site. A
/// recording made by `memdx heap --pid` has glibc's entry point as frame 0
/// (its source file `malloc.c`, or, without debug information, a
/// function of the malloc family in the C library), or libstdc++'s
/// `operator new` for the C++ operators.
fn is_allocator(f: &SymFrame) -> bool {
    const FAMILY: [&str; 11] = [
        "malloc",
        "free",
        "calloc",
        "realloc",
        "reallocarray",
        "memalign",
        "posix_memalign",
        "aligned_alloc",
        "valloc",
        "pvalloc",
        "__libc_malloc",
    ];
    let runtime = f
        .object
        .as_deref()
        .is_some_and(|o| o.contains("libmemdx_runtime") || o.contains("memdx runtime"));
    let glibc_source = f
        .file
        .as_deref()
        .is_some_and(|p| p == "malloc.c" || p.ends_with("/malloc.c"));
    let glibc_entry = f.object.as_deref().is_some_and(|o| o.contains("libc.so"))
        && f.function.as_deref().is_some_and(|n| FAMILY.contains(&n));
    let cxx_entry = f.object.as_deref().is_some_and(|o| o.contains("libstdc++"))
        && f.function
            .as_deref()
            .is_some_and(|n| n.starts_with("operator new") || n.starts_with("operator delete"));
    runtime || glibc_source || glibc_entry || cxx_entry
}

/// The frame that called the allocator.
fn caller(site: &Site) -> Option<&SymFrame> {
    site.frames
        .iter()
        .find(|f| !is_allocator(f))
        .or(site.frames.first())
}

/// Groups the sites.
pub fn group(summary: &Summary, by: GroupBy) -> Vec<Group> {
    group_sites(&summary.sites, by)
}

/// Groups any sites (the heap's, or the mapped ones).
pub fn group_sites(sites: &[Site], by: GroupBy) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for site in sites {
        let (key, frames) = match by {
            GroupBy::Stack => (format!("stack {}", site.stack), site.frames.clone()),
            GroupBy::Function => {
                let f = caller(site).cloned().unwrap_or_default();
                let key = f
                    .function
                    .clone()
                    .unwrap_or_else(|| format!("0x{:X}", f.addr));
                (
                    key,
                    vec![SymFrame {
                        line: 0,
                        file: None,
                        ..f
                    }],
                )
            }
            GroupBy::Line => {
                let f = caller(site).cloned().unwrap_or_default();
                let key = match (&f.file, f.line) {
                    (Some(file), l) if l > 0 => {
                        format!("{} ({file}:{l})", f.function.as_deref().unwrap_or("???"))
                    }
                    _ => format!("0x{:X}", f.addr),
                };
                (key, vec![f])
            }
        };
        match index.get(&key) {
            Some(&i) => groups[i].stats.add(&site.stats),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push(Group {
                    key,
                    frames,
                    stats: site.stats.clone(),
                });
            }
        }
    }
    groups
}

/// The `top` groups of a view, largest first (groups at 0 left out).
pub fn ranked(groups: &[Group], view: View, top: usize) -> Vec<&Group> {
    let mut v: Vec<&Group> = groups.iter().filter(|g| view.key(&g.stats) > 0.0).collect();
    v.sort_by(|a, b| {
        view.key(&b.stats)
            .total_cmp(&view.key(&a.stats))
            .then_with(|| a.key.cmp(&b.key))
    });
    v.truncate(top);
    v
}

/// An integer with thousands separators (estimates are rounded).
pub fn count(x: f64) -> String {
    let n = x.round().max(0.0) as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn secs(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

fn plural(n: f64, one: &str, many: &str) -> String {
    let c = count(n);
    if c == "1" {
        format!("{c} {one}")
    } else {
        format!("{c} {many}")
    }
}

/// The headline figures.
pub fn write_totals(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    if !s.command.is_empty() {
        writeln!(out, "memdx heap: {} (pid {})", s.command.join(" "), s.pid)?;
    }
    if let Some(base) = s.attached_heap_bytes {
        writeln!(
            out,
            "attached to the running process: allocations made before the attach are not known \
             individually; heap in use at the attach: {} bytes (base line, glibc's mallinfo2)",
            count(base as f64)
        )?;
    }
    if s.sample_interval > 0 {
        writeln!(
            out,
            "sampled: one sample per {} bytes allocated on average; figures are estimates",
            count(s.sample_interval as f64)
        )?;
    }
    writeln!(
        out,
        "peak heap: {} bytes in {} at {} (of {})",
        count(s.peak_bytes),
        plural(s.peak_blocks, "block", "blocks"),
        secs(s.peak_time_ns),
        secs(s.duration_ns)
    )?;
    writeln!(
        out,
        "allocations: {}, {} bytes allocated, {} temporary",
        count(s.allocations),
        count(s.allocated_bytes),
        count(s.temporaries)
    )?;
    let when = if s.exit == Some(Exit::Detached) {
        "at the detach (of those allocated while attached)"
    } else {
        "at exit"
    };
    writeln!(
        out,
        "still allocated {when}: {} bytes in {}",
        count(s.exit_bytes),
        plural(s.exit_blocks, "block", "blocks")
    )?;
    match s.exit {
        Some(Exit::Exited(status)) if s.attached_heap_bytes.is_some() => writeln!(
            out,
            "the process exited with status {status} while attached"
        )?,
        Some(Exit::Exited(_)) => {}
        Some(Exit::Detached) => writeln!(out, "memdx detached; the process runs on")?,
        Some(Exit::ChildEnded) => writeln!(
            out,
            "a traced child process; it ended (its exit status went to its parent, not to memdx)"
        )?,
        Some(Exit::Ended) => writeln!(
            out,
            "the process ended while memdx was attached (its exit status is not known to memdx)"
        )?,
        Some(Exit::Signaled(sig)) => writeln!(
            out,
            "the program was killed by signal {sig}: figures are up to its last flush"
        )?,
        Some(Exit::Cut) | None => writeln!(
            out,
            "the recording ends without the program's end: figures are up to its last flush"
        )?,
    }
    Ok(())
}

/// One view as text.
pub fn write_view(
    out: &mut dyn Write,
    s: &Summary,
    groups: &[Group],
    view: View,
    top: usize,
) -> io::Result<()> {
    let rows = ranked(groups, view, top);
    writeln!(out)?;
    writeln!(out, "{}:", view.title())?;
    if rows.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for g in rows {
        let st = &g.stats;
        let line = match view {
            View::Peak => format!(
                "{} bytes in {} ({:.1}% of the peak)",
                count(st.peak_bytes),
                plural(st.peak_blocks, "block", "blocks"),
                100.0 * st.peak_bytes / s.peak_bytes.max(1.0)
            ),
            View::Exit => format!(
                "{} bytes in {} still allocated",
                count(st.exit_bytes),
                plural(st.exit_blocks, "block", "blocks")
            ),
            View::Allocated => format!(
                "{} bytes allocated in {}",
                count(st.allocated_bytes),
                plural(st.allocations, "block", "blocks")
            ),
            View::Count => format!(
                "{} ({} bytes)",
                plural(st.allocations, "allocation", "allocations"),
                count(st.allocated_bytes)
            ),
            View::Temporaries => format!(
                "{} of {}",
                plural(st.temporaries, "temporary", "temporaries"),
                plural(st.allocations, "allocation", "allocations")
            ),
        };
        writeln!(out, "  {line}")?;
        for (i, f) in g.frames.iter().enumerate() {
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

/// The whole text report: totals, then each view.
pub fn write_text(
    out: &mut dyn Write,
    s: &Summary,
    by: GroupBy,
    views: &[View],
    top: usize,
) -> io::Result<()> {
    write_totals(out, s)?;
    let groups = group(s, by);
    for &v in views {
        write_view(out, s, &groups, v, top)?;
    }
    write_mapped(out, s, by, top)?;
    write_memory(out, s)?;
    Ok(())
}

/// What the program mapped itself, beside the heap: totals, then the
/// sites by bytes mapped at the mapped peak and at exit. Nothing when the
/// program mapped nothing itself.
pub fn write_mapped(out: &mut dyn Write, s: &Summary, by: GroupBy, top: usize) -> io::Result<()> {
    let m = &s.mapped;
    if m.maps == 0 {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "mapped by the program (its own mmap/mremap, not through the allocator; whole pages): \
         {}, {} bytes mapped, {} unmapped",
        plural(m.maps as f64, "mapping", "mappings"),
        count(m.mapped_bytes as f64),
        plural(m.unmaps as f64, "range", "ranges")
    )?;
    writeln!(
        out,
        "  peak mapped: {} bytes at {}; still mapped at exit: {} bytes",
        count(m.peak_bytes as f64),
        secs(m.peak_time_ns),
        count(m.exit_bytes as f64)
    )?;
    let groups = group_sites(&m.sites, by);
    for (view, title) in [
        (View::Peak, "mapped at the mapped peak"),
        (View::Exit, "still mapped at exit"),
    ] {
        writeln!(out)?;
        writeln!(out, "{title}:")?;
        let rows: Vec<&Group> = ranked(&groups, view, top)
            .into_iter()
            .filter(|g| view.key(&g.stats) > 0.0)
            .collect();
        if rows.is_empty() {
            writeln!(out, "  (none)")?;
        }
        for g in rows {
            let st = &g.stats;
            let (bytes, ranges) = match view {
                View::Peak => (st.peak_bytes, st.peak_blocks),
                _ => (st.exit_bytes, st.exit_blocks),
            };
            writeln!(
                out,
                "  {} bytes in {} (of {} bytes mapped in {})",
                count(bytes),
                plural(ranges, "range", "ranges"),
                count(st.allocated_bytes),
                plural(st.allocations, "call", "calls")
            )?;
            for (i, f) in g.frames.iter().enumerate() {
                writeln!(
                    out,
                    "     {} {}",
                    if i == 0 { "at" } else { "by" },
                    f.render()
                )?;
            }
        }
    }
    Ok(())
}

/// Rows of the memory table at most (evenly spaced readings, the last
/// one included).
const MEMORY_ROWS: usize = 12;

/// The snapshots, and the heap beside RSS over time: live heap (the
/// recording's), what the allocator holds and has handed out (glibc's
/// `mallinfo2`), RSS and PSS. Nothing when the recording has neither.
pub fn write_memory(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    if !s.snapshots.is_empty() {
        writeln!(out)?;
        writeln!(out, "snapshots:")?;
        for m in &s.snapshots {
            writeln!(out, "  {} at {}", m.name, secs(m.time_ns))?;
        }
    }
    if s.memory.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "heap beside RSS (bytes; allocator: glibc's mallinfo2, held from the system / handed out):"
    )?;
    writeln!(
        out,
        "  {:>9} {:>14} {:>14} {:>14} {:>14} {:>14}",
        "time", "live heap", "alloc held", "alloc in use", "RSS", "PSS"
    )?;
    let n = s.memory.len();
    let rows: Vec<usize> = if n <= MEMORY_ROWS {
        (0..n).collect()
    } else {
        let mut r: Vec<usize> = (0..MEMORY_ROWS)
            .map(|i| i * (n - 1) / (MEMORY_ROWS - 1))
            .collect();
        r.dedup();
        r
    };
    let cell = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| count(v as f64));
    for i in rows {
        let m = &s.memory[i];
        writeln!(
            out,
            "  {:>9} {:>14} {:>14} {:>14} {:>14} {:>14}",
            secs(m.time),
            cell(m.live_heap),
            cell(m.allocator_held),
            cell(m.allocator_in_use),
            cell(m.rss),
            cell(m.pss)
        )?;
    }
    // Freed memory the allocator keeps: it holds at least half as much
    // again as is live at the end, which is at most two thirds of the peak.
    if let Some(last) = s.memory.last() {
        if let (Some(live), Some(held)) = (last.live_heap, last.allocator_held) {
            let (live, held) = (live as f64, held as f64);
            if held >= 1.5 * live && s.peak_bytes >= 1.5 * live && s.peak_bytes > 0.0 {
                writeln!(
                    out,
                    "  the allocator holds {} bytes for {} live at the end (peak {}): freed memory \
                     kept by the allocator (fragmentation or caching), not a leak",
                    count(held),
                    count(live),
                    count(s.peak_bytes)
                )?;
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonView<'a> {
    view: View,
    groups: Vec<&'a Group>,
}

/// The JSON report's `mapped` object.
#[derive(Serialize)]
struct JsonMapped<'a> {
    maps: u64,
    unmaps: u64,
    mapped_bytes: u64,
    peak_bytes: u64,
    peak_time_ns: u64,
    exit_bytes: u64,
    views: Vec<JsonView<'a>>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    pid: u32,
    command: &'a [String],
    sample_interval: u64,
    exit: Option<Exit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attached_heap_bytes: Option<u64>,
    duration_ns: u64,
    peak_bytes: f64,
    peak_blocks: f64,
    peak_time_ns: u64,
    allocations: f64,
    allocated_bytes: f64,
    temporaries: f64,
    exit_bytes: f64,
    exit_blocks: f64,
    group_by: GroupBy,
    views: Vec<JsonView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    leak_suspects: Option<&'a [crate::suspects::Suspect]>,
    snapshots: &'a [crate::Snapshot],
    memory: &'a [crate::MemorySample],
    mapped: JsonMapped<'a>,
}

/// The report as one JSON object (figures of sampled recordings are
/// unrounded estimates).
pub fn write_json(
    out: &mut dyn Write,
    s: &Summary,
    by: GroupBy,
    views: &[View],
    top: usize,
) -> io::Result<()> {
    write_json_with(out, s, by, views, top, None)
}

/// [`write_json`] with the leak suspects (at most `top`) when they were
/// looked for.
pub fn write_json_with(
    out: &mut dyn Write,
    s: &Summary,
    by: GroupBy,
    views: &[View],
    top: usize,
    suspects: Option<&[crate::suspects::Suspect]>,
) -> io::Result<()> {
    let groups = group(s, by);
    let mapped_groups = group_sites(&s.mapped.sites, by);
    let m = &s.mapped;
    let mapped = JsonMapped {
        maps: m.maps,
        unmaps: m.unmaps,
        mapped_bytes: m.mapped_bytes,
        peak_bytes: m.peak_bytes,
        peak_time_ns: m.peak_time_ns,
        exit_bytes: m.exit_bytes,
        views: [View::Peak, View::Exit, View::Allocated]
            .into_iter()
            .map(|view| JsonView {
                view,
                groups: ranked(&mapped_groups, view, top),
            })
            .collect(),
    };
    let report = JsonReport {
        pid: s.pid,
        command: &s.command,
        sample_interval: s.sample_interval,
        exit: s.exit,
        attached_heap_bytes: s.attached_heap_bytes,
        duration_ns: s.duration_ns,
        peak_bytes: s.peak_bytes,
        peak_blocks: s.peak_blocks,
        peak_time_ns: s.peak_time_ns,
        allocations: s.allocations,
        allocated_bytes: s.allocated_bytes,
        temporaries: s.temporaries,
        exit_bytes: s.exit_bytes,
        exit_blocks: s.exit_blocks,
        group_by: by,
        views: views
            .iter()
            .map(|&view| JsonView {
                view,
                groups: ranked(&groups, view, top),
            })
            .collect(),
        leak_suspects: suspects.map(|v| &v[..v.len().min(top)]),
        snapshots: &s.snapshots,
        memory: &s.memory,
        mapped,
    };
    serde_json::to_writer_pretty(&mut *out, &report).map_err(io::Error::from)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(0.0), "0");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(1000.0), "1,000");
        assert_eq!(count(1234567.4), "1,234,567");
    }
}
