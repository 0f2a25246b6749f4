//! The stopped world: the heap totals and the leak scan's roots and
//! marking, with every other thread suspended and the runtime's locks held.

use core::sync::atomic::Ordering;

use memdx_events::HeapTotals;

use super::blocks::{close_mem, count_blocks, header_readable, read_header};
use super::damage::{collect_damage, emit_damage};
use super::loss::send_loss_records;
use super::{DEBUG_ROOTS, REPORTING_TID};
use crate::leak::{Marker, ScanBlock};
use crate::roots::{
    is_mmapped_chunk, main_arena, merge_ranges, parse_maps, scan_minus, Mapping, PrivVec,
};
use crate::suspend::{suspend_others, MAX_THREADS, SLOTS, SLOT_NEXT};
use crate::{hooks, out, stacks, sys, table};

/// The leak scan's working memory (private mappings: nothing here may
/// allocate through the program's allocator).
struct ScanArrays {
    blocks: PrivVec<ScanBlock>,
    mark: PrivVec<u32>,
    excluded: PrivVec<(usize, usize)>,
    maps: PrivVec<Mapping>,
    vtables: PrivVec<(usize, usize)>,
    privs: PrivVec<(usize, usize)>,
    /// The counts it was sized for.
    live: usize,
    freed: usize,
}

impl ScanArrays {
    fn new(live: usize, freed: usize) -> Option<ScanArrays> {
        Some(ScanArrays {
            blocks: PrivVec::with_capacity(live)?,
            mark: PrivVec::with_capacity(3 * live + 16)?,
            excluded: PrivVec::with_capacity(live + freed + sys::MAX_PRIVATE + 2048)?,
            maps: PrivVec::with_capacity(65536)?,
            vtables: PrivVec::with_capacity(65536)?,
            privs: PrivVec::with_capacity(sys::MAX_PRIVATE)?,
            live,
            freed,
        })
    }
}

/// Stops the program's other threads, checks redzones and poison, takes
/// the heap totals and (when `scan`) classifies every live block, then
/// sends what was found. Everything is read while the other threads are
/// stopped: running, they would free and reuse blocks under the checks
/// (false "invalid write" reports) and the counts (a heap summary that
/// disagrees with the leak summary). Under Valgrind they are gone by then.
pub(super) fn scan_and_send(my_sp: usize, scan: bool) -> HeapTotals {
    let t0 = now_nanos();
    let tables = table::lock_all();
    REPORTING_TID.store(sys::gettid(), Ordering::Release);
    // A first count sizes the scan's memory, with room for what the other
    // threads allocate before they are stopped.
    let (n, freed) = count_blocks();
    let mut arrays = if scan && n > 0 {
        ScanArrays::new(n + n / 8 + 64, freed + freed / 8 + 64)
    } else {
        None
    };
    // In the lock order (see `sys::SpinLock`); released in reverse below.
    let guard_pool = crate::guard::lock();
    // Block contents and canaries are read below.
    crate::guard::unwatch_all_locked();
    let interner = stacks::lock();
    let output = out::lock();
    let arenas = hooks::ARENAS_LOCK.lock();
    // No stopped thread may hold the private-memory registry: the scan
    // maps memory (a bigger array, the maps text) after stopping them.
    let private = sys::hold_private();
    let others = suspend_others();

    let damage = collect_damage();
    let (n2, freed2) = count_blocks();
    let fits = arrays
        .as_ref()
        .is_some_and(|a| n2 <= a.live && freed2 <= a.freed);
    if scan && n2 > 0 && !fits {
        arrays = ScanArrays::new(n2, freed2).or(arrays);
    }
    let c = table::totals();
    let mut totals = HeapTotals {
        in_use_bytes: 0,
        in_use_blocks: 0,
        allocs: c.allocs,
        frees: c.frees,
        bytes_allocated: c.bytes_allocated,
    };
    // Live blocks are counted from the bitmap (frees of unknown pointers
    // and failed reallocs count, as under Valgrind, so the counters'
    // differences are not it).
    let mut unread_blocks = 0u64;
    table::for_each_live(&mut |q| {
        let Some(table::Header { block: b, .. }) = read_header(q) else {
            unread_blocks += 1;
            return;
        };
        if b.kind & table::INTERNAL == 0 {
            totals.in_use_blocks += 1;
            totals.in_use_bytes += b.size as u64;
        }
    });
    crate::guard::for_each_live(&mut |b| {
        totals.in_use_blocks += 1;
        totals.in_use_bytes += b.size as u64;
    });
    let scanned = match &mut arrays {
        Some(a) if n2 > 0 => Some(scan_heap(a, my_sp, others)),
        _ => None,
    };
    drop(private);
    drop(arenas);
    drop(output);
    drop(interner);
    drop(guard_pool);
    REPORTING_TID.store(0, Ordering::Release);
    drop(tables);
    close_mem();

    emit_damage(&damage);
    if let (Some(a), Some(scanned)) = (&mut arrays, scanned) {
        let nblocks = a.blocks.len as u64;
        send_loss_records(a.blocks.as_mut_slice());
        let nanos = now_nanos().saturating_sub(t0);
        out::emit(|e| e.scan_stats(nblocks, scanned.root_bytes as u64, nanos));
        if scanned.skipped_root_bytes + scanned.skipped_block_bytes > 0 || unread_blocks > 0 {
            out::emit(|e| {
                e.scan_skipped(
                    scanned.skipped_root_bytes as u64,
                    scanned.skipped_block_bytes as u64,
                    unread_blocks,
                )
            });
        }
    }
    totals
}

