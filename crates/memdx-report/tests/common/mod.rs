//! Helpers shared by the integration tests: building the C/C++ programs once
//! and running Valgrind 3.19 on them.

#![allow(dead_code)]

use memdx_testkit::{cache, Deadline, DEADLINE};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Whether `valgrind` runs here.
pub fn have_valgrind() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .try_output_within(DEADLINE)
        .is_ok_and(|o| o.status.success())
}

/// The directory the tests write into.
pub fn work_dir(sub: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("memdx-report")
        .join(sub);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

static BUILT: Mutex<BTreeMap<PathBuf, PathBuf>> = Mutex::new(BTreeMap::new());

/// Compiles `source` (C, or C++ for `.cpp`) at `-O2 -g` with `extra` flags,
/// once per source file per test process: tests running in parallel would
/// otherwise rewrite a binary another one is executing (ETXTBSY).
pub fn build(source: &Path, extra: &[&str]) -> PathBuf {
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(bin) = built.get(source) {
        return bin.clone();
    }
    let stem = source.file_stem().unwrap().to_str().unwrap();
    // One directory per test executable, in case two ever run at once.
    let exe = std::env::current_exe().unwrap();
    let tests = exe.file_stem().unwrap().to_str().unwrap();
    let bin = work_dir(&format!("bin/{tests}")).join(stem);
    let cpp = source.extension().is_some_and(|e| e == "cpp");
    let dir = source.parent().unwrap();
    let mut args = cache::os_args(["-O2", "-g", "-w"]);
    args.push(format!("-I{}", dir.display()).into());
    args.extend(cache::os_args(extra));
    args.extend(cache::os_args([Path::new("-o"), &bin, source]));
    let mut inputs = vec![source.to_owned()];
    inputs.extend(cache::sources_in(dir));
    // Through the shared cache: the same program with the same flags is
    // compiled once per test run, not once per test binary.
    let out = cache::compile(
        &cache::Compile {
            compiler: (if cpp { "g++" } else { "gcc" }).as_ref(),
            args: &args,
            output: &bin,
            inputs: &inputs,
        },
        DEADLINE,
    );
    assert!(
        out.status.success(),
        "compiling {}: {}",
        source.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    built.insert(source.to_owned(), bin.clone());
    bin
}

/// A program of this crate's `tests/programs`.
pub fn program(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(name)
}

/// Runs `valgrind --xml=yes --xml-file=... OPTIONS BIN ARGS` and returns
/// the XML it wrote. `tag` names the output file. Through the shared cache
/// (memdx-testkit's `cache::run_tool`): the same command on the same
/// binary runs once per test run; the XML's per-run values (pid, times)
/// are those of that run.
pub fn valgrind_xml(tag: &str, bin: &Path, options: &[&str], args: &[&str]) -> String {
    let xml = work_dir("xml").join(format!("{tag}.xml"));
    let mut argv = cache::os_args([
        "--xml=yes".to_owned(),
        format!("--xml-file={}", xml.display()),
    ]);
    argv.extend(cache::os_args(options));
    argv.push(bin.into());
    argv.extend(cache::os_args(args));
    let mut inputs = vec![bin.to_owned()];
    inputs.extend(
        options
            .iter()
            .filter_map(|o| o.strip_prefix("--suppressions="))
            .map(PathBuf::from),
    );
    let out = cache::run_tool(
        &cache::ToolRun {
            program: "valgrind".as_ref(),
            args: &argv,
            inputs: &inputs,
            env: VALGRIND_ENV,
            writes: std::slice::from_ref(&xml),
        },
        DEADLINE,
    );
    std::fs::read_to_string(&xml).unwrap_or_else(|e| {
        panic!(
            "valgrind wrote no XML ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The environment variables Valgrind reads its options and tools from.
pub const VALGRIND_ENV: &[&str] = &["VALGRIND_OPTS", "VALGRIND_LIB", "HOME"];

/// Valgrind's options for a full leak report.
pub const FULL: &[&str] = &["--leak-check=full", "--show-leak-kinds=all"];
