//! Per-process memory: `/proc/PID/{status,smaps_rollup,cmdline,cgroup}`.
//!
//! Processes come and go while we read. A process that vanishes between the
//! directory listing and the read of any of its files is not an error:
//! [`read_process`] returns `Ok(None)` and callers skip it silently. A file
//! we may not read (another user's `smaps_rollup` without
//! CAP_SYS_PTRACE) leaves the fields it would have given as `None` and sets
//! [`ProcessMemory::smaps_denied`], so views can say why a column is blank.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use crate::error::{ProcError, Result};
use crate::root::ProcRoot;

/// What to read per process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Read `smaps_rollup` for PSS, USS and swap (costs a page-table walk in
    /// the kernel per process).
    pub smaps: bool,
    /// Read `cgroup`.
    pub cgroup: bool,
    /// Read `stat` for CPU time (top's %CPU).
    pub cpu: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            smaps: true,
            cgroup: true,
            cpu: false,
        }
    }
}

/// One process's memory, in bytes, as the kernel reported it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessMemory {
    /// Process id.
    pub pid: u32,
    /// Parent process id (`PPid:`).
    pub ppid: u32,
    /// Real user id (first field of `Uid:`).
    pub uid: u32,
    /// `Name:` (the kernel's 15-character comm).
    pub name: String,
    /// `State:` letter (R, S, D, Z, ...).
    pub state: char,
    /// Command line with NULs as spaces; empty for kernel threads and zombies.
    pub cmdline: String,
    /// `VmSize:` — virtual size. `None` for kernel threads.
    pub vsz: Option<u64>,
    /// `VmRSS:` — resident set size.
    pub rss: Option<u64>,
    /// `RssFile: + RssShmem:` — resident shared pages, as top's SHR.
    pub shr: Option<u64>,
    /// `RssAnon:`.
    pub rss_anon: Option<u64>,
    /// `VmSwap:` from status (readable by everyone).
    pub swap_status: Option<u64>,
    /// `Pss:` from smaps_rollup.
    pub pss: Option<u64>,
    /// `Private_Clean: + Private_Dirty: (+ Private_Hugetlb:)` — unique set size.
    pub uss: Option<u64>,
    /// `Swap:` from smaps_rollup.
    pub swap: Option<u64>,
    /// `SwapPss:` from smaps_rollup (kernel 4.3+).
    pub swap_pss: Option<u64>,
    /// Whether smaps_rollup existed but we were not allowed to read it.
    pub smaps_denied: bool,
    /// utime + stime from `stat`, in clock ticks (when asked for).
    pub cpu_ticks: Option<u64>,
    /// The cgroup path the process's memory is charged to (see
    /// [`parse_cgroup`]); `None` when not read or not available.
    pub cgroup: Option<String>,
}

/// Lists the pids under `proc/`, in ascending order.
pub fn list_pids(root: &ProcRoot) -> Result<Vec<u32>> {
    let dir = root.path("proc");
    let entries = std::fs::read_dir(&dir).map_err(|source| ProcError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

enum Read2 {
    Ok,
    Gone,
    Denied,
}

/// Reads `path` into `buf` (cleared first). Vanished processes answer
/// ENOENT or ESRCH; both mean "gone".
fn read_into(path: &Path, buf: &mut Vec<u8>) -> std::result::Result<Read2, std::io::Error> {
    buf.clear();
    let res = File::open(path).and_then(|mut f| f.read_to_end(buf));
    match res {
        Ok(_) => Ok(Read2::Ok),
        Err(e) if e.kind() == ErrorKind::NotFound || e.raw_os_error() == Some(3) => Ok(Read2::Gone),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => Ok(Read2::Denied),
        Err(e) => Err(e),
    }
}

/// Parses a `Key:   123 kB` value in a status-like file, returning bytes.
fn kb_field(line: &[u8], key: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(key)?.strip_prefix(b":")?;
    let text = std::str::from_utf8(rest).ok()?;
    let mut words = text.split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    Some(match words.next() {
        Some("kB") => value * 1024,
        _ => value,
    })
}

fn text_field<'a>(line: &'a [u8], key: &[u8]) -> Option<&'a str> {
    let rest = line.strip_prefix(key)?.strip_prefix(b":")?;
    std::str::from_utf8(rest).ok().map(str::trim)
}

