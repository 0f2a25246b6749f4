//! Leak suspects: the sites whose live bytes grow steadily over the run
//! and are not given back, ranked by how fast they grow; not merely what
//! is live at exit (a cache filled once at start-up is live at exit too,
//! and a leak that the program's end cut short is small at exit).
//!
//! Each candidate site's live bytes at the end of equal time buckets (an
//! [`crate::Timeline`]) are judged by memdx-trend's classifier, the same
//! analysis as `memdx watch` (Theil–Sen slope with its 95% interval,
//! Mann–Kendall on the series or, for a sawtooth, on its troughs). A site
//! is a suspect when the verdict is "growing" (the interval lies above
//! zero and the growth is at least `min_growth` bytes) and its live bytes
//! at the end are at least 90% of their highest (not given back). Suspects
//! are ranked by the lower end of their rate's interval.

use serde::Serialize;

use memdx_trend::{classify, Params, Point, SlopeEstimate, Verdict};

use crate::analysis::{Summary, Timeline};
use crate::format::SymFrame;

/// A site whose live memory grows steadily.
#[derive(Debug, Clone, Serialize)]
pub struct Suspect {
    /// The stack id.
    pub stack: u32,
    /// Its frames.
    pub frames: Vec<SymFrame>,
    /// Bytes per second, with its interval.
    pub rate: SlopeEstimate,
    /// Whether the rate is that of a sawtooth's troughs.
    pub on_minima: bool,
    /// Live bytes at the start and at the end of the judged span.
    pub first_bytes: f64,
    /// See `first_bytes`.
    pub last_bytes: f64,
    /// Seconds judged.
    pub span_s: f64,
    /// Live blocks at the end of the recording (ranges, for a mapping
    /// site).
    pub exit_blocks: f64,
    /// Whether the site maps memory itself (`mmap`/`mremap`: its mapped
    /// bytes grow) rather than allocating heap blocks.
    pub mapped: bool,
}

/// The sites of `summary` worth following over time for leak suspects:
/// the `n` holding most at the end (a site that gives everything back
/// cannot be one).
pub fn candidates(summary: &Summary, n: usize) -> Vec<u32> {
    most_at_exit(
        summary.sites.iter().map(|s| (s.stats.exit_bytes, s.stack)),
        n,
    )
}

/// The program's own mapping sites worth following over time: the `n`
/// with most bytes mapped at the end.
pub fn mapped_candidates(summary: &Summary, n: usize) -> Vec<u32> {
    most_at_exit(
        summary
            .mapped
            .sites
            .iter()
            .map(|s| (s.stats.exit_bytes, s.stack)),
        n,
    )
}

/// The stacks of the `n` sites holding most at exit, of `(bytes at exit,
/// stack)` pairs (none that holds nothing; ties by stack id).
fn most_at_exit(sites: impl Iterator<Item = (f64, u32)>, n: usize) -> Vec<u32> {
    let mut v: Vec<(f64, u32)> = sites.filter(|&(bytes, _)| bytes > 0.0).collect();
    v.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    v.truncate(n);
    v.into_iter().map(|(_, s)| s).collect()
}

/// The suspects among the tracked sites of `timeline` (heap sites and the
/// program's own mapping sites), fastest first.
pub fn leak_suspects(summary: &Summary, timeline: &Timeline, min_growth: f64) -> Vec<Suspect> {
    let params = Params {
        min_change_bytes: min_growth,
        ..Params::default()
    };
    let mut out = Vec::new();
    let heap = timeline.sites.iter().map(|s| (s, false));
    let mapped = timeline.mapped_sites.iter().map(|s| (s, true));
    for (series, is_mapping) in heap.chain(mapped) {
        let points: Vec<Point> = timeline
            .times_s
            .iter()
            .zip(&series.bytes)
            .map(|(&t, &bytes)| Point { t, bytes })
            .collect();
        let a = classify(&points, &params);
        let Verdict::Growing { rate, on_minima } = a.verdict else {
            continue;
        };
        let last = series.bytes.last().copied().unwrap_or(0.0);
        let max = series.bytes.iter().copied().fold(0.0, f64::max);
        if last < 0.9 * max {
            continue;
        }
        let sites = if is_mapping {
            &summary.mapped.sites
        } else {
            &summary.sites
        };
        let site = sites.iter().find(|s| s.stack == series.stack);
        out.push(Suspect {
            stack: series.stack,
            frames: site.map(|s| s.frames.clone()).unwrap_or_default(),
            rate,
            on_minima,
            first_bytes: a.first_bytes,
            last_bytes: a.last_bytes,
            span_s: a.span_s,
            exit_blocks: site.map_or(0.0, |s| s.stats.exit_blocks),
            mapped: is_mapping,
        });
    }
    out.sort_by(|a, b| {
        b.rate
            .lower
            .total_cmp(&a.rate.lower)
            .then(a.mapped.cmp(&b.mapped))
            .then(a.stack.cmp(&b.stack))
    });
    out
}

