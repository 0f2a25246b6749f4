//! `memdx check --uninit-effects=yes`: the fill plan of one of the
//! differential runs.
//!
//! The CLI runs the program several times, each with a plan in
//! `MEMDX_UNINIT_PLAN` = `BASE:ALT:MASK:VALUE` (hexadecimal): every fresh
//! non-calloc block (no sampling, up to [`FILL_MAX`] bytes) is filled with
//! the byte `ALT` when its allocation site's key
//! ([`memdx_events::site_key`] of its stack) satisfies
//! `key & MASK == VALUE`, else with `BASE`. The runs are made with address
//! randomization off, so a site has the same key in each. At exit the
//! runtime writes the sites it filled (a memdx-events stream: header,
//! module map, one `Stack` and one fill-site record per site: its blocks and
//! bytes filled) to `MEMDX_UNINIT_SITES/sites.PID`,
//! from which the CLI names them. The marker fill and the system call scan
//! of [`crate::uninit`] are off in these runs.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use memdx_events::{Encoder, Header, VERSION};

use crate::stacks;
use crate::sys::{self, Racy};

static ACTIVE: AtomicBool = AtomicBool::new(false);
static BASE: AtomicU8 = AtomicU8::new(0);
static ALT: AtomicU8 = AtomicU8::new(0xff);
static MASK: AtomicU64 = AtomicU64::new(0);
static VALUE: AtomicU64 = AtomicU64::new(0);

/// Blocks are filled in their first this many bytes (a huge buffer the
/// program uses in part is not made resident whole).
pub const FILL_MAX: usize = 16 << 20;

/// Stack ids below this have their choice cached and are listed at exit.
const CACHED: usize = 1 << 18;
/// Per stack id: 0 not seen, 1 base fill, 2 alternative fill.
static CHOICE: [AtomicU8; CACHED] = [const { AtomicU8::new(0) }; CACHED];
/// Per stack id: blocks and bytes filled (counts may race: they are
/// reported, not relied on).
static BLOCKS: [AtomicU32; CACHED] = [const { AtomicU32::new(0) }; CACHED];
static BYTES: [AtomicU64; CACHED] = [const { AtomicU64::new(0) }; CACHED];

/// `MEMDX_UNINIT_SITES`, NUL-terminated.
static DIR: Racy<[u8; 4096]> = Racy::new([0; 4096]);
static DIR_LEN: AtomicUsize = AtomicUsize::new(0);

/// Reads the plan; call from the constructor, before the variables are
/// removed from the environment. Whether a plan is in force.
pub fn init() -> bool {
    let Some(plan) = sys::getenv(c"MEMDX_UNINIT_PLAN") else {
        return false;
    };
    let mut fields = [0u64; 4];
    let mut rest = plan;
    for f in fields.iter_mut() {
        let (v, n) = sys::parse_hex(rest);
        if n == 0 {
            return false;
        }
        *f = v as u64;
        rest = rest.get(n + 1..).unwrap_or(&[]);
    }
    BASE.store(fields[0] as u8, Ordering::Relaxed);
    ALT.store(fields[1] as u8, Ordering::Relaxed);
    MASK.store(fields[2], Ordering::Relaxed);
    VALUE.store(fields[3], Ordering::Relaxed);
    if let Some(dir) = sys::getenv(c"MEMDX_UNINIT_SITES") {
        // SAFETY: written once, in the constructor, before any thread.
        let buf = unsafe { &mut *DIR.get() };
        if dir.len() < buf.len() - 32 {
            buf[..dir.len()].copy_from_slice(dir);
            DIR_LEN.store(dir.len(), Ordering::Relaxed);
        }
    }
    ACTIVE.store(true, Ordering::Release);
    true
}

/// Whether a plan is in force.
#[inline(always)]
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// The fill byte of blocks allocated at `stack`.
fn byte_for(stack: u32) -> u8 {
    let slot = CHOICE.get(stack as usize);
    let c = match slot.map(|s| s.load(Ordering::Relaxed)) {
        Some(c @ 1..=2) => c,
        _ => {
            let key = match stacks::get(stack) {
                Some(rec) => {
                    let n = (rec.n as usize).min(rec.frames.len());
                    memdx_events::site_key(&rec.frames[..n])
                }
                None => 0,
            };
            let alt = key & MASK.load(Ordering::Relaxed) == VALUE.load(Ordering::Relaxed);
            let c = if alt { 2 } else { 1 };
            if let (Some(s), true) = (slot, stack != 0) {
                s.store(c, Ordering::Relaxed);
            }
            c
        }
    };
    if c == 2 {
        ALT.load(Ordering::Relaxed)
    } else {
        BASE.load(Ordering::Relaxed)
    }
}

