//! The checked program as a process: the signals memdx forwards to it
//! while it runs, waiting for it, how memdx ends from how it ended, and
//! the descriptors a collector left behind lets go of.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::Ordering;

use anyhow::Context;

use crate::commands::check::front::Ending;

/// How memdx ends: as the program did, or with `--error-exitcode`'s
/// status when the program's own report has errors.
pub(super) fn ending(status: ExitStatus, errors: u64, error_exitcode: Option<i32>) -> Ending {
    match (error_exitcode, status.signal()) {
        (Some(code), _) if errors > 0 => Ending::Code(code),
        (_, Some(sig)) => Ending::Signal(sig),
        _ => Ending::Code(status.code().unwrap_or(1)),
    }
}

pub(super) fn command_line(program: &OsString, args: &[OsString]) -> String {
    memdx_analyzer::command_text(
        std::iter::once(program)
            .chain(args.iter())
            .map(|a| a.as_bytes()),
    )
}

/// Signals whose default action would end memdx while the program runs:
/// they are the program's (Valgrind is the program's process, so a signal
/// sent to "valgrind" reaches the program).
pub(super) const FORWARDED: [i32; 13] = [
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
pub(super) static CHILD_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
/// Signals received before the program started (bit per signal).
pub(super) static HELD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// The front's pid (`front.rs`): the signals it relays are the ones sent
/// to memdx.
pub(super) static FRONT_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// memdx's handler for [`FORWARDED`]: sends a signal the front relayed on
/// to the program. Others are not: one a terminal sent (`si_code`
/// `SI_KERNEL`: ^C, ^\, hangup) went to the whole foreground process group,
/// the program included, and one sent to the front's process group (or by
/// name) reached the front too, which relays it.
pub(super) extern "C" fn forward_signal(
    sig: i32,
    info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
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
pub(super) fn stop_forwarding() {
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
pub(super) fn install_forwarding() {
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
pub(super) fn start_forwarding(pid: u32) {
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
pub(super) fn wait_program(child: &mut std::process::Child) -> anyhow::Result<ExitStatus> {
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
pub(super) fn make_temp_dir() -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("memdx-check-")
        .tempdir()
        .with_context(|| format!("creating a directory in {}", std::env::temp_dir().display()))
}

/// The descriptors open now, in ascending order.
pub(super) fn open_descriptors() -> Vec<i32> {
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
pub(super) fn let_go_of(fds: &[i32]) {
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
