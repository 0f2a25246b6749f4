//! Suppression files in `memdx check`: the same file on the same binaries
//! suppresses the same errors and leaks as under Valgrind 3.19, with the
//! same counts in LEAK SUMMARY, ERROR SUMMARY and `<suppcounts>`;
//! `--gen-suppressions=all` output pasted back suppresses what it was
//! generated for; a malformed file is refused before the program runs.

#![allow(clippy::unwrap_used)]

mod check_util;

use memdx_testkit::{Deadline, DEADLINE};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use check_util::*;

/// Builds each corpus program once per test binary (parallel tests must
/// not rebuild the same executable while another runs it).
fn program(name: &str) -> PathBuf {
    static DIR: OnceLock<Scratch> = OnceLock::new();
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let scratch = DIR.get_or_init(|| Scratch::new("supp-programs"));
    let mut built = BUILT.lock().unwrap();
    if let Some((_, p)) = built.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    let p = build_corpus(name, scratch);
    built.push((name.to_string(), p.clone()));
    p
}

/// A real-world-style file: wildcards, `...`, match-leak-kinds, obj: and
/// src: lines, comments, a suppression for another tool.
const SUPP: &str = "\
# team suppressions, curated over the years
{
   strdup-and-asprintf-in-leak
   Memcheck:Leak
   match-leak-kinds: definite
   fun:*alloc
   ...
   fun:leak
   fun:main
}
{
   tree-children
   Memcheck:Leak
   match-leak-kinds: indirect
   fun:malloc
   fun:tr?e
   ...
   obj:*/indirect_tree
}
{
   many-by-source-line
   Memcheck:Leak
   match-leak-kinds: definite,possible
   ...
   src:many_definite.c:4
}
{
   reachable-globals-not-matching
   Memcheck:Leak
   match-leak-kinds: reachable
   fun:calloc
   fun:main
}
{
   double-free-in-main
   Memcheck:Free
   fun:free
   fun:main
}
{
   helgrind-only
   Helgrind:Race
   fun:main
}
";

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The lines of the text report that carry suppression counts.
fn counts(stderr: &[u8]) -> Vec<String> {
    let r = parse_report(&String::from_utf8_lossy(stderr));
    let mut v: Vec<String> = r
        .summary
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    v.extend(r.error_summary);
    let text = String::from_utf8_lossy(stderr);
    v.extend(
        text.lines()
            .filter_map(|l| l.split_once("== ").map(|(_, t)| t.trim()))
            .filter(|t| t.starts_with("suppressed:"))
            .map(String::from),
    );
    v
}

fn supp_counts(xml: &Path, names: &[&str]) -> Vec<(String, u64)> {
    let r = memdx_report::xml::read(&std::fs::read_to_string(xml).unwrap()).unwrap();
    let mut v: Vec<(String, u64)> = r
        .supp_counts
        .into_iter()
        .filter(|c| names.contains(&c.name.as_str()))
        .map(|c| (c.name, c.count))
        .collect();
    v.sort();
    v
}

fn run(cmd: &mut Command) -> Output {
    cmd.output_within(DEADLINE)
}

#[test]
fn a_suppression_file_suppresses_what_valgrind_suppresses() {
    if !valgrind_available() {
        memdx_testkit::tool_missing("valgrind is not installed (.ci/run installs it)");
        return;
    }
    let scratch = Scratch::new("supp-vg");
    let supp = write_file(&scratch.0, "team.supp", SUPP);
    let names = [
        "strdup-and-asprintf-in-leak",
        "tree-children",
        "many-by-source-line",
        "reachable-globals-not-matching",
        "double-free-in-main",
    ];
    let mut suppressed_somewhere = 0;
    for prog in [
        "strdup_leak.c",
        "indirect_tree.c",
        "many_definite.c",
        "double_free.c",
        "reachable_global.c",
        "definite_leak.c",
    ] {
        let exe = program(prog);
        for mode in ["--leak-check=full", "--leak-check=summary"] {
            let sarg = format!("--suppressions={}", supp.display());
            let ours_xml = scratch.0.join(format!("{prog}{mode}.memdx.xml"));
            let theirs_xml = scratch.0.join(format!("{prog}{mode}.vg.xml"));
            let ours = run(memdx()
                .args(["check", mode, "--default-suppressions=no", &sarg])
                .arg(&exe));
            let theirs = run(Command::new("valgrind").args([mode, &sarg]).arg(&exe));
            assert_eq!(
                counts(&ours.stderr),
                counts(&theirs.stderr),
                "{prog} {mode}\n--- memdx\n{}\n--- valgrind\n{}",
                String::from_utf8_lossy(&ours.stderr),
                String::from_utf8_lossy(&theirs.stderr)
            );
            run(memdx()
                .args([
                    "check",
                    mode,
                    "--default-suppressions=no",
                    &sarg,
                    "--xml=yes",
                ])
                .arg(format!("--xml-file={}", ours_xml.display()))
                .arg(&exe));
            run(Command::new("valgrind")
                .args([mode, &sarg, "--xml=yes"])
                .arg(format!("--xml-file={}", theirs_xml.display()))
                .arg(&exe));
            let (a, b) = (
                supp_counts(&ours_xml, &names),
                supp_counts(&theirs_xml, &names),
            );
            assert_eq!(a, b, "{prog} {mode}: suppcounts");
            suppressed_somewhere += a.len();
        }
    }
    // The file did suppress things (not a vacuous comparison).
    assert!(suppressed_somewhere >= 5, "{suppressed_somewhere}");
}

