//! Heap profiling mode (`memdx heap`): chosen by the CLI with `MEMDX_HEAP`
//! in the environment (`MEMDX_HEAP_SAMPLE=BYTES` for sampling).
//!
//! Allocations go straight to glibc (no header, redzone, guard page,
//! quarantine or leak scan); each one is recorded with its size, address,
//! interned stack id and a time-stamp counter reading into one of
//! [`SLOTS`] buffers in the runtime's private memory, picked by the thread
//! (threads that hash alike share a buffer under its lock). When a buffer
//! fills, all of them are swapped out at once under all their locks (a
//! consistent cut: a release is never sent before its allocation) and sent
//! to the CLI in one burst (`out::burst`, so no descriptor is held between
//! bursts); at exit the last burst ends with `HeapEnd`. The record layouts
//! are `memdx_events`' `HeapAlloc`/`HeapFree`.
//!
//! Sampling (`MEMDX_HEAP_SAMPLE=T`): a per-thread countdown of allocated
//! bytes drawn from an exponential distribution of mean `T` (a Poisson
//! process over allocated bytes, as tcmalloc and heapprofd do); a block
//! that holds a sample point is recorded, with probability
//! `1 - exp(-size/T)`, which the reader turns into an unbiased weight.
//! Blocks of `T` bytes or more are always recorded. Releases are recorded
//! only for sampled blocks, found in a small set (a counting filter in front of
//! a locked open-addressing table, so most releases cost one load).
//!
//! A fork child stops recording, unless `MEMDX_TRACE_CHILDREN=yes`
//! (`memdx heap --trace-children=yes`): then it drops the parent's
//! unsent records, forgets which stacks were sent, and starts a stream of
//! its own (the CLI writes it to a recording of its own); programs it
//! executes keep the runtime's variables and start their own streams.
//! Nothing here allocates through the interposed allocator, formats or
//! panics.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use libc::c_void;
use memdx_events::{heap_alloc_record, heap_free_record};

use crate::sys::{self, PrivatePtr, Racy, SpinGuard, SpinLock};
use crate::{out, stacks, tls};

const UNKNOWN: u8 = 0;
const CHECK: u8 = 1;
const HEAP: u8 = 2;

/// What every hook reads, in one cache line (a program that sweeps its
/// cache would otherwise make each of them a miss on every call).
#[repr(C, align(64))]
struct Hot {
    /// Which mode the runtime runs in, latched at the first hook call (or
    /// the constructor, whichever comes first).
    mode: AtomicU8,
    /// Whether records are kept (off before the constructor, in a fork
    /// child, after the last burst).
    recording: AtomicBool,
    /// Mean bytes between samples; 0: every allocation.
    interval: AtomicU64,
}

static HOT: Hot = Hot {
    mode: AtomicU8::new(UNKNOWN),
    recording: AtomicBool::new(false),
    interval: AtomicU64::new(0),
};
static MODE: &AtomicU8 = &HOT.mode;
static RECORDING: &AtomicBool = &HOT.recording;
static INTERVAL: &AtomicU64 = &HOT.interval;
static FINISHED: AtomicBool = AtomicBool::new(false);
/// The status the process passed to `exit`/`_exit` (`NO_STATUS`: none
/// yet), sent in the last burst.
static EXIT_STATUS: AtomicU64 = AtomicU64::new(NO_STATUS);
const NO_STATUS: u64 = u64::MAX;

/// Remembers the status the process is exiting with (`_exit`, or an
/// `on_exit` handler), for the last burst.
pub fn set_exit_status(status: i32) {
    EXIT_STATUS.store(status as u32 as u64, Ordering::Relaxed);
}

/// `MEMDX_TRACE_CHILDREN=yes`: fork children record into streams of their own.
static TRACE_CHILDREN: AtomicBool = AtomicBool::new(false);
/// glibc's malloc_usable_size (ours is exported under the name).
static REAL_USABLE: AtomicUsize = AtomicUsize::new(0);

/// Whether the runtime is known to check (`memdx check`): the hooks'
/// first compare.
#[inline(always)]
pub fn checking() -> bool {
    MODE.load(Ordering::Relaxed) == CHECK
}

/// Whether the runtime is known to profile (`memdx heap`; false while the
/// mode is not decided yet).
#[inline(always)]
pub fn profiling() -> bool {
    MODE.load(Ordering::Relaxed) == HEAP
}

