//! Watched blocks: byte-precise checks of a call site's first blocks.
//!
//! A guarded block (see `guard`) has an inaccessible page on one side
//! only, and the bytes between its end and that page (its size rounded up
//! to 16) are slack nothing watches: `int *a = malloc(10 * sizeof(int));
//! a[10]` read nothing wrong there, nor did `data = buf - 8; data[i]` for a
//! block at the end of its page. A watched block is a guarded block whose
//! own page is closed too while it lives (`guard::watch`): every access to
//! it faults; the fault handler asks [`allowed`] whether the access stays
//! inside the block's exact bounds (the access size decoded from the
//! instruction with iced-x86), reports it as an invalid read or write when
//! it does not, and single-steps the instruction with the page opened
//! (`step`), closing it again after. After [`BUDGET`] faults the block is
//! released to ordinary checking (its page stays open).
//!
//! Which blocks: the first and second guarded blocks of each call site
//! (`--watch-blocks=yes`, the CLI's default, sets `MEMDX_WATCH_BLOCKS`), when the frame that
//! allocated them is in the main executable: blocks the C library, the C++
//! library or another shared object allocate are filled by the kernel
//! through calls nobody can hook (stdio's buffers).
//!
//! What the program can still do with them: the C library's and the
//! runtime's own accesses are stepped without a report (its string
//! routines read whole aligned words past a string's end); the hooked
//! system calls (read, write, recv, send, ... and stdio's writes) stop
//! watching the blocks their buffers touch before the call, since the
//! kernel would fail with EFAULT on a closed page. Not covered: a raw
//! `syscall()` or an unhooked call (fstat, getcwd, poll, epoll_wait, ...)
//! given a watched block of the program's own fails with EFAULT.

use core::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicUsize, Ordering};

/// Faults of one watched block before it is released to ordinary checking
/// (`MEMDX_WATCH_BUDGET`). Each costs two signals and two mprotect calls;
/// `sort` of 200,000 lines under `memdx check` ran 0.87-0.97 s unwatched,
/// 1.32-1.34 s with 1,000, 0.94-0.99 s with 256, 0.89-0.90 s with 64
/// (loaded 2-core machine, bench/NOTES.md).
pub static BUDGET: AtomicU16 = AtomicU16::new(256);
/// Faults of all watched blocks of the process before watching stops
/// (`MEMDX_WATCH_TOTAL`): no block is watched after, and a watched block's
/// next fault releases it. A program allocating from thousands of call
/// sites (python3, whose interpreter is its main executable) otherwise
/// pays for hundreds of thousands of faults: a 0.3 s python3 script ran
/// 0.9-1.0 s unwatched and 5.4-5.8 s watched with only the per-block
/// budget.
pub static TOTAL: AtomicU32 = AtomicU32::new(2_000);
/// Faults of watched blocks so far.
static SPENT: AtomicU32 = AtomicU32::new(0);

/// Counts one fault of a watched block: whether the process's budget
/// ([`TOTAL`]) still allows the block to stay watched. Async-signal-safe.
pub fn spend() -> bool {
    SPENT.fetch_add(1, Ordering::Relaxed) < TOTAL.load(Ordering::Relaxed)
}

/// Whether call sites' first blocks are watched (cleared for good by
/// [`stop`]).
static ON: AtomicBool = AtomicBool::new(false);

/// Whether blocks may be watched now (read under the guard pool's lock
/// by `guard::watch`, so that no block is watched after [`stop`]).
pub fn on() -> bool {
    ON.load(Ordering::Acquire)
}

/// Stops watching for the rest of the process: every watched block is
/// released (its page opened for good) and no block is watched after.
/// Called when the program may run with SIGSEGV blocked: a fault the
/// kernel cannot deliver kills the process (it resets the action to the
/// default), so no closed page may be left for it to touch. See
/// [`mask_blocks_fault`] for who calls it and why this rather than
/// hiding SIGSEGV from the program's masks. Async-signal-safe; `in_handler`:
/// called from a signal handler, which may have interrupted this thread
/// holding the guard pool's lock (then the blocks watched now stay so,
/// and none is watched after).
pub fn stop(in_handler: bool) {
    if !ON.swap(false, Ordering::AcqRel) && !crate::guard::any_watched() {
        return;
    }
    // A program's signal handler may have interrupted a hook of this
    // thread that holds the lock (its re-entry flag is set then).
    if in_handler || crate::tls::get().in_hook.get() {
        crate::guard::try_unwatch_all();
    } else {
        crate::guard::unwatch_all_now();
    }
}

