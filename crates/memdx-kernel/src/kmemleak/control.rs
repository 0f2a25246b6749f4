//! Driving `/sys/kernel/debug/kmemleak`: commands, and the scan sequence
//! kernel fuzzers use to get reports without false positives.
//!
//! kmemleak reports an object only when it is older than its minimum age
//! (`MSECS_MIN_AGE`, 5 s) at the time of a scan *and* its contents checksum
//! did not change since the previous scan. So one scan right after a test
//! misses young objects and reports objects still being written. The
//! reliable sequence is: scan, wait past the minimum age, scan again, read.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use memdx_proc::ProcRoot;

use crate::error::{KernelError, Result};
use crate::kmemleak::REL_PATH;

/// kmemleak's minimum object age before it reports anything (`MSECS_MIN_AGE`).
pub const MIN_AGE: Duration = Duration::from_secs(5);

/// Default wait between the two scans: the minimum age plus a second for
/// jiffies rounding and scheduling.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(6);

/// The kmemleak control file: commands are written, reports are read.
pub trait Control {
    /// Writes one command (`scan`, `clear`, `stack=off`, ...).
    fn write(&mut self, command: &str) -> Result<()>;
    /// Reads the current report.
    fn read(&mut self) -> Result<String>;
}

pub use crate::wait::{Sleep, Wait};

/// The debugfs file under a root.
#[derive(Debug, Clone)]
pub struct DebugfsControl {
    path: PathBuf,
}

impl DebugfsControl {
    /// The control file under `root` (`sys/kernel/debug/kmemleak`).
    pub fn new(root: &ProcRoot) -> Self {
        Self {
            path: root.path(REL_PATH),
        }
    }

    /// The control file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Control for DebugfsControl {
    fn write(&mut self, command: &str) -> Result<()> {
        let action = format!("write '{command}' to");
        // No create, no truncate: the kernel file exists and ignores offsets.
        // One write() call: kmemleak reads each command from one write.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(|e| KernelError::io(action.clone(), &self.path, e))?;
        file.write_all(command.as_bytes())
            .map_err(|e| KernelError::io(action, &self.path, e))
    }

    fn read(&mut self) -> Result<String> {
        crate::error::read_text(&self.path)
    }
}

/// A control command memdx passes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `clear`: forget the objects reported so far.
    Clear,
    /// `off`: disable kmemleak until reboot.
    Off,
    /// `stack=on` / `stack=off`: scan task stacks or not.
    Stack(bool),
    /// `scan=SECONDS`: period of the automatic scan thread (0 stops it).
    ScanPeriod(u32),
    /// `scan=on` / `scan=off`: start or stop the automatic scan thread.
    ScanThread(bool),
}

impl Command {
    /// The text written to the control file.
    pub fn text(&self) -> String {
        let on_off = |b: bool| if b { "on" } else { "off" };
        match self {
            Command::Clear => "clear".into(),
            Command::Off => "off".into(),
            Command::Stack(b) => format!("stack={}", on_off(*b)),
            Command::ScanPeriod(s) => format!("scan={s}"),
            Command::ScanThread(b) => format!("scan={}", on_off(*b)),
        }
    }
}

/// How `memdx kmemleak scan` runs.
#[derive(Debug, Clone, Copy)]
pub struct ScanPlan {
    /// Write `clear` first, so reports from before the test are dropped.
    pub clear_first: bool,
    /// Wait between the two scans (at least [`MIN_AGE`] to be reliable).
    pub wait: Duration,
    /// When the report is not empty, wait and scan once more before reading
    /// again: objects that were only briefly unreferenced (a pointer in
    /// flight) are no longer listed after a later scan finds a reference.
    pub confirm: bool,
}

impl Default for ScanPlan {
    fn default() -> Self {
        Self {
            clear_first: false,
            wait: DEFAULT_WAIT,
            confirm: false,
        }
    }
}

/// Runs the scan sequence and returns the report text:
/// `[clear,] scan, wait, scan, read`, and with `confirm`, when that read
/// lists anything: `wait, scan, read` once more.
pub fn scan(control: &mut dyn Control, waiter: &mut dyn Wait, plan: &ScanPlan) -> Result<String> {
    if plan.clear_first {
        control.write("clear")?;
    }
    control.write("scan")?;
    waiter.wait(plan.wait);
    control.write("scan")?;
    let report = control.read()?;
    if !plan.confirm || report.trim().is_empty() {
        return Ok(report);
    }
    waiter.wait(plan.wait);
    control.write("scan")?;
    control.read()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_texts_are_what_the_kernel_accepts() {
        assert_eq!(Command::Stack(false).text(), "stack=off");
        assert_eq!(Command::ScanPeriod(600).text(), "scan=600");
        assert_eq!(Command::ScanThread(true).text(), "scan=on");
    }

    #[test]
    fn debugfs_control_writes_without_creating_the_file() {
        let dir = std::env::temp_dir().join(format!("memdx-kernel-ctl-{}", std::process::id()));
        let root = ProcRoot::new(&dir);
        let mut ctl = DebugfsControl::new(&root);
        let err = ctl.write("scan").unwrap_err();
        assert!(err.is_not_found());
        assert!(err.to_string().contains("write 'scan' to"), "{err}");
        assert!(!ctl.path().exists());
        std::fs::create_dir_all(ctl.path().parent().unwrap()).unwrap();
        std::fs::write(ctl.path(), "").unwrap();
        ctl.write("stack=off").unwrap();
        assert_eq!(ctl.read().unwrap(), "stack=off");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
