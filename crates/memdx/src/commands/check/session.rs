//! One checked run: the socket, the program, one reader thread per stream
//! (a process sends one stream per burst of records; those of one process
//! are joined into its report), and the program's fate turned into ours.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use memdx_events::{needs_ack, EventReader, FLAG_CONTINUATION, FLAG_FORK_CHILD};

use super::options::{CheckOptions, LeakCheck};
use super::render::{ProcessReport, Sink};

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
}

struct ProcessSink {
    file: Option<Arc<Mutex<File>>>,
    silent: bool,
}

impl Sink for ProcessSink {
    fn write_chunk(&mut self, text: &str) {
        if !self.silent {
            self.write_always(text);
        }
    }

    fn write_always(&mut self, text: &str) {
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
        let silent = self.silent;
        let Some(t) = &self.template else {
            return ProcessSink {
                file: self.fd.clone(),
                silent,
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
        ProcessSink { file, silent }
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

/// What the run ended with.
pub struct Outcome {
    status: ExitStatus,
    errors: u64,
    error_exitcode: Option<i32>,
}

impl Outcome {
    /// Ends memdx the way the program ended (or with `--error-exitcode`).
    pub fn exit(self) -> anyhow::Result<()> {
        let _ = std::io::stderr().flush();
        let _ = std::io::stdout().flush();
        if let (Some(code), true) = (self.error_exitcode, self.errors > 0) {
            std::process::exit(code);
        }
        if let Some(sig) = self.status.signal() {
            // Die the same way: default action, then the same signal.
            // SAFETY: resetting a disposition and signalling ourselves.
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, sig);
                libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                // No core file from memdx itself: the program already dumped
                // one if the system is configured to.
                let rl = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &rl);
                libc::raise(sig);
            }
            std::process::exit(128 + sig);
        }
        std::process::exit(self.status.code().unwrap_or(1));
    }
}

fn command_line(program: &OsString, args: &[OsString]) -> String {
    super::render::command_text(
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

/// The session of `pid` (field 6 of /proc/PID/stat), None when gone.
fn session_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    // After the command: state, ppid, pgrp, session.
    rest.split_whitespace().nth(3)?.parse().ok()
}

/// Whether `pid` left the program's session (`setsid`, as `daemon(3)` and
/// hand-written daemons do): such a process is not waited for.
fn detached(pid: u32, main_session: Option<u32>) -> bool {
    match (session_of(pid), main_session) {
        (Some(s), Some(m)) => s != m,
        _ => true,
    }
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
    let mut report = ProcessReport::new(header.pid, opts.clone());
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
    /// The stream has ended and the report is written.
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
/// A signal arrived after the program exited: stop waiting for the
/// reports of its fork children.
static STOP_WAITING: AtomicBool = AtomicBool::new(false);

fn stop_requested() -> bool {
    STOP_WAITING.load(Ordering::Acquire)
}

/// memdx's handler for [`FORWARDED`]: sends the signal on to the program.
/// One a terminal sent (`si_code` `SI_KERNEL`: ^C, ^\, hangup) went to the
/// whole foreground process group, the program included, and is not sent
/// twice.
extern "C" fn forward_signal(sig: i32, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo.
    let from_terminal = !info.is_null() && unsafe { (*info).si_code } == libc::SI_KERNEL;
    let pid = CHILD_PID.load(Ordering::Acquire);
    if pid > 0 {
        if !from_terminal {
            // SAFETY: kill(2) is async-signal-safe; the pid is not reaped
            // yet (see `wait_program`).
            unsafe { libc::kill(pid, sig) };
        }
    } else if pid == 0 {
        if !from_terminal {
            HELD.fetch_or(1 << sig, Ordering::AcqRel);
        }
    } else {
        STOP_WAITING.store(true, Ordering::Release);
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

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn make_temp_dir() -> anyhow::Result<TempDir> {
    let base = std::env::temp_dir();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = base.join(format!("memdx-check-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("securing {}", dir.display()))?;
    Ok(TempDir(dir))
}

pub fn run(opts: &CheckOptions, runtime: &Path) -> anyhow::Result<Outcome> {
    let dir = make_temp_dir()?;
    let sock = dir.0.join("events.sock");
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
    if let Some(v) = opts.redzone_size {
        cmd.env("MEMDX_REDZONE_SIZE", v.to_string());
    }
    if let Some(v) = opts.poison_size {
        cmd.env("MEMDX_POISON_SIZE", v.to_string());
    }
    if let Some(v) = &opts.guard_pages {
        cmd.env("MEMDX_GUARD_PAGES", v);
    }
    // While the program runs, a signal that would end memdx is the
    // program's (see `forward_signal`); memdx stays to print the report.
    // A signal memdx was started with ignored stays ignored, for the
    // program too (exec keeps SIG_IGN; caught signals become SIG_DFL).
    install_forwarding();
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
        ProcessReport::new(main_pid, opts.clone())
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
    let readers: Arc<Mutex<Vec<Reader>>> = Arc::default();
    let processes: Processes = Arc::default();
    let acceptor = {
        let stop = stop.clone();
        let opts = opts.clone();
        let out = out.clone();
        let readers = readers.clone();
        let processes = processes.clone();
        let xml_out = xml_out.clone();
        std::thread::spawn(move || loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    let opts = opts.clone();
                    let out = out.clone();
                    let xml_out = xml_out.clone();
                    let state = Arc::new(ReaderState::default());
                    let st = state.clone();
                    let processes = processes.clone();
                    let handle = std::thread::spawn(move || {
                        serve(stream, opts, out, main_pid, xml_out, &st, &processes);
                        st.done.store(true, Ordering::Release);
                    });
                    if let Ok(mut list) = readers.lock() {
                        // A process connects once per burst: the readers
                        // of streams already read are dropped.
                        list.retain(|r| !r.state.done.load(Ordering::Acquire));
                        list.push(Reader { handle, state });
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    // The runtime waits for each stream to be read before
                    // it goes on: accept as soon as one arrives.
                    wait_readable(&listener, Duration::from_millis(20));
                }
                Err(_) => break,
            }
        })
    };
    // The program's session, taken while it runs (its children's are
    // compared with it once it is gone).
    let main_session = session_of(main_pid);
    let status = wait_program(&mut child)?;
    // A fork child still connecting when the program exits gets a moment.
    std::thread::sleep(Duration::from_millis(20));
    // The program's own report is waited for, those of processes that are
    // gone (their streams are ending), and those of fork children still
    // running in the program's session (under Valgrind they keep its
    // output open and their reports follow). A child that left the session
    // (a daemon: setsid) is not waited for, as Valgrind returns without
    // it; with --trace-children=yes it is (all of the program's processes
    // are checked). A terminating signal to memdx ends the wait.
    // A process between two streams (no connection open) is waited for
    // on the same terms while it runs.
    let keeps_us =
        |pid: u32| (opts.trace_children || !detached(pid, main_session)) && !stop_requested();
    loop {
        let reading = readers.lock().is_ok_and(|list| {
            list.iter().any(|r| {
                if r.state.done.load(Ordering::Acquire) {
                    return false;
                }
                let pid = r.state.pid.load(Ordering::Acquire);
                pid == 0 || pid == main_pid || !process_alive(pid) || keeps_us(pid)
            })
        });
        let running = processes.lock().is_ok_and(|list| {
            list.iter().any(|p| {
                !p.done.load(Ordering::Acquire)
                    && p.pid != main_pid
                    && process_alive(p.pid)
                    && keeps_us(p.pid)
            })
        });
        if !reading && !running {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::Release);
    acceptor
        .join()
        .map_err(|_| anyhow::anyhow!("event reader thread panicked"))?;
    // Streams still open belong to processes that outlive the program:
    // their readers are left behind (memdx's exit ends them).
    let finished: Vec<Reader> = readers.lock().map_or_else(
        |_| Vec::new(),
        |mut list| {
            let (done, _running): (Vec<Reader>, Vec<Reader>) = list
                .drain(..)
                .partition(|r| r.state.done.load(Ordering::Acquire));
            done
        },
    );
    for r in finished {
        let _ = r.handle.join();
    }
    // Reports of processes that are gone without finishing them are closed
    // now; those of processes still running (daemons) are left. Between
    // two streams a process holds no connection, so a fork child killed
    // there cannot be told from one that exec'd a program without
    // --trace-children (a shell running a command): neither is said to
    // have ended without a report; the program's own process is.
    let list: Vec<Arc<Process>> = processes.lock().map_or_else(|_| Vec::new(), |l| l.clone());
    for p in &list {
        if !p.done.load(Ordering::Acquire) && !process_alive(p.pid) {
            close_report(p, p.pid == main_pid, opts, main_pid, xml_out.as_deref());
        }
    }
    let errors = list
        .iter()
        .filter(|p| p.pid == main_pid && p.done.load(Ordering::Acquire))
        .filter_map(|p| p.report.try_lock().ok().map(|r| r.report.errors))
        .sum();
    Ok(Outcome {
        status,
        errors,
        error_exitcode: opts.error_exitcode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_file_names_expand_pid_and_percent() {
        assert_eq!(expand_log_name("vg.%p.log", 42), "vg.42.log");
        assert_eq!(expand_log_name("100%%-%p", 7), "100%-7");
        assert_eq!(expand_log_name("plain", 7), "plain");
    }
}
