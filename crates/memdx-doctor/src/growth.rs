//! What grew during the window: processes and cgroups (memdx-trend's
//! classifier, as `memdx watch` judges them) and unreclaimable slab caches
//! (memdx-kernel's slab trends, as `memdx slab` judges them).

use memdx_kernel::slab::{trends, TrendRule};
use memdx_trend::{classify, time_to_limit, Params, SlopeEstimate, Verdict};
use memdx_units::{format_bytes, format_duration, format_rate, RateUnit};

use crate::finding::{Area, Finding, Severity};
use crate::observation::{Observation, Series};
use crate::pressure::meminfo_bytes;
use crate::thresholds::*;

/// `+2.0 MiB/s (95% CI 1.9 MiB/s – 2.1 MiB/s)`.
fn rate_text(rate: &SlopeEstimate, unit: RateUnit) -> String {
    format!(
        "{} ({:.0}% CI {} – {})",
        format_rate(rate.slope, unit),
        rate.confidence * 100.0,
        format_rate(rate.lower, unit),
        format_rate(rate.upper, unit)
    )
}

/// The classifier's knobs for a window of doctor's length.
pub fn params() -> Params {
    Params {
        min_change_bytes: Params::default().min_change_bytes.max(GROWTH_MIN_BYTES),
        ..Params::default()
    }
}

/// A series judged growing, with what the finding needs.
struct Growing<'a> {
    series: &'a Series,
    rate: SlopeEstimate,
    span_s: f64,
    last_t: f64,
    first_bytes: f64,
    last_bytes: f64,
}

/// Growing processes and cgroups, fastest first.
pub(crate) fn series(o: &Observation) -> Vec<Finding> {
    let params = params();
    let mut growing: Vec<Growing> = Vec::new();
    for s in &o.series {
        let a = classify(&s.points, &params);
        // memdx-trend's fit can rise over a window that ends lower than it
        // began (a process that freed, then grew again): not growth here.
        if a.last_bytes - a.first_bytes < GROWTH_MIN_BYTES {
            continue;
        }
        if let Verdict::Growing { rate, .. } = a.verdict {
            growing.push(Growing {
                series: s,
                rate,
                span_s: a.span_s,
                last_t: s.points.last().map_or(0.0, |p| p.t),
                first_bytes: a.first_bytes,
                last_bytes: a.last_bytes,
            });
        }
    }
    // The target first, whatever else grows faster on a busy machine; then
    // the fastest others.
    growing.sort_by(|a, b| {
        b.series
            .is_target
            .cmp(&a.series.is_target)
            .then(b.rate.slope.total_cmp(&a.rate.slope))
    });
    let avail = meminfo_bytes(&o.meminfo_end, "MemAvailable");
    let mut others = 0;
    growing
        .into_iter()
        .filter(|g| {
            others += usize::from(!g.series.is_target);
            g.series.is_target || others <= GROWTH_MAX_FINDINGS
        })
        .map(|g| finding(&g, avail))
        .collect()
}

fn finding(g: &Growing, avail: Option<f64>) -> Finding {
    let unit = RateUnit::for_span(g.span_s.max(1.0));
    let now = g.rate.at(g.last_t);
    let (ttl, limit_text) = match (g.series.limit_bytes, avail) {
        (Some(max), _) => (
            time_to_limit(&g.rate, now, max),
            format!("its limit ({})", format_bytes(max)),
        ),
        (None, Some(avail)) => (
            time_to_limit(&g.rate, 0.0, avail),
            format!("MemAvailable ({} now)", format_bytes(avail)),
        ),
        (None, None) => (None, String::new()),
    };
    // Critical only when even the slowest plausible rate (the interval's
    // lower end) reaches the limit soon, and soon after the window: a short
    // window's burst is not.
    let horizon = GROWTH_CRITICAL_TTL_S.min(GROWTH_CRITICAL_WINDOWS * g.span_s);
    let severity = match ttl {
        Some(t) if t.latest_s.is_some_and(|s| s < horizon) => Severity::Critical,
        _ => Severity::Warning,
    };
    let mut f = Finding::new(
        severity,
        Area::Growth,
        "growth.series",
        format!(
            "{} grows {} ({})",
            g.series.label,
            format_rate(g.rate.slope, unit),
            g.series.metric
        ),
    )
    .evidence(format!(
        "{} {} → {} over {}: {}",
        g.series.metric,
        format_bytes(g.first_bytes),
        format_bytes(g.last_bytes),
        format_duration(g.span_s),
        rate_text(&g.rate, unit)
    ))
    .figure("rate_bytes_per_s", g.rate.slope)
    .figure("rate_lower_bytes_per_s", g.rate.lower)
    .figure("rate_upper_bytes_per_s", g.rate.upper)
    .figure("first_bytes", g.first_bytes)
    .figure("last_bytes", g.last_bytes);
    if let Some(t) = ttl {
        let latest = t
            .latest_s
            .map_or("maybe never".to_string(), format_duration);
        f = f
            .evidence(format!(
                "at this rate {limit_text} is reached in {} (between {} and {latest})",
                format_duration(t.estimate_s),
                format_duration(t.earliest_s)
            ))
            .figure("time_to_limit_s", t.estimate_s);
    }
    f.next(format!("{} --duration 10m", g.series.watch_command))
}

