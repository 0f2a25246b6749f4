//! The program's own mappings (`mmap`, `munmap`, `mremap` made by the
//! program, not by its allocator): the recording's `Maps` frames and their
//! replay into "mapped by the program" figures per site.
//!
//! A mapping is counted in whole pages (the kernel maps and unmaps whole
//! pages). An unmapped range may cover part of a mapping, several, or
//! nothing recorded (memory the program did not map itself, or mapped
//! before recording started): every recorded range it overlaps loses the
//! overlap, the rest stays live (a mapping split in two is two ranges). A
//! new mapping over recorded ranges (`MAP_FIXED`) replaces them first, as
//! the kernel does. An `mremap` is recorded as the unmapping of its old
//! range and a mapping of its new one at its own stack (as `realloc` is a
//! release and an allocation).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::analysis::{Site, SiteStats};
use crate::format::{Get, Put};

/// The kernel's page size on the machines memdx supports.
pub const PAGE: u64 = 4096;

/// One mapping event, in the recording (times in nanoseconds since the
/// start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapEvent {
    /// The program mapped `len` bytes at `addr` (`mmap`, or the new range
    /// of an `mremap`).
    Map {
        /// Nanoseconds since the start.
        time: u64,
        /// The mapping's address.
        addr: u64,
        /// Its length as asked (counted in whole pages).
        len: u64,
        /// The call's stack id.
        stack: u32,
    },
    /// The program unmapped `len` bytes at `addr` (`munmap`, or the old
    /// range of an `mremap`).
    Unmap {
        /// Nanoseconds since the start.
        time: u64,
        /// The range's address.
        addr: u64,
        /// Its length.
        len: u64,
    },
}

impl MapEvent {
    /// Its time.
    pub fn time(&self) -> u64 {
        match *self {
            MapEvent::Map { time, .. } | MapEvent::Unmap { time, .. } => time,
        }
    }

    /// Appends the `Maps` frame payload of `events`.
    pub(crate) fn encode(events: &[MapEvent], p: &mut Put) {
        p.v(events.len() as u64);
        for e in events {
            match *e {
                MapEvent::Map {
                    time,
                    addr,
                    len,
                    stack,
                } => {
                    p.v(0);
                    p.v(time);
                    p.v(addr);
                    p.v(len);
                    p.v(u64::from(stack));
                }
                MapEvent::Unmap { time, addr, len } => {
                    p.v(1);
                    p.v(time);
                    p.v(addr);
                    p.v(len);
                }
            }
        }
    }

    /// Reads a `Maps` frame payload; `None` when it is malformed.
    pub(crate) fn decode(g: &mut Get) -> Option<Vec<MapEvent>> {
        let n = g.count()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let op = g.v()?;
            let (time, addr, len) = (g.v()?, g.v()?, g.v()?);
            out.push(match op {
                0 => MapEvent::Map {
                    time,
                    addr,
                    len,
                    stack: u32::try_from(g.v()?).ok()?,
                },
                1 => MapEvent::Unmap { time, addr, len },
                _ => return None,
            });
        }
        Some(out)
    }
}

/// What the program mapped itself, over the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Mapped {
    /// Mappings made (`mmap` calls and `mremap` new ranges).
    pub maps: u64,
    /// Ranges unmapped (`munmap` calls and `mremap` old ranges).
    pub unmaps: u64,
    /// Bytes mapped over the run (whole pages).
    pub mapped_bytes: u64,
    /// The most bytes mapped at once.
    pub peak_bytes: u64,
    /// When (nanoseconds since the start).
    pub peak_time_ns: u64,
    /// Bytes still mapped at the end.
    pub exit_bytes: u64,
    /// Per call site (`allocations`: mappings made, `allocated_bytes`:
    /// bytes mapped, `peak_bytes`/`peak_blocks`: bytes and ranges live at
    /// the mapped peak, `exit_bytes`/`exit_blocks`: at the end), frames
    /// filled in by the analysis.
    pub sites: Vec<Site>,
}

#[derive(Default)]
struct SiteMaps {
    maps: u64,
    mapped_bytes: u64,
    live_bytes: u64,
    live_ranges: u64,
    snap_bytes: u64,
    snap_ranges: u64,
    snap_version: u64,
}

