//! One file is the whole tool: a copy of the memdx binary, away from the
//! build tree, runs `memdx check` with the runtime embedded in it, and the
//! report names the runtime by a short, stable name.

mod check_util;

use memdx_testkit::Deadline;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use check_util::*;

#[test]
fn a_copied_binary_checks_programs_with_its_embedded_runtime() {
    let scratch = Scratch::new("install");
    let exe = build_corpus("double_free.c", &scratch);
    let bin_dir = scratch.0.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let copy = bin_dir.join("memdx");
    std::fs::copy(env!("CARGO_BIN_EXE_memdx"), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cache = scratch.0.join("cache");
    let mut cmd = Command::new(&copy);
    cmd.arg("check")
        .arg(&exe)
        .env_remove("MEMDX_RUNTIME")
        .env_remove("HOME")
        .env("XDG_CACHE_HOME", &cache);
    let out = cmd.output_within(Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Invalid free() / delete / delete[] / realloc()"),
        "{err}"
    );
    assert!(err.contains(": free (in libmemdx_runtime.so)"), "{err}");
    assert!(
        err.contains("ERROR SUMMARY: 1 errors from 1 contexts"),
        "{err}"
    );
    // The runtime came from the binary, into the cache directory given.
    let written: Vec<_> = std::fs::read_dir(cache.join("memdx"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        written.len() == 1 && written[0].starts_with("libmemdx_runtime-"),
        "{written:?}"
    );
    // A second run reuses it.
    let mut again = Command::new(&copy);
    again
        .arg("check")
        .arg("-q")
        .arg(&exe)
        .env_remove("MEMDX_RUNTIME")
        .env_remove("HOME")
        .env("XDG_CACHE_HOME", &cache);
    let out = again.output_within(Duration::from_secs(60));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Invalid free()"));
    assert_eq!(std::fs::read_dir(cache.join("memdx")).unwrap().count(), 1);
}
