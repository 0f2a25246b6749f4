//! The runtime's own stack unwinder: `.eh_frame` rules per return address,
//! cached in private memory, so that a capture costs a few loads per frame
//! instead of libgcc's FDE search (`dl_iterate_phdr` per frame) and CFI
//! parse from scratch.
//!
//! - Modules (text range, `.eh_frame_hdr` search table) are read with one
//!   `dl_iterate_phdr` walk, again when its generation counters
//!   (`dlpi_adds`, `dlpi_subs`) change. A capture does not read them (one
//!   call that takes the loader's lock, which threads capturing at once
//!   fight over): they are read when the rule cache misses (a pc seen for
//!   the first time: any code `dlopen` brought in, whoever loaded it), and
//!   by the first capture after the program's `dlclose` ([`dlclose`],
//!   interposed: an unloaded module's cached rules must not outlive it).
//!   glibc's own unloads (`__libc_dlclose`: iconv modules, NSS at freeres)
//!   are not seen at once: a cached rule of theirs could only be used for a
//!   module later loaded at the same address if every frame of a stack
//!   through it hit a cached pc of the old one (one miss reads the
//!   counters and starts a new generation), i.e. for the same code again.
//! - The rule of each return address ([`cfi::Rule`]) is computed once and
//!   kept in a direct-mapped table tagged with the module generation
//!   (`epoch`): a `dlopen` or `dlclose` invalidates every entry at once.
//! - Anything the compact rule cannot say (signal frames, expression
//!   rules, a pc outside every known module, lock contention) makes
//!   [`backtrace_from`] return `None`: the caller then unwinds with libgcc,
//!   which gives the same frames, slowly.
//!
//! `MEMDX_UNWIND_VERIFY=FILE` (a debugging aid, read at the first capture)
//! unwinds every stack both ways and appends a line to FILE for each
//! difference; at exit it appends how many captures each way took (the
//! program's own output is left alone).

mod cfi;

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use crate::sys::{self, Racy};
use cfi::{Lookup, Rule, SearchTable};

/// Modules tracked at most; a pc in a module past this falls back.
const MAX_MODULES: usize = 512;
const CACHE_BITS: u32 = 16;
const CACHE_LEN: usize = 1 << CACHE_BITS;
/// Rule-cache value of a pc whose frame libgcc must unwind.
const UNSUPPORTED: u64 = 0x8000_0000;
/// A frame bigger than this is taken for a bad unwind.
const MAX_FRAME: usize = 256 << 20;

#[derive(Clone, Copy)]
struct Module {
    lo: usize,
    hi: usize,
    /// `count == 0`: no usable `.eh_frame_hdr`.
    table: SearchTable,
}

struct Modules {
    n: usize,
    list: [Module; MAX_MODULES],
}

const NO_MODULE: Module = Module {
    lo: 0,
    hi: 0,
    table: SearchTable {
        hdr: 0,
        table: 0,
        count: 0,
    },
};

/// Taken with try-lock only: a thread that finds it held (another thread
/// reading modules, or this thread re-entered from a signal handler or
/// from inside `dl_iterate_phdr`) unwinds with libgcc instead of waiting,
/// so no lock order with glibc's loader lock can arise.
static LOCK: AtomicBool = AtomicBool::new(false);
/// The `dl_iterate_phdr` generation the module list and EPOCH belong to:
/// written after EPOCH, so that a thread that sees them equal to the
/// current generation also sees that generation's EPOCH.
static GEN_ADDS: AtomicU64 = AtomicU64::new(u64::MAX);
static GEN_SUBS: AtomicU64 = AtomicU64::new(u64::MAX);
/// Whether the next capture reads the generation counters (set by the
/// program's `dlclose`, and until the first capture read them).
static RECHECK: AtomicBool = AtomicBool::new(true);
/// glibc's `dlclose` (0: not looked up yet).
static REAL_DLCLOSE: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
static MODULES: Racy<Modules> = Racy::new(Modules {
    n: 0,
    list: [NO_MODULE; MAX_MODULES],
});
/// Generation of the module list (never 0 in the low 16 bits once set).
static EPOCH: AtomicU64 = AtomicU64::new(0);
/// Key and value words of the rule cache (CACHE_LEN pairs), or null.
static CACHE: core::sync::atomic::AtomicPtr<AtomicU64> =
    core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());

