//! The event stream to the analyzer: a Unix stream socket whose path is in
//! `MEMDX_EVENTS_SOCK`. Each process (a fork child too) gets its own report.
//!
//! The runtime keeps no descriptor open while the program runs: every burst
//! of records (the start, each error, the end-of-process report) opens its
//! own connection, sends a header, the records, and waits until the
//! analyzer has read all of it and closed its end before closing its own
//! (see [`burst`]). A program that lists `/proc/self/fd`, closes every
//! descriptor, `dup2`s onto any number or asks `fcntl(F_DUPFD)` for one
//! therefore sees and changes only its own descriptors, as natively; the
//! first burst's header carries no continuation flag, later ones do, and
//! the analyzer joins them into one report.

use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use memdx_events::{Encoder, Header, ACK_EXIT, FLAG_CONTINUATION, FLAG_FORK_CHILD, VERSION};

use crate::stacks;
use crate::sys::{self, Racy, SpinGuard, SpinLock};

/// The socket path (NUL-terminated), copied from the environment at start.
static SOCK_PATH: Racy<[u8; 108]> = Racy::new([0; 108]);
/// The current burst's descriptor (-1 outside a burst).
static FD: AtomicI32 = AtomicI32::new(-1);
/// Device and inode of the burst's socket: another thread of the program
/// may `dup2` onto its number while a burst runs, and a file of the
/// program's must never receive our events.
static SOCK_DEV: AtomicU64 = AtomicU64::new(0);
static SOCK_INO: AtomicU64 = AtomicU64::new(0);
/// Whether this process's report was started by a fork child.
static FORK_CHILD: AtomicBool = AtomicBool::new(false);
/// Whether this process has opened its first connection (the next ones
/// carry [`FLAG_CONTINUATION`]).
static STARTED: AtomicBool = AtomicBool::new(false);
/// Serializes the records of one burst (one emission at a time).
static LOCK: SpinLock = SpinLock::new();
/// One burst at a time per process; taken before every other lock of the
/// runtime (the end-of-process report holds it from start to end).
static BURST: SpinLock = SpinLock::new();
/// The thread pointer of the thread inside a burst (0: none), so that a
/// burst begun inside another one (an error found while the end-of-process
/// report runs) joins it.
static BURST_OWNER: AtomicUsize = AtomicUsize::new(0);
/// `dlpi_adds` when the module map was last sent.
static MODULES_SENT_AT: AtomicU32 = AtomicU32::new(u32::MAX);
/// The main program's path (dl_iterate_phdr names it "").
static EXE: Racy<[u8; 4096]> = Racy::new([0; 4096]);
static EXE_LEN: AtomicI32 = AtomicI32::new(0);
/// Set when the analyzer is gone: its socket refuses connections, or a
/// write or read hits a broken connection (`memdx heap --pid` killed).
static LOST: AtomicBool = AtomicBool::new(false);

/// Whether the analyzer went away since the last call (clears the flag).
pub fn take_lost() -> bool {
    LOST.swap(false, Ordering::AcqRel)
}

/// Notes a failed system call on the stream: a gone analyzer.
fn note_failure() {
    if matches!(
        sys::errno(),
        libc::ECONNREFUSED | libc::ENOENT | libc::EPIPE | libc::ECONNRESET
    ) {
        LOST.store(true, Ordering::Release);
    }
}

/// Where a burst's descriptor is moved to: out of the low numbers a
/// program's concurrent `open` would get natively.
const HIGH_FD: i32 = 700;

/// Remembers the socket path; call from the constructor.
pub fn configure(path: &[u8]) {
    // SAFETY: called once from the constructor, before any emission.
    let dst = unsafe { &mut *SOCK_PATH.get() };
    let n = path.len().min(dst.len() - 1);
    dst[..n].copy_from_slice(&path[..n]);
    dst[n] = 0;
    // SAFETY: readlink into our static buffer.
    let exe = unsafe { &mut *EXE.get() };
    // SAFETY: readlink into our static buffer, at most its length.
    let len = unsafe {
        libc::readlink(
            c"/proc/self/exe".as_ptr(),
            exe.as_mut_ptr().cast(),
            exe.len() - 1,
        )
    };
    EXE_LEN.store(len.max(0) as i32, Ordering::Relaxed);
}

