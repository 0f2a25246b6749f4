//! A fatal signal: Valgrind's "Process terminating with default action of
//! signal N" block, in its words for each signal and si_code.

use memdx_report as model;

use crate::process::{ProcessReport, Sink};

pub(crate) fn signal_name(sig: i32) -> &'static str {
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
pub(crate) const SEGV_MAPERR: i32 = 1;
pub(crate) const SEGV_ACCERR: i32 = 2;
/// `si_code` of a SIGSEGV the kernel raised for a general protection fault
/// (Valgrind's `VKI_SEGV_MADE_UP_GPF`): no address.
pub(crate) const SI_KERNEL: i32 = 0x80;

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

impl ProcessReport {
    /// The runtime's record of the signal the process dies of.
    pub(crate) fn fatal_signal(
        &mut self,
        signo: i32,
        code: i32,
        addr: u64,
        stack: u32,
        sink: &mut dyn Sink,
    ) {
        // As Valgrind words the kernel's si_code for SIGSEGV.
        let segv_maperr = signo == libc::SIGSEGV && code == SEGV_MAPERR;
        // The kernel's SI_KERNEL, Valgrind's "made-up GPF": no address.
        let gpf = signo == libc::SIGSEGV && code == SI_KERNEL;
        let event = if segv_maperr {
            Some("Access not within mapped region".into())
        } else if signo == libc::SIGSEGV && code == SEGV_ACCERR {
            Some("Bad permissions for mapped region".into())
        } else if gpf {
            Some("General Protection Fault".into())
        } else {
            signal_event(signo, code).map(str::to_string)
        };
        let stack = self.model_stack_of(stack);
        // The overflow is said again after the address line (it was said
        // when it happened, see `Event::StackOverflow`).
        let overflow = self.stack_overflow.take().filter(|_| segv_maperr);
        let fatal = model::FatalSignal {
            tid: 1,
            thread_name: None,
            signo,
            signame: signal_name(signo).to_string(),
            sicode: code,
            event,
            siaddr: (matches!(
                signo,
                libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL
            ) && !gpf)
                .then_some(addr),
            main_stack_size: segv_maperr.then(|| self.world.main_stack_size()),
            stack_overflow: overflow,
            stack,
        };
        if self.opts.xml {
            // Valgrind's user messages: printed on stderr in XML mode too
            // (the rest of the text goes to the XML only there).
            let mut umsg = String::new();
            self.lines.fatal_signal_user_messages(&mut umsg, &fatal);
            sink.write_always(&umsg);
        } else if !self.opts.quiet || fatal_shown_when_quiet(signo, code) {
            let mut s = String::new();
            self.lines.fatal_signal(&mut s, &fatal);
            sink.write_chunk(&s);
        }
        self.fatal = Some(fatal);
    }
}
