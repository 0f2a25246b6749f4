//! Running the program once with a fill plan: its environment, standard
//! input replayed, the files its arguments name put back before each run,
//! and the sites its processes list.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::outcome::{Outcome, Status};
use super::sites::{sites_of, Site};
use super::BASE;
use crate::commands::check::options::CheckOptions;
use crate::exit::Exit;

/// How often a run is checked for its end.
const POLL: Duration = Duration::from_millis(5);

/// Named files larger than this are not compared (nor restored).
const FILE_MAX: u64 = 64 << 20;

/// A file the program's command line names: its contents before the
/// first run (`None`: it did not exist).
pub(super) struct NamedFile {
    pub(super) path: PathBuf,
    pub(super) before: Option<Vec<u8>>,
}

pub(super) struct Runner<'a> {
    pub(super) opts: &'a CheckOptions,
    pub(super) runtime: &'a Path,
    pub(super) stdin: Option<Vec<u8>>,
    pub(super) files: Vec<NamedFile>,
    pub(super) dir: tempfile::TempDir,
    pub(super) runs: usize,
    pub(super) cap: usize,
    pub(super) sites: BTreeMap<u64, Site>,
    pub(super) first_pid: Option<u32>,
    /// How long a run may take before it is killed (`None`: no limit).
    pub(super) deadline: Option<Duration>,
    /// The longest run so far.
    pub(super) slowest: Duration,
    /// Runs killed at the deadline.
    pub(super) timed_out: usize,
}

/// The fill plan of one run: sites whose key & mask == value get `alt`,
/// the others [`BASE`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    pub(super) alt: u8,
    pub(super) mask: u64,
    pub(super) value: u64,
}

impl Plan {
    pub(super) fn base() -> Plan {
        Plan {
            alt: BASE,
            mask: 0,
            value: 0,
        }
    }
    pub(super) fn env(&self) -> String {
        format!("{:x}:{:x}:{:x}:{:x}", BASE, self.alt, self.mask, self.value)
    }
    pub(super) fn selects(&self, key: u64) -> bool {
        key & self.mask == self.value
    }
}

