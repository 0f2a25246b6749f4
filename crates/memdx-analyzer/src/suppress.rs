//! Suppression bookkeeping, as Valgrind keeps it: the order suppressions
//! are tried in (each loaded one put in front, a matching one moved to the
//! front), how often and when last each was used, and what leaks each
//! suppressed; and the blocks `--gen-suppressions` prints.

use std::sync::Arc;

use memdx_events::LeakState;
use memdx_report as model;
use memdx_supp::{Query, Suppression};

use crate::settings::LeakVerdicts;
use crate::world::{FrameKey, FrameText};

/// A suppression that matched at least once.
#[derive(Debug, Clone)]
pub(crate) struct UsedSupp {
    pub name: String,
    pub count: u64,
    /// When last used (a sequence number).
    pub last: u64,
    /// Its index in the settings' suppressions.
    pub supp: usize,
    /// Leaked bytes and blocks it suppressed (Leak suppressions).
    pub bytes: u64,
    pub blocks: u64,
}

/// The suppressions of a run and their use in one process.
pub(crate) struct Suppressions {
    pub list: Arc<Vec<Suppression>>,
    /// Used suppressions (Valgrind lists `<suppcounts>` most recently used
    /// first: see [`Suppressions::by_last_use`]).
    pub used: Vec<UsedSupp>,
    /// Uses so far (the sequence `UsedSupp::last` counts in).
    uses: u64,
    /// The order suppressions are tried in (indices into `list`).
    order: Vec<usize>,
    verdicts: LeakVerdicts,
}

impl Suppressions {
    pub fn new(list: Arc<Vec<Suppression>>, verdicts: LeakVerdicts) -> Suppressions {
        Suppressions {
            list,
            used: Vec::new(),
            uses: 0,
            order: Vec::new(),
            verdicts,
        }
    }

    /// Counts `n` more uses of used suppression `i`.
    pub fn use_again(&mut self, i: usize, n: u64) {
        for _ in 0..n {
            self.uses += 1;
            if let Some(c) = self.used.get_mut(i) {
                c.count += 1;
                c.last = self.uses;
            }
        }
    }

    /// The first suppression matching `frames` (its index in `used`); its
    /// use counted.
    pub fn matching(&mut self, query: Query<'_>, frames: &[FrameText]) -> Option<usize> {
        let list = self.list.clone();
        let sframes = supp_frames(frames);
        self.first_in_order(|i| list.get(i).is_some_and(|s| s.matches(query, &sframes)))
    }

    /// The first suppression in Valgrind's order for which `matches` holds
    /// (moved to the front, its use counted), as [`Self::matching`].
    fn first_in_order(&mut self, matches: impl Fn(usize) -> bool) -> Option<usize> {
        if self.order.len() != self.list.len() {
            // Valgrind's list: each suppression loaded is put in front
            // (so later files and later blocks are tried first) ...
            self.order = (0..self.list.len()).rev().collect();
        }
        let pos = self.order.iter().position(|&i| matches(i))?;
        // ... and one that matches moves to the front.
        let idx = self.order.remove(pos);
        self.order.insert(0, idx);
        let s = self.list.get(idx)?;
        let i = match self.used.iter().position(|u| u.name == s.name) {
            Some(i) => i,
            None => {
                self.used.push(UsedSupp {
                    name: s.name.clone(),
                    count: 0,
                    last: 0,
                    supp: idx,
                    bytes: 0,
                    blocks: 0,
                });
                self.used.len() - 1
            }
        };
        self.use_again(i, 1);
        Some(i)
    }

    /// [`Self::matching`] for a loss record whose frames are not printed:
    /// the suppressions matching its stack are computed once per run and
    /// stack signature (`frames` is called only then), and the first of
    /// them in the current order is used.
    pub fn matching_leak(
        &mut self,
        state: LeakState,
        signature: Vec<FrameKey>,
        frames: impl FnOnce() -> Vec<FrameText>,
    ) -> Option<usize> {
        let key = (state, signature);
        let matching = match self.verdicts.get(&key) {
            Some(m) => m,
            None => {
                let frames = frames();
                let sframes = supp_frames(&frames);
                let query = Query::Leak(leak_kind(state));
                let m: Arc<[usize]> = self
                    .list
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.matches(query, &sframes))
                    .map(|(i, _)| i)
                    .collect();
                self.verdicts.insert(key, m.clone());
                m
            }
        };
        if matching.is_empty() {
            return None;
        }
        self.first_in_order(|i| matching.contains(&i))
    }

    /// The used suppressions, most recently used first.
    pub fn by_last_use(&self) -> Vec<UsedSupp> {
        let mut used = self.used.clone();
        used.sort_by_key(|u| std::cmp::Reverse(u.last));
        used
    }
}

/// The suppression kind of a leak state.
pub(crate) fn leak_kind(state: LeakState) -> memdx_supp::LeakKind {
    match state {
        LeakState::DefinitelyLost => memdx_supp::LeakKind::Definite,
        LeakState::IndirectlyLost => memdx_supp::LeakKind::Indirect,
        LeakState::PossiblyLost => memdx_supp::LeakKind::Possible,
        LeakState::StillReachable => memdx_supp::LeakKind::Reachable,
    }
}

/// The suppression matcher's view of symbolized frames.
fn supp_frames(frames: &[FrameText]) -> Vec<memdx_supp::Frame<'_>> {
    frames
        .iter()
        .map(|f| memdx_supp::Frame {
            fun: f.mangled.as_deref().or(f.function.as_deref()),
            obj: f.object.as_deref(),
            file: f.file_line.as_ref().map(|(file, _)| file.as_str()),
            line: f.file_line.as_ref().map(|(_, line)| *line),
        })
        .collect()
}

/// The block `--gen-suppressions` prints for an error with these frames.
pub(crate) fn generated(query: Query<'_>, frames: &[FrameText]) -> model::Suppression {
    let (kind, aux) = match query {
        Query::Leak(k) => (
            "Memcheck:Leak",
            Some(format!("match-leak-kinds: {}", k.name())),
        ),
        Query::Addr(n) => {
            return model::Suppression::new(
                "insert_a_suppression_name_here",
                &format!("Memcheck:Addr{n}"),
                None,
                supp_model_frames(frames),
            )
        }
        Query::Overlap => ("Memcheck:Overlap", None),
        Query::Param(p) => ("Memcheck:Param", Some(p.to_string())),
        Query::FishyValue(p) => ("Memcheck:FishyValue", Some(p.to_string())),
        _ => ("Memcheck:Free", None),
    };
    model::Suppression::new(
        "insert_a_suppression_name_here",
        kind,
        aux.as_deref(),
        supp_model_frames(frames),
    )
}

fn supp_model_frames(frames: &[FrameText]) -> Vec<model::SuppFrame> {
    frames
        .iter()
        .map(|f| match (&f.mangled, &f.function, &f.object) {
            (Some(m), _, _) => model::SuppFrame::Fun(m.clone()),
            (None, Some(n), _) => model::SuppFrame::Fun(n.clone()),
            (None, None, Some(o)) => model::SuppFrame::Obj(o.clone()),
            (None, None, None) => model::SuppFrame::Obj("*".into()),
        })
        .collect()
}
