//! The report of one checked process: what Valgrind's memcheck tells about a
//! run, in the order it tells it.
//!
//! Everything a renderer prints comes from here; nothing is recomputed
//! from the clock or the environment while rendering. Values that vary per
//! run (pid, elapsed times, addresses) are data, so a report read from a
//! file renders back to the same bytes.
//!
//! Errors are kept in the order they were reported. Memcheck reports the
//! errors found while the program runs first and the leaks found by the
//! exit-time scan after the run has finished; [`Report::run_errors`] and
//! [`Report::leak_errors`] give the two parts.

use serde::{Deserialize, Serialize};

use crate::text::commas;

/// One memcheck run of one process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The tool name, `memcheck` (Valgrind's `<protocoltool>` and `<tool>`).
    pub tool: String,
    /// The banner lines printed before the run (`<preamble>`), without
    /// Valgrind's `==PID== ` prefix.
    pub preamble: Vec<String>,
    /// The checked process.
    pub pid: u32,
    /// Its parent.
    pub ppid: u32,
    /// `--xml-user-comment`: an XML fragment copied into the XML report
    /// as it is (not escaped).
    pub user_comment: Option<String>,
    /// The checker's own command line: its executable and its options.
    pub checker: CommandLine,
    /// The program's command line.
    pub program: CommandLine,
    /// When the program started running, as time since the checker started.
    pub started: Status,
    /// The errors, in the order they were reported: those found while the
    /// program ran, then the leaks found at exit.
    pub errors: Vec<Error>,
    /// How the program died, when a signal killed it.
    pub fatal_signal: Option<FatalSignal>,
    /// When the run finished; `None` while it is still running (or when it
    /// never finished, e.g. the checker was killed).
    pub finished: Option<Status>,
    /// How often each reported, unsuppressed run-time error context
    /// occurred (`<errorcounts>`), in Valgrind's order. Leak errors are
    /// not listed here.
    pub error_counts: Vec<ErrorCount>,
    /// How often each suppression was used (`<suppcounts>`).
    pub supp_counts: Vec<SuppCount>,
    /// The figures of the text report's ERROR SUMMARY line, when known.
    /// Valgrind's XML does not carry them.
    pub error_summary: Option<ErrorSummary>,
    /// The HEAP SUMMARY figures, when known (not in Valgrind's XML).
    pub heap_summary: Option<HeapSummary>,
    /// The LEAK SUMMARY figures, when a leak check ran (not in Valgrind's
    /// XML).
    pub leak_summary: Option<LeakSummary>,
    /// Messages of the checker itself, not Valgrind's (e.g. why a leak
    /// scan could not run). The text report prints them as `memdx: ...`
    /// after the heap summary; Valgrind's XML has no place for them.
    pub notes: Vec<String>,
}

impl Report {
    /// The errors found while the program ran (every kind but leaks).
    pub fn run_errors(&self) -> impl Iterator<Item = &Error> {
        self.errors.iter().filter(|e| !e.kind.is_leak())
    }

    /// The leaks found by the exit-time leak check.
    pub fn leak_errors(&self) -> impl Iterator<Item = &Error> {
        self.errors.iter().filter(|e| e.kind.is_leak())
    }
}

/// An executable and its arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandLine {
    /// The executable as it was named (`<exe>`).
    pub exe: String,
    /// The arguments after it (`<arg>`).
    pub args: Vec<String>,
}

/// A status line of the run (`<status>`): the time since the checker started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Milliseconds since the checker started.
    pub elapsed_ms: u64,
}

/// One error context as memcheck reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    /// The id of this error context in this report (`<unique>`, printed in
    /// hex); `error_counts` refer to it.
    pub unique: u64,
    /// The thread the error happened on (1 is the main thread).
    pub tid: u32,
    /// The thread's name, when the program named it.
    pub thread_name: Option<String>,
    /// What kind of error this is.
    pub kind: ErrorKind,
    /// The headline.
    pub what: What,
    /// Where it happened (for a leak: where the block was allocated).
    pub stack: Stack,
    /// Further explanation, each line optionally with its own stack
    /// (e.g. "Block was alloc'd at" and the allocation stack).
    pub aux: Vec<Aux>,
    /// The suppression that would silence this error, when asked for
    /// (`--gen-suppressions=all`).
    pub suppression: Option<Suppression>,
}

