//! Shared helpers for the `memdx check` tests: build corpus programs, run
//! them under memdx (and Valgrind), and parse the Valgrind-style report.

#![allow(dead_code)]
// Test support: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used)]

use memdx_testkit::{cache, Deadline, DEADLINE};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/check")
}

/// The corpus programs (C and C++ sources), sorted.
pub fn corpus_sources() -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "c" || e == "cpp" || e == "rs")
        })
        .filter(|p| memdx_testkit::corpus_selected(&p.file_name().unwrap().to_string_lossy()))
        .collect();
    v.sort();
    v
}

/// Builds one corpus program by file name with its header's flags.
pub fn build_corpus(name: &str, scratch: &Scratch) -> PathBuf {
    let src = corpus_dir().join(name);
    let expect = parse_expect(&std::fs::read_to_string(&src).unwrap());
    build(&src, &scratch.0, &expect.build)
}

pub fn memdx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_memdx"))
}

/// A scratch directory under the cargo target dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("check-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a corpus program's header comment promises.
#[derive(Debug, Default, Clone)]
pub struct Expect {
    pub leaks: BTreeMap<String, String>,
    pub errors: Vec<String>,
    pub exit: Option<i32>,
    pub signal: Option<i32>,
    pub build: Vec<String>,
    /// Shared libraries the program loads (`lib: NAME`): built from
    /// `lib/NAME.c` into `NAME.so` next to the program.
    pub libs: Vec<String>,
    pub valgrind_skip: Option<String>,
    /// Why the HEAP SUMMARY differs from Valgrind's (`heap-summary: differs ...`).
    pub heap_summary_differs: Option<String>,
    /// Why the ERROR SUMMARY differs from Valgrind's (`error-summary: differs ...`).
    pub error_summary_differs: Option<String>,
    /// Why the program ends otherwise natively than under memdx and
    /// Valgrind (`native: differs ...`; e.g. glibc's free aborting on the
    /// chunk header the program overwrote).
    pub native_differs: Option<String>,
}

