//! The interposed allocator family. Every hook calls glibc's real allocator
//! through its `__libc_*` names, records or checks the block in the table,
//! and reports bad frees without passing them to glibc (the program goes on,
//! as under Valgrind). Nothing here allocates through `malloc`, formats text
//! or panics; the per-thread `IN_HOOK` flag stops stack capture from
//! recursing when the unwinder itself allocates.

// The C++ operators keep their Itanium-mangled names (that is what is
// interposed), which are not snake case.
#![allow(non_snake_case)]

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use libc::{c_int, c_void, size_t};
use memdx_events::{
    Access, AccessKind, AllocKind, BadFree, BadFreeKind, Corruption, CorruptionKind, Dealloc,
    Place, Routine,
};

use crate::sys::{self, Racy, SpinLock};
use crate::table::{self, Release};
use crate::uninit;
use crate::{access, guard, out, profile, stacks, tls};

static NEXT_THREAD_NO: AtomicU32 = AtomicU32::new(2);

/// glibc's HEAP_MAX_SIZE on 64-bit: non-main arenas are heaps aligned to it.
const HEAP_MAX: usize = 64 << 20;
const MAX_ARENAS: usize = 1024;
pub static ARENAS: Racy<[usize; MAX_ARENAS]> = Racy::new([0; MAX_ARENAS]);
pub static ARENAS_N: AtomicUsize = AtomicUsize::new(0);
pub static ARENAS_LOCK: SpinLock = SpinLock::new();

/// Runs `f` with the re-entry flag set; returns `None` if it already was.
#[inline]
fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    let g = &tls::get().in_hook;
    if g.get() {
        return None;
    }
    g.set(true);
    let r = f();
    g.set(false);
    Some(r)
}

/// Sets the re-entry flag for the runtime's own work (constructor, report).
pub fn enter_runtime() -> bool {
    !tls::get().in_hook.replace(true)
}
pub fn leave_runtime() {
    tls::get().in_hook.set(false);
}

/// Valgrind-style thread number: 1 for the main thread, then in order of
/// first use of the allocator (Valgrind uses creation order).
pub fn thread_no() -> u32 {
    // SAFETY: getpid has no preconditions.
    if sys::gettid() == unsafe { libc::getpid() } {
        return 1;
    }
    let t = &tls::get().thread_no;
    if t.get() == 0 {
        t.set(NEXT_THREAD_NO.fetch_add(1, Ordering::Relaxed));
    }
    t.get()
}

/// Remembers the glibc heap a block came from when it is a non-main arena,
/// so the leak scan does not take glibc's own heap pages for roots.
#[inline]
///
/// # Safety
/// `p` is a block glibc's allocator returned and has not freed (its chunk
/// header is readable).
unsafe fn note_arena(p: usize) {
    // SAFETY: glibc keeps the chunk's size word (with its flag bits) just
    // before the user pointer.
    let size_word = unsafe { *((p - 8) as *const usize) };
    if size_word & 2 != 0 || size_word & 4 == 0 {
        return; // mmapped chunk, or the main (brk) arena
    }
    let base = p & !(HEAP_MAX - 1);
    if table::with_state(|s| core::mem::replace(&mut s.last_arena, base)) == Some(base) {
        return;
    }
    let _held = ARENAS_LOCK.lock();
    // SAFETY: under ARENAS_LOCK.
    let arenas = unsafe { &mut *ARENAS.get() };
    let n = ARENAS_N.load(Ordering::Relaxed);
    if !arenas[..n].contains(&base) && n < MAX_ARENAS {
        arenas[n] = base;
        ARENAS_N.store(n + 1, Ordering::Relaxed);
    }
}

/// This thread's current stack, or 0 inside the runtime's own work. (The
/// unwinding on a cache miss sets the re-entry flag itself.)
#[inline]
fn capture(td: &tls::ThreadData, entry: usize) -> u32 {
    if td.in_hook.get() {
        return 0;
    }
    stacks::capture_on(td, entry)
}

/// Bytes glibc must give for a block of `size` at offset `off`, or None on
/// overflow.
#[inline]
fn raw_len(size: usize, off: usize) -> Option<usize> {
    if size > table::MAX_SIZE {
        return None;
    }
    size.checked_add(off)?.checked_add(table::redzone())
}

