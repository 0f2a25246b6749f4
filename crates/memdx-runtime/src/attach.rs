//! `memdx heap --pid`: the runtime loaded into a process that is already
//! running (the CLI makes one of its threads call `dlopen` through
//! ptrace, then `memdx_attach`, and at the end `memdx_detach`).
//!
//! Loaded that way, the runtime interposes nothing: its constructor sees
//! it was not preloaded and that no `memdx` variable is in the
//! environment, and stays dormant (none of the checker's machinery).
//! `memdx_attach` starts profiling mode (`profile::attach`) and redirects
//! the allocator calls of every loaded object (the program, its libraries,
//! the C library's own calls) to the hooks by rewriting their GOT slots
//! (`JUMP_SLOT` and `GLOB_DAT` relocations naming the malloc family or a
//! C++ `operator new`/`delete`), each with one atomic compare-and-swap,
//! the page made writable for the write when RELRO made it read-only.
//! `memdx_detach` puts back every slot that still holds the hook, then
//! sends the last burst. The runtime then stays loaded but idle: a thread
//! may still be inside a hook, and unloading it could pull code from under
//! it.
//!
//! In profiling mode the hooks hand out glibc's own blocks (no header), so
//! a block allocated before the attach is freed by glibc as natively (its
//! release is not recorded: the recorder never saw its allocation), and a
//! block allocated while attached is freed by glibc after the detach.
//!
//! Not redirected: objects loaded after the attach, the dynamic loader's
//! own allocations, and calls through a function pointer the program took
//! before the attach (`p = malloc`).

use core::ffi::{c_char, c_int, c_void, CStr};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::profile::{self, AttachRefused};
use crate::sys::{Racy, SpinLock};
use crate::{hooks, out};

/// Set by the constructor when the runtime was loaded late (`dlopen`
/// from `memdx heap --pid`) rather than preloaded by `memdx`.
static LOADED_LATE: AtomicBool = AtomicBool::new(false);

/// Whether this is a late load: not in `LD_PRELOAD`, and no stream to
/// send to in the environment. Decided by the constructor.
pub fn decide_at_load() -> bool {
    let late = !crate::preloaded()
        && crate::sys::getenv(c"MEMDX_EVENTS_SOCK").is_none()
        && crate::sys::getenv(c"MEMDX_HEAP").is_none();
    LOADED_LATE.store(late, Ordering::Relaxed);
    late
}

/// Whether the runtime was loaded late (see [`decide_at_load`]).
pub fn loaded_late() -> bool {
    LOADED_LATE.load(Ordering::Relaxed)
}

/// The names whose slots are redirected.
const HOOKED: [&CStr; 33] = [
    c"malloc",
    c"free",
    c"calloc",
    c"realloc",
    c"reallocarray",
    c"memalign",
    c"posix_memalign",
    c"aligned_alloc",
    c"valloc",
    c"pvalloc",
    c"malloc_usable_size",
    c"_Znwm",
    c"_Znam",
    c"_ZnwmRKSt9nothrow_t",
    c"_ZnamRKSt9nothrow_t",
    c"_ZnwmSt11align_val_t",
    c"_ZnamSt11align_val_t",
    c"_ZnwmSt11align_val_tRKSt9nothrow_t",
    c"_ZnamSt11align_val_tRKSt9nothrow_t",
    c"_ZdlPv",
    c"_ZdaPv",
    c"_ZdlPvm",
    c"_ZdaPvm",
    c"_ZdlPvRKSt9nothrow_t",
    c"_ZdaPvRKSt9nothrow_t",
    c"_ZdlPvSt11align_val_t",
    c"_ZdaPvSt11align_val_t",
    c"_ZdlPvmSt11align_val_t",
    c"_ZdaPvmSt11align_val_t",
    c"_ZdlPvSt11align_val_tRKSt9nothrow_t",
    c"_ZdaPvSt11align_val_tRKSt9nothrow_t",
    c"_exit",
    c"_Exit",
];

