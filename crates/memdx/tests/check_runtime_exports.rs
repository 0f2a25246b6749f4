//! The runtime library exports the allocator family (plus `_exit`, `_Exit`,
//! `sigaction`, `daemon`, the checked memory and string routines, the checked system call
//! wrappers, `pthread_create`, `dlclose` (the unwinder's cached rules end with a module), and `memdx_attach`/`memdx_detach`, which `memdx heap --pid`
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
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    want.sort();
    assert_eq!(exported(&lib), want, "{}", lib.display());
}
