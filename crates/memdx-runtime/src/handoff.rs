//! The C library's entry points that hand the program's memory to the
//! kernel, hooked so that a watched block (see `crate::watch`) among their
//! arguments stops being watched before the call: the kernel cannot read
//! or write a closed page, and the call would fail with EFAULT (perl's
//! "Can't open /dev/null: Bad address" for a path built in the heap,
//! valgrind's launcher exec'ing its tool with an argv built in the heap).
//!
//! Each hook is a few bytes of assembly (no frame of its own left behind,
//! as for the send hooks of `syscalls`): it saves the argument registers,
//! calls [`memdx_handoff`] with the hook's index, puts them back and jumps
//! to glibc's function (found with `dlsym(RTLD_NEXT)`), with the program's
//! arguments, stack and return address: same result, same errno. When no
//! block is watched (always, with `--watch-blocks=no`), the check is one
//! load.
//!
//! What is released: the block each argument register points into (a
//! watched block is at most a page and alone on its page, so a buffer, a
//! struct or a string that starts in it lies in it), and for the calls
//! whose arguments point to more pointers, the blocks those point into:
//! argv and envp arrays and their strings (the exec family, posix_spawn;
//! `environ` for the calls that pass it implicitly: execv, execvp,
//! execl, execlp, system, popen, posix_spawn with a null envp), mmsghdr
//! arrays (their iovecs, name and control buffers; sendmsg and recvmsg
//! are `syscalls`' checked wrappers), iovec arrays, the
//! first words of ioctl, prctl and ptrace arguments and of sigaltstack's
//! stack_t. `syscall()` with a number whose arguments are not known to be
//! flat releases every watched block.
//!
//! Not covered: an inline `syscall` instruction in the program's own code
//! given a watched block (no hook sees it), and glibc's internal calls
//! with a pointer the C library did not read or write itself first (an
//! access by the C library releases the block, see `watch::judge`).

use core::ffi::c_char;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::guard;

/// How a hooked function's arguments point to memory.
#[derive(Clone, Copy)]
enum Shape {
    /// Each argument register is a pointer or no pointer at all.
    Flat,
    /// Flat, and argument `.0` is a null-terminated array of strings
    /// (argv), as is argument `.1` (envp; [`ENVIRON`]: the process's
    /// `environ`, passed by the C library; [`NONE`]: none).
    Argv(u8, u8),
    /// Flat, and the arguments from `.0` on (registers, then the stack)
    /// are strings up to a null one (execl, execlp, execle), then
    /// `environ`.
    List(u8),
    /// Flat, and argument `.0` is an array of mmsghdr, its length
    /// argument `.0 + 1`.
    MMsg(u8),
    /// Flat, and argument `.0` is an iovec array, its length argument
    /// `.0 + 1`.
    Iov(u8),
    /// Flat, and the first words each argument points to are pointers or
    /// no pointers (ioctl, prctl, ptrace, sigaltstack, fcntl).
    Deep,
    /// `syscall(nr, ...)`.
    Syscall,
    /// Flat, and argument `.0` is a signal mask the thread runs with
    /// (for the call, or from now on unless argument `.1`, when not
    /// [`NONE`], is `SIG_UNBLOCK`): one that blocks SIGSEGV stops watching
    /// for good (`watch::stop`).
    Mask(u8, u8),
}

/// No second array.
const NONE: u8 = 0xff;
/// The process's `environ`.
const ENVIRON: u8 = 0xfe;

use Shape::*;

/// One hooked function.
struct Hook {
    /// Its index in [`HOOKS`] (checked at compile time).
    idx: usize,
    /// Its name, null-terminated.
    name: &'static [u8],
    /// Register arguments.
    args: u8,
    shape: Shape,
    /// It returns a pointer (null on failure) rather than a number.
    ptr_ret: bool,
}

/// Defines [`HOOKS`] and the assembly entry of each (`mov r11d, index;
/// jmp memdx_handoff_entry`).
macro_rules! handoff_hooks {
    ($($idx:literal $name:ident $args:literal $shape:expr, $ptr:literal;)*) => {
        static HOOKS: [Hook; [$($idx),*].len()] = [$(Hook {
            idx: $idx,
            name: concat!(stringify!($name), "\0").as_bytes(),
            args: $args,
            shape: $shape,
            ptr_ret: $ptr,
        }),*];

        index_stubs!("memdx_handoff", memdx_handoff_entry, HOOKS, $($idx $name)*);
    };
}

