//! What `memdx heap --pid` needs to know about the process before it
//! touches it: who owns it, whether it may be traced, where its C library
//! and (once loaded) memdx's runtime are mapped, and the addresses of the
//! functions it will make the process call (ELF dynamic symbols read with
//! `object`, plus the load bias from `/proc/PID/maps`).

use std::path::{Path, PathBuf};

use object::{Object, ObjectSegment, ObjectSymbol};

/// Why the process cannot be attached to (each a one-line message).
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("no process {0}")]
    NoProcess(i32),
    #[error(
        "process {pid} belongs to uid {owner}, not to you (uid {me}): run memdx as that user or as root"
    )]
    OtherUser { pid: i32, owner: u32, me: u32 },
    #[error("process {0} is already traced by process {1} (a debugger?): detach it first")]
    Traced(i32, i32),
    #[error(
        "process {0} has no C library mapped (statically linked?): memdx heap --pid needs a dynamically linked program"
    )]
    Static(i32),
    #[error("{path}: cannot read its symbols: {why}")]
    Elf { path: String, why: String },
    #[error("{path} has no '{name}' symbol")]
    NoSymbol { path: String, name: String },
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}")]
    Refused(String),
}

/// One file mapped into the process: the lowest address it is mapped at
/// with file offset 0, and its path.
#[derive(Debug, Clone)]
pub struct Mapped {
    pub start: u64,
    pub ranges: Vec<(u64, u64)>,
    pub path: PathBuf,
}

/// The owner's real uid from `/proc/PID/status`, and its tracer's pid.
pub fn check_owner(pid: i32) -> Result<(), TargetError> {
    let status_path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&status_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            TargetError::NoProcess(pid)
        } else {
            TargetError::Io(status_path.clone(), e)
        }
    })?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<i64>().ok())
    };
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if let Some(owner) = field("Uid:") {
        if me != 0 && owner as u32 != me {
            return Err(TargetError::OtherUser {
                pid,
                owner: owner as u32,
                me,
            });
        }
    }
    if let Some(tracer) = field("TracerPid:") {
        if tracer != 0 {
            return Err(TargetError::Traced(pid, tracer as i32));
        }
    }
    Ok(())
}

/// The files mapped into the process whose name matches `want`.
pub fn mapped(pid: i32, want: impl Fn(&Path) -> bool) -> Result<Option<Mapped>, TargetError> {
    let maps_path = format!("/proc/{pid}/maps");
    let maps = std::fs::read_to_string(&maps_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            TargetError::NoProcess(pid)
        } else if e.kind() == std::io::ErrorKind::PermissionDenied {
            // The kernel checks ptrace access for the maps file too.
            TargetError::Refused(why_refused(pid).replace(
                "ptrace of process",
                &format!("reading {maps_path} (ptrace access) for process"),
            ))
        } else {
            TargetError::Io(maps_path.clone(), e)
        }
    })?;
    let mut found: Option<Mapped> = None;
    for line in maps.lines() {
        let mut it = line.split_whitespace();
        let (Some(range), Some(_perms), Some(offset), Some(_dev), Some(_inode)) =
            (it.next(), it.next(), it.next(), it.next(), it.next())
        else {
            continue;
        };
        let path: String = it.collect::<Vec<_>>().join(" ");
        if !path.starts_with('/') || !want(Path::new(&path)) {
            continue;
        }
        let Some((lo, hi)) = range.split_once('-') else {
            continue;
        };
        let (Ok(lo), Ok(hi), Ok(off)) = (
            u64::from_str_radix(lo, 16),
            u64::from_str_radix(hi, 16),
            u64::from_str_radix(offset, 16),
        ) else {
            continue;
        };
        let m = found.get_or_insert_with(|| Mapped {
            start: u64::MAX,
            ranges: Vec::new(),
            path: PathBuf::from(&path),
        });
        if m.path != Path::new(&path) {
            continue;
        }
        m.ranges.push((lo, hi));
        if off == 0 {
            m.start = m.start.min(lo);
        }
    }
    Ok(found.filter(|m| m.start != u64::MAX))
}

