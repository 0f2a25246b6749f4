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
//! | 12 | [`Event::CommandLine`] | the process's arguments, each followed by a NUL byte (as in `/proc/PID/cmdline`); sent by a process that is not a fork child, right after the header |
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

use std::fmt;
use std::io::{self, Read};

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

/// The header that starts a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version; see [`VERSION`].
    pub version: u16,
    /// Pointer size of the process, in bytes.
    pub pointer_size: u8,
    /// Process id of the writer.
    pub pid: u32,
    /// Its parent's pid.
    pub ppid: u32,
    /// [`FLAG_FORK_CHILD`], [`FLAG_CONTINUATION`] and future flags.
    pub flags: u32,
}

impl Header {
    /// Encodes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..6].copy_from_slice(&self.version.to_le_bytes());
        b[6] = self.pointer_size;
        b[8..12].copy_from_slice(&self.pid.to_le_bytes());
        b[12..16].copy_from_slice(&self.ppid.to_le_bytes());
        b[16..20].copy_from_slice(&self.flags.to_le_bytes());
        b
    }

    /// Decodes and validates a header.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<Header, DecodeError> {
        if b[0..4] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = u16::from_le_bytes([b[4], b[5]]);
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Ok(Header {
            version,
            pointer_size: b[6],
            pid: u32_at(8),
            ppid: u32_at(12),
            flags: u32_at(16),
        })
    }
}

/// How a block was allocated; decides which deallocation matches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum AllocKind {
    /// malloc, calloc, realloc, memalign and friends: release with free.
    Malloc = 0,
    /// operator new (any variant): release with delete.
    New = 1,
    /// operator new[] (any variant): release with delete[].
    NewArray = 2,
}

impl AllocKind {
    /// Decodes the wire value.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Malloc,
            1 => Self::New,
            2 => Self::NewArray,
            _ => return None,
        })
    }

    /// The deallocation function that matches this kind.
    pub fn matching_dealloc(self) -> Dealloc {
        match self {
            Self::Malloc => Dealloc::Free,
            Self::New => Dealloc::Delete,
            Self::NewArray => Dealloc::DeleteArray,
        }
    }
}

/// The function that released (or tried to release) a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Dealloc {
    /// free()
    Free = 0,
    /// operator delete (any variant)
    Delete = 1,
    /// operator delete[] (any variant)
    DeleteArray = 2,
    /// realloc() (and reallocarray)
    Realloc = 3,
}

impl Dealloc {
    /// Decodes the wire value.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Free,
            1 => Self::Delete,
            2 => Self::DeleteArray,
            3 => Self::Realloc,
            _ => return None,
        })
    }
}

/// What was wrong with a deallocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BadFreeKind {
    /// The pointer is not the start of a live block (never allocated, interior
    /// pointer, stack or global address, or already freed). The call was skipped.
    Invalid = 0,
    /// The block was allocated with a function the deallocation does not
    /// match (e.g. `new[]` then `free`). The block was released anyway.
    Mismatched = 1,
}

/// Where the address of a bad deallocation points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Place {
    /// Nothing the runtime knows about (global data, unmapped, garbage).
    Unknown = 0,
    /// On the stack of thread `tid` (Valgrind numbers threads from 1).
    ThreadStack = 1,
    /// Inside (or at the start of) a live block.
    InsideLive = 2,
    /// Inside (or at the start of) a block that was already freed.
    InsideFreed = 3,
}

impl Place {
    /// Decodes the wire value.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Unknown,
            1 => Self::ThreadStack,
            2 => Self::InsideLive,
            3 => Self::InsideFreed,
            _ => return None,
        })
    }
}

/// A bad deallocation, reported when it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BadFree {
    /// Invalid or mismatched.
    pub kind: BadFreeKind,
    /// The function called.
    pub dealloc: Dealloc,
    /// The pointer passed to it.
    pub addr: u64,
    /// Stack of the call.
    pub stack: u32,
    /// What the address points into.
    pub place: Place,
    /// Thread number (Valgrind's numbering: 1 for the main thread) of the
    /// caller, whose stack `addr` is on when `place` is
    /// [`Place::ThreadStack`]; 0 when not known. The analyzer shows it as
    /// the error's `<tid>` (1 when 0). The runtime fills it only for
    /// `ThreadStack` so far.
    pub tid: u32,
    /// Start of the block `addr` points into (InsideLive / InsideFreed).
    pub block_start: u64,
    /// Its size.
    pub block_size: u64,
    /// Where it was allocated.
    pub alloc_stack: u32,
    /// Where it was freed (InsideFreed), else 0.
    pub free_stack: u32,
}

/// Where a damaged canary or poison was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CorruptionKind {
    /// The redzone after a live block was overwritten (found when the block
    /// was freed or at exit): `first`/`last` are offsets from the block's end.
    AfterEnd = 0,
    /// A freed block was written to while in the quarantine (found when it
    /// left the quarantine or at exit): offsets from the block's start.
    AfterFree = 1,
    /// Bytes just before a live block were overwritten (found when it was
    /// freed): `first`/`last` count back from the block's start (1 = the
    /// byte just before it).
    BeforeStart = 2,
}

/// Damage to a block's redzone or to a freed block's poison: a write that
/// no instruction was caught doing (the writing instruction is unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Corruption {
    /// What was damaged.
    pub kind: CorruptionKind,
    /// The block's start.
    pub block_start: u64,
    /// Its size.
    pub block_size: u64,
    /// First damaged byte (see [`CorruptionKind`] for the origin).
    pub first: u64,
    /// Last damaged byte.
    pub last: u64,
    /// Where the damage was found (the free or the later allocation
    /// call), 0 at exit.
    pub stack: u32,
    /// Where the block was allocated.
    pub alloc_stack: u32,
    /// Where it was freed (AfterFree), else 0.
    pub free_stack: u32,
}

/// What kind of invalid access an [`Access`] record reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AccessKind {
    /// A fault (SIGSEGV/SIGBUS) on a data access: read or write and the size
    /// are decoded by the analyzer from the instruction bytes in the record.
    Fault = 0,
    /// A C library routine (`func`) was about to read `size` bytes at `addr`
    /// outside the block it starts in.
    Read = 1,
    /// Likewise for a write.
    Write = 2,
    /// The source and destination of `func` overlap (`dst`, `src`, `len`).
    Overlap = 3,
    /// A system call's buffer argument (`func`: the C library's wrapper,
    /// a `Sys*` routine) points to `size` bytes with an unaddressable one
    /// at `addr` (the first).
    SyscallParam = 4,
    /// An allocation function (`func`: an `Alloc*` routine) was called with
    /// a possibly negative argument: `addr` holds its value, `size` which
    /// argument (0: `size`, 1: `nmemb`).
    FishyValue = 5,
    /// A system call's buffer argument (`func`: a `Sys*` routine that
    /// sends bytes out) points to `size` bytes of which the one at `addr`
    /// (the first found) is uninitialised heap memory; `block_*` and
    /// `alloc_stack` describe the heap block `addr` is in, and
    /// `free_stack` holds the origin: the stack of the allocation whose
    /// fresh bytes these are (0 when not known).
    SyscallParamUninit = 6,
}