/// The `{ ... }` blocks printed without the `==PID==` prefix.
fn generated_blocks(stderr: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut cur: Option<String> = None;
    for line in stderr.lines() {
        if line == "{" {
            cur = Some(String::from("{\n"));
        } else if let Some(b) = cur.as_mut() {
            b.push_str(line);
            b.push('\n');
            if line == "}" {
                blocks.push(cur.take().unwrap());
            }
        }
    }
    blocks
}

#[test]
fn generated_suppressions_round_trip() {
    let scratch = Scratch::new("supp-gen");
    for (prog, errors) in [
        ("double_free.c", 1),
        ("indirect_tree.c", 1),
        ("strdup_leak.c", 2),
        ("mismatch_delete_malloc.cpp", 1),
    ] {
        let exe = program(prog);
        let first = run(memdx()
            .args([
                "check",
                "--leak-check=full",
                "--show-leak-kinds=all",
                "--gen-suppressions=all",
            ])
            .arg(&exe));
        let text = String::from_utf8_lossy(&first.stderr).to_string();
        let blocks = generated_blocks(&text);
        assert!(
            !blocks.is_empty(),
            "{prog}: no suppressions printed\n{text}"
        );
        assert!(
            text.contains(&format!("ERROR SUMMARY: {errors} errors")),
            "{prog}\n{text}"
        );
        assert!(blocks
            .iter()
            .all(|b| b.contains("   <insert_a_suppression_name_here>\n   Memcheck:")));
        let file = write_file(&scratch.0, &format!("{prog}.supp"), &blocks.concat());
        let again = run(memdx()
            .args(["check", "--leak-check=full", "--show-leak-kinds=all"])
            .arg(format!("--suppressions={}", file.display()))
            .arg(&exe));
        let text2 = String::from_utf8_lossy(&again.stderr).to_string();
        let r = parse_report(&text2);
        assert_eq!(
            r.error_summary.as_deref(),
            Some(format!("0 errors from 0 contexts (suppressed: {errors} from {errors})").as_str()),
            "{prog}\n{text2}"
        );
        for kind in ["definitely lost", "indirectly lost", "possibly lost"] {
            assert_eq!(
                r.leak(kind),
                "0 bytes in 0 blocks",
                "{prog} {kind}\n{text2}"
            );
        }
        assert!(r.errors.is_empty(), "{prog}\n{text2}");
        // The blocks are Valgrind's too: Valgrind suppresses the same with them.
        if valgrind_available() {
            let vg = run(Command::new("valgrind")
                .args(["--leak-check=full", "--show-leak-kinds=all"])
                .arg(format!("--suppressions={}", file.display()))
                .arg(&exe));
            let vg_text = String::from_utf8_lossy(&vg.stderr).to_string();
            assert_eq!(
                parse_report(&vg_text).error_summary,
                r.error_summary,
                "{prog}: valgrind with memdx's generated suppressions\n{vg_text}"
            );
        }
    }
}

#[test]
fn gen_suppressions_yes_warns_and_prints_like_all() {
    let exe = program("double_free.c");
    let out = run(memdx().args(["check", "--gen-suppressions=yes"]).arg(&exe));
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        text.contains("--gen-suppressions=yes does not ask"),
        "{text}"
    );
    assert_eq!(generated_blocks(&text).len(), 1, "{text}");
}

