//! `memdx check`: run a program under memdx's checker runtime and print a
//! Valgrind-memcheck-style report.
//!
//! The CLI listens on a Unix socket, starts the program with the runtime
//! preloaded (`LD_PRELOAD`) and the socket's path in `MEMDX_EVENTS_SOCK`,
//! and renders each process's event stream (the program and every fork
//! child connect separately) as it arrives. The program's stdin, stdout and
//! stderr are its own; its exit status (or death by signal) becomes ours
//! as soon as its own report is complete: the process the user waits for
//! is a thin front (`front.rs`), and processes the program left running
//! are reported by the worker left behind, into `%p` files (`session.rs`).

mod analysis;
mod effects;
pub(crate) mod front;
pub(crate) mod interpose;
mod limits;
mod options;
pub(crate) mod runtime_lib;
mod session;
pub(crate) mod symbolize;

use std::ffi::OsString;

use clap::Args;

use crate::exit::Exit;

pub use limits::{HELP_SECTION as LIMITATIONS_HELP, LIMITATIONS};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Valgrind memcheck options (--leak-check=no|summary|full,
    /// --show-leak-kinds=..., --errors-for-leak-kinds=..., --error-exitcode=N,
    /// --num-callers=N, --log-file=FILE (%p = pid), --log-fd=N, -q, -v,
    /// -s/--show-error-list=yes, --exit-on-first-error=yes, --trace-children=yes|no,
    /// --freelist-vol=N (bytes of freed blocks held back per thread, memdx's
    /// default 2000000), --freelist-big-blocks=N (freed blocks of at least N bytes
    /// that it does not hold are kept inaccessible until the next allocation, default
    /// 1000000), --partial-loads-ok=yes|no (default yes), --redzone-size=BYTES
    /// (default 16), --guard-pages=N|all|0
    /// (guard-page pool size, default 4096; 0 turns it off), --watch-blocks=yes|no
    /// (each call site's first two blocks checked byte by byte, reads too; default
    /// yes: see LIMITATIONS), --poison-size=BYTES (default
    /// 32), --xml=yes with --xml-file=FILE
    /// (%p = pid) or --xml-fd=N, --json=FILE, --suppressions=FILE (repeatable),
    /// --default-suppressions=yes|no, --gen-suppressions=all|yes,
    /// --uninit-effects=yes (memdx: run the program several times with
    /// different fills of fresh heap blocks and name the allocation sites
    /// whose fill changes its behaviour; text, --xml and --json reports) with
    /// --uninit-effects-runs=N (the most runs, default 32) and
    /// --uninit-effects-timeout=SECONDS (a run's deadline)), then the
    /// program and its arguments. Separate debug files are also looked for
    /// under the directories in MEMDX_DEBUG_DIRS (colon-separated). Resolved
    /// frames are kept between runs under $XDG_CACHE_HOME/memdx/frames
    /// (MEMDX_SYMBOL_CACHE=off: not).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "[OPTIONS] [--] PROGRAM [ARGS]"
    )]
    args: Vec<OsString>,
}

pub fn run(args: CheckArgs) -> anyhow::Result<()> {
    let opts = options::parse(&args.args).map_err(|e| {
        Exit::new(
            1,
            format!("memdx check: {} (see 'memdx check --help')", e.0),
        )
    })?;
    let mut opts = opts;
    for w in &opts.warnings {
        eprintln!("{w}");
    }
    let _ = session::start_clock();
    // As Valgrind, refuse up front an output file that cannot be created
    // (the XML and JSON are written when the program ends).
    let outputs = [
        opts.xml_file.as_ref().filter(|_| opts.xml),
        opts.json_file.as_ref(),
    ];
    for file in outputs.into_iter().flatten() {
        let dir = std::path::Path::new(file)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !dir.is_dir() {
            return Err(Exit::new(
                1,
                format!(
                    "memdx check: cannot create '{file}': {} is not a directory",
                    dir.display()
                ),
            )
            .into());
        }
    }
    let mut supps = Vec::new();
    if opts.default_suppressions {
        let defaults = memdx_supp::parse(
            memdx_supp::DEFAULT_SUPPRESSIONS,
            std::path::Path::new("<memdx default suppressions>"),
        )
        .map_err(|e| Exit::new(1, format!("memdx check: {e}")))?;
        supps.extend(defaults);
    }
    for f in &opts.suppression_files {
        let parsed = memdx_supp::parse_file(std::path::Path::new(f)).map_err(|e| {
            if e.line == 0 {
                Exit::new(1, format!("memdx check: {e}"))
            } else {
                Exit::new(1, format!("memdx check: bad suppression file: {e}"))
            }
        })?;
        supps.extend(parsed);
    }
    opts.suppressions = std::sync::Arc::new(supps);
    let runtime = runtime_lib::path()?;
    if opts.uninit_effects {
        return effects::run(&opts, &runtime);
    }
    session::run(&opts, &runtime)
}
