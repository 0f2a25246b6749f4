//! One process's report: the events it sent, dispatched to what they
//! mean (run-time errors in `errors`, the fatal signal in `signal`, the
//! end of the report in `summary`), and the report model built alongside
//! the text.

use std::collections::HashMap;
use std::sync::Arc;

use memdx_events::{Event, HeapTotals, Heuristic, LossRecord};
use memdx_report as model;
use memdx_report::text::{commas, Lines};

use crate::context::Tally;
use crate::settings::Settings;
use crate::suppress::Suppressions;
use crate::text::command_text;
use crate::world::{FrameText, Module, Symbols, World};

/// Where rendered text goes.
pub trait Sink {
    /// Writes one chunk of whole lines of the report.
    fn write_chunk(&mut self, text: &str);
    /// Writes lines Valgrind prints even in XML mode (where the report
    /// itself goes only to the XML): `--exit-on-first-error`'s notice.
    fn write_always(&mut self, text: &str) {
        self.write_chunk(text);
    }
}

impl Sink for Vec<u8> {
    fn write_chunk(&mut self, text: &str) {
        self.extend_from_slice(text.as_bytes());
    }
}

/// The report of one process.
pub struct ProcessReport {
    pub(crate) pid: u32,
    /// Valgrind's text layout, lines prefixed with this pid.
    pub(crate) lines: Lines,
    pub(crate) opts: Settings,
    pub(crate) world: Arc<dyn World>,
    pub(crate) sym: Box<dyn Symbols>,
    /// The runtime's stacks by id.
    pub(crate) stacks: HashMap<u32, Vec<u64>>,
    /// Error contexts and the ERROR SUMMARY's counts.
    pub(crate) tally: Tally,
    /// The suppressions and their use.
    pub(crate) supp: Suppressions,
    /// The thread of the last error shown (Valgrind prints "Thread N:"
    /// before an error from another thread than the previous one's).
    pub(crate) last_tid: u32,
    /// Bytes and blocks of suppressed loss records (LEAK SUMMARY).
    pub(crate) suppressed_leaks: model::Amount,
    /// The loss records shown, as the report model has them.
    pub(crate) leak_errors: Vec<model::Error>,
    pub(crate) fatal: Option<model::FatalSignal>,
    /// Valgrind's "Stack overflow in thread #N: can't grow stack to ADDR",
    /// printed before the fatal signal and again after its address line.
    pub(crate) stack_overflow: Option<String>,
    /// The registers of the general protection fault whose access record
    /// comes next (`Event::FaultRegs`).
    pub(crate) fault_regs: Option<[u64; memdx_events::FAULT_REGS]>,
    pub(crate) program: model::CommandLine,
    pub(crate) ppid: u32,
    pub(crate) started_ms: u64,
    pub(crate) finished_ms: Option<u64>,
    pub(crate) heap_summary: Option<model::HeapSummary>,
    pub(crate) leak_summary: Option<model::LeakSummary>,
    /// The next error's `unique` (run-time errors and loss records share
    /// the sequence).
    pub(crate) next_unique: u64,
    pub(crate) loss: Vec<LossRecord>,
    pub(crate) heuristics: Vec<(Heuristic, u64, u64)>,
    pub(crate) totals: Option<HeapTotals>,
    pub(crate) notes: Vec<String>,
    /// The program this process was about to exec, unchecked
    /// (`--trace-children=no`): if no final report comes, that is why.
    pub(crate) exec_path: Option<Vec<u8>>,
    /// The runtime's closing record arrived (or the report was closed
    /// without it).
    pub finished: bool,
    /// `--exit-on-first-error=yes` and an error was shown: the runtime is
    /// told to end the process (see `session::serve`); nothing more is
    /// rendered.
    pub stop_requested: bool,
    /// Print a preamble when the command line arrives (a program exec'd
    /// under --trace-children=yes; the first program's is printed at start).
    pub announce_command: bool,
}

