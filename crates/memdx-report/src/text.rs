//! Valgrind 3.19's text report (what memcheck prints on stderr or into
//! `--log-file`), from the same [`Report`].
//!
//! Every line starts with `==PID== `. The layout:
//!
//! ```text
//! ==PID== <preamble line>                      Report::preamble
//! ==PID== Parent PID: PPID                     TextOptions::parent_pid
//! ==PID==
//! [==PID== Thread 2 NAME:]                     when the thread changes
//! ==PID== Invalid free() / delete / delete[] / realloc()
//! ==PID==    at 0x484417B: free (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
//! ==PID==    by 0x10907D: main (double_free.c:4)
//! ==PID==  Address 0x4a43040 is 0 bytes inside a block of size 10 free'd
//! ==PID==    at ...                            aux lines: one space, then their stack
//! ==PID==
//! ... one block per run-time error ...
//! [==PID== Stack overflow in thread #1: ...     FatalSignal::stack_overflow
//!  ==PID==
//!  ==PID== Process terminating with default action of signal 6 (SIGABRT)
//!  ==PID==  EVENT at address 0xADDR            when the signal has one
//!  ==PID== Stack overflow in thread #1: ...     again
//!  ==PID==    at ...
//!  ==PID==  If you believe this happened ...  FatalSignal::main_stack_size]
//! ==PID==
//! ==PID== HEAP SUMMARY:
//! ==PID==     in use at exit: 337 bytes in 6 blocks
//! ==PID==   total heap usage: 6 allocs, 0 frees, 337 bytes allocated
//! ==PID==
//! ==PID== memdx: NOTE                          Report::notes (memdx's own)
//! ... one block per leak ...
//! ==PID== LEAK SUMMARY:                        or "All heap blocks were freed -- no leaks are possible"
//! ==PID==    definitely lost: 132 bytes in 2 blocks
//! ...                                          with "of which reachable via heuristic:"
//! ==PID==                                      and a hint line or two, by TextOptions
//! ==PID== For lists of detected and suppressed errors, rerun with: -s
//! ==PID== ERROR SUMMARY: 3 errors from 3 contexts (suppressed: 0 from 0)
//! ```
//!
//! Numbers in the summaries have thousands separators (`1,024`). `-s`'s
//! list (`N errors in context I of C:` before each error, then the
//! suppressions used on `--PID-- used_suppression:` lines) has its pieces
//! in [`Lines`] ([`Lines::error_context`], [`Lines::used_suppressions`]);
//! [`write`] does not produce it. Not reproduced: `--gen-suppressions`
//! blocks.

use std::io::{self, Write};
use std::path::Path;

use crate::model::{
    Amount, Error, ErrorSummary, FatalSignal, Frame, HeapSummary, LeakSummary, Report, Stack,
};

/// What the text depends on besides the report: choices of the command
/// line that Valgrind's XML does not record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextOptions {
    /// Print `Parent PID: N` after the preamble (Valgrind does when it
    /// writes to a log file).
    pub parent_pid: bool,
    /// How leaks were checked; decides the hint after LEAK SUMMARY.
    pub leak_check: LeakCheck,
    /// Print "Use --track-origins=yes ..." (uninitialised values were
    /// reported and their origins were not tracked).
    pub track_origins_hint: bool,
}

/// `--leak-check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakCheck {
    /// `--leak-check=no`: no scan; a hint after HEAP SUMMARY.
    No,
    /// `--leak-check=summary`: figures only.
    Summary,
    /// `--leak-check=full`; `reachable_shown` when still-reachable blocks
    /// are listed (`--show-leak-kinds=all` or `reachable`).
    Full {
        /// Whether still-reachable blocks are listed.
        reachable_shown: bool,
    },
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

/// One frame as Valgrind describes an address: `0x10907D: main
/// (double_free.c:4)`, `0x484417B: free (in /path/obj.so)`, `0x4011: ???`.
pub fn describe(f: &Frame) -> String {
    let name = f.function.as_deref().unwrap_or("???");
    match (&f.file, f.line, &f.obj) {
        (Some(file), Some(line), _) => format!("0x{:X}: {name} ({file}:{line})", f.ip),
        (_, _, Some(obj)) => format!("0x{:X}: {name} (in {obj})", f.ip),
        _ => format!("0x{:X}: {name}", f.ip),
    }
}

