//! The event stream between memdx's checker runtime (`memdx-runtime`, preloaded
//! into the program under test) and the analyzer in the `memdx` CLI.
//!
//! The runtime never symbolizes or formats text: it sends addresses, sizes and
//! ids; the analyzer turns them into Valgrind-style reports. This crate is the
//! contract between the two and has no dependencies, so the runtime can link it
//! without pulling in an allocator-hungry library.
//!
//! # Wire format (version 2)
//!
//! All integers are little-endian. A stream is one connection, from one
//! process: the runtime keeps no descriptor open while the program runs,
//! so it connects once for each burst of records (its start, each error,
//! its end-of-process report), sends a header and the records, shuts its
//! writing side down and waits until the reader has read everything and
//! closed the connection before it goes on: the bursts of one process are
//! read in order. The first stream of a process has no
//! [`FLAG_CONTINUATION`]; the reader joins the later ones (same pid, with
//! the flag) to the same report, whose stacks and modules they may refer
//! to. A forked child starts its own report, with its own header; an
//! exec'd program (same pid) starts a new one.
//!
//! ## Header (20 bytes)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `b"MDXE"` |
//! | 4 | 2 | version (`2`; version 1 also had `Alloc`, `Free` and `Note` records, tags 1, 2 and 11, which nothing sent) |
//! | 6 | 1 | pointer size in bytes (`8` on x86_64) |
//! | 7 | 1 | reserved, 0 |
//! | 8 | 4 | pid of the process writing the stream |
//! | 12 | 4 | parent pid |
//! | 16 | 4 | flags: bit 0 = the process is a fork child of a checked process; bit 1 = a continuation of the process's report ([`FLAG_CONTINUATION`]) |
//!
//! ## Records
//!
//! Each record is `tag: u8`, `len: u32`, then `len` payload bytes (at most
//! [`MAX_RECORD_LEN`]; a reader refuses longer records). A reader
//! skips tags it does not know, so new record kinds can be added without a
//! version change; the layout of an existing tag never changes (a new layout
//! gets a new tag). Stack id 0 means "no stack was captured".
//!
//! | tag | record | payload |
//! |---|---|---|
//! | 3 | [`Event::Stack`] | id u32, n u16, then n return addresses u64 (innermost first; frame 0 is the allocator entry point itself) |
//! | 4 | [`Event::Module`] | load bias u64, start u64, end u64 (the object's mapped address range), then the path (rest of the payload, UTF-8 or raw bytes) |
//! | 5 | [`Event::BadFree`] | see [`BadFree`]: kind u8, dealloc u8, addr u64, stack u32, place u8, tid u32, block start u64, block size u64, alloc stack u32, free stack u32 |
//! | 6 | [`Event::LossRecord`] | state u8 ([`LeakState`]), stack u32, bytes u64, indirect bytes u64, blocks u64 |
//! | 7 | [`Event::HeapTotals`] | in-use bytes u64, in-use blocks u64, allocs u64, frees u64, bytes allocated u64 |
//! | 8 | [`Event::HeuristicTotal`] | heuristic u8 ([`Heuristic`]), bytes u64, blocks u64 |
//! | 9 | [`Event::FatalSignal`] | signo i32, si_code i32, fault address u64, stack u32 |
//! | 21 | [`Event::StackOverflow`] | thread number u32, lowest address the stack could not grow to u64; sent just before the `FatalSignal` of a main-thread stack overflow |
//! | 22 | [`Event::FaultRegs`] | 17 u64: the general registers at a fault in the x86-64 encoding order (rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8 .. r15), then the fs base; sent just before the `Access` record of a fault whose `si_code` is `SI_KERNEL` (a general protection fault: no fault address), from which the reader computes the address the instruction used |
//! | 10 | [`Event::ReportEnd`] | leak scan done u8 (0 when the scan was not run) |
//! | 13 | [`Event::ScanStats`] | blocks scanned u64, root bytes scanned u64, nanoseconds u64 (the leak scan, from stopping the threads to classifying) |
//! | 23 | [`Event::ScanSkipped`] | root bytes u64, block bytes u64, blocks u64: memory the leak scan could not read and skipped (pages the program protected or unmapped, a file mapping past the end of its file): bytes of roots, bytes of block contents, and blocks left out whole (their header was unreadable); sent after `ScanStats` when anything was skipped |
//! | 30 | fill site (only in `memdx check --uninit-effects=yes`'s sites files, after the site's `Stack` record; no [`Event`], skipped by [`EventReader`]) | stack id u32, blocks filled u64, bytes filled u64 |
//! | 20 | [`Event::Corruption`] | see [`Corruption`]: kind u8, block start u64, block size u64, first u64, last u64, stack u32, alloc stack u32, free stack u32 |
//! | 14 | [`Event::Access`] | see [`Access`]: kind u8, func u8 ([`Routine`], 0 for a fault), addr u64, size u64, stack u32, place u8, tid u32, block start u64, block size u64, alloc stack u32, free stack u32, dst u64, src u64, len u64, signo i32, si_code i32, pc u64, code length u8, code bytes 16 (108 bytes) |
//! | 24 | [`Event::HeapAlloc`] | ptr u64, size u64, stack u32, time u64 (`memdx heap`: the block glibc returned, the size asked for, and the time-stamp counter just after the allocation) |
//! | 25 | [`Event::HeapFree`] | ptr u64, time u64 (`memdx heap`: the time-stamp counter just before the block went back to glibc) |
//! | 26 | [`Event::HeapClock`] | time u64, nanoseconds u64 (`memdx heap`: a reading of the time-stamp counter and of `CLOCK_MONOTONIC` taken together, at the start of every burst, to convert the records' times) |
//! | 27 | [`Event::HeapStart`] | sample interval u64 (`memdx heap`: 0 when every allocation is recorded, else the mean number of bytes between samples); the first record of a profiled process |
//! | 28 | [`Event::HeapEnd`] | empty (`memdx heap`: the process ended normally and this is its last burst) |
//! | 29 | [`Event::HeapExitStatus`] | status i32 (`memdx heap --pid`: the status the process passed to `exit` or `_exit` while attached; sent in the last burst, before `HeapEnd`) |
//! | 31 | [`Event::HeapMallinfo`] | held u64, in use u64 (`memdx heap`: glibc's `mallinfo2` at the start of a burst: `arena + hblkhd` bytes the allocator holds from the system, `uordblks + hblkhd` of them in blocks handed out) |
//! | 32 | [`Event::HeapMap`] | addr u64, len u64, stack u32, time u64 (`memdx heap`: a mapping the program made itself with `mmap`/`mmap64`, or the new range of its `mremap`: its address and length as the kernel returned them, and the time-stamp counter just after the call) |
//! | 33 | [`Event::HeapUnmap`] | addr u64, len u64, time u64 (`memdx heap`: a range the program unmapped with `munmap` (the counter just before the call), or the old range of its `mremap` (just after it)) |
//! | 12 | [`Event::CommandLine`] | the process's arguments, each followed by a NUL byte (as in `/proc/PID/cmdline`); sent by a process that is not a fork child, right after the header |
//! | 40 | [`Event::Exec`] | the program path as the process passed it to an `exec` function (empty for `fexecve`); sent just before the call when exec'd programs run unchecked (`--trace-children=no`): if the call succeeds, no final report follows |
//!
//! ## Acknowledgements
//!
//! After a `BadFree`, `Access`, `FatalSignal` or `ReportEnd` record the writer waits
//! (a few seconds at most) for one byte from the reader, which the reader
//! sends once it has rendered the record: the report's text then comes in
//! order with the program's own output and with other processes' reports,
//! as it does under Valgrind. [`needs_ack`] tells which records.
//!
//! The byte is [`ACK_CONTINUE`] (go on), or [`ACK_EXIT`] followed by one
//! more byte, an exit status: the writer then ends the process at once with
//! that status (`exit_group`, no exit handlers, no leak scan). The reader
//! sends it for `--exit-on-first-error=yes` after the first error it shows.
//!
//! In `memdx check` the runtime does not stream allocations (it keeps the
//! live-block table itself and reports the outcome of the leak scan).
//! Tags 1, 2 and 11 are retired (version 1's unused `Alloc`, `Free` and
//! `Note`): a new record takes a new tag.
//!
//! ## Heap profiling (`memdx heap`)
//!
//! In profiling mode the runtime records every allocation (or a sample of
//! them) into per-thread buffers and sends them in bursts: each burst is a
//! consistent cut (every buffer is swapped out at once, under all their
//! locks), starting with a `HeapClock` record, then the stacks and modules
//! it refers to, then the buffers' `HeapAlloc`/`HeapFree` records. Within a
//! burst the records of different threads interleave: the reader orders
//! them by `time` (the counter is read after an allocation and before a
//! release, so a block's release always sorts after its allocation, and a
//! reuse of its address after the release). Records never cross bursts
//! out of order: a release is never in an earlier burst than its
//! allocation. `HeapStart` opens the process's first burst, `HeapEnd` its
//! last one when it exits normally; a process killed by a signal has sent
//! everything up to its last burst. A stack record is always sent before the
//! first record that refers to its id. `ReportEnd` closes a process's report.

