//! The runtime's own stack unwinder: `.eh_frame` rules per return address,
//! cached in private memory, so that a capture costs a few loads per frame
//! instead of libgcc's FDE search (`dl_iterate_phdr` per frame) and CFI
//! parse from scratch.
//!
//! - Modules (text range, `.eh_frame_hdr` search table) are read with one
//!   `dl_iterate_phdr` walk, again when its generation counters
//!   (`dlpi_adds`, `dlpi_subs`) change. A capture does not read them (one
//!   call that takes the loader's lock, which threads capturing at once
//!   fight over): they are read when the rule cache misses (a pc seen for
//!   the first time: any code `dlopen` brought in, whoever loaded it), and
//!   by the first capture after the program's `dlclose` ([`dlclose`],
//!   interposed: an unloaded module's cached rules must not outlive it).
//!   glibc's own unloads (`__libc_dlclose`: iconv modules, NSS at freeres)
//!   are not seen at once: a cached rule of theirs could only be used for a
//!   module later loaded at the same address if every frame of a stack
//!   through it hit a cached pc of the old one (one miss reads the
//!   counters and starts a new generation), i.e. for the same code again.
//! - The rule of each return address ([`cfi::Rule`]) is computed once and
//!   kept in a direct-mapped table tagged with the module generation
//!   (`epoch`): a `dlopen` or `dlclose` invalidates every entry at once.
//! - Anything the compact rule cannot say (signal frames, expression
//!   rules, a pc outside every known module, lock contention) makes
//!   [`backtrace_from`] return `None`: the caller then unwinds with libgcc,
//!   which gives the same frames, slowly.
//!
//! `MEMDX_UNWIND_VERIFY=FILE` (a debugging aid, read at the first capture)
//! unwinds every stack both ways and appends a line to FILE for each
//! difference; at exit it appends how many captures each way took (the
//! program's own output is left alone).

mod cfi;
mod modules;
mod rules;
mod verify;

use core::sync::atomic::Ordering;

use modules::current_epoch;
pub use modules::{modules_may_have_changed, reset_lock_in_child};
use rules::{epoch_tag, rule_of, CACHE};
pub use verify::{count_fallback, report_mismatch, verify};
use verify::{mode, FAST};

/// A frame bigger than this is taken for a bad unwind.
const MAX_FRAME: usize = 256 << 20;

/// One unwound stack's frames: return addresses (caller order) and the
/// stack slots they were read from.
pub struct Frames<'a> {
    pub ras: &'a mut [usize],
    pub slots: &'a mut [usize],
}

/// Where a walk starts: an instruction of a live frame and the stack
/// pointer and frame pointer there.
#[derive(Clone, Copy)]
pub struct Regs {
    pc: usize,
    sp: usize,
    bp: usize,
}

/// The registers of the frame this is inlined into (pc: the next
/// instruction). `pc == 0` where this unwinder does not run.
#[inline(always)]
pub fn here() -> Regs {
    #[cfg(target_arch = "x86_64")]
    {
        let (pc, sp, bp): (usize, usize, usize);
        // SAFETY: reads registers.
        unsafe {
            core::arch::asm!(
                "lea {pc}, [rip]",
                "mov {sp}, rsp",
                "mov {bp}, rbp",
                pc = out(reg) pc,
                sp = out(reg) sp,
                bp = out(reg) bp,
                options(nomem, nostack, preserves_flags)
            )
        };
        Regs { pc, sp, bp }
    }
    #[cfg(not(target_arch = "x86_64"))]
    Regs {
        pc: 0,
        sp: 0,
        bp: 0,
    }
}

/// [`backtrace_from`] this function's own frame (the unit tests' way).
#[cfg(test)]
#[inline(never)]
pub fn backtrace(out: Frames<'_>, want: usize, self_lo: usize, self_hi: usize) -> Option<usize> {
    backtrace_from(here(), out, want, self_lo, self_hi)
}

