//! Uninitialised heap bytes, found where they leave the process.
//!
//! Fresh heap blocks (malloc, new, memalign and the part of a realloc'd
//! block past the old contents; not calloc; a call site's first
//! [`SITE_ALL`] blocks, then one in [`SITE_EVERY`]) are filled with a
//! marker: one 8-byte word repeated from the block's start. The word names
//! the allocation's stack and is checked by a keyed hash, with a key drawn
//! at random for each process, so a copied marker still names its origin
//! and data the program computed is not taken for one:
//!
//! ```text
//! byte 0     sync byte: 0x80..=0xfe, from the key
//! bytes 1-4  28 bits of the allocation's stack id xor the key, 7 a byte
//! bytes 5-7  21 bits of a keyed hash of the stack id, 7 a byte
//! ```
//!
//! Every byte of a marker has its top bit set: no marker byte is ASCII or
//! zero, so text or small numbers written next to uninitialised bytes
//! never pass for marker and never move where a run is said to start
//! (with 8-bit bytes, a program's last written byte agreed with the marker
//! byte after it once in 256 runs, and the report said "15 bytes inside"
//! where Valgrind says 16).
//!
//! The system call checks ([`crate::syscalls`]) scan what a call sends out
//! ([`first_uninit`]). A byte is taken as uninitialised when it starts a
//! run that is confirmed as marker: either a whole marker word (sync byte,
//! stack id and hash agree: 35 bits, at any offset, so copies into any
//! buffer are found), extended back over the marker bytes just before it;
//! or, in the block the buffer itself lies in, at least [`MIN_RUN`] bytes
//! equal to that block's own marker at their offset (32 bits; padding
//! holes of 4 to 7 bytes). Shorter runs are not reported: one to three
//! bytes agree with a random marker too often (1 in 256 for one byte).
//! Data that matches by chance needs 32 bits to agree: about once in 4 GiB
//! of uniformly random bytes written.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Whether blocks are filled and outgoing buffers checked.
static ON: AtomicBool = AtomicBool::new(false);
/// This process's key (never 0 once on).
static KEY: AtomicU64 = AtomicU64::new(0);

/// Blocks are filled in their first this many bytes only: a big buffer
/// the program uses in part is not made resident whole (bytes past it are
/// not checked).
pub const FILL_MAX: usize = 64 * 1024;

/// Every block of a call site is filled up to its first `SITE_ALL`
/// blocks; after that, one in [`SITE_EVERY`] (a loop allocating millions
/// of blocks from one site pays for a few; the same bug at that site is
/// found in the blocks filled).
pub const SITE_ALL: u16 = 1024;
/// See [`SITE_ALL`].
pub const SITE_EVERY: u16 = 64;

/// Blocks allocated so far per stack id (stack ids past the table share
/// slots; counts may race, which only moves the sample).
static SITE_COUNT: [core::sync::atomic::AtomicU16; 1 << 16] =
    [const { core::sync::atomic::AtomicU16::new(0) }; 1 << 16];

/// Whether this allocation at `stack` is to be filled (see [`SITE_ALL`]).
#[inline(always)]
pub fn wanted(stack: u32) -> bool {
    let slot = &SITE_COUNT[(stack & 0xffff) as usize];
    let n = slot.load(Ordering::Relaxed);
    if n < SITE_ALL {
        slot.store(n + 1, Ordering::Relaxed);
        return true;
    }
    let n = if n == u16::MAX { SITE_ALL } else { n + 1 };
    slot.store(n, Ordering::Relaxed);
    // `n % SITE_EVERY == 0`, with the mask in memory: 0 under
    // `--uninit-effects=yes`'s plan (every block), at no cost here.
    // SAFETY: written once, in the constructor, before any other thread.
    n & unsafe { *EVERY_MASK.get() } == 0
}

/// `SITE_EVERY - 1`; 0 when every block is filled (`effects`). A plain
/// read (an atomic one is not folded into the `test`: one instruction
/// more per allocation).
static EVERY_MASK: crate::sys::Racy<u16> = crate::sys::Racy::new(SITE_EVERY - 1);

