//! Processes made by the program: the fork handlers (every runtime lock
//! held across `fork`, released in both processes, the child's report
//! state reset and its event stream reconnected) and the interposed
//! `daemon`.

use core::sync::atomic::Ordering;

use crate::{guard, held, hooks, out, report, stacks, step, sys, table};

/// daemon(3), as glibc 2.36 implements it (`misc/daemon.c`), except that
/// the parent leaves through the runtime's `_exit`: glibc's calls its
/// internal `_exit`, which is not interposed, so the program's own process
/// would end without its report (Valgrind reports at `exit_group`).
///
/// # Safety
/// daemon(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn daemon(nochdir: libc::c_int, noclose: libc::c_int) -> libc::c_int {
    // SAFETY: the calls glibc's daemon makes, on local structures.
    unsafe {
        match libc::fork() {
            -1 => return -1,
            0 => {}
            _ => hooks::_exit(0),
        }
        if libc::setsid() == -1 {
            return -1;
        }
        if nochdir == 0 {
            libc::chdir(c"/".as_ptr());
        }
        if noclose == 0 {
            let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if fd == -1 {
                return -1;
            }
            let mut st: libc::stat = core::mem::zeroed();
            if libc::fstat(fd, &mut st) != 0 {
                libc::close(fd);
                return -1;
            }
            if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
                libc::close(fd);
                *libc::__errno_location() = libc::ENODEV;
                return -1;
            }
            libc::dup2(fd, 0);
            libc::dup2(fd, 1);
            libc::dup2(fd, 2);
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
    0
}

/// Every lock of the runtime, held by the forking thread from
/// `fork_prepare` to `fork_parent`/`fork_child`, taken in the lock order
/// (documented once, at [`sys::SpinLock`]). Fields drop in declaration
/// order: the last taken is released first.
struct ForkLocks {
    _private: sys::SpinGuard<'static>,
    _arenas: sys::SpinGuard<'static>,
    _out: sys::SpinGuard<'static>,
    _stacks: sys::SpinGuard<'static>,
    _held: sys::SpinGuard<'static>,
    _guard: sys::SpinGuard<'static>,
    _table: table::TableLocks,
    _bursts: sys::SpinGuard<'static>,
}

/// Only touched by the thread holding every lock in it (a second forking
/// thread waits in `fork_prepare` for the first lock).
static FORK_LOCKS: sys::Racy<Option<ForkLocks>> = sys::Racy::new(None);

pub(crate) extern "C" fn fork_prepare() {
    let bursts = out::lock_bursts();
    let table = table::lock_all();
    let guard = guard::lock();
    let held = held::lock();
    let stacks = stacks::lock();
    let out = out::lock();
    let arenas = hooks::ARENAS_LOCK.lock();
    let private = sys::private_lock();
    // SAFETY: this thread holds every lock (see FORK_LOCKS).
    unsafe {
        *FORK_LOCKS.get() = Some(ForkLocks {
            _private: private,
            _arenas: arenas,
            _out: out,
            _stacks: stacks,
            _held: held,
            _guard: guard,
            _table: table,
            _bursts: bursts,
        })
    };
}

pub(crate) extern "C" fn fork_parent() {
    // SAFETY: this thread holds every lock (fork_prepare).
    drop(unsafe { (*FORK_LOCKS.get()).take() });
}

pub(crate) extern "C" fn fork_child() {
    // SAFETY: the child's only thread is the one that forked, which holds
    // every lock (fork_prepare): dropping the guards releases them.
    drop(unsafe { (*FORK_LOCKS.get()).take() });
    // SAFETY: a fork child before anything else runs in it; these locks
    // (not taken by fork_prepare) may have been held by threads that did
    // not survive the fork.
    unsafe {
        sys::private_force_unlock();
        table::reset_in_child();
        step::reset_in_child();
        stacks::reset_lock_in_child();
        out::reset_in_child();
    }
    let entered = hooks::enter_runtime();
    // SAFETY: getpid has no preconditions.
    report::OWNER_PID.store(unsafe { libc::getpid() }, Ordering::Relaxed);
    report::reset_in_child();
    stacks::reset_emitted();
    out::start(true);
    if entered {
        hooks::leave_runtime();
    }
}