/// The hook for each of [`HOOKED`]: the runtime's own definition, found
/// with `dlsym` on the runtime's handle (loaded late, a reference to an
/// exported function from inside the runtime binds to the C library's,
/// which comes first in the global scope). 0 when not found.
fn hooked() -> [(&'static [u8], usize); 33] {
    let mut out = [(&b""[..], 0usize); 33];
    // SAFETY: dladdr on our own function; dlopen of our own, already
    // loaded file (RTLD_NOLOAD: only a handle); dlsym with static names.
    unsafe {
        let mut info: libc::Dl_info = core::mem::zeroed();
        if libc::dladdr(hooked as *const c_void, &mut info) == 0 || info.dli_fname.is_null() {
            return out;
        }
        let handle = libc::dlopen(info.dli_fname, libc::RTLD_LAZY | libc::RTLD_NOLOAD);
        if handle.is_null() {
            return out;
        }
        for (o, name) in out.iter_mut().zip(HOOKED) {
            *o = (name.to_bytes(), libc::dlsym(handle, name.as_ptr()) as usize);
        }
        // The loader keeps the runtime loaded (its count goes back).
        libc::dlclose(handle);
    }
    out
}

/// One redirected slot: where, what it held, what it holds now.
#[derive(Clone, Copy)]
struct Patched {
    slot: usize,
    old: usize,
    new: usize,
    read_only: bool,
}

/// The most slots redirected at once.
const MAX_SLOTS: usize = 8192;

static LOCK: SpinLock = SpinLock::new();
static PATCHED: Racy<[Patched; MAX_SLOTS]> = Racy::new(
    [Patched {
        slot: 0,
        old: 0,
        new: 0,
        read_only: false,
    }; MAX_SLOTS],
);
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// What [`memdx_attach`] writes to its `out` argument (four words).
#[repr(C)]
pub struct AttachOut {
    /// Bytes in use in glibc's heap at the attach (mallinfo2: `uordblks`
    /// plus `hblkhd`).
    pub heap_bytes: u64,
    /// Chunks mmapped by glibc then (`hblks`); the count of small blocks
    /// is not known.
    pub mmapped_blocks: u64,
    /// Slots redirected.
    pub slots: u64,
    /// Objects whose slots were redirected.
    pub objects: u64,
}

/// Starts recording and redirects the allocator calls. `sock`: the CLI's
/// socket; `interval`: mean bytes between samples (0: every allocation).
/// Returns 0, or a negative code: -1 already under memdx, -2 already
/// attached, -3 no memory, -4 no slot found, -5 this thread was stopped
/// inside a flush (nothing done: the caller tries another stop).
///
/// # Safety
/// Called by `memdx heap --pid` through ptrace, with a C string and a
/// writable [`AttachOut`].
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memdx_attach(
    sock: *const c_char,
    interval: u64,
    num_callers: u64,
    out: *mut AttachOut,
) -> c_int {
    if profile::flushing_here() {
        return -5;
    }
    let entered = hooks::enter_runtime();
    // SAFETY: the caller passes a C string.
    let sock = unsafe { CStr::from_ptr(sock) }.to_bytes();
    let r = match profile::attach(sock, interval, num_callers as usize) {
        Err(AttachRefused::AlreadyUnderMemdx) => -1,
        Err(AttachRefused::AlreadyAttached) => -2,
        Err(AttachRefused::NoMemory) => -3,
        Ok(()) => {
            // SAFETY: mallinfo2 has no preconditions.
            let mi = unsafe { libc::mallinfo2() };
            let (slots, objects) = redirect();
            if !out.is_null() {
                // SAFETY: the caller's writable AttachOut.
                unsafe {
                    *out = AttachOut {
                        heap_bytes: (mi.uordblks + mi.hblkhd) as u64,
                        mmapped_blocks: mi.hblks as u64,
                        slots: slots as u64,
                        objects: objects as u64,
                    }
                };
            }
            if slots == 0 {
                profile::detach();
                -4
            } else {
                0
            }
        }
    };
    if entered {
        hooks::leave_runtime();
    }
    r
}

/// Puts every redirected slot back, then sends the last burst. Returns
/// the slots put back, or -5 when this thread was stopped inside a flush
/// (nothing done: the caller tries another stop).
///
/// # Safety
/// Called by `memdx heap --pid` through ptrace.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn memdx_detach() -> c_int {
    if profile::flushing_here() {
        return -5;
    }
    let entered = hooks::enter_runtime();
    let n = restore();
    profile::detach();
    if entered {
        hooks::leave_runtime();
    }
    n as c_int
}

