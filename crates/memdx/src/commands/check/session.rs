//! One checked run: the socket, the program, one reader thread per stream
//! (a process sends one stream per burst of records; those of one process
//! are joined into its report), and the program's fate turned into ours.
//!
//! Its parts: `program` (signals forwarded to the program, its wait and
//! ending), `streams` (the readers of the event streams and the processes
//! they report on), `output` (where each process's text, XML and JSON go).

mod output;
mod program;
mod streams;
mod workers;

use output::{names_pid, not_collected_note, user_fd, Output};
use program::{
    command_line, ending, install_forwarding, let_go_of, make_temp_dir, open_descriptors,
    start_forwarding, stop_forwarding, wait_program, FORWARDED, FRONT_PID,
};
use streams::{
    close_reports_of_the_gone, connection_waiting, join_ended, main_errors, outliving,
    process_alive, serve, still_reporting, wait_readable, Activity, Processes, Reader, ReaderState,
};

use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use memdx_analyzer::Sink;

use super::front;
use super::options::{CheckOptions, LeakCheck};

static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Starts the clock the XML's `<time>` counts from (memdx's start).
pub fn start_clock() -> std::time::Instant {
    *START.get_or_init(std::time::Instant::now)
}

/// Milliseconds since [`start_clock`].
pub fn elapsed_ms() -> u64 {
    u64::try_from(start_clock().elapsed().as_millis()).unwrap_or(u64::MAX)
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
    cmd.env(
        "MEMDX_WATCH_BLOCKS",
        if opts.watch_blocks { "yes" } else { "no" },
    );
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
    // Rung (a byte written) with `stop` set: wakes the acceptor, which
    // otherwise waits for connections without a timeout.
    let (stop_bell, stop_heard) =
        std::os::unix::net::UnixStream::pair().context("making the acceptor's stop socket pair")?;
    let ring_stop = || {
        stop.store(true, Ordering::Release);
        let _ = (&stop_bell).write(&[1]);
    };
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
        let accepting = accepting.clone();
        let activity = activity.clone();
        let opts = opts.clone();
        let out = out.clone();
        let readers = readers.clone();
        let processes = processes.clone();
        let xml_out = xml_out.clone();
        std::thread::spawn(move || {
            let workers = workers::Workers::new();
            loop {
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
                        // Listed before it can end, so the main thread
                        // never misses a stream.
                        if let Ok(mut list) = readers.lock() {
                            list.push(Reader { state });
                        }
                        workers.run(Box::new(move || {
                            serve(stream, opts, out, main_pid, xml_out, &st, &processes);
                            st.done.store(true, Ordering::Release);
                            ended.ring();
                        }));
                        accepting.store(false, Ordering::SeqCst);
                        activity.ring();
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        accepting.store(false, Ordering::SeqCst);
                        if stop.load(Ordering::Acquire) {
                            break;
                        }
                        // The runtime waits for each stream to be read
                        // before it goes on: accept as soon as one arrives.
                        wait_readable(&listener, &stop_heard);
                    }
                    Err(_) => break,
                }
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
    // Before the front lets the user go, so the next run finds them.
    super::symbolize::save_frame_cache();
    if outliving.is_empty() || !(keep_text || keep_xml || keep_json) {
        front.release(ending);
        ring_stop();
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
    super::symbolize::save_frame_cache();
    ring_stop();
    let _ = acceptor.join();
    Ok(())
}
