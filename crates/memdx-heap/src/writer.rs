//! Writes a recording frame by frame (each frame is complete on disk once
//! its call returns and the writer is flushed).

use std::io::Write;

use crate::format::{
    Event, FrameKind, LoadedModule, Put, SymFrame, EVENT_COLUMNS, HEADER_LEN, MAGIC, VERSION,
};
use crate::live_map::LiveMap;
use crate::HeapError;

use crate::format::col;

#[inline(always)]
fn put_v(out: &mut Vec<u8>, mut x: u64) {
    if x < 0x80 {
        out.push(x as u8);
        return;
    }
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

/// A block live in the recording: its allocation's sequence number, size
/// and stack.
#[derive(Clone, Copy, Default)]
pub(crate) struct LiveBlock {
    seq: u64,
    pub(crate) size: u64,
    pub(crate) stack: u32,
}

/// Where the writer's pairing of releases with allocations goes besides
/// the file: nowhere, or the summary's analysis (one map of live blocks
/// for both).
pub(crate) trait Replay {
    fn allocated(&mut self, time: u64, ptr: u64, size: u64, stack: u32);
    /// A recorded block ends (`explicit`: released; else replaced by an
    /// allocation at its address).
    fn released(&mut self, time: u64, ptr: u64, block: LiveBlock, explicit: bool);
    /// A release of a block not in the recording.
    fn released_unknown(&mut self, time: u64);
}

impl Replay for () {
    #[inline(always)]
    fn allocated(&mut self, _: u64, _: u64, _: u64, _: u32) {}
    #[inline(always)]
    fn released(&mut self, _: u64, _: u64, _: LiveBlock, _: bool) {}
    #[inline(always)]
    fn released_unknown(&mut self, _: u64) {}
}

impl Replay for crate::Analysis {
    #[inline(always)]
    fn allocated(&mut self, time: u64, ptr: u64, size: u64, stack: u32) {
        crate::Analysis::allocated(self, time, ptr, size, stack);
    }
    #[inline(always)]
    fn released(&mut self, time: u64, ptr: u64, block: LiveBlock, explicit: bool) {
        crate::Analysis::released(self, time, ptr, block.stack, block.size, explicit);
    }
    #[inline(always)]
    fn released_unknown(&mut self, time: u64) {
        crate::Analysis::released_unknown(self, time);
    }
}

/// A recording being written.
pub struct Writer<W: Write> {
    out: W,
    /// The last event's time, in microseconds.
    last_us: u64,
    /// The next allocation's sequence number.
    next_seq: u64,
    /// Live blocks: address to sequence number (a release is stored as
    /// the distance back to its allocation, not as an address).
    live: LiveMap<LiveBlock>,
    /// Bytes written so far.
    written: u64,
    /// One compressor for every section (a new one costs more than a
    /// small section's compression).
    zstd: zstd::bulk::Compressor<'static>,
    stored: Vec<u8>,
    /// An `Events` frame's columns, kept between frames for their capacity.
    columns: [Vec<u8>; EVENT_COLUMNS],
    /// Events in the `Events` frame being built.
    pending: u64,
}

impl<W: Write> Writer<W> {
    /// Writes the file header.
    pub fn new(mut out: W) -> Result<Self, HeapError> {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(&MAGIC);
        h[8..10].copy_from_slice(&VERSION.to_le_bytes());
        out.write_all(&h)?;
        Ok(Writer {
            out,
            last_us: 0,
            next_seq: 0,
            live: LiveMap::with_capacity(1 << 12),
            written: HEADER_LEN as u64,
            // Level 1: the recorder keeps up with the program; higher
            // levels gained under 1% on column-wise events (bench/NOTES.md).
            zstd: zstd::bulk::Compressor::new(1)?,
            stored: Vec::new(),
            columns: Default::default(),
            pending: 0,
        })
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn frame(&mut self, kind: FrameKind, payload: &[u8]) -> Result<(), HeapError> {
        self.frame_sections(kind as u8, &[payload])
    }

    /// Writes one frame of any kind byte around `sections`, compressed and
    /// checksummed as every frame is: how the fuzz target (and tests of
    /// the reader) reach the payload decoders past the checksum.
    pub fn raw_frame(&mut self, kind: u8, sections: &[&[u8]]) -> Result<(), HeapError> {
        self.frame_sections(kind, sections)
    }

    /// Writes a frame whose payload is `sections`, each compressed on its
    /// own (a column of similar numbers gets its own entropy tables).
    fn frame_sections(&mut self, kind: u8, sections: &[&[u8]]) -> Result<(), HeapError> {
        self.stored.clear();
        let mut raw_len = 0usize;
        for section in sections {
            raw_len += section.len();
            let packed = if section.is_empty() {
                Vec::new()
            } else {
                self.zstd.compress(section)?
            };
            let mut len = Put::default();
            len.v(packed.len() as u64);
            self.stored.extend_from_slice(&len.0);
            self.stored.extend_from_slice(&packed);
        }
        let stored = &self.stored;
        let mut head = [0u8; 13];
        head[0] = kind;
        head[1..5].copy_from_slice(&(raw_len as u32).to_le_bytes());
        head[5..9].copy_from_slice(&(stored.len() as u32).to_le_bytes());
        head[9..13].copy_from_slice(&crc32fast::hash(stored).to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(stored)?;
        self.out.flush()?;
        self.written += (head.len() + stored.len()) as u64;
        Ok(())
    }

    /// The `Meta` frame.
    pub fn meta(
        &mut self,
        sample_interval: u64,
        pid: u32,
        cmdline: &[u8],
    ) -> Result<(), HeapError> {
        let mut p = Put::default();
        p.v(sample_interval);
        p.v(u64::from(pid));
        p.s(cmdline);
        self.frame(FrameKind::Meta, &p.0)
    }

    /// A `Modules` frame.
    pub fn modules(&mut self, modules: &[LoadedModule]) -> Result<(), HeapError> {
        let mut p = Put::default();
        p.v(modules.len() as u64);
        for m in modules {
            p.v(m.bias);
            p.v(m.start);
            p.v(m.end);
            p.s(&m.path);
        }
        self.frame(FrameKind::Modules, &p.0)
    }

    /// A `Stacks` frame: (id, return addresses).
    pub fn stacks(&mut self, stacks: &[(u32, Vec<u64>)]) -> Result<(), HeapError> {
        let mut p = Put::default();
        p.v(stacks.len() as u64);
        for (id, frames) in stacks {
            p.v(u64::from(*id));
            p.v(frames.len() as u64);
            for &f in frames {
                p.v(f);
            }
        }
        self.frame(FrameKind::Stacks, &p.0)
    }

    /// An `Events` frame (events in program order, times not decreasing
    /// across calls). Releases of blocks never recorded as allocated are
    /// left out; an allocation at a live block's address ends that block
    /// first (its release was not seen).
    pub fn events(&mut self, events: &[Event]) -> Result<(), HeapError> {
        self.encode(events, &mut ())
    }

    /// [`Writer::events`], replaying them into `analysis` too: the
    /// writer's map of live blocks (address to allocation) pairs each
    /// release with its allocation for both, so the analysis keeps no map
    /// of its own (the recorder's one address lookup per event).
    pub fn events_into(
        &mut self,
        events: &[Event],
        analysis: &mut crate::Analysis,
    ) -> Result<(), HeapError> {
        self.encode(events, analysis)
    }

    fn encode(&mut self, events: &[Event], sink: &mut impl Replay) -> Result<(), HeapError> {
        self.begin_events(events.len());
        for e in events {
            match *e {
                Event::Alloc {
                    time,
                    ptr,
                    size,
                    stack,
                } => self.alloc_to(time, ptr, size, stack, sink),
                Event::Free { time, ptr } => self.free_to(time, ptr, sink),
            }
        }
        self.end_events()
    }

    /// Starts an `Events` frame of about `events` events, built one event
    /// at a time by [`Writer::alloc_into`] and [`Writer::free_into`] and
    /// written by [`Writer::end_events`] (the recorder's way: no list of
    /// events in between).
    pub fn begin_events(&mut self, events: usize) {
        self.pending = 0;
        for c in &mut self.columns {
            c.clear();
        }
        // Most events take one byte per column they use.
        for i in [col::OPS, col::SIZE_HIGH, col::BACK_HIGH] {
            self.columns[i].reserve(events / 4 + 1);
        }
        for i in [col::TIME, col::SIZE_LOW, col::STACK, col::BACK_LOW] {
            self.columns[i].reserve(events + 1);
        }
    }

    /// An allocation of the frame begun by [`Writer::begin_events`] (its
    /// time not before the previous event's), replayed into `analysis`.
    #[inline]
    pub fn alloc_into(
        &mut self,
        time: u64,
        ptr: u64,
        size: u64,
        stack: u32,
        analysis: &mut crate::Analysis,
    ) {
        self.alloc_to(time, ptr, size, stack, analysis);
    }

    /// A release of the frame begun by [`Writer::begin_events`],
    /// replayed into `analysis`.
    #[inline]
    pub fn free_into(&mut self, time: u64, ptr: u64, analysis: &mut crate::Analysis) {
        self.free_to(time, ptr, analysis);
    }

    #[inline(always)]
    fn alloc_to(&mut self, time: u64, ptr: u64, size: u64, stack: u32, sink: &mut impl Replay) {
        let block = LiveBlock {
            seq: self.next_seq,
            size,
            stack,
        };
        if let Some(old) = self.live.insert(ptr, block) {
            self.release(time, old.seq);
            sink.released(time, ptr, old, false);
        }
        sink.allocated(time, ptr, size, stack);
        self.op_time(time, false);
        let cols = &mut self.columns;
        cols[col::SIZE_LOW].push(size as u8);
        put_v(&mut cols[col::SIZE_HIGH], size >> 8);
        put_v(&mut cols[col::STACK], u64::from(stack));
        self.next_seq += 1;
    }

    #[inline(always)]
    fn free_to(&mut self, time: u64, ptr: u64, sink: &mut impl Replay) {
        match self.live.remove(ptr) {
            Some(block) => {
                self.release(time, block.seq);
                sink.released(time, ptr, block, true);
            }
            None => sink.released_unknown(time),
        }
    }

    /// Writes the `Events` frame begun by [`Writer::begin_events`] (none
    /// when it holds no event).
    pub fn end_events(&mut self) -> Result<(), HeapError> {
        if self.pending == 0 {
            return Ok(());
        }
        let mut cols = std::mem::take(&mut self.columns);
        put_v(&mut cols[col::COUNT], self.pending);
        self.pending = 0;
        let sections: [&[u8]; EVENT_COLUMNS] = std::array::from_fn(|i| &cols[i][..]);
        let result = self.frame_sections(FrameKind::Events as u8, &sections);
        self.columns = cols;
        result
    }

    /// The event's bit in the op bitmap and its time delta.
    #[inline(always)]
    fn op_time(&mut self, time: u64, release: bool) {
        let n = self.pending;
        self.pending += 1;
        let ops = &mut self.columns[col::OPS];
        if n % 8 == 0 {
            ops.push(u8::from(release));
        } else if release {
            if let Some(last) = ops.last_mut() {
                *last |= 1 << (n % 8);
            }
        }
        let us = time / 1000;
        let d = us.saturating_sub(self.last_us);
        self.last_us = self.last_us.max(us);
        put_v(&mut self.columns[col::TIME], d);
    }

    #[inline(always)]
    fn release(&mut self, time: u64, seq: u64) {
        self.op_time(time, true);
        let back = self.next_seq - seq;
        let cols = &mut self.columns;
        cols[col::BACK_LOW].push(back as u8);
        put_v(&mut cols[col::BACK_HIGH], back >> 8);
    }

    /// The `Symbols` frame: each stack's symbolized frames.
    pub fn symbols(&mut self, stacks: &[(u32, Vec<SymFrame>)]) -> Result<(), HeapError> {
        let mut p = Put::default();
        p.v(stacks.len() as u64);
        for (id, frames) in stacks {
            p.v(u64::from(*id));
            p.v(frames.len() as u64);
            for f in frames {
                p.v(f.addr);
                p.opt(&f.function);
                p.opt(&f.file);
                p.v(u64::from(f.line));
                p.opt(&f.object);
            }
        }
        self.frame(FrameKind::Symbols, &p.0)
    }

    /// The `Attach` frame: heap bytes in use at the attach.
    pub fn attach(&mut self, heap_bytes: u64) -> Result<(), HeapError> {
        let mut p = Put::default();
        p.v(heap_bytes);
        self.frame(FrameKind::Attach, &p.0)
    }

    /// A `Mark` frame: the snapshot `name` at `time` (nanoseconds since
    /// the start).
    pub fn mark(&mut self, name: &str, time: u64) -> Result<(), HeapError> {
        let mut p = Put::default();
        p.v(time);
        p.s(name.as_bytes());
        self.frame(FrameKind::Mark, &p.0)
    }

    /// A `Memory` frame.
    pub fn memory(&mut self, m: &crate::MemorySample) -> Result<(), HeapError> {
        let mut p = Put::default();
        m.encode(&mut p);
        self.frame(FrameKind::Memory, &p.0)
    }

    /// A `Maps` frame: mappings the program made or removed itself.
    pub fn maps(&mut self, events: &[crate::MapEvent]) -> Result<(), HeapError> {
        let mut p = Put::default();
        crate::MapEvent::encode(events, &mut p);
        self.frame(FrameKind::Maps, &p.0)
    }

    /// The `End` frame.
    pub fn end(&mut self, exit: crate::Exit, end_time: u64) -> Result<(), HeapError> {
        let mut p = Put::default();
        let (kind, value) = match exit {
            crate::Exit::Exited(s) => (0, s),
            crate::Exit::Signaled(s) => (1, s),
            crate::Exit::Cut => (2, 0),
            crate::Exit::Detached => (3, 0),
            crate::Exit::Ended => (4, 0),
            crate::Exit::ChildEnded => (5, 0),
        };
        p.v(kind);
        p.v(u64::from(value as u32));
        p.v(end_time);
        self.frame(FrameKind::End, &p.0)
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> Result<W, HeapError> {
        self.out.flush()?;
        Ok(self.out)
    }
}
