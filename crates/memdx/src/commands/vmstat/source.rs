//! Where samples come from: the live machine (sleeping between samples),
//! or a replay of recorded sample trees (no sleeping, a simulated clock).
//!
//! Replay (`MEMDX_REPLAY_ROOT=DIR`) reads sample `k` from `DIR/k/`; a file
//! absent from `DIR/k` is taken from the latest earlier sample that has
//! it, so a sample directory only needs the files that changed. The clock
//! starts at `MEMDX_REPLAY_EPOCH` (default 1700000000) and advances by the
//! seconds "slept". Golden tests use it to run memdx on exactly the
//! sequence procps saw (see `tests/fixtures/vmstat/regen.sh`).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use memdx_proc::ProcRoot;

/// Environment variable naming a replay directory.
pub const REPLAY_ENV: &str = "MEMDX_REPLAY_ROOT";
/// Environment variable with the replay clock's start (seconds since epoch).
pub const REPLAY_EPOCH_ENV: &str = "MEMDX_REPLAY_EPOCH";
const DEFAULT_REPLAY_EPOCH: i64 = 1_700_000_000;

/// A source of successive samples.
#[derive(Debug)]
pub enum Source {
    /// The live root (or `MEMDX_PROC_ROOT`), real sleeps, real clock.
    Live(ProcRoot),
    /// Recorded samples.
    Replay {
        /// The directory holding `0/`, `1/`, ...
        dir: PathBuf,
        /// The current sample.
        step: u32,
        /// Seconds since the epoch now.
        clock: i64,
    },
}

impl Source {
    /// The replay named by the environment, else the live root.
    pub fn from_env() -> Self {
        match std::env::var_os(REPLAY_ENV) {
            Some(dir) if !dir.is_empty() => Source::Replay {
                dir: PathBuf::from(dir),
                step: 0,
                clock: std::env::var(REPLAY_EPOCH_ENV)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(DEFAULT_REPLAY_EPOCH),
            },
            _ => Source::Live(ProcRoot::from_env()),
        }
    }

    /// The root to read `rel` (e.g. `proc/stat`) from for the current sample.
    pub fn root_for(&self, rel: &str) -> ProcRoot {
        match self {
            Source::Live(root) => root.clone(),
            Source::Replay { dir, step, .. } => {
                for k in (0..=*step).rev() {
                    let base = dir.join(k.to_string());
                    if base.join(rel).exists() {
                        return ProcRoot::new(base);
                    }
                }
                ProcRoot::new(dir.join("0"))
            }
        }
    }

    /// Waits `secs` seconds and moves to the next sample.
    pub fn sleep(&mut self, secs: u32) {
        match self {
            Source::Live(_) => std::thread::sleep(Duration::from_secs(u64::from(secs))),
            Source::Replay { step, clock, .. } => {
                *step += 1;
                *clock += i64::from(secs);
            }
        }
    }

    /// Seconds since the epoch now.
    pub fn now(&self) -> i64 {
        match self {
            Source::Live(_) => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            Source::Replay { clock, .. } => *clock,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_overlays_earlier_samples_and_advances_the_clock() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        std::fs::create_dir_all(dir.join("0/proc")).unwrap();
        std::fs::create_dir_all(dir.join("1/proc")).unwrap();
        std::fs::write(dir.join("0/proc/meminfo"), "MemTotal: 1 kB\n").unwrap();
        std::fs::write(dir.join("0/proc/stat"), "cpu 1 2 3 4\n").unwrap();
        std::fs::write(dir.join("1/proc/stat"), "cpu 5 6 7 8\n").unwrap();
        let mut src = Source::Replay {
            dir: dir.clone(),
            step: 0,
            clock: 100,
        };
        src.sleep(2);
        assert_eq!(src.now(), 102);
        assert_eq!(src.root_for("proc/stat").base(), dir.join("1"));
        assert_eq!(src.root_for("proc/meminfo").base(), dir.join("0"));
        src.sleep(1);
        assert_eq!(src.root_for("proc/stat").base(), dir.join("1"));
    }
}
