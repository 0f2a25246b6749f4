//! One process's event stream turned into Valgrind 3.19's text report.
//!
//! Errors are rendered as they arrive; the heap and leak summaries when the
//! runtime closes its report. Each chunk of text is handed to a sink as a
//! whole, so the reports of several processes do not interleave mid-line.

use std::collections::HashMap;
use std::sync::Arc;

use memdx_report as model;

use memdx_events::{
    Access, AccessKind, BadFree, BadFreeKind, Corruption, CorruptionKind, Event, HeapTotals,
    Heuristic, LeakState, LossRecord, Place,
};

use crate::settings::{LeakCheck, Settings};
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

pub use memdx_report::text::commas;

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSTKFLT => "SIGSTKFLT",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGIO => "SIGIO",
        libc::SIGPWR => "SIGPWR",
        _ => "signal",
    }
}

/// si_code values for SIGSEGV (Linux `asm-generic/siginfo.h`).
const SEGV_MAPERR: i32 = 1;
const SEGV_ACCERR: i32 = 2;
/// `si_code` of a SIGSEGV the kernel raised for a general protection fault
/// (Valgrind's `VKI_SEGV_MADE_UP_GPF`): no address.
const SI_KERNEL: i32 = 0x80;

/// Valgrind's words for the si_code of SIGBUS (`BUS_ADRALN`, ...), SIGILL
/// (`ILL_ILLOPC`, ...) and SIGFPE (`FPE_INTDIV`, ...), the line after
/// "Process terminating" (`default_action` in Valgrind's `m_signals.c`).
fn signal_event(signo: i32, code: i32) -> Option<&'static str> {
    let words: &[&str] = match signo {
        libc::SIGBUS => &[
            "Invalid address alignment",
            "Non-existent physical address",
            "Hardware error",
        ],
        libc::SIGILL => &[
            "Illegal opcode",
            "Illegal operand",
            "Illegal addressing mode",
            "Illegal trap",
            "Privileged opcode",
            "Privileged register",
            "Coprocessor error",
            "Internal stack error",
        ],
        libc::SIGFPE => &[
            "Integer divide by zero",
            "Integer overflow",
            "FP divide by zero",
            "FP overflow",
            "FP underflow",
            "FP inexact",
            "FP invalid operation",
            "FP subscript out of range",
        ],
        _ => return None,
    };
    // An instruction the CPU rejects (#UD: `ud2`, an unknown opcode) is
    // ILL_ILLOPN from the x86 kernel; Valgrind, which meets it when it
    // translates the code, raises ILL_ILLOPC for it: "Illegal opcode".
    let code = if signo == libc::SIGILL && code == 2 && cfg!(target_arch = "x86_64") {
        1
    } else {
        code
    };
    // The codes count from 1 in the order above.
    usize::try_from(code)
        .ok()
        .and_then(|c| c.checked_sub(1))
        .and_then(|i| words.get(i).copied())
}

/// Whether "Process terminating with default action of signal N" is
/// printed with `-q`: as Valgrind 3.19 (`default_action` in
/// `m_signals.c`), at verbosity 0 only for a signal whose default action
/// dumps core that the kernel sent (si_code > 0: a fault, a trap), not
/// for one a process sent (`abort()`, `kill`, `raise`) nor for SIGTERM,
/// SIGINT, SIGPIPE and the other terminating signals.
fn fatal_shown_when_quiet(signo: i32, code: i32) -> bool {
    let dumps_core = matches!(
        signo,
        libc::SIGQUIT
            | libc::SIGILL
            | libc::SIGTRAP
            | libc::SIGABRT
            | libc::SIGBUS
            | libc::SIGFPE
            | libc::SIGSEGV
            | libc::SIGXCPU
            | libc::SIGXFSZ
            | libc::SIGSYS
    );
    dumps_core && code > 0
}

/// What became of an error context the first time it was seen.
#[derive(Debug, Clone, Copy)]
enum Context {
    /// Reported; the index into `run_errors` / `error_counts`.
    Shown(usize),
    /// Suppressed; the index into `supp_counts`.
    Suppressed(usize),
}

fn leak_kind(state: LeakState) -> memdx_supp::LeakKind {
    match state {
        LeakState::DefinitelyLost => memdx_supp::LeakKind::Definite,
        LeakState::IndirectlyLost => memdx_supp::LeakKind::Indirect,
        LeakState::PossiblyLost => memdx_supp::LeakKind::Possible,
        LeakState::StillReachable => memdx_supp::LeakKind::Reachable,
    }
}

fn error_kind(state: LeakState) -> model::ErrorKind {
    match state {
        LeakState::DefinitelyLost => model::ErrorKind::LeakDefinitelyLost,
        LeakState::IndirectlyLost => model::ErrorKind::LeakIndirectlyLost,
        LeakState::PossiblyLost => model::ErrorKind::LeakPossiblyLost,
        LeakState::StillReachable => model::ErrorKind::LeakStillReachable,
    }
}