/// Captures each way, counted in verify mode only (a counter every thread
/// adds to on every capture is a cache line they pass around).
static FAST: AtomicU64 = AtomicU64::new(0);
static FALLBACK: AtomicU64 = AtomicU64::new(0);
static MISMATCH: AtomicU64 = AtomicU64::new(0);
/// 0 unknown, 1 off, 2 on, 3 being read, 4 this unwinder disabled
/// (`MEMDX_UNWIND=libgcc`: every capture through libgcc, for comparison).
static VERIFY: AtomicU8 = AtomicU8::new(0);
/// The verify-mode file name, NUL-terminated (copied from the
/// environment by the thread that moved VERIFY from 0, before it stores 2).
static VERIFY_PATH: Racy<[u8; 256]> = Racy::new([0; 256]);

fn try_lock() -> bool {
    LOCK.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
}
fn unlock() {
    LOCK.store(false, Ordering::Release);
}

/// Frees the lock in a fork child (its holder did not survive the fork).
pub fn reset_lock_in_child() {
    LOCK.store(false, Ordering::Release);
}

/// Whether every capture is to be checked against libgcc.
pub fn verify() -> bool {
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

/// One unwound stack's frames: return addresses (caller order) and the
/// stack slots they were read from.
pub struct Frames<'a> {
    pub ras: &'a mut [usize],
    pub slots: &'a mut [usize],
}

/// Where a walk starts: an instruction of a live frame and the stack
/// pointer and frame pointer there.
#[derive(Clone, Copy)]
pub struct Regs {
    pc: usize,
    sp: usize,
    bp: usize,
}

/// The registers of the frame this is inlined into (pc: the next
/// instruction). `pc == 0` where this unwinder does not run.
#[inline(always)]
pub fn here() -> Regs {
    #[cfg(target_arch = "x86_64")]
    {
        let (pc, sp, bp): (usize, usize, usize);
        // SAFETY: reads registers.
        unsafe {
            core::arch::asm!(
                "lea {pc}, [rip]",
                "mov {sp}, rsp",
                "mov {bp}, rbp",
                pc = out(reg) pc,
                sp = out(reg) sp,
                bp = out(reg) bp,
                options(nomem, nostack, preserves_flags)
            )
        };
        Regs { pc, sp, bp }
    }
    #[cfg(not(target_arch = "x86_64"))]
    Regs {
        pc: 0,
        sp: 0,
        bp: 0,
    }
}

/// [`backtrace_from`] this function's own frame (the unit tests' way).
#[cfg(test)]
#[inline(never)]
pub fn backtrace(out: Frames<'_>, want: usize, self_lo: usize, self_hi: usize) -> Option<usize> {
    backtrace_from(here(), out, want, self_lo, self_hi)
}

