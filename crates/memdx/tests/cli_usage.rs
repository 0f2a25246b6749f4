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
fn missing_arguments_are_named_and_point_at_the_subcommands_help() {
    for (args, want) in [
        (
            &["watch"][..],
            "memdx watch: give a PID, --name REGEX or --cgroup PATH\n",
        ),
        (
            &["kmemleak", "diff", "old.txt"][..],
            "memdx kmemleak diff: the following required arguments were not provided: <NEW> (see 'memdx kmemleak diff --help')\n",
        ),
        (
            &["heap", "report", "--bogus"][..],
            "memdx heap report: unexpected argument '--bogus' found (see 'memdx heap report --help')\n",
        ),
    ] {
        let out = memdx(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&out), want, "{args:?}");
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
    let groff = memdx_testkit::try_output_with_deadline(
        Command::new("groff").arg("-v"),
        Duration::from_secs(60),
    )
    .is_ok();
    if !groff {
        memdx_testkit::tool_missing("groff is not installed: man pages are not rendered");
    }
    let pages = [
        "",
        "free",
        "vmstat",
        "ps",
        "top",
        "kmemleak",
        "slab",
        "oom",
        "watch",
        "serve",
        "check",
        "heap",
        "doctor",
        "record",
        "report",
        "completions",
        "man",
    ];
    // Every command memdx --help lists has its page checked here.
    let help = String::from_utf8(memdx(&["--help"]).stdout).unwrap();
    let listed: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(listed.len() >= 15, "{help}");
    for c in &listed {
        assert!(pages.contains(c), "man {c} is not checked");
    }
    for cmd in pages {
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
        let limited = [
            "check", "ps", "top", "oom", "kmemleak", "slab", "watch", "serve", "heap", "doctor",
            "record", "report",
        ]
        .contains(&cmd);
        assert_eq!(page.contains(".SH LIMITATIONS\n"), limited, "man {cmd}");
        if groff {
            // man renders it without a warning (unknown macros, bad escapes).
            let file = std::env::temp_dir().join(format!(
                "memdx-man-{}-{}.1",
                std::process::id(),
                if cmd.is_empty() { "memdx" } else { cmd }
            ));
            std::fs::write(&file, &page).unwrap();
            let out = memdx_testkit::output_with_deadline(
                Command::new("groff")
                    .args(["-man", "-Tutf8", "-ww", "-z"])
                    .arg(&file),
                Duration::from_secs(60),
            );
            let _ = std::fs::remove_file(&file);
            assert!(out.status.success(), "groff, man {cmd}: {}", stderr(&out));
            assert_eq!(stderr(&out), "", "man {cmd} renders with warnings");
        }
    }
    // Positional arguments appear as the user types them.
    let out = memdx(&["man", "oom"]);
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("\\fBmemdx oom\\fR [\\fIOPTIONS\\fR] [\\fIFILE\\fR]"));
}

/// `memdx check`'s options as the fish script offers them: (name as typed,
/// a value to try or `None` for a flag).
fn check_options_in_fish_script() -> Vec<(String, Option<String>)> {
    let out = memdx(&["completions", "fish"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let script = String::from_utf8(out.stdout).unwrap();
    let mut options = Vec::new();
    // A choice list spans lines: "no\t''\nsummary\t''\nfull\t''".
    let entries = script.split("complete -c memdx ");
    for entry in entries.filter(|e| e.contains("__fish_memdx_using_subcommand check\"")) {
        let words: Vec<&str> = entry.split_whitespace().collect();
        let after = |flag: &str| {
            words
                .iter()
                .position(|w| *w == flag)
                .map(|i| words[i + 1].to_string())
        };
        if after("-l").as_deref() == Some("help") {
            continue;
        }
        let names: Vec<String> = [
            after("-l").map(|l| format!("--{l}")),
            after("-s").map(|s| format!("-{s}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        let value = if let Some(choices) = entry.split_once(" -a \"").map(|(_, c)| c) {
            // The last choice: --xml=yes alone would be refused for want of a file.
            let last = choices.split('"').next().unwrap().lines().last().unwrap();
            // fish writes the tab before a choice's help as `\t`.
            Some(last.split("\\t").next().unwrap().to_string())
        } else if words.contains(&"-F") {
            Some("/dev/null".to_string())
        } else if words.contains(&"-r") {
            Some("1".to_string())
        } else {
            None
        };
        for name in names {
            options.push((name, value.clone()));
        }
    }
    options
}

#[test]
fn completions_offer_checks_valgrind_options_and_check_takes_each() {
    let options = check_options_in_fish_script();
    let names: Vec<&str> = options.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "--leak-check",
        "--show-leak-kinds",
        "--error-exitcode",
        "--suppressions",
        "--gen-suppressions",
        "--xml",
        "--xml-file",
        "--log-file",
        "-s",
        "-q",
    ] {
        assert!(names.contains(&want), "{want} not offered: {names:?}");
    }
    // Each one is an option memdx check accepts: it gets as far as
    // running the (missing) program, which is 127, not a usage error (1).
    for (name, value) in &options {
        let arg = match value {
            Some(v) => format!("{name}={v}"),
            None => name.clone(),
        };
        let out = memdx(&["check", &arg, "/nonexistent/memdx-program"]);
        assert_eq!(out.status.code(), Some(127), "{arg}: {}", stderr(&out));
    }
    // zsh and bash name them too.
    for shell in ["zsh", "bash"] {
        let script = String::from_utf8(memdx(&["completions", shell]).stdout).unwrap();
        assert!(
            script.contains("--leak-check") && script.contains("--gen-suppressions"),
            "{shell}"
        );
    }
}

#[test]
fn bash_completes_a_check_option_from_its_prefix() {
    let script = std::env::temp_dir().join(format!("memdx-completion-{}.bash", std::process::id()));
    std::fs::write(&script, memdx(&["completions", "bash"]).stdout).unwrap();
    let run = format!(
        "source '{}'; COMP_WORDS=(memdx check --xml); COMP_CWORD=2; _memdx memdx --xml check; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = memdx_testkit::output_with_deadline(
        Command::new("bash").args(["-c", &run]),
        Duration::from_secs(60),
    );
    let _ = std::fs::remove_file(&script);
    let mut offered: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    offered.sort();
    assert_eq!(
        offered,
        ["--xml", "--xml-fd", "--xml-file", "--xml-user-comment"],
        "{}",
        stderr(&out)
    );
}
