//! The end of a process's report: HEAP SUMMARY, the loss records
//! (matched against the suppressions), LEAK SUMMARY, ERROR SUMMARY and
//! `-s`'s list.

use std::collections::HashMap;

use memdx_events::LeakState;
use memdx_report as model;
use memdx_report::text::{self, commas};

use crate::process::{ProcessReport, Sink};
use crate::settings::LeakCheck;
use crate::suppress::{self, leak_kind};
use crate::text::model_stack;

fn error_kind(state: LeakState) -> model::ErrorKind {
    match state {
        LeakState::DefinitelyLost => model::ErrorKind::LeakDefinitelyLost,
        LeakState::IndirectlyLost => model::ErrorKind::LeakIndirectlyLost,
        LeakState::PossiblyLost => model::ErrorKind::LeakPossiblyLost,
        LeakState::StillReachable => model::ErrorKind::LeakStillReachable,
    }
}

impl ProcessReport {
    pub(crate) fn end(&mut self, leak_scan_done: bool, sink: &mut dyn Sink) {
        self.finished = true;
        self.finished_ms = Some(self.world.elapsed_ms());
        let mut s = String::new();
        let quiet = self.opts.quiet;
        let totals = self.totals.unwrap_or_default();
        self.heap_summary = Some(model::HeapSummary {
            in_use_bytes: totals.in_use_bytes,
            in_use_blocks: totals.in_use_blocks,
            allocs: totals.allocs,
            frees: totals.frees,
            allocated_bytes: totals.bytes_allocated,
        });
        if !quiet {
            if let Some(heap) = &self.heap_summary {
                self.lines.heap_summary(&mut s, heap);
            }
        }
        for note in &self.notes {
            self.line(&mut s, &format!("memdx: {note}"));
        }
        if self.opts.leak_check == LeakCheck::No {
            // Valgrind always points at the leak check it did not run.
            if !quiet {
                self.line(
                    &mut s,
                    "For a detailed leak analysis, rerun with: --leak-check=full",
                );
                self.line(&mut s, "");
            }
        } else if totals.in_use_blocks == 0 {
            if !quiet {
                self.line(
                    &mut s,
                    "All heap blocks were freed -- no leaks are possible",
                );
                self.line(&mut s, "");
            }
        } else if self.opts.leak_check != LeakCheck::No
            && leak_scan_done
            && self.leak_report(&mut s)
        {
            sink.write_chunk(&s);
            self.exit_on_first_error(sink);
            return;
        }
        if self.opts.verbose {
            self.line(
                &mut s,
                &format!(
                    "memdx: symbolization: {} addresses, {:.3} s",
                    commas(self.sym.resolved() as u64),
                    self.sym.lookup_time().as_secs_f64()
                ),
            );
        }
        if !quiet {
            if !self.opts.show_error_list {
                self.line(
                    &mut s,
                    "For lists of detected and suppressed errors, rerun with: -s",
                );
            }
            self.error_summary(&mut s);
            if self.opts.show_error_list {
                self.error_list(&mut s);
            }
            // memdx's own last line: what it did not look for. After the
            // final ERROR SUMMARY, so the report up to there keeps
            // Valgrind's layout byte for byte.
            self.line(&mut s, &self.opts.not_checked);
        }
        sink.write_chunk(&s);
    }

