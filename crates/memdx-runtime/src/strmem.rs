//! Checked copies of the C library's memory and string routines (memcpy,
//! memmove, memset, strcpy, stpcpy, strncpy, strcat, strncat, strlen,
//! mempcpy, stpncpy, memchr, strcmp, strncmp, and the `_FORTIFY_SOURCE`
//! entry points `__memcpy_chk`, `__memmove_chk`, `__memset_chk`,
//! `__strcpy_chk`, `__stpcpy_chk`, `__strncpy_chk`, `__strcat_chk`,
//! `__strncat_chk`, `__mempcpy_chk`), as Valgrind 3.19 checks them: with
//! its `vg_replace_strmem.c` replacements, or, for the `_chk` routines it
//! does not replace, with glibc's own loops running under memcheck.
//!
//! Each routine looks up the heap blocks its pointers start (one hash probe
//! each: interior pointers are not looked up), and when the call would
//! touch bytes outside them, or (string routines) its source and
//! destination overlap, reports it before doing the work. The work itself
//! is glibc's routine, found with `dlsym(RTLD_NEXT)` at start: the program
//! gets glibc's result and glibc's speed, whatever was reported.
//!
//! The report is Valgrind's: memcheck runs its own simple loops instead of
//! glibc's and reports each access its loops make outside a block, so the
//! error path here replays those loops (without touching memory) to report
//! the same first address, access size and error count, one context per
//! access site of Valgrind's loop (e.g. strcpy's copy loop and its
//! terminating NUL are two contexts under Valgrind, so two here). Valgrind
//! 3.19 does not check `memcpy`'s arguments for overlap on amd64 (KDE bug
//! 402833: glibc's memcpy is memmove there), so neither does memdx.

use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

use memdx_events::{Access, AccessKind, Place, Routine};

use crate::table::{self, Block};
use crate::{access, hooks, stacks};

const F_MEMCPY: Routine = Routine::Memcpy;
const F_MEMMOVE: Routine = Routine::Memmove;
const F_MEMSET: Routine = Routine::Memset;
const F_STRCPY: Routine = Routine::Strcpy;
const F_STRNCPY: Routine = Routine::Strncpy;
const F_STRCAT: Routine = Routine::Strcat;
const F_STRNCAT: Routine = Routine::Strncat;
const F_STRLEN: Routine = Routine::Strlen;
const F_STRNLEN: Routine = Routine::Strnlen;
const F_STPCPY: Routine = Routine::Stpcpy;
const F_MEMPCPY: Routine = Routine::Mempcpy;
const F_STPNCPY: Routine = Routine::Stpncpy;
const F_MEMCPY_CHK: Routine = Routine::MemcpyChk;
const F_MEMMOVE_CHK: Routine = Routine::MemmoveChk;
const F_STRCPY_CHK: Routine = Routine::StrcpyChk;
const F_STPCPY_CHK: Routine = Routine::StpcpyChk;
const F_MEMCHR: Routine = Routine::Memchr;
const F_STRCMP: Routine = Routine::Strcmp;
const F_STRNCMP: Routine = Routine::Strncmp;
// glibc's routines without a name of their own in the reports (the checks
// report under the plain routine's name, as Valgrind does: Routine::name).
const F_MEMSET_CHK: Routine = Routine::MemsetChk;
const F_STRNCPY_CHK: Routine = Routine::StrncpyChk;
const F_STRCAT_CHK: Routine = Routine::StrcatChk;
const F_STRNCAT_CHK: Routine = Routine::StrncatChk;
const F_MEMPCPY_CHK: Routine = Routine::MempcpyChk;

/// glibc's implementations, by [`Routine`] wire value (the string
/// routines' values are below 27).
static REAL: [AtomicUsize; 27] = [const { AtomicUsize::new(0) }; 27];

/// Resolves glibc's routines (every [`Routine`] with a C symbol); call
/// from the constructor.
pub fn init() {
    for r in Routine::ALL {
        let (Some(name), Some(slot)) = (r.c_symbol(), REAL.get(r as usize)) else {
            continue;
        };
        // SAFETY: dlsym with a static NUL-terminated name.
        let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
        slot.store(p as usize, Ordering::Release);
    }
}

fn real(i: Routine) -> usize {
    REAL[i as usize].load(Ordering::Acquire)
}

// Fallbacks for calls made before the constructor resolved glibc's
// routines (other libraries' constructors, the dynamic loader). Volatile
// accesses keep the compiler from turning the loops back into calls.

/// Copies `n` bytes forward, one at a time.
///
/// # Safety
/// As `memcpy`: `s` is readable and `d` writable for `n` bytes.
unsafe fn copy_fwd(d: *mut u8, s: *const u8, n: usize) {
    for i in 0..n {
        // SAFETY: the caller's contract (as for memcpy).
        unsafe { d.add(i).write_volatile(s.add(i).read_volatile()) };
    }
}

/// Copies `n` bytes in the direction that survives an overlap.
///
/// # Safety
/// As `memmove`: `s` is readable and `d` writable for `n` bytes.
unsafe fn copy_move(d: *mut u8, s: *const u8, n: usize) {
    if (d as usize) <= (s as usize) {
        // SAFETY: forwarded.
        unsafe { copy_fwd(d, s, n) };
    } else {
        for i in (0..n).rev() {
            // SAFETY: the caller's contract (as for memmove).
            unsafe { d.add(i).write_volatile(s.add(i).read_volatile()) };
        }
    }
}

/// glibc's memcpy without the checks: the runtime's own copies (realloc).
/// A call to `ptr::copy_nonoverlapping` would bind to the exported, checked
/// `memcpy` above.
///
/// # Safety
/// memcpy(3)'s contract.
pub unsafe fn raw_memcpy(d: *mut u8, s: *const u8, n: usize) {
    let f = real(F_MEMCPY);
    if f == 0 {
        // SAFETY: forwarded.
        unsafe { copy_fwd(d, s, n) };
        return;
    }
    // SAFETY: glibc's memcpy with the caller's arguments.
    unsafe {
        let f: unsafe extern "C" fn(*mut u8, *const u8, usize) -> *mut u8 = core::mem::transmute(f);
        f(d, s, n);
    }
}

/// glibc's memset without the checks: the runtime's own fills (canaries,
/// poison, zeroing).
///
/// # Safety
/// memset(3)'s contract.
pub unsafe fn raw_memset(d: *mut u8, c: u8, n: usize) {
    let f = real(F_MEMSET);
    if f == 0 {
        for i in 0..n {
            // SAFETY: memset's contract; volatile keeps this a loop.
            unsafe { d.add(i).write_volatile(c) };
        }
        return;
    }
    // SAFETY: glibc's memset with the caller's arguments.
    unsafe {
        let f: unsafe extern "C" fn(*mut u8, c_int, usize) -> *mut u8 = core::mem::transmute(f);
        f(d, c_int::from(c), n);
    }
}

/// # Safety
/// `s` points to a NUL-terminated string.
unsafe fn c_strlen(s: *const u8) -> usize {
    let f = real(F_STRLEN);
    if f != 0 {
        // SAFETY: glibc's strlen.
        let f: unsafe extern "C" fn(*const u8) -> usize = unsafe { core::mem::transmute(f) };
        // SAFETY: the caller's contract (a C string).
        return unsafe { f(s) };
    }
    let mut i = 0;
    // SAFETY: s is a C string (the caller's contract).
    while unsafe { s.add(i).read_volatile() } != 0 {
        i += 1;
    }
    i
}

/// # Safety
/// `s` is readable up to its NUL or for `n` bytes, whichever comes first.
unsafe fn c_strnlen(s: *const u8, n: usize) -> usize {
    let f = real(F_STRNLEN);
    if f != 0 {
        // SAFETY: glibc's strnlen.
        let f: unsafe extern "C" fn(*const u8, usize) -> usize = unsafe { core::mem::transmute(f) };
        // SAFETY: the caller's contract.
        return unsafe { f(s, n) };
    }
    let mut i = 0;
    // SAFETY: s holds a C string or at least n bytes (the caller's contract).
    while i < n && unsafe { s.add(i).read_volatile() } != 0 {
        i += 1;
    }
    i
}