#[test]
fn default_suppressions_hide_the_tls_of_threads_alive_at_exit() {
    let exe = program("thread_alive_at_exit.c");
    let on = String::from_utf8_lossy(
        &run(memdx().args(["check", "--leak-check=full"]).arg(&exe)).stderr,
    )
    .to_string();
    let off = String::from_utf8_lossy(
        &run(memdx()
            .args(["check", "--leak-check=full", "--default-suppressions=no"])
            .arg(&exe))
        .stderr,
    )
    .to_string();
    let (on_r, off_r) = (parse_report(&on), parse_report(&off));
    assert_ne!(off_r.leak("possibly lost"), "0 bytes in 0 blocks", "{off}");
    assert_eq!(on_r.leak("possibly lost"), "0 bytes in 0 blocks", "{on}");
    assert!(
        on.contains(&format!("suppressed: {}", off_r.leak("possibly lost"))),
        "{on}"
    );
}

#[test]
fn a_malformed_suppression_file_is_refused_before_the_program_runs() {
    let scratch = Scratch::new("supp-bad");
    let bad = write_file(
        &scratch.0,
        "bad.supp",
        "{\n   ok\n   Memcheck:Leak\n   fun:malloc\n}\n{\n   broken\n   Memcheck:Bogus\n   fun:main\n}\n",
    );
    let marker = scratch.0.join("ran");
    let out = run(memdx()
        .arg("check")
        .arg(format!("--suppressions={}", bad.display()))
        .args(["sh", "-c", "touch \"$0\""])
        .arg(&marker));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("{}:8:", bad.display())),
        "{stderr}"
    );
    assert!(!marker.exists(), "the program ran");
    let missing = run(memdx().args(["check", "--suppressions=/nonexistent/x.supp", "/bin/true"]));
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/x.supp"));
}

/// A loss record's suppression verdict is remembered for the run by its
/// stack (summary mode prints no stack); a fork child leaking from the
/// same stack as its parent has the same verdict, and each report counts
/// its own bytes, as Valgrind's do.
#[test]
fn a_fork_child_suppressed_like_its_parent_counts_its_own_bytes() {
    let scratch = Scratch::new("supp-fork");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/fork_same_leak.c");
    let exe = build(&src, &scratch.0, &[]);
    let supp = write_file(
        &scratch.0,
        "fork.supp",
        "{\n   same-stack\n   Memcheck:Leak\n   match-leak-kinds: definite\n   fun:malloc\n   fun:leak_here\n}\n",
    );
    let suppressed = |tool: &str, mut cmd: Command| -> Vec<String> {
        let logs = scratch.0.join(format!("{tool}-logs"));
        std::fs::create_dir_all(&logs).unwrap();
        cmd.arg("--leak-check=summary")
            .arg(format!("--suppressions={}", supp.display()))
            .arg(format!("--log-file={}/log.%p", logs.display()))
            .arg(&exe);
        let out =
            memdx_testkit::output_with_deadline(&mut cmd, std::time::Duration::from_secs(120));
        assert!(out.status.success(), "{tool}: {out:?}");
        let mut lines: Vec<String> = std::fs::read_dir(&logs)
            .unwrap()
            .flat_map(|e| {
                let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
                text.lines()
                    .filter_map(|l| l.split_once("== ").map(|(_, t)| t.trim().to_string()))
                    .filter(|t| t.starts_with("suppressed:") || t.starts_with("definitely lost:"))
                    .collect::<Vec<_>>()
            })
            .collect();
        lines.sort();
        lines
    };
    let mut ours = memdx();
    ours.arg("check");
    let got = suppressed("memdx", ours);
    assert_eq!(
        got,
        [
            "definitely lost: 0 bytes in 0 blocks",
            "definitely lost: 0 bytes in 0 blocks",
            "suppressed: 40 bytes in 1 blocks",
            "suppressed: 64 bytes in 2 blocks",
        ],
        "the parent holds its 40 bytes; the child its copy of them and its own 24"
    );
    if !valgrind_available() {
        memdx_testkit::tool_missing("valgrind is not installed (.ci/run installs it)");
        return;
    }
    let want = suppressed("valgrind", Command::new("valgrind"));
    assert_eq!(got, want, "memdx against Valgrind 3.19");
}
