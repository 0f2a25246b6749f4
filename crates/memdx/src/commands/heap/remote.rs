//! Making one thread of another process call a function, through ptrace
//! (x86-64): `PTRACE_SEIZE` and `PTRACE_INTERRUPT` stop the thread; its
//! general registers and its whole extended state (`NT_X86_XSTATE`: SSE,
//! AVX) are saved; the call runs on the thread's own stack below its red
//! zone with a return address of 0, so it ends in a SIGSEGV at address 0
//! that memdx catches (and the program never sees); then the registers
//! are put back and the thread detached. A thread stopped inside a system
//! call restarts it (the kernel does that on the saved registers, as it
//! would after a signal handler).
//!
//! Only the chosen thread stops; the process's other threads run on, so a
//! lock one of them holds (glibc's malloc arena, the loader's lock) is
//! released as usual while the call waits for it. The chosen thread must
//! not hold one itself: it is used only when stopped outside the C
//! library and the loader, or inside them in a blocking system call that
//! holds none of their locks (`safe_stop`); otherwise it runs a little
//! longer and is stopped again.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

/// What went wrong with a remote call.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}")]
    Refused(String),
    #[error("ptrace({what}) on thread {tid}: {err}")]
    Ptrace {
        what: &'static str,
        tid: i32,
        err: std::io::Error,
    },
    #[error("the process ended")]
    Gone,
    #[error("no thread of process {0} stopped outside the C library within {1} s (each was busy in malloc or the loader); try again")]
    NoSafeThread(i32, u64),
    #[error("the call into the process did not return within {0} s")]
    Timeout(u64),
    #[error("the call into the process faulted at {rip:#x} (signal {sig})")]
    Faulted { rip: u64, sig: i32 },
    #[error("/proc/{0}/mem: {1}")]
    Mem(i32, std::io::Error),
}

const NT_X86_XSTATE: libc::c_int = 0x202;
const XSTATE_MAX: usize = 16384;

/// Address ranges where a stopped thread may hold a lock the call needs:
/// the C library and the loader (and memdx's runtime once loaded).
pub struct Unsafe(pub Vec<(u64, u64)>);

impl Unsafe {
    fn contains(&self, a: u64) -> bool {
        self.0.iter().any(|&(lo, hi)| a >= lo && a < hi)
    }
}

/// System calls in which a thread holds none of the C library's or the
/// loader's locks (it waits for input, time, a child, a futex).
const BLOCKING: [i64; 23] = [
    0,   // read
    1,   // write
    7,   // poll
    23,  // select
    24,  // sched_yield
    34,  // pause
    35,  // nanosleep
    43,  // accept
    45,  // recvfrom
    47,  // recvmsg
    61,  // wait4
    128, // rt_sigtimedwait
    130, // rt_sigsuspend
    202, // futex
    219, // restart_syscall (a sleep resumed after an earlier stop)
    230, // clock_nanosleep
    232, // epoll_wait
    247, // waitid
    270, // pselect6
    271, // ppoll
    281, // epoll_pwait
    288, // accept4
    441, // epoll_pwait2
];

/// A thread stopped by memdx, with what it must get back.
pub struct Stopped {
    pid: i32,
    tid: i32,
    regs: libc::user_regs_struct,
    xstate: Vec<u8>,
    /// Signals that arrived while the thread was stopped or calling:
    /// delivered when it is let go.
    signals: Vec<i32>,
    mem: File,
}

fn ptrace(
    req: libc::c_uint,
    tid: i32,
    addr: usize,
    data: usize,
    what: &'static str,
) -> Result<libc::c_long, RemoteError> {
    // SAFETY: ptrace requests on a thread memdx traces, with pointers to
    // local structures where the request takes one.
    let r = unsafe { libc::ptrace(req, tid, addr, data) };
    if r == -1 {
        return Err(RemoteError::Ptrace {
            what,
            tid,
            err: std::io::Error::last_os_error(),
        });
    }
    Ok(r)
}

/// Waits for `tid` to stop, up to `deadline`: (signal, ptrace event).
fn wait_stop(tid: i32, deadline: Instant) -> Result<Option<(i32, i32)>, RemoteError> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid on a traced thread.
        let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL | libc::WNOHANG) };
        if r == tid {
            if libc::WIFSTOPPED(status) {
                return Ok(Some((libc::WSTOPSIG(status), status >> 16)));
            }
            return Err(RemoteError::Gone);
        }
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(RemoteError::Gone);
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// The threads of `pid`, the main thread first.
fn threads(pid: i32) -> Vec<i32> {
    let mut tids: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    tids.sort_by_key(|&t| (t != pid, t));
    tids
}

