//! Process exit without destructors: `_exit` and `_Exit`.

// `_Exit` keeps its C name, which is not snake case.
#![allow(non_snake_case)]

use libc::c_int;

use crate::profile;

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
