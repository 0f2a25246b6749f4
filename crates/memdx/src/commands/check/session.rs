//! One checked run: the socket, the program, one reader thread per stream
//! (a process sends one stream per burst of records; those of one process
//! are joined into its report), and the program's fate turned into ours.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use memdx_events::{needs_ack, EventReader, FLAG_CONTINUATION, FLAG_FORK_CHILD};

use super::front::{self, Ending};
use super::options::{CheckOptions, LeakCheck};
use memdx_analyzer::{ProcessReport, Sink};

/// Where reports go: stderr, `--log-fd` or `--log-file` (with `%p` per
/// process). In XML mode the text report is not written at all (Valgrind
/// 3.19 prints nothing there then; a `--log-file` is created empty).
#[derive(Clone)]
struct Output {
    template: Option<String>,
    files: Arc<Mutex<HashMap<PathBuf, Arc<Mutex<File>>>>>,
    /// `--log-fd=N` (a duplicate of it).
    fd: Option<Arc<Mutex<File>>>,
    silent: bool,
    /// No more text (see [`ProcessSink::muted`]).
    muted: Arc<AtomicBool>,
}

struct ProcessSink {
    file: Option<Arc<Mutex<File>>>,
    silent: bool,
    /// Set once the program's own report is complete and the text of
    /// processes still running has nowhere to go (see `run`).
    muted: Option<Arc<AtomicBool>>,
}

impl Sink for ProcessSink {
    fn write_chunk(&mut self, text: &str) {
        if !self.silent {
            self.write_always(text);
        }
    }

    fn write_always(&mut self, text: &str) {
        if self
            .muted
            .as_ref()
            .is_some_and(|m| m.load(Ordering::Acquire))
        {
            return;
        }
        // A report that cannot be written (closed stderr, full disk) must
        // not change the program's fate; it is dropped.
        match &self.file {
            Some(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = f.write_all(text.as_bytes());
                }
            }
            None => {
                let mut e = std::io::stderr().lock();
                let _ = e.write_all(text.as_bytes());
                let _ = e.flush();
            }
        }
    }
}

impl Output {
    fn sink(&self, pid: u32) -> ProcessSink {
        let mut sink = self.unmuted_sink(pid);
        sink.muted = Some(self.muted.clone());
        sink
    }

    /// A sink that writes even once the output is muted (memdx's own note).
    fn unmuted_sink(&self, pid: u32) -> ProcessSink {
        let silent = self.silent;
        let Some(t) = &self.template else {
            return ProcessSink {
                file: self.fd.clone(),
                silent,
                muted: None,
            };
        };
        let path = PathBuf::from(expand_log_name(t, pid));
        let file = self.files.lock().ok().and_then(|mut files| {
            if let Some(f) = files.get(&path) {
                return Some(f.clone());
            }
            let f = File::create(&path).ok().map(|f| Arc::new(Mutex::new(f)));
            if let Some(f) = &f {
                files.insert(path.clone(), f.clone());
            }
            f
        });
        if file.is_none() {
            eprintln!(
                "memdx check: cannot create log file '{}'; reporting to stderr",
                path.display()
            );
        }
        ProcessSink {
            file,
            silent,
            muted: None,
        }
    }
}

/// A duplicate of the user's descriptor `fd` (`--log-fd`, `--xml-fd`), or
/// None when it is not open (Valgrind then falls back to stderr).
fn user_fd(fd: i32) -> Option<File> {
    use std::os::fd::FromRawFd;
    // SAFETY: F_DUPFD_CLOEXEC on any number is harmless; a new descriptor
    // is ours to own.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    // SAFETY: `dup` is a fresh descriptor owned by nobody else.
    (dup >= 0).then(|| unsafe { File::from_raw_fd(dup) })
}

/// Valgrind's `--log-file` expansion: `%p` is the pid, `%%` a percent sign.
fn expand_log_name(t: &str, pid: u32) -> String {
    let mut out = String::new();
    let mut chars = t.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('p') => out.push_str(&pid.to_string()),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Starts the clock the XML's `<time>` counts from (memdx's start).
pub fn start_clock() -> std::time::Instant {
    *START.get_or_init(std::time::Instant::now)
}

