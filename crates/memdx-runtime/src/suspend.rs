//! Stopping the other threads for the leak scan, the way the Boehm collector
//! does: a signal whose handler saves the thread's registers and stack
//! pointer, acknowledges, and waits.

use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use crate::sys::{self, Racy};

pub const MAX_THREADS: usize = 4096;
pub const NREGS: usize = 23;
/// Signal used to suspend threads during the scan.
const SUSPEND_SIG: i32 = 62;

#[derive(Clone, Copy)]
pub struct Slot {
    pub sp: usize,
    pub regs: [usize; NREGS],
}

pub static SLOTS: Racy<[Slot; MAX_THREADS]> = Racy::new(
    [Slot {
        sp: 0,
        regs: [0; NREGS],
    }; MAX_THREADS],
);
pub static SLOT_NEXT: AtomicUsize = AtomicUsize::new(0);
static ACKS: AtomicUsize = AtomicUsize::new(0);
static RESUME: AtomicI32 = AtomicI32::new(0);
/// The thread that stopped the others (the one running the report).
static SUSPENDER: AtomicI32 = AtomicI32::new(0);

extern "C" fn suspend_handler(_sig: i32, _info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let i = SLOT_NEXT.fetch_add(1, Ordering::AcqRel);
    if i < MAX_THREADS && !ctx.is_null() {
        // SAFETY: the kernel passes a ucontext_t; slot i is ours alone.
        unsafe {
            let uc = &*ctx.cast::<libc::ucontext_t>();
            let slot = &mut (*SLOTS.get())[i];
            for (r, g) in slot.regs.iter_mut().zip(uc.uc_mcontext.gregs.iter()) {
                *r = *g as usize;
            }
            slot.sp = uc.uc_mcontext.gregs[libc::REG_RSP as usize] as usize;
        }
    }
    ACKS.fetch_add(1, Ordering::AcqRel);
    // Stay stopped until resumed: the report runs at process exit, and the
    // other threads are not resumed (under Valgrind they are gone by then;
    // resumed, a thread whose `pause()` or `select()` the signal interrupted
    // returns EINTR and could end the process first, with its own exit
    // status). After two seconds, a thread goes on only when the exiting
    // thread waits for one of the runtime's locks, or is blocked in a system
    // call other than the runtime's own exchange with memdx (it may need a
    // lock one of us holds, or a thread to join); while it runs or talks to
    // memdx (a slow machine, a long report) we stay stopped, for a minute at
    // most.
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    let mut waited = 0;
    let suspender = SUSPENDER.load(Ordering::Acquire);
    while RESUME.load(Ordering::Acquire) == 0
        && (waited < 20
            || (waited < 600
                && sys::SPIN_WAITER.load(Ordering::Acquire) != suspender
                && !exiting_thread_waits(suspender)))
    {
        // SAFETY: futex wait on our own word, 100 ms at a time.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                RESUME.as_ptr(),
                libc::FUTEX_WAIT,
                0,
                &ts as *const libc::timespec,
            );
        }
        waited += 1;
    }
}

/// Signals every other thread and waits until each has saved its registers
/// (or a second has passed). Returns how many threads were signalled.
pub fn suspend_others() -> usize {
    SLOT_NEXT.store(0, Ordering::Relaxed);
    ACKS.store(0, Ordering::Relaxed);
    RESUME.store(0, Ordering::Relaxed);
    // SAFETY: installing a handler for a signal the runtime owns for the
    // duration of the scan.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = suspend_handler as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigfillset(&mut sa.sa_mask);
        libc::sigaction(SUSPEND_SIG, &sa, core::ptr::null_mut());
    }
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let me = sys::gettid();
    SUSPENDER.store(me, Ordering::Release);
    let mut sent = 0;
    for_each_task(|tid| {
        // A thread that blocks the signal (threads created with every
        // signal blocked are common) would never answer: not waited for.
        // Its stack is then scanned from the mapping's start.
        if tid != me && !blocks_suspend_signal(tid) {
            // SAFETY: tgkill to a thread of our own process.
            if unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, SUSPEND_SIG) } == 0 {
                sent += 1;
            }
        }
    });
    if sent > 0 {
        let mut waited = 0;
        while ACKS.load(Ordering::Acquire) < sent && waited < 1000 {
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 1_000_000,
            };
            // SAFETY: plain sleep.
            unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
            waited += 1;
        }
    }
    sent
}

