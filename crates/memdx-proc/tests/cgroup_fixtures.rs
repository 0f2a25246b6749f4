//! The cgroup memory reader (v2, and v1's memory controller) on the fixture
//! trees in tests/fixtures/cgroup.

use std::path::PathBuf;

use memdx_proc::cgroup::{memory_mount, v2_mount, CgroupMemory, CgroupVersion, MemoryLimit};
use memdx_proc::ProcRoot;

fn tree(name: &str) -> ProcRoot {
    ProcRoot::new(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/cgroup")
            .join(name),
    )
}

#[test]
fn a_service_with_every_memory_file() {
    let root = tree("v2-unified");
    let m = CgroupMemory::read(&root, "/system.slice/web.service").unwrap();
    assert_eq!(m.current, Some(322_961_408));
    assert_eq!(m.max, Some(MemoryLimit::Bytes(536_870_912)));
    assert_eq!(m.limit(), Some(536_870_912));
    assert_eq!(m.high, Some(MemoryLimit::Unlimited));
    assert_eq!(m.peak, Some(340_787_200));
    assert_eq!(m.swap_current, Some(1_048_576));
    let stat = m.stat.as_ref().unwrap();
    assert_eq!(stat.anon(), Some(209_715_200));
    assert_eq!(stat.file(), Some(104_857_600));
    assert_eq!(stat.inactive_file(), Some(73_400_320));
    assert_eq!(stat.get("pgmajfault"), Some(1209));
    assert_eq!(stat.fields.len(), 51);
    assert_eq!(m.working_set(), Some(322_961_408 - 73_400_320));
    assert!(m.has_memory_controller());
}

#[test]
fn unlimited_missing_files_and_a_floored_working_set() {
    let root = tree("v2-unified");
    let m = CgroupMemory::read(&root, "user.slice").unwrap();
    assert_eq!(m.max, Some(MemoryLimit::Unlimited));
    assert_eq!(m.limit(), None);
    assert_eq!((m.peak, m.swap_current, m.high), (None, None, None));
    assert_eq!(m.working_set(), Some(0));
    let none = CgroupMemory::read(&root, "/nomem").unwrap();
    assert!(!none.has_memory_controller());
    assert_eq!(none.working_set(), None);
    let root_cg = CgroupMemory::read(&root, "/").unwrap();
    assert_eq!(root_cg.current, None);
}

#[test]
fn a_missing_cgroup_names_its_directory() {
    let root = tree("v2-unified");
    let err = CgroupMemory::read(&root, "/system.slice/gone.service").unwrap_err();
    assert!(err.is_not_found());
    assert!(
        err.to_string()
            .contains("sys/fs/cgroup/system.slice/gone.service"),
        "{err}"
    );
}

#[test]
fn hybrid_mode_is_found_under_unified_and_v1_only_is_an_error() {
    let root = tree("hybrid");
    assert!(v2_mount(&root).unwrap().ends_with("sys/fs/cgroup/unified"));
    let m = CgroupMemory::read(&root, "/app").unwrap();
    assert!(!m.has_memory_controller());
    let v1 = tree("../ps/cgroup-v1-docker");
    let err = CgroupMemory::read(&v1, "/docker").unwrap_err();
    assert!(
        err.to_string().contains("no cgroup memory hierarchy"),
        "{err}"
    );
}

#[test]
fn a_corrupt_stat_names_file_and_line() {
    let dir = std::env::temp_dir().join(format!("memdx-cgroup-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("memory.current"), "100\n").unwrap();
    std::fs::write(dir.join("memory.stat"), "anon 1\nfile ?\n").unwrap();
    let err = CgroupMemory::read_dir(&dir).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("memory.stat line 2: bad number \"?\" for file"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cgroup_v1_memory_uses_the_hierarchical_totals() {
    let root = tree("v1-hybrid");
    // Hybrid mode: v2 is mounted but has no memory controller, so the v1
    // memory hierarchy is the one that accounts memory.
    let (mount, version) = memory_mount(&root).unwrap();
    assert!(
        mount.ends_with("sys/fs/cgroup/memory"),
        "{}",
        mount.display()
    );
    assert_eq!(version, CgroupVersion::V1);
    assert_eq!(
        memory_mount(&tree("v2-unified")).unwrap().1,
        CgroupVersion::V2
    );

    let m = CgroupMemory::read(&root, "/system.slice/web.service").unwrap();
    assert_eq!(m.version, CgroupVersion::V1);
    assert_eq!(m.current, Some(322_961_408));
    assert_eq!(m.max, Some(MemoryLimit::Bytes(536_870_912)));
    assert_eq!(m.peak, Some(340_787_200));
    // memsw.usage_in_bytes - usage_in_bytes.
    assert_eq!(m.swap_current, Some(1_048_576));
    assert_eq!(m.high, None);
    let stat = m.stat.as_ref().unwrap();
    // total_* (the cgroup and its child), not the plain keys (itself alone).
    assert_eq!(stat.anon(), Some(209_715_200));
    assert_eq!(stat.get("rss"), Some(157_286_400));
    assert_eq!(stat.file(), Some(104_857_600));
    assert_eq!(stat.inactive_file(), Some(73_400_320));
    assert_eq!(stat.shmem(), Some(2_097_152));
    // The kubelet's working set on v1: usage - total_inactive_file.
    assert_eq!(m.working_set(), Some(249_561_088));
    assert!(m.has_memory_controller());
    // The same directory read directly, as watch --cgroup does.
    let direct = CgroupMemory::read_dir(&mount.join("system.slice/web.service")).unwrap();
    assert_eq!(direct, m);
}

#[test]
fn cgroup_v1_unlimited_without_swap_accounting() {
    let root = tree("v1-hybrid");
    let m = CgroupMemory::read(&root, "/user.slice").unwrap();
    // 9223372036854771712: the kernel's page-rounded "no limit".
    assert_eq!(m.max, Some(MemoryLimit::Unlimited));
    assert_eq!(m.limit(), None);
    assert_eq!(m.swap_current, None);
    assert_eq!(m.working_set(), Some(0));
    let top = CgroupMemory::read(&root, "/").unwrap();
    assert_eq!(top.current, Some(1400 * 1_048_576));
    assert_eq!(top.working_set(), Some(900 * 1_048_576));
}
