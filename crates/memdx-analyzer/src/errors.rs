//! Run-time errors (bad frees, damaged redzones, invalid accesses): each
//! new context matched against the suppressions, then printed in
//! Valgrind's words and kept for the summaries, `-s`, XML and JSON.

use memdx_events::{Access, AccessKind, BadFree, BadFreeKind, Corruption, CorruptionKind, Place};
use memdx_report as model;
use memdx_report::text::commas;

use crate::context::ContextKey;
use crate::decode;
use crate::process::{ProcessReport, Sink};
use crate::signal::SI_KERNEL;
use crate::suppress;

/// The block an address is in or near, as the runtime described it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Block {
    /// First byte.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// Where it was allocated.
    pub alloc_stack: u32,
    /// Where it was freed (0: live).
    pub free_stack: u32,
}

impl ProcessReport {
    pub(crate) fn bad_free(&mut self, e: BadFree, sink: &mut dyn Sink) {
        let key = ContextKey::BadFree {
            kind: e.kind,
            dealloc: e.dealloc,
            stack: e.stack,
            place: e.place,
        };
        if self.tally.repeat(&key, 1, &mut self.supp) {
            return;
        }
        let frames = self.frames_of(e.stack);
        if let Some(used) = self.supp.matching(memdx_supp::Query::Free, &frames) {
            self.tally.suppressed(key, 1, used, &mut self.supp);
            return;
        }
        let mut aux: Vec<model::Aux> = Vec::new();
        let headline = match e.kind {
            BadFreeKind::Mismatched => "Mismatched free() / delete / delete []",
            BadFreeKind::Invalid => "Invalid free() / delete / delete[] / realloc()",
        };
        if e.place == Place::ThreadStack {
            let what = format!("Address 0x{:x} is on thread {}'s stack", e.addr, e.tid);
            aux.push(model::Aux { what, stack: None });
        } else {
            self.address_aux(
                &mut aux,
                e.addr,
                e.place,
                Block {
                    start: e.block_start,
                    size: e.block_size,
                    alloc_stack: e.alloc_stack,
                    free_stack: e.free_stack,
                },
            );
        }
        let suppression = self
            .opts
            .gen_suppressions
            .then(|| suppress::generated(memdx_supp::Query::Free, &frames));
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
            stack: crate::text::model_stack(&frames),
            aux,
            suppression,
        };
        self.shown_error(key, String::new(), error, 1, sink);
    }

    /// Prints a new error context (after `text`, a "Thread N:" line or
    /// nothing) and keeps it for the summaries,
    /// `-s`, XML and JSON; stops the program under `--exit-on-first-error`.
    fn shown_error(
        &mut self,
        key: ContextKey,
        before: String,
        mut error: model::Error,
        count: u64,
        sink: &mut dyn Sink,
    ) {
        let mut text = String::new();
        self.lines.error_after(&mut text, &before, &error);
        sink.write_chunk(&text);
        error.unique = self.next_unique;
        self.next_unique += 1;
        // `-s` repeats the error as printed (its suppression block too).
        self.tally.shown(key, error, count, text);
        if self.opts.exit_on_first_error {
            self.exit_on_first_error(sink);
        }
    }

    /// `--exit-on-first-error=yes`: Valgrind's notice (printed in XML mode
    /// too), then nothing more; the session tells the runtime to end the
    /// process with `--error-exitcode`'s status.
    pub(crate) fn exit_on_first_error(&mut self, sink: &mut dyn Sink) {
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

    /// A damaged redzone or poison: a write the runtime found only after
    /// the fact, so the writing instruction (and its size) is unknown.
    pub(crate) fn corruption(&mut self, c: Corruption, sink: &mut dyn Sink) {
        let key = ContextKey::Corruption {
            kind: c.kind,
            alloc_stack: c.alloc_stack,
        };
        if self.tally.repeat(&key, 1, &mut self.supp) {
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
        if let Some(used) = self.supp.matching(memdx_supp::Query::Addr(span), &frames) {
            self.tally.suppressed(key, 1, used, &mut self.supp);
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
        let mut aux: Vec<model::Aux> = Vec::new();
        self.address_aux(
            &mut aux,
            addr,
            place,
            Block {
                start: c.block_start,
                size: c.block_size,
                alloc_stack: c.alloc_stack,
                free_stack: c.free_stack,
            },
        );
        let what = format!(
            "Bytes {} to {} {zone} were overwritten ({found})",
            commas(c.first),
            commas(c.last)
        );
        aux.push(model::Aux { what, stack: None });
        let suppression = self
            .opts
            .gen_suppressions
            .then(|| suppress::generated(memdx_supp::Query::Addr(span), &frames));
        let error = model::Error {
            unique: 0,
            tid: 1,
            thread_name: None,
            kind: model::ErrorKind::InvalidWrite,
            what: model::What::Text(headline.to_string()),
            stack: crate::text::model_stack(&frames),
            aux,
            suppression,
        };
        self.shown_error(key, String::new(), error, 1, sink);
    }

    /// Valgrind's "Address 0x... is ..." line (and the block's stacks) for
    /// an address the runtime described.
    fn address_aux(&mut self, aux: &mut Vec<model::Aux>, addr: u64, place: Place, block: Block) {
        let Block {
            start,
            size,
            alloc_stack,
            free_stack,
        } = block;
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
                let st = self.model_stack_of(alloc_stack);
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
                let st = self.model_stack_of(free_stack);
                aux.push(model::Aux {
                    what,
                    stack: Some(st),
                });
                let st = self.model_stack_of(alloc_stack);
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
                aux.push(model::Aux { what, stack: None });
            }
        }
    }

    /// Valgrind's description of an address on the accessing thread's
    /// stack: "Address 0x... is on thread N's stack", then, when the
    /// runtime found the frame holding it (`block_size`: its index + 1),
    /// "in frame #F, created by FN (FILE:LINE)".
    fn stack_aux(&mut self, aux: &mut Vec<model::Aux>, a: &Access) {
        aux.push(model::Aux {
            what: format!(
                "Address 0x{:x} is on thread {}'s stack",
                a.addr,
                a.tid.max(1)
            ),
            stack: None,
        });
        let Some(frame) = a.block_size.checked_sub(1) else {
            return;
        };
        // Valgrind numbers the frames of its walk, not the inlined calls
        // shown for them.
        let ra = self
            .stacks
            .get(&a.stack)
            .and_then(|frames| frames.get(usize::try_from(frame).ok()?).copied());
        let Some(ra) = ra else {
            return;
        };
        if let Some(creator) = self.sym.frame_creator(ra) {
            aux.push(model::Aux {
                what: format!("in frame #{frame}, created by {creator}"),
                stack: None,
            });
        }
    }

    /// An invalid access: a faulting instruction (decoded here) or a C
    /// library routine the runtime checked.
    pub(crate) fn access(&mut self, mut a: Access, sink: &mut dyn Sink) {
        let regs = self.fault_regs.take();
        let mut gpf_access = None;
        if a.kind == AccessKind::Fault && a.si_code == SI_KERNEL {
            // A general protection fault carries no address: the one the
            // instruction used comes from its registers. Only a
            // non-canonical one is an invalid access for memcheck (which
            // knows the address); a misaligned SSE operand or a privileged
            // instruction is the fatal signal alone.
            let n = a.code.len().min(a.code_len as usize);
            match regs.and_then(|r| decode::fault_address(a.pc, &a.code[..n], &r)) {
                Some((addr, d)) if decode::non_canonical(addr) => {
                    a.addr = addr;
                    gpf_access = Some(d);
                }
                _ => return,
            }
        }
        let func = a.func.map_or("", memdx_events::Routine::name);
        let fishy_param: String;
        let param_buf: String;
        let (headline, kind, query, size) = match a.kind {
            AccessKind::Overlap => {
                // Valgrind prints the length only for routines that take one.
                let text = if a.func.is_some_and(|r| !r.overlap_shows_length()) {
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
                param_buf = a
                    .func
                    .and_then(|f| f.syscall_param_at(a.size))
                    .unwrap_or_else(|| "?".to_string());
                let param = param_buf.as_str();
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
                        match decode::decode(a.pc, &a.code[..n], a.addr) {
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
        let key = ContextKey::Access {
            kind: a.kind,
            routine: a.func,
            size,
            stack: a.stack,
        };
        // A checked routine's record stands for `len` accesses of one site
        // of Valgrind's loop, each an error there.
        let count = match a.kind {
            AccessKind::Read | AccessKind::Write => a.len.max(1),
            _ => 1,
        };
        if self.tally.repeat(&key, count, &mut self.supp) {
            return;
        }
        let frames = self.frames_of(a.stack);
        if let Some(used) = self.supp.matching(query, &frames) {
            self.tally.suppressed(key, count, used, &mut self.supp);
            return;
        }
        let mut aux: Vec<model::Aux> = Vec::new();
        let mut thread = String::new();
        if a.tid != self.last_tid && a.tid != 0 {
            self.lines.thread(&mut thread, a.tid, None);
            self.last_tid = a.tid;
        }
        if a.place == Place::ThreadStack {
            self.stack_aux(&mut aux, &a);
        } else if !matches!(a.kind, AccessKind::Overlap | AccessKind::FishyValue) {
            self.address_aux(
                &mut aux,
                a.addr,
                a.place,
                Block {
                    start: a.block_start,
                    size: a.block_size,
                    alloc_stack: a.alloc_stack,
                    free_stack: a.free_stack,
                },
            );
        }
        if a.kind == AccessKind::SyscallParamUninit && self.opts.track_origins && a.free_stack != 0
        {
            let what = "Uninitialised value was created by a heap allocation";
            let st = self.model_stack_of(a.free_stack);
            aux.push(model::Aux {
                what: what.into(),
                stack: Some(st),
            });
        }
        let suppression = self
            .opts
            .gen_suppressions
            .then(|| suppress::generated(query, &frames));
        let error = model::Error {
            unique: 0,
            tid: a.tid,
            thread_name: None,
            kind,
            what: model::What::Text(headline),
            stack: crate::text::model_stack(&frames),
            aux,
            suppression,
        };
        self.shown_error(key, thread, error, count, sink);
    }
}
