//! Block metadata without a global table: a 16-byte header in front of
//! every block, a bitmap of live block starts, and per-thread quarantines.
//!
//! Layout of a block the program gets (glibc's chunk around it):
//!
//! ```text
//! raw (from glibc)          q (the program's pointer)
//! | pad | header (16 bytes) | size bytes ...     | redzone (canary) | glibc slack
//! ```
//!
//! `raw + offset == q`; `offset` is 16, or the alignment for aligned blocks
//! whose alignment exceeds 16 (the header then sits at the end of the pad).
//!
//! Header word 0: size (bits 0..48), kind (48..52), flags (52..56),
//! log2(offset) (56..62). Word 1: allocation stack id (low 32 bits), free
//! stack id (high 32 bits).
//!
//! Whether a pointer is a live block start is answered by a bitmap with one
//! bit per 16 bytes of address space (two levels: a directory of 1 GiB
//! leaves, each mapped lazily without reserve, with a per-page summary so the
//! leak scan visits only touched pages). Setting the bit is the last step of
//! an allocation and clearing it (an atomic read-modify-write whose old value
//! says whether the block was live) is the first step of a release, so two
//! threads freeing the same pointer cannot both win, and any set bit has a
//! complete header behind it.
//!
//! Freed blocks go to the freeing thread's quarantine ring (Valgrind's
//! `--freelist-vol`, here per thread): their memory is poisoned and not
//! given back to glibc until the ring's byte volume is exceeded, so a
//! second free is recognised (with the stacks of the first free and of the
//! allocation) and writes after free are found when the block leaves the
//! ring. A thread's state (counters, ring) outlives the thread: it is handed
//! to the next new thread.

use crate::tls::ThreadData;
use core::ptr;
use core::sync::atomic::{compiler_fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use crate::sys::{self, SpinGuard, SpinLock};

pub const HEADER: usize = 16;
/// Block kind flag (in `Block::kind`): allocated by the runtime's own work
/// (not counted, not reported, not scanned).
pub const INTERNAL: u8 = 0x80;

const SIZE_MASK: u64 = (1 << 48) - 1;
const KIND_SHIFT: u32 = 48;
const FLAG_INTERNAL: u64 = 1 << 52;
const FLAG_FREED: u64 = 1 << 53;
const FLAG_POISONED: u64 = 1 << 54;
/// An overrun of this live block was reported already (by a checked C
/// library routine, before it did the write): its redzone damage is not
/// reported again.
const FLAG_OVERRUN_REPORTED: u64 = 1 << 55;
const OFFSET_SHIFT: u32 = 56;
/// Largest block size the header can hold.
pub const MAX_SIZE: usize = SIZE_MASK as usize;

/// Bytes written after each block and checked when it is freed
/// (`--redzone-size`, from `MEMDX_REDZONE_SIZE`). Fixed by the first
/// allocation (blocks made before the constructor ran must keep the size
/// their canary was written with).
static REDZONE: AtomicUsize = AtomicUsize::new(usize::MAX);
/// Redzone bytes when the option is not given (Valgrind's default).
pub const DEFAULT_REDZONE: usize = 16;

/// The redzone size.
#[inline]
pub fn redzone() -> usize {
    let rz = REDZONE.load(Ordering::Relaxed);
    if rz != usize::MAX {
        return rz;
    }
    redzone_first()
}

/// Fixes the redzone size at its first use.
#[cold]
#[inline(never)]
fn redzone_first() -> usize {
    let v = sys::getenv(c"MEMDX_REDZONE_SIZE")
        .and_then(sys::parse_usize)
        .map_or(DEFAULT_REDZONE, |v| v.min(4096));
    REDZONE.store(v, Ordering::Relaxed);
    v
}
/// The redzone canary byte.
pub const CANARY: u8 = 0xfa;
/// What freed blocks are filled with while in the quarantine.
pub const POISON: u8 = 0xfd;
/// Bytes of each freed block poisoned and verified when it leaves the
/// quarantine (the block's first bytes), from `MEMDX_POISON_SIZE`; fixed by
/// the first release, like the redzone.
static POISON_MAX: AtomicUsize = AtomicUsize::new(usize::MAX);
/// Poisoned bytes when the option is not given.
pub const DEFAULT_POISON: usize = 32;

/// Bytes of a freed block to poison.
#[inline]
pub fn poison_max() -> usize {
    let v = POISON_MAX.load(Ordering::Relaxed);
    if v != usize::MAX {
        return v;
    }
    poison_first()
}

/// Fixes the poisoned size at its first use.
#[cold]
#[inline(never)]
fn poison_first() -> usize {
    let v = sys::getenv(c"MEMDX_POISON_SIZE")
        .and_then(sys::parse_usize)
        .unwrap_or(DEFAULT_POISON);
    POISON_MAX.store(v, Ordering::Relaxed);
    v
}

/// Bytes of freed blocks each thread holds back (`--freelist-vol`).
pub const DEFAULT_QUARANTINE: usize = 2_000_000;
static QUARANTINE_BYTES: AtomicUsize = AtomicUsize::new(DEFAULT_QUARANTINE);

pub fn set_quarantine_volume(total: usize) {
    QUARANTINE_BYTES.store(total, Ordering::Relaxed);
}

/// One block as the rest of the runtime sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// The program's pointer.
    pub ptr: usize,
    pub size: usize,
    pub stack: u32,
    /// AllocKind, with [`INTERNAL`] or'ed in for the runtime's own blocks.
    pub kind: u8,
}

/// What a block's header says ([`read_block`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub block: Block,
    /// The stack that freed it (0 while it is live).
    pub free_stack: u32,
    /// Whether it was freed (it is in a quarantine).
    pub freed: bool,
    /// Bytes from the start of glibc's chunk to the block (a power of two).
    pub offset: usize,
}

/// A freed block still in a quarantine.
#[derive(Clone, Copy, Debug)]
pub struct Freed {
    pub ptr: usize,
    pub size: usize,
    pub alloc_stack: u32,
    pub free_stack: u32,
}

// ---- headers ---------------------------------------------------------------

#[inline]
fn header_at(q: usize) -> *mut u64 {
    (q - HEADER) as *mut u64
}

/// Writes the header of block `q`.
///
/// # Safety
/// `q - HEADER .. q` must be writable memory owned by the block.
#[inline]
pub unsafe fn write_header(q: usize, size: usize, kind: u8, stack: u32, offset_log2: u32) {
    let mut w = (size as u64 & SIZE_MASK)
        | (u64::from(kind & 0x0f) << KIND_SHIFT)
        | (u64::from(offset_log2) << OFFSET_SHIFT);
    if kind & INTERNAL != 0 {
        w |= FLAG_INTERNAL;
    }
    let h = header_at(q);
    // SAFETY: per the contract.
    unsafe {
        h.write(w);
        h.add(1)
            .write(u64::from(stack) | (u64::from(check_word(q, w)) << 32));
    }
}