/// Stops one thread of `pid` at a point where it holds none of the C
/// library's locks, within `within`.
pub fn stop_safely(pid: i32, avoid: &Unsafe, within: Duration) -> Result<Stopped, RemoteError> {
    let deadline = Instant::now() + within;
    let mut seized_once = false;
    loop {
        let tids = threads(pid);
        if tids.is_empty() {
            return Err(RemoteError::Gone);
        }
        for &tid in &tids {
            match try_thread(pid, tid, avoid) {
                Ok(Some(s)) => return Ok(s),
                Ok(None) => seized_once = true,
                Err(RemoteError::Ptrace { err, .. })
                    if err.raw_os_error() == Some(libc::EPERM) && !seized_once =>
                {
                    return Err(RemoteError::Refused(super::target::why_refused(pid)));
                }
                // The thread ended meanwhile: the next one.
                Err(RemoteError::Ptrace { err, .. }) if err.raw_os_error() == Some(libc::ESRCH) => {
                }
                Err(RemoteError::Gone) => {}
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                return Err(RemoteError::NoSafeThread(pid, within.as_secs()));
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Seizes and stops `tid`; keeps it stopped when it is at a safe point,
/// else lets it go again (None).
fn try_thread(pid: i32, tid: i32, avoid: &Unsafe) -> Result<Option<Stopped>, RemoteError> {
    ptrace(libc::PTRACE_SEIZE, tid, 0, 0, "SEIZE")?;
    let mut signals = Vec::new();
    if let Err(e) = ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0, "INTERRUPT") {
        let _ = ptrace(libc::PTRACE_DETACH, tid, 0, 0, "DETACH");
        return Err(e);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    let Some((sig, event)) = wait_stop(tid, deadline)? else {
        let _ = ptrace(libc::PTRACE_DETACH, tid, 0, 0, "DETACH");
        return Ok(None);
    };
    if event == 0 && sig != libc::SIGTRAP {
        // A signal on its way to the thread: held back until it is let go.
        signals.push(sig);
    }
    let mem = File::options()
        .read(true)
        .write(true)
        .open(format!("/proc/{pid}/mem"))
        .map_err(|e| RemoteError::Mem(pid, e))?;
    let mut s = Stopped {
        pid,
        tid,
        // SAFETY: all-zero is a valid user_regs_struct.
        regs: unsafe { std::mem::zeroed() },
        xstate: Vec::new(),
        signals,
        mem,
    };
    s.regs = s.get_regs()?;
    if !safe_stop(&s.regs, avoid) {
        s.let_go();
        return Ok(None);
    }
    s.xstate = s.get_xstate()?;
    Ok(Some(s))
}

/// Whether a thread stopped with `regs` holds none of the locks a call
/// into the loader or the allocator could wait for.
fn safe_stop(regs: &libc::user_regs_struct, avoid: &Unsafe) -> bool {
    if !avoid.contains(regs.rip) {
        return true;
    }
    let in_syscall = regs.orig_rax as i64 >= 0;
    in_syscall && BLOCKING.contains(&(regs.orig_rax as i64))
}

impl Stopped {
    fn get_regs(&self) -> Result<libc::user_regs_struct, RemoteError> {
        // SAFETY: all-zero is a valid user_regs_struct.
        let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        ptrace(
            libc::PTRACE_GETREGS,
            self.tid,
            0,
            &mut regs as *mut _ as usize,
            "GETREGS",
        )?;
        Ok(regs)
    }

    fn set_regs(&self, regs: &libc::user_regs_struct) -> Result<(), RemoteError> {
        ptrace(
            libc::PTRACE_SETREGS,
            self.tid,
            0,
            regs as *const _ as usize,
            "SETREGS",
        )?;
        Ok(())
    }

    fn get_xstate(&self) -> Result<Vec<u8>, RemoteError> {
        let mut buf = vec![0u8; XSTATE_MAX];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        ptrace(
            libc::PTRACE_GETREGSET,
            self.tid,
            NT_X86_XSTATE as usize,
            &mut iov as *mut _ as usize,
            "GETREGSET",
        )?;
        buf.truncate(iov.iov_len);
        Ok(buf)
    }

    fn set_xstate(&mut self) -> Result<(), RemoteError> {
        let mut iov = libc::iovec {
            iov_base: self.xstate.as_mut_ptr().cast(),
            iov_len: self.xstate.len(),
        };
        ptrace(
            libc::PTRACE_SETREGSET,
            self.tid,
            NT_X86_XSTATE as usize,
            &mut iov as *mut _ as usize,
            "SETREGSET",
        )?;
        Ok(())
    }

    /// Reads `len` bytes of the process's memory at `addr`.
    pub fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, RemoteError> {
        let mut buf = vec![0u8; len];
        self.mem
            .read_exact_at(&mut buf, addr)
            .map_err(|e| RemoteError::Mem(self.pid, e))?;
        Ok(buf)
    }

    /// Calls `func(args...)` on the stopped thread; `data` is copied to
    /// its stack first and `args` may refer to it: an argument
    /// `DATA + k` (see [`Arg`]) is the address of byte `k` of it. Returns
    /// the call's `rax` and the data's address.
    pub fn call(
        &mut self,
        func: u64,
        args: &[Arg],
        data: &[u8],
        within: Duration,
    ) -> Result<(u64, u64), RemoteError> {
        let mut regs = self.regs;
        // Below the red zone, with room; 16-byte aligned before the push
        // of the return address, as the ABI wants at a call.
        let data_at = (self.regs.rsp - 1024 - data.len() as u64) & !15;
        let sp = data_at - 256;
        self.mem
            .write_all_at(data, data_at)
            .map_err(|e| RemoteError::Mem(self.pid, e))?;
        self.mem
            .write_all_at(&0u64.to_le_bytes(), sp - 8)
            .map_err(|e| RemoteError::Mem(self.pid, e))?;
        let value = |a: &Arg| match *a {
            Arg::Value(v) => v,
            Arg::Data(k) => data_at + k,
        };
        let vals: Vec<u64> = args.iter().map(value).collect();
        let get = |i: usize| vals.get(i).copied().unwrap_or(0);
        regs.rdi = get(0);
        regs.rsi = get(1);
        regs.rdx = get(2);
        regs.rcx = get(3);
        regs.r8 = get(4);
        regs.r9 = get(5);
        regs.rax = 0;
        // Not in a system call: the kernel must not restart one.
        regs.orig_rax = u64::MAX;
        regs.rip = func;
        regs.rsp = sp - 8;
        self.set_regs(&regs)?;
        ptrace(libc::PTRACE_CONT, self.tid, 0, 0, "CONT")?;
        let deadline = Instant::now() + within;
        loop {
            let Some((sig, event)) = wait_stop(self.tid, deadline)? else {
                // Stop it where it is and put it back: the call is lost.
                let _ = ptrace(libc::PTRACE_INTERRUPT, self.tid, 0, 0, "INTERRUPT");
                let _ = wait_stop(self.tid, Instant::now() + Duration::from_secs(2));
                return Err(RemoteError::Timeout(within.as_secs()));
            };
            if event != 0 {
                // A ptrace stop of its own (the earlier interrupt): go on.
                ptrace(libc::PTRACE_CONT, self.tid, 0, 0, "CONT")?;
                continue;
            }
            let now = self.get_regs()?;
            if sig == libc::SIGSEGV && now.rip == 0 {
                return Ok((now.rax, data_at));
            }
            if sig == libc::SIGSEGV || sig == libc::SIGBUS || sig == libc::SIGILL {
                return Err(RemoteError::Faulted { rip: now.rip, sig });
            }
            // Another signal for the program: held back until the end.
            self.signals.push(sig);
            ptrace(libc::PTRACE_CONT, self.tid, 0, 0, "CONT")?;
        }
    }

    /// Puts the registers back and lets the thread go; the signals held
    /// back are delivered.
    pub fn release(mut self) -> Result<(), RemoteError> {
        let regs = self.regs;
        self.set_regs(&regs)?;
        if !self.xstate.is_empty() {
            self.set_xstate()?;
        }
        self.let_go();
        Ok(())
    }

    fn let_go(&mut self) {
        let mut signals = std::mem::take(&mut self.signals).into_iter();
        let first = signals.next().unwrap_or(0);
        let _ = ptrace(libc::PTRACE_DETACH, self.tid, 0, first as usize, "DETACH");
        for sig in signals {
            // SAFETY: re-sending a signal the thread was about to get.
            unsafe { libc::syscall(libc::SYS_tgkill, self.pid, self.tid, sig) };
        }
    }
}

/// An argument of a remote call.
#[derive(Debug, Clone, Copy)]
pub enum Arg {
    /// This value.
    Value(u64),
    /// The address of this byte of the call's data.
    Data(u64),
}
