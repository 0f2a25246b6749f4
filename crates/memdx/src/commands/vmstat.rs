//! `memdx vmstat`: procps-ng 4.0.2's `vmstat`, option for option.
//!
//! The arguments are validated as procps validates them (same messages,
//! same exit status), then one of the modes runs: the default report
//! (`report`), `-d`/`-p`/`-m` (`devices`), or the one-shot `-s`/`-D`/`-f`.

pub(crate) mod clock;
mod devices;
mod order;
mod report;
mod source;

use std::io::{self, Write};

use clap::{ArgAction, Args};
use memdx_model::vmstat::summary::StatsSummary;
use memdx_model::vmstat::{DataUnit, Memory, Paging};
use memdx_proc::{DiskStats, MemInfo, ProcError, ProcStat, VmStat};
use memdx_views::vmstat::json::{write_json_line, DiskSummaryJson, ForksJson, StatsJson};
use memdx_views::vmstat::{disk, summary};

use crate::commands::procps_args::strtol_or_err;
use crate::exit::Exit;
use source::Source;

/// `memdx vmstat --help`: procps' own option list (what `vmstat` users
/// know), plus what memdx adds and where it differs.
pub const HELP: &str = "\
Report virtual memory statistics exactly as procps-ng 4.0.2's vmstat(8) does
for the same /proc files: same options, columns, rounding, header repetition,
errors and quirks.

Usage:
 memdx vmstat [options] [delay [count]]

Options:
 -a, --active           active/inactive memory
 -f, --forks            number of forks since boot
 -m, --slabs            slabinfo
 -n, --one-header       do not redisplay header
 -s, --stats            event counter statistics
 -d, --disk             disk statistics
 -D, --disk-sum         summarize disk statistics
 -p, --partition <dev>  partition specific statistics
 -S, --unit <char>      define display unit (k, K, m, M; b or B for bytes)
 -w, --wide             wide output
 -t, --timestamp        show timestamp
 -y, --no-first         skips first line of output
     --json             one JSON object per report: bytes, exact per-second
                        rates (docs/json.md)
     --exact-rates      first report: divide by the uptime (see below)
     --fresh-memory     re-read memory for every report (see below)

 -h, --help     display this help and exit
 -V, --version  output version information and exit

procps 4.0.2 quirks, kept by default so scripts see the same numbers:
 - the first report's si, so, bi, bo, in and cs are divided by the clock
   ticks of all CPUs together, so they are too small by the number of CPUs;
   --exact-rates divides them by the real uptime instead;
 - with a delay, swpd, free, buff and cache keep the first sample's values in
   every report (procps never re-reads /proc/meminfo); --fresh-memory
   re-reads it.

Differences from procps: a corrupt or truncated /proc file is an error naming
the file and line (procps prints zeros or \"Unable to create ... structure\");
a usage error prints one line, not the whole usage text, and is reported
even after -f or -V (procps stops parsing at those). Set MEMDX_PROC_ROOT=DIR
to read DIR/proc and DIR/sys instead of this machine's.
";

#[derive(Debug, Args)]
pub struct VmstatArgs {
    /// Seconds between reports (a positive integer). Without it, one report
    /// averaged since boot.
    #[arg(value_name = "delay")]
    delay: Option<String>,
    /// Number of reports (endless with a delay and no count).
    #[arg(value_name = "count")]
    count: Option<String>,
    /// Active/inactive memory instead of buffers/cache.
    #[arg(short = 'a', long = "active")]
    active: bool,
    /// Number of forks since boot.
    #[arg(short = 'f', long = "forks")]
    forks: bool,
    /// Slab caches (/proc/slabinfo, readable by root).
    #[arg(short = 'm', long = "slabs")]
    slabs: bool,
    /// Do not redisplay the header.
    #[arg(short = 'n', long = "one-header")]
    one_header: bool,
    /// Event counter statistics.
    #[arg(short = 's', long = "stats")]
    stats: bool,
    /// Disk statistics.
    #[arg(short = 'd', long = "disk")]
    disk: bool,
    /// Summarize disk statistics.
    #[arg(short = 'D', long = "disk-sum")]
    disk_sum: bool,
    /// Partition (or disk) specific statistics.
    #[arg(short = 'p', long = "partition", value_name = "dev")]
    partition: Option<String>,
    /// Display unit: k (1000), K (1024, default), m (1000000), M (1048576), b/B bytes.
    #[arg(
        short = 'S',
        long = "unit",
        value_name = "char",
        allow_hyphen_values = true
    )]
    unit: Option<String>,
    /// Wide output.
    #[arg(short = 'w', long = "wide")]
    wide: bool,
    /// Show a timestamp.
    #[arg(short = 't', long = "timestamp")]
    timestamp: bool,
    /// Skip the first report (the averages since boot).
    #[arg(short = 'y', long = "no-first")]
    no_first: bool,
    /// One JSON object per report (per line), sizes in bytes, exact
    /// per-second rates (see docs/json.md).
    #[arg(long)]
    json: bool,
    /// memdx fix: first report's rates divided by the real uptime. procps
    /// 4.0.2 divides by all CPUs' summed ticks, understating them by the
    /// number of CPUs.
    #[arg(long)]
    exact_rates: bool,
    /// memdx fix: re-read memory for every report. procps 4.0.2 keeps
    /// showing the first sample's swpd/free/buff/cache.
    #[arg(long)]
    fresh_memory: bool,
    /// Display this help and exit.
    #[arg(short = 'h', long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Output version information and exit.
    #[arg(short = 'V', long)]
    version: bool,
}