impl AccessKind {
    /// Decodes the wire value.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Fault,
            1 => Self::Read,
            2 => Self::Write,
            3 => Self::Overlap,
            4 => Self::SyscallParam,
            5 => Self::FishyValue,
            6 => Self::SyscallParamUninit,
            _ => return None,
        })
    }
}

/// The C library routines whose arguments the runtime checks (the `func`
/// of an [`Access`] record). The wire value is the discriminant; values 18
/// and 19 (once `index` and `rindex`, which nothing sent) are unassigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Routine {
    /// `memcpy`.
    Memcpy = 1,
    /// `memmove`.
    Memmove = 2,
    /// `memset`.
    Memset = 3,
    /// `strcpy`.
    Strcpy = 4,
    /// `strncpy`.
    Strncpy = 5,
    /// `strcat`.
    Strcat = 6,
    /// `strncat`.
    Strncat = 7,
    /// `strlen`.
    Strlen = 8,
    /// `strnlen`.
    Strnlen = 9,
    /// `stpcpy`.
    Stpcpy = 10,
    /// `mempcpy`.
    Mempcpy = 11,
    /// `stpncpy`.
    Stpncpy = 12,
    /// glibc's `__memcpy_chk` (FORTIFY_SOURCE).
    MemcpyChk = 13,
    /// glibc's `__memmove_chk` (FORTIFY_SOURCE).
    MemmoveChk = 14,
    /// glibc's `__strcpy_chk` (FORTIFY_SOURCE).
    StrcpyChk = 15,
    /// glibc's `__stpcpy_chk` (FORTIFY_SOURCE).
    StpcpyChk = 16,
    /// `memchr`.
    Memchr = 17,
    /// `strcmp`.
    Strcmp = 20,
    /// `strncmp`.
    Strncmp = 21,
    /// glibc's `__memset_chk` (FORTIFY_SOURCE).
    MemsetChk = 22,
    /// glibc's `__strncpy_chk` (FORTIFY_SOURCE).
    StrncpyChk = 23,
    /// glibc's `__strcat_chk` (FORTIFY_SOURCE).
    StrcatChk = 24,
    /// glibc's `__strncat_chk` (FORTIFY_SOURCE).
    StrncatChk = 25,
    /// glibc's `__mempcpy_chk` (FORTIFY_SOURCE).
    MempcpyChk = 26,
    /// `write` (a system call's buffer: [`AccessKind::SyscallParam`]).
    SysWrite = 27,
    /// `read`.
    SysRead = 28,
    /// `pread`/`pread64`.
    SysPread64 = 29,
    /// `pwrite`/`pwrite64`.
    SysPwrite64 = 30,
    /// `send`.
    SysSend = 31,
    /// `sendto`.
    SysSendto = 32,
    /// `recv`.
    SysRecv = 33,
    /// `recvfrom`.
    SysRecvfrom = 34,
    /// `writev`.
    SysWritev = 35,
    /// `readv`.
    SysReadv = 36,
    /// `malloc` (a fishy argument: [`AccessKind::FishyValue`]).
    AllocMalloc = 37,
    /// `calloc`.
    AllocCalloc = 38,
    /// `realloc`.
    AllocRealloc = 39,
    /// `memalign` (also aligned_alloc, posix_memalign and valloc, which
    /// Valgrind names so).
    AllocMemalign = 40,
    /// `operator new` (Valgrind's `__builtin_new`).
    AllocNew = 41,
    /// `operator new[]` (Valgrind's `__builtin_vec_new`).
    AllocNewArray = 42,
    /// `wcslen`.
    Wcslen = 43,
    /// `wcsnlen`.
    Wcsnlen = 44,
    /// `wcscpy`.
    Wcscpy = 45,
    /// `wcscmp`.
    Wcscmp = 46,
    /// `wcschr`.
    Wcschr = 47,
    /// `strchr` (Valgrind names its replacement `index`).
    Strchr = 48,
    /// `strrchr` (Valgrind's `rindex`).
    Strrchr = 49,
    /// `sendmsg` (for a system call parameter, [`Access::size`] holds the
    /// index of the iovec: Valgrind names `msg.msg_iov[N]`).
    SysSendmsg = 50,
    /// `recvmsg`.
    SysRecvmsg = 51,
}

impl Routine {
    /// Every routine, in wire order.
    pub const ALL: [Routine; 49] = [
        Routine::Memcpy,
        Routine::Memmove,
        Routine::Memset,
        Routine::Strcpy,
        Routine::Strncpy,
        Routine::Strcat,
        Routine::Strncat,
        Routine::Strlen,
        Routine::Strnlen,
        Routine::Stpcpy,
        Routine::Mempcpy,
        Routine::Stpncpy,
        Routine::MemcpyChk,
        Routine::MemmoveChk,
        Routine::StrcpyChk,
        Routine::StpcpyChk,
        Routine::Memchr,
        Routine::Strcmp,
        Routine::Strncmp,
        Routine::MemsetChk,
        Routine::StrncpyChk,
        Routine::StrcatChk,
        Routine::StrncatChk,
        Routine::MempcpyChk,
        Routine::SysWrite,
        Routine::SysRead,
        Routine::SysPread64,
        Routine::SysPwrite64,
        Routine::SysSend,
        Routine::SysSendto,
        Routine::SysRecv,
        Routine::SysRecvfrom,
        Routine::SysWritev,
        Routine::SysReadv,
        Routine::AllocMalloc,
        Routine::AllocCalloc,
        Routine::AllocRealloc,
        Routine::AllocMemalign,
        Routine::AllocNew,
        Routine::AllocNewArray,
        Routine::Wcslen,
        Routine::Wcsnlen,
        Routine::Wcscpy,
        Routine::Wcscmp,
        Routine::Wcschr,
        Routine::Strchr,
        Routine::Strrchr,
        Routine::SysSendmsg,
        Routine::SysRecvmsg,
    ];