/// Fills the fresh block `q` (`size` bytes) allocated at `stack` by the
/// plan.
///
/// # Safety
/// `q .. q + size` is the program's fresh block.
pub unsafe fn fill(q: usize, size: usize, stack: u32) {
    let b = byte_for(stack);
    if let (Some(n), Some(m)) = (BLOCKS.get(stack as usize), BYTES.get(stack as usize)) {
        n.fetch_add(1, Ordering::Relaxed);
        m.fetch_add(size.min(FILL_MAX) as u64, Ordering::Relaxed);
    }
    // SAFETY: inside the block (the runtime's own memset, unchecked).
    unsafe { crate::strmem::raw_memset(q as *mut u8, b, size.min(FILL_MAX)) };
}

/// Writes the sites filled so far to `MEMDX_UNINIT_SITES/sites.PID`; call
/// once, at the end of the process.
pub fn write_sites() {
    let len = DIR_LEN.load(Ordering::Relaxed);
    if !active() || len == 0 {
        return;
    }
    // SAFETY: DIR was written in the constructor; getpid has no
    // preconditions.
    let (buf, pid) = unsafe { (&*DIR.get(), libc::getpid()) };
    let mut path = [0u8; 4096];
    path[..len].copy_from_slice(&buf[..len]);
    let mut at = len;
    for &c in b"/sites." {
        path[at] = c;
        at += 1;
    }
    let mut digits = [0u8; 12];
    let mut n = 0;
    let mut v = pid as u32;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        path[at] = digits[i];
        at += 1;
    }
    // SAFETY: a NUL-terminated path in a local buffer.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o600,
        )
    } as i32;
    if fd < 0 {
        return;
    }
    let h = Header {
        version: VERSION,
        pointer_size: 8,
        pid: pid as u32,
        // SAFETY: getppid has no preconditions.
        ppid: unsafe { libc::getppid() } as u32,
        flags: 0,
    };
    put(fd, &h.encode());
    // SAFETY: the callback only reads its argument and writes to `fd`.
    unsafe {
        libc::dl_iterate_phdr(Some(module_cb), (&fd as *const i32).cast_mut().cast());
    }
    let top = (stacks::next_id() as usize).min(CACHED);
    for (id, choice) in CHOICE.iter().enumerate().take(top).skip(1) {
        if choice.load(Ordering::Relaxed) == 0 {
            continue;
        }
        let Some(rec) = stacks::get(id as u32) else {
            continue;
        };
        let n = (rec.n as usize).min(rec.frames.len());
        let mut b = [0u8; 1024];
        let mut e = Encoder::new(&mut b);
        e.stack(id as u32, &rec.frames[..n]);
        e.fill_site(
            id as u32,
            u64::from(BLOCKS[id].load(Ordering::Relaxed)),
            BYTES[id].load(Ordering::Relaxed),
        );
        if let Some(bytes) = e.finish() {
            put(fd, bytes);
        }
    }
    // SAFETY: our own descriptor.
    unsafe { libc::syscall(libc::SYS_close, fd) };
}

fn put(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writing our own buffer (the raw system call: `write` is
        // the runtime's checked wrapper).
        let n = unsafe { libc::syscall(libc::SYS_write, fd, bytes.as_ptr(), bytes.len()) };
        if n < 0 {
            if sys::errno() == libc::EINTR {
                continue;
            }
            return;
        }
        bytes = bytes.get(n as usize..).unwrap_or(&[]);
    }
}

unsafe extern "C" fn module_cb(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: dl_iterate_phdr passes a valid info; data is our fd.
    let (info, fd) = unsafe { (&*info, *data.cast::<i32>()) };
    let Some((lo, hi)) = crate::out::load_range(info) else {
        return 0;
    };
    let name: &[u8] = if info.dlpi_name.is_null() {
        b""
    } else {
        // SAFETY: a NUL-terminated string owned by the loader.
        unsafe { core::ffi::CStr::from_ptr(info.dlpi_name) }.to_bytes()
    };
    let mut exe = [0u8; 4096];
    let name = if name.is_empty() && lo != 0 {
        // SAFETY: readlink into a local buffer.
        let n = unsafe {
            libc::syscall(
                libc::SYS_readlink,
                c"/proc/self/exe".as_ptr(),
                exe.as_mut_ptr(),
                exe.len(),
            )
        };
        exe.get(..n.max(0) as usize).unwrap_or(&[])
    } else {
        name
    };
    let mut b = [0u8; 4200];
    let mut e = Encoder::new(&mut b);
    e.module(info.dlpi_addr, lo, hi, name);
    if let Some(bytes) = e.finish() {
        put(fd, bytes);
    }
    0
}