/// The suspects as text, after a blank line: the `top` fastest.
pub fn write_text(
    out: &mut dyn std::io::Write,
    suspects: &[Suspect],
    top: usize,
) -> std::io::Result<()> {
    use crate::render::count;
    writeln!(out)?;
    writeln!(
        out,
        "leak suspects (live bytes growing steadily and not given back, fastest first):"
    )?;
    if suspects.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for s in suspects.iter().take(top) {
        writeln!(
            out,
            "  +{} bytes/s (95% CI {} to {}){} over {:.1} s: {} -> {} bytes{}, {} {} at the end",
            count(s.rate.slope),
            count(s.rate.lower),
            count(s.rate.upper),
            if s.on_minima { " in its troughs" } else { "" },
            s.span_s,
            count(s.first_bytes),
            count(s.last_bytes),
            if s.mapped {
                " mapped by the program (its own mmap/mremap)"
            } else {
                ""
            },
            count(s.exit_blocks),
            if s.mapped { "ranges" } else { "blocks" }
        )?;
        for (i, f) in s.frames.iter().enumerate() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Analysis;
    use crate::format::Event;
    use crate::reader::Record;

    /// Site 1 leaks 1 KiB every 10 ms; site 2 fills a cache once at the
    /// start; site 3 grows and gives everything back before the end.
    fn events() -> Vec<Event> {
        let ms = 1_000_000u64;
        let mut ev = Vec::new();
        let mut ptr = 0u64;
        let mut next = |ev: &mut Vec<Event>, time, size, stack| {
            ptr += 1;
            ev.push(Event::Alloc {
                time,
                ptr,
                size,
                stack,
            });
            ptr
        };
        for i in 0..20 {
            next(&mut ev, i * ms, 64 * 1024, 2);
        }
        let mut grown = Vec::new();
        for i in 0..200u64 {
            next(&mut ev, 20 * ms + i * 10 * ms, 1024, 1);
            if i < 150 {
                grown.push(next(&mut ev, 20 * ms + i * 10 * ms + 1, 2048, 3));
            }
        }
        for (k, p) in grown.into_iter().enumerate() {
            ev.push(Event::Free {
                time: 1_600 * ms + k as u64,
                ptr: p,
            });
        }
        ev.sort_by_key(|e| match e {
            Event::Alloc { time, .. } | Event::Free { time, .. } => *time,
        });
        ev
    }

    #[test]
    fn a_steady_leak_is_a_suspect_and_a_start_up_cache_or_given_back_growth_is_not() {
        let mut first = Analysis::new();
        first.add(Record::Events(events()));
        let s = first.summary();
        let tracked = candidates(&s, 50);
        assert_eq!(tracked, vec![2, 1], "site 3 gives everything back");
        let mut second = Analysis::new().with_timeline(s.duration_ns, 100, &[1, 2, 3]);
        second.add(Record::Events(events()));
        let tl = second.timeline().unwrap();
        assert_eq!(tl.times_s.len(), 100);
        let found = leak_suspects(&s, &tl, 16.0 * 1024.0);
        let stacks: Vec<u32> = found.iter().map(|x| x.stack).collect();
        assert_eq!(stacks, vec![1]);
        // 1 KiB per 10 ms: 102,400 bytes per second.
        let r = found[0].rate;
        assert!(
            (r.slope - 102_400.0).abs() < 5_000.0 && r.lower > 90_000.0,
            "{r:?}"
        );
    }

    /// Mapping site 7 maps 64 KiB every 10 ms and keeps it; site 8 maps
    /// 1 MiB once at the start; site 9 maps 64 KiB every 10 ms and unmaps
    /// it all before the end.
    fn maps() -> Vec<crate::MapEvent> {
        use crate::MapEvent;
        let ms = 1_000_000u64;
        let mut ev = vec![MapEvent::Map {
            time: 0,
            addr: 0x7000_0000_0000,
            len: 1 << 20,
            stack: 8,
        }];
        for i in 0..200u64 {
            ev.push(MapEvent::Map {
                time: 20 * ms + i * 10 * ms,
                addr: 0x1000_0000_0000 + i * (1 << 20),
                len: 64 * 1024,
                stack: 7,
            });
            if i < 150 {
                ev.push(MapEvent::Map {
                    time: 20 * ms + i * 10 * ms + 1,
                    addr: 0x2000_0000_0000 + i * (1 << 20),
                    len: 64 * 1024,
                    stack: 9,
                });
            }
        }
        for i in 0..150u64 {
            ev.push(MapEvent::Unmap {
                time: 1_600 * ms + i,
                addr: 0x2000_0000_0000 + i * (1 << 20),
                len: 64 * 1024,
            });
        }
        ev.sort_by_key(MapEvent::time);
        ev
    }

    #[test]
    fn a_mapping_site_that_keeps_mapping_is_a_suspect_too() {
        let mut first = Analysis::new();
        first.add(Record::Events(events()));
        first.add(Record::Maps(maps()));
        let s = first.summary();
        let tracked = mapped_candidates(&s, 50);
        assert_eq!(tracked, vec![7, 8], "site 9 unmaps everything");
        let mut second = Analysis::new()
            .with_timeline(s.duration_ns, 100, &candidates(&s, 50))
            .tracking_mappings(&[7, 8, 9]);
        second.add(Record::Events(events()));
        second.add(Record::Maps(maps()));
        let tl = second.timeline().unwrap();
        assert_eq!(tl.mapped_sites.len(), 3);
        assert_eq!(tl.mapped_sites[0].bytes.len(), 100);
        let found = leak_suspects(&s, &tl, 16.0 * 1024.0);
        let got: Vec<(u32, bool)> = found.iter().map(|x| (x.stack, x.mapped)).collect();
        // 64 KiB per 10 ms grows faster than the heap's 1 KiB per 10 ms.
        assert_eq!(got, vec![(7, true), (1, false)]);
        let m = &found[0];
        assert!(
            (m.rate.slope - 6_553_600.0).abs() < 300_000.0,
            "{:?}",
            m.rate
        );
        // The last bucket ends at the last event (the 200th mapping), which
        // it does not include.
        assert_eq!((m.last_bytes, m.exit_blocks), (199.0 * 65536.0, 200.0));
        let mut text = Vec::new();
        write_text(&mut text, &found, 10).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains(" -> 13,041,664 bytes mapped by the program (its own mmap/mremap), 200 ranges at the end\n"),
            "{text}"
        );
    }
}