/// Valgrind's text, one chunk at a time: every line prefixed `==PID== `.
/// The checker's analyzer writes each error with it as the error arrives;
/// [`write`] writes a whole report with the same pieces.
#[derive(Debug, Clone)]
pub struct Lines {
    prefix: String,
    /// `--PID-- `: the prefix of Valgrind's informational lines.
    info_prefix: String,
    /// `--error-markers=BEGIN,END`: lines around each error (either may
    /// be empty: no line).
    markers: ErrorMarkers,
}

/// `--error-markers=BEGIN,END`: a line before each error (before its
/// "Thread N:" line) and one after its closing empty line (before its
/// `--gen-suppressions` block), as Valgrind 3.19 prints them; loss
/// records are errors too. An empty marker prints no line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorMarkers {
    /// The line before each error.
    pub begin: String,
    /// The line after each error.
    pub end: String,
}

/// One suppression as `-s`'s list shows it (a `used_suppression` line).
#[derive(Debug, Clone, Copy)]
pub struct UsedSuppression<'a> {
    /// How often it was used.
    pub count: u64,
    /// Its name.
    pub name: &'a str,
    /// The file it was read from.
    pub file: &'a Path,
    /// The line of its name in that file.
    pub line: usize,
    /// For a leak suppression, what it suppressed.
    pub leaked: Option<SuppressedLeaks>,
}

/// The leaked bytes and blocks a leak suppression suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuppressedLeaks {
    /// Bytes.
    pub bytes: u64,
    /// Blocks.
    pub blocks: u64,
}

impl Lines {
    /// Lines of process `pid`'s report.
    pub fn new(pid: u32) -> Lines {
        Lines {
            prefix: format!("=={pid}== "),
            info_prefix: format!("--{pid}-- "),
            markers: ErrorMarkers::default(),
        }
    }

    /// The same lines with `--error-markers` around each error.
    pub fn with_error_markers(mut self, markers: ErrorMarkers) -> Lines {
        self.markers = markers;
        self
    }

    /// `-s`'s heading of one error context (after an empty line):
    /// `COUNT errors in context INDEX of CONTEXTS:`; the error follows.
    pub fn error_context(&self, out: &mut String, count: u64, index: usize, contexts: u64) {
        self.line(out, "");
        self.line(
            out,
            &format!("{count} errors in context {index} of {contexts}:"),
        );
    }

    /// `-s`'s suppressions used (most recently used first, as given):
    /// an empty `--PID-- ` line, one `used_suppression` line each, then an
    /// empty line. Nothing when none was used.
    pub fn used_suppressions(&self, out: &mut String, used: &[UsedSuppression]) {
        if used.is_empty() {
            return;
        }
        out.push_str(&self.info_prefix);
        out.push('\n');
        for u in used {
            let leaked = u.leaked.map_or(String::new(), |l| {
                format!(
                    " suppressed: {} bytes in {} blocks",
                    commas(l.bytes),
                    commas(l.blocks)
                )
            });
            out.push_str(&self.info_prefix);
            out.push_str(&format!(
                "used_suppression: {:>6} {} {}:{}{leaked}\n",
                u.count,
                u.name,
                u.file.display(),
                u.line
            ));
        }
        self.line(out, "");
    }

    /// One line.
    pub fn line(&self, out: &mut String, text: &str) {
        out.push_str(&self.prefix);
        out.push_str(text);
        out.push('\n');
    }

    /// A stack's frames (`at` the first, `by` the others); a stack the
    /// runtime did not record is said to be so.
    pub fn stack(&self, out: &mut String, stack: &Stack) {
        if stack.frames.is_empty() {
            self.line(out, "   at 0x0: ??? (no stack recorded)");
        }
        for (i, f) in stack.frames.iter().enumerate() {
            let word = if i == 0 { "at" } else { "by" };
            self.line(out, &format!("   {word} {}", describe(f)));
        }
    }

    /// "Thread N:" (with the thread's name when known), printed before an
    /// error of another thread than the last one named.
    pub fn thread(&self, out: &mut String, tid: u32, name: Option<&str>) {
        match name {
            Some(name) => self.line(out, &format!("Thread {tid} {name}:")),
            None => self.line(out, &format!("Thread {tid}:")),
        }
    }

