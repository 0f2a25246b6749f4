//! Why kmemleak can or cannot be used here, and what to do about it.
//!
//! Each check reads one thing under the root and says what it found:
//! kernel config (`/proc/config.gz`, `/boot/config-$(uname -r)`), boot
//! command line, debugfs mount, kernel lockdown (securityfs, or the
//! kernel's "Kernel is locked down" log line), the control file itself
//! (EPERM on reading it under lockdown), the kernel log's kmemleak
//! messages, and the effective uid.

use std::io::Read;

use memdx_proc::ProcRoot;
use serde::Serialize;

use crate::error::KernelError;
use crate::kmemleak::REL_PATH;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Not in the way.
    Ok,
    /// Stops kmemleak from being used.
    Blocks,
    /// Could not be determined.
    Unknown,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Short id: `kernel-config`, `boot`, `debugfs`, `lockdown`, `control-file`, `kernel-log`, `user`.
    pub check: &'static str,
    /// Ok, blocks, unknown.
    pub verdict: Verdict,
    /// What was found, and where.
    pub detail: String,
    /// What to do, when something can be done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The whole diagnosis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Whether `memdx kmemleak scan` can work now.
    pub usable: bool,
    /// Every check, in order.
    pub findings: Vec<Finding>,
}

fn finding(
    check: &'static str,
    verdict: Verdict,
    detail: impl Into<String>,
    fix: Option<&str>,
) -> Finding {
    Finding {
        check,
        verdict,
        detail: detail.into(),
        fix: fix.map(str::to_string),
    }
}

/// What a kernel config says about kmemleak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFacts {
    /// Where it was read.
    pub source: String,
    /// `CONFIG_DEBUG_KMEMLEAK=y`.
    pub kmemleak: bool,
    /// `CONFIG_DEBUG_KMEMLEAK_DEFAULT_OFF=y` (needs `kmemleak=on` at boot).
    pub default_off: bool,
    /// `CONFIG_DEBUG_FS=y`.
    pub debugfs: Option<bool>,
}

/// Reads the running kernel's config from `proc/config.gz`, else
/// `boot/config-<release>`.
pub fn read_config(root: &ProcRoot) -> Option<ConfigFacts> {
    let gz = root.path("proc/config.gz");
    let text = std::fs::File::open(&gz)
        .ok()
        .and_then(|f| {
            let mut s = String::new();
            flate2::read::GzDecoder::new(f)
                .read_to_string(&mut s)
                .ok()
                .map(|_| (gz.display().to_string(), s))
        })
        .or_else(|| {
            let release = root.read_to_string("proc/sys/kernel/osrelease").ok()?;
            let path = root.path(&format!("boot/config-{}", release.trim()));
            let s = std::fs::read_to_string(&path).ok()?;
            Some((path.display().to_string(), s))
        })?;
    let (source, text) = text;
    let has = |opt: &str| text.lines().any(|l| l.trim() == format!("{opt}=y"));
    let mentioned = |opt: &str| {
        text.lines()
            .any(|l| l.contains(&format!("{opt}=")) || l.contains(&format!("{opt} is not set")))
    };
    Some(ConfigFacts {
        source,
        kmemleak: has("CONFIG_DEBUG_KMEMLEAK"),
        default_off: has("CONFIG_DEBUG_KMEMLEAK_DEFAULT_OFF"),
        debugfs: mentioned("CONFIG_DEBUG_FS").then(|| has("CONFIG_DEBUG_FS")),
    })
}

/// Mount points of a filesystem type, from `proc/self/mounts` (or `proc/mounts`).
pub fn mount_points(root: &ProcRoot, fstype: &str) -> Option<Vec<String>> {
    let text = root
        .read_to_string("proc/self/mounts")
        .or_else(|_| root.read_to_string("proc/mounts"))
        .ok()?;
    Some(
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 3 && f[2] == fstype).then(|| f[1].replace("\\040", " "))
            })
            .collect(),
    )
}

