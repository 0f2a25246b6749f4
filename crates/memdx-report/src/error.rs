//! The errors of this crate.

/// Why a report could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading or writing failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The input is not well-formed XML.
    #[error("XML at byte {position}: {message}")]
    Xml {
        /// Byte offset in the input.
        position: u64,
        /// What the XML parser said.
        message: String,
    },
    /// An element that protocol 4 does not have where it was found.
    #[error("unexpected <{element}> in <{parent}> (byte {position})")]
    Unexpected {
        /// The element found.
        element: String,
        /// Where it was found.
        parent: String,
        /// Byte offset of its start.
        position: u64,
    },
    /// A protocol 4 element this crate does not model.
    #[error("<{element}> is not supported (byte {position})")]
    Unsupported {
        /// The element found.
        element: String,
        /// Byte offset of its start.
        position: u64,
    },
    /// A required element is missing.
    #[error("<{parent}> at byte {position} has no <{element}>")]
    Missing {
        /// The missing element.
        element: &'static str,
        /// The element that should have it.
        parent: String,
        /// Byte offset of the parent's start.
        position: u64,
    },
    /// An element's text is not what it should be (a number, a kind, ...).
    #[error("<{element}> at byte {position}: bad value {value:?}")]
    BadValue {
        /// The element.
        element: String,
        /// Its text.
        value: String,
        /// Byte offset of its start.
        position: u64,
    },
    /// The document does not have protocol 4's structure (e.g. two
    /// documents in one file, as Valgrind writes when a child process
    /// shares the parent's XML file).
    #[error("not a protocol 4 document: {0}")]
    Structure(String),
    /// JSON encoding failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}
