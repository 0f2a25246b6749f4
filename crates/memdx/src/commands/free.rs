//! `memdx free`: procps-ng 4.0.2's `free`, option for option.

use std::io::{self, Write};
use std::time::Duration;

use clap::{ArgAction, Args};
use memdx_model::FreeFigures;
use memdx_proc::{MemInfo, ProcError, ProcRoot};
use memdx_views::free::{write_json, write_text, FreeLayout};
use memdx_views::scale::Scale;

use crate::commands::procps_args::{strtod_nol_or_err, strtol_or_err};
use crate::exit::Exit;

/// `memdx free --help`: procps' own option list (what `free` users know),
/// plus what memdx adds.
pub const HELP: &str = "\
Display the amount of free and used memory, exactly as procps-ng 4.0.2's free(1)
does for the same /proc/meminfo: same options, columns, rounding and errors.

Usage:
 memdx free [options]

Options:
 -b, --bytes         show output in bytes
     --kilo          show output in kilobytes
     --mega          show output in megabytes
     --giga          show output in gigabytes
     --tera          show output in terabytes
     --peta          show output in petabytes
 -k, --kibi          show output in kibibytes
 -m, --mebi          show output in mebibytes
 -g, --gibi          show output in gibibytes
     --tebi          show output in tebibytes
     --pebi          show output in pebibytes
 -h, --human         show human-readable output
     --si            use powers of 1000 not 1024
 -l, --lohi          show detailed low and high memory statistics
 -t, --total         show total for RAM + swap
 -v, --committed     show committed memory and commit limit
 -s N, --seconds N   repeat printing every N seconds
 -c N, --count N     repeat printing N times, then exit
 -w, --wide          wide output
     --json          one JSON object per report, sizes in bytes (docs/json.md)

     --help     display this help and exit
 -V, --version  output version information and exit

Columns: used = total - available; buff/cache = Buffers + Cached + SReclaimable;
available = MemAvailable (MemFree on kernels without it, or when it exceeds
MemTotal as in LXC containers). Figures are KiB unless a unit option is given.

Differences from procps: a corrupt or truncated meminfo is an error naming the
file and line (procps prints zeros); a usage error prints one line, not the
whole usage text. Set MEMDX_PROC_ROOT=DIR to read DIR/proc/meminfo.
";

#[derive(Debug, Args)]
pub struct FreeArgs {
    /// Show output in bytes.
    #[arg(short = 'b', long = "bytes", action = ArgAction::Count)]
    bytes: u8,
    /// Show output in kilobytes (powers of 1000).
    #[arg(long, action = ArgAction::Count)]
    kilo: u8,
    /// Show output in megabytes.
    #[arg(long, action = ArgAction::Count)]
    mega: u8,
    /// Show output in gigabytes.
    #[arg(long, action = ArgAction::Count)]
    giga: u8,
    /// Show output in terabytes.
    #[arg(long, action = ArgAction::Count)]
    tera: u8,
    /// Show output in petabytes.
    #[arg(long, action = ArgAction::Count)]
    peta: u8,
    /// Show output in kibibytes (the default).
    #[arg(short = 'k', long, action = ArgAction::Count)]
    kibi: u8,
    /// Show output in mebibytes.
    #[arg(short = 'm', long, action = ArgAction::Count)]
    mebi: u8,
    /// Show output in gibibytes.
    #[arg(short = 'g', long, action = ArgAction::Count)]
    gibi: u8,
    /// Show output in tebibytes.
    #[arg(long, action = ArgAction::Count)]
    tebi: u8,
    /// Show output in pebibytes.
    #[arg(long, action = ArgAction::Count)]
    pebi: u8,
    /// Show human-readable output (unit chosen per figure, e.g. 1.5Gi).
    #[arg(short = 'h', long)]
    human: bool,
    /// Use powers of 1000, not 1024.
    #[arg(long)]
    si: bool,
    /// Show detailed low and high memory statistics.
    #[arg(short = 'l', long)]
    lohi: bool,
    /// Show total for RAM + swap.
    #[arg(short = 't', long)]
    total: bool,
    /// Show committed memory and commit limit.
    #[arg(short = 'v', long)]
    committed: bool,
    /// Repeat printing every N seconds (fractions allowed).
    #[arg(short = 's', long, value_name = "N", allow_hyphen_values = true)]
    seconds: Option<String>,
    /// Repeat printing N times, then exit.
    #[arg(short = 'c', long, value_name = "N", allow_hyphen_values = true)]
    count: Option<String>,
    /// Wide output: buffers and cache in separate columns.
    #[arg(short = 'w', long)]
    wide: bool,
    /// Print one JSON object per report (sizes in bytes) instead of columns.
    #[arg(long)]
    json: bool,
    /// Display this help and exit.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Output version information and exit.
    #[arg(short = 'V', long, action = ArgAction::SetTrue)]
    version: bool,
}