/// The live block (not one of the runtime's own) that a range from `p`
/// must stay inside: the one `p` starts or is inside, or whose header or
/// redzone holds `p` (`table::lookup_near`).
fn block_at(p: usize) -> Option<Block> {
    if p < 4096 {
        return None;
    }
    table::lookup_near(p).filter(|b| b.kind & table::INTERNAL == 0)
}

/// Whether `n` bytes from `p` leave block `b` (see [`block_at`]).
fn leaves(b: &Block, p: usize, n: usize) -> bool {
    p < b.ptr || p.saturating_add(n) > b.ptr + b.size
}

fn is_overlap(dst: usize, src: usize, dstlen: usize, srclen: usize) -> bool {
    if dstlen == 0 || srclen == 0 {
        return false;
    }
    let (hi_s, hi_d) = (src + srclen - 1, dst + dstlen - 1);
    if src < dst {
        hi_s >= dst
    } else if dst < src {
        hi_d >= src
    } else {
        true
    }
}

/// One error context of a replayed routine: the accesses of one kind made
/// by one site of Valgrind's loop outside the block.
#[derive(Clone, Copy)]
struct Group {
    write: bool,
    site: u8,
    addr: usize,
    size: usize,
    count: u64,
    block: Block,
}

/// `--partial-loads-ok` (Valgrind 3.19's default yes): an aligned word
/// read only partly outside its block is no error.
pub static PARTIAL_LOADS_OK: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(true);

/// Collects the invalid accesses of a replayed call.
struct Replay {
    groups: [Option<Group>; 16],
}

impl Replay {
    fn new() -> Self {
        Replay { groups: [None; 16] }
    }

    /// One access of Valgrind's loop: `size` bytes at `addr`, checked
    /// against `block` (the block the pointer started). Reads that are
    /// naturally aligned words only partly outside are no error
    /// (`--partial-loads-ok=yes`, Valgrind's default; [`PARTIAL_LOADS_OK`]).
    fn access(&mut self, write: bool, site: u8, addr: usize, size: usize, block: Option<Block>) {
        let Some(b) = block else { return };
        let end = b.ptr + b.size;
        let outside = addr < b.ptr || addr + size > end;
        if !outside {
            return;
        }
        let partial = addr < end && addr + size > b.ptr;
        if !write
            && partial
            && size >= 4
            && addr % size == 0
            && PARTIAL_LOADS_OK.load(core::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        for g in self.groups.iter_mut() {
            match g {
                Some(g) if g.write == write && g.site == site && g.size == size => {
                    g.count += 1;
                    return;
                }
                Some(_) => {}
                None => {
                    *g = Some(Group {
                        write,
                        site,
                        addr,
                        size,
                        count: 1,
                        block: b,
                    });
                    return;
                }
            }
        }
    }

    fn any(&self) -> bool {
        self.groups[0].is_some()
    }

    /// Sends one record per context, in the order they first happened.
    fn send(&self, func: Routine, entry: usize) {
        for g in self.groups.iter().flatten() {
            let mut a = Access {
                kind: if g.write {
                    AccessKind::Write
                } else {
                    AccessKind::Read
                },
                func: Some(func),
                addr: g.addr as u64,
                size: g.size as u64,
                len: g.count,
                tid: hooks::thread_no(),
                // Each site of Valgrind's loop is its own context there: a
                // distinct frame 0 inside the routine makes it one here.
                stack: stacks::capture(entry + g.site as usize),
                place: Place::InsideLive,
                block_start: g.block.ptr as u64,
                block_size: g.block.size as u64,
                alloc_stack: g.block.stack,
                ..Access::default()
            };
            if g.write {
                // The routine will do the write after this report: its
                // damage to the block's redzone is not a second error.
                table::note_overrun_reported(g.block.ptr);
                if g.addr < g.block.ptr {
                    table::note_underflow_reported(g.block.ptr);
                    if table::is_live(g.block.ptr) {
                        // SAFETY: a live block.
                        let (w0, w1) = unsafe { table::header_words(g.block.ptr) };
                        crate::tls::get().header_repair.set((g.block.ptr, w0, w1));
                    }
                }
            }
            if a.addr < a.block_start || a.addr >= a.block_start + a.block_size + 16 {
                // Beyond the redzone: described by whatever is there.
                a.place = Place::Unknown;
                access::describe(g.addr, &mut a);
            }
            access::send(&a);
        }
    }
}

/// Puts back a block header that the routine just run overwrote after
/// its write before the block was reported (the header holds the block's
/// size and allocation stack; Valgrind keeps its own apart).
#[inline]
pub fn repair_header() {
    let td = crate::tls::get();
    let (q, w0, w1) = td.header_repair.get();
    // Not after the runtime's own copies while it reports (`in_hook`).
    if q != 0 && !td.in_hook.get() {
        td.header_repair.set((0, 0, 0));
        if table::is_live(q) {
            // SAFETY: a live block.
            unsafe { table::restore_header(q, w0, w1) };
        }
    }
}

fn send_overlap(func: Routine, entry: usize, dst: usize, src: usize, len: usize) {
    let a = Access {
        kind: AccessKind::Overlap,
        func: Some(func),
        dst: dst as u64,
        src: src as u64,
        len: len as u64,
        tid: hooks::thread_no(),
        stack: stacks::capture(entry + 16),
        ..Access::default()
    };
    access::send(&a);
}

/// Replays Valgrind's memmove/memcpy loop over `len` bytes: `f(site,
/// offset, size)` for each element, in Valgrind's order.
fn memmove_elems(d: usize, s: usize, len: usize, f: &mut dyn FnMut(u8, usize, usize)) {
    if len == 0 {
        return;
    }
    if d < s || !is_overlap(d, s, len, len) {
        let (mut sa, mut da, mut n, mut off) = (s, d, len, 0usize);
        let mut step = |site: u8, sz: usize, sa: &mut usize, da: &mut usize, n: &mut usize| {
            f(site, off, sz);
            off += sz;
            *sa += sz;
            *da += sz;
            *n -= sz;
        };
        if (sa ^ da) & 7 == 0 {
            while sa & 7 != 0 && n >= 1 {
                step(0, 1, &mut sa, &mut da, &mut n);
            }
            while n >= 32 {
                for site in 1..=4 {
                    step(site, 8, &mut sa, &mut da, &mut n);
                }
            }
            while n >= 8 {
                step(5, 8, &mut sa, &mut da, &mut n);
            }
            if n == 0 {
                return;
            }
        }
        if (sa | da) & 1 == 0 {
            while n >= 2 {
                step(6, 2, &mut sa, &mut da, &mut n);
            }
        }
        while n >= 1 {
            step(7, 1, &mut sa, &mut da, &mut n);
        }
    } else if d > s {
        let (mut sa, mut da, mut n) = (s + len, d + len, len);
        let mut step = |site: u8, sz: usize, sa: &mut usize, da: &mut usize, n: &mut usize| {
            *sa -= sz;
            *da -= sz;
            *n -= sz;
            f(site, *sa - s, sz);
        };
        if (sa ^ da) & 7 == 0 {
            while sa & 7 != 0 && n >= 1 {
                step(8, 1, &mut sa, &mut da, &mut n);
            }
            while n >= 32 {
                for site in 9..=12 {
                    step(site, 8, &mut sa, &mut da, &mut n);
                }
            }
            while n >= 8 {
                step(13, 8, &mut sa, &mut da, &mut n);
            }
            if n == 0 {
                return;
            }
        }
        if (sa | da) & 1 == 0 {
            while n >= 2 {
                step(14, 2, &mut sa, &mut da, &mut n);
            }
        }
        while n >= 1 {
            step(15, 1, &mut sa, &mut da, &mut n);
        }
    }
}

/// The checks of memcpy/memmove (same loop in Valgrind, no overlap check
/// on amd64).
fn check_move(func: Routine, entry: usize, d: usize, s: usize, n: usize) {
    if n == 0 || !hooks::enter_runtime() {
        return;
    }
    let bd = block_at(d);
    let bs = block_at(s);
    if bd.is_some_and(|b| leaves(&b, d, n)) || bs.is_some_and(|b| leaves(&b, s, n)) {
        let mut r = Replay::new();
        memmove_elems(d, s, n, &mut |site, off, sz| {
            r.access(false, site, s + off, sz, bs);
            r.access(true, site, d + off, sz, bd);
        });
        if r.any() {
            r.send(func, entry);
        }
    }
    hooks::leave_runtime();
}

/// # Safety
/// memcpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memcpy(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { memcpy_work(d, s, n) };
    repair_header();
    r
}

