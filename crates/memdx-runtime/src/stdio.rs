//! stdio's writes. glibc's FILE streams make the `write` system call from
//! inside the C library (`_IO_new_file_write` calls its hidden `__write`),
//! out of an interposer's reach. The write slot of the exported stream
//! vtables (`_IO_file_jumps`, `_IO_wfile_jumps`, read-only after
//! relocation) is pointed at `memdx_file_write`, which checks the buffer as the
//! `write` hook does and calls glibc's function with the same arguments.
//! Valgrind shows such a write with `_IO_file_write` below `write`: that
//! frame (the return address after its call to `write`) is put back into
//! the stack, since glibc's function runs only after the check.

use core::ffi::c_void;
use core::sync::atomic::{AtomicUsize, Ordering};

use memdx_events::Routine;

/// glibc's `_IO_new_file_write`.
static REAL: AtomicUsize = AtomicUsize::new(0);
/// The return address in it after its call to `write`.
static INNER: AtomicUsize = AtomicUsize::new(0);

/// Index of the write function in glibc's `struct _IO_jump_t` (two dummy
/// words, then finish, overflow, underflow, uflow, pbackfail, xsputn,
/// xsgetn, seekoff, seekpos, setbuf, sync, doallocate, read, write).
const WRITE_SLOT: usize = 15;

/// Points the vtables' write slots at `memdx_file_write` when they hold
/// glibc's `_IO_file_write` (anything else: a C library this was not
/// written for, left alone). Call from the constructor, after
/// [`crate::uninit::init`].
pub fn init() {
    if !crate::uninit::on() {
        return;
    }
    // SAFETY: dlsym with static names.
    let (real, write) = unsafe {
        (
            libc::dlsym(libc::RTLD_NEXT, c"_IO_file_write".as_ptr()) as usize,
            libc::dlsym(libc::RTLD_NEXT, c"write".as_ptr()) as usize,
        )
    };
    if real == 0 || write == 0 {
        return;
    }
    REAL.store(real, Ordering::Release);
    INNER.store(call_return(real, write), Ordering::Release);
    for name in [c"_IO_file_jumps", c"_IO_wfile_jumps"] {
        // SAFETY: dlsym with a static name.
        let table = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) } as usize;
        if table != 0 {
            patch(
                table + WRITE_SLOT * 8,
                real,
                memdx_file_write as *const () as usize,
            );
        }
    }
}

/// The return address after the first `call rel32` to `target` in the
/// first 256 bytes of the function at `f`, else 0.
fn call_return(f: usize, target: usize) -> usize {
    // SAFETY: glibc's code, mapped readable; 256 bytes stay inside its text.
    let code = unsafe { core::slice::from_raw_parts(f as *const u8, 256) };
    for i in 0..code.len() - 5 {
        if code[i] == 0xe8 {
            let rel = i32::from_le_bytes([code[i + 1], code[i + 2], code[i + 3], code[i + 4]]);
            let next = f + i + 5;
            if next.wrapping_add_signed(rel as isize) == target {
                return next;
            }
        }
    }
    0
}

/// Replaces the word at `slot` (holding `old`) with `new`, opening its
/// page for writing for the moment and restoring its protection after.
fn patch(slot: usize, old: usize, new: usize) {
    // SAFETY: the slot is in a loaded vtable, mapped readable.
    if unsafe { (slot as *const usize).read() } != old {
        return;
    }
    let page = slot & !4095;
    let Some(prot) = protection(slot) else {
        return;
    };
    // SAFETY: one page of glibc's data; written only at the slot, and
    // given its protection back.
    unsafe {
        if prot & libc::PROT_WRITE == 0
            && libc::mprotect(page as *mut c_void, 4096, prot | libc::PROT_WRITE) != 0
        {
            return;
        }
        (slot as *mut usize).write_volatile(new);
        if prot & libc::PROT_WRITE == 0 {
            libc::mprotect(page as *mut c_void, 4096, prot);
        }
    }
}

/// The protection of the mapping holding `addr`, from /proc/self/maps.
fn protection(addr: usize) -> Option<i32> {
    let crate::sys::FileText { buf, cap, len } = crate::sys::read_file(b"/proc/self/maps\0")?;
    // SAFETY: read_file's buffer of `len` bytes.
    let text = unsafe { core::slice::from_raw_parts(buf, len) };
    let mut found = None;
    for line in text.split(|&b| b == b'\n') {
        let (lo, used) = crate::sys::parse_hex(line);
        let rest = line.get(used + 1..).unwrap_or(&[]);
        let (hi, used) = crate::sys::parse_hex(rest);
        let perms = rest.get(used + 1..used + 4).unwrap_or(&[]);
        if lo <= addr && addr < hi && perms.len() == 3 {
            let mut p = 0;
            for (b, bit) in perms
                .iter()
                .zip([libc::PROT_READ, libc::PROT_WRITE, libc::PROT_EXEC])
            {
                if *b != b'-' {
                    p |= bit;
                }
            }
            found = Some(p);
            break;
        }
    }
    crate::sys::unmap_private(buf, cap);
    found
}

// The function the vtables point at: it checks the buffer, then jumps to
// glibc's `_IO_new_file_write(FILE *, const void *, ssize_t)` with the
// caller's arguments, leaving no frame of its own behind. (A Rust function
// calling glibc's would stay on the stack during the system call, and a
// signal arriving then, a SIGPIPE, would look to the fatal-signal handler
// as if it came inside the runtime's work, and be deferred.)
core::arch::global_asm!(
    ".pushsection .text.memdx_file_write,\"ax\",@progbits",
    ".p2align 4",
    ".globl memdx_file_write",
    ".hidden memdx_file_write",
    ".type memdx_file_write,@function",
    "memdx_file_write:",
    ".cfi_startproc",
    "push rdi",
    ".cfi_adjust_cfa_offset 8",
    "push rsi",
    ".cfi_adjust_cfa_offset 8",
    "push rdx",
    ".cfi_adjust_cfa_offset 8",
    "call {check}",
    "pop rdx",
    ".cfi_adjust_cfa_offset -8",
    "pop rsi",
    ".cfi_adjust_cfa_offset -8",
    "pop rdi",
    ".cfi_adjust_cfa_offset -8",
    "jmp qword ptr [rip + {real}]",
    ".cfi_endproc",
    ".size memdx_file_write, .-memdx_file_write",
    ".popsection",
    check = sym check_buffer,
    real = sym REAL,
);

extern "C" {
    fn memdx_file_write();
}

/// The check of [`memdx_file_write`]: `n` bytes at `data` about to be
/// written by the stream `_f`.
extern "C" fn check_buffer(_f: *mut c_void, data: *const c_void, n: isize) {
    if n > 0 {
        crate::syscalls::check_from(
            Routine::SysWrite,
            [(data as usize, n as usize)].into_iter(),
            INNER.load(Ordering::Relaxed),
        );
    }
}
