//! Runs the program with the runtime in profiling mode and turns its
//! bursts into a recording while it runs.
//!
//! Three parts: the main thread spawns the program and waits for it; a
//! receiver thread accepts the runtime's connections (one per burst; the
//! runtime waits until the burst is read and the connection closed, so it
//! is read whole and then closed at once, and the program goes on while
//! the burst is processed); the recorder thread orders each burst's
//! records by time, converts the time-stamp counter to nanoseconds, and
//! writes frames (stacks, modules, events) and replays them into the
//! summary's analysis. A bounded queue between the two keeps a program
//! that allocates faster than the recorder writes from filling memory
//! (it then waits for the recorder).

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixListener;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use anyhow::Context;
use memdx_events::{decode_payload, Event as Wire, Header, HEADER_LEN, RECORD_PREFIX};
use memdx_heap::{Analysis, Event, Exit as HeapExit, Record, Summary, SymFrame, Writer};

use super::readings::{self, LastRead, RssReading};

mod processes;
use crate::commands::check::front::Ending;
use crate::commands::check::runtime_lib;
use crate::commands::check::symbolize::{Module, Symbolizer};
use crate::exit::Exit;
use processes::Processes;

/// What `memdx heap` was asked to do.
pub struct Options {
    pub program: Vec<OsString>,
    pub output: Option<PathBuf>,
    /// Mean bytes between samples; 0: every allocation.
    pub sample_interval: u64,
    pub num_callers: usize,
    /// `--trace-children=yes`: fork children and executed programs get
    /// recordings of their own.
    pub trace_children: bool,
}

/// How the run went.
pub struct Outcome {
    pub path: PathBuf,
    pub bytes: u64,
    pub summary: Summary,
    pub ending: Ending,
    /// The other processes' recordings (`--trace-children=yes`).
    pub children: Vec<ChildRecording>,
}

/// A traced process's recording.
pub struct ChildRecording {
    pub pid: u32,
    pub path: PathBuf,
    pub bytes: u64,
    /// Its command line, arguments separated by spaces.
    pub command: String,
    pub exit: HeapExit,
}

/// Where the recordings of traced processes go: `%p` in the main
/// recording's name is each process's pid; without it a process's
/// recording is the main one's name followed by `.PID`. A later program
/// executed by the same process (same pid) adds `.2`, `.3`, ...
pub struct Naming {
    template: PathBuf,
    used: std::collections::HashSet<PathBuf>,
}

impl Naming {
    pub fn new(template: PathBuf) -> Self {
        Naming {
            template,
            used: std::collections::HashSet::new(),
        }
    }

    fn path(&mut self, pid: u32) -> PathBuf {
        let t = self.template.as_os_str().as_bytes();
        let base = if t.windows(2).any(|w| w == b"%p") {
            expand_pid(&self.template, pid)
        } else {
            let mut b = self.template.as_os_str().to_os_string();
            b.push(format!(".{pid}"));
            PathBuf::from(b)
        };
        let mut path = base.clone();
        let mut n = 1;
        while self.used.contains(&path) {
            n += 1;
            let mut b = base.as_os_str().to_os_string();
            b.push(format!(".{n}"));
            path = PathBuf::from(b);
        }
        self.used.insert(path.clone());
        path
    }
}