/// Unwinds this thread's stack from `start` ([`here`] in a frame that is
/// live: this function's caller or one of its callers), keeping at most
/// `want` frames outside `[self_lo, self_hi)` (the runtime's own code).
/// Returns how many were kept, or `None` if a frame needs libgcc.
#[inline(never)]
pub fn backtrace_from(
    start: Regs,
    out: Frames<'_>,
    want: usize,
    self_lo: usize,
    self_hi: usize,
) -> Option<usize> {
    if VERIFY.load(Ordering::Relaxed) == 4 || start.pc == 0 {
        return None;
    }
    let Regs { pc, sp, bp } = start;
    verify();
    let epoch = current_epoch()?;
    let cache = CACHE.load(Ordering::Acquire);
    if cache.is_null() {
        return None;
    }
    let want = want.min(out.ras.len()).min(out.slots.len());
    let etag = epoch_tag(epoch);
    let (mut pc, mut sp, mut bp) = (pc, sp, bp);
    let mut n = 0usize;
    loop {
        let rule = rule_of(cache, etag, pc)?;
        if rule.is_end() {
            break;
        }
        let base = if rule.cfa_from_rbp() { bp } else { sp };
        let cfa = base.wrapping_add(rule.cfa_offset());
        if cfa <= sp || cfa - sp > MAX_FRAME {
            return None;
        }
        let slot = cfa - 8;
        // SAFETY: the CFA of a frame on this thread's stack (the rules
        // come from the code's own unwind tables; the frame size is
        // bounded above): its return address and saved rbp are mapped.
        let ra = unsafe { (slot as *const usize).read() };
        if let Some(below) = rule.rbp_below_cfa() {
            // SAFETY: as above, inside the same frame.
            bp = unsafe { ((cfa - below) as *const usize).read() };
        }
        sp = cfa;
        if ra == 0 {
            break;
        }
        pc = ra;
        if ra >= self_lo && ra < self_hi {
            continue;
        }
        if n >= want {
            break;
        }
        *out.ras.get_mut(n)? = ra;
        *out.slots.get_mut(n)? = slot;
        n += 1;
    }
    if VERIFY.load(Ordering::Relaxed) == 2 {
        FAST.fetch_add(1, Ordering::Relaxed);
    }
    Some(n)
}

/// The module generation the cached rules belong to: the last one read,
/// unless a `dlclose` (or the first capture) asks for the counters.
#[inline(always)]
fn current_epoch() -> Option<u64> {
    if !RECHECK.load(Ordering::Acquire) {
        let epoch = EPOCH.load(Ordering::Acquire);
        if epoch != 0 {
            return Some(epoch);
        }
    }
    recheck()
}

/// Reads the generation counters for [`current_epoch`]. The flag is
/// cleared before they are read: a `dlclose` that sets it after this
/// cleared it is seen by the next capture, one that set it before has
/// changed the counters before they are read here.
#[cold]
#[inline(never)]
fn recheck() -> Option<u64> {
    RECHECK.store(false, Ordering::SeqCst);
    let epoch = refresh();
    if epoch.is_none() {
        RECHECK.store(true, Ordering::SeqCst);
    }
    epoch
}

/// Asks the next capture to read the generation counters (a module may
/// have been unloaded).
pub fn modules_may_have_changed() {
    RECHECK.store(true, Ordering::SeqCst);
}

/// The loader's generation counters (`dlpi_adds`, `dlpi_subs`).
fn generation() -> [u64; 2] {
    let mut gen = [0u64; 2];
    // SAFETY: the callback only reads the first module's counters.
    unsafe { libc::dl_iterate_phdr(Some(generation_cb), gen.as_mut_ptr().cast()) };
    gen
}

/// Whether the module list was read in generation `gen`.
fn is_current(gen: &[u64; 2]) -> bool {
    GEN_ADDS.load(Ordering::Acquire) == gen[0] && GEN_SUBS.load(Ordering::Acquire) == gen[1]
}

/// dlclose(3), then asks the next capture to check the module generation
/// (the unloaded module's cached rules must not outlive it).
///
/// # Safety
/// dlclose(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn dlclose(handle: *mut libc::c_void) -> libc::c_int {
    let mut real = REAL_DLCLOSE.load(Ordering::Acquire);
    if real == 0 {
        // SAFETY: dlsym with a static name (not inside an allocator hook).
        real = unsafe { libc::dlsym(libc::RTLD_NEXT, c"dlclose".as_ptr()) } as usize;
        if real == 0 {
            return -1;
        }
        REAL_DLCLOSE.store(real, Ordering::Release);
    }
    // SAFETY: glibc's dlclose, with the caller's handle.
    let r = unsafe {
        let f: unsafe extern "C" fn(*mut libc::c_void) -> libc::c_int = core::mem::transmute(real);
        f(handle)
    };
    modules_may_have_changed();
    r
}

