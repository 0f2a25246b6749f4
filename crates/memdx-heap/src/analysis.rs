//! Replays a recording's events into per-site figures: live bytes at the
//! peak, at exit, bytes and blocks allocated, temporaries.
//!
//! Memory: one entry per distinct stack, plus the blocks live at the
//! moment being replayed (the address map needed to pair a release with
//! its allocation); nothing per event.
//!
//! The per-site figures at the peak are kept without copying every site at
//! every new peak: each site remembers its live bytes as they were at the
//! last peak it lived through (`snap`), taken lazily the first time it
//! changes after that peak.
//!
//! A temporary is a block released before any other block was allocated
//! (heaptrack's definition): the typical `malloc`, use, `free` of a buffer.
//!
//! In sampled recordings every recorded block stands for
//! [`weight`]`(size, interval)` blocks and that many times its bytes, an
//! unbiased estimate of the real figures.

use std::collections::HashMap;

use serde::Serialize;

use crate::format::{Event, FastMap, SymFrame};
use crate::reader::Record;

/// How the profiled program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Exit {
    /// It exited with this status.
    Exited(i32),
    /// It was killed by this signal.
    Signaled(i32),
    /// The stream ended without the runtime's last burst (the recording
    /// holds everything up to its last flush).
    Cut,
    /// `memdx heap --pid` detached; the process runs on.
    Detached,
    /// The process `memdx heap --pid` was attached to ended (the
    /// runtime's last burst came) without passing a status to `exit` or
    /// `_exit` (one that did is recorded as [`Exit::Exited`]: memdx is not
    /// its parent and learns the status from the runtime).
    Ended,
    /// A process traced by `--trace-children=yes` (a fork child, or a
    /// program executed) ended with the runtime's last burst; its exit
    /// status went to its parent, not to memdx.
    ChildEnded,
}

/// The weight of a recorded block of `size` bytes when allocations were
/// sampled at a mean interval of `interval` bytes (0: not sampled): the
/// inverse of the probability that a Poisson process of that rate over
/// allocated bytes puts a sample point in the block. Blocks of `interval`
/// bytes or more are always recorded.
#[inline]
pub fn weight(size: u64, interval: u64) -> f64 {
    if interval == 0 || size >= interval {
        return 1.0;
    }
    sampled_weight(size, interval)
}

#[inline(never)]
fn sampled_weight(size: u64, interval: u64) -> f64 {
    let p = -(-(size.max(1) as f64) / interval as f64).exp_m1();
    1.0 / p
}

/// `size as f64`, through `i64` below 2^63 (the same value, one
/// conversion instruction instead of a branchy sequence: the replay does
/// this for every event).
#[inline(always)]
fn bytes_f64(size: u64) -> f64 {
    match i64::try_from(size) {
        Ok(s) => s as f64,
        Err(_) => size as f64,
    }
}

/// Figures of one allocation site (a stack, or a group of them).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SiteStats {
    /// Blocks allocated.
    pub allocations: f64,
    /// Bytes allocated.
    pub allocated_bytes: f64,
    /// Blocks released before the next allocation.
    pub temporaries: f64,
    /// Bytes live at the program's heap peak.
    pub peak_bytes: f64,
    /// Blocks live at the peak.
    pub peak_blocks: f64,
    /// Bytes still live at exit (or at the end of the recording).
    pub exit_bytes: f64,
    /// Blocks still live at exit.
    pub exit_blocks: f64,
}

impl SiteStats {
    /// Adds another site's figures (grouping).
    pub fn add(&mut self, o: &SiteStats) {
        self.allocations += o.allocations;
        self.allocated_bytes += o.allocated_bytes;
        self.temporaries += o.temporaries;
        self.peak_bytes += o.peak_bytes;
        self.peak_blocks += o.peak_blocks;
        self.exit_bytes += o.exit_bytes;
        self.exit_blocks += o.exit_blocks;
    }
}

#[derive(Default)]
struct SiteState {
    /// Whether the site had an event (the dense table holds every id
    /// below its length).
    seen: bool,
    stats: SiteStats,
    live_bytes: f64,
    live_blocks: f64,
    snap_bytes: f64,
    snap_blocks: f64,
    snap_version: u64,
}

