//! Checked system call wrappers: write, read, pread/pread64,
//! pwrite/pwrite64, send, sendto, recv, recvfrom, writev, readv, sendmsg
//! and recvmsg (the buffers of their iovecs; Valgrind names the one at
//! fault `msg.msg_iov[N]`). Before
//! the call, the buffer range is checked against the heap blocks as
//! memcheck checks a system call's memory parameters: a range that leaves
//! the live block it starts in (past its end, or from its header), or that
//! starts in a freed block still in a quarantine, is reported as Valgrind
//! 3.19 words it, "Syscall param write(buf) points to unaddressable
//! byte(s)", with the first unaddressable byte. The call itself is always
//! glibc's wrapper (found with `dlsym(RTLD_NEXT)` at start), with the
//! program's arguments: same result, same errno.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

use memdx_events::{Access, AccessKind, Place, Routine};

use crate::table::{self, Block};
use crate::{access, guard, hooks, stacks, uninit};

/// glibc's wrappers, by `Routine` wire value less [`FIRST`].
static REAL: [AtomicUsize; 12] = [const { AtomicUsize::new(0) }; 12];
/// Where Valgrind's frame 0 is for each: the wrapper's first `syscall`
/// instruction (Valgrind shows the system call inside glibc's wrapper).
static AT: [AtomicUsize; 12] = [const { AtomicUsize::new(0) }; 12];
const FIRST: u8 = Routine::SysWrite as u8;

/// The slot in [`REAL`] and [`AT`] of wrapper `r`: the ten from write to
/// readv by wire value, then sendmsg and recvmsg.
const fn slot(r: Routine) -> usize {
    match r {
        Routine::SysSendmsg => 10,
        Routine::SysRecvmsg => 11,
        _ => (r as u8 - FIRST) as usize,
    }
}

/// Resolves glibc's wrappers; call from the constructor.
pub fn init() {
    let names: [(Routine, &core::ffi::CStr); 12] = [
        (Routine::SysWrite, c"write"),
        (Routine::SysRead, c"read"),
        (Routine::SysPread64, c"pread64"),
        (Routine::SysPwrite64, c"pwrite64"),
        (Routine::SysSend, c"send"),
        (Routine::SysSendto, c"sendto"),
        (Routine::SysRecv, c"recv"),
        (Routine::SysRecvfrom, c"recvfrom"),
        (Routine::SysWritev, c"writev"),
        (Routine::SysReadv, c"readv"),
        (Routine::SysSendmsg, c"sendmsg"),
        (Routine::SysRecvmsg, c"recvmsg"),
    ];
    for (r, name) in names {
        // SAFETY: dlsym with a static name.
        let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) } as usize;
        let i = slot(r);
        REAL[i].store(p, Ordering::Release);
        AT[i].store(syscall_insn(p), Ordering::Release);
    }
}

/// The address just after the first `syscall` instruction in the first 96
/// bytes of glibc's function at `f` (the pc Valgrind reports for a system
/// call), else `f`.
fn syscall_insn(f: usize) -> usize {
    if f == 0 {
        return 0;
    }
    // SAFETY: glibc's code, mapped readable and executable; 96 bytes stay
    // within the wrapper or the code right after it in the same segment.
    let code = unsafe { core::slice::from_raw_parts(f as *const u8, 96) };
    code.windows(2)
        .position(|w| w == [0x0f, 0x05])
        .map_or(f, |i| f + i + 2)
}

fn real(r: Routine) -> usize {
    REAL[slot(r)].load(Ordering::Acquire)
}

/// What the first unaddressable byte of a range is near.
struct Bad {
    addr: usize,
    place: Place,
    block: Block,
    free_stack: u32,
}

/// The lowest address no user-space mapping can reach on x86-64 (the end
/// of the lower canonical half).
const USER_END: usize = 1 << 47;