impl ProcessReport {
    /// The report of process `pid`, empty so far.
    pub fn new(pid: u32, opts: Settings, world: Arc<dyn World>, sym: Box<dyn Symbols>) -> Self {
        let program = opts.program.clone();
        ProcessReport {
            pid,
            lines: Lines::new(pid).with_error_markers(opts.error_markers.clone()),
            supp: Suppressions::new(opts.suppressions.clone(), opts.leak_verdicts.clone()),
            opts,
            ppid: world.parent_pid(pid),
            started_ms: world.elapsed_ms(),
            world,
            sym,
            stacks: HashMap::new(),
            tally: Tally::default(),
            last_tid: 1,
            suppressed_leaks: model::Amount::default(),
            leak_errors: Vec::new(),
            fatal: None,
            stack_overflow: None,
            fault_regs: None,
            program,
            finished_ms: None,
            heap_summary: None,
            leak_summary: None,
            next_unique: 0,
            loss: Vec::new(),
            heuristics: Vec::new(),
            totals: None,
            notes: Vec::new(),
            exec_path: None,
            finished: false,
            stop_requested: false,
            announce_command: false,
        }
    }

    /// The ERROR SUMMARY's figures so far.
    pub(crate) fn error_counts(&self) -> model::ErrorSummary {
        model::ErrorSummary {
            errors: self.tally.errors,
            contexts: self.tally.contexts,
            suppressed: self.tally.suppressed_errors,
            suppressed_contexts: self.tally.suppressed_contexts,
        }
    }

    /// Errors shown so far (the ERROR SUMMARY's first figure; loss records
    /// counted as errors included).
    pub fn errors(&self) -> u64 {
        self.tally.errors
    }

    /// Symbolizes stack `id` (Valgrind's rendering: nothing below main).
    pub(crate) fn frames_of(&mut self, id: u32) -> Vec<FrameText> {
        let frames = self.stacks.get(&id).cloned().unwrap_or_default();
        self.sym.stack(&frames)
    }

    /// Handles one event.
    pub fn handle(&mut self, ev: Event, sink: &mut dyn Sink) {
        if self.stop_requested {
            return;
        }
        match ev {
            Event::Stack { id, frames } => {
                self.stacks.insert(id, frames);
            }
            Event::Module {
                bias,
                start,
                end,
                path,
            } => {
                use std::os::unix::ffi::OsStringExt;
                let path: std::path::PathBuf = std::ffi::OsString::from_vec(path).into();
                // Valgrind names objects by their real path.
                let path = self.world.canonical_path(&path);
                self.sym.add_module(Module {
                    bias,
                    start,
                    end,
                    path,
                });
            }
            Event::BadFree(e) => self.bad_free(e, sink),
            Event::Corruption(c) => self.corruption(c, sink),
            Event::FaultRegs { regs } => self.fault_regs = Some(regs),
            Event::Access(a) => self.access(a, sink),
            Event::LossRecord(r) => self.loss.push(r),
            Event::HeuristicTotal {
                heuristic,
                bytes,
                blocks,
            } => self.heuristics.push((heuristic, bytes, blocks)),
            Event::HeapTotals(t) => self.totals = Some(t),
            Event::FatalSignal {
                signo,
                code,
                addr,
                stack,
            } => self.fatal_signal(signo, code, addr, stack, sink),
            Event::StackOverflow { tid, base } => {
                let text =
                    format!("Stack overflow in thread #{tid}: can't grow stack to {base:#x}");
                let mut s = String::new();
                self.line(&mut s, &text);
                // A Valgrind user message: on stderr in XML mode too.
                sink.write_always(&s);
                self.stack_overflow = Some(text);
            }
            Event::ScanStats {
                blocks,
                root_bytes,
                nanos,
            } => {
                if self.opts.verbose {
                    self.notes.push(format!(
                        "leak scan: {} blocks, {} bytes of roots, {:.3} s",
                        commas(blocks),
                        commas(root_bytes),
                        nanos as f64 / 1e9
                    ));
                }
            }
            Event::ScanSkipped {
                root_bytes,
                block_bytes,
                blocks,
            } => {
                if self.opts.verbose {
                    self.notes.push(format!(
                        "leak scan: skipped what it could not read (protected, unmapped, or \
                         past the end of a mapped file): {} bytes of roots, {} bytes of \
                         block contents, {} blocks whole",
                        commas(root_bytes),
                        commas(block_bytes),
                        commas(blocks)
                    ));
                }
            }
            Event::CommandLine { args } => {
                let words: Vec<String> = args
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                if self.announce_command {
                    self.preamble(sink, &command_text(args.iter().map(|a| a.as_slice())));
                }
                if let Some((exe, rest)) = words.split_first() {
                    self.program = model::CommandLine {
                        exe: exe.clone(),
                        args: rest.to_vec(),
                    };
                }
            }
            Event::Exec { path } => self.exec_path = Some(path),
            Event::ReportEnd { leak_scan_done } => self.end(leak_scan_done, sink),
            Event::HeapAlloc { .. }
            | Event::HeapFree { .. }
            | Event::HeapClock { .. }
            | Event::HeapStart { .. }
            | Event::HeapEnd
            | Event::HeapExitStatus { .. }
            | Event::HeapMallinfo { .. }
            | Event::HeapMap { .. }
            | Event::HeapUnmap { .. } => {}
        }
    }

