//! The runtime library exports the allocator family (plus `_exit`, `_Exit`,
//! `sigaction`, `daemon`, `mmap`/`mmap64`/`munmap`/`mremap`, the checked memory and string routines, the checked system call
//! wrappers, the calls that hand memory to the kernel (`handoff.rs`), `pthread_create`, `dlclose` (the unwinder's cached rules end with a module), and `memdx_attach`/`memdx_detach`, which `memdx heap --pid`
//! calls in a process it loaded the runtime into) and nothing else: any other exported symbol (a Rust
//! unwinder's `_Unwind_*`, say) would interpose on the program under test.

use memdx_testkit::{Deadline, DEADLINE};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The runtime the memdx binary under test uses: the one its build script
/// built (newest), else the workspace member's next to the binary.
fn runtime() -> Option<PathBuf> {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_memdx"));
    let dir = exe.parent()?;
    let mut built: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir.join("build"))
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| {
            e.path()
                .join("out/runtime-target/release/libmemdx_runtime.so")
        })
        .filter(|p| p.is_file())
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .collect();
    built.sort();
    built
        .pop()
        .map(|(_, p)| p)
        .or_else(|| Some(dir.join("libmemdx_runtime.so")).filter(|p| p.is_file()))
}

fn exported(lib: &Path) -> Vec<String> {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(lib)
        .output_within(DEADLINE);
    assert!(out.status.success());
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(String::from))
        .collect();
    v.sort();
    v
}

#[test]
fn only_the_allocator_family_is_exported() {
    let Some(lib) = runtime() else {
        panic!("libmemdx_runtime.so not found next to the memdx binary");
    };
    let mut want: Vec<String> = [
        "malloc",
        "free",
        "calloc",
        "realloc",
        "reallocarray",
        "memalign",
        "posix_memalign",
        "aligned_alloc",
        "valloc",
        "pvalloc",
        "malloc_usable_size",
        "_Znwm",
        "_Znam",
        "_ZnwmRKSt9nothrow_t",
        "_ZnamRKSt9nothrow_t",
        "_ZnwmSt11align_val_t",
        "_ZnamSt11align_val_t",
        "_ZnwmSt11align_val_tRKSt9nothrow_t",
        "_ZnamSt11align_val_tRKSt9nothrow_t",
        "_ZdlPv",
        "_ZdaPv",
        "_ZdlPvm",
        "_ZdaPvm",
        "_ZdlPvRKSt9nothrow_t",
        "_ZdaPvRKSt9nothrow_t",
        "_ZdlPvSt11align_val_t",
        "_ZdaPvSt11align_val_t",
        "_ZdlPvmSt11align_val_t",
        "_ZdaPvmSt11align_val_t",
        "_ZdlPvSt11align_val_tRKSt9nothrow_t",
        "_ZdaPvSt11align_val_tRKSt9nothrow_t",
        "_exit",
        "_Exit",
        "sigaction",
        "signal",
        "daemon",
        "memcpy",
        "memmove",
        "memset",
        "strcpy",
        "stpcpy",
        "strncpy",
        "strcat",
        "strncat",
        "strlen",
        "__memcpy_chk",
        "__memmove_chk",
        "__memset_chk",
        "__strcpy_chk",
        "__stpcpy_chk",
        "__strncpy_chk",
        "__strcat_chk",
        "__strncat_chk",
        "__mempcpy_chk",
        "mempcpy",
        "stpncpy",
        "memchr",
        "strcmp",
        "strncmp",
        "wcslen",
        "wcsnlen",
        "wcscpy",
        "wcscmp",
        "wcschr",
        "strchr",
        "strrchr",
        "index",
        "rindex",
        "strnlen",
        "puts",
        "fputs",
        "fputs_unlocked",
        "strndup",
        "printf",
        "fprintf",
        "sprintf",
        "snprintf",
        "dprintf",
        "asprintf",
        "vprintf",
        "vfprintf",
        "vsprintf",
        "vsnprintf",
        "vdprintf",
        "vasprintf",
        "__printf_chk",
        "__fprintf_chk",
        "__sprintf_chk",
        "__snprintf_chk",
        "__dprintf_chk",
        "__asprintf_chk",
        "__vprintf_chk",
        "__vfprintf_chk",
        "__vsprintf_chk",
        "__vsnprintf_chk",
        "__vdprintf_chk",
        "__vasprintf_chk",
        "pthread_create",
        "dlclose",
        "memdx_attach",
        "memdx_detach",
        "write",
        "read",
        "pread",
        "pread64",
        "pwrite",
        "pwrite64",
        "send",
        "sendto",
        "recv",
        "recvfrom",
        "writev",
        "readv",
        "sendmsg",
        "recvmsg",
        // The program's own mappings, recorded by `memdx heap` (hooks/mapping.rs).
        "mmap",
        "mmap64",
        "munmap",
        "mremap",
    ]
    .iter()
    .chain(HANDOFF.iter())
    .map(|s| s.to_string())
    .collect();
    want.sort();
    assert_eq!(exported(&lib), want, "{}", lib.display());
}