/// Lets the stopped threads go on (unused: they stay stopped until the
/// process ends or their time limit passes; see `suspend_handler`).
#[allow(dead_code)]
pub fn resume_others() {
    RESUME.store(1, Ordering::Release);
    // SAFETY: wake every waiter on our futex word.
    unsafe {
        libc::syscall(libc::SYS_futex, RESUME.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
    }
}

/// `/proc/self/task/TID/FILE` as a NUL-terminated path in `buf`.
fn task_path<'a>(buf: &'a mut [u8; 48], tid: i32, file: &[u8]) -> &'a [u8] {
    let prefix = b"/proc/self/task/";
    buf[..prefix.len()].copy_from_slice(prefix);
    let mut at = prefix.len();
    let mut digits = [0u8; 12];
    let mut n = 0;
    let mut v = tid.max(0) as u32;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 || n == digits.len() {
            break;
        }
    }
    for k in (0..n).rev() {
        buf[at] = digits[k];
        at += 1;
    }
    buf[at] = b'/';
    at += 1;
    let file = &file[..file.len().min(buf.len() - at - 1)];
    buf[at..at + file.len()].copy_from_slice(file);
    at += file.len();
    buf[at] = 0;
    &buf[..=at]
}

/// Reads a small /proc file of thread `tid` into `out`; returns its length.
fn read_task_file(tid: i32, file: &[u8], out: &mut [u8]) -> usize {
    let mut pbuf = [0u8; 48];
    let path = task_path(&mut pbuf, tid, file);
    // SAFETY: open/read/close on a NUL-terminated path and our own buffer.
    unsafe {
        let fd = libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return 0;
        }
        let len = libc::read(fd, out.as_mut_ptr().cast(), out.len());
        libc::close(fd);
        len.max(0) as usize
    }
}

/// Whether thread `tid` blocks the suspend signal (its `SigBlk` mask).
fn blocks_suspend_signal(tid: i32) -> bool {
    let mut buf = [0u8; 4096];
    let len = read_task_file(tid, b"status", &mut buf);
    let text = buf.get(..len).unwrap_or(&[]);
    let key = b"\nSigBlk:";
    let Some(at) = text.windows(key.len()).position(|w| w == key) else {
        return false;
    };
    let rest = text.get(at + key.len()..).unwrap_or(&[]);
    let start = rest
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(0);
    let (mask, n) = sys::parse_hex(rest.get(start..).unwrap_or(&[]));
    n > 0 && mask & (1usize << (SUSPEND_SIG - 1)) != 0
}

/// Whether thread `tid` (the one running the report) is blocked in a system
/// call other than the runtime's exchange with memdx on its event socket:
/// `/proc/self/task/TID/syscall` is "running" while it runs, or "NR ARG0 ..."
/// while it is blocked. An unreadable file (the thread is gone) counts as
/// waiting, so nobody stays stopped for a thread that will never resume it.
fn exiting_thread_waits(tid: i32) -> bool {
    let mut buf = [0u8; 256];
    let len = read_task_file(tid, b"syscall", &mut buf);
    let text = buf.get(..len).unwrap_or(&[]);
    if text.is_empty() {
        return true;
    }
    if text.starts_with(b"running") {
        return false;
    }
    let mut fields = text.split(|&c| c == b' ' || c == b'\n');
    let nr = fields.next().and_then(sys::parse_usize);
    let arg0 = fields
        .next()
        .map(|f| sys::parse_hex(f.strip_prefix(b"0x").unwrap_or(f)));
    let talks_to_memdx = matches!(
        nr.map(|n| n as i64),
        Some(
            libc::SYS_read
                | libc::SYS_recvfrom
                | libc::SYS_recvmsg
                | libc::SYS_poll
                | libc::SYS_write
                | libc::SYS_sendto
                | libc::SYS_sendmsg
        )
    ) && matches!(arg0, Some((fd, n)) if n > 0 && fd as i32 == crate::out::socket_fd());
    !talks_to_memdx
}

/// Whether thread `tid` of this process has exited but is still listed: the
/// main thread after `pthread_exit` stays a zombie until the process ends.
/// It runs no code (a signal to it is never handled) and uses no libc state.
fn is_zombie(tid: i32) -> bool {
    let mut buf = [0u8; 512];
    let len = read_task_file(tid, b"stat", &mut buf);
    let text = buf.get(..len).unwrap_or(&[]);
    // "tid (comm) S ...": the state follows the last ')'.
    match text.iter().rposition(|&c| c == b')') {
        Some(p) => matches!(text.get(p + 2), Some(b'Z' | b'X')),
        None => false,
    }
}

/// Calls `f` with each live thread id in /proc/self/task (raw getdents64:
/// no malloc). Zombie threads (see `is_zombie`) are left out.
pub fn for_each_task(mut f: impl FnMut(i32)) {
    // SAFETY: open/getdents64/close on our own buffer.
    unsafe {
        let fd = libc::open(
            c"/proc/self/task".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return;
        }
        let mut buf = [0u8; 8192];
        loop {
            let n = libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len());
            if n <= 0 {
                break;
            }
            let mut off = 0usize;
            while off + 19 < n as usize {
                let reclen = u16::from_le_bytes([buf[off + 16], buf[off + 17]]) as usize;
                let name = &buf[off + 19..(off + reclen).min(n as usize)];
                if let Some(tid) = sys::parse_usize(name) {
                    if !is_zombie(tid as i32) {
                        f(tid as i32);
                    }
                }
                if reclen == 0 {
                    break;
                }
                off += reclen;
            }
        }
        libc::close(fd);
    }
}
