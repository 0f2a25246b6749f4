//! Renderers for memdx's monitoring views.
//!
//! Each view is a function from a model value to an [`std::io::Write`]; none
//! reads `/proc`. Text renderers reproduce procps-ng 4.0.2 byte for byte;
//! JSON renderers write the documented objects of `docs/json.md`.

#![deny(missing_docs)]

pub mod free;
pub mod ps;
pub mod scale;
pub mod top;
pub mod vmstat;
pub mod watch;
