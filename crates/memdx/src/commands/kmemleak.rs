//! `memdx kmemleak`: status, scan, report, diff, and the control commands.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use memdx_kernel::kallsyms::Kallsyms;
use memdx_kernel::kmemleak::control::{
    self, Command as Ctl, Control, DebugfsControl, ScanPlan, Sleep,
};
use memdx_kernel::kmemleak::{diff, parse_report, render, status, Filter, GroupBy, LeakObject};
use memdx_kernel::{kmsg, KernelError};
use memdx_proc::ProcRoot;

use crate::exit::Exit;

#[derive(Debug, Args)]
#[command(
    after_help = "Settings are passed through to the kernel as written: stack=on, stack=off, \
scan=on, scan=off, scan=SECONDS (e.g. `memdx kmemleak scan=600`).\n\n\
Paths are read under MEMDX_PROC_ROOT when it is set (…/sys/kernel/debug/kmemleak, \
…/proc/kallsyms, …/proc/config.gz, …/dev/kmsg)."
)]
pub struct KmemleakArgs {
    #[command(subcommand)]
    command: KmemleakCommand,
}

#[derive(Debug, Subcommand)]
enum KmemleakCommand {
    /// Say whether kmemleak can be used here and, if not, why and what to do.
    ///
    /// Exit status: 0 when kmemleak is usable, 3 when it is not (the
    /// diagnosis is printed either way), 1 on errors.
    Status {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Scan, wait past kmemleak's minimum object age, scan again, then report.
    Scan {
        /// Write `clear` first, dropping reports from before the test.
        #[arg(long)]
        clear_first: bool,
        /// Time to wait between the two scans: seconds (6) or with a unit (30s, 1m);
        /// kmemleak ignores objects younger than 5 s.
        #[arg(long, value_name = "DURATION", default_value = "6")]
        wait: String,
        /// If anything is reported, wait, scan and read once more (drops objects that were only briefly unreferenced).
        #[arg(long)]
        confirm: bool,
        #[command(flatten)]
        report: ReportOptions,
    },
    /// Parse and group a report: the live file, a saved copy, dmesg text or /dev/kmsg records.
    Report {
        /// Report file, `-` for standard input; the live debugfs file when absent.
        file: Option<String>,
        /// Symbolize raw addresses with this kallsyms file (the live /proc/kallsyms is used for live reports).
        #[arg(long, value_name = "FILE")]
        kallsyms: Option<PathBuf>,
        #[command(flatten)]
        report: ReportOptions,
    },
    /// Compare two saved reports: groups that are new, gone or grew.
    Diff {
        /// The earlier report.
        old: String,
        /// The later report.
        new: String,
        /// Group by this (both reports are grouped the same way).
        #[arg(long, value_enum, default_value_t = GroupKey::Backtrace)]
        group_by: GroupKey,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Forget the objects reported so far (`echo clear`).
    Clear,
    /// Disable kmemleak until reboot (`echo off`).
    Off,
    /// Pass a setting through: `stack=on`, `stack=off`, `scan=on`, `scan=off`, `scan=SECONDS`.
    #[command(external_subcommand)]
    Setting(Vec<String>),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GroupKey {
    /// The whole call path (function+offset per frame).
    Backtrace,
    /// The first non-allocator function.
    Function,
    /// The crc kernels print since 6.8 (a checksum of the contents).
    Crc,
}

impl From<GroupKey> for GroupBy {
    fn from(k: GroupKey) -> Self {
        match k {
            GroupKey::Backtrace => GroupBy::Backtrace,
            GroupKey::Function => GroupBy::Function,
            GroupKey::Crc => GroupBy::Crc,
        }
    }
}

#[derive(Debug, Args)]
struct ReportOptions {
    /// Print one JSON object: `objects`, `bytes`, `groups`.
    #[arg(long)]
    json: bool,
    /// Group by this.
    #[arg(long, value_enum, default_value_t = GroupKey::Backtrace)]
    group_by: GroupKey,
    /// Keep objects with a frame in this module.
    #[arg(long)]
    module: Option<String>,
    /// Keep objects allocated by this task name.
    #[arg(long)]
    comm: Option<String>,
    /// Keep objects of at least this many bytes.
    #[arg(long, value_name = "BYTES")]
    min_size: Option<u64>,
    /// Keep objects of at most this many bytes.
    #[arg(long, value_name = "BYTES")]
    max_size: Option<u64>,
    /// Keep objects at least this old: seconds (90) or with a unit (10m, 2h); needs
    /// kernels that print ages.
    #[arg(long, value_name = "DURATION")]
    min_age: Option<String>,
    /// Keep objects at most this old (seconds, or 10m, 2h).
    #[arg(long, value_name = "DURATION")]
    max_age: Option<String>,
    /// Frames shown per backtrace in text output (0 = all).
    #[arg(long, value_name = "N", default_value_t = 0)]
    frames: usize,
}

impl ReportOptions {
    fn filter(&self) -> Result<Filter, Exit> {
        let ms = |option: &str, text: &Option<String>| -> Result<Option<u64>, Exit> {
            text.as_deref()
                .map(|t| {
                    memdx_units::parse_duration(t)
                        .map(|d| d.as_millis().min(u128::from(u64::MAX)) as u64)
                        .map_err(|e| Exit::new(1, format!("memdx kmemleak: {option}: {e}")))
                })
                .transpose()
        };
        Ok(Filter {
            module: self.module.clone(),
            comm: self.comm.clone(),
            min_size: self.min_size,
            max_size: self.max_size,
            min_age_ms: ms("--min-age", &self.min_age)?,
            max_age_ms: ms("--max-age", &self.max_age)?,
        })
    }
}

pub fn run(args: KmemleakArgs) -> anyhow::Result<()> {
    let root = ProcRoot::from_env();
    match args.command {
        KmemleakCommand::Status { json } => status_cmd(&root, json),
        KmemleakCommand::Scan {
            clear_first,
            wait,
            confirm,
            report,
        } => {
            let wait = memdx_units::parse_duration(&wait)
                .map_err(|e| Exit::new(1, format!("memdx kmemleak scan: --wait: {e}")))?;
            // Bad filters fail before the scan's wait, not after it.
            report.filter()?;
            let plan = ScanPlan {
                clear_first,
                wait,
                confirm,
            };
            let mut ctl = DebugfsControl::new(&root);
            let text =
                control::scan(&mut ctl, &mut Sleep, &plan).map_err(|e| control_error(&root, &e))?;
            let mut objects = parse(&text, &ctl.path().display().to_string())?;
            symbolize_live(&root, &mut objects);
            print_report(&objects, &report)
        }
        KmemleakCommand::Report {
            file,
            kallsyms,
            report,
        } => {
            let mut objects = match file.as_deref() {
                None => {
                    let mut ctl = DebugfsControl::new(&root);
                    let text = ctl.read().map_err(|e| control_error(&root, &e))?;
                    let mut objs = parse(&text, &ctl.path().display().to_string())?;
                    symbolize_live(&root, &mut objs);
                    objs
                }
                Some(name) => parse(&read_input(name)?, name)?,
            };
            if let Some(path) = kallsyms {
                let text = memdx_kernel::read_text(&path)
                    .map_err(|e| Exit::new(1, format!("memdx kmemleak: {e}")))?;
                let table = Kallsyms::parse(&text, &path.display().to_string())
                    .map_err(|e| Exit::new(1, format!("memdx kmemleak: {e}")))?;
                for o in &mut objects {
                    table.symbolize(&mut o.backtrace);
                }
            }
            print_report(&objects, &report)
        }
        KmemleakCommand::Diff {
            old,
            new,
            group_by,
            json,
        } => {
            let filter = Filter::default();
            let old_r = memdx_kernel::kmemleak::group(
                &parse(&read_input(&old)?, &old)?,
                group_by.into(),
                &filter,
            );
            let new_r = memdx_kernel::kmemleak::group(
                &parse(&read_input(&new)?, &new)?,
                group_by.into(),
                &filter,
            );
            let d = diff::diff(&old_r, &new_r);
            let mut out = io::stdout().lock();
            if json {
                render::write_diff_json(&mut out, &d)?;
            } else {
                render::write_diff_text(&mut out, &d)?;
            }
            out.flush()?;
            Ok(())
        }
        KmemleakCommand::Clear => pass_through(&root, Ctl::Clear),
        KmemleakCommand::Off => pass_through(&root, Ctl::Off),
        KmemleakCommand::Setting(words) => {
            let cmd = parse_setting(&words)?;
            pass_through(&root, cmd)
        }
    }
}

fn parse_setting(words: &[String]) -> Result<Ctl, Exit> {
    let usage = |w: &str| {
        Exit::new(
            1,
            format!("memdx kmemleak: unknown command '{w}' (expected status, scan, report, diff, clear, off, stack=on|off, scan=on|off|SECONDS; see 'memdx kmemleak --help')"),
        )
    };
    let [word] = words else {
        return Err(usage(&words.join(" ")));
    };
    match word.as_str() {
        "stack=on" => Ok(Ctl::Stack(true)),
        "stack=off" => Ok(Ctl::Stack(false)),
        "scan=on" => Ok(Ctl::ScanThread(true)),
        "scan=off" => Ok(Ctl::ScanThread(false)),
        w => match w.strip_prefix("scan=").map(str::parse::<u32>) {
            Some(Ok(secs)) => Ok(Ctl::ScanPeriod(secs)),
            _ => Err(usage(w)),
        },
    }
}

fn pass_through(root: &ProcRoot, cmd: Ctl) -> anyhow::Result<()> {
    let mut ctl = DebugfsControl::new(root);
    ctl.write(&cmd.text())
        .map_err(|e| control_error(root, &e))?;
    Ok(())
}

/// One line naming the file and the errno, with the diagnosis behind it.
fn control_error(root: &ProcRoot, err: &KernelError) -> Exit {
    let built_without = status::read_config(root).is_some_and(|c| !c.kmemleak);
    let locked = status::lockdown_mode(root).is_some_and(|m| m != "none");
    let (detail, fix) = status::explain_error(err, built_without, locked);
    let fix = fix.map(|f| format!("; {f}")).unwrap_or_default();
    Exit::new(
        1,
        format!("memdx kmemleak: {detail}{fix} (details: memdx kmemleak status)"),
    )
}

fn status_cmd(root: &ProcRoot, json: bool) -> anyhow::Result<()> {
    let log = kmsg::read_kmsg(root).ok();
    let st = status::diagnose(root, log.as_deref());
    let mut out = io::stdout().lock();
    if json {
        render::write_status_json(&mut out, &st)?;
    } else {
        render::write_status_text(&mut out, &st)?;
    }
    out.flush()?;
    if !st.usable {
        return Err(Exit::silent(STATUS_NOT_USABLE).into());
    }
    Ok(())
}

/// `kmemleak status`'s exit status when kmemleak cannot be used (1 is
/// for errors, 2 for usage errors).
const STATUS_NOT_USABLE: u8 = 3;

fn read_input(name: &str) -> Result<String, Exit> {
    if name == "-" {
        return memdx_kernel::read_limited(
            io::stdin(),
            "standard input",
            memdx_kernel::MAX_INPUT_BYTES,
        )
        .map_err(|e| Exit::new(1, format!("memdx kmemleak: {e}")));
    }
    memdx_kernel::read_text(std::path::Path::new(name))
        .map_err(|e| Exit::new(1, format!("memdx kmemleak: {e}")))
}

fn parse(text: &str, source: &str) -> Result<Vec<LeakObject>, Exit> {
    let text = if kmsg::is_kmsg_format(text) {
        kmsg::kmsg_to_dmesg(text)
    } else {
        text.to_string()
    };
    parse_report(&text, source).map_err(|e| Exit::new(1, format!("memdx kmemleak: {e}")))
}

/// Live reports are symbolized with the live kallsyms when it shows real
/// addresses (root, kptr_restrict allowing); otherwise frames stay as printed.
fn symbolize_live(root: &ProcRoot, objects: &mut [LeakObject]) {
    let needs = objects.iter().any(|o| {
        o.backtrace
            .iter()
            .any(|f| f.function.is_none() && f.address.is_some())
    });
    if !needs {
        return;
    }
    if let Ok(table) = Kallsyms::read(root) {
        for o in objects.iter_mut() {
            table.symbolize(&mut o.backtrace);
        }
    }
}

fn print_report(objects: &[LeakObject], opts: &ReportOptions) -> anyhow::Result<()> {
    let report = memdx_kernel::kmemleak::group(objects, opts.group_by.into(), &opts.filter()?);
    let mut out = io::stdout().lock();
    if opts.json {
        render::write_report_json(&mut out, &report)?;
    } else {
        render::write_report_text(&mut out, &report, opts.frames)?;
    }
    out.flush()?;
    Ok(())
}
