//! The one report model of a memcheck run, and its renderers.
//!
//! `memdx check` builds a [`Report`] from what the runtime and the analyzer
//! found; the renderers write it in the formats people already use:
//!
//! - [`xml::write()`]: Valgrind 3.19's XML, protocol 4, byte for byte what
//!   Valgrind writes for the same content (CI plugins parse it);
//!   [`xml::read()`] reads such a document back into the model.
//! - [`json::write`]: one JSON document, schema in `docs/check-json.md`.
//! - [`text`]: Valgrind's text report (`==PID== ...`), the one place its
//!   layout is written: [`text::Lines`] gives it piece by piece (an error,
//!   a fatal signal, the summaries), as `memdx check`'s analyzer prints
//!   each error when it arrives, and [`text::write`] a whole report with
//!   the same pieces.
//!
//! Every writer takes an `impl io::Write`; nothing here prints or reads the
//! clock. The differential test `tests/valgrind_roundtrip.rs` runs Valgrind
//! on small C and C++ programs, reads its XML with [`xml::read()`] and
//! requires [`xml::write()`] to give back the same bytes.
//!
//! # From `memdx check`'s analyzer to a [`Report`]
//!
//! One [`Report`] per checked process (the analyzer, `memdx-analyzer`, keeps
//! one `ProcessReport` per event stream):
//!
//! - `tool` = `"memcheck"`; `preamble` = the banner lines without the
//!   `==PID== ` prefix, `Command: ...` included; `pid`/`ppid` from the
//!   stream header; `checker` = memdx's own argv (exe + options),
//!   `program` = the program's; `started`/`finished` = milliseconds since
//!   memdx started, taken when the stream opens and when `ReportEnd`
//!   arrives (`finished: None` if the process ended without it).
//! - Each new bad-free context becomes an [`Error`]: `unique` = a counter
//!   in order of first occurrence, `tid`, `kind` =
//!   [`ErrorKind::MismatchedFree`] or [`ErrorKind::InvalidFree`], `what` =
//!   the headline, `stack` = the symbolized stack ([`Frame`]: ip, object's
//!   real path, demangled function, DWARF directory, file, line; inlined
//!   calls as extra frames with the same ip), `aux` = the "Address ... "
//!   line with the free or allocation stack, and "Block was alloc'd at"
//!   with its stack. Repeats only bump that context's [`ErrorCount`].
//! - Each shown loss record becomes an [`Error`] of a leak kind with
//!   [`What::leak`] (which words the headline exactly as memcheck does) and
//!   the allocation stack; `error_counts` lists only run-time errors.
//! - `heap_summary` from `HeapTotals`; `leak_summary` from the per-state
//!   sums and the heuristic totals (`None` when no leak check ran, or when
//!   nothing was in use at exit); `error_summary` from the counters;
//!   `fatal_signal` from `FatalSignal` (set `main_stack_size` for a
//!   SIGSEGV to get Valgrind's advice in the text); `notes` for memdx's
//!   own messages; `suppression` per error for `--gen-suppressions=all`
//!   (frames with mangled names, [`Suppression::new`] writes the block);
//!   `supp_counts` per used suppression.
//!
//! Then `--xml-file` / `--xml-fd` get [`xml::write()`] and `--json` gets
//! [`json::write`]; the terminal or `--log-file` got each piece of the
//! text through [`text::Lines`] as it happened.
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
