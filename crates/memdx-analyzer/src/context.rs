//! Error contexts: what makes two errors the same (Valgrind shows a
//! context once and counts its errors), what became of each context, and
//! the ERROR SUMMARY's counts.

use std::collections::HashMap;

use memdx_events::{AccessKind, BadFreeKind, CorruptionKind, Dealloc, Place, Routine};
use memdx_report as model;

use crate::suppress::Suppressions;

/// What makes two run-time errors one context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ContextKey {
    /// An invalid or mismatched free.
    BadFree {
        kind: BadFreeKind,
        dealloc: Dealloc,
        stack: u32,
        place: Place,
    },
    /// A damaged redzone or poison, by the damaged block's allocation.
    Corruption {
        kind: CorruptionKind,
        alloc_stack: u32,
    },
    /// An invalid access; unaddressable and uninitialised bytes of one
    /// call are two contexts (`kind`).
    Access {
        kind: AccessKind,
        routine: Option<Routine>,
        size: u64,
        stack: u32,
    },
}

/// What became of an error context the first time it was seen.
#[derive(Debug, Clone, Copy)]
enum Fate {
    /// Shown; its index in [`Tally::shown`].
    Shown(usize),
    /// Suppressed; the index of the suppression in [`Suppressions::used`].
    Suppressed(usize),
}

/// A run-time error context that was shown.
#[derive(Debug, Clone)]
pub(crate) struct ShownContext {
    /// The error as the report model has it (its first occurrence).
    pub error: model::Error,
    /// Its errors so far.
    pub count: u64,
    /// Its text as printed, for `-s` (its suppression block too).
    pub text: String,
    /// When it last occurred (a sequence number).
    pub last: u64,
}

/// The contexts of one process and the ERROR SUMMARY's counts.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    fates: HashMap<ContextKey, Fate>,
    /// The shown run-time contexts, in the order they were shown.
    pub shown: Vec<ShownContext>,
    /// Errors shown (leaks counted as errors included).
    pub errors: u64,
    /// Their distinct contexts.
    pub contexts: u64,
    /// Suppressed errors.
    pub suppressed_errors: u64,
    /// Their distinct contexts.
    pub suppressed_contexts: u64,
    /// Occurrences of shown contexts (the sequence `last` counts in).
    occurrences: u64,
}

impl Tally {
    /// Counts `count` more errors of context `key` when it was met before
    /// (shown or suppressed); false for a new context.
    pub fn repeat(&mut self, key: &ContextKey, count: u64, supps: &mut Suppressions) -> bool {
        match self.fates.get(key).copied() {
            Some(Fate::Shown(i)) => {
                self.errors += count;
                self.occurrences += 1;
                if let Some(c) = self.shown.get_mut(i) {
                    c.count += count;
                    c.last = self.occurrences;
                }
                true
            }
            Some(Fate::Suppressed(i)) => {
                self.suppressed_errors += count;
                supps.use_again(i, count);
                true
            }
            None => false,
        }
    }

    /// A new context of `count` errors that suppression `used` (its index
    /// in [`Suppressions::used`], one use already counted) suppressed.
    pub fn suppressed(
        &mut self,
        key: ContextKey,
        count: u64,
        used: usize,
        supps: &mut Suppressions,
    ) {
        self.suppressed_errors += count;
        supps.use_again(used, count.saturating_sub(1));
        self.suppressed_contexts += 1;
        self.fates.insert(key, Fate::Suppressed(used));
    }

    /// A new context of `count` errors, shown as `text`.
    pub fn shown(&mut self, key: ContextKey, error: model::Error, count: u64, text: String) {
        self.errors += count;
        self.contexts += 1;
        self.occurrences += 1;
        self.fates.insert(key, Fate::Shown(self.shown.len()));
        self.shown.push(ShownContext {
            error,
            count,
            text,
            last: self.occurrences,
        });
    }

    /// The shown contexts for `-s`: fewest errors first; among equals the
    /// most recent first, as Valgrind's list keeps them.
    pub fn by_count(&self) -> Vec<&ShownContext> {
        let mut order: Vec<&ShownContext> = self.shown.iter().collect();
        order.sort_by_key(|c| (c.count, std::cmp::Reverse(c.last)));
        order
    }
}
