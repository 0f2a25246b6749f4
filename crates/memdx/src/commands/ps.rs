//! `memdx ps`: every process's memory, with PSS, USS, swap and cgroup.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use anyhow::Context;
use clap::{ArgAction, Args, ValueEnum};
use memdx_model::ps::{
    group_rows, parse_sort, sort_rows, sum_rows, Column, Filter, GroupBy, PsRow,
};
use memdx_proc::process::{read_all, read_users, ReadOptions};
use memdx_proc::{MemInfo, ProcRoot};
use memdx_views::ps::{write_json, write_table, PsJson, PsLayout};
use memdx_views::scale::Scale;

use crate::commands::vmstat::clock::terminal_columns;
use crate::exit::Exit;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum By {
    User,
    Command,
    Cgroup,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Sort keys, comma separated, `-` for largest first: pid, user, rss, pss, uss,
    /// swap, shr, virt, mem, cgroup, command, count. Default: -pss (-rss with --fast).
    #[arg(long, value_name = "KEYS", allow_hyphen_values = true)]
    sort: Option<String>,
    /// Only these pids (comma separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "PID")]
    pid: Vec<u32>,
    /// Only processes of these users (name or uid; comma separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "USER")]
    user: Vec<String>,
    /// Only processes whose command line matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    name: Option<String>,
    /// Only processes whose cgroup path contains this text.
    #[arg(long, value_name = "TEXT")]
    cgroup: Option<String>,
    /// One row per user, command name or cgroup, summing the memory columns.
    #[arg(long, value_enum)]
    by: Option<By>,
    /// Skip smaps_rollup and cgroup (no PSS, USS, CGROUP): faster than ps.
    /// SWAP still shows (from /proc/PID/status).
    #[arg(long)]
    fast: bool,
    /// Omit the TOTAL row.
    #[arg(long)]
    no_totals: bool,
    /// Print one JSON object (rows, totals, notes; sizes in bytes).
    #[arg(long)]
    json: bool,
    /// Human-readable sizes (1.5Gi).
    #[arg(short = 'h', long)]
    human: bool,
    /// Sizes in bytes.
    #[arg(short = 'b', long)]
    bytes: bool,
    /// Sizes in KiB (the default).
    #[arg(short = 'k', long)]
    kibi: bool,
    /// Sizes in MiB.
    #[arg(short = 'm', long)]
    mebi: bool,
    /// Sizes in GiB.
    #[arg(short = 'g', long)]
    gibi: bool,
    /// Powers of 1000 instead of 1024.
    #[arg(long)]
    si: bool,
    /// Full rows: do not cut the command to the terminal's width (rows are
    /// only cut when stdout is a terminal).
    #[arg(short = 'w', long)]
    wide: bool,
    /// List memdx's own process too (it is left out unless --pid names it).
    #[arg(long)]
    include_self: bool,
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

fn scale(args: &PsArgs) -> Result<Scale, Exit> {
    let units = [
        (args.bytes, 1),
        (args.kibi, 2),
        (args.mebi, 3),
        (args.gibi, 4),
    ];
    if units.iter().filter(|u| u.0).count() > 1 {
        return Err(Exit::new(1, "memdx ps: choose one of -b, -k, -m, -g"));
    }
    Ok(Scale {
        exponent: units.iter().find(|u| u.0).map_or(0, |u| u.1),
        si: args.si,
        human: args.human,
    })
}

pub fn run(args: PsArgs) -> anyhow::Result<()> {
    let scale = scale(&args)?;
    let default_sort = if args.fast { "-rss" } else { "-pss" };
    let keys = parse_sort(args.sort.as_deref().unwrap_or(default_sort))
        .map_err(|e| Exit::new(1, format!("memdx ps: --sort: {e}")))?;
    if args.fast {
        if let Some(k) = keys
            .iter()
            .find(|k| matches!(k.column, Column::Pss | Column::Uss))
        {
            return Err(Exit::new(
                1,
                format!(
                    "memdx ps: --fast does not read {}; sort by rss or drop --fast",
                    k.column.name()
                ),
            )
            .into());
        }
    }
    let name = match &args.name {
        Some(re) => Some(regex::Regex::new(re).map_err(|e| {
            Exit::new(1, format!("memdx ps: --name: {}", one_line(&e.to_string())))
        })?),
        None => None,
    };
    let root = ProcRoot::from_env();
    let users = read_users(&root);
    // Like `ps -u`: a name that is no user is a mistake, not an empty list.
    if let Some(unknown) = args
        .user
        .iter()
        .find(|u| u.parse::<u32>().is_err() && !users.values().any(|name| name == *u))
    {
        return Err(Exit::new(1, format!("memdx ps: --user {unknown}: no such user")).into());
    }
    // A numeric --user matches the name that uid has (rows show names).
    let wanted_users = args
        .user
        .iter()
        .map(|u| {
            u.parse::<u32>()
                .ok()
                .and_then(|uid| users.get(&uid).cloned())
                .unwrap_or_else(|| u.clone())
        })
        .collect();
    let filter = Filter {
        pids: args.pid.clone(),
        users: wanted_users,
        name,
        cgroup: args.cgroup.clone(),
    };

    let mem_total = MemInfo::read(&root)
        .ok()
        .and_then(|m| m.get("MemTotal"))
        .map(|kb| kb * 1024);
    let opts = ReadOptions {
        smaps: !args.fast,
        cgroup: !args.fast,
        cpu: false,
    };
    let procs = read_all(&root, opts).with_context(|| "reading processes".to_string())?;

    let names: HashMap<u32, String> = procs.iter().map(|p| (p.pid, p.name.clone())).collect();
    // memdx itself is noise in its own listing, unless asked for by pid.
    let own_pid = std::process::id();
    let show_self = args.include_self || args.pid.contains(&own_pid);
    let mut rows: Vec<PsRow> = procs
        .iter()
        .filter(|p| show_self || p.pid != own_pid || !root_is_live(&root))
        .map(|p| PsRow::from_process(p, &users, mem_total))
        .filter(|r| filter.keep(r))
        .collect();
    // Like `ps -p`: asking for pids of which none exists is a failure.
    let missing_pids = !args.pid.is_empty() && rows.is_empty();
    // Only the rows shown count; a set keeps this linear (thousands of
    // processes are denied at once for an unprivileged user).
    let denied_pids: HashSet<u32> = procs
        .iter()
        .filter(|p| p.smaps_denied)
        .map(|p| p.pid)
        .collect();
    let denied = rows
        .iter()
        .filter(|r| r.pid.is_some_and(|pid| denied_pids.contains(&pid)))
        .count();
    let mut notes = Vec::new();
    if denied > 0 {
        notes.push(denied_note(denied, is_root()));
    }

    let rows_are = match args.by {
        None => "process",
        Some(By::User) => "user",
        Some(By::Command) => "command",
        Some(By::Cgroup) => "cgroup",
    };
    let group = args.by.map(|by| match by {
        By::User => GroupBy::User,
        By::Command => GroupBy::Command,
        By::Cgroup => GroupBy::Cgroup,
    });
    if let Some(by) = group {
        rows = group_rows(&rows, by, &names);
    }
    sort_rows(&mut rows, &keys);
    let totals = sum_rows(&rows, "TOTAL");

    let mut out = io::stdout().lock();
    if args.json {
        write_json(
            &mut out,
            &PsJson {
                rows_are,
                rows: &rows,
                totals: &totals,
                notes: &notes,
            },
        )?;
    } else {
        let layout = PsLayout {
            scale,
            smaps: !args.fast,
            group,
            // Nothing listed: the header alone, as ps prints it.
            totals: !args.no_totals && !rows.is_empty(),
            cpu: false,
            program: false,
            width: if args.wide { None } else { terminal_columns() },
        };
        write_table(&mut out, &rows, &totals, &layout)?;
        for note in &notes {
            eprintln!("memdx ps: note: {note}");
        }
    }
    out.flush()?;
    if missing_pids {
        return Err(Exit::silent(1).into());
    }
    Ok(())
}

/// Whether the processes listed are this machine's (not a fixture tree),
/// so that our own pid names us.
fn root_is_live(root: &ProcRoot) -> bool {
    root.base() == std::path::Path::new("/")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Why PSS/USS are blank. Even root cannot read smaps_rollup of PID 1 when
/// it lies outside memdx's namespace or is protected, and kernel threads
/// have none; other users' processes need root or CAP_SYS_PTRACE.
fn denied_note(denied: usize, root: bool) -> String {
    let (count, verb) = if denied == 1 {
        ("1 process".to_string(), "is")
    } else {
        (format!("{denied} processes"), "are")
    };
    let why = if root {
        "PID 1 and kernel threads are unreadable even for root"
    } else {
        "other users' processes need root or CAP_SYS_PTRACE; PID 1 and kernel threads are unreadable even for root"
    };
    format!("PSS and USS are blank for {count} whose /proc/PID/smaps_rollup {verb} not readable ({why})")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_note_counts_with_grammar_and_gives_the_reason() {
        assert_eq!(
            denied_note(1, true),
            "PSS and USS are blank for 1 process whose /proc/PID/smaps_rollup is not readable (PID 1 and kernel threads are unreadable even for root)"
        );
        let many = denied_note(3, false);
        assert!(many.starts_with("PSS and USS are blank for 3 processes whose /proc/PID/smaps_rollup are not readable (other users'"), "{many}");
    }
}
