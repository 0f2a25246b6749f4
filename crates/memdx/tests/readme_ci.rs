//! README.md promises two commands; `.ci/run` must run exactly the test one.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use memdx_testkit::{Deadline, DEADLINE};
use std::path::Path;

fn repo_file(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The shell commands in README.md's ```sh blocks.
fn readme_commands() -> Vec<String> {
    let readme = repo_file("README.md");
    let mut commands = Vec::new();
    let mut in_block = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_block = line == "```sh";
            continue;
        }
        if in_block && !line.trim().is_empty() {
            commands.push(line.trim().to_string());
        }
    }
    commands
}

#[test]
fn ci_runs_the_readme_test_command() {
    let commands = readme_commands();
    assert_eq!(
        commands.len(),
        2,
        "README should show exactly two commands: {commands:?}"
    );
    let test_command = &commands[1];
    let ci = repo_file(".ci/run");
    let last = ci
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert_eq!(
        last.trim(),
        test_command,
        ".ci/run must end with README's test command"
    );
}

#[test]
fn readme_main_command_runs_memdx() {
    let commands = readme_commands();
    assert!(
        commands[0].starts_with("cargo run --release"),
        "{}",
        commands[0]
    );
}

fn memdx(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(args)
        .output_within(DEADLINE)
}

#[test]
fn completions_cover_every_command_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = memdx(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("free") && text.contains("human") && text.contains("committed"),
            "{shell}: {text}"
        );
    }
}

#[test]
fn man_pages_render_for_the_tool_and_each_command() {
    let main = String::from_utf8(memdx(&["man"]).stdout).unwrap();
    assert!(main.contains(".TH memdx 1"), "{main}");
    let free = memdx(&["man", "free"]);
    let text = String::from_utf8(free.stdout).unwrap();
    assert!(
        text.contains(".TH memdx-free 1") && text.contains("\\-\\-committed"),
        "{text}"
    );
    let missing = memdx(&["man", "nosuch"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such command: nosuch"));
}

#[test]
fn help_texts_name_the_commands_and_options() {
    let top = String::from_utf8(memdx(&["--help"]).stdout).unwrap();
    assert!(top.contains("free") && top.contains("completions") && top.contains("MEMDX_PROC_ROOT"));
    let free = memdx(&["free", "--help"]);
    assert!(free.status.success());
    let text = String::from_utf8(free.stdout).unwrap();
    for opt in [
        "--bytes",
        "--kilo",
        "--pebi",
        "--human",
        "--si",
        "--lohi",
        "--committed",
        "--seconds",
        "--count",
        "--wide",
        "--json",
    ] {
        assert!(text.contains(opt), "free --help lacks {opt}");
    }
}
