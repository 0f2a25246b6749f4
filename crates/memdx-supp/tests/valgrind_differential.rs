//! The matcher decides as Valgrind 3.19 decides: the same suppression file,
//! the same leaks, the same errors suppressed, counted per suppression.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use memdx_testkit::{Deadline, DEADLINE};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use memdx_supp::{first_match, parse_file, Frame, LeakKind, Query};
use quick_xml::events::Event;
use quick_xml::Reader;

#[derive(Debug, Default, Clone)]
struct XmlFrame {
    fun: Option<String>,
    obj: Option<String>,
    file: Option<String>,
    line: Option<u32>,
}

#[derive(Debug, Default)]
struct Report {
    /// (kind, frames) of every error listed.
    errors: Vec<(String, Vec<XmlFrame>)>,
    /// suppression name -> count, from <suppcounts>.
    suppcounts: BTreeMap<String, u64>,
}

/// Reads the parts of a Valgrind XML (protocol 4) file this test needs.
fn read_xml(path: &Path) -> Report {
    let text = std::fs::read_to_string(path).unwrap();
    let mut r = Reader::from_str(&text);
    let mut report = Report::default();
    let mut stack: Vec<String> = Vec::new();
    let (mut kind, mut frames, mut frame) = (String::new(), Vec::new(), XmlFrame::default());
    let (mut pair_count, mut pair_name) = (0u64, String::new());
    loop {
        match r.read_event().unwrap() {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                if name == "frame" {
                    frame = XmlFrame::default();
                }
                stack.push(name);
            }
            Event::End(_) => {
                let name = stack.pop().unwrap();
                let parent = stack.last().map(String::as_str);
                match (name.as_str(), parent) {
                    // frames of stacks directly under <error> (leaks have one)
                    ("frame", Some("stack")) if stack.len() == 3 => frames.push(frame.clone()),
                    ("error", _) => report
                        .errors
                        .push((std::mem::take(&mut kind), std::mem::take(&mut frames))),
                    ("pair", _) => {
                        report
                            .suppcounts
                            .insert(std::mem::take(&mut pair_name), pair_count);
                    }
                    _ => {}
                }
            }
            Event::Text(t) => {
                let v = t.unescape().unwrap().into_owned();
                let path: Vec<&str> = stack.iter().map(String::as_str).collect();
                match path.as_slice() {
                    [.., "error", "kind"] => kind = v,
                    [.., "frame", "fn"] => frame.fun = Some(v),
                    [.., "frame", "obj"] => frame.obj = Some(v),
                    [.., "frame", "file"] => frame.file = Some(v),
                    [.., "frame", "line"] => frame.line = v.parse().ok(),
                    [.., "pair", "count"] => pair_count = v.parse().unwrap(),
                    [.., "pair", "name"] => pair_name = v,
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    report
}

fn leak_kind(xml_kind: &str) -> Option<LeakKind> {
    Some(match xml_kind {
        "Leak_DefinitelyLost" => LeakKind::Definite,
        "Leak_IndirectlyLost" => LeakKind::Indirect,
        "Leak_PossiblyLost" => LeakKind::Possible,
        "Leak_StillReachable" => LeakKind::Reachable,
        _ => return None,
    })
}

fn valgrind(bin: &Path, xml: &Path, supp: Option<&Path>) {
    let mut cmd = Command::new("valgrind");
    // Not -q: Valgrind writes <suppcounts> only when not quiet.
    cmd.args([
        "--leak-check=full",
        "--show-leak-kinds=all",
        "--demangle=no",
        "--num-callers=30",
        "--xml=yes",
    ])
    .arg(format!("--xml-file={}", xml.display()));
    if let Some(s) = supp {
        cmd.arg(format!("--suppressions={}", s.display()));
    }
    let out = cmd.arg(bin).output_within(DEADLINE);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn matcher_suppresses_what_valgrind_suppresses() {
    if Command::new("valgrind")
        .arg("--version")
        .try_output_within(DEADLINE)
        .is_err()
    {
        memdx_testkit::tool_missing("valgrind is not installed");
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("supp-diff");
    std::fs::create_dir_all(&dir).unwrap();
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let bin = dir.join("leaky");
    let cc = Command::new("gcc")
        .args(["-O2", "-g", "-fomit-frame-pointer", "-o"])
        .arg(&bin)
        .arg(here.join("leaky.c"))
        .status_within(DEADLINE);
    assert!(cc.success());
    let supp_path = here.join("suppressions.supp");

    valgrind(&bin, &dir.join("all.xml"), None);
    valgrind(&bin, &dir.join("supp.xml"), Some(&supp_path));
    let all = read_xml(&dir.join("all.xml"));
    let with_supp = read_xml(&dir.join("supp.xml"));
    let leaks = |r: &Report| {
        r.errors
            .iter()
            .filter(|e| leak_kind(&e.0).is_some())
            .count()
    };
    // 1 definite + 3 indirect (one per recursion depth) + calloc + realloc + reachable + possible
    assert_eq!(leaks(&all), 8, "{:#?}", all.errors);

    let supps = parse_file(&supp_path).unwrap();
    let mut ours: BTreeMap<String, u64> = BTreeMap::new();
    let mut unsuppressed = 0;
    for (kind, xml_frames) in &all.errors {
        let Some(lk) = leak_kind(kind) else { continue };
        let frames: Vec<Frame> = xml_frames
            .iter()
            .map(|f| Frame {
                fun: f.fun.as_deref(),
                obj: f.obj.as_deref(),
                file: f.file.as_deref(),
                line: f.line,
            })
            .collect();
        match first_match(&supps, Query::Leak(lk), &frames) {
            Some(s) => *ours.entry(s.name.clone()).or_default() += 1,
            None => unsuppressed += 1,
        }
    }
    assert_eq!(
        unsuppressed,
        leaks(&with_supp),
        "errors valgrind left unsuppressed"
    );
    let theirs: BTreeMap<String, u64> = with_supp
        .suppcounts
        .into_iter()
        .filter(|(name, _)| supps.iter().any(|s| &s.name == name))
        .collect();
    assert_eq!(ours, theirs, "per-suppression counts");
    assert_eq!(
        ours.len(),
        3,
        "three of the four suppressions should be used: {ours:?}"
    );
}