handoff_hooks! {
    // Paths (strings), and buffers the kernel fills.
    0 open 3 Flat, false;
    1 open64 3 Flat, false;
    2 openat 4 Flat, false;
    3 openat64 4 Flat, false;
    4 creat 2 Flat, false;
    5 creat64 2 Flat, false;
    6 __open_2 2 Flat, false;
    7 __open64_2 2 Flat, false;
    8 __openat_2 3 Flat, false;
    9 __openat64_2 3 Flat, false;
    10 fopen 2 Flat, true;
    11 fopen64 2 Flat, true;
    12 freopen 3 Flat, true;
    13 freopen64 3 Flat, true;
    14 opendir 1 Flat, true;
    15 scandir 4 Flat, false;
    16 scandirat 5 Flat, false;
    17 stat 2 Flat, false;
    18 stat64 2 Flat, false;
    19 lstat 2 Flat, false;
    20 lstat64 2 Flat, false;
    21 fstat 2 Flat, false;
    22 fstat64 2 Flat, false;
    23 fstatat 4 Flat, false;
    24 fstatat64 4 Flat, false;
    25 statx 5 Flat, false;
    26 statfs 2 Flat, false;
    27 statfs64 2 Flat, false;
    28 fstatfs 2 Flat, false;
    29 fstatfs64 2 Flat, false;
    30 statvfs 2 Flat, false;
    31 statvfs64 2 Flat, false;
    32 fstatvfs 2 Flat, false;
    33 fstatvfs64 2 Flat, false;
    34 access 2 Flat, false;
    35 faccessat 4 Flat, false;
    36 euidaccess 2 Flat, false;
    37 eaccess 2 Flat, false;
    38 readlink 3 Flat, false;
    39 readlinkat 4 Flat, false;
    40 __readlink_chk 4 Flat, false;
    41 __readlinkat_chk 5 Flat, false;
    42 realpath 2 Flat, true;
    43 __realpath_chk 3 Flat, true;
    44 canonicalize_file_name 1 Flat, true;
    45 getcwd 2 Flat, true;
    46 __getcwd_chk 3 Flat, true;
    47 getwd 1 Flat, true;
    48 chdir 1 Flat, false;
    49 chroot 1 Flat, false;
    50 mkdir 2 Flat, false;
    51 mkdirat 3 Flat, false;
    52 rmdir 1 Flat, false;
    53 unlink 1 Flat, false;
    54 unlinkat 3 Flat, false;
    55 remove 1 Flat, false;
    56 rename 2 Flat, false;
    57 renameat 4 Flat, false;
    58 renameat2 5 Flat, false;
    59 link 2 Flat, false;
    60 linkat 5 Flat, false;
    61 symlink 2 Flat, false;
    62 symlinkat 3 Flat, false;
    63 chmod 2 Flat, false;
    64 fchmodat 4 Flat, false;
    65 chown 3 Flat, false;
    66 lchown 3 Flat, false;
    67 fchownat 5 Flat, false;
    68 truncate 2 Flat, false;
    69 truncate64 2 Flat, false;
    70 mkfifo 2 Flat, false;
    71 mkfifoat 3 Flat, false;
    72 mknod 3 Flat, false;
    73 mknodat 4 Flat, false;
    74 utime 2 Flat, false;
    75 utimes 2 Flat, false;
    76 lutimes 2 Flat, false;
    77 futimes 2 Flat, false;
    78 futimesat 3 Flat, false;
    79 utimensat 4 Flat, false;
    80 futimens 2 Flat, false;
    81 getxattr 4 Flat, false;
    82 lgetxattr 4 Flat, false;
    83 fgetxattr 4 Flat, false;
    84 setxattr 5 Flat, false;
    85 lsetxattr 5 Flat, false;
    86 fsetxattr 5 Flat, false;
    87 listxattr 3 Flat, false;
    88 llistxattr 3 Flat, false;
    89 flistxattr 3 Flat, false;
    90 removexattr 2 Flat, false;
    91 lremovexattr 2 Flat, false;
    92 fremovexattr 2 Flat, false;
    93 inotify_add_watch 3 Flat, false;
    94 mount 5 Flat, false;
    95 umount 1 Flat, false;
    96 umount2 2 Flat, false;
    97 ttyname_r 3 Flat, false;
    98 __ttyname_r_chk 4 Flat, false;
    // Programs and their argument and environment arrays.
    99 execve 3 Argv(1, 2), false;
    100 execv 2 Argv(1, ENVIRON), false;
    101 execvp 2 Argv(1, ENVIRON), false;
    102 execvpe 3 Argv(1, 2), false;
    103 fexecve 3 Argv(1, 2), false;
    104 execveat 5 Argv(2, 3), false;
    105 execl 6 List(1), false;
    106 execlp 6 List(1), false;
    107 execle 6 List(1), false;
    108 posix_spawn 6 Argv(4, 5), false;
    109 posix_spawnp 6 Argv(4, 5), false;
    110 system 1 Argv(NONE, ENVIRON), false;
    111 popen 2 Argv(NONE, ENVIRON), true;
    // Waiting, polling, descriptors.
    112 poll 3 Flat, false;
    113 __poll_chk 4 Flat, false;
    114 ppoll 4 Mask(3, NONE), false;
    115 __ppoll_chk 5 Mask(3, NONE), false;
    116 select 5 Flat, false;
    117 pselect 6 Mask(5, NONE), false;
    118 epoll_wait 4 Flat, false;
    119 epoll_pwait 5 Mask(4, NONE), false;
    120 epoll_pwait2 5 Mask(4, NONE), false;
    121 epoll_ctl 4 Flat, false;
    122 pipe 1 Flat, false;
    123 pipe2 2 Flat, false;
    124 socketpair 4 Flat, false;
    125 connect 3 Flat, false;
    126 bind 3 Flat, false;
    127 accept 3 Flat, false;
    128 accept4 4 Flat, false;
    129 getsockname 3 Flat, false;
    130 getpeername 3 Flat, false;
    131 getsockopt 5 Flat, false;
    132 setsockopt 5 Flat, false;
    133 sendmmsg 4 MMsg(1), false;
    134 recvmmsg 5 MMsg(1), false;
    135 __recv_chk 5 Flat, false;
    136 __recvfrom_chk 7 Flat, false;
    137 __read_chk 4 Flat, false;
    138 __pread_chk 5 Flat, false;
    139 __pread64_chk 5 Flat, false;
    140 preadv 4 Iov(1), false;
    141 preadv64 4 Iov(1), false;
    142 pwritev 4 Iov(1), false;
    143 pwritev64 4 Iov(1), false;
    144 preadv2 5 Iov(1), false;
    145 preadv64v2 5 Iov(1), false;
    146 pwritev2 5 Iov(1), false;
    147 pwritev64v2 5 Iov(1), false;
    148 vmsplice 4 Iov(1), false;
    149 process_vm_readv 6 Iov(1), false;
    150 process_vm_writev 6 Iov(1), false;
    151 splice 6 Flat, false;
    152 sendfile 4 Flat, false;
    153 sendfile64 4 Flat, false;
    154 copy_file_range 6 Flat, false;
    155 getdents64 3 Flat, false;
    156 getrandom 3 Flat, false;
    157 getentropy 2 Flat, false;
    158 eventfd_read 2 Flat, false;
    159 fcntl 3 Deep, false;
    160 fcntl64 3 Deep, false;
    161 ioctl 3 Deep, false;
    162 prctl 5 Deep, false;
    163 ptrace 4 Deep, false;
    164 syscall 6 Syscall, false;
    // Streams whose buffers the C library hands to the kernel unread.
    165 fread 4 Flat, false;
    166 fread_unlocked 4 Flat, false;
    167 __fread_chk 5 Flat, false;
    168 __fread_unlocked_chk 5 Flat, false;
    169 fwrite 4 Flat, false;
    170 fwrite_unlocked 4 Flat, false;
    171 setvbuf 4 Flat, false;
    172 setbuf 2 Flat, false;
    173 setbuffer 3 Flat, false;
    // Time, limits, identities, signals, processes.
    174 nanosleep 2 Flat, false;
    175 clock_nanosleep 4 Flat, false;
    176 clock_gettime 2 Flat, false;
    177 clock_getres 2 Flat, false;
    178 clock_settime 2 Flat, false;
    179 gettimeofday 2 Flat, false;
    180 settimeofday 2 Flat, false;
    181 getitimer 2 Flat, false;
    182 setitimer 3 Flat, false;
    183 timer_create 3 Deep, false;
    184 timer_settime 4 Flat, false;
    185 timer_gettime 2 Flat, false;
    186 timerfd_settime 4 Flat, false;
    187 timerfd_gettime 2 Flat, false;
    188 getrlimit 2 Flat, false;
    189 getrlimit64 2 Flat, false;
    190 setrlimit 2 Flat, false;
    191 setrlimit64 2 Flat, false;
    192 prlimit 4 Flat, false;
    193 prlimit64 4 Flat, false;
    194 getrusage 2 Flat, false;
    195 times 1 Flat, false;
    196 sysinfo 1 Flat, false;
    197 uname 1 Flat, false;
    198 getgroups 2 Flat, false;
    199 setgroups 2 Flat, false;
    200 getresuid 3 Flat, false;
    201 getresgid 3 Flat, false;
    202 sigprocmask 3 Mask(1, 0), false;
    203 pthread_sigmask 3 Mask(1, 0), false;
    204 sigpending 1 Flat, false;
    205 sigsuspend 1 Mask(0, NONE), false;
    206 sigwait 2 Flat, false;
    207 sigwaitinfo 2 Flat, false;
    208 sigtimedwait 3 Flat, false;
    209 sigaltstack 2 Deep, false;
    210 signalfd 3 Flat, false;
    211 wait 1 Flat, false;
    212 waitpid 3 Flat, false;
    213 wait3 3 Flat, false;
    214 wait4 4 Flat, false;
    215 waitid 4 Flat, false;
    216 sched_getaffinity 3 Flat, false;
    217 sched_setaffinity 3 Flat, false;
    218 sched_getparam 2 Flat, false;
    219 sched_setparam 2 Flat, false;
    220 sched_setscheduler 3 Flat, false;
    221 sched_rr_get_interval 2 Flat, false;
    222 pthread_getaffinity_np 3 Flat, false;
    223 pthread_setaffinity_np 3 Flat, false;
    224 msgsnd 4 Flat, false;
    225 msgrcv 5 Flat, false;
    226 msgctl 3 Flat, false;
    227 semop 3 Flat, false;
    228 semtimedop 4 Flat, false;
    229 shmctl 3 Flat, false;
    230 mq_open 4 Flat, false;
    231 mq_send 4 Flat, false;
    232 mq_receive 4 Flat, false;
    233 mq_timedsend 5 Flat, false;
    234 mq_timedreceive 5 Flat, false;
    235 mq_getattr 2 Flat, false;
    236 mq_setattr 3 Flat, false;
    237 sethostname 2 Flat, false;
    238 setdomainname 2 Flat, false;
    239 name_to_handle_at 5 Flat, false;
}