/// The shortest run of a block's own marker taken as uninitialised.
pub const MIN_RUN: usize = 4;

/// Turns the check on with a fresh key unless `MEMDX_UNDEF_VALUE_ERRORS`
/// is `no`; call from the constructor.
pub fn init() {
    if crate::effects::init() {
        // `--uninit-effects=yes`'s runs: every block filled by the plan
        // (`wanted` and `fill` defer to `effects`), no marker scan.
        set_key(random_key());
        // SAFETY: the constructor, before any other thread.
        unsafe { *EVERY_MASK.get() = 0 };
        ON.store(true, Ordering::Release);
        return;
    }
    if crate::sys::getenv(c"MEMDX_UNDEF_VALUE_ERRORS") == Some(b"no") {
        return;
    }
    set_key(random_key());
    ON.store(true, Ordering::Release);
}

fn set_key(k: u64) {
    KEY.store(k | 1, Ordering::Relaxed);
}

fn random_key() -> u64 {
    let mut k = 0u64;
    // SAFETY: getrandom into a local; a failure leaves it 0.
    let n = unsafe {
        libc::syscall(
            libc::SYS_getrandom,
            (&mut k as *mut u64).cast::<libc::c_void>(),
            8usize,
            libc::GRND_NONBLOCK,
        )
    };
    if n != 8 {
        // SAFETY: reads the time-stamp counter; mixed with the pid.
        let t = unsafe { core::arch::x86_64::_rdtsc() };
        // SAFETY: getpid has no preconditions.
        k = t ^ (unsafe { libc::getpid() } as u64).rotate_left(32);
    }
    k
}

/// Whether the fill and the check are on.
#[inline(always)]
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The sync byte of `key`: never 0x00, 0xff or ASCII, so text and zeros
/// cost the scan nothing.
#[inline(always)]
fn sync_byte(key: u64) -> u8 {
    let s = 0x80 | (key >> 56) as u8;
    if s == 0xff {
        0xfe
    } else {
        s
    }
}

/// The marker word of allocations made at stack `stack` under `key`.
#[inline(always)]
fn word_for(key: u64, stack: u32) -> u64 {
    let id = u64::from((stack ^ (key >> 8) as u32) & ID_MASK);
    let h = (u64::from(stack) ^ key).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 43;
    u64::from(sync_byte(key)) | spread7(id, 4) << 8 | spread7(h, 3) << 40 | TOP_BITS
}

/// Stack ids a marker carries (the interner hands out far fewer).
const ID_MASK: u32 = (1 << 28) - 1;
/// The top bit of every byte of a marker word.
const TOP_BITS: u64 = 0x8080_8080_8080_8080;

/// The low `7 * n` bits of `x`, 7 to a byte.
#[inline(always)]
fn spread7(x: u64, n: u32) -> u64 {
    (0..n).fold(0, |w, k| w | (x >> (7 * k) & 0x7f) << (8 * k))
}

/// The inverse of [`spread7`] (top bits ignored).
#[inline(always)]
fn gather7(w: u64, n: u32) -> u64 {
    (0..n).fold(0, |x, k| x | (w >> (8 * k) & 0x7f) << (7 * k))
}

/// The marker word of allocations made at `stack`.
#[inline(always)]
pub fn word(stack: u32) -> u64 {
    word_for(KEY.load(Ordering::Relaxed), stack)
}

/// The stack id a marker word names, if `w` is one.
fn decode(key: u64, w: u64) -> Option<u32> {
    if w as u8 != sync_byte(key) || w & TOP_BITS != TOP_BITS {
        return None;
    }
    let stack = (gather7(w >> 8, 4) as u32 ^ (key >> 8) as u32) & ID_MASK;
    (word_for(key, stack) == w).then_some(stack)
}

