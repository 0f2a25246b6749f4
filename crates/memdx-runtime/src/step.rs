//! Closing a guard page again after the one access that faulted on it.
//!
//! A fault on a guard page (an overrun of a guarded block) or on the
//! closed page of a freed guarded block is reported, then the page is
//! opened so that the access runs as it would natively. Left open, the
//! next access to the same place would go unseen; Valgrind reports every
//! one (each context once, with the number of times it happened). So the
//! fault handler also sets the trap flag in the interrupted context: the
//! CPU runs that one instruction and raises a debug trap (SIGTRAP,
//! `TRAP_TRACE`), whose handler closes the pages again and clears the
//! flag. The program sees neither signal.
//!
//! What this must not change for the program:
//! - SIGTRAP blocked by the program: the kernel would kill the process on
//!   a trap it cannot deliver, so the fault handler unblocks it in the
//!   context it returns to and the trap handler blocks it again.
//! - the program's own SIGTRAP handler (or SIG_IGN): SIGTRAP is chained
//!   like SIGSEGV and SIGBUS (the runtime's handler stays in front, see
//!   `lib.rs`), and only the trap of a pending step is consumed.
//! - the trap flag set by the program itself (a program stepping through
//!   its own code): it is left set and the trap passed on.
//!
//! The page is opened after the report, and the pages open for steps are
//! counted, so that it is closed when the last thread stepping through it
//! is done.
//!
//! Limits: while the page is open for the one instruction, another thread
//! touching it is not caught; a thread whose fault handler does not
//! return (a program handler that longjmps) leaves its pages open, as
//! before.

use core::cell::Cell;

use crate::sys::{Racy, SpinLock};
use crate::tls;

const PAGE: usize = 4096;

/// Pages one instruction can have opened (a string move from a freed
/// page to a guard page opens two).
pub const MAX_PAGES: usize = 4;

/// The trap flag in `rflags`.
const TF: i64 = 0x100;

/// `si_code`s of a SIGTRAP raised by a debug exception: the first and
/// the last of `TRAP_BRKPT`, `TRAP_TRACE`, `TRAP_BRANCH`, `TRAP_HWBKPT`.
const TRAP_BRKPT: i32 = 1;
const TRAP_HWBKPT: i32 = 4;

/// One thread's pending step.
pub struct Pending {
    /// Pages to close when the instruction has run (0: unused).
    pages: [Cell<usize>; MAX_PAGES],
    /// The program had SIGTRAP blocked in the interrupted context.
    trap_was_blocked: Cell<bool>,
    /// The program had the trap flag set itself.
    tf_was_set: Cell<bool>,
}

impl Pending {
    pub const fn new() -> Self {
        Pending {
            pages: [const { Cell::new(0) }; MAX_PAGES],
            trap_was_blocked: Cell::new(false),
            tf_was_set: Cell::new(false),
        }
    }
}

impl Default for Pending {
    fn default() -> Self {
        Self::new()
    }
}

fn context(ctx: *mut libc::c_void) -> Option<&'static mut libc::ucontext_t> {
    // SAFETY: the kernel passes a valid ucontext (or null) to a handler.
    unsafe { ctx.cast::<libc::ucontext_t>().as_mut() }
}

/// Pages opened for a stepped instruction, with how many threads' steps
/// hold each open: a page is closed again only when the last of them has
/// run its instruction (two threads faulting on one page at once would
/// otherwise see it closed under the second one, which faults again and
/// is counted twice).
struct Open {
    page: usize,
    count: u32,
}

const OPEN_MAX: usize = 64;
static OPEN: Racy<[Open; OPEN_MAX]> = Racy::new([const { Open { page: 0, count: 0 } }; OPEN_MAX]);
static LOCK: SpinLock = SpinLock::new();

