//! Fuzz targets for every parser and decoder in memdx.
//!
//! One list, [`TARGETS`], serves two harnesses:
//! - the libFuzzer campaigns in `fuzz/` (nightly, cargo-fuzz; see
//!   `fuzz/README.md`), which pick a target by name;
//! - the smoke run in this crate's `tests/smoke.rs`, part of `cargo test`
//!   on stable, which replays each target's seeds ([`seeds::seeds`]) and a
//!   fixed number of mutations of them ([`mutate`]), with a deadline and a
//!   memory ceiling per input.
//!
//! A target takes arbitrary bytes, hands them to the parser and returns;
//! the parser must answer `Ok` or its typed error, never panic, hang or
//! allocate without bound. `tests/coverage.rs` fails when a library crate
//! grows a public `parse*`/`decode*` function that no target names in
//! [`Target::covers`].

pub mod mutate;
pub mod seeds;
mod targets;
mod tree;

/// One fuzz target.
pub struct Target {
    /// Name used on the command line and for corpus directories.
    pub name: &'static str,
    /// The public functions it drives, as `crate-dir/src/file.rs:fn_name`
    /// (checked against the source by `tests/coverage.rs`).
    pub covers: &'static [&'static str],
    /// Runs the parser on one input.
    pub run: fn(&[u8]),
}

pub use targets::{heap_frames, TARGETS};
pub use tree::remove_scratch;

/// The target called `name`.
pub fn find(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// Splits a multi-file input at each 0xFF byte (never in the text files
/// these inputs stand for) into exactly `n` parts, the missing ones empty.
pub fn split_parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts: Vec<&[u8]> = data.splitn(n, |&b| b == 0xFF).collect();
    parts.resize(n, &[]);
    parts
}

/// Joins files into one multi-file input (the inverse of [`split_parts`]).
pub fn join_parts(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(0xFF);
        }
        out.extend_from_slice(p);
    }
    out
}
