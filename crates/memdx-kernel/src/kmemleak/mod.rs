//! kmemleak: parsing its reports, grouping them into leaks, diffing runs,
//! driving the debugfs control file and explaining why it cannot be used.

pub mod control;
pub mod diff;
pub mod group;
pub mod parse;
pub mod record;
pub mod render;
pub mod status;

pub use group::{group, Filter, GroupBy, LeakGroup, LeakReport};
pub use parse::{parse_report, Layout};
pub use record::{Frame, LeakObject, ObjectKind};

/// Path of the kmemleak control file under a `ProcRoot`.
pub const REL_PATH: &str = "sys/kernel/debug/kmemleak";