/// The first unaddressable byte of `n` bytes at `p`, as far as the heap
/// blocks tell: past the end of (or before) the live block `p` is in or
/// next to, or `p` itself when it starts a freed block still held; or `p`
/// when it can be no memory at all (the NULL page, or above the user
/// half of the address space, e.g. `(void *)-1`: Valgrind's writev1.c),
/// found with two compares, where a mapping lookup would cost a system
/// call on every buffer.
fn first_bad(p: usize, n: usize) -> Option<Bad> {
    if n == 0 {
        return None;
    }
    if !(4096..USER_END).contains(&p) {
        return Some(Bad {
            addr: p,
            place: Place::Unknown,
            block: Block {
                ptr: 0,
                size: 0,
                stack: 0,
                kind: 0,
            },
            free_stack: 0,
        });
    }
    if let Some(b) = table::lookup_near(p).filter(|b| b.kind & table::INTERNAL == 0) {
        let end = b.ptr + b.size;
        let addr = if p < b.ptr {
            p
        } else if p.saturating_add(n) > end {
            end.max(p)
        } else {
            return None;
        };
        return Some(Bad {
            addr,
            place: Place::InsideLive,
            block: b,
            free_stack: 0,
        });
    }
    freed_at(p)
}

/// The freed block (still held: guarded or quarantined) that `p` starts,
/// and its free stack (the checked C routines' use-after-free check).
pub(crate) fn freed_block_at(p: usize) -> Option<(Block, u32)> {
    freed_at(p).map(|b| (b.block, b.free_stack))
}

/// `p` as the start of a freed block still held (guarded or quarantined).
fn freed_at(p: usize) -> Option<Bad> {
    if guard::contains(p) {
        return match guard::find(p) {
            Some((false, b, free_stack)) if p >= b.ptr && p < b.ptr + b.size.max(1) => Some(Bad {
                addr: p,
                place: Place::InsideFreed,
                block: b,
                free_stack,
            }),
            _ => None,
        };
    }
    // A quarantined block keeps its header, marked freed: read it only
    // where it can be read (the pointer may be wild), then confirm.
    if p % 16 != 0 || !access::readable(p - table::HEADER, table::HEADER) {
        return None;
    }
    // SAFETY: readable, checked above; a header only if the block is
    // found in a quarantine below.
    let table::Header {
        block: b, freed, ..
    } = unsafe { table::read_block(p) };
    if !freed || b.size > table::MAX_SIZE_SEEN.load(Ordering::Relaxed) {
        return None;
    }
    let f = table::find_freed(|f| f.ptr == p)?;
    Some(Bad {
        addr: p,
        place: Place::InsideFreed,
        block: Block {
            ptr: f.ptr,
            size: f.size,
            stack: f.alloc_stack,
            kind: 0,
        },
        free_stack: f.free_stack,
    })
}

/// Checks the buffers of one call (`ranges`: address and length of each)
/// and reports the first unaddressable one, keeping the program's errno;
/// for a call that sends bytes out, when all are addressable, the first
/// uninitialised heap byte (see [`crate::uninit`]).
fn check(func: Routine, ranges: impl Iterator<Item = (usize, usize)> + Clone) {
    check_from(func, ranges, 0);
}

/// [`check`], with `inner` (when not 0) shown as the frame below the
/// system call: the C library function that made it, for calls made from
/// inside the C library (stdio's writes).
pub fn check_from(
    func: Routine,
    ranges: impl Iterator<Item = (usize, usize)> + Clone,
    inner: usize,
) {
    // The kernel cannot read or write a watched block's closed page (the
    // call would fail with EFAULT): such blocks stop being watched.
    for (p, n) in ranges.clone() {
        guard::unwatch_range(p, n);
    }
    if !hooks::enter_runtime() {
        return;
    }
    let mut all = ranges.clone().enumerate();
    if let Some((i, bad)) = all.find_map(|(i, (p, n))| Some((i, first_bad(p, n)?))) {
        report_unaddressable(func, bad, i);
    } else if sends(func) && uninit::on() {
        let mut all = ranges.enumerate();
        if let Some((i, (addr, origin))) = all.find_map(|(i, (p, n))| Some((i, uninit_in(p, n)?))) {
            report_uninit(func, addr, origin, inner, i);
        }
    }
    hooks::leave_runtime();
}

