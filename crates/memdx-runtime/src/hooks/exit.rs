//! Process exit without destructors (`_exit` and `_Exit`), and the end of
//! a process's report at an `exec` of a program that runs unchecked.

// `_Exit` keeps its C name, which is not snake case.
#![allow(non_snake_case)]

use core::sync::atomic::{AtomicBool, Ordering};

use libc::{c_char, c_int};

use crate::{out, profile, sys};

/// Whether exec'd programs run checked (`--trace-children=yes`): set by
/// the constructor.
pub static TRACE_CHILDREN: AtomicBool = AtomicBool::new(false);

/// _exit(2): the report still runs (as under Valgrind), then the process ends.
///
/// # Safety
/// Never returns.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn _exit(status: c_int) -> ! {
    if profile::on() {
        profile::set_exit_status(status);
        profile::finish();
    } else {
        crate::report::final_report(None);
    }
    // SAFETY: exit_group ends the process.
    unsafe {
        libc::syscall(libc::SYS_exit_group, status);
    }
    loop {
        core::hint::spin_loop();
    }
}

/// _Exit(2): same as `_exit`.
///
/// # Safety
/// Never returns.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn _Exit(status: c_int) -> ! {
    // SAFETY: forwarded.
    unsafe { _exit(status) }
}

/// Tells the analyzer that the process is about to exec `path` (null for
/// `fexecve`), which will run unchecked (`--trace-children=no`; the
/// constructor took memdx's variables out of the environment): if the
/// call succeeds no final report follows, and the analyzer says why
/// instead of "ended without a final report". Called by the exec family's
/// hooks (see `crate::handoff`) before glibc's function; errno is kept.
pub fn announce_exec(path: *const c_char) {
    if TRACE_CHILDREN.load(Ordering::Relaxed) || profile::on() || crate::attach::loaded_late() {
        return;
    }
    // Copied through the kernel: a bad pointer makes glibc's call fail
    // with EFAULT, not this one fault.
    let mut buf = [0u8; 1024];
    let mut len = 0;
    while !path.is_null() && len < buf.len() {
        let at = path as usize + len;
        let want = (buf.len() - len).min(4096 - (at & 4095));
        let got = crate::access::read_own(at, &mut buf[len..len + want]);
        if let Some(nul) = buf[len..len + got].iter().position(|&b| b == 0) {
            len += nul;
            break;
        }
        len += got;
        if got < want {
            break;
        }
    }
    let bytes = &buf[..len];
    let errno = sys::errno();
    super::guarded(|| out::burst(|| out::emit(|enc| enc.exec(bytes))));
    sys::set_errno(errno);
}