/// Whether the runtime profiles (`memdx heap`) rather than checks.
#[inline(always)]
pub fn on() -> bool {
    // The checker's path first: one compare.
    let m = MODE.load(Ordering::Relaxed);
    if m == CHECK {
        return false;
    }
    m == HEAP || decide()
}

#[cold]
#[inline(never)]
fn decide() -> bool {
    let heap = sys::getenv(c"MEMDX_HEAP").is_some();
    MODE.store(if heap { HEAP } else { CHECK }, Ordering::Relaxed);
    heap
}

// ---- buffers -------------------------------------------------------------

/// Buffers (threads share one when their thread pointers hash alike).
const SLOTS: usize = 64;
/// Bytes per buffer.
const BUF: usize = 1 << 20;

struct Slot {
    lock: SpinLock,
    active: Racy<PrivatePtr<u8>>,
    spare: Racy<PrivatePtr<u8>>,
    len: Racy<usize>,
}

impl Slot {
    const fn new() -> Self {
        Slot {
            lock: SpinLock::new(),
            active: Racy::new(PrivatePtr::null()),
            spare: Racy::new(PrivatePtr::null()),
            len: Racy::new(0),
        }
    }
}

static SLOT_TABLE: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];
/// One flush at a time; taken before the slots' locks.
static FLUSH: SpinLock = SpinLock::new();
/// The thread pointer of the thread holding FLUSH (0: none).
static FLUSH_OWNER: AtomicUsize = AtomicUsize::new(0);

/// Whether this thread is inside a flush (a thread `memdx heap --pid`
/// stopped in the middle of one, waiting for the recorder: it must not
/// attach or detach, which flush too).
pub fn flushing_here() -> bool {
    FLUSH_OWNER.load(Ordering::Relaxed) == tls::thread_pointer()
}
/// The next stack id not sent yet.
static STACKS_SENT: AtomicU32 = AtomicU32::new(1);

#[inline(always)]
fn slot() -> &'static Slot {
    let h = (tls::thread_pointer() >> 12).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    &SLOT_TABLE[h >> (usize::BITS - 6)]
}

/// Appends one record to this thread's buffer, flushing every buffer when
/// it is full. The caller has set the re-entry flag and seen RECORDING
/// set (with acquire ordering): the buffers are mapped (`map_buffers`
/// runs before RECORDING is first set, and they are never unmapped).
#[inline(always)]
fn append<const N: usize>(rec: &[u8; N]) {
    let s = slot();
    loop {
        let held = s.lock.lock();
        // SAFETY: the slot's fields are only touched under its lock; the
        // buffer holds BUF bytes and is mapped (see above).
        unsafe {
            let len = *s.len.get();
            let buf = (*s.active.get()).get();
            if len + N <= BUF {
                // A fixed-size copy (inlined: no call to the exported,
                // checked memcpy).
                *buf.add(len).cast::<[u8; N]>() = *rec;
                *s.len.get() = len + N;
                return;
            }
        }
        drop(held);
        if !RECORDING.load(Ordering::Relaxed) || !flush(false) {
            return;
        }
    }
}