/// Unreclaimable slab caches that grew during the window.
pub(crate) fn slab(o: &Observation) -> Vec<Finding> {
    let Some(samples) = &o.slab else {
        return Vec::new();
    };
    let rule = TrendRule {
        max_p: SLAB_MAX_P,
        min_growth_bytes: SLAB_MIN_GROWTH_BYTES,
        include_reclaimable: false,
    };
    let mut found: Vec<_> = trends(samples, &rule)
        .into_iter()
        .filter(|t| t.growing && !t.reclaimable)
        .collect();
    found.sort_by(|a, b| b.slope_bytes_per_s.total_cmp(&a.slope_bytes_per_s));
    let (kmemleak_line, next) = kmemleak_here(o);
    found
        .into_iter()
        .take(GROWTH_MAX_FINDINGS)
        .map(|t| {
            let unit = RateUnit::for_span(o.duration_s.max(1.0));
            Finding::new(
                Severity::Warning,
                Area::Growth,
                "growth.slab",
                format!(
                    "kernel slab cache {} grows {} (unreclaimable)",
                    t.name,
                    format_rate(t.slope_bytes_per_s, unit)
                ),
            )
            .evidence(format!(
                "{} → {} over {} samples, {:.1} objects/s, Mann–Kendall p = {:.2e}",
                format_bytes(t.first_bytes as f64),
                format_bytes(t.last_bytes as f64),
                t.samples,
                t.slope_objs_per_s,
                t.p_value
            ))
            .evidence("a kernel leak shows as an unreclaimable cache that only grows: kmemleak names its allocation sites when the kernel has it".to_string())
            .evidence(kmemleak_line.clone())
            .figure("rate_bytes_per_s", t.slope_bytes_per_s)
            .figure("first_bytes", t.first_bytes as f64)
            .figure("last_bytes", t.last_bytes as f64)
            .next(next.to_string())
        })
        .collect()
}

/// Whether kmemleak can name the allocation sites on this kernel: the
/// evidence line (what blocks it, and the fix) and the next command.
fn kmemleak_here(o: &Observation) -> (String, &'static str) {
    use memdx_kernel::kmemleak::status::Verdict as Check;
    let Some(status) = &o.kmemleak else {
        return (
            "kmemleak's state was not checked".to_string(),
            "memdx kmemleak status",
        );
    };
    if status.usable {
        return (
            "kmemleak is usable on this kernel: a scan lists unreferenced objects with their allocation backtraces".to_string(),
            "memdx kmemleak scan",
        );
    }
    let blocks: Vec<String> = status
        .findings
        .iter()
        .filter(|f| f.verdict == Check::Blocks)
        .map(|f| match &f.fix {
            Some(fix) => format!("{} (fix: {fix})", f.detail),
            None => f.detail.clone(),
        })
        .collect();
    let why = if blocks.is_empty() {
        "its state could not be determined".to_string()
    } else {
        blocks.join("; ")
    };
    (
        format!("kmemleak cannot be used on this kernel: {why}"),
        "memdx kmemleak status",
    )
}
