//! The recorder thread: orders each burst's records by time, converts the
//! time-stamp counter to nanoseconds, writes the recording's frames and
//! replays them into the summary's analysis.

use super::*;
use memdx_heap::MapEvent;

/// The time-stamp counter to nanoseconds since the program started, from
/// the first clock reading and the latest one.
#[derive(Default)]
struct Clock {
    first: Option<(u64, u64)>,
    rate: f64,
}

impl Clock {
    fn reading(&mut self, tsc: u64, ns: u64) {
        match self.first {
            None => {
                self.first = Some((tsc, ns));
                self.rate = 1.0;
            }
            Some((t0, n0)) if tsc > t0 && ns > n0 => {
                self.rate = (ns - n0) as f64 / (tsc - t0) as f64;
            }
            Some(_) => {}
        }
    }

    /// A `CLOCK_MONOTONIC` reading as nanoseconds since the start.
    fn since_start(&self, nanos: u64) -> u64 {
        self.first.map_or(0, |(_, n0)| nanos.saturating_sub(n0))
    }

    /// A counter reading as nanoseconds since the start. Through `i64`:
    /// the same value for every count below 2^63 as through `u64`, in one
    /// conversion instruction each way instead of a dozen.
    #[inline(always)]
    fn ns(&self, tsc: u64) -> u64 {
        match self.first {
            Some((t0, _)) => {
                let ticks = tsc.saturating_sub(t0).min(i64::MAX as u64) as i64;
                (ticks as f64 * self.rate) as i64 as u64
            }
            None => 0,
        }
    }
}

/// How long the timer's readings are held for a burst that may be in
/// flight (see `Recorder::timer_readings`), in nanoseconds.
const HOLD_NS: u64 = 1_000_000_000;

/// A `HeapAlloc` record's payload: address, size, stack id, counter.
const ALLOC_PAYLOAD: usize = 28;
/// A `HeapFree` record's payload: address, counter.
const FREE_PAYLOAD: usize = 16;

/// The next record of a burst: its tag and payload (`None` at the end or
/// at a record cut short).
#[inline(always)]
fn next_record<'a>(rest: &mut &'a [u8]) -> Option<(u8, &'a [u8])> {
    let (prefix, after) = rest.split_first_chunk::<RECORD_PREFIX>()?;
    let len = u32::from_le_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    if len > after.len() {
        return None;
    }
    let (payload, tail) = after.split_at(len);
    *rest = tail;
    Some((prefix[0], payload))
}

/// The little-endian u64 at `at` of a payload known to be long enough.
#[inline(always)]
fn u64_at<const N: usize>(p: &[u8; N], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&p[at..at + 8]);
    u64::from_le_bytes(b)
}

/// An allocation or a release of a burst.
#[derive(Clone, Copy)]
struct HeapRecord {
    /// Time-stamp counter.
    tsc: u64,
    ptr: u64,
    /// An allocation's size and stack id (`None`: a release).
    alloc: Option<(u64, u32)>,
}

/// A heap record of a burst, decoded (`None` for the other records).
#[inline(always)]
fn heap_record(tag: u8, payload: &[u8]) -> Option<HeapRecord> {
    if tag == memdx_events::tag::HEAP_ALLOC {
        let p: &[u8; ALLOC_PAYLOAD] = payload.try_into().ok()?;
        let stack = u32::from_le_bytes([p[16], p[17], p[18], p[19]]);
        Some(HeapRecord {
            tsc: u64_at(p, 20),
            ptr: u64_at(p, 0),
            alloc: Some((u64_at(p, 8), stack)),
        })
    } else if tag == memdx_events::tag::HEAP_FREE {
        let p: &[u8; FREE_PAYLOAD] = payload.try_into().ok()?;
        Some(HeapRecord {
            tsc: u64_at(p, 8),
            ptr: u64_at(p, 0),
            alloc: None,
        })
    } else {
        None
    }
}