/// Fills the first [`FILL_MAX`] bytes of the fresh block `q` (`size`
/// bytes) with the marker of `stack`.
///
/// # Safety
/// `q .. q + size` is the program's fresh block.
#[inline]
pub unsafe fn fill(q: usize, size: usize, stack: u32) {
    if crate::effects::active() {
        // SAFETY: as for this function.
        return unsafe { crate::effects::fill(q, size, stack) };
    }
    let n = size.min(FILL_MAX);
    let w = word(stack);
    // 8-byte stores (a guarded block may start unaligned), then the tail
    // in 4-, 2- and 1-byte stores: a byte loop would be compiled into a
    // call to memcpy, the runtime's own checked one.
    let words = n / 8;
    let p = q as *mut u64;
    for i in 0..words {
        // SAFETY: inside the block.
        unsafe { p.add(i).write_unaligned(w) };
    }
    let (mut at, mut rest, mut w) = (q + words * 8, n % 8, w);
    if rest >= 4 {
        // SAFETY: inside the block, `rest` >= 4 bytes from `at`.
        unsafe { (at as *mut u32).write_unaligned(w as u32) };
        (at, rest, w) = (at + 4, rest - 4, w >> 32);
    }
    if rest >= 2 {
        // SAFETY: inside the block, `rest` >= 2 bytes from `at`.
        unsafe { (at as *mut u16).write_unaligned(w as u16) };
        (at, rest, w) = (at + 2, rest - 2, w >> 16);
    }
    if rest == 1 {
        // SAFETY: inside the block, `rest` >= 1 byte from `at`.
        unsafe { (at as *mut u8).write(w as u8) };
    }
}

/// Marker bytes found in an outgoing buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Offset of the first uninitialised byte in the buffer scanned.
    pub offset: usize,
    /// The allocation stack whose fill the bytes are.
    pub origin: u32,
}

/// A scanner fed the bytes of one buffer in order (in pieces, when the
/// buffer is read through the kernel).
pub struct Scan {
    key: u64,
    sync: u8,
    /// The last 16 bytes fed, the newest in the top byte.
    hist: u128,
    /// Bytes fed so far.
    pos: usize,
    /// The block the buffer lies in: its marker word, the buffer's offset
    /// from the block's start, and the block's stack.
    own: Option<(u64, usize, u32)>,
    run: usize,
    /// Bytes are fed one at a time until `pos` reaches this (the windows
    /// ending within 8 bytes after a sync byte are checked).
    quiet_from: usize,
}

/// Whether any byte of `x` is zero.
#[inline(always)]
fn has_zero_byte(x: u64) -> bool {
    x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080 != 0
}

impl Scan {
    /// A scanner for a buffer that lies at `offset` in a block allocated
    /// at `stack` (`own`), or in no known block.
    pub fn new(own: Option<(usize, u32)>) -> Scan {
        let key = KEY.load(Ordering::Relaxed);
        Scan {
            key,
            sync: sync_byte(key),
            hist: 0,
            pos: 0,
            own: own.map(|(off, stack)| (word_for(key, stack), off, stack)),
            run: 0,
            quiet_from: 0,
        }
    }

    /// Feeds `bytes`; the first confirmed finding, if any.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<Found> {
        let syncs = u64::from_ne_bytes([self.sync; 8]);
        let mut at = 0;
        while at < bytes.len() {
            // Eight bytes at a time while none is a sync byte or a byte of
            // the block's own marker at its offset (text, zeros, most data).
            if let (0, true, Some(chunk)) =
                (self.run, self.pos >= self.quiet_from, bytes.get(at..at + 8))
            {
                let mut c = [0u8; 8];
                c.copy_from_slice(chunk);
                let c = u64::from_le_bytes(c);
                let mut hit = has_zero_byte(c ^ syncs);
                if let Some((w, off, _)) = self.own {
                    let expect = w.rotate_right(8 * ((off + self.pos) % 8) as u32);
                    hit |= has_zero_byte(c ^ expect);
                }
                if !hit {
                    self.hist = self.hist >> 64 | u128::from(c) << 64;
                    self.pos += 8;
                    at += 8;
                    continue;
                }
            }
            let b = bytes[at];
            at += 1;
            self.hist = self.hist >> 8 | u128::from(b) << 120;
            let i = self.pos;
            self.pos += 1;
            if b == self.sync {
                self.quiet_from = self.pos + 7;
            }
            if let Some((w, off, stack)) = self.own {
                if b == (w >> (8 * ((off + i) % 8))) as u8 {
                    self.run += 1;
                    if self.run >= MIN_RUN {
                        return Some(Found {
                            offset: i + 1 - self.run,
                            origin: stack,
                        });
                    }
                } else {
                    self.run = 0;
                }
            }
            if self.pos >= 8 && (self.hist >> 64) as u8 == self.sync {
                if let Some(stack) = decode(self.key, (self.hist >> 64) as u64) {
                    // Whole marker word at i - 7: extend back over the
                    // marker bytes before it (those still in `hist`).
                    let start = self.pos - 8;
                    let w = word_for(self.key, stack);
                    let mut back = 0;
                    while back < 7 && back < start {
                        let have = (self.hist >> (8 * (7 - back))) as u8;
                        let want = (w >> (8 * (7 - back))) as u8;
                        if have != want {
                            break;
                        }
                        back += 1;
                    }
                    return Some(Found {
                        offset: start - back,
                        origin: stack,
                    });
                }
            }
        }
        None
    }
}

