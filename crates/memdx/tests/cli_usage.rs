//! What a new user meets first: `memdx` alone, mistyped commands and
//! options, `completions` without a shell.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::process::{Command, Output};
use std::time::Duration;

fn memdx(args: &[&str]) -> Output {
    memdx_testkit::output_with_deadline(
        Command::new(env!("CARGO_BIN_EXE_memdx")).args(args),
        Duration::from_secs(60),
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn no_arguments_prints_short_help_on_stdout_and_exits_2() {
    let out = memdx(&[]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(text.contains("Usage: memdx <COMMAND>"), "{text}");
    assert!(text.contains("free") && text.contains("check"), "{text}");
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

#[test]
fn mistyped_command_or_option_suggests_the_nearest() {
    for (args, want, about) in [
        (&["fre"][..], "did you mean 'free'?", "(see 'memdx --help')"),
        (
            &["vmstta"][..],
            "did you mean 'vmstat'?",
            "(see 'memdx --help')",
        ),
        (
            &["ps", "--jsn"][..],
            "did you mean '--json'?",
            "(see 'memdx ps --help')",
        ),
        (
            &["top", "--bach"][..],
            "did you mean '--batch'?",
            "(see 'memdx top --help')",
        ),
    ] {
        let out = memdx(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want) && err.contains(about), "{args:?}: {err}");
    }
}

#[test]
fn completions_without_a_shell_lists_the_shells() {
    let out = memdx(&["completions"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        assert!(err.contains(shell), "{err}");
    }
    let out = memdx(&["completions", "bash"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("_memdx()"));
}

#[test]
fn every_man_page_has_synopsis_exit_status_and_see_also() {
    for cmd in [
        "",
        "free",
        "vmstat",
        "ps",
        "top",
        "kmemleak",
        "slab",
        "oom",
        "check",
        "completions",
        "man",
    ] {
        let args: Vec<&str> = if cmd.is_empty() {
            vec!["man"]
        } else {
            vec!["man", cmd]
        };
        let out = memdx(&args);
        assert!(out.status.success(), "man {cmd}: {}", stderr(&out));
        let page = String::from_utf8(out.stdout).unwrap();
        let words = if cmd.is_empty() {
            "memdx".to_string()
        } else {
            format!("memdx {cmd}")
        };
        assert!(
            page.contains(&format!(".SH SYNOPSIS\n\\fB{words}\\fR")),
            "man {cmd}: {page}"
        );
        assert!(page.contains(".SH \"EXIT STATUS\"\n"), "man {cmd}");
        assert!(page.contains(".SH \"SEE ALSO\"\n"), "man {cmd}");
        let limited = ["check", "ps", "top", "oom", "kmemleak", "slab"].contains(&cmd);
        assert_eq!(page.contains(".SH LIMITATIONS\n"), limited, "man {cmd}");
    }
    // Positional arguments appear as the user types them.
    let out = memdx(&["man", "oom"]);
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("\\fBmemdx oom\\fR [\\fIOPTIONS\\fR] [\\fIFILE\\fR]"));
}
