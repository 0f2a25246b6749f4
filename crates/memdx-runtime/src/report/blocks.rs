//! Block headers as the report reads them: directly, or through
//! `/proc/self/mem` from a page the program protected.

use core::sync::atomic::{AtomicI32, Ordering};

use crate::table;

/// Whether block `q`'s header can be read directly.
pub(super) fn header_readable(q: usize) -> bool {
    crate::catch::range_readable(q - table::HEADER, q)
}

/// `/proc/self/mem`, opened when a header is on a protected page (-1: not
/// open). Reading it ignores page protections, as a debugger's reads do,
/// so such a block keeps its size and stack; an unmapped page stays
/// unreadable.
static MEM_FD: AtomicI32 = AtomicI32::new(-1);

/// Block `q`'s header (see [`table::read_block`]), also from a page the
/// program protected; `None` when it cannot be read at all (unmapped).
pub(super) fn read_header(q: usize) -> Option<table::Header> {
    if header_readable(q) {
        // SAFETY: a block start with a readable header.
        return Some(unsafe { table::read_block(q) });
    }
    let mut fd = MEM_FD.load(Ordering::Relaxed);
    if fd < 0 {
        // SAFETY: open(2) on a NUL-terminated path.
        fd = unsafe { libc::open(c"/proc/self/mem".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        MEM_FD.store(fd, Ordering::Relaxed);
    }
    let mut words = [0u64; 2];
    let at = (q - table::HEADER) as libc::off_t;
    // SAFETY: pread into a local buffer of 16 bytes.
    let n = unsafe { libc::pread(fd, words.as_mut_ptr().cast(), 16, at) };
    (n == 16).then(|| table::decode_header(q, words[0], words[1]))
}

/// Closes what [`read_header`] opened.
pub(super) fn close_mem() {
    let fd = MEM_FD.swap(-1, Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: our own descriptor.
        unsafe { libc::close(fd) };
    }
}

/// Whether `len` bytes from `at` (a block's redzone, a freed block) can be
/// read.
pub(super) fn bytes_readable(at: usize, len: usize) -> bool {
    crate::catch::range_readable(at, at + len)
}

/// Live and quarantined blocks (not the runtime's own).
pub(super) fn count_blocks() -> (usize, usize) {
    let mut n = 0usize;
    table::for_each_live(&mut |q| {
        if read_header(q).is_some_and(|h| h.block.kind & table::INTERNAL == 0) {
            n += 1;
        }
    });
    crate::guard::for_each_live(&mut |_| n += 1);
    let mut freed = 0usize;
    table::for_each_state(&mut |s| s.for_each_freed(&mut |_| freed += 1));
    (n, freed)
}