/// glibc's functions, by hook index.
static REAL: [AtomicUsize; HOOKS.len()] = [const { AtomicUsize::new(0) }; HOOKS.len()];

/// Resolves glibc's functions; call from the constructor (a hook called
/// before resolves its own).
pub fn init() {
    for h in &HOOKS {
        resolve(h);
    }
}

fn resolve(h: &Hook) -> usize {
    // SAFETY: dlsym with a null-terminated name.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, h.name.as_ptr().cast()) } as usize;
    REAL[h.idx].store(p, Ordering::Release);
    p
}

/// What a hook whose glibc function is missing returns: -1 with ENOSYS.
extern "C" fn missing_int() -> isize {
    crate::sys::set_errno(libc::ENOSYS);
    -1
}

/// What a hook returning a pointer whose glibc function is missing
/// returns: null with ENOSYS.
extern "C" fn missing_ptr() -> usize {
    crate::sys::set_errno(libc::ENOSYS);
    0
}

// The common entry: 72 bytes hold the six argument registers and rax (the
// vector-register count of a variadic call) and align the call.
// `memdx_handoff(index, registers, stack arguments)` returns the address
// to jump to.
#[cfg(not(test))]
core::arch::global_asm!(
    ".pushsection .text.memdx_handoff_entry,\"ax\",@progbits",
    ".p2align 4",
    ".globl memdx_handoff_entry",
    ".hidden memdx_handoff_entry",
    ".type memdx_handoff_entry,@function",
    "memdx_handoff_entry:",
    ".cfi_startproc",
    "sub rsp, 72",
    ".cfi_adjust_cfa_offset 72",
    "mov [rsp], rdi",
    "mov [rsp + 8], rsi",
    "mov [rsp + 16], rdx",
    "mov [rsp + 24], rcx",
    "mov [rsp + 32], r8",
    "mov [rsp + 40], r9",
    "mov [rsp + 48], rax",
    "mov edi, r11d",
    "mov rsi, rsp",
    "lea rdx, [rsp + 80]",
    "call {handoff}",
    "mov r11, rax",
    "mov rdi, [rsp]",
    "mov rsi, [rsp + 8]",
    "mov rdx, [rsp + 16]",
    "mov rcx, [rsp + 24]",
    "mov r8, [rsp + 32]",
    "mov r9, [rsp + 40]",
    "mov rax, [rsp + 48]",
    "add rsp, 72",
    ".cfi_adjust_cfa_offset -72",
    "jmp r11",
    ".cfi_endproc",
    ".size memdx_handoff_entry, .-memdx_handoff_entry",
    ".popsection",
    handoff = sym memdx_handoff,
);