fn parse_status(text: &[u8], p: &mut ProcessMemory) {
    let (mut rss_file, mut rss_shmem) = (None, None);
    for line in text.split(|&b| b == b'\n') {
        if let Some(name) = text_field(line, b"Name") {
            p.name = name.to_string();
        } else if let Some(state) = text_field(line, b"State") {
            p.state = state.chars().next().unwrap_or('?');
        } else if let Some(ppid) = text_field(line, b"PPid") {
            p.ppid = ppid.parse().unwrap_or(0);
        } else if let Some(uids) = text_field(line, b"Uid") {
            p.uid = uids
                .split_whitespace()
                .next()
                .and_then(|u| u.parse().ok())
                .unwrap_or(0);
        } else if let Some(v) = kb_field(line, b"VmSize") {
            p.vsz = Some(v);
        } else if let Some(v) = kb_field(line, b"VmRSS") {
            p.rss = Some(v);
        } else if let Some(v) = kb_field(line, b"RssAnon") {
            p.rss_anon = Some(v);
        } else if let Some(v) = kb_field(line, b"RssFile") {
            rss_file = Some(v);
        } else if let Some(v) = kb_field(line, b"RssShmem") {
            rss_shmem = Some(v);
        } else if let Some(v) = kb_field(line, b"VmSwap") {
            p.swap_status = Some(v);
        }
    }
    p.shr = match (rss_file, rss_shmem) {
        (None, None) => None,
        (f, s) => Some(f.unwrap_or(0) + s.unwrap_or(0)),
    };
}

fn parse_smaps_rollup(text: &[u8], p: &mut ProcessMemory) {
    let mut private = None::<u64>;
    for line in text.split(|&b| b == b'\n') {
        if let Some(v) = kb_field(line, b"Pss") {
            p.pss = Some(v);
        } else if let Some(v) = kb_field(line, b"Private_Clean")
            .or_else(|| kb_field(line, b"Private_Dirty"))
            .or_else(|| kb_field(line, b"Private_Hugetlb"))
        {
            *private.get_or_insert(0) += v;
        } else if let Some(v) = kb_field(line, b"Swap") {
            p.swap = Some(v);
        } else if let Some(v) = kb_field(line, b"SwapPss") {
            p.swap_pss = Some(v);
        }
    }
    p.uss = private;
}

/// utime + stime (fields 14 and 15) of `/proc/PID/stat`. The command name
/// in parentheses may itself contain spaces and parentheses, so fields are
/// counted after the last `)`.
fn parse_stat_cpu_ticks(text: &[u8]) -> Option<u64> {
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&text[close + 1..]).ok()?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Picks the cgroup a process's memory is charged to from `/proc/PID/cgroup`:
/// the cgroup v1 `memory` controller's path when it is mounted and not the
/// root, otherwise the unified (v2, `0::`) path, otherwise the
/// `name=systemd` path.
pub fn parse_cgroup(text: &str) -> Option<String> {
    let (mut v1_memory, mut v2, mut systemd) = (None, None, None);
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            v2 = Some(path);
        } else if controllers.split(',').any(|c| c == "memory") {
            v1_memory = Some(path);
        } else if controllers == "name=systemd" {
            systemd = Some(path);
        }
    }
    let pick = match (v1_memory, v2) {
        (Some(m), _) if m != "/" => Some(m),
        (_, Some(u)) if u != "/" => Some(u),
        (Some(m), _) => Some(m),
        (None, Some(u)) => Some(u),
        (None, None) => systemd,
    };
    pick.map(str::to_string)
}

/// Reads one process. `Ok(None)` when it vanished while being read.
pub fn read_process(
    root: &ProcRoot,
    pid: u32,
    opts: ReadOptions,
    buf: &mut Vec<u8>,
) -> Result<Option<ProcessMemory>> {
    let dir: PathBuf = root.path(&format!("proc/{pid}"));
    let io_err = |path: PathBuf, source| ProcError::Io { path, source };
    let mut p = ProcessMemory {
        pid,
        state: '?',
        ..Default::default()
    };

    let path = dir.join("status");
    match read_into(&path, buf).map_err(|e| io_err(path.clone(), e))? {
        Read2::Ok => parse_status(buf, &mut p),
        Read2::Gone => return Ok(None),
        Read2::Denied => return Err(io_err(path, ErrorKind::PermissionDenied.into())),
    }
    if p.name.is_empty() {
        // An empty status means the process exited between open and read.
        return Ok(None);
    }

    let path = dir.join("cmdline");
    match read_into(&path, buf).map_err(|e| io_err(path.clone(), e))? {
        Read2::Ok => {
            while buf.last() == Some(&0) {
                buf.pop();
            }
            p.cmdline = String::from_utf8_lossy(buf).replace('\0', " ");
        }
        Read2::Gone => return Ok(None),
        Read2::Denied => {}
    }

    if opts.smaps && p.vsz.is_some() {
        let path = dir.join("smaps_rollup");
        match read_into(&path, buf).map_err(|e| io_err(path.clone(), e))? {
            Read2::Ok if !buf.is_empty() => parse_smaps_rollup(buf, &mut p),
            Read2::Ok => {}
            Read2::Gone => return Ok(None),
            Read2::Denied => p.smaps_denied = true,
        }
    }

    if opts.cpu {
        let path = dir.join("stat");
        match read_into(&path, buf).map_err(|e| io_err(path.clone(), e))? {
            Read2::Ok => p.cpu_ticks = parse_stat_cpu_ticks(buf),
            Read2::Gone => return Ok(None),
            Read2::Denied => {}
        }
    }

    if opts.cgroup {
        let path = dir.join("cgroup");
        match read_into(&path, buf).map_err(|e| io_err(path.clone(), e))? {
            Read2::Ok => p.cgroup = parse_cgroup(&String::from_utf8_lossy(buf)),
            Read2::Gone => return Ok(None),
            Read2::Denied => {}
        }
    }
    Ok(Some(p))
}