/// Allocates a block of `size` bytes aligned to `align` (zeroed when
/// `zero`): a guarded block when the pool wants it, else a glibc block with
/// header and redzone. Null (and errno) on failure.
#[inline(always)]
///
/// # Safety
/// Called from the allocator entry points only: `align` is 0 or a power
/// of two, and `entry` is the entry point's address (for the stack).
unsafe fn allocate(
    size: usize,
    align: usize,
    zero: bool,
    kind: AllocKind,
    entry: usize,
) -> *mut c_void {
    // `memdx heap`: a tail call to an out-of-line path, taken before the
    // checker's frame is set up (its code stays inlined in the hook).
    // SAFETY: forwarded.
    unsafe {
        if profile::on() {
            profile::allocate(size, align, zero, entry)
        } else {
            allocate_checked(size, align, zero, kind, entry)
        }
    }
}

/// [`allocate`] under `memdx check`.
#[inline]
///
/// # Safety
/// Called from the allocator entry points only: `align` is 0 or a power
/// of two, and `entry` is the entry point's address (for the stack).
unsafe fn allocate_checked(
    size: usize,
    align: usize,
    zero: bool,
    kind: AllocKind,
    entry: usize,
) -> *mut c_void {
    let fail = |e: c_int| {
        // SAFETY: errno location is valid.
        unsafe { *libc::__errno_location() = e };
        core::ptr::null_mut()
    };
    // Blocks the runtime's own work allocates (the unwinder loading
    // libgcc_s, dlsym) are not the program's: kept out of counts and leaks.
    // Big freed blocks are held until the next allocation (Valgrind's
    // `--freelist-big-blocks`).
    crate::held::on_alloc(&mut give_to_glibc);
    let td = tls::get();
    let internal = td.in_hook.get();
    let stack = if internal { 0 } else { capture(td, entry) };
    if let Some(place) = (!internal && align <= guard::MAX_ALIGN)
        .then(|| guard::wanted(size, stack, td))
        .flatten()
    {
        if let Some(q) = guard::alloc(size, align, kind as u8, stack, zero, place) {
            table::count_alloc(size);
            if !zero && uninit::on() && uninit::wanted(stack) {
                // SAFETY: the fresh guarded block.
                unsafe { uninit::fill(q, size, stack) };
            }
            if td.watch_next.get() && crate::watch::wanted(stack) {
                guard::watch(q);
            }
            return q as *mut c_void;
        }
    }
    let off = if align <= table::HEADER {
        table::HEADER
    } else {
        // glibc rounds an alignment that is no power of two up to one.
        match align.checked_next_power_of_two() {
            Some(a) => a,
            None => return fail(libc::EINVAL),
        }
    };
    let Some(len) = raw_len(size, off) else {
        // calloc reported its own arguments.
        if !internal && (size as isize) < 0 && entry != calloc as *const () as usize {
            fishy(entry, 0, size);
        }
        return fail(libc::ENOMEM);
    };
    // SAFETY: glibc's allocator; for aligned blocks the header sits at the
    // end of the first `off` bytes, so the program's pointer keeps the
    // alignment.
    let recycled = if off == table::HEADER {
        table::take_recycled(td, len)
    } else {
        None
    };
    // SAFETY: as said above; a recycled chunk is one of ours, `len` bytes.
    let raw = unsafe {
        if let Some(raw) = recycled {
            if zero {
                crate::strmem::raw_memset((raw + off) as *mut u8, 0, size);
            }
            raw as *mut c_void
        } else if off > table::HEADER {
            let p = sys::__libc_memalign(off, len);
            if zero && !p.is_null() {
                crate::strmem::raw_memset(p.cast::<u8>(), 0, len);
            }
            p
        } else if zero {
            sys::__libc_calloc(1, len)
        } else {
            sys::__libc_malloc(len)
        }
    };
    if raw.is_null() {
        return fail(libc::ENOMEM);
    }
    let raw = raw as usize;
    if recycled.is_none() {
        // SAFETY: raw is a fresh glibc block.
        unsafe { note_arena(raw) };
    }
    let q = raw + off;
    let kind = kind as u8 | if internal { table::INTERNAL } else { 0 };
    // SAFETY: raw .. q + size + redzone is the fresh block.
    if !unsafe { table::register(td, raw, q, size, kind, stack) } {
        // SAFETY: glibc's own block.
        unsafe { sys::__libc_free(raw as *mut c_void) };
        return fail(libc::ENOMEM);
    }
    if !zero && !internal && uninit::on() && uninit::wanted(stack) {
        // SAFETY: q .. q + size is the fresh block.
        unsafe { uninit::fill(q, size, stack) };
    }
    q as *mut c_void
}