    /// Decodes the wire value (0 and unassigned values are `None`).
    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| *r as u8 == v)
    }

    /// The name Valgrind prints for it ("Source and destination overlap in
    /// memcpy_chk(...)"). glibc's checked variants that Valgrind does not
    /// name apart report under the plain routine's name, as Valgrind does.
    pub fn name(self) -> &'static str {
        match self {
            Routine::Memcpy => "memcpy",
            Routine::Memmove => "memmove",
            Routine::Memset => "memset",
            Routine::Strcpy => "strcpy",
            Routine::Strncpy => "strncpy",
            Routine::Strcat => "strcat",
            Routine::Strncat => "strncat",
            Routine::Strlen => "strlen",
            Routine::Strnlen => "strnlen",
            Routine::Stpcpy => "stpcpy",
            Routine::Mempcpy => "mempcpy",
            Routine::Stpncpy => "stpncpy",
            Routine::MemcpyChk => "memcpy_chk",
            Routine::MemmoveChk => "memmove_chk",
            Routine::StrcpyChk => "strcpy_chk",
            Routine::StpcpyChk => "stpcpy_chk",
            Routine::Memchr => "memchr",
            Routine::Strcmp => "strcmp",
            Routine::Strncmp => "strncmp",
            Routine::MemsetChk => "memset",
            Routine::StrncpyChk => "strncpy",
            Routine::StrcatChk => "strcat",
            Routine::StrncatChk => "strncat",
            Routine::MempcpyChk => "mempcpy",
            Routine::SysWrite => "write",
            Routine::SysRead => "read",
            Routine::SysPread64 => "pread64",
            Routine::SysPwrite64 => "pwrite64",
            Routine::SysSend => "send",
            Routine::SysSendto => "sendto",
            Routine::SysRecv => "recv",
            Routine::SysRecvfrom => "recvfrom",
            Routine::SysWritev => "writev",
            Routine::SysReadv => "readv",
            Routine::AllocMalloc => "malloc",
            Routine::AllocCalloc => "calloc",
            Routine::AllocRealloc => "realloc",
            Routine::AllocMemalign => "memalign",
            Routine::AllocNew => "__builtin_new",
            Routine::AllocNewArray => "__builtin_vec_new",
            Routine::Wcslen => "wcslen",
            Routine::Wcsnlen => "wcsnlen",
            Routine::Wcscpy => "wcscpy",
            Routine::Wcscmp => "wcscmp",
            Routine::Wcschr => "wcschr",
            Routine::Strchr => "index",
            Routine::Strrchr => "rindex",
            Routine::SysSendmsg => "sendmsg",
            Routine::SysRecvmsg => "recvmsg",
        }
    }

    /// Whether Valgrind's "Source and destination overlap in NAME(dst,
    /// src, len)" shows a length (not for the routines that take none).
    pub fn overlap_shows_length(self) -> bool {
        !matches!(
            self,
            Routine::Strcpy | Routine::Strcat | Routine::Stpcpy | Routine::Wcscpy
        )
    }

    /// The C library function the checker runtime replaces for it, as
    /// `dlsym` finds it (`None` for system calls and allocation functions,
    /// which the runtime reaches otherwise).
    pub fn c_symbol(self) -> Option<&'static core::ffi::CStr> {
        Some(match self {
            Routine::Memcpy => c"memcpy",
            Routine::Memmove => c"memmove",
            Routine::Memset => c"memset",
            Routine::Strcpy => c"strcpy",
            Routine::Strncpy => c"strncpy",
            Routine::Strcat => c"strcat",
            Routine::Strncat => c"strncat",
            Routine::Strlen => c"strlen",
            Routine::Strnlen => c"strnlen",
            Routine::Stpcpy => c"stpcpy",
            Routine::Mempcpy => c"mempcpy",
            Routine::Stpncpy => c"stpncpy",
            Routine::MemcpyChk => c"__memcpy_chk",
            Routine::MemmoveChk => c"__memmove_chk",
            Routine::StrcpyChk => c"__strcpy_chk",
            Routine::StpcpyChk => c"__stpcpy_chk",
            Routine::Memchr => c"memchr",
            Routine::Strcmp => c"strcmp",
            Routine::Strncmp => c"strncmp",
            Routine::MemsetChk => c"__memset_chk",
            Routine::StrncpyChk => c"__strncpy_chk",
            Routine::StrcatChk => c"__strcat_chk",
            Routine::StrncatChk => c"__strncat_chk",
            Routine::MempcpyChk => c"__mempcpy_chk",
            Routine::Wcslen => c"wcslen",
            Routine::Wcsnlen => c"wcsnlen",
            Routine::Wcscpy => c"wcscpy",
            Routine::Wcscmp => c"wcscmp",
            Routine::Wcschr => c"wcschr",
            Routine::Strchr => c"strchr",
            Routine::Strrchr => c"strrchr",
            _ => return None,
        })
    }

    /// For a system call wrapper, the parameter as Valgrind 3.19 names it
    /// in "Syscall param NAME points to unaddressable byte(s)" (and in a
    /// `Memcheck:Param` suppression): amd64 names send and recv after the
    /// sendto and recvfrom system calls they make.
    pub fn syscall_param(self) -> Option<&'static str> {
        Some(match self {
            Routine::SysWrite => "write(buf)",
            Routine::SysRead => "read(buf)",
            Routine::SysPread64 => "pread64(buf)",
            Routine::SysPwrite64 => "pwrite64(buf)",
            Routine::SysSend | Routine::SysSendto => "socketcall.sendto(msg)",
            Routine::SysRecv | Routine::SysRecvfrom => "socketcall.recvfrom(buf)",
            Routine::SysWritev => "writev(vector[...])",
            Routine::SysReadv => "readv(vector[...])",
            Routine::SysSendmsg => "sendmsg(msg.msg_iov[...])",
            Routine::SysRecvmsg => "recvmsg(msg.msg_iov[...])",
            _ => return None,
        })
    }

    /// [`Routine::syscall_param`] for the buffer at `index` of the call
    /// (sendmsg and recvmsg name their iovec by index, as Valgrind 3.19
    /// does: `sendmsg(msg.msg_iov[1])`; the others ignore it).
    pub fn syscall_param_at(self, index: u64) -> Option<String> {
        let name = self.syscall_param()?;
        Some(match name.strip_suffix("[...])") {
            Some(head) if matches!(self, Routine::SysSendmsg | Routine::SysRecvmsg) => {
                format!("{head}[{index}])")
            }
            _ => name.to_string(),
        })
    }
}

/// An invalid memory access, reported when it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Access {
    /// Fault, read, write or overlap.
    pub kind: AccessKind,
    /// The checked routine (`None` for a fault).
    pub func: Option<Routine>,
    /// The first invalid address (the fault address for a fault).
    pub addr: u64,
    /// Bytes accessed at `addr` (0 for a fault: decode `code`).
    pub size: u64,
    /// Stack of the access (frame 0: the faulting pc, or the routine).
    pub stack: u32,
    /// What `addr` is near: [`Place::InsideLive`] / [`Place::InsideFreed`]
    /// when `block_*` describe a block it is inside of or next to,
    /// [`Place::ThreadStack`] for an address on the accessing thread's
    /// stack (so far only for [`AccessKind::SyscallParamUninit`]), else
    /// [`Place::Unknown`].
    pub place: Place,
    /// Thread number of the accessing thread.
    pub tid: u32,
    /// Start of the block.
    pub block_start: u64,
    /// Its size. For [`Place::ThreadStack`]: 1 + the index in `stack` of
    /// the frame whose stack frame holds `addr` (Valgrind's "in frame
    /// #N"), 0 when no frame is known to.
    pub block_size: u64,
    /// Where it was allocated.
    pub alloc_stack: u32,
    /// Where it was freed ([`Place::InsideFreed`]); for
    /// [`AccessKind::SyscallParamUninit`], the origin's allocation stack;
    /// else 0.
    pub free_stack: u32,
    /// Overlap: destination.
    pub dst: u64,
    /// Overlap: source.
    pub src: u64,
    /// Overlap: the length as passed (Valgrind prints it). Read/Write: how
    /// many accesses of Valgrind's loop (all alike: one error context)
    /// this record stands for, each an error in the ERROR SUMMARY.
    pub len: u64,
    /// Fault: signal number.
    pub signo: i32,
    /// Fault: `si_code`.
    pub si_code: i32,
    /// Fault: address of the faulting instruction.
    pub pc: u64,
    /// Fault: how many bytes of `code` could be read.
    pub code_len: u8,
    /// Fault: the bytes at `pc`.
    pub code: [u8; 16],
}

