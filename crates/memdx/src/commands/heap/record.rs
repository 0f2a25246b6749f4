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
use memdx_heap::{Analysis, Exit as HeapExit, Record, Summary, SymFrame, Writer};

use super::readings::{self, LastRead, RssReading};

mod processes;
mod recorder;
mod snapshots;
use crate::commands::check::front::Ending;
use crate::commands::check::runtime_lib;
use crate::commands::check::symbolize::{Module, Symbolizer};
use crate::exit::Exit;
use processes::Processes;
use recorder::Recorder;
pub use snapshots::control_socket;
use snapshots::{control, on_usr1, watch_usr1};

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