/// Whether signal set `set` blocks SIGSEGV (the signal a watched page's
/// fault raises). The program's masks are left as it set them, and
/// watching stops ([`stop`]) before any of them takes effect: from
/// `sigprocmask`, `pthread_sigmask` (not `SIG_UNBLOCK`), the temporary
/// masks of `sigsuspend`, `ppoll`, `pselect`, `epoll_pwait` and a raw
/// `rt_sigprocmask` (`handoff`), the handler masks given to `sigaction`
/// (`signals`), the mask a chained SIGSEGV, SIGBUS or SIGTRAP handler of
/// the program is about to run with (`signals::call_program_handler`:
/// Rust's stack-overflow handler), and the mask the process started with
/// ([`init`]). Hiding SIGSEGV from those masks instead (keeping the
/// program's view in a per-thread copy) would keep watching on in more
/// programs, but changes what the kernel does for the program: a fault in
/// a handler that blocked SIGSEGV would run the program's SIGSEGV handler
/// rather than kill it, an exec'd program would start with SIGSEGV
/// unblocked, and masks restored behind the hooks (siglongjmp,
/// setcontext, glibc's own calls) would not match the copy.
pub fn mask_blocks_fault(set: &libc::sigset_t) -> bool {
    // SAFETY: a valid set; sigismember only reads it.
    unsafe { libc::sigismember(set, libc::SIGSEGV) == 1 }
}
/// The main executable's text (allocations made from it are watched).
static EXE_LO: AtomicUsize = AtomicUsize::new(0);
static EXE_HI: AtomicUsize = AtomicUsize::new(0);

/// Reads the setting and prepares the decoder (its tables are built on
/// first use, which allocates: not in a fault handler). Call from the
/// constructor, with the re-entry flag set (its allocations are internal).
pub fn init() {
    let on = match crate::sys::getenv(c"MEMDX_WATCH_BLOCKS") {
        Some(b"no") => false,
        Some(b"yes") => true,
        _ => DEFAULT_ON,
    };
    if !on || started_with_fault_blocked() {
        return;
    }
    if let Some(n) = crate::sys::getenv(c"MEMDX_WATCH_BUDGET").and_then(crate::sys::parse_usize) {
        BUDGET.store(n.min(usize::from(u16::MAX - 1)) as u16, Ordering::Relaxed);
    }
    if let Some(n) = crate::sys::getenv(c"MEMDX_WATCH_TOTAL").and_then(crate::sys::parse_usize) {
        TOTAL.store(u32::try_from(n).unwrap_or(u32::MAX), Ordering::Relaxed);
    }
    // SAFETY: getauxval has no preconditions.
    let entry = unsafe { libc::getauxval(libc::AT_ENTRY) } as usize;
    if entry == 0 {
        return;
    }
    let (lo, hi) = crate::out::self_range(entry);
    if lo == 0 || hi <= lo {
        return;
    }
    EXE_LO.store(lo, Ordering::Relaxed);
    EXE_HI.store(hi, Ordering::Relaxed);
    let nop = [0x90u8];
    let _ = access_size(&nop, 0);
    ON.store(true, Ordering::Release);
}

/// This thread's signal mask now (the raw system call: the runtime's
/// own, no hook, nothing allocated); `None` if the kernel refused.
pub fn current_mask() -> Option<libc::sigset_t> {
    // SAFETY: an empty set filled by the kernel with the current mask.
    unsafe {
        let mut now: libc::sigset_t = core::mem::zeroed();
        let r = libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            core::ptr::null::<libc::sigset_t>(),
            &mut now as *mut libc::sigset_t,
            8usize,
        );
        (r == 0).then_some(now)
    }
}

/// Whether the process started with SIGSEGV blocked (the mask is
/// inherited through exec), or its mask cannot be read: then no block is
/// watched (see [`stop`]).
fn started_with_fault_blocked() -> bool {
    current_mask().is_none_or(|m| mask_blocks_fault(&m))
}

/// Whether watching is on when `MEMDX_WATCH_BLOCKS` is not set (the
/// runtime loaded without the CLI, which always sets it: `memdx check`
/// watches unless `--watch-blocks=no`): off, since a watched block given
/// to a system call the runtime does not hook fails with EFAULT.
const DEFAULT_ON: bool = false;