/// One site of a summary.
#[derive(Debug, Clone, Serialize)]
pub struct Site {
    /// The stack id.
    pub stack: u32,
    /// Its frames, symbolized when the recording has symbols (else only
    /// addresses).
    pub frames: Vec<SymFrame>,
    /// Its figures.
    pub stats: SiteStats,
}

/// Everything `memdx heap` prints, from one recording.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The program's pid.
    pub pid: u32,
    /// Its arguments.
    pub command: Vec<String>,
    /// Mean bytes between samples (0: every allocation was recorded).
    pub sample_interval: u64,
    /// How it ended (None: the recording has no end frame).
    pub exit: Option<Exit>,
    /// Attached to a running process: heap bytes in use at the attach
    /// (allocations made before it are not in the recording).
    pub attached_heap_bytes: Option<u64>,
    /// Nanoseconds from the start to the last event or the end.
    pub duration_ns: u64,
    /// The largest number of bytes live at once.
    pub peak_bytes: f64,
    /// Blocks live then.
    pub peak_blocks: f64,
    /// When (nanoseconds since the start).
    pub peak_time_ns: u64,
    /// Blocks allocated.
    pub allocations: f64,
    /// Bytes allocated.
    pub allocated_bytes: f64,
    /// Blocks released before the next allocation.
    pub temporaries: f64,
    /// Bytes still live at the end.
    pub exit_bytes: f64,
    /// Blocks still live at the end.
    pub exit_blocks: f64,
    /// Every site.
    pub sites: Vec<Site>,
    /// Snapshots marked while the program ran, in time order.
    pub snapshots: Vec<Snapshot>,
    /// Readings of the program's memory beside the heap, in time order.
    pub memory: Vec<crate::MemorySample>,
    /// What the program mapped itself (`mmap`, `mremap`), beside the heap.
    pub mapped: crate::Mapped,
}

/// A named moment marked while the program ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// Its name.
    pub name: String,
    /// Nanoseconds since the start.
    pub time_ns: u64,
}

/// A recording being replayed.
#[derive(Default)]
pub struct Analysis {
    pid: u32,
    command: Vec<String>,
    interval: u64,
    live: FastMap<u64, (u32, u64)>,
    sites: SiteTable,
    stacks: HashMap<u32, Vec<u64>>,
    symbols: HashMap<u32, Vec<SymFrame>>,
    total_bytes: f64,
    total_blocks: f64,
    peak_bytes: f64,
    peak_blocks: f64,
    peak_time: u64,
    peak_version: u64,
    last_alloc: Option<u64>,
    allocations: f64,
    allocated_bytes: f64,
    temporaries: f64,
    last_time: u64,
    exit: Option<Exit>,
    attached_heap_bytes: Option<u64>,
    /// Events after this time (nanoseconds) are left out.
    until: Option<u64>,
    timeline: Option<TimelineState>,
    snapshots: Vec<Snapshot>,
    memory: Vec<crate::MemorySample>,
    maps: crate::mappings::MapReplay,
}

/// The live bytes of the heap and of chosen sites at the end of each of a
/// number of equal time buckets (the state before the first event of the
/// next bucket).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// End of each bucket, seconds since the start.
    pub times_s: Vec<f64>,
    /// Live bytes of the whole heap then.
    pub total_bytes: Vec<f64>,
    /// Live bytes of each tracked site then.
    pub sites: Vec<SiteSeries>,
    /// Bytes mapped by each tracked mapping site then (the program's own
    /// `mmap`/`mremap`; see [`Analysis::tracking_mappings`]).
    pub mapped_sites: Vec<SiteSeries>,
}

/// One site's live bytes over a [`Timeline`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteSeries {
    /// The stack id.
    pub stack: u32,
    /// Live bytes at the end of each bucket.
    pub bytes: Vec<f64>,
}

