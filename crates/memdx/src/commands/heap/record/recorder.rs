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

    fn ns(&self, tsc: u64) -> u64 {
        match self.first {
            Some((t0, _)) => (tsc.saturating_sub(t0) as f64 * self.rate) as u64,
            None => 0,
        }
    }
}

/// How long the timer's readings are held for a burst that may be in
/// flight (see `Recorder::timer_readings`), in nanoseconds.
const HOLD_NS: u64 = 1_000_000_000;

fn event_time(e: &Event) -> u64 {
    match *e {
        Event::Alloc { time, .. } | Event::Free { time, .. } => time,
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
        let mut rest = &bytes[HEADER_LEN..];
        // Times are time-stamp counter readings until converted below.
        let mut events: Vec<Event> = Vec::with_capacity(bytes.len() / 24);
        let mut modules = Vec::new();
        let mut stacks = Vec::new();
        let mut maps: Vec<MapEvent> = Vec::new();
        while rest.len() >= RECORD_PREFIX {
            let tag = rest[0];
            let len = u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
            let Some(payload) = rest.get(RECORD_PREFIX..RECORD_PREFIX + len) else {
                break;
            };
            rest = &rest[RECORD_PREFIX + len..];
            // The bulk of a burst, decoded without building an event.
            let u64_at = |o: usize| {
                payload
                    .get(o..o + 8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_le_bytes)
            };
            if tag == memdx_events::tag::HEAP_ALLOC && len == 28 {
                if let (Some(ptr), Some(size), Some(time)) = (u64_at(0), u64_at(8), u64_at(20)) {
                    let stack =
                        u32::from_le_bytes([payload[16], payload[17], payload[18], payload[19]]);
                    events.push(Event::Alloc {
                        time,
                        ptr,
                        size,
                        stack,
                    });
                }
                continue;
            }
            if tag == memdx_events::tag::HEAP_FREE && len == 16 {
                if let (Some(ptr), Some(time)) = (u64_at(0), u64_at(8)) {
                    events.push(Event::Free { time, ptr });
                }
                continue;
            }
            let Ok(Some(ev)) = decode_payload(tag, payload) else {
                continue;
            };
            match ev {
                Wire::HeapAlloc {
                    ptr,
                    size,
                    stack,
                    time,
                } => events.push(Event::Alloc {
                    time,
                    ptr,
                    size,
                    stack,
                }),
                Wire::HeapFree { ptr, time } => events.push(Event::Free { time, ptr }),
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
        // The threads' buffers interleave: program order is time order
        // (stable, so equal times keep their buffer's order). A burst of
        // one thread's buffer is in order already.
        if !events.is_sorted_by_key(event_time) {
            events.sort_by_key(event_time);
        }
        for e in &mut events {
            let (Event::Alloc { time, .. } | Event::Free { time, .. }) = e;
            *time = self.clock.ns(*time).max(self.last_time);
            self.last_time = *time;
        }
        if !events.is_empty() {
            // One map of live blocks for the file and the summary.
            self.writer.events_into(&events, &mut self.analysis)?;
        }
        self.write_maps(maps)?;
        self.write_memory()?;
        Ok(())
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