/// The stack of a system call made now: Valgrind's frame 0 (the wrapper's
/// `syscall` instruction), then `inner` when not 0, then the callers.
fn syscall_stack(func: Routine, inner: usize) -> u32 {
    stacks::capture_with_inner(AT[slot(func)].load(Ordering::Relaxed), inner)
}

/// The buffer's index as the event carries it: sendmsg and recvmsg name
/// their iovec by index (`Access::size`), the others carry 0.
fn param_index(func: Routine, index: usize) -> u64 {
    if matches!(func, Routine::SysSendmsg | Routine::SysRecvmsg) {
        index as u64
    } else {
        0
    }
}

fn report_unaddressable(func: Routine, bad: Bad, index: usize) {
    let errno = crate::sys::errno();
    let mut a = Access {
        kind: AccessKind::SyscallParam,
        func: Some(func),
        addr: bad.addr as u64,
        size: param_index(func, index),
        tid: hooks::thread_no(),
        stack: syscall_stack(func, 0),
        place: bad.place,
        block_start: bad.block.ptr as u64,
        block_size: bad.block.size as u64,
        alloc_stack: bad.block.stack,
        free_stack: bad.free_stack,
        ..Access::default()
    };
    if kernel_writes(func) && bad.place == Place::InsideLive {
        // The kernel writes there next: Valgrind then holds those
        // bytes addressable, so the block's damaged redzone is not
        // reported again, and a header it overwrites is put back
        // after the call (see `strmem::repair_header`).
        table::note_overrun_reported(bad.block.ptr);
        if bad.addr < bad.block.ptr && table::is_live(bad.block.ptr) {
            // SAFETY: a live block.
            let (w0, w1) = unsafe { table::header_words(bad.block.ptr) };
            crate::tls::get().header_repair.set((bad.block.ptr, w0, w1));
        }
    }
    if bad.place != Place::Unknown && bad.addr >= bad.block.ptr + bad.block.size + 16 {
        // Beyond the redzone: described by whatever is there.
        a.place = Place::Unknown;
        access::describe(bad.addr, &mut a);
    }
    access::send(&a);
    crate::sys::set_errno(errno);
}

/// The first uninitialised heap byte of `n` bytes at `p` and its origin.
fn uninit_in(p: usize, n: usize) -> Option<(usize, u32)> {
    if n == 0 || p < 4096 {
        return None;
    }
    let own = table::lookup_near(p)
        .filter(|b| b.kind & table::INTERNAL == 0 && p >= b.ptr)
        .map(|b| (b.ptr, b.size, b.stack));
    uninit::first_uninit(p, n, own).map(|f| (p + f.offset, f.origin))
}

/// Reports uninitialised byte `addr` (from the allocation at `origin`)
/// in a buffer `func` sends out.
fn report_uninit(func: Routine, addr: usize, origin: u32, inner: usize, index: usize) {
    let errno = crate::sys::errno();
    let mut a = Access {
        kind: AccessKind::SyscallParamUninit,
        func: Some(func),
        addr: addr as u64,
        size: param_index(func, index),
        tid: hooks::thread_no(),
        stack: syscall_stack(func, inner),
        free_stack: origin,
        ..Access::default()
    };
    // Outside a live heap block (a copy on a stack or in a global), the
    // analyzer describes the address by what is there.
    if let Some((true, b, _)) = table::find_containing(addr) {
        a.place = Place::InsideLive;
        a.block_start = b.ptr as u64;
        a.block_size = b.size as u64;
        a.alloc_stack = b.stack;
    } else if let Some(frame) = crate::stack_place::frame_holding(addr, usize::from(inner != 0)) {
        // A copy in a local buffer: the frame holding it (see
        // `Access::block_size`).
        a.place = Place::ThreadStack;
        a.block_size = frame.map_or(0, |f| f as u64 + 1);
    }
    access::send(&a);
    crate::sys::set_errno(errno);
}

