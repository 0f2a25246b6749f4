//! The file side of memdx's charts (`memdx report --plot`, `memdx heap
//! report --plot`): a chart implements [`Chart`] (drawing on any plotters
//! backend) and [`draw_file`] writes it as SVG or PNG, chosen by the file
//! name's extension.
//!
//! Text needs a TrueType font: `plotters` is built without system font
//! lookup (fontconfig), so [`draw_file`] registers one read from the usual
//! paths of DejaVu, Liberation and Noto, or `$MEMDX_FONT`. Without one,
//! drawing fails with [`ChartError::NoFont`] naming where it looked.

#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The file name ends in neither `.svg` nor `.png`.
    #[error("{}: the chart's file name must end in .svg or .png", path.display())]
    Format {
        /// The file.
        path: PathBuf,
    },
    /// No font for the labels.
    #[error("no TrueType font for the chart's labels (set MEMDX_FONT=FILE.ttf, or install fonts-dejavu-core; looked in {searched})")]
    NoFont {
        /// Where it looked.
        searched: String,
    },
    /// The drawing backend failed (cannot write the file, ...).
    #[error("{}: {message}", path.display())]
    Draw {
        /// The file.
        path: PathBuf,
        /// The backend's message.
        message: String,
    },
}

/// A chart that can be drawn on any plotters backend.
pub trait Chart {
    /// Draws the chart on `root` (the whole picture).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static;
}

/// Where fonts are looked for, in order, after `$MEMDX_FONT`.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
];

/// Registers a font as "sans-serif" once per process.
fn font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        let candidates = std::env::var_os("MEMDX_FONT")
            .map(PathBuf::from)
            .into_iter()
            .chain(FONT_PATHS.iter().map(PathBuf::from));
        for path in candidates {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            // Registered fonts live as long as the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return true;
            }
        }
        false
    });
    if ok {
        Ok(())
    } else {
        Err(ChartError::NoFont {
            searched: format!("$MEMDX_FONT, {}", FONT_PATHS.join(", ")),
        })
    }
}

/// Draws `chart` into `path` (`.svg` or `.png`, any case) at `size` pixels.
pub fn draw_file(chart: &impl Chart, path: &Path, size: (u32, u32)) -> Result<(), ChartError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("svg" | "png")) {
        return Err(ChartError::Format {
            path: path.to_path_buf(),
        });
    }
    font()?;
    let fail = |e: String| ChartError::Draw {
        path: path.to_path_buf(),
        message: e,
    };
    if ext.as_deref() == Some("svg") {
        let root = SVGBackend::new(path, size).into_drawing_area();
        chart.draw(&root).map_err(fail)?;
        root.present().map_err(|e| fail(e.to_string()))
    } else {
        let root = BitMapBackend::new(path, size).into_drawing_area();
        chart.draw(&root).map_err(fail)?;
        root.present().map_err(|e| fail(e.to_string()))
    }
}
