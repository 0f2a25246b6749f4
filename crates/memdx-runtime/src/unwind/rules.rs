//! The rule cache: the unwind rule of each return address, computed once
//! from its module's `.eh_frame_hdr` table and kept in a direct-mapped
//! table in the runtime's private memory, tagged with the module
//! generation.

use core::sync::atomic::{AtomicU64, Ordering};

use super::cfi::{Lookup, Rule};
use super::modules::{generation, is_current, modules_may_have_changed, try_lock, unlock, MODULES};

const CACHE_BITS: u32 = 16;
pub(super) const CACHE_LEN: usize = 1 << CACHE_BITS;
/// Rule-cache value of a pc whose frame libgcc must unwind.
const UNSUPPORTED: u64 = 0x8000_0000;

/// Key and value words of the rule cache (CACHE_LEN pairs), or null.
pub(super) static CACHE: core::sync::atomic::AtomicPtr<AtomicU64> =
    core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());

pub(super) fn clear_cache() {
    let cache = CACHE.load(Ordering::Relaxed);
    if cache.is_null() {
        return;
    }
    for i in 0..CACHE_LEN * 2 {
        // SAFETY: the cache holds CACHE_LEN pairs.
        unsafe { (*cache.add(i)).store(0, Ordering::Relaxed) };
    }
}

fn cache_index(pc: usize) -> usize {
    let h = (pc as u64 ^ (pc as u64 >> 17)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> (64 - CACHE_BITS)) as usize
}

/// The key word of `pc` in generation `epoch`: user-space pcs are below
/// 2^47, the generation's low 16 bits go above (a new generation misses
/// every old entry).
#[inline(always)]
fn key_of(epoch_tag: u64, pc: usize) -> u64 {
    pc as u64 | epoch_tag
}

/// The generation's bits of key words.
pub(super) fn epoch_tag(epoch: u64) -> u64 {
    (epoch & 0xffff) << 48
}

/// The rule for the frame whose next instruction (or return address) is
/// `pc`; `None`: libgcc must unwind it.
///
/// An entry is two words written value first, key second; a reader that
/// finds the key also checks the value's copy of the pc's low 32 bits, so
/// that a value written by another thread for another pc (same slot,
/// between this reader's two loads) is not taken for this pc's.
#[inline(always)]
pub(super) fn rule_of(cache: *mut AtomicU64, etag: u64, pc: usize) -> Option<Rule> {
    if pc as u64 >= 1 << 47 {
        return None;
    }
    let i = cache_index(pc);
    let key = key_of(etag, pc);
    // SAFETY: i < CACHE_LEN; the cache holds CACHE_LEN pairs.
    let (k, val) = unsafe { (&*cache.add(2 * i), &*cache.add(2 * i + 1)) };
    if k.load(Ordering::Acquire) == key {
        let v = val.load(Ordering::Acquire);
        if (v >> 32) as u32 == pc as u32 {
            return decode(v);
        }
    }
    let v = compute(pc)?;
    val.store(((pc as u32 as u64) << 32) | v, Ordering::Release);
    k.store(key, Ordering::Release);
    decode(v)
}

#[inline(always)]
fn decode(v: u64) -> Option<Rule> {
    let r = v as u32;
    // UNSUPPORTED has bit 0 clear, like no valid rule.
    if r & 1 == 0 {
        None
    } else {
        Some(Rule(r))
    }
}

/// Reads the rule of `pc` from the unwind tables (cache value bits).
/// `None`: the modules are being read by someone else; try libgcc.
#[cold]
fn compute(pc: usize) -> Option<u64> {
    // A pc never seen: perhaps in a module loaded since the list was read.
    // This capture then goes through libgcc and the next one reads the
    // modules again (its rules might be of an older generation).
    if !is_current(&generation()) {
        modules_may_have_changed();
        return None;
    }
    if !try_lock() {
        return None;
    }
    // SAFETY: under LOCK.
    let m = unsafe { &*MODULES.get() };
    let module = m
        .list
        .get(..m.n)
        .and_then(|l| l.iter().find(|md| pc > md.lo && pc <= md.hi));
    let v = match module {
        Some(md) if md.table.count > 0 => {
            // SAFETY: the module is loaded (the generation did not change
            // since the list was read, or the capture started before).
            match unsafe { md.table.lookup(pc - 1) } {
                Some(Lookup::Rule(r)) => u64::from(r.0),
                Some(Lookup::Unsupported) => UNSUPPORTED,
                // No FDE: libgcc ends the stack here, unless the pc is the
                // kernel's signal return trampoline (which it recognizes by
                // its code).
                // SAFETY: pc is in the module's text.
                None if unsafe { is_sigreturn(pc) } => UNSUPPORTED,
                None => u64::from(Rule::END_OF_STACK.0),
            }
        }
        _ => UNSUPPORTED,
    };
    unlock();
    Some(v)
}

/// `mov rax, 15; syscall`: x86_64's `__restore_rt`.
///
/// # Safety
/// `pc` is in a loaded module's executable segment, 9 bytes from its end
/// or more.
unsafe fn is_sigreturn(pc: usize) -> bool {
    const CODE: [u8; 9] = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];
    let mut b = [0u8; 9];
    // SAFETY: see above.
    unsafe { core::ptr::copy_nonoverlapping(pc as *const u8, b.as_mut_ptr(), 9) };
    b == CODE
}
