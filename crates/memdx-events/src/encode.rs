//! [`Encoder`]: writes records into a caller-provided buffer without
//! allocating.

use crate::{
    tag, Access, BadFree, Corruption, HeapTotals, Heuristic, LossRecord, FAULT_REGS, MAX_FRAMES,
};

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

    /// Appends an `Exec` record.
    pub fn exec(&mut self, path: &[u8]) {
        let at = self.begin(tag::EXEC, path.len());
        self.put(path);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        AccessKind, BadFreeKind, CorruptionKind, Dealloc, Event, EventReader, LeakState, Place,
    };

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
        e.exec(b"/usr/bin/python3.11");
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
                Event::Exec {
                    path: b"/usr/bin/python3.11".to_vec()
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
}