impl SiteMaps {
    fn touch(&mut self, version: u64) {
        if self.snap_version != version {
            self.snap_bytes = self.live_bytes;
            self.snap_ranges = self.live_ranges;
            self.snap_version = version;
        }
    }
}

/// The replay of `Maps` frames: the live ranges (start to end and stack),
/// per-site figures, the peak. Per-site figures at the peak are taken
/// lazily as the heap's are (a site's `snap` is its state at the last peak
/// it lived through).
#[derive(Default)]
pub(crate) struct MapReplay {
    ranges: BTreeMap<u64, (u64, u32)>,
    sites: BTreeMap<u32, SiteMaps>,
    live: u64,
    maps: u64,
    unmaps: u64,
    mapped_bytes: u64,
    peak: u64,
    peak_time: u64,
    peak_version: u64,
}

fn page_end(addr: u64, len: u64) -> u64 {
    addr.saturating_add(len).div_ceil(PAGE).saturating_mul(PAGE)
}

impl MapReplay {
    pub(crate) fn event(&mut self, e: MapEvent) {
        match e {
            MapEvent::Map {
                time,
                addr,
                len,
                stack,
            } => {
                let end = page_end(addr, len);
                self.remove(addr, end);
                if end <= addr {
                    return;
                }
                let bytes = end - addr;
                self.ranges.insert(addr, (end, stack));
                let version = self.peak_version;
                let s = self.sites.entry(stack).or_default();
                s.touch(version);
                s.maps += 1;
                s.mapped_bytes = s.mapped_bytes.saturating_add(bytes);
                s.live_bytes += bytes;
                s.live_ranges += 1;
                self.maps += 1;
                self.mapped_bytes = self.mapped_bytes.saturating_add(bytes);
                self.live += bytes;
                if self.live > self.peak {
                    self.peak = self.live;
                    self.peak_time = time;
                    self.peak_version += 1;
                }
            }
            MapEvent::Unmap { addr, len, .. } => {
                self.unmaps += 1;
                self.remove(addr, page_end(addr, len));
            }
        }
    }

    /// Takes `[lo, hi)` out of every recorded range.
    fn remove(&mut self, lo: u64, hi: u64) {
        if hi <= lo {
            return;
        }
        // Ranges do not overlap: the one starting before `lo` may reach
        // into it, the others start inside.
        let first = self
            .ranges
            .range(..lo)
            .next_back()
            .filter(|(_, &(end, _))| end > lo)
            .map(|(&start, _)| start);
        let hit: Vec<u64> = first
            .into_iter()
            .chain(self.ranges.range(lo..hi).map(|(&s, _)| s))
            .collect();
        let version = self.peak_version;
        for start in hit {
            let Some((end, stack)) = self.ranges.remove(&start) else {
                continue;
            };
            let cut = end.min(hi) - start.max(lo);
            let mut pieces = 0;
            if start < lo {
                self.ranges.insert(start, (lo, stack));
                pieces += 1;
            }
            if end > hi {
                self.ranges.insert(hi, (end, stack));
                pieces += 1;
            }
            let s = self.sites.entry(stack).or_default();
            s.touch(version);
            s.live_bytes -= cut;
            s.live_ranges = s.live_ranges + pieces - 1;
            self.live -= cut;
        }
    }

    /// Bytes site `stack` has mapped now.
    pub(crate) fn live_bytes(&self, stack: u32) -> u64 {
        self.sites.get(&stack).map_or(0, |s| s.live_bytes)
    }

