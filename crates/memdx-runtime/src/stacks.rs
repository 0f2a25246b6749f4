//! Stack capture and interning: return addresses only, deduplicated by hash
//! into ids that the event stream refers to. Stacks live in private memory
//! and are never freed.

use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use crate::stack_cache;
use crate::sys::{self, PrivatePtr, Racy, SpinGuard, SpinLock};

/// Frames captured at most (before the `--num-callers` cut).
pub const CAPTURE: usize = 64;

/// `--num-callers`, frame 0 (the allocator entry point) included.
pub static NUM_CALLERS: AtomicUsize = AtomicUsize::new(12);
/// The runtime's own code range; frames inside it are dropped.
pub static SELF_LO: AtomicUsize = AtomicUsize::new(0);
pub static SELF_HI: AtomicUsize = AtomicUsize::new(0);
/// Stack capture is off until the constructor ran (glibc's unwinder is
/// loaded lazily and must not be first touched inside an early malloc).
pub static CAPTURE_ON: AtomicBool = AtomicBool::new(false);

#[repr(C)]
pub struct StackRec {
    pub hash: u64,
    pub id: u32,
    pub n: u32,
    pub emitted: AtomicBool,
    pub frames: [u64; CAPTURE],
}

const BUCKETS: usize = 1 << 16;
/// Stack records are carved from chunks this big (pages are touched lazily).
const ARENA_CHUNK: usize = 16 << 20;
const ID_CHUNK: usize = 1 << 16;
const ID_CHUNKS: usize = 1024;

/// Where new records are carved from (under LOCK).
struct Interner {
    arena: PrivatePtr<u8>,
    arena_left: usize,
}

/// Taken to add a stack (and by the fork and end-of-process handlers);
/// looking one up takes no lock: a record is complete before it is
/// published (the store of its bucket's head, Release), and never changes
/// or goes away after, so a capture that finds its stack interned (most
/// of them) does not wait for the threads interning others.
static LOCK: SpinLock = SpinLock::new();
static INTERNER: Racy<Interner> = Racy::new(Interner {
    arena: PrivatePtr::null(),
    arena_left: 0,
});
/// Chained hash buckets (BUCKETS heads: the newest record of each chain),
/// null until the first stack.
static HEADS: AtomicPtr<AtomicPtr<StackRec>> = AtomicPtr::new(core::ptr::null_mut());
/// id -> (record, next record of its chain), in chunks of ID_CHUNK pairs.
static BY_ID: [AtomicPtr<AtomicPtr<StackRec>>; ID_CHUNKS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; ID_CHUNKS];
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

pub fn lock() -> SpinGuard<'static> {
    LOCK.lock()
}

extern "C" {
    fn _Unwind_Backtrace(
        cb: extern "C" fn(*mut libc::c_void, *mut libc::c_void) -> libc::c_int,
        arg: *mut libc::c_void,
    ) -> libc::c_int;
    fn _Unwind_GetIP(ctx: *mut libc::c_void) -> usize;
    fn _Unwind_GetCFA(ctx: *mut libc::c_void) -> usize;
}

/// Where libgcc's callback puts one unwound stack: return addresses of the
/// program's frames and the stack slots they were read from, at most
/// `want` of each (both buffers hold that many).
struct Unwound<'a> {
    n: usize,
    ras: &'a mut [usize],
    slots: &'a mut [usize],
    want: usize,
    lo: usize,
    hi: usize,
}