/// Unwinds this thread's stack from `start` ([`here`] in a frame that is
/// live: this function's caller or one of its callers), keeping at most
/// `want` frames outside `[self_lo, self_hi)` (the runtime's own code).
/// Returns how many were kept, or `None` if a frame needs libgcc.
#[inline(never)]
pub fn backtrace_from(
    start: Regs,
    out: Frames<'_>,
    want: usize,
    self_lo: usize,
    self_hi: usize,
) -> Option<usize> {
    let mode = mode();
    if mode == 4 || start.pc == 0 {
        return None;
    }
    let Regs { pc, sp, bp } = start;
    let epoch = current_epoch()?;
    let cache = CACHE.load(Ordering::Acquire);
    if cache.is_null() {
        return None;
    }
    let want = want.min(out.ras.len()).min(out.slots.len());
    let etag = epoch_tag(epoch);
    let (mut pc, mut sp, mut bp) = (pc, sp, bp);
    let mut n = 0usize;
    loop {
        let rule = rule_of(cache, etag, pc)?;
        if rule.is_end() {
            break;
        }
        let base = if rule.cfa_from_rbp() { bp } else { sp };
        let cfa = base.wrapping_add(rule.cfa_offset());
        if cfa <= sp || cfa - sp > MAX_FRAME {
            return None;
        }
        let slot = cfa - 8;
        // SAFETY: the CFA of a frame on this thread's stack (the rules
        // come from the code's own unwind tables; the frame size is
        // bounded above): its return address and saved rbp are mapped.
        let ra = unsafe { (slot as *const usize).read() };
        if let Some(below) = rule.rbp_below_cfa() {
            // SAFETY: as above, inside the same frame.
            bp = unsafe { ((cfa - below) as *const usize).read() };
        }
        sp = cfa;
        if ra == 0 {
            break;
        }
        pc = ra;
        if ra >= self_lo && ra < self_hi {
            continue;
        }
        if n >= want {
            break;
        }
        *out.ras.get_mut(n)? = ra;
        *out.slots.get_mut(n)? = slot;
        n += 1;
    }
    if mode == 2 {
        FAST.fetch_add(1, Ordering::Relaxed);
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" {
        fn _Unwind_Backtrace(
            cb: extern "C" fn(*mut libc::c_void, *mut libc::c_void) -> libc::c_int,
            arg: *mut libc::c_void,
        ) -> libc::c_int;
        fn _Unwind_GetIP(ctx: *mut libc::c_void) -> usize;
        fn _Unwind_GetCFA(ctx: *mut libc::c_void) -> usize;
    }

    struct Gcc {
        n: usize,
        ras: [usize; 64],
        slots: [usize; 64],
    }

    extern "C" fn gcc_cb(ctx: *mut libc::c_void, arg: *mut libc::c_void) -> libc::c_int {
        // SAFETY: as in stacks.rs.
        let g = unsafe { &mut *arg.cast::<Gcc>() };
        // SAFETY: the unwinder passes a live context.
        let (ip, cfa) = unsafe { (_Unwind_GetIP(ctx), _Unwind_GetCFA(ctx)) };
        if ip == 0 || g.n >= 64 {
            return 5;
        }
        g.ras[g.n] = ip;
        g.slots[g.n] = cfa - 8;
        g.n += 1;
        0
    }

    /// `backtrace` gives up (None) while another thread holds the module
    /// lock, as the tests running in parallel do: try again a while.
    fn retrying(mut unwind: impl FnMut() -> Option<usize>) -> Option<usize> {
        for _ in 0..1000 {
            if let Some(n) = unwind() {
                return Some(n);
            }
            std::thread::yield_now();
        }
        None
    }

    /// Both unwinders from one frame: ours must match libgcc's frames
    /// from its first return address on (their own frames differ).
    #[inline(never)]
    fn compare_here() -> (Vec<usize>, Vec<usize>) {
        let mut ras = [0usize; 64];
        let mut slots = [0usize; 64];
        let n = retrying(|| {
            backtrace(
                Frames {
                    ras: &mut ras,
                    slots: &mut slots,
                },
                64,
                0,
                0,
            )
        })
        .expect("the test binary's stack is plain x86_64 CFI");
        let mut g = Gcc {
            n: 0,
            ras: [0; 64],
            slots: [0; 64],
        };
        // SAFETY: the callback only writes g.
        unsafe { _Unwind_Backtrace(gcc_cb, (&mut g as *mut Gcc).cast()) };
        // Ours starts inside backtrace() (frame 0 = return into
        // compare_here); libgcc's starts at the return into compare_here
        // too (the context of _Unwind_Backtrace's caller).
        let ours: Vec<(usize, usize)> = (0..n).map(|k| (ras[k], slots[k])).collect();
        let theirs: Vec<(usize, usize)> = (0..g.n).map(|k| (g.ras[k], g.slots[k])).collect();
        let ours_ra: Vec<usize> = ours.iter().map(|p| p.0).collect();
        let theirs_ra: Vec<usize> = theirs.iter().map(|p| p.0).collect();
        // libgcc's first frame is the return into compare_here from
        // _Unwind_Backtrace, ours the return from backtrace(): skip both.
        assert_eq!(
            ours.get(1..),
            theirs.get(1..),
            "frames (ra, slot) differ: ours {ours_ra:x?} libgcc {theirs_ra:x?}"
        );
        (ours_ra, theirs_ra)
    }

    #[inline(never)]
    fn recurse(depth: usize, pad: &mut [u8]) -> (Vec<usize>, Vec<usize>) {
        let mut local = [depth as u8; 40];
        pad[0] = local[3];
        if depth == 0 {
            return compare_here();
        }
        let r = recurse(depth - 1, &mut local);
        std::hint::black_box(&local);
        r
    }

    #[test]
    fn matches_libgcc_through_recursive_frames() {
        let mut pad = [0u8; 8];
        let (ours, _) = recurse(20, &mut pad);
        assert!(ours.len() > 22, "unwound only {} frames", ours.len());
    }

    #[test]
    fn matches_libgcc_on_another_thread() {
        let h = std::thread::spawn(|| {
            let mut pad = [0u8; 8];
            recurse(5, &mut pad).0.len()
        });
        assert!(h.join().expect("thread") > 6);
    }

    #[test]
    fn want_limits_the_frames_kept() {
        let mut ras = [0usize; 64];
        let mut slots = [0usize; 64];
        let n = retrying(|| {
            backtrace(
                Frames {
                    ras: &mut ras,
                    slots: &mut slots,
                },
                3,
                0,
                0,
            )
        });
        assert_eq!(n, Some(3));
    }
}
