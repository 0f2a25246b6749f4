//! `docs/architecture.md` is the map a newcomer reads first: its crate
//! table must list every workspace crate, and each row's "depends on" must
//! name every other workspace crate that crate depends on (normal
//! dependencies; dev- and build-dependencies are not part of the map).
//! The truth comes from `cargo metadata`.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

fn workspace_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = memdx_testkit::output_with_deadline(
        std::process::Command::new(cargo).current_dir(&root).args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ]),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let names: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_string())
                .filter(|d| names.contains(d))
                .collect();
            (p["name"].as_str().unwrap().to_string(), deps)
        })
        .collect()
}

/// The crate table's rows: crate name → its "depends on" cell.
fn table_rows() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/architecture.md");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("| `crates/")?;
            let (name, _) = rest.split_once('`')?;
            let cells: Vec<&str> = line.trim_end_matches('|').split(" | ").collect();
            Some((name.to_string(), cells.last()?.to_string()))
        })
        .collect()
}

#[test]
fn the_crate_table_lists_every_crate_and_its_workspace_dependencies() {
    let graph = workspace_graph();
    let rows = table_rows();
    let listed: BTreeSet<&String> = rows.keys().collect();
    let real: BTreeSet<&String> = graph.keys().collect();
    assert_eq!(
        listed, real,
        "docs/architecture.md's crate table and the workspace disagree"
    );
    for (name, deps) in &graph {
        let cell = &rows[name];
        if cell.contains("all of the above") {
            continue;
        }
        for dep in deps {
            assert!(
                cell.contains(dep.as_str()),
                "docs/architecture.md: {name} depends on {dep}, its row says only: {cell}"
            );
        }
        // And no workspace crate named that it does not depend on.
        for other in graph.keys().filter(|o| *o != name) {
            let named = cell
                .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
                .any(|w| w == other);
            assert!(
                !named || deps.contains(other),
                "docs/architecture.md: {name}'s row names {other}, which it does not depend on"
            );
        }
    }
}