impl Default for Access {
    fn default() -> Self {
        Access {
            kind: AccessKind::Fault,
            func: None,
            addr: 0,
            size: 0,
            stack: 0,
            place: Place::Unknown,
            tid: 1,
            block_start: 0,
            block_size: 0,
            alloc_stack: 0,
            free_stack: 0,
            dst: 0,
            src: 0,
            len: 0,
            signo: 0,
            si_code: 0,
            pc: 0,
            code_len: 0,
            code: [0; 16],
        }
    }
}

/// Valgrind's reachedness states, in Valgrind's order (which is also the
/// order loss records are sorted by when their sizes tie).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum LeakState {
    /// No pointer to the block was found anywhere.
    DefinitelyLost = 0,
    /// Reachable only from lost blocks.
    IndirectlyLost = 1,
    /// Reachable only through an interior pointer somewhere in the chain.
    PossiblyLost = 2,
    /// A chain of start pointers leads to it from a root.
    StillReachable = 3,
}

impl LeakState {
    /// Decodes the wire value.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::DefinitelyLost,
            1 => Self::IndirectlyLost,
            2 => Self::PossiblyLost,
            3 => Self::StillReachable,
            _ => return None,
        })
    }
}

/// Valgrind's leak heuristics that turn an interior pointer into a reason
/// for reachability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Heuristic {
    /// Pointer to the chars of a pre-C++11 `std::string` (length, capacity, refcount before).
    StdString = 1,
    /// Pointer 8 bytes in, after a 64-bit length of the rest of the block.
    Length64 = 2,
    /// Pointer 8 bytes in, after the element count of a `new[]` array.
    NewArray = 3,
    /// Pointer to a secondary vtable of an object with multiple inheritance.
    MultipleInheritance = 4,
}

impl Heuristic {
    /// Decodes the wire value.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::StdString,
            2 => Self::Length64,
            3 => Self::NewArray,
            4 => Self::MultipleInheritance,
            _ => return None,
        })
    }

    /// Valgrind's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::StdString => "stdstring",
            Self::Length64 => "length64",
            Self::NewArray => "newarray",
            Self::MultipleInheritance => "multipleinheritance",
        }
    }
}

/// One aggregated loss record: the blocks of one state allocated at one stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LossRecord {
    /// The blocks' state.
    pub state: LeakState,
    /// Their allocation stack.
    pub stack: u32,
    /// Sum of the blocks' sizes.
    pub bytes: u64,
    /// Sum of the sizes of blocks only these (definitely lost) blocks lead to.
    pub indirect_bytes: u64,
    /// Number of blocks.
    pub blocks: u64,
}

/// Heap totals at exit (Valgrind's HEAP SUMMARY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeapTotals {
    /// Bytes in live blocks.
    pub in_use_bytes: u64,
    /// Live blocks.
    pub in_use_blocks: u64,
    /// Allocation calls (realloc counts one alloc and one free).
    pub allocs: u64,
    /// Deallocation calls with a non-null pointer, including bad ones.
    pub frees: u64,
    /// Bytes ever allocated.
    pub bytes_allocated: u64,
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A stack definition.
    Stack {
        /// Its id (never 0).
        id: u32,
        /// Return addresses, innermost first.
        frames: Vec<u64>,
    },
    /// A loaded object.
    Module {
        /// Load bias (runtime address minus file virtual address).
        bias: u64,
        /// Lowest mapped address.
        start: u64,
        /// One past the highest mapped address.
        end: u64,
        /// Path (empty for the vdso).
        path: Vec<u8>,
    },
    /// A bad deallocation.
    BadFree(BadFree),
    /// A damaged redzone or poison.
    Corruption(Corruption),
    /// An invalid access (fault, or a checked C library routine).
    Access(Access),
    /// A loss record from the leak scan.
    LossRecord(LossRecord),
    /// Heap totals at exit.
    HeapTotals(HeapTotals),
    /// Blocks kept reachable only by a heuristic.
    HeuristicTotal {
        /// The heuristic.
        heuristic: Heuristic,
        /// Bytes.
        bytes: u64,
        /// Blocks.
        blocks: u64,
    },
    /// The process is being killed by a signal whose default action terminates it.
    FatalSignal {
        /// Signal number.
        signo: i32,
        /// `si_code`.
        code: i32,
        /// Fault address (SIGSEGV/SIGBUS), else 0.
        addr: u64,
        /// Where it happened.
        stack: u32,
    },
    /// The fatal SIGSEGV that follows is a stack overflow of the main
    /// thread (Valgrind's "Stack overflow in thread #N: can't grow stack
    /// to ADDR").
    StackOverflow {
        /// Valgrind-style thread number (1: the main thread).
        tid: u32,
        /// The page the stack would have had to grow to.
        base: u64,
    },
    /// The registers of the fault whose `Access` record follows (see the
    /// wire format table).
    FaultRegs {
        /// rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8 .. r15, fs base.
        regs: [u64; FAULT_REGS],
    },
    /// The end of this process's report.
    ReportEnd {
        /// Whether the leak scan ran.
        leak_scan_done: bool,
    },
    /// How long the leak scan took.
    ScanStats {
        /// Live blocks classified.
        blocks: u64,
        /// Bytes of root memory scanned.
        root_bytes: u64,
        /// Duration in nanoseconds.
        nanos: u64,
    },
    /// Memory the leak scan could not read and skipped.
    ScanSkipped {
        /// Bytes of roots skipped.
        root_bytes: u64,
        /// Bytes of block contents skipped.
        block_bytes: u64,
        /// Blocks left out whole (their header could not be read).
        blocks: u64,
    },
    /// `memdx heap`: a block was allocated.
    HeapAlloc {
        /// The block's address.
        ptr: u64,
        /// The size asked for.
        size: u64,
        /// Allocation stack.
        stack: u32,
        /// Time-stamp counter (see [`Event::HeapClock`]).
        time: u64,
    },
    /// `memdx heap`: a block was released (or moved by `realloc`).
    HeapFree {
        /// The block's address.
        ptr: u64,
        /// Time-stamp counter.
        time: u64,
    },
    /// `memdx heap`: the time-stamp counter and `CLOCK_MONOTONIC` read together.
    HeapClock {
        /// Time-stamp counter.
        time: u64,
        /// `CLOCK_MONOTONIC` in nanoseconds.
        nanos: u64,
    },
    /// `memdx heap`: the process is profiled.
    HeapStart {
        /// Mean bytes between samples; 0 when every allocation is recorded.
        sample_interval: u64,
    },
    /// `memdx heap`: the process ended normally; nothing follows.
    HeapEnd,
    /// `memdx heap --pid`: the process exited with this status while
    /// attached (before `HeapEnd`).
    HeapExitStatus {
        /// What it passed to `exit` or `_exit`.
        status: i32,
    },
    /// `memdx heap`: glibc's own view of its heap (`mallinfo2`).
    HeapMallinfo {
        /// Bytes the allocator holds from the system (`arena + hblkhd`).
        held: u64,
        /// Bytes in blocks handed out (`uordblks + hblkhd`).
        in_use: u64,
    },
    /// The command line of a process that was exec'd (not a fork child).
    CommandLine {
        /// The arguments, program first.
        args: Vec<Vec<u8>>,
    },
}

