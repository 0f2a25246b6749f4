//! `kmemleak status` diagnoses on fake root trees, one per situation the
//! issue lists: no CONFIG_DEBUG_KMEMLEAK, disabled at boot or by an error,
//! debugfs not mounted, lockdown (securityfs or kernel log), EPERM on
//! reading, not root; and a tree where everything is in place.

// Test helpers outside #[test] fns panic on purpose, like the tests.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};

use memdx_kernel::kmemleak::status::{diagnose, diagnose_with, Finding, Status, Verdict};
use memdx_proc::ProcRoot;

struct Tree(PathBuf);

impl Tree {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("memdx-status-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tree(dir)
    }
    fn file(&self, rel: &str, text: &str) -> &Self {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }
    fn gz(&self, rel: &str, text: &str) -> &Self {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(p).unwrap(),
            flate2::Compression::default(),
        );
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
        self
    }
    fn root(&self) -> ProcRoot {
        ProcRoot::new(&self.0)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const MOUNTS_BARE: &str = "proc /proc proc rw,relatime 0 0\nsysfs /sys sysfs rw,relatime 0 0\n/dev/vda / ext4 rw,relatime 0 0\n";
const MOUNTS_DEBUGFS: &str = "proc /proc proc rw,relatime 0 0\nsysfs /sys sysfs rw,relatime 0 0\nsecurityfs /sys/kernel/security securityfs rw,nosuid,nodev,noexec,relatime 0 0\ndebugfs /sys/kernel/debug debugfs rw,nosuid,nodev,noexec,relatime 0 0\n";
const STATUS_ROOT: &str = "Name:\tmemdx\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n";
const STATUS_USER: &str =
    "Name:\tmemdx\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n";
const CONFIG_NO: &str = "CONFIG_DEBUG_FS=y\nCONFIG_HAVE_DEBUG_KMEMLEAK=y\n# CONFIG_DEBUG_KMEMLEAK is not set\nCONFIG_SECURITY_LOCKDOWN_LSM=y\n";
const CONFIG_YES: &str = "CONFIG_DEBUG_FS=y\nCONFIG_HAVE_DEBUG_KMEMLEAK=y\nCONFIG_DEBUG_KMEMLEAK=y\nCONFIG_DEBUG_KMEMLEAK_MEM_POOL_SIZE=16000\n# CONFIG_DEBUG_KMEMLEAK_DEFAULT_OFF is not set\n";

fn find<'a>(s: &'a Status, check: &str) -> &'a Finding {
    s.findings
        .iter()
        .find(|f| f.check == check)
        .unwrap_or_else(|| panic!("no {check} finding in {s:#?}"))
}

/// What a locked-down kernel answers when opening a debugfs file that
/// exists and is writable (a missing file is still ENOENT).
fn eperm(path: &Path) -> std::io::Result<()> {
    std::fs::metadata(path)?;
    Err(std::io::Error::from_raw_os_error(1))
}

/// The project's build machines: config.gz without kmemleak, lockdown only
/// visible in the kernel log (securityfs not mounted), debugfs not mounted, root.
#[test]
fn distribution_kernel_locked_down_without_debugfs() {
    let t = Tree::new("distro");
    t.gz("proc/config.gz", CONFIG_NO)
        .file("proc/self/mounts", MOUNTS_BARE)
        .file("proc/self/status", STATUS_ROOT);
    let log = "5,0,0,-;Linux version 6.1.0-27-amd64\n5,1,111491,-;Kernel is locked down from Kernel configuration; see man kernel_lockdown.7\n";
    let s = diagnose(&t.root(), Some(log));
    assert!(!s.usable);
    let cfg = find(&s, "kernel-config");
    assert_eq!(cfg.verdict, Verdict::Blocks);
    assert!(
        cfg.detail.contains("CONFIG_DEBUG_KMEMLEAK is not set"),
        "{}",
        cfg.detail
    );
    assert!(cfg.detail.contains("config.gz"), "{}", cfg.detail);
    let ld = find(&s, "lockdown");
    assert_eq!(ld.verdict, Verdict::Blocks);
    assert!(
        ld.detail
            .contains("Kernel is locked down from Kernel configuration"),
        "{}",
        ld.detail
    );
    assert!(
        ld.detail.contains("securityfs is not mounted"),
        "{}",
        ld.detail
    );
    let dbg = find(&s, "debugfs");
    assert_eq!(dbg.verdict, Verdict::Blocks);
    assert_eq!(
        dbg.fix.as_deref(),
        Some("as root: mount -t debugfs none /sys/kernel/debug")
    );
    assert_eq!(find(&s, "user").verdict, Verdict::Ok);
    assert!(
        s.findings.iter().all(|f| f.check != "boot"),
        "no boot finding for a kernel without kmemleak"
    );
}