    /// An error: its headline, stack, auxiliary lines with their stacks,
    /// a blank line, and the `--gen-suppressions` block when it has one.
    pub fn error(&self, out: &mut String, e: &Error) {
        self.error_after(out, "", e);
    }

    /// An error as [`Lines::error`] prints it, with `before` (a "Thread
    /// N:" line, already prefixed, or nothing) after its begin marker.
    pub fn error_after(&self, out: &mut String, before: &str, e: &Error) {
        if !self.markers.begin.is_empty() {
            self.line(out, &self.markers.begin);
        }
        out.push_str(before);
        // Valgrind's XML ends some <what>s with a newline (Overlap's): the
        // text has the line only once.
        self.line(out, e.what.text().trim_end_matches('\n'));
        self.stack(out, &e.stack);
        for aux in &e.aux {
            self.line(out, &format!(" {}", aux.what));
            if let Some(s) = &aux.stack {
                self.stack(out, s);
            }
        }
        self.line(out, "");
        if !self.markers.end.is_empty() {
            self.line(out, &self.markers.end);
        }
        if let Some(supp) = &e.suppression {
            out.push_str(&supp.raw_text);
        }
    }

    /// "Process terminating with default action of signal N (NAME)" and
    /// what follows it (the stack overflow line printed before it is the
    /// caller's, when the overflow is reported).
    pub fn fatal_signal(&self, out: &mut String, sig: &FatalSignal) {
        self.line(out, "");
        self.line(
            out,
            &format!(
                "Process terminating with default action of signal {} ({})",
                sig.signo, sig.signame
            ),
        );
        if let Some(event) = &sig.event {
            match sig.siaddr {
                Some(addr) => self.line(out, &format!(" {event} at address 0x{addr:X}")),
                None => self.line(out, &format!(" {event}")),
            }
        }
        if let Some(text) = &sig.stack_overflow {
            self.line(out, text);
        }
        self.stack(out, &sig.stack);
        self.main_stack_size(out, sig);
    }

    /// The lines of a fatal signal that Valgrind prints as user messages
    /// (on stderr in XML mode too): the stack overflow and the main
    /// thread's stack size.
    pub fn fatal_signal_user_messages(&self, out: &mut String, sig: &FatalSignal) {
        if let Some(text) = &sig.stack_overflow {
            self.line(out, text);
        }
        self.main_stack_size(out, sig);
    }

    fn main_stack_size(&self, out: &mut String, sig: &FatalSignal) {
        if let Some(size) = sig.main_stack_size {
            for line in [
                " If you believe this happened as a result of a stack",
                " overflow in your program's main thread (unlikely but",
                " possible), you can try to increase the size of the",
                " main thread stack using the --main-stacksize= flag.",
            ] {
                self.line(out, line);
            }
            self.line(
                out,
                &format!(" The main thread stack size used in this run was {size}."),
            );
        }
    }

    /// HEAP SUMMARY, with the blank lines around it.
    pub fn heap_summary(&self, out: &mut String, heap: &HeapSummary) {
        self.line(out, "");
        self.line(out, "HEAP SUMMARY:");
        self.line(
            out,
            &format!(
                "    in use at exit: {} bytes in {} blocks",
                commas(heap.in_use_bytes),
                commas(heap.in_use_blocks)
            ),
        );
        self.line(
            out,
            &format!(
                "  total heap usage: {} allocs, {} frees, {} bytes allocated",
                commas(heap.allocs),
                commas(heap.frees),
                commas(heap.allocated_bytes)
            ),
        );
        self.line(out, "");
    }