/// Reads every process under the root, skipping those that vanish. Errors
/// other than "vanished" and "permission denied" on optional files abort.
///
/// The kernel generates each file on read, so the work is CPU-bound in the
/// kernel: the pid list is split across the available cores.
pub fn read_all(root: &ProcRoot, opts: ReadOptions) -> Result<Vec<ProcessMemory>> {
    let pids = list_pids(root)?;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(pids.len().div_ceil(64).max(1));
    let chunk = pids.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<ProcessMemory>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = pids
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut buf = Vec::with_capacity(4096);
                    let mut out = Vec::with_capacity(part.len());
                    for &pid in part {
                        if let Some(p) = read_process(root, pid, opts, &mut buf)? {
                            out.push(p);
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(pids.len());
    for part in results {
        all.extend(part?);
    }
    Ok(all)
}

/// User names from `etc/passwd` under the root (`uid → name`). A missing
/// or unreadable passwd file yields an empty map (views then print uids).
pub fn read_users(root: &ProcRoot) -> std::collections::HashMap<u32, String> {
    let Ok(text) = std::fs::read_to_string(root.path("etc/passwd")) else {
        return Default::default();
    };
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((uid, name.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_gives_sizes_in_bytes_and_shared_as_file_plus_shmem() {
        let mut p = ProcessMemory::default();
        parse_status(
            b"Name:\tbash\nState:\tS (sleeping)\nPPid:\t1\nUid:\t1000\t1000\t1000\t1000\nVmSize:\t    3920 kB\nVmRSS:\t    2000 kB\nRssAnon:\t     180 kB\nRssFile:\t    1800 kB\nRssShmem:\t      20 kB\nVmSwap:\t       8 kB\n",
            &mut p,
        );
        assert_eq!(
            (p.name.as_str(), p.state, p.ppid, p.uid),
            ("bash", 'S', 1, 1000)
        );
        assert_eq!(p.vsz, Some(3920 * 1024));
        assert_eq!(p.rss, Some(2000 * 1024));
        assert_eq!(p.shr, Some(1820 * 1024));
        assert_eq!(p.swap_status, Some(8 * 1024));
    }

    #[test]
    fn cpu_ticks_survive_parentheses_in_the_command_name() {
        let stat = b"4242 (we(ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 17 0 0 20 0 1 0 500 3920000 500 18446744073709551615";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(267));
    }

    #[test]
    fn kernel_threads_have_no_sizes() {
        let mut p = ProcessMemory::default();
        parse_status(
            b"Name:\tkthreadd\nState:\tS (sleeping)\nPPid:\t0\nUid:\t0\t0\t0\t0\n",
            &mut p,
        );
        assert_eq!((p.vsz, p.rss, p.shr), (None, None, None));
    }

    #[test]
    fn uss_is_private_clean_plus_dirty() {
        let mut p = ProcessMemory::default();
        parse_smaps_rollup(
            b"55f0108a7000-7ffdd2e15000 ---p 00000000 00:00 0    [rollup]\nRss:  1724 kB\nPss:   359 kB\nPss_Dirty: 112 kB\nShared_Clean: 1564 kB\nPrivate_Clean: 48 kB\nPrivate_Dirty: 112 kB\nSwap: 4 kB\nSwapPss: 2 kB\n",
            &mut p,
        );
        assert_eq!(p.pss, Some(359 * 1024));
        assert_eq!(p.uss, Some(160 * 1024));
        assert_eq!(p.swap, Some(4 * 1024));
        assert_eq!(p.swap_pss, Some(2 * 1024));
    }

    #[test]
    fn cgroup_prefers_v1_memory_then_unified() {
        let hybrid = "9:name=systemd:/\n4:memory:/process_api/aa7b\n0::/\n";
        assert_eq!(parse_cgroup(hybrid).as_deref(), Some("/process_api/aa7b"));
        let v2 = "0::/system.slice/docker-3f2a.scope\n";
        assert_eq!(
            parse_cgroup(v2).as_deref(),
            Some("/system.slice/docker-3f2a.scope")
        );
        let v1_root = "4:memory:/\n1:name=systemd:/user.slice\n";
        assert_eq!(parse_cgroup(v1_root).as_deref(), Some("/"));
        assert_eq!(parse_cgroup("").as_deref(), None);
    }
}
