//! Resident size of every process, cheaply enough to run every second on a
//! machine with thousands of processes.
//!
//! Opening `/proc/PID/statm` costs a path walk in the kernel; reading it
//! again from offset 0 regenerates it. [`StatmReader`] keeps one open file
//! per process and re-reads it with `pread`, so a sample costs one
//! directory listing plus one `pread` per process. An open statm file
//! belongs to the process, not to the pid: once the process exits the read
//! fails or returns nothing, so a reused pid is never confused with the old
//! process. The process's comm is read once, when its file is opened (a
//! later `exec` that renames the process is not seen).

use std::collections::HashMap;
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;

use crate::error::{ProcError, Result};
use crate::process::list_pids;
use crate::root::ProcRoot;

/// One process's resident size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resident {
    /// Process id.
    pub pid: u32,
    /// The kernel's comm (`/proc/PID/comm`, without the newline).
    pub comm: String,
    /// Resident set size in bytes (statm's second field × page size).
    pub rss: u64,
}

struct Tracked {
    /// `None` when no descriptor was left to keep it open: read by path.
    file: Option<File>,
    comm: String,
}

/// Reads every process's resident size, keeping the statm files open
/// between calls.
pub struct StatmReader {
    root: ProcRoot,
    page_size: u64,
    tracked: HashMap<u32, Tracked>,
    /// How many files this reader keeps open at most (the rest are opened
    /// and closed on each read).
    max_open: usize,
}

impl StatmReader {
    /// A reader of the processes under `root`, keeping at most `max_open`
    /// files open.
    pub fn new(root: ProcRoot, max_open: usize) -> Self {
        Self {
            root,
            page_size: crate::sysconf::page_size(),
            tracked: HashMap::new(),
            max_open,
        }
    }

    /// How many statm files are open now.
    pub fn open_files(&self) -> usize {
        self.tracked.values().filter(|t| t.file.is_some()).count()
    }

    /// Every live process's resident size, in pid order. Processes that
    /// exit while being read and kernel threads' empty statm are skipped.
    pub fn read_all(&mut self) -> Result<Vec<Resident>> {
        let pids = list_pids(&self.root)?;
        let mut out = Vec::with_capacity(pids.len());
        let mut buf = [0u8; 128];
        let mut open = self.open_files();
        let listed: std::collections::HashSet<u32> = pids.iter().copied().collect();
        self.tracked.retain(|pid, _| listed.contains(pid));
        for pid in pids {
            let mut fresh = false;
            if !self.tracked.contains_key(&pid) {
                let Some(tracked) = self.open(pid, open < self.max_open)? else {
                    continue;
                };
                open += usize::from(tracked.file.is_some());
                self.tracked.insert(pid, tracked);
                fresh = true;
            }
            let Some(tracked) = self.tracked.get(&pid) else {
                continue;
            };
            let len = match &tracked.file {
                Some(f) => f.read_at(&mut buf, 0),
                None => File::open(self.statm_path(pid)).and_then(|f| f.read_at(&mut buf, 0)),
            };
            let rss = match len {
                Ok(n) if n > 0 => parse_resident(&buf[..n]),
                _ => None,
            };
            match rss {
                Some(pages) => out.push(Resident {
                    pid,
                    comm: tracked.comm.clone(),
                    rss: pages * self.page_size,
                }),
                None => {
                    // Exited (or the pid now belongs to a new process, which
                    // the next call opens afresh).
                    if !fresh {
                        self.tracked.remove(&pid);
                    }
                }
            }
        }
        Ok(out)
    }

    fn statm_path(&self, pid: u32) -> std::path::PathBuf {
        self.root.path(&format!("proc/{pid}/statm"))
    }

    /// Opens a new process's statm (kept open when `keep`) and reads its
    /// comm; `Ok(None)` when it is already gone.
    fn open(&self, pid: u32, keep: bool) -> Result<Option<Tracked>> {
        let comm_path = self.root.path(&format!("proc/{pid}/comm"));
        let comm = match std::fs::read(&comm_path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes)
                .trim_end_matches('\n')
                .to_string(),
            Err(e) if gone(&e) => return Ok(None),
            Err(source) => {
                return Err(ProcError::Io {
                    path: comm_path,
                    source,
                })
            }
        };
        if !keep {
            return Ok(Some(Tracked { file: None, comm }));
        }
        let path = self.statm_path(pid);
        match File::open(&path) {
            Ok(file) => Ok(Some(Tracked {
                file: Some(file),
                comm,
            })),
            Err(e) if gone(&e) => Ok(None),
            // Out of descriptors: read this one by path each time.
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
                Ok(Some(Tracked { file: None, comm }))
            }
            Err(source) => Err(ProcError::Io { path, source }),
        }
    }
}