/// The current module generation, re-reading the modules if it changed.
/// `None`: the modules could not be read now (lock held elsewhere).
fn refresh() -> Option<u64> {
    let gen = generation();
    let current = is_current;
    if current(&gen) {
        let epoch = EPOCH.load(Ordering::Acquire);
        if epoch != 0 {
            return Some(epoch);
        }
    }
    if !try_lock() {
        return None;
    }
    let mut epoch = EPOCH.load(Ordering::Relaxed);
    if epoch == 0 || !current(&gen) {
        if CACHE.load(Ordering::Relaxed).is_null() {
            let p = sys::map_private_noreserve(CACHE_LEN * 16);
            if p.is_null() {
                unlock();
                return None;
            }
            CACHE.store(p.cast(), Ordering::Release);
        }
        GEN_ADDS.store(u64::MAX, Ordering::Release);
        // SAFETY: under LOCK.
        let m = unsafe { &mut *MODULES.get() };
        m.n = 0;
        // SAFETY: the callback appends to `m`, under LOCK.
        unsafe { libc::dl_iterate_phdr(Some(module_cb), (m as *mut Modules).cast()) };
        epoch = epoch.wrapping_add(1);
        if epoch & 0xffff == 0 {
            // The tag wrapped: old entries could match again.
            clear_cache();
            epoch = epoch.wrapping_add(1);
        }
        EPOCH.store(epoch, Ordering::Release);
        GEN_SUBS.store(gen[1], Ordering::Release);
        GEN_ADDS.store(gen[0], Ordering::Release);
    }
    unlock();
    Some(epoch)
}

fn clear_cache() {
    let cache = CACHE.load(Ordering::Relaxed);
    if cache.is_null() {
        return;
    }
    for i in 0..CACHE_LEN * 2 {
        // SAFETY: the cache holds CACHE_LEN pairs.
        unsafe { (*cache.add(i)).store(0, Ordering::Relaxed) };
    }
}

/// # Safety
/// Called by `dl_iterate_phdr` only: `info` points to a valid
/// `dl_phdr_info` for the call's duration and `data` is the pointer this
/// module passed with the callback.
unsafe extern "C" fn generation_cb(
    info: *mut libc::dl_phdr_info,
    size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    let need = core::mem::offset_of!(libc::dl_phdr_info, dlpi_subs) + 8;
    if size >= need {
        // SAFETY: info is valid and has the counters (size checked); data
        // is our [u64; 2].
        unsafe {
            let g = &mut *data.cast::<[u64; 2]>();
            g[0] = (*info).dlpi_adds;
            g[1] = (*info).dlpi_subs;
        }
    }
    1
}

/// # Safety
/// Called by `dl_iterate_phdr` only: `info` points to a valid
/// `dl_phdr_info` for the call's duration and `data` is the pointer this
/// module passed with the callback.
unsafe extern "C" fn module_cb(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: valid info from dl_iterate_phdr; data is our Modules.
    let (info, m) = unsafe { (&*info, &mut *data.cast::<Modules>()) };
    let mut lo = usize::MAX;
    let mut hi = 0usize;
    let mut table = NO_MODULE.table;
    for i in 0..info.dlpi_phnum as usize {
        // SAFETY: i < dlpi_phnum.
        let ph = unsafe { &*info.dlpi_phdr.add(i) };
        let addr = (info.dlpi_addr as usize).wrapping_add(ph.p_vaddr as usize);
        if ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_X != 0 {
            lo = lo.min(addr);
            hi = hi.max(addr.wrapping_add(ph.p_memsz as usize));
        } else if ph.p_type == libc::PT_GNU_EH_FRAME {
            // SAFETY: the module's own PT_GNU_EH_FRAME, mapped.
            if let Some(t) = unsafe { SearchTable::parse(addr) } {
                table = t;
            }
        }
    }
    if lo < hi {
        if let Some(slot) = m.list.get_mut(m.n) {
            *slot = Module { lo, hi, table };
            m.n += 1;
        }
    }
    0
}

fn cache_index(pc: usize) -> usize {
    let h = (pc as u64 ^ (pc as u64 >> 17)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> (64 - CACHE_BITS)) as usize
}

/// The key word of `pc` in generation `epoch`: user-space pcs are below
/// 2^47, the generation's low 16 bits go above (a new generation misses
/// every old entry).
#[inline(always)]
fn key_of(epoch_tag: u64, pc: usize) -> u64 {
    pc as u64 | epoch_tag
}

