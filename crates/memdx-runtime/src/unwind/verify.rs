//! `MEMDX_UNWIND_VERIFY` and `MEMDX_UNWIND=libgcc`: the mode flag read at
//! the first capture, the per-way counters, and the lines appended to the
//! verify file (mismatches, and each process's counts at exit).

use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use crate::sys::{self, Racy};

/// Captures each way, counted in verify mode only (a counter every thread
/// adds to on every capture is a cache line they pass around).
pub(super) static FAST: AtomicU64 = AtomicU64::new(0);
static FALLBACK: AtomicU64 = AtomicU64::new(0);
static MISMATCH: AtomicU64 = AtomicU64::new(0);
/// 0 unknown, 1 off, 2 on, 3 being read, 4 this unwinder disabled
/// (`MEMDX_UNWIND=libgcc`: every capture through libgcc, for comparison).
pub(super) static VERIFY: AtomicU8 = AtomicU8::new(0);
/// The verify-mode file name, NUL-terminated (copied from the
/// environment by the thread that moved VERIFY from 0, before it stores 2).
static VERIFY_PATH: Racy<[u8; 256]> = Racy::new([0; 256]);

/// Whether every capture is to be checked against libgcc: one load once
/// the mode is known (every capture that unwinds asks).
#[inline(always)]
pub fn verify() -> bool {
    match VERIFY.load(Ordering::Relaxed) {
        1 | 4 => false,
        2 => true,
        _ => read_mode(),
    }
}

/// The mode ([`VERIFY`]) of this unwinder, read from the environment at
/// the first capture: 1 off, 2 verify, 4 libgcc only.
#[inline(always)]
pub(super) fn mode() -> u8 {
    match VERIFY.load(Ordering::Relaxed) {
        m @ (1 | 2 | 4) => m,
        _ => {
            read_mode();
            VERIFY.load(Ordering::Relaxed)
        }
    }
}

/// Reads the mode from the environment (the first capture), or waits for
/// nothing when another thread is reading it (its captures meanwhile are
/// not verified).
#[cold]
#[inline(never)]
fn read_mode() -> bool {
    match VERIFY.load(Ordering::Acquire) {
        0 => {
            if VERIFY
                .compare_exchange(0, 3, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
            {
                return false;
            }
            let path = sys::getenv(c"MEMDX_UNWIND_VERIFY").filter(|p| !p.is_empty());
            let on = match path {
                Some(p) if p.len() < 256 => {
                    // SAFETY: only this thread writes it (it won the
                    // exchange above); readers wait for VERIFY == 2.
                    let buf = unsafe { &mut *VERIFY_PATH.get() };
                    buf[..p.len()].copy_from_slice(p);
                    true
                }
                _ => false,
            };
            let libgcc = sys::getenv(c"MEMDX_UNWIND") == Some(b"libgcc");
            let state = match (libgcc, on) {
                (true, _) => 4,
                (false, true) => 2,
                (false, false) => 1,
            };
            VERIFY.store(state, Ordering::Release);
            on
        }
        v => v == 2,
    }
}

/// Counts a capture that libgcc unwound.
pub fn count_fallback() {
    if VERIFY.load(Ordering::Relaxed) == 2 {
        FALLBACK.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reports a difference between this unwinder and libgcc (verify mode).
pub fn report_mismatch(ours: &[usize], theirs: &[usize]) {
    MISMATCH.fetch_add(1, Ordering::Relaxed);
    let mut line = [0u8; 64 * 2 * 19 + 64];
    let mut w = Writer {
        buf: &mut line,
        n: 0,
    };
    w.str(b"memdx unwind mismatch: ours");
    for &f in ours {
        w.str(b" ");
        w.hex(f);
    }
    w.str(b" libgcc");
    for &f in theirs {
        w.str(b" ");
        w.hex(f);
    }
    w.str(b"\n");
    let n = w.n;
    append(line.get(..n).unwrap_or(&[]));
}

/// Appends one line to the verify-mode file.
fn append(line: &[u8]) {
    if VERIFY.load(Ordering::Acquire) != 2 {
        return;
    }
    // SAFETY: written once before VERIFY became 2, NUL-terminated; the
    // descriptor is ours and closed.
    unsafe {
        let fd = libc::open(
            VERIFY_PATH.get().cast::<libc::c_char>(),
            libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC,
            0o644,
        );
        if fd >= 0 {
            libc::write(fd, line.as_ptr().cast(), line.len());
            libc::close(fd);
        }
    }
}

/// Writes the verify-mode summary (at exit).
pub fn report_counts() {
    if VERIFY.load(Ordering::Relaxed) != 2 {
        return;
    }
    let mut line = [0u8; 128];
    let mut w = Writer {
        buf: &mut line,
        n: 0,
    };
    w.str(b"memdx unwind: pid ");
    // SAFETY: getpid has no preconditions.
    w.dec(unsafe { libc::getpid() } as u64);
    w.str(b" fast ");
    w.dec(FAST.load(Ordering::Relaxed));
    w.str(b" fallback ");
    w.dec(FALLBACK.load(Ordering::Relaxed));
    w.str(b" mismatch ");
    w.dec(MISMATCH.load(Ordering::Relaxed));
    w.str(b"\n");
    let n = w.n;
    append(line.get(..n).unwrap_or(&[]));
}

struct Writer<'a> {
    buf: &'a mut [u8],
    n: usize,
}

impl Writer<'_> {
    fn str(&mut self, s: &[u8]) {
        for &b in s {
            if let Some(d) = self.buf.get_mut(self.n) {
                *d = b;
                self.n += 1;
            }
        }
    }
    fn hex(&mut self, v: usize) {
        self.str(b"0x");
        let mut started = false;
        for k in (0..16).rev() {
            let d = (v >> (k * 4)) & 0xf;
            if d != 0 || started || k == 0 {
                started = true;
                self.str(&[b"0123456789abcdef"[d]]);
            }
        }
    }
    fn dec(&mut self, v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = v;
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        let d = digits;
        self.str(d.get(i..).unwrap_or(&[]));
    }
}

#[used]
#[link_section = ".fini_array"]
static REPORT_AT_EXIT: extern "C" fn() = report_at_exit;

extern "C" fn report_at_exit() {
    report_counts();
}
