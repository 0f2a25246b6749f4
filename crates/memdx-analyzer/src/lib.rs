//! `memdx check`'s analyzer: the runtime's event stream of one process
//! (`memdx-events` records) turned into Valgrind 3.19's text report, as
//! errors arrive, and into the report model (`memdx-report`) that the XML
//! and JSON writers take.
//!
//! The crate does no I/O of its own. What it needs from the world is
//! passed in: the command line's choices ([`Settings`]), the program's
//! parent, real paths, the stack limit and the clock ([`World`]), symbol
//! lookups ([`Symbols`]), and where text goes ([`Sink`]). So it is tested
//! with hand-written event sequences, without a program run.
//!
//! ```
//! use std::path::{Path, PathBuf};
//! use std::sync::Arc;
//! use memdx_analyzer::{FrameKey, FrameText, Module, ProcessReport, Settings, Symbols, World};
//!
//! struct Fixed;
//! impl World for Fixed {
//!     fn parent_pid(&self, _: u32) -> u32 { 1 }
//!     fn canonical_path(&self, p: &Path) -> PathBuf { p.to_path_buf() }
//!     fn main_stack_size(&self) -> u64 { 8 << 20 }
//!     fn elapsed_ms(&self) -> u64 { 0 }
//!     fn checker_exe(&self) -> String { "memdx".into() }
//! }
//! struct NoSymbols;
//! impl Symbols for NoSymbols {
//!     fn add_module(&mut self, _: Module) {}
//!     fn stack(&mut self, addrs: &[u64]) -> Vec<FrameText> {
//!         addrs.iter().map(|&a| FrameText::unknown(a)).collect()
//!     }
//!     fn signature(&self, addrs: &[u64]) -> Vec<FrameKey> {
//!         addrs.iter().map(|&a| FrameKey { object: u32::MAX, offset: a, exact: false }).collect()
//!     }
//!     fn data_symbol(&mut self, _: u64) -> Option<(String, u64)> { None }
//!     fn resolved(&self) -> usize { 0 }
//!     fn lookup_time(&self) -> std::time::Duration { Default::default() }
//! }
//! let settings = Settings::new(memdx_report::CommandLine { exe: "./p".into(), args: vec![] });
//! let mut report = ProcessReport::new(42, settings, Arc::new(Fixed), Box::new(NoSymbols));
//! let mut text: Vec<u8> = Vec::new();
//! report.handle(memdx_events::Event::ReportEnd { leak_scan_done: true }, &mut text);
//! assert_eq!(report.to_report().error_summary.map(|s| s.errors), Some(0));
//! ```

mod context;
pub mod decode;
mod errors;
mod process;
mod settings;
mod signal;
mod summary;
mod suppress;
mod text;
mod world;

#[cfg(test)]
mod layout_tests;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use memdx_report::text::commas;
pub use process::{ProcessReport, Sink};
pub use settings::{LeakCheck, LeakKinds, LeakVerdicts, Settings};
pub use text::command_text;
pub use world::{FrameKey, FrameText, Module, Symbols, World};