/// Redirects every loaded object's slots; (slots, objects).
fn redirect() -> (usize, usize) {
    let mut acc = Walk {
        targets: hooked(),
        self_lo: crate::stacks::SELF_LO.load(Ordering::Relaxed),
        self_hi: crate::stacks::SELF_HI.load(Ordering::Relaxed),
        objects: 0,
    };
    let held = LOCK.lock();
    let before = COUNT.load(Ordering::Relaxed);
    // SAFETY: dl_iterate_phdr with a callback that reads the loaded
    // objects' dynamic sections and writes their GOT slots.
    unsafe { libc::dl_iterate_phdr(Some(object_cb), (&mut acc as *mut Walk).cast()) };
    let n = COUNT.load(Ordering::Relaxed) - before;
    drop(held);
    // The module map may have changed since the first burst (nothing is
    // loaded by the redirection itself, but keep the recorder current).
    out::burst(out::ensure_modules);
    (n, acc.objects)
}

/// Puts back the slots that still hold the hook; how many.
fn restore() -> usize {
    let _held = LOCK.lock();
    let n = COUNT.swap(0, Ordering::Relaxed);
    // SAFETY: under LOCK.
    let table = unsafe { &*PATCHED.get() };
    let mut done = 0;
    for p in &table[..n] {
        // SAFETY: a slot this module wrote, in a loaded object (objects
        // are not unloaded while attached: a dlclose'd one's slot would
        // no longer be mapped, see `writable`).
        if unsafe { with_writable(p.slot, p.read_only, || swap_slot(p.slot, p.new, p.old)) } {
            done += 1;
        }
    }
    done
}