/// The effective uid from `proc/self/status`.
pub fn effective_uid(root: &ProcRoot) -> Option<u32> {
    let text = root.read_to_string("proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The lockdown mode from `sys/kernel/security/lockdown` (`none [integrity] confidentiality`).
pub fn lockdown_mode(root: &ProcRoot) -> Option<String> {
    let text = root.read_to_string("sys/kernel/security/lockdown").ok()?;
    let start = text.find('[')?;
    let end = text[start..].find(']')? + start;
    Some(text[start + 1..end].to_string())
}

/// Opens a debugfs file for reading without reading from it: lockdown
/// refuses at open (EPERM), and an open has no side effect on debugfs files.
pub fn probe_open(path: &std::path::Path) -> std::io::Result<()> {
    std::fs::File::open(path).map(|_| ())
}

/// The first regular debugfs file (top level, then one level down, by
/// name) that has a write permission bit: lockdown refuses to open such
/// files, so opening one shows lockdown even where kmemleak is absent.
fn writable_debugfs_file(root: &ProcRoot) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let top = root.path("sys/kernel/debug");
    let list = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .map(|r| r.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let writable = |p: &std::path::Path| {
        std::fs::symlink_metadata(p)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o222 != 0)
    };
    let first = list(&top);
    first.iter().find(|p| writable(p)).cloned().or_else(|| {
        first
            .iter()
            .filter(|p| p.is_dir())
            .flat_map(|d| list(d))
            .find(|p| writable(p))
    })
}

type ProbeResult = Option<(std::path::PathBuf, std::io::Result<()>)>;

fn writable_debugfs_probe(
    root: &ProcRoot,
    mounted: bool,
    probe: &dyn Fn(&std::path::Path) -> std::io::Result<()>,
) -> ProbeResult {
    if !mounted {
        return None;
    }
    let file = writable_debugfs_file(root)?;
    let result = probe(&file);
    Some((file, result))
}

/// Runs every check. `kernel_log` is the kernel log text if it could be read
/// (kmsg or dmesg layout), used for lockdown and kmemleak messages.
pub fn diagnose(root: &ProcRoot, kernel_log: Option<&str>) -> Status {
    diagnose_with(root, kernel_log, &probe_open)
}

/// [`diagnose`] with the open probe injected (tests make it answer EPERM,
/// which root cannot get from a plain file).
pub fn diagnose_with(
    root: &ProcRoot,
    kernel_log: Option<&str>,
    probe: &dyn Fn(&std::path::Path) -> std::io::Result<()>,
) -> Status {
    let mut findings = Vec::new();
    let log_lines: Vec<String> = kernel_log
        .map(|t| {
            crate::kmsg::parse_log(t)
                .into_iter()
                .map(|l| l.text)
                .collect()
        })
        .unwrap_or_default();
    let log_has = |needle: &str| log_lines.iter().find(|l| l.contains(needle)).cloned();

    // 1. Kernel config.
    let config = read_config(root);
    let built_without = matches!(&config, Some(c) if !c.kmemleak);
    match &config {
        Some(c) if c.kmemleak => findings.push(finding("kernel-config", Verdict::Ok, format!("CONFIG_DEBUG_KMEMLEAK=y in {}", c.source), None)),
        Some(c) => findings.push(finding(
            "kernel-config",
            Verdict::Blocks,
            format!("the kernel is built without kmemleak: CONFIG_DEBUG_KMEMLEAK is not set in {}", c.source),
            Some("boot a kernel built with CONFIG_DEBUG_KMEMLEAK=y (most distribution kernels are not); without it, `memdx slab --duration 10m` finds kernel caches that keep growing"),
        )),
        None => findings.push(finding(
            "kernel-config",
            Verdict::Unknown,
            format!("no kernel config found ({} or {})", root.path("proc/config.gz").display(), root.path("boot/config-<release>").display()),
            None,
        )),
    }

    // 2. Boot parameters.
    if !built_without {
        let cmdline = root.read_to_string("proc/cmdline").unwrap_or_default();
        let words: Vec<&str> = cmdline.split_whitespace().collect();
        if words.contains(&"kmemleak=off") {
            findings.push(finding(
                "boot",
                Verdict::Blocks,
                "kmemleak is disabled at boot (kmemleak=off on the kernel command line)",
                Some("remove kmemleak=off from the kernel command line and reboot"),
            ));
        } else if config.as_ref().is_some_and(|c| c.default_off) && !words.contains(&"kmemleak=on")
        {
            findings.push(finding("boot", Verdict::Blocks, "kmemleak is off by default in this kernel (CONFIG_DEBUG_KMEMLEAK_DEFAULT_OFF=y) and the kernel command line lacks kmemleak=on", Some("add kmemleak=on to the kernel command line and reboot")));
        }
        if let Some(line) = log_has("kmemleak: Kernel memory leak detector disabled")
            .or_else(|| log_has("kmemleak: Cannot allocate"))
            .or_else(|| log_has("kmemleak: Early log buffer exceeded"))
        {
            findings.push(finding("kernel-log", Verdict::Blocks, format!("kmemleak turned itself off or was turned off; the kernel log says: {line:?}. Commands other than 'clear' now answer EPERM (EBUSY on older kernels)"), Some("reboot to use kmemleak again (if memory ran out, raise CONFIG_DEBUG_KMEMLEAK_MEM_POOL_SIZE)")));
        }
    }

    // 3. Lockdown.
    let debugfs = mount_points(root, "debugfs");
    let debugfs_mounted = match &debugfs {
        Some(points) => points.iter().any(|p| p == "/sys/kernel/debug"),
        None => root.path("sys/kernel/debug").join("kmemleak").exists(),
    };
    let securityfs = mount_points(root, "securityfs").unwrap_or_default();
    let lockdown_line = log_has("Kernel is locked down");
    let locked = match lockdown_mode(root) {
        Some(mode) if mode == "none" => {
            findings.push(finding(
                "lockdown",
                Verdict::Ok,
                "kernel lockdown is off (sys/kernel/security/lockdown: none)",
                None,
            ));
            false
        }
        Some(mode) => {
            findings.push(finding("lockdown", Verdict::Blocks, format!("the kernel is locked down ({mode} mode, per {}): debugfs refuses to open files that are writable, such as kmemleak, with EPERM", root.path("sys/kernel/security/lockdown").display()), Some(LOCKDOWN_FIX)));
            true
        }
        None => {
            let probe_note = writable_debugfs_probe(root, debugfs_mounted, probe);
            let securityfs_note = if securityfs.is_empty() {
                " (securityfs is not mounted, so the mode cannot be read from /sys/kernel/security/lockdown)"
            } else {
                ""
            };
            match (&lockdown_line, probe_note) {
                (Some(line), probe_note) => {
                    let also = match probe_note {
                        Some((file, Err(e))) if e.raw_os_error() == Some(1) => format!(
                            "; opening {} (a writable debugfs file) answered EPERM",
                            file.display()
                        ),
                        _ => String::new(),
                    };
                    findings.push(finding("lockdown", Verdict::Blocks, format!("the kernel is locked down: the kernel log says {:?}{securityfs_note}{also}; debugfs refuses to open writable files such as kmemleak (EPERM)", line.trim()), Some(LOCKDOWN_FIX)));
                    true
                }
                (None, Some((file, Err(e)))) if e.raw_os_error() == Some(1) => {
                    findings.push(finding("lockdown", Verdict::Blocks, format!("opening {} (a writable debugfs file) answered EPERM, which is what kernel lockdown does to writable debugfs files such as kmemleak{securityfs_note}", file.display()), Some(LOCKDOWN_FIX)));
                    true
                }
                (None, Some((file, Ok(())))) => {
                    findings.push(finding(
                        "lockdown",
                        Verdict::Ok,
                        format!(
                            "not locked down: {} (a writable debugfs file) opens",
                            file.display()
                        ),
                        None,
                    ));
                    false
                }
                (None, _) => {
                    let why = if securityfs.is_empty() {
                        "securityfs is not mounted, the kernel log has no lockdown line and no writable debugfs file could be tried"
                    } else {
                        "no lockdown file under securityfs (no lockdown LSM)"
                    };
                    findings.push(finding(
                        "lockdown",
                        Verdict::Unknown,
                        format!("lockdown state not readable: {why}"),
                        None,
                    ));
                    false
                }
            }
        }
    };

    // 4. debugfs and the control file.
    let control = root.path(REL_PATH);
    let mounted = match &debugfs {
        Some(points) if points.iter().any(|p| p == "/sys/kernel/debug") => true,
        Some(points) if !points.is_empty() => {
            findings.push(finding(
                "debugfs",
                Verdict::Blocks,
                format!(
                    "debugfs is mounted at {} but not at /sys/kernel/debug",
                    points.join(", ")
                ),
                Some("mount -t debugfs none /sys/kernel/debug"),
            ));
            false
        }
        Some(_) => {
            let hint = if config.as_ref().and_then(|c| c.debugfs) == Some(false) {
                " (and the kernel has no CONFIG_DEBUG_FS)"
            } else {
                ""
            };
            findings.push(finding(
                "debugfs",
                Verdict::Blocks,
                format!("debugfs is not mounted at /sys/kernel/debug{hint}"),
                Some("as root: mount -t debugfs none /sys/kernel/debug"),
            ));
            false
        }
        None => control.exists(),
    };
    if mounted {
        findings.push(finding(
            "debugfs",
            Verdict::Ok,
            "debugfs is mounted at /sys/kernel/debug",
            None,
        ));
        match probe(&control) {
            Ok(()) => findings.push(finding(
                "control-file",
                Verdict::Ok,
                format!("{} opens for reading", control.display()),
                None,
            )),
            Err(e) => {
                let err = KernelError::io("read", &control, e);
                let verdict = Verdict::Blocks;
                let (detail, fix) = explain_error(&err, built_without, locked);
                findings.push(Finding {
                    check: "control-file",
                    verdict,
                    detail,
                    fix,
                });
            }
        }
    }

    // 5. User.
    match effective_uid(root) {
        Some(0) => findings.push(finding("user", Verdict::Ok, "running as root", None)),
        Some(uid) => findings.push(finding(
            "user",
            Verdict::Blocks,
            format!("not root (effective uid {uid}): /sys/kernel/debug is readable by root only"),
            Some("run memdx kmemleak as root (sudo)"),
        )),
        None => findings.push(finding(
            "user",
            Verdict::Unknown,
            "effective uid unknown (proc/self/status unreadable)",
            None,
        )),
    }

    let usable = findings.iter().all(|f| f.verdict != Verdict::Blocks)
        && findings
            .iter()
            .any(|f| f.check == "control-file" && f.verdict == Verdict::Ok);
    Status { usable, findings }
}

const LOCKDOWN_FIX: &str = "lockdown cannot be lifted at run time: boot with lockdown=none (not possible under Secure Boot on most distributions) or a kernel without forced lockdown";

/// Explains an error from the control file: the detail line and a fix.
/// `built_without` and `locked` are facts the caller already knows.
pub fn explain_error(
    err: &KernelError,
    built_without: bool,
    locked: bool,
) -> (String, Option<String>) {
    const EPERM: i32 = 1;
    const ENOENT: i32 = 2;
    const EACCES: i32 = 13;
    const EBUSY: i32 = 16;
    const EINVAL: i32 = 22;
    let s = |x: &str| Some(x.to_string());
    match err.os_error() {
        Some(EPERM) if locked => (format!("{err}: kernel lockdown refuses writable debugfs files"), s(LOCKDOWN_FIX)),
        Some(EPERM) => (
            format!("{err}: kmemleak is disabled (kmemleak=off at boot, 'off' written, or an internal error turned it off; see 'kmemleak:' lines in dmesg), or kernel lockdown refuses debugfs"),
            s("check `dmesg | grep kmemleak`; a disabled kmemleak comes back only after a reboot"),
        ),
        Some(EBUSY) => (format!("{err}: kmemleak is disabled or busy (older kernels answer EBUSY when it was disabled at boot or by an error)"), s("check `dmesg | grep kmemleak`; reboot with kmemleak=on if it was off")),
        Some(EACCES) => (format!("{err}: permission denied"), s("run as root (sudo)")),
        Some(ENOENT) if built_without => (format!("{err}: the kernel is built without CONFIG_DEBUG_KMEMLEAK"), s("boot a kernel with CONFIG_DEBUG_KMEMLEAK=y")),
        Some(ENOENT) => (format!("{err}: no kmemleak file: the kernel lacks CONFIG_DEBUG_KMEMLEAK or debugfs is not mounted"), s("run `memdx kmemleak status`")),
        Some(EINVAL) => (format!("{err}: the kernel rejected the command"), None),
        _ => (err.to_string(), None),
    }
}
