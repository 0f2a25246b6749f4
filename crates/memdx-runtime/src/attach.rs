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
//! sends the last burst; a flush that finds the recorder gone (memdx
//! killed) does the same itself (`connection_lost`). An `on_exit` handler
//! keeps the status of an `exit` while attached for the last burst. The runtime then stays loaded but idle: a thread
//! may still be inside a hook, and unloading it could pull code from under
//! it.
//!
//! In profiling mode the hooks hand out glibc's own blocks (no header), so
//! a block allocated before the attach is freed by glibc as natively (its
//! release is not recorded: the recorder never saw its allocation), and a
//! block allocated while attached is freed by glibc after the detach.
//!
//! The `dlopen` slots are redirected too, to `memdx_dlopen_entry`: an object
//! loaded while attached has its slots redirected as soon as `dlopen`
//! returns (its constructors' allocations, run inside `dlopen`, are not
//! seen). glibc's `dlopen` searches a bare name along its caller's
//! `RUNPATH`/`RPATH`, so it is only called from the runtime (then the
//! caller) when that cannot change which file is loaded; otherwise the
//! entry jumps straight to it and that object is not redirected.
//!
//! Not redirected: the dynamic loader's own allocations, objects loaded
//! by `dlmopen` or by a bare-name `dlopen` from an object with a
//! `RUNPATH` (see above), and calls through a function pointer the
//! program took before the attach (`p = malloc`). A slot of an object
//! unloaded while attached is not put back (nor touched).

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
    let late = !crate::init::preloaded()
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
fn hooked() -> [(&'static [u8], usize); TARGETS] {
    let mut out = [(&b""[..], 0usize); TARGETS];
    out[HOOKED.len()] = (b"dlopen", memdx_dlopen_entry as *const () as usize);
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

/// The names redirected: [`HOOKED`] and `dlopen`.
const TARGETS: usize = HOOKED.len() + 1;

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
            if !ON_EXIT.swap(true, Ordering::Relaxed) {
                // SAFETY: registering a plain C callback (once).
                unsafe { on_exit(exiting, core::ptr::null_mut()) };
            }
            REAL_DLOPEN.store(libc::dlopen as *const () as usize, Ordering::Relaxed);
            // SAFETY: before any slot names the entry (no reader yet).
            unsafe { *TARGET_TABLE.get() = hooked() };
            let (slots, objects) = redirect();
            ATTACHED.store(slots != 0, Ordering::Release);
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
    ATTACHED.store(false, Ordering::Release);
    // Recording stops (the last burst sent) before the first slot goes
    // back: while the slots are put back one by one, an allocation through
    // a slot not yet restored whose release goes through one already
    // restored would otherwise be recorded live forever.
    profile::detach();
    let n = restore();
    if entered {
        hooks::leave_runtime();
    }
    n as c_int
}

extern "C" {
    fn on_exit(f: extern "C" fn(c_int, *mut c_void), arg: *mut c_void) -> c_int;
}

/// Whether [`exiting`] is registered (once per process).
static ON_EXIT: AtomicBool = AtomicBool::new(false);

/// `exit(status)` (or a return from `main`) while attached: the status
/// goes into the last burst, sent by the runtime's destructor (`_exit`
/// is a hook of its own).
extern "C" fn exiting(status: c_int, _arg: *mut c_void) {
    if ATTACHED.load(Ordering::Acquire) {
        profile::set_exit_status(status);
    }
}

/// The recorder is gone (`memdx heap --pid` was killed): every slot is
/// put back and recording stops, as `memdx_detach` would. Called by a
/// flush that found the connection broken, on any thread.
pub fn connection_lost() {
    if !ATTACHED.swap(false, Ordering::AcqRel) {
        return;
    }
    profile::detach();
    restore();
}

/// Redirects every loaded object's slots; (slots, objects).
fn redirect() -> (usize, usize) {
    let mut acc = Walk {
        // SAFETY: written by memdx_attach before the first redirect.
        targets: unsafe { *TARGET_TABLE.get() },
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
        // An object unloaded while attached: its slot is gone (or its
        // address now belongs to something else).
        if !still_loaded(p.slot) {
            continue;
        }
        // SAFETY: a slot this module wrote, in an object still loaded.
        if unsafe { with_writable(p.slot, p.read_only, || swap_slot(p.slot, p.new, p.old)) } {
            done += 1;
        }
    }
    done
}

/// Whether `addr` lies in a loaded object's segment.
fn still_loaded(addr: usize) -> bool {
    let mut found = (addr, false);
    // SAFETY: dl_iterate_phdr with a callback that only reads its info.
    unsafe { libc::dl_iterate_phdr(Some(contains_cb), (&mut found as *mut (usize, bool)).cast()) };
    found.1
}

unsafe extern "C" fn contains_cb(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut c_void,
) -> c_int {
    // SAFETY: dl_iterate_phdr passes a valid info; data is our pair.
    let (info, found) = unsafe { (&*info, &mut *data.cast::<(usize, bool)>()) };
    // SAFETY: dlpi_phdr holds dlpi_phnum headers.
    let phdrs = unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let bias = info.dlpi_addr as usize;
    let hit = phdrs.iter().any(|p| {
        let lo = bias + p.p_vaddr as usize;
        p.p_type == libc::PT_LOAD && found.0 >= lo && found.0 < lo + p.p_memsz as usize
    });
    found.1 |= hit;
    c_int::from(hit)
}

// ---- objects loaded while attached ------------------------------------------

/// Whether the slots are redirected (between attach and detach).
static ATTACHED: AtomicBool = AtomicBool::new(false);
/// The `dlopen` the program's slots held (the global scope's).
static REAL_DLOPEN: AtomicUsize = AtomicUsize::new(0);
/// The names and hooks, found once by `memdx_attach` (looking them up in
/// `dlopen`'s hook would reset the thread's `dlerror` state).
static TARGET_TABLE: Racy<[(&'static [u8], usize); TARGETS]> = Racy::new([(&[], 0); TARGETS]);

// The `dlopen` slots' target: asks `dlopen_may_wrap` (with the caller's
// return address) whether calling `dlopen` from the runtime loads the same
// file; then either `dlopen_wrapped` (a tail jump: it returns to the
// caller) or the real `dlopen`, with the caller's return address in place.
core::arch::global_asm!(
    ".pushsection .text.memdx_dlopen_entry,\"ax\",@progbits",
    ".p2align 4",
    ".globl memdx_dlopen_entry",
    ".hidden memdx_dlopen_entry",
    ".type memdx_dlopen_entry,@function",
    "memdx_dlopen_entry:",
    ".cfi_startproc",
    "push rdi",
    ".cfi_adjust_cfa_offset 8",
    "push rsi",
    ".cfi_adjust_cfa_offset 8",
    "sub rsp, 8",
    ".cfi_adjust_cfa_offset 8",
    "mov rdx, [rsp + 24]",
    "call {check}",
    "add rsp, 8",
    ".cfi_adjust_cfa_offset -8",
    "pop rsi",
    ".cfi_adjust_cfa_offset -8",
    "pop rdi",
    ".cfi_adjust_cfa_offset -8",
    "test al, al",
    "jz 2f",
    "jmp {wrapped}",
    "2:",
    "jmp qword ptr [rip + {real}]",
    ".cfi_endproc",
    ".size memdx_dlopen_entry, .-memdx_dlopen_entry",
    ".popsection",
    check = sym dlopen_may_wrap,
    wrapped = sym dlopen_wrapped,
    real = sym REAL_DLOPEN,
);

extern "C" {
    fn memdx_dlopen_entry();
}

const DT_RPATH: i64 = 15;
const DT_RUNPATH: i64 = 29;
const RTLD_DL_LINKMAP: c_int = 2;

/// Whether `dlopen(file)` called from the runtime loads what it would
/// from the caller (return address `ra`): no `$ORIGIN`-style token, a
/// caller in the main namespace, and for a bare name (searched along the
/// caller's paths) a caller without `RUNPATH` and no `RPATH` in any object
/// but the program (whose `RPATH` is searched for both).
extern "C" fn dlopen_may_wrap(file: *const c_char, _mode: c_int, ra: usize) -> bool {
    if !ATTACHED.load(Ordering::Acquire) {
        return false;
    }
    if file.is_null() {
        return true;
    }
    // SAFETY: dlopen's argument is a C string.
    let name = unsafe { CStr::from_ptr(file) }.to_bytes();
    if name.contains(&b'$') {
        return false;
    }
    // SAFETY: dladdr1/dlinfo on an address and the loader's own handle;
    // errno is put back (the program's dlopen sets it only on failure).
    unsafe {
        let errno = crate::sys::errno();
        let mut info: libc::Dl_info = core::mem::zeroed();
        let mut map: *mut c_void = core::ptr::null_mut();
        let mut ns: libc::Lmid_t = 0;
        let known = libc::dladdr1(
            ra as *const c_void,
            &mut info,
            (&mut map as *mut *mut c_void).cast(),
            RTLD_DL_LINKMAP,
        ) != 0
            && !map.is_null();
        let base = !known
            || (libc::dlinfo(
                map,
                libc::RTLD_DI_LMID,
                (&mut ns as *mut libc::Lmid_t).cast(),
            ) == 0
                && ns == libc::LM_ID_BASE);
        let mut paths = Paths {
            ra,
            first: true,
            caller_runpath: false,
            other_rpath: false,
        };
        if base && !name.contains(&b'/') {
            libc::dl_iterate_phdr(Some(paths_cb), (&mut paths as *mut Paths).cast());
        }
        crate::sys::set_errno(errno);
        base && !paths.caller_runpath && !paths.other_rpath
    }
}

struct Paths {
    ra: usize,
    first: bool,
    caller_runpath: bool,
    other_rpath: bool,
}

unsafe extern "C" fn paths_cb(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut c_void,
) -> c_int {
    // SAFETY: dl_iterate_phdr passes a valid info; data is our Paths.
    let (info, paths) = unsafe { (&*info, &mut *data.cast::<Paths>()) };
    let main = core::mem::replace(&mut paths.first, false);
    // SAFETY: dlpi_phdr holds dlpi_phnum headers.
    let phdrs = unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let bias = info.dlpi_addr as usize;
    let caller = phdrs.iter().any(|p| {
        let lo = bias + p.p_vaddr as usize;
        p.p_type == libc::PT_LOAD && paths.ra >= lo && paths.ra < lo + p.p_memsz as usize
    });
    let Some(dynamic) = phdrs.iter().find(|p| p.p_type == PT_DYNAMIC) else {
        return 0;
    };
    let mut d = (bias + dynamic.p_vaddr as usize) as *const Dyn;
    // SAFETY: the dynamic section of a loaded object ends with DT_NULL.
    unsafe {
        while (*d).tag != DT_NULL {
            match (*d).tag {
                DT_RUNPATH if caller => paths.caller_runpath = true,
                DT_RPATH if !main => paths.other_rpath = true,
                _ => {}
            }
            d = d.add(1);
        }
    }
    0
}

/// `dlopen` from the runtime, then the new objects' slots redirected.
extern "C" fn dlopen_wrapped(file: *const c_char, mode: c_int) -> *mut c_void {
    // SAFETY: the global scope's dlopen, with the program's arguments.
    let handle = unsafe {
        let real: unsafe extern "C" fn(*const c_char, c_int) -> *mut c_void =
            core::mem::transmute(REAL_DLOPEN.load(Ordering::Relaxed));
        real(file, mode)
    };
    if !handle.is_null() && ATTACHED.load(Ordering::Acquire) {
        let errno = crate::sys::errno();
        let entered = hooks::enter_runtime();
        redirect();
        if entered {
            hooks::leave_runtime();
        }
        crate::sys::set_errno(errno);
    }
    handle
}

struct Walk {
    targets: [(&'static [u8], usize); TARGETS],
    self_lo: usize,
    self_hi: usize,
    objects: usize,
}

const PT_DYNAMIC: u32 = 2;
const PT_GNU_RELRO: u32 = 0x6474_e552;
use crate::elf::{
    Dyn, Rela, Sym, DT_JMPREL, DT_NULL, DT_PLTRELSZ, DT_RELA, DT_RELASZ, DT_STRSZ, DT_STRTAB,
    DT_SYMTAB, R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT,
};

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