struct Walk {
    targets: [(&'static [u8], usize); 33],
    self_lo: usize,
    self_hi: usize,
    objects: usize,
}

const PT_DYNAMIC: u32 = 2;
const PT_GNU_RELRO: u32 = 0x6474_e552;
const DT_NULL: i64 = 0;
const DT_PLTRELSZ: i64 = 2;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_RELA: i64 = 7;
const DT_RELASZ: i64 = 8;
const DT_STRSZ: i64 = 10;
const DT_JMPREL: i64 = 23;
const R_X86_64_GLOB_DAT: u64 = 6;
const R_X86_64_JUMP_SLOT: u64 = 7;

#[repr(C)]
struct Dyn {
    tag: i64,
    val: u64,
}

#[repr(C)]
struct Rela {
    offset: u64,
    info: u64,
    addend: i64,
}

#[repr(C)]
struct Sym {
    name: u32,
    info: u8,
    other: u8,
    shndx: u16,
    value: u64,
    size: u64,
}

/// # Safety
/// Called by `dl_iterate_phdr` only: `info` points to a valid
/// `dl_phdr_info` for the call's duration and `data` is the pointer this
/// module passed with the callback.
unsafe extern "C" fn object_cb(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut c_void,
) -> c_int {
    // SAFETY: dl_iterate_phdr passes a valid info; data is our Walk.
    let (info, walk) = unsafe { (&*info, &mut *data.cast::<Walk>()) };
    let name = if info.dlpi_name.is_null() {
        &[][..]
    } else {
        // SAFETY: dlpi_name is a C string (possibly empty) or null.
        unsafe { CStr::from_ptr(info.dlpi_name) }.to_bytes()
    };
    let base = name.rsplit(|&b| b == b'/').next().unwrap_or(name);
    // The loader (its calls go through its own pointers, not GOT slots),
    // the vDSO, and the runtime itself are left alone.
    if base.starts_with(b"ld-linux") || base.starts_with(b"linux-vdso") {
        return 0;
    }
    let bias = info.dlpi_addr as usize;
    // SAFETY: dlpi_phdr holds dlpi_phnum headers.
    let phdrs = unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let Some(dynamic) = phdrs.iter().find(|p| p.p_type == PT_DYNAMIC) else {
        return 0;
    };
    let dyn_addr = bias + dynamic.p_vaddr as usize;
    if dyn_addr >= walk.self_lo && dyn_addr < walk.self_hi {
        return 0;
    }
    let relro = phdrs
        .iter()
        .find(|p| p.p_type == PT_GNU_RELRO)
        .map(|p| {
            let lo = bias + p.p_vaddr as usize;
            (lo, lo + p.p_memsz as usize)
        })
        .unwrap_or((0, 0));
    // glibc relocates the pointers of a loaded object's dynamic section
    // in place (x86-64); one it did not (below the bias) is relative.
    let abs = |v: u64| {
        let v = v as usize;
        if v < bias {
            v + bias
        } else {
            v
        }
    };
    let (mut strtab, mut strsz, mut symtab) = (0, 0, 0);
    let (mut rela, mut relasz, mut jmprel, mut pltrelsz) = (0, 0, 0, 0);
    let mut d = dyn_addr as *const Dyn;
    // SAFETY: the dynamic section of a loaded object ends with DT_NULL.
    unsafe {
        while (*d).tag != DT_NULL {
            let v = (*d).val;
            match (*d).tag {
                DT_STRTAB => strtab = abs(v),
                DT_STRSZ => strsz = v as usize,
                DT_SYMTAB => symtab = abs(v),
                DT_RELA => rela = abs(v),
                DT_RELASZ => relasz = v as usize,
                DT_JMPREL => jmprel = abs(v),
                DT_PLTRELSZ => pltrelsz = v as usize,
                _ => {}
            }
            d = d.add(1);
        }
    }
    if strtab == 0 || symtab == 0 {
        return 0;
    }
    let before = COUNT.load(Ordering::Relaxed);
    for (table, size) in [(jmprel, pltrelsz), (rela, relasz)] {
        if table == 0 {
            continue;
        }
        let n = size / core::mem::size_of::<Rela>();
        for i in 0..n {
            // SAFETY: the object's relocation table holds n entries.
            let r = unsafe { &*(table as *const Rela).add(i) };
            let kind = r.info & 0xffff_ffff;
            if kind != R_X86_64_JUMP_SLOT && kind != R_X86_64_GLOB_DAT {
                continue;
            }
            let sym_index = (r.info >> 32) as usize;
            // SAFETY: the relocation names a symbol of the object's table.
            let sym = unsafe { &*(symtab as *const Sym).add(sym_index) };
            if sym.name as usize >= strsz {
                continue;
            }
            // SAFETY: a NUL-terminated name inside the string table.
            let sym_name =
                unsafe { CStr::from_ptr((strtab + sym.name as usize) as *const c_char) }.to_bytes();
            let Some(&(_, hook)) = walk.targets.iter().find(|&&(n, h)| h != 0 && n == sym_name)
            else {
                continue;
            };
            let slot = bias + r.offset as usize;
            let in_relro = slot >= relro.0 && slot < relro.1;
            // SAFETY: a GOT slot of a loaded object.
            unsafe { patch(slot, hook, in_relro) };
        }
    }
    if COUNT.load(Ordering::Relaxed) > before {
        walk.objects += 1;
    }
    0
}

/// Redirects one slot to `hook` and remembers what it held. Under LOCK.
///
/// # Safety
/// `slot` is a mapped GOT slot.
unsafe fn patch(slot: usize, hook: usize, in_relro: bool) {
    let n = COUNT.load(Ordering::Relaxed);
    if n >= MAX_SLOTS {
        return;
    }
    // SAFETY: a mapped, aligned slot.
    let cell = unsafe { &*(slot as *const AtomicUsize) };
    let old = cell.load(Ordering::Acquire);
    if old == hook || old == 0 {
        return;
    }
    // SAFETY: as the caller promises.
    if unsafe { with_writable(slot, in_relro, || swap_slot(slot, old, hook)) } {
        // SAFETY: under LOCK, n < MAX_SLOTS.
        unsafe {
            (*PATCHED.get())[n] = Patched {
                slot,
                old,
                new: hook,
                read_only: in_relro,
            }
        };
        COUNT.store(n + 1, Ordering::Relaxed);
    }
}

/// Compare-and-swap of one slot (a lazy binding resolved meanwhile, or a
/// program that rewrote the slot itself, wins); the page made writable
/// when it was read-only.
///
/// # Safety
/// `slot` is a mapped, aligned GOT slot.
unsafe fn swap_slot(slot: usize, from: usize, to: usize) -> bool {
    // SAFETY: as the caller promises.
    let cell = unsafe { &*(slot as *const AtomicUsize) };
    cell.compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// Runs `f` with the page of `slot` writable when `read_only` (then made
/// read-only again). False when the page cannot be made writable.
///
/// # Safety
/// `slot` is mapped.
unsafe fn with_writable(slot: usize, read_only: bool, f: impl FnOnce() -> bool) -> bool {
    if !read_only {
        return f();
    }
    let page = slot & !4095;
    // SAFETY: changing the protection of a page of a loaded object's RELRO
    // region (readable before, readable and writable for the write).
    unsafe {
        if libc::mprotect(
            page as *mut c_void,
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
        ) != 0
        {
            return false;
        }
        let r = f();
        libc::mprotect(page as *mut c_void, 4096, libc::PROT_READ);
        r
    }
}
