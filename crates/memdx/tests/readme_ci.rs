//! README.md promises two commands; `.ci/run` must run exactly the test one.

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