/// Starts this process's report (the constructor, or a fork child): the
/// first burst sends the header, the command line (not for a fork child)
/// and the module map.
pub fn start(fork_child: bool) {
    FORK_CHILD.store(fork_child, Ordering::Relaxed);
    STARTED.store(false, Ordering::Relaxed);
    MODULES_SENT_AT.store(u32::MAX, Ordering::Relaxed);
    burst(ensure_modules);
}

/// A new stream in the same process (`memdx heap --pid` attaching again):
/// the next burst sends the header, command line and module map again.
pub fn restart() {
    STARTED.store(false, Ordering::Relaxed);
    MODULES_SENT_AT.store(u32::MAX, Ordering::Relaxed);
}

/// Runs `f`, whose records go out on one connection of their own, and
/// returns once the analyzer has read them all (or after a few seconds if
/// it does not answer). Inside a burst of the same thread, `f` joins it.
pub fn burst<R>(f: impl FnOnce() -> R) -> R {
    let me = crate::tls::thread_pointer();
    if BURST_OWNER.load(Ordering::Acquire) == me {
        return f();
    }
    let _held = BURST.lock();
    BURST_OWNER.store(me, Ordering::Release);
    open();
    let r = f();
    close();
    BURST_OWNER.store(0, Ordering::Release);
    r
}

/// Connects and sends the header (and, on a process's first connection,
/// its command line).
fn open() {
    // SAFETY: SOCK_PATH is written once in the constructor.
    let path = unsafe { &*SOCK_PATH.get() };
    if path[0] == 0 {
        return;
    }
    // SAFETY: plain socket calls on a local sockaddr_un.
    unsafe {
        let socket = || libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        let mut s = socket();
        if s < 0 && sys::errno() == libc::EMFILE {
            // The program has used up its descriptors (a descriptor leak
            // is what some run memdx for): its report still goes out.
            s = beyond_the_limit(socket);
        }
        if s < 0 {
            return;
        }
        let mut addr: libc::sockaddr_un = core::mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, &c) in addr.sun_path.iter_mut().zip(path.iter()) {
            *d = c as libc::c_char;
        }
        let r = libc::syscall(
            libc::SYS_connect,
            s,
            &addr as *const libc::sockaddr_un,
            core::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        );
        if r != 0 {
            note_failure();
            close_fd(s);
            return;
        }
        let high = libc::fcntl(s, libc::F_DUPFD_CLOEXEC, HIGH_FD);
        let fd = if high >= 0 {
            close_fd(s);
            high
        } else {
            s
        };
        let tv = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            core::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
        let mut st: libc::stat = core::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            close_fd(fd);
            return;
        }
        SOCK_DEV.store(st.st_dev, Ordering::Relaxed);
        SOCK_INO.store(st.st_ino, Ordering::Relaxed);
        FD.store(fd, Ordering::Release);
    }
    let fork_child = FORK_CHILD.load(Ordering::Relaxed);
    let first = !STARTED.swap(true, Ordering::Relaxed);
    let mut flags = 0;
    if fork_child {
        flags |= FLAG_FORK_CHILD;
    }
    if !first {
        flags |= FLAG_CONTINUATION;
    }
    let h = Header {
        version: VERSION,
        pointer_size: 8,
        // SAFETY: getpid/getppid have no preconditions.
        pid: unsafe { libc::getpid() } as u32,
        // SAFETY: as above.
        ppid: unsafe { libc::getppid() } as u32,
        flags,
    };
    send(&h.encode());
    if first && !fork_child {
        // The analyzer cannot read /proc/PID/cmdline of a process that has
        // already exited: send it.
        if let Some(sys::FileText { buf, cap, len }) = sys::read_file(b"/proc/self/cmdline\0") {
            // SAFETY: read_file returns a mapping holding `len` bytes.
            let text = unsafe { core::slice::from_raw_parts(buf, len.min(3000)) };
            emit(|e| e.command_line(text));
            sys::unmap_private(buf, cap);
        }
    }
}

