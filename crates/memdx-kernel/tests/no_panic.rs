//! Damaged input must give an error or a partial result, never a panic:
//! every fixture, cut at every line and mangled byte by byte, goes through
//! the kmemleak, OOM and slabinfo parsers.

// Test helpers outside #[test] fns panic on purpose, like the tests.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use memdx_kernel::kmemleak::{group, parse_report, Filter, GroupBy};
use memdx_kernel::{kmsg, oom, slab};

fn fixtures(dir: &str) -> Vec<String> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(dir);
    let mut out = Vec::new();
    for e in std::fs::read_dir(base).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "txt") {
            out.push(std::fs::read_to_string(p).unwrap());
        }
    }
    assert!(!out.is_empty());
    out
}

/// Variants of `text`: every line-prefix, and copies with one byte in
/// every 7 replaced by characters that break numbers and UTF-8 boundaries.
fn damaged(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut v: Vec<String> = (0..lines.len()).map(|n| lines[..n].join("\n")).collect();
    for (k, junk) in ["é", "(", ")", "]", "[<", ":", "x", "\u{0}", "-"]
        .iter()
        .enumerate()
    {
        let mangled: String = text
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if (i + k) % 7 == 0 {
                    junk.to_string()
                } else {
                    c.to_string()
                }
            })
            .collect();
        v.push(mangled);
    }
    v.push(text.replace("0s)", "éééés)")); // ages like "(age 1.22éééés)"
    v.push(text.replace('.', "é."));
    v
}

#[test]
fn kmemleak_parser_survives_damage() {
    let mut parsed = 0;
    for text in fixtures("kmemleak") {
        for d in damaged(&text) {
            if let Ok(objs) = parse_report(&kmsg::kmsg_to_dmesg(&d), "damaged") {
                let _ = group(&objs, GroupBy::Function, &Filter::default());
                parsed += 1;
            }
            let _ = parse_report(&d, "damaged");
        }
    }
    assert!(parsed > 0);
}

#[test]
fn oom_and_slab_parsers_survive_damage() {
    for text in fixtures("oom") {
        for d in damaged(&text) {
            let _ = oom::parse_events(&kmsg::parse_log(&d));
        }
    }
    let base = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/slab/slabinfo-6.18-base.txt");
    let text = std::fs::read_to_string(base).unwrap();
    for d in damaged(&text).into_iter().take(40) {
        let _ = slab::info::parse_slabinfo(&d, "damaged");
    }
}
