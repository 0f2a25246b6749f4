//! Symbolization of `memdx check` stacks against Valgrind 3.19 on the same
//! binaries: C++ templates and inlined functions (inlined calls as separate
//! `by` lines with the inlined function's short name), Rust with the default
//! (legacy) and v0 symbol mangling, and stripped binaries whose debug
//! information is in a separate file (by build-id under `MEMDX_DEBUG_DIRS`,
//! by `.gnu_debuglink` beside the binary, in its `.debug/` directory and
//! under a debug directory).
//!
//! Every `at`/`by` line of the report is compared, with addresses and the
//! object of frames without source masked.
#![allow(clippy::unwrap_used)]

mod check_util;

use memdx_testkit::{Deadline, DEADLINE};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use check_util::*;

fn program(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/programs")
        .join(name)
}

/// The `at`/`by` lines of a report, addresses and objects masked.
fn frame_lines(stderr: &[u8]) -> Vec<String> {
    let line = regex::Regex::new(r"^==\d+==    (at|by) 0x[0-9A-F]+: (.*)$").unwrap();
    let obj = regex::Regex::new(r"\(in [^)]*\)$").unwrap();
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|l| {
            let c = line.captures(l)?;
            Some(format!("{} {}", &c[1], obj.replace(&c[2], "(in OBJ)")))
        })
        .collect()
}

fn memdx_run(exe: &Path, env: &[(&str, &Path)]) -> Output {
    let mut cmd = memdx();
    cmd.args(["check", "--leak-check=full", "--default-suppressions=no"])
        .arg(exe);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output_within(DEADLINE)
}

fn valgrind_run(exe: &Path, extra: &[String]) -> Output {
    Command::new("valgrind")
        .arg("--leak-check=full")
        .args(extra)
        .arg(exe)
        .output_within(DEADLINE)
}

fn assert_same_frames(ours: &Output, theirs: &Output, what: &str) -> Vec<String> {
    let (a, b) = (frame_lines(&ours.stderr), frame_lines(&theirs.stderr));
    assert!(!b.is_empty(), "{what}: no frames from valgrind");
    if a != b {
        let first = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "{what}: frames differ from line {first}:\n  memdx:    {:?}\n  valgrind: {:?}\n\nmemdx report:\n{}",
            a.get(first),
            b.get(first),
            String::from_utf8_lossy(&ours.stderr)
        );
    }
    a
}

#[test]
fn cpp_templates_and_inlined_frames_match_valgrind() {
    if !valgrind_available() {
        eprintln!("valgrind not installed: skipped");
        return;
    }
    let scratch = Scratch::new("sym-cpp");
    let exe = build(&program("symbolize_cpp.cpp"), &scratch.0, &[]);
    let frames = assert_same_frames(&memdx_run(&exe, &[]), &valgrind_run(&exe, &[]), "C++");
    for want in [
        // Inlined calls: one line each, by their short names.
        "by inner (symbolize_cpp.cpp:25)",
        "by outer (symbolize_cpp.cpp:31)",
        "by main (symbolize_cpp.cpp:41)",
        // Template instantiations by their demangled symbol names.
        "by int* make<int>(unsigned long) (symbolize_cpp.cpp:19)",
        "by double* make<double>(unsigned long) (symbolize_cpp.cpp:19)",
        "by shapes::Grid<long, 4>::make_row() [clone .isra.0] (symbolize_cpp.cpp:11)",
    ] {
        assert!(frames.iter().any(|f| f == want), "{want} in {frames:#?}");
    }
}

