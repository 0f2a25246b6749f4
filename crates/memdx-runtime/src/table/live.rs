//! The live-block bitmap: one bit per 16 bytes of address space says
//! whether a block starts there (a directory of lazily mapped 1 GiB leaves,
//! each with a per-page summary). Set last on allocation, cleared first on
//! release (its old value decides who owns the release).

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use super::header::read_block;
use super::redzone::redzone;
use super::state::with_state;
use super::Block;
use crate::sys::{self, SpinLock};

const GRAN_SHIFT: u32 = 4;
const LEAF_SHIFT: u32 = 30;
const ADDR_BITS: u32 = 47;
const DIR_LEN: usize = 1 << (ADDR_BITS - LEAF_SHIFT);
const LEAF_WORDS: usize = 1 << (LEAF_SHIFT - GRAN_SHIFT - 6);
/// Bitmap words per 4 KiB page of the leaf.
const PAGE_WORDS: usize = 512;
const SUMMARY_WORDS: usize = LEAF_WORDS / PAGE_WORDS / 64;
/// Bytes of a leaf mapping: the summary (one page) then the bitmap.
const LEAF_BYTES: usize = 4096 + LEAF_WORDS * 8;

static DIR: AtomicPtr<AtomicPtr<AtomicU64>> = AtomicPtr::new(ptr::null_mut());
pub(super) static DIR_LOCK: SpinLock = SpinLock::new();
/// One bit per directory entry that has a leaf, so a walk of the live
/// blocks visits the few leaves a process uses instead of all 131,072
/// entries (a megabyte of directory, four walks per end-of-process
/// report: a third of a short process's exit under `--trace-children`).
static DIR_USED: [AtomicU64; DIR_LEN / 64] = [const { AtomicU64::new(0) }; DIR_LEN / 64];

#[inline]
fn dir() -> *mut AtomicPtr<AtomicU64> {
    let d = DIR.load(Ordering::Acquire);
    if !d.is_null() {
        return d;
    }
    let _held = DIR_LOCK.lock();
    let mut d = DIR.load(Ordering::Acquire);
    if d.is_null() {
        d = sys::map_private(DIR_LEN * 8).cast();
        DIR.store(d, Ordering::Release);
    }
    d
}

/// The leaf covering `addr`: its summary words, then its bitmap at +4096.
#[inline]
fn leaf(addr: usize, create: bool) -> Option<*mut AtomicU64> {
    let i = addr >> LEAF_SHIFT;
    if i >= DIR_LEN {
        return None;
    }
    let d = if create {
        dir()
    } else {
        DIR.load(Ordering::Acquire)
    };
    if d.is_null() {
        return None;
    }
    // SAFETY: i < DIR_LEN, the directory's length.
    let slot = unsafe { &*d.add(i) };
    let l = slot.load(Ordering::Acquire);
    if !l.is_null() {
        return Some(l);
    }
    if !create {
        return None;
    }
    let held = DIR_LOCK.lock();
    let mut l = slot.load(Ordering::Acquire);
    if l.is_null() {
        l = sys::map_private_noreserve(LEAF_BYTES).cast();
        slot.store(l, Ordering::Release);
        if !l.is_null() {
            DIR_USED[i / 64].fetch_or(1 << (i % 64), Ordering::Release);
        }
    }
    drop(held);
    (!l.is_null()).then_some(l)
}

#[inline]
fn bit_pos(addr: usize) -> (usize, u64) {
    let bit = (addr >> GRAN_SHIFT) & (LEAF_WORDS * 64 - 1);
    (bit >> 6, 1u64 << (bit & 63))
}

#[inline]
fn word(l: *mut AtomicU64, w: usize) -> &'static AtomicU64 {
    // SAFETY: w < LEAF_WORDS; the bitmap starts 4096 bytes into the leaf.
    unsafe { &*l.cast::<u8>().add(4096).cast::<AtomicU64>().add(w) }
}

#[inline]
fn summary(l: *mut AtomicU64, s: usize) -> &'static AtomicU64 {
    // SAFETY: s < SUMMARY_WORDS, within the leaf's first page.
    unsafe { &*l.add(s) }
}

/// Set once a second thread may touch the bitmap. Until then the process
/// has one thread and the live bits are updated by single read-modify-write
/// instructions without a lock prefix (still whole with respect to a signal
/// handler that allocates): a locked one costs about 20 cycles, twice per
/// malloc/free pair (glibc's allocator skips its atomics the same way).
///
/// Set by the interposed `pthread_create` before the new thread exists,
/// and by any thread that is not the first to get a [`ThreadState`] (a
/// thread glibc creates internally, bypassing the interposition, before
/// its first allocation or release).
static THREADED: AtomicBool = AtomicBool::new(false);
/// Set when the first thread state was handed out.
pub(super) static FIRST_STATE: AtomicBool = AtomicBool::new(false);