/// The damage found on a quarantined block (see `table::check_freed`) as
/// error events: a damaged redzone as at the block's release (where it was
/// checked before the check was deferred to the quarantine), written poison
/// as at the release that found it (`stack` 0, filled in by the caller).
///
/// # Safety
/// `q` is a quarantined (freed) block start.
pub unsafe fn freed_corruptions(q: usize) -> [Option<Corruption>; 2] {
    // SAFETY: per the contract.
    let d = unsafe { table::check_freed(q) };
    if d == table::FreedDamage::default() {
        return [None, None];
    }
    // SAFETY: as above.
    let table::Header {
        block: b,
        free_stack,
        ..
    } = unsafe { table::read_block(q) };
    let event = |kind, (first, last): (usize, usize), stack, free_stack| Corruption {
        kind,
        block_start: q as u64,
        block_size: b.size as u64,
        first: first as u64,
        last: last as u64,
        stack,
        alloc_stack: b.stack,
        free_stack,
    };
    [
        d.after_end
            .map(|r| event(CorruptionKind::AfterEnd, r, free_stack, 0)),
        d.after_free
            .map(|r| event(CorruptionKind::AfterFree, r, 0, free_stack)),
    ]
}

/// Gives a released or evicted block back to glibc.
fn give_to_glibc(q: usize) {
    // SAFETY: q is a block start the caller released.
    unsafe { sys::__libc_free(table::raw_of(q) as *mut c_void) };
}

/// Reports the blocks found damaged as they left the quarantine during the
/// release whose stack is `stack` (written poison is reported at that
/// release; a damaged redzone as at the block's own), then gives them back.
#[cold]
#[inline(never)]
fn report_damaged(damaged: &table::Damaged, stack: u32) {
    for &q in damaged.blocks() {
        // SAFETY: a quarantined block, not given back yet.
        for c in unsafe { freed_corruptions(q) }.into_iter().flatten() {
            let stack = if c.stack == 0 { stack } else { c.stack };
            report_corruption(Corruption { stack, ..c });
        }
        // Not recycled: the damage may have reached its header.
        give_to_glibc(q);
    }
}

/// Describes where a pointer that is no block start points.
fn describe(addr: usize, e: &mut BadFree) {
    if let Some((live, b, free_stack)) = table::find_containing(addr) {
        e.place = if live {
            Place::InsideLive
        } else {
            Place::InsideFreed
        };
        e.block_start = b.ptr as u64;
        e.block_size = b.size as u64;
        e.alloc_stack = b.stack;
        e.free_stack = free_stack;
        return;
    }
    // On this thread's stack: between our frame and the top of the stack.
    let here = &addr as *const usize as usize;
    if addr >= here && addr < here + (8 << 20) && on_stack_mapping(addr, here) {
        e.place = Place::ThreadStack;
        e.tid = thread_no();
    }
}

/// Whether `addr` is in the same mapping as our stack pointer (cheap
/// approximation: no unmapped page between them).
fn on_stack_mapping(addr: usize, sp: usize) -> bool {
    let mut page = sp & !4095;
    let mut vec = 0u8;
    while page <= addr {
        // SAFETY: mincore only reports residency; ENOMEM means unmapped.
        let r = unsafe { libc::mincore(page as *mut c_void, 4096, &mut vec) };
        if r != 0 {
            return false;
        }
        page += 4096;
    }
    true
}