/// The calls that hand the program's memory to the kernel (runtime
/// `handoff.rs`: a watched block among their arguments stops being watched).
const HANDOFF: &[&str] = &[
    "open",
    "open64",
    "openat",
    "openat64",
    "creat",
    "creat64",
    "__open_2",
    "__open64_2",
    "__openat_2",
    "__openat64_2",
    "fopen",
    "fopen64",
    "freopen",
    "freopen64",
    "opendir",
    "scandir",
    "scandirat",
    "stat",
    "stat64",
    "lstat",
    "lstat64",
    "fstat",
    "fstat64",
    "fstatat",
    "fstatat64",
    "statx",
    "statfs",
    "statfs64",
    "fstatfs",
    "fstatfs64",
    "statvfs",
    "statvfs64",
    "fstatvfs",
    "fstatvfs64",
    "access",
    "faccessat",
    "euidaccess",
    "eaccess",
    "readlink",
    "readlinkat",
    "__readlink_chk",
    "__readlinkat_chk",
    "realpath",
    "__realpath_chk",
    "canonicalize_file_name",
    "getcwd",
    "__getcwd_chk",
    "getwd",
    "chdir",
    "chroot",
    "mkdir",
    "mkdirat",
    "rmdir",
    "unlink",
    "unlinkat",
    "remove",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chmod",
    "fchmodat",
    "chown",
    "lchown",
    "fchownat",
    "truncate",
    "truncate64",
    "mkfifo",
    "mkfifoat",
    "mknod",
    "mknodat",
    "utime",
    "utimes",
    "lutimes",
    "futimes",
    "futimesat",
    "utimensat",
    "futimens",
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "inotify_add_watch",
    "mount",
    "umount",
    "umount2",
    "ttyname_r",
    "__ttyname_r_chk",
    "execve",
    "execv",
    "execvp",
    "execvpe",
    "fexecve",
    "execveat",
    "execl",
    "execlp",
    "execle",
    "posix_spawn",
    "posix_spawnp",
    "system",
    "popen",
    "poll",
    "__poll_chk",
    "ppoll",
    "__ppoll_chk",
    "select",
    "pselect",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_ctl",
    "pipe",
    "pipe2",
    "socketpair",
    "connect",
    "bind",
    "accept",
    "accept4",
    "getsockname",
    "getpeername",
    "getsockopt",
    "setsockopt",
    "sendmmsg",
    "recvmmsg",
    "__recv_chk",
    "__recvfrom_chk",
    "__read_chk",
    "__pread_chk",
    "__pread64_chk",
    "preadv",
    "preadv64",
    "pwritev",
    "pwritev64",
    "preadv2",
    "preadv64v2",
    "pwritev2",
    "pwritev64v2",
    "vmsplice",
    "process_vm_readv",
    "process_vm_writev",
    "splice",
    "sendfile",
    "sendfile64",
    "copy_file_range",
    "getdents64",
    "getrandom",
    "getentropy",
    "eventfd_read",
    "fcntl",
    "fcntl64",
    "ioctl",
    "prctl",
    "ptrace",
    "syscall",
    "fread",
    "fread_unlocked",
    "__fread_chk",
    "__fread_unlocked_chk",
    "fwrite",
    "fwrite_unlocked",
    "setvbuf",
    "setbuf",
    "setbuffer",
    "nanosleep",
    "clock_nanosleep",
    "clock_gettime",
    "clock_getres",
    "clock_settime",
    "gettimeofday",
    "settimeofday",
    "getitimer",
    "setitimer",
    "timer_create",
    "timer_settime",
    "timer_gettime",
    "timerfd_settime",
    "timerfd_gettime",
    "getrlimit",
    "getrlimit64",
    "setrlimit",
    "setrlimit64",
    "prlimit",
    "prlimit64",
    "getrusage",
    "times",
    "sysinfo",
    "uname",
    "getgroups",
    "setgroups",
    "getresuid",
    "getresgid",
    "sigprocmask",
    "pthread_sigmask",
    "sigpending",
    "sigsuspend",
    "sigwait",
    "sigwaitinfo",
    "sigtimedwait",
    "sigaltstack",
    "signalfd",
    "wait",
    "waitpid",
    "wait3",
    "wait4",
    "waitid",
    "sched_getaffinity",
    "sched_setaffinity",
    "sched_getparam",
    "sched_setparam",
    "sched_setscheduler",
    "sched_rr_get_interval",
    "pthread_getaffinity_np",
    "pthread_setaffinity_np",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "semop",
    "semtimedop",
    "shmctl",
    "mq_open",
    "mq_send",
    "mq_receive",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_getattr",
    "mq_setattr",
    "sethostname",
    "setdomainname",
    "name_to_handle_at",
];

/// The libraries the runtime asks the dynamic loader for: each one is
/// loaded into every process `memdx check` or `memdx heap` runs (issue 21:
/// the sampling gap's logarithm is the runtime's own, not libm's).
#[test]
fn the_runtime_needs_no_math_library() {
    let Some(lib) = runtime() else {
        panic!("libmemdx_runtime.so not found next to the memdx binary");
    };
    let out = Command::new("objdump")
        .arg("-p")
        .arg(&lib)
        .output_within(DEADLINE);
    assert!(out.status.success(), "objdump -p {}", lib.display());
    let needed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("NEEDED"))
        .map(|l| l.trim().to_string())
        .collect();
    assert!(
        needed.iter().any(|n| n.starts_with("libc.so")),
        "no NEEDED entries read from objdump -p: {needed:?}"
    );
    assert!(
        !needed.iter().any(|n| n.starts_with("libm.so")),
        "{} needs libm: {needed:?}",
        lib.display()
    );
}
