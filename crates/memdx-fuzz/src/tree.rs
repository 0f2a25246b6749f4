//! A scratch directory per thread, rewritten for each input, for the
//! targets whose reader takes a directory tree or a file path.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The calling thread's scratch directory.
pub(crate) struct Scratch;

static NEXT: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static DIR: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

impl Scratch {
    /// Runs `f` with this thread's scratch directory (created on first use
    /// under the temporary directory, on tmpfs when there is one).
    pub(crate) fn with(f: impl FnOnce(&Path)) {
        let dir = DIR.with(|d| {
            d.borrow_mut()
                .get_or_insert_with(|| {
                    let base = if Path::new("/dev/shm").is_dir() {
                        PathBuf::from("/dev/shm")
                    } else {
                        std::env::temp_dir()
                    };
                    base.join(format!(
                        "memdx-fuzz-{}-{}",
                        std::process::id(),
                        NEXT.fetch_add(1, Ordering::Relaxed)
                    ))
                })
                .clone()
        });
        f(&dir);
    }

    /// Writes each `(name, bytes)` under `dir` (created), replacing what
    /// was there. A scratch tree that cannot be written is a broken
    /// harness, not a finding: it panics.
    pub(crate) fn write_files(dir: &Path, files: &[(&str, &[u8])]) {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("creating scratch dir {}: {e}", dir.display()));
        for (name, bytes) in files {
            let path = dir.join(name);
            std::fs::write(&path, bytes)
                .unwrap_or_else(|e| panic!("writing scratch file {}: {e}", path.display()));
        }
    }

    /// Removes this thread's scratch directory.
    pub(crate) fn remove() {
        DIR.with(|d| {
            if let Some(dir) = d.borrow_mut().take() {
                let _ = std::fs::remove_dir_all(dir);
            }
        });
    }
}

/// Removes the calling thread's scratch directory (the smoke run calls it
/// when done).
pub fn remove_scratch() {
    Scratch::remove();
}
