use std::path::PathBuf;

/// Result of a kernel-side reader or parser.
pub type Result<T> = std::result::Result<T, KernelError>;

/// Why a kernel file could not be read, written or understood. Every variant
/// names the file (or input) so the binary can print one line without
/// context.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The file could not be opened, read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was attempted: "read", "write 'scan' to", ...
        action: String,
        /// The file that failed.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The input was read but is not what the kernel writes.
    #[error("{}{}: {message}", source_name, line_suffix(*line))]
    Parse {
        /// File name, or `-` for standard input.
        source_name: String,
        /// 1-based line number, or 0 when the problem is the whole input.
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

impl KernelError {
    /// An I/O error on `path` while doing `action`.
    pub fn io(action: impl Into<String>, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        KernelError::Io {
            action: action.into(),
            path: path.into(),
            source,
        }
    }

    /// A parse error at `line` of `source_name`.
    pub fn parse(source_name: impl Into<String>, line: usize, message: impl Into<String>) -> Self {
        KernelError::Parse {
            source_name: source_name.into(),
            line,
            message: message.into(),
        }
    }

    /// The raw OS error number of an I/O failure (EPERM, EBUSY, ...).
    pub fn os_error(&self) -> Option<i32> {
        match self {
            KernelError::Io { source, .. } => source.raw_os_error(),
            KernelError::Parse { .. } => None,
        }
    }

    /// Whether the failure is a missing file.
    pub fn is_not_found(&self) -> bool {
        matches!(self, KernelError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Reads a whole file as text (lossy for stray bytes, which kernel logs can
/// contain), naming the path on failure.
pub fn read_text(path: &std::path::Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| KernelError::io("read", path, e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