extern "C" fn unwind_cb(ctx: *mut libc::c_void, arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: the unwinder passes a live context; arg is our Unwound.
    let u = unsafe { &mut *arg.cast::<Unwound<'_>>() };
    // SAFETY: ctx is valid for the duration of the callback.
    let (ip, cfa) = unsafe { (_Unwind_GetIP(ctx), _Unwind_GetCFA(ctx)) };
    // In the callback, the CFA is that of the frame `ip` returns from: the
    // call that pushed `ip` left it just below that CFA.
    let slot = cfa.wrapping_sub(8);
    if ip == 0 {
        return 5; // _URC_END_OF_STACK
    }
    if ip >= u.lo && ip < u.hi {
        return 0; // the runtime's own frame
    }
    if u.n >= u.want {
        return 5;
    }
    match (u.ras.get_mut(u.n), u.slots.get_mut(u.n)) {
        (Some(r), Some(s)) => {
            *r = ip;
            *s = slot;
        }
        _ => return 5,
    }
    u.n += 1;
    0
}

/// Unwinds the caller's stack with libgcc (see [`Unwound`]); returns the
/// number of frames kept.
fn libgcc_backtrace(ras: &mut [usize], slots: &mut [usize], want: usize) -> usize {
    let mut u = Unwound {
        n: 0,
        ras,
        slots,
        want,
        lo: SELF_LO.load(Ordering::Relaxed),
        hi: SELF_HI.load(Ordering::Relaxed),
    };
    // SAFETY: the callback only reads the context and writes `u`.
    unsafe { _Unwind_Backtrace(unwind_cb, (&mut u as *mut Unwound<'_>).cast()) };
    u.n
}

/// Captures the current stack with `entry` (the interposed function's
/// address) as frame 0 and returns its id, or 0 when capture is off.
///
/// The common case is a hit in this thread's stack cache (see
/// `stack_cache`): the entry that answered this entry point last, whose
/// stack slots still hold the same return addresses (same call chain,
/// same stack depth): a few loads and compares, kept apart from the miss
/// path (the cache's other entries, then unwinding and interning).
/// Inlined into the hooks: the anchor is then a slot of the hook's own
/// frame, as fixed for a given call depth as one of ours would be.
#[inline(always)]
pub fn capture(entry: usize) -> u32 {
    capture_on(crate::tls::get(), entry)
}

/// [`capture`], then `inner` inserted as frame 1 when not 0 (a return
/// address inside the C library function that called the reporting
/// routine or system call wrapper: Valgrind's replacement runs below
/// glibc's caller, which the runtime's hook stands in for), the callers
/// after it, `--num-callers` frames in all. Only when an error is
/// reported (it interns a second stack).
#[inline(always)]
pub fn capture_with_inner(entry: usize, inner: usize) -> u32 {
    let id = capture(entry);
    if inner == 0 {
        return id;
    }
    let Some(rec) = get(id) else {
        return id;
    };
    let want = NUM_CALLERS.load(Ordering::Relaxed).clamp(2, CAPTURE);
    let mut frames = [0u64; CAPTURE];
    let n = (rec.n as usize).min(rec.frames.len());
    let mut k = 0;
    for (i, &f) in rec.frames.iter().take(n).enumerate() {
        if k == want {
            break;
        }
        frames[k] = f;
        k += 1;
        if i == 0 && k < want {
            frames[k] = inner as u64;
            k += 1;
        }
    }
    intern(frames.get(..k).unwrap_or(&[]))
}

/// [`capture`] with this thread's data already at hand (the hooks pass it
/// along: the compiler cannot tell that the thread-data address stays the
/// same across their stores, and would compute it again).
#[inline(always)]
pub fn capture_on(td: &crate::tls::ThreadData, entry: usize) -> u32 {
    if !CAPTURE_ON.load(Ordering::Relaxed) {
        return 0;
    }
    let anchor = stack_pointer();
    let way = stack_cache::mru_way(entry);
    let e = td.stack_mru[way].get();
    // SAFETY: an entry of this thread's cache (null until one answered;
    // nulled before the cache is unmapped). Only the miss path writes
    // entries, with the re-entry flag set; a signal handler that allocates
    // while this reads can still rewrite it (its own capture missed), and
    // at worst this capture then answers with its stack: every slot read
    // is in this thread's stacks, mapped while it runs.
    if let Some(e) = unsafe { e.as_ref() } {
        if e.entry == entry && e.anchor == anchor && e.id != 0 && e.frames_hold() {
            return e.id;
        }
    }
    // The walk starts in this frame (the hook's: this function is inlined
    // into it), not in the miss path's own frames below it, which it would
    // only unwind and drop.
    capture_slow(entry, anchor, way, crate::unwind::here())
}

/// The stack pointer: the anchor of a capture inlined into a hook, as
/// fixed for a given call depth as the hook's frame.
#[inline(always)]
fn stack_pointer() -> usize {
    let sp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads a register.
    unsafe {
        core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(not(target_arch = "x86_64"))]
    {
        let anchor_local = 0u8;
        sp = core::hint::black_box(&anchor_local) as *const u8 as usize;
    }
    sp
}

/// A miss of the entry that answered last: the rest of the cache, else
/// unwinding and interning (which refills an entry), with the re-entry
/// flag set (the unwinder may allocate: loading libgcc_s, its frame
/// caches).
#[cold]
#[inline(never)]
fn capture_slow(entry: usize, anchor: usize, way: usize, start: crate::unwind::Regs) -> u32 {
    let td = crate::tls::get();
    let was_in_hook = td.in_hook.replace(true);
    let want = NUM_CALLERS.load(Ordering::Relaxed).clamp(1, CAPTURE) - 1;
    let id = match stack_cache::of_thread(td, want) {
        Some(cache) => {
            // While searches do not pay, the stack is still cached (a
            // few stores): the sets warm up, and the next judgement can
            // see searches pay.
            let quick = cache.quick(entry, anchor);
            let (q, stale) = (quick.index, quick.stale);
            let quick = quick.hit.map(|e| (e as *const stack_cache::Entry, e.id));
            let guess = match quick {
                Some(_) => None,
                None => cache.guess(entry, anchor),
            };
            let found = match (quick, guess) {
                (Some(hit), _) => Some(hit),
                (None, Some(g)) if cache.use_sets() => {
                    let hit = cache.find(g, entry, anchor).map(|e| {
                        let id = e.id;
                        (e as *const stack_cache::Entry, id)
                    });
                    if let (Some((e, _)), Some(q)) = (hit, q) {
                        cache.set_quick(q, e);
                        if stale {
                            // Stacks that share their first return
                            // address: the sets tell them apart.
                            cache.quick_fails(entry, anchor);
                        }
                    }
                    hit
                }
                _ => None,
            };
            let (e, id) = match found {
                Some(hit) => hit,
                None => unwind_into_cache(cache, entry, anchor, guess.unwrap_or(0), want, start),
            };
            td.stack_mru[way].set(e);
            id
        }
        None => {
            let mut ras = [0usize; CAPTURE];
            let mut slots = [0usize; CAPTURE];
            unwind_and_intern(entry, &mut ras, &mut slots, want, start).0
        }
    };
    td.in_hook.set(was_in_hook);
    id
}

/// Unwinds and interns the stack straight into an entry of the cache (no
/// kilobyte copies: the runtime's own memcpy and memset are the checked
/// ones). Returns the entry (unused when its slots cannot be validated)
/// and the stack's id.
fn unwind_into_cache(
    cache: &mut stack_cache::Cache,
    entry: usize,
    anchor: usize,
    guess: u64,
    want: usize,
    start: crate::unwind::Regs,
) -> (*const stack_cache::Entry, u32) {
    let e = cache.victim(guess);
    // SAFETY: an entry of this thread's cache, not re-entered (the
    // re-entry flag is set: a signal handler's allocation does not
    // capture).
    let (ras, slots) = unsafe { (*e).arrays_mut() };
    let (id, n, cacheable) = unwind_and_intern(entry, ras, slots, want, start);
    let e = cache.settle(e, entry, anchor, guess, n, cacheable.then_some(id));
    (e, id)
}

/// Unwinds this thread's stack from `start` into `ras`/`slots` (at most
/// `want` frames, both at least that long) and interns it with `entry` as
/// frame 0. Returns its id, the frames kept and whether every slot is
/// known (the stack can then be validated later by its slots).
fn unwind_and_intern(
    entry: usize,
    ras: &mut [usize],
    slots: &mut [usize],
    want: usize,
    start: crate::unwind::Regs,
) -> (u32, usize, bool) {
    let fast = crate::unwind::backtrace_from(
        start,
        crate::unwind::Frames {
            ras: &mut *ras,
            slots: &mut *slots,
        },
        want,
        SELF_LO.load(Ordering::Relaxed),
        SELF_HI.load(Ordering::Relaxed),
    );
    let mut checked_slots = false;
    let n = match fast {
        Some(n) => {
            // Its slots are CFAs of frames above this one: all valid.
            checked_slots = true;
            if crate::unwind::verify() {
                let n = n.min(ras.len()).min(slots.len());
                verify_against_libgcc(&ras[..n], &slots[..n], want);
            }
            n
        }
        None => {
            crate::unwind::count_fallback();
            libgcc_backtrace(ras, slots, want)
        }
    };
    let n = n.min(CAPTURE - 1).min(ras.len());
    let id = intern_with_entry(entry as u64, ras.get(..n).unwrap_or(&[]));
    // Only frames whose slot is known can be validated; a frame found
    // without a callee CFA (slot 0 - 8) disables caching.
    let cacheable = checked_slots
        || slots
            .iter()
            .take(n)
            .all(|&s| s > 4096 && s < usize::MAX - 4096);
    (id, n, cacheable)
}

/// The return addresses of a walk of this thread's stack.
struct Walk {
    n: usize,
    ips: [usize; CAPTURE],
}

extern "C" fn walk_cb(ctx: *mut libc::c_void, arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: the unwinder passes a live context; arg is our Walk.
    let w = unsafe { &mut *arg.cast::<Walk>() };
    // SAFETY: ctx is valid for the duration of the callback.
    let ip = unsafe { _Unwind_GetIP(ctx) };
    match w.ips.get_mut(w.n) {
        Some(slot) if ip != 0 => {
            *slot = ip;
            w.n += 1;
            0
        }
        _ => 5, // _URC_END_OF_STACK
    }
}

extern "C" fn walk(arg: *mut libc::c_void) {
    // SAFETY: the callback only writes the Walk behind `arg`.
    unsafe { _Unwind_Backtrace(walk_cb, arg) };
}

/// Walks this thread's stack through the signal frame without trusting
/// it: the unwinder reads the interrupted code and stack, which a program
/// dying of a smashed stack or a jump to a wild address has left garbage.
/// A fault ends the walk (see `catch`) with the frames found so far.
fn walk_fault_tolerant() -> Walk {
    let mut w = Walk {
        n: 0,
        ips: [0; CAPTURE],
    };
    crate::catch::try_call(walk, (&mut w as *mut Walk).cast());
    w
}

/// `MEMDX_UNWIND_VERIFY`: unwinds again with libgcc and reports any
/// difference in frames or slots.
#[inline(never)]
fn verify_against_libgcc(ras: &[usize], slots: &[usize], want: usize) {
    let mut theirs_ras = [0usize; CAPTURE];
    let mut theirs_slots = [0usize; CAPTURE];
    let n = libgcc_backtrace(&mut theirs_ras, &mut theirs_slots, want);
    let b = theirs_ras.get(..n).unwrap_or(&[]);
    let sb = theirs_slots.get(..n).unwrap_or(&[]);
    if ras != b || slots != sb {
        crate::unwind::report_mismatch(ras, b);
    }
}

/// Captures from a signal handler: the frames above the handler, with the
/// faulting pc as frame 0. `ctx` is the signal's context (null: none).
///
/// A pc that cannot be read (a jump or a return to an unmapped address)
/// has no unwind information: the walk starts instead at the return
/// address on top of the stack, where a call through a wild pointer left
/// it (Valgrind's last resort too), by pointing the context at it for the
/// walk. Nothing read from the interrupted stack is trusted (the walk is
/// fault-tolerant and the return address is read through the kernel).
pub fn capture_from_signal(pc: usize, ctx: *mut libc::c_void) -> u32 {
    let want = NUM_CALLERS.load(Ordering::Relaxed).clamp(1, CAPTURE);
    let mut frames = [0u64; CAPTURE];
    frames[0] = pc as u64;
    let mut k = 1;
    let mut resume = pc;
    let mut saved = None;
    if !ctx.is_null() && !crate::access::readable(pc, 1) {
        // SAFETY: the kernel's ucontext of the signal being handled.
        let g = unsafe { &mut (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
        let sp = g[libc::REG_RSP as usize] as usize;
        let mut ra = [0u8; 8];
        let ra = (crate::access::read_own(sp, &mut ra) == ra.len())
            .then(|| usize::from_ne_bytes(ra))
            .filter(|&ra| ra != 0);
        // A zero return address ends the stack, as it ends Valgrind's.
        if let Some(ra) = ra {
            saved = Some((g[libc::REG_RIP as usize], g[libc::REG_RSP as usize]));
            g[libc::REG_RIP as usize] = ra as i64;
            g[libc::REG_RSP as usize] = sp.wrapping_add(8) as i64;
            resume = ra;
            if k < want {
                frames[k] = ra as u64;
                k += 1;
            }
        }
    }
    let w = walk_fault_tolerant();
    if let Some((rip, rsp)) = saved {
        // SAFETY: as above; the context is put back as the kernel gave it.
        let g = unsafe { &mut (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
        g[libc::REG_RIP as usize] = rip;
        g[libc::REG_RSP as usize] = rsp;
    }
    let ips = w.ips.get(..w.n).unwrap_or(&[]);
    // Skip everything up to and including the frame the walk resumed at
    // (the unwinder reports it exactly, not as a return address).
    if let Some(s) = ips.iter().position(|&f| f == resume) {
        for &f in ips.iter().skip(s + 1) {
            if k >= want {
                break;
            }
            frames[k] = f as u64;
            k += 1;
        }
    }
    intern(frames.get(..k).unwrap_or(&[]))
}

/// Interns a stack, returning its id (0 if the runtime is out of memory).
pub fn intern(frames: &[u64]) -> u32 {
    let (first, rest) = match frames.split_first() {
        Some((&f, rest)) => (f, rest),
        None => (0, &[][..]),
    };
    intern_key(&Key {
        first,
        rest: Rest::Frames(rest),
        len: frames.len(),
    })
}

/// Interns the stack `entry` followed by `ras` (without building the
/// frame array first).
fn intern_with_entry(entry: u64, ras: &[usize]) -> u32 {
    intern_key(&Key {
        first: entry,
        rest: Rest::Ras(ras),
        len: ras.len() + 1,
    })
}

/// A stack to intern: its first frame and the others.
struct Key<'a> {
    first: u64,
    rest: Rest<'a>,
    /// Frames in all (0: the empty stack).
    len: usize,
}

enum Rest<'a> {
    Frames(&'a [u64]),
    Ras(&'a [usize]),
}

impl Key<'_> {
    fn frame(&self, k: usize) -> u64 {
        if k == 0 {
            return self.first;
        }
        match self.rest {
            Rest::Frames(f) => f.get(k - 1).copied().unwrap_or(0),
            Rest::Ras(r) => r.get(k - 1).map_or(0, |&v| v as u64),
        }
    }
    /// A multiply-rotate hash of the frames (three instructions a frame:
    /// a capture that misses the stack cache hashes every one), mixed once
    /// at the end; the bucket is taken from its high bits ([`bucket`]).
    fn hash(&self) -> u64 {
        let step = |h: u64, f: u64| (h ^ f).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(26);
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ self.len as u64;
        if self.len == 0 {
            return h;
        }
        h = step(h, self.first);
        h = match self.rest {
            Rest::Frames(f) => f.iter().fold(h, |h, &v| step(h, v)),
            Rest::Ras(r) => r.iter().fold(h, |h, &v| step(h, v as u64)),
        };
        (h ^ (h >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
    }
    fn equals(&self, frames: &[u64]) -> bool {
        if frames.len() != self.len {
            return false;
        }
        let Some((&first, rest)) = frames.split_first() else {
            return true;
        };
        first == self.first
            && match self.rest {
                Rest::Frames(f) => rest == f,
                Rest::Ras(r) => rest.iter().zip(r).all(|(&a, &b)| a == b as u64),
            }
    }
}

/// The bucket of hash `h`.
#[inline(always)]
fn bucket(h: u64) -> usize {
    (h >> (64 - BUCKETS.trailing_zeros())) as usize
}

fn intern_key(key: &Key<'_>) -> u32 {
    let h = key.hash();
    if let Some(id) = find(h, key) {
        return id;
    }
    let _held = LOCK.lock();
    // SAFETY: INTERNER is only accessed under LOCK.
    unsafe { intern_locked(&mut *INTERNER.get(), h, key) }
}

/// The id of an interned stack, without the lock.
fn find(h: u64, key: &Key<'_>) -> Option<u32> {
    let heads = HEADS.load(Ordering::Acquire);
    if heads.is_null() {
        return None;
    }
    let len = key.len.min(CAPTURE);
    // SAFETY: the bucket index is below BUCKETS; published records are
    // complete (Acquire on the head or link that named them) and valid
    // for the process lifetime.
    unsafe {
        let mut r = (*heads.add(bucket(h))).load(Ordering::Acquire);
        while !r.is_null() {
            let rec = &*r;
            if rec.hash == h
                && rec.n as usize == len
                && rec.frames.get(..len).is_some_and(|f| key.equals(f))
            {
                return Some(rec.id);
            }
            r = pair_of(rec.id).map_or(core::ptr::null_mut(), |p| {
                (*p.add(1)).load(Ordering::Acquire)
            });
        }
    }
    None
}

/// The (record, next in chain) pair of `id`, if its chunk exists.
fn pair_of(id: u32) -> Option<*mut AtomicPtr<StackRec>> {
    let chunk = BY_ID.get(id as usize / ID_CHUNK)?.load(Ordering::Acquire);
    if chunk.is_null() {
        return None;
    }
    // SAFETY: the chunk holds ID_CHUNK pairs.
    Some(unsafe { chunk.add((id as usize % ID_CHUNK) * 2) })
}

unsafe fn intern_locked(t: &mut Interner, h: u64, key: &Key<'_>) -> u32 {
    // Another thread may have added it since `find`.
    if let Some(id) = find(h, key) {
        return id;
    }
    let mut heads = HEADS.load(Ordering::Relaxed);
    if heads.is_null() {
        heads = sys::map_private(BUCKETS * 8).cast();
        if heads.is_null() {
            return 0;
        }
        HEADS.store(heads, Ordering::Release);
    }
    let len = key.len.min(CAPTURE);
    let b = bucket(h);
    let id = NEXT_ID.load(Ordering::Relaxed);
    let chunk = id as usize / ID_CHUNK;
    let Some(chunk_ptr) = BY_ID.get(chunk) else {
        return 0;
    };
    if chunk_ptr.load(Ordering::Relaxed).is_null() {
        let c: *mut AtomicPtr<StackRec> = sys::map_private(ID_CHUNK * 16).cast();
        if c.is_null() {
            return 0;
        }
        chunk_ptr.store(c, Ordering::Release);
    }
    let size = core::mem::size_of::<StackRec>();
    if t.arena_left < size {
        t.arena = PrivatePtr::new(sys::map_private(ARENA_CHUNK));
        if t.arena.is_null() {
            return 0;
        }
        t.arena_left = ARENA_CHUNK;
    }
    let rec = t.arena.get().cast::<StackRec>();
    // SAFETY: the arena has room for one record; records are 8-aligned
    // and the arena is zeroed (fresh private pages), so the fields are
    // written in place, before the record is published.
    unsafe {
        t.arena = PrivatePtr::new(t.arena.get().add(size));
        t.arena_left -= size;
        let r = &mut *rec;
        r.hash = h;
        r.id = id;
        r.n = len as u32;
        for k in 0..len {
            r.frames[k] = key.frame(k);
        }
        let Some(pair) = pair_of(id) else {
            return 0;
        };
        let head = &*heads.add(b);
        (*pair.add(1)).store(head.load(Ordering::Relaxed), Ordering::Relaxed);
        (*pair).store(rec, Ordering::Release);
        head.store(rec, Ordering::Release);
    }
    NEXT_ID.store(id + 1, Ordering::Release);
    id
}

/// The record of a stack id (valid for the process lifetime).
pub fn get(id: u32) -> Option<&'static StackRec> {
    if id == 0 {
        return None;
    }
    let pair = pair_of(id)?;
    // SAFETY: records are published complete (Release) and never freed.
    unsafe { (*pair).load(Ordering::Acquire).as_ref() }
}

/// One past the highest stack id handed out so far.
pub fn next_id() -> u32 {
    NEXT_ID.load(Ordering::Acquire)
}

/// Forgets which stacks were sent (a fork child starts a new stream).
pub fn reset_emitted() {
    let n = NEXT_ID.load(Ordering::Relaxed);
    for id in 1..n {
        // Only the records that were sent are written: a write to every
        // record would copy each of their pages in a fork child that
        // shares them with its parent (bash's children, which only exec).
        if let Some(r) = get(id).filter(|r| r.emitted.load(Ordering::Relaxed)) {
            r.emitted.store(false, Ordering::Relaxed);
        }
    }
}

/// Frees the interner's and the unwinder's locks in a fork child.
///
/// # Safety
/// Only in a fork child, before anything else uses the stacks: the
/// locks' holders did not survive the fork.
pub unsafe fn reset_lock_in_child() {
    // SAFETY: as this function's.
    unsafe { LOCK.force_unlock() };
    crate::unwind::reset_lock_in_child();
}
