//! Release: `free`, `delete` and their kin (the quarantine, the checks on
//! it), and the reports of bad frees, mismatched deallocators and damaged
//! blocks.

use libc::c_void;
use memdx_events::{AllocKind, BadFree, BadFreeKind, Corruption, CorruptionKind, Dealloc, Place};

use super::{capture, guarded, thread_no};
use crate::table::{self, Release};
use crate::{guard, out, profile, sys, tls};

/// The damage found on a quarantined block (see `table::check_freed`) as
/// error events: a damaged redzone as at the block's release (where it was
/// checked before the check was deferred to the quarantine), written poison
/// as at the release that found it (`stack` 0, filled in by the caller).
///
/// # Safety
/// `q` is a quarantined (freed) block start.
pub unsafe fn freed_corruptions(q: usize) -> [Option<Corruption>; 2] {
    // SAFETY: per the contract.
    let d = unsafe { table::check_freed(q) };
    if d == table::FreedDamage::default() {
        return [None, None];
    }
    // SAFETY: as above.
    let table::Header {
        block: b,
        free_stack,
        ..
    } = unsafe { table::read_block(q) };
    let event = |kind, (first, last): (usize, usize), stack, free_stack| Corruption {
        kind,
        block_start: q as u64,
        block_size: b.size as u64,
        first: first as u64,
        last: last as u64,
        stack,
        alloc_stack: b.stack,
        free_stack,
    };
    [
        d.after_end
            .map(|r| event(CorruptionKind::AfterEnd, r, free_stack, 0)),
        d.after_free
            .map(|r| event(CorruptionKind::AfterFree, r, 0, free_stack)),
    ]
}

/// Gives a released or evicted block back to glibc.
pub(super) fn give_to_glibc(q: usize) {
    // SAFETY: q is a block start the caller released.
    unsafe { sys::__libc_free(table::raw_of(q) as *mut c_void) };
}

/// Reports the blocks found damaged as they left the quarantine during the
/// release whose stack is `stack` (written poison is reported at that
/// release; a damaged redzone as at the block's own), then gives them back.
#[cold]
#[inline(never)]
fn report_damaged(damaged: &table::Damaged, stack: u32) {
    for &q in damaged.blocks() {
        // SAFETY: a quarantined block, not given back yet.
        for c in unsafe { freed_corruptions(q) }.into_iter().flatten() {
            let stack = if c.stack == 0 { stack } else { c.stack };
            report_corruption(Corruption { stack, ..c });
        }
        // Not recycled: the damage may have reached its header.
        give_to_glibc(q);
    }
}

/// Describes where a pointer that is no block start points.
fn describe(addr: usize, e: &mut BadFree) {
    if let Some((live, b, free_stack)) = table::find_containing(addr) {
        e.place = if live {
            Place::InsideLive
        } else {
            Place::InsideFreed
        };
        e.block_start = b.ptr as u64;
        e.block_size = b.size as u64;
        e.alloc_stack = b.stack;
        e.free_stack = free_stack;
        return;
    }
    // On this thread's stack: between our frame and the top of the stack.
    let here = &addr as *const usize as usize;
    if addr >= here && addr < here + (8 << 20) && on_stack_mapping(addr, here) {
        e.place = Place::ThreadStack;
        e.tid = thread_no();
    }
}

/// Whether `addr` is in the same mapping as our stack pointer (cheap
/// approximation: no unmapped page between them).
fn on_stack_mapping(addr: usize, sp: usize) -> bool {
    let mut page = sp & !4095;
    let mut vec = 0u8;
    while page <= addr {
        // SAFETY: mincore only reports residency; ENOMEM means unmapped.
        let r = unsafe { libc::mincore(page as *mut c_void, 4096, &mut vec) };
        if r != 0 {
            return false;
        }
        page += 4096;
    }
    true
}

fn report(mut e: BadFree) {
    if guarded(|| ()).is_none() {
        // Inside the runtime itself: nothing sensible to report.
        return;
    }
    if e.tid == 0 {
        e.tid = thread_no();
    }
    out::burst(|| {
        out::ensure_modules();
        out::ensure_stack(e.stack);
        out::ensure_stack(e.alloc_stack);
        out::ensure_stack(e.free_stack);
        out::emit(|enc| enc.bad_free(&e));
        out::wait_ack();
    });
}

/// Reports a damaged redzone or poison.
pub fn report_corruption(c: Corruption) {
    if guarded(|| ()).is_none() {
        return;
    }
    out::burst(|| {
        out::ensure_modules();
        out::ensure_stack(c.stack);
        out::ensure_stack(c.alloc_stack);
        out::ensure_stack(c.free_stack);
        out::emit(|enc| enc.corruption(&c));
        out::wait_ack();
    });
}

/// Releases `p` for `free`, `delete` and their kin.
///
/// # Safety
/// Called from the deallocation entry points only: `p` is what the program
/// passed to them (null, a block of ours or glibc's, or a bad pointer,
/// which is reported), and `entry` is the entry point's address.
#[inline(always)]
pub(super) unsafe fn release(p: *mut c_void, dealloc: Dealloc, entry: usize) {
    // SAFETY: forwarded.
    unsafe {
        if profile::checking() {
            release_checked(p, dealloc, entry)
        } else if profile::unsampled_release(p) {
            // `memdx heap --sample`, not a sampled block: glibc and
            // nothing else, a tail call from the exported hook (glibc
            // ignores null).
            sys::__libc_free(p)
        } else {
            release_other(p, dealloc, entry)
        }
    }
}

