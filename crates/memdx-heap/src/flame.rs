//! Flame graphs of a recording: the folded stacks (`main;f;g value`,
//! outermost frame first) of every site weighted by one of its figures,
//! drawn by inferno.

use std::io::{self, Write};

use crate::analysis::Summary;
use crate::format::SymFrame;
use crate::render::View;

/// A frame's label in the graph: the function and its line, or the object,
/// or the address. `;` separates frames in the folded format and is
/// replaced.
fn label(f: &SymFrame) -> String {
    let func = f.function.as_deref().unwrap_or("???");
    let s = match (&f.file, &f.object) {
        (Some(file), _) if f.line > 0 => {
            let base = file.rsplit('/').next().unwrap_or(file);
            format!("{func} ({base}:{})", f.line)
        }
        (_, Some(obj)) if f.function.is_none() => {
            let base = obj.rsplit('/').next().unwrap_or(obj);
            format!("0x{:X} (in {base})", f.addr)
        }
        _ if f.function.is_none() => format!("0x{:X}", f.addr),
        _ => func.to_string(),
    };
    s.replace(';', ":")
}

fn value(s: &crate::SiteStats, of: View) -> f64 {
    match of {
        View::Peak => s.peak_bytes,
        View::Exit => s.exit_bytes,
        View::Allocated => s.allocated_bytes,
        View::Count => s.allocations,
        View::Temporaries => s.temporaries,
    }
}

/// The folded stacks of `summary`'s sites by the figure `of` (sites at 0
/// left out), one line each, sorted.
pub fn folded(summary: &Summary, of: View) -> Vec<String> {
    let mut lines: Vec<String> = summary
        .sites
        .iter()
        .filter_map(|site| {
            let v = value(&site.stats, of).round();
            if v < 1.0 {
                return None;
            }
            let path: Vec<String> = site.frames.iter().rev().map(label).collect();
            let path = if path.is_empty() {
                format!("stack {}", site.stack)
            } else {
                path.join(";")
            };
            Some(format!("{path} {}", v as u64))
        })
        .collect();
    lines.sort();
    lines
}

/// Draws the flame graph of `summary` by `of` as SVG into `out`. An empty
/// graph (nothing to draw) is an error naming the figure.
pub fn write_svg(out: &mut dyn Write, summary: &Summary, of: View, title: &str) -> io::Result<()> {
    let lines = folded(summary, of);
    if lines.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("nothing to draw: no site has any {}", of_name(of)),
        ));
    }
    let mut opt = inferno::flamegraph::Options::default();
    opt.title = title.to_string();
    opt.count_name = match of {
        View::Count => "allocations",
        View::Temporaries => "temporaries",
        _ => "bytes",
    }
    .to_string();
    opt.colors = inferno::flamegraph::Palette::Basic(inferno::flamegraph::color::BasicPalette::Mem);
    inferno::flamegraph::from_lines(&mut opt, lines.iter().map(String::as_str), out)
}

/// The figure's name in messages.
pub fn of_name(of: View) -> &'static str {
    match of {
        View::Peak => "live bytes at the peak",
        View::Exit => "bytes live at exit",
        View::Allocated => "bytes allocated",
        View::Count => "allocations",
        View::Temporaries => "temporary allocations",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Analysis;
    use crate::format::Event;
    use crate::reader::Record;

    #[test]
    fn sites_fold_outermost_first_and_the_svg_names_them() {
        let f = |name: &str, line| SymFrame {
            addr: 0x10,
            function: Some(name.into()),
            file: Some("/src/p.c".into()),
            line,
            ..SymFrame::default()
        };
        let mut a = Analysis::new();
        a.add(Record::Symbols(vec![
            (1, vec![f("malloc", 0), f("leaf", 3), f("main", 9)]),
            (2, vec![f("malloc", 0), f("other;x", 4), f("main", 9)]),
        ]));
        a.add(Record::Events(vec![
            Event::Alloc {
                time: 1,
                ptr: 1,
                size: 100,
                stack: 1,
            },
            Event::Alloc {
                time: 2,
                ptr: 2,
                size: 30,
                stack: 2,
            },
        ]));
        let s = a.summary();
        assert_eq!(
            folded(&s, View::Peak),
            vec![
                "main (p.c:9);leaf (p.c:3);malloc 100".to_string(),
                "main (p.c:9);other:x (p.c:4);malloc 30".to_string(),
            ]
        );
        let mut svg = Vec::new();
        write_svg(&mut svg, &s, View::Peak, "t").unwrap();
        let svg = String::from_utf8(svg).unwrap();
        assert!(svg.starts_with("<?xml"), "{}", &svg[..80]);
        assert!(
            svg.contains("leaf (p.c:3)") && svg.contains("130 bytes"),
            "labels and total"
        );
        let err = write_svg(&mut Vec::new(), &s, View::Temporaries, "t").unwrap_err();
        assert!(err.to_string().contains("temporary allocations"));
    }
}