/// Sends every buffer in one burst (`last`: the process's final burst,
/// ended by `HeapEnd`). False when there is nowhere to send.
fn flush(last: bool) -> bool {
    let flushing = FLUSH.lock();
    FLUSH_OWNER.store(tls::thread_pointer(), Ordering::Relaxed);
    let mut taken = [(core::ptr::null_mut::<u8>(), 0usize); SLOTS];
    let slots = lock_slots();
    for (s, t) in SLOT_TABLE.iter().zip(taken.iter_mut()) {
        // SAFETY: under every slot's lock.
        unsafe {
            let len = *s.len.get();
            if len > 0 {
                core::ptr::swap(s.active.get(), s.spare.get());
                *t = ((*s.spare.get()).get(), len);
                *s.len.get() = 0;
            }
        }
    }
    drop(slots);
    // glibc's own view of its heap, for the report's "heap beside RSS".
    // No thread waits for our locks while holding an arena's: the hooks
    // record after glibc's allocation returns and before its release.
    // SAFETY: mallinfo2 has no preconditions (it takes the arenas' locks).
    let mi = unsafe { libc::mallinfo2() };
    let held = (mi.arena + mi.hblkhd) as u64;
    let in_use = (mi.uordblks + mi.hblkhd) as u64;
    out::burst(|| {
        out::emit(|e| {
            e.heap_clock(now(), monotonic_ns());
            e.heap_mallinfo(held, in_use);
        });
        out::ensure_modules();
        let upto = stacks::next_id();
        for id in STACKS_SENT.load(Ordering::Relaxed)..upto {
            out::ensure_stack(id);
        }
        STACKS_SENT.store(upto, Ordering::Relaxed);
        for &(p, len) in &taken {
            if len > 0 {
                // SAFETY: the spare buffer holds `len` bytes of records and
                // is ours until the next flush (under FLUSH).
                out::emit_raw(unsafe { core::slice::from_raw_parts(p, len) });
            }
        }
        if last {
            let status = EXIT_STATUS.load(Ordering::Relaxed);
            out::emit(|e| {
                if status != NO_STATUS {
                    e.heap_exit_status(status as u32 as i32);
                }
                e.heap_end()
            });
        }
    });
    FLUSH_OWNER.store(0, Ordering::Relaxed);
    drop(flushing);
    if out::take_lost() && crate::attach::loaded_late() {
        // `memdx heap --pid` died: the slots go back to the C library.
        crate::attach::connection_lost();
    }
    true
}

/// Every slot's lock, released when the array is dropped.
fn lock_slots() -> [SpinGuard<'static>; SLOTS] {
    core::array::from_fn(|i| SLOT_TABLE[i].lock.lock())
}

// ---- time ----------------------------------------------------------------

/// The time-stamp counter (invariant and synchronized across cores on the
/// x86-64 machines memdx supports); the CLI converts it with the
/// `HeapClock` records.
#[inline(always)]
fn now() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: rdtsc has no preconditions.
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    monotonic_ns()
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

mod sampling;
pub use sampling::unsampled;
use sampling::wanted;

/// The sampled blocks still live (sampling mode only).
mod live_samples;

/// The program's own mappings (`mmap`/`munmap`/`mremap`).
mod maps;
pub use maps::{mapped, unmapped};

// ---- the hooks' profiling paths ----------------------------------------------

/// Records a fresh block `p` of `size` bytes.
#[inline(never)]
fn record_alloc(p: *mut c_void, size: usize, entry: usize) {
    let td = tls::get();
    if p.is_null() || td.in_hook.get() || !RECORDING.load(Ordering::Acquire) {
        return;
    }
    let stack = stacks::capture_on(td, entry);
    let time = now();
    td.in_hook.set(true);
    if INTERVAL.load(Ordering::Relaxed) == 0 || live_samples::insert(p as usize) {
        append(&heap_alloc_record(p as u64, size as u64, stack, time));
    }
    td.in_hook.set(false);
}

/// Records the release of `p` (before glibc gets it back).
#[inline(always)]
fn on_free(p: *mut c_void) {
    if INTERVAL.load(Ordering::Relaxed) != 0 && !live_samples::maybe_sampled(p as usize) {
        return;
    }
    record_free(p);
}

/// Inlined: `release` is its one hot caller (no frame of its own, no
/// call; about 15 instructions per release, bench/NOTES.md).
#[inline(always)]
fn record_free(p: *mut c_void) {
    let td = tls::get();
    if td.in_hook.get() || !RECORDING.load(Ordering::Acquire) {
        return;
    }
    if INTERVAL.load(Ordering::Relaxed) != 0 && !live_samples::remove(p as usize) {
        return;
    }
    let time = now();
    td.in_hook.set(true);
    append(&heap_free_record(p as u64, time));
    td.in_hook.set(false);
}

/// Allocates through glibc (`align` 0 or up to 16: plain; `zero`: calloc)
/// and records the block when it is wanted. The hooks call it after
/// [`unsampled`] said no (sampling's common case, no sample point in the
/// block, never gets here: the exported hook tail-calls glibc itself).
///
/// `extern "C"` (it never unwinds) so that the hooks reach it with a tail
/// call.
///
/// # Safety
/// The C allocator contract.
#[inline(never)]
pub unsafe extern "C" fn allocate(
    size: usize,
    align: usize,
    zero: bool,
    entry: usize,
) -> *mut c_void {
    let record = wanted(size);
    // SAFETY: forwarded.
    let p = unsafe { raw_allocate(size, align, zero) };
    if record {
        record_alloc(p, size, entry);
    }
    p
}

