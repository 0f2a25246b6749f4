//! `memdx watch`: one line per sample with the trend so far, and the final
//! verdict as a sentence with its evidence. JSON objects are documented in
//! `docs/watch.md`.

use std::io::{self, Write};

use memdx_model::watch::{Metric, WatchSample};
use memdx_trend::{time_to_limit, Analysis, SlopeEstimate, Verdict};
use memdx_units::{format_bytes, format_duration, RateUnit};
use serde_json::{json, Value};

/// What the growth would run into, and how much room is left.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitInfo {
    /// What happens when the room is used up, as a clause: `the cgroup
    /// limit (memory.max 512.0 MiB) is reached`, `MemAvailable (3.1 GiB now)
    /// runs out`.
    pub event: String,
    /// Bytes left before it is reached.
    pub remaining_bytes: f64,
}

const WIDTH: usize = 11;

/// The column header line.
pub fn write_header(w: &mut impl Write, metrics: &[Metric], group: bool) -> io::Result<()> {
    write!(w, "{:>8}", "TIME")?;
    if group {
        write!(w, " {:>5}", "PROCS")?;
    }
    for m in metrics {
        write!(w, " {:>WIDTH$}", m.header())?;
    }
    writeln!(w, "  TREND")
}

/// One sample line: time, the number of processes (`group`: a `--name`
/// group), figures, the trend label.
pub fn write_sample(
    w: &mut impl Write,
    sample: &WatchSample,
    metrics: &[Metric],
    group: bool,
    trend: &str,
) -> io::Result<()> {
    write!(w, "{:>7.1}s", sample.t)?;
    if group {
        write!(w, " {:>5}", sample.processes.unwrap_or(0))?;
    }
    for m in metrics {
        let cell = sample
            .get(*m)
            .map_or_else(|| "-".to_string(), |v| format_bytes(v as f64));
        write!(w, " {cell:>WIDTH$}")?;
    }
    writeln!(w, "  {trend}")
}

/// A rate and its interval in one byte unit: `+3.2 MiB/min (95% CI 2.9–3.5)`.
pub fn rate_with_ci(rate: &SlopeEstimate, unit: RateUnit) -> String {
    let per = unit.seconds();
    let (s, lo, hi) = (rate.slope * per, rate.lower * per, rate.upper * per);
    let mag = s.abs().max(lo.abs()).max(hi.abs());
    let (scale, name) = [
        (1.0, "B"),
        (1024.0, "KiB"),
        (1048576.0, "MiB"),
        (1073741824.0, "GiB"),
        (1099511627776.0, "TiB"),
    ]
    .into_iter()
    .rev()
    .find(|(scale, _)| mag >= *scale)
    .unwrap_or((1.0, "B"));
    let digits = usize::from(scale > 1.0);
    let sign = if s > 0.0 { "+" } else { "" };
    format!(
        "{sign}{:.digits$} {name}/{} ({:.0}% CI {:.digits$}–{:.digits$})",
        s / scale,
        unit.suffix(),
        rate.confidence * 100.0,
        lo / scale,
        hi / scale,
    )
}

/// The short trend label of a sample line.
pub fn trend_label(a: &Analysis) -> String {
    let unit = RateUnit::for_span(a.span_s);
    match &a.verdict {
        Verdict::TooFewSamples { have, need } => format!("({have}/{need} samples)"),
        Verdict::Growing { rate, on_minima } => format!(
            "growing{} {}",
            if *on_minima { " (troughs)" } else { "" },
            rate_with_ci(rate, unit)
        ),
        Verdict::Shrinking { rate } => format!("shrinking {}", rate_with_ci(rate, unit)),
        Verdict::Stable { .. } => "stable".to_string(),
        Verdict::Sawtooth { period_s, .. } => {
            format!("sawtooth every {}", format_duration(*period_s))
        }
        Verdict::Step {
            before_bytes,
            after_bytes,
            ..
        } => format!("step {}", signed_bytes(after_bytes - before_bytes)),
    }
}

fn signed_bytes(b: f64) -> String {
    if b > 0.0 {
        format!("+{}", format_bytes(b))
    } else {
        format_bytes(b)
    }
}