/// What the scan read and what it could not.
struct Scanned {
    root_bytes: usize,
    skipped_root_bytes: usize,
    skipped_block_bytes: usize,
}

/// Collects the live blocks and the roots and marks what they reach
/// (other threads stopped).
fn scan_heap(a: &mut ScanArrays, my_sp: usize, others: usize) -> Scanned {
    let ScanArrays {
        blocks,
        mark,
        excluded,
        maps,
        vtables,
        privs,
        ..
    } = a;

    table::for_each_live(&mut |q| {
        let Some(table::Header {
            block: b, offset, ..
        }) = read_header(q)
        else {
            return;
        };
        if b.kind & table::INTERNAL != 0 {
            return;
        }
        blocks.push(ScanBlock {
            start: b.ptr,
            size: b.size,
            stack: b.stack,
            unreadable: !crate::catch::range_readable(b.ptr, b.ptr + 1),
            ..Default::default()
        });
        let raw = q - offset;
        if is_mmapped_chunk(raw) {
            excluded.push((raw & !4095, sys::round_page(b.ptr + b.size)));
        }
    });
    crate::guard::for_each_live(&mut |b| {
        blocks.push(ScanBlock {
            start: b.ptr,
            size: b.size,
            stack: b.stack,
            ..Default::default()
        });
    });
    if let Some(pool) = crate::guard::range() {
        excluded.push(pool);
    }
    // The runtime's own data and bss are no root (Valgrind's tool memory
    // is none either): the watched-block machinery leaves the page address
    // of the last block it stepped there (`step`'s table of open pages),
    // which made a lost list's watched nodes "still reachable".
    let own = (
        stacks::SELF_LO.load(Ordering::Relaxed),
        stacks::SELF_HI.load(Ordering::Relaxed),
    );
    if own.0 < own.1 {
        excluded.push((own.0 & !4095, sys::round_page(own.1)));
    }
    table::for_each_state(&mut |s| {
        s.for_each_freed(&mut |q| {
            if !header_readable(q) {
                return;
            }
            // SAFETY: quarantined blocks keep their headers.
            let b = unsafe { table::read_block(q) }.block;
            // SAFETY: as above.
            let raw = unsafe { table::raw_of(q) };
            if is_mmapped_chunk(raw) {
                excluded.push((raw & !4095, sys::round_page(b.ptr + b.size)));
            }
        })
    });
    {
        // SAFETY: under ARENAS_LOCK.
        let arenas = unsafe { &*hooks::ARENAS.get() };
        for &a in arenas.iter().take(hooks::ARENAS_N.load(Ordering::Relaxed)) {
            excluded.push((a, a + (64 << 20)));
        }
    }
    // The maps text stays mapped until the scan is over: its own mapping is
    // in the maps it lists, and must not disappear under the scanner.
    // This thread's view: once the main thread has left with pthread_exit,
    // /proc/self (the thread group leader, a zombie) lists no mappings.
    let maps_text = match sys::read_file(b"/proc/thread-self/maps\0") {
        Some(f) if f.len > 0 => Some(f),
        other => {
            if let Some(f) = other {
                sys::unmap_private(f.buf, f.cap);
            }
            sys::read_file(b"/proc/self/maps\0")
        }
    };
    if let Some(f) = maps_text {
        // SAFETY: read_file returns a mapping holding `len` bytes.
        let text = unsafe { core::slice::from_raw_parts(f.buf, f.len) };
        parse_maps(text, maps);
    }
    privs.len = sys::private_ranges(privs.full_capacity());
    for &r in privs.as_slice() {
        excluded.push(r);
    }
    if let Some(arena) = main_arena(maps.as_slice()) {
        excluded.push(arena);
    }
    excluded.as_mut_slice().sort_unstable();
    merge_ranges(excluded);
    blocks.as_mut_slice().sort_unstable_by_key(|b| b.start);
    for m in maps.as_slice().iter().filter(|m| m.ro_file) {
        vtables.push((m.start, m.end));
    }

    let mut root_bytes = 0usize;
    let (skipped_root_bytes, skipped_block_bytes);
    // Thread stack pointers: ours and each suspended thread's.
    let suspended = SLOT_NEXT
        .load(Ordering::Acquire)
        .min(MAX_THREADS)
        .min(others);
    // SAFETY: the suspended threads wrote their slots before acknowledging.
    let slots = unsafe { &*SLOTS.get() };
    {
        let mut m = Marker::new(blocks.as_mut_slice(), mark.as_mut_slice_full());
        m.vtable_ranges = vtables.as_slice();
        if DEBUG_ROOTS.load(Ordering::Relaxed) {
            m.on_root_hit = Some(debug_root_hit);
            debug_root_hit(my_sp, 0);
        }
        for map in maps.as_slice() {
            if map.heap || !map.writable {
                continue;
            }
            let sp = core::iter::once(my_sp)
                .chain(slots.iter().take(suspended).map(|s| s.sp))
                .find(|&sp| sp >= map.start && sp < map.end);
            let start = sp.unwrap_or(map.start);
            root_bytes += scan_minus(&mut m, start, map.end, excluded.as_slice());
        }
        for s in slots.iter().take(suspended) {
            for &r in s.regs.iter() {
                m.root_word(r);
            }
        }
        let pool = crate::guard::range().map_or(0..0, |(lo, hi)| {
            let all = &*m.blocks;
            all.partition_point(|b| b.start < lo)..all.partition_point(|b| b.start < hi)
        });
        m.finish_first(pool);
        skipped_root_bytes = m.skipped_root_bytes;
        skipped_block_bytes = m.skipped_block_bytes;
    }
    if let Some(f) = maps_text {
        sys::unmap_private(f.buf, f.cap);
    }
    Scanned {
        root_bytes: root_bytes - skipped_root_bytes,
        skipped_root_bytes,
        skipped_block_bytes,
    }
}

fn now_nanos() -> u64 {
    // SAFETY: clock_gettime into a local.
    unsafe {
        let mut ts: libc::timespec = core::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

/// Prints "root ADDR -> block START" on stderr without allocating.
pub fn debug_root_hit(root: usize, block: usize) {
    let mut buf = [0u8; 64];
    let mut n = 0;
    let mut put = |s: &[u8], buf: &mut [u8; 64]| {
        for &c in s {
            if n < buf.len() {
                buf[n] = c;
                n += 1;
            }
        }
    };
    let hex = |v: usize| {
        let mut h = [b'0'; 16];
        for (i, d) in h.iter_mut().enumerate() {
            let nib = (v >> ((15 - i) * 4)) & 15;
            *d = b"0123456789abcdef"[nib];
        }
        h
    };
    put(b"memdx-debug: root 0x", &mut buf);
    put(&hex(root), &mut buf);
    put(b" -> 0x", &mut buf);
    put(&hex(block), &mut buf);
    put(b"\n", &mut buf);
    // SAFETY: writing our own buffer to stderr.
    unsafe { libc::write(2, buf.as_ptr().cast(), n) };
}