/// Which report `vmstat` prints (procps' `statMode`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Report,
    Stats,
    Disks,
    DiskSum,
    Partition(String),
    Slabs,
}

/// The validated run.
#[derive(Debug, Clone)]
pub struct VmstatRun {
    mode: Mode,
    unit: DataUnit,
    /// Seconds between samples.
    delay: u32,
    /// Whether a delay was given without a count.
    infinite: bool,
    /// procps' `num_updates` (C `unsigned long`).
    count: u64,
    active: bool,
    wide: bool,
    timestamp: bool,
    no_first: bool,
    /// procps' `moreheaders`: repeat the header every `height` lines.
    more_headers: bool,
    json: bool,
    exact_rates: bool,
    fresh_memory: bool,
}

fn fail(message: impl std::fmt::Display) -> Exit {
    Exit::new(1, format!("vmstat: {message}"))
}

fn validate(args: &VmstatArgs) -> Result<VmstatRun, Exit> {
    let mut unit = DataUnit::default();
    if let Some(text) = &args.unit {
        unit = DataUnit::from_arg(text)
            .ok_or_else(|| fail("-S requires k, K, m or M (default is KiB)"))?;
    }
    let mut delay = 1u32;
    let mut infinite = false;
    if let Some(text) = &args.delay {
        let n = strtol_or_err(text)
            .map_err(|suffix| fail(format!("failed to parse argument: '{text}'{suffix}")))?;
        if n < 1 {
            return Err(fail("delay must be positive integer"));
        }
        delay = u32::try_from(n).map_err(|_| fail("too large delay value"))?;
        infinite = true;
    }
    let mut count = 1u64;
    if let Some(text) = &args.count {
        let n = strtol_or_err(text)
            .map_err(|suffix| fail(format!("failed to parse argument: '{text}'{suffix}")))?;
        count = n as u64;
        infinite = false;
    }
    let mut modes = Vec::new();
    if args.disk {
        modes.push(Mode::Disks);
    }
    if args.stats {
        modes.push(Mode::Stats);
    }
    if args.slabs {
        modes.push(Mode::Slabs);
    }
    if let Some(dev) = &args.partition {
        modes.push(Mode::Partition(
            dev.strip_prefix("/dev/").unwrap_or(dev).to_string(),
        ));
    }
    if args.disk_sum {
        modes.push(Mode::DiskSum);
    }
    if modes.len() > 1 {
        // procps prints its usage text here; memdx one usage line.
        return Err(Exit::new(
            1,
            "memdx vmstat: options -d, -D, -m, -p and -s cannot be combined (see 'memdx vmstat --help')",
        ));
    }
    Ok(VmstatRun {
        mode: modes.pop().unwrap_or(Mode::Report),
        unit,
        delay,
        infinite,
        count,
        active: args.active,
        wide: args.wide,
        timestamp: args.timestamp,
        no_first: args.no_first,
        more_headers: !args.one_header,
        json: args.json,
        exact_rates: args.exact_rates,
        fresh_memory: args.fresh_memory,
    })
}

/// A reader's error as one line: `vmstat: <path>[ line N]: <what>`.
fn proc_error(err: ProcError) -> Exit {
    fail(err)
}

fn read_stat(src: &Source) -> Result<ProcStat, Exit> {
    ProcStat::read(&src.root_for(memdx_proc::stat::REL_PATH)).map_err(proc_error)
}

fn read_paging(src: &Source) -> Result<Paging, Exit> {
    VmStat::read(&src.root_for(memdx_proc::vmstat::REL_PATH))
        .map(|v| Paging::from_vmstat(&v))
        .map_err(proc_error)
}