fn limit_clause(rate: &SlopeEstimate, limit: Option<&LimitInfo>) -> String {
    let Some(limit) = limit else {
        return String::new();
    };
    let Some(ttl) = time_to_limit(rate, 0.0, limit.remaining_bytes) else {
        return String::new();
    };
    if ttl.estimate_s <= 0.0 {
        return format!(", {} already", limit.event);
    }
    let range = match ttl.latest_s {
        Some(latest) => format!(
            "{}–{}",
            format_duration(ttl.earliest_s),
            format_duration(latest)
        ),
        None => format!("{} or never", format_duration(ttl.earliest_s)),
    };
    format!(
        ", at this rate {} in {} ({range})",
        limit.event,
        format_duration(ttl.estimate_s)
    )
}

/// The verdict as one sentence with its evidence, e.g. `growing steadily:
/// +3.2 MiB/min over 10 min (95% CI 2.9–3.5), at this rate the cgroup limit
/// (memory.max 512.0 MiB) is reached in 41 min (35–50 min)`.
pub fn verdict_sentence(a: &Analysis, metric: Metric, limit: Option<&LimitInfo>) -> String {
    let unit = RateUnit::for_span(a.span_s);
    let over = format_duration(a.span_s);
    let what = metric.header();
    match &a.verdict {
        Verdict::TooFewSamples { have, need } => format!(
            "too few samples to judge: {have} of at least {need} (sample longer or more often)"
        ),
        Verdict::Growing { rate, on_minima } => {
            let (pre, rest) = rate_split(rate, unit);
            format!(
                "growing steadily{}: {what} {pre} over {over} ({rest}), from {} to {}{}",
                if *on_minima {
                    " under a sawtooth (the troughs rise)"
                } else {
                    ""
                },
                format_bytes(a.first_bytes),
                format_bytes(a.last_bytes),
                limit_clause(rate, limit)
            )
        }
        Verdict::Shrinking { rate } => {
            let (pre, rest) = rate_split(rate, unit);
            format!(
                "shrinking: {what} {pre} over {over} ({rest}), from {} to {}",
                format_bytes(a.first_bytes),
                format_bytes(a.last_bytes)
            )
        }
        Verdict::Stable { rate } => {
            let (pre, rest) = rate_split(rate, unit);
            format!(
                "stable: {what} between {} and {} over {over}; trend {pre} ({rest})",
                format_bytes(a.min_bytes),
                format_bytes(a.max_bytes)
            )
        }
        Verdict::Sawtooth {
            period_s,
            amplitude_bytes,
            releases,
            trough_rate,
        } => {
            let troughs = match trough_rate {
                Some(r) => {
                    let (pre, rest) = rate_split(r, unit);
                    format!("; the troughs do not rise ({pre}, {rest})")
                }
                None => String::new(),
            };
            format!(
                "sawtooth: {what} grows and is released every {} ({releases} releases of about {}, between {} and {} over {over}){troughs}",
                format_duration(*period_s),
                format_bytes(*amplitude_bytes),
                format_bytes(a.min_bytes),
                format_bytes(a.max_bytes),
            )
        }
        Verdict::Step {
            at_t,
            before_bytes,
            after_bytes,
        } => format!(
            "step: one jump of {} at {at_t:.1}s ({what} {} to {}), then flat",
            signed_bytes(after_bytes - before_bytes),
            format_bytes(*before_bytes),
            format_bytes(*after_bytes)
        ),
    }
}

/// `rate_with_ci` split into the rate and the bracketed interval text.
fn rate_split(rate: &SlopeEstimate, unit: RateUnit) -> (String, String) {
    let full = rate_with_ci(rate, unit);
    match full.split_once(" (") {
        Some((pre, rest)) => (pre.to_string(), rest.trim_end_matches(')').to_string()),
        None => (full, String::new()),
    }
}

/// A sample as a JSON object: `{"type": "sample", "t": …, "processes": …,
/// "rss": …, …}` (bytes; null when unavailable).
pub fn sample_json(sample: &WatchSample) -> Value {
    let mut obj = serde_json::Map::new();
    obj.insert("type".into(), json!("sample"));
    obj.insert("t".into(), json!(sample.t));
    if let Some(n) = sample.processes {
        obj.insert("processes".into(), json!(n));
    }
    for (m, v) in &sample.values {
        obj.insert(m.name().into(), json!(v));
    }
    Value::Object(obj)
}