/// [`release`] when the release may be recorded (`memdx heap`), or before
/// the mode is known. Out of line and `extern "C"` (it never unwinds), so
/// the hooks reach it with a tail call and their sampled fast path sets
/// up no frame.
///
/// # Safety
/// As [`release`].
#[inline(never)]
unsafe extern "C" fn release_other(p: *mut c_void, dealloc: Dealloc, entry: usize) {
    // SAFETY: forwarded.
    unsafe {
        if profile::profiling() {
            profile::release(p)
        } else {
            release_undecided(p, dealloc, entry)
        }
    }
}

/// [`release`] before the mode is known (kept apart so that deciding it,
/// a call, makes [`release_other`] save no registers).
///
/// # Safety
/// As [`release`].
#[cold]
#[inline(never)]
unsafe extern "C" fn release_undecided(p: *mut c_void, dealloc: Dealloc, entry: usize) {
    // SAFETY: forwarded.
    unsafe {
        if profile::on() {
            profile::release(p)
        } else {
            release_checked(p, dealloc, entry)
        }
    }
}

/// [`release`] under `memdx check`. Out of line and `extern "C"` (it
/// never unwinds), so the hooks reach it with a tail call.
#[inline(never)]
///
/// # Safety
/// Called from the deallocation entry points only: `p` is what the program
/// passed to them (null, a block of ours or glibc's, or a bad pointer,
/// which is reported), and `entry` is the entry point's address.
unsafe extern "C" fn release_checked(p: *mut c_void, dealloc: Dealloc, entry: usize) {
    if p.is_null() {
        return;
    }
    let addr = p as usize;
    let td = tls::get();
    let stack = capture(td, entry);
    let mut damaged = table::Damaged::new();
    let r = if guard::contains(addr) {
        match guard::release(addr, stack) {
            guard::GuardRelease::Live(b, before, after) => {
                table::count_free();
                Release::Live(
                    b,
                    table::Damages {
                        before_start: before,
                        after_end: after,
                    },
                )
            }
            guard::GuardRelease::AlreadyFreed(f) => {
                table::count_free();
                Release::AlreadyFreed(f)
            }
            guard::GuardRelease::Unknown => {
                table::count_free();
                Release::Unknown
            }
        }
    } else {
        table::release(td, addr, stack, &mut damaged, &mut give_to_glibc)
    };
    // The common case: a live block released by its own deallocator, its
    // edges intact.
    let clean = match &r {
        Release::Live(b, d) => {
            let kind = AllocKind::from_u8(b.kind & !table::INTERNAL).unwrap_or(AllocKind::Malloc);
            *d == table::Damages::default()
                && (b.kind & table::INTERNAL != 0
                    || kind.matching_dealloc() == dealloc
                    || dealloc == Dealloc::Realloc)
        }
        _ => false,
    };
    if !clean {
        report_release(r, addr, dealloc, stack);
    }
    if !damaged.blocks().is_empty() {
        report_damaged(&damaged, stack);
    }
}

/// Reports what a release found wrong: damaged edges, a mismatched
/// deallocator, a double or invalid free.
#[cold]
#[inline(never)]
fn report_release(r: Release, addr: usize, dealloc: Dealloc, stack: u32) {
    match r {
        Release::Live(b, damage) => {
            let kind = AllocKind::from_u8(b.kind & !table::INTERNAL).unwrap_or(AllocKind::Malloc);
            let internal = b.kind & table::INTERNAL != 0;
            let edges = [
                (CorruptionKind::BeforeStart, damage.before_start),
                (CorruptionKind::AfterEnd, damage.after_end),
            ];
            for (ck, range) in edges {
                if let (Some((first, last)), false) = (range, internal) {
                    report_corruption(Corruption {
                        kind: ck,
                        block_start: b.ptr as u64,
                        block_size: b.size as u64,
                        first: first as u64,
                        last: last as u64,
                        stack,
                        alloc_stack: b.stack,
                        free_stack: 0,
                    });
                }
            }
            if !internal && kind.matching_dealloc() != dealloc && dealloc != Dealloc::Realloc {
                report(BadFree {
                    kind: BadFreeKind::Mismatched,
                    dealloc,
                    addr: addr as u64,
                    stack,
                    place: Place::InsideLive,
                    tid: 0,
                    block_start: b.ptr as u64,
                    block_size: b.size as u64,
                    alloc_stack: b.stack,
                    free_stack: 0,
                });
            }
        }
        Release::AlreadyFreed(f) => report(BadFree {
            kind: BadFreeKind::Invalid,
            dealloc,
            addr: addr as u64,
            stack,
            place: Place::InsideFreed,
            tid: 0,
            block_start: f.ptr as u64,
            block_size: f.size as u64,
            alloc_stack: f.alloc_stack,
            free_stack: f.free_stack,
        }),
        Release::Unknown => {
            let mut e = BadFree {
                kind: BadFreeKind::Invalid,
                dealloc,
                addr: addr as u64,
                stack,
                place: Place::Unknown,
                tid: 0,
                block_start: 0,
                block_size: 0,
                alloc_stack: 0,
                free_stack: 0,
            };
            describe(addr, &mut e);
            report(e);
        }
    }
}