/// Whether the block about to be guarded from call site `stack` is to be
/// watched: watching is on and the allocating frame (the first outside the
/// runtime) is in the main executable.
pub fn wanted(stack: u32) -> bool {
    if !on() || SPENT.load(Ordering::Relaxed) >= TOTAL.load(Ordering::Relaxed) {
        return false;
    }
    let Some(rec) = crate::stacks::get(stack) else {
        return false;
    };
    let (slo, shi) = (
        crate::stacks::SELF_LO.load(Ordering::Relaxed),
        crate::stacks::SELF_HI.load(Ordering::Relaxed),
    );
    let n = (rec.n as usize).min(rec.frames.len());
    rec.frames[..n]
        .iter()
        .map(|&f| f as usize)
        .find(|&f| !(slo..shi).contains(&f))
        .is_some_and(|f| {
            (EXE_LO.load(Ordering::Relaxed)..EXE_HI.load(Ordering::Relaxed)).contains(&f)
        })
}

/// What the fault handler does with an access to a watched block.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    /// No error: stepped with the page opened, the page closed again.
    Inside,
    /// Outside the block's bounds: reported, then stepped.
    Outside,
    /// Made by code outside the main executable and the runtime (the C
    /// library, the C++ library, another shared object): the block stops
    /// being watched for good, unreported. Such code may hand the block
    /// to the kernel next through a path no hook sees (glibc's internal
    /// system calls), which would fail with EFAULT on a closed page.
    Release,
}

/// What to do with the access at `pc` that faulted at `addr` on the page
/// of the watched block `q` (`size` bytes): the runtime's own accesses are
/// no error (stepped unreported); the C library's and other shared
/// objects' release the block; the program's are checked against the
/// block's exact bounds (with `--partial-loads-ok=yes`, an aligned word
/// that starts inside it is no error). Async-signal-safe.
pub fn judge(pc: usize, addr: usize, q: usize, size: usize) -> Verdict {
    let within = |lo: &AtomicUsize, hi: &AtomicUsize| {
        (lo.load(Ordering::Relaxed)..hi.load(Ordering::Relaxed)).contains(&pc)
    };
    if within(&crate::stacks::SELF_LO, &crate::stacks::SELF_HI) {
        return Verdict::Inside;
    }
    if crate::fatal::in_libc(pc) || !within(&EXE_LO, &EXE_HI) {
        return Verdict::Release;
    }
    let end = q + size;
    let mut code = [0u8; 16];
    let got = crate::access::read_own(pc, &mut code);
    let (n, bit_test) = access_size(&code[..got], pc);
    let n = n.max(1);
    if bit_test {
        // bt/bts/btr/btc with the bit offset in a register: the CPU
        // accesses the aligned chunk around the bit, Valgrind checks the one
        // byte holding it (`bit_test_chunk.c`: bit offsets -800..799 around
        // a pointer 100 bytes into a 200-byte block read 4 bytes before
        // it). A chunk that overlaps the block may hold a bit inside it.
        return if addr < end && addr + n > q {
            Verdict::Inside
        } else {
            Verdict::Outside
        };
    }
    if addr < q || addr >= end {
        return Verdict::Outside;
    }
    if addr + n <= end
        || (n > 1 && addr % n == 0 && crate::strmem::PARTIAL_LOADS_OK.load(Ordering::Relaxed))
    {
        Verdict::Inside
    } else {
        Verdict::Outside
    }
}

/// The size of the memory operand of the instruction in `code` (at `pc`),
/// 0 when it has none or cannot be decoded; and whether it is a bit test
/// of memory by a register's bit offset (bt, bts, btr, btc).
fn access_size(code: &[u8], pc: usize) -> (usize, bool) {
    use iced_x86::{Mnemonic, OpKind};
    let mut d = iced_x86::Decoder::with_ip(64, code, pc as u64, iced_x86::DecoderOptions::NONE);
    let ins = d.decode();
    if ins.is_invalid() {
        return (0, false);
    }
    let bit_test = matches!(
        ins.mnemonic(),
        Mnemonic::Bt | Mnemonic::Bts | Mnemonic::Btr | Mnemonic::Btc
    ) && ins.op0_kind() == OpKind::Memory
        && ins.op1_kind() == OpKind::Register;
    (ins.memory_size().size(), bit_test)
}
