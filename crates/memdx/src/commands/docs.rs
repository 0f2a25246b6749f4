//! Shell completions and man pages, generated from the same clap grammar
//! that parses the arguments, so they cannot drift.

use std::io::{self, Write};

use anyhow::{bail, Context};
use clap::CommandFactory;

use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    let mut out = io::stdout().lock();
    clap_complete::generate(shell, &mut cmd, "memdx", &mut out);
    out.flush()?;
    Ok(())
}

pub fn man(command: Option<&str>) -> anyhow::Result<()> {
    let root = Cli::command();
    let page = match command {
        None => root,
        Some(name) => {
            let Some(sub) = root.find_subcommand(name).cloned() else {
                bail!("no such command: {name} (see 'memdx --help')");
            };
            let full = format!("memdx-{name}");
            let sub = sub
                .name(Box::leak(full.clone().into_boxed_str()) as &str)
                .bin_name(full)
                .version(env!("CARGO_PKG_VERSION"));
            // The check page's text after the options is its limitations:
            // a LIMITATIONS section (clap_mangen calls it EXTRA).
            if name == "check" {
                sub.after_long_help(crate::commands::check::LIMITATIONS)
            } else {
                sub
            }
        }
    };
    let limitations = page.get_name() == "memdx-check";
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut buf)
        .context("rendering the man page")?;
    if limitations {
        let text = String::from_utf8_lossy(&buf).replacen(".SH EXTRA", ".SH LIMITATIONS", 1);
        buf = text.into_bytes();
    }
    io::stdout().lock().write_all(&buf)?;
    Ok(())
}
