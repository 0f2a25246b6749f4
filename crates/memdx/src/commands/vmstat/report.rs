//! The default report: a since-boot line, then one line per interval.

use std::io::Write;

use memdx_model::vmstat::report::{self as model, IntervalState, LineOptions};
use memdx_model::vmstat::{exact, Memory};
use memdx_proc::Uptime;
use memdx_views::vmstat::json::{write_json_line, ReportJson};
use memdx_views::vmstat::report::{write_header, write_line, ReportLayout};

use super::source::Source;
use super::{clock, fail, machine, read_memory, read_paging, read_stat, VmstatRun};

const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

fn uptime(src: &Source) -> Result<f64, crate::exit::Exit> {
    Uptime::read(&src.root_for(memdx_proc::uptime::REL_PATH))
        .map(|u| u.up_seconds)
        .map_err(fail)
}

/// Runs the default mode: header, the since-boot line (unless `-y`), then
/// `count - 1` interval lines (`count` with `-y`), repeating the header
/// every `height` lines (never when `height` is 0, i.e. `-n`).
pub fn run(
    run: &VmstatRun,
    src: &mut Source,
    height: u64,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let machine = machine();
    let layout = ReportLayout {
        wide: run.wide,
        active: run.active,
        timestamp: run.timestamp,
    };
    let opts = LineOptions {
        unit: run.unit,
        active: run.active,
    };
    let header = |src: &Source, out: &mut dyn Write| -> std::io::Result<()> {
        if run.json {
            return Ok(());
        }
        let zone = if run.timestamp {
            clock::format_local(src.now(), "%Z")
        } else {
            String::new()
        };
        write_header(&mut WriteRef(out), &layout, &zone)
    };
    let stamp = |src: &Source| {
        if run.timestamp {
            clock::format_local(src.now(), TIME_FORMAT)
        } else {
            String::new()
        }
    };

    // Read before printing anything, as procps does: a broken file gives an
    // error and no half report.
    let mut stat = read_stat(src)?;
    let mut paging = read_paging(src)?;
    // procps 4.0.2 reads meminfo once: every line shows these figures.
    let first_memory = read_memory(src)?;
    header(src, out)?;
    let mut count = run.count;
    if !run.no_first {
        if run.json {
            let up = uptime(src)?;
            let figures = exact::since_boot(&stat, &paging, &first_memory, &machine, up);
            let report = ReportJson {
                time: src.now(),
                since_boot: true,
                interval_seconds: up,
                figures: &figures,
            };
            write_json_line(out, &report)?;
        } else {
            let line = if run.exact_rates {
                let up = uptime(src)?;
                model::since_boot_exact(&stat, &paging, &first_memory, &machine, &opts, up)
            } else {
                model::since_boot(&stat, &paging, &first_memory, &machine, &opts)
            };
            write_line(out, &line, &layout, &stamp(src))?;
        }
        out.flush()?;
    } else {
        count = count.wrapping_add(1);
    }

    let mut state = IntervalState::default();
    let mut i: u64 = 1;
    while run.infinite || i < count {
        src.sleep(run.delay);
        if height > 0 && i % height == 0 {
            header(src, out)?;
        }
        let new_stat = read_stat(src)?;
        let new_paging = read_paging(src)?;
        let memory: Memory = if run.fresh_memory || run.json {
            read_memory(src)?
        } else {
            first_memory
        };
        if run.json {
            let figures = exact::interval(
                (&stat, &paging),
                (&new_stat, &new_paging),
                &memory,
                &machine,
                f64::from(run.delay),
            );
            let report = ReportJson {
                time: src.now(),
                since_boot: false,
                interval_seconds: f64::from(run.delay),
                figures: &figures,
            };
            write_json_line(out, &report)?;
        } else {
            let line = model::interval(
                (&stat, &paging),
                (&new_stat, &new_paging),
                &memory,
                &machine,
                &opts,
                run.delay,
                &mut state,
            );
            write_line(out, &line, &layout, &stamp(src))?;
        }
        out.flush()?;
        stat = new_stat;
        paging = new_paging;
        i += 1;
    }
    Ok(())
}

/// Lets a `&mut dyn Write` be passed where `impl Write` is expected.
struct WriteRef<'a>(&'a mut dyn Write);

impl Write for WriteRef<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