#![deny(missing_docs)]

// Where things are: the format's constants, the record tags and
// `site_key` here; the stream header in `header`; the record payload types
// in `types`, the checked C routines in `routine`; `Event` and the
// acknowledgement bytes in `event`; the `Encoder` in `encode`; the
// `memdx heap` fast-path records in `heap`; the reader and the payload
// decoder in `decode`. Everything is re-exported here.

mod decode;
mod encode;
mod event;
mod header;
mod heap;
mod routine;
mod types;

pub use decode::{decode_payload, DecodeError, EventReader};
pub use encode::Encoder;
pub use event::{needs_ack, Event, ACK_CONTINUE, ACK_EXIT};
pub use header::Header;
pub use heap::{
    heap_alloc_record, heap_free_record, heap_map_record, heap_unmap_record, HEAP_ALLOC_RECORD,
    HEAP_FREE_RECORD, HEAP_MAP_RECORD, HEAP_UNMAP_RECORD,
};
pub use routine::Routine;
pub use types::{
    Access, AccessKind, AllocKind, BadFree, BadFreeKind, Corruption, CorruptionKind, Dealloc,
    HeapTotals, Heuristic, LeakState, LossRecord, Place,
};

/// First four bytes of every stream.
pub const MAGIC: [u8; 4] = *b"MDXE";
/// The version this crate writes and reads.
pub const VERSION: u16 = 2;
/// Size of the encoded [`Header`].
pub const HEADER_LEN: usize = 20;
/// Header flag: the process is a fork child of a checked process.
pub const FLAG_FORK_CHILD: u32 = 1;
/// Header flag: this stream continues the report of a process that has
/// already sent a stream (the runtime connects once per burst of records).
pub const FLAG_CONTINUATION: u32 = 2;
/// Registers an [`Event::FaultRegs`] record carries.
pub const FAULT_REGS: usize = 17;
/// Bytes before a record's payload (tag and length).
pub const RECORD_PREFIX: usize = 5;
/// The largest number of frames a stack record may carry.
pub const MAX_FRAMES: usize = 256;
/// The longest record payload a reader accepts. The runtime encodes each
/// record in a 4 KiB buffer; a longer length in a stream is corruption (or
/// not our stream) and is refused before anything is allocated for it.
pub const MAX_RECORD_LEN: usize = 64 * 1024;