/// Whether the system call sends the buffer's bytes out.
fn sends(func: Routine) -> bool {
    matches!(
        func,
        Routine::SysWrite
            | Routine::SysPwrite64
            | Routine::SysSend
            | Routine::SysSendto
            | Routine::SysWritev
            | Routine::SysSendmsg
    )
}

/// Whether the system call writes into the buffer.
fn kernel_writes(func: Routine) -> bool {
    matches!(
        func,
        Routine::SysRead
            | Routine::SysPread64
            | Routine::SysRecv
            | Routine::SysRecvfrom
            | Routine::SysReadv
            | Routine::SysRecvmsg
    )
}

/// Calls glibc's wrapper `r` (`$t` its type) with the caller's arguments,
/// or makes system call `$nr` before the wrapper is resolved.
macro_rules! call_real {
    ($r:expr, $t:ty, $nr:expr, $($a:expr),*) => {{
        let f = real($r);
        if f == 0 {
            // SAFETY: the system call with the caller's arguments.
            unsafe { libc::syscall($nr, $($a),*) as _ }
        } else {
            // SAFETY: REAL holds glibc's wrapper of this type (dlsym).
            let f: $t = unsafe { core::mem::transmute(f) };
            // SAFETY: the caller's arguments, under the wrapper's contract.
            unsafe { f($($a),*) }
        }
    }};
}

/// # Safety
/// read(2)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, n: usize) -> isize {
    check(Routine::SysRead, [(buf as usize, n)].into_iter());
    let r = call_real!(
        Routine::SysRead,
        unsafe extern "C" fn(c_int, *mut c_void, usize) -> isize,
        libc::SYS_read,
        fd,
        buf,
        n
    );
    crate::strmem::repair_header();
    r
}

/// # Safety
/// pread(2)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn pread64(fd: c_int, buf: *mut c_void, n: usize, off: i64) -> isize {
    check(Routine::SysPread64, [(buf as usize, n)].into_iter());
    let r = call_real!(
        Routine::SysPread64,
        unsafe extern "C" fn(c_int, *mut c_void, usize, i64) -> isize,
        libc::SYS_pread64,
        fd,
        buf,
        n,
        off
    );
    crate::strmem::repair_header();
    r
}

/// # Safety
/// pread(2)'s contract (the same function as pread64 on amd64).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn pread(fd: c_int, buf: *mut c_void, n: usize, off: i64) -> isize {
    // SAFETY: forwarded.
    unsafe { pread64(fd, buf, n, off) }
}

/// # Safety
/// recv(2)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, n: usize, flags: c_int) -> isize {
    check(Routine::SysRecv, [(buf as usize, n)].into_iter());
    let f = real(Routine::SysRecv);
    if f == 0 {
        let null = core::ptr::null_mut::<c_void>();
        // SAFETY: recv is recvfrom without an address.
        return unsafe {
            libc::syscall(libc::SYS_recvfrom, fd, buf, n, flags, null, null) as isize
        };
    }
    // SAFETY: glibc's recv with the caller's arguments.
    let r = unsafe {
        let f: unsafe extern "C" fn(c_int, *mut c_void, usize, c_int) -> isize =
            core::mem::transmute(f);
        f(fd, buf, n, flags)
    };
    crate::strmem::repair_header();
    r
}