/// The report model's stack for symbolized frames.
fn model_stack(frames: &[FrameText]) -> model::Stack {
    model::Stack {
        frames: frames
            .iter()
            .map(|f| model::Frame {
                ip: f.addr,
                obj: f.object.clone(),
                function: f.function.clone(),
                dir: f.file_line.as_ref().and(f.dir.clone()),
                file: f.file_line.as_ref().map(|(file, _)| file.clone()),
                line: f.file_line.as_ref().map(|(_, line)| *line),
            })
            .collect(),
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
fn gen_suppression(query: memdx_supp::Query<'_>, frames: &[FrameText]) -> model::Suppression {
    let (kind, aux) = match query {
        memdx_supp::Query::Leak(k) => (
            "Memcheck:Leak",
            Some(format!("match-leak-kinds: {}", k.name())),
        ),
        memdx_supp::Query::Addr(n) => {
            return model::Suppression::new(
                "insert_a_suppression_name_here",
                &format!("Memcheck:Addr{n}"),
                None,
                supp_model_frames(frames),
            )
        }
        memdx_supp::Query::Overlap => ("Memcheck:Overlap", None),
        memdx_supp::Query::Param(p) => ("Memcheck:Param", Some(p.to_string())),
        memdx_supp::Query::FishyValue(p) => ("Memcheck:FishyValue", Some(p.to_string())),
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

/// A suppression that matched at least once.
#[derive(Debug, Clone)]
struct UsedSupp {
    name: String,
    count: u64,
    /// When last used (a sequence number).
    last: u64,
    /// Its index in the options' suppressions.
    supp: usize,
    /// Leaked bytes and blocks it suppressed (Leak suppressions).
    bytes: u64,
    blocks: u64,
}

/// The report of one process.
pub struct ProcessReport {
    pid: u32,
    opts: Settings,
    world: Arc<dyn World>,
    sym: Box<dyn Symbols>,
    stacks: HashMap<u32, Vec<u64>>,
    contexts: HashMap<(u8, u8, u32, u8), Context>,
    /// The thread of the last error shown (Valgrind prints "Thread N:"
    /// before an error from another thread than the previous one's).
    last_tid: u32,
    /// Invalid-access contexts: (read/write/overlap, routine, size, stack).
    access_contexts: HashMap<(u8, u8, u64, u32), Context>,
    /// Errors shown (ERROR SUMMARY).
    pub errors: u64,
    /// Their distinct contexts.
    pub error_contexts: u64,
    /// Suppressed errors and their distinct contexts (ERROR SUMMARY).
    suppressed_errors: u64,
    suppressed_contexts: u64,
    /// Bytes and blocks of suppressed loss records (LEAK SUMMARY).
    suppressed_leaks: model::Amount,
    /// Used suppressions: name, count and when last used (Valgrind moves
    /// a suppression to the front of its list when it matches, and lists
    /// `<suppcounts>` in that order).
    supp_counts: Vec<UsedSupp>,
    supp_uses: u64,
    /// The order suppressions are tried in (indices into the options').
    supp_order: Vec<usize>,
    /// The report model, built alongside the text.
    run_errors: Vec<model::Error>,
    error_counts: Vec<u64>,
    leak_errors: Vec<model::Error>,
    fatal: Option<model::FatalSignal>,
    /// Valgrind's "Stack overflow in thread #N: can't grow stack to ADDR",
    /// printed before the fatal signal and again after its address line.
    stack_overflow: Option<String>,
    /// The registers of the general protection fault whose access record
    /// comes next (`Event::FaultRegs`).
    fault_regs: Option<[u64; memdx_events::FAULT_REGS]>,
    program: model::CommandLine,
    ppid: u32,
    started_ms: u64,
    finished_ms: Option<u64>,
    heap_summary: Option<model::HeapSummary>,
    leak_summary: Option<model::LeakSummary>,
    next_unique: u64,
    loss: Vec<LossRecord>,
    heuristics: Vec<(Heuristic, u64, u64)>,
    totals: Option<HeapTotals>,
    notes: Vec<String>,
    /// The runtime's closing record arrived (or the report was closed
    /// without it).
    pub finished: bool,
    /// The text of each shown run-time error context (for `-s`), its
    /// error count being `error_counts`' and ...
    error_texts: Vec<String>,
    /// ... when it last occurred (a sequence number).
    error_last: Vec<u64>,
    occurrences: u64,
    /// `--exit-on-first-error=yes` and an error was shown: the runtime is
    /// told to end the process (see `session::serve`); nothing more is
    /// rendered.
    pub stop_requested: bool,
    /// Print a preamble when the command line arrives (a program exec'd
    /// under --trace-children=yes; the first program's is printed at start).
    pub announce_command: bool,
}

/// A command line as Valgrind 3.19 prints it after `Command: `, on one
/// line: words joined by spaces; in each word a space, `\\`, `<` and `>`
/// get a backslash, and control characters and non-ASCII bytes become `_`
/// (so a `-c` script with newlines cannot break the `==PID==` layout).
pub fn command_text<'a>(words: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut out = String::new();
    for (i, word) in words.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        for &b in word {
            match b {
                b' ' | b'\\' | b'<' | b'>' => {
                    out.push('\\');
                    out.push(b as char);
                }
                0..=0x1f | 0x80..=0xff => out.push('_'),
                _ => out.push(b as char),
            }
        }
    }
    out
}

impl ProcessReport {
    /// The report of process `pid`, empty so far.
    pub fn new(pid: u32, opts: Settings, world: Arc<dyn World>, sym: Box<dyn Symbols>) -> Self {
        let program = opts.program.clone();
        ProcessReport {
            pid,
            opts,
            ppid: world.parent_pid(pid),
            started_ms: world.elapsed_ms(),
            world,
            sym,
            stacks: HashMap::new(),
            contexts: HashMap::new(),
            access_contexts: HashMap::new(),
            last_tid: 1,
            errors: 0,
            error_contexts: 0,
            suppressed_errors: 0,
            suppressed_contexts: 0,
            suppressed_leaks: model::Amount::default(),
            supp_counts: Vec::new(),
            supp_uses: 0,
            supp_order: Vec::new(),
            run_errors: Vec::new(),
            error_counts: Vec::new(),
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
            finished: false,
            error_texts: Vec::new(),
            error_last: Vec::new(),
            occurrences: 0,
            stop_requested: false,
            announce_command: false,
        }
    }

    fn line(&self, out: &mut String, text: &str) {
        out.push_str(&format!("=={}== {}\n", self.pid, text));
    }

    /// The banner lines (without the `==PID== ` prefix).
    fn banner(command: &str) -> Vec<String> {
        vec![
            "Memcheck-compatible memory error detector (memdx check)".to_string(),
            format!(
                "Using memdx-{} (LD_PRELOAD runtime, unmodified binary)",
                env!("CARGO_PKG_VERSION")
            ),
            format!("Command: {command}"),
        ]
    }

    /// The preamble Valgrind prints before running the program.
    pub fn preamble(&self, sink: &mut dyn Sink, command: &str) {
        if self.opts.quiet {
            return;
        }
        let mut s = String::new();
        for l in Self::banner(command) {
            self.line(&mut s, &l);
        }
        self.line(&mut s, "");
        sink.write_chunk(&s);
    }

    /// Symbolizes stack `id` (Valgrind's rendering: nothing below main).
    fn frames_of(&mut self, id: u32) -> Vec<FrameText> {
        let frames = self.stacks.get(&id).cloned().unwrap_or_default();
        self.sym.stack(&frames)
    }

    fn frame_lines(&self, out: &mut String, rendered: &[FrameText]) {
        if rendered.is_empty() {
            self.line(out, "   at 0x0: ??? (no stack recorded)");
        }
        for (i, f) in rendered.iter().enumerate() {
            let word = if i == 0 { "at" } else { "by" };
            let text = format!("   {word} {}", f.render());
            self.line(out, &text);
        }
    }

    /// Prints stack `id`; returns it as the report model has it.
    fn stack_lines(&mut self, out: &mut String, id: u32) -> model::Stack {
        let rendered = self.frames_of(id);
        self.frame_lines(out, &rendered);
        model_stack(&rendered)
    }

    fn use_suppression(&mut self, i: usize) {
        self.supp_uses += 1;
        if let Some(c) = self.supp_counts.get_mut(i) {
            c.count += 1;
            c.last = self.supp_uses;
        }
    }

    /// The first suppression matching; counts its use.
    fn suppressed_by(
        &mut self,
        query: memdx_supp::Query<'_>,
        frames: &[FrameText],
    ) -> Option<usize> {
        let supps = self.opts.suppressions.clone();
        let sframes = supp_frames(frames);
        self.suppressed_by_index(|i| supps.get(i).is_some_and(|s| s.matches(query, &sframes)))
    }

    /// The first suppression in Valgrind's order for which `matches` holds
    /// (moved to the front, its use counted), as [`Self::suppressed_by`].
    fn suppressed_by_index(&mut self, matches: impl Fn(usize) -> bool) -> Option<usize> {
        let supps = self.opts.suppressions.clone();
        if self.supp_order.len() != supps.len() {
            // Valgrind's list: each suppression loaded is put in front
            // (so later files and later blocks are tried first) ...
            self.supp_order = (0..supps.len()).rev().collect();
        }
        let pos = self.supp_order.iter().position(|&i| matches(i))?;
        // ... and one that matches moves to the front.
        let idx = self.supp_order.remove(pos);
        self.supp_order.insert(0, idx);
        let s = supps.get(idx)?;
        let i = match self.supp_counts.iter().position(|u| u.name == s.name) {
            Some(i) => i,
            None => {
                self.supp_counts.push(UsedSupp {
                    name: s.name.clone(),
                    count: 0,
                    last: 0,
                    supp: idx,
                    bytes: 0,
                    blocks: 0,
                });
                self.supp_counts.len() - 1
            }
        };
        self.use_suppression(i);
        Some(i)
    }

    /// [`Self::suppressed_by`] for a loss record whose frames are not
    /// printed: the suppressions matching its stack are computed once per
    /// run and stack signature, and the first of them in the current order
    /// is used (as `suppressed_by` would pick it).
    fn leak_suppressed_by(&mut self, r: &LossRecord) -> Option<usize> {
        let addrs = self.stacks.get(&r.stack).cloned().unwrap_or_default();
        let key = (r.state, self.sym.signature(&addrs));
        let matching = match self.opts.leak_verdicts.get(&key) {
            Some(m) => m,
            None => {
                let frames = self.sym.stack(&addrs);
                let sframes = supp_frames(&frames);
                let query = memdx_supp::Query::Leak(leak_kind(r.state));
                let m: Arc<[usize]> = self
                    .opts
                    .suppressions
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.matches(query, &sframes))
                    .map(|(i, _)| i)
                    .collect();
                self.opts.leak_verdicts.insert(key, m.clone());
                m
            }
        };
        if matching.is_empty() {
            return None;
        }
        self.suppressed_by_index(|i| matching.contains(&i))
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
            } => {
                let mut s = String::new();
                self.line(&mut s, "");
                self.line(
                    &mut s,
                    &format!(
                        "Process terminating with default action of signal {signo} ({})",
                        signal_name(signo)
                    ),
                );
                // As Valgrind words the kernel's si_code for SIGSEGV.
                let segv_maperr = signo == libc::SIGSEGV && code == SEGV_MAPERR;
                // The kernel's SI_KERNEL, Valgrind's "made-up GPF": no
                // address.
                let gpf = signo == libc::SIGSEGV && code == SI_KERNEL;
                // Valgrind's user messages: printed on stderr in XML mode
                // too (the rest of the text goes to the XML only there).
                let mut umsg = String::new();
                if segv_maperr {
                    self.line(
                        &mut s,
                        &format!(" Access not within mapped region at address 0x{addr:X}"),
                    );
                    if let Some(text) = &self.stack_overflow {
                        self.line(&mut s, text);
                        self.line(&mut umsg, text);
                    }
                } else if signo == libc::SIGSEGV && code == SEGV_ACCERR {
                    self.line(
                        &mut s,
                        &format!(" Bad permissions for mapped region at address 0x{addr:X}"),
                    );
                } else if gpf {
                    self.line(&mut s, " General Protection Fault");
                } else if let Some(event) = signal_event(signo, code) {
                    self.line(&mut s, &format!(" {event} at address 0x{addr:X}"));
                }
                let model_stack = self.stack_lines(&mut s, stack);
                let overflow_text = self.stack_overflow.take().filter(|_| segv_maperr);
                self.fatal = Some(model::FatalSignal {
                    tid: 1,
                    thread_name: None,
                    signo,
                    signame: signal_name(signo).to_string(),
                    sicode: code,
                    event: if segv_maperr {
                        Some("Access not within mapped region".into())
                    } else if signo == libc::SIGSEGV && code == SEGV_ACCERR {
                        Some("Bad permissions for mapped region".into())
                    } else if gpf {
                        Some("General Protection Fault".into())
                    } else {
                        signal_event(signo, code).map(str::to_string)
                    },
                    siaddr: (matches!(
                        signo,
                        libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL
                    ) && !gpf)
                        .then_some(addr),
                    main_stack_size: segv_maperr.then(|| self.world.main_stack_size()),
                    stack_overflow: overflow_text,
                    stack: model_stack,
                });
                if segv_maperr {
                    let size_line = format!(
                        " The main thread stack size used in this run was {}.",
                        self.world.main_stack_size()
                    );
                    for text in [
                        " If you believe this happened as a result of a stack",
                        " overflow in your program's main thread (unlikely but",
                        " possible), you can try to increase the size of the",
                        " main thread stack using the --main-stacksize= flag.",
                        &size_line,
                    ] {
                        self.line(&mut s, text);
                        self.line(&mut umsg, text);
                    }
                }
                if self.opts.xml {
                    sink.write_always(&umsg);
                } else if !self.opts.quiet || fatal_shown_when_quiet(signo, code) {
                    sink.write_chunk(&s);
                }
            }
            Event::StackOverflow { tid, base } => {
                let text =
                    format!("Stack overflow in thread #{tid}: can't grow stack to {base:#x}");
                let mut s = String::new();
                self.line(&mut s, &text);
                // A Valgrind user message: on stderr in XML mode too.
                sink.write_always(&s);
                self.stack_overflow = Some(text);
            }
            Event::Note { text, .. } => self.notes.push(text),
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
            Event::ReportEnd { leak_scan_done } => self.end(leak_scan_done, sink),
            Event::Alloc { .. }
            | Event::Free { .. }
            | Event::HeapAlloc { .. }
            | Event::HeapFree { .. }
            | Event::HeapClock { .. }
            | Event::HeapStart { .. }
            | Event::HeapEnd => {}
        }
    }

    fn bad_free(&mut self, e: BadFree, sink: &mut dyn Sink) {
        let key = (e.kind as u8, e.dealloc as u8, e.stack, e.place as u8);
        if self.seen_before(self.contexts.get(&key).copied(), 1) {
            return;
        }
        let frames = self.frames_of(e.stack);
        let ctx = self.new_context(memdx_supp::Query::Free, &frames, 1);
        self.contexts.insert(key, ctx);
        if matches!(ctx, Context::Suppressed(_)) {
            return;
        }
        let mut aux: Vec<model::Aux> = Vec::new();
        let mut s = String::new();
        let headline = match e.kind {
            BadFreeKind::Mismatched => "Mismatched free() / delete / delete []",
            BadFreeKind::Invalid => "Invalid free() / delete / delete[] / realloc()",
        };
        self.line(&mut s, headline);
        self.frame_lines(&mut s, &frames);
        if e.place == Place::ThreadStack {
            let what = format!("Address 0x{:x} is on thread {}'s stack", e.addr, e.tid);
            self.line(&mut s, &format!(" {what}"));
            aux.push(model::Aux { what, stack: None });
        } else {
            self.address_lines(
                &mut s,
                &mut aux,
                e.addr,
                e.place,
                (e.block_start, e.block_size, e.alloc_stack, e.free_stack),
            );
        }
        self.line(&mut s, "");
        let suppression = self.opts.gen_suppressions.then(|| {
            let supp = gen_suppression(memdx_supp::Query::Free, &frames);
            s.push_str(&supp.raw_text);
            supp
        });
        let error = model::Error {
            unique: 0,
            // The runtime fills `tid` only for addresses on a thread's
            // stack so far (0 = not sent): Valgrind's main thread then.
            tid: e.tid.max(1),
            thread_name: None,
            kind: match e.kind {
                BadFreeKind::Mismatched => model::ErrorKind::MismatchedFree,
                BadFreeKind::Invalid => model::ErrorKind::InvalidFree,
            },
            what: model::What::Text(headline.to_string()),
            stack: model_stack(&frames),
            aux,
            suppression,
        };
        self.shown_error(s, error, 1, sink);
    }

    /// Counts `count` more occurrences of an error context met before
    /// (shown or suppressed); false for a new context.
    fn seen_before(&mut self, ctx: Option<Context>, count: u64) -> bool {
        match ctx {
            Some(Context::Shown(i)) => {
                self.errors += count;
                self.occurrences += 1;
                if let Some(c) = self.error_counts.get_mut(i) {
                    *c += count;
                }
                if let Some(l) = self.error_last.get_mut(i) {
                    *l = self.occurrences;
                }
                true
            }
            Some(Context::Suppressed(i)) => {
                self.suppressed_errors += count;
                for _ in 0..count {
                    self.use_suppression(i);
                }
                true
            }
            None => false,
        }
    }

    /// Counts a new error context of `count` errors: suppressed when a
    /// suppression matches `frames`, else shown (the caller then prints it
    /// and calls [`Self::shown_error`]).
    fn new_context(
        &mut self,
        query: memdx_supp::Query<'_>,
        frames: &[FrameText],
        count: u64,
    ) -> Context {
        if let Some(i) = self.suppressed_by(query, frames) {
            // suppressed_by counted one use.
            self.suppressed_errors += count;
            for _ in 1..count {
                self.use_suppression(i);
            }
            self.suppressed_contexts += 1;
            return Context::Suppressed(i);
        }
        self.errors += count;
        self.error_contexts += 1;
        Context::Shown(self.run_errors.len())
    }

    /// Prints a new error context's text and keeps it for the summaries,
    /// `-s`, XML and JSON; stops the program under `--exit-on-first-error`.
    fn shown_error(
        &mut self,
        text: String,
        mut error: model::Error,
        count: u64,
        sink: &mut dyn Sink,
    ) {
        // `-s` repeats the error as printed (its suppression block too).
        self.error_texts.push(text.clone());
        self.occurrences += 1;
        self.error_last.push(self.occurrences);
        sink.write_chunk(&text);
        error.unique = self.next_unique;
        self.next_unique += 1;
        self.run_errors.push(error);
        self.error_counts.push(count);
        if self.opts.exit_on_first_error {
            self.exit_on_first_error(sink);
        }
    }

    /// `--exit-on-first-error=yes`: Valgrind's notice (printed in XML mode
    /// too), then nothing more; the session tells the runtime to end the
    /// process with `--error-exitcode`'s status.
    fn exit_on_first_error(&mut self, sink: &mut dyn Sink) {
        let mut s = String::new();
        self.line(&mut s, "");
        self.line(
            &mut s,
            "Exit program on first error (--exit-on-first-error=yes)",
        );
        sink.write_always(&s);
        self.stop_requested = true;
        self.finished = true;
    }

    /// `-s`: the error contexts (fewest occurrences first; among equals the
    /// most recent first, as Valgrind's list keeps them), then the
    /// suppressions used, then the ERROR SUMMARY again.
    fn error_list(&self, s: &mut String) {
        let mut order: Vec<usize> = (0..self.error_texts.len()).collect();
        order.sort_by_key(|&i| {
            (
                self.error_counts.get(i).copied().unwrap_or(0),
                std::cmp::Reverse(self.error_last.get(i).copied().unwrap_or(0)),
            )
        });
        for (n, &i) in order.iter().enumerate() {
            self.line(s, "");
            self.line(
                s,
                &format!(
                    "{} errors in context {} of {}:",
                    self.error_counts.get(i).copied().unwrap_or(0),
                    n + 1,
                    self.error_contexts
                ),
            );
            s.push_str(self.error_texts.get(i).map(String::as_str).unwrap_or(""));
        }
        let mut used = self.supp_counts.clone();
        used.sort_by_key(|u| std::cmp::Reverse(u.last));
        if !used.is_empty() {
            s.push_str(&format!("--{}-- \n", self.pid));
        }
        for u in &used {
            let Some(supp) = self.opts.suppressions.get(u.supp) else {
                continue;
            };
            let leaked = if matches!(supp.kind, memdx_supp::SuppKind::Leak(_)) {
                format!(
                    " suppressed: {} bytes in {} blocks",
                    commas(u.bytes),
                    commas(u.blocks)
                )
            } else {
                String::new()
            };
            s.push_str(&format!(
                "--{}-- used_suppression: {:>6} {} {}:{}{leaked}\n",
                self.pid,
                u.count,
                u.name,
                supp.file.display(),
                supp.name_line
            ));
        }
        if !used.is_empty() {
            self.line(s, "");
        }
        if !order.is_empty() || !used.is_empty() {
            self.error_summary(s);
        }
    }

    fn error_summary(&self, s: &mut String) {
        self.line(
            s,
            &format!(
                "ERROR SUMMARY: {} errors from {} contexts (suppressed: {} from {})",
                commas(self.errors),
                commas(self.error_contexts),
                commas(self.suppressed_errors),
                commas(self.suppressed_contexts)
            ),
        );
    }

    /// A damaged redzone or poison: a write the runtime found only after
    /// the fact, so the writing instruction (and its size) is unknown.
    fn corruption(&mut self, c: Corruption, sink: &mut dyn Sink) {
        let key = (100 + c.kind as u8, 0, c.alloc_stack, 0);
        if self.seen_before(self.contexts.get(&key).copied(), 1) {
            return;
        }
        // The error's own stack: where the damage was noticed, else (at
        // exit) where the block was freed or allocated.
        let main = [c.stack, c.free_stack, c.alloc_stack]
            .into_iter()
            .find(|&id| id != 0)
            .unwrap_or(0);
        let frames = self.frames_of(main);
        let span = (c.last.saturating_sub(c.first) + 1).min(u64::from(u32::MAX)) as u32;
        let ctx = self.new_context(memdx_supp::Query::Addr(span), &frames, 1);
        self.contexts.insert(key, ctx);
        if matches!(ctx, Context::Suppressed(_)) {
            return;
        }
        // Where the first damaged byte is, and how the lines word it.
        let (headline, addr, place, zone) = match c.kind {
            CorruptionKind::AfterFree => (
                "Invalid write to a freed block (the writing instruction is unknown)",
                c.block_start + c.first,
                Place::InsideFreed,
                "of the freed block",
            ),
            CorruptionKind::BeforeStart => (
                "Invalid write before the start of a block (the writing instruction is unknown)",
                c.block_start.wrapping_sub(c.first),
                Place::InsideLive,
                "before the block's start",
            ),
            CorruptionKind::AfterEnd => (
                "Invalid write after the end of a block (the writing instruction is unknown)",
                c.block_start + c.block_size + c.first,
                Place::InsideLive,
                "after the block's end",
            ),
        };
        let found = match (c.stack != 0, c.kind) {
            (false, _) => "found at exit",
            (true, CorruptionKind::AfterFree) => {
                "found when the block left the freed-block quarantine"
            }
            (true, _) => "found when the block was freed",
        };
        let mut s = String::new();
        let mut aux: Vec<model::Aux> = Vec::new();
        self.line(&mut s, headline);
        self.frame_lines(&mut s, &frames);
        self.address_lines(
            &mut s,
            &mut aux,
            addr,
            place,
            (c.block_start, c.block_size, c.alloc_stack, c.free_stack),
        );
        let what = format!(
            "Bytes {} to {} {zone} were overwritten ({found})",
            commas(c.first),
            commas(c.last)
        );
        self.line(&mut s, &format!(" {what}"));
        aux.push(model::Aux { what, stack: None });
        self.line(&mut s, "");
        let suppression = self.opts.gen_suppressions.then(|| {
            let supp = gen_suppression(memdx_supp::Query::Addr(span), &frames);
            s.push_str(&supp.raw_text);
            supp
        });
        let error = model::Error {
            unique: 0,
            tid: 1,
            thread_name: None,
            kind: model::ErrorKind::InvalidWrite,
            what: model::What::Text(headline.to_string()),
            stack: model_stack(&frames),
            aux,
            suppression,
        };
        self.shown_error(s, error, 1, sink);
    }

    /// Valgrind's "Address 0x... is ..." line (and the block's stacks) for
    /// an address the runtime described.
    fn address_lines(
        &mut self,
        s: &mut String,
        aux: &mut Vec<model::Aux>,
        addr: u64,
        place: Place,
        block: (u64, u64, u32, u32),
    ) {
        let (start, size, alloc_stack, free_stack) = block;
        let rel = if addr < start {
            format!("{} bytes before", commas(start - addr))
        } else if addr - start >= size && !(size == 0 && addr == start) {
            format!("{} bytes after", commas(addr - start - size))
        } else {
            format!("{} bytes inside", commas(addr - start))
        };
        match place {
            Place::InsideLive => {
                let what = format!(
                    "Address 0x{addr:x} is {rel} a block of size {} alloc'd",
                    commas(size)
                );
                self.line(s, &format!(" {what}"));
                let st = self.stack_lines(s, alloc_stack);
                aux.push(model::Aux {
                    what,
                    stack: Some(st),
                });
            }
            Place::InsideFreed => {
                let what = format!(
                    "Address 0x{addr:x} is {rel} a block of size {} free'd",
                    commas(size)
                );
                self.line(s, &format!(" {what}"));
                let st = self.stack_lines(s, free_stack);
                aux.push(model::Aux {
                    what,
                    stack: Some(st),
                });
                self.line(s, " Block was alloc'd at");
                let st = self.stack_lines(s, alloc_stack);
                aux.push(model::Aux {
                    what: "Block was alloc'd at".into(),
                    stack: Some(st),
                });
            }
            Place::ThreadStack | Place::Unknown => {
                let what = match self.sym.data_symbol(addr) {
                    Some((name, off)) => format!(
                        "Address 0x{addr:x} is {} bytes inside data symbol \"{name}\"",
                        commas(off)
                    ),
                    None => {
                        format!("Address 0x{addr:x} is not stack'd, malloc'd or (recently) free'd")
                    }
                };
                self.line(s, &format!(" {what}"));
                aux.push(model::Aux { what, stack: None });
            }
        }
    }

    /// An invalid access: a faulting instruction (decoded here) or a C
    /// library routine the runtime checked.
    fn access(&mut self, mut a: Access, sink: &mut dyn Sink) {
        let regs = self.fault_regs.take();
        let mut gpf_access = None;
        if a.kind == AccessKind::Fault && a.si_code == SI_KERNEL {
            // A general protection fault carries no address: the one the
            // instruction used comes from its registers. Only a
            // non-canonical one is an invalid access for memcheck (which
            // knows the address); a misaligned SSE operand or a privileged
            // instruction is the fatal signal alone.
            let n = a.code.len().min(a.code_len as usize);
            match regs.and_then(|r| crate::decode::fault_address(a.pc, &a.code[..n], &r)) {
                Some((addr, d)) if crate::decode::non_canonical(addr) => {
                    a.addr = addr;
                    gpf_access = Some(d);
                }
                _ => return,
            }
        }
        let func = a.func.map_or("", memdx_events::Routine::name);
        let fishy_param: String;
        let (headline, kind, query, size) = match a.kind {
            AccessKind::Overlap => {
                // Valgrind prints the length only for routines that take one.
                let text = if matches!(func, "strcpy" | "strcat" | "stpcpy") {
                    format!(
                        "Source and destination overlap in {func}(0x{:x}, 0x{:x})",
                        a.dst, a.src
                    )
                } else {
                    format!(
                        "Source and destination overlap in {func}(0x{:x}, 0x{:x}, {})",
                        a.dst, a.src, a.len
                    )
                };
                (
                    text,
                    model::ErrorKind::Overlap,
                    memdx_supp::Query::Overlap,
                    0,
                )
            }
            AccessKind::FishyValue => {
                let arg = if a.size == 1 { "nmemb" } else { "size" };
                fishy_param = format!("{func}({arg})");
                (
                    format!(
                        "Argument '{arg}' of function {func} has a fishy (possibly negative) value: {}",
                        a.addr as i64
                    ),
                    model::ErrorKind::FishyValue,
                    memdx_supp::Query::FishyValue(&fishy_param),
                    0,
                )
            }
            AccessKind::SyscallParam | AccessKind::SyscallParamUninit => {
                let param = a
                    .func
                    .and_then(memdx_events::Routine::syscall_param)
                    .unwrap_or("?");
                let what = if a.kind == AccessKind::SyscallParam {
                    "unaddressable"
                } else {
                    "uninitialised"
                };
                (
                    format!("Syscall param {param} points to {what} byte(s)"),
                    model::ErrorKind::SyscallParam,
                    memdx_supp::Query::Param(param),
                    0,
                )
            }
            // An instruction fetch from an unmapped address (a call through
            // a wild pointer, a return to a smashed return address).
            AccessKind::Fault if a.addr == a.pc && a.si_code != SI_KERNEL => (
                "Jump to the invalid address stated on the next line".to_string(),
                model::ErrorKind::InvalidJump,
                memdx_supp::Query::Jump,
                0,
            ),
            _ => {
                let (write, size) = match a.kind {
                    AccessKind::Write => (true, a.size),
                    AccessKind::Read => (false, a.size),
                    _ if gpf_access.is_some() => {
                        gpf_access.map_or((false, 0), |d| (d.write, d.size))
                    }
                    _ => {
                        let n = a.code.len().min(a.code_len as usize);
                        match crate::decode::decode(a.pc, &a.code[..n], a.addr) {
                            Some(d) => (d.write, d.size),
                            // Undecodable: a read of unknown size.
                            None => (false, 0),
                        }
                    }
                };
                let text = format!(
                    "Invalid {} of size {size}",
                    if write { "write" } else { "read" }
                );
                let kind = if write {
                    model::ErrorKind::InvalidWrite
                } else {
                    model::ErrorKind::InvalidRead
                };
                (text, kind, memdx_supp::Query::Addr(size as u32), size)
            }
        };
        // Unaddressable and uninitialised bytes of one call are two contexts.
        let key = (a.kind as u8, a.func.map_or(0, |r| r as u8), size, a.stack);
        // A checked routine's record stands for `len` accesses of one site
        // of Valgrind's loop, each an error there.
        let count = match a.kind {
            AccessKind::Read | AccessKind::Write => a.len.max(1),
            _ => 1,
        };
        if self.seen_before(self.access_contexts.get(&key).copied(), count) {
            return;
        }
        let frames = self.frames_of(a.stack);
        let ctx = self.new_context(query, &frames, count);
        self.access_contexts.insert(key, ctx);
        if matches!(ctx, Context::Suppressed(_)) {
            return;
        }
        let mut aux: Vec<model::Aux> = Vec::new();
        let mut s = String::new();
        if a.tid != self.last_tid && a.tid != 0 {
            self.line(&mut s, &format!("Thread {}:", a.tid));
            self.last_tid = a.tid;
        }
        self.line(&mut s, &headline);
        self.frame_lines(&mut s, &frames);
        if !matches!(a.kind, AccessKind::Overlap | AccessKind::FishyValue) {
            self.address_lines(
                &mut s,
                &mut aux,
                a.addr,
                a.place,
                (a.block_start, a.block_size, a.alloc_stack, a.free_stack),
            );
        }
        if a.kind == AccessKind::SyscallParamUninit && self.opts.track_origins && a.free_stack != 0
        {
            let what = "Uninitialised value was created by a heap allocation";
            self.line(&mut s, &format!(" {what}"));
            let st = self.stack_lines(&mut s, a.free_stack);
            aux.push(model::Aux {
                what: what.into(),
                stack: Some(st),
            });
        }
        self.line(&mut s, "");
        let suppression = self.opts.gen_suppressions.then(|| {
            let supp = gen_suppression(query, &frames);
            s.push_str(&supp.raw_text);
            supp
        });
        let error = model::Error {
            unique: 0,
            tid: a.tid,
            thread_name: None,
            kind,
            what: model::What::Text(headline),
            stack: model_stack(&frames),
            aux,
            suppression,
        };
        self.shown_error(s, error, count, sink);
    }

    fn end(&mut self, leak_scan_done: bool, sink: &mut dyn Sink) {
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
            self.line(&mut s, "");
            self.line(&mut s, "HEAP SUMMARY:");
            self.line(
                &mut s,
                &format!(
                    "    in use at exit: {} bytes in {} blocks",
                    commas(totals.in_use_bytes),
                    commas(totals.in_use_blocks)
                ),
            );
            self.line(
                &mut s,
                &format!(
                    "  total heap usage: {} allocs, {} frees, {} bytes allocated",
                    commas(totals.allocs),
                    commas(totals.frees),
                    commas(totals.bytes_allocated)
                ),
            );
            self.line(&mut s, "");
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
                let v = self.suppressed_by(query, &frames);
                (frames, v)
            } else if self.opts.suppressions.is_empty() {
                (Vec::new(), None)
            } else {
                (Vec::new(), self.leak_suppressed_by(r))
            };
            let counts_as_error = full && self.opts.errors_for_leak_kinds.has(r.state);
            if let Some(u) = verdict {
                if let Some(u) = self.supp_counts.get_mut(u) {
                    u.bytes += r.bytes;
                    u.blocks += r.blocks;
                }
                self.suppressed_leaks.bytes += r.bytes;
                self.suppressed_leaks.blocks += r.blocks;
                if counts_as_error {
                    self.suppressed_errors += 1;
                    self.suppressed_contexts += 1;
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
                    self.errors += 1;
                    self.error_contexts += 1;
                }
                if !self.opts.show_leak_kinds.has(r.state) {
                    continue;
                }
                let what = match r.state {
                    LeakState::DefinitelyLost => "definitely lost",
                    LeakState::IndirectlyLost => "indirectly lost",
                    LeakState::PossiblyLost => "possibly lost",
                    LeakState::StillReachable => "still reachable",
                };
                let size = if r.indirect_bytes > 0 {
                    format!(
                        "{} ({} direct, {} indirect) bytes",
                        commas(r.bytes + r.indirect_bytes),
                        commas(r.bytes),
                        commas(r.indirect_bytes)
                    )
                } else {
                    format!("{} bytes", commas(r.bytes))
                };
                self.line(
                    s,
                    &format!(
                        "{size} in {} blocks are {what} in loss record {} of {}",
                        commas(r.blocks),
                        commas(i as u64 + 1),
                        commas(n as u64)
                    ),
                );
                self.frame_lines(s, &frames);
                self.line(s, "");
                let query = memdx_supp::Query::Leak(leak_kind(r.state));
                let suppression = self.opts.gen_suppressions.then(|| {
                    let supp = gen_suppression(query, &frames);
                    s.push_str(&supp.raw_text);
                    supp
                });
                let kind = error_kind(r.state);
                let unique = self.next_unique;
                self.next_unique += 1;
                self.leak_errors.push(model::Error {
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
                });
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
        self.line(s, "LEAK SUMMARY:");
        for (label, (b, n)) in [
            ("   definitely lost", dl),
            ("   indirectly lost", il),
            ("     possibly lost", pl),
            ("   still reachable", sr),
        ] {
            self.line(
                s,
                &format!("{label}: {} bytes in {} blocks", commas(b), commas(n)),
            );
            if label == "   still reachable" && !self.heuristics.is_empty() {
                self.line(s, "                      of which reachable via heuristic:");
                let mut hs = self.heuristics.clone();
                hs.sort_by_key(|h| h.0);
                for (h, b, n) in hs {
                    self.line(
                        s,
                        &format!(
                            "                        {:<19}: {} bytes in {} blocks",
                            h.name(),
                            commas(b),
                            commas(n)
                        ),
                    );
                }
            }
        }
        self.line(
            s,
            &format!(
                "        suppressed: {} bytes in {} blocks",
                commas(self.suppressed_leaks.bytes),
                commas(self.suppressed_leaks.blocks)
            ),
        );
        let any = dl.1 + il.1 + pl.1 + sr.1 > 0;
        if self.opts.leak_check != LeakCheck::Full && any {
            self.line(
                s,
                "Rerun with --leak-check=full to see details of leaked memory",
            );
        }
        if self.opts.leak_check == LeakCheck::Full
            && sr.1 > 0
            && !self.opts.show_leak_kinds.reachable
        {
            self.line(
                s,
                "Reachable blocks (those to which a pointer was found) are not shown.",
            );
            self.line(
                s,
                "To see them, rerun with: --leak-check=full --show-leak-kinds=all",
            );
        }
        self.line(s, "");
        false
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
        let mut errors = self.run_errors.clone();
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
                .run_errors
                .iter()
                .zip(&self.error_counts)
                .map(|(e, &count)| model::ErrorCount {
                    count,
                    unique: e.unique,
                })
                .collect(),
            supp_counts: {
                let mut used = self.supp_counts.clone();
                used.sort_by_key(|u| std::cmp::Reverse(u.last));
                used.into_iter()
                    .map(|u| model::SuppCount {
                        count: u.count,
                        name: u.name,
                    })
                    .collect()
            },
            error_summary: self.finished.then_some(model::ErrorSummary {
                errors: self.errors,
                contexts: self.error_contexts,
                suppressed: self.suppressed_errors,
                suppressed_contexts: self.suppressed_contexts,
            }),
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
        let mut s = String::new();
        self.line(&mut s, "");
        self.line(
            &mut s,
            "memdx: the process ended without a final report (killed by SIGKILL, exec'd, or exited through a path memdx does not intercept)",
        );
        sink.write_chunk(&s);
        self.finished = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_are_escaped_like_valgrind() {
        // Valgrind 3.19 printed, for these arguments:
        // Command: /bin/true a\ b t_ab n_l back\\slash q'uote \<\> __  _
        let words: [&[u8]; 10] = [
            b"/bin/true",
            b"a b",
            b"t\tab",
            b"n\nl",
            b"back\\slash",
            b"q'uote",
            b"<>",
            "\u{fc}".as_bytes(),
            b"",
            b"\x01",
        ];
        assert_eq!(
            command_text(words),
            "/bin/true a\\ b t_ab n_l back\\\\slash q'uote \\<\\> __  _"
        );
    }

    #[test]
    fn commas_group_thousands_like_valgrind() {
        assert_eq!(commas(0), "0");
        assert_eq!(commas(999), "999");
        assert_eq!(commas(1000), "1,000");
        assert_eq!(commas(73766), "73,766");
        assert_eq!(commas(1234567), "1,234,567");
    }

    fn report(pid: u32, full: bool) -> ProcessReport {
        let mut settings = crate::testing::settings();
        if full {
            settings.leak_check = LeakCheck::Full;
        }
        crate::testing::report(pid, settings)
    }

    #[test]
    fn leak_summary_and_loss_records_use_valgrinds_layout() {
        let mut r = report(42, true);
        let mut out: Vec<u8> = Vec::new();
        r.handle(
            Event::Stack {
                id: 1,
                frames: vec![0x10],
            },
            &mut out,
        );
        r.handle(
            Event::LossRecord(LossRecord {
                state: LeakState::DefinitelyLost,
                stack: 1,
                bytes: 16,
                indirect_bytes: 16,
                blocks: 1,
            }),
            &mut out,
        );
        r.handle(
            Event::LossRecord(LossRecord {
                state: LeakState::IndirectlyLost,
                stack: 1,
                bytes: 16,
                indirect_bytes: 0,
                blocks: 1,
            }),
            &mut out,
        );
        r.handle(
            Event::HeapTotals(HeapTotals {
                in_use_bytes: 32,
                in_use_blocks: 2,
                allocs: 7,
                frees: 5,
                bytes_allocated: 73766,
            }),
            &mut out,
        );
        r.handle(
            Event::ReportEnd {
                leak_scan_done: true,
            },
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        let expected = "\
==42== 
==42== HEAP SUMMARY:
==42==     in use at exit: 32 bytes in 2 blocks
==42==   total heap usage: 7 allocs, 5 frees, 73,766 bytes allocated
==42== 
==42== 32 (16 direct, 16 indirect) bytes in 1 blocks are definitely lost in loss record 2 of 2
==42==    at 0x10: ???
==42== 
==42== LEAK SUMMARY:
==42==    definitely lost: 16 bytes in 1 blocks
==42==    indirectly lost: 16 bytes in 1 blocks
==42==      possibly lost: 0 bytes in 0 blocks
==42==    still reachable: 0 bytes in 0 blocks
==42==         suppressed: 0 bytes in 0 blocks
==42== 
==42== For lists of detected and suppressed errors, rerun with: -s
==42== ERROR SUMMARY: 1 errors from 1 contexts (suppressed: 0 from 0)
==42== Not checked by memdx: uses of uninitialised values other than heap bytes passed to write/send calls, reads outside heap blocks that hit no guard page, stack and global overruns, system call arguments other than read/write/send/recv buffers (see 'memdx check --help')
";
        assert_eq!(text, expected);
    }

    #[test]
    fn invalid_accesses_use_valgrinds_wording_and_counts() {
        let mut r = report(7, true);
        let mut out: Vec<u8> = Vec::new();
        for (id, pc) in [(1, 0x10), (2, 0x20), (3, 0x30), (4, 0x40)] {
            r.handle(
                Event::Stack {
                    id,
                    frames: vec![pc],
                },
                &mut out,
            );
        }
        // A fault: `mov eax, [rdi]` at an address no block is near.
        let mut code = [0u8; 16];
        code[..2].copy_from_slice(&[0x8b, 0x07]);
        // (A fault address equal to the pc would be a jump there.)
        r.handle(
            Event::Access(Access {
                addr: 0x8,
                stack: 1,
                signo: 11,
                si_code: 1,
                pc: 0x10,
                code_len: 2,
                code,
                ..Access::default()
            }),
            &mut out,
        );
        // strcpy past a freed block, standing for 3 errors of one context.
        let write = Access {
            kind: AccessKind::Write,
            func: Some(memdx_events::Routine::Strcpy),
            addr: 0x1010,
            size: 1,
            len: 3,
            stack: 2,
            place: Place::InsideFreed,
            block_start: 0x1000,
            block_size: 16,
            alloc_stack: 3,
            free_stack: 4,
            ..Access::default()
        };
        r.handle(Event::Access(write), &mut out);
        r.handle(Event::Access(write), &mut out);
        r.handle(
            Event::Access(Access {
                kind: AccessKind::Read,
                func: Some(memdx_events::Routine::Memcpy),
                addr: 0xff8,
                size: 8,
                stack: 2,
                place: Place::InsideLive,
                block_start: 0x1000,
                block_size: 16,
                alloc_stack: 3,
                ..Access::default()
            }),
            &mut out,
        );
        r.handle(
            Event::Access(Access {
                kind: AccessKind::Overlap,
                func: Some(memdx_events::Routine::Strcpy),
                dst: 0x1000,
                src: 0x1002,
                stack: 2,
                ..Access::default()
            }),
            &mut out,
        );
        r.handle(
            Event::Access(Access {
                kind: AccessKind::Overlap,
                func: Some(memdx_events::Routine::Strncpy),
                dst: 0x1004,
                src: 0x1006,
                len: 9,
                stack: 3,
                ..Access::default()
            }),
            &mut out,
        );
        assert_eq!(r.errors, 1 + 6 + 1 + 1 + 1);
        assert_eq!(r.error_contexts, 5);
        let text = String::from_utf8(out).unwrap();
        let expected = "\
==7== Invalid read of size 4
==7==    at 0x10: ???
==7==  Address 0x8 is not stack'd, malloc'd or (recently) free'd
==7== 
==7== Invalid write of size 1
==7==    at 0x20: ???
==7==  Address 0x1010 is 0 bytes after a block of size 16 free'd
==7==    at 0x40: ???
==7==  Block was alloc'd at
==7==    at 0x30: ???
==7== 
==7== Invalid read of size 8
==7==    at 0x20: ???
==7==  Address 0xff8 is 8 bytes before a block of size 16 alloc'd
==7==    at 0x30: ???
==7== 
==7== Source and destination overlap in strcpy(0x1000, 0x1002)
==7==    at 0x20: ???
==7== 
==7== Source and destination overlap in strncpy(0x1004, 0x1006, 9)
==7==    at 0x30: ???
==7== 
";
        assert_eq!(text, expected);
    }
}
