//! `memdx heap --pid PID`: attach to a running process, record its
//! allocations until Ctrl-C, `--duration` or its end, and detach.
//!
//! 1. Checks (`target`): the process exists, is ours (or we are root),
//!    is not traced, and maps a C library (not statically linked).
//! 2. The recording's session starts (socket, receiver, recorder).
//! 3. One thread is stopped at a safe point (`remote`) and made to call
//!    its C library's `dlopen` on memdx's runtime (which stays dormant),
//!    then the runtime's `memdx_attach` (socket path, sampling interval,
//!    frames per stack): profiling mode starts and the allocator calls of
//!    every loaded object are redirected (`memdx-runtime/src/attach.rs`).
//!    Its registers are put back and it goes on.
//! 4. At the end a thread is stopped again and calls `memdx_detach`: the
//!    slots are put back and the last burst sent. The runtime stays
//!    loaded, idle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use memdx_heap::{Exit as HeapExit, Summary};

use super::record::{self, Session};
use super::remote::{self, Arg, Unsafe};
use super::target::{self, Mapped};
use crate::commands::check::runtime_lib;
use crate::exit::Exit;

/// What `memdx heap --pid` was asked to do.
pub struct Options {
    pub pid: i32,
    pub output: Option<std::path::PathBuf>,
    pub duration: Option<Duration>,
    pub sample_interval: u64,
    pub num_callers: usize,
}

/// How the attach went.
pub struct Outcome {
    pub path: std::path::PathBuf,
    pub bytes: u64,
    pub summary: Summary,
    /// The process ended while attached.
    pub ended: bool,
}

/// How long a remote call may take (loading the runtime reads it from
/// disk; the first burst waits for the recorder).
const CALL_TIME: Duration = Duration::from_secs(30);
/// How long memdx looks for a thread stopped at a safe point.
const STOP_TIME: Duration = Duration::from_secs(10);
/// The same at the detach, longer: giving up leaves the allocator calls
/// redirected (to a runtime that no longer records).
const DETACH_TIME: Duration = Duration::from_secs(60);

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::Release);
}

fn fail(msg: impl std::fmt::Display) -> anyhow::Error {
    Exit::new(1, format!("memdx heap: {msg}")).into()
}