/// The checks and the work of [`memcpy`].
///
/// # Safety
/// As [`memcpy`].
#[inline(always)]
unsafe fn memcpy_work(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void {
    check_move(
        F_MEMCPY,
        memcpy as *const () as usize,
        d as usize,
        s as usize,
        n,
    );
    let f = real(F_MEMCPY);
    if f == 0 {
        // SAFETY: memcpy's contract.
        unsafe { copy_fwd(d.cast(), s.cast(), n) };
        return d;
    }
    // SAFETY: glibc's memcpy with the caller's arguments.
    unsafe {
        let f: unsafe extern "C" fn(*mut c_void, *const c_void, usize) -> *mut c_void =
            core::mem::transmute(f);
        f(d, s, n)
    }
}

/// # Safety
/// memmove(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memmove(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { memmove_work(d, s, n) };
    repair_header();
    r
}

/// The checks and the work of [`memmove`].
///
/// # Safety
/// As [`memmove`].
#[inline(always)]
unsafe fn memmove_work(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void {
    check_move(
        F_MEMMOVE,
        memmove as *const () as usize,
        d as usize,
        s as usize,
        n,
    );
    let f = real(F_MEMMOVE);
    if f == 0 {
        // SAFETY: memmove's contract.
        unsafe { copy_move(d.cast(), s.cast(), n) };
        return d;
    }
    // SAFETY: glibc's memmove with the caller's arguments.
    unsafe {
        let f: unsafe extern "C" fn(*mut c_void, *const c_void, usize) -> *mut c_void =
            core::mem::transmute(f);
        f(d, s, n)
    }
}

/// The checks of memset (and of `__memset_chk` once its length check
/// passed: Valgrind reports glibc's memset there, whose word stores land
/// where Valgrind's own memset loop's do).
fn memset_checks(entry: usize, a: usize, n: usize) {
    if n == 0 || !hooks::enter_runtime() {
        return;
    }
    if let Some(b) = block_at(a).filter(|b| leaves(b, a, n)) {
        let mut r = Replay::new();
        // Valgrind's memset: bytes to an 8-byte boundary, four words at
        // a time, words, bytes.
        let (mut p, mut left) = (a, n);
        let step = |r: &mut Replay, site: u8, sz: usize, p: &mut usize, left: &mut usize| {
            r.access(true, site, *p, sz, Some(b));
            *p += sz;
            *left -= sz;
        };
        while p & 7 != 0 && left >= 1 {
            step(&mut r, 0, 1, &mut p, &mut left);
        }
        while left >= 32 {
            for site in 1..=4 {
                step(&mut r, site, 8, &mut p, &mut left);
            }
        }
        while left >= 8 {
            step(&mut r, 5, 8, &mut p, &mut left);
        }
        while left >= 1 {
            step(&mut r, 6, 1, &mut p, &mut left);
        }
        r.send(F_MEMSET, entry);
    }
    hooks::leave_runtime();
}

/// # Safety
/// memset(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memset(d: *mut c_void, c: c_int, n: usize) -> *mut c_void {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { memset_work(d, c, n) };
    repair_header();
    r
}

/// The checks and the work of [`memset`].
///
/// # Safety
/// As [`memset`].
#[inline(always)]
unsafe fn memset_work(d: *mut c_void, c: c_int, n: usize) -> *mut c_void {
    memset_checks(memset as *const () as usize, d as usize, n);
    let f = real(F_MEMSET);
    if f == 0 {
        for i in 0..n {
            // SAFETY: memset's contract.
            unsafe { d.cast::<u8>().add(i).write_volatile(c as u8) };
        }
        return d;
    }
    // SAFETY: glibc's memset with the caller's arguments.
    unsafe {
        let f: unsafe extern "C" fn(*mut c_void, c_int, usize) -> *mut c_void =
            core::mem::transmute(f);
        f(d, c, n)
    }
}

/// Sites of the string loops (frame 0 offsets).
const S_READ_SRC: u8 = 0;
const S_WRITE: u8 = 1;
const S_WRITE_NUL: u8 = 2;
const S_READ_DST: u8 = 3;

/// Checks a string copy of `len` bytes plus a NUL from `s` to `d`, after
/// `scan`: strcat's search for the end of `d` (it reads that many bytes
/// and the NUL). Reports what Valgrind's loop would.
fn check_str_copy(
    func: Routine,
    entry: usize,
    d: usize,
    s: usize,
    scan: Option<usize>,
    len: usize,
) {
    let bd = block_at(d);
    let bs = block_at(s);
    let dl = scan.unwrap_or(0);
    let bad = bd.is_some_and(|b| leaves(&b, d, dl + len + 1))
        || bs.is_some_and(|b| leaves(&b, s, len + 1));
    if !bad {
        return;
    }
    let mut r = Replay::new();
    if scan.is_some() {
        for i in 0..=dl {
            r.access(false, S_READ_DST, d + i, 1, bd);
        }
    }
    for i in 0..len {
        r.access(false, S_READ_SRC, s + i, 1, bs);
        r.access(true, S_WRITE, d + dl + i, 1, bd);
    }
    r.access(false, S_READ_SRC, s + len, 1, bs);
    r.access(true, S_WRITE_NUL, d + dl + len, 1, bd);
    r.send(func, entry);
}

/// strcpy and stpcpy.
fn strcpy_checks(func: Routine, entry: usize, d: usize, s: usize) {
    if !hooks::enter_runtime() {
        return;
    }
    // SAFETY: s is a C string (strcpy's contract).
    let len = unsafe { c_strlen(s as *const u8) };
    check_str_copy(func, entry, d, s, None, len);
    if is_overlap(d, s, len + 1, len + 1) {
        send_overlap(func, entry, d, s, 0);
    }
    hooks::leave_runtime();
}

/// # Safety
/// strcpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strcpy(d: *mut c_char, s: *const c_char) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { strcpy_work(d, s) };
    repair_header();
    r
}

/// The checks and the work of [`strcpy`].
///
/// # Safety
/// As [`strcpy`].
#[inline(always)]
unsafe fn strcpy_work(d: *mut c_char, s: *const c_char) -> *mut c_char {
    strcpy_checks(
        F_STRCPY,
        strcpy as *const () as usize,
        d as usize,
        s as usize,
    );
    let f = real(F_STRCPY);
    // SAFETY: glibc's strcpy, or a copy of the string with its NUL.
    unsafe {
        if f == 0 {
            let n = c_strlen(s.cast());
            copy_fwd(d.cast(), s.cast(), n + 1);
            return d;
        }
        let f: unsafe extern "C" fn(*mut c_char, *const c_char) -> *mut c_char =
            core::mem::transmute(f);
        f(d, s)
    }
}

/// # Safety
/// stpcpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn stpcpy(d: *mut c_char, s: *const c_char) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { stpcpy_work(d, s) };
    repair_header();
    r
}

/// The checks and the work of [`stpcpy`].
///
/// # Safety
/// As [`stpcpy`].
#[inline(always)]
unsafe fn stpcpy_work(d: *mut c_char, s: *const c_char) -> *mut c_char {
    strcpy_checks(
        F_STPCPY,
        stpcpy as *const () as usize,
        d as usize,
        s as usize,
    );
    let f = real(F_STPCPY);
    // SAFETY: glibc's stpcpy, or a copy of the string with its NUL.
    unsafe {
        if f == 0 {
            let n = c_strlen(s.cast());
            copy_fwd(d.cast(), s.cast(), n + 1);
            return d.add(n);
        }
        let f: unsafe extern "C" fn(*mut c_char, *const c_char) -> *mut c_char =
            core::mem::transmute(f);
        f(d, s)
    }
}

