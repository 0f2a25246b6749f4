//! `--deep`: what a sampled heap capture of the target (`memdx heap --pid`
//! over the observation window) says about its growth: the allocation
//! sites whose blocks, allocated during the capture, are still live at its
//! end, and whether the RSS growth is live memory (a leak or a growing
//! cache) or memory the allocator holds (fragmentation, caching).

use memdx_units::{format_bytes, format_duration};

use crate::finding::{Area, Finding, Severity};
use crate::observation::{HeapCapture, Observation};
use crate::thresholds::{GROWTH_MIN_BYTES, HEAP_LIVE_SHARE_MIN, HEAP_TOP_SITES};

fn site_text(s: &crate::observation::HeapSite) -> String {
    let at = s
        .location
        .as_deref()
        .map_or_else(String::new, |l| format!(" ({l})"));
    format!(
        "{}{at} +{} in {:.0} blocks",
        s.function,
        format_bytes(s.bytes),
        s.blocks
    )
}

fn next(c: &HeapCapture) -> String {
    format!("memdx heap --pid {} --duration 10m", c.pid)
}

/// The growing allocation sites, and the leak-versus-allocator verdict.
pub(crate) fn findings(o: &Observation) -> Vec<Finding> {
    let Some(c) = &o.heap else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let sites: Vec<_> = c
        .sites
        .iter()
        .filter(|s| s.bytes > 0.0)
        .take(HEAP_TOP_SITES)
        .collect();
    let sampled = if c.sample_interval > 0 {
        format!(
            " (sampled every {} on average: estimates)",
            format_bytes(c.sample_interval as f64)
        )
    } else {
        String::new()
    };
    let mut f = if sites.is_empty() {
        Finding::new(
            Severity::Info,
            Area::Growth,
            "growth.heap_sites",
            format!(
                "pid {}: no allocation site grew during the heap capture ({})",
                c.pid,
                format_duration(c.duration_s)
            ),
        )
    } else {
        let severity = if c.live_growth_bytes >= GROWTH_MIN_BYTES {
            Severity::Warning
        } else {
            Severity::Info
        };
        let title: Vec<String> = sites.iter().take(3).map(|s| site_text(s)).collect();
        let mut f = Finding::new(
            severity,
            Area::Growth,
            "growth.heap_sites",
            format!(
                "growing allocation sites of pid {}: {}",
                c.pid,
                title.join(", ")
            ),
        );
        for s in &sites {
            f = f.evidence(format!(
                "{}: still live at the end of the capture",
                site_text(s)
            ));
        }
        f.figure("top_site_bytes", sites[0].bytes)
    };
    f = f
        .evidence(format!(
            "live heap +{} over the {} capture{sampled}",
            format_bytes(c.live_growth_bytes),
            format_duration(c.duration_s)
        ))
        .figure("live_growth_bytes", c.live_growth_bytes)
        .figure("capture_s", c.duration_s);
    if let Some(h) = c.heap_at_attach_bytes {
        f = f
            .evidence(format!(
                "heap in use at the attach: {} (allocator's count)",
                format_bytes(h as f64)
            ))
            .figure("heap_at_attach_bytes", h as f64);
    }
    out.push(f.next(next(c)));
    out.extend(verdict(c));
    out
}

/// Live memory or allocator-held: compares the live heap's growth rate
/// with the RSS's over the capture.
fn verdict(c: &HeapCapture) -> Option<Finding> {
    if c.rss_growth_bytes < GROWTH_MIN_BYTES || c.rss_span_s <= 0.0 || c.duration_s <= 0.0 {
        return None;
    }
    let rss_rate = c.rss_growth_bytes / c.rss_span_s;
    let live_rate = c.live_growth_bytes.max(0.0) / c.duration_s;
    let share = live_rate / rss_rate;
    let numbers = format!(
        "RSS +{} over {} ({}/s); live heap +{} over {} ({}/s): {:.0}% of the RSS growth",
        format_bytes(c.rss_growth_bytes),
        format_duration(c.rss_span_s),
        format_bytes(rss_rate),
        format_bytes(c.live_growth_bytes.max(0.0)),
        format_duration(c.duration_s),
        format_bytes(live_rate),
        100.0 * share
    );
    let f = if share < HEAP_LIVE_SHARE_MIN {
        Finding::new(
            Severity::Warning,
            Area::Growth,
            "growth.heap_held",
            format!(
                "pid {}'s growth is not live heap: memory held by the allocator (fragmentation or caching) or mapped without malloc",
                c.pid
            ),
        )
        .evidence(numbers)
        .evidence(
            "freed blocks the allocator keeps count in RSS: malloc_trim(0) returns them to the system; \
             fewer arenas (MALLOC_ARENA_MAX=2) or a lower M_TRIM_THRESHOLD/M_MMAP_THRESHOLD keep less"
                .to_string(),
        )
    } else {
        Finding::new(
            Severity::Warning,
            Area::Growth,
            "growth.heap_live",
            format!(
                "pid {}'s growth is live memory it holds (a leak or a growing cache), not fragmentation",
                c.pid
            ),
        )
        .evidence(numbers)
    };
    Some(
        f.figure("rss_growth_bytes", c.rss_growth_bytes)
            .figure("live_growth_bytes", c.live_growth_bytes)
            .figure("live_share", share)
            .next(next(c)),
    )
}
