//! One grammar for the quantities memdx's command lines take, and their
//! human-readable forms.
//!
//! - Durations and intervals ([`parse_duration`]): plain seconds (`0.5`,
//!   `12`) or a number with a unit: `ms`, `s`, `m`/`min`, `h`, `d`
//!   (`30s`, `10m`, `2h`, `1.5d`). Used by every command that takes a delay,
//!   interval or duration, except where procps compatibility fixes the
//!   grammar (`memdx vmstat DELAY`, `memdx free -s`: procps rejects `30s`
//!   with its own message, and so do we).
//! - Byte sizes ([`parse_bytes`]): `4096`, `64KiB`, `1.5G`; `K`/`M`/`G`/`T`
//!   and `KiB`/`MiB`/`GiB`/`TiB` are powers of 1024, `kB`/`KB`/`MB`/`GB`/`TB`
//!   powers of 1000, `B` (or nothing) is bytes.
//! - Byte rates ([`parse_rate`]): a size, `/`, a time unit: `1MiB/min`,
//!   `100KiB/s`, `2G/h`, `5MB/d`.
//!
//! - Points in time ([`datetime::parse_since`]): a duration back from a
//!   reference point, or a date and time (`2026-12-07 10:00`, local unless
//!   it ends in `Z`, ` UTC` or an offset); [`datetime`] also has the
//!   calendar arithmetic and the [`datetime::Zone`] trait.
//!
//! Errors name the text that was rejected and say what would be accepted.
//!
//! ```
//! use std::time::Duration;
//! use memdx_units::{parse_duration, parse_rate, format_bytes};
//! assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
//! assert_eq!(parse_duration("0.5").unwrap(), Duration::from_millis(500));
//! assert_eq!(parse_rate("1MiB/min").unwrap(), 1048576.0 / 60.0);
//! assert_eq!(format_bytes(3.2 * 1048576.0), "3.2 MiB");
//! ```

#![deny(missing_docs)]

pub mod datetime;
mod format;
mod parse;

pub use format::{format_bytes, format_duration, format_rate, RateUnit};
pub use parse::{parse_bytes, parse_duration, parse_rate, UnitError};