/// The checks of strncpy and stpncpy (one loop in Valgrind: the copy, its
/// read of the terminating NUL, the padding; the overlap check after the
/// copy loop).
fn strncpy_checks(func: Routine, entry: usize, da: usize, sa: usize, n: usize) {
    if n == 0 || !hooks::enter_runtime() {
        return;
    }
    let (bd, bs) = (block_at(da), block_at(sa));
    if bd.is_none() && bs.is_none() && !is_overlap(da, sa, n, n) {
        // Nothing to check: the source's length does not matter.
        hooks::leave_runtime();
        return;
    }
    // SAFETY: s holds a string or n bytes (strncpy's contract).
    let m = unsafe { c_strnlen(sa as *const u8, n) };
    let src_read = if m < n { m + 1 } else { m };
    if bd.is_some_and(|b| leaves(&b, da, n)) || bs.is_some_and(|b| leaves(&b, sa, src_read)) {
        let mut r = Replay::new();
        for i in 0..m {
            r.access(false, S_READ_SRC, sa + i, 1, bs);
            r.access(true, S_WRITE, da + i, 1, bd);
        }
        if m < n {
            r.access(false, S_READ_SRC, sa + m, 1, bs);
        }
        for i in m..n {
            r.access(true, S_WRITE_NUL, da + i, 1, bd);
        }
        r.send(func, entry);
    }
    let srclen = if m < n { m + 1 } else { n };
    if is_overlap(da, sa, n, srclen) {
        // Valgrind prints the pointers as they are after its copy loop.
        send_overlap(func, entry, da + m, sa + m, n);
    }
    hooks::leave_runtime();
}

/// # Safety
/// strncpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strncpy(d: *mut c_char, s: *const c_char, n: usize) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { strncpy_work(d, s, n) };
    repair_header();
    r
}

/// The checks and the work of [`strncpy`].
///
/// # Safety
/// As [`strncpy`].
#[inline(always)]
unsafe fn strncpy_work(d: *mut c_char, s: *const c_char, n: usize) -> *mut c_char {
    strncpy_checks(
        F_STRNCPY,
        strncpy as *const () as usize,
        d as usize,
        s as usize,
        n,
    );
    let f = real(F_STRNCPY);
    // SAFETY: glibc's strncpy, or the same copy and padding.
    unsafe {
        if f == 0 {
            let m = c_strnlen(s.cast(), n);
            copy_fwd(d.cast(), s.cast(), m);
            for i in m..n {
                d.cast::<u8>().add(i).write_volatile(0);
            }
            return d;
        }
        let f: unsafe extern "C" fn(*mut c_char, *const c_char, usize) -> *mut c_char =
            core::mem::transmute(f);
        f(d, s, n)
    }
}

/// # Safety
/// strcat(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strcat(d: *mut c_char, s: *const c_char) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { strcat_work(d, s) };
    repair_header();
    r
}

/// The checks and the work of [`strcat`].
///
/// # Safety
/// As [`strcat`].
#[inline(always)]
unsafe fn strcat_work(d: *mut c_char, s: *const c_char) -> *mut c_char {
    if hooks::enter_runtime() {
        let (da, sa) = (d as usize, s as usize);
        // SAFETY: both are C strings (strcat's contract).
        let (dl, sl) = unsafe { (c_strlen(d.cast()), c_strlen(s.cast())) };
        check_str_copy(F_STRCAT, strcat as *const () as usize, da, sa, Some(dl), sl);
        if is_overlap(da, sa, dl + sl + 1, sl + 1) {
            send_overlap(F_STRCAT, strcat as *const () as usize, da, sa, 0);
        }
        hooks::leave_runtime();
    }
    let f = real(F_STRCAT);
    // SAFETY: glibc's strcat, or the same copy.
    unsafe {
        if f == 0 {
            let dl = c_strlen(d.cast());
            let n = c_strlen(s.cast());
            copy_fwd(d.cast::<u8>().add(dl), s.cast(), n + 1);
            return d;
        }
        let f: unsafe extern "C" fn(*mut c_char, *const c_char) -> *mut c_char =
            core::mem::transmute(f);
        f(d, s)
    }
}

/// # Safety
/// strncat(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strncat(d: *mut c_char, s: *const c_char, n: usize) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { strncat_work(d, s, n) };
    repair_header();
    r
}

/// The checks and the work of [`strncat`].
///
/// # Safety
/// As [`strncat`].
#[inline(always)]
unsafe fn strncat_work(d: *mut c_char, s: *const c_char, n: usize) -> *mut c_char {
    if hooks::enter_runtime() {
        let (da, sa) = (d as usize, s as usize);
        // SAFETY: d is a C string, s a string or n bytes (strncat's contract).
        let (dl, m) = unsafe { (c_strlen(d.cast()), c_strnlen(s.cast(), n)) };
        let (bd, bs) = (block_at(da), block_at(sa));
        let src_read = if m < n { m + 1 } else { m };
        if bd.is_some_and(|b| leaves(&b, da, dl + m + 1))
            || bs.is_some_and(|b| leaves(&b, sa, src_read))
        {
            let mut r = Replay::new();
            for i in 0..=dl {
                r.access(false, S_READ_DST, da + i, 1, bd);
            }
            for i in 0..m {
                r.access(false, S_READ_SRC, sa + i, 1, bs);
                r.access(true, S_WRITE, da + dl + i, 1, bd);
            }
            if m < n {
                r.access(false, S_READ_SRC, sa + m, 1, bs);
            }
            r.access(true, S_WRITE_NUL, da + dl + m, 1, bd);
            r.send(F_STRNCAT, strncat as *const () as usize);
        }
        if is_overlap(da, sa, dl + m + 1, m) {
            send_overlap(F_STRNCAT, strncat as *const () as usize, da, sa, n);
        }
        hooks::leave_runtime();
    }
    let f = real(F_STRNCAT);
    // SAFETY: glibc's strncat, or the same copy.
    unsafe {
        if f == 0 {
            let dl = c_strlen(d.cast());
            let m = c_strnlen(s.cast(), n);
            copy_fwd(d.cast::<u8>().add(dl), s.cast(), m);
            d.cast::<u8>().add(dl + m).write_volatile(0);
            return d;
        }
        let f: unsafe extern "C" fn(*mut c_char, *const c_char, usize) -> *mut c_char =
            core::mem::transmute(f);
        f(d, s, n)
    }
}

/// # Safety
/// strlen(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strlen(s: *const c_char) -> usize {
    // SAFETY: s is a C string.
    let len = unsafe { c_strlen(s.cast()) };
    if hooks::enter_runtime() {
        let sa = s as usize;
        if let Some(b) = block_at(sa).filter(|b| leaves(b, sa, len + 1)) {
            let mut r = Replay::new();
            for i in 0..=len {
                r.access(false, S_READ_SRC, sa + i, 1, Some(b));
            }
            r.send(F_STRLEN, strlen as *const () as usize);
        }
        hooks::leave_runtime();
    }
    len
}

/// Calls glibc's routine `i` with the caller's arguments (`$t` its type).
macro_rules! call_real {
    ($i:expr, $t:ty, $($a:expr),*) => {{
        let f = real($i);
        // SAFETY: REAL[$i] holds glibc's routine of this type (dlsym).
        let f: $t = unsafe { core::mem::transmute(f) };
        // SAFETY: the caller's arguments, under the routine's contract.
        unsafe { f($($a),*) }
    }};
}