/// The check kept in the top half of a live block's second header word:
/// a write just before the block (an underflow) changes it.
#[inline]
fn check_word(q: usize, w0: u64) -> u32 {
    ((q as u64 ^ w0).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32
}

/// Remembers that an overrun of live block `q` was reported (see
/// [`FLAG_OVERRUN_REPORTED`]).
pub fn note_overrun_reported(q: usize) {
    crate::guard::open_after(q);
    if !is_live(q) {
        return; // a guarded block (no redzone) or no block at all
    }
    let h = header_at(q);
    // SAFETY: a live block's header. The check word covers the first word,
    // so it is recomputed with the flag set.
    unsafe {
        let w0 = h.read() | FLAG_OVERRUN_REPORTED;
        let w1 = h.add(1).read();
        h.write(w0);
        h.add(1)
            .write((w1 & 0xffff_ffff) | (u64::from(check_word(q, w0)) << 32));
    }
}

/// Live blocks whose header a checked C routine was reported writing
/// (before it did): the damage it leaves is no second error. A small ring;
/// only the error paths read it.
static UNDERFLOWS: [AtomicUsize; 16] = [const { AtomicUsize::new(0) }; 16];
static UNDERFLOW_NEXT: AtomicUsize = AtomicUsize::new(0);

/// Remembers that a write before live block `q` was reported.
pub fn note_underflow_reported(q: usize) {
    if UNDERFLOWS.iter().any(|u| u.load(Ordering::Relaxed) == q) {
        return;
    }
    let i = UNDERFLOW_NEXT.fetch_add(1, Ordering::Relaxed) % UNDERFLOWS.len();
    UNDERFLOWS[i].store(q, Ordering::Relaxed);
}

/// Whether a write before block `q` was reported already; `forget`: the
/// block is being released (a later block at its address starts clean).
pub fn underflow_reported(q: usize, forget: bool) -> bool {
    for u in &UNDERFLOWS {
        if u.load(Ordering::Relaxed) == q {
            if forget {
                u.store(0, Ordering::Relaxed);
            }
            return true;
        }
    }
    false
}

/// The two header words of live block `q`.
///
/// # Safety
/// `q` is a live block start.
pub unsafe fn header_words(q: usize) -> (u64, u64) {
    let h = header_at(q);
    // SAFETY: per the contract.
    unsafe { (h.read(), h.add(1).read()) }
}

/// Puts back the header words of live block `q` that [`header_words`]
/// read, after a reported write before the block overwrote them.
///
/// # Safety
/// `q` is a live block start.
pub unsafe fn restore_header(q: usize, w0: u64, w1: u64) {
    let h = header_at(q);
    // SAFETY: per the contract.
    unsafe {
        h.write(w0);
        h.add(1).write(w1);
    }
}

/// Whether an overrun of live block `q` was reported already.
///
/// # Safety
/// `q` is a live block start.
pub unsafe fn overrun_reported(q: usize) -> bool {
    // SAFETY: per the contract.
    unsafe { header_at(q).read() & FLAG_OVERRUN_REPORTED != 0 }
}

/// Verifies a live block's header before it is trusted with a release.
/// Returns the damaged bytes as offsets before the block (1 = the byte just
/// before it), and whether the first word (size, alignment) is still
/// believable: glibc's chunk size before our header must fit it.
///
/// # Safety
/// `q` is a live block start (its bit was set).
pub unsafe fn check_header(q: usize) -> Option<(usize, usize, bool)> {
    let h = header_at(q);
    // SAFETY: per the contract.
    let (w0, w1) = unsafe { (h.read(), h.add(1).read()) };
    let want = check_word(q, w0);
    let got = (w1 >> 32) as u32;
    if want == got {
        return None;
    }
    let size = (w0 & SIZE_MASK) as usize;
    let off = 1usize << ((w0 >> OFFSET_SHIFT) & 0x3f);
    let believable = (HEADER..=1 << 40).contains(&off)
        && q >= off + 8
        // SAFETY: glibc's size word just before the chunk's user pointer;
        // `raw - 8` is readable when raw is believable.
        && {
            let raw = q - off;
            // SAFETY: as above.
            let csize = unsafe { ((raw - 8) as *const usize).read() } & !7;
            csize >= size + off + redzone() && csize <= size + off + redzone() + (1 << 20) + 4096
        };
    let (first, last) = damaged_check_bytes(want, got);
    Some((first, last, believable))
}

/// Which bytes of a check word differ (offsets before the block: the
/// check's top byte is the byte just before the block). Bytes further
/// down (the allocation stack, the first word) cannot be compared.
fn damaged_check_bytes(want: u32, got: u32) -> (usize, usize) {
    let diff = (want ^ got).to_le_bytes();
    let before = |i: usize| 4 - i; // byte i of the check is 4 - i bytes before q
    let first_i = diff.iter().position(|&b| b != 0).unwrap_or(0);
    let last_i = diff.iter().rposition(|&b| b != 0).unwrap_or(3);
    (before(first_i), before(last_i))
}

/// The damaged bytes before live block `q` (as [`check_header`]), reading
/// only its header: the exit-time check of blocks never freed.
///
/// # Safety
/// `q` is a live block start whose header is readable.
pub unsafe fn header_damage(q: usize) -> Option<(usize, usize)> {
    let h = header_at(q);
    // SAFETY: per the contract.
    let (w0, w1) = unsafe { (h.read(), h.add(1).read()) };
    let (want, got) = (check_word(q, w0), (w1 >> 32) as u32);
    (want != got).then(|| damaged_check_bytes(want, got))
}

/// Reads the header of block `q`.
///
/// # Safety
/// `q` must be a block start (its bit set, or in a quarantine).
#[inline]
pub unsafe fn read_block(q: usize) -> Header {
    let h = header_at(q);
    // SAFETY: per the contract.
    let (w, s) = unsafe { (h.read(), h.add(1).read()) };
    decode_header(q, w, s)
}

/// Block `q` described by its two header words `w` and `s` (read by the
/// caller), as [`read_block`] returns it.
pub fn decode_header(q: usize, w: u64, s: u64) -> Header {
    let mut kind = ((w >> KIND_SHIFT) & 0x0f) as u8;
    if w & FLAG_INTERNAL != 0 {
        kind |= INTERNAL;
    }
    let block = Block {
        ptr: q,
        size: (w & SIZE_MASK) as usize,
        stack: s as u32,
        kind,
    };
    let freed = w & FLAG_FREED != 0;
    Header {
        block,
        free_stack: if freed { (s >> 32) as u32 } else { 0 },
        freed,
        offset: 1usize << ((w >> OFFSET_SHIFT) & 0x3f),
    }
}

/// Marks block `q` freed by `free_stack` in its header.
///
/// # Safety
/// As [`read_block`], and the caller owns the release (it cleared the bit).
#[inline]
unsafe fn mark_freed(q: usize, alloc_stack: u32, free_stack: u32, poisoned: bool) {
    let h = header_at(q);
    let flags = if poisoned {
        FLAG_FREED | FLAG_POISONED
    } else {
        FLAG_FREED
    };
    // SAFETY: per the contract.
    unsafe {
        h.write(h.read() | flags);
        h.add(1)
            .write(u64::from(alloc_stack) | (u64::from(free_stack) << 32));
    }
}

/// Sets `n` bytes at `at` to `byte`: 8 to 32 bytes (the default canary
/// and poison) with two overlapping stores, other lengths with glibc's
/// memset (`ptr::write_bytes` would call the exported, checked `memset`).
///
/// # Safety
/// `at .. at + n` must be writable.
#[inline(always)]
pub unsafe fn fill(at: usize, byte: u8, n: usize) {
    if n == 0 {
        return;
    }
    if (16..=32).contains(&n) {
        // Two overlapping 16-byte stores.
        let v = u128::from_ne_bytes([byte; 16]);
        let p = at as *mut u8;
        // SAFETY: both stores end at or before at + n.
        unsafe {
            p.cast::<u128>().write_unaligned(v);
            p.add(n - 16).cast::<u128>().write_unaligned(v);
        }
    } else if (8..16).contains(&n) {
        let v = u64::from_ne_bytes([byte; 8]);
        let p = at as *mut u8;
        // SAFETY: both stores end at or before at + n.
        unsafe {
            p.cast::<u64>().write_unaligned(v);
            p.add(n - 8).cast::<u64>().write_unaligned(v);
        }
    } else {
        // SAFETY: forwarded.
        unsafe { crate::strmem::raw_memset(at as *mut u8, byte, n) };
    }
}

/// Writes the redzone canary after a block.
///
/// # Safety
/// `q + size .. q + size + REDZONE` must be writable and owned by the block.
#[inline]
pub unsafe fn write_canary(q: usize, size: usize) {
    let rz = redzone();
    // SAFETY: per the contract.
    unsafe { fill(q + size, CANARY, rz) };
}

/// Offsets (relative to the block end) of the first and last damaged byte
/// of the redzone, or None when the canary is intact.
///
/// # Safety
/// As [`write_canary`].
#[inline]
pub unsafe fn check_canary(q: usize, size: usize) -> Option<(usize, usize)> {
    let rz = redzone();
    // SAFETY: per the contract.
    if unsafe { all_bytes(q + size, CANARY, rz) } {
        return None;
    }
    // SAFETY: per the contract.
    let zone = unsafe { core::slice::from_raw_parts((q + size) as *const u8, rz) };
    first_last_not(zone, CANARY)
}

/// Whether all `n` bytes at `at` are `byte`: the check of every redzone
/// and poisoned block, so the default sizes (8 to 32 bytes) take two
/// overlapping loads, as [`fill`] writes them.
///
/// # Safety
/// `at .. at + n` must be readable.
#[inline(always)]
unsafe fn all_bytes(at: usize, byte: u8, n: usize) -> bool {
    let p = at as *const u8;
    if (16..=32).contains(&n) {
        let v = u128::from_ne_bytes([byte; 16]);
        // SAFETY: both loads end at or before at + n.
        return unsafe {
            (p.cast::<u128>().read_unaligned() ^ v)
                | (p.add(n - 16).cast::<u128>().read_unaligned() ^ v)
        } == 0;
    }
    if (8..16).contains(&n) {
        let v = u64::from_ne_bytes([byte; 8]);
        // SAFETY: both loads end at or before at + n.
        return unsafe {
            (p.cast::<u64>().read_unaligned() ^ v)
                | (p.add(n - 8).cast::<u64>().read_unaligned() ^ v)
        } == 0;
    }
    // SAFETY: per the contract.
    let bytes = unsafe { core::slice::from_raw_parts(p, n) };
    first_last_not(bytes, byte).is_none()
}

/// Offsets of the first and last byte of `bytes` that differ from `want`.
/// Compares eight bytes at a time: this runs on every free.
#[inline]
fn first_last_not(bytes: &[u8], want: u8) -> Option<(usize, usize)> {
    let pattern = u64::from_ne_bytes([want; 8]);
    let chunks = bytes.chunks_exact(8);
    let tail = chunks.remainder();
    // No early exit: the fold vectorises, and damage is the rare case.
    let diff = chunks.fold(0u64, |acc, c| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        acc | (u64::from_ne_bytes(w) ^ pattern)
    });
    if diff == 0 && tail.iter().all(|&b| b == want) {
        return None;
    }
    let first = bytes.iter().position(|&b| b != want)?;
    let last = bytes.iter().rposition(|&b| b != want).unwrap_or(first);
    Some((first, last))
}

