//! [`Event`], one decoded record, and which records the writer waits for
//! an acknowledgement after ([`needs_ack`], [`ACK_CONTINUE`], [`ACK_EXIT`]).

use crate::{Access, BadFree, Corruption, HeapTotals, Heuristic, LossRecord, FAULT_REGS};

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
    /// `memdx heap`: the program mapped memory itself (`mmap`, or the new
    /// range of an `mremap`).
    HeapMap {
        /// The mapping's address.
        addr: u64,
        /// Its length in bytes (as asked; the kernel rounds up to pages).
        len: u64,
        /// The call's stack.
        stack: u32,
        /// Time-stamp counter.
        time: u64,
    },
    /// `memdx heap`: the program unmapped a range itself (`munmap`, or the
    /// old range of an `mremap`).
    HeapUnmap {
        /// The range's address.
        addr: u64,
        /// Its length in bytes.
        len: u64,
        /// Time-stamp counter.
        time: u64,
    },
    /// The command line of a process that was exec'd (not a fork child).
    CommandLine {
        /// The arguments, program first.
        args: Vec<Vec<u8>>,
    },
    /// The process is about to exec a program that runs unchecked: no
    /// final report follows if the call succeeds.
    Exec {
        /// The program as passed to the call (empty for `fexecve`).
        path: Vec<u8>,
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
