//! `memdx heap`: run a program with allocation profiling and write a
//! recording (`record.rs` receives the runtime's bursts and writes the
//! file), then print a summary; `memdx heap report FILE` prints a
//! recording's views. The file format, the analysis and the renderers are
//! in `memdx-heap`.

pub(crate) mod attach;
mod diff;
mod readings;
mod record;
mod remote;
mod target;

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use memdx_heap::render::{self, GroupBy, View};
use memdx_heap::{flame, plot, suspects};
use memdx_heap::{Analysis, Reader};

use crate::exit::Exit;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct HeapArgs {
    #[command(subcommand)]
    command: Option<HeapCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum HeapCommand {
    /// Print a recording's views: top sites at the peak, live at exit, by bytes and number
    /// of allocations, temporaries.
    Report(ReportArgs),
    /// Compare two recordings of the same program, or two moments of one recording
    /// (--from/--to): the sites whose memory grew or shrank, largest change first.
    Diff(DiffArgs),
    /// Mark a named moment (a snapshot) in the recording of a program running under
    /// `memdx heap`, for `report --at NAME` and `diff FILE --from NAME --to NAME2`.
    Snapshot(SnapshotArgs),
}

#[derive(Debug, Args)]
struct SnapshotArgs {
    /// The pid of the program running under `memdx heap` (or of a process it traced).
    pid: i32,
    /// The snapshot's name (default: snapshot-N, N counting the run's snapshots).
    name: Option<String>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Where to write the recording (default: memdx-heap.PID.mdxh in the current directory;
    /// `%p` in FILE is the program's pid).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also record fork children and the programs the program executes, each into a
    /// recording of its own: FILE with `%p` as that process's pid, or FILE.PID (a later
    /// program executed by the same process adds .2, .3, ...). memdx waits for traced
    /// processes that outlive the program.
    #[arg(long = "trace-children", value_name = "yes|no", default_value = "no",
          value_parser = ["yes", "no"], conflicts_with = "pid")]
    trace_children: String,
    /// Record a sample of the allocations: one per BYTES allocated on average (Poisson
    /// sampling; `524288`, `512KiB`). Figures become unbiased estimates; blocks of BYTES
    /// or more are always recorded. `--sample 1` records every allocation (as without
    /// --sample, except with --pid, whose default is 512KiB).
    #[arg(long, value_name = "BYTES")]
    sample: Option<String>,
    /// Frames kept per stack (the allocator's entry point included).
    #[arg(long = "num-callers", value_name = "N", default_value_t = 12)]
    num_callers: usize,
    /// Sites shown per view in the summary.
    #[arg(long, value_name = "N", default_value_t = 5)]
    top: usize,
    /// How the summary groups allocation sites.
    #[arg(long = "group-by", value_enum, default_value_t = GroupArg::Stack)]
    group_by: GroupArg,
    /// Attach to this running process instead of starting one (dynamically linked, same
    /// user or root); Ctrl-C or --duration detaches and the process runs on.
    #[arg(long, value_name = "PID", conflicts_with = "program")]
    pid: Option<i32>,
    /// With --pid: detach after this long (`30s`, `10m`).
    #[arg(long, value_name = "DURATION", requires = "pid")]
    duration: Option<String>,
    /// The program and its arguments.
    #[arg(
        required_unless_present = "pid",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROGRAM [ARGS]"
    )]
    program: Vec<OsString>,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// A recording written by `memdx heap`.
    file: PathBuf,
    /// How allocation sites are grouped.
    #[arg(long = "group-by", value_enum, default_value_t = GroupArg::Stack)]
    group_by: GroupArg,
    /// The views to print (repeatable; default: all).
    #[arg(long, value_enum)]
    view: Vec<ViewArg>,
    /// Sites shown per view.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Also rank the sites whose live bytes grow steadily over the run and are not
    /// given back (Theil–Sen slope and Mann–Kendall test, as `memdx watch` judges).
    #[arg(long = "leak-suspects")]
    leak_suspects: bool,
    /// Smallest growth over the run that makes a leak suspect (`64KiB`, `1MiB`).
    #[arg(long = "min-growth", value_name = "BYTES", default_value = "16KiB")]
    min_growth: String,
    /// Write a flame graph (SVG) of the sites' figure chosen by --of.
    #[arg(long, value_name = "OUT.svg")]
    flamegraph: Option<PathBuf>,
    /// The figure of the flame graph.
    #[arg(long, value_enum, default_value_t = ViewArg::Peak)]
    of: ViewArg,
    /// The figures at this moment instead of the end: a snapshot's name, or a time since
    /// the start (`1.5`, `10s`).
    #[arg(long, value_name = "NAME|TIME")]
    at: Option<String>,
    /// Draw the heap over time, the 8 largest sites stacked (SVG or PNG, by the name's
    /// extension).
    #[arg(long, value_name = "OUT.svg|png")]
    plot: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DiffArgs {
    /// The recording before (or the only one, with --to).
    before: PathBuf,
    /// The recording after (a later run of the same program).
    after: Option<PathBuf>,
    /// With one recording: the first moment, time since the program's start (`0`, `10s`,
    /// `1m`); default its start.
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// With one recording: the second moment (default its end).
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// The figure compared: bytes live at the end (exit; at --from/--to for moments), at the
    /// peak, allocated, number of allocations, temporaries.
    #[arg(long, value_enum, default_value_t = ViewArg::Exit)]
    of: ViewArg,
    /// How allocation sites are grouped.
    #[arg(long = "group-by", value_enum, default_value_t = GroupArg::Stack)]
    group_by: GroupArg,
    /// Sites shown.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GroupArg {
    Stack,
    Function,
    Line,
}