#[derive(Debug, Clone, Default)]
struct TimelineState {
    bucket_ns: u64,
    buckets: usize,
    /// End of the bucket being filled.
    next_end: u64,
    tracked: Vec<u32>,
    times: Vec<u64>,
    total: Vec<f64>,
    sites: Vec<Vec<f64>>,
    tracked_maps: Vec<u32>,
    map_sites: Vec<Vec<f64>>,
}

/// The sites' states by stack id: the runtime's ids are small and dense,
/// so below [`DENSE_IDS`] they index a vector (no hashing per event);
/// larger ones (a damaged file) go to a map.
#[derive(Default)]
struct SiteTable {
    dense: Vec<SiteState>,
    sparse: FastMap<u32, SiteState>,
}

const DENSE_IDS: u32 = 1 << 16;

impl SiteTable {
    fn get(&self, id: u32) -> Option<&SiteState> {
        if id < DENSE_IDS {
            self.dense.get(id as usize).filter(|s| s.seen)
        } else {
            self.sparse.get(&id)
        }
    }

    #[inline(always)]
    fn entry(&mut self, id: u32) -> &mut SiteState {
        let i = id as usize;
        if i < self.dense.len() {
            let s = &mut self.dense[i];
            s.seen = true;
            return s;
        }
        self.new_entry(id)
    }

    #[cold]
    #[inline(never)]
    fn new_entry(&mut self, id: u32) -> &mut SiteState {
        let s = if id >= DENSE_IDS {
            self.sparse.entry(id).or_default()
        } else {
            let i = id as usize;
            self.dense.resize_with(i + 1, SiteState::default);
            &mut self.dense[i]
        };
        s.seen = true;
        s
    }

    fn iter(&self) -> impl Iterator<Item = (u32, &SiteState)> {
        self.dense
            .iter()
            .enumerate()
            .filter(|(_, s)| s.seen)
            .map(|(i, s)| (i as u32, s))
            .chain(self.sparse.iter().map(|(&id, s)| (id, s)))
    }
}

impl SiteState {
    /// Takes the snapshot at the last peak before the site's first change
    /// after it.
    #[inline(always)]
    fn touch(&mut self, version: u64) {
        if self.snap_version != version {
            self.snap_bytes = self.live_bytes;
            self.snap_blocks = self.live_blocks;
            self.snap_version = version;
        }
    }
}

impl Analysis {
    /// An empty replay.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes live now (after the events replayed so far).
    pub fn live_bytes(&self) -> f64 {
        self.total_bytes
    }

    /// Leaves out events after `t_ns` nanoseconds from the start: the
    /// figures "at exit" are then those at that moment.
    pub fn until(mut self, t_ns: u64) -> Self {
        self.until = Some(t_ns);
        self
    }

    /// Also keeps a [`Timeline`] of `buckets` equal buckets over
    /// `duration_ns`, with the series of the sites in `tracked` (memory:
    /// `buckets` values per tracked site).
    pub fn with_timeline(mut self, duration_ns: u64, buckets: usize, tracked: &[u32]) -> Self {
        let buckets = buckets.max(1);
        let bucket_ns = (duration_ns / buckets as u64).max(1);
        self.timeline = Some(TimelineState {
            bucket_ns,
            buckets,
            next_end: bucket_ns,
            tracked: tracked.to_vec(),
            sites: vec![Vec::with_capacity(buckets); tracked.len()],
            ..TimelineState::default()
        });
        self
    }

    /// With [`Analysis::with_timeline`], also follows the bytes mapped by
    /// the mapping sites in `tracked` (the program's own mappings).
    pub fn tracking_mappings(mut self, tracked: &[u32]) -> Self {
        if let Some(tl) = self.timeline.as_mut() {
            tl.tracked_maps = tracked.to_vec();
            tl.map_sites = vec![Vec::with_capacity(tl.buckets); tracked.len()];
        }
        self
    }

    /// The bytes each tracked mapping site has mapped now (empty when none
    /// is tracked).
    fn tracked_mapped_bytes(&self) -> Vec<u64> {
        self.timeline.as_ref().map_or_else(Vec::new, |tl| {
            tl.tracked_maps
                .iter()
                .map(|&s| self.maps.live_bytes(s))
                .collect()
        })
    }

