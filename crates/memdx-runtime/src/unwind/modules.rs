//! The loaded modules the unwinder knows (text range and `.eh_frame_hdr`
//! search table of each), read with `dl_iterate_phdr` when the loader's
//! generation counters change, and the generation (`epoch`) the rule
//! cache's entries are tagged with.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::cfi::SearchTable;
use super::rules::{clear_cache, CACHE, CACHE_LEN};
use crate::sys::{self, Racy};

/// Modules tracked at most; a pc in a module past this falls back.
const MAX_MODULES: usize = 512;

#[derive(Clone, Copy)]
pub(super) struct Module {
    pub(super) lo: usize,
    pub(super) hi: usize,
    /// `count == 0`: no usable `.eh_frame_hdr`.
    pub(super) table: SearchTable,
}

pub(super) struct Modules {
    pub(super) n: usize,
    pub(super) list: [Module; MAX_MODULES],
}

const NO_MODULE: Module = Module {
    lo: 0,
    hi: 0,
    table: SearchTable {
        hdr: 0,
        table: 0,
        count: 0,
    },
};

/// Taken with try-lock only: a thread that finds it held (another thread
/// reading modules, or this thread re-entered from a signal handler or
/// from inside `dl_iterate_phdr`) unwinds with libgcc instead of waiting,
/// so no lock order with glibc's loader lock can arise.
static LOCK: AtomicBool = AtomicBool::new(false);
/// The `dl_iterate_phdr` generation the module list and EPOCH belong to:
/// written after EPOCH, so that a thread that sees them equal to the
/// current generation also sees that generation's EPOCH.
static GEN_ADDS: AtomicU64 = AtomicU64::new(u64::MAX);
static GEN_SUBS: AtomicU64 = AtomicU64::new(u64::MAX);
/// Whether the next capture reads the generation counters (set by the
/// program's `dlclose`, and until the first capture read them).
static RECHECK: AtomicBool = AtomicBool::new(true);
/// glibc's `dlclose` (0: not looked up yet).
static REAL_DLCLOSE: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
pub(super) static MODULES: Racy<Modules> = Racy::new(Modules {
    n: 0,
    list: [NO_MODULE; MAX_MODULES],
});
/// Generation of the module list (never 0 in the low 16 bits once set).
static EPOCH: AtomicU64 = AtomicU64::new(0);

pub(super) fn try_lock() -> bool {
    LOCK.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
}
pub(super) fn unlock() {
    LOCK.store(false, Ordering::Release);
}

/// Frees the lock in a fork child (its holder did not survive the fork).
pub fn reset_lock_in_child() {
    LOCK.store(false, Ordering::Release);
}

/// The module generation the cached rules belong to: the last one read,
/// unless a `dlclose` (or the first capture) asks for the counters.
#[inline(always)]
pub(super) fn current_epoch() -> Option<u64> {
    if !RECHECK.load(Ordering::Acquire) {
        let epoch = EPOCH.load(Ordering::Acquire);
        if epoch != 0 {
            return Some(epoch);
        }
    }
    recheck()
}

/// Reads the generation counters for [`current_epoch`]. The flag is
/// cleared before they are read: a `dlclose` that sets it after this
/// cleared it is seen by the next capture, one that set it before has
/// changed the counters before they are read here.
#[cold]
#[inline(never)]
fn recheck() -> Option<u64> {
    RECHECK.store(false, Ordering::SeqCst);
    let epoch = refresh();
    if epoch.is_none() {
        RECHECK.store(true, Ordering::SeqCst);
    }
    epoch
}

/// Asks the next capture to read the generation counters (a module may
/// have been unloaded).
pub fn modules_may_have_changed() {
    RECHECK.store(true, Ordering::SeqCst);
}

/// The loader's generation counters (`dlpi_adds`, `dlpi_subs`).
pub(super) fn generation() -> [u64; 2] {
    let mut gen = [0u64; 2];
    // SAFETY: the callback only reads the first module's counters.
    unsafe { libc::dl_iterate_phdr(Some(generation_cb), gen.as_mut_ptr().cast()) };
    gen
}

/// Whether the module list was read in generation `gen`.
pub(super) fn is_current(gen: &[u64; 2]) -> bool {
    GEN_ADDS.load(Ordering::Acquire) == gen[0] && GEN_SUBS.load(Ordering::Acquire) == gen[1]
}