/// Tags of the records.
pub mod tag {
    /// [`super::Event::HeapAlloc`]
    pub const HEAP_ALLOC: u8 = 24;
    /// [`super::Event::HeapFree`]
    pub const HEAP_FREE: u8 = 25;
    /// [`super::Event::HeapClock`]
    pub const HEAP_CLOCK: u8 = 26;
    /// [`super::Event::HeapStart`]
    pub const HEAP_START: u8 = 27;
    /// [`super::Event::HeapEnd`]
    pub const HEAP_END: u8 = 28;
    /// [`super::Event::HeapExitStatus`]
    pub const HEAP_EXIT_STATUS: u8 = 29;
    /// [`super::Event::HeapMallinfo`]
    pub const HEAP_MALLINFO: u8 = 31;
    /// [`super::Event::HeapMap`]
    pub const HEAP_MAP: u8 = 32;
    /// [`super::Event::HeapUnmap`]
    pub const HEAP_UNMAP: u8 = 33;
    /// [`super::Event::Stack`]
    pub const STACK: u8 = 3;
    /// [`super::Event::Module`]
    pub const MODULE: u8 = 4;
    /// [`super::Event::BadFree`]
    pub const BAD_FREE: u8 = 5;
    /// [`super::Event::LossRecord`]
    pub const LOSS_RECORD: u8 = 6;
    /// [`super::Event::HeapTotals`]
    pub const HEAP_TOTALS: u8 = 7;
    /// [`super::Event::HeuristicTotal`]
    pub const HEURISTIC_TOTAL: u8 = 8;
    /// [`super::Event::FatalSignal`]
    pub const FATAL_SIGNAL: u8 = 9;
    /// [`super::Event::ReportEnd`]
    pub const REPORT_END: u8 = 10;
    /// [`super::Event::CommandLine`]
    pub const COMMAND_LINE: u8 = 12;
    /// [`super::Event::Exec`]
    pub const EXEC: u8 = 40;
    /// [`super::Event::StackOverflow`]
    pub const STACK_OVERFLOW: u8 = 21;
    /// [`super::Event::FaultRegs`]
    pub const FAULT_REGS: u8 = 22;
    /// [`super::Event::ScanStats`]
    pub const SCAN_STATS: u8 = 13;
    /// [`super::Event::ScanSkipped`]
    pub const SCAN_SKIPPED: u8 = 23;
    /// [`super::Event::Corruption`]
    pub const CORRUPTION: u8 = 20;
    /// [`super::Event::Access`]
    pub const ACCESS: u8 = 14;
    /// A fill site of `memdx check --uninit-effects=yes`'s sites files
    /// (no [`super::Event`]: readers of the event stream skip it).
    pub const FILL_SITE: u8 = 30;
}