    /// The report model of this process so far (`finished: None` when
    /// the runtime's closing record has not arrived).
    pub fn to_report(&self) -> model::Report {
        let mut checker_args = self.opts.raw_options.clone();
        checker_args.retain(|a| !a.is_empty());
        let checker = model::CommandLine {
            exe: self.world.checker_exe(),
            args: std::iter::once("check".to_string())
                .chain(checker_args)
                .collect(),
        };
        let command = std::iter::once(self.program.exe.clone())
            .chain(self.program.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let mut errors: Vec<model::Error> =
            self.tally.shown.iter().map(|c| c.error.clone()).collect();
        errors.extend(self.leak_errors.iter().cloned());
        model::Report {
            tool: "memcheck".into(),
            preamble: Self::banner(&command),
            pid: self.pid,
            ppid: self.ppid,
            user_comment: self.opts.xml_user_comment.clone(),
            checker,
            program: self.program.clone(),
            started: model::Status {
                elapsed_ms: self.started_ms,
            },
            errors,
            fatal_signal: self.fatal.clone(),
            finished: self
                .finished_ms
                .map(|elapsed_ms| model::Status { elapsed_ms }),
            error_counts: self
                .tally
                .shown
                .iter()
                .map(|c| model::ErrorCount {
                    count: c.count,
                    unique: c.error.unique,
                })
                .collect(),
            supp_counts: self
                .supp
                .by_last_use()
                .into_iter()
                .map(|u| model::SuppCount {
                    count: u.count,
                    name: u.name,
                })
                .collect(),
            error_summary: self.finished.then(|| self.error_counts()),
            heap_summary: self.heap_summary,
            leak_summary: self.leak_summary.clone(),
            notes: self.notes.clone(),
        }
    }

    /// The stream ended without the runtime's closing record.
    pub fn abandoned(&mut self, sink: &mut dyn Sink) {
        if self.finished {
            return;
        }
        self.finished = true;
        let text = match &self.exec_path {
            // As under Valgrind, a program exec'd without
            // --trace-children=yes ends the report; memdx says why
            // (not with -q: no error was found).
            Some(_) if self.opts.quiet => return,
            Some(path) if path.is_empty() => "memdx: the process exec'd a program (fexecve), which ran unchecked: exec'd programs are checked with --trace-children=yes".to_string(),
            Some(path) => format!(
                "memdx: the process exec'd {}, which ran unchecked: exec'd programs are checked with --trace-children=yes",
                String::from_utf8_lossy(path)
            ),
            None => "memdx: the process ended without a final report (killed by SIGKILL, exec'd, or exited through a path memdx does not intercept)".to_string(),
        };
        let mut s = String::new();
        self.line(&mut s, "");
        self.line(&mut s, &text);
        sink.write_chunk(&s);
    }
}
