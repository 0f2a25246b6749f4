//! `memdx slab` output: slabtop-like text, and JSON.

use std::io::{self, Write};

use crate::slab::SlabReport;

fn kib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0
}

/// Writes the report as text: kernel memory, growing caches (when there
/// was a series), then the top `limit` caches like slabtop (0 = all).
pub fn write_text(out: &mut dyn Write, r: &SlabReport, limit: usize) -> io::Result<()> {
    if let Some(k) = &r.kernel {
        let f = |v: Option<u64>| v.map_or("-".to_string(), |b| format!("{:.0}K", kib(b)));
        writeln!(
            out,
            " Kernel memory: Slab {} (SReclaimable {}, SUnreclaim {}), KernelStack {}, PageTables {}, VmallocUsed {}, Percpu {}",
            f(k.slab),
            f(k.sreclaimable),
            f(k.sunreclaim),
            f(k.kernel_stack),
            f(k.page_tables),
            f(k.vmalloc_used),
            f(k.percpu)
        )?;
    }
    let active: u64 = r.caches.iter().map(|c| c.counters.active_objs).sum();
    let total: u64 = r.caches.iter().map(|c| c.counters.num_objs).sum();
    let pct = |a: u64, t: u64| {
        if t == 0 {
            0.0
        } else {
            100.0 * a as f64 / t as f64
        }
    };
    writeln!(
        out,
        " Active / Total Objects (% used)    : {active} / {total} ({:.1}%)",
        pct(active, total)
    )?;
    let aslabs: u64 = r.caches.iter().map(|c| c.counters.active_slabs).sum();
    let tslabs: u64 = r.caches.iter().map(|c| c.counters.num_slabs).sum();
    writeln!(
        out,
        " Active / Total Slabs (% used)      : {aslabs} / {tslabs} ({:.1}%)",
        pct(aslabs, tslabs)
    )?;
    let asize: u64 = r.caches.iter().map(|c| c.active_bytes()).sum();
    let tsize: u64 = r
        .caches
        .iter()
        .map(|c| c.counters.num_objs * c.counters.obj_size)
        .sum();
    writeln!(
        out,
        " Active / Total Size (% used)       : {:.2}K / {:.2}K ({:.1}%)",
        kib(asize),
        kib(tsize),
        pct(asize, tsize)
    )?;
    if r.samples >= 4 {
        let growing: Vec<_> = r.trends.iter().filter(|t| t.growing).collect();
        writeln!(out)?;
        if growing.is_empty() {
            writeln!(
                out,
                " No cache grew steadily over {} samples in {:.0}s.",
                r.samples, r.duration_s
            )?;
        } else {
            writeln!(
                out,
                " Growing without bound ({} samples over {:.0}s; Theil-Sen slope, Mann-Kendall p):",
                r.samples, r.duration_s
            )?;
            for t in growing {
                writeln!(
                    out,
                    "   {:<24} {:>10.1}K -> {:>10.1}K  {:>+9.1} B/s  {:>+8.2} objs/s  p={:.2e}",
                    t.name,
                    kib(t.first_bytes),
                    kib(t.last_bytes),
                    t.slope_bytes_per_s,
                    t.slope_objs_per_s,
                    t.p_value
                )?;
            }
        }
    } else if r.samples > 1 {
        writeln!(
            out,
            "\n Trend detection needs at least 4 samples (have {}).",
            r.samples
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "  OBJS ACTIVE  USE OBJ SIZE  SLABS OBJ/SLAB CACHE SIZE NAME"
    )?;
    let shown = if limit == 0 {
        r.caches.len()
    } else {
        limit.min(r.caches.len())
    };
    for c in &r.caches[..shown] {
        writeln!(
            out,
            "{:>6} {:>6} {:>3.0}% {:>7.2}K {:>6} {:>8} {:>9}K {}",
            c.counters.num_objs,
            c.counters.active_objs,
            pct(c.counters.active_objs, c.counters.num_objs),
            c.counters.obj_size as f64 / 1024.0,
            c.counters.num_slabs,
            c.counters.objs_per_slab,
            c.cache_bytes() / 1024,
            c.name()
        )?;
    }
    Ok(())
}

/// Writes the report as one JSON object.
pub fn write_json(out: &mut dyn Write, r: &SlabReport) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, r)?;
    writeln!(out)
}