/// The generation's bits of key words.
fn epoch_tag(epoch: u64) -> u64 {
    (epoch & 0xffff) << 48
}

/// The rule for the frame whose next instruction (or return address) is
/// `pc`; `None`: libgcc must unwind it.
///
/// An entry is two words written value first, key second; a reader that
/// finds the key also checks the value's copy of the pc's low 32 bits, so
/// that a value written by another thread for another pc (same slot,
/// between this reader's two loads) is not taken for this pc's.
#[inline(always)]
fn rule_of(cache: *mut AtomicU64, etag: u64, pc: usize) -> Option<Rule> {
    if pc as u64 >= 1 << 47 {
        return None;
    }
    let i = cache_index(pc);
    let key = key_of(etag, pc);
    // SAFETY: i < CACHE_LEN; the cache holds CACHE_LEN pairs.
    let (k, val) = unsafe { (&*cache.add(2 * i), &*cache.add(2 * i + 1)) };
    if k.load(Ordering::Acquire) == key {
        let v = val.load(Ordering::Acquire);
        if (v >> 32) as u32 == pc as u32 {
            return decode(v);
        }
    }
    let v = compute(pc)?;
    val.store(((pc as u32 as u64) << 32) | v, Ordering::Release);
    k.store(key, Ordering::Release);
    decode(v)
}

#[inline(always)]
fn decode(v: u64) -> Option<Rule> {
    let r = v as u32;
    // UNSUPPORTED has bit 0 clear, like no valid rule.
    if r & 1 == 0 {
        None
    } else {
        Some(Rule(r))
    }
}

/// Reads the rule of `pc` from the unwind tables (cache value bits).
/// `None`: the modules are being read by someone else; try libgcc.
#[cold]
fn compute(pc: usize) -> Option<u64> {
    // A pc never seen: perhaps in a module loaded since the list was read.
    // This capture then goes through libgcc and the next one reads the
    // modules again (its rules might be of an older generation).
    if !is_current(&generation()) {
        modules_may_have_changed();
        return None;
    }
    if !try_lock() {
        return None;
    }
    // SAFETY: under LOCK.
    let m = unsafe { &*MODULES.get() };
    let module = m
        .list
        .get(..m.n)
        .and_then(|l| l.iter().find(|md| pc > md.lo && pc <= md.hi));
    let v = match module {
        Some(md) if md.table.count > 0 => {
            // SAFETY: the module is loaded (the generation did not change
            // since the list was read, or the capture started before).
            match unsafe { md.table.lookup(pc - 1) } {
                Some(Lookup::Rule(r)) => u64::from(r.0),
                Some(Lookup::Unsupported) => UNSUPPORTED,
                // No FDE: libgcc ends the stack here, unless the pc is the
                // kernel's signal return trampoline (which it recognizes by
                // its code).
                // SAFETY: pc is in the module's text.
                None if unsafe { is_sigreturn(pc) } => UNSUPPORTED,
                None => u64::from(Rule::END_OF_STACK.0),
            }
        }
        _ => UNSUPPORTED,
    };
    unlock();
    Some(v)
}

