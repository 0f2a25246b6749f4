//! The payload types of the error and leak records: allocation and
//! deallocation kinds, [`BadFree`], [`Corruption`], [`Access`], leak states
//! and heuristics, [`LossRecord`] and [`HeapTotals`]. The routines an
//! [`Access`] names are in [`crate::Routine`].

use crate::Routine;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Encoder, Event, EventReader};

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
}
