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
            let first = first_line(&rendered);
            // clap's "tip: a similar subcommand exists: 'free'" becomes
            // "did you mean 'free'?".
            let tip = rendered
                .lines()
                .filter_map(|l| l.trim().strip_prefix("tip: "))
                .find_map(|t| t.rsplit_once(": ").map(|(_, name)| name.to_string()))
                .map(|name| format!("; did you mean {name}?"))
                .unwrap_or_default();
            let sub = command_words(args);
            if sub == " ps" {
                // clap names `-e` of `-ef`: quote what was typed.
                let typed = invalid_arg(&err).and_then(|bad| {
                    args.iter()
                        .skip(2)
                        .filter_map(|a| a.to_str())
                        .find(|a| a.starts_with(bad.as_str()))
                        .map(str::to_string)
                });
                if let Some(habit) = typed.filter(|a| is_ps_selector(a)) {
                    eprintln!(
                        "memdx ps: '{habit}' is not needed: memdx ps lists every process \
                         (narrow it with --user, --pid, --name or --cgroup; see 'memdx ps --help')"
                    );
                    return ExitCode::from(1);
                }
            }
            eprintln!("memdx{sub}: {first}{tip} (see 'memdx{sub} --help')");
            ExitCode::from(1)
        }
    }
}

/// The (sub)commands named at the start of `args`, each after a space
/// (" kmemleak diff"), so that errors point at the right `--help`.
fn command_words(args: &[OsString]) -> String {
    let mut cmd = Cli::command();
    let mut words = String::new();
    for arg in args.iter().skip(1).map_while(|a| a.to_str()) {
        let Some(sub) = cmd.find_subcommand(arg).cloned() else {
            break;
        };
        words.push(' ');
        words.push_str(arg);
        cmd = sub;
    }
    words
}

/// clap's message on one line: its first line, and when that ends with a
/// colon ("the following required arguments were not provided:") the
/// indented lines that follow it, which name what is missing.
fn first_line(rendered: &str) -> String {
    let mut lines = rendered.lines().skip_while(|l| l.trim().is_empty());
    let mut first = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_string();
    if first.ends_with(':') {
        let items: Vec<&str> = lines
            .take_while(|l| l.starts_with("  "))
            .map(str::trim)
            .collect();
        if !items.is_empty() {
            first.push(' ');
            first.push_str(&items.join(" "));
        }
    }
    first
}

/// The argument clap refused, if it names one.
fn invalid_arg(err: &clap::Error) -> Option<String> {
    match err.get(clap::error::ContextKind::InvalidArg)? {
        clap::error::ContextValue::String(arg) => Some(arg.clone()),
        _ => None,
    }
}

/// `ps aux`, `ps -ef` and the like: procps ps's ways to select every
/// process, typed from habit.
fn is_ps_selector(arg: &str) -> bool {
    matches!(
        arg,
        "aux"
            | "-aux"
            | "ax"
            | "axu"
            | "auxf"
            | "auxw"
            | "auxww"
            | "-e"
            | "-ef"
            | "-eF"
            | "-ely"
            | "-elf"
            | "-A"
            | "-Af"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_habits_are_recognised_and_real_options_are_not() {
        for arg in ["aux", "-ef", "-e", "-A", "axu"] {
            assert!(is_ps_selector(arg), "{arg}");
        }
        for arg in ["--user", "-x", "x", "-p"] {
            assert!(!is_ps_selector(arg), "{arg}");
        }
    }
}
