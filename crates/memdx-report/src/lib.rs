//! The one report model of a memcheck run, and its renderers.
//!
//! `memdx check` builds a [`Report`] from what the runtime and the analyzer
//! found; the renderers write it in the formats people already use:
//!
//! - [`xml::write`]: Valgrind 3.19's XML, protocol 4, byte for byte what
//!   Valgrind writes for the same content (CI plugins parse it);
//!   [`xml::read`] reads such a document back into the model.
//! - [`json::write`]: one JSON document, schema in `docs/check-json.md`.
//! - [`text::write`]: Valgrind's text report (`==PID== ...`).
//!
//! Every writer takes an `impl io::Write`; nothing here prints or reads the
//! clock. The differential test `tests/valgrind_roundtrip.rs` runs Valgrind
//! on small C and C++ programs, reads its XML with [`xml::read`] and
//! requires [`xml::write`] to give back the same bytes.
//!
//! ```
//! use memdx_report::{xml, Report};
//! # fn demo(report: &Report) -> Result<(), memdx_report::ReportError> {
//! let mut out = Vec::new();
//! xml::write(report, &mut out)?;
//! assert_eq!(xml::read(std::str::from_utf8(&out).unwrap())?, *report);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod error;
pub mod json;
mod model;
#[cfg(test)]
mod sample;
pub mod text;
pub mod xml;

pub use error::ReportError;
pub use model::{
    Amount, Aux, CommandLine, Error, ErrorCount, ErrorKind, ErrorSummary, FatalSignal, Frame,
    HeapSummary, HeuristicAmount, LeakSummary, Report, Stack, Status, SuppCount, SuppFrame,
    Suppression, What,
};
