//! Differential test of `memdx check --xml=yes`: Valgrind 3.19 and memdx
//! run the same corpus binaries, both XML documents are read with
//! `memdx_report::xml::read`, and each error must agree on kind, leaked
//! bytes and blocks, and the top user frame's function, directory, file and
//! line exactly as Valgrind writes them, and so must every frame of every
//! stack, down to `start_thread` (order-insensitive: the order of equal-sized loss records is not
//! Valgrind's to keep). Also: frames carry obj and dir, `--xml-fd`, and
//! `--json` writes the same model.

#![allow(clippy::unwrap_used)]

mod check_util;

use memdx_testkit::{Deadline, DEADLINE};
use std::path::{Path, PathBuf};
use std::process::Command;

use check_util::*;
use memdx_report::{Error, Frame, Report};

/// Reads the report of the program's own process from the `%p` files in
/// `dir` (a fork child writes its own file; the program's is the one whose
/// parent is none of the others).
fn main_report(dir: &Path, prefix: &str) -> Result<Report, String> {
    let mut reports = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with(prefix) && name.ends_with(".xml") {
            let text = std::fs::read_to_string(&p).unwrap();
            let r = memdx_report::xml::read(&text).map_err(|e| format!("{name}: {e}"))?;
            reports.push(r);
        }
    }
    let pids: Vec<u32> = reports.iter().map(|r| r.pid).collect();
    reports
        .into_iter()
        .find(|r| !pids.contains(&r.ppid))
        .ok_or_else(|| format!("no {prefix}*.xml report in {}", dir.display()))
}

/// The first frame with source information: the program's own code (the
/// allocator frames of Valgrind's preload and of memdx's runtime, and libc
/// without debug info, have none).
fn top_user_frame(e: &Error) -> Option<&Frame> {
    e.stack.frames.iter().find(|f| f.file.is_some())
}

/// What must agree per error.
fn facts(r: &Report) -> Vec<String> {
    let mut v: Vec<String> = r
        .errors
        .iter()
        .map(|e| {
            let (bytes, blocks) = match &e.what {
                memdx_report::What::Leak {
                    leaked_bytes,
                    leaked_blocks,
                    ..
                } => (*leaked_bytes, *leaked_blocks),
                memdx_report::What::Text(_) => (0, 0),
            };
            let top = top_user_frame(e)
                .map(|f| {
                    format!(
                        "{} ({}/{}:{})",
                        f.function.as_deref().unwrap_or("???"),
                        f.dir.as_deref().unwrap_or("?"),
                        f.file.as_deref().unwrap_or("?"),
                        f.line.unwrap_or(0)
                    )
                })
                .unwrap_or_else(|| "-".into());
            format!("{} {bytes}/{blocks} {top}", e.kind.xml_name())
        })
        .collect();
    v.sort();
    v
}

/// Every error's whole stack as Valgrind prints it (function, dir, file,
/// line of each frame; the allocator's own frames, whose object differs
/// (and of which Valgrind may show two: its posix_memalign calls its
/// memalign), and addresses left out), down to `start_thread`: below it glibc
/// calls `clone3` natively, `clone` under Valgrind 3.19 (which makes
/// clone3 fail with ENOSYS).
fn stacks(r: &Report) -> Vec<String> {
    let mut v: Vec<String> = r
        .errors
        .iter()
        .map(|e| {
            let mut frames = Vec::new();
            let preload = |f: &&Frame| {
                f.obj.as_deref().is_some_and(|o| {
                    o.contains("vgpreload_memcheck") || o.contains("libmemdx_runtime")
                })
            };
            for f in e.stack.frames.iter().filter(|f| !preload(f)) {
                let fun = f.function.as_deref().unwrap_or("???");
                frames.push(format!(
                    "{fun} ({}/{}:{})",
                    f.dir.as_deref().unwrap_or("?"),
                    f.file.as_deref().unwrap_or("?"),
                    f.line.unwrap_or(0)
                ));
                if fun == "start_thread" {
                    break;
                }
            }
            format!("{} {}", e.kind.xml_name(), frames.join(" | "))
        })
        .collect();
    v.sort();
    v
}