fn report(mut e: BadFree) {
    if guarded(|| ()).is_none() {
        // Inside the runtime itself: nothing sensible to report.
        return;
    }
    if e.tid == 0 {
        e.tid = thread_no();
    }
    out::burst(|| {
        out::ensure_modules();
        out::ensure_stack(e.stack);
        out::ensure_stack(e.alloc_stack);
        out::ensure_stack(e.free_stack);
        out::emit(|enc| enc.bad_free(&e));
        out::wait_ack();
    });
}

/// Reports a damaged redzone or poison.
pub fn report_corruption(c: Corruption) {
    if guarded(|| ()).is_none() {
        return;
    }
    out::burst(|| {
        out::ensure_modules();
        out::ensure_stack(c.stack);
        out::ensure_stack(c.alloc_stack);
        out::ensure_stack(c.free_stack);
        out::emit(|enc| enc.corruption(&c));
        out::wait_ack();
    });
}

/// Releases `p` for `free`, `delete` and their kin.
///
/// # Safety
/// Called from the deallocation entry points only: `p` is what the program
/// passed to them (null, a block of ours or glibc's, or a bad pointer,
/// which is reported), and `entry` is the entry point's address.
#[inline(always)]
unsafe fn release(p: *mut c_void, dealloc: Dealloc, entry: usize) {
    // SAFETY: forwarded.
    unsafe {
        if profile::on() {
            profile::release(p)
        } else {
            release_checked(p, dealloc, entry)
        }
    }
}

/// [`release`] under `memdx check`.
#[inline]
///
/// # Safety
/// Called from the deallocation entry points only: `p` is what the program
/// passed to them (null, a block of ours or glibc's, or a bad pointer,
/// which is reported), and `entry` is the entry point's address.
unsafe fn release_checked(p: *mut c_void, dealloc: Dealloc, entry: usize) {
    if p.is_null() {
        return;
    }
    let addr = p as usize;
    let td = tls::get();
    let stack = capture(td, entry);
    let mut damaged = table::Damaged::new();
    let r = if guard::contains(addr) {
        match guard::release(addr, stack) {
            guard::GuardRelease::Live(b, before, after) => {
                table::count_free();
                Release::Live(
                    b,
                    table::Damages {
                        before_start: before,
                        after_end: after,
                    },
                )
            }
            guard::GuardRelease::AlreadyFreed(f) => {
                table::count_free();
                Release::AlreadyFreed(f)
            }
            guard::GuardRelease::Unknown => {
                table::count_free();
                Release::Unknown
            }
        }
    } else {
        table::release(td, addr, stack, &mut damaged, &mut give_to_glibc)
    };
    // The common case: a live block released by its own deallocator, its
    // edges intact.
    let clean = match &r {
        Release::Live(b, d) => {
            let kind = AllocKind::from_u8(b.kind & !table::INTERNAL).unwrap_or(AllocKind::Malloc);
            *d == table::Damages::default()
                && (b.kind & table::INTERNAL != 0
                    || kind.matching_dealloc() == dealloc
                    || dealloc == Dealloc::Realloc)
        }
        _ => false,
    };
    if !clean {
        report_release(r, addr, dealloc, stack);
    }
    if !damaged.blocks().is_empty() {
        report_damaged(&damaged, stack);
    }
}