/// Config in /boot (found through osrelease), securityfs shows integrity
/// lockdown, debugfs mounted, reading the file answers EPERM, not root.
#[test]
fn boot_config_securityfs_lockdown_eperm_and_not_root() {
    let t = Tree::new("lockdown");
    t.file("proc/sys/kernel/osrelease", "6.1.0-kmemleak\n")
        .file("boot/config-6.1.0-kmemleak", CONFIG_YES)
        .file("proc/self/mounts", MOUNTS_DEBUGFS)
        .file(
            "sys/kernel/security/lockdown",
            "none [integrity] confidentiality\n",
        )
        .file("sys/kernel/debug/kmemleak", "")
        .file("proc/self/status", STATUS_USER);
    let s = diagnose_with(&t.root(), None, &eperm);
    assert!(!s.usable);
    let cfg = find(&s, "kernel-config");
    assert_eq!(cfg.verdict, Verdict::Ok);
    assert!(
        cfg.detail.contains("boot/config-6.1.0-kmemleak"),
        "{}",
        cfg.detail
    );
    let ld = find(&s, "lockdown");
    assert_eq!(ld.verdict, Verdict::Blocks);
    assert!(ld.detail.contains("integrity mode"), "{}", ld.detail);
    assert_eq!(find(&s, "debugfs").verdict, Verdict::Ok);
    let ctl = find(&s, "control-file");
    assert_eq!(ctl.verdict, Verdict::Blocks);
    assert!(
        ctl.detail.contains("Operation not permitted"),
        "{}",
        ctl.detail
    );
    assert!(ctl.detail.contains("lockdown"), "{}", ctl.detail);
    let user = find(&s, "user");
    assert_eq!(user.verdict, Verdict::Blocks);
    assert!(user.detail.contains("uid 1000"), "{}", user.detail);
}

const MOUNTS_DEBUGFS_ONLY: &str =
    "proc /proc proc rw,relatime 0 0\ndebugfs /sys/kernel/debug debugfs rw,relatime 0 0\n";

/// No securityfs and no log line: EPERM on opening some writable debugfs
/// file (not kmemleak, which this kernel lacks) is the lockdown evidence.
#[test]
fn eperm_on_any_writable_debugfs_file_shows_lockdown() {
    let t = Tree::new("probe-eperm");
    t.gz("proc/config.gz", CONFIG_NO)
        .file("proc/self/mounts", MOUNTS_DEBUGFS_ONLY)
        .file("sys/kernel/debug/sched/nr_migrate", "32\n")
        .file("proc/self/status", STATUS_ROOT);
    let s = diagnose_with(&t.root(), None, &eperm);
    let ld = find(&s, "lockdown");
    assert_eq!(ld.verdict, Verdict::Blocks);
    assert!(
        ld.detail
            .contains("sys/kernel/debug/sched/nr_migrate (a writable debugfs file) answered EPERM"),
        "{}",
        ld.detail
    );
    assert!(
        ld.detail.contains("securityfs is not mounted"),
        "{}",
        ld.detail
    );
    assert!(find(&s, "control-file")
        .detail
        .contains("built without CONFIG_DEBUG_KMEMLEAK"));
}

