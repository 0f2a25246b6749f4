//! The leak scan's roots: /proc/self/maps parsed without allocating, the
//! ranges that must not count as roots (the runtime's memory, glibc's heap
//! and arena state), and scanning what remains.

use crate::leak::Marker;
use crate::sys;

/// A growable array in private memory (no malloc).
pub struct PrivVec<T: Copy> {
    ptr: *mut T,
    cap: usize,
    pub len: usize,
}

impl<T: Copy> PrivVec<T> {
    pub fn with_capacity(cap: usize) -> Option<Self> {
        let cap = cap.max(16);
        let ptr = sys::map_private(cap * core::mem::size_of::<T>()).cast::<T>();
        (!ptr.is_null()).then_some(PrivVec { ptr, cap, len: 0 })
    }
    pub fn push(&mut self, v: T) -> bool {
        if self.len == self.cap {
            return false;
        }
        // SAFETY: len < cap.
        unsafe { self.ptr.add(self.len).write(v) };
        self.len += 1;
        true
    }
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: the first len elements are initialized.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: the first len elements are initialized.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T: Copy> Drop for PrivVec<T> {
    fn drop(&mut self) {
        sys::unmap_private(self.ptr.cast(), self.cap * core::mem::size_of::<T>());
    }
}

/// One line of /proc/self/maps that may be a root.
#[derive(Clone, Copy)]
pub struct Mapping {
    pub start: usize,
    pub end: usize,
    pub heap: bool,
    /// libc's writable data (where glibc keeps `main_arena`).
    pub libc: bool,
    pub writable: bool,
    /// Read-only data of a loaded object (where vtables end up after RELRO).
    pub ro_file: bool,
}

pub fn parse_maps(text: &[u8], out: &mut PrivVec<Mapping>) {
    for line in text.split(|&c| c == b'\n') {
        let (start, n1) = sys::parse_hex(line);
        let rest = line.get(n1 + 1..).unwrap_or(&[]);
        let (end, n2) = sys::parse_hex(rest);
        let perms = rest.get(n2 + 1..n2 + 5).unwrap_or(&[]);
        if n1 == 0 || n2 == 0 || perms.len() < 4 || perms[0] != b'r' {
            continue;
        }
        let writable = perms[1] == b'w';
        let heap = line.ends_with(b"[heap]");
        let libc = line.windows(8).any(|w| w == b"/libc.so");
        let file = line.windows(2).any(|w| w == b" /");
        out.push(Mapping {
            start,
            end,
            heap,
            libc,
            writable,
            ro_file: !writable && perms[2] != b'x' && file,
        });
    }
}

/// Scans `[start, end)` minus the sorted, merged `excluded` ranges;
/// returns the bytes scanned.
pub fn scan_minus(
    m: &mut Marker<'_>,
    start: usize,
    end: usize,
    excluded: &[(usize, usize)],
) -> usize {
    let mut scanned = 0;
    let mut cur = start;
    let first = excluded.partition_point(|e| e.1 <= start);
    for &(a, b) in excluded.get(first..).unwrap_or(&[]) {
        if a >= end {
            break;
        }
        if a > cur {
            // SAFETY: part of a readable rw mapping.
            unsafe { m.scan_root(cur, a) };
            scanned += a - cur;
        }
        cur = cur.max(b);
    }
    if cur < end {
        // SAFETY: part of a readable rw mapping.
        unsafe { m.scan_root(cur, end) };
        scanned += end - cur;
    }
    scanned
}

impl PrivVec<u32> {
    /// The whole capacity as a slice (the mark stack).
    pub fn as_mut_slice_full(&mut self) -> &mut [u32] {
        // SAFETY: the mapping is zero-initialized and cap long.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.cap) }
    }
}

impl PrivVec<(usize, usize)> {
    /// The whole capacity as a slice, to be filled by a callee.
    pub fn full_capacity(&mut self) -> &mut [(usize, usize)] {
        // SAFETY: the mapping is zero-initialized (valid pairs) and cap long.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.cap) }
    }
}

/// Offset of `top` in glibc 2.36's `struct malloc_state`, and its size.
const ARENA_TOP_OFFSET: usize = 96;
const ARENA_SIZE: usize = 2200;

/// Finds glibc's `main_arena` (not exported) in libc's writable data: the
/// word that points at the top chunk, which ends exactly at the end of the
/// brk heap. The arena's bin and top pointers point at chunk headers, which
/// lie inside the preceding block; scanned as a root they would make lost
/// blocks look possibly lost, so the arena is not a root (Valgrind's own
/// heap is not a root either).
pub fn main_arena(maps: &[Mapping]) -> Option<(usize, usize)> {
    let heap = maps.iter().find(|m| m.heap)?;
    let mut prev_libc_end = 0;
    for m in maps {
        if !m.writable {
            continue;
        }
        let candidate = m.libc || (m.start == prev_libc_end && prev_libc_end != 0);
        prev_libc_end = if m.libc { m.end } else { 0 };
        if !candidate {
            continue;
        }
        let mut a = m.start;
        while a + 8 <= m.end {
            if !crate::catch::page_readable(a) {
                a = (a & !4095) + 4096;
                continue;
            }
            // SAFETY: a readable rw mapping of libc.
            let t = unsafe { core::ptr::read_volatile(a as *const usize) };
            if t >= heap.start
                && t + 16 <= heap.end
                && t % 16 == 0
                && crate::catch::range_readable(t + 8, t + 16)
            {
                // SAFETY: t + 8 is inside the heap mapping.
                let size = unsafe { core::ptr::read_volatile((t + 8) as *const usize) } & !7;
                if t + size == heap.end && a >= m.start + ARENA_TOP_OFFSET {
                    let start = a - ARENA_TOP_OFFSET;
                    return Some((start, start + ARENA_SIZE));
                }
            }
            a += 8;
        }
    }
    None
}

pub fn merge_ranges(v: &mut PrivVec<(usize, usize)>) {
    let s = v.as_mut_slice();
    let mut w = 0usize;
    for r in 0..s.len() {
        let cur = s[r];
        if w > 0 && cur.0 <= s[w - 1].1 {
            s[w - 1].1 = s[w - 1].1.max(cur.1);
        } else {
            s[w] = cur;
            w += 1;
        }
    }
    v.len = w;
}

pub fn is_mmapped_chunk(p: usize) -> bool {
    // SAFETY: glibc's chunk size word precedes every block it returned
    // (on a page the program may have protected or unmapped: probed).
    crate::catch::range_readable(p - 8, p) && unsafe { *((p - 8) as *const usize) & 2 != 0 }
}
