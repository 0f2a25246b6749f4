//! The `memdx heap` allocation and release records, encoded whole on the
//! profiling runtime's fast path ([`heap_alloc_record`], [`heap_free_record`]).

use crate::{tag, RECORD_PREFIX};

/// Bytes of an encoded `HeapAlloc` record (prefix included).
pub const HEAP_ALLOC_RECORD: usize = RECORD_PREFIX + 28;
/// Bytes of an encoded `HeapFree` record (prefix included).
pub const HEAP_FREE_RECORD: usize = RECORD_PREFIX + 16;

/// A whole `HeapAlloc` record (the profiling runtime appends these to its
/// buffers on the allocation fast path, without an [`Encoder`](crate::Encoder)).
#[inline(always)]
pub fn heap_alloc_record(ptr: u64, size: u64, stack: u32, time: u64) -> [u8; HEAP_ALLOC_RECORD] {
    let mut b = [0u8; HEAP_ALLOC_RECORD];
    b[0] = tag::HEAP_ALLOC;
    b[1..5].copy_from_slice(&28u32.to_le_bytes());
    b[5..13].copy_from_slice(&ptr.to_le_bytes());
    b[13..21].copy_from_slice(&size.to_le_bytes());
    b[21..25].copy_from_slice(&stack.to_le_bytes());
    b[25..33].copy_from_slice(&time.to_le_bytes());
    b
}

/// A whole `HeapFree` record.
#[inline(always)]
pub fn heap_free_record(ptr: u64, time: u64) -> [u8; HEAP_FREE_RECORD] {
    let mut b = [0u8; HEAP_FREE_RECORD];
    b[0] = tag::HEAP_FREE;
    b[1..5].copy_from_slice(&16u32.to_le_bytes());
    b[5..13].copy_from_slice(&ptr.to_le_bytes());
    b[13..21].copy_from_slice(&time.to_le_bytes());
    b
}

/// Bytes of an encoded `HeapMap` record (prefix included).
pub const HEAP_MAP_RECORD: usize = RECORD_PREFIX + 28;
/// Bytes of an encoded `HeapUnmap` record (prefix included).
pub const HEAP_UNMAP_RECORD: usize = RECORD_PREFIX + 24;

/// A whole `HeapMap` record (a mapping the program made itself).
#[inline(always)]
pub fn heap_map_record(addr: u64, len: u64, stack: u32, time: u64) -> [u8; HEAP_MAP_RECORD] {
    let mut b = heap_alloc_record(addr, len, stack, time);
    b[0] = tag::HEAP_MAP;
    b
}

/// A whole `HeapUnmap` record (a range the program unmapped itself).
#[inline(always)]
pub fn heap_unmap_record(addr: u64, len: u64, time: u64) -> [u8; HEAP_UNMAP_RECORD] {
    let mut b = [0u8; HEAP_UNMAP_RECORD];
    b[0] = tag::HEAP_UNMAP;
    b[1..5].copy_from_slice(&24u32.to_le_bytes());
    b[5..13].copy_from_slice(&addr.to_le_bytes());
    b[13..21].copy_from_slice(&len.to_le_bytes());
    b[21..29].copy_from_slice(&time.to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_payload, Encoder, Event};

    #[test]
    fn heap_records_round_trip() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&heap_alloc_record(0x5000, 24, 3, 99));
        bytes.extend_from_slice(&heap_free_record(0x5000, 120));
        bytes.extend_from_slice(&heap_map_record(0x7f00_0000_0000, 1 << 20, 4, 130));
        bytes.extend_from_slice(&heap_unmap_record(0x7f00_0000_1000, 4096, 140));
        let mut buf = [0u8; 128];
        let mut e = Encoder::new(&mut buf);
        e.heap_clock(7, 8);
        e.heap_mallinfo(9, 10);
        e.heap_start(524288);
        e.heap_exit_status(-3);
        e.heap_end();
        bytes.extend_from_slice(e.finish().unwrap());
        let mut events = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let len = u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
            let payload = &rest[RECORD_PREFIX..RECORD_PREFIX + len];
            events.push(decode_payload(rest[0], payload).unwrap().unwrap());
            rest = &rest[RECORD_PREFIX + len..];
        }
        assert_eq!(
            events,
            vec![
                Event::HeapAlloc {
                    ptr: 0x5000,
                    size: 24,
                    stack: 3,
                    time: 99
                },
                Event::HeapFree {
                    ptr: 0x5000,
                    time: 120
                },
                Event::HeapMap {
                    addr: 0x7f00_0000_0000,
                    len: 1 << 20,
                    stack: 4,
                    time: 130
                },
                Event::HeapUnmap {
                    addr: 0x7f00_0000_1000,
                    len: 4096,
                    time: 140
                },
                Event::HeapClock { time: 7, nanos: 8 },
                Event::HeapMallinfo {
                    held: 9,
                    in_use: 10
                },
                Event::HeapStart {
                    sample_interval: 524288
                },
                Event::HeapExitStatus { status: -3 },
                Event::HeapEnd,
            ]
        );
    }
}
