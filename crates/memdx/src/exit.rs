//! Turning outcomes into messages and exit codes, in one place.

use std::ffi::OsString;
use std::io;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};

use crate::cli::Cli;

/// An error that has already decided its message and exit status (e.g. a
/// procps-compatible message such as `free: Multiple unit options don't make
/// sense.`). The message is printed verbatim as one line on stderr.
#[derive(Debug)]
pub struct Exit {
    /// Exit status.
    pub code: u8,
    /// The whole line to print, without newline.
    pub message: String,
}

impl Exit {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A failure status with nothing to print (`ps --pid` of no process,
    /// like `ps -p`).
    pub fn silent(code: u8) -> Self {
        Self::new(code, "")
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// Whether an error chain is a broken pipe on our output (`memdx ps | head`):
/// the reader went away, which is not a failure.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

pub fn run(args: Vec<OsString>) -> ExitCode {
    let matches = match Cli::command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(err) => return clap_error(err, &args),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => return clap_error(err, &args),
    };
    match crate::commands::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(exit) = err.downcast_ref::<Exit>() {
                if !exit.message.is_empty() {
                    eprintln!("{}", exit.message);
                }
                return ExitCode::from(exit.code);
            }
            eprintln!("memdx: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Help and version go to stdout with status 0 (`memdx` alone: help on
/// stdout, status 2); usage errors become one line on stderr, with clap's
/// nearest match as "did you mean", and status 1 (what procps and Valgrind
/// use for bad options).
fn clap_error(err: clap::Error, args: &[OsString]) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // `memdx` alone: the short help on stdout, and clap's status for
            // a missing subcommand (2).
            print!("{}", err.render());
            ExitCode::from(2)
        }
        _ => {
            let rendered = err.render().to_string();
            let first = rendered
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ")
                .to_string();
            // clap's "tip: a similar subcommand exists: 'free'" becomes
            // "did you mean 'free'?".
            let tip = rendered
                .lines()
                .filter_map(|l| l.trim().strip_prefix("tip: "))
                .find_map(|t| t.rsplit_once(": ").map(|(_, name)| name.to_string()))
                .map(|name| format!("; did you mean {name}?"))
                .unwrap_or_default();
            let cli = Cli::command();
            let sub = args
                .get(1)
                .and_then(|a| a.to_str())
                .filter(|a| cli.find_subcommand(a).is_some())
                .map(|a| format!(" {a}"))
                .unwrap_or_default();
            eprintln!("memdx{sub}: {first}{tip} (see 'memdx{sub} --help')");
            ExitCode::from(1)
        }
    }
}
