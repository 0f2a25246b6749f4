//! A parser cannot land unfuzzed: every public `parse*`/`decode*` function
//! (and every `read` of a `&str`/`&[u8]`) in the library crates must be
//! named in some target's `covers`, or listed below with the reason it
//! needs no target of its own. And every name a target claims must exist.

// Test helpers outside #[test] fns panic on purpose, like the tests.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

use memdx_fuzz::seeds::repo_root;
use memdx_fuzz::TARGETS;

/// Crates whose parsers are not reachable from here: the binary (its
/// command-line parser and instruction decoder), the preload runtime (it
/// reads nothing from outside), this crate and the test kit.
const NOT_SCANNED: &[&str] = &["memdx", "memdx-runtime", "memdx-fuzz", "memdx-testkit"];

/// Public functions whose names look like parsers, each with the reason it
/// has no target of its own.
const EXEMPT: &[(&str, &str)] = &[
    (
        "memdx-kernel/src/error.rs:parse",
        "KernelError::parse builds an error value; it parses nothing",
    ),
    (
        "memdx-proc/src/cgroup.rs:read",
        "finds the cgroup v2 mount by name, then CgroupMemory::read_dir, fuzzed by `cgroup_dir`",
    ),
    (
        "memdx-supp/src/parse.rs:parse_file",
        "reads the file (size limit tested in memdx-supp) and hands the text to parse, fuzzed by `suppressions`",
    ),
];

fn rs_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `crate/src/file.rs:name` of every parser-like public function.
fn parsers_in_source() -> BTreeSet<String> {
    let crates = repo_root().join("crates");
    let mut found = BTreeSet::new();
    for e in std::fs::read_dir(&crates).unwrap() {
        let dir = e.unwrap().path();
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        if NOT_SCANNED.contains(&name.as_str()) || !dir.join("src").is_dir() {
            continue;
        }
        let mut files = Vec::new();
        rs_files(&dir.join("src"), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let rel = f.strip_prefix(&crates).unwrap().display().to_string();
            for line in text.lines() {
                let Some(rest) = line.trim_start().strip_prefix("pub fn ") else {
                    continue;
                };
                let fname: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let takes_text = rest.contains("&str") || rest.contains("&[u8]");
                if fname.starts_with("parse")
                    || fname.starts_with("decode")
                    || (fname == "read" && takes_text)
                {
                    found.insert(format!("{rel}:{fname}"));
                }
            }
        }
    }
    found
}

#[test]
fn every_public_parser_has_a_fuzz_target() {
    let found = parsers_in_source();
    assert!(found.len() > 20, "the scan found too little: {found:?}");
    let covered: BTreeSet<String> = TARGETS
        .iter()
        .flat_map(|t| t.covers.iter().map(|c| c.to_string()))
        .chain(EXEMPT.iter().map(|(c, _)| c.to_string()))
        .collect();
    let missing: Vec<&String> = found.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "public parsers without a fuzz target (add one to crates/memdx-fuzz/src/targets.rs): {missing:?}"
    );
    let stale: Vec<&String> = covered.difference(&found).collect();
    assert!(
        stale.is_empty(),
        "fuzz targets claim functions the source no longer has: {stale:?}"
    );
}

#[test]
fn target_names_are_unique_and_every_target_has_seeds() {
    let names: BTreeSet<&str> = TARGETS.iter().map(|t| t.name).collect();
    assert_eq!(names.len(), TARGETS.len());
    for t in TARGETS {
        assert!(
            !memdx_fuzz::seeds::seeds(t.name).is_empty(),
            "target {} has no seeds",
            t.name
        );
    }
}