    /// LEAK SUMMARY, the hint that follows it for `leak_check`, and a
    /// blank line.
    pub fn leak_summary(&self, out: &mut String, leaks: &LeakSummary, leak_check: LeakCheck) {
        self.line(out, "LEAK SUMMARY:");
        self.amount(out, "definitely lost", leaks.definitely_lost);
        self.amount(out, "indirectly lost", leaks.indirectly_lost);
        self.amount(out, "possibly lost", leaks.possibly_lost);
        self.amount(out, "still reachable", leaks.still_reachable);
        if !leaks.reachable_via_heuristic.is_empty() {
            self.line(
                out,
                "                      of which reachable via heuristic:",
            );
            for h in &leaks.reachable_via_heuristic {
                self.line(
                    out,
                    &format!(
                        "                        {:<19}: {} bytes in {} blocks",
                        h.heuristic,
                        commas(h.amount.bytes),
                        commas(h.amount.blocks)
                    ),
                );
            }
        }
        self.amount(out, "suppressed", leaks.suppressed);
        let any = leaks.definitely_lost.blocks
            + leaks.indirectly_lost.blocks
            + leaks.possibly_lost.blocks
            + leaks.still_reachable.blocks
            > 0;
        match leak_check {
            LeakCheck::Summary if any => self.line(
                out,
                "Rerun with --leak-check=full to see details of leaked memory",
            ),
            LeakCheck::Full {
                reachable_shown: false,
            } if leaks.still_reachable.blocks > 0 => {
                self.line(
                    out,
                    "Reachable blocks (those to which a pointer was found) are not shown.",
                );
                self.line(
                    out,
                    "To see them, rerun with: --leak-check=full --show-leak-kinds=all",
                );
            }
            _ => {}
        }
        self.line(out, "");
    }

    fn amount(&self, out: &mut String, label: &str, a: Amount) {
        self.line(
            out,
            &format!(
                "{label:>18}: {} bytes in {} blocks",
                commas(a.bytes),
                commas(a.blocks)
            ),
        );
    }

    /// The ERROR SUMMARY line (Valgrind 3.19 prints these numbers
    /// without thousands separators: "1500 errors").
    pub fn error_summary(&self, out: &mut String, s: &ErrorSummary) {
        self.line(
            out,
            &format!(
                "ERROR SUMMARY: {} errors from {} contexts (suppressed: {} from {})",
                s.errors, s.contexts, s.suppressed, s.suppressed_contexts
            ),
        );
    }
}