fn read_memory(src: &Source) -> Result<Memory, Exit> {
    let root = src.root_for(memdx_proc::meminfo::REL_PATH);
    let info = MemInfo::read(&root).map_err(proc_error)?;
    Memory::from_meminfo(&info).map_err(|missing| {
        fail(format!(
            "{}: {missing}",
            root.path(memdx_proc::meminfo::REL_PATH).display()
        ))
    })
}

fn read_disks(src: &Source) -> Result<(DiskStats, Option<Vec<String>>), Exit> {
    let stats =
        DiskStats::read(&src.root_for(memdx_proc::diskstats::REL_PATH)).map_err(proc_error)?;
    let whole = memdx_proc::diskstats::whole_disks(
        &src.root_for(memdx_proc::diskstats::SYS_BLOCK_REL_PATH),
    );
    Ok((stats, whole))
}

fn machine() -> memdx_model::vmstat::Machine {
    memdx_model::vmstat::Machine {
        hz: memdx_proc::sysconf::clock_ticks_per_second(),
        page_size: memdx_proc::sysconf::page_size(),
    }
}

/// procps' header interval: terminal rows - 3 (22 if that is not positive).
fn header_height() -> u64 {
    let rows = i64::from(clock::terminal_rows()) - 3;
    if rows > 0 {
        rows as u64
    } else {
        22
    }
}

fn stats(run: &VmstatRun, src: &Source, out: &mut impl Write) -> anyhow::Result<()> {
    let stat = read_stat(src)?;
    let paging = read_paging(src)?;
    let mem = read_memory(src)?;
    let s = StatsSummary::new(&stat, &paging, &mem, run.unit);
    if run.json {
        write_json_line(out, &StatsJson::new(&s, &mem, machine().hz))?;
    } else {
        summary::write_stats(out, &s, run.unit.letter)?;
    }
    Ok(())
}

fn forks(json: bool, src: &Source, out: &mut impl Write) -> anyhow::Result<()> {
    let forks = read_stat(src)?.processes.unwrap_or(0);
    if json {
        write_json_line(out, &ForksJson { forks })?;
    } else {
        summary::write_forks(out, forks)?;
    }
    Ok(())
}

fn disk_sum(json: bool, src: &Source, out: &mut impl Write) -> anyhow::Result<()> {
    let (stats, whole) = read_disks(src)?;
    let s = memdx_model::vmstat::disk::DiskSummary::new(&stats, whole.as_deref());
    if json {
        write_json_line(out, &DiskSummaryJson { summary: &s })?;
    } else {
        disk::write_disk_summary(out, &s)?;
    }
    Ok(())
}

pub fn run(args: VmstatArgs) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    // procps acts on -V, -f and a bad -S as it meets them: the first wins.
    let raw: Vec<std::ffi::OsString> = std::env::args_os()
        .skip_while(|a| a != "vmstat")
        .skip(1)
        .collect();
    let immediate = order::first_immediate(&raw).or_else(|| {
        // Not invoked as `memdx vmstat ...` (tests, aliases): fixed order.
        if args.version {
            Some(order::Immediate::Version)
        } else if args
            .unit
            .as_deref()
            .is_some_and(|u| DataUnit::from_arg(u).is_none())
        {
            Some(order::Immediate::BadUnit)
        } else {
            args.forks.then_some(order::Immediate::Forks)
        }
    });
    let src = Source::from_env();
    match immediate {
        Some(order::Immediate::Version) => {
            writeln!(
                out,
                "vmstat from procps-ng 4.0.2 (memdx {})",
                env!("CARGO_PKG_VERSION")
            )?;
            out.flush()?;
            return Ok(());
        }
        Some(order::Immediate::BadUnit) => {
            return Err(fail("-S requires k, K, m or M (default is KiB)").into());
        }
        Some(order::Immediate::Forks) => {
            forks(args.json, &src, &mut out)?;
            out.flush()?;
            return Ok(());
        }
        None => {}
    }
    let mut src = src;
    let run = validate(&args)?;
    let height = if run.more_headers { header_height() } else { 0 };
    match &run.mode {
        Mode::Report => report::run(&run, &mut src, height, &mut out)?,
        Mode::Stats => stats(&run, &src, &mut out)?,
        Mode::DiskSum => disk_sum(run.json, &src, &mut out)?,
        Mode::Disks => devices::disks(&run, &mut src, height, &mut out)?,
        Mode::Partition(name) => devices::partition(&run, name, &mut src, &mut out)?,
        Mode::Slabs => devices::slabs(&run, &mut src, height, &mut out)?,
    }
    out.flush()?;
    Ok(())
}