/// Valgrind's byte loops of mempcpy, `__memcpy_chk` and `__memmove_chk`:
/// backwards when the destination is above the source, forwards when it is
/// below, nothing when they are equal. `overlap`: the routine first
/// reports overlapping arguments (mempcpy, `__memcpy_chk`).
fn check_byte_copy(func: Routine, entry: usize, d: usize, s: usize, n: usize, overlap: bool) {
    if n == 0 || !hooks::enter_runtime() {
        return;
    }
    if overlap && is_overlap(d, s, n, n) {
        send_overlap(func, entry, d, s, n);
    }
    let (bd, bs) = (block_at(d), block_at(s));
    if bd.is_some_and(|b| leaves(&b, d, n)) || bs.is_some_and(|b| leaves(&b, s, n)) {
        let mut r = Replay::new();
        if d > s {
            for i in (0..n).rev() {
                r.access(false, 1, s + i, 1, bs);
                r.access(true, 1, d + i, 1, bd);
            }
        } else if d < s {
            for i in 0..n {
                r.access(false, 0, s + i, 1, bs);
                r.access(true, 0, d + i, 1, bd);
            }
        }
        r.send(func, entry);
    }
    hooks::leave_runtime();
}

type CopyChk = unsafe extern "C" fn(*mut c_void, *const c_void, usize, usize) -> *mut c_void;
type StrCopyChk = unsafe extern "C" fn(*mut c_char, *const c_char, usize) -> *mut c_char;

/// Which of Valgrind's replacements serves both `__memcpy_chk` and
/// `__memmove_chk`: 0 until the first call of either, then its [`Routine`]
/// wire value.
/// In glibc 2.36 the two are one function, and Valgrind redirects that
/// function to the replacement of whichever name the program resolved
/// first (lazily: its first call), for the rest of the run.
static CHK_COPY: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// The checks of `__memcpy_chk` and `__memmove_chk` (`func`: the one
/// called). glibc aborts when `dstlen < n` (Valgrind's replacement would
/// exit with its own message, before copying: nothing is reported then,
/// glibc's abort is the program's native end). Otherwise Valgrind's byte
/// loop of the replacement in use, `__memcpy_chk`'s with its overlap check.
fn chk_copy_checks(func: Routine, d: usize, s: usize, n: usize, dstlen: usize) {
    let mut used = CHK_COPY.load(Ordering::Relaxed);
    if used == 0 {
        used = match CHK_COPY.compare_exchange(0, func as u8, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => func as u8,
            Err(v) => v,
        };
    }
    if dstlen < n {
        return;
    }
    if used == F_MEMCPY_CHK as u8 {
        let entry = __memcpy_chk as *const () as usize;
        check_byte_copy(F_MEMCPY_CHK, entry, d, s, n, true);
    } else {
        let entry = __memmove_chk as *const () as usize;
        check_byte_copy(F_MEMMOVE_CHK, entry, d, s, n, false);
    }
}

/// `_FORTIFY_SOURCE`'s memcpy.
///
/// # Safety
/// memcpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __memcpy_chk(
    d: *mut c_void,
    s: *const c_void,
    n: usize,
    dstlen: usize,
) -> *mut c_void {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { memcpy_chk_work(d, s, n, dstlen) };
    repair_header();
    r
}

/// The checks and the work of [`__memcpy_chk`].
///
/// # Safety
/// As [`__memcpy_chk`].
#[inline(always)]
unsafe fn memcpy_chk_work(
    d: *mut c_void,
    s: *const c_void,
    n: usize,
    dstlen: usize,
) -> *mut c_void {
    chk_copy_checks(F_MEMCPY_CHK, d as usize, s as usize, n, dstlen);
    if real(F_MEMCPY_CHK) == 0 {
        if dstlen < n {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: memcpy's contract.
        unsafe { copy_fwd(d.cast(), s.cast(), n) };
        return d;
    }
    call_real!(F_MEMCPY_CHK, CopyChk, d, s, n, dstlen)
}

/// `_FORTIFY_SOURCE`'s memmove.
///
/// # Safety
/// memmove(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __memmove_chk(
    d: *mut c_void,
    s: *const c_void,
    n: usize,
    dstlen: usize,
) -> *mut c_void {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { memmove_chk_work(d, s, n, dstlen) };
    repair_header();
    r
}

/// The checks and the work of [`__memmove_chk`].
///
/// # Safety
/// As [`__memmove_chk`].
#[inline(always)]
unsafe fn memmove_chk_work(
    d: *mut c_void,
    s: *const c_void,
    n: usize,
    dstlen: usize,
) -> *mut c_void {
    chk_copy_checks(F_MEMMOVE_CHK, d as usize, s as usize, n, dstlen);
    if real(F_MEMMOVE_CHK) == 0 {
        if dstlen < n {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: memmove's contract.
        unsafe { copy_move(d.cast(), s.cast(), n) };
        return d;
    }
    call_real!(F_MEMMOVE_CHK, CopyChk, d, s, n, dstlen)
}

/// # Safety
/// mempcpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn mempcpy(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { mempcpy_work(d, s, n) };
    repair_header();
    r
}

/// The checks and the work of [`mempcpy`].
///
/// # Safety
/// As [`mempcpy`].
#[inline(always)]
unsafe fn mempcpy_work(d: *mut c_void, s: *const c_void, n: usize) -> *mut c_void {
    check_byte_copy(
        F_MEMPCPY,
        mempcpy as *const () as usize,
        d as usize,
        s as usize,
        n,
        true,
    );
    if real(F_MEMPCPY) == 0 {
        // SAFETY: mempcpy's contract.
        unsafe { copy_move(d.cast(), s.cast(), n) };
        return d.cast::<u8>().wrapping_add(n).cast();
    }
    call_real!(
        F_MEMPCPY,
        unsafe extern "C" fn(*mut c_void, *const c_void, usize) -> *mut c_void,
        d,
        s,
        n
    )
}

/// Valgrind's `__strcpy_chk`/`__stpcpy_chk` loop: it copies byte by byte
/// and gives up (exits) once `destlen` bytes are written without the NUL;
/// glibc checks the length first and aborts without copying. The accesses
/// Valgrind made before giving up are reported; glibc then runs.
fn strcpy_chk_checks(func: Routine, entry: usize, d: usize, s: usize, destlen: usize) {
    if destlen == 0 || !hooks::enter_runtime() {
        return;
    }
    let (bd, bs) = (block_at(d), block_at(s));
    if bd.is_some() || bs.is_some() {
        // SAFETY: s is a C string (strcpy's contract).
        let k = (unsafe { c_strlen(s as *const u8) } + 1).min(destlen);
        if bd.is_some_and(|b| leaves(&b, d, k)) || bs.is_some_and(|b| leaves(&b, s, k)) {
            let mut r = Replay::new();
            for i in 0..k {
                r.access(false, S_READ_SRC, s + i, 1, bs);
                r.access(true, S_WRITE, d + i, 1, bd);
            }
            r.send(func, entry);
        }
    }
    hooks::leave_runtime();
}

/// # Safety
/// strcpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __strcpy_chk(
    d: *mut c_char,
    s: *const c_char,
    destlen: usize,
) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { strcpy_chk_work(d, s, destlen) };
    repair_header();
    r
}

/// The checks and the work of [`__strcpy_chk`].
///
/// # Safety
/// As [`__strcpy_chk`].
#[inline(always)]
unsafe fn strcpy_chk_work(d: *mut c_char, s: *const c_char, destlen: usize) -> *mut c_char {
    strcpy_chk_checks(
        F_STRCPY_CHK,
        __strcpy_chk as *const () as usize,
        d as usize,
        s as usize,
        destlen,
    );
    if real(F_STRCPY_CHK) == 0 {
        // SAFETY: s is a C string.
        let n = unsafe { c_strlen(s.cast()) };
        if n >= destlen {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: strcpy's contract.
        unsafe { copy_fwd(d.cast(), s.cast(), n + 1) };
        return d;
    }
    call_real!(F_STRCPY_CHK, StrCopyChk, d, s, destlen)
}

/// # Safety
/// stpcpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __stpcpy_chk(
    d: *mut c_char,
    s: *const c_char,
    destlen: usize,
) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { stpcpy_chk_work(d, s, destlen) };
    repair_header();
    r
}

