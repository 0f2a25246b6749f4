//! The analyzer on hand-written event sequences: what reaches the report
//! model (and the text) for a leak, a bad free, an invalid access that a
//! suppression matches, and a fork child.

use memdx_events::{
    Access, AccessKind, BadFree, BadFreeKind, Dealloc, Event, HeapTotals, LeakState, LossRecord,
    Place,
};
use memdx_report as model;

use crate::testing::{report_with, settings, FakeSymbols};
use crate::{LeakCheck, ProcessReport};

/// Stacks 1.. with one frame each: 0x1000 * id, named by `names`.
fn symbols() -> FakeSymbols {
    FakeSymbols {
        names: vec![
            (0x1000, "main"),
            (0x2000, "make_node"),
            (0x3000, "bad_read"),
            (0x4000, "release"),
        ],
    }
}

fn feed(r: &mut ProcessReport, events: Vec<Event>) -> String {
    let mut out: Vec<u8> = Vec::new();
    for id in 1..=4 {
        r.handle(
            Event::Stack {
                id,
                frames: vec![0x1000 * u64::from(id)],
            },
            &mut out,
        );
    }
    for ev in events {
        r.handle(ev, &mut out);
    }
    String::from_utf8(out).expect("the text is UTF-8")
}

fn totals(in_use_bytes: u64, in_use_blocks: u64) -> Event {
    Event::HeapTotals(HeapTotals {
        in_use_bytes,
        in_use_blocks,
        allocs: 3,
        frees: 3 - in_use_blocks,
        bytes_allocated: 100,
    })
}

const END: Event = Event::ReportEnd {
    leak_scan_done: true,
};

fn function_names(stack: &model::Stack) -> Vec<Option<&str>> {
    stack.frames.iter().map(|f| f.function.as_deref()).collect()
}

#[test]
fn a_definite_leak_becomes_a_loss_record_error_and_the_leak_summary() {
    let mut s = settings();
    s.leak_check = LeakCheck::Full;
    let mut r = report_with(42, 1, s, symbols());
    let text = feed(
        &mut r,
        vec![
            Event::LossRecord(LossRecord {
                state: LeakState::DefinitelyLost,
                stack: 2,
                bytes: 24,
                indirect_bytes: 0,
                blocks: 1,
            }),
            Event::LossRecord(LossRecord {
                state: LeakState::StillReachable,
                stack: 1,
                bytes: 8,
                indirect_bytes: 0,
                blocks: 1,
            }),
            totals(32, 2),
            END,
        ],
    );
    let m = r.to_report();
    let leaks: Vec<&model::Error> = m.leak_errors().collect();
    // Still reachable is not shown by default.
    assert_eq!(leaks.len(), 1);
    assert_eq!(leaks[0].kind, model::ErrorKind::LeakDefinitelyLost);
    assert_eq!(
        leaks[0].what.text(),
        "24 bytes in 1 blocks are definitely lost in loss record 2 of 2"
    );
    assert_eq!(function_names(&leaks[0].stack), [Some("make_node")]);
    let summary = m.leak_summary.expect("a leak summary");
    assert_eq!(
        (
            summary.definitely_lost.bytes,
            summary.definitely_lost.blocks
        ),
        (24, 1)
    );
    assert_eq!(summary.still_reachable.bytes, 8);
    assert_eq!(summary.possibly_lost.blocks, 0);
    let errors = m.error_summary.expect("finished");
    assert_eq!((errors.errors, errors.contexts), (1, 1));
    assert_eq!(m.heap_summary.map(|h| h.in_use_bytes), Some(32));
    assert!(m.finished.is_some());
    assert!(text.contains(
        "==42== 24 bytes in 1 blocks are definitely lost in loss record 2 of 2\n\
         ==42==    at 0x2000: make_node\n"
    ));
}

#[test]
fn a_double_free_is_one_context_counted_twice_with_both_stacks() {
    let mut r = report_with(9, 1, settings(), symbols());
    let bad = BadFree {
        kind: BadFreeKind::Invalid,
        dealloc: Dealloc::Free,
        addr: 0x5000,
        stack: 4,
        place: Place::InsideFreed,
        tid: 0,
        block_start: 0x5000,
        block_size: 16,
        alloc_stack: 2,
        free_stack: 1,
    };
    let text = feed(
        &mut r,
        vec![Event::BadFree(bad), Event::BadFree(bad), totals(0, 0), END],
    );
    let m = r.to_report();
    let errors: Vec<&model::Error> = m.run_errors().collect();
    assert_eq!(errors.len(), 1);
    let e = errors[0];
    assert_eq!(e.kind, model::ErrorKind::InvalidFree);
    assert_eq!(e.tid, 1);
    assert_eq!(function_names(&e.stack), [Some("release")]);
    assert_eq!(e.aux.len(), 2);
    assert_eq!(
        e.aux[0].what,
        "Address 0x5000 is 0 bytes inside a block of size 16 free'd"
    );
    assert_eq!(
        e.aux[0].stack.as_ref().map(function_names),
        Some(vec![Some("main")])
    );
    assert_eq!(e.aux[1].what, "Block was alloc'd at");
    assert_eq!(
        e.aux[1].stack.as_ref().map(function_names),
        Some(vec![Some("make_node")])
    );
    assert_eq!(m.error_counts.len(), 1);
    assert_eq!(m.error_counts[0].count, 2);
    assert_eq!(m.error_counts[0].unique, e.unique);
    let summary = m.error_summary.expect("finished");
    assert_eq!((summary.errors, summary.contexts), (2, 1));
    // The text shows the context once.
    assert_eq!(text.matches("Invalid free()").count(), 1);
    assert!(text.contains("ERROR SUMMARY: 2 errors from 1 contexts (suppressed: 0 from 0)"));
}

