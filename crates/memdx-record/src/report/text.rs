//! The report as text for a terminal.

use std::io::{self, Write};

use memdx_trend::Verdict;
use memdx_units::{format_bytes, format_duration, format_rate, RateUnit};

use super::{Growth, MinAvgMax, Report, Subject};
use crate::timespec::format_utc;

fn bytes(v: u64) -> String {
    format_bytes(v as f64)
}

fn signed(v: i64) -> String {
    let sign = if v > 0 { "+" } else { "" };
    format!("{sign}{}", format_bytes(v as f64))
}

/// Writes `report`.
pub fn write(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    writeln!(out, "Recording: {}", report.database)?;
    let (Some(first), Some(last)) = (report.first, report.last) else {
        let window = match (report.since, report.until) {
            (None, None) => String::new(),
            (s, u) => format!(
                " between {} and {}",
                s.map_or("the start".into(), |t| format!("{} UTC", format_utc(t))),
                u.map_or("now".into(), |t| format!("{} UTC", format_utc(t)))
            ),
        };
        return writeln!(out, "No samples{window}.");
    };
    writeln!(
        out,
        "Window:    {} .. {} UTC ({}, {} samples)",
        format_utc(first),
        format_utc(last),
        format_duration(last - first),
        report.samples
    )?;
    writeln!(out)?;

    let m = &report.memory;
    writeln!(
        out,
        "System memory{}      {:>10} {:>10} {:>10}",
        m.total
            .map_or(String::new(), |t| format!(" (total {})", bytes(t))),
        "min",
        "avg",
        "max"
    )?;
    let row = |out: &mut dyn Write, name: &str, v: Option<MinAvgMax>| -> io::Result<()> {
        match v {
            Some(v) => writeln!(
                out,
                "  {name:<12} {:>10} {:>10} {:>10}",
                bytes(v.min),
                bytes(v.avg),
                bytes(v.max)
            ),
            None => writeln!(out, "  {name:<12} {:>10}", "-"),
        }
    };
    row(out, "used", m.used)?;
    row(out, "available", m.available)?;
    match m.swap_used {
        Some(s) => row(out, "swap used", Some(s))?,
        None => writeln!(out, "  {:<12} no swap", "swap used")?,
    }
    if let Some(p) = report.pressure {
        let full = p
            .full_percent
            .map_or(String::new(), |f| format!(", all tasks {f:.2}%"));
        writeln!(
            out,
            "  memory pressure (PSI): some task stalled {:.2}% of the time{full}",
            p.some_percent
        )?;
    }

    growth_table(out, "Processes that grew most", &report.processes)?;
    growth_table(out, "Cgroups that grew most", &report.cgroups)?;

    writeln!(out)?;
    if report.suspects.is_empty() {
        writeln!(
            out,
            "Leak suspects: none ({} series judged; a suspect grows steadily: the slope's 95% interval is above zero)",
            report.judged
        )?;
    } else {
        writeln!(out, "Leak suspects (growing steadily):")?;
        for g in &report.suspects {
            writeln!(out, "  {}", suspect_line(g))?;
        }
    }
    Ok(())
}

fn growth_table(out: &mut dyn Write, title: &str, rows: &[Growth]) -> io::Result<()> {
    writeln!(out)?;
    if rows.is_empty() {
        return writeln!(out, "{title}: none grew");
    }
    writeln!(out, "{title}:")?;
    writeln!(
        out,
        "  {:>10} {:>10} {:>10} {:>10}  {:<14} NAME",
        "FIRST", "LAST", "MAX", "GROWTH", "VERDICT"
    )?;
    for g in rows {
        writeln!(
            out,
            "  {:>10} {:>10} {:>10} {:>10}  {:<14} {}",
            bytes(g.first),
            bytes(g.last),
            bytes(g.max),
            signed(g.growth),
            verdict_word(&g.analysis.verdict),
            g.subject.label()
        )?;
    }
    Ok(())
}

fn verdict_word(v: &Verdict) -> &'static str {
    match v {
        Verdict::TooFewSamples { .. } => "too few",
        Verdict::Growing {
            on_minima: true, ..
        } => "growing (min)",
        Verdict::Growing { .. } => "growing",
        Verdict::Shrinking { .. } => "shrinking",
        Verdict::Stable { .. } => "stable",
        Verdict::Sawtooth { .. } => "sawtooth",
        Verdict::Step { .. } => "step",
    }
}

fn suspect_line(g: &Growth) -> String {
    let span = g.last_time - g.first_time;
    let unit = RateUnit::for_span(span);
    let mut line = format!("{}: ", g.subject.label());
    if let Verdict::Growing { rate, on_minima } = &g.analysis.verdict {
        line.push_str(&format!(
            "{} ({:.0}% interval {} .. {}){} over {}, {} -> {}",
            format_rate(rate.slope, unit),
            rate.confidence * 100.0,
            format_rate(rate.lower, unit),
            format_rate(rate.upper, unit),
            if *on_minima { " on the troughs" } else { "" },
            format_duration(span),
            bytes(g.first),
            bytes(g.last)
        ));
    }
    if let Some(t) = g.time_to_limit {
        let limit = match &g.subject {
            Subject::Cgroup { limit: Some(_), .. } => "its memory.max",
            _ => "MemTotal",
        };
        line.push_str(&format!(
            "; reaches {limit} in about {}",
            format_duration(t.estimate_s)
        ));
    }
    line
}
