//! Text and JSON renderers for kmemleak reports, diffs and status. They
//! only write to an `io::Write`.

use std::io::{self, Write};

use crate::kmemleak::diff::{Change, LeakDiff};
use crate::kmemleak::group::{LeakGroup, LeakReport};
use crate::kmemleak::status::{Status, Verdict};

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Writes the grouped report as text, largest leaks first. `max_frames`
/// limits each backtrace (0 = all).
pub fn write_report_text(
    out: &mut dyn Write,
    report: &LeakReport,
    max_frames: usize,
) -> io::Result<()> {
    writeln!(
        out,
        "kmemleak: {}, {} bytes, in {}",
        plural(
            report.objects,
            "unreferenced object",
            "unreferenced objects"
        ),
        report.bytes,
        plural(report.groups.len(), "group", "groups")
    )?;
    for g in &report.groups {
        writeln!(out)?;
        write_group_text(out, g, max_frames)?;
    }
    Ok(())
}

fn write_group_text(out: &mut dyn Write, g: &LeakGroup, max_frames: usize) -> io::Result<()> {
    match &g.module {
        Some(m) => writeln!(out, "{} [{m}]", g.title)?,
        None => writeln!(out, "{}", g.title)?,
    }
    if g.function.is_none()
        && g.frames
            .iter()
            .any(|f| f.function.is_none() && f.address.is_some())
    {
        writeln!(
            out,
            "  (culprit not symbolized: code of a module whose symbols are gone, such as init code freed after loading, or no kallsyms; try --kallsyms FILE)"
        )?;
    }
    let sizes: Vec<String> = g
        .sizes
        .iter()
        .map(|s| format!("{} x{}", s.size, s.count))
        .collect();
    writeln!(
        out,
        "  {}, {} bytes; sizes: {}",
        plural(g.count, "object", "objects"),
        g.bytes,
        sizes.join(", ")
    )?;
    let mut who = format!(
        "  comm: {}; jiffies {}..{}",
        g.comms.join(", "),
        g.jiffies.min,
        g.jiffies.max
    );
    if let Some(a) = g.age_ms {
        who.push_str(&format!(
            "; age {:.3}s..{:.3}s",
            a.min as f64 / 1000.0,
            a.max as f64 / 1000.0
        ));
    }
    writeln!(out, "{who}")?;
    if g.backtrace.is_empty() {
        writeln!(out, "  backtrace: (none recorded)")?;
        return Ok(());
    }
    writeln!(out, "  backtrace:")?;
    let shown = if max_frames == 0 {
        g.backtrace.len()
    } else {
        max_frames.min(g.backtrace.len())
    };
    for frame in &g.backtrace[..shown] {
        writeln!(out, "    {frame}")?;
    }
    if shown < g.backtrace.len() {
        writeln!(out, "    ... {} more", g.backtrace.len() - shown)?;
    }
    Ok(())
}

/// Writes the report as one JSON object (`objects`, `bytes`, `groups`) and a newline.
pub fn write_report_json(out: &mut dyn Write, report: &LeakReport) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

/// Writes a diff as text: one line per group that changed (unchanged
/// groups are counted, not listed).
pub fn write_diff_text(out: &mut dyn Write, diff: &LeakDiff) -> io::Result<()> {
    writeln!(
        out,
        "kmemleak diff: {} -> {} objects",
        diff.old_objects, diff.new_objects
    )?;
    let mut same = 0;
    for g in &diff.groups {
        let tag = match g.change {
            Change::New => "new",
            Change::Gone => "gone",
            Change::Grew => "grew",
            Change::Shrank => "shrank",
            Change::Same => {
                same += 1;
                continue;
            }
        };
        writeln!(
            out,
            "{tag:>6}  {:>5} -> {:<5} objects {:>9} -> {:<9} bytes  {}",
            g.old_count, g.new_count, g.old_bytes, g.new_bytes, g.title
        )?;
    }
    if same > 0 {
        writeln!(
            out,
            "{}",
            plural(same, "group unchanged", "groups unchanged")
        )?;
    }
    Ok(())
}

/// Writes a diff as one JSON object.
pub fn write_diff_json(out: &mut dyn Write, diff: &LeakDiff) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, diff)?;
    writeln!(out)
}

/// Writes the status diagnosis as text.
pub fn write_status_text(out: &mut dyn Write, status: &Status) -> io::Result<()> {
    if status.usable {
        writeln!(out, "kmemleak: usable")?;
    } else {
        writeln!(out, "kmemleak: not usable here")?;
    }
    for f in &status.findings {
        let mark = match f.verdict {
            Verdict::Ok => "ok",
            Verdict::Blocks => "BLOCKS",
            Verdict::Unknown => "?",
        };
        writeln!(out, "  [{mark}] {}: {}", f.check, f.detail)?;
        if let Some(fix) = &f.fix {
            writeln!(out, "         fix: {fix}")?;
        }
    }
    Ok(())
}

/// Writes the status as one JSON object.
pub fn write_status_json(out: &mut dyn Write, status: &Status) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, status)?;
    writeln!(out)
}
