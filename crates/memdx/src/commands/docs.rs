//! Shell completions and man pages, generated from the same clap grammar
//! that parses the arguments, so they cannot drift.

use std::io::{self, Write};

use anyhow::bail;
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
    let mut cmd = Cli::command().mut_subcommand("check", with_valgrind_options);
    let mut out = io::stdout().lock();
    clap_complete::generate(shell, &mut cmd, "memdx", &mut out);
    out.flush()?;
    Ok(())
}

/// What a Valgrind option of `memdx check` takes, for completion.
enum Takes {
    Nothing,
    OneOf(&'static [&'static str]),
    Number,
    File,
    Text,
}

const YES_NO: Takes = Takes::OneOf(&["yes", "no"]);
const LEAK_KINDS: Takes = Takes::OneOf(&[
    "definite",
    "indirect",
    "possible",
    "reachable",
    "all",
    "none",
]);

/// `memdx check`'s Valgrind options that do something (check parses its
/// own arguments, so clap does not know them): (long name, short, value,
/// help). `tests/completions.rs` runs memdx check with each one the
/// scripts offer, so a name here that check refuses fails the tests.
const CHECK_OPTIONS: &[(&str, Option<char>, Takes, &str)] = &[
    (
        "leak-check",
        None,
        Takes::OneOf(&["no", "summary", "full"]),
        "search for memory leaks at exit",
    ),
    (
        "show-leak-kinds",
        None,
        LEAK_KINDS,
        "leak kinds to show (comma separated, all, none)",
    ),
    (
        "errors-for-leak-kinds",
        None,
        LEAK_KINDS,
        "leak kinds that count as errors",
    ),
    (
        "error-exitcode",
        None,
        Takes::Number,
        "exit with this status when errors were found",
    ),
    ("num-callers", None, Takes::Number, "frames per stack"),
    (
        "log-file",
        None,
        Takes::File,
        "write the report to this file (%p = pid)",
    ),
    (
        "log-fd",
        None,
        Takes::Number,
        "write the report to this descriptor",
    ),
    (
        "exit-on-first-error",
        None,
        YES_NO,
        "stop the program at its first error",
    ),
    (
        "error-markers",
        None,
        Takes::Text,
        "BEGIN,END: lines printed before and after each error",
    ),
    (
        "show-error-list",
        None,
        YES_NO,
        "list error contexts and used suppressions at exit",
    ),
    ("quiet", Some('q'), Takes::Nothing, "errors only"),
    ("verbose", Some('v'), Takes::Nothing, "more detail"),
    (
        "trace-children",
        None,
        YES_NO,
        "check programs the program executes",
    ),
    (
        "child-silent-after-fork",
        None,
        YES_NO,
        "print nothing for the children of fork",
    ),
    (
        "freelist-vol",
        None,
        Takes::Number,
        "bytes of freed blocks held back per thread",
    ),
    (
        "freelist-big-blocks",
        None,
        Takes::Number,
        "freed blocks this big are held inaccessible",
    ),
    (
        "partial-loads-ok",
        None,
        YES_NO,
        "word loads partly outside a block are no error",
    ),
    (
        "uninit-effects",
        None,
        YES_NO,
        "rerun with different heap fills: which allocation sites change the behaviour",
    ),
    (
        "uninit-effects-runs",
        None,
        Takes::OneOf(&["32", "16", "64"]),
        "most runs --uninit-effects=yes makes (32)",
    ),
    (
        "uninit-effects-timeout",
        None,
        Takes::Number,
        "seconds a run of --uninit-effects=yes may take before it is killed (0: none; default 10x the first runs, at least 10)",
    ),
    (
        "redzone-size",
        None,
        Takes::Number,
        "bytes of redzone after each block",
    ),
    (
        "poison-size",
        None,
        Takes::Number,
        "bytes of a freed block poisoned",
    ),
    (
        "guard-pages",
        None,
        Takes::OneOf(&["all", "0", "4096"]),
        "guard-page pool size (0: off)",
    ),
    (
        "watch-blocks",
        None,
        YES_NO,
        "check each call site's first two blocks byte by byte, reads too (default yes)",
    ),
    (
        "xml",
        None,
        YES_NO,
        "write Valgrind's XML (with --xml-file or --xml-fd)",
    ),
    ("xml-file", None, Takes::File, "the XML file (%p = pid)"),
    ("xml-fd", None, Takes::Number, "the XML descriptor"),
    (
        "xml-user-comment",
        None,
        Takes::Text,
        "a comment copied into the XML",
    ),
    (
        "json",
        None,
        Takes::File,
        "write memdx's JSON report to this file",
    ),
    (
        "suppressions",
        None,
        Takes::File,
        "a Valgrind suppression file (repeatable)",
    ),
    (
        "default-suppressions",
        None,
        YES_NO,
        "use memdx's default suppressions",
    ),
    (
        "gen-suppressions",
        None,
        Takes::OneOf(&["no", "yes", "all"]),
        "print a suppression for each error",
    ),
];

