//! One module per command. Each reads through `memdx-proc`, derives through
//! `memdx-model` and prints through `memdx-views`.

pub mod check;
pub mod docs;
pub mod doctor;
pub mod free;
pub mod heap;
pub mod kmemleak;
pub mod oom;
pub mod procps_args;
pub mod ps;
pub mod record;
pub mod report;
pub mod serve;
pub mod slab;
pub mod top;
pub mod vmstat;
pub mod watch;

use crate::cli::{Cli, Command};

pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Free(args) => free::run(args),
        Command::Ps(args) => ps::run(args),
        Command::Top(args) => top::run(args),
        Command::Kmemleak(args) => kmemleak::run(args),
        Command::Slab(args) => slab::run(args),
        Command::Vmstat(args) => vmstat::run(args),
        Command::Oom(args) => oom::run(args),
        Command::Watch(args) => watch::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Check(args) => check::run(args),
        Command::Heap(args) => heap::run(args),
        Command::Record(args) => record::run(args),
        Command::Report(args) => report::run(args),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { command } => docs::man(command.as_deref()),
    }
}
