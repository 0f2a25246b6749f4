//! The process the user waits for.
//!
//! `memdx check` splits in two before it starts anything: the original
//! process (the front) only waits for the outcome and then ends the way the
//! program ended; its child (the worker) starts the program, renders every
//! report and, as soon as the program's own process has exited and its
//! report is complete, sends the outcome to the front. Valgrind returns at
//! that moment too (it is the program's own process). Reports of processes
//! still running then (fork children, daemons, with `--trace-children=yes`
//! anything they exec) need something alive to receive them: when they have
//! files of their own (`%p`), the worker stays behind as a detached
//! collector (`session::run`).
//!
//! Signals sent to the front (`kill PID`, `timeout`) are relayed to the
//! worker, which sends them on to the program (`session/program.rs`'s `forward_signal`
//! accepts only the front's). A front that finds the pipe closed without an
//! outcome (the worker failed before the program ended) ends as the worker
//! did.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicI32, Ordering};

/// The worker's end of the outcome pipe.
pub struct Front {
    pipe: Option<File>,
}

/// How memdx ends: the program's exit status or its fatal signal (or
/// `--error-exitcode`'s status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Code(i32),
    Signal(i32),
}

impl Ending {
    fn encode(self) -> [u8; 5] {
        let (kind, value) = match self {
            Ending::Code(c) => (0u8, c),
            Ending::Signal(s) => (1u8, s),
        };
        let v = value.to_le_bytes();
        [kind, v[0], v[1], v[2], v[3]]
    }

    fn decode(bytes: [u8; 5]) -> Option<Ending> {
        let value = i32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        match bytes[0] {
            0 => Some(Ending::Code(value)),
            1 => Some(Ending::Signal(value)),
            _ => None,
        }
    }

    /// Ends this process so: the same exit status, or death by the same
    /// signal (default action, no core file of our own).
    pub fn end(self) -> ! {
        let _ = std::io::stderr().flush();
        let _ = std::io::stdout().flush();
        match self {
            Ending::Code(code) => std::process::exit(code),
            Ending::Signal(sig) => {
                // SAFETY: resetting a disposition and signalling ourselves.
                unsafe {
                    libc::signal(sig, libc::SIG_DFL);
                    let mut set: libc::sigset_t = std::mem::zeroed();
                    libc::sigemptyset(&mut set);
                    libc::sigaddset(&mut set, sig);
                    libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                    // The program already dumped a core if the system is
                    // configured to.
                    let rl = libc::rlimit {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    libc::setrlimit(libc::RLIMIT_CORE, &rl);
                    libc::raise(sig);
                }
                std::process::exit(128 + sig)
            }
        }
    }
}

impl Front {
    /// The worker's end of the pipe (-1 once released).
    pub fn raw_fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.pipe.as_ref().map_or(-1, |p| p.as_raw_fd())
    }

    /// Tells the front how to end; it exits at once. Later calls do nothing.
    pub fn release(&mut self, ending: Ending) {
        if let Some(mut pipe) = self.pipe.take() {
            // A front that is gone (killed) has nobody to tell.
            let _ = pipe.write_all(&ending.encode());
        }
    }
}

/// The worker's pid, for the front's signal relay.
static WORKER_PID: AtomicI32 = AtomicI32::new(0);

/// The front's handler: a signal from anyone but the terminal goes on to
/// the worker (one the terminal sent, `SI_KERNEL`, reached the program's
/// whole process group already).
extern "C" fn relay_signal(sig: i32, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo.
    let from_terminal = !info.is_null() && unsafe { (*info).si_code } == libc::SI_KERNEL;
    let worker = WORKER_PID.load(Ordering::Acquire);
    if !from_terminal && worker > 0 {
        // SAFETY: kill(2) is async-signal-safe; the worker is our child and
        // is never reaped while this handler is installed.
        unsafe { libc::kill(worker, sig) };
    }
}

/// Splits memdx into the front and the worker. Returns in the worker only,
/// after `install_in_worker` has set up the worker's own handlers; the
/// front waits for the outcome and ends with it. Call while memdx has one
/// thread (fork copies only the calling one). `signals` (those not
/// ignored) are blocked across the split, so one that arrives meanwhile
/// waits for the handler of whichever process it was sent to: the front
/// may not run for a while after the fork on a busy machine, and the
/// program could be started and signalled by then.
pub fn split(signals: &[i32], install_in_worker: fn()) -> anyhow::Result<Front> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 into a local array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        anyhow::bail!("creating a pipe: {}", std::io::Error::last_os_error());
    }
    // memdx may have been started with 0-2 closed: the pipe must not take
    // their numbers (stderr writes would land in it).
    for fd in &mut fds {
        if *fd < 3 {
            // SAFETY: duplicating our own fresh descriptor above 2.
            let high = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3) };
            if high < 0 {
                anyhow::bail!("moving a pipe: {}", std::io::Error::last_os_error());
            }
            // SAFETY: the low number is ours and no longer used.
            unsafe { libc::close(*fd) };
            *fd = high;
        }
    }
    // SAFETY: both descriptors are fresh and owned here.
    let (read_end, write_end) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    let caught: Vec<i32> = signals.iter().copied().filter(|&s| !ignored(s)).collect();
    // SAFETY: building a signal set in a local and blocking it for this
    // (only) thread; `old` is restored on both sides of the fork.
    let old = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &sig in &caught {
            libc::sigaddset(&mut set, sig);
        }
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old);
        old
    };
    let unblock = || {
        // SAFETY: restoring the mask saved above.
        unsafe { libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    };
    // SAFETY: fork while memdx has one thread; the child goes on with
    // ordinary Rust code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        unblock();
        anyhow::bail!("fork: {}", std::io::Error::last_os_error());
    }
    if pid == 0 {
        drop(read_end);
        install_in_worker();
        unblock();
        return Ok(Front {
            pipe: Some(write_end),
        });
    }
    drop(write_end);
    WORKER_PID.store(pid, Ordering::Release);
    for &sig in &caught {
        // SAFETY: setting a disposition with a local struct.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = relay_signal as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    unblock();
    wait_for_outcome(read_end, pid).end()
}

/// Whether memdx was started with `sig` ignored (it stays so, for the
/// program too).
fn ignored(sig: i32) -> bool {
    // SAFETY: querying a disposition into a local.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) != 0 || old.sa_sigaction == libc::SIG_IGN
    }
}

/// The front's whole life after the split: the outcome, or (pipe closed
/// without one) the worker's own end.
fn wait_for_outcome(mut pipe: File, worker: i32) -> Ending {
    let mut bytes = [0u8; 5];
    if pipe.read_exact(&mut bytes).is_ok() {
        if let Some(ending) = Ending::decode(bytes) {
            return ending;
        }
    }
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child into a local.
        let r = unsafe { libc::waitpid(worker, &mut status, 0) };
        if r == worker {
            break;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Ending::Code(1);
        }
    }
    if libc::WIFSIGNALED(status) {
        Ending::Signal(libc::WTERMSIG(status))
    } else {
        Ending::Code(libc::WEXITSTATUS(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_round_trip_through_the_pipe_encoding() {
        for e in [
            Ending::Code(0),
            Ending::Code(3),
            Ending::Code(-1),
            Ending::Signal(libc::SIGTERM),
        ] {
            assert_eq!(Ending::decode(e.encode()), Some(e));
        }
        assert_eq!(Ending::decode([9, 0, 0, 0, 0]), None);
    }
}