/// glibc's allocator for the request.
///
/// # Safety
/// The C allocator contract.
#[inline(always)]
pub unsafe fn raw_allocate(size: usize, align: usize, zero: bool) -> *mut c_void {
    // SAFETY: glibc's allocator with the caller's arguments.
    unsafe {
        if align > 16 {
            sys::__libc_memalign(align, size)
        } else if zero {
            sys::__libc_calloc(1, size)
        } else {
            sys::__libc_malloc(size)
        }
    }
}

/// Whether sampling is on and `p` is certainly not a sampled block (then
/// its release goes straight to glibc: one load of a counting filter).
/// Never calls anything.
#[inline(always)]
pub fn unsampled_release(p: *mut c_void) -> bool {
    INTERVAL.load(Ordering::Relaxed) != 0 && !live_samples::maybe_sampled(p as usize)
}

/// Releases through glibc and records the release when it is wanted
/// (`extern "C"`: it never unwinds, so the hooks reach it with a tail
/// call). The hooks call it after [`unsampled_release`] said no.
///
/// # Safety
/// The C allocator contract.
#[inline(never)]
pub unsafe extern "C" fn release(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    record_free(p);
    // SAFETY: the program's block, given back as natively.
    unsafe { sys::__libc_free(p) };
}

/// realloc through glibc: a release of the old block and an allocation of
/// the new one.
///
/// # Safety
/// The C allocator contract.
pub unsafe fn realloc(p: *mut c_void, size: usize, entry: usize) -> *mut c_void {
    if p.is_null() {
        // SAFETY: forwarded.
        return unsafe { allocate(size, 0, false, entry) };
    }
    // Recorded before glibc may hand the old address to another thread.
    on_free(p);
    // SAFETY: the program's block, as natively.
    let q = unsafe { sys::__libc_realloc(p, size) };
    if q.is_null() && size != 0 {
        // The old block is still the program's: recorded again (its size
        // as glibc knows it; the request's is not kept).
        if wanted(size) {
            record_alloc(p, usable_size(p), entry);
        }
        return q;
    }
    if wanted(size) {
        record_alloc(q, size, entry);
    }
    q
}

/// glibc's malloc_usable_size.
pub fn usable_size(p: *mut c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    let f = REAL_USABLE.load(Ordering::Relaxed);
    if f != 0 {
        // SAFETY: glibc's malloc_usable_size, found by dlsym.
        let f: unsafe extern "C" fn(*mut c_void) -> usize = unsafe { core::mem::transmute(f) };
        // SAFETY: the program's block.
        return unsafe { f(p) };
    }
    // glibc's chunk layout: the size word (flags in its low bits) just
    // before the block; an mmapped chunk has one more word of overhead.
    // SAFETY: p is a glibc block.
    let word = unsafe { *(p as *const usize).sub(1) };
    (word & !7).saturating_sub(if word & 2 != 0 { 16 } else { 8 })
}

// ---- start, fork, exit ---------------------------------------------------------

/// The constructor's work in profiling mode: set up stack capture, the
/// buffers and the stream, and start recording.
pub fn init() {
    crate::strmem::init();
    if let Some(n) = sys::getenv(c"MEMDX_NUM_CALLERS").and_then(sys::parse_usize) {
        stacks::NUM_CALLERS.store(n.clamp(1, stacks::CAPTURE), Ordering::Relaxed);
    }
    if let Some(t) = sys::getenv(c"MEMDX_HEAP_SAMPLE").and_then(sys::parse_usize) {
        INTERVAL.store(t as u64, Ordering::Relaxed);
    }
    tls::init_fast_path(crate::init::preloaded());
    prepare();
    crate::threads::init();
    let Some(path) = sys::getenv(c"MEMDX_EVENTS_SOCK") else {
        return;
    };
    if !map_buffers() {
        return;
    }
    out::configure(path);
    start_stream();
    if sys::getenv(c"MEMDX_TRACE_CHILDREN") == Some(b"yes") {
        TRACE_CHILDREN.store(true, Ordering::Relaxed);
    } else {
        sys::remove_env(&[
            c"LD_PRELOAD",
            c"MEMDX_EVENTS_SOCK",
            c"MEMDX_NUM_CALLERS",
            c"MEMDX_HEAP",
            c"MEMDX_HEAP_SAMPLE",
            c"MEMDX_TRACE_CHILDREN",
        ]);
    }
    // SAFETY: registering plain C callbacks.
    unsafe { libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child)) };
    RECORDING.store(true, Ordering::Release);
}