/// Runs `open` (which makes one descriptor) with the soft limit on
/// descriptors raised by one, then puts the limit back (the descriptor
/// stays valid above it). -1 when the limit cannot be raised.
fn beyond_the_limit(open: impl FnOnce() -> i32) -> i32 {
    // SAFETY: getrlimit/setrlimit on a local structure.
    unsafe {
        let mut rl: libc::rlimit = core::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 || rl.rlim_cur >= rl.rlim_max {
            return -1;
        }
        let raised = libc::rlimit {
            rlim_cur: rl.rlim_cur + 1,
            rlim_max: rl.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            return -1;
        }
        let fd = open();
        libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        fd
    }
}

/// Ends the burst: no more writes, then wait until the analyzer has read
/// everything and closed its end (so the next burst is read after this
/// one), and close.
fn close() {
    let Some(fd) = our_fd() else {
        // Never opened, or the program put its own file at the number
        // meanwhile (then the number is the program's: not closed).
        FD.store(-1, Ordering::Release);
        return;
    };
    // SAFETY: our own socket.
    unsafe {
        libc::shutdown(fd, libc::SHUT_WR);
        let mut buf = [0u8; 64];
        loop {
            let n = recv(fd, &mut buf);
            if n > 0 || (n < 0 && sys::errno() == libc::EINTR) {
                continue;
            }
            if n < 0 {
                note_failure();
            }
            break;
        }
        FD.store(-1, Ordering::Release);
        close_fd(fd);
    }
}

/// Forgets the parent's connection state in a fork child (locks included;
/// no burst runs in the parent while it forks, see [`lock_bursts`]).
///
/// # Safety
/// Only in a fork child: the locks' holders did not survive the fork.
pub unsafe fn reset_in_child() {
    // SAFETY: as this function's.
    unsafe {
        LOCK.force_unlock();
        BURST.force_unlock();
    }
    BURST_OWNER.store(0, Ordering::Release);
    FD.store(-1, Ordering::Release);
}

pub fn lock() -> SpinGuard<'static> {
    LOCK.lock()
}

/// Waits for a running burst to end and keeps new ones out (fork: no child
/// inherits a burst's descriptor or its lock). First in the lock order.
pub fn lock_bursts() -> SpinGuard<'static> {
    BURST.lock()
}

/// The burst's descriptor, if it still is our socket.
fn our_fd() -> Option<i32> {
    let fd = FD.load(Ordering::Acquire);
    if fd < 0 {
        return None;
    }
    // SAFETY: fstat into a local.
    let same = unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        libc::fstat(fd, &mut st) == 0
            && st.st_dev == SOCK_DEV.load(Ordering::Relaxed)
            && st.st_ino == SOCK_INO.load(Ordering::Relaxed)
    };
    same.then_some(fd)
}

fn send(mut bytes: &[u8]) {
    let Some(fd) = our_fd() else {
        return;
    };
    while !bytes.is_empty() {
        // SAFETY: writing our own buffer; MSG_NOSIGNAL so a gone analyzer
        // cannot kill the program with SIGPIPE.
        let n = unsafe {
            libc::syscall(
                libc::SYS_sendto,
                fd,
                bytes.as_ptr(),
                bytes.len(),
                libc::MSG_NOSIGNAL,
                core::ptr::null::<libc::sockaddr>(),
                0,
            )
        };
        if n < 0 {
            if sys::errno() == libc::EINTR {
                continue;
            }
            note_failure();
            return;
        }
        bytes = bytes.get(n as usize..).unwrap_or(&[]);
    }
}

