//! Old symbol versions of hooked C library functions. glibc exports a few
//! functions the runtime hooks (`handoff`) in two versions that behave
//! differently: `realpath@GLIBC_2.2.5` fails with EINVAL for a null
//! buffer where `realpath@@GLIBC_2.3` allocates one, the old
//! `posix_spawn` reports a failed exec through the child's exit status
//! 127 where the new one returns the error, and so on. The runtime's
//! hooks are unversioned, so a program built against an old version binds
//! to them too, and they forward to glibc's default version: the program
//! would behave differently under memdx.
//!
//! At start, [`init`] reads each loaded object's imports (its relocations'
//! symbols, their version indices and its version needs) and records the
//! objects that import one of [`OLD`]; [`redirect`] then gives a hook
//! called from such an object glibc's old version (`dlvsym`). No lock and
//! no allocation at call time. Not covered: objects loaded later with
//! `dlopen` (they get the default version, as before), and
//! `memcpy@GLIBC_2.2.5` (glibc's memmove, for binaries older than glibc
//! 2.14), which `strmem`'s checked memcpy forwards to the new memcpy.

use core::ffi::{c_char, c_int, c_void, CStr};
use core::sync::atomic::{AtomicUsize, Ordering};

/// The hooked functions whose older version differs from the default,
/// with that version.
const OLD: [(&CStr, &CStr); 10] = [
    (c"realpath", c"GLIBC_2.2.5"),
    (c"posix_spawn", c"GLIBC_2.2.5"),
    (c"posix_spawnp", c"GLIBC_2.2.5"),
    (c"sched_getaffinity", c"GLIBC_2.3.3"),
    (c"sched_setaffinity", c"GLIBC_2.3.3"),
    (c"pthread_getaffinity_np", c"GLIBC_2.3.3"),
    (c"pthread_setaffinity_np", c"GLIBC_2.3.3"),
    (c"timer_create", c"GLIBC_2.2.5"),
    (c"timer_settime", c"GLIBC_2.2.5"),
    (c"timer_gettime", c"GLIBC_2.2.5"),
];

/// An object that imports old versions: its address range and which
/// ([`OLD`] indices as bits).
struct Importer {
    lo: AtomicUsize,
    hi: AtomicUsize,
    mask: AtomicUsize,
}

const MAX_IMPORTERS: usize = 16;

static IMPORTERS: [Importer; MAX_IMPORTERS] = [const {
    Importer {
        lo: AtomicUsize::new(0),
        hi: AtomicUsize::new(0),
        mask: AtomicUsize::new(0),
    }
}; MAX_IMPORTERS];
static N_IMPORTERS: AtomicUsize = AtomicUsize::new(0);

/// glibc's old versions, by [`OLD`] index (0: not found).
static OLD_FN: [AtomicUsize; OLD.len()] = [const { AtomicUsize::new(0) }; OLD.len()];

/// The function a hook for `name` (null-terminated) called from return
/// address `ret` jumps to: glibc's old version when the caller's object
/// imports it, else `f`.
pub fn redirect(name: &[u8], ret: usize, f: usize) -> usize {
    let n = N_IMPORTERS.load(Ordering::Acquire);
    if n == 0 {
        return f;
    }
    let Some(k) = OLD.iter().position(|(o, _)| o.to_bytes_with_nul() == name) else {
        return f;
    };
    redirect_index(k, ret, f, n)
}

fn redirect_index(k: usize, ret: usize, f: usize, n: usize) -> usize {
    for imp in IMPORTERS.iter().take(n) {
        let (lo, hi) = (
            imp.lo.load(Ordering::Relaxed),
            imp.hi.load(Ordering::Relaxed),
        );
        if ret >= lo && ret < hi && imp.mask.load(Ordering::Relaxed) & (1 << k) != 0 {
            let old = OLD_FN[k].load(Ordering::Relaxed);
            return if old != 0 { old } else { f };
        }
    }
    f
}

use crate::elf::{
    Dyn, Rela, Sym, DT_JMPREL, DT_PLTRELSZ, DT_RELA, DT_RELASZ, DT_STRTAB, DT_SYMTAB,
};

/// ELF64 version need records.
#[repr(C)]
struct Verneed {
    version: u16,
    cnt: u16,
    file: u32,
    aux: u32,
    next: u32,
}

#[repr(C)]
struct Vernaux {
    hash: u32,
    flags: u16,
    other: u16,
    name: u32,
    next: u32,
}

const DT_VERSYM: i64 = 0x6fff_fff0;
const DT_VERNEED: i64 = 0x6fff_fffe;
const DT_VERNEEDNUM: i64 = 0x6fff_ffff;

extern "C" {
    fn dlvsym(handle: *mut c_void, symbol: *const c_char, version: *const c_char) -> *mut c_void;
}

/// Finds the objects that import an old version; call from the
/// constructor.
pub fn init() {
    for (k, (name, version)) in OLD.iter().enumerate() {
        // SAFETY: dlvsym with static NUL-terminated strings.
        let f = unsafe { dlvsym(libc::RTLD_NEXT, name.as_ptr(), version.as_ptr()) } as usize;
        OLD_FN[k].store(f, Ordering::Relaxed);
    }
    // SAFETY: the callback reads the loaded objects' headers only.
    unsafe { libc::dl_iterate_phdr(Some(visit), core::ptr::null_mut()) };
}

