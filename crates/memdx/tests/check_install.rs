//! One file is the whole tool: a copy of the memdx binary, away from the
//! build tree, runs `memdx check` with the runtime embedded in it, and the
//! report names the runtime by a short, stable name.

// Test helpers outside #[test] fns panic on purpose, like the tests.
#![allow(clippy::unwrap_used)]

mod check_util;

use memdx_testkit::{Deadline, DEADLINE};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
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
    // The runtime came from the binary, into the cache directory given
    // (beside `frames`, the symbolized frames kept between runs).
    let runtimes = || -> Vec<String> {
        std::fs::read_dir(cache.join("memdx"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "frames")
            .collect()
    };
    let written = runtimes();
    assert!(
        written.len() == 1 && written[0].starts_with("libmemdx_runtime-"),
        "{written:?}"
    );
    assert!(cache.join("memdx/frames").is_dir());
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
    assert_eq!(runtimes(), written);
}

/// A directory under the system's temporary directory (outside the clone
/// and its target directory), removed on drop.
struct Outside(std::path::PathBuf);

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `bin ARGS` with the clone's target directory hidden under an empty
/// tmpfs (a private mount namespace), from `cwd`, with only PATH, HOME and
/// XDG_CACHE_HOME in its environment. Without the rights for `unshare -m`
/// (not root), the target directory stays visible and a note says so.
fn run_installed(bin: &Path, args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    let target = Path::new(env!("CARGO_BIN_EXE_memdx"))
        .parent()
        .and_then(Path::parent)
        .unwrap();
    let mut hidden = Command::new("unshare");
    hidden
        .args([
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs memdx-hidden \"$0\" || exit 97
             if [ -e \"$0/release\" ] || [ -e \"$0/debug\" ]; then echo \"$0 still visible\" >&2; exit 98; fi
             exec \"$@\"",
        ])
        .arg(target)
        .arg(bin)
        .args(args);
    let mut plain = Command::new(bin);
    plain.args(args);
    for cmd in [&mut hidden, &mut plain] {
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .current_dir(cwd);
    }
    let out = hidden.output_within(DEADLINE);
    let err = String::from_utf8_lossy(&out.stderr);
    if err.starts_with("unshare:") || err.starts_with("mount:") {
        println!(
            "note: cannot hide {} here ({err}); running in plain sight",
            target.display()
        );
        return plain.output_within(DEADLINE);
    }
    out
}

/// `cargo install --path crates/memdx --root TMP` (offline, with this
/// build's target directory and profile, so nothing is compiled again),
/// then the installed binary, with the clone's target directory hidden,
/// checks a leaking program and prints `free` as procps does.
#[test]
fn cargo_install_into_a_temporary_root_gives_the_whole_tool() {
    let outside =
        Outside(std::env::temp_dir().join(format!("memdx-install-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&outside.0);
    std::fs::create_dir_all(&outside.0).unwrap();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let exe_dir = Path::new(env!("CARGO_BIN_EXE_memdx")).parent().unwrap();
    let target = exe_dir.parent().unwrap();
    let root = outside.0.join("root");
    let mut install = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    install
        .args(["install", "--offline", "--locked", "--quiet", "--path"])
        .arg(workspace.join("crates/memdx"))
        .arg("--root")
        .arg(&root)
        .env("CARGO_TARGET_DIR", target);
    if exe_dir.file_name().is_some_and(|n| n == "debug") {
        install.arg("--debug");
    }
    let out = install.output_within(DEADLINE);
    assert!(
        out.status.success(),
        "cargo install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = root.join("bin/memdx");
    assert!(bin.is_file(), "{} was not installed", bin.display());

    // The program to check lives outside the target directory too.
    let src = corpus_dir().join("definite_leak.c");
    let prog = build(&src, &outside.0, &[]);
    let home = outside.0.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let home = home.to_str().unwrap();
    let cache = outside.0.join("cache");
    let cache = cache.to_str().unwrap();
    let env = [("HOME", home), ("XDG_CACHE_HOME", cache)];
    let out = run_installed(
        &bin,
        &["check", "--leak-check=full", prog.to_str().unwrap()],
        &outside.0,
        &env,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("==    definitely lost: 100 bytes in 1 blocks")
            || err.contains("definitely lost: 100 bytes in 1 blocks"),
        "{err}"
    );
    assert!(err.contains("by 0x"), "no stack: {err}");
    assert!(err.contains("main (definite_leak.c:5)"), "{err}");

    // `free -h` on a captured /proc: what procps 4.0.2 printed for it.
    let fixture = workspace.join("tests/fixtures/free/debian12-idle");
    let proc_root = fixture.to_str().unwrap();
    let out = run_installed(
        &bin,
        &["free", "-h"],
        &outside.0,
        &[("HOME", home), ("MEMDX_PROC_ROOT", proc_root)],
    );
    let want = std::fs::read(fixture.join("expected/-h.out")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&want),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
}
