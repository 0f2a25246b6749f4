//! Builds the checker runtime (`libmemdx_runtime.so`) for `memdx check`, so
//! that `cargo run --release -- check -- ./prog` works from a fresh clone
//! even when only this package was built. The runtime is a separate cdylib
//! (it is preloaded into other programs), so it is built by a nested cargo
//! into its own target directory under OUT_DIR; its path is baked in as
//! MEMDX_RUNTIME_BUILT and the library is embedded in the binary
//! (`commands/check/runtime_lib.rs`); a failure fails this build (never a
//! stale copy).
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest.join("../..");
    for p in [
        "crates/memdx-runtime/src",
        "crates/memdx-runtime/Cargo.toml",
        "crates/memdx-runtime/build.rs",
        "crates/memdx-runtime/exports.map",
        "crates/memdx-events/src",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    println!("cargo::rustc-check-cfg=cfg(memdx_runtime_embedded)");
    if std::env::var_os("MEMDX_SKIP_RUNTIME_BUILD").is_some() {
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    let target_dir = out.join("runtime-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--release", "-p", "memdx-runtime", "--target-dir"])
        .arg(&target_dir)
        // Flags meant for the outer build (coverage, lints) are not ours.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_MAKEFLAGS")
        // Under `cargo clippy` the outer build runs clippy-driver; the
        // runtime is linted as a workspace member in its own right.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("CLIPPY_CONF_DIR")
        .status();
    let lib = target_dir.join("release/libmemdx_runtime.so");
    match status {
        Ok(s) if s.success() && lib.is_file() => {
            println!("cargo:rustc-env=MEMDX_RUNTIME_BUILT={}", lib.display());
            // Its checksum names the cached copy; computed here, not on
            // every run (hashing 5 MB was a third of `memdx check`'s own
            // start-up).
            let crc = std::fs::read(&lib).map_or(0, |b| crc32fast::hash(&b));
            println!("cargo:rustc-env=MEMDX_RUNTIME_CRC={crc:08x}");
            // Embedded in the binary (commands/check/runtime_lib.rs).
            println!("cargo:rustc-cfg=memdx_runtime_embedded");
        }
        other => {
            // Fail the build: falling back to a copy next to the executable
            // would silently run `memdx check` with a stale runtime.
            eprintln!("building libmemdx_runtime.so failed ({other:?}); see the errors above");
            std::process::exit(1);
        }
    }
}