/// Acknowledgement byte: the record was rendered, go on.
pub const ACK_CONTINUE: u8 = 1;
/// Acknowledgement byte: end the process now with the status in the next
/// byte (`--exit-on-first-error=yes`).
pub const ACK_EXIT: u8 = 2;

/// Whether the writer waits for an acknowledgement byte after this record.
pub fn needs_ack(ev: &Event) -> bool {
    matches!(
        ev,
        Event::BadFree(_)
            | Event::Corruption(_)
            | Event::Access(_)
            | Event::FatalSignal { .. }
            | Event::ReportEnd { .. }
    )
}

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

/// Bytes of an encoded `HeapAlloc` record (prefix included).
pub const HEAP_ALLOC_RECORD: usize = RECORD_PREFIX + 28;
/// Bytes of an encoded `HeapFree` record (prefix included).
pub const HEAP_FREE_RECORD: usize = RECORD_PREFIX + 16;

/// A whole `HeapAlloc` record (the profiling runtime appends these to its
/// buffers on the allocation fast path, without an [`Encoder`]).
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

/// Writes records into a caller-provided byte buffer, without allocating
/// (the runtime encodes inside allocator hooks).
pub struct Encoder<'a> {
    buf: &'a mut [u8],
    pos: usize,
    overflow: bool,
}

impl<'a> Encoder<'a> {
    /// An encoder writing from the start of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Encoder {
            buf,
            pos: 0,
            overflow: false,
        }
    }

    /// The encoded bytes, or `None` if the buffer was too small.
    pub fn finish(self) -> Option<&'a [u8]> {
        if self.overflow {
            return None;
        }
        let Encoder { buf, pos, .. } = self;
        let buf: &'a [u8] = buf;
        buf.get(..pos)
    }

    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        match self.buf.get_mut(self.pos..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.pos = end;
            }
            None => self.overflow = true,
        }
    }
    fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.put(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.put(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }
    /// Starts a record; the length is patched in by [`Encoder::end`].
    fn begin(&mut self, tag: u8, _len_hint: usize) -> usize {
        self.u8(tag);
        let at = self.pos;
        self.u32(0);
        at
    }

    fn end(&mut self, at: usize) {
        let len = (self.pos - at - 4) as u32;
        if let Some(dst) = self.buf.get_mut(at..at + 4) {
            dst.copy_from_slice(&len.to_le_bytes());
        }
    }

    /// Appends a `HeapMallinfo` record.
    pub fn heap_mallinfo(&mut self, held: u64, in_use: u64) {
        let at = self.begin(tag::HEAP_MALLINFO, 16);
        self.u64(held);
        self.u64(in_use);
        self.end(at);
    }

    /// Appends a `HeapClock` record.
    pub fn heap_clock(&mut self, time: u64, nanos: u64) {
        let at = self.begin(tag::HEAP_CLOCK, 16);
        self.u64(time);
        self.u64(nanos);
        self.end(at);
    }

    /// Appends a `HeapStart` record.
    pub fn heap_start(&mut self, sample_interval: u64) {
        let at = self.begin(tag::HEAP_START, 8);
        self.u64(sample_interval);
        self.end(at);
    }

    /// Appends a `HeapExitStatus` record.
    pub fn heap_exit_status(&mut self, status: i32) {
        let at = self.begin(tag::HEAP_EXIT_STATUS, 4);
        self.u32(status as u32);
        self.end(at);
    }

    /// Appends a `HeapEnd` record.
    pub fn heap_end(&mut self) {
        let at = self.begin(tag::HEAP_END, 0);
        self.end(at);
    }

    /// Appends a `Stack` record (frames beyond [`MAX_FRAMES`] are dropped).
    pub fn stack(&mut self, id: u32, frames: &[u64]) {
        let frames = &frames[..frames.len().min(MAX_FRAMES)];
        let at = self.begin(tag::STACK, 6 + 8 * frames.len());
        self.u32(id);
        self.u16(frames.len() as u16);
        for &f in frames {
            self.u64(f);
        }
        self.end(at);
    }

    /// Appends a fill-site record ([`tag::FILL_SITE`]).
    pub fn fill_site(&mut self, id: u32, blocks: u64, bytes: u64) {
        let at = self.begin(tag::FILL_SITE, 20);
        self.u32(id);
        self.u64(blocks);
        self.u64(bytes);
        self.end(at);
    }

    /// Appends a `Module` record.
    pub fn module(&mut self, bias: u64, start: u64, end: u64, path: &[u8]) {
        let at = self.begin(tag::MODULE, 24 + path.len());
        self.u64(bias);
        self.u64(start);
        self.u64(end);
        self.put(path);
        self.end(at);
    }

    /// Appends a `BadFree` record.
    pub fn bad_free(&mut self, e: &BadFree) {
        let at = self.begin(tag::BAD_FREE, 47);
        self.u8(e.kind as u8);
        self.u8(e.dealloc as u8);
        self.u64(e.addr);
        self.u32(e.stack);
        self.u8(e.place as u8);
        self.u32(e.tid);
        self.u64(e.block_start);
        self.u64(e.block_size);
        self.u32(e.alloc_stack);
        self.u32(e.free_stack);
        self.end(at);
    }

    /// Appends a `Corruption` record.
    pub fn corruption(&mut self, c: &Corruption) {
        let at = self.begin(tag::CORRUPTION, 45);
        self.u8(c.kind as u8);
        self.u64(c.block_start);
        self.u64(c.block_size);
        self.u64(c.first);
        self.u64(c.last);
        self.u32(c.stack);
        self.u32(c.alloc_stack);
        self.u32(c.free_stack);
        self.end(at);
    }

    /// Appends an `Access` record.
    pub fn access(&mut self, a: &Access) {
        let at = self.begin(tag::ACCESS, 108);
        self.u8(a.kind as u8);
        self.u8(a.func.map_or(0, |r| r as u8));
        self.u64(a.addr);
        self.u64(a.size);
        self.u32(a.stack);
        self.u8(a.place as u8);
        self.u32(a.tid);
        self.u64(a.block_start);
        self.u64(a.block_size);
        self.u32(a.alloc_stack);
        self.u32(a.free_stack);
        self.u64(a.dst);
        self.u64(a.src);
        self.u64(a.len);
        self.i32(a.signo);
        self.i32(a.si_code);
        self.u64(a.pc);
        self.u8(a.code_len);
        self.put(&a.code);
        self.end(at);
    }

    /// Appends a `LossRecord` record.
    pub fn loss_record(&mut self, r: &LossRecord) {
        let at = self.begin(tag::LOSS_RECORD, 29);
        self.u8(r.state as u8);
        self.u32(r.stack);
        self.u64(r.bytes);
        self.u64(r.indirect_bytes);
        self.u64(r.blocks);
        self.end(at);
    }

    /// Appends a `HeapTotals` record.
    pub fn heap_totals(&mut self, t: &HeapTotals) {
        let at = self.begin(tag::HEAP_TOTALS, 40);
        self.u64(t.in_use_bytes);
        self.u64(t.in_use_blocks);
        self.u64(t.allocs);
        self.u64(t.frees);
        self.u64(t.bytes_allocated);
        self.end(at);
    }

    /// Appends a `HeuristicTotal` record.
    pub fn heuristic_total(&mut self, h: Heuristic, bytes: u64, blocks: u64) {
        let at = self.begin(tag::HEURISTIC_TOTAL, 17);
        self.u8(h as u8);
        self.u64(bytes);
        self.u64(blocks);
        self.end(at);
    }

    /// Appends a `FatalSignal` record.
    pub fn fatal_signal(&mut self, signo: i32, code: i32, addr: u64, stack: u32) {
        let at = self.begin(tag::FATAL_SIGNAL, 20);
        self.i32(signo);
        self.i32(code);
        self.u64(addr);
        self.u32(stack);
        self.end(at);
    }

    /// Appends a `StackOverflow` record.
    pub fn stack_overflow(&mut self, tid: u32, base: u64) {
        let at = self.begin(tag::STACK_OVERFLOW, 12);
        self.u32(tid);
        self.u64(base);
        self.end(at);
    }

    /// Appends a `FaultRegs` record.
    pub fn fault_regs(&mut self, regs: &[u64; FAULT_REGS]) {
        let at = self.begin(tag::FAULT_REGS, 8 * FAULT_REGS);
        for &r in regs {
            self.u64(r);
        }
        self.end(at);
    }

    /// Appends a `ReportEnd` record.
    pub fn report_end(&mut self, leak_scan_done: bool) {
        let at = self.begin(tag::REPORT_END, 1);
        self.u8(leak_scan_done as u8);
        self.end(at);
    }

    /// Appends a `CommandLine` record from `/proc/PID/cmdline`-style bytes
    /// (each argument NUL-terminated).
    pub fn command_line(&mut self, nul_separated: &[u8]) {
        let at = self.begin(tag::COMMAND_LINE, nul_separated.len());
        self.put(nul_separated);
        self.end(at);
    }

    /// Appends a `ScanStats` record.
    pub fn scan_stats(&mut self, blocks: u64, root_bytes: u64, nanos: u64) {
        let at = self.begin(tag::SCAN_STATS, 24);
        self.u64(blocks);
        self.u64(root_bytes);
        self.u64(nanos);
        self.end(at);
    }

    /// Appends a `ScanSkipped` record.
    pub fn scan_skipped(&mut self, root_bytes: u64, block_bytes: u64, blocks: u64) {
        let at = self.begin(tag::SCAN_SKIPPED, 24);
        self.u64(root_bytes);
        self.u64(block_bytes);
        self.u64(blocks);
        self.end(at);
    }
}