pub struct Recorder {
    /// Attached to a running process: heap bytes in use then (written
    /// once, after the `Meta` frame).
    pub(super) attached: Option<u64>,
    attach_written: bool,
    writer: Writer<BufWriter<File>>,
    analysis: Analysis,
    clock: Clock,
    pub(super) pid: u32,
    interval: u64,
    pub(super) cmdline: Vec<u8>,
    meta_written: bool,
    modules: Vec<Module>,
    stacks: Vec<(u32, Vec<u64>)>,
    pub(super) ended: bool,
    /// The status an attached process passed to `exit`/`_exit`.
    exit_status: Option<i32>,
    last_time: u64,
    /// This burst's `CLOCK_MONOTONIC` reading and glibc's `mallinfo2`.
    burst_nanos: Option<u64>,
    mallinfo: Option<(u64, u64)>,
    /// RSS/PSS read while this burst was received.
    rss: Option<RssReading>,
    /// The timer's readings since the last burst, held until the next
    /// burst (or the end; those older than [`HOLD_NS`] before the latest
    /// are written meanwhile): the timer may read
    /// the process after the runtime took a burst's clock (the process
    /// then waits in that burst) and queue its reading before the receiver
    /// has queued the burst, so that the burst's own reading would not be
    /// the last in time. The burst drops those.
    timer_readings: std::collections::VecDeque<memdx_heap::MemorySample>,
}

impl Recorder {
    pub(super) fn new(writer: Writer<BufWriter<File>>) -> Self {
        Recorder {
            attached: None,
            attach_written: false,
            writer,
            analysis: Analysis::new(),
            clock: Clock::default(),
            pid: 0,
            interval: 0,
            cmdline: Vec::new(),
            meta_written: false,
            modules: Vec::new(),
            stacks: Vec::new(),
            ended: false,
            exit_status: None,
            last_time: 0,
            burst_nanos: None,
            mallinfo: None,
            rss: None,
            timer_readings: std::collections::VecDeque::new(),
        }
    }

    fn write(&mut self, rec: Record) -> anyhow::Result<()> {
        match &rec {
            Record::Meta {
                sample_interval,
                pid,
                cmdline,
            } => self.writer.meta(*sample_interval, *pid, cmdline)?,
            Record::Modules(m) => self.writer.modules(m)?,
            Record::Stacks(s) => self.writer.stacks(s)?,
            Record::Events(e) => self.writer.events(e)?,
            Record::Symbols(s) => self.writer.symbols(s)?,
            Record::Attach { heap_bytes } => self.writer.attach(*heap_bytes)?,
            Record::End { exit, end_time } => self.writer.end(*exit, *end_time)?,
            Record::Mark { name, time } => self.writer.mark(name, *time)?,
            Record::Memory(m) => self.writer.memory(m)?,
            Record::Maps(m) => self.writer.maps(m)?,
        }
        self.analysis.add(rec);
        Ok(())
    }

    /// One burst: a stream header, then records.
    pub(super) fn burst(&mut self, bytes: &[u8], rss: Option<RssReading>) -> anyhow::Result<()> {
        self.rss = rss;
        let Some(head) = bytes.get(..HEADER_LEN) else {
            return Ok(());
        };
        let Ok(head) = <&[u8; HEADER_LEN]>::try_from(head) else {
            return Ok(());
        };
        let Ok(header) = Header::decode(head) else {
            return Ok(());
        };
        if self.pid != 0 && header.pid != self.pid {
            // Only the program's own process is recorded.
            return Ok(());
        }
        self.pid = header.pid;
        let events_at = &bytes[HEADER_LEN..];
        // First pass: everything but the allocations and releases, which
        // are only counted and checked for time order.
        let mut rest = events_at;
        let mut heap_events = 0usize;
        let mut in_order = true;
        let mut last_tsc = 0u64;
        let mut modules = Vec::new();
        let mut stacks = Vec::new();
        let mut maps: Vec<MapEvent> = Vec::new();
        while let Some((tag, payload)) = next_record(&mut rest) {
            if let Some(r) = heap_record(tag, payload) {
                heap_events += 1;
                in_order &= r.tsc >= last_tsc;
                last_tsc = r.tsc;
                continue;
            }
            if tag == memdx_events::tag::HEAP_ALLOC || tag == memdx_events::tag::HEAP_FREE {
                // A heap record of the wrong length: left out, as the
                // second pass does.
                continue;
            }
            let Ok(Some(ev)) = decode_payload(tag, payload) else {
                continue;
            };
            match ev {
                Wire::HeapMap {
                    addr,
                    len,
                    stack,
                    time,
                } => maps.push(MapEvent::Map {
                    time,
                    addr,
                    len,
                    stack,
                }),
                Wire::HeapUnmap { addr, len, time } => {
                    maps.push(MapEvent::Unmap { time, addr, len })
                }
                Wire::HeapClock { time, nanos } => {
                    self.clock.reading(time, nanos);
                    self.burst_nanos = Some(nanos);
                }
                Wire::HeapMallinfo { held, in_use } => self.mallinfo = Some((held, in_use)),
                Wire::HeapStart { sample_interval } => self.interval = sample_interval,
                Wire::HeapEnd => self.ended = true,
                Wire::HeapExitStatus { status } => self.exit_status = Some(status),
                Wire::CommandLine { args } => self.cmdline = args.join(&0u8),
                Wire::Stack { id, frames } => stacks.push((id, frames)),
                Wire::Module {
                    bias,
                    start,
                    end,
                    path,
                } => modules.push(memdx_heap::LoadedModule {
                    bias,
                    start,
                    end,
                    path,
                }),
                _ => {}
            }
        }
        if !self.meta_written {
            self.meta_written = true;
            self.write(Record::Meta {
                sample_interval: self.interval,
                pid: self.pid,
                cmdline: self.cmdline.clone(),
            })?;
        }
        self.write_attach()?;
        if !modules.is_empty() {
            for m in &modules {
                self.modules.push(Module {
                    bias: m.bias,
                    start: m.start,
                    end: m.end,
                    path: PathBuf::from(std::ffi::OsStr::from_bytes(&m.path)),
                });
            }
            self.write(Record::Modules(modules))?;
        }
        if !stacks.is_empty() {
            self.stacks.extend(stacks.iter().cloned());
            self.write(Record::Stacks(stacks))?;
        }
        if heap_events > 0 {
            self.heap_events(events_at, heap_events, in_order)?;
        }
        self.write_maps(maps)?;
        self.write_memory()?;
        Ok(())
    }