/// The checks and the work of [`__stpcpy_chk`].
///
/// # Safety
/// As [`__stpcpy_chk`].
#[inline(always)]
unsafe fn stpcpy_chk_work(d: *mut c_char, s: *const c_char, destlen: usize) -> *mut c_char {
    strcpy_chk_checks(
        F_STPCPY_CHK,
        __stpcpy_chk as *const () as usize,
        d as usize,
        s as usize,
        destlen,
    );
    if real(F_STPCPY_CHK) == 0 {
        // SAFETY: s is a C string.
        let n = unsafe { c_strlen(s.cast()) };
        if n >= destlen {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: stpcpy's contract.
        unsafe { copy_fwd(d.cast(), s.cast(), n + 1) };
        return d.wrapping_add(n);
    }
    call_real!(F_STPCPY_CHK, StrCopyChk, d, s, destlen)
}

/// `_FORTIFY_SOURCE`'s memset. Valgrind does not replace it: glibc's
/// memset runs under memcheck, whose stores past a block are reported as
/// Valgrind's own memset loop would (same first address and size for the
/// lengths tested); glibc aborts when `dstlen < n`.
///
/// # Safety
/// memset(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __memset_chk(
    d: *mut c_void,
    c: c_int,
    n: usize,
    dstlen: usize,
) -> *mut c_void {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { memset_chk_work(d, c, n, dstlen) };
    repair_header();
    r
}

/// The checks and the work of [`__memset_chk`].
///
/// # Safety
/// As [`__memset_chk`].
#[inline(always)]
unsafe fn memset_chk_work(d: *mut c_void, c: c_int, n: usize, dstlen: usize) -> *mut c_void {
    if dstlen >= n {
        memset_checks(__memset_chk as *const () as usize, d as usize, n);
    }
    if real(F_MEMSET_CHK) == 0 {
        if dstlen < n {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: memset's contract.
        unsafe { raw_memset(d.cast(), c as u8, n) };
        return d;
    }
    call_real!(
        F_MEMSET_CHK,
        unsafe extern "C" fn(*mut c_void, c_int, usize, usize) -> *mut c_void,
        d,
        c,
        n,
        dstlen
    )
}

/// `_FORTIFY_SOURCE`'s strncpy: glibc aborts when `destlen < n`, else it
/// calls strncpy, which is where Valgrind reports (its strncpy).
///
/// # Safety
/// strncpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __strncpy_chk(
    d: *mut c_char,
    s: *const c_char,
    n: usize,
    destlen: usize,
) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { strncpy_chk_work(d, s, n, destlen) };
    repair_header();
    r
}

/// The checks and the work of [`__strncpy_chk`].
///
/// # Safety
/// As [`__strncpy_chk`].
#[inline(always)]
unsafe fn strncpy_chk_work(
    d: *mut c_char,
    s: *const c_char,
    n: usize,
    destlen: usize,
) -> *mut c_char {
    if destlen >= n {
        strncpy_checks(
            F_STRNCPY,
            strncpy as *const () as usize,
            d as usize,
            s as usize,
            n,
        );
    }
    if real(F_STRNCPY_CHK) == 0 {
        if destlen < n {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: strncpy's contract.
        return unsafe { strncpy(d, s, n) };
    }
    call_real!(
        F_STRNCPY_CHK,
        unsafe extern "C" fn(*mut c_char, *const c_char, usize, usize) -> *mut c_char,
        d,
        s,
        n,
        destlen
    )
}

/// Sites of glibc's `__strcat_chk`/`__strncat_chk` loops (frame 0 offsets).
const C_SCAN: u8 = 0;
const C_READ: u8 = 1;
const C_WRITE: u8 = 2;
const C_READ4: u8 = 3; // ..=6: strncat's loop unrolled by four
const C_WRITE4: u8 = 7; // ..=10
const C_READ_TAIL: u8 = 11;
const C_WRITE_TAIL: u8 = 12;
const C_WRITE_NUL: u8 = 13;

/// The checks of `__strcat_chk` (`n` None) and `__strncat_chk`. Valgrind
/// has no replacement for them: glibc's own C loops (debug/strcat_chk.c,
/// debug/strncat_chk.c) run under memcheck, which reports each of their
/// byte accesses outside a block, one context per access site, and they
/// call `__chk_fail` (abort) when `destlen` runs out, after the accesses
/// made so far. The replay follows those loops (strncat's is unrolled by
/// four: four sites, then a tail loop and the NUL store).
fn strcat_chk_checks(
    func: Routine,
    entry: usize,
    d: usize,
    s: usize,
    n: Option<usize>,
    destlen: usize,
) {
    if !hooks::enter_runtime() {
        return;
    }
    let (bd, bs) = (block_at(d), block_at(s));
    if bd.is_none() && bs.is_none() {
        hooks::leave_runtime();
        return;
    }
    // SAFETY: d is a C string, s a string or n bytes (strcat's contract).
    let dl = unsafe { c_strlen(d as *const u8) };
    // SAFETY: as above.
    let m = unsafe {
        match n {
            None => c_strlen(s as *const u8),
            Some(n) => c_strnlen(s as *const u8, n),
        }
    };
    let src_read = match n {
        Some(n) if m == n => m,
        _ => m + 1,
    };
    if !(bd.is_some_and(|b| leaves(&b, d, dl + m + 1))
        || bs.is_some_and(|b| leaves(&b, s, src_read)))
    {
        hooks::leave_runtime();
        return;
    }
    let mut r = Replay::new();
    strcat_chk_replay(&mut r, d, s, dl, m, n, destlen, bd, bs);
    r.send(func, entry);
    hooks::leave_runtime();
}

/// glibc's `__strcat_chk`/`__strncat_chk` loops over `d` (a string of
/// `dl` bytes) and `s` (`m` bytes copied: its length, at most `n`), up to
/// the end or to `__chk_fail` when `destlen` runs out.
#[allow(clippy::too_many_arguments)]
fn strcat_chk_replay(
    r: &mut Replay,
    d: usize,
    s: usize,
    dl: usize,
    m: usize,
    n: Option<usize>,
    destlen: usize,
    bd: Option<Block>,
    bs: Option<Block>,
) {
    let mut left = destlen;
    // One step of a loop: false when glibc gives up (`__chk_fail`).
    let take = |left: &mut usize| {
        if *left == 0 {
            return false;
        }
        *left -= 1;
        true
    };
    'replay: {
        for i in 0..=dl {
            if !take(&mut left) {
                break 'replay;
            }
            r.access(false, C_SCAN, d + i, 1, bd);
        }
        left += 1;
        let w = d + dl;
        match n {
            None => {
                for i in 0..=m {
                    if !take(&mut left) {
                        break 'replay;
                    }
                    r.access(false, C_READ, s + i, 1, bs);
                    r.access(true, C_WRITE, w + i, 1, bd);
                }
            }
            Some(n) => {
                // The byte copied at i is the NUL when i == m < n.
                let (mut i, mut rest) = (0usize, n);
                if n >= 4 {
                    for _ in 0..n >> 2 {
                        for k in 0..4u8 {
                            if !take(&mut left) {
                                break 'replay;
                            }
                            r.access(false, C_READ4 + k, s + i, 1, bs);
                            r.access(true, C_WRITE4 + k, w + i, 1, bd);
                            i += 1;
                            if i - 1 == m {
                                break 'replay;
                            }
                        }
                    }
                    rest &= 3;
                }
                while rest > 0 {
                    if !take(&mut left) {
                        break 'replay;
                    }
                    r.access(false, C_READ_TAIL, s + i, 1, bs);
                    r.access(true, C_WRITE_TAIL, w + i, 1, bd);
                    i += 1;
                    if i - 1 == m {
                        break 'replay;
                    }
                    rest -= 1;
                }
                // n bytes copied without a NUL (n > 0): glibc adds one.
                if n > 0 && take(&mut left) {
                    r.access(true, C_WRITE_NUL, w + i, 1, bd);
                }
            }
        }
    }
}

/// # Safety
/// strcat(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __strcat_chk(
    d: *mut c_char,
    s: *const c_char,
    destlen: usize,
) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { strcat_chk_work(d, s, destlen) };
    repair_header();
    r
}