/// Programs whose whole stacks may differ from Valgrind's, and why (their
/// top frames must still agree).
/// Programs whose errors happen in glibc code under Valgrind (a `_chk`
/// routine it does not replace runs glibc's own loop under memcheck) and in
/// the runtime's entry point of that routine under memdx: Valgrind's top
/// frame with a file is glibc's source, memdx's the program's. The errors'
/// kinds and counts must still agree.
const TOP_FRAME_DIFFERS: &[(&str, &str)] = &[
    (
        "fortify_memset_overflow.c",
        "glibc's memset/memcpy (AVX) under Valgrind, memdx's __memset_chk/__mempcpy_chk",
    ),
    (
        "fortify_strcat.c",
        "glibc's strcat_chk.c/strncat_chk.c lines under Valgrind, memdx's entry points",
    ),
    (
        "wide_strings.c",
        "Valgrind 3.19 leaves wcslen/wcschr to glibc here (__wcslen_avx2, __wcschr_avx2 in frame 0), memdx checks them and names the caller",
    ),
    (
        "wide_strings_O0.c",
        "Valgrind 3.19 leaves wcslen/wcschr to glibc here (__wcslen_avx2, __wcschr_avx2 in frame 0), memdx checks them and names the caller",
    ),
    (
        "uninit_stack_thread.c",
        "a thread's write is __libc_write with write inlined under Valgrind (its clone, not glibc's clone3), memdx's frame 0 is write",
    ),
];