/// The `check` subcommand as completion scripts see it: Valgrind's options
/// (written `--name=value`, as Valgrind takes them), then the program.
fn with_valgrind_options(check: clap::Command) -> clap::Command {
    use clap::{Arg, ArgAction, ValueHint};
    let mut check = check.mut_arg("args", |a| a.value_hint(ValueHint::CommandWithArguments));
    for (long, short, takes, help) in CHECK_OPTIONS {
        let mut arg = Arg::new(*long).long(*long).help(*help);
        if let Some(c) = short {
            arg = arg.short(*c);
        }
        arg = match takes {
            Takes::Nothing => arg.action(ArgAction::SetTrue),
            Takes::OneOf(values) => arg.require_equals(true).value_parser(values.to_vec()),
            Takes::Number => arg.require_equals(true).value_name("N"),
            Takes::File => arg
                .require_equals(true)
                .value_name("FILE")
                .value_hint(ValueHint::FilePath),
            Takes::Text => arg.require_equals(true).value_name("TEXT"),
        };
        check = check.arg(arg);
    }
    check.arg(
        Arg::new("show-error-list-short")
            .short('s')
            .action(ArgAction::SetTrue)
            .help("same as --show-error-list=yes"),
    )
}

pub fn man(command: Option<&str>) -> anyhow::Result<()> {
    let root = Cli::command();
    let (page, words) = match command {
        None => (root, "memdx".to_string()),
        Some(name) => {
            let Some(sub) = root.find_subcommand(name).cloned() else {
                bail!("no such command: {name} (see 'memdx --help')");
            };
            let full = format!("memdx-{name}");
            let page = sub
                .name(Box::leak(full.clone().into_boxed_str()) as &str)
                .bin_name(full)
                .version(env!("CARGO_PKG_VERSION"));
            (page, format!("memdx {name}"))
        }
    };
    let man = clap_mangen::Man::new(page.clone());
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    buf.extend(synopsis(&page, &words).into_bytes());
    man.render_description_section(&mut buf)?;
    if page.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut buf)?;
    }
    if page.has_subcommands() {
        man.render_subcommands_section(&mut buf)?;
    }
    let name = command.unwrap_or("");
    if let Some(text) = limitations(name) {
        buf.extend(format!(".SH LIMITATIONS\n{}\n", roff_text(text)).into_bytes());
    }
    buf.extend(format!(".SH \"EXIT STATUS\"\n{}\n", roff_text(exit_status(name))).into_bytes());
    buf.extend(format!(".SH \"SEE ALSO\"\n{}\n", roff_text(&see_also(name))).into_bytes());
    man.render_version_section(&mut buf)?;
    io::stdout().lock().write_all(&buf)?;
    Ok(())
}

