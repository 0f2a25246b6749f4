//! `vmstat`: the text layouts of procps-ng 4.0.2 (byte for byte) and
//! memdx's JSON objects.
//!
//! Timestamps are passed in as strings: views neither read clocks nor
//! `/proc`.

pub mod disk;
pub mod json;
pub mod report;
pub mod slab;
pub mod summary;
