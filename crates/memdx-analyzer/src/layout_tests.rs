//! Valgrind's text layout, checked line for line on hand-written events.

use memdx_events::{Access, AccessKind, Event, HeapTotals, LeakState, LossRecord, Place};

use crate::{command_text, commas, LeakCheck, ProcessReport};

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
    assert_eq!(r.errors(), 1 + 6 + 1 + 1 + 1);
    assert_eq!(r.tally.contexts, 5);
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