/// # Safety
/// recvfrom(2)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    n: usize,
    flags: c_int,
    addr: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
) -> isize {
    guard::unwatch_range(addr as usize, 1);
    guard::unwatch_range(len as usize, 1);
    check(Routine::SysRecvfrom, [(buf as usize, n)].into_iter());
    let r = call_real!(
        Routine::SysRecvfrom,
        unsafe extern "C" fn(
            c_int,
            *mut c_void,
            usize,
            c_int,
            *mut libc::sockaddr,
            *mut libc::socklen_t,
        ) -> isize,
        libc::SYS_recvfrom,
        fd,
        buf,
        n,
        flags,
        addr,
        len
    );
    crate::strmem::repair_header();
    r
}

/// At most this many iovecs of a readv/writev call are checked.
const IOV_CHECKED: usize = 64;

/// The buffers of an iovec array: its first [`IOV_CHECKED`] entries, read
/// through the kernel (a bad array is the kernel's EFAULT, not a fault
/// here).
fn iov_ranges(iov: *const libc::iovec, cnt: c_int) -> impl Iterator<Item = (usize, usize)> + Clone {
    let zero = libc::iovec {
        iov_base: core::ptr::null_mut(),
        iov_len: 0,
    };
    let mut copy = [zero; IOV_CHECKED];
    let want = usize::try_from(cnt).unwrap_or(0).min(IOV_CHECKED);
    let mut got = 0;
    if !iov.is_null() && want > 0 {
        // Opened first: the array itself may be a watched block (then
        // unreadable here, and EFAULT to the kernel).
        guard::unwatch_range(iov as usize, want * core::mem::size_of::<libc::iovec>());
        // SAFETY: the array viewed as bytes, to be filled by the kernel.
        let bytes = unsafe {
            core::slice::from_raw_parts_mut(
                copy.as_mut_ptr().cast::<u8>(),
                want * core::mem::size_of::<libc::iovec>(),
            )
        };
        got = access::read_own(iov as usize, bytes) / core::mem::size_of::<libc::iovec>();
    }
    (0..got).map(move |i| (copy[i].iov_base as usize, copy[i].iov_len))
}

/// # Safety
/// readv(2)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const libc::iovec, cnt: c_int) -> isize {
    check(Routine::SysReadv, iov_ranges(iov, cnt));
    let r = call_real!(
        Routine::SysReadv,
        unsafe extern "C" fn(c_int, *const libc::iovec, c_int) -> isize,
        libc::SYS_readv,
        fd,
        iov,
        cnt
    );
    crate::strmem::repair_header();
    r
}

/// The buffers of the iovecs of the msghdr at `msg` (read through the
/// kernel), after its name and control buffers stop being watched (the
/// kernel reads or fills them too).
fn msg_ranges(msg: *const libc::msghdr) -> impl Iterator<Item = (usize, usize)> + Clone {
    // SAFETY: a zeroed msghdr is valid.
    let mut m: libc::msghdr = unsafe { core::mem::zeroed() };
    let size = core::mem::size_of::<libc::msghdr>();
    // Opened first: the header itself may be a watched block.
    guard::unwatch_range(msg as usize, size);
    let got = if msg.is_null() {
        0
    } else {
        // SAFETY: the header viewed as bytes, filled by the kernel.
        let bytes = unsafe {
            core::slice::from_raw_parts_mut((&mut m as *mut libc::msghdr).cast::<u8>(), size)
        };
        access::read_own(msg as usize, bytes)
    };
    if got < size {
        return iov_ranges(core::ptr::null(), 0);
    }
    guard::unwatch_range(m.msg_name as usize, m.msg_namelen as usize);
    guard::unwatch_range(m.msg_control as usize, m.msg_controllen);
    let cnt = c_int::try_from(m.msg_iovlen).unwrap_or(c_int::MAX);
    iov_ranges(m.msg_iov, cnt)
}