/// The key of an allocation site in `memdx check --uninit-effects=yes`'s
/// runs: a hash of the allocation stack's return addresses (the frames of
/// its [`Event::Stack`] record). The CLI runs the program with address
/// randomization off, so a site has the same key in every run; the runtime
/// fills a site's blocks with the plan's alternative byte when
/// `site_key(frames) & mask == value` (environment variable
/// `MEMDX_UNINIT_PLAN`, see the runtime's `effects` module).
pub fn site_key(frames: &[u64]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &f in frames {
        h ^= f;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        h ^= h >> 29;
    }
    // splitmix64's finalizer: every output bit depends on every input bit.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ h >> 31
}

#[cfg(test)]
mod tests {

    /// Two branches that each added a record took the same free tag once
    /// (29) and the merge compiled: every tag in `mod tag` is distinct, and
    /// each is in the format table of the crate docs.
    #[test]
    fn record_tags_are_distinct_and_documented() {
        let src = include_str!("lib.rs");
        let start = src.find("pub mod tag {").expect("mod tag");
        let end = start + src[start..].find("\n}").expect("end of mod tag");
        let mut seen = std::collections::BTreeMap::new();
        for line in src[start..end].lines() {
            let Some(rest) = line.trim().strip_prefix("pub const ") else {
                continue;
            };
            let (name, value) = rest.split_once(": u8 = ").expect("a u8 tag");
            let value: u8 = value.trim_end_matches(';').parse().expect("a number");
            if let Some(other) = seen.insert(value, name.to_string()) {
                panic!("tags {other} and {name} are both {value}");
            }
            let row = format!("//! | {value} | ");
            assert!(
                src.contains(&row),
                "tag {name} ({value}) has no row in the format table"
            );
        }
        assert!(seen.len() >= 20, "read {} tags", seen.len());
    }
}