    /// The burst's allocations and releases, in time order, as one
    /// `Events` frame, replayed into the summary as they are encoded (one
    /// map of live blocks for both). A burst of one thread's buffer is in
    /// order already and goes straight from its records to the frame's
    /// columns; the threads' buffers of a burst interleave and are sorted
    /// first (stable: equal times keep their buffer's order).
    fn heap_events(&mut self, records: &[u8], count: usize, in_order: bool) -> anyhow::Result<()> {
        self.writer.begin_events(count);
        if in_order {
            let mut rest = records;
            while let Some((tag, payload)) = next_record(&mut rest) {
                if let Some(r) = heap_record(tag, payload) {
                    self.heap_event(r);
                }
            }
        } else {
            let mut events: Vec<HeapRecord> = Vec::with_capacity(count);
            let mut rest = records;
            while let Some((tag, payload)) = next_record(&mut rest) {
                if let Some(e) = heap_record(tag, payload) {
                    events.push(e);
                }
            }
            events.sort_by_key(|e| e.tsc);
            for r in events {
                self.heap_event(r);
            }
        }
        self.writer.end_events()?;
        Ok(())
    }

    #[inline(always)]
    fn heap_event(&mut self, r: HeapRecord) {
        let time = self.clock.ns(r.tsc).max(self.last_time);
        self.last_time = time;
        match r.alloc {
            Some((size, stack)) => {
                self.writer
                    .alloc_into(time, r.ptr, size, stack, &mut self.analysis)
            }
            None => self.writer.free_into(time, r.ptr, &mut self.analysis),
        }
    }

    /// The burst's mappings, in time order, as one `Maps` frame (their
    /// times converted as the allocations' are).
    fn write_maps(&mut self, mut maps: Vec<MapEvent>) -> anyhow::Result<()> {
        if maps.is_empty() {
            return Ok(());
        }
        maps.sort_by_key(MapEvent::time);
        for e in &mut maps {
            let (MapEvent::Map { time, .. } | MapEvent::Unmap { time, .. }) = e;
            *time = self.clock.ns(*time);
            self.last_time = self.last_time.max(*time);
        }
        self.write(Record::Maps(maps))
    }

    /// A `Memory` frame at this burst: the runtime waits while memdx reads
    /// the burst, so the heap live in the recording, glibc's figures sent
    /// with the burst and the RSS read now describe one moment.
    fn write_memory(&mut self) -> anyhow::Result<()> {
        let Some(nanos) = self.burst_nanos.take() else {
            return self.flush_timer_reading(None);
        };
        self.flush_timer_reading(Some(self.clock.since_start(nanos)))?;
        let (allocator_held, allocator_in_use) = match self.mallinfo.take() {
            Some((h, u)) => (Some(h), Some(u)),
            None => (None, None),
        };
        let proc = self.rss.take();
        let m = memdx_heap::MemorySample {
            time: self.clock.since_start(nanos),
            rss: proc.and_then(|p| p.rss),
            pss: proc.and_then(|p| p.pss),
            allocator_held,
            allocator_in_use,
            live_heap: Some(self.analysis.live_bytes().max(0.0).round() as u64),
        };
        self.write(Record::Memory(m))
    }