/// Reports what a release found wrong: damaged edges, a mismatched
/// deallocator, a double or invalid free.
#[cold]
#[inline(never)]
fn report_release(r: Release, addr: usize, dealloc: Dealloc, stack: u32) {
    match r {
        Release::Live(b, damage) => {
            let kind = AllocKind::from_u8(b.kind & !table::INTERNAL).unwrap_or(AllocKind::Malloc);
            let internal = b.kind & table::INTERNAL != 0;
            let edges = [
                (CorruptionKind::BeforeStart, damage.before_start),
                (CorruptionKind::AfterEnd, damage.after_end),
            ];
            for (ck, range) in edges {
                if let (Some((first, last)), false) = (range, internal) {
                    report_corruption(Corruption {
                        kind: ck,
                        block_start: b.ptr as u64,
                        block_size: b.size as u64,
                        first: first as u64,
                        last: last as u64,
                        stack,
                        alloc_stack: b.stack,
                        free_stack: 0,
                    });
                }
            }
            if !internal && kind.matching_dealloc() != dealloc && dealloc != Dealloc::Realloc {
                report(BadFree {
                    kind: BadFreeKind::Mismatched,
                    dealloc,
                    addr: addr as u64,
                    stack,
                    place: Place::InsideLive,
                    tid: 0,
                    block_start: b.ptr as u64,
                    block_size: b.size as u64,
                    alloc_stack: b.stack,
                    free_stack: 0,
                });
            }
        }
        Release::AlreadyFreed(f) => report(BadFree {
            kind: BadFreeKind::Invalid,
            dealloc,
            addr: addr as u64,
            stack,
            place: Place::InsideFreed,
            tid: 0,
            block_start: f.ptr as u64,
            block_size: f.size as u64,
            alloc_stack: f.alloc_stack,
            free_stack: f.free_stack,
        }),
        Release::Unknown => {
            let mut e = BadFree {
                kind: BadFreeKind::Invalid,
                dealloc,
                addr: addr as u64,
                stack,
                place: Place::Unknown,
                tid: 0,
                block_start: 0,
                block_size: 0,
                alloc_stack: 0,
                free_stack: 0,
            };
            describe(addr, &mut e);
            report(e);
        }
    }
}

/// Reports an allocation argument that is possibly negative (Valgrind's
/// "Argument 'size' of function malloc has a fishy (possibly negative)
/// value: -1"): `arg` 0 is `size`, 1 is `nmemb`. `entry` is the hook
/// called; the memalign family is named memalign, as Valgrind names it.
#[cold]
#[inline(never)]
fn fishy(entry: usize, arg: u64, value: usize) {
    let (func, shown) = if entry == (malloc as *const () as usize) {
        (Routine::AllocMalloc, entry)
    } else if entry == (calloc as *const () as usize) {
        (Routine::AllocCalloc, entry)
    } else if entry == (realloc as *const () as usize)
        || entry == (reallocarray as *const () as usize)
    {
        (Routine::AllocRealloc, (realloc as *const () as usize))
    } else if entry == posix_memalign as *const () as usize {
        (Routine::AllocMemalign, entry)
    } else if [
        (memalign as *const () as usize),
        (aligned_alloc as *const () as usize),
        (valloc as *const () as usize),
    ]
    .contains(&entry)
    {
        (Routine::AllocMemalign, (memalign as *const () as usize))
    } else if entry == (_Znwm as *const () as usize)
        || entry == (_ZnwmRKSt9nothrow_t as *const () as usize)
    {
        (Routine::AllocNew, entry)
    } else if entry == (_Znam as *const () as usize)
        || entry == (_ZnamRKSt9nothrow_t as *const () as usize)
    {
        (Routine::AllocNewArray, entry)
    } else {
        return; // aligned operator new: Valgrind's name for it not known
    };
    if !enter_runtime() {
        return;
    }
    let errno = sys::errno();
    let mut stack = stacks::capture(shown);
    if entry == posix_memalign as *const () as usize {
        // Valgrind's posix_memalign calls its memalign: a memalign frame
        // above posix_memalign's (shown less one, as return addresses are).
        stack = posix_memalign_stack(stack);
    }
    let a = Access {
        kind: AccessKind::FishyValue,
        func: Some(func),
        addr: value as u64,
        size: arg,
        tid: thread_no(),
        stack,
        ..Access::default()
    };
    access::send(&a);
    sys::set_errno(errno);
    leave_runtime();
}

/// `stack` (posix_memalign's, frame 0 its entry) with memalign's entry
/// above it, as Valgrind shows a fishy posix_memalign argument.
fn posix_memalign_stack(stack: u32) -> u32 {
    let Some(rec) = stacks::get(stack) else {
        return stack;
    };
    let want = stacks::NUM_CALLERS
        .load(Ordering::Relaxed)
        .clamp(2, stacks::CAPTURE);
    let mut frames = [0u64; stacks::CAPTURE];
    frames[0] = memalign as *const () as usize as u64;
    let n = (rec.n as usize).min(rec.frames.len());
    let mut k = 1;
    for (i, &f) in rec.frames.iter().take(n).enumerate() {
        if k == want {
            break;
        }
        // Frame 0 is an entry, not a return address: one past it.
        frames[k] = if i == 0 { f + 1 } else { f };
        k += 1;
    }
    stacks::intern(&frames[..k])
}