/// The verdict as a JSON object (see `docs/watch.md`).
pub fn verdict_json(a: &Analysis, metric: Metric, limit: Option<&LimitInfo>) -> Value {
    let ttl = a
        .rate()
        .filter(|_| matches!(a.verdict, Verdict::Growing { .. }))
        .zip(limit)
        .and_then(|(r, l)| time_to_limit(r, 0.0, l.remaining_bytes));
    json!({
        "type": "verdict",
        "metric": metric.name(),
        "text": verdict_sentence(a, metric, limit),
        "analysis": a,
        "limit": limit.map(|l| json!({"event": l.event, "remaining_bytes": l.remaining_bytes})),
        "time_to_limit": ttl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use memdx_trend::{classify, Params, Point};

    const MIB: f64 = 1048576.0;

    fn analysis(f: impl Fn(f64) -> f64, n: usize, dt: f64) -> Analysis {
        let pts: Vec<Point> = (0..n)
            .map(|i| Point {
                t: i as f64 * dt,
                bytes: f(i as f64 * dt),
            })
            .collect();
        classify(&pts, &Params::default())
    }

    #[test]
    fn growing_sentence_names_rate_interval_and_limit() {
        let a = analysis(|t| 100.0 * MIB + 3.2 * MIB * t / 60.0, 61, 10.0);
        let limit = LimitInfo {
            event: "the cgroup limit (memory.max 512.0 MiB) is reached".into(),
            remaining_bytes: 131.2 * MIB,
        };
        let s = verdict_sentence(&a, Metric::WorkingSet, Some(&limit));
        assert_eq!(
            s,
            "growing steadily: WSET +3.2 MiB/min over 10 min (95% CI 3.2–3.2), from 100.0 MiB to 132.0 MiB, \
at this rate the cgroup limit (memory.max 512.0 MiB) is reached in 41 min (41 min–41 min)"
        );
        assert!(
            trend_label(&a).starts_with("growing +3.2 MiB/min"),
            "{}",
            trend_label(&a)
        );
        let v = verdict_json(&a, Metric::WorkingSet, Some(&limit));
        assert_eq!(v["analysis"]["verdict"]["verdict"], "growing");
        assert!((v["time_to_limit"]["estimate_s"].as_f64().unwrap() - 2460.0).abs() < 1.0);
    }

    #[test]
    fn stable_step_and_sawtooth_sentences() {
        let flat = analysis(|_| 50.0 * MIB, 20, 1.0);
        assert_eq!(
            verdict_sentence(&flat, Metric::Pss, None),
            "stable: PSS between 50.0 MiB and 50.0 MiB over 19 s; trend 0 B/s (95% CI 0–0)"
        );
        let step = analysis(|t| if t < 5.0 { 10.0 * MIB } else { 74.0 * MIB }, 20, 1.0);
        assert_eq!(
            verdict_sentence(&step, Metric::Rss, None),
            "step: one jump of +64.0 MiB at 5.0s (RSS 10.0 MiB to 74.0 MiB), then flat"
        );
        let saw = analysis(|t| 10.0 * MIB + 4.0 * MIB * (t % 5.0), 60, 0.5);
        let s = verdict_sentence(&saw, Metric::Rss, None);
        assert!(
            s.starts_with("sawtooth: RSS grows and is released every 5 s ("),
            "{s}"
        );
    }

    #[test]
    fn sample_lines_align_and_show_missing_figures() {
        let sample = WatchSample {
            t: 1.25,
            processes: Some(2),
            values: vec![(Metric::Rss, Some(3 * 1048576)), (Metric::Pss, None)],
        };
        let mut out = Vec::new();
        write_header(&mut out, &[Metric::Rss, Metric::Pss], true).unwrap();
        write_sample(
            &mut out,
            &sample,
            &[Metric::Rss, Metric::Pss],
            true,
            "stable",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "    TIME PROCS         RSS         PSS  TREND\n    1.2s     2     3.0 MiB           -  stable\n"
        );
        assert_eq!(sample_json(&sample)["pss"], Value::Null);
    }
}
