//! Shell completions and man pages, generated from the same clap grammar
//! that parses the arguments, so they cannot drift.

use std::io::{self, Write};

use anyhow::{bail, Context};
use clap::CommandFactory;

use crate::cli::Cli;

pub fn completions(shell: Option<clap_complete::Shell>) -> anyhow::Result<()> {
    let Some(shell) = shell else {
        use clap::ValueEnum;
        let names: Vec<String> = clap_complete::Shell::value_variants()
            .iter()
            .filter_map(|s| s.to_possible_value().map(|v| v.get_name().to_string()))
            .collect();
        return Err(crate::exit::Exit::new(
            2,
            format!(
                "memdx completions: name a shell: {} (e.g. 'memdx completions bash')",
                names.join(", ")
            ),
        )
        .into());
    };
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
            sub.name(Box::leak(full.clone().into_boxed_str()) as &str)
                .bin_name(full)
                .version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut buf)
        .context("rendering the man page")?;
    io::stdout().lock().write_all(&buf)?;
    Ok(())
}
