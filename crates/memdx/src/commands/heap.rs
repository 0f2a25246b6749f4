//! `memdx heap`: run a program with allocation profiling and write a
//! recording (`record.rs` receives the runtime's bursts and writes the
//! file), then print a summary; `memdx heap report FILE` prints a
//! recording's views. The file format, the analysis and the renderers are
//! in `memdx-heap`.

mod record;

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use memdx_heap::render::{self, GroupBy, View};
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
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Where to write the recording (default: memdx-heap.PID.mdxh in the current directory).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Record a sample of the allocations: one per BYTES allocated on average (Poisson
    /// sampling; `524288`, `512KiB`). Figures become unbiased estimates; blocks of BYTES
    /// or more are always recorded.
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
    /// The program and its arguments.
    #[arg(
        required = true,
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
            bytes.round() as u64
        }
    };
    let opts = record::Options {
        program: args.program,
        output: args.output,
        sample_interval: sample,
        num_callers: args.num_callers.clamp(1, 64),
    };
    let outcome = record::run(&opts)?;
    let summary = &outcome.summary;
    let mut err = std::io::stderr().lock();
    let views = [View::Peak, View::Exit, View::Temporaries];
    let _ = writeln!(
        err,
        "memdx heap: recording written to {} ({} bytes)",
        outcome.path.display(),
        outcome.bytes
    );
    let _ = render::write_text(&mut err, summary, args.group_by.into(), &views, args.top);
    let _ = writeln!(err, "\nmore: memdx heap report {}", outcome.path.display());
    drop(err);
    outcome.ending.end()
}

fn report(args: ReportArgs) -> anyhow::Result<()> {
    let name = args.file.display().to_string();
    let file = File::open(&args.file)
        .map_err(|e| Exit::new(1, format!("memdx heap report: {name}: {e}")))?;
    let reader = Reader::new(BufReader::with_capacity(1 << 20, file))
        .map_err(|e| Exit::new(1, format!("memdx heap report: {name}: {e}")))?;
    let mut analysis = Analysis::new();
    let mut damage = None;
    for rec in reader {
        match rec {
            Ok(r) => analysis.add(r),
            Err(e) => {
                damage = Some(e);
                break;
            }
        }
    }
    let views: Vec<View> = if args.view.is_empty() {
        View::ALL.to_vec()
    } else {
        args.view.iter().map(|&v| v.into()).collect()
    };
    let summary = analysis.summary();
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        render::write_json(&mut out, &summary, args.group_by.into(), &views, args.top)
    } else {
        render::write_text(&mut out, &summary, args.group_by.into(), &views, args.top)
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