/// dlclose(3), then asks the next capture to check the module generation
/// (the unloaded module's cached rules must not outlive it).
///
/// # Safety
/// dlclose(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn dlclose(handle: *mut libc::c_void) -> libc::c_int {
    let mut real = REAL_DLCLOSE.load(Ordering::Acquire);
    if real == 0 {
        // SAFETY: dlsym with a static name (not inside an allocator hook).
        real = unsafe { libc::dlsym(libc::RTLD_NEXT, c"dlclose".as_ptr()) } as usize;
        if real == 0 {
            return -1;
        }
        REAL_DLCLOSE.store(real, Ordering::Release);
    }
    // SAFETY: glibc's dlclose, with the caller's handle.
    let r = unsafe {
        let f: unsafe extern "C" fn(*mut libc::c_void) -> libc::c_int = core::mem::transmute(real);
        f(handle)
    };
    modules_may_have_changed();
    r
}

/// The current module generation, re-reading the modules if it changed.
/// `None`: the modules could not be read now (lock held elsewhere).
fn refresh() -> Option<u64> {
    let gen = generation();
    let current = is_current;
    if current(&gen) {
        let epoch = EPOCH.load(Ordering::Acquire);
        if epoch != 0 {
            return Some(epoch);
        }
    }
    if !try_lock() {
        return None;
    }
    let mut epoch = EPOCH.load(Ordering::Relaxed);
    if epoch == 0 || !current(&gen) {
        if CACHE.load(Ordering::Relaxed).is_null() {
            let p = sys::map_private_noreserve(CACHE_LEN * 16);
            if p.is_null() {
                unlock();
                return None;
            }
            CACHE.store(p.cast(), Ordering::Release);
        }
        GEN_ADDS.store(u64::MAX, Ordering::Release);
        // SAFETY: under LOCK.
        let m = unsafe { &mut *MODULES.get() };
        m.n = 0;
        // SAFETY: the callback appends to `m`, under LOCK.
        unsafe { libc::dl_iterate_phdr(Some(module_cb), (m as *mut Modules).cast()) };
        epoch = epoch.wrapping_add(1);
        if epoch & 0xffff == 0 {
            // The tag wrapped: old entries could match again.
            clear_cache();
            epoch = epoch.wrapping_add(1);
        }
        EPOCH.store(epoch, Ordering::Release);
        GEN_SUBS.store(gen[1], Ordering::Release);
        GEN_ADDS.store(gen[0], Ordering::Release);
    }
    unlock();
    Some(epoch)
}

/// # Safety
/// Called by `dl_iterate_phdr` only: `info` points to a valid
/// `dl_phdr_info` for the call's duration and `data` is the pointer this
/// module passed with the callback.
unsafe extern "C" fn generation_cb(
    info: *mut libc::dl_phdr_info,
    size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    let need = core::mem::offset_of!(libc::dl_phdr_info, dlpi_subs) + 8;
    if size >= need {
        // SAFETY: info is valid and has the counters (size checked); data
        // is our [u64; 2].
        unsafe {
            let g = &mut *data.cast::<[u64; 2]>();
            g[0] = (*info).dlpi_adds;
            g[1] = (*info).dlpi_subs;
        }
    }
    1
}

/// # Safety
/// Called by `dl_iterate_phdr` only: `info` points to a valid
/// `dl_phdr_info` for the call's duration and `data` is the pointer this
/// module passed with the callback.
unsafe extern "C" fn module_cb(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: valid info from dl_iterate_phdr; data is our Modules.
    let (info, m) = unsafe { (&*info, &mut *data.cast::<Modules>()) };
    let mut lo = usize::MAX;
    let mut hi = 0usize;
    let mut table = NO_MODULE.table;
    for i in 0..info.dlpi_phnum as usize {
        // SAFETY: i < dlpi_phnum.
        let ph = unsafe { &*info.dlpi_phdr.add(i) };
        let addr = (info.dlpi_addr as usize).wrapping_add(ph.p_vaddr as usize);
        if ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_X != 0 {
            lo = lo.min(addr);
            hi = hi.max(addr.wrapping_add(ph.p_memsz as usize));
        } else if ph.p_type == libc::PT_GNU_EH_FRAME {
            // SAFETY: the module's own PT_GNU_EH_FRAME, mapped.
            if let Some(t) = unsafe { SearchTable::parse(addr) } {
                table = t;
            }
        }
    }
    if lo < hi {
        if let Some(slot) = m.list.get_mut(m.n) {
            *slot = Module { lo, hi, table };
            m.n += 1;
        }
    }
    0
}