/// `mov rax, 15; syscall`: x86_64's `__restore_rt`.
///
/// # Safety
/// `pc` is in a loaded module's executable segment, 9 bytes from its end
/// or more.
unsafe fn is_sigreturn(pc: usize) -> bool {
    const CODE: [u8; 9] = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];
    let mut b = [0u8; 9];
    // SAFETY: see above.
    unsafe { core::ptr::copy_nonoverlapping(pc as *const u8, b.as_mut_ptr(), 9) };
    b == CODE
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

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" {
        fn _Unwind_Backtrace(
            cb: extern "C" fn(*mut libc::c_void, *mut libc::c_void) -> libc::c_int,
            arg: *mut libc::c_void,
        ) -> libc::c_int;
        fn _Unwind_GetIP(ctx: *mut libc::c_void) -> usize;
        fn _Unwind_GetCFA(ctx: *mut libc::c_void) -> usize;
    }

    struct Gcc {
        n: usize,
        ras: [usize; 64],
        slots: [usize; 64],
    }

    extern "C" fn gcc_cb(ctx: *mut libc::c_void, arg: *mut libc::c_void) -> libc::c_int {
        // SAFETY: as in stacks.rs.
        let g = unsafe { &mut *arg.cast::<Gcc>() };
        // SAFETY: the unwinder passes a live context.
        let (ip, cfa) = unsafe { (_Unwind_GetIP(ctx), _Unwind_GetCFA(ctx)) };
        if ip == 0 || g.n >= 64 {
            return 5;
        }
        g.ras[g.n] = ip;
        g.slots[g.n] = cfa - 8;
        g.n += 1;
        0
    }

    /// `backtrace` gives up (None) while another thread holds the module
    /// lock, as the tests running in parallel do: try again a while.
    fn retrying(mut unwind: impl FnMut() -> Option<usize>) -> Option<usize> {
        for _ in 0..1000 {
            if let Some(n) = unwind() {
                return Some(n);
            }
            std::thread::yield_now();
        }
        None
    }

    /// Both unwinders from one frame: ours must match libgcc's frames
    /// from its first return address on (their own frames differ).
    #[inline(never)]
    fn compare_here() -> (Vec<usize>, Vec<usize>) {
        let mut ras = [0usize; 64];
        let mut slots = [0usize; 64];
        let n = retrying(|| {
            backtrace(
                Frames {
                    ras: &mut ras,
                    slots: &mut slots,
                },
                64,
                0,
                0,
            )
        })
        .expect("the test binary's stack is plain x86_64 CFI");
        let mut g = Gcc {
            n: 0,
            ras: [0; 64],
            slots: [0; 64],
        };
        // SAFETY: the callback only writes g.
        unsafe { _Unwind_Backtrace(gcc_cb, (&mut g as *mut Gcc).cast()) };
        // Ours starts inside backtrace() (frame 0 = return into
        // compare_here); libgcc's starts at the return into compare_here
        // too (the context of _Unwind_Backtrace's caller).
        let ours: Vec<(usize, usize)> = (0..n).map(|k| (ras[k], slots[k])).collect();
        let theirs: Vec<(usize, usize)> = (0..g.n).map(|k| (g.ras[k], g.slots[k])).collect();
        let ours_ra: Vec<usize> = ours.iter().map(|p| p.0).collect();
        let theirs_ra: Vec<usize> = theirs.iter().map(|p| p.0).collect();
        // libgcc's first frame is the return into compare_here from
        // _Unwind_Backtrace, ours the return from backtrace(): skip both.
        assert_eq!(
            ours.get(1..),
            theirs.get(1..),
            "frames (ra, slot) differ: ours {ours_ra:x?} libgcc {theirs_ra:x?}"
        );
        (ours_ra, theirs_ra)
    }

    #[inline(never)]
    fn recurse(depth: usize, pad: &mut [u8]) -> (Vec<usize>, Vec<usize>) {
        let mut local = [depth as u8; 40];
        pad[0] = local[3];
        if depth == 0 {
            return compare_here();
        }
        let r = recurse(depth - 1, &mut local);
        std::hint::black_box(&local);
        r
    }

    #[test]
    fn matches_libgcc_through_recursive_frames() {
        let mut pad = [0u8; 8];
        let (ours, _) = recurse(20, &mut pad);
        assert!(ours.len() > 22, "unwound only {} frames", ours.len());
    }

    #[test]
    fn matches_libgcc_on_another_thread() {
        let h = std::thread::spawn(|| {
            let mut pad = [0u8; 8];
            recurse(5, &mut pad).0.len()
        });
        assert!(h.join().expect("thread") > 6);
    }

    #[test]
    fn want_limits_the_frames_kept() {
        let mut ras = [0usize; 64];
        let mut slots = [0usize; 64];
        let n = retrying(|| {
            backtrace(
                Frames {
                    ras: &mut ras,
                    slots: &mut slots,
                },
                3,
                0,
                0,
            )
        });
        assert_eq!(n, Some(3));
    }
}
