//! What `memdx check` does not check, said in one place: the last line of
//! each text report, `memdx check --help` and `memdx man check`
//! (LIMITATIONS), and the README's "Limitations". Keep them true with
//! `docs/checker.md` ("Not done yet").

/// The last line of a text report (after the final ERROR SUMMARY; not with
/// `-q`, not in XML mode): the error classes memcheck reports that memdx
/// did not look for at all.
pub const NOT_CHECKED: &str = "Not checked by memdx: uses of uninitialised values other \
than heap bytes passed to write/send calls, reads outside heap blocks that hit no guard page, stack and global overruns, \
system call arguments other than read/write/send/recv buffers (see 'memdx check --help')";

/// The body of the Limitations section (a macro so that
/// [`HELP_SECTION`] can be built from it at compile time).
macro_rules! limitations {
    () => {
        "\
- Uses of uninitialised values are checked only where uninitialised heap bytes leave \
the process: \"Syscall param write(buf) points to uninitialised byte(s)\" for the buffers \
of write, pwrite, writev, send and sendto (stdio's writes included), with the origin under \
--track-origins=yes. Fresh heap blocks (not calloc's) are filled with a marker naming their \
allocation; bytes changed before they leave (hashed, compressed, computed with), runs of \
fewer than 4 bytes (8 once copied to another buffer), bytes past the first 64 KiB of a \
block, blocks of a call site past its first 1,024 other than one in 64, and \
uninitialised stack variables are not seen. No \"Conditional jump or move \
depends on uninitialised value(s)\" or \"Use of uninitialised value\" errors. \
--undef-value-errors=no turns the check off; --track-origins=yes and \
--undef-value-errors=yes print a warning saying so.
- --uninit-effects=yes sees only uninitialised heap bytes (not stack variables or \
globals) whose value changes what can be observed from outside: stdout, stderr, exit \
status or signal, files named by an argument (regular files up to 64 MiB; others, and \
files the program finds by itself, are not compared). A use that 0x00, 0xff and 0x01 all \
steer the same way, a byte past the first 16 MiB of a block, a program that behaves \
differently from run to run (reported as nondeterministic, nothing blamed), sites of \
programs it executes and sites that act only together finer than the halves tried are \
not resolved to one site. Each run is a full run of the program.
- Invalid reads and writes are seen only when they fault: on a guard page (the first two \
blocks of each call site and one block in 5,000 sit against one), at an unmapped or \
protected address (NULL, a wild pointer), or inside a checked C routine (memcpy, strcpy, \
strlen, ...). Other writes past a heap block or into a freed one are found later, when \
the block is freed or at exit, from its redzone or poison (\"the writing instruction is \
unknown\"); other reads outside a heap block are not seen. The first two blocks of each \
call site in the main executable are also watched byte by byte, reads too (each access \
faults and is checked; --watch-blocks=no turns it off), for their first 256 accesses and \
the process's first 2,000, and not after the program blocks SIGSEGV.
- Stack and global buffer overruns are not checked. Of the system call arguments, only \
the buffers of write, read, pread, pwrite, send, sendto, recv, recvfrom, writev and \
readv (called by the program, not from inside the C library) are checked against the \
heap blocks; other unaddressable buffers passed to the kernel are not seen.
- The heap is seen through LD_PRELOAD: a statically linked program, or one that defines \
its own malloc, gets a warning and no heap checking.
- Each text report ends with one line after the ERROR SUMMARY naming what was not checked \
(not with -q, not in the XML)."
    };
}

/// The body of the Limitations section (`memdx man check`).
pub const LIMITATIONS: &str = limitations!();

/// The `--help` text after the options.
pub const HELP_SECTION: &str = concat!("Limitations:\n", limitations!());