/// [`facts`] without the top frame.
fn kinds(facts: &[String]) -> Vec<String> {
    let mut v: Vec<String> = facts
        .iter()
        .map(|f| f.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    v.sort();
    v
}

const STACKS_DIFFER: &[(&str, &str)] = &[(
    "cpp_shared_ptr_cycle.cpp",
    "the cpp_demangle crate prints the constructor template \
     `shared_ptr<std::allocator<void>, >(&&)` where libiberty (Valgrind) prints \
     `shared_ptr<std::allocator<void>>(std::_Sp_alloc_shared_tag<...>)`",
)];

fn run_both(
    exe: &Path,
    dir: &Path,
    opts: &[&str],
) -> (Result<Report, String>, Result<Report, String>) {
    memdx()
        .arg("check")
        // Valgrind's verdicts: memdx's built-in suppressions off.
        .arg("--default-suppressions=no")
        .args(opts)
        .arg("--xml=yes")
        .arg(format!("--xml-file={}/memdx.%p.xml", dir.display()))
        .arg(exe)
        .output_within(DEADLINE);
    Command::new("valgrind")
        .args(opts)
        .arg("--xml=yes")
        .arg(format!("--xml-file={}/valgrind.%p.xml", dir.display()))
        .arg(exe)
        .output_within(DEADLINE);
    (main_report(dir, "memdx."), main_report(dir, "valgrind."))
}

/// What comparing one corpus program gave.
#[derive(Default)]
struct Outcome {
    lines: Vec<String>,
    failures: Vec<String>,
    compared: usize,
    errors: usize,
}

#[test]
fn corpus_xml_agrees_with_valgrind() {
    if !valgrind_available() {
        memdx_testkit::tool_missing("valgrind is not installed (.ci/run installs it)");
        return;
    }
    let scratch = Scratch::new("xml");
    let sources = corpus_sources();
    // One program per CPU at a time (memdx_testkit::corpus_jobs); the results
    // are printed and judged afterwards, in the corpus's order.
    let outcomes = memdx_testkit::map_in_parallel(&sources, memdx_testkit::corpus_jobs(), |src| {
        let src = src.clone();
        let mut out = Outcome::default();
        let expect = parse_expect(&std::fs::read_to_string(&src).unwrap());
        let name = src.file_name().unwrap().to_string_lossy().to_string();
        if let Some(why) = &expect.valgrind_skip {
            out.lines.push(format!("{name:32} not compared: {why}"));
            return out;
        }
        let exe = build(&src, &scratch.0, &expect.build);
        let dir = scratch.0.join(format!("{name}.out"));
        std::fs::create_dir_all(&dir).unwrap();
        let (ours, theirs) = run_both(&exe, &dir, &["--leak-check=full"]);
        let theirs = match theirs {
            Ok(r) => r,
            // Valgrind keeps writing a fork child's XML into the parent's
            // file (it opens it once, before the fork): not one document.
            // posix_spawn's vfork-like clone is a fork under Valgrind, and a
            // child whose exec fails reports there too; daemon(3) forks.
            Err(e)
                if ["fork(", "posix_spawn(", "daemon("]
                    .iter()
                    .any(|f| std::fs::read_to_string(&src).unwrap().contains(f)) =>
            {
                out.lines.push(format!(
                    "{name:32} not compared: valgrind's XML is not one document ({e})"
                ));
                return out;
            }
            Err(e) => {
                out.failures
                    .push(format!("{name}: valgrind's XML unreadable: {e}"));
                return out;
            }
        };
        let ours = match ours {
            Ok(r) => r,
            Err(e) => {
                out.failures
                    .push(format!("{name}: memdx's XML unreadable: {e}"));
                return out;
            }
        };
        assert!(ours.finished.is_some(), "{name}: no FINISHED status");
        // Third-party consumers need the object and, with debug info, the
        // directory of every user frame.
        for e in &ours.errors {
            for f in &e.stack.frames {
                // An address in no loaded object (code of a library
                // dlclose'd before the report) has none, as under Valgrind
                // (`???`, a frame with only <ip>).
                let unknown = f.function.is_none() && f.file.is_none();
                assert!(
                    f.obj.is_some() || unknown,
                    "{name}: frame without <obj>: {f:?}"
                );
                if f.file.is_some() {
                    assert!(f.dir.is_some(), "{name}: frame without <dir>: {f:?}");
                }
            }
        }
        let mut theirs = theirs;
        // A program whose invalid accesses memdx reports only differs in
        // their counts (strchr_past_block.c): its errors are compared.
        let memdx_reports_accesses = ours.errors.iter().any(|e| {
            matches!(
                e.kind,
                memdx_report::ErrorKind::InvalidRead | memdx_report::ErrorKind::InvalidWrite
            )
        });
        if expect.error_summary_differs.is_some() && !memdx_reports_accesses {
            // Declared: Valgrind also reports errors memdx does not check
            // for (invalid reads and writes, uninitialised values).
            theirs.errors.retain(|e| {
                e.kind.is_leak()
                    || matches!(
                        e.kind,
                        memdx_report::ErrorKind::InvalidFree
                            | memdx_report::ErrorKind::MismatchedFree
                    )
            });
        }
        assert_eq!(
            ours.fatal_signal.as_ref().map(|f| f.signo),
            theirs.fatal_signal.as_ref().map(|f| f.signo),
            "{name}: fatal signal"
        );
        let (a, b) = (facts(&ours), facts(&theirs));
        out.compared += 1;
        out.errors += b.len();
        let (sa, sb) = (stacks(&ours), stacks(&theirs));
        let known = STACKS_DIFFER.iter().find(|(n, _)| *n == name);
        let top_differs = TOP_FRAME_DIFFERS.iter().find(|(n, _)| *n == name);
        if let Some((_, why)) = top_differs {
            if kinds(&a) != kinds(&b) {
                out.lines.push(format!("{name:32} DIFFERENT"));
                out.failures
                    .push(format!("{name}:\n  memdx    {a:?}\n  valgrind {b:?}"));
            } else {
                out.lines.push(format!(
                    "{name:32} same errors ({}); top frames differ: {why}",
                    b.len()
                ));
            }
        } else if a != b {
            out.lines.push(format!("{name:32} DIFFERENT"));
            out.failures
                .push(format!("{name}:\n  memdx    {a:?}\n  valgrind {b:?}"));
        } else if sa != sb && known.is_none() {
            out.lines.push(format!("{name:32} DIFFERENT STACKS"));
            out.failures
                .push(format!("{name}:\n  memdx    {sa:?}\n  valgrind {sb:?}"));
        } else if let (false, Some((_, why))) = (sa == sb, known) {
            out.lines.push(format!(
                "{name:32} same top frames ({} errors); stacks differ: {why}",
                b.len()
            ));
        } else {
            out.lines
                .push(format!("{name:32} same ({} errors, whole stacks)", b.len()));
        }
        out
    });
    let mut failures = Vec::new();
    let mut compared = 0;
    let mut errors_compared = 0;
    for out in outcomes {
        for line in out.lines {
            println!("{line}");
        }
        failures.extend(out.failures);
        compared += out.compared;
        errors_compared += out.errors;
    }
    println!("compared the XML of {compared} programs ({errors_compared} errors) with valgrind");
    assert!(compared > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn corpus_program(name: &str) -> PathBuf {
    static DIR: std::sync::OnceLock<Scratch> = std::sync::OnceLock::new();
    static BUILT: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let scratch = DIR.get_or_init(|| Scratch::new("xml-programs"));
    let mut built = BUILT.lock().unwrap();
    if let Some((_, p)) = built.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    let p = build_corpus(name, scratch);
    built.push((name.to_string(), p.clone()));
    p
}

#[test]
fn xml_fd_and_json_carry_the_same_report() {
    let exe = corpus_program("double_free.c");
    let scratch = Scratch::new("xml-fd");
    let json = scratch.0.join("report.json");
    // fd 3 is the XML file, opened by the shell.
    let xml = scratch.0.join("fd.xml");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec \"$0\" check --leak-check=full --xml=yes --xml-fd=3 --json={} {} 3>{}",
            json.display(),
            exe.display(),
            xml.display()
        ))
        .arg(env!("CARGO_BIN_EXE_memdx"))
        .output_within(DEADLINE);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // As under Valgrind 3.19, XML mode prints no text report.
    assert_eq!(stderr, "");
    let from_xml = memdx_report::xml::read(&std::fs::read_to_string(&xml).unwrap()).unwrap();
    let from_json = memdx_report::json::read(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(from_xml.errors, from_json.errors);
    assert_eq!(from_xml.pid, from_json.pid);
    let kinds: Vec<_> = from_xml.errors.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![memdx_report::ErrorKind::InvalidFree]);
    assert_eq!(from_xml.error_counts.len(), 1);
    let summary = from_json.error_summary.unwrap();
    assert_eq!((summary.errors, summary.contexts), (1, 1));
    assert!(from_json.heap_summary.is_some());
}

#[test]
fn xml_without_a_destination_is_refused() {
    let out = memdx()
        .args(["check", "--xml=yes", "/bin/true"])
        .output_within(DEADLINE);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--xml-file"), "{stderr}");
}

fn python() -> String {
    std::env::var("MEMDX_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// A third-party consumer of Valgrind XML (ValgrindCI, PyPI `valgrindci`)
/// reads what `memdx check --xml=yes` writes for a real program and finds
/// its errors at the program's source lines.
#[test]
fn valgrind_ci_reads_memdx_check_xml() {
    let have = Command::new(python())
        .args(["-c", "import ValgrindCI"])
        .try_output_within(DEADLINE)
        .is_ok_and(|o| o.status.success());
    if !have {
        memdx_testkit::tool_missing(&format!(
            "ValgrindCI (pip install valgrindci) is not available to {}",
            python()
        ));
        return;
    }
    // Built from a copy in a directory without `..` in its path: ValgrindCI
    // matches the frames' <dir> against --source-dir literally.
    let scratch = Scratch::new("xml-valgrindci");
    let src = scratch.0.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for f in ["double_free.c", "common.h"] {
        std::fs::copy(corpus_dir().join(f), src.join(f)).unwrap();
    }
    let exe = build(&src.join("double_free.c"), &scratch.0, &[]);
    let xml = scratch.0.join("memdx.xml");
    let out = memdx()
        .args(["check", "--leak-check=full", "--xml=yes"])
        .arg(format!("--xml-file={}", xml.display()))
        .arg(&exe)
        .output_within(DEADLINE);
    assert!(out.status.success());
    let html = scratch.0.join("html");
    let ci = Command::new(python())
        .args(["-m", "ValgrindCI"])
        .arg(&xml)
        .arg("--source-dir")
        .arg(&src)
        .args(["--number-of-errors", "--summary", "--output-dir"])
        .arg(&html)
        .output_within(DEADLINE);
    let stdout = String::from_utf8_lossy(&ci.stdout).to_string();
    assert!(
        ci.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&ci.stderr)
    );
    assert!(stdout.contains("1 errors."), "{stdout}");
    assert!(stdout.contains("double_free.c"), "{stdout}");
    assert!(stdout.contains("line 4: InvalidFree"), "{stdout}");
}

/// `--gen-suppressions=all` puts each error's block into the XML too, and
/// the document still reads back.
#[test]
fn generated_suppressions_are_in_the_xml() {
    let exe = corpus_program("strdup_leak.c");
    let scratch = Scratch::new("xml-gen");
    let xml = scratch.0.join("gen.xml");
    memdx()
        .args([
            "check",
            "--leak-check=full",
            "--gen-suppressions=all",
            "--xml=yes",
        ])
        .arg(format!("--xml-file={}", xml.display()))
        .arg(&exe)
        .output_within(DEADLINE);
    let r = memdx_report::xml::read(&std::fs::read_to_string(&xml).unwrap()).unwrap();
    assert_eq!(r.errors.len(), 2);
    for e in &r.errors {
        let s = e.suppression.as_ref().unwrap();
        assert_eq!(s.kind, "Memcheck:Leak");
        assert_eq!(s.aux.as_deref(), Some("match-leak-kinds: definite"));
        assert!(s
            .raw_text
            .starts_with("{\n   <insert_a_suppression_name_here>\n"));
        assert!(
            s.raw_text.contains("   fun:leak\n   fun:main\n}"),
            "{}",
            s.raw_text
        );
    }
}

#[test]
fn an_xml_file_that_cannot_be_created_is_refused_before_the_program_runs() {
    let out = memdx()
        .args([
            "check",
            "--xml=yes",
            "--xml-file=/nonexistent/dir/out.%p.xml",
            "/bin/true",
        ])
        .output_within(DEADLINE);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/dir"), "{stderr}");
    assert!(
        !stderr.contains("HEAP SUMMARY"),
        "the program ran: {stderr}"
    );
}