/// Why a stream could not be decoded.
#[derive(Debug)]
pub enum DecodeError {
    /// The stream does not start with [`MAGIC`].
    BadMagic,
    /// A version this reader does not understand.
    UnsupportedVersion(u16),
    /// A known record with a payload of the wrong length or a bad enum value.
    Malformed {
        /// The record's tag.
        tag: u8,
    },
    /// The stream ended inside a record.
    Truncated,
    /// A record longer than [`MAX_RECORD_LEN`].
    RecordTooLong {
        /// The record's tag.
        tag: u8,
        /// The length its prefix gives.
        len: u32,
    },
    /// Reading failed.
    Io(io::Error),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic => f.write_str("not a memdx event stream (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported event stream version {v}"),
            Self::Malformed { tag } => write!(f, "malformed event record (tag {tag})"),
            Self::Truncated => f.write_str("event stream ends inside a record"),
            Self::RecordTooLong { tag, len } => write!(
                f,
                "event record of {len} bytes (tag {tag}) is longer than the limit of {MAX_RECORD_LEN} bytes"
            ),
            Self::Io(e) => write!(f, "reading the event stream: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Reads a stream: the header first, then records one by one.
pub struct EventReader<R> {
    inner: R,
    payload: Vec<u8>,
}

/// Fills `buf` completely; `Ok(false)` on a clean end of stream before the first byte.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<bool, DecodeError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(DecodeError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DecodeError::Io(e)),
        }
    }
    Ok(true)
}

struct Cursor<'a> {
    b: &'a [u8],
    tag: u8,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.b.len() < n {
            return Err(DecodeError::Malformed { tag: self.tag });
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(self.u32()? as i32)
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
    fn bad(&self) -> DecodeError {
        DecodeError::Malformed { tag: self.tag }
    }
}

impl<R: Read> EventReader<R> {
    /// Wraps a byte source.
    pub fn new(inner: R) -> Self {
        EventReader {
            inner,
            payload: Vec::new(),
        }
    }

    /// Reads the stream header; call once, first.
    pub fn read_header(&mut self) -> Result<Header, DecodeError> {
        let mut b = [0u8; HEADER_LEN];
        if !read_full(&mut self.inner, &mut b)? {
            return Err(DecodeError::Truncated);
        }
        Header::decode(&b)
    }

    /// The next known record; `Ok(None)` at the end of the stream.
    pub fn next_event(&mut self) -> Result<Option<Event>, DecodeError> {
        loop {
            let mut prefix = [0u8; RECORD_PREFIX];
            if !read_full(&mut self.inner, &mut prefix)? {
                return Ok(None);
            }
            let tag = prefix[0];
            let len = u32::from_le_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]);
            if len as usize > MAX_RECORD_LEN {
                return Err(DecodeError::RecordTooLong { tag, len });
            }
            let len = len as usize;
            self.payload.resize(len, 0);
            if len > 0 && !read_full(&mut self.inner, &mut self.payload)? {
                return Err(DecodeError::Truncated);
            }
            if let Some(ev) = decode_payload(tag, &self.payload)? {
                return Ok(Some(ev));
            }
        }
    }
}

