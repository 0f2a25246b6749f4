//! What a run of the program did that can be seen from outside, and how
//! two runs differ, in words.

use super::runner::NamedFile;

/// What a run of the program did that can be observed from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outcome {
    pub(super) stdout: Vec<u8>,
    pub(super) stderr: Vec<u8>,
    /// Exit status, or the signal that ended it.
    pub(super) status: Status,
    /// The contents of each named file after the run (`None`: absent).
    pub(super) files: Vec<Option<Vec<u8>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Exit(i32),
    Signal(i32),
    /// Still running at the deadline (seconds), and killed.
    TimedOut(u64),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Status::Exit(c) => write!(f, "exit status {c}"),
            Status::Signal(s) => write!(f, "death by signal {s} ({})", signal_name(s)),
            Status::TimedOut(secs) => write!(f, "no end within {secs} s (killed)"),
        }
    }
}

fn signal_name(s: i32) -> String {
    // SAFETY: strsignal returns a static or thread-local string.
    let p = unsafe { libc::strsignal(s) };
    if p.is_null() {
        return format!("signal {s}");
    }
    // SAFETY: a NUL-terminated string from libc.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .into_owned()
}

/// Up to 16 bytes from `at`, quoted as C would print them.
fn excerpt(b: &[u8], at: usize) -> String {
    let end = (at + 16).min(b.len());
    let mut s = String::from("\"");
    for &c in &b[at.min(end)..end] {
        match c {
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    if end < b.len() {
        s.push_str("...");
    }
    s.push('"');
    if at >= b.len() {
        return "end of output".to_string();
    }
    s
}

fn bytes_difference(what: &str, a: &[u8], b: &[u8]) -> Option<String> {
    if a == b {
        return None;
    }
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    Some(format!(
        "{what} differs from byte {at} ({} vs {})",
        excerpt(a, at),
        excerpt(b, at)
    ))
}

/// How two outcomes differ, in words ("exit status 0 vs 1; stdout differs
/// from byte 3 (...)"), `None` when they do not.
pub(super) fn difference(a: &Outcome, b: &Outcome, files: &[NamedFile]) -> Option<String> {
    let mut parts = Vec::new();
    if a.status != b.status {
        parts.push(match (a.status, b.status) {
            (Status::Exit(x), Status::Exit(y)) => format!("exit status {x} vs {y}"),
            (x, y) => format!("{x} vs {y}"),
        });
    }
    parts.extend(bytes_difference("stdout", &a.stdout, &b.stdout));
    parts.extend(bytes_difference("stderr", &a.stderr, &b.stderr));
    for ((x, y), f) in a.files.iter().zip(&b.files).zip(files) {
        let name = format!("file '{}'", f.path.display());
        match (x, y) {
            (Some(x), Some(y)) => parts.extend(bytes_difference(&name, x, y)),
            (None, Some(_)) => parts.push(format!("{name} absent vs written")),
            (Some(_), None) => parts.push(format!("{name} written vs absent")),
            (None, None) => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_are_said_in_words() {
        let o = |status, out: &[u8]| Outcome {
            stdout: out.to_vec(),
            stderr: Vec::new(),
            status,
            files: Vec::new(),
        };
        let a = o(Status::Exit(0), b"abc\n");
        assert_eq!(difference(&a, &a.clone(), &[]), None);
        let b = o(Status::Exit(1), b"abd\n");
        assert_eq!(
            difference(&a, &b, &[]).unwrap(),
            "exit status 0 vs 1; stdout differs from byte 2 (\"c\\n\" vs \"d\\n\")"
        );
        let c = o(Status::Signal(11), b"ab");
        assert!(difference(&a, &c, &[])
            .unwrap()
            .starts_with("exit status 0 vs death by signal 11"));
    }
}
