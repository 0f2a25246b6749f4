//! `memdx check --uninit-effects=yes`: does the program's behaviour depend
//! on uninitialised heap memory, and from which allocation site?
//!
//! The program is run several times under the runtime with a fill plan
//! (`MEMDX_UNINIT_PLAN`, see the runtime's `effects.rs`): every fresh
//! non-calloc block is filled with a base byte (0x00) or, for the sites a
//! run selects, an alternative byte. Its observable behaviour (stdout,
//! stderr, exit status or death by signal, the files its arguments name)
//! is compared between runs:
//!
//! 1. two runs with the base fill everywhere: when they differ the program
//!    is nondeterministic, said so, and nothing is blamed;
//! 2. one run with every site's blocks filled with 0xff (then 0x01, when
//!    0xff changed nothing): no difference, no finding;
//! 3. otherwise the sites (keyed by [`memdx_events::site_key`] of their
//!    stack; address randomization is off in every run, so keys and
//!    pointer values are the same from run to run) are split in two by a
//!    key bit, each half filled with the alternative byte on its own, and
//!    every half that still changes the behaviour is split again, down to
//!    single sites; each is confirmed by one more run and reported as an
//!    error with its allocation stack and the run count.
//!
//! The number of runs is capped (`--uninit-effects-runs`, default 32).

mod outcome;
mod report;
mod runner;
mod search;
mod sites;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use super::options::CheckOptions;
use crate::exit::Exit;
use outcome::Status;
use runner::{named_files, Plan, Runner};

/// The fill of every block in the reference runs: what fresh pages hold
/// natively.
const BASE: u8 = 0x00;
/// The alternative fills tried, in order, until one changes the behaviour.
const ALTERNATIVES: [u8; 2] = [0xff, 0x01];
/// The shortest default deadline of a run after the two first.
const DEADLINE_MIN: Duration = Duration::from_secs(10);
/// The default deadline in multiples of the slower of the two first runs.
const DEADLINE_FACTOR: u32 = 10;

/// The deadline of the runs after the two first (made without one), when
/// `--uninit-effects-timeout` does not set it: ten times the slower of
/// them, at least [`DEADLINE_MIN`], in whole seconds.
fn default_deadline(slowest: Duration) -> Duration {
    let d = (slowest * DEADLINE_FACTOR).max(DEADLINE_MIN);
    Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

/// Standard input read and replayed to each run, at most.
const STDIN_MAX: u64 = 256 << 20;

/// Runs `memdx check --uninit-effects=yes`.
pub fn run(opts: &CheckOptions, runtime: &Path) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // SAFETY: isatty has no preconditions.
    let stdin = if unsafe { libc::isatty(0) } == 1 {
        None
    } else {
        let mut buf = Vec::new();
        std::io::stdin()
            .take(STDIN_MAX)
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        Some(buf)
    };
    let dir = tempfile::Builder::new()
        .prefix("memdx-effects-")
        .tempdir()
        .context("creating a temporary directory")?;
    let mut r = Runner {
        opts,
        runtime,
        stdin,
        files: named_files(&opts.args),
        dir,
        runs: 0,
        cap: opts.uninit_effects_runs,
        sites: BTreeMap::new(),
        first_pid: None,
        deadline: opts
            .uninit_effects_timeout
            .filter(|&s| s > 0)
            .map(Duration::from_secs),
        slowest: Duration::ZERO,
        timed_out: 0,
    };
    let first = r.run(Plan::base())?;
    let second = r.run(Plan::base())?;
    if opts.uninit_effects_timeout.is_none() {
        // A fill that makes the program loop must not hang the check.
        r.deadline = Some(default_deadline(r.slowest));
    }
    let (found, verdict) = search::search(&mut r, &first, &second)?;
    // Leave the named files as the first run left them, and replay its
    // output: to the user, the check looks like one run of the program.
    r.restore_files(&first.files)?;
    let _ = std::io::stdout().write_all(&first.stdout);
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(&first.stderr);

    let pid = r.first_pid.unwrap_or(std::process::id());
    let report = report::EffectsReport::new(opts, pid, &found, &verdict, &r);
    let errors = report.errors();
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    report.write(opts, elapsed_ms)?;
    let code = match (errors > 0, opts.error_exitcode, first.status) {
        (true, Some(c), _) => c,
        (_, _, Status::Exit(c)) => c,
        // Only with --uninit-effects-timeout: the run was killed.
        (_, _, Status::TimedOut(_)) => 1,
        (_, _, Status::Signal(s)) => {
            // Die as the first run died.
            let _ = std::io::stderr().flush();
            // SAFETY: restoring the default action and raising the signal.
            unsafe {
                libc::signal(s, libc::SIG_DFL);
                libc::raise(s);
            }
            128 + s
        }
    };
    if code != 0 {
        return Err(Exit::silent(code as u8).into());
    }
    Ok(())
}