/// Writes `report` as Valgrind's text report.
pub fn write(report: &Report, options: &TextOptions, mut out: impl Write) -> io::Result<()> {
    let w = Lines::new(report.pid);
    let mut s = String::new();
    for line in &report.preamble {
        w.line(&mut s, line);
    }
    if options.parent_pid {
        w.line(&mut s, &format!("Parent PID: {}", report.ppid));
    }
    w.line(&mut s, "");
    // Valgrind names the thread when it differs from the last one named,
    // starting from the main thread.
    let mut last_tid = 1;
    let mut error = |s: &mut String, e: &crate::model::Error| {
        if e.tid != last_tid {
            w.thread(s, e.tid, e.thread_name.as_deref());
            last_tid = e.tid;
        }
        w.error(s, e);
    };
    for e in report.run_errors() {
        error(&mut s, e);
    }
    if let Some(sig) = &report.fatal_signal {
        if let Some(text) = &sig.stack_overflow {
            w.line(&mut s, text);
        }
        w.fatal_signal(&mut s, sig);
    }
    if report.finished.is_some() {
        if let Some(heap) = &report.heap_summary {
            w.heap_summary(&mut s, heap);
        }
        for note in &report.notes {
            w.line(&mut s, &format!("memdx: {note}"));
        }
        // Without a leak check Valgrind always points at one, and never
        // says that everything was freed (the leak check says that).
        let no_check = options.leak_check == LeakCheck::No;
        if no_check && report.heap_summary.is_some() {
            w.line(
                &mut s,
                "For a detailed leak analysis, rerun with: --leak-check=full",
            );
            w.line(&mut s, "");
        }
        if !no_check && report.heap_summary.is_some_and(|h| h.in_use_blocks == 0) {
            w.line(
                &mut s,
                "All heap blocks were freed -- no leaks are possible",
            );
            w.line(&mut s, "");
        }
        // Loss records are listed with --leak-check=full only. (Valgrind's
        // XML lists them for --leak-check=summary too; the text does not.)
        if let LeakCheck::Full { .. } = options.leak_check {
            for e in report.leak_errors() {
                error(&mut s, e);
            }
        }
        if let Some(leaks) = &report.leak_summary {
            w.leak_summary(&mut s, leaks, options.leak_check);
        }
        if options.track_origins_hint {
            w.line(
                &mut s,
                "Use --track-origins=yes to see where uninitialised values come from",
            );
        }
        if let Some(summary) = &report.error_summary {
            w.line(
                &mut s,
                "For lists of detected and suppressed errors, rerun with: -s",
            );
            w.error_summary(&mut s, summary);
        }
    }
    out.write_all(s.as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ErrorSummary, HeapSummary};
    use crate::sample;

    const FULL_ALL: TextOptions = TextOptions {
        parent_pid: false,
        leak_check: LeakCheck::Full {
            reachable_shown: true,
        },
        track_origins_hint: false,
    };

    fn written(r: &Report, o: &TextOptions) -> String {
        let mut out = Vec::new();
        write(r, o, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_error_list_pieces_have_valgrinds_prefixes() {
        let w = Lines::new(7);
        let mut s = String::new();
        w.error_context(&mut s, 3, 1, 2);
        w.used_suppressions(
            &mut s,
            &[
                UsedSuppression {
                    count: 2,
                    name: "leak-it",
                    file: Path::new("a.supp"),
                    line: 4,
                    leaked: Some(SuppressedLeaks {
                        bytes: 1_024,
                        blocks: 1,
                    }),
                },
                UsedSuppression {
                    count: 12,
                    name: "read-it",
                    file: Path::new("a.supp"),
                    line: 9,
                    leaked: None,
                },
            ],
        );
        assert_eq!(
            s,
            "==7== \n==7== 3 errors in context 1 of 2:\n--7-- \n\
             --7-- used_suppression:      2 leak-it a.supp:4 suppressed: 1,024 bytes in 1 blocks\n\
             --7-- used_suppression:     12 read-it a.supp:9\n==7== \n"
        );
        let mut none = String::new();
        w.used_suppressions(&mut none, &[]);
        assert_eq!(none, "");
    }

    #[test]
    fn thousands_are_separated_by_commas() {
        assert_eq!(commas(0), "0");
        assert_eq!(commas(999), "999");
        assert_eq!(commas(1000), "1,000");
        assert_eq!(commas(1234567), "1,234,567");
    }

    #[test]
    fn frames_are_described_by_source_line_then_object() {
        let mut f = Frame {
            ip: 0x10907d,
            obj: Some("/tmp/prog".into()),
            function: Some("main".into()),
            dir: Some("/src".into()),
            file: Some("prog.c".into()),
            line: Some(4),
        };
        assert_eq!(describe(&f), "0x10907D: main (prog.c:4)");
        f.file = None;
        assert_eq!(describe(&f), "0x10907D: main (in /tmp/prog)");
        f.function = None;
        assert_eq!(describe(&f), "0x10907D: ??? (in /tmp/prog)");
        f.obj = None;
        assert_eq!(describe(&f), "0x10907D: ???");
    }

    #[test]
    fn names_a_thread_when_it_changes_and_says_when_all_was_freed() {
        let mut r = sample::report();
        r.errors.truncate(1);
        r.errors[0].tid = 3;
        r.errors[0].thread_name = Some("worker".into());
        r.heap_summary = Some(HeapSummary {
            in_use_bytes: 0,
            in_use_blocks: 0,
            allocs: 1200,
            frees: 1200,
            allocated_bytes: 1_048_576,
        });
        r.error_summary = Some(ErrorSummary {
            errors: 1,
            contexts: 1,
            ..ErrorSummary::default()
        });
        r.notes = vec!["the leak scan was skipped".into()];
        let text = written(&r, &FULL_ALL);
        assert!(
            text.contains(
                "==4242== \n==4242== memdx: the leak scan was skipped\n==4242== All heap"
            ),
            "{text}"
        );
        r.notes.clear();
        let text = written(&r, &FULL_ALL);
        assert!(text.starts_with(
            "==4242== Memcheck, a memory error detector\n==4242== Command: ./prog <in\n==4242== \n==4242== Thread 3 worker:\n==4242== Invalid free()"
        ), "{text}");
        assert!(text.contains("==4242==  Address 0x4a43040 is 0 bytes inside a block of size 10 free'd\n==4242==    at 0x484417B: free (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)\n"), "{text}");
        assert!(text.ends_with(
            "==4242== \n==4242== HEAP SUMMARY:\n==4242==     in use at exit: 0 bytes in 0 blocks\n==4242==   total heap usage: 1,200 allocs, 1,200 frees, 1,048,576 bytes allocated\n==4242== \n==4242== All heap blocks were freed -- no leaks are possible\n==4242== \n==4242== For lists of detected and suppressed errors, rerun with: -s\n==4242== ERROR SUMMARY: 1 errors from 1 contexts (suppressed: 0 from 0)\n"
        ), "{text}");
    }
}