#[inline(always)]
fn threaded() -> bool {
    // Unit tests run on the test harness's threads, which the interposed
    // pthread_create never sees: always the atomic path there.
    cfg!(test) || THREADED.load(Ordering::Relaxed)
}

/// Gives the calling thread its state before it first touches the bitmap:
/// a thread that is not the first one to get a state sets [`THREADED`].
#[inline(always)]
pub(super) fn ensure_state() {
    if crate::tls::get().state.get().is_null() {
        with_state(|_| ());
    }
}

/// The process may have more than one thread from now on.
pub fn set_threaded() {
    THREADED.store(true, Ordering::SeqCst);
}

/// Marks `q` a live block start. False when the bitmap cannot cover it.
#[inline]
pub(super) fn set_live(q: usize) -> bool {
    let Some(l) = leaf(q, true) else {
        return false;
    };
    let (w, m) = bit_pos(q);
    let wd = word(l, w);
    if threaded() {
        wd.fetch_or(m, Ordering::Release);
    } else {
        // One thread: no other writer can race this word (see THREADED).
        or_unlocked(wd, m);
    }
    let page = w / PAGE_WORDS;
    let s = summary(l, page / 64);
    let sm = 1u64 << (page % 64);
    if s.load(Ordering::Relaxed) & sm == 0 {
        s.fetch_or(sm, Ordering::Relaxed);
    }
    true
}

/// Clears `q`'s live bit; true when it was set (the caller now owns the
/// release).
#[inline]
pub(super) fn take_live(q: usize) -> bool {
    if q & ((1 << GRAN_SHIFT) - 1) != 0 {
        return false;
    }
    let Some(l) = leaf(q, false) else {
        return false;
    };
    let (w, m) = bit_pos(q);
    let wd = word(l, w);
    if threaded() {
        return test_and_clear(wd, m.trailing_zeros());
    }
    // One thread: no other writer can race this word (see THREADED).
    test_and_clear_unlocked(wd, m.trailing_zeros())
}

/// `*w |= m` as one instruction without a lock prefix: exact when no other
/// thread writes the word, and a signal handler (which may allocate) cannot
/// run between the read and the write, as it could between a load and a
/// store.
#[inline(always)]
fn or_unlocked(w: &AtomicU64, m: u64) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a read-modify-write of a valid, aligned u64.
    unsafe {
        core::arch::asm!("or qword ptr [{w}], {m}", w = in(reg) w.as_ptr(), m = in(reg) m, options(nostack));
    }
    #[cfg(not(target_arch = "x86_64"))]
    w.fetch_or(m, Ordering::Release);
}

/// Clears bit `bit` of `w` in one instruction without a lock prefix (see
/// [`or_unlocked`]); true when it was set.
#[inline(always)]
fn test_and_clear_unlocked(w: &AtomicU64, bit: u32) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let was: u8;
        // SAFETY: a bit-test-and-reset of a valid, aligned u64; bit < 64.
        unsafe {
            core::arch::asm!(
                "btr qword ptr [{w}], {b}",
                "setc {r}",
                w = in(reg) w.as_ptr(),
                b = in(reg) u64::from(bit),
                r = out(reg_byte) was,
                options(nostack),
            );
        }
        was != 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    test_and_clear(w, bit)
}

/// Atomically clears bit `bit` of `w`; true when it was set.
#[inline]
fn test_and_clear(w: &AtomicU64, bit: u32) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let was: u8;
        // SAFETY: a locked bit-test-and-reset on a valid, aligned u64 (the
        // same as `fetch_and(!(1 << bit))`, without a compare-exchange
        // loop); bit < 64 keeps it within the word.
        unsafe {
            core::arch::asm!(
                "lock btr qword ptr [{w}], {b}",
                "setc {r}",
                w = in(reg) w.as_ptr(),
                b = in(reg) u64::from(bit),
                r = out(reg_byte) was,
                options(nostack),
            );
        }
        was != 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let m = 1u64 << bit;
        w.fetch_and(!m, Ordering::AcqRel) & m != 0
    }
}

/// Whether `q` is a live block start.
#[inline]
pub fn is_live(q: usize) -> bool {
    if q & ((1 << GRAN_SHIFT) - 1) != 0 {
        return false;
    }
    let Some(l) = leaf(q, false) else {
        return false;
    };
    let (w, m) = bit_pos(q);
    word(l, w).load(Ordering::Acquire) & m != 0
}

/// The live block starting at `q`, if any.
#[inline]
pub fn lookup(q: usize) -> Option<Block> {
    if crate::guard::contains(q) {
        return crate::guard::lookup(q);
    }
    // SAFETY: a set bit means a complete header.
    is_live(q).then(|| unsafe { read_block(q) }.block)
}

