//! One process's event stream turned into Valgrind 3.19's text report.
//!
//! Errors are rendered as they arrive; the heap and leak summaries when the
//! runtime closes its report. Each chunk of text is handed to a sink as a
//! whole, so the reports of several processes do not interleave mid-line.

use std::collections::{HashMap, HashSet};

use memdx_events::{
    BadFree, BadFreeKind, Dealloc, Event, HeapTotals, Heuristic, LeakState, LossRecord, Place,
};

use super::options::{CheckOptions, LeakCheck};
use super::symbolize::{Module, Symbolizer};

/// Where rendered text goes.
pub trait Sink {
    /// Writes one chunk of whole lines.
    fn write_chunk(&mut self, text: &str);
}

impl Sink for Vec<u8> {
    fn write_chunk(&mut self, text: &str) {
        self.extend_from_slice(text.as_bytes());
    }
}

/// Valgrind's `%'lu`: thousands separated by commas.
pub fn commas(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGTRAP => "SIGTRAP",
        _ => "signal",
    }
}

/// si_code values for SIGSEGV (Linux `asm-generic/siginfo.h`).
const SEGV_MAPERR: i32 = 1;
const SEGV_ACCERR: i32 = 2;

/// The stack size limit the program ran with (inherited from memdx).
fn main_stack_size() -> u64 {
    // SAFETY: getrlimit into a local.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_STACK, &mut rl) == 0 && rl.rlim_cur != libc::RLIM_INFINITY {
            rl.rlim_cur
        } else {
            8 << 20
        }
    }
}

/// The report of one process.
pub struct ProcessReport {
    pid: u32,
    opts: CheckOptions,
    sym: Symbolizer,
    stacks: HashMap<u32, Vec<u64>>,
    contexts: HashSet<(u8, u8, u32, u8)>,
    pub errors: u64,
    pub error_contexts: u64,
    loss: Vec<LossRecord>,
    heuristics: Vec<(Heuristic, u64, u64)>,
    totals: Option<HeapTotals>,
    notes: Vec<String>,
    pub finished: bool,
    /// Print a preamble when the command line arrives (a program exec'd
    /// under --trace-children=yes; the first program's is printed at start).
    pub announce_command: bool,
}

impl ProcessReport {
    pub fn new(pid: u32, opts: CheckOptions) -> Self {
        ProcessReport {
            pid,
            opts,
            sym: Symbolizer::default(),
            stacks: HashMap::new(),
            contexts: HashSet::new(),
            errors: 0,
            error_contexts: 0,
            loss: Vec::new(),
            heuristics: Vec::new(),
            totals: None,
            notes: Vec::new(),
            finished: false,
            announce_command: false,
        }
    }

    fn line(&self, out: &mut String, text: &str) {
        out.push_str(&format!("=={}== {}\n", self.pid, text));
    }

    /// The preamble Valgrind prints before running the program.
    pub fn preamble(&self, sink: &mut dyn Sink, command: &str) {
        if self.opts.quiet {
            return;
        }
        let mut s = String::new();
        self.line(
            &mut s,
            "Memcheck-compatible memory error detector (memdx check)",
        );
        self.line(
            &mut s,
            &format!(
                "Using memdx-{} (LD_PRELOAD runtime, unmodified binary)",
                env!("CARGO_PKG_VERSION")
            ),
        );
        self.line(&mut s, &format!("Command: {command}"));
        self.line(&mut s, "");
        sink.write_chunk(&s);
    }

    fn stack_lines(&mut self, out: &mut String, id: u32) {
        let frames = self.stacks.get(&id).cloned().unwrap_or_default();
        let rendered = self.sym.stack(&frames);
        if rendered.is_empty() {
            self.line(out, "   at 0x0: ??? (no stack recorded)");
        }
        for (i, f) in rendered.iter().enumerate() {
            let word = if i == 0 { "at" } else { "by" };
            let text = format!("   {word} {}", f.render());
            self.line(out, &text);
        }
    }