pub fn run(opts: &Options) -> anyhow::Result<Outcome> {
    let pid = opts.pid;
    target::check_owner(pid).map_err(fail)?;
    if state(pid).as_deref() == Some("T") {
        // Resuming one of its threads for the calls would wake it up.
        return Err(fail(format!(
            "process {pid} is stopped (SIGSTOP or a job-control stop): continue it first (kill -CONT {pid})"
        )));
    }
    let libc_map = target::mapped(pid, target::is_libc)
        .map_err(fail)?
        .ok_or_else(|| fail(target::TargetError::Static(pid)))?;
    let (dlopen, _) =
        target::symbol(pid, &libc_map, &["dlopen", "__libc_dlopen_mode"]).map_err(fail)?;
    let loader = target::mapped(pid, target::is_loader).map_err(fail)?;
    let runtime = runtime_lib::path()?;
    let runtime_c = std::ffi::CString::new(runtime.as_os_str().as_encoded_bytes())
        .map_err(|_| fail("the runtime's path holds a NUL byte"))?;

    let path = opts
        .output
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(format!("memdx-heap.{pid}.mdxh")));
    let writer = record::create(&path)?;
    let session = Session::start(writer, None)?;

    let mut avoid = Unsafe(libc_map.ranges.clone());
    if let Some(l) = &loader {
        avoid.0.extend(l.ranges.iter().copied());
    }
    // Ctrl-C and SIGTERM end the attach (the process is not touched).
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }

    let attached = inject(pid, dlopen, &runtime_c, &session, opts, &avoid);
    let rt = match attached {
        Ok(rt) => rt,
        Err(e) => {
            let _ = session.finish(HeapExit::Cut);
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
    };
    eprintln!(
        "memdx heap: attached to process {pid} ({} allocator calls redirected in {} objects); {}",
        rt.slots,
        rt.objects,
        match opts.duration {
            Some(d) => format!("detaching after {} s or on Ctrl-C", d.as_secs_f64()),
            None => "Ctrl-C detaches".to_string(),
        }
    );
    session.attached(rt.heap_bytes);

    let start = Instant::now();
    let ended = loop {
        if !alive(pid) {
            break true;
        }
        if STOP.load(Ordering::Acquire) || opts.duration.is_some_and(|d| start.elapsed() >= d) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut exit = HeapExit::Detached;
    if ended {
        exit = HeapExit::Ended;
    } else {
        avoid.0.extend(rt.mapped.ranges.iter().copied());
        if let Err(e) = detach(pid, rt.detach, &avoid, DETACH_TIME) {
            if alive(pid) {
                let _ = session.finish(HeapExit::Cut);
                return Err(fail(format!("detaching from process {pid}: {e}")));
            }
            exit = HeapExit::Cut;
        }
    }
    let (bytes, summary) = session
        .finish(exit)
        .map_err(|e| fail(format!("writing {}: {e}", path.display())))?;
    Ok(Outcome {
        path,
        bytes,
        summary,
        ended,
    })
}

/// The runtime inside the process once attached.
struct Attached {
    mapped: Mapped,
    detach: u64,
    heap_bytes: u64,
    slots: u64,
    objects: u64,
}

/// Loads the runtime and starts recording.
fn inject(
    pid: i32,
    dlopen: u64,
    runtime: &std::ffi::CStr,
    session: &Session,
    opts: &Options,
    avoid: &Unsafe,
) -> anyhow::Result<Attached> {
    let mut t = remote::stop_safely(pid, avoid, STOP_TIME).map_err(fail)?;
    let result = (|| {
        let (handle, _) = t
            .call(
                dlopen,
                &[
                    Arg::Data(0),
                    Arg::Value((libc::RTLD_NOW | libc::RTLD_LOCAL) as u64),
                ],
                runtime.to_bytes_with_nul(),
                CALL_TIME,
            )
            .map_err(|e| fail(format!("loading the runtime into process {pid}: {e}")))?;
        if handle == 0 {
            return Err(fail(format!(
                "process {pid} could not load {} (dlopen failed: is it readable by the process's user?)",
                runtime.to_string_lossy()
            )));
        }
        let want = std::path::PathBuf::from(runtime.to_string_lossy().into_owned());
        let mapped = target::mapped(pid, |p| p == want)
            .map_err(fail)?
            .ok_or_else(|| {
                fail(format!(
                    "the runtime is not mapped in process {pid} after dlopen"
                ))
            })?;
        let (attach_fn, _) = target::symbol(pid, &mapped, &["memdx_attach"]).map_err(fail)?;
        let (detach_fn, _) = target::symbol(pid, &mapped, &["memdx_detach"]).map_err(fail)?;
        // Data: the AttachOut (4 words), then the socket path.
        let mut data = vec![0u8; 32];
        data.extend_from_slice(session.sock.as_os_str().as_encoded_bytes());
        data.push(0);
        let (rc, at) = t
            .call(
                attach_fn,
                &[
                    Arg::Data(32),
                    Arg::Value(opts.sample_interval),
                    Arg::Value(opts.num_callers as u64),
                    Arg::Data(0),
                ],
                &data,
                CALL_TIME,
            )
            .map_err(|e| fail(format!("starting the recording in process {pid}: {e}")))?;
        let out = t.read(at, 32).map_err(fail)?;
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&out[i * 8..i * 8 + 8]);
            u64::from_le_bytes(b)
        };
        match rc as u32 as i32 {
            0 => Ok(Attached {
                mapped,
                detach: detach_fn,
                heap_bytes: word(0),
                slots: word(2),
                objects: word(3),
            }),
            -1 => Err(fail(format!(
                "process {pid} already runs under memdx (memdx check or memdx heap)"
            ))),
            -2 => Err(fail(format!(
                "another memdx heap --pid is attached to process {pid}"
            ))),
            -3 => Err(fail(format!(
                "process {pid} has no memory for memdx's buffers"
            ))),
            _ => Err(fail(format!(
                "process {pid}: no allocator call to redirect was found in its loaded objects"
            ))),
        }
    })();
    t.release().map_err(fail)?;
    result
}

/// Stops recording: the runtime puts the slots back and sends its last
/// burst.
/// A thread stopped in the middle of the runtime's own flush (waiting for
/// the recorder in a system call) refuses (-5): another stop is tried.
fn detach(
    pid: i32,
    detach_fn: u64,
    avoid: &Unsafe,
    within: Duration,
) -> Result<(), remote::RemoteError> {
    let deadline = Instant::now() + within;
    loop {
        let mut t = remote::stop_safely(pid, avoid, within)?;
        let r = t.call(detach_fn, &[], &[0u8; 16], CALL_TIME);
        t.release()?;
        let (rc, _) = r?;
        if rc as u32 as i32 != -5 || Instant::now() >= deadline {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The process's state letter from `/proc/PID/stat` (None: gone).
fn state(pid: i32) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = s.rsplit_once(')')?;
    rest.split_whitespace().next().map(str::to_string)
}

/// Whether the process still runs (not gone, not a zombie).
fn alive(pid: i32) -> bool {
    state(pid).is_some_and(|st| st != "Z" && st != "X")
}