    /// A mapping event at `time` that came after buckets ending later were
    /// closed (a burst's `Maps` frame follows its `Events` frame, whose
    /// events may reach further): those buckets get the tracked sites'
    /// change (`before`: their bytes before the event).
    fn patch_mapped_buckets(&mut self, time: u64, before: &[u64]) {
        let Some(tl) = self.timeline.as_mut() else {
            return;
        };
        let first = tl.times.partition_point(|&end| end <= time);
        if first == tl.times.len() {
            return;
        }
        for (i, &stack) in tl.tracked_maps.iter().enumerate() {
            let now = self.maps.live_bytes(stack) as f64;
            let delta = now - before.get(i).copied().unwrap_or(0) as f64;
            if delta != 0.0 {
                for v in &mut tl.map_sites[i][first..] {
                    *v += delta;
                }
            }
        }
    }

    /// Closes the buckets that end at or before `time`.
    #[inline]
    fn advance(&mut self, time: u64) {
        if self.timeline.is_some() {
            self.advance_timeline(time);
        }
    }

    #[inline(never)]
    fn advance_timeline(&mut self, time: u64) {
        let Some(tl) = self.timeline.as_mut() else {
            return;
        };
        while tl.next_end <= time && tl.times.len() < tl.buckets {
            tl.times.push(tl.next_end);
            tl.total.push(self.total_bytes);
            for (i, stack) in tl.tracked.iter().enumerate() {
                let live = self.sites.get(*stack).map_or(0.0, |s| s.live_bytes);
                tl.sites[i].push(live);
            }
            for (i, stack) in tl.tracked_maps.iter().enumerate() {
                tl.map_sites[i].push(self.maps.live_bytes(*stack) as f64);
            }
            tl.next_end += tl.bucket_ns;
        }
    }

    /// The timeline so far (buckets not reached by any event hold the
    /// last values); `None` without [`Analysis::with_timeline`].
    pub fn timeline(&self) -> Option<Timeline> {
        let tl = self.timeline.as_ref()?;
        let mut times = tl.times.clone();
        let mut total = tl.total.clone();
        let mut sites = tl.sites.clone();
        let mut map_sites = tl.map_sites.clone();
        let mut end = tl.next_end;
        while times.len() < tl.buckets {
            times.push(end);
            total.push(self.total_bytes);
            for (i, stack) in tl.tracked.iter().enumerate() {
                sites[i].push(self.sites.get(*stack).map_or(0.0, |s| s.live_bytes));
            }
            for (i, stack) in tl.tracked_maps.iter().enumerate() {
                map_sites[i].push(self.maps.live_bytes(*stack) as f64);
            }
            end += tl.bucket_ns;
        }
        Some(Timeline {
            times_s: times.iter().map(|&t| t as f64 / 1e9).collect(),
            total_bytes: total,
            sites: tl
                .tracked
                .iter()
                .zip(sites)
                .map(|(&stack, bytes)| SiteSeries { stack, bytes })
                .collect(),
            mapped_sites: tl
                .tracked_maps
                .iter()
                .zip(map_sites)
                .map(|(&stack, bytes)| SiteSeries { stack, bytes })
                .collect(),
        })
    }