// ---- the live-start bitmap -------------------------------------------------

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
static DIR_LOCK: SpinLock = SpinLock::new();
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
static FIRST_STATE: AtomicBool = AtomicBool::new(false);

#[inline(always)]
fn threaded() -> bool {
    // Unit tests run on the test harness's threads, which the interposed
    // pthread_create never sees: always the atomic path there.
    cfg!(test) || THREADED.load(Ordering::Relaxed)
}

/// Gives the calling thread its state before it first touches the bitmap:
/// a thread that is not the first one to get a state sets [`THREADED`].
#[inline(always)]
fn ensure_state() {
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
fn set_live(q: usize) -> bool {
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
fn take_live(q: usize) -> bool {
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
fn live_start_below(addr: usize, reach: usize) -> Option<usize> {
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

// ---- per-thread state --------------------------------------------------------

#[derive(Clone, Copy, Default)]
pub struct Counters {
    pub allocs: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
}

/// A thread's counters and quarantine ring, in private memory.
pub struct ThreadState {
    pub counters: Counters,
    /// Quarantined blocks, oldest at `ring_head`: (block start, size). The
    /// size is kept here so that evicting and prefetching need not read
    /// the block's header first (a cache miss they would wait on).
    ring: *mut [usize; 2],
    ring_cap: usize,
    ring_head: usize,
    ring_len: usize,
    ring_bytes: usize,
    /// Base of the last non-main glibc heap seen (see hooks::note_arena).
    pub last_arena: usize,
    /// Clean glibc chunks that left the quarantine, kept for this thread's
    /// next allocations of their size class (see [`Self::recycle`]): the head of
    /// an intrusive list per class, and the bytes they hold.
    recycled: [usize; RECYCLE_CLASSES],
    recycled_bytes: usize,
    next: *mut ThreadState,
    in_use: AtomicBool,
    /// Set while the owner changes its ring. The leak report stops threads
    /// with a signal wherever they are; a ring caught halfway through a
    /// change (an entry counted but not written, a block handed to glibc
    /// but still listed) is not read then.
    busy: AtomicBool,
}

/// Every state ever made (a singly linked list, newest first).
static STATES: AtomicPtr<ThreadState> = AtomicPtr::new(ptr::null_mut());
static STATES_LOCK: SpinLock = SpinLock::new();
/// Used after a thread's state was handed back (frees while the thread
/// exits), under ORPHAN_LOCK.
static ORPHAN_LOCK: SpinLock = SpinLock::new();
static ORPHAN: AtomicPtr<ThreadState> = AtomicPtr::new(ptr::null_mut());
static KEY: AtomicUsize = AtomicUsize::new(usize::MAX);

const EXITED: *mut ThreadState = ptr::without_provenance_mut(1);
const RING_FIRST: usize = 256;
/// Blocks evicted together once a quarantine is over its volume (see
/// `ThreadState::prefetch_entry`).
const EVICT_BATCH: usize = 16;

/// Creates the thread-exit key (from the constructor).
pub fn init_thread_key() {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: plain key creation with a C destructor.
    if unsafe { libc::pthread_key_create(&mut key, Some(thread_exit)) } == 0 {
        KEY.store(key as usize, Ordering::Relaxed);
    }
}

extern "C" fn thread_exit(v: *mut libc::c_void) {
    let st = v.cast::<ThreadState>();
    if st.is_null() {
        return;
    }
    crate::tls::get().state.set(EXITED);
    // SAFETY: st came from new_state; the thread no longer uses it.
    unsafe { (*st).in_use.store(false, Ordering::Release) };
}

fn new_state() -> *mut ThreadState {
    let _held = STATES_LOCK.lock();
    let mut s = STATES.load(Ordering::Acquire);
    while !s.is_null() {
        // SAFETY: states are never freed.
        let st = unsafe { &*s };
        if st
            .in_use
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return s;
        }
        s = st.next;
    }
    let p = sys::map_private(core::mem::size_of::<ThreadState>()).cast::<ThreadState>();
    if !p.is_null() {
        // SAFETY: fresh private memory of the right size.
        unsafe {
            p.write(ThreadState {
                counters: Counters::default(),
                ring: ptr::null_mut(),
                ring_cap: 0,
                ring_head: 0,
                ring_len: 0,
                ring_bytes: 0,
                last_arena: 0,
                recycled: [0; RECYCLE_CLASSES],
                recycled_bytes: 0,
                next: STATES.load(Ordering::Relaxed),
                in_use: AtomicBool::new(true),
                busy: AtomicBool::new(false),
            })
        };
        STATES.store(p, Ordering::Release);
    }
    p
}

/// Runs `f` with this thread's state (or the shared orphan state, under its
/// lock, when the thread is exiting or has no TLS).
#[inline]
pub fn with_state<T>(f: impl FnOnce(&mut ThreadState) -> T) -> Option<T> {
    let cur = crate::tls::get().state.get();
    if !cur.is_null() && cur != EXITED {
        // SAFETY: this thread's own state.
        return Some(f(unsafe { &mut *cur }));
    }
    if cur.is_null() {
        if FIRST_STATE.swap(true, Ordering::AcqRel) {
            set_threaded();
        }
        let s = new_state();
        if !s.is_null() {
            crate::tls::get().state.set(s);
            let key = KEY.load(Ordering::Relaxed);
            if key != usize::MAX {
                // SAFETY: a valid key; the value is our state.
                unsafe { libc::pthread_setspecific(key as libc::pthread_key_t, s.cast()) };
            }
            // SAFETY: just made or adopted for this thread.
            return Some(f(unsafe { &mut *s }));
        }
    }
    set_threaded();
    let _held = ORPHAN_LOCK.lock();
    let mut o = ORPHAN.load(Ordering::Acquire);
    if o.is_null() {
        o = new_state();
        ORPHAN.store(o, Ordering::Release);
    }
    if o.is_null() {
        None
    } else {
        // SAFETY: under ORPHAN_LOCK.
        Some(f(unsafe { &mut *o }))
    }
}

/// Calls `f` on every thread state (the report, with other threads
/// stopped or gone).
pub fn for_each_state(f: &mut dyn FnMut(&ThreadState)) {
    let mut s = STATES.load(Ordering::Acquire);
    while !s.is_null() {
        // SAFETY: states are never freed.
        let st = unsafe { &*s };
        f(st);
        s = st.next;
    }
}

/// Sum of all threads' counters.
pub fn totals() -> Counters {
    let mut t = Counters::default();
    for_each_state(&mut |s| {
        t.allocs += s.counters.allocs;
        t.frees += s.counters.frees;
        t.bytes_allocated += s.counters.bytes_allocated;
    });
    t
}

impl ThreadState {
    /// Keeps the chunk of block `q` (released, clean, not the program's
    /// any more) for this thread's next allocation of its class, instead
    /// of giving it back to glibc. Under a FIFO quarantine glibc gets frees
    /// in bursts, its tcache overflows into its slow bins on each of them,
    /// and the chunks it hands out next are cold; the recycled lists serve
    /// the next allocations of each class from the chunks that just left
    /// the quarantine (their lines were prefetched to check them). False
    /// when the chunk must go back to glibc: an aligned block, a large one,
    /// or a full cache.
    ///
    /// # Safety
    /// `q` is a released block start, `w0` its header's first word, `rz`
    /// the redzone size.
    #[inline(always)]
    unsafe fn recycle(&mut self, q: usize, w0: u64, rz: usize) -> bool {
        if (w0 >> OFFSET_SHIFT) & 0x3f != u64::from(HEADER.trailing_zeros()) {
            return false;
        }
        let len = (w0 & SIZE_MASK) as usize + HEADER + rz;
        if len > RECYCLE_MAX_LEN {
            return false;
        }
        let class = recycle_class(len);
        if self.recycled_bytes + (class << 4) > RECYCLE_MAX_BYTES {
            return false;
        }
        let raw = q - HEADER;
        // SAFETY: the chunk is ours until it is taken again; its first
        // word (the block's old header) links the list.
        unsafe { (raw as *mut usize).write(self.recycled[class]) };
        self.recycled[class] = raw;
        self.recycled_bytes += class << 4;
        true
    }

    /// Calls `f` on each quarantined block start, oldest first.
    pub fn for_each_freed(&self, f: &mut dyn FnMut(usize)) {
        if self.busy.load(Ordering::Acquire) {
            return;
        }
        for k in 0..self.ring_len {
            let i = (self.ring_head + k) & (self.ring_cap.wrapping_sub(1));
            // SAFETY: i < ring_cap (ring_len > 0 implies a ring).
            f(unsafe { (*self.ring.add(i))[0] });
        }
    }

    fn grow_ring(&mut self) -> bool {
        let cap = if self.ring_cap == 0 {
            RING_FIRST
        } else {
            self.ring_cap * 2
        };
        let new = sys::map_private(cap * 16).cast::<[usize; 2]>();
        if new.is_null() {
            return false;
        }
        for k in 0..self.ring_len {
            // SAFETY: both indices within their rings.
            unsafe {
                *new.add(k) = *self.ring.add((self.ring_head + k) & (self.ring_cap - 1));
            }
        }
        if !self.ring.is_null() {
            sys::unmap_private(self.ring.cast(), self.ring_cap * 16);
        }
        self.ring = new;
        self.ring_cap = cap;
        self.ring_head = 0;
        true
    }

    /// Starts loading everything the eviction of ring entry `k` (counted
    /// from the head) will touch: its header (and glibc's chunk header
    /// before it), its poisoned lines and its redzone. Blocks leave the
    /// ring long after they were last used, so each of these lines misses
    /// the cache; a whole batch is prefetched together, a batch ahead, so
    /// the misses overlap instead of being waited for one after the other.
    #[inline(always)]
    fn prefetch_entry(&self, k: usize, pmax: usize, rz: usize) {
        // SAFETY: index masked below ring_cap, within the ring's entries.
        let [q, size] = unsafe { *self.ring.add((self.ring_head + k) & (self.ring_cap - 1)) };
        // glibc's size word, the header and the poison's first line.
        prefetch(q - HEADER - 8);
        let poison_end = q + size.min(pmax);
        let mut line = ((q - HEADER - 8) & !63) + 64;
        while line + 64 < poison_end {
            prefetch(line);
            line += 64;
        }
        prefetch(poison_end.saturating_sub(1));
        prefetch(q + size);
        prefetch(q + size + rz.saturating_sub(1));
    }

    /// Puts a released block in the ring. Blocks that leave it are checked
    /// (poison, redzone): clean ones are recycled (see [`Self::recycle`])
    /// or handed to `evict` (which gives them back to glibc), damaged ones
    /// are kept in `damaged` for the caller to report before it gives them
    /// back. Inlined into the release, with the eviction (one release in
    /// about sixteen) out of line: 24 instructions per malloc/free pair
    /// fewer than the whole of it out of line (`bench/check_instr.sh`).
    #[inline(always)]
    fn quarantine<E: FnMut(usize)>(
        &mut self,
        q: usize,
        size: usize,
        damaged: &mut Damaged,
        evict: &mut E,
    ) {
        if self.ring_len == self.ring_cap {
            self.quarantine_slow(q, size, damaged, evict);
            return;
        }
        self.busy.store(true, Ordering::Relaxed);
        // Ordered against a signal handler on this thread (the stop).
        compiler_fence(Ordering::SeqCst);
        let i = (self.ring_head + self.ring_len) & (self.ring_cap - 1);
        // SAFETY: i < ring_cap.
        unsafe { *self.ring.add(i) = [q, size] };
        self.ring_len += 1;
        self.ring_bytes += size;
        if self.ring_bytes > QUARANTINE_BYTES.load(Ordering::Relaxed) {
            self.evict_batch(damaged, evict);
        }
        compiler_fence(Ordering::SeqCst);
        self.busy.store(false, Ordering::Relaxed);
    }

    /// [`Self::quarantine`] with a full ring: grown, or the block leaves
    /// at once when it cannot be.
    #[cold]
    #[inline(never)]
    fn quarantine_slow<E: FnMut(usize)>(
        &mut self,
        q: usize,
        size: usize,
        damaged: &mut Damaged,
        evict: &mut E,
    ) {
        self.busy.store(true, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        let grown = self.grow_ring();
        compiler_fence(Ordering::SeqCst);
        self.busy.store(false, Ordering::Relaxed);
        if grown {
            self.quarantine(q, size, damaged, evict);
        } else {
            leave_quarantine(q, size, poison_max(), redzone(), damaged, &mut |p, _| {
                evict(p)
            });
        }
    }

    /// Over the volume: evicts a batch of the oldest blocks (at least
    /// enough to get back under it). The lines of the batch after it are
    /// prefetched now: they have arrived by the time it leaves, some
    /// sixteen releases later, where a batch prefetched just before its
    /// own checks still waited on its first blocks.
    #[inline(never)]
    fn evict_batch<E: FnMut(usize)>(&mut self, damaged: &mut Damaged, evict: &mut E) {
        let limit = QUARANTINE_BYTES.load(Ordering::Relaxed);
        let batch = self.ring_len.min(EVICT_BATCH);
        let (pmax, rz) = (poison_max(), redzone());
        for k in batch..self.ring_len.min(2 * EVICT_BATCH) {
            self.prefetch_entry(k, pmax, rz);
        }
        // The ring's position in locals (the busy flag covers the whole
        // change): stores through `self` in the loop would make the
        // compiler reload them on every block.
        let mask = self.ring_cap - 1;
        let (mut head, mut len, mut bytes) = (self.ring_head, self.ring_len, self.ring_bytes);
        let mut evicted = 0;
        // A full `damaged` list stops the batch: the rest stays held (and
        // checked) until a later release.
        while (evicted < batch || bytes > limit) && len > 0 && !damaged.full() {
            // SAFETY: head < ring_cap.
            let [old, old_size] = unsafe { *self.ring.add(head) };
            head = (head + 1) & mask;
            len -= 1;
            bytes -= old_size;
            leave_quarantine(old, old_size, pmax, rz, damaged, &mut |p, w0| {
                // SAFETY: a clean block that left the quarantine, its
                // header's size the one recorded at its release.
                if !unsafe { self.recycle(p, w0, rz) } {
                    evict(p);
                }
            });
            evicted += 1;
        }
        (self.ring_head, self.ring_len, self.ring_bytes) = (head, len, bytes);
    }
}

/// Blocks found damaged as they left a quarantine, not yet given back.
pub struct Damaged {
    n: usize,
    /// The first `n` are set. Left unset, not zeroed: every free makes
    /// one, and almost all stay empty.
    items: [core::mem::MaybeUninit<usize>; DAMAGED_MAX],
}

/// Damaged blocks one release can hand back for reporting.
const DAMAGED_MAX: usize = 8;

impl Damaged {
    /// An empty list.
    #[inline]
    pub const fn new() -> Damaged {
        Damaged {
            n: 0,
            items: [core::mem::MaybeUninit::uninit(); DAMAGED_MAX],
        }
    }
    #[inline]
    fn full(&self) -> bool {
        self.n == DAMAGED_MAX
    }
    /// The damaged block starts (still quarantined memory, headers intact).
    pub fn blocks(&self) -> &[usize] {
        let set = self.items.get(..self.n).unwrap_or(&[]);
        // SAFETY: the first `n` items are set; MaybeUninit<usize> has
        // usize's layout.
        unsafe { core::slice::from_raw_parts(set.as_ptr().cast::<usize>(), set.len()) }
    }
}

/// A block leaves the quarantine: given to `evict` (with its header's
/// first word) when its header still holds the size the ring recorded at
/// its release (`size`) and its poison and redzone are intact, else kept
/// in `damaged` (see [`check_freed`] for the details the report needs). A
/// header overwritten after the free (an underflowing write) is never
/// trusted with the block's size: its chunk is not recycled for it.
#[inline(always)]
fn leave_quarantine<E: FnMut(usize, u64)>(
    q: usize,
    size: usize,
    pmax: usize,
    rz: usize,
    damaged: &mut Damaged,
    evict: &mut E,
) {
    // SAFETY: a quarantined block keeps its header.
    let w0 = unsafe { header_at(q).read() };
    // SAFETY: the block's memory and redzone are still ours.
    let clean = (w0 & SIZE_MASK) as usize == size
        && unsafe {
            (w0 & FLAG_POISONED == 0 || all_bytes(q, POISON, size.min(pmax)))
                && (w0 & FLAG_OVERRUN_REPORTED != 0 || all_bytes(q + size, CANARY, rz))
        };
    if clean || damaged.full() {
        evict(q, w0);
    } else {
        damaged.items[damaged.n] = core::mem::MaybeUninit::new(q);
        damaged.n += 1;
    }
}

/// Asks the CPU to start loading the cache line of `at` (a hint: it never
/// faults).
#[inline]
fn prefetch(at: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(at as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

// ---- allocation and release ----------------------------------------------------

/// Finishes a fresh block: header, canary, live bit, counters. `raw` is
/// glibc's pointer, `q` the program's.
///
/// # Safety
/// `raw .. q + size + REDZONE` must be a fresh glibc block; `q - raw` is a
/// power of two of at least [`HEADER`].
#[inline]
pub unsafe fn register(
    td: &ThreadData,
    raw: usize,
    q: usize,
    size: usize,
    kind: u8,
    stack: u32,
) -> bool {
    let st = state_of(td);
    let off_log2 = (q - raw).trailing_zeros();
    // SAFETY: per the contract.
    unsafe {
        write_header(q, size, kind, stack, off_log2);
        write_canary(q, size);
    }
    if size > MAX_SIZE_SEEN.load(Ordering::Relaxed) {
        MAX_SIZE_SEEN.fetch_max(size, Ordering::Relaxed);
    }
    if !set_live(q) {
        return false;
    }
    if kind & INTERNAL == 0 {
        on_state(st, |s| {
            s.counters.allocs += 1;
            s.counters.bytes_allocated += size as u64;
        });
    }
    true
}

/// Counts a guarded block's allocation (see `guard`).
pub fn count_alloc(size: usize) {
    with_state(|s| {
        s.counters.allocs += 1;
        s.counters.bytes_allocated += size as u64;
    });
}

/// Counts a release that `release` did not see (guarded blocks, and bad
/// frees of addresses in the guard pool).
pub fn count_free() {
    with_state(|s| s.counters.frees += 1);
}

/// Counts an allocation that made no block (Valgrind counts a realloc of
/// an invalid pointer as an allocation of the new size).
pub fn count_failed_alloc(size: usize) {
    with_state(|s| {
        s.counters.allocs += 1;
        s.counters.bytes_allocated += size as u64;
    });
}

/// Damage found on a block leaving the quarantine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FreedDamage {
    /// Bytes of the freed block overwritten while it was quarantined
    /// (first and last offset from the block start).
    pub after_free: Option<(usize, usize)>,
    /// The damaged canary after the block's end (offsets from the end):
    /// written while the block was live or while it was quarantined.
    pub after_end: Option<(usize, usize)>,
}

/// Damage found on a live block's edges when it was released: bytes before
/// its start (offsets counted back from the start, 1 = the byte just before)
/// and after its end (offsets from the end).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Damages {
    pub before_start: Option<(usize, usize)>,
    pub after_end: Option<(usize, usize)>,
}

/// What a release found.
pub enum Release {
    /// The block was live; it is now quarantined (or given back).
    Live(Block, Damages),
    /// The pointer is the start of a block freed earlier (still quarantined).
    AlreadyFreed(Freed),
    /// Not a block start the runtime knows.
    Unknown,
}

// ---- recycled chunks ------------------------------------------------------------

/// Largest glibc request (header, block and redzone) whose chunk is
/// recycled; larger ones go back to glibc.
const RECYCLE_MAX_LEN: usize = 1000;
const RECYCLE_CLASSES: usize = recycle_class(RECYCLE_MAX_LEN) + 1;
/// Bytes of recycled chunks a thread keeps before it gives them to glibc.
const RECYCLE_MAX_BYTES: usize = 1 << 20;

/// The size class of a glibc request of `len` bytes: glibc's chunk size
/// (`request2size`: the request plus its size word, rounded up to 16) over
/// 16. Every request of one class gets a chunk of at least that size, whose
/// usable part (the chunk less its size word) holds any request of the
/// class.
#[inline(always)]
const fn recycle_class(len: usize) -> usize {
    (len + 8 + 15) >> 4
}

/// A recycled chunk for a glibc request of `len` bytes (see
/// [`ThreadState::recycle`]),
/// or None.
#[inline]
pub fn take_recycled(td: &ThreadData, len: usize) -> Option<usize> {
    if len > RECYCLE_MAX_LEN {
        return None;
    }
    let st = state_of(td);
    if st.is_null() {
        return None;
    }
    // SAFETY: this thread's own state.
    let s = unsafe { &mut *st };
    let class = recycle_class(len);
    let raw = s.recycled[class];
    if raw == 0 {
        return None;
    }
    // SAFETY: a recycled chunk links the next one in its first word.
    s.recycled[class] = unsafe { (raw as *const usize).read() };
    s.recycled_bytes -= class << 4;
    Some(raw)
}

/// The raw glibc pointer of block `q`.
///
/// # Safety
/// `q` is a block start.
#[inline]
pub unsafe fn raw_of(q: usize) -> usize {
    // SAFETY: per the contract.
    q - unsafe { read_block(q) }.offset
}

/// Releases block `q`: the live bit is cleared, the header checked and
/// marked, the memory poisoned and quarantined. Blocks leaving the
/// quarantine clean, or never held, are recycled (see
/// [`ThreadState::recycle`]) or handed to `evict` (which gives them to
/// glibc); blocks found damaged on leaving are listed in `damaged` (the
/// caller reports them, then gives them back).
#[inline]
pub fn release<E: FnMut(usize)>(
    td: &ThreadData,
    q: usize,
    free_stack: u32,
    damaged: &mut Damaged,
    evict: &mut E,
) -> Release {
    let st = state_of(td);
    if !take_live(q) {
        with_state(|s| s.counters.frees += 1);
        return match freed_at(q) {
            Some(f) => Release::AlreadyFreed(f),
            None => Release::Unknown,
        };
    }
    let h = header_at(q);
    // SAFETY: we own the release of a block whose header was complete.
    let (w0, w1) = unsafe { (h.read(), h.add(1).read()) };
    if check_word(q, w0) != (w1 >> 32) as u32 {
        return release_damaged_header(q, free_stack, damaged, evict);
    }
    let mut kind = ((w0 >> KIND_SHIFT) & 0x0f) as u8;
    if w0 & FLAG_INTERNAL != 0 {
        kind |= INTERNAL;
    }
    let b = Block {
        ptr: q,
        size: (w0 & SIZE_MASK) as usize,
        stack: w1 as u32,
        kind,
    };
    let mut damage = Damages::default();
    // A block the quarantine will hold has its canary checked when it
    // leaves (see `leave_quarantine`): the block's end is often cold when
    // it is freed, and reading it there waited for memory on every free;
    // on eviction it has been prefetched. The report is the same: it
    // carries the stack of the block's free.
    let limit = QUARANTINE_BYTES.load(Ordering::Relaxed);
    let held = kind & INTERNAL == 0 && limit != 0 && b.size <= limit / 2;
    if !held {
        if w0 & FLAG_OVERRUN_REPORTED == 0 {
            // SAFETY: the canary was written at allocation.
            damage.after_end = unsafe { check_canary(q, b.size) };
        }
        if kind & INTERNAL == 0 {
            on_state(st, |s| s.counters.frees += 1);
            // A big block: its pages closed until the next allocation.
            if crate::held::wanted(b.size) && hold_big(b, free_stack, evict) {
                return Release::Live(b, damage);
            }
        }
        // Not worth poisoning or holding: recycled or given back at once.
        // SAFETY: st is this thread's state; the header was checked above.
        if st.is_null() || !unsafe { (*st).recycle(q, w0, redzone()) } {
            evict(q);
        }
        return Release::Live(b, damage);
    }
    let poison = b.size.min(poison_max());
    // SAFETY: as above; the block's memory is still ours.
    unsafe {
        h.write(w0 | FLAG_FREED | if poison > 0 { FLAG_POISONED } else { 0 });
        h.add(1)
            .write((w1 & 0xffff_ffff) | (u64::from(free_stack) << 32));
        fill(q, POISON, poison);
    }
    on_state(st, |s| {
        s.counters.frees += 1;
        s.quarantine(q, b.size, damaged, evict);
    });
    Release::Live(b, damage)
}

/// [`crate::held::hold`], out of line: the release of a small block,
/// the common case, keeps its registers (19 instructions per pair inline).
#[cold]
#[inline(never)]
fn hold_big<E: FnMut(usize)>(b: Block, free_stack: u32, evict: &mut E) -> bool {
    crate::held::hold(b, free_stack, evict)
}

/// The release of a live block whose check word was damaged (an underflow
/// wrote before it): reported, and held or given back only when the size
/// and alignment are still believable. It repeats the end of [`release`]
/// rather than rejoining it: with the damage known to be none on its path,
/// `release` and its caller's check of the result stay about eight
/// instructions shorter per free (`bench/check_instr.sh`).
#[cold]
#[inline(never)]
fn release_damaged_header<E: FnMut(usize)>(
    q: usize,
    free_stack: u32,
    damaged: &mut Damaged,
    evict: &mut E,
) -> Release {
    // SAFETY: we own the release of a block whose header was complete.
    let before = unsafe { check_header(q) };
    // SAFETY: as above.
    let mut b = unsafe { read_block(q) }.block;
    let mut damage = Damages {
        before_start: before
            .map(|(first, last, _)| (first, last))
            .filter(|_| !underflow_reported(q, true)),
        after_end: None,
    };
    if let Some((_, _, false)) = before {
        // The size and alignment were overwritten: the block cannot be
        // checked, held or given back safely. It stays allocated.
        b.size = 0;
        b.stack = 0;
        with_state(|s| s.counters.frees += 1);
        return Release::Live(b, damage);
    }
    let limit = QUARANTINE_BYTES.load(Ordering::Relaxed);
    let held = b.kind & INTERNAL == 0 && limit != 0 && b.size <= limit / 2;
    // SAFETY: the canary was written at allocation.
    if !held && !unsafe { overrun_reported(q) } {
        // SAFETY: as above.
        damage.after_end = unsafe { check_canary(q, b.size) };
    }
    if !held {
        if b.kind & INTERNAL == 0 {
            with_state(|s| s.counters.frees += 1);
        }
        evict(q);
        return Release::Live(b, damage);
    }
    let poison = b.size.min(poison_max());
    // SAFETY: as above.
    unsafe { mark_freed(q, b.stack, free_stack, poison > 0) };
    // SAFETY: the block's memory is still ours.
    unsafe { fill(q, POISON, poison) };
    with_state(|s| {
        s.counters.frees += 1;
        s.quarantine(q, b.size, damaged, evict);
    });
    Release::Live(b, damage)
}

/// This thread's own state, or null when it has none yet or is exiting
/// (then [`with_state`] finds or makes one; the thread is given its state
/// first, as [`ensure_state`] does). `td` is this thread's data: the hooks
/// pass it along, as the compiler would otherwise compute its address
/// again after each store.
#[inline(always)]
fn state_of(td: &ThreadData) -> *mut ThreadState {
    let cur = td.state.get();
    if !cur.is_null() && cur != EXITED {
        return cur;
    }
    ensure_state();
    ptr::null_mut()
}

/// Runs `f` with state `st` from [`state_of`], or through [`with_state`]
/// when that was null.
#[inline(always)]
fn on_state<T>(st: *mut ThreadState, f: impl FnOnce(&mut ThreadState) -> T) -> Option<T> {
    if st.is_null() {
        with_state(f)
    } else {
        // SAFETY: this thread's own state (see state_of).
        Some(f(unsafe { &mut *st }))
    }
}

/// Checks a block leaving the quarantine (or still in it at exit): its
/// poison, and its canary (deferred from the release, see [`release`]).
///
/// # Safety
/// `q` is a quarantined (freed) block start.
pub unsafe fn check_freed(q: usize) -> FreedDamage {
    let mut d = FreedDamage::default();
    // SAFETY: per the contract.
    let Header {
        block: b, freed, ..
    } = unsafe { read_block(q) };
    if !freed {
        return d;
    }
    // SAFETY: as above.
    let h = unsafe { header_at(q).read() };
    if h & FLAG_POISONED != 0 {
        let n = b.size.min(poison_max());
        // SAFETY: the block's memory is still ours.
        if !unsafe { all_bytes(q, POISON, n) } {
            // SAFETY: as above.
            let bytes = unsafe { core::slice::from_raw_parts(q as *const u8, n) };
            d.after_free = first_last_not(bytes, POISON);
        }
    }
    if h & FLAG_OVERRUN_REPORTED == 0 {
        // SAFETY: the canary was written at allocation and is still ours.
        d.after_end = unsafe { check_canary(q, b.size) };
    }
    d
}

/// A quarantined block matching `pred` (all threads' rings).
pub fn find_freed(mut pred: impl FnMut(&Freed) -> bool) -> Option<Freed> {
    let mut found = None;
    for_each_state(&mut |s| {
        if found.is_some() {
            return;
        }
        s.for_each_freed(&mut |q| {
            if found.is_some() {
                return;
            }
            // SAFETY: quarantined blocks keep their headers.
            let Header {
                block: b,
                free_stack,
                ..
            } = unsafe { read_block(q) };
            let f = Freed {
                ptr: q,
                size: b.size,
                alloc_stack: b.stack,
                free_stack,
            };
            if pred(&f) {
                found = Some(f);
            }
        });
    });
    found
}

/// The freed block starting at `q`, in a quarantine or held as a big
/// block (see `held`). Out of line: the release that calls it for a
/// double free keeps its registers for the common case.
#[cold]
#[inline(never)]
fn freed_at(q: usize) -> Option<Freed> {
    find_freed(|f| f.ptr == q).or_else(|| crate::held::find_freed(&mut |f| f.ptr == q))
}

/// The block (live or quarantined) whose memory or redzone holds `addr`:
/// `(live, block, free stack)`. Slow: for error reports only.
pub fn find_containing(addr: usize) -> Option<(bool, Block, u32)> {
    if let Some(found) = crate::guard::find(addr) {
        return Some(found);
    }
    let rz = redzone();
    let reach = MAX_SIZE_SEEN.load(Ordering::Relaxed) + rz;
    if let Some(q) = live_start_below(addr, reach) {
        // SAFETY: a set bit means a complete header.
        let b = unsafe { read_block(q) }.block;
        if addr < q + b.size.max(1) && b.kind & INTERNAL == 0 {
            return Some((true, b, 0));
        }
    }
    let inside = |f: &Freed| addr >= f.ptr && addr < f.ptr + f.size.max(1);
    if let Some(f) = find_freed(inside).or_else(|| crate::held::find_freed(&mut { inside })) {
        return Some((
            false,
            Block {
                ptr: f.ptr,
                size: f.size,
                stack: f.alloc_stack,
                kind: 0,
            },
            f.free_stack,
        ));
    }
    None
}

/// The runtime's table locks, held until dropped (fork prepare,
/// end-of-process report).
pub struct TableLocks {
    // Fields drop in order: the directory's lock first, as it was taken last.
    _dir: SpinGuard<'static>,
    _states: SpinGuard<'static>,
}

/// Holds the runtime's table locks (fork prepare, end-of-process report).
pub fn lock_all() -> TableLocks {
    let states = STATES_LOCK.lock();
    let dir = DIR_LOCK.lock();
    TableLocks {
        _dir: dir,
        _states: states,
    }
}

/// Frees the orphan state's lock (fork child; the others are released by
/// the fork handlers' [`TableLocks`]).
///
/// # Safety
/// Only in a fork child: the lock's holder did not survive the fork.
pub unsafe fn reset_in_child() {
    // SAFETY: as this function's.
    unsafe { ORPHAN_LOCK.force_unlock() };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block in test memory laid out as the hooks lay it out.
    fn make(buf: &mut [u64], size: usize, stack: u32) -> usize {
        let raw = buf.as_mut_ptr() as usize;
        let q = (raw + HEADER + 15) & !15;
        let raw = q - HEADER;
        // SAFETY: buf is big enough for header, block and redzone.
        assert!(unsafe { register(crate::tls::get(), raw, q, size, 1, stack) });
        q
    }

    #[test]
    fn release_then_double_release_are_told_apart() {
        let mut buf = vec![0u64; 64];
        let q = make(&mut buf, 40, 7);
        assert_eq!(lookup(q).map(|b| (b.size, b.stack)), Some((40, 7)));
        let mut evicted = Vec::new();
        match release(crate::tls::get(), q, 9, &mut Damaged::new(), &mut |p| {
            evicted.push(p)
        }) {
            Release::Live(b, damage) => {
                assert_eq!(b.size, 40);
                assert_eq!(damage, Damages::default());
            }
            _ => panic!("first release must find the live block"),
        }
        assert!(lookup(q).is_none());
        match release(crate::tls::get(), q, 11, &mut Damaged::new(), &mut |p| {
            evicted.push(p)
        }) {
            Release::AlreadyFreed(f) => {
                assert_eq!((f.ptr, f.size, f.alloc_stack, f.free_stack), (q, 40, 7, 9));
            }
            _ => panic!("second release must find the quarantined block"),
        }
        assert!(evicted.is_empty());
        assert!(matches!(
            release(
                crate::tls::get(),
                q + 8,
                1,
                &mut Damaged::new(),
                &mut |_| {}
            ),
            Release::Unknown
        ));
    }

    #[test]
    fn canary_damage_of_a_held_block_is_found_when_it_leaves() {
        let mut buf = vec![0u64; 64];
        let q = make(&mut buf, 13, 1);
        // SAFETY: within buf (the redzone follows the block).
        unsafe { *((q + 13) as *mut u8) = 0 };
        match release(crate::tls::get(), q, 2, &mut Damaged::new(), &mut |_| {}) {
            // Quarantined: the canary check is deferred to its eviction.
            Release::Live(_, d) => assert_eq!(d.after_end, None),
            _ => panic!("live block expected"),
        }
        // SAFETY: the quarantined block's memory is buf's.
        let d = unsafe { check_freed(q) };
        assert_eq!((d.after_end, d.after_free), (Some((0, 0)), None));
    }

    #[test]
    fn canary_damage_of_a_block_too_big_to_hold_is_found_on_release() {
        // Bigger than half the default quarantine: given back at once.
        let size = DEFAULT_QUARANTINE / 2 + 16;
        let mut buf = vec![0u64; (size + 256) / 8];
        let q = make(&mut buf, size, 1);
        // SAFETY: within buf (the redzone follows the block).
        unsafe { *((q + size + 3) as *mut u8) = 0 };
        match release(crate::tls::get(), q, 2, &mut Damaged::new(), &mut |_| {}) {
            Release::Live(_, d) => assert_eq!(d.after_end, Some((3, 3))),
            _ => panic!("live block expected"),
        }
    }

    #[test]
    fn a_damaged_block_leaving_the_quarantine_is_kept_for_the_report() {
        let mut buf = vec![0u64; 128];
        let clean = make(&mut buf[..64], 24, 1);
        let dirty = make(&mut buf[64..], 24, 1);
        let _ = release(
            crate::tls::get(),
            clean,
            2,
            &mut Damaged::new(),
            &mut |_| {},
        );
        let _ = release(
            crate::tls::get(),
            dirty,
            2,
            &mut Damaged::new(),
            &mut |_| {},
        );
        // SAFETY: the quarantined block's memory is buf's.
        unsafe { *((dirty + 4) as *mut u8) = 1 };
        let mut damaged = Damaged::new();
        let mut evicted = Vec::new();
        leave_quarantine(
            clean,
            24,
            poison_max(),
            redzone(),
            &mut damaged,
            &mut |p, _| evicted.push(p),
        );
        leave_quarantine(
            dirty,
            24,
            poison_max(),
            redzone(),
            &mut damaged,
            &mut |p, _| evicted.push(p),
        );
        assert_eq!(evicted, vec![clean]);
        assert_eq!(damaged.blocks(), &[dirty]);
        // SAFETY: as above.
        let d = unsafe { check_freed(dirty) };
        assert_eq!(d.after_free, Some((4, 4)));
    }

    #[test]
    fn write_after_free_is_found_in_the_poison() {
        let mut buf = vec![0u64; 64];
        let q = make(&mut buf, 32, 1);
        let _ = release(crate::tls::get(), q, 2, &mut Damaged::new(), &mut |_| {});
        // SAFETY: the quarantined block's memory is buf's.
        unsafe { assert_eq!(check_freed(q), FreedDamage::default()) };
        // SAFETY: as above.
        unsafe { *((q + 8) as *mut u32) = 5 };
        // SAFETY: as above.
        let d = unsafe { check_freed(q) };
        assert!(matches!(d.after_free, Some((8, _))));
    }

    #[test]
    fn containing_block_and_enumeration_follow_the_bitmap() {
        let mut buf = vec![0u64; 4096];
        let base = (buf.as_mut_ptr() as usize + HEADER + 15) & !15;
        let mut starts = Vec::new();
        for k in 0..20 {
            let q = base + k * 128;
            // SAFETY: within buf.
            assert!(unsafe { register(crate::tls::get(), q - HEADER, q, 100, 1, k as u32) });
            starts.push(q);
        }
        assert_eq!(
            find_containing(starts[3] + 99).map(|(l, b, _)| (l, b.ptr)),
            Some((true, starts[3]))
        );
        // Past the end: in no live block. (Other tests running beside this
        // one leave freed blocks of their dropped buffers in their
        // quarantines, which may lie where this buffer now is.)
        assert_eq!(
            find_containing(starts[3] + 100)
                .filter(|&(live, ..)| live)
                .map(|(l, b, _)| (l, b.ptr)),
            None
        );
        let mut seen = Vec::new();
        for_each_live(&mut |q| {
            if q >= base && q < base + 20 * 128 {
                seen.push(q)
            }
        });
        assert_eq!(seen, starts);
        for q in starts {
            let _ = release(crate::tls::get(), q, 1, &mut Damaged::new(), &mut |_| {});
        }
    }

    #[test]
    fn a_recycled_chunk_serves_only_requests_of_its_class() {
        // Leaked: a recycled chunk stays the thread state's until taken.
        let buf: &'static mut [u64] = Box::leak(vec![0u64; 64].into_boxed_slice());
        let q = make(buf, 40, 1);
        let _ = release(crate::tls::get(), q, 2, &mut Damaged::new(), &mut |_| {});
        let len = 40 + HEADER + redzone();
        // SAFETY: a released block, its header intact.
        assert!(unsafe {
            (*state_of(crate::tls::get())).recycle(q, header_at(q).read(), redzone())
        });
        // glibc gives a request of `len` a chunk of 16 * class bytes, of
        // which all but the size word are usable.
        let class = recycle_class(len);
        let (lowest, highest) = ((class << 4) - 8 - 15, (class << 4) - 8);
        assert_eq!(recycle_class(lowest), class);
        assert_eq!(recycle_class(lowest - 1), class - 1);
        assert_eq!(recycle_class(highest + 1), class + 1);
        assert_ne!(
            take_recycled(crate::tls::get(), highest + 1),
            Some(q - HEADER)
        );
        assert_ne!(
            take_recycled(crate::tls::get(), lowest - 1),
            Some(q - HEADER)
        );
        assert_eq!(take_recycled(crate::tls::get(), lowest), Some(q - HEADER));
        assert_ne!(take_recycled(crate::tls::get(), highest), Some(q - HEADER));
    }
}