/// The kinds of error memcheck reports, named as in the XML's `<kind>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// An invalid address passed to a core operation (e.g. a bad stack).
    CoreMemError,
    /// Use of an uninitialised value (not in a condition).
    UninitValue,
    /// A conditional jump or move on an uninitialised value.
    UninitCondition,
    /// A system call parameter that is uninitialised or unaddressable.
    SyscallParam,
    /// A failed client request check (`VALGRIND_CHECK_MEM_IS_DEFINED`, ...).
    ClientCheck,
    /// A read of memory the program may not access.
    InvalidRead,
    /// A write to memory the program may not access.
    InvalidWrite,
    /// A jump to an address that is not code.
    InvalidJump,
    /// `free`/`delete` of an address that is not the start of a live block.
    InvalidFree,
    /// A block released by a function that does not match its allocator.
    MismatchedFree,
    /// Overlapping source and destination of `memcpy`, `strcpy`, ...
    Overlap,
    /// An invalid mempool client request.
    InvalidMemPool,
    /// A size argument that looks negative.
    FishyValue,
    /// A leaked block nothing points to.
    #[serde(rename = "Leak_DefinitelyLost")]
    LeakDefinitelyLost,
    /// A leaked block only reachable from other leaked blocks.
    #[serde(rename = "Leak_IndirectlyLost")]
    LeakIndirectlyLost,
    /// A block only pointed to into its interior.
    #[serde(rename = "Leak_PossiblyLost")]
    LeakPossiblyLost,
    /// A block still pointed to at exit.
    #[serde(rename = "Leak_StillReachable")]
    LeakStillReachable,
    /// memdx's own kind, no memcheck error: `memdx check
    /// --uninit-effects=yes` found allocation sites whose uninitialised
    /// bytes change what the program does (docs/checker.md).
    #[serde(rename = "Memdx_UninitEffect")]
    UninitEffect,
}

impl ErrorKind {
    /// Every kind, in the order above.
    pub const ALL: [ErrorKind; 18] = [
        ErrorKind::CoreMemError,
        ErrorKind::UninitValue,
        ErrorKind::UninitCondition,
        ErrorKind::SyscallParam,
        ErrorKind::ClientCheck,
        ErrorKind::InvalidRead,
        ErrorKind::InvalidWrite,
        ErrorKind::InvalidJump,
        ErrorKind::InvalidFree,
        ErrorKind::MismatchedFree,
        ErrorKind::Overlap,
        ErrorKind::InvalidMemPool,
        ErrorKind::FishyValue,
        ErrorKind::LeakDefinitelyLost,
        ErrorKind::LeakIndirectlyLost,
        ErrorKind::LeakPossiblyLost,
        ErrorKind::LeakStillReachable,
        ErrorKind::UninitEffect,
    ];

    /// The name in Valgrind's XML (`<kind>`) and in memdx's JSON.
    pub fn xml_name(self) -> &'static str {
        match self {
            ErrorKind::CoreMemError => "CoreMemError",
            ErrorKind::UninitValue => "UninitValue",
            ErrorKind::UninitCondition => "UninitCondition",
            ErrorKind::SyscallParam => "SyscallParam",
            ErrorKind::ClientCheck => "ClientCheck",
            ErrorKind::InvalidRead => "InvalidRead",
            ErrorKind::InvalidWrite => "InvalidWrite",
            ErrorKind::InvalidJump => "InvalidJump",
            ErrorKind::InvalidFree => "InvalidFree",
            ErrorKind::MismatchedFree => "MismatchedFree",
            ErrorKind::Overlap => "Overlap",
            ErrorKind::InvalidMemPool => "InvalidMemPool",
            ErrorKind::FishyValue => "FishyValue",
            ErrorKind::LeakDefinitelyLost => "Leak_DefinitelyLost",
            ErrorKind::LeakIndirectlyLost => "Leak_IndirectlyLost",
            ErrorKind::LeakPossiblyLost => "Leak_PossiblyLost",
            ErrorKind::LeakStillReachable => "Leak_StillReachable",
            ErrorKind::UninitEffect => "Memdx_UninitEffect",
        }
    }

    /// The kind with this XML name.
    pub fn from_xml_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.xml_name() == name)
    }

    /// Whether this is a leak found by the exit-time leak check.
    pub fn is_leak(self) -> bool {
        matches!(
            self,
            ErrorKind::LeakDefinitelyLost
                | ErrorKind::LeakIndirectlyLost
                | ErrorKind::LeakPossiblyLost
                | ErrorKind::LeakStillReachable
        )
    }
}

