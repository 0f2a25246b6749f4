//! memdx's recorder: the SQLite store behind `memdx record`, and the report
//! model and renderers behind `memdx report`.
//!
//! ```text
//! memdx-proc readers ─► collect::Collector ─► Sample ─► Store::insert (one transaction)
//! Store (series in a time range) ─► report::build ─► Report ─► text | JSON | plot (SVG/PNG)
//! ```
//!
//! The layout of the database file is documented in [`schema`]; every
//! version ever written stays readable (migrations).

#![deny(missing_docs)]

pub mod collect;
pub mod counters;
mod error;
pub mod sample;
pub mod schema;
pub mod store;
pub mod timespec;

pub use error::{RecordError, Result};
pub use sample::{CgroupSample, ProcessSample, Sample};
pub use store::{CgroupSeries, Counter, Extent, ProcessSeries, Store, SystemPoint, TimeRange};
pub mod report;
