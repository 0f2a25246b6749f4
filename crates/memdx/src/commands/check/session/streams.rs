//! The event streams of a run: one reader thread per stream (a process
//! sends one per burst of records; those of one process are joined into
//! its report), the bell the readers ring for the main thread, and what
//! the main thread asks about the processes (gone, still reporting).

use std::fs::File;
use std::io::{BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use memdx_analyzer::{ProcessReport, Sink};
use memdx_events::{needs_ack, EventReader, FLAG_CONTINUATION, FLAG_FORK_CHILD};

use super::output::{write_machine_reports, Output, ProcessSink};
use crate::commands::check::options::CheckOptions;

/// Whether `pid` still runs (a zombie does not: it died without reporting).
pub(super) fn process_alive(pid: u32) -> bool {
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
pub(super) fn runtime_loaded(pid: u32, runtime_name: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/maps")).is_ok_and(|maps| maps_name(&maps, runtime_name))
}

/// Whether a `/proc/PID/maps` text maps a file named `name` (also one
/// deleted since: the user may clear the cache while a daemon runs).
pub(super) fn maps_name(maps: &[u8], name: &[u8]) -> bool {
    maps.split(|&b| b == b'\n').any(|line| {
        let line = line.strip_suffix(b" (deleted)").unwrap_or(line);
        line.ends_with(name) && line.len() > name.len() && line[line.len() - name.len() - 1] == b'/'
    })
}

/// One process's report, fed by each of its streams in turn (the runtime
/// connects once per burst of records and waits until a stream is read
/// before it opens the next).
pub(super) struct Process {
    pub(super) pid: u32,
    /// `--child-silent-after-fork=yes` and a fork child: nothing of its
    /// report is written (text, XML or JSON), as under Valgrind.
    pub(super) silent: bool,
    /// The report is complete and its machine-readable files written.
    pub(super) done: AtomicBool,
    pub(super) report: Mutex<Rendering>,
}

/// A process's report and where its text goes.
pub(super) struct Rendering {
    pub(super) report: ProcessReport,
    pub(super) sink: ProcessSink,
}

/// Every process report of the run, in the order they started.
pub(super) type Processes = Arc<Mutex<Vec<Arc<Process>>>>;

/// The report a stream with `header` belongs to: the latest one of its pid
/// for a continuation, a new one otherwise (a program exec'd in the same
/// process starts a new report; the old image's report is closed as it is).
pub(super) fn process_for(
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
            if !old.silent {
                write_machine_reports(&r.report, opts, old.pid, main_pid, xml_out);
            }
        }
    }
    let mut report = crate::commands::check::analysis::new_report(header.pid, opts);
    // A program exec'd under --trace-children=yes gets its own preamble
    // (when its command line arrives).
    report.announce_command = header.pid != main_pid && header.flags & FLAG_FORK_CHILD == 0;
    let silent = opts.child_silent_after_fork && header.flags & FLAG_FORK_CHILD != 0;
    let mut sink = out.sink(header.pid);
    if silent {
        sink.muted = Some(Arc::new(AtomicBool::new(true)));
    }
    let p = Arc::new(Process {
        pid: header.pid,
        silent,
        done: AtomicBool::new(false),
        report: Mutex::new(Rendering { report, sink }),
    });
    list.push(p.clone());
    Some(p)
}

/// Closes a process's report and writes its machine-readable files. An
/// unfinished one is said to be so when `say_so` (the process died in the
/// middle of a stream, or it is the program's own process).
pub(super) fn close_report(
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
        if !p.silent {
            write_machine_reports(report, opts, p.pid, main_pid, xml_out);
        }
    }
}

/// Reads one stream to its end into its process's report, and closes the
/// connection only then (the runtime waits for that before its next
/// stream).
pub(super) fn serve(
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
pub(super) fn connection_waiting(listener: &UnixListener) -> bool {
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
pub(super) struct Activity {
    pub(super) rung: Mutex<bool>,
    pub(super) bell: std::sync::Condvar,
}

impl Activity {
    pub(super) fn ring(&self) {
        if let Ok(mut rung) = self.rung.lock() {
            *rung = true;
            self.bell.notify_all();
        }
    }

    /// Waits for a ring (one since the last wait counts) or `timeout`.
    pub(super) fn wait(&self, timeout: Duration) {
        if let Ok(rung) = self.rung.lock() {
            if let Ok((mut rung, _)) = self.bell.wait_timeout_while(rung, timeout, |r| !*r) {
                *rung = false;
            }
        }
    }
}

/// Waits until `listener` has a connection to accept or `stop` is rung
/// (something to read on it): no timeout, so an idle run does not wake
/// memdx every few milliseconds.
pub(super) fn wait_readable(listener: &UnixListener, stop: &UnixStream) {
    use std::os::fd::AsRawFd;
    let mut pfds = [
        libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: stop.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: two pollfds on descriptors the caller owns.
    unsafe { libc::poll(pfds.as_mut_ptr(), 2, -1) };
}

/// What the main thread knows of one process stream's reader.
#[derive(Default)]
pub(super) struct ReaderState {
    /// The process's pid, once its header is read (0 before).
    pub(super) pid: std::sync::atomic::AtomicU32,
    /// The stream has ended.
    pub(super) done: AtomicBool,
}

/// One stream being read (on a thread of [`super::workers::Workers`]).
pub(super) struct Reader {
    pub(super) state: Arc<ReaderState>,
}

/// Takes the readers whose stream has ended out of `readers`.
pub(super) fn join_ended(readers: &Mutex<Vec<Reader>>) {
    if let Ok(mut list) = readers.lock() {
        list.retain(|r| !r.state.done.load(Ordering::Acquire));
    }
}

/// Closes the reports of processes that are gone without finishing them
/// (said to be unfinished only for the program's own process).
pub(super) fn close_reports_of_the_gone(
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
pub(super) fn main_errors(processes: &Processes, main_pid: u32) -> u64 {
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
pub(super) fn outliving(
    processes: &Processes,
    readers: &Mutex<Vec<Reader>>,
    main_pid: u32,
) -> Vec<u32> {
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
pub(super) fn still_reporting(processes: &Processes, runtime_name: &[u8]) -> bool {
    processes.lock().is_ok_and(|list| {
        list.iter().any(|p| {
            !p.done.load(Ordering::Acquire)
                && process_alive(p.pid)
                && runtime_loaded(p.pid, runtime_name)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn a_mapped_runtime_is_found_also_once_deleted() {
        let name = b"libmemdx_runtime-9-1234abcd.so";
        let live = b"7f00-7f10 r-xp 00000000 fe:01 42 /home/u/.cache/memdx/libmemdx_runtime-9-1234abcd.so\n";
        let gone = b"7f00-7f10 r-xp 00000000 fe:01 42 /home/u/.cache/memdx/libmemdx_runtime-9-1234abcd.so (deleted)\n";
        let other = b"7f00-7f10 r-xp 00000000 fe:01 42 /lib/xlibmemdx_runtime-9-1234abcd.so\n";
        assert!(maps_name(live, name));
        assert!(maps_name(gone, name));
        assert!(!maps_name(other, name));
        assert!(!maps_name(b"", name));
    }
}