    /// Replays one record.
    pub fn add(&mut self, rec: Record) {
        match rec {
            Record::Meta {
                sample_interval,
                pid,
                cmdline,
            } => {
                self.interval = sample_interval;
                self.pid = pid;
                self.command = cmdline
                    .split(|&b| b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
            }
            Record::Modules(_) => {}
            Record::Stacks(s) => self.stacks.extend(s),
            Record::Symbols(s) => self.symbols.extend(s),
            Record::Events(ev) => {
                for e in ev {
                    self.event(e);
                }
            }
            Record::Maps(ev) => {
                for e in ev {
                    if !self.after_until(e.time()) {
                        self.advance(e.time());
                        self.last_time = self.last_time.max(e.time());
                        let before = self.tracked_mapped_bytes();
                        self.maps.event(e);
                        self.patch_mapped_buckets(e.time(), &before);
                    }
                }
            }
            Record::Attach { heap_bytes } => self.attached_heap_bytes = Some(heap_bytes),
            Record::Mark { name, time } => self.snapshots.push(Snapshot {
                name,
                time_ns: time,
            }),
            Record::Memory(m) => {
                if self.until.is_none_or(|u| m.time <= u) {
                    self.memory.push(m);
                }
            }
            Record::End { exit, end_time } => {
                if self.until.is_some_and(|u| end_time > u) {
                    return;
                }
                self.exit = Some(exit);
                self.last_time = self.last_time.max(end_time);
            }
        }
    }

    fn event(&mut self, e: Event) {
        match e {
            Event::Alloc {
                time,
                ptr,
                size,
                stack,
            } => {
                if self.live.contains_key(&ptr) && !self.after_until(time) {
                    // A release that was never seen (a thread's record lost
                    // at a fork, or a realloc race): the old block is gone.
                    if let Some((stack, size)) = self.live.remove(&ptr) {
                        self.released(time, ptr, stack, size, false);
                    }
                }
                if self.allocated(time, ptr, size, stack) {
                    self.live.insert(ptr, (stack, size));
                }
            }
            Event::Free { time, ptr } => {
                if self.after_until(time) {
                    return;
                }
                match self.live.remove(&ptr) {
                    Some((stack, size)) => self.released(time, ptr, stack, size, true),
                    // Releases of blocks not recorded (allocated before
                    // recording started, or not sampled) change nothing
                    // but the temporaries' bookkeeping.
                    None => self.released_unknown(time),
                }
            }
        }
    }

    fn after_until(&self, time: u64) -> bool {
        self.until.is_some_and(|u| time > u)
    }

    /// An allocation whose address the caller keeps (the recorder's
    /// writer pairs releases with allocations for both: one map); false
    /// when it is after [`Analysis::until`] and left out.
    #[inline(always)]
    pub(crate) fn allocated(&mut self, time: u64, ptr: u64, size: u64, stack: u32) -> bool {
        if self.after_until(time) {
            return false;
        }
        self.advance(time);
        self.last_time = self.last_time.max(time);
        let w = weight(size, self.interval);
        let bytes = w * bytes_f64(size);
        let version = self.peak_version;
        let s = self.sites.entry(stack);
        s.touch(version);
        s.live_bytes += bytes;
        s.live_blocks += w;
        s.stats.allocations += w;
        s.stats.allocated_bytes += bytes;
        self.total_bytes += bytes;
        self.total_blocks += w;
        self.allocations += w;
        self.allocated_bytes += bytes;
        self.last_alloc = Some(ptr);
        if self.total_bytes > self.peak_bytes {
            self.peak_bytes = self.total_bytes;
            self.peak_blocks = self.total_blocks;
            self.peak_time = time;
            self.peak_version += 1;
        }
        true
    }

    /// The release of a recorded block (`explicit`: a release event, not
    /// an allocation at a live block's address).
    #[inline(always)]
    pub(crate) fn released(&mut self, time: u64, ptr: u64, stack: u32, size: u64, explicit: bool) {
        if self.after_until(time) {
            return;
        }
        self.advance(time);
        self.last_time = self.last_time.max(time);
        let temporary = explicit && self.last_alloc == Some(ptr);
        let w = weight(size, self.interval);
        let bytes = w * bytes_f64(size);
        let version = self.peak_version;
        let s = self.sites.entry(stack);
        s.touch(version);
        s.live_bytes -= bytes;
        s.live_blocks -= w;
        if temporary {
            s.stats.temporaries += w;
            self.temporaries += w;
        }
        self.total_bytes -= bytes;
        self.total_blocks -= w;
        if explicit {
            self.last_alloc = None;
        }
    }

    /// A release of a block not in the recording.
    #[inline]
    pub(crate) fn released_unknown(&mut self, time: u64) {
        if self.after_until(time) {
            return;
        }
        self.advance(time);
        self.last_time = self.last_time.max(time);
        self.last_alloc = None;
    }

    /// The figures so far.
    pub fn summary(&self) -> Summary {
        let mut sites: Vec<Site> = self
            .sites
            .iter()
            .map(|(stack, s)| {
                let (peak_bytes, peak_blocks) = if s.snap_version == self.peak_version {
                    (s.snap_bytes, s.snap_blocks)
                } else {
                    (s.live_bytes, s.live_blocks)
                };
                let frames = self.frames(stack);
                Site {
                    stack,
                    frames,
                    stats: SiteStats {
                        peak_bytes,
                        peak_blocks,
                        exit_bytes: s.live_bytes,
                        exit_blocks: s.live_blocks,
                        ..s.stats.clone()
                    },
                }
            })
            .collect();
        sites.sort_by_key(|s| s.stack);
        Summary {
            pid: self.pid,
            command: self.command.clone(),
            sample_interval: self.interval,
            exit: self.exit,
            attached_heap_bytes: self.attached_heap_bytes,
            duration_ns: self.last_time,
            peak_bytes: self.peak_bytes,
            peak_blocks: self.peak_blocks,
            peak_time_ns: self.peak_time,
            allocations: self.allocations,
            allocated_bytes: self.allocated_bytes,
            temporaries: self.temporaries,
            exit_bytes: self.total_bytes,
            exit_blocks: self.total_blocks,
            sites,
            snapshots: {
                let mut s = self.snapshots.clone();
                s.sort_by_key(|m| m.time_ns);
                s
            },
            memory: {
                let mut m = self.memory.clone();
                m.sort_by_key(|m| m.time);
                m
            },
            mapped: {
                let mut m = self.maps.summary();
                for site in &mut m.sites {
                    site.frames = self.frames(site.stack);
                }
                m
            },
        }
    }

    /// A stack's frames: symbolized when the recording has symbols, else
    /// only addresses.
    fn frames(&self, stack: u32) -> Vec<SymFrame> {
        self.symbols.get(&stack).cloned().unwrap_or_else(|| {
            self.stacks
                .get(&stack)
                .map(|f| {
                    f.iter()
                        .map(|&addr| SymFrame {
                            addr,
                            ..SymFrame::default()
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(time: u64, ptr: u64, size: u64, stack: u32) -> Event {
        Event::Alloc {
            time,
            ptr,
            size,
            stack,
        }
    }
    fn free(time: u64, ptr: u64) -> Event {
        Event::Free { time, ptr }
    }

    #[test]
    fn sites_at_the_peak_are_what_was_live_then_not_at_the_end() {
        let mut a = Analysis::new();
        a.add(Record::Events(vec![
            alloc(1, 0x10, 100, 1),
            alloc(2, 0x20, 50, 2),
            free(3, 0x10),          // not a temporary: 0x20 came after it
            alloc(4, 0x30, 300, 1), // peak: 350 (300 from site 1, 50 from 2)
            free(5, 0x30),          // a temporary
            alloc(6, 0x40, 10, 2),
        ]));
        let s = a.summary();
        assert_eq!(
            (s.peak_bytes, s.peak_blocks, s.peak_time_ns),
            (350.0, 2.0, 4)
        );
        assert_eq!(
            (s.allocations, s.allocated_bytes, s.temporaries),
            (4.0, 460.0, 1.0)
        );
        assert_eq!((s.exit_bytes, s.exit_blocks), (60.0, 2.0));
        let site1 = &s.sites[0].stats;
        let site2 = &s.sites[1].stats;
        assert_eq!(
            (site1.peak_bytes, site1.exit_bytes, site1.temporaries),
            (300.0, 0.0, 1.0)
        );
        assert_eq!(
            (site2.peak_bytes, site2.exit_bytes, site2.allocations),
            (50.0, 60.0, 2.0)
        );
    }

    #[test]
    fn sampled_blocks_weigh_the_inverse_of_their_chance() {
        assert_eq!(weight(100, 0), 1.0);
        assert_eq!(weight(1 << 20, 1 << 19), 1.0);
        let w = weight(1024, 1 << 19);
        let p = 1.0 - (-1024.0f64 / 524288.0).exp();
        assert!((w - 1.0 / p).abs() < 1e-9);
    }
}