    /// Handles one event.
    pub fn handle(&mut self, ev: Event, sink: &mut dyn Sink) {
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
                let path = std::fs::canonicalize(&path).unwrap_or(path);
                self.sym.add_module(Module {
                    bias,
                    start,
                    end,
                    path,
                });
            }
            Event::BadFree(e) => self.bad_free(e, sink),
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
                if segv_maperr {
                    self.line(
                        &mut s,
                        &format!(" Access not within mapped region at address 0x{addr:X}"),
                    );
                } else if signo == libc::SIGSEGV && code == SEGV_ACCERR {
                    self.line(
                        &mut s,
                        &format!(" Bad permissions for mapped region at address 0x{addr:X}"),
                    );
                }
                self.stack_lines(&mut s, stack);
                if segv_maperr {
                    for text in [
                        " If you believe this happened as a result of a stack",
                        " overflow in your program's main thread (unlikely but",
                        " possible), you can try to increase the size of the",
                        " main thread stack using the --main-stacksize= flag.",
                    ] {
                        self.line(&mut s, text);
                    }
                    self.line(
                        &mut s,
                        &format!(
                            " The main thread stack size used in this run was {}.",
                            main_stack_size()
                        ),
                    );
                }
                sink.write_chunk(&s);
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
            Event::CommandLine { args } => {
                if self.announce_command {
                    let cmd = args
                        .iter()
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ");
                    self.preamble(sink, &cmd);
                }
            }
            Event::ReportEnd { leak_scan_done } => self.end(leak_scan_done, sink),
            Event::Alloc { .. } | Event::Free { .. } => {}
        }
    }

    fn bad_free(&mut self, e: BadFree, sink: &mut dyn Sink) {
        self.errors += 1;
        let key = (e.kind as u8, e.dealloc as u8, e.stack, e.place as u8);
        if !self.contexts.insert(key) {
            return;
        }
        self.error_contexts += 1;
        let mut s = String::new();
        let headline = match (e.kind, e.dealloc) {
            (BadFreeKind::Mismatched, _) => "Mismatched free() / delete / delete []",
            (BadFreeKind::Invalid, Dealloc::Realloc) => {
                "Invalid free() / delete / delete[] / realloc()"
            }
            (BadFreeKind::Invalid, _) => "Invalid free() / delete / delete[] / realloc()",
        };
        self.line(&mut s, headline);
        self.stack_lines(&mut s, e.stack);
        let offset = e.addr.wrapping_sub(e.block_start);
        match e.place {
            Place::InsideFreed => {
                self.line(
                    &mut s,
                    &format!(
                        " Address 0x{:x} is {} bytes inside a block of size {} free'd",
                        e.addr,
                        commas(offset),
                        commas(e.block_size)
                    ),
                );
                self.stack_lines(&mut s, e.free_stack);
                self.line(&mut s, " Block was alloc'd at");
                self.stack_lines(&mut s, e.alloc_stack);
            }
            Place::InsideLive => {
                self.line(
                    &mut s,
                    &format!(
                        " Address 0x{:x} is {} bytes inside a block of size {} alloc'd",
                        e.addr,
                        commas(offset),
                        commas(e.block_size)
                    ),
                );
                self.stack_lines(&mut s, e.alloc_stack);
            }
            Place::ThreadStack => {
                self.line(
                    &mut s,
                    &format!(" Address 0x{:x} is on thread {}'s stack", e.addr, e.tid),
                );
            }
            Place::Unknown => {
                let text = match self.sym.data_symbol(e.addr) {
                    Some((name, off)) => format!(
                        " Address 0x{:x} is {} bytes inside data symbol \"{}\"",
                        e.addr,
                        commas(off),
                        name
                    ),
                    None => format!(
                        " Address 0x{:x} is not stack'd, malloc'd or (recently) free'd",
                        e.addr
                    ),
                };
                self.line(&mut s, &text);
            }
        }
        self.line(&mut s, "");
        sink.write_chunk(&s);
    }

    fn end(&mut self, leak_scan_done: bool, sink: &mut dyn Sink) {
        self.finished = true;
        let mut s = String::new();
        let quiet = self.opts.quiet;
        let totals = self.totals.unwrap_or_default();
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
        for note in std::mem::take(&mut self.notes) {
            self.line(&mut s, &format!("memdx: {note}"));
        }
        if totals.in_use_blocks == 0 {
            if !quiet {
                self.line(
                    &mut s,
                    "All heap blocks were freed -- no leaks are possible",
                );
                self.line(&mut s, "");
            }
        } else if self.opts.leak_check != LeakCheck::No && leak_scan_done {
            self.leak_report(&mut s);
        }
        if !quiet {
            self.line(
                &mut s,
                "For lists of detected and suppressed errors, rerun with: -s",
            );
            self.line(
                &mut s,
                &format!(
                    "ERROR SUMMARY: {} errors from {} contexts (suppressed: 0 from 0)",
                    commas(self.errors),
                    commas(self.error_contexts)
                ),
            );
        }
        sink.write_chunk(&s);
    }

    fn leak_report(&mut self, s: &mut String) {
        let quiet = self.opts.quiet;
        let mut records = std::mem::take(&mut self.loss);
        // Valgrind's order: total size, then state, then block count, then
        // the stack's age (ids are handed out in order of first use).
        records.sort_by_key(|r| (r.bytes + r.indirect_bytes, r.state, r.blocks, r.stack));
        let n = records.len();
        let mut sums: HashMap<LeakState, (u64, u64)> = HashMap::new();
        for r in &records {
            let e = sums.entry(r.state).or_default();
            e.0 += r.bytes;
            e.1 += r.blocks;
        }
        if self.opts.leak_check == LeakCheck::Full {
            for (i, r) in records.iter().enumerate() {
                // As in Valgrind, a loss record of a kind in
                // --errors-for-leak-kinds is an error even when not shown.
                if self.opts.errors_for_leak_kinds.has(r.state) {
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
                self.stack_lines(s, r.stack);
                self.line(s, "");
            }
        }
        if quiet {
            return;
        }
        let get = |st| sums.get(&st).copied().unwrap_or_default();
        let (dl, il, pl, sr) = (
            get(LeakState::DefinitelyLost),
            get(LeakState::IndirectlyLost),
            get(LeakState::PossiblyLost),
            get(LeakState::StillReachable),
        );
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
        self.line(s, "        suppressed: 0 bytes in 0 blocks");
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
    fn commas_group_thousands_like_valgrind() {
        assert_eq!(commas(0), "0");
        assert_eq!(commas(999), "999");
        assert_eq!(commas(1000), "1,000");
        assert_eq!(commas(73766), "73,766");
        assert_eq!(commas(1234567), "1,234,567");
    }

    fn opts(full: bool) -> CheckOptions {
        let mut v = vec![];
        if full {
            v.push("--leak-check=full".into());
        }
        v.push("./p".into());
        super::super::options::parse(&v).unwrap()
    }

    #[test]
    fn leak_summary_and_loss_records_use_valgrinds_layout() {
        let mut r = ProcessReport::new(42, opts(true));
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
";
        assert_eq!(text, expected);
    }
}