/// Opens a page of the guard pool (which may be a guard marker) or of a
/// held block (`PROT_NONE`, its contents kept).
fn open_page(page: usize) {
    if !crate::guard::open_page(page) {
        // SAFETY: a page of a held block.
        unsafe {
            libc::mprotect(
                page as *mut libc::c_void,
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
    }
}

/// Opens `page` (a guard page, a freed guarded block's page, a page of a
/// held big block) for the faulting instruction, after its report. With
/// `rearm`, the handler's return runs that one instruction and traps, and
/// [`on_trap`] closes the page again; without (or when that cannot be
/// arranged: no context, [`MAX_PAGES`] pending on this thread, no SIGTRAP
/// handler, [`OPEN_MAX`] pages open) the page stays open.
pub fn open(ctx: *mut libc::c_void, page: usize, rearm: bool) {
    let uc = context(ctx).filter(|_| rearm);
    let p = &tls::get().step;
    let slot = uc
        .as_ref()
        .and_then(|_| p.pages.iter().find(|c| c.get() == 0 || c.get() == page));
    let (Some(uc), Some(slot)) = (uc, slot) else {
        open_page(page);
        return;
    };
    if slot.get() == page || !crate::signals::ensure_trap_handler() {
        open_page(page);
        return;
    }
    let held = LOCK.lock();
    // SAFETY: the table under LOCK.
    let table = unsafe { &mut *OPEN.get() };
    let entry = match table.iter().position(|o| o.count > 0 && o.page == page) {
        Some(i) => Some(i),
        None => table.iter().position(|o| o.count == 0),
    };
    if let Some(i) = entry {
        table[i].page = page;
        table[i].count += 1;
    }
    open_page(page);
    drop(held);
    if entry.is_none() {
        return;
    }
    let first = p.pages.iter().all(|c| c.get() == 0);
    slot.set(page);
    let flags = &mut uc.uc_mcontext.gregs[libc::REG_EFL as usize];
    if first {
        p.tf_was_set.set(*flags & TF != 0);
        // SAFETY: a valid signal set in the context.
        let blocked = unsafe { libc::sigismember(&uc.uc_sigmask, libc::SIGTRAP) } == 1;
        p.trap_was_blocked.set(blocked);
    }
    // SAFETY: as above.
    unsafe { libc::sigdelset(&mut uc.uc_sigmask, libc::SIGTRAP) };
    *flags |= TF;
}

/// The instruction one step held `page` open for has run: closed again
/// when no other thread's step holds it.
fn close(page: usize) {
    let _held = LOCK.lock();
    // SAFETY: the table under LOCK.
    let table = unsafe { &mut *OPEN.get() };
    let last = match table.iter_mut().find(|o| o.count > 0 && o.page == page) {
        Some(o) => {
            o.count -= 1;
            if o.count == 0 {
                // Not left behind: a page address is a pointer to the
                // block at its start.
                o.page = 0;
            }
            o.count == 0
        }
        None => true,
    };
    if last && !crate::held::rearm(page) {
        crate::guard::rearm(page);
    }
}

/// Forgets the pages other threads had open (fork child: only the forking
/// thread runs there, and it is not stepping).
///
/// # Safety
/// Only in a fork child: the lock's holder did not survive the fork.
pub unsafe fn reset_in_child() {
    // SAFETY: as this function's.
    unsafe { LOCK.force_unlock() };
    // SAFETY: only this thread runs in the child.
    for o in unsafe { &mut *OPEN.get() } {
        o.count = 0;
    }
}

/// Whether a SIGTRAP with `si_code` `code` was raised by a debug
/// exception (the kind a single step raises), rather than by `int3`
/// (`SI_KERNEL`), a perf event or a process (`kill`, `tgkill`: `code <= 0`).
///
/// Not only `TRAP_TRACE`: the kernel derives the code from the debug
/// status register (DR6), and a step's trap whose DR6 lost its
/// single-step bit arrives as `TRAP_BRKPT`. Seen under load in a
/// Firecracker VM: gcc's driver and cc1 with watched blocks died by
/// SIGTRAP in 4 of 200 runs, each time with a step pending, the trap flag
/// set in the context and `si_code` 1 (issue 19).
fn from_debug_exception(code: i32) -> bool {
    (TRAP_BRKPT..=TRAP_HWBKPT).contains(&code)
}

/// Called first for every SIGTRAP: when this thread has a pending step,
/// the trap comes from a debug exception ([`from_debug_exception`]) and
/// the trap flag is set in `ctx` (its instruction has run), closes the
/// pages again and puts the flag and the signal mask back as the program
/// had them. Returns true when the trap was the runtime's own (nothing
/// else to do), false when it is the program's (a pending step then stays
/// pending: its instruction has not run yet).
pub fn on_trap(code: i32, ctx: *mut libc::c_void) -> bool {
    let p = &tls::get().step;
    if p.pages.iter().all(|c| c.get() == 0) || !from_debug_exception(code) {
        return false;
    }
    let Some(uc) = context(ctx) else {
        return false;
    };
    let flags = &mut uc.uc_mcontext.gregs[libc::REG_EFL as usize];
    if *flags & TF == 0 {
        return false;
    }
    for c in &p.pages {
        let page = c.replace(0);
        if page != 0 {
            close(page);
        }
    }
    if p.trap_was_blocked.get() {
        // SAFETY: a valid signal set in the context.
        unsafe { libc::sigaddset(&mut uc.uc_sigmask, libc::SIGTRAP) };
    }
    if p.tf_was_set.get() {
        return false; // the program's own stepping: its trap too
    }
    *flags &= !TF;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A context interrupted with the trap flag set, and this thread's
    /// step pending on `page` (outside any pool: closing it is a no-op).
    fn stepping(page: usize) -> libc::ucontext_t {
        // SAFETY: all-zero is a valid ucontext.
        let mut uc: libc::ucontext_t = unsafe { core::mem::zeroed() };
        uc.uc_mcontext.gregs[libc::REG_EFL as usize] = 0x246 | TF;
        let p = &tls::get().step;
        p.pages[0].set(page);
        p.tf_was_set.set(false);
        p.trap_was_blocked.set(false);
        uc
    }

    fn trap(code: i32, uc: &mut libc::ucontext_t) -> bool {
        on_trap(code, (uc as *mut libc::ucontext_t).cast())
    }

    fn pending() -> usize {
        tls::get()
            .step
            .pages
            .iter()
            .filter(|c| c.get() != 0)
            .count()
    }

    #[test]
    fn a_step_trap_without_the_single_step_bit_is_still_the_runtimes() {
        for code in [TRAP_BRKPT, 2] {
            let mut uc = stepping(0x1000);
            assert!(trap(code, &mut uc), "si_code {code}");
            assert_eq!(uc.uc_mcontext.gregs[libc::REG_EFL as usize] & TF, 0);
            assert_eq!(pending(), 0);
        }
    }

    #[test]
    fn int3_or_a_sent_sigtrap_leaves_the_step_pending() {
        const SI_KERNEL: i32 = 0x80;
        for code in [SI_KERNEL, libc::SI_USER, -6] {
            let mut uc = stepping(0x1000);
            assert!(!trap(code, &mut uc), "si_code {code}");
            assert_ne!(uc.uc_mcontext.gregs[libc::REG_EFL as usize] & TF, 0);
            assert_eq!(pending(), 1);
        }
        tls::get().step.pages[0].set(0);
    }

    #[test]
    fn no_pending_step_means_the_programs_trap() {
        let mut uc = stepping(0x1000);
        tls::get().step.pages[0].set(0);
        assert!(!trap(TRAP_BRKPT, &mut uc));
        assert_ne!(uc.uc_mcontext.gregs[libc::REG_EFL as usize] & TF, 0);
    }
}
