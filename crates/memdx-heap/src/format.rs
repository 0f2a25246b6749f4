//! The recording's building blocks: frame kinds, events, symbolized
//! frames, and the varint coding of payloads (see the crate docs).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::Serialize;

/// File magic.
pub const MAGIC: [u8; 8] = *b"MDXHEAP\0";
/// The version written (and read): version 2 and the `Maps` frame.
pub const VERSION: u16 = 3;
/// Version 2 (no `Maps` frames): still read.
pub const VERSION_2: u16 = 2;
/// The first version (deflate frames, events row by row): still read.
pub const VERSION_1: u16 = 1;
/// Sections of a version-2 `Events` frame.
pub const EVENT_COLUMNS: usize = 8;

/// The sections of a version-2 `Events` frame, in order (crate docs).
pub mod col {
    /// The number of events, one varint.
    pub const COUNT: usize = 0;
    /// One bit per event, least significant first: 1 a release.
    pub const OPS: usize = 1;
    /// Per event: microseconds since the previous event, a varint.
    pub const TIME: usize = 2;
    /// Per allocation: the size's low byte.
    pub const SIZE_LOW: usize = 3;
    /// Per allocation: the size shifted right by 8, a varint.
    pub const SIZE_HIGH: usize = 4;
    /// Per allocation: the stack id, a varint.
    pub const STACK: usize = 5;
    /// Per release: the distance back to its allocation, low byte.
    pub const BACK_LOW: usize = 6;
    /// Per release: that distance shifted right by 8, a varint.
    pub const BACK_HIGH: usize = 7;
}
/// Bytes of the file header.
pub const HEADER_LEN: usize = 16;
/// Bytes before a frame's payload.
pub const FRAME_PREFIX: usize = 13;
/// The largest inflated payload a reader accepts (a damaged length must
/// not make it allocate without bound).
pub const MAX_PAYLOAD: u32 = 256 << 20;

/// What a frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// Sample interval, pid, command line.
    Meta = 1,
    /// Loaded objects.
    Modules = 2,
    /// Stack definitions.
    Stacks = 3,
    /// Allocations and releases.
    Events = 4,
    /// Stacks' symbolized frames.
    Symbols = 5,
    /// How the program ended.
    End = 6,
    /// The recording starts at an attach to a running process.
    Attach = 7,
    /// A named moment (a snapshot) marked while the program ran.
    Mark = 8,
    /// The program's memory as the kernel and the allocator see it.
    Memory = 9,
    /// Mappings the program made or removed itself.
    Maps = 10,
}

impl FrameKind {
    /// Decodes a kind byte.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Meta,
            2 => Self::Modules,
            3 => Self::Stacks,
            4 => Self::Events,
            5 => Self::Symbols,
            6 => Self::End,
            7 => Self::Attach,
            8 => Self::Mark,
            9 => Self::Memory,
            10 => Self::Maps,
            _ => return None,
        })
    }
}

/// One allocation event, in program order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A block was allocated.
    Alloc {
        /// Nanoseconds since the program started (stored in microseconds).
        time: u64,
        /// The block's address when written; when read back, the
        /// allocation's sequence number in the recording (the file keeps
        /// no addresses: a release names the allocation it ends).
        ptr: u64,
        /// Bytes asked for.
        size: u64,
        /// Allocation stack id.
        stack: u32,
    },
    /// A block was released.
    Free {
        /// Nanoseconds since the program started (stored in microseconds).
        time: u64,
        /// The block's address when written; when read back, the sequence
        /// number of the allocation it releases.
        ptr: u64,
    },
}

/// A loaded object of the recorded program (one entry of a `Modules`
/// frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedModule {
    /// Load bias (runtime address minus file virtual address).
    pub bias: u64,
    /// Start of its mapped address range.
    pub start: u64,
    /// End of its mapped address range.
    pub end: u64,
    /// Its path, as the runtime read it.
    pub path: Vec<u8>,
}

/// One symbolized frame of a stack.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SymFrame {
    /// The address shown (a return address less one, as Valgrind shows it).
    pub addr: u64,
    /// Demangled function name.
    pub function: Option<String>,
    /// Source file.
    pub file: Option<String>,
    /// Source line (0: unknown).
    pub line: u32,
    /// The object file.
    pub object: Option<String>,
}

impl SymFrame {
    /// `memdx check`'s (Valgrind's) rendering after `at `/`by `.
    pub fn render(&self) -> String {
        let func = self.function.as_deref().unwrap_or("???");
        match (&self.file, &self.object) {
            (Some(file), _) if self.line > 0 => {
                format!("0x{:X}: {func} ({file}:{})", self.addr, self.line)
            }
            (_, Some(obj)) => format!("0x{:X}: {func} (in {obj})", self.addr),
            _ => format!("0x{:X}: {func}", self.addr),
        }
    }
}

/// A multiplicative hasher for addresses and stack ids (SipHash's
/// protection against chosen keys is not needed for them, and it was the
/// replay's largest cost).
#[derive(Default)]
pub struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<AddrHasher>>;

/// Appends varints and strings.
#[derive(Default)]
pub struct Put(pub Vec<u8>);

impl Put {
    pub fn v(&mut self, mut x: u64) {
        while x >= 0x80 {
            self.0.push((x as u8) | 0x80);
            x >>= 7;
        }
        self.0.push(x as u8);
    }
    pub fn s(&mut self, b: &[u8]) {
        self.v(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    pub fn opt(&mut self, t: &Option<String>) {
        self.s(t.as_deref().unwrap_or("").as_bytes());
    }
}

/// Reads varints and strings; `None` when the payload ends early or a
/// varint is too long.
pub struct Get<'a>(pub &'a [u8]);

impl<'a> Get<'a> {
    pub fn v(&mut self) -> Option<u64> {
        let mut x = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first()?;
            self.0 = rest;
            x |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(x);
            }
        }
        None
    }
    pub fn s(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.v()?).ok()?;
        if n > self.0.len() {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    pub fn opt(&mut self) -> Option<Option<String>> {
        let b = self.s()?;
        Some((!b.is_empty()).then(|| String::from_utf8_lossy(b).into_owned()))
    }
    /// A count that cannot exceed the bytes left (each item takes one at least).
    pub fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.v()?).ok()?;
        (n <= self.0.len()).then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_their_limits() {
        let mut p = Put::default();
        for x in [0u64, 1, 127, 128, 300, u64::MAX] {
            p.v(x);
        }
        let mut g = Get(&p.0);
        for x in [0u64, 1, 127, 128, 300, u64::MAX] {
            assert_eq!(g.v(), Some(x));
        }
        assert_eq!(g.v(), None);
    }
}
