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
        override_help = commands::free::HELP,
        long_about = "Display the amount of free and used memory in the system, exactly as \
procps-ng 4.0.2's free(1) does for the same /proc/meminfo (same options, same columns, same \
rounding). Add --json for one JSON object per report, sizes in bytes."
    )]
    Free(commands::free::FreeArgs),

    /// Virtual memory statistics, as procps `vmstat` prints them.
    #[command(
        disable_help_flag = true,
        disable_version_flag = true,
        infer_long_args = true,
        args_override_self = true,
        override_help = commands::vmstat::HELP,
        long_about = "Report virtual memory statistics (processes, memory, paging, block I/O, \
traps, disks, CPU) exactly as procps-ng 4.0.2's vmstat(8) does for the same /proc files: same \
options, columns, rounding, header repetition and quirks. Add --json for one JSON object per \
report (sizes in bytes, exact per-second rates; see docs/json.md).\n\n\
Known procps 4.0.2 quirks, kept by default: the first report's rates are divided by the ticks \
of all CPUs together (too small by the number of CPUs; --exact-rates divides by the uptime), \
and the memory columns keep the first sample's values in every later report (--fresh-memory \
re-reads them).\n\n\
Deviations: a corrupt or truncated /proc file is an error naming the file and line (procps \
prints zeros or a generic message); usage errors print one line, not the usage text; -V names \
memdx's version too."
    )]
    Vmstat(commands::vmstat::VmstatArgs),
    /// Every process's memory: RSS, PSS, USS, swap, shared, cgroup (like ps aux + smem).
    #[command(
        disable_help_flag = true,
        long_about = "List processes with their memory: RSS (resident), PSS (proportional: \
shared pages divided among sharers, so PSS sums to real usage), USS (unique: freed if the \
process exits), SWAP, SHR (resident shared), VIRT, %MEM (RSS/MemTotal) and the cgroup \
(container or service) the memory is charged to. Sorted by PSS, largest first.\n\n\
PSS and USS of other users' processes need root (or CAP_SYS_PTRACE); without it those \
cells are '-' and a note on stderr says why. --fast skips smaps_rollup and cgroup altogether."
    )]
    Ps(commands::ps::PsArgs),

    /// Live, memory-first process view (TUI); -b prints frames like top's batch mode.
    #[command(
        long_about = "A live view of memory: Mem/Swap lines as top shows them plus \
MemAvailable and memory pressure (PSI), and every process with RSS, PSS, USS, SWAP, SHR, \
VIRT, %MEM, %CPU and cgroup. Keys: M/P sort by memory/CPU, < > pick the sort column, R \
reverses, / filters (regex), c toggles program names / command lines, e/E cycle units, d \
sets the delay, arrows/PgUp/PgDn select, h or ? lists the keys, q quits. CGROUP shows the \
container or systemd unit (docker:3f2a9c1be0d4, user@1000.service). -b prints top's summary \
lines and the table cut to -w/$COLUMNS/80 columns (-p, -u, -c, --json as top's). The pane at the bottom shows where the selected process's memory is (heap, \
stacks, anonymous, file, shared) and its RSS/PSS since the view started."
    )]
    Top(commands::top::TopArgs),

    /// Kernel memory leaks: kmemleak status, scan, report, diff and control.
    Kmemleak(commands::kmemleak::KmemleakArgs),

    /// Slab caches like slabtop, kernel memory, and caches that keep growing.
    Slab(commands::slab::SlabArgs),

    /// OOM kills from the kernel log: victim, RSS at the kill, constraint, cgroup, task table.
    Oom(commands::oom::OomArgs),
    /// What is wrong with memory here: pressure, who owns it, what grows, and the next command to run.
    #[command(
        long_about = "Observe the machine (or a PID, --name REGEX or --cgroup PATH) for --duration \
(10 s by default), then print findings worst first, each with its evidence and the memdx command to \
run next: memory pressure (MemAvailable, PSI stall, swapping and direct reclaim, OOM kills in the \
kernel log), who owns the memory (PSS and USS per process, cgroups, memory by kind), and what grew \
during the window (rate with a 95% confidence interval and time to the limit; unreclaimable slab \
caches). A healthy machine gets one line.",
        after_help = commands::doctor::AFTER_HELP
    )]
    Doctor(commands::doctor::DoctorArgs),
    /// Memory of a process, a group of processes or a cgroup over time: growing, stable, sawtooth or step.
    #[command(
        long_about = "Sample a process (PID), the processes matching --name REGEX (summed) or a \
cgroup (--cgroup PATH, v2 or v1) every --interval: RSS, PSS, USS, swap and anonymous memory (a cgroup: \
memory.current, working set, anon, file, swap), one line per sample with the trend so far. At the \
end (--duration reached, Ctrl-C, or the process exits) print a verdict with its evidence: growing \
steadily (rate with a 95% confidence interval, and when a limit would be reached), stable, \
sawtooth (grows and is released periodically; judged on the troughs), or step (one jump, then \
flat). Robust statistics: Theil-Sen slope, Mann-Kendall test, per-window minima.",
        after_help = commands::watch::AFTER_HELP
    )]
    Watch(commands::watch::WatchArgs),

    /// Prometheus/OpenMetrics endpoint: node_exporter's memory names, per-process and cgroup memory.
    #[command(
        long_about = "Serve /metrics over HTTP for Prometheus: /proc/meminfo as node_exporter names \
it (node_memory_MemAvailable_bytes, ...), paging and OOM counters from /proc/vmstat, memory \
pressure (PSI), memory per process name as process-exporter names it \
(namedprocess_namegroup_memory_bytes), cgroup memory (memdx_cgroup_memory_bytes), and the \
trend of the processes and cgroups named by --watch* (memdx_trend_*: slope with its 95% interval, \
verdict, time to the limit; judged as memdx watch judges). Each scrape reads /proc afresh; scrapes are answered concurrently. Listens on loopback unless told \
otherwise.",
        after_help = commands::serve::AFTER_HELP
    )]
    Serve(commands::serve::ServeArgs),
    /// Run a program under memdx's checker: leaks and bad frees, Valgrind-style report.
    #[command(
        long_about = "Run PROGRAM with memdx's checker runtime preloaded (unmodified binary) and \
print a Valgrind-memcheck-style report on stderr: invalid, double and mismatched frees as they \
happen, then the HEAP SUMMARY, loss records and LEAK SUMMARY at exit. Options use Valgrind's \
names and defaults; Valgrind options memdx does not implement yet print a warning and are \
ignored. The program's output, exit status and death by signal are passed through.\n\n\
Does the behaviour depend on uninitialised heap memory? (--uninit-effects=yes, memdx's own; \
memcheck, ASan and MSan have no such mode): memdx runs the program several times with fresh \
heap blocks filled differently (0x00, then 0xff or 0x01; address randomization off) and \
compares what it does: stdout, stderr, exit status or death by signal, the files its \
arguments name. Two runs with the same fill come first, so a nondeterministic program is \
said to be one and nothing is blamed. When a fill changes the behaviour, the allocation \
sites are bisected (half of them refilled per run) down to the site or sites responsible, \
each reported as \"Behaviour depends on uninitialised heap memory\" with what changed, \
its allocation stack and the runs it took. --uninit-effects-runs=N caps the runs (32). \
The program's stdin is read to its end first and given to every run; its output and \
exit status are those of the first run, and the files it names are left as that run \
left them.\n\n\
Set MEMDX_RUNTIME=PATH to use a specific libmemdx_runtime.so.",
        after_long_help = commands::check::LIMITATIONS_HELP
    )]
    Check(commands::check::CheckArgs),

    /// Where the memory goes while a program runs: allocation profiling, peak, temporaries.
    #[command(
        long_about = "Run PROGRAM with memdx's runtime preloaded in profiling mode (unmodified \
binary; allocations go straight to the C library) and record every allocation and release, or \
with --sample a Poisson sample of them, with its stack and time into a compressed recording \
(-o FILE, default memdx-heap.PID.mdxh). The program's output, exit status and death by signal \
are passed through; at exit a summary goes to stderr: the peak heap and when, allocations, \
the top sites at the peak, the sites still holding memory at exit, the top sources of \
temporary allocations. `memdx heap --pid PID [--duration D]` attaches to a running, \
dynamically linked process instead (ptrace; sampled by default, --sample 1 for every \
allocation), records from then on, and detaches on Ctrl-C or after D, leaving it running as \
before. `memdx heap report FILE` prints a recording's views. See docs/heap.md."
    )]
    Heap(commands::heap::HeapArgs),

    /// Record system, cgroup and process memory into an SQLite file (for `memdx report`).
    #[command(
        long_about = "Record memory at a fixed interval into an SQLite database (WAL mode): \
/proc/meminfo, /proc/vmstat and memory PSI, every cgroup's memory, and the largest processes \
(plus any named with --pid/--process). One transaction per sample: killed, even with SIGKILL, \
it loses at most the sample in flight; on a full disk it stops with a message and the file \
stays readable. Samples older than --retain are deleted. Read it back with `memdx report`."
    )]
    Record(commands::record::RecordArgs),

    /// Summarize a recording: memory min/avg/max, what grew most, leak suspects, charts.
    #[command(
        long_about = "Read a database written by `memdx record` and report on a time \
window (--since/--until: UTC dates such as '2026-12-07 10:00', '-1h' before now, or unix \
seconds): min/avg/max of used (MemTotal - MemAvailable), available and swap used; the \
memory pressure share; the processes and cgroups that grew most; and leak suspects, judged \
with the same trend analysis as `memdx watch` (Theil-Sen slope with its 95% interval, \
Mann-Kendall, sawtooth and step detection). --plot FILE.svg or FILE.png draws system memory \
stacked over time and the largest processes' and cgroups' memory. Times are printed in UTC."
    )]
    Report(commands::report::ReportArgs),

    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to generate completions for (without it, the valid shells are listed).
        shell: Option<clap_complete::Shell>,
    },

    /// Print memdx's man page (roff) to stdout: `memdx man | man -l -`.
    Man {
        /// A command to print the page of (`memdx man free`); the main page when absent.
        command: Option<String>,
    },
}
