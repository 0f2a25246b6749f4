//! The 16-byte header in front of every block: its encoding (word 0:
//! size, kind, flags, log2(offset); word 1: allocation stack id, and in its
//! high half the check word of a live block or the free stack of a freed
//! one), and the checks that tell a write before a block (an underflow).

use core::sync::atomic::{AtomicUsize, Ordering};

use super::live::is_live;
use super::redzone::redzone;
use super::{Block, Header};

pub const HEADER: usize = 16;
/// Block kind flag (in `Block::kind`): allocated by the runtime's own work
/// (not counted, not reported, not scanned).
pub const INTERNAL: u8 = 0x80;

pub(super) const SIZE_MASK: u64 = (1 << 48) - 1;
pub(super) const KIND_SHIFT: u32 = 48;
pub(super) const FLAG_INTERNAL: u64 = 1 << 52;
pub(super) const FLAG_FREED: u64 = 1 << 53;
pub(super) const FLAG_POISONED: u64 = 1 << 54;
/// An overrun of this live block was reported already (by a checked C
/// library routine, before it did the write): its redzone damage is not
/// reported again.
pub(super) const FLAG_OVERRUN_REPORTED: u64 = 1 << 55;
pub(super) const OFFSET_SHIFT: u32 = 56;
/// Largest block size the header can hold.
pub const MAX_SIZE: usize = SIZE_MASK as usize;

#[inline]
pub(super) fn header_at(q: usize) -> *mut u64 {
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
pub(super) fn check_word(q: usize, w0: u64) -> u32 {
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

/// A live block's damaged header ([`check_header`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderDamage {
    /// The damaged bytes as offsets before the block (1 = the byte just
    /// before it): the first and the last.
    pub first: usize,
    pub last: usize,
    /// Whether the first word (size, alignment) is still believable:
    /// glibc's chunk size before our header must fit it.
    pub believable: bool,
}

/// Verifies a live block's header before it is trusted with a release:
/// None when it is intact.
///
/// # Safety
/// `q` is a live block start (its bit was set).
pub unsafe fn check_header(q: usize) -> Option<HeaderDamage> {
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
    Some(HeaderDamage {
        first,
        last,
        believable,
    })
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
pub(super) unsafe fn mark_freed(q: usize, alloc_stack: u32, free_stack: u32, poisoned: bool) {
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