/// The checks and the work of [`__strcat_chk`].
///
/// # Safety
/// As [`__strcat_chk`].
#[inline(always)]
unsafe fn strcat_chk_work(d: *mut c_char, s: *const c_char, destlen: usize) -> *mut c_char {
    strcat_chk_checks(
        F_STRCAT,
        __strcat_chk as *const () as usize,
        d as usize,
        s as usize,
        None,
        destlen,
    );
    if real(F_STRCAT_CHK) == 0 {
        // SAFETY: both are C strings.
        let (dl, sl) = unsafe { (c_strlen(d.cast()), c_strlen(s.cast())) };
        if dl + sl >= destlen {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: strcat's contract.
        unsafe { copy_fwd(d.cast::<u8>().add(dl), s.cast(), sl + 1) };
        return d;
    }
    call_real!(F_STRCAT_CHK, StrCopyChk, d, s, destlen)
}

/// # Safety
/// strncat(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __strncat_chk(
    d: *mut c_char,
    s: *const c_char,
    n: usize,
    destlen: usize,
) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { strncat_chk_work(d, s, n, destlen) };
    repair_header();
    r
}

/// The checks and the work of [`__strncat_chk`].
///
/// # Safety
/// As [`__strncat_chk`].
#[inline(always)]
unsafe fn strncat_chk_work(
    d: *mut c_char,
    s: *const c_char,
    n: usize,
    destlen: usize,
) -> *mut c_char {
    strcat_chk_checks(
        F_STRNCAT,
        __strncat_chk as *const () as usize,
        d as usize,
        s as usize,
        Some(n),
        destlen,
    );
    if real(F_STRNCAT_CHK) == 0 {
        // SAFETY: d is a C string, s a string or n bytes.
        let (dl, m) = unsafe { (c_strlen(d.cast()), c_strnlen(s.cast(), n)) };
        if dl + m >= destlen {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: strncat's contract.
        unsafe {
            copy_fwd(d.cast::<u8>().add(dl), s.cast(), m);
            d.cast::<u8>().add(dl + m).write_volatile(0);
        }
        return d;
    }
    call_real!(
        F_STRNCAT_CHK,
        unsafe extern "C" fn(*mut c_char, *const c_char, usize, usize) -> *mut c_char,
        d,
        s,
        n,
        destlen
    )
}

/// `_FORTIFY_SOURCE`'s mempcpy. Valgrind does not replace it: glibc's
/// memcpy runs under memcheck, whose stores past a block are reported as
/// Valgrind's own memcpy word loop would (same first address and size for
/// the lengths tested), without an overlap check; glibc aborts when
/// `dstlen < n`.
///
/// # Safety
/// mempcpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __mempcpy_chk(
    d: *mut c_void,
    s: *const c_void,
    n: usize,
    dstlen: usize,
) -> *mut c_void {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { mempcpy_chk_work(d, s, n, dstlen) };
    repair_header();
    r
}

/// The checks and the work of [`__mempcpy_chk`].
///
/// # Safety
/// As [`__mempcpy_chk`].
#[inline(always)]
unsafe fn mempcpy_chk_work(
    d: *mut c_void,
    s: *const c_void,
    n: usize,
    dstlen: usize,
) -> *mut c_void {
    if dstlen >= n {
        check_move(
            F_MEMPCPY,
            __mempcpy_chk as *const () as usize,
            d as usize,
            s as usize,
            n,
        );
    }
    if real(F_MEMPCPY_CHK) == 0 {
        if dstlen < n {
            // SAFETY: as glibc's __chk_fail.
            unsafe { libc::abort() };
        }
        // SAFETY: mempcpy's contract.
        unsafe { copy_move(d.cast(), s.cast(), n) };
        return d.cast::<u8>().wrapping_add(n).cast();
    }
    call_real!(F_MEMPCPY_CHK, CopyChk, d, s, n, dstlen)
}

/// # Safety
/// stpncpy(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn stpncpy(d: *mut c_char, s: *const c_char, n: usize) -> *mut c_char {
    // SAFETY: the caller's arguments, under the routine's contract.
    let r = unsafe { stpncpy_work(d, s, n) };
    repair_header();
    r
}

/// The checks and the work of [`stpncpy`].
///
/// # Safety
/// As [`stpncpy`].
#[inline(always)]
unsafe fn stpncpy_work(d: *mut c_char, s: *const c_char, n: usize) -> *mut c_char {
    strncpy_checks(
        F_STPNCPY,
        stpncpy as *const () as usize,
        d as usize,
        s as usize,
        n,
    );
    if real(F_STPNCPY) == 0 {
        // SAFETY: s holds a string or n bytes.
        let m = unsafe { c_strnlen(s.cast(), n) };
        // SAFETY: stpncpy's contract.
        unsafe {
            copy_fwd(d.cast(), s.cast(), m);
            for i in m..n {
                d.cast::<u8>().add(i).write_volatile(0);
            }
        }
        return d.wrapping_add(m);
    }
    call_real!(
        F_STPNCPY,
        unsafe extern "C" fn(*mut c_char, *const c_char, usize) -> *mut c_char,
        d,
        s,
        n
    )
}

/// Reports Valgrind's byte loop reading `count` bytes from `s` (one site),
/// when they go past the block `s` starts.
fn check_read(func: Routine, entry: usize, s: usize, count: usize) {
    if count == 0 || !hooks::enter_runtime() {
        return;
    }
    if let Some(b) = block_at(s).filter(|b| leaves(b, s, count)) {
        let mut r = Replay::new();
        for i in 0..count {
            r.access(false, S_READ_SRC, s + i, 1, Some(b));
        }
        r.send(func, entry);
    }
    hooks::leave_runtime();
}

/// # Safety
/// memchr(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memchr(s: *const c_void, c: c_int, n: usize) -> *mut c_void {
    let r = if real(F_MEMCHR) == 0 {
        let mut hit = core::ptr::null_mut();
        for i in 0..n {
            // SAFETY: s holds n bytes.
            if unsafe { s.cast::<u8>().add(i).read_volatile() } == c as u8 {
                hit = s.cast::<u8>().wrapping_add(i).cast_mut().cast();
                break;
            }
        }
        hit
    } else {
        call_real!(
            F_MEMCHR,
            unsafe extern "C" fn(*const c_void, c_int, usize) -> *mut c_void,
            s,
            c,
            n
        )
    };
    // Valgrind's loop reads up to the byte found, or all n.
    let count = if r.is_null() {
        n
    } else {
        r as usize - s as usize + 1
    };
    check_read(F_MEMCHR, memchr as *const () as usize, s as usize, count);
    r
}

/// strcmp and strncmp (at most `n` bytes): Valgrind's loop reads a byte of
/// each string (two sites) until they differ or both end. Walked again
/// here only when one of the pointers starts a heap block.
fn check_cmp(func: Routine, entry: usize, a: usize, b: usize, n: usize) {
    if n == 0 || !hooks::enter_runtime() {
        return;
    }
    let (ba, bb) = (block_at(a), block_at(b));
    // The loop reads at most one byte past the shorter string: a string
    // that ends inside its block keeps its reads inside.
    // SAFETY: the routine reads these strings up to their NUL (or n bytes).
    let ends_inside = |p: usize, k: Option<Block>| {
        k.is_none_or(|k| {
            let room = (k.ptr + k.size).saturating_sub(p);
            p >= k.ptr
                && (room >= n || {
                    // SAFETY: `room` bytes of block `k` from `p`.
                    let len = unsafe { c_strnlen(p as *const u8, room) };
                    len < room
                })
        })
    };
    if !(ends_inside(a, ba) && ends_inside(b, bb)) {
        let mut i = 0;
        let count = loop {
            if i >= n {
                break n;
            }
            // SAFETY: both are C strings (or hold n bytes): the routine
            // reads these bytes too.
            let (x, y) = unsafe {
                (
                    (a as *const u8).add(i).read_volatile(),
                    (b as *const u8).add(i).read_volatile(),
                )
            };
            if x != y || x == 0 {
                break i + 1;
            }
            i += 1;
        };
        if ba.is_some_and(|k| leaves(&k, a, count)) || bb.is_some_and(|k| leaves(&k, b, count)) {
            let mut r = Replay::new();
            for i in 0..count {
                r.access(false, 0, a + i, 1, ba);
                r.access(false, 1, b + i, 1, bb);
            }
            r.send(func, entry);
        }
    }
    hooks::leave_runtime();
}