/// Encodes records with `f` into a stack buffer and sends them as one write.
pub fn emit(f: impl FnOnce(&mut Encoder<'_>)) {
    if BURST_OWNER.load(Ordering::Acquire) != crate::tls::thread_pointer() {
        // Every caller should be inside a burst already; one that is not
        // gets a connection of its own rather than losing its records.
        return burst(|| emit(f));
    }
    let mut buf = [0u8; 4096];
    let mut enc = Encoder::new(&mut buf);
    f(&mut enc);
    if let Some(bytes) = enc.finish() {
        let _held = LOCK.lock();
        send(bytes);
    }
}

/// Sends records already encoded (the heap profiler's buffers).
pub fn emit_raw(bytes: &[u8]) {
    if BURST_OWNER.load(Ordering::Acquire) != crate::tls::thread_pointer() {
        return burst(|| emit_raw(bytes));
    }
    let _held = LOCK.lock();
    send(bytes);
}

/// Waits until the analyzer has rendered what was sent (one byte back), so
/// the report stays in order with the program's own output. Gives up after
/// a few seconds (an analyzer that went away must not hang the program).
/// An [`ACK_EXIT`] reply (`--exit-on-first-error=yes`) ends the process
/// here with the status byte that follows it, as Valgrind does: no exit
/// handlers, no leak scan.
pub fn wait_ack() {
    let Some(fd) = our_fd() else {
        return;
    };
    if recv_byte(fd) == Some(ACK_EXIT) {
        let status = recv_byte(fd).unwrap_or(0);
        // SAFETY: exit_group ends every thread of the process; nothing
        // runs after it.
        unsafe { libc::syscall(libc::SYS_exit_group, libc::c_int::from(status)) };
    }
}

/// One byte from the analyzer (None on error, timeout or end of stream).
fn recv_byte(fd: i32) -> Option<u8> {
    let mut byte = 0u8;
    loop {
        let n = recv(fd, core::slice::from_mut(&mut byte));
        if n < 0 && sys::errno() == libc::EINTR {
            continue;
        }
        return (n == 1).then_some(byte);
    }
}

/// close(2) through the system call (glibc's `close` is a cancellation
/// point too).
///
/// # Safety
/// `fd` must be the runtime's own descriptor.
unsafe fn close_fd(fd: i32) {
    // SAFETY: the caller's descriptor.
    unsafe { libc::syscall(libc::SYS_close, fd) };
}

/// recv(2) through the system call: glibc's `recv` is a cancellation
/// point, and a thread cancelled inside a burst would leave it locked.
fn recv(fd: i32, buf: &mut [u8]) -> isize {
    // SAFETY: reading into the caller's buffer from our own socket.
    unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd,
            buf.as_mut_ptr(),
            buf.len(),
            0,
            core::ptr::null_mut::<libc::sockaddr>(),
            core::ptr::null_mut::<libc::socklen_t>(),
        ) as isize
    }
}

/// Sends the definition of stack `id` unless it was sent already.
pub fn ensure_stack(id: u32) {
    let Some(rec) = stacks::get(id) else { return };
    if rec.emitted.swap(true, Ordering::AcqRel) {
        return;
    }
    let n = (rec.n as usize).min(rec.frames.len());
    emit(|e| e.stack(id, &rec.frames[..n]));
}

/// Sends the module map if objects were loaded since it was last sent.
pub fn ensure_modules() {
    // SAFETY: dl_iterate_phdr with a callback that only reads its argument
    // and sends records (no allocation).
    unsafe {
        let mut adds: u64 = u64::MAX;
        libc::dl_iterate_phdr(Some(adds_cb), (&mut adds as *mut u64).cast());
        if adds as u32 == MODULES_SENT_AT.load(Ordering::Relaxed) {
            return;
        }
        MODULES_SENT_AT.store(adds as u32, Ordering::Relaxed);
        libc::dl_iterate_phdr(Some(module_cb), core::ptr::null_mut());
    }
}