/// Whether `p` names the C library (`libc.so.6`, `libc-2.31.so`).
pub fn is_libc(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == "libc.so.6" || (n.starts_with("libc-") && n.ends_with(".so")))
}

/// Whether `p` names the dynamic loader.
pub fn is_loader(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("ld-linux") || n.starts_with("ld-2."))
}

/// The address in the process of the first of `names` that `m`'s file
/// defines (a dynamic symbol), and which one it was.
pub fn symbol(pid: i32, m: &Mapped, names: &[&str]) -> Result<(u64, String), TargetError> {
    // The process's view of the file (another mount namespace), else ours.
    let inside = PathBuf::from(format!("/proc/{pid}/root"))
        .join(m.path.strip_prefix("/").unwrap_or(&m.path));
    let shown = m.path.display().to_string();
    let data = std::fs::read(&inside)
        .or_else(|_| std::fs::read(&m.path))
        .map_err(|e| TargetError::Io(shown.clone(), e))?;
    let file = object::File::parse(&*data).map_err(|e| TargetError::Elf {
        path: shown.clone(),
        why: e.to_string(),
    })?;
    // The load bias: where the segment at file offset 0 was mapped, less
    // its link-time address.
    let first = file
        .segments()
        .find(|s| s.file_range().0 == 0)
        .map_or(0, |s| s.address() & !0xfff);
    let bias = m.start.wrapping_sub(first);
    for want in names {
        for s in file.dynamic_symbols() {
            if s.is_definition() && s.name().is_ok_and(|n| n == *want) && s.address() != 0 {
                return Ok((bias.wrapping_add(s.address()), (*want).to_string()));
            }
        }
    }
    Err(TargetError::NoSymbol {
        path: shown,
        name: names.join("' or '"),
    })
}

/// The kernel's Yama setting, when the module is there.
pub fn ptrace_scope() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// The message for a refused `PTRACE_SEIZE` (EPERM), naming what forbids it.
pub fn why_refused(pid: i32) -> String {
    let base = format!("ptrace of process {pid} was refused (EPERM)");
    match ptrace_scope() {
        Some(3) => format!("{base}: kernel.yama.ptrace_scope is 3 (no process may be traced until reboot)"),
        Some(2) => format!("{base}: kernel.yama.ptrace_scope is 2 (only with CAP_SYS_PTRACE): run memdx as root"),
        Some(1) => format!(
            "{base}: kernel.yama.ptrace_scope is 1 (only descendants may be traced): run memdx as root, \
             set it to 0 (sysctl kernel.yama.ptrace_scope=0), or have the program allow it with prctl(PR_SET_PTRACER)"
        ),
        _ => format!(
            "{base}: the process is not dumpable, runs with other credentials, or a seccomp filter or \
             security module forbids ptrace; run memdx as root"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_c_library_and_the_loader_are_told_by_name() {
        assert!(is_libc(Path::new("/usr/lib/x86_64-linux-gnu/libc.so.6")));
        assert!(is_libc(Path::new("/lib/libc-2.31.so")));
        assert!(!is_libc(Path::new("/usr/lib/libcrypt.so.1")));
        assert!(!is_libc(Path::new("/usr/lib/libc++.so.1")));
        assert!(is_loader(Path::new("/lib64/ld-linux-x86-64.so.2")));
        assert!(!is_loader(Path::new("/usr/lib/libld.so")));
    }

    #[test]
    fn this_process_s_malloc_is_found_where_it_is() {
        let me = std::process::id() as i32;
        let libc_map = mapped(me, is_libc).unwrap().expect("libc is mapped");
        let (addr, name) = symbol(me, &libc_map, &["malloc"]).unwrap();
        assert_eq!(name, "malloc");
        let ours = libc::malloc as *const () as usize as u64;
        assert_eq!(addr, ours);
    }
}