#[test]
fn a_suppressed_invalid_read_is_counted_not_shown_and_an_unmatched_one_is() {
    let supps = memdx_supp::parse(
        "{\n   reads-in-bad-read\n   Memcheck:Addr4\n   fun:bad_read\n}\n",
        std::path::Path::new("mine.supp"),
    )
    .expect("a valid suppression file");
    let mut s = settings();
    s.suppressions = std::sync::Arc::new(supps);
    let mut r = report_with(11, 1, s, symbols());
    let read = |stack, size| {
        Event::Access(Access {
            kind: AccessKind::Read,
            addr: 0x6010,
            size,
            stack,
            place: Place::InsideLive,
            block_start: 0x6000,
            block_size: 16,
            alloc_stack: 2,
            ..Access::default()
        })
    };
    let text = feed(
        &mut r,
        vec![
            // Matched (twice: one suppressed context, two errors).
            read(3, 4),
            read(3, 4),
            // Same function, another size: Addr8 is not Addr4.
            read(3, 8),
            totals(0, 0),
            END,
        ],
    );
    let m = r.to_report();
    let errors: Vec<&model::Error> = m.run_errors().collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, model::ErrorKind::InvalidRead);
    assert_eq!(errors[0].what.text(), "Invalid read of size 8");
    assert_eq!(
        errors[0].aux[0].what,
        "Address 0x6010 is 0 bytes after a block of size 16 alloc'd"
    );
    assert_eq!(m.supp_counts.len(), 1);
    assert_eq!(m.supp_counts[0].name, "reads-in-bad-read");
    assert_eq!(m.supp_counts[0].count, 2);
    let summary = m.error_summary.expect("finished");
    assert_eq!(
        (
            summary.errors,
            summary.contexts,
            summary.suppressed,
            summary.suppressed_contexts
        ),
        (1, 1, 2, 1)
    );
    assert!(!text.contains("Invalid read of size 4"));
    assert!(text.contains("Invalid read of size 8"));
}

#[test]
fn a_fork_child_has_its_own_report_naming_its_parent_and_the_program() {
    let parent_settings = settings();
    let mut parent = report_with(100, 1, parent_settings.clone(), symbols());
    // A fork child sends no command line: it runs the parent's program.
    let mut child = report_with(101, 100, parent_settings, symbols());
    let leak = Event::LossRecord(LossRecord {
        state: LeakState::DefinitelyLost,
        stack: 2,
        bytes: 16,
        indirect_bytes: 0,
        blocks: 1,
    });
    let parent_text = feed(&mut parent, vec![totals(0, 0), END]);
    let child_text = feed(&mut child, vec![leak, totals(16, 1), END]);
    let (p, c) = (parent.to_report(), child.to_report());
    assert_eq!((c.pid, c.ppid), (101, 100));
    assert_eq!((p.pid, p.ppid), (100, 1));
    assert_eq!(c.program, p.program);
    assert_eq!(c.program.exe, "./p");
    // The child's leak is the child's alone.
    assert_eq!(
        c.leak_summary.as_ref().map(|l| l.definitely_lost.bytes),
        Some(16)
    );
    assert_eq!(p.leak_summary, None);
    assert!(child_text.starts_with("==101== \n==101== HEAP SUMMARY:"));
    assert!(child_text.contains("==101==    definitely lost: 16 bytes in 1 blocks"));
    assert!(parent_text.contains("==100== All heap blocks were freed -- no leaks are possible"));
    assert!(!parent_text.contains("==101=="));
}

#[test]
fn an_exec_d_program_takes_its_command_line_from_the_stream() {
    let mut r = report_with(7, 1, settings(), symbols());
    r.announce_command = true;
    let text = feed(
        &mut r,
        vec![Event::CommandLine {
            args: vec![b"/bin/echo".to_vec(), b"a b".to_vec()],
        }],
    );
    let m = r.to_report();
    assert_eq!(m.program.exe, "/bin/echo");
    assert_eq!(m.program.args, ["a b"]);
    assert!(text.contains("==7== Command: /bin/echo a\\ b\n"));
    assert!(m.finished.is_none());
    assert!(m.error_summary.is_none());
}
