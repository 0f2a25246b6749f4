//! Valgrind suppression files.
//!
//! memdx reads the suppression files teams already keep for Valgrind, with
//! Valgrind 3.19's grammar (manual §2.5 and memcheck manual §4.4):
//!
//! ```text
//! # comment
//! {
//!    name
//!    Memcheck:Leak                 tool[,tool...]:kind
//!    match-leak-kinds: definite    (Leak: optional; Param: the parameter name)
//!    fun:malloc                    up to 24 locations, innermost first:
//!    obj:/usr/lib/*/libfoo.so*       fun:/obj:/src:FILE[:LINE] with * and ?
//!    ...                             or "..." for any number of frames
//!    fun:main
//! }
//! ```
//!
//! Suppressions for other tools (Helgrind, DRD, ...) are parsed and kept
//! out of matching, as Valgrind does. [`gen::suppression_text`] writes the
//! blocks `--gen-suppressions` prints. [`DEFAULT_SUPPRESSIONS`] is the file
//! memdx applies unless told not to (`docs/suppressions.md`).

#![deny(missing_docs)]

pub mod gen;
mod glob;
mod matcher;
mod parse;

pub use glob::glob_match;
pub use matcher::{first_match, Frame, Query};
pub use parse::{parse, parse_file, Location, SuppError, SuppKind, Suppression};

/// The suppressions memdx applies by default (known noise in the C library,
/// the dynamic loader and libstdc++). Documented in `docs/suppressions.md`.
pub const DEFAULT_SUPPRESSIONS: &str = include_str!("../default.supp");

/// The leak kinds of Valgrind's `--show-leak-kinds` and `match-leak-kinds:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LeakKind {
    /// No pointer to the block at all.
    Definite,
    /// Reachable only from lost blocks.
    Indirect,
    /// Reachable only through interior pointers.
    Possible,
    /// Still reachable through start pointers from a root.
    Reachable,
}

impl LeakKind {
    /// All four, in Valgrind's order.
    pub const ALL: [LeakKind; 4] = [
        LeakKind::Definite,
        LeakKind::Indirect,
        LeakKind::Possible,
        LeakKind::Reachable,
    ];

    /// Valgrind's word for the kind in option values.
    pub fn name(self) -> &'static str {
        match self {
            LeakKind::Definite => "definite",
            LeakKind::Indirect => "indirect",
            LeakKind::Possible => "possible",
            LeakKind::Reachable => "reachable",
        }
    }

    /// Parses a set as `--show-leak-kinds` takes it: a comma-separated list
    /// of kinds, or `all`, or `none`.
    pub fn parse_set(text: &str) -> Result<Vec<LeakKind>, String> {
        match text.trim() {
            "all" => return Ok(Self::ALL.to_vec()),
            "none" => return Ok(Vec::new()),
            _ => {}
        }
        let mut set = Vec::new();
        for word in text.split(',') {
            let kind = Self::ALL
                .into_iter()
                .find(|k| k.name() == word.trim())
                .ok_or_else(|| {
                    format!(
                        "unknown leak kind {} (definite, indirect, possible, reachable, all, none)",
                        crate::parse::quoted(word.trim())
                    )
                })?;
            if !set.contains(&kind) {
                set.push(kind);
            }
        }
        set.sort();
        Ok(set)
    }
}