/// # Safety
/// strcmp(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strcmp(a: *const c_char, b: *const c_char) -> c_int {
    check_cmp(
        F_STRCMP,
        strcmp as *const () as usize,
        a as usize,
        b as usize,
        usize::MAX,
    );
    if real(F_STRCMP) == 0 {
        let mut i = 0;
        loop {
            // SAFETY: both are C strings.
            let (x, y) = unsafe {
                (
                    a.cast::<u8>().add(i).read_volatile(),
                    b.cast::<u8>().add(i).read_volatile(),
                )
            };
            if x != y || x == 0 {
                return c_int::from(x) - c_int::from(y);
            }
            i += 1;
        }
    }
    call_real!(
        F_STRCMP,
        unsafe extern "C" fn(*const c_char, *const c_char) -> c_int,
        a,
        b
    )
}

/// # Safety
/// strncmp(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn strncmp(a: *const c_char, b: *const c_char, n: usize) -> c_int {
    check_cmp(
        F_STRNCMP,
        strncmp as *const () as usize,
        a as usize,
        b as usize,
        n,
    );
    if real(F_STRNCMP) == 0 {
        for i in 0..n {
            // SAFETY: both are C strings or hold n bytes.
            let (x, y) = unsafe {
                (
                    a.cast::<u8>().add(i).read_volatile(),
                    b.cast::<u8>().add(i).read_volatile(),
                )
            };
            if x != y || x == 0 {
                return c_int::from(x) - c_int::from(y);
            }
        }
        return 0;
    }
    call_real!(
        F_STRNCMP,
        unsafe extern "C" fn(*const c_char, *const c_char, usize) -> c_int,
        a,
        b,
        n
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_replaced_c_routine_has_a_slot_for_glibcs_version() {
        let replaced: Vec<Routine> = Routine::ALL
            .into_iter()
            .filter(|r| r.c_symbol().is_some())
            .collect();
        assert_eq!(replaced.len(), 24);
        for r in replaced {
            assert!((r as usize) < REAL.len(), "{r:?}");
        }
    }

    fn elems(d: usize, s: usize, len: usize) -> Vec<(u8, usize, usize)> {
        let mut v = Vec::new();
        memmove_elems(d, s, len, &mut |site, off, sz| v.push((site, off, sz)));
        v
    }

    #[test]
    fn memmove_replay_follows_valgrinds_loop() {
        // Same alignment: 4 unrolled words, then one word.
        assert_eq!(
            elems(0x1000, 0x2000, 40),
            vec![(1, 0, 8), (2, 8, 8), (3, 16, 8), (4, 24, 8), (5, 32, 8)]
        );
        // Same alignment, off by 6: two head bytes, a word, shorts, a byte.
        assert_eq!(
            elems(0x1006, 0x2006, 13),
            vec![(0, 0, 1), (0, 1, 1), (5, 2, 8), (6, 10, 2), (7, 12, 1)]
        );
        // Different alignment, both even: shorts only.
        assert_eq!(elems(0x1000, 0x2002, 4), vec![(6, 0, 2), (6, 2, 2)]);
        // Overlapping with dst above src: backwards from the end.
        assert_eq!(
            elems(0x1001, 0x1000, 3),
            vec![(15, 2, 1), (15, 1, 1), (15, 0, 1)]
        );
        // dst == src: Valgrind copies nothing.
        assert!(elems(0x1000, 0x1000, 8).is_empty());
        assert!(elems(0x1000, 0x2000, 0).is_empty());
    }

    fn groups(r: &Replay) -> Vec<(bool, u8, usize, usize, u64)> {
        r.groups
            .iter()
            .flatten()
            .map(|g| (g.write, g.site, g.addr, g.size, g.count))
            .collect()
    }

    #[test]
    fn strncat_chk_replay_follows_glibcs_loop() {
        let b = Block {
            ptr: 0x1000,
            size: 36,
            stack: 0,
            kind: 0,
        };
        // 31 bytes + 6 appended: four by the unrolled loop (31..34), two by
        // the tail loop (35, 36: one past the end), then the NUL (37).
        let mut r = Replay::new();
        strcat_chk_replay(&mut r, 0x1000, 0x9000, 31, 6, Some(6), 64, Some(b), None);
        assert_eq!(
            groups(&r),
            vec![
                (true, C_WRITE_TAIL, 0x1024, 1, 1),
                (true, C_WRITE_NUL, 0x1025, 1, 1)
            ]
        );
        // Empty string + 40: the unrolled loop's four stores past the end,
        // then the NUL.
        let mut r = Replay::new();
        strcat_chk_replay(&mut r, 0x1000, 0x9000, 0, 40, Some(40), 64, Some(b), None);
        assert_eq!(
            groups(&r),
            vec![
                (true, C_WRITE4, 0x1024, 1, 1),
                (true, C_WRITE4 + 1, 0x1025, 1, 1),
                (true, C_WRITE4 + 2, 0x1026, 1, 1),
                (true, C_WRITE4 + 3, 0x1027, 1, 1),
                (true, C_WRITE_NUL, 0x1028, 1, 1)
            ]
        );
        // destlen 38: the scan's NUL read takes one and gives it back, the
        // copy writes 38 bytes (0..=37) and glibc gives up at the 39th: 36
        // and 37 only, no NUL.
        let mut r = Replay::new();
        strcat_chk_replay(&mut r, 0x1000, 0x9000, 0, 40, Some(40), 38, Some(b), None);
        assert_eq!(
            groups(&r),
            vec![
                (true, C_WRITE4, 0x1024, 1, 1),
                (true, C_WRITE4 + 1, 0x1025, 1, 1)
            ]
        );
        // strcat: one store site, the NUL included (36..39 for 39 + NUL).
        let mut r = Replay::new();
        strcat_chk_replay(&mut r, 0x1000, 0x9000, 5, 34, None, 64, Some(b), None);
        assert_eq!(groups(&r), vec![(true, C_WRITE, 0x1024, 1, 4)]);
    }

    #[test]
    fn overlap_is_valgrinds_rule() {
        assert!(is_overlap(0x1000, 0x1002, 9, 9));
        assert!(!is_overlap(0x1000, 0x1009, 9, 9));
        assert!(is_overlap(0x1009, 0x1000, 9, 10));
        assert!(!is_overlap(0x1000, 0x1000, 0, 4));
        assert!(is_overlap(0x1000, 0x1000, 1, 1));
    }

    #[test]
    fn replay_groups_by_site_and_honours_partial_loads() {
        let b = Block {
            ptr: 0x1000,
            size: 36,
            stack: 0,
            kind: 0,
        };
        let mut r = Replay::new();
        // An aligned word read half outside: no error (partial loads ok).
        r.access(false, 5, 0x1020, 8, Some(b));
        assert!(!r.any());
        // The same word written: an error at its start.
        r.access(true, 5, 0x1020, 8, Some(b));
        // Bytes past the end, twice from one site, once from another.
        r.access(true, 7, 0x1024, 1, Some(b));
        r.access(true, 7, 0x1025, 1, Some(b));
        r.access(true, 2, 0x1026, 1, Some(b));
        // Unknown block: never an error.
        r.access(true, 7, 0x9000, 1, None);
        let got: Vec<(bool, u8, usize, usize, u64)> = r
            .groups
            .iter()
            .flatten()
            .map(|g| (g.write, g.site, g.addr, g.size, g.count))
            .collect();
        assert_eq!(
            got,
            vec![
                (true, 5, 0x1020, 8, 1),
                (true, 7, 0x1024, 1, 2),
                (true, 2, 0x1026, 1, 1)
            ]
        );
    }
}