#[test]
fn rust_legacy_and_v0_mangling_match_valgrind() {
    if !valgrind_available() {
        eprintln!("valgrind not installed: skipped");
        return;
    }
    for (mangling, flags) in [
        ("legacy", vec![]),
        (
            "v0",
            vec!["-C".to_string(), "symbol-mangling-version=v0".to_string()],
        ),
    ] {
        let scratch = Scratch::new(&format!("sym-rust-{mangling}"));
        let exe = build(&program("symbolize_rust.rs"), &scratch.0, &flags);
        let symbols =
            String::from_utf8_lossy(&Command::new("nm").arg(&exe).output_within(DEADLINE).stdout)
                .into_owned();
        let prefix = if mangling == "v0" {
            " _RINv"
        } else {
            " _ZN14symbolize_rust8leak_vec"
        };
        assert!(
            symbols.contains(prefix),
            "{mangling}: not mangled as expected"
        );
        let frames = assert_same_frames(&memdx_run(&exe, &[]), &valgrind_run(&exe, &[]), mangling);
        assert!(
            frames
                .iter()
                .all(|f| !f.contains(" _ZN") && !f.contains(" _R")),
            "{mangling}: a mangled name: {frames:#?}"
        );
        // Inlined standard-library frames by short name and the line
        // table's relative path, as Valgrind prints them.
        assert!(
            frames
                .iter()
                .any(|f| f == "by alloc_zeroed (library/alloc/src/alloc.rs:178)"),
            "{frames:#?}"
        );
        let leak_vec = if mangling == "v0" {
            "by symbolize_rust::leak_vec::<u32> (symbolize_rust.rs:21)"
        } else {
            "by symbolize_rust::leak_vec (symbolize_rust.rs:21)"
        };
        assert!(
            frames.iter().any(|f| f == leak_vec),
            "{leak_vec} in {frames:#?}"
        );
    }
}

/// `prog` built with a build-id, its debug information copied out, then
/// stripped of everything.
fn stripped(dir: &Path) -> (PathBuf, PathBuf, String) {
    let exe = build(
        &program("check_error_list.c"),
        dir,
        &["-Wl,--build-id".to_string()],
    );
    let unstripped = dir.join("unstripped");
    std::fs::copy(&exe, &unstripped).unwrap();
    let debug = dir.join("prog.debug");
    let run = |cmd: &mut Command| assert!(cmd.status_within(DEADLINE).success(), "{cmd:?}");
    run(Command::new("objcopy")
        .arg("--only-keep-debug")
        .arg(&exe)
        .arg(&debug));
    run(Command::new("strip").arg("--strip-all").arg(&exe));
    let notes = String::from_utf8_lossy(
        &Command::new("readelf")
            .arg("-n")
            .arg(&exe)
            .output_within(DEADLINE)
            .stdout,
    )
    .into_owned();
    let id = notes
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .unwrap()
        .to_string();
    (exe, debug, id)
}

#[test]
fn stripped_binary_uses_separate_debug_files() {
    if !valgrind_available() {
        eprintln!("valgrind not installed: skipped");
        return;
    }
    let scratch = Scratch::new("sym-strip");
    let (exe, debug, id) = stripped(&scratch.0);
    let unstripped = scratch.0.join("unstripped");
    let reference = valgrind_run(&unstripped, &[]);
    let with_source = |o: &Output| {
        frame_lines(&o.stderr)
            .iter()
            .any(|f| f == "by main (check_error_list.c:25)")
    };
    assert!(with_source(&reference));

    // Without its debug file: no names from the program itself.
    // Without its debug file: no names from the program itself, and the
    // stack ends at main's caller in the C library, "(below main)".
    let bare = memdx_run(&exe, &[]);
    assert!(!with_source(&bare));
    let frames = assert_same_frames(&bare, &valgrind_run(&exe, &[]), "stripped, no debug file");
    assert!(
        frames.iter().any(|f| f.starts_with("by (below main)")),
        "{frames:#?}"
    );

    // By build-id, under a debug directory named in MEMDX_DEBUG_DIRS.
    let root = scratch.0.join("debugroot");
    let by_id = root.join(".build-id").join(&id[..2]);
    std::fs::create_dir_all(&by_id).unwrap();
    std::fs::copy(&debug, by_id.join(format!("{}.debug", &id[2..]))).unwrap();
    let ours = memdx_run(&exe, &[("MEMDX_DEBUG_DIRS", &root)]);
    assert_same_frames(&ours, &reference, "build-id");
    std::fs::remove_dir_all(&root).unwrap();

    // By .gnu_debuglink: beside the binary, then in .debug/, then under a
    // debug directory (Valgrind: --extra-debuginfo-path) - each compared
    // with Valgrind finding the same file.
    let linked = scratch.0.join("linked");
    std::fs::create_dir_all(&linked).unwrap();
    let prog = linked.join("prog");
    std::fs::copy(&exe, &prog).unwrap();
    let status = Command::new("objcopy")
        .arg(format!("--add-gnu-debuglink={}", debug.display()))
        .arg(&prog)
        .status_within(DEADLINE);
    assert!(status.success());
    let beside = linked.join("prog.debug");
    std::fs::copy(&debug, &beside).unwrap();
    assert_same_frames(
        &memdx_run(&prog, &[]),
        &valgrind_run(&prog, &[]),
        "debuglink beside",
    );
    assert!(with_source(&memdx_run(&prog, &[])));

    std::fs::create_dir_all(linked.join(".debug")).unwrap();
    std::fs::rename(&beside, linked.join(".debug/prog.debug")).unwrap();
    assert_same_frames(
        &memdx_run(&prog, &[]),
        &valgrind_run(&prog, &[]),
        "debuglink .debug/",
    );

    let extra = scratch.0.join("extra");
    let under = extra.join(linked.strip_prefix("/").unwrap());
    std::fs::create_dir_all(&under).unwrap();
    std::fs::rename(linked.join(".debug/prog.debug"), under.join("prog.debug")).unwrap();
    let ours = memdx_run(&prog, &[("MEMDX_DEBUG_DIRS", &extra)]);
    let theirs = valgrind_run(
        &prog,
        &[format!("--extra-debuginfo-path={}", extra.display())],
    );
    assert_same_frames(&ours, &theirs, "debuglink under a debug directory");
    assert!(with_source(&ours));

    // A file under the link's name whose CRC does not match is not used.
    std::fs::remove_dir_all(&extra).unwrap();
    std::fs::write(linked.join("prog.debug"), b"not the debug file").unwrap();
    assert!(!with_source(&memdx_run(&prog, &[])));
}