/// `memdx free [OPTIONS]`, then the positional arguments and `<COMMAND>`:
/// the words a user types (clap_mangen would list every flag under the
/// page's `memdx-free` name).
fn synopsis(page: &clap::Command, words: &str) -> String {
    let mut line = format!("\\fB{}\\fR", words.replace('-', "\\-"));
    if page
        .get_arguments()
        .any(|a| !a.is_positional() && !a.is_hide_set())
    {
        line.push_str(" [\\fIOPTIONS\\fR]");
    }
    for arg in page.get_positionals().filter(|a| !a.is_hide_set()) {
        let name = arg.get_value_names().and_then(|v| v.first()).map_or_else(
            || arg.get_id().to_string().to_uppercase(),
            |v| v.to_string(),
        );
        let many = matches!(arg.get_action(), clap::ArgAction::Append);
        let dots = if many { "..." } else { "" };
        if name.contains(' ') {
            // A whole grammar in one value name (check's own parser).
            line.push_str(&format!(" {}", name.replace('-', "\\-")));
        } else if arg.is_required_set() {
            line.push_str(&format!(" \\fI{name}\\fR{dots}"));
        } else {
            line.push_str(&format!(" [\\fI{name}\\fR]{dots}"));
        }
    }
    if page.has_subcommands() {
        line.push_str(" \\fICOMMAND\\fR");
    }
    format!(".SH SYNOPSIS\n{line}\n")
}

/// Plain text for roff: backslashes and leading dots escaped, blank lines
/// as paragraph breaks.
fn roff_text(text: &str) -> String {
    text.split("\n\n")
        .map(|para| {
            let p = para.replace('\\', "\\e").replace('-', "\\-");
            if p.starts_with('.') || p.starts_with('\'') {
                format!("\\&{p}")
            } else {
                p
            }
        })
        .collect::<Vec<_>>()
        .join("\n.PP\n")
}

fn exit_status(command: &str) -> &'static str {
    match command {
        "free" | "vmstat" => "0 on success; 1 on a usage error or an unreadable or corrupt /proc file, as procps.",
        "ps" => "0 on success; 1 when --pid names no existing process (as ps -p), when --user names no user (as ps -u), on a usage error, or when /proc cannot be read.",
        "kmemleak" => "0 on success; 3 when 'kmemleak status' finds kmemleak not usable here (the diagnosis is printed either way); 1 on errors (the control file cannot be written, a report cannot be read); 1 on usage errors.",
        "check" => "The program's own exit status, or --error-exitcode's value when errors were found; a program killed by a signal ends memdx check with the same signal. 127 when the program does not exist, 126 when it cannot be executed; 1 on a usage error. With --uninit-effects=yes, the first run's status (or signal), or --error-exitcode's value when a site was found.",
        "completions" => "0 on success; 2 when no shell is named (the valid shells are listed).",
        "doctor" => "0 when nothing is worse than info; 3 when at least one finding is a warning; 4 when at least one is critical; 1 on errors (a bad option, no such process, /proc/meminfo unreadable).",
        "" => "0 on success; 1 on errors and usage errors (one line on standard error; a mistyped command or option names the nearest one); 2 when no command is given (the short help is printed).",
        _ => "0 on success; 1 on errors and usage errors (one line on standard error).",
    }
}