    /// The figures so far; sites without frames (the caller names them).
    pub(crate) fn summary(&self) -> Mapped {
        Mapped {
            maps: self.maps,
            unmaps: self.unmaps,
            mapped_bytes: self.mapped_bytes,
            peak_bytes: self.peak,
            peak_time_ns: self.peak_time,
            exit_bytes: self.live,
            sites: self
                .sites
                .iter()
                .map(|(&stack, s)| {
                    let (peak_bytes, peak_ranges) = if s.snap_version == self.peak_version {
                        (s.snap_bytes, s.snap_ranges)
                    } else {
                        (s.live_bytes, s.live_ranges)
                    };
                    Site {
                        stack,
                        frames: Vec::new(),
                        stats: SiteStats {
                            allocations: s.maps as f64,
                            allocated_bytes: s.mapped_bytes as f64,
                            temporaries: 0.0,
                            peak_bytes: peak_bytes as f64,
                            peak_blocks: peak_ranges as f64,
                            exit_bytes: s.live_bytes as f64,
                            exit_blocks: s.live_ranges as f64,
                        },
                    }
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn map(time: u64, addr: u64, len: u64, stack: u32) -> MapEvent {
        MapEvent::Map {
            time,
            addr,
            len,
            stack,
        }
    }
    fn unmap(time: u64, addr: u64, len: u64) -> MapEvent {
        MapEvent::Unmap { time, addr, len }
    }

    fn stats(m: &Mapped, stack: u32) -> SiteStats {
        m.sites
            .iter()
            .find(|s| s.stack == stack)
            .map(|s| s.stats.clone())
            .unwrap_or_default()
    }

    #[test]
    fn three_maps_an_unmap_and_a_remap_give_the_peak_and_exit_per_site() {
        let mut r = MapReplay::default();
        let (a, b, c) = (0x10_0000_0000, 0x20_0000_0000, 0x30_0000_0000);
        for (i, addr) in [a, b, c].into_iter().enumerate() {
            r.event(map(i as u64 + 1, addr, MIB, 1));
        }
        r.event(unmap(4, b, MIB));
        // mremap of c to 2 MiB, moved.
        r.event(unmap(5, c, MIB));
        r.event(map(5, 0x40_0000_0000, 2 * MIB, 2));
        let m = r.summary();
        assert_eq!((m.maps, m.unmaps, m.mapped_bytes), (4, 2, 5 * MIB), "{m:?}");
        assert_eq!(
            (m.peak_bytes, m.peak_time_ns, m.exit_bytes),
            (3 * MIB, 3, 3 * MIB)
        );
        let s1 = stats(&m, 1);
        assert_eq!(
            (s1.peak_bytes, s1.peak_blocks, s1.exit_bytes, s1.exit_blocks),
            (3.0 * MIB as f64, 3.0, MIB as f64, 1.0)
        );
        let s2 = stats(&m, 2);
        assert_eq!((s2.peak_bytes, s2.exit_bytes), (0.0, 2.0 * MIB as f64));
    }

    #[test]
    fn a_partial_unmap_splits_a_mapping_and_fixed_maps_replace() {
        let mut r = MapReplay::default();
        r.event(map(1, 0x1000_0000, 10 * PAGE, 1));
        // A hole in the middle: two ranges remain.
        r.event(unmap(2, 0x1000_0000 + 4 * PAGE, 2 * PAGE));
        let s = stats(&r.summary(), 1);
        assert_eq!((s.exit_bytes, s.exit_blocks), (8.0 * PAGE as f64, 2.0));
        // MAP_FIXED over the tail, from another site; lengths round up.
        r.event(map(3, 0x1000_0000 + 8 * PAGE, PAGE + 1, 2));
        let m = r.summary();
        assert_eq!(stats(&m, 1).exit_bytes, 6.0 * PAGE as f64);
        assert_eq!(stats(&m, 2).exit_bytes, 2.0 * PAGE as f64);
        assert_eq!(m.exit_bytes, 8 * PAGE);
        // Unmapping what was never recorded changes nothing; unmapping
        // across both sites' ranges takes them all.
        r.event(unmap(4, 0x9000_0000, PAGE));
        r.event(unmap(5, 0x1000_0000, 100 * PAGE));
        let m = r.summary();
        assert_eq!((m.exit_bytes, m.peak_bytes), (0, 10 * PAGE));
        assert_eq!(stats(&m, 1).exit_blocks, 0.0);
    }

    #[test]
    fn maps_frames_round_trip_and_bad_ops_are_refused() {
        let ev = vec![
            map(5, 0x7f00_0000_0000, MIB, 3),
            unmap(9, 0x7f00_0000_0000, PAGE),
        ];
        let mut p = Put::default();
        MapEvent::encode(&ev, &mut p);
        assert_eq!(MapEvent::decode(&mut Get(&p.0)), Some(ev));
        assert_eq!(MapEvent::decode(&mut Get(&[1, 2, 0, 0, 0])), None);
    }
}
