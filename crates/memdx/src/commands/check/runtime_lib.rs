//! Where `memdx check` gets its runtime library from.
//!
//! The runtime (`libmemdx_runtime.so`, a cdylib the program preloads) is
//! built by `build.rs` and embedded in the memdx binary, so one file is the
//! whole tool: an installed or copied `memdx` does not depend on the
//! clone's `target/` directory. The dynamic loader needs a file, so the
//! embedded copy is written once per build to a private cache directory,
//! `$XDG_CACHE_HOME/memdx` (or `~/.cache/memdx`, else
//! `$TMPDIR/memdx-UID`), under a name holding its length and CRC-32 (computed
//! by `build.rs`)
//! (`libmemdx_runtime-<len>-<crc>.so`), and reused by later runs. The file
//! is written to a temporary name and then linked to its final name, which
//! never replaces a copy already there: concurrent runs never see a partial
//! copy, and a copy a running program has mapped is never swapped under it
//! (the collector of `--trace-children` tells from `/proc/PID/maps` that a
//! process still has the runtime). `MEMDX_RUNTIME=PATH` overrides all of it.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The runtime library built with this binary (absent when the build was
/// told to skip it: `MEMDX_SKIP_RUNTIME_BUILD`).
#[cfg(memdx_runtime_embedded)]
const EMBEDDED: Option<&[u8]> = Some(include_bytes!(env!("MEMDX_RUNTIME_BUILT")));
#[cfg(not(memdx_runtime_embedded))]
const EMBEDDED: Option<&[u8]> = None;
/// The embedded runtime's CRC-32 in hex, computed by `build.rs`.
#[cfg(memdx_runtime_embedded)]
const EMBEDDED_CRC: &str = env!("MEMDX_RUNTIME_CRC");
#[cfg(not(memdx_runtime_embedded))]
const EMBEDDED_CRC: &str = "";

/// The runtime library to preload: `MEMDX_RUNTIME`, else the embedded copy.
pub fn path() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("MEMDX_RUNTIME") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(std::fs::canonicalize(&p).unwrap_or(p));
        }
        anyhow::bail!("MEMDX_RUNTIME={} is not a file", p.display());
    }
    let Some(bytes) = EMBEDDED else {
        anyhow::bail!(
            "this memdx was built without its checker runtime (MEMDX_SKIP_RUNTIME_BUILD); \
             point MEMDX_RUNTIME at a libmemdx_runtime.so"
        );
    };
    let mut errors = Vec::new();
    for dir in cache_dirs() {
        match materialize(&dir, bytes, EMBEDDED_CRC) {
            Ok(p) => return Ok(p),
            Err(e) => errors.push(format!("{}: {e}", dir.display())),
        }
    }
    anyhow::bail!(
        "cannot write the checker runtime to a cache directory ({}); set XDG_CACHE_HOME \
         to a writable directory or MEMDX_RUNTIME to a libmemdx_runtime.so",
        errors.join("; ")
    )
}

/// Where the runtime may be written, most private first.
fn cache_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(x) => dirs.push(PathBuf::from(x).join("memdx")),
        None => {
            if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                dirs.push(PathBuf::from(home).join(".cache/memdx"));
            }
        }
    }
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    dirs.push(std::env::temp_dir().join(format!("memdx-{uid}")));
    dirs
}

/// The runtime's file in `dir`, written there first if it is not yet
/// (`crc`: the CRC-32 of `bytes` in hex; the bytes are not read when the
/// file is there).
fn materialize(dir: &Path, bytes: &[u8], crc: &str) -> std::io::Result<PathBuf> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    private_dir(dir)?;
    let name = format!("libmemdx_runtime-{}-{crc}.so", bytes.len());
    let path = dir.join(name);
    if std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64) {
        return Ok(path);
    }
    static TMP_SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let serial = TMP_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(
        ".libmemdx_runtime-{}-{serial}.tmp",
        std::process::id()
    ));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o755)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        // A link fails where a rename would replace: the first complete
        // copy stays (another run may have it mapped already).
        match std::fs::hard_link(&tmp, &path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    written.map(|()| path)
}

/// Refuses a directory someone else could put a library into (a shared
/// `/tmp/memdx-UID` made in advance by another user).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let mode = meta.permissions().mode();
    if !meta.is_dir() || meta.uid() != uid || mode & 0o022 != 0 {
        return Err(std::io::Error::other(format!(
            "not a directory of this user's that only it can write (owner {}, mode {:o})",
            meta.uid(),
            mode & 0o7777
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc(bytes: &[u8]) -> String {
        format!("{:08x}", crc32fast::hash(bytes))
    }

    #[test]
    fn the_runtime_is_written_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("memdx-rtlib-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first =
            materialize(&dir, b"not really a library", &crc(b"not really a library")).unwrap();
        assert_eq!(std::fs::read(&first).unwrap(), b"not really a library");
        let before = std::fs::metadata(&first).unwrap().modified().unwrap();
        let again =
            materialize(&dir, b"not really a library", &crc(b"not really a library")).unwrap();
        assert_eq!(first, again);
        assert_eq!(
            std::fs::metadata(&again).unwrap().modified().unwrap(),
            before
        );
        let other = materialize(&dir, b"another build", &crc(b"another build")).unwrap();
        assert_ne!(first, other);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Runs racing to write the runtime all end up with the same file, and
    /// the file a run got is never replaced afterwards (a program that
    /// mapped it would show it as deleted).
    #[test]
    fn racing_runs_share_one_copy_that_is_never_replaced() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("memdx-rtlib-race-{}", std::process::id()));
        let bytes = vec![0x5a_u8; 4 << 20];
        for _ in 0..5 {
            let _ = std::fs::remove_dir_all(&dir);
            let inodes: Vec<u64> = std::thread::scope(|s| {
                let runs: Vec<_> = (0..6)
                    .map(|_| {
                        s.spawn(|| {
                            let path = materialize(&dir, &bytes, &crc(&bytes)).unwrap();
                            // What a program would map, opened at once.
                            std::fs::File::open(path).unwrap().metadata().unwrap().ino()
                        })
                    })
                    .collect();
                runs.into_iter().map(|r| r.join().unwrap()).collect()
            });
            let path = materialize(&dir, &bytes, &crc(&bytes)).unwrap();
            let now = std::fs::metadata(&path).unwrap().ino();
            assert!(inodes.iter().all(|&i| i == now), "{inodes:?} then {now}");
            let names = std::fs::read_dir(&dir).unwrap().count();
            assert_eq!(names, 1, "temporary copies are removed");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_others_can_write_is_refused() {
        let dir = std::env::temp_dir().join(format!("memdx-rtlib-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = materialize(&dir, b"x", &crc(b"x")).unwrap_err();
        assert!(err.to_string().contains("mode 777"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