    /// A `Memory` frame from the timer (no burst came meanwhile): the
    /// process's RSS/PSS read at `nanos` (`CLOCK_MONOTONIC`). The live
    /// heap and glibc's figures come only with bursts (between them the
    /// program's latest records are still in its buffers): not known.
    pub(super) fn reading(&mut self, nanos: u64, reading: RssReading) -> anyhow::Result<()> {
        if !self.meta_written || self.ended {
            return Ok(());
        }
        self.timer_readings.push_back(memdx_heap::MemorySample {
            time: self.clock.since_start(nanos),
            rss: reading.rss,
            pss: reading.pss,
            allocator_held: None,
            allocator_in_use: None,
            live_heap: None,
        });
        // No burst is in flight for that long: older ones are written.
        while let (Some(first), Some(last)) =
            (self.timer_readings.front(), self.timer_readings.back())
        {
            if first.time.saturating_add(HOLD_NS) >= last.time {
                break;
            }
            if let Some(m) = self.timer_readings.pop_front() {
                self.write(Record::Memory(m))?;
            }
        }
        Ok(())
    }

    /// Writes the timer's held readings, except those taken at or after
    /// `burst` (the time of the burst being written): the process was
    /// waiting in that burst then, whose own reading (with the heap's and
    /// glibc's figures) stands for that moment.
    fn flush_timer_reading(&mut self, burst: Option<u64>) -> anyhow::Result<()> {
        while let Some(m) = self.timer_readings.pop_front() {
            if burst.is_none_or(|b| m.time < b) {
                self.write(Record::Memory(m))?;
            }
        }
        Ok(())
    }

    /// A snapshot named `name` marked at `nanos` (`CLOCK_MONOTONIC`).
    pub(super) fn mark(&mut self, name: &str, nanos: u64) -> anyhow::Result<u64> {
        let time = self.clock.since_start(nanos);
        if self.meta_written {
            self.write(Record::Mark {
                name: name.to_string(),
                time,
            })?;
        }
        Ok(time)
    }

    /// The `Attach` frame, once its figure is known and `Meta` is out.
    fn write_attach(&mut self) -> anyhow::Result<()> {
        if let (Some(heap_bytes), false, true) =
            (self.attached, self.attach_written, self.meta_written)
        {
            self.attach_written = true;
            self.write(Record::Attach { heap_bytes })?;
        }
        Ok(())
    }

    /// Symbols and the end frame; the file's size and the summary.
    pub(super) fn finish(mut self, exit: HeapExit) -> anyhow::Result<(u64, Summary)> {
        self.write_attach()?;
        self.flush_timer_reading(None)?;
        let mut sym = Symbolizer::default();
        for m in std::mem::take(&mut self.modules) {
            sym.add_module(m);
        }
        let stacks = std::mem::take(&mut self.stacks);
        let symbols: Vec<(u32, Vec<SymFrame>)> = stacks
            .iter()
            .map(|(id, frames)| {
                let shown = sym
                    .stack(frames)
                    .into_iter()
                    .map(|f| SymFrame {
                        addr: f.addr,
                        function: f.function,
                        file: f.file_line.as_ref().map(|(file, _)| file.clone()),
                        line: f.file_line.as_ref().map_or(0, |(_, l)| *l),
                        object: f.object,
                    })
                    .collect();
                (*id, shown)
            })
            .collect();
        // The frames named here are kept for the next run, as `memdx
        // check` keeps its own: naming the C library's frames otherwise
        // inflates its debug file on every run (bench/NOTES.md).
        crate::commands::check::symbolize::save_frame_cache();
        self.write(Record::Symbols(symbols))?;
        // A process that died without its last burst: the recording holds
        // what it flushed.
        let exit = match (exit, self.exit_status) {
            // An attached process that ended: its runtime sent the status.
            (HeapExit::Ended, Some(status)) if self.ended => HeapExit::Exited(status),
            (exit, _)
                if self.ended || matches!(exit, HeapExit::Signaled(_) | HeapExit::Detached) =>
            {
                exit
            }
            _ => HeapExit::Cut,
        };
        let end = self.last_time;
        self.write(Record::End {
            exit,
            end_time: end,
        })?;
        let summary = self.analysis.summary();
        let bytes = self.writer.written();
        self.writer.finish()?;
        Ok((bytes, summary))
    }
}