/// A dynamic-section address: relocated by the loader for most tags,
/// not for others (DT_VERNEED).
fn at(base: usize, p: u64) -> usize {
    let p = p as usize;
    if p < base {
        base + p
    } else {
        p
    }
}

unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _: usize, _: *mut c_void) -> c_int {
    // SAFETY: dl_iterate_phdr's argument.
    let info = unsafe { &*info };
    let base = info.dlpi_addr as usize;
    let (mut lo, mut hi, mut dynamic) = (usize::MAX, 0usize, 0usize);
    for i in 0..usize::from(info.dlpi_phnum) {
        // SAFETY: dlpi_phnum headers at dlpi_phdr.
        let ph = unsafe { &*info.dlpi_phdr.add(i) };
        let start = base + ph.p_vaddr as usize;
        if ph.p_type == libc::PT_LOAD {
            lo = lo.min(start);
            hi = hi.max(start + ph.p_memsz as usize);
        } else if ph.p_type == libc::PT_DYNAMIC {
            dynamic = start;
        }
    }
    if dynamic == 0 || lo >= hi {
        return 0;
    }
    // SAFETY: the object's dynamic section, mapped (PT_DYNAMIC).
    let mask = unsafe { old_imports(base, dynamic as *const Dyn) };
    if mask != 0 {
        let n = N_IMPORTERS.load(Ordering::Relaxed);
        if let Some(imp) = IMPORTERS.get(n) {
            imp.lo.store(lo, Ordering::Relaxed);
            imp.hi.store(hi, Ordering::Relaxed);
            imp.mask.store(mask, Ordering::Relaxed);
            N_IMPORTERS.store(n + 1, Ordering::Release);
        }
    }
    0
}

/// The [`OLD`] entries (as bits) that the object with this dynamic
/// section imports in their old version.
///
/// # Safety
/// `dynamic` is a loaded object's dynamic section, `base` its load bias.
unsafe fn old_imports(base: usize, dynamic: *const Dyn) -> usize {
    let (mut strtab, mut symtab, mut versym, mut verneed, mut verneednum) = (0, 0, 0, 0, 0);
    let (mut rela, mut relasz, mut jmprel, mut pltrelsz) = (0, 0, 0, 0);
    let mut d = dynamic;
    loop {
        // SAFETY: the dynamic section, which ends with DT_NULL.
        let (tag, v) = unsafe { ((*d).tag, (*d).val) };
        match tag {
            0 => break,
            DT_STRTAB => strtab = at(base, v),
            DT_SYMTAB => symtab = at(base, v),
            DT_RELA => rela = at(base, v),
            DT_RELASZ => relasz = v as usize,
            DT_JMPREL => jmprel = at(base, v),
            DT_PLTRELSZ => pltrelsz = v as usize,
            DT_VERSYM => versym = at(base, v),
            DT_VERNEED => verneed = at(base, v),
            DT_VERNEEDNUM => verneednum = v as usize,
            _ => {}
        }
        d = d.wrapping_add(1);
    }
    if strtab == 0 || symtab == 0 || versym == 0 || verneed == 0 {
        return 0;
    }
    // Imports of another version of the same function: the hook cannot
    // tell which call meant which, and keeps the default.
    let (mut mask, mut other) = (0usize, 0usize);
    for (table, size) in [(rela, relasz), (jmprel, pltrelsz)] {
        if table == 0 {
            continue;
        }
        for r in 0..size / core::mem::size_of::<Rela>() {
            // SAFETY: the object's relocations.
            let info = unsafe { (*(table as *const Rela).add(r)).info };
            let sym = (info >> 32) as usize;
            if sym == 0 {
                continue;
            }
            // SAFETY: the object's symbol, string and version tables.
            let (name, ver) = unsafe {
                let s = &*(symtab as *const Sym).add(sym);
                let name = CStr::from_ptr((strtab + s.name as usize) as *const c_char);
                let ver = *(versym as *const u16).add(sym) & 0x7fff;
                (name, ver)
            };
            let Some(k) = OLD.iter().position(|(o, _)| *o == name) else {
                continue;
            };
            // SAFETY: the object's version needs.
            if unsafe { needs_version(verneed, verneednum, strtab, ver) } == Some(OLD[k].1) {
                mask |= 1 << k;
            } else {
                other |= 1 << k;
            }
        }
    }
    mask & !other
}

/// The name of version index `ver` in the object's version needs.
///
/// # Safety
/// `verneed` (with `count` entries) and `strtab` are the object's.
unsafe fn needs_version(
    verneed: usize,
    count: usize,
    strtab: usize,
    ver: u16,
) -> Option<&'static CStr> {
    if ver < 2 {
        return None;
    }
    let mut vn = verneed;
    for _ in 0..count {
        // SAFETY: an Elf64_Verneed of the object.
        let need = unsafe { &*(vn as *const Verneed) };
        let mut aux = vn + need.aux as usize;
        for _ in 0..need.cnt {
            // SAFETY: an Elf64_Vernaux of the object.
            let a = unsafe { &*(aux as *const Vernaux) };
            if a.other == ver {
                // SAFETY: a name in the object's string table.
                return Some(unsafe {
                    CStr::from_ptr((strtab + a.name as usize) as *const c_char)
                });
            }
            if a.next == 0 {
                break;
            }
            aux += a.next as usize;
        }
        if need.next == 0 {
            break;
        }
        vn += need.next as usize;
    }
    None
}
