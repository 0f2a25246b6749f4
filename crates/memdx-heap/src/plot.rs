//! `memdx heap report --plot`: the heap over time, the largest sites
//! stacked (live bytes at the end of each timeline bucket), the rest as
//! "other sites", drawn with plotters through memdx-chart (SVG or PNG).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::analysis::{Summary, Timeline};
use crate::format::SymFrame;

/// The sites a plot stacks: the `n` largest at the peak.
pub fn sites_to_plot(summary: &Summary, n: usize) -> Vec<u32> {
    let mut v: Vec<(f64, u32)> = summary
        .sites
        .iter()
        .filter(|s| s.stats.peak_bytes > 0.0 || s.stats.exit_bytes > 0.0)
        .map(|s| (s.stats.peak_bytes.max(s.stats.exit_bytes), s.stack))
        .collect();
    v.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    v.truncate(n);
    v.into_iter().map(|(_, s)| s).collect()
}

/// A heap-over-time chart of a recording.
pub struct HeapChart<'a> {
    /// The recording's figures (names of the sites).
    pub summary: &'a Summary,
    /// The timeline, with the sites to stack (in the order given, largest
    /// first) among its tracked ones.
    pub timeline: &'a Timeline,
    /// The stacked sites.
    pub sites: &'a [u32],
    /// The chart's title.
    pub title: &'a str,
}

const COLORS: [RGBColor; 8] = [
    RGBColor(220, 90, 80),
    RGBColor(80, 130, 200),
    RGBColor(240, 170, 60),
    RGBColor(100, 180, 110),
    RGBColor(160, 110, 190),
    RGBColor(90, 190, 200),
    RGBColor(200, 130, 160),
    RGBColor(150, 150, 90),
];

fn site_label(frames: &[SymFrame]) -> String {
    let f = frames
        .iter()
        .find(|f| {
            !f.object
                .as_deref()
                .is_some_and(|o| o.contains("libmemdx_runtime"))
        })
        .or(frames.first());
    match f {
        Some(f) => match (&f.function, &f.file) {
            (Some(func), Some(file)) if f.line > 0 => {
                let base = file.rsplit('/').next().unwrap_or(file);
                format!("{func} ({base}:{})", f.line)
            }
            (Some(func), _) => func.clone(),
            _ => format!("0x{:X}", f.addr),
        },
        None => "?".to_string(),
    }
}

/// Bytes per unit of the y axis and its name, for a largest value `max`.
fn unit(max: f64) -> (f64, &'static str) {
    if max >= 2.0 * 1024.0 * 1024.0 * 1024.0 {
        (1024.0 * 1024.0 * 1024.0, "GiB")
    } else if max >= 2.0 * 1024.0 * 1024.0 {
        (1024.0 * 1024.0, "MiB")
    } else if max >= 2.0 * 1024.0 {
        (1024.0, "KiB")
    } else {
        (1.0, "bytes")
    }
}

impl memdx_chart::Chart for HeapChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        self.draw_chart(root).map_err(|e| e.to_string())
    }
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

impl HeapChart<'_> {
    fn draw_chart<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let tl = self.timeline;
        root.fill(&WHITE)?;
        let max = tl.total_bytes.iter().copied().fold(0.0, f64::max).max(1.0);
        let (per, name) = unit(max);
        let t1 = tl.times_s.last().copied().unwrap_or(1.0).max(1e-3);
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..t1, 0.0..(max / per * 1.05))?;
        chart
            .configure_mesh()
            .x_desc("seconds since the start")
            .y_desc(format!("live heap ({name})"))
            .draw()?;
        // Stacked: layer k's top edge is the sum of the sites up to k; the
        // whole heap on top ("other sites"). Tallest first, so each layer
        // paints over the one above it.
        let series: Vec<&[f64]> = self
            .sites
            .iter()
            .filter_map(|s| tl.sites.iter().find(|x| x.stack == *s))
            .map(|x| x.bytes.as_slice())
            .collect();
        let mut tops: Vec<Vec<f64>> = Vec::with_capacity(series.len());
        let mut running = vec![0.0; tl.times_s.len()];
        for s in &series {
            for (r, v) in running.iter_mut().zip(s.iter()) {
                *r += v;
            }
            tops.push(running.clone());
        }
        chart
            .draw_series(AreaSeries::new(
                tl.times_s
                    .iter()
                    .zip(&tl.total_bytes)
                    .map(|(&t, &v)| (t, v / per)),
                0.0,
                RGBColor(200, 200, 200).mix(0.9),
            ))?
            .label("other sites")
            .legend(|(x, y)| {
                Rectangle::new(
                    [(x, y - 5), (x + 12, y + 5)],
                    RGBColor(200, 200, 200).filled(),
                )
            });
        for (k, top) in tops.iter().enumerate().rev() {
            let color = COLORS[k % COLORS.len()];
            let frames = self
                .summary
                .sites
                .iter()
                .find(|s| s.stack == self.sites[k])
                .map(|s| s.frames.as_slice())
                .unwrap_or(&[]);
            chart
                .draw_series(AreaSeries::new(
                    tl.times_s.iter().zip(top).map(|(&t, &v)| (t, v / per)),
                    0.0,
                    color.mix(0.9),
                ))?
                .label(site_label(frames))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
    }
}