/// # Safety
/// recvmsg(2)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> isize {
    check(Routine::SysRecvmsg, msg_ranges(msg));
    let r = call_real!(
        Routine::SysRecvmsg,
        unsafe extern "C" fn(c_int, *mut libc::msghdr, c_int) -> isize,
        libc::SYS_recvmsg,
        fd,
        msg,
        flags
    );
    crate::strmem::repair_header();
    r
}

// The calls that send bytes out (write, pwrite/pwrite64, writev, send,
// sendto) are entered through assembly: each saves the six argument
// registers, calls its Rust check with them, puts them back and jumps to
// glibc's wrapper, leaving no frame of its own behind (as stdio's
// `memdx_file_write` does). A Rust hook calling glibc's wrapper stayed on
// the stack during the system call, so the SIGPIPE a closed pipe raises
// there looked to the fatal-signal handler as if it came inside the
// runtime's work and was deferred by about 1 ms: a program that `_exit`ed
// right after EPIPE ended with its own status instead of dying by the
// signal (`fatal_signals.c sigpipe-writev-exit`). Before the wrappers are
// resolved, the jump goes to a Rust fallback making the system call.
#[cfg(not(test))]
core::arch::global_asm!(
    ".macro memdx_send_entry name, check, slot, fallback",
    ".pushsection .text.\\name,\"ax\",@progbits",
    ".p2align 4",
    ".globl \\name",
    ".type \\name,@function",
    "\\name:",
    ".cfi_startproc",
    // 56 bytes: six registers and the padding that aligns the call.
    "sub rsp, 56",
    ".cfi_adjust_cfa_offset 56",
    "mov [rsp], rdi",
    "mov [rsp + 8], rsi",
    "mov [rsp + 16], rdx",
    "mov [rsp + 24], rcx",
    "mov [rsp + 32], r8",
    "mov [rsp + 40], r9",
    "call \\check",
    "mov rdi, [rsp]",
    "mov rsi, [rsp + 8]",
    "mov rdx, [rsp + 16]",
    "mov rcx, [rsp + 24]",
    "mov r8, [rsp + 32]",
    "mov r9, [rsp + 40]",
    "add rsp, 56",
    ".cfi_adjust_cfa_offset -56",
    "mov rax, qword ptr [rip + {real} + 8 * \\slot]",
    "test rax, rax",
    "jz \\fallback",
    "jmp rax",
    ".cfi_endproc",
    ".size \\name, .-\\name",
    ".popsection",
    ".endm",
    "memdx_send_entry write, {c_write}, {s_write}, {f_write}",
    "memdx_send_entry pwrite64, {c_pwrite}, {s_pwrite}, {f_pwrite}",
    "memdx_send_entry pwrite, {c_pwrite}, {s_pwrite}, {f_pwrite}",
    "memdx_send_entry writev, {c_writev}, {s_writev}, {f_writev}",
    "memdx_send_entry send, {c_send}, {s_send}, {f_send}",
    "memdx_send_entry sendto, {c_sendto}, {s_sendto}, {f_sendto}",
    "memdx_send_entry sendmsg, {c_sendmsg}, {s_sendmsg}, {f_sendmsg}",
    ".purgem memdx_send_entry",
    real = sym REAL,
    c_write = sym check_write,
    s_write = const slot(Routine::SysWrite),
    f_write = sym fallback_write,
    c_pwrite = sym check_pwrite,
    s_pwrite = const slot(Routine::SysPwrite64),
    f_pwrite = sym fallback_pwrite,
    c_writev = sym check_writev,
    s_writev = const slot(Routine::SysWritev),
    f_writev = sym fallback_writev,
    c_send = sym check_send,
    s_send = const slot(Routine::SysSend),
    f_send = sym fallback_send,
    c_sendto = sym check_sendto,
    s_sendto = const slot(Routine::SysSendto),
    f_sendto = sym fallback_sendto,
    c_sendmsg = sym check_sendmsg,
    s_sendmsg = const slot(Routine::SysSendmsg),
    f_sendmsg = sym fallback_sendmsg,
);

