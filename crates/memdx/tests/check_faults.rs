//! Programs killed by an invalid access (or that catch it themselves): the
//! whole report, from the first error to the ERROR SUMMARY, is Valgrind
//! 3.19's byte for byte once pids, addresses and the path of the object
//! holding the allocator are set aside; and the process ends as natively.

#![allow(clippy::unwrap_used)]

mod check_util;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use check_util::*;

/// The report without its preamble, with `==PID==`, hex addresses and
/// `(in /path/of/object)` made neutral.
fn normalized(stderr: &str) -> Vec<String> {
    let hex = regex::Regex::new(r"0x[0-9A-Fa-f]+").unwrap();
    let obj = regex::Regex::new(r"\(in [^)]*\)").unwrap();
    let mut lines = Vec::new();
    let mut in_preamble = true;
    for line in stderr.lines() {
        let Some(rest) = line.strip_prefix("==") else {
            continue; // the program's own output
        };
        let Some((_, text)) = rest.split_once("== ") else {
            continue;
        };
        if in_preamble {
            // The preamble ends with the blank line after "Command:".
            if text.is_empty() && !lines.is_empty() {
                in_preamble = false;
                lines.clear();
            } else if text.starts_with("Command:") {
                lines.push(String::new());
            }
            continue;
        }
        let text = hex.replace_all(text, "0xA");
        lines.push(obj.replace_all(&text, "(in OBJ)").into_owned());
    }
    lines
}

#[test]
fn fault_reports_are_valgrinds() {
    if !valgrind_available() {
        println!("SKIPPED: valgrind is not installed (.ci/run installs it)");
        return;
    }
    let scratch = Scratch::new("faults");
    let mut failures = Vec::new();
    for name in [
        "null_read.c",
        "null_write.c",
        "wild_pointer.c",
        "segv_after_leak.c",
        "own_segv_handler.c",
        "sigbus_past_eof.c",
        "memcpy_overflow.c",
        "strcpy_overflow.c",
        "strcpy_overlap.c",
        "signal_handlers_chained.c",
        "fortify_overflows.c",
        "fortify_memcpy_overlap.c",
        "fortify_memmove_first.c",
        "mempcpy_stpncpy.c",
        "read_overruns.c",
    ] {
        let exe = build_corpus(name, &scratch);
        let ours = run_memdx(&exe, &["--leak-check=full", "--default-suppressions=no"]);
        let theirs = run_valgrind(&exe);
        let native = Command::new(&exe).output().unwrap();
        // Valgrind names its replacement of glibc 2.36's memcpy "memmove"
        // (memcpy and memmove are one function in this glibc, and Valgrind
        // prefers its memmove replacement then); memdx's is memcpy.
        let theirs_text = String::from_utf8_lossy(&theirs.stderr).replace(
            ": memmove (in /usr/libexec/valgrind/",
            ": memcpy (in /usr/libexec/valgrind/",
        );
        let (a, b) = (
            normalized(&String::from_utf8_lossy(&ours.stderr)),
            normalized(&theirs_text),
        );
        assert!(b.len() > 5, "{name}: no valgrind report");
        if a != b {
            let diff: Vec<String> = a
                .iter()
                .zip(b.iter())
                .filter(|(x, y)| x != y)
                .map(|(x, y)| format!("memdx:    {x}\nvalgrind: {y}"))
                .collect();
            failures.push(format!(
                "{name}: reports differ ({} vs {} lines)\n{}",
                a.len(),
                b.len(),
                diff.join("\n")
            ));
        }
        if ours.status.signal() != native.status.signal()
            || ours.status.code() != native.status.code()
        {
            failures.push(format!(
                "{name}: status {:?} under memdx, {:?} natively",
                ours.status, native.status
            ));
        }
        if ours.stdout != native.stdout {
            failures.push(format!("{name}: stdout differs from the native run"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
