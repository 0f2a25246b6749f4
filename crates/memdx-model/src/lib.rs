//! The model between readers and views.
//!
//! Readers (`memdx-proc`) return raw kernel counters; this crate derives the
//! figures tools show from them — `free`'s used/cache/available with
//! procps-ng 4.0.2's exact arithmetic, vmstat's deltas and rates — and never
//! reads files or prints.

#![deny(missing_docs)]

pub mod free;
pub mod ps;
pub mod top;
pub mod vmstat;
pub mod watch;

pub use free::{FreeFigures, MissingField};
