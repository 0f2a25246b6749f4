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
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for site in &summary.sites {
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
    Ok(())
}

#[derive(Serialize)]
struct JsonView<'a> {
    view: View,
    groups: Vec<&'a Group>,
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
