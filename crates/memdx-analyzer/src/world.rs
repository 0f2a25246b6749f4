//! What the analyzer needs from the world, passed in: the program's
//! parent, real paths, the stack limit, the clock, the checker's own path
//! ([`World`]) and symbol lookups ([`Symbols`]). The CLI implements both on
//! the live system; tests implement them with fixed answers.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The facts of the running system a report states.
pub trait World: Send + Sync {
    /// The parent of `pid` (the XML's `<ppid>`, asked when the report of
    /// the process starts).
    fn parent_pid(&self, pid: u32) -> u32;
    /// The real path of a loaded object (Valgrind names objects by it);
    /// the path as it is when it cannot be resolved.
    fn canonical_path(&self, path: &Path) -> PathBuf;
    /// The stack size limit the program ran with (in "The main thread
    /// stack size used in this run was N.").
    fn main_stack_size(&self) -> u64;
    /// Milliseconds since the checker started (the XML's `<time>`).
    fn elapsed_ms(&self) -> u64;
    /// The checker's own executable, as the XML's `<exe>` names it.
    fn checker_exe(&self) -> String;
}

/// One loaded object, from the runtime's module records.
#[derive(Debug, Clone)]
pub struct Module {
    /// Load bias: the object's addresses less this are its file's.
    pub bias: u64,
    /// First mapped address.
    pub start: u64,
    /// One past the last mapped address.
    pub end: u64,
    /// The object's (real) path.
    pub path: PathBuf,
}

/// One printed frame (an address may expand to several inlined frames).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameText {
    /// The address shown (a return address less one for outer frames).
    pub addr: u64,
    /// The demangled function name.
    pub function: Option<String>,
    /// The linkage (mangled) name, as suppressions match it.
    pub mangled: Option<String>,
    /// The source file's directory, as the debug info names it.
    pub dir: Option<String>,
    /// Source file and line.
    pub file_line: Option<(String, u32)>,
    /// The object's path (or the runtime's short name).
    pub object: Option<String>,
}

impl FrameText {
    /// A frame of an address in no known object.
    pub fn unknown(addr: u64) -> FrameText {
        FrameText {
            addr,
            function: None,
            mangled: None,
            dir: None,
            file_line: None,
            object: None,
        }
    }

    /// Valgrind's rendering after `at `/`by ` (memdx-report's one frame
    /// format, `text::describe`).
    pub fn render(&self) -> String {
        memdx_report::text::describe(&memdx_report::Frame {
            ip: self.addr,
            obj: self.object.clone(),
            function: self.function.clone(),
            dir: None,
            file: self.file_line.as_ref().map(|(file, _)| file.clone()),
            line: self.file_line.as_ref().map(|(_, line)| *line),
        })
    }
}

/// What identifies one frame of a stack across the processes of a run
/// (see [`Symbols::signature`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameKey {
    /// A run-wide number for the object (`u32::MAX`: in no known object).
    pub object: u32,
    /// The address less the object's load bias (the address as it is
    /// when in no object).
    pub offset: u64,
    /// Looked up exactly (frame 0) rather than as a return address.
    pub exact: bool,
}

/// Symbol lookups for one process (its module map grows as records
/// arrive).
pub trait Symbols: Send {
    /// Adds or replaces a module (keyed by its start address).
    fn add_module(&mut self, module: Module);
    /// Valgrind's stack rendering of return addresses: frame 0 exact, the
    /// rest return addresses, nothing below `main`.
    fn stack(&mut self, addrs: &[u64]) -> Vec<FrameText>;
    /// What identifies a stack's frames across the processes of a run:
    /// two stacks with the same signature have the same frames.
    fn signature(&self, addrs: &[u64]) -> Vec<FrameKey>;
    /// The data symbol containing `addr` and the offset into it.
    fn data_symbol(&mut self, addr: u64) -> Option<(String, u64)>;
    /// What made the stack frame of return address `ra` (looked up one
    /// byte back, as a frame is), as Valgrind's "in frame #N, created by
    /// FN (FILE:LINE)" names it: the function's symbol name, the source
    /// file of the call and the line of the function's first
    /// instruction. `None` when nothing is known (the line is left out
    /// when only it is unknown).
    fn frame_creator(&mut self, _ra: u64) -> Option<String> {
        None
    }
    /// How many distinct addresses were resolved (for `-v`).
    fn resolved(&self) -> usize;
    /// Time spent resolving addresses (for `-v`).
    fn lookup_time(&self) -> Duration;
}
