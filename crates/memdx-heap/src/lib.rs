//! `memdx heap`'s recordings and what is read from them.
//!
//! A recording is written while the profiled program runs (by the CLI, from
//! the runtime's event stream) and read by `memdx heap report`. It is built
//! to stay usable on long runs: allocations refer to interned stacks by id
//! (each stack is stored once), events are delta-coded and compressed in
//! independent frames, and a reader replays them with memory proportional
//! to the distinct stacks plus the blocks live at any one time, never to
//! the number of events.
//!
//! # File format (version 3)
//!
//! All fixed-size integers are little-endian. The file starts with a
//! 16-byte header: magic `b"MDXHEAP\0"`, version u16 (`3`), 6 reserved bytes
//! (0). Frames follow, each:
//!
//! | size | field |
//! |---|---|
//! | 1 | kind ([`FrameKind`]) |
//! | 4 | length of the payload once decompressed |
//! | 4 | length of the stored payload |
//! | 4 | CRC-32 of the stored payload |
//! | n | the stored payload: sections, each a varint length and a zstd frame (length 0: an empty section) |
//!
//! A frame's payload is its sections decompressed; an `Events` frame has
//! eight (its columns, below), every other kind one. Inside a payload,
//! numbers are LEB128 varints (`v`) and byte strings are a varint length
//! and the bytes (`s`):
//!
//! | kind | payload |
//! |---|---|
//! | 1 `Meta` | sample interval v (0: every allocation), pid v, command line s (arguments separated by NUL) |
//! | 2 `Modules` | count v, then per module: bias v, start v, end v, path s |
//! | 3 `Stacks` | count v, then per stack: id v, frame count v, return addresses v (innermost first; frame 0 is the allocator entry point) |
//! | 4 `Events` | eight sections, column by column: (0) the count of events v; (1) one bit per event, least significant bit first, `1` a release; (2) per event the time delta v; (3) per allocation its size's low byte, (4) its size >> 8 v, (5) its stack id v; (6) per release the distance back to the allocation it ends (1: the latest allocation), low byte, (7) that distance >> 8 v |
//! | 5 `Symbols` | count v, then per stack: id v, frame count v, per frame: function s, file s, line v, object s (empty: unknown); the frames as `memdx check` prints them, inlined frames expanded, cut below `main` |
//! | 6 `End` | exit kind v (0 exited, 1 killed by a signal, 2 stream cut, 3 memdx detached and the process runs on, 4 the attached process ended, status unknown, 5 a process traced by `--trace-children=yes` ended, status unknown), status or signal v, program end time v |
//! | 8 `Mark` | time v (nanoseconds since the start), name s: a snapshot marked while the program ran (`memdx heap snapshot`); events up to that time came before it (it may be written after later events: bursts arrive late) |
//! | 9 `Memory` | time v (nanoseconds), a bit mask of the figures present v (bit 0 RSS, 1 PSS, 2 allocator-held bytes, 3 allocator bytes in use, 4 bytes live in the recording), each present figure v in that order |
//! | 10 `Maps` | count v, then per event: op v (0 a mapping, 1 an unmapping), time v (nanoseconds since the start), address v, length v, and for a mapping its stack id v: the `mmap`/`munmap`/`mremap` calls the program made itself (an `mremap` is the unmapping of its old range and a mapping of the new one); written per burst, beside its `Events` frame (see [`MapEvent`]) |
//! | 7 `Attach` | heap bytes in use at the attach v (glibc's `mallinfo2`: `uordblks + hblkhd`); written after `Meta` by `memdx heap --pid` (allocations before it are not in the recording) |
//!
//! Column-wise events compress far better than event by event (a column
//! holds numbers of one kind; the low bytes of sizes and distances, nearly
//! random, are apart from their skewed high parts): 29.3 MB instead of 46.2
//! for bench/heap.sh's 22 million events.
//!
//! Version 2 (still read) is version 3 without `Maps` frames (a reader of
//! version 2 refuses a version-3 file by its version rather than failing
//! at its first `Maps` frame).
//!
//! Version 1 (still read): each frame's stored payload was the whole
//! payload as raw deflate, and an `Events` payload was event by event:
//! count v, then per event time delta × 2 + op v, then size v and stack id
//! v (an allocation) or the distance back v (a release).
//!
//! Times are microseconds since the program started, each event's the delta
//! from the previous event of the file. Allocations are numbered from 0 in
//! file order; the file keeps no addresses (a release names its
//! allocation by number, which is all a report needs and compresses far
//! better than addresses). The recorder writes
//! `Meta` first, then, as the program runs, `Stacks` and `Modules` before
//! the first `Events` frame that refers to them; `Symbols` and `End` when
//! the program has ended. A recording whose writer was killed ends at its
//! last whole frame; the reader reports a damaged frame (bad CRC, bad
//! length, undecodable payload) as an error naming the frame's offset,
//! after everything before it.
//!
//! ```
//! use memdx_heap::{Writer, Reader, Record, Event};
//! let mut file = Vec::new();
//! let mut w = Writer::new(&mut file).unwrap();
//! w.meta(0, 42, b"prog").unwrap();
//! w.stacks(&[(1, vec![0x1000, 0x2000])]).unwrap();
//! w.events(&[Event::Alloc { time: 5, ptr: 0x10, size: 24, stack: 1 },
//!            Event::Free { time: 9, ptr: 0x10 }]).unwrap();
//! w.finish().unwrap();
//! let records: Vec<Record> = Reader::new(&file[..]).unwrap().map(|r| r.unwrap()).collect();
//! assert_eq!(records.len(), 3);
//! ```

#![deny(missing_docs)]

mod analysis;
pub mod diff;
pub mod flame;
mod format;
mod live_map;
mod mappings;
mod memory;
pub mod plot;
mod reader;
pub mod render;
pub mod suspects;
mod writer;

pub use analysis::{
    weight, Analysis, Exit, Site, SiteSeries, SiteStats, Snapshot, Summary, Timeline,
};
pub use format::{Event, FrameKind, LoadedModule, SymFrame};
pub use mappings::{MapEvent, Mapped};
pub use memory::MemorySample;
pub use reader::{Reader, Record};
pub use writer::Writer;

/// What can go wrong reading or writing a recording.
#[derive(Debug, thiserror::Error)]
pub enum HeapError {
    /// The underlying file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file does not start with a recording's header.
    #[error("not a memdx heap recording (bad magic at offset 0)")]
    BadMagic,
    /// A version this reader does not know.
    #[error("recording version {0} is not supported (this memdx reads versions 1 to 3)")]
    Version(u16),
    /// A frame is damaged.
    #[error("damaged frame at offset {offset}: {what}")]
    Corrupt {
        /// Byte offset of the frame's first byte in the file.
        offset: u64,
        /// What is wrong with it.
        what: String,
    },
}