impl From<GroupArg> for GroupBy {
    fn from(g: GroupArg) -> Self {
        match g {
            GroupArg::Stack => GroupBy::Stack,
            GroupArg::Function => GroupBy::Function,
            GroupArg::Line => GroupBy::Line,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ViewArg {
    Peak,
    Exit,
    Allocated,
    Count,
    Temporaries,
}

impl From<ViewArg> for View {
    fn from(v: ViewArg) -> Self {
        match v {
            ViewArg::Peak => View::Peak,
            ViewArg::Exit => View::Exit,
            ViewArg::Allocated => View::Allocated,
            ViewArg::Count => View::Count,
            ViewArg::Temporaries => View::Temporaries,
        }
    }
}

pub fn run(args: HeapArgs) -> anyhow::Result<()> {
    match args.command {
        Some(HeapCommand::Report(r)) => report(r),
        Some(HeapCommand::Diff(d)) => diff::run(d),
        Some(HeapCommand::Snapshot(s)) => snapshot(&s),
        None => profile(args.run),
    }
}

fn profile(args: RunArgs) -> anyhow::Result<()> {
    let sample = match &args.sample {
        None => 0,
        Some(text) => {
            let bytes = memdx_units::parse_bytes(text)
                .map_err(|e| Exit::new(1, format!("memdx heap: --sample: {e}")))?;
            if !(1.0..=f64::from(u32::MAX)).contains(&bytes) {
                return Err(Exit::new(
                    1,
                    format!("memdx heap: --sample: '{text}' is out of range (1 byte to 4 GiB)"),
                )
                .into());
            }
            // `--sample 1`: every allocation (one sample point per byte
            // would record every block anyway, at the cost of a countdown
            // and a random draw each).
            match bytes.round() as u64 {
                1 => 0,
                b => b,
            }
        }
    };
    if let Some(pid) = args.pid {
        // A running process is likely in production: sampled by default.
        let sample = if args.sample.is_none() {
            DEFAULT_ATTACH_SAMPLE
        } else {
            sample
        };
        return attach_to(pid, &args, sample);
    }
    let opts = record::Options {
        program: args.program,
        output: args.output,
        sample_interval: sample,
        num_callers: args.num_callers.clamp(1, 64),
        trace_children: args.trace_children == "yes",
    };
    // A program the runtime cannot interpose would record nothing: said
    // before it runs, as memdx check says it.
    if let Some(program) = opts.program.first() {
        if let Some(blind) = crate::commands::check::interpose::check(program) {
            eprintln!(
                "memdx heap: warning: {}: the recording will not show those allocations",
                blind.why(&program.to_string_lossy())
            );
        }
    }
    let outcome = record::run(&opts)?;
    let summary = &outcome.summary;
    // One write for the whole summary (stderr is unbuffered: hundreds of
    // writes otherwise).
    let mut err = std::io::BufWriter::new(std::io::stderr().lock());
    let views = [View::Peak, View::Exit, View::Temporaries];
    let _ = writeln!(
        err,
        "memdx heap: recording written to {} ({} bytes)",
        outcome.path.display(),
        outcome.bytes
    );
    let _ = render::write_text(&mut err, summary, args.group_by.into(), &views, args.top);
    for child in &outcome.children {
        let how = match child.exit {
            memdx_heap::Exit::Cut => "; cut: it executed another program or was killed",
            _ => "",
        };
        let _ = writeln!(
            err,
            "memdx heap: process {} ({}): recording written to {} ({} bytes{how})",
            child.pid,
            child.command,
            child.path.display(),
            child.bytes
        );
    }
    if summary.exit == Some(memdx_heap::Exit::Cut)
        && !opts.trace_children
        && matches!(
            outcome.ending,
            crate::commands::check::front::Ending::Code(_)
        )
    {
        let _ = writeln!(
            err,
            "\nmemdx heap: the program exited without the runtime's last flush: it replaced \
             itself with another program (exec: a wrapper script, or a shim such as pyenv's), \
             whose allocations are not recorded; profile the program the wrapper runs"
        );
    }
    let _ = writeln!(err, "\nmore: memdx heap report {}", outcome.path.display());
    let _ = err.flush();
    drop(err);
    outcome.ending.end()
}

/// `memdx heap --pid`'s mean sampling interval when `--sample` is not given.
const DEFAULT_ATTACH_SAMPLE: u64 = 512 * 1024;

/// `memdx heap --pid PID`.
fn attach_to(pid: i32, args: &RunArgs, sample: u64) -> anyhow::Result<()> {
    let duration = match &args.duration {
        None => None,
        Some(text) => Some(
            memdx_units::parse_duration(text)
                .map_err(|e| Exit::new(1, format!("memdx heap: --duration: {e}")))?,
        ),
    };
    if pid <= 0 {
        return Err(Exit::new(1, format!("memdx heap: --pid: '{pid}' is not a process id")).into());
    }
    let opts = attach::Options {
        pid,
        output: args.output.clone(),
        duration,
        sample_interval: sample,
        num_callers: args.num_callers.clamp(1, 64),
    };
    let outcome = attach::run(&opts)?;
    let mut err = std::io::stderr().lock();
    if outcome.ended {
        let _ = writeln!(err, "memdx heap: process {pid} ended while attached");
    } else {
        let _ = writeln!(err, "memdx heap: detached from process {pid}");
    }
    let _ = writeln!(
        err,
        "memdx heap: recording written to {} ({} bytes)",
        outcome.path.display(),
        outcome.bytes
    );
    let views = [View::Peak, View::Exit, View::Temporaries];
    let _ = render::write_text(
        &mut err,
        &outcome.summary,
        args.group_by.into(),
        &views,
        args.top,
    );
    let _ = writeln!(err, "\nmore: memdx heap report {}", outcome.path.display());
    Ok(())
}

/// Replays the recording at `path` into `analysis`; the damage that
/// stopped the replay, if any (what came before it is in the analysis).
fn replay(
    path: &Path,
    mut analysis: Analysis,
    who: &str,
) -> anyhow::Result<(Analysis, Option<memdx_heap::HeapError>)> {
    let name = path.display();
    let file =
        File::open(path).map_err(|e| Exit::new(1, format!("memdx heap {who}: {name}: {e}")))?;
    let reader = Reader::new(BufReader::with_capacity(1 << 20, file))
        .map_err(|e| Exit::new(1, format!("memdx heap {who}: {name}: {e}")))?;
    for rec in reader {
        match rec {
            Ok(r) => analysis.add(r),
            Err(e) => return Ok((analysis, Some(e))),
        }
    }
    Ok((analysis, None))
}

/// A moment of a recording: a time since the start (`1.5`, `10s`), or the
/// name of a snapshot in it.
pub(crate) fn moment(path: &Path, text: &str, who: &str, option: &str) -> anyhow::Result<u64> {
    if let Ok(d) = memdx_units::parse_duration(text) {
        return Ok(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }
    let (analysis, _) = replay(path, Analysis::new(), who)?;
    let snapshots = analysis.summary().snapshots;
    if let Some(s) = snapshots.iter().find(|s| s.name == text) {
        return Ok(s.time_ns);
    }
    let known: Vec<&str> = snapshots.iter().map(|s| s.name.as_str()).collect();
    Err(Exit::new(
        1,
        format!(
            "memdx heap {who}: {option} {text}: neither a time nor a snapshot of {} ({})",
            path.display(),
            if known.is_empty() {
                "it has none".to_string()
            } else {
                format!("snapshots: {}", known.join(", "))
            }
        ),
    )
    .into())
}

/// `memdx heap snapshot PID [NAME]`: asks the `memdx heap` recording
/// process PID (found through its environment) to mark a snapshot.
fn snapshot(args: &SnapshotArgs) -> anyhow::Result<()> {
    use std::io::{BufRead, BufReader as Buf};
    let pid = args.pid;
    if let Some(name) = &args.name {
        if name.is_empty() || name.contains('\n') {
            return Err(Exit::new(1, "memdx heap snapshot: a name is one non-empty line").into());
        }
    }
    let not_ours = || {
        Exit::new(
            1,
            format!("memdx heap snapshot: process {pid} is not running under memdx heap"),
        )
    };
    let environ = std::fs::read(format!("/proc/{pid}/environ")).map_err(|e| {
        Exit::new(
            1,
            format!(
                "memdx heap snapshot: process {pid}: {}",
                e.to_string()
                    .split(" (os error ")
                    .next()
                    .unwrap_or_default()
            ),
        )
    })?;
    let sock = environ
        .split(|&b| b == 0)
        .find_map(|v| v.strip_prefix(b"MEMDX_EVENTS_SOCK="))
        .map(|p| PathBuf::from(std::ffi::OsStr::from_bytes(p)))
        .ok_or_else(not_ours)?;
    let control = record::control_socket(&sock);
    let mut conn = std::os::unix::net::UnixStream::connect(&control).map_err(|_| not_ours())?;
    conn.set_read_timeout(Some(std::time::Duration::from_secs(15)))?;
    writeln!(conn, "{}", args.name.as_deref().unwrap_or(""))?;
    let mut line = String::new();
    Buf::new(&conn).read_line(&mut line)?;
    let line = line.trim_end();
    match line.strip_prefix("ok ").and_then(|r| r.rsplit_once(' ')) {
        Some((name, t)) => {
            let t: u64 = t.parse().unwrap_or(0);
            println!(
                "memdx heap: snapshot {name} marked at {:.3} s of process {pid}'s recording",
                t as f64 / 1e9
            );
            Ok(())
        }
        None => Err(Exit::new(1, format!("memdx heap snapshot: {line}")).into()),
    }
}

/// Buckets of the timeline leak suspects are judged on.
const SUSPECT_BUCKETS: usize = 200;
/// Sites followed over time for leak suspects (those holding most at the end).
const SUSPECT_CANDIDATES: usize = 64;
/// Sites stacked in --plot.
const PLOTTED_SITES: usize = 8;

fn report(args: ReportArgs) -> anyhow::Result<()> {
    let name = args.file.display().to_string();
    let min_growth = memdx_units::parse_bytes(&args.min_growth)
        .map_err(|e| Exit::new(1, format!("memdx heap report: --min-growth: {e}")))?;
    let start = match &args.at {
        Some(at) => Analysis::new().until(moment(&args.file, at, "report", "--at")?),
        None => Analysis::new(),
    };
    let (analysis, damage) = replay(&args.file, start, "report")?;
    let views: Vec<View> = if args.view.is_empty() {
        View::ALL.to_vec()
    } else {
        args.view.iter().map(|&v| v.into()).collect()
    };
    let summary = analysis.summary();
    // A second pass follows chosen sites over time (memory: the buckets of
    // those sites only).
    let (candidates, mapped_candidates) = if args.leak_suspects {
        (
            suspects::candidates(&summary, SUSPECT_CANDIDATES),
            suspects::mapped_candidates(&summary, SUSPECT_CANDIDATES),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let plotted = if args.plot.is_some() {
        plot::sites_to_plot(&summary, PLOTTED_SITES)
    } else {
        Vec::new()
    };
    let timeline = if args.leak_suspects || args.plot.is_some() {
        let mut tracked = candidates.clone();
        tracked.extend(plotted.iter().filter(|s| !candidates.contains(s)));
        let replay_to = Analysis::new()
            .with_timeline(summary.duration_ns, SUSPECT_BUCKETS, &tracked)
            .tracking_mappings(&mapped_candidates);
        let (again, _) = replay(&args.file, replay_to, "report")?;
        again.timeline()
    } else {
        None
    };
    let suspects = match (&timeline, args.leak_suspects) {
        (Some(t), true) => Some(suspects::leak_suspects(&summary, t, min_growth)),
        _ => None,
    };
    if let (Some(path), Some(t)) = (&args.plot, &timeline) {
        let title = format!(
            "live heap of {}, largest sites stacked",
            if summary.command.is_empty() {
                name.clone()
            } else {
                summary.command.join(" ")
            }
        );
        let chart = plot::HeapChart {
            summary: &summary,
            timeline: t,
            sites: &plotted,
            title: &title,
        };
        memdx_chart::draw_file(&chart, path, (1100, 600))
            .map_err(|e| Exit::new(1, format!("memdx heap report: --plot: {e}")))?;
    }
    if let Some(path) = &args.flamegraph {
        let of: View = args.of.into();
        let title = format!(
            "{} by {}",
            if summary.command.is_empty() {
                name.clone()
            } else {
                summary.command.join(" ")
            },
            flame::of_name(of)
        );
        let mut svg = Vec::new();
        flame::write_svg(&mut svg, &summary, of, &title)
            .map_err(|e| Exit::new(1, format!("memdx heap report: --flamegraph: {e}")))?;
        std::fs::write(path, svg).map_err(|e| {
            Exit::new(
                1,
                format!("memdx heap report: --flamegraph: {}: {e}", path.display()),
            )
        })?;
    }
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        render::write_json_with(
            &mut out,
            &summary,
            args.group_by.into(),
            &views,
            args.top,
            suspects.as_deref(),
        )
    } else {
        render::write_text(&mut out, &summary, args.group_by.into(), &views, args.top).and_then(
            |()| match &suspects {
                Some(s) => suspects::write_text(&mut out, s, args.top),
                None => Ok(()),
            },
        )
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    if let Some(e) = damage {
        return Err(Exit::new(
            1,
            format!("memdx heap report: {name}: {e} (the report covers what comes before it)"),
        )
        .into());
    }
    Ok(())
}