/// How many bitmap words (1 KiB of address space each) before a
/// pointer's own [`lookup_near`] looks at for the start of the block it is
/// inside: pointers deeper into a block (1 to 2 KiB from its start, by
/// where they fall in their word) are not checked.
const NEAR_WORDS: usize = 1;

/// The live block that `p` starts, is inside (see [`NEAR_WORDS`]), or lies just before (in its header) or just after (in
/// its redzone): the block a C routine's range from `p` must stay in. A few
/// bitmap probes; no lock.
#[inline]
pub fn lookup_near(p: usize) -> Option<Block> {
    if crate::guard::contains(p) {
        return crate::guard::live_in_slot(p);
    }
    // No leaf: no block within this GiB (stacks, most globals).
    let l = leaf(p, false)?;
    let (w, m) = bit_pos(p);
    let bits = word(l, w).load(Ordering::Acquire);
    // A block starting at the next 16-byte granule: p is in its header.
    let next = if m == 1 << 63 {
        (p | ((1 << GRAN_SHIFT) - 1)) + 1
    } else {
        0
    };
    let q = if (next == 0 && bits & (m << 1) != 0) || (next != 0 && is_live(next)) {
        (p | ((1 << GRAN_SHIFT) - 1)) + 1
    } else {
        // The nearest block start at or below p: in this word, else in
        // one of the NEAR_WORDS words before it (same leaf).
        let mut below = bits & (m | (m - 1));
        let mut base = p & !((64 << GRAN_SHIFT) - 1);
        let mut k = 0;
        while below == 0 {
            if k == NEAR_WORDS || w < k + 1 {
                return None;
            }
            k += 1;
            below = word(l, w - k).load(Ordering::Acquire);
            base -= 64 << GRAN_SHIFT;
        }
        base + ((63 - below.leading_zeros() as usize) << GRAN_SHIFT)
    };
    // SAFETY: a set bit means a complete header.
    let b = unsafe { read_block(q) }.block;
    (p < q + b.size + redzone()).then_some(b)
}

/// Calls `f` with every live block start, in address order.
pub fn for_each_live(f: &mut dyn FnMut(usize)) {
    let d = DIR.load(Ordering::Acquire);
    if d.is_null() {
        return;
    }
    let used = DIR_USED.iter().enumerate().flat_map(|(u, w)| {
        let mut bits = w.load(Ordering::Acquire);
        core::iter::from_fn(move || {
            (bits != 0).then(|| {
                let i = u * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                i
            })
        })
    });
    for i in used {
        // SAFETY: i < DIR_LEN (a bit of DIR_USED).
        let l = unsafe { &*d.add(i) }.load(Ordering::Acquire);
        if l.is_null() {
            continue;
        }
        for s in 0..SUMMARY_WORDS {
            let mut sw = summary(l, s).load(Ordering::Acquire);
            while sw != 0 {
                let page = s * 64 + sw.trailing_zeros() as usize;
                sw &= sw - 1;
                for w in page * PAGE_WORDS..(page + 1) * PAGE_WORDS {
                    let mut bits = word(l, w).load(Ordering::Acquire);
                    while bits != 0 {
                        let bit = w * 64 + bits.trailing_zeros() as usize;
                        bits &= bits - 1;
                        f((i << LEAF_SHIFT) | (bit << GRAN_SHIFT));
                    }
                }
            }
        }
    }
}

/// Largest block size seen so far (bounds the backward search for the
/// block around an address).
pub static MAX_SIZE_SEEN: AtomicUsize = AtomicUsize::new(0);

/// The nearest live block start at or below `addr` within `reach` bytes.
pub(super) fn live_start_below(addr: usize, reach: usize) -> Option<usize> {
    let lo = addr.saturating_sub(reach) & !((1 << GRAN_SHIFT) - 1);
    let mut a = addr & !((1 << GRAN_SHIFT) - 1);
    loop {
        let Some(l) = leaf(a, false) else {
            // Skip to the end of the previous leaf.
            let prev = (a >> LEAF_SHIFT).checked_sub(1)?;
            let end = ((prev + 1) << LEAF_SHIFT) - (1 << GRAN_SHIFT);
            if end < lo {
                return None;
            }
            a = end;
            continue;
        };
        let (w, m) = bit_pos(a);
        // Bits at or below a's bit in this word.
        let below = word(l, w).load(Ordering::Acquire) & (m | (m - 1));
        if below != 0 {
            let bit = 63 - below.leading_zeros() as usize;
            let base = a & !((64 << GRAN_SHIFT) - 1);
            let q = base + (bit << GRAN_SHIFT);
            return (q >= lo).then_some(q);
        }
        let base = a & !((64 << GRAN_SHIFT) - 1);
        if base <= lo || base == 0 {
            return None;
        }
        a = base - (1 << GRAN_SHIFT);
    }
}