#[cfg(not(test))]
extern "C" {
    fn memdx_handoff_entry();
}

/// Releases the watched blocks the arguments of hook `idx` point to
/// (`regs`: the six argument registers; `stack`: the arguments passed on
/// the stack, the return address just below) and returns glibc's function
/// to jump to. Never unwinds; no allocation.
#[cfg_attr(test, allow(dead_code))]
extern "C" fn memdx_handoff(idx: u32, regs: *const [usize; 6], stack: *const usize) -> usize {
    let Some(h) = HOOKS.get(idx as usize) else {
        return missing_int as *const () as usize;
    };
    let mut f = REAL[h.idx].load(Ordering::Acquire);
    if f == 0 {
        f = resolve(h);
    }
    if f == 0 {
        return if h.ptr_ret {
            missing_ptr as *const () as usize
        } else {
            missing_int as *const () as usize
        };
    }
    // A caller built against an old version of the function gets it
    // (`symver`).
    // SAFETY: the return address is the word below the stack arguments.
    let f = crate::symver::redirect(h.name, unsafe { *stack.sub(1) }, f);
    let mask = matches!(h.shape, Mask(..)) && crate::watch::on();
    if mask || guard::any_watched() {
        // SAFETY: the entry saved six registers there; the return address
        // is the word below the stack arguments.
        let (regs, ret) = unsafe { (*regs, *stack.sub(1)) };
        let runtime = crate::stacks::SELF_LO.load(Ordering::Relaxed)
            ..crate::stacks::SELF_HI.load(Ordering::Relaxed);
        // The runtime's own calls: none of its memory is watched, and it
        // touches no watched page while it blocks SIGSEGV (it may hold the
        // guard pool's lock: no `watch::stop` here).
        if !runtime.contains(&ret) {
            if let Mask(set, how) = h.shape {
                stop_if_fault_blocked(&regs, set, how);
            }
            let errno = crate::sys::errno();
            release_args(h, &regs, stack);
            crate::sys::set_errno(errno);
        }
    }
    if EXEC_FAMILY.contains(&h.idx) {
        // SAFETY: the entry saved six registers there.
        let regs = unsafe { *regs };
        // The path is argument 1 of execveat, none of fexecve (a
        // descriptor), argument 0 of the others.
        let path = match h.name {
            b"fexecve\0" => 0,
            b"execveat\0" => regs[1],
            _ => regs[0],
        };
        crate::hooks::announce_exec(path as *const c_char);
    }
    f
}