/// [`allocate`] without alignment.
///
/// # Safety
/// As [`allocate`].
unsafe fn alloc(size: usize, kind: AllocKind, entry: usize) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe { allocate(size, 0, false, kind, entry) }
}

/// [`allocate`] with an alignment.
///
/// # Safety
/// As [`allocate`].
unsafe fn aligned(align: usize, size: usize, kind: AllocKind, entry: usize) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe { allocate(size, align, false, kind, entry) }
}

/// Throws std::bad_alloc for a failed throwing `operator new`.
///
/// # Safety
/// Only from a throwing `operator new` called by C++ code (the exception
/// unwinds through the caller's frames).
unsafe fn throw_bad_alloc() -> ! {
    // SAFETY: dlsym with a static name; the function, when present, is
    // libstdc++'s `std::__throw_bad_alloc()`, which never returns.
    unsafe {
        // The lookup is the runtime's own work (dlsym may allocate).
        let entered = enter_runtime();
        let f = libc::dlsym(libc::RTLD_DEFAULT, c"_ZSt17__throw_bad_allocv".as_ptr());
        if entered {
            leave_runtime();
        }
        if !f.is_null() {
            let throw: extern "C-unwind" fn() -> ! = core::mem::transmute(f);
            throw();
        }
        libc::abort()
    }
}

macro_rules! entry {
    ($f:ident) => {
        $f as *const () as usize
    };
}

// ---- C allocator -------------------------------------------------------

/// malloc(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn malloc(size: size_t) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { alloc(size, AllocKind::Malloc, entry!(malloc)) }
}

/// free(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: forwarded contract.
    unsafe { release(p, Dealloc::Free, entry!(free)) }
}

/// calloc(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn calloc(n: size_t, size: size_t) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        // SAFETY: errno location is valid.
        unsafe { *libc::__errno_location() = libc::ENOMEM };
        return core::ptr::null_mut();
    };
    if (total as isize) < 0 && !tls::get().in_hook.get() {
        // Valgrind checks each argument when their product does not
        // overflow.
        let (arg, value) = if (n as isize) < 0 { (1, n) } else { (0, size) };
        if (value as isize) < 0 {
            fishy(entry!(calloc), arg, value);
        }
    }
    // SAFETY: forwarded.
    unsafe { allocate(total, 0, true, AllocKind::Malloc, entry!(calloc)) }
}

/// `realloc` (and `reallocarray`).
///
/// # Safety
/// `p` is what the program passed to `realloc` (as for [`release`]);
/// `entry` is the entry point's address.
unsafe fn realloc_impl(p: *mut c_void, size: usize, entry: usize) -> *mut c_void {
    if profile::on() {
        // SAFETY: forwarded.
        return unsafe { profile::realloc(p, size, entry) };
    }
    if p.is_null() {
        // Valgrind's realloc(NULL, n) is its malloc(n): a fishy size is
        // "of function malloc", frame 0 malloc (only the failing path
        // takes it: the stacks of blocks allocated so are unchanged).
        let entry = if (size as isize) < 0 && entry == realloc as *const () as usize {
            malloc as *const () as usize
        } else {
            entry
        };
        // SAFETY: forwarded.
        return unsafe { alloc(size, AllocKind::Malloc, entry) };
    }
    if size == 0 {
        // SAFETY: forwarded; glibc's realloc(p, 0) frees and returns NULL.
        unsafe { release(p, Dealloc::Realloc, entry) };
        return core::ptr::null_mut();
    }
    let addr = p as usize;
    let Some(old) = table::lookup(addr) else {
        // Freed or never allocated: report, leave memory alone, fail.
        table::count_failed_alloc(size);
        // SAFETY: forwarded; release() finds no live block and reports.
        unsafe { release(p, Dealloc::Realloc, entry) };
        return core::ptr::null_mut();
    };
    // Like Valgrind, always move: stale pointers into the old block then
    // point into a freed block.
    // SAFETY: a fresh block from our own malloc path.
    let q = unsafe { alloc(size, AllocKind::Malloc, entry) };
    if q.is_null() {
        return q;
    }
    // A watched block is opened for the copy (the runtime must not fault
    // on it); the new one is watched again after.
    guard::unwatch_range(addr, 1);
    let rewatch = guard::unwatch_range(q as usize, 1);
    // SAFETY: both blocks are at least min(old.size, size) long.
    unsafe { crate::strmem::raw_memcpy(q.cast::<u8>(), p as *const u8, old.size.min(size)) };
    if rewatch {
        guard::watch(q as usize);
    }
    // SAFETY: the old block is live; release() quarantines it.
    unsafe { release(p, Dealloc::Realloc, entry) };
    q
}