fn limitations(command: &str) -> Option<&'static str> {
    Some(match command {
        "check" => crate::commands::check::LIMITATIONS,
        "ps" | "top" => "PSS and USS need /proc/PID/smaps_rollup: other users' processes need root or CAP_SYS_PTRACE, and PID 1 and kernel threads are unreadable even for root; those cells are blank ('-').\n\n%CPU is percent of one CPU since the previous sample (top's first frame covers a 0.2 s sample). Times are local; the clock has no time-zone database of its own.",
        "oom" => "The kernel log is a ring buffer: kills older than what it still holds are not found in /dev/kmsg (pass a saved log or journalctl -k output). Reports interleaved with other CPUs' messages may lose task-table rows.\n\nTimes since boot (raw dmesg, saved /dev/kmsg records) become wall-clock times only live or with --boot-time; the live boot time is now minus the uptime, which drifts after a suspend (as dmesg -T does). Syslog stamps carry no year: it is taken from the file's modification time. Local times are read in this machine's zone (TZ).",
        "kmemleak" => "Needs a kernel built with CONFIG_DEBUG_KMEMLEAK, debugfs mounted, no lockdown, and root. kmemleak ignores objects younger than 5 seconds and reports suspects, not proofs.",
        "slab" => "Needs /proc/slabinfo (root) or /sys/kernel/slab; trends need a series of samples (--duration).",
        "watch" | "serve" => "A verdict needs at least 8 samples after the warm-up; with fewer it is 'too few samples to judge', which --fail-on-growth lets pass. Series longer than 400 samples are thinned evenly for the statistics. PSS needs /proc/PID/smaps_rollup: another user's process without root is judged on RSS. --name sums every matching process, so a worker starting or exiting shows as a jump. A cgroup needs its memory controller (cgroup v2, or v1's memory hierarchy).",
        "record" | "report" => "Only the largest --top N processes (20) and the named ones are recorded; a process that grows into the top N is recorded from the next pick on (every 10 s). A killed recorder loses the sample in flight; --retain deletes old samples, but the file does not shrink. Times are local; the clock has no time-zone database of its own.",
        "doctor" => "It observes for --duration (10 s by default): growth slower than what that window can show (a slab cache growing under about 100 KiB/s, a process under 1 MiB over the window) needs memdx watch or memdx slab over minutes. What cannot be read (the kernel log under kernel.dmesg_restrict, slabinfo as non-root, PSI on old kernels, other users' smaps_rollup) is left out and named in a note. --deep attaches to the process (ptrace: another user's process needs root, kernel.yama.ptrace_scope may forbid it; a statically linked one cannot be): when it cannot, a note says why. Its heap figures are sampled estimates of the blocks allocated during the window (not those allocated before), and memory mapped without malloc is not in them.",
        "heap" => "Children (fork) and programs the program executes are recorded only with --trace-children=yes, each into a recording of its own (FILE with %p as its pid, or FILE.PID; a later program executed by the same process adds .2, .3); memdx then waits for traced processes that outlive the program. Snapshots: memdx heap snapshot PID [NAME] (PID: the program's) or kill -USR1 to the memdx process (named snapshot-N) marks the moment in the program's recording; report --at NAME and diff FILE --from NAME --to NAME2 use it (a name that reads as a time is a time). The summary and report show the live heap beside what glibc holds (mallinfo2, at each burst) and the RSS/PSS (smaps_rollup, read by memdx at most every 20 ms and at the last burst). The program's own mmap/munmap are not counted. A program killed by a signal loses its last unflushed records. Like check, the heap is seen through LD_PRELOAD: a statically linked program, or one with its own malloc, is not profiled (a warning says so before it runs). --pid sees allocations made from the attach on, in the objects loaded then and those dlopened later (not through dlmopen, nor a bare-name dlopen from an object with a RUNPATH); a process killed by a signal while attached has no known exit status.",
        _ => return None,
    })
}

fn see_also(command: &str) -> String {
    let related: &[&str] = match command {
        "free" => &["free(1)", "memdx-vmstat(1)", "memdx-top(1)", "proc(5)"],
        "vmstat" => &["vmstat(8)", "memdx-free(1)", "proc(5)"],
        "ps" => &["ps(1)", "smem(8)", "memdx-top(1)", "proc(5)"],
        "top" => &["top(1)", "memdx-ps(1)", "memdx-free(1)"],
        "kmemleak" => &["memdx-slab(1)", "memdx-oom(1)", "dmesg(1)"],
        "slab" => &["slabtop(1)", "memdx-kmemleak(1)"],
        "oom" => &["dmesg(1)", "journalctl(1)", "memdx-ps(1)"],
        "check" => &["valgrind(1)", "memdx(1)"],
        "" => &[
            "memdx-free(1)",
            "memdx-vmstat(1)",
            "memdx-ps(1)",
            "memdx-top(1)",
            "memdx-kmemleak(1)",
            "memdx-slab(1)",
            "memdx-oom(1)",
            "memdx-check(1)",
        ],
        _ => &["memdx(1)"],
    };
    related.join(", ")
}