/// One process's resident size in bytes (statm's second field × page
/// size): an open and one read, no page-table walk. `Ok(None)` when the
/// process is gone (or a zombie, whose statm is all zeros and reads as 0).
pub fn resident_bytes(root: &ProcRoot, pid: u32) -> Result<Option<u64>> {
    let path = root.path(&format!("proc/{pid}/statm"));
    let mut buf = [0u8; 128];
    let n = match File::open(&path).and_then(|f| f.read_at(&mut buf, 0)) {
        Ok(n) => n,
        Err(e) if gone(&e) => return Ok(None),
        Err(source) => return Err(ProcError::Io { path, source }),
    };
    Ok(parse_resident(&buf[..n]).map(|pages| pages * crate::sysconf::page_size()))
}

fn gone(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH)
}

/// statm: `size resident shared text lib data dt`, in pages.
fn parse_resident(bytes: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(bytes).ok()?;
    text.split_ascii_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process_resident_size_is_read_and_a_missing_one_is_none() {
        let own = resident_bytes(&ProcRoot::live(), std::process::id())
            .unwrap()
            .unwrap();
        // This test binary has at least its code resident.
        assert!(
            own >= 4096 && own % crate::sysconf::page_size() == 0,
            "{own}"
        );
        let dir = std::env::temp_dir().join(format!("memdx-statm1-{}", std::process::id()));
        assert_eq!(resident_bytes(&ProcRoot::new(&dir), 1).unwrap(), None);
        std::fs::create_dir_all(dir.join("proc/1")).unwrap();
        std::fs::write(dir.join("proc/1/statm"), "4142 3379 1661 1 0 2020 0\n").unwrap();
        let got = resident_bytes(&ProcRoot::new(&dir), 1).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got, Some(3379 * crate::sysconf::page_size()));
    }

    #[test]
    fn parses_the_resident_field() {
        assert_eq!(parse_resident(b"4142 3379 1661 1 0 2020 0\n"), Some(3379));
        assert_eq!(parse_resident(b""), None);
        assert_eq!(parse_resident(b"12\n"), None);
    }

    #[test]
    fn reads_this_process_and_sees_it_grow() {
        let mut reader = StatmReader::new(ProcRoot::live(), 10_000);
        let me = std::process::id();
        let before = reader.read_all().expect("read");
        let rss_before = before
            .iter()
            .find(|r| r.pid == me)
            .expect("self listed")
            .rss;
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        let after = reader.read_all().expect("read");
        let rss_after = after.iter().find(|r| r.pid == me).expect("self listed").rss;
        assert!(
            rss_after >= rss_before + (60 << 20),
            "{rss_before} -> {rss_after} after touching 64 MiB (re-read of a kept file)"
        );
        assert!(reader.open_files() > 0);
    }

    #[test]
    fn an_exited_process_disappears_and_its_file_is_closed() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id();
        // The child is `sleep` once it has exec'd (before, it bears the
        // test thread's name).
        let started = std::time::Instant::now();
        while std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map_or(true, |c| c.trim() != "sleep")
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "sleep did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let mut reader = StatmReader::new(ProcRoot::live(), 10_000);
        let first = reader.read_all().expect("read");
        let entry = first.iter().find(|r| r.pid == pid).expect("child listed");
        assert_eq!(entry.comm, "sleep");
        child.kill().expect("kill");
        child.wait().expect("reap");
        let second = reader.read_all().expect("read");
        assert!(second.iter().all(|r| r.pid != pid));
        assert!(!reader.tracked.contains_key(&pid));
    }

    #[test]
    fn with_no_descriptors_to_spare_it_reads_by_path() {
        let mut reader = StatmReader::new(ProcRoot::live(), 0);
        let all = reader.read_all().expect("read");
        assert!(all.iter().any(|r| r.pid == std::process::id() && r.rss > 0));
        assert_eq!(reader.open_files(), 0);
    }
}
