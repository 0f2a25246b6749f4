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
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixListener;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use anyhow::Context;
use memdx_events::{decode_payload, Event as Wire, Header, HEADER_LEN, RECORD_PREFIX};
use memdx_heap::{Analysis, Event, Exit as HeapExit, Record, Summary, SymFrame, Writer};

use crate::commands::check::front::Ending;
use crate::commands::check::runtime_lib;
use crate::commands::check::symbolize::{Module, Symbolizer};
use crate::exit::Exit;

/// What `memdx heap` was asked to do.
pub struct Options {
    pub program: Vec<OsString>,
    pub output: Option<PathBuf>,
    /// Mean bytes between samples; 0: every allocation.
    pub sample_interval: u64,
    pub num_callers: usize,
}

/// How the run went.
pub struct Outcome {
    pub path: PathBuf,
    pub bytes: u64,
    pub summary: Summary,
    pub ending: Ending,
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> anyhow::Result<TempDir> {
    let base = std::env::temp_dir();
    for n in 0..100u32 {
        let p = base.join(format!("memdx-heap-{}-{n}", std::process::id()));
        if std::fs::create_dir(&p).is_ok() {
            return Ok(TempDir(p));
        }
    }
    anyhow::bail!(
        "cannot create a temporary directory under {}",
        base.display()
    )
}

/// What the recorder thread is sent.
pub enum Msg {
    /// One burst of the runtime's records, as read from its connection.
    Burst(Vec<u8>),
    /// Attached to a running process: heap bytes in use then.
    Attached(u64),
}

/// The runtime's socket and the two threads that turn its bursts into a
/// recording.
pub struct Session {
    _dir: TempDir,
    pub sock: PathBuf,
    done: Arc<AtomicBool>,
    tx: mpsc::SyncSender<Msg>,
    receiver: std::thread::JoinHandle<()>,
    recorder: std::thread::JoinHandle<anyhow::Result<Recorder>>,
}

impl Session {
    /// Listens on a fresh socket and starts the receiver and the recorder.
    pub fn start(writer: Writer<BufWriter<File>>) -> anyhow::Result<Session> {
        let dir = temp_dir()?;
        let sock = dir.0.join("events.sock");
        let listener = UnixListener::bind(&sock)
            .with_context(|| format!("listening on {}", sock.display()))?;
        let (tx, rx) = mpsc::sync_channel::<Msg>(8);
        let done = Arc::new(AtomicBool::new(false));
        let receiver = {
            let done = Arc::clone(&done);
            let tx = tx.clone();
            std::thread::spawn(move || receive(&listener, &tx, &done))
        };
        let recorder = std::thread::spawn(move || {
            let mut r = Recorder::new(writer);
            for msg in rx {
                match msg {
                    Msg::Burst(burst) => r.burst(&burst)?,
                    Msg::Attached(bytes) => r.attached = Some(bytes),
                }
            }
            Ok::<Recorder, anyhow::Error>(r)
        });
        Ok(Session {
            _dir: dir,
            sock,
            done,
            tx,
            receiver,
            recorder,
        })
    }

    /// Tells the recorder the heap's size at the attach.
    pub fn attached(&self, heap_bytes: u64) {
        let _ = self.tx.send(Msg::Attached(heap_bytes));
    }

    /// Stops receiving (the runtime has sent its last burst or is gone),
    /// writes the symbols and the end: the file's size and the summary.
    pub fn finish(self, exit: HeapExit) -> anyhow::Result<(u64, Summary)> {
        // Wake the receiver (it blocks in accept).
        self.done.store(true, Ordering::Release);
        let _ = std::os::unix::net::UnixStream::connect(&self.sock);
        let _ = self.receiver.join();
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
    let path = opts
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("memdx-heap.{}.mdxh.part", std::process::id())));
    let writer = create(&path)?;
    let session = Session::start(writer)?;
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
    let path = match &opts.output {
        Some(p) => p.clone(),
        None => {
            // Named after the program's pid, known now.
            let named = PathBuf::from(format!("memdx-heap.{pid}.mdxh"));
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
    let (bytes, summary) = session
        .finish(exit)
        .with_context(|| format!("memdx heap: writing {}", path.display()))?;
    Ok(Outcome {
        path,
        bytes,
        summary,
        ending,
    })
}

/// Accepts the runtime's connections and queues each burst.
fn receive(listener: &UnixListener, tx: &mpsc::SyncSender<Msg>, done: &AtomicBool) {
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let mut burst = Vec::with_capacity(1 << 20);
        let _ = conn.read_to_end(&mut burst);
        drop(conn);
        if burst.is_empty() {
            if done.load(Ordering::Acquire) {
                return;
            }
            continue;
        }
        if tx.send(Msg::Burst(burst)).is_err() {
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

    fn ns(&self, tsc: u64) -> u64 {
        match self.first {
            Some((t0, _)) => (tsc.saturating_sub(t0) as f64 * self.rate) as u64,
            None => 0,
        }
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
        }
        self.analysis.add(rec);
        Ok(())
    }

    /// One burst: a stream header, then records.
    fn burst(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
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
        // (time, address, size, stack): a release has size u64::MAX.
        let mut timed: Vec<(u64, u64, u64, u32)> = Vec::with_capacity(bytes.len() / 24);
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
                    timed.push((time, ptr, size, stack));
                }
                continue;
            }
            if tag == memdx_events::tag::HEAP_FREE && len == 16 {
                if let (Some(ptr), Some(time)) = (u64_at(0), u64_at(8)) {
                    timed.push((time, ptr, u64::MAX, 0));
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
                } => timed.push((time, ptr, size.min(u64::MAX - 1), stack)),
                Wire::HeapFree { ptr, time } => timed.push((time, ptr, u64::MAX, 0)),
                Wire::HeapClock { time, nanos } => self.clock.reading(time, nanos),
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
                } => modules.push((bias, start, end, path)),
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
            for (bias, start, end, path) in &modules {
                self.modules.push(Module {
                    bias: *bias,
                    start: *start,
                    end: *end,
                    path: PathBuf::from(std::ffi::OsStr::from_bytes(path)),
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
        timed.sort_by_key(|&(t, ..)| t);
        let events: Vec<Event> = timed
            .into_iter()
            .map(|(tsc, ptr, size, stack)| {
                let time = self.clock.ns(tsc).max(self.last_time);
                self.last_time = time;
                if size == u64::MAX {
                    Event::Free { time, ptr }
                } else {
                    Event::Alloc {
                        time,
                        ptr,
                        size,
                        stack,
                    }
                }
            })
            .collect();
        if !events.is_empty() {
            self.write(Record::Events(events))?;
        }
        Ok(())
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
