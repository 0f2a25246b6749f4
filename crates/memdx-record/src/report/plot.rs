//! Charts of a report, drawn with `plotters`: system memory stacked (used,
//! buff/cache, free, with available and swap used as lines), the largest
//! processes' RSS, and the largest cgroups' usage, one above the other in one
//! SVG or PNG file.
//!
//! The font and the file (SVG or PNG by extension) are memdx-chart's.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::Report;
use crate::store::SystemPoint;
use crate::timespec::format_utc;

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Nothing to draw.
    #[error("no samples in the window: nothing to draw")]
    Empty,
    /// The file, the font or the backend failed.
    #[error(transparent)]
    Chart(#[from] memdx_chart::ChartError),
}

struct Charts<'a>(&'a Report);

impl memdx_chart::Chart for Charts<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        draw_all(self.0, root)
    }
}

/// Draws the report's charts into `path` (`.svg` or `.png`).
pub fn draw(report: &Report, path: &Path) -> Result<(), PlotError> {
    if report.charts.system.is_empty() {
        return Err(PlotError::Empty);
    }
    Ok(memdx_chart::draw_file(&Charts(report), path, (1100, 1200))?)
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

fn draw_all<DB: DrawingBackend>(
    report: &Report,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((3, 1));
    let t0 = report.charts.system.first().map_or(0.0, |s| s.time);
    let t1 = report
        .charts
        .system
        .last()
        .map_or(1.0, |s| s.time)
        .max(t0 + 1.0);
    system_chart(report, &panels[0], t0, t1).map_err(|e| e.to_string())?;
    lines_chart(
        "Largest processes: RSS (MiB)",
        &report.charts.processes,
        &panels[1],
        t0,
        t1,
    )
    .map_err(|e| e.to_string())?;
    lines_chart(
        "Largest cgroups: memory usage (MiB)",
        &report.charts.cgroups,
        &panels[2],
        t0,
        t1,
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// A stacked layer: name, colour, and its top edge (the running total).
type Layer<'a> = (&'static str, RGBColor, &'a dyn Fn(&SystemPoint) -> f64);

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn time_label(t0: f64) -> impl Fn(&f64) -> String {
    move |x: &f64| {
        let s = format_utc(t0 + x);
        s.get(11..19).unwrap_or(&s).to_string()
    }
}

fn system_chart<DB: DrawingBackend>(
    report: &Report,
    area: &DrawingArea<DB, Shift>,
    t0: f64,
    t1: f64,
) -> DrawResult<DB> {
    let sys = &report.charts.system;
    let total = sys.iter().filter_map(|s| s.mem_total).max().unwrap_or(1) as f64 / GIB;
    let swap_max = sys
        .iter()
        .filter_map(|s| Some(s.swap_total?.saturating_sub(s.swap_free?)))
        .max()
        .unwrap_or(0) as f64
        / GIB;
    let top = total.max(swap_max) * 1.05;
    let title = format!(
        "System memory (GiB), {} .. {} UTC",
        format_utc(t0),
        format_utc(t1)
    );
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..(t1 - t0), 0.0..top)?;
    let label = time_label(t0);
    chart
        .configure_mesh()
        .x_label_formatter(&label)
        .x_labels(8)
        .draw()?;

    let gib = |v: Option<u64>| v.unwrap_or(0) as f64 / GIB;
    let free = |s: &SystemPoint| gib(s.mem_free);
    let cache = |s: &SystemPoint| gib(s.buffers) + gib(s.cached);
    let used = |s: &SystemPoint| (gib(s.mem_total) - free(s) - cache(s)).max(0.0);
    // Stacked: each layer drawn as the running total, the tallest first.
    let layers: [Layer<'_>; 3] = [
        ("free", RGBColor(200, 230, 200), &|s| {
            used(s) + cache(s) + free(s)
        }),
        ("buff/cache", RGBColor(250, 215, 140), &|s| {
            used(s) + cache(s)
        }),
        (
            "used (total - free - buff/cache)",
            RGBColor(220, 90, 80),
            &used,
        ),
    ];
    for (name, color, height) in layers {
        chart
            .draw_series(AreaSeries::new(
                sys.iter().map(|s| (s.time - t0, height(s))),
                0.0,
                color.mix(0.9),
            ))?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .draw_series(LineSeries::new(
            sys.iter()
                .filter_map(|s| Some((s.time - t0, s.mem_available? as f64 / GIB))),
            BLUE.stroke_width(2),
        ))?
        .label("available")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], BLUE.stroke_width(2)));
    if swap_max > 0.0 {
        chart
            .draw_series(LineSeries::new(
                sys.iter().filter_map(|s| {
                    Some((
                        s.time - t0,
                        s.swap_total?.saturating_sub(s.swap_free?) as f64 / GIB,
                    ))
                }),
                MAGENTA.stroke_width(2),
            ))?
            .label("swap used")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], MAGENTA.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
}

fn lines_chart<DB: DrawingBackend>(
    title: &str,
    series: &[(String, Vec<(f64, u64)>)],
    area: &DrawingArea<DB, Shift>,
    t0: f64,
    t1: f64,
) -> DrawResult<DB> {
    let top = series
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.1))
        .max()
        .unwrap_or(0) as f64
        / MIB;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..(t1 - t0), 0.0..(top * 1.05).max(1.0))?;
    let label = time_label(t0);
    chart
        .configure_mesh()
        .x_label_formatter(&label)
        .x_labels(8)
        .draw()?;
    if series.is_empty() {
        return Ok(());
    }
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|&(t, b)| (t - t0, b as f64 / MIB)),
                color.stroke_width(2),
            ))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 12, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
}