/// An error's headline. In JSON a plain headline is a string, a leak's an
/// object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum What {
    /// A plain line (`<what>`), e.g. "Invalid read of size 4".
    Text(String),
    /// A leak's line with its figures (`<xwhat>`).
    Leak {
        /// e.g. "96 (32 direct, 64 indirect) bytes in 1 blocks are
        /// definitely lost in loss record 5 of 6".
        text: String,
        /// Bytes leaked (direct and indirect).
        leaked_bytes: u64,
        /// Blocks leaked.
        leaked_blocks: u64,
    },
}

impl What {
    /// A leak's headline as memcheck words it, e.g. "96 (32 direct, 64
    /// indirect) bytes in 1 blocks are definitely lost in loss record 5 of
    /// 6"; numbers with thousands separators. `kind` must be a leak kind.
    pub fn leak(
        kind: ErrorKind,
        direct_bytes: u64,
        indirect_bytes: u64,
        blocks: u64,
        record: u64,
        records: u64,
    ) -> What {
        let state = match kind {
            ErrorKind::LeakIndirectlyLost => "indirectly lost",
            ErrorKind::LeakPossiblyLost => "possibly lost",
            ErrorKind::LeakStillReachable => "still reachable",
            _ => "definitely lost",
        };
        let total = direct_bytes + indirect_bytes;
        let size = if indirect_bytes > 0 {
            format!(
                "{} ({} direct, {} indirect) bytes",
                commas(total),
                commas(direct_bytes),
                commas(indirect_bytes)
            )
        } else {
            format!("{} bytes", commas(total))
        };
        What::Leak {
            text: format!(
                "{size} in {} blocks are {state} in loss record {} of {}",
                commas(blocks),
                commas(record),
                commas(records)
            ),
            leaked_bytes: total,
            leaked_blocks: blocks,
        }
    }

    /// The headline text.
    pub fn text(&self) -> &str {
        match self {
            What::Text(t) => t,
            What::Leak { text, .. } => text,
        }
    }
}

/// A line of further explanation and, when it has one, its stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aux {
    /// e.g. "Address 0x4a43040 is 0 bytes inside a block of size 10 free'd".
    pub what: String,
    /// The stack the line introduces, e.g. where the block was freed.
    pub stack: Option<Stack>,
}

/// A call stack, innermost frame first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    /// The frames, innermost first.
    pub frames: Vec<Frame>,
}

/// One frame of a stack. Inlined calls are frames of their own with the
/// same instruction pointer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// The instruction pointer.
    pub ip: u64,
    /// The object (executable or shared library) the address is in.
    pub obj: Option<String>,
    /// The function, demangled unless asked otherwise.
    #[serde(rename = "fn")]
    pub function: Option<String>,
    /// The directory of the source file, as the debug info names it.
    pub dir: Option<String>,
    /// The source file.
    pub file: Option<String>,
    /// The line in the source file.
    pub line: Option<u32>,
}

/// A generated suppression (`--gen-suppressions=all`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// Its name (Valgrind writes `insert_a_suppression_name_here`).
    pub name: String,
    /// `tool:kind`, e.g. `Memcheck:Leak`.
    pub kind: String,
    /// The kind's extra line, e.g. `match-leak-kinds: definite` or, for a
    /// syscall parameter, `write(buf)`.
    pub aux: Option<String>,
    /// The frames to match, innermost first.
    pub frames: Vec<SuppFrame>,
    /// The block as it goes into a suppression file.
    pub raw_text: String,
}

impl Suppression {
    /// A suppression with its `raw_text` written the way Valgrind writes
    /// it.
    pub fn new(name: &str, kind: &str, aux: Option<&str>, frames: Vec<SuppFrame>) -> Suppression {
        let mut raw = format!("{{\n   <{name}>\n   {kind}\n");
        if let Some(aux) = aux {
            raw.push_str(&format!("   {aux}\n"));
        }
        for f in &frames {
            match f {
                SuppFrame::Fun(n) => raw.push_str(&format!("   fun:{n}\n")),
                SuppFrame::Obj(n) => raw.push_str(&format!("   obj:{n}\n")),
            }
        }
        raw.push_str("}\n");
        Suppression {
            name: name.to_owned(),
            kind: kind.to_owned(),
            aux: aux.map(str::to_owned),
            frames,
            raw_text: raw,
        }
    }
}

