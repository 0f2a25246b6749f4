//! A small hand-built report for the unit tests.

use crate::model::*;

/// One invalid free with its aux stacks and generated suppression, one
/// leak, counts; names that need escaping.
pub fn report() -> Report {
    let main = Frame {
        ip: 0x10907d,
        obj: Some("/tmp/prog".into()),
        function: Some("main".into()),
        dir: Some("/src".into()),
        file: Some("prog.c".into()),
        line: Some(4),
    };
    let free = Frame {
        ip: 0x484417b,
        obj: Some("/usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so".into()),
        function: Some("free".into()),
        ..Frame::default()
    };
    let tmpl = Frame {
        ip: 0x1090aa,
        obj: Some("/tmp/prog".into()),
        function: Some("bool leak_if<int>(int&&)".into()),
        dir: None,
        file: None,
        line: None,
    };
    Report {
        tool: "memcheck".into(),
        preamble: vec![
            "Memcheck, a memory error detector".into(),
            "Command: ./prog <in".into(),
        ],
        pid: 4242,
        ppid: 42,
        user_comment: None,
        checker: CommandLine {
            exe: "/usr/bin/memdx".into(),
            args: vec!["--xml=yes".into()],
        },
        program: CommandLine {
            exe: "./prog".into(),
            args: vec![],
        },
        started: Status { elapsed_ms: 25 },
        errors: vec![
            Error {
                unique: 0x1f,
                tid: 1,
                thread_name: None,
                kind: ErrorKind::InvalidFree,
                what: What::Text("Invalid free() / delete / delete[] / realloc()".into()),
                stack: Stack {
                    frames: vec![free.clone(), main.clone()],
                },
                aux: vec![Aux {
                    what: "Address 0x4a43040 is 0 bytes inside a block of size 10 free'd".into(),
                    stack: Some(Stack {
                        frames: vec![free, main.clone()],
                    }),
                }],
                suppression: Some(Suppression::new(
                    "insert_a_suppression_name_here",
                    "Memcheck:Free",
                    None,
                    vec![SuppFrame::Fun("free".into()), SuppFrame::Fun("main".into())],
                )),
            },
            Error {
                unique: 0x20,
                tid: 1,
                thread_name: None,
                kind: ErrorKind::LeakDefinitelyLost,
                what: What::Leak {
                    text: "4 bytes in 1 blocks are definitely lost in loss record 1 of 1".into(),
                    leaked_bytes: 4,
                    leaked_blocks: 1,
                },
                stack: Stack {
                    frames: vec![tmpl, main],
                },
                aux: vec![],
                suppression: None,
            },
        ],
        fatal_signal: None,
        finished: Some(Status {
            elapsed_ms: 90_061_001,
        }),
        error_counts: vec![ErrorCount {
            count: 2,
            unique: 0x1f,
        }],
        supp_counts: vec![SuppCount {
            count: 3,
            name: "libc & friends".into(),
        }],
        error_summary: None,
        heap_summary: None,
        leak_summary: None,
        notes: vec![],
    }
}