/// realloc(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: size_t) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { realloc_impl(p, size, entry!(realloc)) }
}

/// reallocarray(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: size_t, size: size_t) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        // SAFETY: errno location is valid.
        unsafe { *libc::__errno_location() = libc::ENOMEM };
        return core::ptr::null_mut();
    };
    // SAFETY: forwarded contract.
    unsafe { realloc_impl(p, total, entry!(reallocarray)) }
}

/// memalign(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memalign(align: size_t, size: size_t) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { aligned(align, size, AllocKind::Malloc, entry!(memalign)) }
}

/// aligned_alloc(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn aligned_alloc(align: size_t, size: size_t) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { aligned(align, size, AllocKind::Malloc, entry!(aligned_alloc)) }
}

/// posix_memalign(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn posix_memalign(
    out: *mut *mut c_void,
    align: size_t,
    size: size_t,
) -> c_int {
    if align == 0 || !align.is_power_of_two() || align % core::mem::size_of::<usize>() != 0 {
        return libc::EINVAL;
    }
    // SAFETY: forwarded contract.
    let p = unsafe { aligned(align, size, AllocKind::Malloc, entry!(posix_memalign)) };
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller passes a valid out pointer.
    unsafe { *out = p };
    0
}

/// valloc(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn valloc(size: size_t) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { aligned(4096, size, AllocKind::Malloc, entry!(valloc)) }
}

/// pvalloc(3)
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn pvalloc(size: size_t) -> *mut c_void {
    // A size within a page of SIZE_MAX cannot be rounded up: it fails like
    // glibc's pvalloc (round_page would wrap to 0 and allocate a block).
    let Some(rounded) = size.max(1).checked_add(4095).map(|s| s & !4095) else {
        // SAFETY: errno location is valid.
        unsafe { *libc::__errno_location() = libc::ENOMEM };
        return core::ptr::null_mut();
    };
    // SAFETY: forwarded contract.
    unsafe { aligned(4096, rounded, AllocKind::Malloc, entry!(pvalloc)) }
}

/// malloc_usable_size(3): the size asked for, as under Valgrind (using the
/// slack glibc leaves would hide overruns).
///
/// # Safety
/// C allocator contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> size_t {
    if profile::on() {
        return profile::usable_size(p);
    }
    if p.is_null() {
        return 0;
    }
    table::lookup(p as usize).map_or(0, |b| b.size)
}

// ---- C++ operators -----------------------------------------------------

macro_rules! op_new {
    ($name:ident, $kind:expr, throwing) => {
        /// A C++ `operator new` variant.
        ///
        /// # Safety
        /// C++ allocator contract.
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C-unwind" fn $name(size: size_t) -> *mut c_void {
            // SAFETY: forwarded contract.
            let p = unsafe { alloc(size, $kind, entry!($name)) };
            if p.is_null() {
                // SAFETY: throws std::bad_alloc or aborts.
                unsafe { throw_bad_alloc() }
            }
            p
        }
    };
    ($name:ident, $kind:expr, nothrow) => {
        /// A C++ `operator new(std::nothrow)` variant.
        ///
        /// # Safety
        /// C++ allocator contract.
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $name(size: size_t, _nt: *const c_void) -> *mut c_void {
            // SAFETY: forwarded contract.
            unsafe { alloc(size, $kind, entry!($name)) }
        }
    };
}