/// What the arguments mean once validated as procps validates them.
struct FreeRun {
    layout: FreeLayout,
    json: bool,
    interval: Option<Duration>,
    count: Option<u64>,
}

fn validate(args: &FreeArgs) -> Result<FreeRun, Exit> {
    let units = [
        (args.bytes, 1, false),
        (args.kibi, 2, false),
        (args.mebi, 3, false),
        (args.gibi, 4, false),
        (args.tebi, 5, false),
        (args.pebi, 6, false),
        (args.kilo, 2, true),
        (args.mega, 3, true),
        (args.giga, 4, true),
        (args.tera, 5, true),
        (args.peta, 6, true),
    ];
    let given: u32 = units.iter().map(|u| u32::from(u.0)).sum();
    if given > 1 {
        return Err(Exit::new(
            1,
            "free: Multiple unit options don't make sense.",
        ));
    }
    let mut scale = Scale {
        exponent: 0,
        si: args.si,
        human: args.human,
    };
    if let Some(&(_, exponent, si)) = units.iter().find(|u| u.0 > 0) {
        scale.exponent = exponent;
        scale.si |= si;
    }

    let mut interval = None;
    if let Some(text) = &args.seconds {
        let secs = strtod_nol_or_err(text).map_err(|suffix| {
            Exit::new(
                1,
                format!("free: seconds argument failed: '{text}'{suffix}"),
            )
        })?;
        // procps keeps microseconds in a C float.
        let micros = (1_000_000.0 * secs) as f32;
        if micros < 1.0 {
            return Err(Exit::new(
                1,
                format!("free: seconds argument `{text}' is not positive number"),
            ));
        }
        interval = Some(Duration::from_secs_f64(f64::from(micros) / 1e6));
    }
    let mut count = None;
    if let Some(text) = &args.count {
        let n = strtol_or_err(text).map_err(|suffix| {
            Exit::new(
                1,
                format!("free: failed to parse count argument: '{text}'{suffix}"),
            )
        })?;
        // procps stores the count in a C int.
        let n = n as i32;
        if n < 1 {
            return Err(Exit::new(
                1,
                format!(
                    "free: failed to parse count argument: '{text}': Numerical result out of range"
                ),
            ));
        }
        count = Some(n as u64);
        interval.get_or_insert(Duration::from_secs(1));
    }
    Ok(FreeRun {
        layout: FreeLayout {
            scale,
            wide: args.wide,
            lohi: args.lohi,
            total: args.total,
            committed: args.committed,
        },
        json: args.json,
        interval,
        count,
    })
}

fn read(root: &ProcRoot) -> Result<FreeFigures, Exit> {
    let meminfo = MemInfo::read(root).map_err(|err| match err {
        ProcError::Io { ref path, .. } if err.is_not_found() => Exit::new(
            1,
            format!(
                "free: Memory information file {} does not exist",
                path.display()
            ),
        ),
        other => Exit::new(1, format!("free: {other}")),
    })?;
    FreeFigures::from_meminfo(&meminfo).map_err(|missing| {
        Exit::new(
            1,
            format!(
                "free: {}: {missing}",
                root.path(memdx_proc::meminfo::REL_PATH).display()
            ),
        )
    })
}

pub fn run(args: FreeArgs) -> anyhow::Result<()> {
    if args.version {
        println!(
            "free from procps-ng 4.0.2 (memdx {})",
            env!("CARGO_PKG_VERSION")
        );
        return Ok(());
    }
    let run = validate(&args)?;
    let root = ProcRoot::from_env();
    let mut remaining = run.count;
    loop {
        let figures = read(&root)?;
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut out = io::stdout().lock();
        if run.json {
            write_json(&mut out, &figures, time)?;
        } else {
            write_text(&mut out, &figures, &run.layout)?;
        }
        out.flush()?;
        if let Some(left) = remaining.as_mut() {
            *left -= 1;
            if *left == 0 {
                return Ok(());
            }
        }
        let Some(interval) = run.interval else {
            return Ok(());
        };
        if !run.json {
            writeln!(out)?;
            out.flush()?;
        }
        drop(out);
        std::thread::sleep(interval);
    }
}
