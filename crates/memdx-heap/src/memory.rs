//! Readings of the program's memory beside its heap: what the kernel says
//! it holds (RSS, PSS, from `/proc/PID/smaps_rollup`, read by memdx) and
//! what the allocator holds (glibc's `mallinfo2`, when the runtime sends
//! it), so a report can tell a leak from fragmentation.

use serde::Serialize;

use crate::format::{Get, Put};

const FIELDS: usize = 5;

/// One reading, taken while the program ran. Figures not read are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct MemorySample {
    /// Nanoseconds since the start.
    pub time: u64,
    /// Resident set size, bytes.
    pub rss: Option<u64>,
    /// Proportional set size, bytes.
    pub pss: Option<u64>,
    /// Bytes the allocator holds from the system (glibc's `mallinfo2`:
    /// `arena + hblkhd`).
    pub allocator_held: Option<u64>,
    /// Bytes of it in blocks handed out (`uordblks + hblkhd`).
    pub allocator_in_use: Option<u64>,
    /// Bytes live in the recording then (an estimate when sampled).
    pub live_heap: Option<u64>,
}

impl MemorySample {
    fn fields(&self) -> [Option<u64>; FIELDS] {
        [
            self.rss,
            self.pss,
            self.allocator_held,
            self.allocator_in_use,
            self.live_heap,
        ]
    }

    /// Payload: time v, a bit mask of the figures present v, each present
    /// figure v in field order.
    pub(crate) fn encode(&self, p: &mut Put) {
        p.v(self.time);
        let fields = self.fields();
        let mask = fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.is_some())
            .fold(0u64, |m, (i, _)| m | 1 << i);
        p.v(mask);
        for v in fields.into_iter().flatten() {
            p.v(v);
        }
    }

    pub(crate) fn decode(g: &mut Get) -> Option<Self> {
        let time = g.v()?;
        let mask = g.v()?;
        if mask >> FIELDS != 0 {
            return None;
        }
        let mut f = [None; FIELDS];
        for (i, slot) in f.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                *slot = Some(g.v()?);
            }
        }
        Some(MemorySample {
            time,
            rss: f[0],
            pss: f[1],
            allocator_held: f[2],
            allocator_in_use: f[3],
            live_heap: f[4],
        })
    }
}
