//! The profiled processes' RSS and PSS beside the heap: read by memdx
//! (never by the program) from `/proc/PID/smaps_rollup`, at most every
//! [`RSS_EVERY`] per process (and less often for a large process, whose
//! reading costs more): while a burst's connection is open (the process
//! waits, so the reading and the burst describe one moment), at its last
//! burst, and from a timer when no burst comes (a quiet program still
//! gets readings). The timer first reads the process's resident size from
//! `statm` (no page-table walk): unchanged (within 1/32) since its last
//! reading, the process is read again only [`QUIET_EVERY`] after it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use super::record::{monotonic_ns, Msg};

/// A process's RSS and PSS (bytes), from `smaps_rollup`.
#[derive(Debug, Clone, Copy)]
pub struct RssReading {
    pub rss: Option<u64>,
    pub pss: Option<u64>,
}

/// How often a process's RSS is read at most.
pub const RSS_EVERY: Duration = Duration::from_millis(20);

/// How often the timer reads a process whose resident size did not change
/// since its last reading.
pub const QUIET_EVERY: Duration = Duration::from_millis(100);

/// A process's readings so far.
struct Due {
    /// When it may be read next.
    next: Instant,
    /// When it was last read, and its RSS then.
    last: Option<(Instant, Option<u64>)>,
}

/// When each process may be read next (shared by the receiver and the
/// timer).
#[derive(Default)]
pub struct LastRead(Mutex<HashMap<u32, Due>>);

/// A reading costs memdx a walk of the process's page tables (about 2 ms
/// for 60 MB resident on a loaded machine): the next one waits at least
/// this many times as long as the last took, so the readings never take
/// more than 1% of a core, whatever the process's size.
const COST_FACTOR: u32 = 100;

impl LastRead {
    /// Whether `pid` is due for a reading (`force`: its last burst); if
    /// so, the next one is due [`RSS_EVERY`] from now at the earliest.
    fn claim(&self, pid: u32, force: bool) -> bool {
        let Ok(mut next) = self.0.lock() else {
            return false;
        };
        let now = Instant::now();
        let due = force || next.get(&pid).is_none_or(|d| now >= d.next);
        if due {
            let d = next.entry(pid).or_insert(Due {
                next: now,
                last: None,
            });
            d.next = now + RSS_EVERY;
        }
        due
    }

    /// The timer's reading of `pid`: as [`LastRead::read`] when it is due,
    /// unless its resident size (from `statm`, which costs no page-table
    /// walk) is what it was (within 1/32) at its last reading less than
    /// [`QUIET_EVERY`] ago.
    pub fn read_if_changed(&self, pid: u32, buf: &mut Vec<u8>) -> Option<RssReading> {
        if !self.claim(pid, false) {
            return None;
        }
        let rss = memdx_proc::statm::resident_bytes(&memdx_proc::ProcRoot::from_env(), pid)
            .ok()
            .flatten();
        let quiet = self.0.lock().is_ok_and(|due| {
            due.get(&pid)
                .and_then(|d| d.last)
                .is_some_and(|(at, last)| unchanged(last, rss) && at.elapsed() < QUIET_EVERY)
        });
        if quiet {
            return None;
        }
        self.measure(pid, buf)
    }

    /// Reads `pid` if it is due (see [`LastRead::claim`]), and puts the
    /// next reading off by [`COST_FACTOR`] times what this one took.
    pub fn read(&self, pid: u32, force: bool, buf: &mut Vec<u8>) -> Option<RssReading> {
        if !self.claim(pid, force) {
            return None;
        }
        self.measure(pid, buf)
    }

    /// Reads `pid` (claimed) and puts the next reading off.
    fn measure(&self, pid: u32, buf: &mut Vec<u8>) -> Option<RssReading> {
        let start = Instant::now();
        let reading = read_rss(pid, buf);
        let next = start + (start.elapsed() * COST_FACTOR).max(RSS_EVERY);
        if let Ok(mut due) = self.0.lock() {
            due.insert(
                pid,
                Due {
                    next,
                    last: Some((start, reading.and_then(|r| r.rss))),
                },
            );
        }
        reading
    }
}

/// Whether a resident size of `now` bytes is, for the readings, what it
/// was (`then`): within 1/32 of it (a page or two more or less tell
/// nothing).
fn unchanged(then: Option<u64>, now: Option<u64>) -> bool {
    match (then, now) {
        (Some(a), Some(b)) => a.abs_diff(b).saturating_mul(32) <= a,
        _ => false,
    }
}

/// Reads `pid`'s RSS and PSS; `None` when it is gone.
fn read_rss(pid: u32, buf: &mut Vec<u8>) -> Option<RssReading> {
    let p = memdx_proc::process::read_process(
        &memdx_proc::ProcRoot::from_env(),
        pid,
        memdx_proc::process::ReadOptions {
            smaps: true,
            cgroup: false,
            cpu: false,
        },
        buf,
    )
    .ok()
    .flatten()?;
    Some(RssReading {
        rss: p.rss,
        pss: p.pss,
    })
}

/// The timer: every [`RSS_EVERY`], each process a burst came from that
/// was not read meanwhile, still runs and changed its resident size (or
/// was last read [`QUIET_EVERY`] ago) is read, and the reading queued for
/// its recorder with the `CLOCK_MONOTONIC` time it was taken.
pub fn tick(
    tx: &mpsc::SyncSender<Msg>,
    done: &AtomicBool,
    seen: &Mutex<Vec<u32>>,
    last: &LastRead,
) {
    let mut buf = Vec::new();
    while !done.load(Ordering::Acquire) {
        std::thread::sleep(RSS_EVERY);
        let pids = seen.lock().map(|p| p.clone()).unwrap_or_default();
        for pid in pids {
            // SAFETY: a signal-0 probe of a pid.
            if unsafe { libc::kill(pid as i32, 0) } != 0 {
                continue;
            }
            let nanos = monotonic_ns();
            let Some(reading) = last.read_if_changed(pid, &mut buf) else {
                continue;
            };
            if reading.rss.is_none() && reading.pss.is_none() {
                // A zombie: nothing mapped any more.
                continue;
            }
            if tx
                .send(Msg::Reading {
                    pid,
                    nanos,
                    reading,
                })
                .is_err()
            {
                return;
            }
        }
    }
}