/// The first uninitialised byte of `n` bytes at `p`, if any: read in place
/// when they lie in the live block `own` (`(start, size, stack)`), else
/// through the kernel (a bad pointer is the system call's EFAULT, not a
/// fault here).
pub fn first_uninit(p: usize, n: usize, own: Option<(usize, usize, u32)>) -> Option<Found> {
    if n == 0 || !on() || crate::effects::active() {
        return None;
    }
    match own {
        Some((start, size, stack)) if p >= start && p + n <= start + size => {
            let mut s = Scan::new(Some((p - start, stack)));
            // SAFETY: inside a live block.
            s.feed(unsafe { core::slice::from_raw_parts(p as *const u8, n) })
        }
        _ => {
            let mut s = Scan::new(None);
            let mut buf = [0u8; 512];
            let mut at = 0;
            while at < n {
                let want = (n - at).min(buf.len());
                let got = crate::access::read_own(p + at, &mut buf[..want]);
                if let Some(f) = s.feed(&buf[..got]) {
                    return Some(f);
                }
                if got < want {
                    return None;
                }
                at += got;
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_T: u64 = 0x1234_5678_9abc_def1;

    fn scan(own: Option<(usize, u32)>, bytes: &[u8]) -> Option<Found> {
        KEY.store(KEY_T, Ordering::Relaxed);
        Scan::new(own).feed(bytes)
    }

    fn marker(stack: u32, n: usize, phase: usize) -> Vec<u8> {
        let w = word_for(KEY_T, stack).to_le_bytes();
        (0..n).map(|i| w[(phase + i) % 8]).collect()
    }

    #[test]
    fn a_marker_word_names_its_stack_and_nothing_else_decodes() {
        for s in [1, 2, 77, ID_MASK] {
            assert_eq!(decode(KEY_T, word_for(KEY_T, s)), Some(s));
            assert_eq!(decode(KEY_T ^ 1 << 20, word_for(KEY_T, s)), None);
        }
        assert_eq!(decode(KEY_T, 0), None);
        assert_eq!(decode(KEY_T, u64::MAX), None);
    }

    #[test]
    fn copied_marker_is_found_at_any_offset_with_its_origin() {
        // A lead byte that is no byte of the marker (else the run would
        // start earlier, rightly).
        let w = word_for(KEY_T, 9).to_le_bytes();
        let other = (0..=255u8).find(|b| !w.contains(b)).unwrap();
        for phase in 0..8 {
            for lead in 0..12 {
                let mut data = vec![other; lead];
                data.extend(marker(9, 24, phase));
                let f = scan(None, &data).unwrap();
                assert_eq!(
                    f,
                    Found {
                        offset: lead,
                        origin: 9
                    },
                    "phase {phase} lead {lead}"
                );
            }
        }
    }

    #[test]
    fn a_marker_deep_in_a_buffer_fed_in_pieces_is_found() {
        let w = word_for(KEY_T, 9).to_le_bytes();
        let other = (0..=255u8).find(|b| !w.contains(b)).unwrap();
        for piece in [1, 7, 8, 13, 64, 4096] {
            for at in [517, 520, 1000] {
                let mut data: Vec<u8> = (0..2048u32).map(|i| (i * 7 % 251) as u8).collect();
                data[at - 1] = other;
                data[at..at + 16].copy_from_slice(&marker(9, 16, 3));
                KEY.store(KEY_T, Ordering::Relaxed);
                let mut scan = Scan::new(None);
                let found = data.chunks(piece).find_map(|c| scan.feed(c));
                assert_eq!(
                    found,
                    Some(Found {
                        offset: at,
                        origin: 9
                    }),
                    "piece {piece} at {at}"
                );
            }
        }
    }

    #[test]
    fn no_marker_byte_is_ascii_or_zero() {
        for key in [KEY_T, 0, u64::MAX, 0x0101_0101_0101_0101] {
            for stack in [1, 2, 3, 1000, 65_537, ID_MASK] {
                for b in word_for(key | 1, stack).to_le_bytes() {
                    assert!(b >= 0x80, "key {key:#x} stack {stack}: byte {b:#x}");
                }
            }
        }
    }

    #[test]
    fn text_written_before_uninitialised_bytes_never_moves_where_they_start() {
        // A block from each of 64 stacks whose first 16 bytes were written with one
        // ASCII or small value, the rest still marker: found at byte 16
        // whatever the written value (a byte that happened to equal the
        // next marker byte used to be counted as uninitialised).
        for stack in 1..=64 {
            for v in 0u8..0x80 {
                let mut data = vec![v; 16];
                data.extend(marker(stack, 48, 0));
                for own in [Some((0, stack)), None] {
                    assert_eq!(
                        scan(own, &data),
                        Some(Found {
                            offset: 16,
                            origin: stack
                        }),
                        "stack {stack}, written byte {v:#x}, own block {own:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn short_runs_count_only_in_their_own_block() {
        // A 4-byte padding hole at offset 4 of a block from stack 5.
        let mut data = vec![1u8, 0, 0, 0];
        data.extend(marker(5, 4, 4));
        data.extend([0u8; 8]);
        assert_eq!(scan(None, &data), None);
        assert_eq!(
            scan(Some((0, 5)), &data),
            Some(Found {
                offset: 4,
                origin: 5
            })
        );
        // Three bytes are not enough; the same bytes at the wrong offset
        // are not the block's marker.
        let mut three = vec![1u8, 0, 0, 0, 0];
        three.extend(marker(5, 3, 5));
        assert_eq!(scan(Some((0, 5)), &three), None);
        assert_eq!(scan(Some((1, 5)), &data), None);
    }

    #[test]
    fn fill_writes_the_marker_from_the_block_start_and_stops_at_its_end() {
        KEY.store(KEY_T, Ordering::Relaxed);
        for size in 0..48 {
            let mut buf = [0x1111_1111_1111_1111u64; 6];
            let q = buf.as_mut_ptr() as usize;
            // SAFETY: 48 bytes, 8-aligned.
            unsafe { fill(q, size, 6) };
            // SAFETY: the same 48 bytes.
            let bytes = unsafe { core::slice::from_raw_parts(q as *const u8, 48) };
            assert_eq!(&bytes[..size], &marker(6, size, 0)[..], "size {size}");
            assert!(bytes[size..].iter().all(|&b| b == 0x11), "size {size}");
        }
    }

    #[test]
    fn a_site_has_its_first_blocks_filled_then_one_in_sixty_four() {
        let site = 0xfff0;
        let filled = (0..u32::from(SITE_ALL) + 640)
            .filter(|_| wanted(site))
            .count();
        assert_eq!(filled, usize::from(SITE_ALL) + 10);
        // Another site keeps its own count.
        assert!(wanted(0xfff1));
    }

    #[test]
    fn every_byte_value_at_every_offset_is_no_finding() {
        let mut data = Vec::new();
        for v in 0..=255u8 {
            data.extend([v; 8]);
        }
        for k in 0..8 {
            assert_eq!(scan(Some((k, 3)), &data[k..]), None);
        }
    }
}