/// Stack capture and glibc's `malloc_usable_size`, for either start.
fn prepare() {
    let (lo, hi) = out::self_range(init as *const () as usize);
    stacks::SELF_LO.store(lo, Ordering::Relaxed);
    stacks::SELF_HI.store(hi, Ordering::Relaxed);
    let mut warm = [core::ptr::null_mut(); 4];
    // SAFETY: 4-entry buffer; loads the unwinder now, not inside a hook.
    unsafe { sys::backtrace(warm.as_mut_ptr(), 4) };
    stacks::CAPTURE_ON.store(true, Ordering::Release);
    // SAFETY: dlsym with a static name.
    let usable = unsafe { libc::dlsym(libc::RTLD_NEXT, c"malloc_usable_size".as_ptr()) };
    REAL_USABLE.store(usable as usize, Ordering::Relaxed);
}

/// Maps the buffers (once); false when there is no memory for them.
fn map_buffers() -> bool {
    // SAFETY: the slots' pointers are set once, before recording starts.
    if !unsafe { *SLOT_TABLE[0].active.get() }.is_null() {
        return true;
    }
    let mem = sys::map_private_noreserve(SLOTS * 2 * BUF);
    if mem.is_null() {
        return false;
    }
    for (i, s) in SLOT_TABLE.iter().enumerate() {
        // SAFETY: before recording starts (no hook appends); mem holds
        // 2 * SLOTS buffers.
        unsafe {
            *s.active.get() = PrivatePtr::new(mem.add(2 * i * BUF));
            *s.spare.get() = PrivatePtr::new(mem.add((2 * i + 1) * BUF));
        }
    }
    true
}

/// The stream's first burst: the start record, a clock reading, modules.
fn start_stream() {
    let interval = INTERVAL.load(Ordering::Relaxed);
    out::burst(|| {
        out::emit(|e| {
            e.heap_start(interval);
            e.heap_clock(now(), monotonic_ns());
        });
        out::ensure_modules();
    });
}

/// Why [`attach`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachRefused {
    /// The runtime already checks or profiles this process (it was started
    /// under `memdx check` or `memdx heap`).
    AlreadyUnderMemdx,
    /// Another `memdx heap --pid` is attached.
    AlreadyAttached,
    /// No memory for the buffers.
    NoMemory,
}

/// `memdx heap --pid`: starts recording in a running process into which
/// the runtime was loaded late (see `attach`): the stream goes to `sock`;
/// `interval` as `MEMDX_HEAP_SAMPLE`. A second attach after a detach
/// starts a new stream (stacks and modules sent again). The allocator
/// calls reach the hooks only once the caller has redirected them.
pub fn attach(sock: &[u8], interval: u64, num_callers: usize) -> Result<(), AttachRefused> {
    match MODE.load(Ordering::Relaxed) {
        CHECK => return Err(AttachRefused::AlreadyUnderMemdx),
        HEAP if !crate::attach::loaded_late() => return Err(AttachRefused::AlreadyUnderMemdx),
        _ => {}
    }
    if RECORDING.load(Ordering::Acquire) {
        return Err(AttachRefused::AlreadyAttached);
    }
    MODE.store(HEAP, Ordering::Relaxed);
    stacks::NUM_CALLERS.store(num_callers.clamp(1, stacks::CAPTURE), Ordering::Relaxed);
    INTERVAL.store(interval, Ordering::Relaxed);
    tls::init_fast_path(false);
    prepare();
    if !map_buffers() {
        return Err(AttachRefused::NoMemory);
    }
    {
        let _flushing = FLUSH.lock();
        for s in &SLOT_TABLE {
            let _held = s.lock.lock();
            // SAFETY: under the slot's lock; records of an earlier attach
            // that came after its last burst are dropped.
            unsafe { *s.len.get() = 0 };
        }
    }
    live_samples::clear();
    stacks::reset_emitted();
    STACKS_SENT.store(1, Ordering::Relaxed);
    FINISHED.store(false, Ordering::Relaxed);
    EXIT_STATUS.store(NO_STATUS, Ordering::Relaxed);
    out::configure(sock);
    out::restart();
    start_stream();
    if !ATFORK.swap(true, Ordering::Relaxed) {
        // SAFETY: registering plain C callbacks.
        unsafe { libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child)) };
    }
    RECORDING.store(true, Ordering::Release);
    Ok(())
}