/// Milliseconds since [`start_clock`].
pub fn elapsed_ms() -> u64 {
    u64::try_from(start_clock().elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Writes the machine-readable reports of one process: `--xml-file` /
/// `--xml-fd` (with `--xml=yes`) and `--json`. A file name without `%p`
/// is written by the program's own process only (fork children and
/// exec'd programs need `%p` to get their own file, as under Valgrind).
fn write_machine_reports(
    report: &ProcessReport,
    opts: &CheckOptions,
    pid: u32,
    main_pid: u32,
    xml_out: Option<&File>,
) {
    let wants = |t: &Option<String>| {
        t.as_ref()
            .filter(|t| pid == main_pid || t.contains("%p"))
            .map(|t| PathBuf::from(expand_log_name(t, pid)))
    };
    let xml_path = if opts.xml {
        wants(&opts.xml_file)
    } else {
        None
    };
    let xml_fd = xml_out.filter(|_| opts.xml && pid == main_pid);
    let json_path = wants(&opts.json_file);
    if xml_path.is_none() && xml_fd.is_none() && json_path.is_none() {
        return;
    }
    let model = report.to_report();
    // After --exit-on-first-error, Valgrind closes the document right
    // after that error.
    let write_xml = |m: &memdx_report::Report, w: &mut dyn Write| {
        if report.stop_requested {
            memdx_report::xml::write_stopped(m, w)
        } else {
            memdx_report::xml::write(m, w)
        }
    };
    if let Some(path) = xml_path {
        let r = File::create(&path).and_then(|f| {
            let mut w = std::io::BufWriter::new(f);
            write_xml(&model, &mut w)?;
            w.flush()
        });
        if let Err(e) = r {
            eprintln!(
                "memdx check: cannot write XML file '{}': {e}",
                path.display()
            );
        }
    }
    if let Some(f) = xml_fd {
        let mut w = std::io::BufWriter::new(f);
        if let Err(e) = write_xml(&model, &mut w).and_then(|()| w.flush()) {
            eprintln!("memdx check: cannot write XML to --xml-fd: {e}");
        }
    }
    if let Some(path) = json_path {
        let r = File::create(&path)
            .map_err(memdx_report::ReportError::from)
            .and_then(|f| memdx_report::json::write(&model, std::io::BufWriter::new(f)));
        if let Err(e) = r {
            eprintln!(
                "memdx check: cannot write JSON file '{}': {e}",
                path.display()
            );
        }
    }
}

/// How memdx ends: as the program did, or with `--error-exitcode`'s
/// status when the program's own report has errors.
fn ending(status: ExitStatus, errors: u64, error_exitcode: Option<i32>) -> Ending {
    match (error_exitcode, status.signal()) {
        (Some(code), _) if errors > 0 => Ending::Code(code),
        (_, Some(sig)) => Ending::Signal(sig),
        _ => Ending::Code(status.code().unwrap_or(1)),
    }
}

fn command_line(program: &OsString, args: &[OsString]) -> String {
    memdx_analyzer::command_text(
        std::iter::once(program)
            .chain(args.iter())
            .map(|a| a.as_bytes()),
    )
}

/// Whether `pid` still runs (a zombie does not: it died without reporting).
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

/// Whether `pid` still has the runtime (file name `runtime_name`) mapped:
/// a process whose stream ended early (it closed every descriptor, as
/// daemons do) still reports at its exit, over a new connection. One that
/// exec'd an unchecked program never will.
fn runtime_loaded(pid: u32, runtime_name: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/maps")).is_ok_and(|maps| maps_name(&maps, runtime_name))
}

/// Whether a `/proc/PID/maps` text maps a file named `name` (also one
/// deleted since: the user may clear the cache while a daemon runs).
fn maps_name(maps: &[u8], name: &[u8]) -> bool {
    maps.split(|&b| b == b'\n').any(|line| {
        let line = line.strip_suffix(b" (deleted)").unwrap_or(line);
        line.ends_with(name) && line.len() > name.len() && line[line.len() - name.len() - 1] == b'/'
    })
}

/// One process's report, fed by each of its streams in turn (the runtime
/// connects once per burst of records and waits until a stream is read
/// before it opens the next).
struct Process {
    pid: u32,
    /// The report is complete and its machine-readable files written.
    done: AtomicBool,
    report: Mutex<Rendering>,
}

/// A process's report and where its text goes.
struct Rendering {
    report: ProcessReport,
    sink: ProcessSink,
}

/// Every process report of the run, in the order they started.
type Processes = Arc<Mutex<Vec<Arc<Process>>>>;

/// The report a stream with `header` belongs to: the latest one of its pid
/// for a continuation, a new one otherwise (a program exec'd in the same
/// process starts a new report; the old image's report is closed as it is).
fn process_for(
    header: &memdx_events::Header,
    processes: &Processes,
    out: &Output,
    opts: &CheckOptions,
    main_pid: u32,
    xml_out: Option<&File>,
) -> Option<Arc<Process>> {
    let mut list = processes.lock().ok()?;
    let latest = list.iter().rev().find(|p| p.pid == header.pid).cloned();
    if header.flags & FLAG_CONTINUATION != 0 {
        if let Some(p) = latest.clone().filter(|p| !p.done.load(Ordering::Acquire)) {
            return Some(p);
        }
    }
    if let Some(old) = latest.filter(|p| !p.done.swap(true, Ordering::AcqRel)) {
        if let Ok(r) = old.report.lock() {
            write_machine_reports(&r.report, opts, old.pid, main_pid, xml_out);
        }
    }
    let mut report = super::analysis::new_report(header.pid, opts);
    // A program exec'd under --trace-children=yes gets its own preamble
    // (when its command line arrives).
    report.announce_command = header.pid != main_pid && header.flags & FLAG_FORK_CHILD == 0;
    let p = Arc::new(Process {
        pid: header.pid,
        done: AtomicBool::new(false),
        report: Mutex::new(Rendering {
            report,
            sink: out.sink(header.pid),
        }),
    });
    list.push(p.clone());
    Some(p)
}

/// Closes a process's report and writes its machine-readable files. An
/// unfinished one is said to be so when `say_so` (the process died in the
/// middle of a stream, or it is the program's own process).
fn close_report(
    p: &Process,
    say_so: bool,
    opts: &CheckOptions,
    main_pid: u32,
    xml_out: Option<&File>,
) {
    if p.done.swap(true, Ordering::AcqRel) {
        return;
    }
    if let Ok(mut r) = p.report.lock() {
        let Rendering { report, sink } = &mut *r;
        if !report.finished && say_so {
            report.abandoned(sink);
        }
        write_machine_reports(report, opts, p.pid, main_pid, xml_out);
    }
}

/// Reads one stream to its end into its process's report, and closes the
/// connection only then (the runtime waits for that before its next
/// stream).
fn serve(
    stream: UnixStream,
    opts: CheckOptions,
    out: Output,
    main_pid: u32,
    xml_out: Option<Arc<File>>,
    state: &ReaderState,
    processes: &Processes,
) {
    let _ = stream.set_nonblocking(false);
    let mut acks = stream.try_clone().ok();
    let mut reader = EventReader::new(BufReader::with_capacity(1 << 16, stream));
    let Ok(header) = reader.read_header() else {
        return;
    };
    state.pid.store(header.pid, Ordering::Release);
    let Some(process) = process_for(
        &header,
        processes,
        &out,
        &opts,
        main_pid,
        xml_out.as_deref(),
    ) else {
        return;
    };
    let Ok(mut guard) = process.report.lock() else {
        return;
    };
    let Rendering { report, sink } = &mut *guard;
    loop {
        match reader.next_event() {
            Ok(Some(ev)) => {
                let ack = needs_ack(&ev);
                let stopping = report.stop_requested;
                report.handle(ev, sink);
                if ack {
                    // --exit-on-first-error: the runtime ends the process
                    // with --error-exitcode's status (memdx-events'
                    // "Acknowledgements").
                    let reply = if report.stop_requested && !stopping {
                        let code = opts.error_exitcode.unwrap_or(0);
                        vec![memdx_events::ACK_EXIT, code as u8]
                    } else {
                        vec![memdx_events::ACK_CONTINUE]
                    };
                    if let Some(a) = acks.as_mut() {
                        let _ = a.write_all(&reply);
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                sink.write_chunk(&format!("=={}== memdx: {e}\n", header.pid));
                break;
            }
        }
    }
    let finished = report.finished;
    drop(guard);
    if finished || !process_alive(header.pid) {
        close_report(&process, true, &opts, main_pid, xml_out.as_deref());
    }
}

/// Whether a connection waits in `listener`'s queue.
fn connection_waiting(listener: &UnixListener) -> bool {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd on a descriptor the listener owns; no waiting.
    unsafe { libc::poll(&mut pfd, 1, 0) > 0 }
}

/// A bell the reader threads ring when something the main thread waits
/// for happened (a stream ended, a reader was listed).
#[derive(Default)]
struct Activity {
    rung: Mutex<bool>,
    bell: std::sync::Condvar,
}

impl Activity {
    fn ring(&self) {
        if let Ok(mut rung) = self.rung.lock() {
            *rung = true;
            self.bell.notify_all();
        }
    }

    /// Waits for a ring (one since the last wait counts) or `timeout`.
    fn wait(&self, timeout: Duration) {
        if let Ok(rung) = self.rung.lock() {
            if let Ok((mut rung, _)) = self.bell.wait_timeout_while(rung, timeout, |r| !*r) {
                *rung = false;
            }
        }
    }
}

/// Waits until `listener` has a connection to accept, or `timeout`.
fn wait_readable(listener: &UnixListener, timeout: Duration) {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one pollfd on a descriptor the listener owns.
    unsafe { libc::poll(&mut pfd, 1, ms) };
}

/// What the main thread knows of one process stream's reader.
#[derive(Default)]
struct ReaderState {
    /// The process's pid, once its header is read (0 before).
    pid: std::sync::atomic::AtomicU32,
    /// The stream has ended.
    done: AtomicBool,
}

struct Reader {
    handle: std::thread::JoinHandle<()>,
    state: Arc<ReaderState>,
}

/// Signals whose default action would end memdx while the program runs:
/// they are the program's (Valgrind is the program's process, so a signal
/// sent to "valgrind" reaches the program).
const FORWARDED: [i32; 13] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGXCPU,
    libc::SIGIO,
    libc::SIGPWR,
    libc::SIGSTKFLT,
];

/// The program's pid while it runs; 0 before it starts (signals are then
/// kept in `HELD`), -1 once it has exited (nothing is forwarded: the pid
/// may be reused).
static CHILD_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
/// Signals received before the program started (bit per signal).
static HELD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// The front's pid (`front.rs`): the signals it relays are the ones sent
/// to memdx.
static FRONT_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// memdx's handler for [`FORWARDED`]: sends a signal the front relayed on
/// to the program. Others are not: one a terminal sent (`si_code`
/// `SI_KERNEL`: ^C, ^\, hangup) went to the whole foreground process group,
/// the program included, and one sent to the front's process group (or by
/// name) reached the front too, which relays it.
extern "C" fn forward_signal(sig: i32, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo; si_pid is meaningful for
    // SI_USER.
    let from_front = !info.is_null()
        && unsafe {
            (*info).si_code == libc::SI_USER
                && (*info).si_pid() == FRONT_PID.load(Ordering::Acquire)
        };
    if !from_front {
        return;
    }
    let pid = CHILD_PID.load(Ordering::Acquire);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe; the pid is not reaped yet
        // (see `wait_program`).
        unsafe { libc::kill(pid, sig) };
    } else if pid == 0 {
        HELD.fetch_or(1 << sig, Ordering::AcqRel);
    }
}

/// Gives the signals [`install_forwarding`] caught their default action
/// back (a collector left behind must stay killable).
fn stop_forwarding() {
    for sig in FORWARDED {
        // SAFETY: querying and setting dispositions with local structs.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == forward_signal as *const () as usize
            {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
}

/// Installs [`forward_signal`] for each signal of [`FORWARDED`] that memdx
/// was not started with ignored.
fn install_forwarding() {
    for sig in FORWARDED {
        // SAFETY: querying and setting dispositions with local structs.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0
                || old.sa_sigaction == libc::SIG_IGN
            {
                continue;
            }
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = forward_signal as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// The program runs as `pid`: signals from now on are forwarded, and those
/// that came while it was starting are sent now.
fn start_forwarding(pid: u32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    CHILD_PID.store(pid, Ordering::Release);
    let held = HELD.swap(0, Ordering::AcqRel);
    for sig in FORWARDED {
        if held & (1 << sig) != 0 {
            // SAFETY: the program is running (not reaped).
            unsafe { libc::kill(pid, sig) };
        }
    }
}

/// Waits for the program to end. Forwarding stops before the process is
/// reaped, so a signal is never sent to a reused pid.
fn wait_program(child: &mut std::process::Child) -> anyhow::Result<ExitStatus> {
    let pid: libc::id_t = child.id();
    loop {
        // SAFETY: waitid with WNOWAIT leaves the child to reap below.
        let r = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT)
        };
        if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    CHILD_PID.store(-1, Ordering::Release);
    child.wait().context("waiting for the program")
}

/// The run's private directory (mode 0700) for the events socket, removed
/// when the run ends.
fn make_temp_dir() -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("memdx-check-")
        .tempdir()
        .with_context(|| format!("creating a directory in {}", std::env::temp_dir().display()))
}

/// Runs the program under the checker. memdx first splits into the front
/// (the process the user waits for, `front.rs`) and this worker; the call
/// returns in the worker only, once every report it collects is written
/// (the front has ended as the program did by then).
pub fn run(opts: &CheckOptions, runtime: &Path) -> anyhow::Result<()> {
    // While the program runs, a signal that would end memdx is the
    // program's (see `forward_signal`); memdx stays to print the report.
    // One relayed before the program starts is held until it does. A
    // signal memdx was started with ignored stays ignored, for the program
    // too (exec keeps SIG_IGN; caught signals become SIG_DFL).
    FRONT_PID.store(
        i32::try_from(std::process::id()).unwrap_or(0),
        Ordering::Release,
    );
    let mut front = front::split(&FORWARDED, install_forwarding)?;
    // What memdx was started with (the program inherits it): a collector
    // left behind lets go of it.
    let mut user_fds: Vec<i32> = open_descriptors()
        .into_iter()
        .filter(|&fd| fd != front.raw_fd())
        .collect();
    let dir = make_temp_dir()?;
    let sock = dir.path().join("events.sock");
    let listener =
        UnixListener::bind(&sock).with_context(|| format!("listening on {}", sock.display()))?;
    listener.set_nonblocking(true)?;

    let mut preload = runtime.as_os_str().to_os_string();
    if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        preload.push(":");
        preload.push(old);
    }
    let mut cmd = Command::new(&opts.program);
    cmd.args(&opts.args)
        .env("LD_PRELOAD", preload)
        .env("MEMDX_EVENTS_SOCK", &sock)
        .env("MEMDX_NUM_CALLERS", opts.num_callers.to_string())
        .env(
            "MEMDX_TRACE_CHILDREN",
            if opts.trace_children { "yes" } else { "no" },
        );
    if opts.leak_check == LeakCheck::No {
        cmd.env("MEMDX_LEAK_CHECK", "no");
    }
    if let Some(v) = opts.freelist_vol {
        cmd.env("MEMDX_FREELIST_VOL", v.to_string());
    }
    if let Some(v) = opts.freelist_big_blocks {
        cmd.env("MEMDX_FREELIST_BIG_BLOCKS", v.to_string());
    }
    if !opts.partial_loads_ok {
        cmd.env("MEMDX_PARTIAL_LOADS_OK", "no");
    }
    if !opts.undef_value_errors {
        cmd.env("MEMDX_UNDEF_VALUE_ERRORS", "no");
    }
    if let Some(v) = opts.redzone_size {
        cmd.env("MEMDX_REDZONE_SIZE", v.to_string());
    }
    if let Some(v) = opts.poison_size {
        cmd.env("MEMDX_POISON_SIZE", v.to_string());
    }
    if let Some(v) = &opts.guard_pages {
        cmd.env("MEMDX_GUARD_PAGES", v);
    }
    if opts.watch_blocks {
        cmd.env("MEMDX_WATCH_BLOCKS", "yes");
    }
    let blind = super::interpose::check(&opts.program);
    let mut child = cmd.spawn().map_err(|e| {
        // As Valgrind and shells: 127 when there is no such program, 126
        // when it cannot be executed.
        let status = if e.kind() == std::io::ErrorKind::NotFound {
            127
        } else {
            126
        };
        let reason = e.to_string();
        let reason = reason.split(" (os error ").next().unwrap_or(&reason);
        crate::exit::Exit::new(
            status,
            format!(
                "memdx check: cannot run '{}': {reason}",
                opts.program.to_string_lossy()
            ),
        )
    })?;
    let main_pid = child.id();
    start_forwarding(main_pid);
    let mut out = Output {
        template: opts.log_file.clone(),
        files: Arc::default(),
        fd: None,
        silent: opts.xml,
        muted: Arc::default(),
    };
    // As Valgrind: a descriptor that is not open means stderr.
    if let Some(fd) = opts.log_fd.filter(|&fd| fd != 2) {
        match user_fd(fd) {
            Some(f) => out.fd = Some(Arc::new(Mutex::new(f))),
            None => eprintln!(
                "=={main_pid}== Valgrind: failed to move log file descriptor into safe range, using stderr"
            ),
        }
    }
    let xml_out = opts.xml_fd.filter(|_| opts.xml).map(|fd| {
        Arc::new(user_fd(fd).unwrap_or_else(|| {
            eprintln!(
                "=={main_pid}== Valgrind: failed to move XML file descriptor into safe range, using stderr"
            );
            user_fd(2).unwrap_or_else(|| {
                use std::os::fd::FromRawFd;
                // SAFETY: only reached when stderr itself is closed; the
                // write then fails and is reported to nobody.
                unsafe { File::from_raw_fd(2) }
            })
        }))
    });
    {
        use std::os::fd::AsRawFd;
        user_fds.extend(
            out.fd
                .iter()
                .filter_map(|f| f.lock().ok().map(|f| f.as_raw_fd())),
        );
        user_fds.extend(xml_out.iter().map(|f| f.as_raw_fd()));
    }
    {
        let mut sink = out.sink(main_pid);
        if opts.exit_on_first_error && opts.error_exitcode.unwrap_or(0) == 0 {
            // Valgrind 3.19 says so, then runs anyway (and exits with 0 at
            // the first error).
            sink.write_always(&format!(
                "=={main_pid}== Bad option: --exit-on-first-error=yes\n\
                 =={main_pid}== You must define a non nul exit error code, with --error-exitcode=...\n\
                 =={main_pid}== Use --help for more information or consult the user manual.\n"
            ));
        }
        super::analysis::new_report(main_pid, opts)
            .preamble(&mut sink, &command_line(&opts.program, &opts.args));
        // A program whose heap the runtime cannot see would otherwise get
        // the preamble and then silence, which reads as a clean run: said
        // even with -q and in XML mode (on stderr or the log).
        if let Some(blind) = blind {
            let program = opts.program.to_string_lossy();
            sink.write_always(&format!("=={main_pid}== {}\n", blind.warning(&program)));
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let poll_ms = Arc::new(std::sync::atomic::AtomicU64::new(2));
    // Set by the acceptor from before an accept until its reader is listed.
    let accepting = Arc::new(AtomicBool::new(false));
    // Rung when a reader is listed or a stream ends (the main thread
    // waits on it instead of sleeping).
    let activity = Arc::new(Activity::default());
    // The listening socket as the main thread sees it (is a connection
    // waiting to be accepted?).
    let queue = listener.try_clone().ok();
    let readers: Arc<Mutex<Vec<Reader>>> = Arc::default();
    let processes: Processes = Arc::default();
    let acceptor = {
        let stop = stop.clone();
        let poll_ms = poll_ms.clone();
        let accepting = accepting.clone();
        let activity = activity.clone();
        let opts = opts.clone();
        let out = out.clone();
        let readers = readers.clone();
        let processes = processes.clone();
        let xml_out = xml_out.clone();
        std::thread::spawn(move || loop {
            accepting.store(true, Ordering::SeqCst);
            match listener.accept() {
                Ok((stream, _)) => {
                    let opts = opts.clone();
                    let out = out.clone();
                    let xml_out = xml_out.clone();
                    let state = Arc::new(ReaderState::default());
                    let st = state.clone();
                    let processes = processes.clone();
                    let ended = activity.clone();
                    let handle = std::thread::spawn(move || {
                        serve(stream, opts, out, main_pid, xml_out, &st, &processes);
                        st.done.store(true, Ordering::Release);
                        ended.ring();
                    });
                    if let Ok(mut list) = readers.lock() {
                        list.push(Reader { handle, state });
                    }
                    accepting.store(false, Ordering::SeqCst);
                    activity.ring();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    accepting.store(false, Ordering::SeqCst);
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    // The runtime waits for each stream to be read before
                    // it goes on: accept as soon as one arrives.
                    wait_readable(
                        &listener,
                        Duration::from_millis(poll_ms.load(Ordering::Acquire)),
                    );
                }
                Err(_) => break,
            }
        })
    };
    let status = wait_program(&mut child)?;
    // Valgrind returns as soon as the program's process has exited (its
    // report is written then): memdx waits for that report, and for those
    // of processes that are gone (their streams are ending), not for
    // processes still running (fork children, daemons, whatever they run
    // under --trace-children=yes).
    let runtime_name = runtime
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default();
    loop {
        join_ended(&readers);
        // Every process that connected before the program exited has been
        // accepted once no connection waits in the queue (a Unix socket's
        // connect completes at once, into it) and the acceptor is not
        // between an accept and listing its reader.
        let queue_unread = !acceptor.is_finished()
            && (queue.as_ref().is_some_and(connection_waiting) || accepting.load(Ordering::SeqCst));
        let waiting = queue_unread
            || readers.lock().is_ok_and(|list| {
                list.iter().any(|r| {
                    let pid = r.state.pid.load(Ordering::Acquire);
                    pid == 0 || pid == main_pid || !process_alive(pid)
                })
            });
        if !waiting {
            break;
        }
        // Woken by a stream's end; the timeout notices processes that die.
        activity.wait(Duration::from_millis(2));
    }
    // Reports of processes that are gone without finishing them are closed
    // now. Between two streams a process holds no connection, so a fork
    // child killed there cannot be told from one that exec'd a program
    // without --trace-children (a shell running a command): neither is said
    // to have ended without a report; the program's own process is.
    close_reports_of_the_gone(&processes, opts, main_pid, xml_out.as_deref());
    let ending = ending(
        status,
        main_errors(&processes, main_pid),
        opts.error_exitcode,
    );
    let outliving = outliving(&processes, &readers, main_pid);
    // Where the reports of processes outliving the program can go: files
    // of their own (`%p`), written by this process left behind as a
    // collector. Anything else (stderr, --log-fd, one shared file) would
    // have to be held open for them: their reports are not collected.
    let keep_text = !opts.xml && opts.log_file.as_deref().is_some_and(names_pid);
    let keep_xml = opts.xml && opts.xml_file.as_deref().is_some_and(names_pid);
    let keep_json = opts.json_file.as_deref().is_some_and(names_pid);
    if !keep_text {
        out.muted.store(true, Ordering::Release);
    }
    // The report the user reads (text, or the XML in XML mode).
    let primary_kept = keep_text || keep_xml;
    if !(outliving.is_empty() || primary_kept) {
        let note = not_collected_note(&outliving, opts.xml);
        if opts.xml {
            eprintln!("memdx check: {note}");
        } else {
            out.unmuted_sink(main_pid)
                .write_always(&format!("=={main_pid}== memdx: {note}\n"));
        }
    }
    let _ = std::io::stderr().flush();
    if outliving.is_empty() || !(keep_text || keep_xml || keep_json) {
        front.release(ending);
        stop.store(true, Ordering::Release);
        let _ = acceptor.join();
        // Streams still open are cut when this process exits: their
        // processes' later writes fail (MSG_NOSIGNAL) and change nothing.
        return Ok(());
    }
    // The collector: lets go of everything the user could be waiting on
    // (stdin, stdout, stderr, the descriptors memdx was given), hands the
    // outcome to the front, and writes the remaining reports to their
    // files as they arrive, until the last process still checked is gone.
    let_go_of(&user_fds);
    front.release(ending);
    drop(front);
    // SAFETY: setsid has no preconditions (the worker leads no group).
    unsafe { libc::setsid() };
    stop_forwarding();
    poll_ms.store(50, Ordering::Release);
    loop {
        join_ended(&readers);
        close_reports_of_the_gone(&processes, opts, main_pid, xml_out.as_deref());
        let busy = !readers.lock().is_ok_and(|list| list.is_empty())
            || still_reporting(&processes, &runtime_name);
        if !busy {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Release);
    let _ = acceptor.join();
    Ok(())
}

/// Takes the readers whose stream has ended out of `readers` and joins
/// their threads.
fn join_ended(readers: &Mutex<Vec<Reader>>) {
    let ended: Vec<Reader> = readers.lock().map_or_else(
        |_| Vec::new(),
        |mut list| {
            let (ended, running) = list
                .drain(..)
                .partition(|r| r.state.done.load(Ordering::Acquire));
            *list = running;
            ended
        },
    );
    for r in ended {
        let _ = r.handle.join();
    }
}

/// Closes the reports of processes that are gone without finishing them
/// (said to be unfinished only for the program's own process).
fn close_reports_of_the_gone(
    processes: &Processes,
    opts: &CheckOptions,
    main_pid: u32,
    xml_out: Option<&File>,
) {
    let list: Vec<Arc<Process>> = processes.lock().map_or_else(|_| Vec::new(), |l| l.clone());
    for p in &list {
        if !p.done.load(Ordering::Acquire) && !process_alive(p.pid) {
            close_report(p, p.pid == main_pid, opts, main_pid, xml_out);
        }
    }
}

/// Errors in the program's own report (for `--error-exitcode`).
fn main_errors(processes: &Processes, main_pid: u32) -> u64 {
    processes.lock().map_or(0, |list| {
        list.iter()
            .filter(|p| p.pid == main_pid && p.done.load(Ordering::Acquire))
            .filter_map(|p| p.report.try_lock().ok().map(|r| r.report.errors()))
            .sum()
    })
}

/// The processes still running whose reports are not complete, sorted:
/// those with a report, and those whose stream is being read (a reader
/// knows its pid a moment before the report is made).
fn outliving(processes: &Processes, readers: &Mutex<Vec<Reader>>, main_pid: u32) -> Vec<u32> {
    let mut pids: Vec<u32> = processes.lock().map_or_else(
        |_| Vec::new(),
        |list| {
            list.iter()
                .filter(|p| !p.done.load(Ordering::Acquire))
                .map(|p| p.pid)
                .collect()
        },
    );
    if let Ok(list) = readers.lock() {
        pids.extend(
            list.iter()
                .filter(|r| !r.state.done.load(Ordering::Acquire))
                .map(|r| r.state.pid.load(Ordering::Acquire)),
        );
    }
    pids.retain(|&pid| pid != 0 && pid != main_pid && process_alive(pid));
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Whether a process whose report is not complete may still send some:
/// it runs with the runtime loaded (it connects again for its next burst;
/// one that exec'd an unchecked program never will).
fn still_reporting(processes: &Processes, runtime_name: &[u8]) -> bool {
    processes.lock().is_ok_and(|list| {
        list.iter().any(|p| {
            !p.done.load(Ordering::Acquire)
                && process_alive(p.pid)
                && runtime_loaded(p.pid, runtime_name)
        })
    })
}

/// Whether a `--log-file`/`--xml-file`/`--json` name has a `%p` (a file of
/// its own per process).
fn names_pid(template: &str) -> bool {
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        // `%%` is a percent sign: the character after it is skipped.
        if c == '%' && chars.next() == Some('p') {
            return true;
        }
    }
    false
}

/// memdx's note about the processes whose reports it does not collect.
fn not_collected_note(pids: &[u32], xml: bool) -> String {
    let list = pids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let option = if xml { "--xml-file" } else { "--log-file" };
    if pids.len() == 1 {
        format!(
            "process {list} is still running; its report is not collected \
             (a {option} name with %p gives it a file of its own)"
        )
    } else {
        format!(
            "processes {list} are still running; their reports are not collected \
             (a {option} name with %p gives each a file of its own)"
        )
    }
}

/// The descriptors open now, in ascending order.
fn open_descriptors() -> Vec<i32> {
    let listed: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    // The listing's own descriptor is closed by now.
    listed
        .into_iter()
        // SAFETY: F_GETFD only asks whether the number is open.
        .filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1)
        .collect()
}

/// Points each of `fds` at /dev/null: the pipes and terminals behind them
/// are no longer held by this process (the `File`s that use some of them
/// stay valid and write nowhere).
fn let_go_of(fds: &[i32]) {
    // SAFETY: opening /dev/null and duplicating it over our own numbers.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if null < 0 {
            return;
        }
        for &fd in fds {
            if fd != null {
                // Descriptors 0-2 stay inheritable; the others are ours.
                let flags = if fd > 2 { libc::O_CLOEXEC } else { 0 };
                libc::dup3(null, fd, flags);
            }
        }
        if !fds.contains(&null) {
            libc::close(null);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapped_runtime_is_found_also_once_deleted() {
        let name = b"libmemdx_runtime-9-1234abcd.so";
        let live = b"7f00-7f10 r-xp 00000000 fe:01 42 /home/u/.cache/memdx/libmemdx_runtime-9-1234abcd.so\n";
        let gone = b"7f00-7f10 r-xp 00000000 fe:01 42 /home/u/.cache/memdx/libmemdx_runtime-9-1234abcd.so (deleted)\n";
        let other = b"7f00-7f10 r-xp 00000000 fe:01 42 /lib/xlibmemdx_runtime-9-1234abcd.so\n";
        assert!(maps_name(live, name));
        assert!(maps_name(gone, name));
        assert!(!maps_name(other, name));
        assert!(!maps_name(b"", name));
    }

    #[test]
    fn only_an_unescaped_percent_p_names_the_pid() {
        assert!(names_pid("log.%p"));
        assert!(names_pid("a%%b.%p"));
        assert!(!names_pid("100%%p"));
        assert!(!names_pid("plain"));
        assert!(!names_pid("end%"));
    }

    #[test]
    fn the_note_names_every_pid_left_running() {
        assert_eq!(
            not_collected_note(&[7], false),
            "process 7 is still running; its report is not collected \
             (a --log-file name with %p gives it a file of its own)"
        );
        assert!(not_collected_note(&[7, 9], true).starts_with(
            "processes 7, 9 are still running; their reports are not collected (a --xml-file"
        ));
    }

    #[test]
    fn log_file_names_expand_pid_and_percent() {
        assert_eq!(expand_log_name("vg.%p.log", 42), "vg.42.log");
        assert_eq!(expand_log_name("100%%-%p", 7), "100%-7");
        assert_eq!(expand_log_name("plain", 7), "plain");
    }
}