    /// The loss records and LEAK SUMMARY; true when a loss record was shown
    /// under `--exit-on-first-error=yes` (the report stops there).
    fn leak_report(&mut self, s: &mut String) -> bool {
        let quiet = self.opts.quiet;
        let mut records = std::mem::take(&mut self.loss);
        // Valgrind's order: total size, then state, then block count, then
        // the stack's age (ids are handed out in order of first use).
        records.sort_by_key(|r| (r.bytes + r.indirect_bytes, r.state, r.blocks, r.stack));
        let n = records.len();
        let full = self.opts.leak_check == LeakCheck::Full;
        let mut sums: HashMap<LeakState, (u64, u64)> = HashMap::new();
        // As in Valgrind, every loss record is matched against the
        // suppressions (in summary mode too); a suppressed one counts only
        // in "suppressed:" (and, when it would have been an error, in the
        // ERROR SUMMARY's suppressed figures).
        let mut kept = Vec::with_capacity(n);
        for (i, r) in records.iter().enumerate() {
            let query = memdx_supp::Query::Leak(leak_kind(r.state));
            // Summary mode prints no stack: only whether (and by which
            // suppression) a record is suppressed matters, and that is
            // remembered for the run by the stack's signature (a shell's
            // subshells exit with the same hundreds of loss records).
            let (frames, verdict) = if full {
                let frames = self.frames_of(r.stack);
                let v = self.supp.matching(query, &frames);
                (frames, v)
            } else if self.supp.list.is_empty() {
                (Vec::new(), None)
            } else {
                let addrs = self.stacks.get(&r.stack).cloned().unwrap_or_default();
                let signature = self.sym.signature(&addrs);
                let sym = &mut self.sym;
                let v = self
                    .supp
                    .matching_leak(r.state, signature, || sym.stack(&addrs));
                (Vec::new(), v)
            };
            let counts_as_error = full && self.opts.errors_for_leak_kinds.has(r.state);
            if let Some(u) = verdict {
                if let Some(u) = self.supp.used.get_mut(u) {
                    u.bytes += r.bytes;
                    u.blocks += r.blocks;
                }
                self.suppressed_leaks.bytes += r.bytes;
                self.suppressed_leaks.blocks += r.blocks;
                if counts_as_error {
                    self.tally.suppressed_errors += 1;
                    self.tally.suppressed_contexts += 1;
                }
                continue;
            }
            let e = sums.entry(r.state).or_default();
            e.0 += r.bytes;
            e.1 += r.blocks;
            kept.push((i, r, frames, counts_as_error));
        }
        if full {
            for (i, r, frames, counts_as_error) in kept {
                // As in Valgrind, a loss record of a kind in
                // --errors-for-leak-kinds is an error even when not shown.
                if counts_as_error {
                    self.tally.errors += 1;
                    self.tally.contexts += 1;
                }
                if !self.opts.show_leak_kinds.has(r.state) {
                    continue;
                }
                let query = memdx_supp::Query::Leak(leak_kind(r.state));
                let suppression = self
                    .opts
                    .gen_suppressions
                    .then(|| suppress::generated(query, &frames));
                let kind = error_kind(r.state);
                let unique = self.next_unique;
                self.next_unique += 1;
                let error = model::Error {
                    unique,
                    tid: 1,
                    thread_name: None,
                    kind,
                    what: model::What::leak(
                        kind,
                        r.bytes,
                        r.indirect_bytes,
                        r.blocks,
                        i as u64 + 1,
                        n as u64,
                    ),
                    stack: model_stack(&frames),
                    aux: Vec::new(),
                    suppression,
                };
                self.lines.error(s, &error);
                self.leak_errors.push(error);
                if self.opts.exit_on_first_error {
                    return true;
                }
            }
        }
        let get = |st| sums.get(&st).copied().unwrap_or_default();
        let (dl, il, pl, sr) = (
            get(LeakState::DefinitelyLost),
            get(LeakState::IndirectlyLost),
            get(LeakState::PossiblyLost),
            get(LeakState::StillReachable),
        );
        let amount = |(bytes, blocks): (u64, u64)| model::Amount { bytes, blocks };
        let mut hs = self.heuristics.clone();
        hs.sort_by_key(|h| h.0);
        self.leak_summary = Some(model::LeakSummary {
            definitely_lost: amount(dl),
            indirectly_lost: amount(il),
            possibly_lost: amount(pl),
            still_reachable: amount(sr),
            reachable_via_heuristic: hs
                .iter()
                .map(|(h, b, n)| model::HeuristicAmount {
                    heuristic: h.name().to_string(),
                    amount: amount((*b, *n)),
                })
                .collect(),
            suppressed: self.suppressed_leaks,
        });
        if quiet {
            return false;
        }
        let leak_check = match self.opts.leak_check {
            LeakCheck::Full => text::LeakCheck::Full {
                reachable_shown: self.opts.show_leak_kinds.reachable,
            },
            LeakCheck::Summary => text::LeakCheck::Summary,
            LeakCheck::No => text::LeakCheck::No,
        };
        if let Some(summary) = &self.leak_summary {
            self.lines.leak_summary(s, summary, leak_check);
        }
        false
    }

    /// `-s`: the error contexts (fewest occurrences first; among equals the
    /// most recent first, as Valgrind's list keeps them), then the
    /// suppressions used, then the ERROR SUMMARY again.
    fn error_list(&self, s: &mut String) {
        let order = self.tally.by_count();
        for (n, c) in order.iter().enumerate() {
            self.lines
                .error_context(s, c.count, n + 1, self.tally.contexts);
            s.push_str(&c.text);
        }
        let by_last_use = self.supp.by_last_use();
        let used: Vec<text::UsedSuppression> = by_last_use
            .iter()
            .filter_map(|u| {
                let supp = self.supp.list.get(u.supp)?;
                Some(text::UsedSuppression {
                    count: u.count,
                    name: &u.name,
                    file: &supp.file,
                    line: supp.name_line,
                    leaked: matches!(supp.kind, memdx_supp::SuppKind::Leak(_)).then_some(
                        text::SuppressedLeaks {
                            bytes: u.bytes,
                            blocks: u.blocks,
                        },
                    ),
                })
            })
            .collect();
        self.lines.used_suppressions(s, &used);
        if !order.is_empty() || !used.is_empty() {
            self.error_summary(s);
        }
    }

    fn error_summary(&self, s: &mut String) {
        self.lines.error_summary(s, &self.error_counts());
    }
}