#[test]
fn a_writable_debugfs_file_that_opens_means_no_lockdown() {
    let t = Tree::new("probe-ok");
    t.gz("proc/config.gz", CONFIG_YES)
        .file("proc/self/mounts", MOUNTS_DEBUGFS_ONLY)
        .file("sys/kernel/debug/kmemleak", "")
        .file("proc/self/status", STATUS_ROOT);
    let s = diagnose(&t.root(), None);
    let ld = find(&s, "lockdown");
    assert_eq!(ld.verdict, Verdict::Ok, "{ld:?}");
    assert!(ld.detail.starts_with("not locked down"), "{}", ld.detail);
    assert!(s.usable, "{s:#?}");
}

/// EPERM without lockdown means kmemleak itself is off.
#[test]
fn eperm_without_lockdown_blames_a_disabled_kmemleak() {
    let t = Tree::new("eperm");
    t.gz("proc/config.gz", CONFIG_YES)
        .file("proc/self/mounts", MOUNTS_DEBUGFS)
        .file(
            "sys/kernel/security/lockdown",
            "[none] integrity confidentiality\n",
        )
        .file("sys/kernel/debug/kmemleak", "")
        .file("proc/self/status", STATUS_ROOT);
    let s = diagnose_with(&t.root(), None, &eperm);
    assert_eq!(find(&s, "lockdown").verdict, Verdict::Ok);
    let ctl = find(&s, "control-file");
    assert!(
        ctl.detail.contains("kmemleak is disabled"),
        "{}",
        ctl.detail
    );
}

#[test]
fn disabled_at_boot_and_by_an_error_are_reported() {
    let t = Tree::new("boot-off");
    t.gz("proc/config.gz", CONFIG_YES)
        .file(
            "proc/cmdline",
            "BOOT_IMAGE=/vmlinuz root=/dev/sda1 kmemleak=off quiet\n",
        )
        .file("proc/self/mounts", MOUNTS_DEBUGFS)
        .file(
            "sys/kernel/security/lockdown",
            "[none] integrity confidentiality\n",
        )
        .file("sys/kernel/debug/kmemleak", "")
        .file("proc/self/status", STATUS_ROOT);
    let log = "[    0.30] kmemleak: Cannot allocate a kmemleak_object structure\n[    0.31] kmemleak: Kernel memory leak detector disabled\n";
    let s = diagnose(&t.root(), Some(log));
    assert!(!s.usable);
    assert!(find(&s, "boot").detail.contains("kmemleak=off"));
    assert!(
        find(&s, "kernel-log")
            .detail
            .contains("Kernel memory leak detector disabled"),
        "{:?}",
        find(&s, "kernel-log")
    );
}

#[test]
fn default_off_kernel_needs_kmemleak_on() {
    let t = Tree::new("default-off");
    t.gz(
        "proc/config.gz",
        &format!("{CONFIG_YES}CONFIG_DEBUG_KMEMLEAK_DEFAULT_OFF=y\n"),
    )
    .file("proc/cmdline", "root=/dev/sda1\n")
    .file("proc/self/mounts", MOUNTS_BARE)
    .file("proc/self/status", STATUS_ROOT);
    let s = diagnose(&t.root(), None);
    assert_eq!(
        find(&s, "boot").fix.as_deref(),
        Some("add kmemleak=on to the kernel command line and reboot")
    );
}

#[test]
fn everything_in_place_is_usable() {
    let t = Tree::new("usable");
    t.gz("proc/config.gz", CONFIG_YES)
        .file("proc/cmdline", "root=/dev/sda1\n")
        .file("proc/self/mounts", MOUNTS_DEBUGFS)
        .file(
            "sys/kernel/security/lockdown",
            "[none] integrity confidentiality\n",
        )
        .file("sys/kernel/debug/kmemleak", "")
        .file("proc/self/status", STATUS_ROOT);
    let s = diagnose(&t.root(), None);
    assert!(s.usable, "{s:#?}");
    assert!(
        s.findings.iter().all(|f| f.verdict == Verdict::Ok),
        "{s:#?}"
    );
}

#[test]
fn nothing_readable_is_unknown_not_ok() {
    let t = Tree::new("empty");
    let s = diagnose(&t.root(), None);
    assert!(!s.usable);
    assert_eq!(find(&s, "kernel-config").verdict, Verdict::Unknown);
    assert_eq!(find(&s, "user").verdict, Verdict::Unknown);
}