impl Runner<'_> {
    pub(super) fn restore_files(&self, contents: &[Option<Vec<u8>>]) -> anyhow::Result<()> {
        for (f, c) in self.files.iter().zip(contents) {
            match c {
                Some(bytes) => std::fs::write(&f.path, bytes)
                    .with_context(|| format!("restoring {}", f.path.display()))?,
                None => match std::fs::remove_file(&f.path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("removing {}", f.path.display()))
                    }
                },
            }
        }
        Ok(())
    }

    pub(super) fn run(&mut self, plan: Plan) -> anyhow::Result<Outcome> {
        let before: Vec<Option<Vec<u8>>> = self.files.iter().map(|f| f.before.clone()).collect();
        self.restore_files(&before)?;
        for e in std::fs::read_dir(self.dir.path())? {
            let _ = std::fs::remove_file(e?.path());
        }
        self.runs += 1;
        let mut preload = self.runtime.as_os_str().to_os_string();
        if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
            preload.push(":");
            preload.push(old);
        }
        let mut cmd = Command::new(&self.opts.program);
        cmd.args(&self.opts.args)
            .env("LD_PRELOAD", preload)
            .env("MEMDX_UNINIT_PLAN", plan.env())
            .env("MEMDX_UNINIT_SITES", self.dir.path())
            .env("MEMDX_NUM_CALLERS", self.opts.num_callers.to_string())
            .env("MEMDX_LEAK_CHECK", "no")
            .env(
                "MEMDX_TRACE_CHILDREN",
                if self.opts.trace_children {
                    "yes"
                } else {
                    "no"
                },
            )
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that a run past its deadline is
            // killed with every process it started.
            .process_group(0);
        // SAFETY: personality is async-signal-safe; nothing else runs
        // between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let cur = libc::personality(0xffff_ffff);
                if cur != -1 {
                    libc::personality(
                        (cur as libc::c_ulong) | libc::ADDR_NO_RANDOMIZE as libc::c_ulong,
                    );
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            let status = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            Exit::new(
                status,
                format!(
                    "memdx check: cannot run '{}': {e}",
                    self.opts.program.to_string_lossy()
                ),
            )
        })?;
        self.first_pid.get_or_insert(child.id());
        let feeder = match (child.stdin.take(), &self.stdin) {
            (Some(mut w), Some(bytes)) => {
                let bytes = bytes.clone();
                Some(std::thread::spawn(move || {
                    let _ = w.write_all(&bytes);
                }))
            }
            _ => None,
        };
        let reader = |pipe: Option<Box<dyn Read + Send>>| {
            pipe.map(|mut p| {
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let _ = p.read_to_end(&mut buf);
                    buf
                })
            })
        };
        let stdout = reader(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let stderr = reader(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let started = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().context("waiting for the program")? {
                break match (s.code(), s.signal()) {
                    (Some(c), _) => Status::Exit(c),
                    (None, Some(s)) => Status::Signal(s),
                    (None, None) => Status::Exit(-1),
                };
            }
            match self.deadline {
                Some(d) if started.elapsed() >= d => {
                    // The run and whatever it started: they are a process
                    // group of their own.
                    // SAFETY: kill has no memory preconditions; the group
                    // is the child's (process_group(0) below).
                    unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
                    let _ = child.kill();
                    let _ = child.wait();
                    self.timed_out += 1;
                    break Status::TimedOut(d.as_secs_f64().ceil() as u64);
                }
                _ => std::thread::sleep(POLL),
            }
        };
        self.slowest = self.slowest.max(started.elapsed());
        if let Some(f) = feeder {
            let _ = f.join();
        }
        let collect = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
            h.and_then(|h| h.join().ok()).unwrap_or_default()
        };
        let out = (collect(stdout), collect(stderr));
        let files = self.files.iter().map(|f| read_small(&f.path)).collect();
        self.read_sites();
        Ok(Outcome {
            stdout: out.0,
            stderr: out.1,
            status,
            files,
        })
    }

    /// Adds the sites the run's processes listed.
    pub(super) fn read_sites(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else {
            return;
        };
        for e in entries.flatten() {
            let Ok(bytes) = std::fs::read(e.path()) else {
                continue;
            };
            for (key, site) in sites_of(&bytes) {
                self.sites.entry(key).or_insert(site);
            }
        }
    }
}

fn read_small(path: &Path) -> Option<Vec<u8>> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > FILE_MAX {
        return None;
    }
    std::fs::read(path).ok()
}

/// The files the program's arguments name (an argument, or the part after
/// `=` of one): existing regular files up to [`FILE_MAX`], and paths that
/// do not exist yet in an existing directory (the program may create them).
pub(super) fn named_files(args: &[OsString]) -> Vec<NamedFile> {
    let mut out: Vec<NamedFile> = Vec::new();
    for a in args {
        let bytes = a.as_bytes();
        let mut candidates = vec![bytes];
        if let Some(eq) = bytes.iter().position(|&b| b == b'=') {
            candidates.push(&bytes[eq + 1..]);
        }
        for c in candidates {
            if c.is_empty() || c.len() > 4096 || c.contains(&b'\n') {
                continue;
            }
            let path = PathBuf::from(OsStr::from_bytes(c));
            if out.iter().any(|f| f.path == path) {
                continue;
            }
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_file() && m.len() <= FILE_MAX => {
                    if let Ok(before) = std::fs::read(&path) {
                        out.push(NamedFile {
                            path,
                            before: Some(before),
                        });
                    }
                }
                Ok(_) => {}
                Err(_) => {
                    let parent = path
                        .parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .unwrap_or(Path::new("."));
                    if c.starts_with(b"-") || !parent.is_dir() {
                        continue;
                    }
                    out.push(NamedFile { path, before: None });
                }
            }
        }
    }
    out
}
