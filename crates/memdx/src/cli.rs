//! The command-line grammar. Each command's arguments live next to the
//! command (`commands/<name>.rs`); this file only lists the commands.

use clap::{Parser, Subcommand};

use crate::commands;

/// Where did the memory go, and what is wrong with this program's memory?
#[derive(Debug, Parser)]
#[command(
    name = "memdx",
    version,
    about = "Where did the memory go, and what is wrong with this program's memory?",
    long_about = "memdx answers two questions on Linux: where did this machine's memory go, \
and what is wrong with this program's memory. Its monitors are drop-in replacements for \
procps (`memdx free`, `memdx vmstat`: same options, byte-identical output) with `--json` \
for scripts.\n\nSet MEMDX_PROC_ROOT=DIR to read DIR/proc and DIR/sys instead of the live \
machine's (for captured fixture trees).",
    after_help = "Run 'memdx <COMMAND> --help' for a command's options.",
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Amount of free and used memory, as procps `free` prints it.
    #[command(
        disable_help_flag = true,
        disable_version_flag = true,
        infer_long_args = true,
        long_about = "Display the amount of free and used memory in the system, exactly as \
procps-ng 4.0.2's free(1) does for the same /proc/meminfo (same options, same columns, same \
rounding). Add --json for one JSON object per report, sizes in bytes."
    )]
    Free(commands::free::FreeArgs),

    /// Run a program under memdx's checker: leaks and bad frees, Valgrind-style report.
    #[command(
        long_about = "Run PROGRAM with memdx's checker runtime preloaded (unmodified binary) and \
print a Valgrind-memcheck-style report on stderr: invalid, double and mismatched frees as they \
happen, then the HEAP SUMMARY, loss records and LEAK SUMMARY at exit. Options use Valgrind's \
names and defaults; Valgrind options memdx does not implement yet print a warning and are \
ignored. The program's output, exit status and death by signal are passed through.\n\n\
Set MEMDX_RUNTIME=PATH to use a specific libmemdx_runtime.so."
    )]
    Check(commands::check::CheckArgs),

    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to generate completions for.
        shell: clap_complete::Shell,
    },

    /// Print memdx's man page (roff) to stdout: `memdx man | man -l -`.
    Man {
        /// A command to print the page of (`memdx man free`); the main page when absent.
        command: Option<String>,
    },
}
