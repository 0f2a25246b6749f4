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
    /// The input is larger than [`MAX_INPUT_BYTES`]; it was not read whole.
    #[error(
        "{source_name}: larger than {} MiB, the most memdx reads of a kernel report or log (keep the part you need, e.g. with tail -c)",
        limit >> 20
    )]
    TooLarge {
        /// File name, or `standard input`.
        source_name: String,
        /// The limit, bytes.
        limit: u64,
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
            KernelError::Parse { .. } | KernelError::TooLarge { .. } => None,
        }
    }

    /// Whether the failure is a missing file.
    pub fn is_not_found(&self) -> bool {
        matches!(self, KernelError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// The most a kernel report or log may hold: they are read whole, and the
/// parsers keep a few copies' worth, so a larger input (a 5 GB file given
/// by mistake, a runaway log) is refused rather than read into memory.
pub const MAX_INPUT_BYTES: u64 = 512 << 20;

/// Reads a whole file as text (lossy for stray bytes, which kernel logs can
/// contain), naming the path on failure. Refuses files larger than
/// [`MAX_INPUT_BYTES`] without reading past the limit.
pub fn read_text(path: &std::path::Path) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|e| KernelError::io("read", path, e))?;
    read_limited(file, &path.display().to_string(), MAX_INPUT_BYTES).map_err(|e| match e {
        KernelError::Io { source, .. } => KernelError::io("read", path, source),
        other => other,
    })
}

/// Reads `input` (a file, standard input) whole as lossy text, refusing
/// more than `limit` bytes; `source_name` names it in errors.
pub fn read_limited(input: impl std::io::Read, source_name: &str, limit: u64) -> Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    input
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| KernelError::io("read", source_name, e))?;
    if bytes.len() as u64 > limit {
        return Err(KernelError::TooLarge {
            source_name: source_name.to_string(),
            limit,
        });
    }
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// `text` quoted for an error message, cut after 100 characters: a
/// malformed line can be megabytes long, and an error quotes only enough
/// of it to recognise.
pub(crate) fn quoted(text: &str) -> String {
    const MAX: usize = 100;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}