/// `%p` in `path` replaced by `pid`.
pub fn expand_pid(path: &std::path::Path, pid: u32) -> PathBuf {
    let t = path.as_os_str().as_bytes();
    let mut out = Vec::with_capacity(t.len() + 8);
    let mut i = 0;
    while i < t.len() {
        if t[i..].starts_with(b"%p") {
            out.extend_from_slice(pid.to_string().as_bytes());
            i += 2;
        } else {
            out.push(t[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// A private directory for the runtime's socket, removed on drop.
fn temp_dir() -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("memdx-heap-")
        .tempdir()
        .with_context(|| {
            format!(
                "cannot create a temporary directory under {}",
                std::env::temp_dir().display()
            )
        })
}

/// What the recorder thread is sent.
pub enum Msg {
    /// One burst of the runtime's records, as read from its connection,
    /// and the process's RSS/PSS read before the connection was closed.
    Burst(Vec<u8>, Option<RssReading>),
    /// Attached to a running process: heap bytes in use then.
    Attached(u64),
    /// A reading of process `pid`'s RSS/PSS by the timer (no burst came)
    /// at a `CLOCK_MONOTONIC` time.
    Reading {
        pid: u32,
        nanos: u64,
        reading: RssReading,
    },
    /// Mark a snapshot (`None`: named `snapshot-N`) at a `CLOCK_MONOTONIC`
    /// reading; the answer line goes to `reply`.
    Mark {
        name: Option<String>,
        nanos: u64,
        reply: Option<mpsc::Sender<String>>,
    },
}

/// `CLOCK_MONOTONIC` in nanoseconds (the runtime's clock readings use it).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec; async-signal-safe.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

/// SIGUSR1 to memdx: the handler's count and time of the last one.
static USR1_COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static USR1_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

extern "C" fn on_usr1(_: libc::c_int) {
    USR1_NANOS.store(monotonic_ns(), Ordering::Relaxed);
    USR1_COUNT.fetch_add(1, Ordering::Release);
}

/// The socket `memdx heap snapshot PID` connects to, beside the events'.
pub fn control_socket(events_sock: &std::path::Path) -> PathBuf {
    events_sock.with_file_name("control.sock")
}

/// Answers `memdx heap snapshot`: one line in (the name, may be empty),
/// one line out.
fn control(listener: &UnixListener, tx: &mpsc::SyncSender<Msg>, done: &AtomicBool) {
    use std::io::{BufRead, Write};
    for conn in listener.incoming() {
        if done.load(Ordering::Acquire) {
            return;
        }
        let Ok(conn) = conn else { continue };
        let nanos = monotonic_ns();
        let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(5)));
        let mut line = String::new();
        let mut reader = std::io::BufReader::new(&conn);
        if reader.read_line(&mut line).is_err() {
            continue;
        }
        let name = line.trim_end_matches('\n').to_string();
        let (reply_tx, reply_rx) = mpsc::channel();
        let msg = Msg::Mark {
            name: (!name.is_empty()).then_some(name),
            nanos,
            reply: Some(reply_tx),
        };
        if tx.send(msg).is_err() {
            return;
        }
        let answer = reply_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap_or_else(|_| "error: the recorder did not answer".to_string());
        let mut conn = &conn;
        let _ = writeln!(conn, "{answer}");
    }
}

/// Turns SIGUSR1s to memdx into snapshots (polled: the handler only
/// counts and notes the time).
fn watch_usr1(tx: &mpsc::SyncSender<Msg>, done: &AtomicBool) {
    let mut seen = USR1_COUNT.load(Ordering::Acquire);
    while !done.load(Ordering::Acquire) {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let now = USR1_COUNT.load(Ordering::Acquire);
        if now != seen {
            seen = now;
            let nanos = USR1_NANOS.load(Ordering::Relaxed);
            if tx
                .send(Msg::Mark {
                    name: None,
                    nanos,
                    reply: None,
                })
                .is_err()
            {
                return;
            }
        }
    }
}

/// The runtime's socket and the two threads that turn its bursts into a
/// recording.
pub struct Session {
    _dir: tempfile::TempDir,
    pub sock: PathBuf,
    done: Arc<AtomicBool>,
    tx: mpsc::SyncSender<Msg>,
    receiver: std::thread::JoinHandle<()>,
    recorder: std::thread::JoinHandle<anyhow::Result<Processes>>,
    /// Every pid a burst came from (the receiver's record).
    seen: Arc<Mutex<Vec<u32>>>,
    /// The snapshot threads (control socket, SIGUSR1).
    helpers: Vec<std::thread::JoinHandle<()>>,
}

impl Session {
    /// Listens on a fresh socket and starts the receiver and the recorder.
    pub fn start(
        writer: Writer<BufWriter<File>>,
        children: Option<Naming>,
    ) -> anyhow::Result<Session> {
        let dir = temp_dir()?;
        let sock = dir.path().join("events.sock");
        let listener = UnixListener::bind(&sock)
            .with_context(|| format!("listening on {}", sock.display()))?;
        let (tx, rx) = mpsc::sync_channel::<Msg>(8);
        let done = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let last_read = Arc::new(LastRead::default());
        let receiver = {
            let done = Arc::clone(&done);
            let seen = Arc::clone(&seen);
            let last_read = Arc::clone(&last_read);
            let tx = tx.clone();
            std::thread::spawn(move || receive(&listener, &tx, &done, &seen, &last_read))
        };
        let control_path = control_socket(&sock);
        let control_listener = UnixListener::bind(&control_path)
            .with_context(|| format!("listening on {}", control_path.display()))?;
        let helpers = vec![
            {
                let done = Arc::clone(&done);
                let tx = tx.clone();
                std::thread::spawn(move || control(&control_listener, &tx, &done))
            },
            {
                let done = Arc::clone(&done);
                let tx = tx.clone();
                std::thread::spawn(move || watch_usr1(&tx, &done))
            },
            {
                let done = Arc::clone(&done);
                let seen = Arc::clone(&seen);
                let tx = tx.clone();
                std::thread::spawn(move || readings::tick(&tx, &done, &seen, &last_read))
            },
        ];
        // SAFETY: the handler only reads the clock and bumps atomics.
        unsafe {
            libc::signal(
                libc::SIGUSR1,
                on_usr1 as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
        let recorder = std::thread::spawn(move || {
            let mut p = Processes {
                main: Recorder::new(writer),
                children: Vec::new(),
                naming: children,
            };
            let mut marks = 0u32;
            for msg in rx {
                match msg {
                    Msg::Burst(burst, rss) => p.burst(&burst, rss)?,
                    Msg::Attached(bytes) => p.main.attached = Some(bytes),
                    Msg::Reading {
                        pid,
                        nanos,
                        reading,
                    } => p.reading(pid, nanos, reading)?,
                    Msg::Mark { name, nanos, reply } => {
                        marks += 1;
                        let name = name.unwrap_or_else(|| format!("snapshot-{marks}"));
                        let answer = match p.main.mark(&name, nanos) {
                            Ok(t) => format!("ok {name} {t}"),
                            Err(e) => format!("error: {e}"),
                        };
                        if let Some(r) = reply {
                            let _ = r.send(answer);
                        }
                    }
                }
            }
            Ok::<Processes, anyhow::Error>(p)
        });
        Ok(Session {
            _dir: dir,
            sock,
            done,
            tx,
            receiver,
            recorder,
            seen,
            helpers,
        })
    }

    /// Waits until every traced process other than `main` has ended (their
    /// last bursts are then read): a process that outlives the program is
    /// waited for.
    pub fn wait_for_children(&self, main: u32) {
        loop {
            let alive = self
                .seen
                .lock()
                .map(|pids| {
                    pids.iter().any(|&pid| {
                        // SAFETY: a signal-0 probe of a pid.
                        pid != main && unsafe { libc::kill(pid as i32, 0) } == 0
                    })
                })
                .unwrap_or(false);
            if !alive {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Tells the recorder the heap's size at the attach.
    pub fn attached(&self, heap_bytes: u64) {
        let _ = self.tx.send(Msg::Attached(heap_bytes));
    }

    /// Stops receiving (the runtime has sent its last burst or is gone),
    /// writes the symbols and the end: the file's size and the summary.
    pub fn finish(self, exit: HeapExit) -> anyhow::Result<(u64, Summary)> {
        let (bytes, summary, _) = self.finish_all(exit)?;
        Ok((bytes, summary))
    }

    /// [`Session::finish`], with the traced processes' recordings.
    pub fn finish_all(self, exit: HeapExit) -> anyhow::Result<(u64, Summary, Vec<ChildRecording>)> {
        // Wake the receiver (it blocks in accept).
        self.done.store(true, Ordering::Release);
        let _ = std::os::unix::net::UnixStream::connect(&self.sock);
        let _ = self.receiver.join();
        let _ = std::os::unix::net::UnixStream::connect(control_socket(&self.sock));
        for h in self.helpers {
            let _ = h.join();
        }
        drop(self.tx);
        let recorder = self
            .recorder
            .join()
            .map_err(|_| anyhow::anyhow!("memdx heap: the recorder failed"))??;
        recorder.finish(exit)
    }
}

/// Creates the recording's file (`memdx heap: FILE: reason` when it
/// cannot be) and its writer.
pub fn create(path: &std::path::Path) -> anyhow::Result<Writer<BufWriter<File>>> {
    let file = File::create(path).map_err(|e| {
        let reason = e.to_string();
        let reason = reason
            .split(" (os error ")
            .next()
            .unwrap_or(&reason)
            .to_string();
        Exit::new(1, format!("memdx heap: {}: {reason}", path.display()))
    })?;
    Ok(Writer::new(BufWriter::with_capacity(1 << 20, file))?)
}

pub fn run(opts: &Options) -> anyhow::Result<Outcome> {
    let runtime = runtime_lib::path()?;
    let Some((program, args)) = opts.program.split_first() else {
        anyhow::bail!("memdx heap: no program given");
    };
    let mut preload = runtime.as_os_str().to_os_string();
    if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        preload.push(":");
        preload.push(old);
    }
    // The recording is opened before the program starts: a file that
    // cannot be written stops memdx before the program runs.
    // `%p` in the name is the program's pid, known once it runs: the file
    // is renamed then.
    let template = opts
        .output
        .clone()
        .filter(|p| !p.as_os_str().as_bytes().windows(2).any(|w| w == b"%p"));
    let path = template
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("memdx-heap.{}.mdxh.part", std::process::id())));
    let writer = create(&path)?;
    let naming = opts.trace_children.then(|| {
        Naming::new(
            opts.output
                .clone()
                .unwrap_or_else(|| PathBuf::from("memdx-heap.%p.mdxh")),
        )
    });
    let session = Session::start(writer, naming)?;
    let sock = session.sock.clone();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("LD_PRELOAD", preload)
        .env("MEMDX_HEAP", "1")
        .env("MEMDX_EVENTS_SOCK", &sock)
        .env("MEMDX_NUM_CALLERS", opts.num_callers.to_string());
    if opts.sample_interval > 0 {
        cmd.env("MEMDX_HEAP_SAMPLE", opts.sample_interval.to_string());
    }
    if opts.trace_children {
        cmd.env("MEMDX_TRACE_CHILDREN", "yes");
    }
    let mut child = cmd.spawn().map_err(|e| {
        let _ = std::fs::remove_file(&path);
        let status = if e.kind() == std::io::ErrorKind::NotFound {
            127
        } else {
            126
        };
        let reason = e.to_string();
        let reason = reason
            .split(" (os error ")
            .next()
            .unwrap_or(&reason)
            .to_string();
        Exit::new(
            status,
            format!(
                "memdx heap: cannot run '{}': {reason}",
                program.to_string_lossy()
            ),
        )
    })?;
    // While the program runs, the terminal's signals are its business:
    // memdx stays to finish the recording.
    // SAFETY: setting dispositions of this process.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    let pid = child.id();
    let path = match (&template, &opts.output) {
        (Some(p), _) => p.clone(),
        (None, named) => {
            // Named after the program's pid, known now.
            let named = match named {
                Some(t) => expand_pid(t, pid),
                None => PathBuf::from(format!("memdx-heap.{pid}.mdxh")),
            };
            match std::fs::rename(&path, &named) {
                Ok(()) => named,
                Err(_) => path,
            }
        }
    };

    let status = child.wait()?;
    let (ending, exit) = match (status.code(), status.signal()) {
        (Some(c), _) => (Ending::Code(c), HeapExit::Exited(c)),
        (None, Some(s)) => (Ending::Signal(s), HeapExit::Signaled(s)),
        _ => (Ending::Code(1), HeapExit::Cut),
    };
    if opts.trace_children {
        session.wait_for_children(pid);
    }
    let (bytes, summary, children) = session
        .finish_all(exit)
        .with_context(|| format!("memdx heap: writing {}", path.display()))?;
    Ok(Outcome {
        path,
        bytes,
        summary,
        ending,
        children,
    })
}

/// Whether a burst's last record is `HeapEnd` (the process's last burst).
fn ends_with_heap_end(burst: &[u8]) -> bool {
    let mut rest = burst.get(HEADER_LEN..).unwrap_or_default();
    let mut last = None;
    while rest.len() >= RECORD_PREFIX {
        let len = u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        last = Some(rest[0]);
        rest = rest.get(RECORD_PREFIX + len..).unwrap_or_default();
    }
    last == Some(memdx_events::tag::HEAP_END)
}

/// Accepts the runtime's connections and queues each burst.
fn receive(
    listener: &UnixListener,
    tx: &mpsc::SyncSender<Msg>,
    done: &AtomicBool,
    seen: &Mutex<Vec<u32>>,
    last_read: &LastRead,
) {
    let mut proc_buf = Vec::new();
    // Bursts of one run are of similar sizes (up to every buffer of the
    // runtime): room for the largest so far, so that reading one does not
    // copy it again and again as the vector grows.
    let mut room = 1 << 20;
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let mut burst = Vec::with_capacity(room);
        let _ = conn.read_to_end(&mut burst);
        room = room.max(burst.len() + 1);
        if burst.is_empty() {
            if done.load(Ordering::Acquire) {
                return;
            }
            continue;
        }
        let mut rss = None;
        if let Some(head) = burst
            .get(..HEADER_LEN)
            .and_then(|h| <&[u8; HEADER_LEN]>::try_from(h).ok())
            .and_then(|h| Header::decode(h).ok())
        {
            if let Ok(mut pids) = seen.lock() {
                if !pids.contains(&head.pid) {
                    pids.push(head.pid);
                }
            }
            // The process waits until its connection is closed: what the
            // kernel says it holds is read now, at most every 20 ms (a
            // page-table walk) and at its last burst.
            rss = last_read.read(head.pid, ends_with_heap_end(&burst), &mut proc_buf);
        }
        drop(conn);
        if tx.send(Msg::Burst(burst, rss)).is_err() {
            return;
        }
    }
}

/// The time-stamp counter to nanoseconds since the program started, from
/// the first clock reading and the latest one.
#[derive(Default)]
struct Clock {
    first: Option<(u64, u64)>,
    rate: f64,
}

impl Clock {
    fn reading(&mut self, tsc: u64, ns: u64) {
        match self.first {
            None => {
                self.first = Some((tsc, ns));
                self.rate = 1.0;
            }
            Some((t0, n0)) if tsc > t0 && ns > n0 => {
                self.rate = (ns - n0) as f64 / (tsc - t0) as f64;
            }
            Some(_) => {}
        }
    }

    /// A `CLOCK_MONOTONIC` reading as nanoseconds since the start.
    fn since_start(&self, nanos: u64) -> u64 {
        self.first.map_or(0, |(_, n0)| nanos.saturating_sub(n0))
    }

    fn ns(&self, tsc: u64) -> u64 {
        match self.first {
            Some((t0, _)) => (tsc.saturating_sub(t0) as f64 * self.rate) as u64,
            None => 0,
        }
    }
}

fn event_time(e: &Event) -> u64 {
    match *e {
        Event::Alloc { time, .. } | Event::Free { time, .. } => time,
    }
}

pub struct Recorder {
    /// Attached to a running process: heap bytes in use then (written
    /// once, after the `Meta` frame).
    attached: Option<u64>,
    attach_written: bool,
    writer: Writer<BufWriter<File>>,
    analysis: Analysis,
    clock: Clock,
    pid: u32,
    interval: u64,
    cmdline: Vec<u8>,
    meta_written: bool,
    modules: Vec<Module>,
    stacks: Vec<(u32, Vec<u64>)>,
    ended: bool,
    /// The status an attached process passed to `exit`/`_exit`.
    exit_status: Option<i32>,
    last_time: u64,
    /// This burst's `CLOCK_MONOTONIC` reading and glibc's `mallinfo2`.
    burst_nanos: Option<u64>,
    mallinfo: Option<(u64, u64)>,
    /// RSS/PSS read while this burst was received.
    rss: Option<RssReading>,
}

impl Recorder {
    fn new(writer: Writer<BufWriter<File>>) -> Self {
        Recorder {
            attached: None,
            attach_written: false,
            writer,
            analysis: Analysis::new(),
            clock: Clock::default(),
            pid: 0,
            interval: 0,
            cmdline: Vec::new(),
            meta_written: false,
            modules: Vec::new(),
            stacks: Vec::new(),
            ended: false,
            exit_status: None,
            last_time: 0,
            burst_nanos: None,
            mallinfo: None,
            rss: None,
        }
    }

    fn write(&mut self, rec: Record) -> anyhow::Result<()> {
        match &rec {
            Record::Meta {
                sample_interval,
                pid,
                cmdline,
            } => self.writer.meta(*sample_interval, *pid, cmdline)?,
            Record::Modules(m) => self.writer.modules(m)?,
            Record::Stacks(s) => self.writer.stacks(s)?,
            Record::Events(e) => self.writer.events(e)?,
            Record::Symbols(s) => self.writer.symbols(s)?,
            Record::Attach { heap_bytes } => self.writer.attach(*heap_bytes)?,
            Record::End { exit, end_time } => self.writer.end(*exit, *end_time)?,
            Record::Mark { name, time } => self.writer.mark(name, *time)?,
            Record::Memory(m) => self.writer.memory(m)?,
        }
        self.analysis.add(rec);
        Ok(())
    }

    /// One burst: a stream header, then records.
    fn burst(&mut self, bytes: &[u8], rss: Option<RssReading>) -> anyhow::Result<()> {
        self.rss = rss;
        let Some(head) = bytes.get(..HEADER_LEN) else {
            return Ok(());
        };
        let Ok(head) = <&[u8; HEADER_LEN]>::try_from(head) else {
            return Ok(());
        };
        let Ok(header) = Header::decode(head) else {
            return Ok(());
        };
        if self.pid != 0 && header.pid != self.pid {
            // Only the program's own process is recorded.
            return Ok(());
        }
        self.pid = header.pid;
        let mut rest = &bytes[HEADER_LEN..];
        // Times are time-stamp counter readings until converted below.
        let mut events: Vec<Event> = Vec::with_capacity(bytes.len() / 24);
        let mut modules = Vec::new();
        let mut stacks = Vec::new();
        while rest.len() >= RECORD_PREFIX {
            let tag = rest[0];
            let len = u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
            let Some(payload) = rest.get(RECORD_PREFIX..RECORD_PREFIX + len) else {
                break;
            };
            rest = &rest[RECORD_PREFIX + len..];
            // The bulk of a burst, decoded without building an event.
            let u64_at = |o: usize| {
                payload
                    .get(o..o + 8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_le_bytes)
            };
            if tag == memdx_events::tag::HEAP_ALLOC && len == 28 {
                if let (Some(ptr), Some(size), Some(time)) = (u64_at(0), u64_at(8), u64_at(20)) {
                    let stack =
                        u32::from_le_bytes([payload[16], payload[17], payload[18], payload[19]]);
                    events.push(Event::Alloc {
                        time,
                        ptr,
                        size,
                        stack,
                    });
                }
                continue;
            }
            if tag == memdx_events::tag::HEAP_FREE && len == 16 {
                if let (Some(ptr), Some(time)) = (u64_at(0), u64_at(8)) {
                    events.push(Event::Free { time, ptr });
                }
                continue;
            }
            let Ok(Some(ev)) = decode_payload(tag, payload) else {
                continue;
            };
            match ev {
                Wire::HeapAlloc {
                    ptr,
                    size,
                    stack,
                    time,
                } => events.push(Event::Alloc {
                    time,
                    ptr,
                    size,
                    stack,
                }),
                Wire::HeapFree { ptr, time } => events.push(Event::Free { time, ptr }),
                Wire::HeapClock { time, nanos } => {
                    self.clock.reading(time, nanos);
                    self.burst_nanos = Some(nanos);
                }
                Wire::HeapMallinfo { held, in_use } => self.mallinfo = Some((held, in_use)),
                Wire::HeapStart { sample_interval } => self.interval = sample_interval,
                Wire::HeapEnd => self.ended = true,
                Wire::HeapExitStatus { status } => self.exit_status = Some(status),
                Wire::CommandLine { args } => self.cmdline = args.join(&0u8),
                Wire::Stack { id, frames } => stacks.push((id, frames)),
                Wire::Module {
                    bias,
                    start,
                    end,
                    path,
                } => modules.push(memdx_heap::LoadedModule {
                    bias,
                    start,
                    end,
                    path,
                }),
                _ => {}
            }
        }
        if !self.meta_written {
            self.meta_written = true;
            self.write(Record::Meta {
                sample_interval: self.interval,
                pid: self.pid,
                cmdline: self.cmdline.clone(),
            })?;
        }
        self.write_attach()?;
        if !modules.is_empty() {
            for m in &modules {
                self.modules.push(Module {
                    bias: m.bias,
                    start: m.start,
                    end: m.end,
                    path: PathBuf::from(std::ffi::OsStr::from_bytes(&m.path)),
                });
            }
            self.write(Record::Modules(modules))?;
        }
        if !stacks.is_empty() {
            self.stacks.extend(stacks.iter().cloned());
            self.write(Record::Stacks(stacks))?;
        }
        // The threads' buffers interleave: program order is time order
        // (stable, so equal times keep their buffer's order).
        events.sort_by_key(event_time);
        for e in &mut events {
            let (Event::Alloc { time, .. } | Event::Free { time, .. }) = e;
            *time = self.clock.ns(*time).max(self.last_time);
            self.last_time = *time;
        }
        if !events.is_empty() {
            // One map of live blocks for the file and the summary.
            self.writer.events_into(&events, &mut self.analysis)?;
        }
        self.write_memory()?;
        Ok(())
    }

    /// A `Memory` frame at this burst: the runtime waits while memdx reads
    /// the burst, so the heap live in the recording, glibc's figures sent
    /// with the burst and the RSS read now describe one moment.
    fn write_memory(&mut self) -> anyhow::Result<()> {
        let Some(nanos) = self.burst_nanos.take() else {
            return Ok(());
        };
        let (allocator_held, allocator_in_use) = match self.mallinfo.take() {
            Some((h, u)) => (Some(h), Some(u)),
            None => (None, None),
        };
        let proc = self.rss.take();
        let m = memdx_heap::MemorySample {
            time: self.clock.since_start(nanos),
            rss: proc.and_then(|p| p.rss),
            pss: proc.and_then(|p| p.pss),
            allocator_held,
            allocator_in_use,
            live_heap: Some(self.analysis.live_bytes().max(0.0).round() as u64),
        };
        self.write(Record::Memory(m))
    }

    /// A `Memory` frame from the timer (no burst came meanwhile): the
    /// process's RSS/PSS read at `nanos` (`CLOCK_MONOTONIC`). The live
    /// heap and glibc's figures come only with bursts (between them the
    /// program's latest records are still in its buffers): not known.
    fn reading(&mut self, nanos: u64, reading: RssReading) -> anyhow::Result<()> {
        if !self.meta_written || self.ended {
            return Ok(());
        }
        let m = memdx_heap::MemorySample {
            time: self.clock.since_start(nanos),
            rss: reading.rss,
            pss: reading.pss,
            allocator_held: None,
            allocator_in_use: None,
            live_heap: None,
        };
        self.write(Record::Memory(m))
    }

    /// A snapshot named `name` marked at `nanos` (`CLOCK_MONOTONIC`).
    fn mark(&mut self, name: &str, nanos: u64) -> anyhow::Result<u64> {
        let time = self.clock.since_start(nanos);
        if self.meta_written {
            self.write(Record::Mark {
                name: name.to_string(),
                time,
            })?;
        }
        Ok(time)
    }

    /// The `Attach` frame, once its figure is known and `Meta` is out.
    fn write_attach(&mut self) -> anyhow::Result<()> {
        if let (Some(heap_bytes), false, true) =
            (self.attached, self.attach_written, self.meta_written)
        {
            self.attach_written = true;
            self.write(Record::Attach { heap_bytes })?;
        }
        Ok(())
    }

    /// Symbols and the end frame; the file's size and the summary.
    fn finish(mut self, exit: HeapExit) -> anyhow::Result<(u64, Summary)> {
        self.write_attach()?;
        let mut sym = Symbolizer::default();
        for m in std::mem::take(&mut self.modules) {
            sym.add_module(m);
        }
        let stacks = std::mem::take(&mut self.stacks);
        let symbols: Vec<(u32, Vec<SymFrame>)> = stacks
            .iter()
            .map(|(id, frames)| {
                let shown = sym
                    .stack(frames)
                    .into_iter()
                    .map(|f| SymFrame {
                        addr: f.addr,
                        function: f.function,
                        file: f.file_line.as_ref().map(|(file, _)| file.clone()),
                        line: f.file_line.as_ref().map_or(0, |(_, l)| *l),
                        object: f.object,
                    })
                    .collect();
                (*id, shown)
            })
            .collect();
        self.write(Record::Symbols(symbols))?;
        // A process that died without its last burst: the recording holds
        // what it flushed.
        let exit = match (exit, self.exit_status) {
            // An attached process that ended: its runtime sent the status.
            (HeapExit::Ended, Some(status)) if self.ended => HeapExit::Exited(status),
            (exit, _)
                if self.ended || matches!(exit, HeapExit::Signaled(_) | HeapExit::Detached) =>
            {
                exit
            }
            _ => HeapExit::Cut,
        };
        let end = self.last_time;
        self.write(Record::End {
            exit,
            end_time: end,
        })?;
        let summary = self.analysis.summary();
        let bytes = self.writer.written();
        self.writer.finish()?;
        Ok((bytes, summary))
    }
}