/// Decodes one record's payload; `Ok(None)` for an unknown tag.
pub fn decode_payload(tag: u8, payload: &[u8]) -> Result<Option<Event>, DecodeError> {
    let mut c = Cursor { b: payload, tag };
    let ev = match tag {
        tag::HEAP_ALLOC => Event::HeapAlloc {
            ptr: c.u64()?,
            size: c.u64()?,
            stack: c.u32()?,
            time: c.u64()?,
        },
        tag::HEAP_FREE => Event::HeapFree {
            ptr: c.u64()?,
            time: c.u64()?,
        },
        tag::HEAP_CLOCK => Event::HeapClock {
            time: c.u64()?,
            nanos: c.u64()?,
        },
        tag::HEAP_START => Event::HeapStart {
            sample_interval: c.u64()?,
        },
        tag::HEAP_END => Event::HeapEnd,
        tag::HEAP_EXIT_STATUS => Event::HeapExitStatus {
            status: c.u32()? as i32,
        },
        tag::HEAP_MALLINFO => Event::HeapMallinfo {
            held: c.u64()?,
            in_use: c.u64()?,
        },
        tag::STACK => {
            let id = c.u32()?;
            let n = c.u16()? as usize;
            let mut frames = Vec::with_capacity(n);
            for _ in 0..n {
                frames.push(c.u64()?);
            }
            Event::Stack { id, frames }
        }
        tag::MODULE => {
            let bias = c.u64()?;
            let start = c.u64()?;
            let end = c.u64()?;
            let path = c.b.to_vec();
            c.b = &[];
            Event::Module {
                bias,
                start,
                end,
                path,
            }
        }
        tag::BAD_FREE => {
            let kind = match c.u8()? {
                0 => BadFreeKind::Invalid,
                1 => BadFreeKind::Mismatched,
                _ => return Err(c.bad()),
            };
            Event::BadFree(BadFree {
                kind,
                dealloc: Dealloc::from_u8(c.u8()?).ok_or_else(|| c.bad())?,
                addr: c.u64()?,
                stack: c.u32()?,
                place: Place::from_u8(c.u8()?).ok_or_else(|| c.bad())?,
                tid: c.u32()?,
                block_start: c.u64()?,
                block_size: c.u64()?,
                alloc_stack: c.u32()?,
                free_stack: c.u32()?,
            })
        }
        tag::CORRUPTION => Event::Corruption(Corruption {
            kind: match c.u8()? {
                0 => CorruptionKind::AfterEnd,
                1 => CorruptionKind::AfterFree,
                2 => CorruptionKind::BeforeStart,
                _ => return Err(c.bad()),
            },
            block_start: c.u64()?,
            block_size: c.u64()?,
            first: c.u64()?,
            last: c.u64()?,
            stack: c.u32()?,
            alloc_stack: c.u32()?,
            free_stack: c.u32()?,
        }),
        tag::ACCESS => {
            let mut a = Access {
                kind: AccessKind::from_u8(c.u8()?).ok_or_else(|| c.bad())?,
                func: match c.u8()? {
                    0 => None,
                    v => Some(Routine::from_u8(v).ok_or_else(|| c.bad())?),
                },
                addr: c.u64()?,
                size: c.u64()?,
                stack: c.u32()?,
                place: Place::from_u8(c.u8()?).ok_or_else(|| c.bad())?,
                tid: c.u32()?,
                block_start: c.u64()?,
                block_size: c.u64()?,
                alloc_stack: c.u32()?,
                free_stack: c.u32()?,
                dst: c.u64()?,
                src: c.u64()?,
                len: c.u64()?,
                signo: c.i32()?,
                si_code: c.i32()?,
                pc: c.u64()?,
                code_len: c.u8()?,
                code: [0; 16],
            };
            a.code.copy_from_slice(c.take(16)?);
            if a.code_len > 16 {
                return Err(c.bad());
            }
            Event::Access(a)
        }
        tag::LOSS_RECORD => Event::LossRecord(LossRecord {
            state: LeakState::from_u8(c.u8()?).ok_or_else(|| c.bad())?,
            stack: c.u32()?,
            bytes: c.u64()?,
            indirect_bytes: c.u64()?,
            blocks: c.u64()?,
        }),
        tag::HEAP_TOTALS => Event::HeapTotals(HeapTotals {
            in_use_bytes: c.u64()?,
            in_use_blocks: c.u64()?,
            allocs: c.u64()?,
            frees: c.u64()?,
            bytes_allocated: c.u64()?,
        }),
        tag::HEURISTIC_TOTAL => Event::HeuristicTotal {
            heuristic: Heuristic::from_u8(c.u8()?).ok_or_else(|| c.bad())?,
            bytes: c.u64()?,
            blocks: c.u64()?,
        },
        tag::FATAL_SIGNAL => Event::FatalSignal {
            signo: c.i32()?,
            code: c.i32()?,
            addr: c.u64()?,
            stack: c.u32()?,
        },
        tag::REPORT_END => Event::ReportEnd {
            leak_scan_done: c.u8()? != 0,
        },
        tag::STACK_OVERFLOW => Event::StackOverflow {
            tid: c.u32()?,
            base: c.u64()?,
        },
        tag::FAULT_REGS => {
            let mut regs = [0u64; FAULT_REGS];
            for r in &mut regs {
                *r = c.u64()?;
            }
            Event::FaultRegs { regs }
        }
        tag::SCAN_STATS => Event::ScanStats {
            blocks: c.u64()?,
            root_bytes: c.u64()?,
            nanos: c.u64()?,
        },
        tag::SCAN_SKIPPED => Event::ScanSkipped {
            root_bytes: c.u64()?,
            block_bytes: c.u64()?,
            blocks: c.u64()?,
        },
        tag::COMMAND_LINE => {
            let body = c.b.strip_suffix(&[0]).unwrap_or(c.b);
            let args = body.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
            c.b = &[];
            Event::CommandLine { args }
        }
        _ => return Ok(None),
    };
    if !c.b.is_empty() {
        return Err(DecodeError::Malformed { tag });
    }
    Ok(Some(ev))
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
    use super::*;

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

    #[test]
    fn header_round_trips_and_rejects_bad_magic() {
        let h = Header {
            version: VERSION,
            pointer_size: 8,
            pid: 1234,
            ppid: 1,
            flags: FLAG_FORK_CHILD,
        };
        let b = h.encode();
        assert_eq!(Header::decode(&b).unwrap(), h);
        let mut bad = b;
        bad[0] = b'X';
        assert!(matches!(Header::decode(&bad), Err(DecodeError::BadMagic)));
        // Version 1 (which had the unused Alloc/Free/Note records) and a
        // future version are refused.
        for v in [1u8, 3] {
            let mut other = b;
            other[4] = v;
            assert!(matches!(
                Header::decode(&other),
                Err(DecodeError::UnsupportedVersion(got)) if got == u16::from(v)
            ));
        }
    }

    #[test]
    fn heap_records_round_trip() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&heap_alloc_record(0x5000, 24, 3, 99));
        bytes.extend_from_slice(&heap_free_record(0x5000, 120));
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

    #[test]
    fn every_record_round_trips_and_unknown_tags_are_skipped() {
        let mut buf = [0u8; 2048];
        let bf = BadFree {
            kind: BadFreeKind::Mismatched,
            dealloc: Dealloc::DeleteArray,
            addr: 0x1000,
            stack: 7,
            place: Place::InsideLive,
            tid: 1,
            block_start: 0x1000,
            block_size: 16,
            alloc_stack: 3,
            free_stack: 0,
        };
        let acc = Access {
            kind: AccessKind::Fault,
            addr: 0x10,
            stack: 5,
            signo: 11,
            si_code: 1,
            pc: 0x401000,
            code_len: 2,
            code: [0x8b, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9],
            ..Access::default()
        };
        let lr = LossRecord {
            state: LeakState::PossiblyLost,
            stack: 9,
            bytes: 100,
            indirect_bytes: 32,
            blocks: 2,
        };
        let cor = Corruption {
            kind: CorruptionKind::AfterFree,
            block_start: 0x2000,
            block_size: 40,
            first: 8,
            last: 11,
            stack: 5,
            alloc_stack: 3,
            free_stack: 4,
        };
        let totals = HeapTotals {
            in_use_bytes: 1,
            in_use_blocks: 2,
            allocs: 3,
            frees: 4,
            bytes_allocated: 5,
        };
        let mut e = Encoder::new(&mut buf);
        e.stack(2, &[0xaa, 0xbb]);
        // An unknown record from a future runtime.
        let at = e.begin(200, 3);
        e.put(&[1, 2, 3]);
        e.end(at);
        e.module(0x5000, 0x5000, 0x9000, b"/bin/true");
        e.bad_free(&bf);
        e.corruption(&cor);
        e.access(&acc);
        e.loss_record(&lr);
        e.heap_totals(&totals);
        e.heuristic_total(Heuristic::NewArray, 12, 1);
        e.fatal_signal(6, -6, 0, 4);
        e.stack_overflow(1, 0x7ffe_0000_0000);
        e.fault_regs(&core::array::from_fn(|i| 0x1000 + i as u64));
        e.command_line(b"./prog\0-x\0");
        e.scan_stats(3, 4096, 1000);
        e.scan_skipped(8192, 4096, 2);
        e.report_end(true);
        let bytes = e.finish().unwrap().to_vec();
        let mut r = EventReader::new(&bytes[..]);
        let mut got = Vec::new();
        while let Some(ev) = r.next_event().unwrap() {
            got.push(ev);
        }
        assert_eq!(
            got,
            vec![
                Event::Stack {
                    id: 2,
                    frames: vec![0xaa, 0xbb]
                },
                Event::Module {
                    bias: 0x5000,
                    start: 0x5000,
                    end: 0x9000,
                    path: b"/bin/true".to_vec()
                },
                Event::BadFree(bf),
                Event::Corruption(cor),
                Event::Access(acc),
                Event::LossRecord(lr),
                Event::HeapTotals(totals),
                Event::HeuristicTotal {
                    heuristic: Heuristic::NewArray,
                    bytes: 12,
                    blocks: 1
                },
                Event::FatalSignal {
                    signo: 6,
                    code: -6,
                    addr: 0,
                    stack: 4
                },
                Event::StackOverflow {
                    tid: 1,
                    base: 0x7ffe_0000_0000
                },
                Event::FaultRegs {
                    regs: core::array::from_fn(|i| 0x1000 + i as u64)
                },
                Event::CommandLine {
                    args: vec![b"./prog".to_vec(), b"-x".to_vec()]
                },
                Event::ScanStats {
                    blocks: 3,
                    root_bytes: 4096,
                    nanos: 1000
                },
                Event::ScanSkipped {
                    root_bytes: 8192,
                    block_bytes: 4096,
                    blocks: 2
                },
                Event::ReportEnd {
                    leak_scan_done: true
                },
            ]
        );
    }

    #[test]
    fn encoder_reports_overflow_instead_of_panicking() {
        let mut buf = [0u8; 8];
        let mut e = Encoder::new(&mut buf);
        e.heap_totals(&HeapTotals::default());
        assert!(e.finish().is_none());
    }

    #[test]
    fn truncated_record_is_an_error() {
        let mut buf = [0u8; 64];
        let mut e = Encoder::new(&mut buf);
        e.heap_clock(1, 2);
        let bytes = e.finish().unwrap();
        let mut r = EventReader::new(&bytes[..bytes.len() - 2]);
        assert!(matches!(r.next_event(), Err(DecodeError::Truncated)));
    }

    #[test]
    fn a_record_longer_than_the_limit_is_refused_before_reading_it() {
        // Found by fuzzing: a corrupt length made the reader allocate up to
        // 4 GiB for one payload.
        let mut bytes = vec![tag::STACK];
        bytes.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        let mut r = EventReader::new(&bytes[..]);
        let err = r.next_event().unwrap_err();
        assert!(matches!(
            err,
            DecodeError::RecordTooLong {
                tag: tag::STACK,
                len: 0xFFFF_FFF0
            }
        ));
        assert_eq!(
            err.to_string(),
            "event record of 4294967280 bytes (tag 3) is longer than the limit of 65536 bytes"
        );
        // The longest allowed record still reads (here: an unknown tag, skipped).
        let mut ok = vec![200u8];
        ok.extend_from_slice(&(MAX_RECORD_LEN as u32).to_le_bytes());
        ok.resize(ok.len() + MAX_RECORD_LEN, 0);
        assert!(EventReader::new(&ok[..]).next_event().unwrap().is_none());
    }

    #[test]
    fn an_uninitialised_syscall_buffer_keeps_its_origin() {
        let mut buf = [0u8; 512];
        let mut e = Encoder::new(&mut buf);
        let sent = Access {
            kind: AccessKind::SyscallParamUninit,
            func: Some(Routine::SysWritev),
            addr: 0x5008,
            stack: 3,
            place: Place::InsideLive,
            block_start: 0x5000,
            block_size: 4096,
            alloc_stack: 4,
            free_stack: 7,
            ..Access::default()
        };
        e.access(&sent);
        let bytes = e.finish().unwrap();
        match EventReader::new(bytes).next_event() {
            Ok(Some(Event::Access(a))) => assert_eq!(a, sent),
            other => panic!("{other:?}"),
        }
        assert_eq!(AccessKind::from_u8(7), None);
    }

    #[test]
    fn every_routine_round_trips_and_unassigned_ids_are_refused() {
        let mut buf = [0u8; 256];
        for r in Routine::ALL {
            assert!(!r.name().is_empty(), "{r:?} has no name");
            let mut e = Encoder::new(&mut buf);
            e.access(&Access {
                kind: AccessKind::Overlap,
                func: Some(r),
                ..Access::default()
            });
            let bytes = e.finish().unwrap();
            match EventReader::new(bytes).next_event() {
                Ok(Some(Event::Access(a))) => assert_eq!(a.func, Some(r)),
                other => panic!("{r:?}: {other:?}"),
            }
        }
        assert_eq!(Routine::from_u8(0), None);
        assert_eq!(Routine::from_u8(18), None);
        let past_last = Routine::ALL.iter().map(|&r| r as u8).max().unwrap() + 1;
        assert_eq!(Routine::from_u8(past_last), None);
        // A record naming an unassigned routine is a malformed stream.
        let mut e = Encoder::new(&mut buf);
        e.access(&Access {
            kind: AccessKind::Overlap,
            func: Some(Routine::Memcpy),
            ..Access::default()
        });
        let bytes = e.finish().unwrap().to_vec();
        let func_at = bytes.len() - 107; // kind u8, then func u8, of a 108-byte payload
        let mut bad = bytes.clone();
        bad[func_at] = 19;
        assert!(EventReader::new(&bad[..]).next_event().is_err());
    }
}