/// The exec family's hooks (execve to execle, checked by a test).
const EXEC_FAMILY: core::ops::RangeInclusive<usize> = 99..=107;

/// Stops watching for good (`watch::stop`) when the signal mask in
/// argument `set` blocks SIGSEGV and argument `how` (unless [`NONE`]) is
/// not `SIG_UNBLOCK`: a fault on a watched page would then kill the
/// process. Before the call, so that no block is watched once the mask
/// takes effect.
fn stop_if_fault_blocked(regs: &[usize; 6], set: u8, how: u8) {
    if !crate::watch::on() && !guard::any_watched() {
        return;
    }
    if how != NONE && regs[usize::from(how).min(5)] as libc::c_int == libc::SIG_UNBLOCK {
        return;
    }
    let p = regs[usize::from(set).min(5)];
    // A set in a watched block is unreadable to the kernel too.
    release(p);
    // SAFETY: an all-zero sigset_t is the empty set.
    let mut copy: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: the set's first 8 bytes (the kernel's 64 signals), as bytes.
    let bytes = unsafe { core::slice::from_raw_parts_mut((&raw mut copy).cast::<u8>(), 8) };
    let errno = crate::sys::errno();
    // Read through the kernel: an unreadable set is the call's EFAULT.
    let read = p != 0 && crate::access::read_own(p, bytes) == 8;
    if read && crate::watch::mask_blocks_fault(&copy) {
        crate::watch::stop(false);
    }
    crate::sys::set_errno(errno);
}