#[cfg_attr(test, allow(dead_code))]
extern "C" fn check_write(_fd: c_int, buf: *const c_void, n: usize) {
    check(Routine::SysWrite, [(buf as usize, n)].into_iter());
}

#[cfg_attr(test, allow(dead_code))]
extern "C" fn check_pwrite(_fd: c_int, buf: *const c_void, n: usize) {
    check(Routine::SysPwrite64, [(buf as usize, n)].into_iter());
}

#[cfg_attr(test, allow(dead_code))]
extern "C" fn check_writev(_fd: c_int, iov: *const libc::iovec, cnt: c_int) {
    check(Routine::SysWritev, iov_ranges(iov, cnt));
}

#[cfg_attr(test, allow(dead_code))]
extern "C" fn check_send(_fd: c_int, buf: *const c_void, n: usize) {
    check(Routine::SysSend, [(buf as usize, n)].into_iter());
}

#[cfg_attr(test, allow(dead_code))]
extern "C" fn check_sendto(
    _fd: c_int,
    buf: *const c_void,
    n: usize,
    _flags: c_int,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) {
    guard::unwatch_range(addr as usize, len as usize);
    check(Routine::SysSendto, [(buf as usize, n)].into_iter());
}

#[cfg_attr(test, allow(dead_code))]
extern "C" fn check_sendmsg(_fd: c_int, msg: *const libc::msghdr) {
    check(Routine::SysSendmsg, msg_ranges(msg));
}

/// sendmsg(2) before glibc's wrapper is resolved.
#[cfg_attr(test, allow(dead_code))]
unsafe extern "C" fn fallback_sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> isize {
    // SAFETY: the system call with the caller's arguments.
    unsafe { libc::syscall(libc::SYS_sendmsg, fd, msg, flags) as isize }
}

/// write(2) before glibc's wrapper is resolved.
#[cfg_attr(test, allow(dead_code))]
unsafe extern "C" fn fallback_write(fd: c_int, buf: *const c_void, n: usize) -> isize {
    // SAFETY: the system call with the caller's arguments.
    unsafe { libc::syscall(libc::SYS_write, fd, buf, n) as isize }
}

/// pwrite(2) before glibc's wrapper is resolved.
#[cfg_attr(test, allow(dead_code))]
unsafe extern "C" fn fallback_pwrite(fd: c_int, buf: *const c_void, n: usize, off: i64) -> isize {
    // SAFETY: the system call with the caller's arguments.
    unsafe { libc::syscall(libc::SYS_pwrite64, fd, buf, n, off) as isize }
}

/// writev(2) before glibc's wrapper is resolved.
#[cfg_attr(test, allow(dead_code))]
unsafe extern "C" fn fallback_writev(fd: c_int, iov: *const libc::iovec, cnt: c_int) -> isize {
    // SAFETY: the system call with the caller's arguments.
    unsafe { libc::syscall(libc::SYS_writev, fd, iov, cnt) as isize }
}

/// send(2) before glibc's wrapper is resolved: sendto without an address.
#[cfg_attr(test, allow(dead_code))]
unsafe extern "C" fn fallback_send(fd: c_int, buf: *const c_void, n: usize, flags: c_int) -> isize {
    let null = core::ptr::null::<c_void>();
    // SAFETY: the system call with the caller's arguments.
    unsafe { libc::syscall(libc::SYS_sendto, fd, buf, n, flags, null, 0) as isize }
}

/// sendto(2) before glibc's wrapper is resolved.
#[cfg_attr(test, allow(dead_code))]
unsafe extern "C" fn fallback_sendto(
    fd: c_int,
    buf: *const c_void,
    n: usize,
    flags: c_int,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> isize {
    // SAFETY: the system call with the caller's arguments.
    unsafe { libc::syscall(libc::SYS_sendto, fd, buf, n, flags, addr, len) as isize }
}
