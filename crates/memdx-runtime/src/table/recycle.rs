//! Chunk recycling: clean glibc chunks that left a quarantine are kept per
//! thread and size class and serve that thread's next allocations of the
//! class, instead of going back to glibc cold.

use super::header::{HEADER, OFFSET_SHIFT, SIZE_MASK};
use super::state::{state_of, ThreadState};
use crate::tls::ThreadData;

/// Largest glibc request (header, block and redzone) whose chunk is
/// recycled; larger ones go back to glibc.
const RECYCLE_MAX_LEN: usize = 1000;
pub(super) const RECYCLE_CLASSES: usize = recycle_class(RECYCLE_MAX_LEN) + 1;
/// Bytes of recycled chunks a thread keeps before it gives them to glibc.
const RECYCLE_MAX_BYTES: usize = 1 << 20;

/// The size class of a glibc request of `len` bytes: glibc's chunk size
/// (`request2size`: the request plus its size word, rounded up to 16) over
/// 16. Every request of one class gets a chunk of at least that size, whose
/// usable part (the chunk less its size word) holds any request of the
/// class.
#[inline(always)]
pub(super) const fn recycle_class(len: usize) -> usize {
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
    pub(super) unsafe fn recycle(&mut self, q: usize, w0: u64, rz: usize) -> bool {
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
}