/// Releases what the arguments of a call to `h` point to.
fn release_args(h: &Hook, regs: &[usize; 6], stack: *const usize) {
    let n = usize::from(h.args).min(6);
    let args = &regs[..n];
    match h.shape {
        Syscall => {
            if regs[0] == libc::SYS_rt_sigprocmask as usize {
                stop_if_fault_blocked(regs, 2, 1);
            } else if regs[0] == libc::SYS_rt_sigsuspend as usize {
                stop_if_fault_blocked(regs, 1, NONE);
            }
            if flat_syscall(regs[0]) {
                release_all(&regs[1..]);
                // SAFETY: syscall()'s sixth argument is on the stack.
                release(unsafe { *stack });
            } else {
                guard::unwatch_all();
            }
            return;
        }
        List(first) => {
            release_all(args);
            // Registers, then the stack, up to the null argument.
            let mut at = usize::from(first);
            let mut ended = false;
            while at < 6 {
                if regs[at] == 0 {
                    ended = true;
                    break;
                }
                at += 1;
            }
            if !ended {
                release_strings(stack as usize);
            }
            release_strings(environ_at());
            return;
        }
        _ => release_all(args),
    }
    match h.shape {
        Argv(a, e) => {
            for which in [a, e] {
                match which {
                    NONE => {}
                    ENVIRON => release_strings(environ_at()),
                    i => {
                        let array = regs[usize::from(i).min(5)];
                        if array == 0 && i == e {
                            release_strings(environ_at()); // posix_spawn's null envp
                        } else {
                            release_strings(array);
                        }
                    }
                }
            }
        }
        MMsg(i) => {
            let i = usize::from(i).min(4);
            let count = regs[i + 1].min(1024);
            for k in 0..count {
                release_msghdr(regs[i] + k * 64);
            }
        }
        Iov(i) => {
            let i = usize::from(i).min(4);
            release_iov(regs[i], regs[i + 1]);
        }
        Deep => {
            for &a in args {
                release_words(a, 32);
            }
        }
        Flat | List(_) | Syscall | Mask(..) => {}
    }
}

/// Stops watching the block `p` points into, if any.
#[inline]
fn release(p: usize) {
    if guard::contains(p) {
        guard::unwatch_range(p, 1);
    }
}

fn release_all(args: &[usize]) {
    for &a in args {
        release(a);
    }
}

/// Reads up to `N` words at `p` (0 when unreadable: what the kernel would
/// fail with EFAULT is left to it).
fn read_words<const N: usize>(p: usize) -> ([usize; N], usize) {
    let mut words = [0usize; N];
    if p < 4096 {
        return (words, 0);
    }
    // SAFETY: the array viewed as bytes, filled through the kernel.
    let bytes = unsafe {
        core::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), N * size_of::<usize>())
    };
    let got = crate::access::read_own(p, bytes) / size_of::<usize>();
    (words, got)
}

