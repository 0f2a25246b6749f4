//! Writes a recording frame by frame (each frame is complete on disk once
//! its call returns and the writer is flushed).

use std::io::Write;

use flate2::write::DeflateEncoder;
use flate2::Compression;

use crate::format::{Event, FrameKind, Put, SymFrame, HEADER_LEN, MAGIC, VERSION};
use crate::HeapError;

/// A recording being written.
pub struct Writer<W: Write> {
    out: W,
    last_time: u64,
    last_ptr: u64,
    /// Bytes written so far.
    written: u64,
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
            last_time: 0,
            last_ptr: 0,
            written: HEADER_LEN as u64,
        })
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn frame(&mut self, kind: FrameKind, payload: &[u8]) -> Result<(), HeapError> {
        // Fast compression: the recorder keeps up with the program.
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(payload)?;
        let stored = enc.finish()?;
        let mut head = [0u8; 13];
        head[0] = kind as u8;
        head[1..5].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        head[5..9].copy_from_slice(&(stored.len() as u32).to_le_bytes());
        head[9..13].copy_from_slice(&crc32fast::hash(&stored).to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(&stored)?;
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

    /// A `Modules` frame: (bias, start, end, path).
    pub fn modules(&mut self, modules: &[(u64, u64, u64, Vec<u8>)]) -> Result<(), HeapError> {
        let mut p = Put::default();
        p.v(modules.len() as u64);
        for (bias, start, end, path) in modules {
            p.v(*bias);
            p.v(*start);
            p.v(*end);
            p.s(path);
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
    /// across calls).
    pub fn events(&mut self, events: &[Event]) -> Result<(), HeapError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut p = Put(Vec::with_capacity(events.len() * 8));
        p.v(events.len() as u64);
        for e in events {
            let (op, time, ptr) = match *e {
                Event::Alloc { time, ptr, .. } => (0u8, time, ptr),
                Event::Free { time, ptr } => (1u8, time, ptr),
            };
            p.0.push(op);
            p.v(time.saturating_sub(self.last_time));
            self.last_time = self.last_time.max(time);
            p.z(ptr.wrapping_sub(self.last_ptr) as i64);
            self.last_ptr = ptr;
            if let Event::Alloc { size, stack, .. } = *e {
                p.v(size);
                p.v(u64::from(stack));
            }
        }
        self.frame(FrameKind::Events, &p.0)
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

    /// The `End` frame.
    pub fn end(&mut self, exit: crate::Exit, end_time: u64) -> Result<(), HeapError> {
        let mut p = Put::default();
        let (kind, value) = match exit {
            crate::Exit::Exited(s) => (0, s),
            crate::Exit::Signaled(s) => (1, s),
            crate::Exit::Cut => (2, 0),
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