/// A report with process ids and addresses (ASLR) masked.
fn masked_report(out: &Output) -> String {
    let pid = regex::Regex::new(r"==\d+==").unwrap();
    let addr = regex::Regex::new(r"0x[0-9A-F]+:").unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    let text = pid.replace_all(&text, "==PID==");
    addr.replace_all(&text, "0xADDR:").into_owned()
}

/// The files of the frame cache under `xdg` (XDG_CACHE_HOME).
fn kept_frame_files(xdg: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(xdg.join("memdx/frames"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

/// Frames kept between runs (`$XDG_CACHE_HOME/memdx/frames`): the run
/// that writes them and the one that reads them back print the report
/// `MEMDX_SYMBOL_CACHE=off` prints; what the second run prints is read from
/// the cache (an edited name shows); corrupt files are ignored and
/// rewritten.
#[test]
fn frames_kept_between_runs_give_the_same_report() {
    let scratch = check_util::Scratch::new("frame-cache");
    let exe = build_corpus("definite_leak.c", &scratch);
    let xdg = scratch.0.join("xdg");
    let run = |cache_off: bool| {
        let mut cmd = memdx();
        cmd.args(["check", "--leak-check=full", "--show-leak-kinds=all"])
            .arg(&exe)
            .env("XDG_CACHE_HOME", &xdg);
        if cache_off {
            cmd.env("MEMDX_SYMBOL_CACHE", "off");
        }
        masked_report(&cmd.output_within(DEADLINE))
    };
    let uncached = run(true);
    assert!(uncached.contains("by 0x"), "{uncached}");
    assert!(
        kept_frame_files(&xdg).is_empty(),
        "MEMDX_SYMBOL_CACHE=off wrote"
    );
    assert_eq!(run(false), uncached, "the run that keeps the frames");
    let files = kept_frame_files(&xdg);
    let program_file = files
        .iter()
        .find(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .contains(&*exe.to_string_lossy())
        })
        .unwrap_or_else(|| panic!("no kept frames of the program in {files:?}"));
    assert_eq!(run(false), uncached, "the run that reads them back");

    // The second run's frames come from the file.
    let text = std::fs::read_to_string(program_file).unwrap();
    assert!(text.contains(r#"["main","main""#), "{text}");
    std::fs::write(
        program_file,
        text.replace(r#"["main","main""#, r#"["kept_main","main""#),
    )
    .unwrap();
    let edited = run(false);
    assert!(edited.contains(": kept_main ("), "{edited}");

    // Corrupt files are ignored, and replaced.
    for f in &files {
        std::fs::write(f, "{\"identity\": garbage").unwrap();
    }
    assert_eq!(run(false), uncached, "with corrupt files");
    let rewritten = std::fs::read_to_string(program_file).unwrap();
    assert!(rewritten.contains(r#"["main","main""#), "{rewritten}");
}
