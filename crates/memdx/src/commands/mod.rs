//! One module per command. Each reads through `memdx-proc`, derives through
//! `memdx-model` and prints through `memdx-views`.

pub mod check;
pub mod docs;
pub mod free;
pub mod procps_args;

use crate::cli::{Cli, Command};

pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Free(args) => free::run(args),
        Command::Check(args) => check::run(args),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { command } => docs::man(command.as_deref()),
    }
}
