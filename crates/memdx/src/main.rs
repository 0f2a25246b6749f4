//! `memdx`: the command-line front end. It parses arguments, calls readers,
//! the model and views, and turns errors into one-line messages and exit
//! codes. It holds no domain logic of its own.

mod cli;
mod commands;
mod exit;
mod local_zone;

use std::process::ExitCode;

fn main() -> ExitCode {
    exit::run(std::env::args_os().collect())
}