/// # Safety
/// Called by `dl_iterate_phdr` only: `info` points to a valid
/// `dl_phdr_info` for the call's duration and `data` is the pointer this
/// module passed with the callback.
unsafe extern "C" fn adds_cb(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: called by dl_iterate_phdr with a valid info and our data.
    unsafe { *data.cast::<u64>() = (*info).dlpi_adds };
    1
}

/// # Safety
/// Called by `dl_iterate_phdr` only: `info` points to a valid
/// `dl_phdr_info` for the call's duration and `data` is the pointer this
/// module passed with the callback.
unsafe extern "C" fn module_cb(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    _data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: dl_iterate_phdr passes a valid info with dlpi_phnum headers.
    let info = unsafe { &*info };
    let Some((lo, hi)) = crate::out::load_range(info) else {
        return 0;
    };
    let name: &[u8] = if info.dlpi_name.is_null() {
        b""
    } else {
        // SAFETY: a NUL-terminated string owned by the loader.
        unsafe { core::ffi::CStr::from_ptr(info.dlpi_name) }.to_bytes()
    };
    let name = if name.is_empty() && lo != 0 {
        // SAFETY: EXE is written once in the constructor.
        let exe = unsafe { &*EXE.get() };
        exe.get(..EXE_LEN.load(Ordering::Relaxed) as usize)
            .unwrap_or(&[])
    } else {
        name
    };
    emit(|e| e.module(info.dlpi_addr, lo, hi, name));
    0
}

/// Our own code's address range (to drop our frames from stacks).
pub fn self_range(probe: usize) -> (usize, usize) {
    let mut r: [usize; 3] = [probe, 0, 0];
    // SAFETY: callback only reads info and writes into `r`.
    unsafe { libc::dl_iterate_phdr(Some(self_cb), (&mut r as *mut [usize; 3]).cast()) };
    (r[1], r[2])
}

/// # Safety
/// Called by `dl_iterate_phdr` only: `info` points to a valid
/// `dl_phdr_info` for the call's duration and `data` is the pointer this
/// module passed with the callback.
unsafe extern "C" fn self_cb(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: valid info from dl_iterate_phdr; data is our [usize; 3].
    let (info, r) = unsafe { (&*info, &mut *data.cast::<[usize; 3]>()) };
    let mut lo = usize::MAX;
    let mut hi = 0;
    for i in 0..info.dlpi_phnum as usize {
        // SAFETY: i < dlpi_phnum.
        let ph = unsafe { &*info.dlpi_phdr.add(i) };
        if ph.p_type == libc::PT_LOAD {
            let a = (info.dlpi_addr + ph.p_vaddr) as usize;
            lo = lo.min(a);
            hi = hi.max(a + ph.p_memsz as usize);
        }
    }
    if r[0] >= lo && r[0] < hi {
        r[1] = lo;
        r[2] = hi;
        return 1;
    }
    0
}

/// The lowest and highest address of a loaded object's `PT_LOAD` segments
/// (`None` for an object with none).
pub(crate) fn load_range(info: &libc::dl_phdr_info) -> Option<(u64, u64)> {
    let mut lo = u64::MAX;
    let mut hi = 0u64;
    for i in 0..info.dlpi_phnum as usize {
        // SAFETY: i < dlpi_phnum, the headers the loader passed.
        let ph = unsafe { &*info.dlpi_phdr.add(i) };
        if ph.p_type == libc::PT_LOAD {
            let a = info.dlpi_addr + ph.p_vaddr;
            lo = lo.min(a);
            hi = hi.max(a + ph.p_memsz);
        }
    }
    (lo < hi).then_some((lo, hi))
}

/// The event socket's descriptor (-1 before the connection or after it was
/// lost); suspend.rs tells the runtime's own exchange with memdx from other
/// blocking calls by it.
pub fn socket_fd() -> i32 {
    FD.load(Ordering::Acquire)
}