macro_rules! op_new_aligned {
    ($name:ident, $kind:expr, throwing) => {
        /// A C++ aligned `operator new` variant.
        ///
        /// # Safety
        /// C++ allocator contract.
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C-unwind" fn $name(size: size_t, align: size_t) -> *mut c_void {
            // SAFETY: forwarded contract.
            let p = unsafe { aligned(align, size, $kind, entry!($name)) };
            if p.is_null() {
                // SAFETY: throws std::bad_alloc or aborts.
                unsafe { throw_bad_alloc() }
            }
            p
        }
    };
    ($name:ident, $kind:expr, nothrow) => {
        /// A C++ aligned `operator new(std::nothrow)` variant.
        ///
        /// # Safety
        /// C++ allocator contract.
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $name(
            size: size_t,
            align: size_t,
            _nt: *const c_void,
        ) -> *mut c_void {
            // SAFETY: forwarded contract.
            unsafe { aligned(align, size, $kind, entry!($name)) }
        }
    };
}

op_new!(_Znwm, AllocKind::New, throwing);
op_new!(_Znam, AllocKind::NewArray, throwing);
op_new!(_ZnwmRKSt9nothrow_t, AllocKind::New, nothrow);
op_new!(_ZnamRKSt9nothrow_t, AllocKind::NewArray, nothrow);
op_new_aligned!(_ZnwmSt11align_val_t, AllocKind::New, throwing);
op_new_aligned!(_ZnamSt11align_val_t, AllocKind::NewArray, throwing);
op_new_aligned!(_ZnwmSt11align_val_tRKSt9nothrow_t, AllocKind::New, nothrow);
op_new_aligned!(
    _ZnamSt11align_val_tRKSt9nothrow_t,
    AllocKind::NewArray,
    nothrow
);

macro_rules! op_delete {
    ($name:ident, $dealloc:expr, ($($arg:ident: $ty:ty),*)) => {
        /// A C++ `operator delete` variant.
        ///
        /// # Safety
        /// C++ allocator contract.
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $name(p: *mut c_void $(, $arg: $ty)*) {
            $(let _ = $arg;)*
            // SAFETY: forwarded contract.
            unsafe { release(p, $dealloc, entry!($name)) }
        }
    };
}

op_delete!(_ZdlPv, Dealloc::Delete, ());
op_delete!(_ZdaPv, Dealloc::DeleteArray, ());
op_delete!(_ZdlPvm, Dealloc::Delete, (_size: size_t));
op_delete!(_ZdaPvm, Dealloc::DeleteArray, (_size: size_t));
op_delete!(_ZdlPvRKSt9nothrow_t, Dealloc::Delete, (_nt: *const c_void));
op_delete!(_ZdaPvRKSt9nothrow_t, Dealloc::DeleteArray, (_nt: *const c_void));
op_delete!(_ZdlPvSt11align_val_t, Dealloc::Delete, (_al: size_t));
op_delete!(_ZdaPvSt11align_val_t, Dealloc::DeleteArray, (_al: size_t));
op_delete!(_ZdlPvmSt11align_val_t, Dealloc::Delete, (_size: size_t, _al: size_t));
op_delete!(_ZdaPvmSt11align_val_t, Dealloc::DeleteArray, (_size: size_t, _al: size_t));
op_delete!(_ZdlPvSt11align_val_tRKSt9nothrow_t, Dealloc::Delete, (_al: size_t, _nt: *const c_void));
op_delete!(_ZdaPvSt11align_val_tRKSt9nothrow_t, Dealloc::DeleteArray, (_al: size_t, _nt: *const c_void));

// ---- process exit without destructors ------------------------------------

/// _exit(2): the report still runs (as under Valgrind), then the process ends.
///
/// # Safety
/// Never returns.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn _exit(status: c_int) -> ! {
    if profile::on() {
        profile::set_exit_status(status);
        profile::finish();
    } else {
        crate::report::final_report(None);
    }
    // SAFETY: exit_group ends the process.
    unsafe {
        libc::syscall(libc::SYS_exit_group, status);
    }
    loop {
        core::hint::spin_loop();
    }
}

/// _Exit(2): same as `_exit`.
///
/// # Safety
/// Never returns.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn _Exit(status: c_int) -> ! {
    // SAFETY: forwarded.
    unsafe { _exit(status) }
}