pub fn parse_expect(src: &str) -> Expect {
    let mut e = Expect::default();
    let header = match src.find("*/") {
        Some(end) => &src[..end],
        None => "",
    };
    for line in header.lines() {
        let line = line.trim().trim_start_matches("/*").trim();
        if let Some(rest) = line.strip_prefix("expect-error:") {
            e.errors.push(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("expect-exit:") {
            e.exit = Some(rest.trim().parse().unwrap());
        } else if let Some(rest) = line.strip_prefix("expect-signal:") {
            e.signal = Some(rest.trim().parse().unwrap());
        } else if let Some(rest) = line.strip_prefix("expect:") {
            let (kind, value) = rest.split_once(':').unwrap();
            e.leaks
                .insert(kind.trim().to_string(), value.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("lib:") {
            e.libs.push(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("build:") {
            e.build = rest.split_whitespace().map(String::from).collect();
        } else if let Some(rest) = line.strip_prefix("error-summary: differs") {
            e.error_summary_differs = Some(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("native: differs") {
            e.native_differs = Some(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("heap-summary: differs") {
            e.heap_summary_differs = Some(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("valgrind: skip") {
            e.valgrind_skip = Some(rest.trim().to_string());
        }
    }
    e
}

/// Compiles one corpus source with the system compiler, as a distribution
/// would: -O2, debug info, no frame pointers. The shared libraries its
/// header names (`lib: NAME`) are built next to it.
pub fn build(src: &Path, out_dir: &Path, extra: &[String]) -> PathBuf {
    if let Ok(text) = std::fs::read_to_string(src) {
        for lib in parse_expect(&text).libs {
            build_lib(&lib, out_dir);
        }
    }
    let is_cpp = src.extension().is_some_and(|e| e == "cpp");
    let exe = out_dir.join(src.file_stem().unwrap());
    if src.extension().is_some_and(|e| e == "rs") {
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let mut args = cache::os_args([
            "-C",
            "opt-level=2",
            "-g",
            "-C",
            "force-frame-pointers=no",
            "--edition=2021",
        ]);
        args.extend(cache::os_args(extra));
        args.extend(cache::os_args([src, Path::new("-o"), &exe]));
        compile(&rustc, &args, &exe, vec![src.to_owned()], src);
        return exe;
    }
    let mut args = cache::os_args(["-O2", "-g", "-fomit-frame-pointer", "-w", "-I"]);
    args.extend(cache::os_args([corpus_dir().as_path(), src]));
    args.extend(cache::os_args(extra));
    args.extend(cache::os_args([Path::new("-o"), &exe]));
    let mut inputs = vec![src.to_owned()];
    inputs.extend(cache::sources_in(&corpus_dir()));
    inputs.extend(cache::sources_in(src.parent().unwrap()));
    let compiler = if is_cpp { "g++" } else { "gcc" };
    compile(compiler.as_ref(), &args, &exe, inputs, src);
    exe
}

/// Runs `compiler` with `args` through the shared cache of compiled
/// programs (memdx-testkit's `cache::compile`: the same inputs and flags
/// built once per test run), printing what it printed; fails the test
/// unless it succeeded.
fn compile(compiler: &OsStr, args: &[OsString], output: &Path, inputs: Vec<PathBuf>, src: &Path) {
    let out = cache::compile(
        &cache::Compile {
            compiler,
            args,
            output,
            inputs: &inputs,
        },
        DEADLINE,
    );
    // Through the test harness's capture, as `status_within` did.
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "compiling {}", src.display());
}

/// Builds `lib/NAME.c` of the corpus into `out_dir/NAME.so`.
pub fn build_lib(name: &str, out_dir: &Path) -> PathBuf {
    let src = corpus_dir().join("lib").join(format!("{name}.c"));
    let out = out_dir.join(format!("{name}.so"));
    let mut args = cache::os_args([
        "-O2",
        "-g",
        "-fomit-frame-pointer",
        "-w",
        "-shared",
        "-fPIC",
    ]);
    args.extend(cache::os_args([src.as_path(), Path::new("-o"), &out]));
    compile("gcc".as_ref(), &args, &out, vec![src.clone()], &src);
    out
}

/// The report of the first process in a Valgrind-style log (the program
/// itself; fork children have other pids).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub pid: String,
    /// "definitely lost" -> "16 bytes in 1 blocks", etc.
    pub summary: BTreeMap<String, String>,
    /// Error headlines in order.
    pub errors: Vec<String>,
    /// The facts of invalid-access errors: "Address 0x... is N bytes after
    /// a block of size M alloc'd" without the address.
    pub facts: Vec<String>,
    pub heap_summary: Vec<String>,
    pub error_summary: Option<String>,
}

pub fn parse_report(stderr: &str) -> Report {
    let mut r = Report::default();
    for line in stderr.lines() {
        let Some(rest) = line.strip_prefix("==") else {
            continue;
        };
        let Some((pid, text)) = rest.split_once("== ") else {
            continue;
        };
        if r.pid.is_empty() {
            r.pid = pid.to_string();
        }
        if pid != r.pid {
            continue;
        }
        let t = text.trim();
        for kind in [
            "definitely lost",
            "indirectly lost",
            "possibly lost",
            "still reachable",
        ] {
            if let Some(v) = t.strip_prefix(&format!("{kind}: ")) {
                r.summary.insert(kind.to_string(), v.to_string());
            }
        }
        if text.starts_with("Invalid free()")
            || text.starts_with("Mismatched free()")
            || text.starts_with("Invalid read of size")
            || text.starts_with("Invalid write of size")
            || text.starts_with("Jump to the invalid address")
            || text.starts_with("Syscall param ")
            || text.starts_with("Argument '")
            // A damaged redzone or poison (memdx only: found after the fact).
            || text.starts_with("Invalid write before the start of a block")
            || text.starts_with("Invalid write after the end of a block")
            || text.starts_with("Invalid write to a freed block")
        {
            r.errors.push(text.to_string());
        }
        // Valgrind's overlap headline carries the addresses: keep the routine.
        if let Some(rest) = text.strip_prefix("Source and destination overlap in ") {
            let func = rest.split('(').next().unwrap_or(rest);
            r.errors
                .push(format!("Source and destination overlap in {func}"));
        }
        if let Some(rest) = text.strip_prefix(" Address 0x") {
            if let Some((_, fact)) = rest.split_once(' ') {
                if fact.contains(" a block of size ") {
                    r.facts.push(fact.to_string());
                }
            }
        }
        if t.starts_with("in use at exit:") || t.starts_with("total heap usage:") {
            r.heap_summary.push(t.to_string());
        }
        if let Some(v) = t.strip_prefix("ERROR SUMMARY: ") {
            r.error_summary = Some(v.to_string());
        }
    }
    r
}

impl Report {
    /// A summary figure, "0 bytes in 0 blocks" when the line is absent
    /// (Valgrind prints no LEAK SUMMARY when nothing is in use).
    pub fn leak(&self, kind: &str) -> String {
        self.summary
            .get(kind)
            .cloned()
            .unwrap_or_else(|| "0 bytes in 0 blocks".into())
    }
}

pub fn run_memdx(exe: &Path, opts: &[&str]) -> Output {
    memdx()
        .arg("check")
        .args(opts)
        .arg(exe)
        .output_within(DEADLINE)
}

/// Whether valgrind runs here; when it does not, the calling test is a
/// differential test without its reference: `tool_missing` says so (and
/// fails the test under `MEMDX_REQUIRE_TOOLS=1`, as in CI).
pub fn valgrind_available() -> bool {
    let runs = Command::new("valgrind")
        .arg("--version")
        .try_output_within(DEADLINE)
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !runs {
        memdx_testkit::tool_missing("valgrind is not installed");
    }
    runs
}

pub fn run_valgrind(exe: &Path) -> Output {
    Command::new("valgrind")
        .args(["--leak-check=full"])
        .arg(exe)
        .output_within(DEADLINE)
}

/// The start of memdx's last line of a text report, after the final
/// ERROR SUMMARY (Valgrind has no such line).
pub const NOT_CHECKED_PREFIX: &str = "Not checked by memdx: ";

/// `stderr` without memdx's "Not checked by memdx: ..." lines, so that the
/// rest can be compared with Valgrind's report byte for byte. Panics
/// unless each such line directly follows an ERROR SUMMARY line (the place
/// memdx's layout promises).
pub fn without_not_checked(stderr: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for line in stderr.lines() {
        let text = line.split_once("== ").map_or("", |(_, t)| t);
        if text.starts_with(NOT_CHECKED_PREFIX) {
            let before = out.last().copied().unwrap_or("");
            assert!(
                before.contains("== ERROR SUMMARY: "),
                "'{line}' does not follow an ERROR SUMMARY line:\n{stderr}"
            );
            continue;
        }
        out.push(line);
    }
    let mut s = out.join("\n");
    if stderr.ends_with('\n') {
        s.push('\n');
    }
    s
}
