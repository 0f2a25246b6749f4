//! Writes a recording frame by frame (each frame is complete on disk once
//! its call returns and the writer is flushed).

use std::io::Write;

use flate2::{Compress, Compression, FlushCompress};

use crate::format::{
    Event, FastMap, FrameKind, LoadedModule, Put, SymFrame, HEADER_LEN, MAGIC, VERSION,
};
use crate::HeapError;

/// A recording being written.
pub struct Writer<W: Write> {
    out: W,
    /// The last event's time, in microseconds.
    last_us: u64,
    /// The next allocation's sequence number.
    next_seq: u64,
    /// Live blocks: address to sequence number (a release is stored as
    /// the distance back to its allocation, not as an address).
    live: FastMap<u64, u64>,
    /// Bytes written so far.
    written: u64,
    /// One compressor, reset for every frame (a new one costs more than a
    /// small frame's compression).
    deflate: Compress,
    stored: Vec<u8>,
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
            live: FastMap::default(),
            written: HEADER_LEN as u64,
            // Fast compression: the recorder keeps up with the program.
            deflate: Compress::new(Compression::fast(), false),
            stored: Vec::new(),
        })
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn frame(&mut self, kind: FrameKind, payload: &[u8]) -> Result<(), HeapError> {
        self.deflate.reset();
        self.stored.clear();
        self.stored.reserve(payload.len() / 2 + 64);
        loop {
            let consumed = self.deflate.total_in() as usize;
            let status = self
                .deflate
                .compress_vec(
                    &payload[consumed..],
                    &mut self.stored,
                    FlushCompress::Finish,
                )
                .map_err(std::io::Error::other)?;
            if status == flate2::Status::StreamEnd {
                break;
            }
            let more = self.stored.capacity().max(4096);
            self.stored.reserve(more);
        }
        let stored = &self.stored;
        let mut head = [0u8; 13];
        head[0] = kind as u8;
        head[1..5].copy_from_slice(&(payload.len() as u32).to_le_bytes());
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
        let mut body = Put(Vec::with_capacity(events.len() * 5));
        let mut n = 0u64;
        for e in events {
            match *e {
                Event::Alloc {
                    time,
                    ptr,
                    size,
                    stack,
                } => {
                    let seq = self.next_seq;
                    if let Some(old) = self.live.insert(ptr, seq) {
                        self.release(&mut body, time, old);
                        n += 1;
                    }
                    // The op rides in the low bit of the time delta.
                    body.v(self.delta_us(time) << 1);
                    body.v(size);
                    body.v(u64::from(stack));
                    self.next_seq += 1;
                    n += 1;
                }
                Event::Free { time, ptr } => {
                    if let Some(seq) = self.live.remove(&ptr) {
                        self.release(&mut body, time, seq);
                        n += 1;
                    }
                }
            }
        }
        if n == 0 {
            return Ok(());
        }
        let mut p = Put(Vec::with_capacity(body.0.len() + 10));
        p.v(n);
        p.0.extend_from_slice(&body.0);
        self.frame(FrameKind::Events, &p.0)
    }

    fn delta_us(&mut self, time: u64) -> u64 {
        let us = time / 1000;
        let d = us.saturating_sub(self.last_us);
        self.last_us = self.last_us.max(us);
        d
    }

    fn release(&mut self, body: &mut Put, time: u64, seq: u64) {
        body.v(self.delta_us(time) << 1 | 1);
        body.v(self.next_seq - seq);
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

    /// The `End` frame.
    pub fn end(&mut self, exit: crate::Exit, end_time: u64) -> Result<(), HeapError> {
        let mut p = Put::default();
        let (kind, value) = match exit {
            crate::Exit::Exited(s) => (0, s),
            crate::Exit::Signaled(s) => (1, s),
            crate::Exit::Cut => (2, 0),
            crate::Exit::Detached => (3, 0),
            crate::Exit::Ended => (4, 0),
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