/// One location line of a suppression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppFrame {
    /// `fun:NAME` (mangled).
    Fun(String),
    /// `obj:PATH`.
    Obj(String),
}

/// How a signal killed the program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FatalSignal {
    /// The thread that got the signal.
    pub tid: u32,
    /// Its name, when the program named it.
    pub thread_name: Option<String>,
    /// The signal number.
    pub signo: i32,
    /// The signal's name, e.g. `SIGSEGV`.
    pub signame: String,
    /// `si_code`.
    pub sicode: i32,
    /// What happened, e.g. "Access not within mapped region".
    pub event: Option<String>,
    /// The faulting address, for signals that have one.
    pub siaddr: Option<u64>,
    /// The main thread's stack size, when the text report should add
    /// Valgrind's advice on stack overflows (a SIGSEGV on an unmapped or
    /// protected address); not in Valgrind's XML.
    pub main_stack_size: Option<u64>,
    /// Valgrind's "Stack overflow in thread #N: can't grow stack to ADDR",
    /// when the signal is the main thread's stack running out (the text
    /// report prints it before the signal and after its event line); not
    /// in Valgrind's XML.
    #[serde(default)]
    pub stack_overflow: Option<String>,
    /// Where the thread was.
    pub stack: Stack,
}

/// How often one error context occurred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCount {
    /// Occurrences.
    pub count: u64,
    /// The error's [`Error::unique`].
    pub unique: u64,
}

/// How often one suppression was used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppCount {
    /// Uses.
    pub count: u64,
    /// The suppression's name.
    pub name: String,
}

/// The figures of `ERROR SUMMARY: E errors from C contexts (suppressed: S from SC)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorSummary {
    /// Errors reported (leaks included when a full leak check ran).
    pub errors: u64,
    /// Distinct contexts they came from.
    pub contexts: u64,
    /// Errors suppressed.
    pub suppressed: u64,
    /// Distinct contexts of the suppressed errors.
    pub suppressed_contexts: u64,
}

/// The HEAP SUMMARY figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeapSummary {
    /// Bytes still allocated at exit.
    pub in_use_bytes: u64,
    /// Blocks still allocated at exit.
    pub in_use_blocks: u64,
    /// Allocations over the run.
    pub allocs: u64,
    /// Frees over the run.
    pub frees: u64,
    /// Bytes allocated over the run.
    pub allocated_bytes: u64,
}

/// Bytes and blocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    /// Bytes.
    pub bytes: u64,
    /// Blocks.
    pub blocks: u64,
}

/// The LEAK SUMMARY figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakSummary {
    /// Definitely lost.
    pub definitely_lost: Amount,
    /// Indirectly lost.
    pub indirectly_lost: Amount,
    /// Possibly lost.
    pub possibly_lost: Amount,
    /// Still reachable.
    pub still_reachable: Amount,
    /// The part of `still_reachable` found only through an interior
    /// pointer that a `--leak-check-heuristics` heuristic explains, per
    /// heuristic, in the order printed.
    pub reachable_via_heuristic: Vec<HeuristicAmount>,
    /// Suppressed.
    pub suppressed: Amount,
}

/// Blocks reachable through one leak-check heuristic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeuristicAmount {
    /// Valgrind's name: `stdstring`, `length64`, `newarray`,
    /// `multipleinheritance`.
    pub heuristic: String,
    /// Bytes and blocks.
    pub amount: Amount,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leak_headlines_split_direct_and_indirect_and_group_thousands() {
        let w = What::leak(ErrorKind::LeakDefinitelyLost, 32, 1024, 1, 5, 1200);
        assert_eq!(
            w,
            What::Leak {
                text: "1,056 (32 direct, 1,024 indirect) bytes in 1 blocks are definitely lost in loss record 5 of 1,200".into(),
                leaked_bytes: 1056,
                leaked_blocks: 1,
            }
        );
        let w = What::leak(ErrorKind::LeakStillReachable, 77, 0, 1, 4, 6);
        assert_eq!(
            w.text(),
            "77 bytes in 1 blocks are still reachable in loss record 4 of 6"
        );
    }
}
