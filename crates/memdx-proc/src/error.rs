use std::path::PathBuf;

/// Result of a reader.
pub type Result<T> = std::result::Result<T, ProcError>;

/// Why a `/proc` or `/sys` file could not be read. Every variant names the
/// file, so the binary can print a one-line message without context.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// The file could not be opened or read (missing, permission denied, ...).
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The operating system's reason (part of the message, so not also
        /// a `source()`, which would print it twice).
        source: std::io::Error,
    },
    /// The file was read but its contents are not what the kernel writes.
    #[error("{}{}: {message}", path.display(), line_suffix(*line))]
    Parse {
        /// The file that failed.
        path: PathBuf,
        /// 1-based line number, or 0 when the problem is the whole file.
        line: usize,
        /// What was wrong.
        message: String,
    },
}

fn line_suffix(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" line {line}")
    }
}

impl ProcError {
    /// Whether the file simply does not exist (as opposed to being unreadable
    /// or malformed).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ProcError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    /// Whether the file exists but we lack permission to read it.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, ProcError::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied)
    }
}

/// `text` quoted for an error message, cut after 100 characters: a
/// malformed line can be megabytes long, and an error quotes only enough
/// of it to recognise.
pub(crate) fn quoted(text: &str) -> String {
    let cut = clipped(text);
    if cut.len() < text.len() {
        format!("{cut:?}...")
    } else {
        format!("{text:?}")
    }
}

/// The first 100 characters of `text` (a name shown unquoted in an error).
pub(crate) fn clipped(text: &str) -> &str {
    const MAX: usize = 100;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}