/// Releases what the first `n` (at most 32) words at `p` point into.
fn release_words(p: usize, n: usize) {
    let (words, got) = read_words::<32>(p);
    release_all(&words[..got.min(n)]);
}

/// Releases a null-terminated array of strings at `array` and the
/// strings (at most 1 << 20 entries).
fn release_strings(array: usize) {
    let mut at = array;
    for _ in 0..(1 << 15) {
        release(at);
        let (words, got) = read_words::<32>(at);
        for &w in &words[..got] {
            if w == 0 {
                return;
            }
            release(w);
        }
        if got < 32 {
            return;
        }
        at += 32 * size_of::<usize>();
    }
}

/// Releases a msghdr at `p`, its name, iovecs and control buffer.
fn release_msghdr(p: usize) {
    release(p);
    // msg_name, msg_namelen, msg_iov, msg_iovlen, msg_control,
    // msg_controllen, msg_flags.
    let (m, got) = read_words::<7>(p);
    if got < 6 {
        return;
    }
    release(m[0]);
    release(m[4]);
    release_iov(m[2], m[3]);
}

/// Releases an iovec array at `iov` (`count` entries, at most 1024) and
/// its buffers.
fn release_iov(iov: usize, count: usize) {
    let count = count.min(1024);
    let mut done = 0;
    while done < count {
        let at = iov + done * 16;
        release(at);
        let (words, got) = read_words::<32>(at);
        let pairs = (got / 2).min(count - done);
        if pairs == 0 {
            return;
        }
        for k in 0..pairs {
            if words[2 * k + 1] != 0 {
                guard::unwatch_range(words[2 * k], words[2 * k + 1]);
            }
        }
        done += pairs;
    }
}

/// Where `environ` points now.
fn environ_at() -> usize {
    extern "C" {
        static environ: *const *const c_char;
    }
    // SAFETY: reading the C library's variable (racy like every reader's).
    unsafe { environ as usize }
}

/// Whether system call `nr`'s pointer arguments point to no further
/// pointers (each is released; any other number releases every block).
fn flat_syscall(nr: usize) -> bool {
    let flat = [
        libc::SYS_futex,
        libc::SYS_getrandom,
        libc::SYS_gettid,
        libc::SYS_getpid,
        libc::SYS_tgkill,
        libc::SYS_tkill,
        libc::SYS_sched_yield,
        libc::SYS_sched_getaffinity,
        libc::SYS_sched_setaffinity,
        libc::SYS_membarrier,
        libc::SYS_rseq,
        libc::SYS_statx,
        libc::SYS_pidfd_open,
        libc::SYS_pidfd_send_signal,
        libc::SYS_close_range,
        libc::SYS_getdents64,
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_openat,
        libc::SYS_close,
        libc::SYS_gettimeofday,
        libc::SYS_clock_gettime,
        libc::SYS_memfd_create,
        libc::SYS_copy_file_range,
        libc::SYS_ioprio_get,
        libc::SYS_ioprio_set,
        libc::SYS_personality,
    ];
    flat.iter().any(|&f| f as usize == nr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exec_family_is_where_its_announcement_expects_it() {
        let names: Vec<&[u8]> = HOOKS[EXEC_FAMILY].iter().map(|h| h.name).collect();
        let want: [&[u8]; 9] = [
            b"execve\0",
            b"execv\0",
            b"execvp\0",
            b"execvpe\0",
            b"fexecve\0",
            b"execveat\0",
            b"execl\0",
            b"execlp\0",
            b"execle\0",
        ];
        assert_eq!(names, want);
    }

    #[test]
    fn hooks_have_unique_names() {
        for (i, a) in HOOKS.iter().enumerate() {
            assert_eq!(a.idx, i);
            assert!(a.args <= 7, "{:?}", a.name);
            for b in &HOOKS[i + 1..] {
                assert_ne!(a.name, b.name);
            }
        }
    }
}