/// Whether the fork handlers are registered (once per process).
static ATFORK: AtomicBool = AtomicBool::new(false);

/// `memdx heap --pid` detaches (the allocator calls already go to glibc
/// again): the last burst, then recording stops, and the buffers' pages
/// go back to the kernel (the mapping stays for a later attach; a hook
/// still appending meanwhile writes to a fresh zero page, dropped at the
/// next attach).
pub fn detach() {
    finish();
    for s in &SLOT_TABLE {
        // SAFETY: the slot's buffers are BUF bytes of the runtime's own
        // anonymous private mapping (or null before the first attach).
        unsafe {
            for p in [(*s.active.get()).get(), (*s.spare.get()).get()] {
                if !p.is_null() {
                    libc::madvise(p.cast(), BUF, libc::MADV_DONTNEED);
                }
            }
        }
    }
}

/// The locks the fork handlers hold across `fork`, in the order `flush`
/// takes them: FLUSH, the slots, bursts, the stack interner. Fields drop
/// in declaration order, so the last taken is released first.
struct ForkLocks {
    _stacks: SpinGuard<'static>,
    _bursts: SpinGuard<'static>,
    _slots: [SpinGuard<'static>; SLOTS],
    _flush: SpinGuard<'static>,
}

/// Held from `fork_prepare` to `fork_parent`/`fork_child` (by the forking
/// thread: a second fork waits in `fork_prepare` for FLUSH).
static FORK_LOCKS: Racy<Option<ForkLocks>> = Racy::new(None);

extern "C" fn fork_prepare() {
    let flush = FLUSH.lock();
    let slots = lock_slots();
    let bursts = out::lock_bursts();
    let stacks = stacks::lock();
    // SAFETY: only the thread holding every lock above touches FORK_LOCKS.
    unsafe {
        *FORK_LOCKS.get() = Some(ForkLocks {
            _stacks: stacks,
            _bursts: bursts,
            _slots: slots,
            _flush: flush,
        })
    };
}

extern "C" fn fork_parent() {
    // SAFETY: the forking thread holds every lock (fork_prepare).
    drop(unsafe { (*FORK_LOCKS.get()).take() });
}

extern "C" fn fork_child() {
    let was_recording = RECORDING.swap(false, Ordering::AcqRel);
    // SAFETY: the child's only thread is the one that forked, which holds
    // every lock the guards stand for.
    drop(unsafe { (*FORK_LOCKS.get()).take() });
    FLUSH_OWNER.store(0, Ordering::Relaxed);
    // SAFETY: a fork child, before anything else runs in it.
    unsafe {
        stacks::reset_lock_in_child();
        live_samples::reset_lock();
        out::reset_in_child();
    }
    if !was_recording || !TRACE_CHILDREN.load(Ordering::Relaxed) || FINISHED.load(Ordering::Relaxed)
    {
        return;
    }
    // A stream of the child's own: the parent's unsent records are the
    // parent's (it sends them), the parent's blocks are not in the child's
    // recording (their releases are dropped by the CLI as unknown).
    for s in &SLOT_TABLE {
        // SAFETY: the only thread of the child, recording off.
        unsafe { *s.len.get() = 0 };
    }
    live_samples::clear();
    stacks::reset_emitted();
    STACKS_SENT.store(1, Ordering::Relaxed);
    out::restart();
    start_stream();
    RECORDING.store(true, Ordering::Release);
}

/// The process ends (ELF destructor, `_exit`): the last burst.
pub fn finish() {
    if FINISHED.swap(true, Ordering::AcqRel) || !RECORDING.load(Ordering::Acquire) {
        return;
    }
    let td = tls::get();
    let entered = !td.in_hook.replace(true);
    flush(true);
    RECORDING.store(false, Ordering::Release);
    if entered {
        td.in_hook.set(false);
    }
}
