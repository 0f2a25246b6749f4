//! The few OS and glibc facilities the runtime uses, wrapped so that nothing
//! here allocates through the interposed allocator: glibc's real allocator
//! entry points, a spin lock, private memory from `mmap`, raw file reads.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use libc::{c_int, c_void, size_t};

extern "C" {
    // glibc 2.36 exports its allocator under these names too; calling them
    // needs no dlsym bootstrap (dlsym itself may allocate).
    pub fn __libc_malloc(size: size_t) -> *mut c_void;
    pub fn __libc_free(ptr: *mut c_void);
    pub fn __libc_calloc(n: size_t, size: size_t) -> *mut c_void;
    pub fn __libc_realloc(ptr: *mut c_void, size: size_t) -> *mut c_void;
    pub fn __libc_memalign(align: size_t, size: size_t) -> *mut c_void;
    /// glibc's unwinder front end (libgcc's `_Unwind_Backtrace`, which reads
    /// `.eh_frame`): correct on binaries without frame pointers.
    pub fn backtrace(buffer: *mut *mut c_void, size: c_int) -> c_int;
    /// Releases libc's own buffers so they are not reported at exit.
    pub fn __libc_freeres();
}

/// A test-and-test-and-set spin lock. Critical sections in the runtime are a
/// few dozen instructions and never call into libc's allocator.
///
/// [`lock`](SpinLock::lock) hands out a [`SpinGuard`] that releases the lock
/// when dropped, so no early return can leave it held. The one place a lock
/// outlives a scope is fork: the `pthread_atfork` prepare handler takes every
/// lock and forgets the guards ([`core::mem::forget`]), and the parent and
/// child handlers release them with [`force_unlock`](SpinLock::force_unlock).
///
/// Lock order (a thread holding one lock takes only locks later in the
/// list; `fork_prepare` in `lib.rs` and the end-of-process report in
/// `report.rs` take them in this order):
/// 1. `out::BURST` (a connection to the analyzer)
/// 2. `table`'s `STATES_LOCK`, then its `DIR_LOCK`
/// 3. `guard::LOCK` (the guard-page pool)
/// 4. `held::LOCK` (big freed blocks)
/// 5. `stacks::LOCK` (the stack interner)
/// 6. `out::LOCK` (the event stream)
/// 7. `hooks::ARENAS_LOCK`
/// 8. `sys::PRIVATE_LOCK` (the private-memory registry; `map_private`
///    takes it under any of the above)
///
/// `table`'s `ORPHAN_LOCK` is held while a thread without a state of its
/// own does its table work, so it comes before `STATES_LOCK`. `memdx
/// heap`'s profiler (`profile.rs`) takes `FLUSH`, then its 64 slot locks,
/// then `out::BURST` and `stacks::LOCK`. `step::LOCK` may take
/// `held::LOCK` and `guard::LOCK` (it closes a page again); `attach::LOCK`,
/// `profile`'s sampled-block set and the unwinder's cache lock are leaves.
pub struct SpinLock {
    locked: AtomicBool,
}

/// Holds a [`SpinLock`]; dropping it releases the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SpinGuard<'a> {
    lock: &'a SpinLock,
}

impl Drop for SpinGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

/// The thread id of the last thread that waited long for a [`SpinLock`]
/// (set after 64 spins; never cleared: suspend.rs compares it with the thread
/// running the exit report, which sets it only when it waits for a lock).
pub static SPIN_WAITER: core::sync::atomic::AtomicI32 = core::sync::atomic::AtomicI32::new(0);

impl SpinLock {
    pub const fn new() -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
        }
    }

    #[inline]
    pub fn lock(&self) -> SpinGuard<'_> {
        let mut spins = 0u32;
        loop {
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return SpinGuard { lock: self };
            }
            while self.locked.load(Ordering::Relaxed) {
                spins += 1;
                if spins == 65 {
                    // Slow path only: lets threads stopped for the exit
                    // report see that the reporting thread waits for a lock
                    // one of them may hold (suspend.rs).
                    SPIN_WAITER.store(gettid(), Ordering::Release);
                }
                if spins > 64 {
                    // SAFETY: sched_yield has no preconditions.
                    unsafe { libc::sched_yield() };
                } else {
                    core::hint::spin_loop();
                }
            }
        }
    }

    /// Takes the lock if it is free (a signal handler that may have
    /// interrupted the lock's holder on its own thread must not wait).
    #[inline]
    pub fn try_lock(&self) -> Option<SpinGuard<'_>> {
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then_some(SpinGuard { lock: self })
    }

    /// Releases the lock whatever holds it.
    ///
    /// # Safety
    /// Only for the fork handlers: the lock is held through a guard that was
    /// forgotten (the prepare handler's), or its holder no longer exists (a
    /// fork child, whose only thread is the one that forked). Nothing may be
    /// touching the data the lock protects.
    pub unsafe fn force_unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

impl Default for SpinLock {
    fn default() -> Self {
        Self::new()
    }
}

/// A static that is only touched under a [`SpinLock`] (or before threads
/// exist). Only what may move between threads may be shared this way: a
/// raw pointer goes in a [`PrivatePtr`].
pub struct Racy<T>(pub UnsafeCell<T>);
// SAFETY: every access goes through a lock documented at the use site, so
// the value is used by one thread at a time; `T: Send` makes that sound.
unsafe impl<T: Send> Sync for Racy<T> {}

impl<T> Racy<T> {
    pub const fn new(v: T) -> Self {
        Racy(UnsafeCell::new(v))
    }
    pub fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// A pointer into the runtime's own memory ([`map_private`]): a table that
/// is never freed while the process runs (or is unmapped only by the
/// thread that holds its owner's lock), holding plain data and pointers
/// into the same private memory.
pub struct PrivatePtr<T>(*mut T);

// SAFETY: (the one argument for every `PrivatePtr`) the memory behind it
// belongs to no thread. It is mapped by the runtime, not the program, and
// is neither thread-local nor freed behind another thread's back; which
// thread holds the pointer says nothing about who may use the memory.
// Whoever dereferences it still needs the lock of the `Racy` (or the
// atomics) that guard it, as with any shared data.
unsafe impl<T> Send for PrivatePtr<T> {}

impl<T> PrivatePtr<T> {
    pub const fn null() -> Self {
        PrivatePtr(core::ptr::null_mut())
    }
    /// `p` must be null or point into memory from [`map_private`].
    pub const fn new(p: *mut T) -> Self {
        PrivatePtr(p)
    }
    #[inline(always)]
    pub const fn get(&self) -> *mut T {
        self.0
    }
    #[inline(always)]
    pub fn is_null(&self) -> bool {
        self.0.is_null()
    }
}

impl<T> Clone for PrivatePtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for PrivatePtr<T> {}

pub const MAX_PRIVATE: usize = 4096;
/// Address ranges of the runtime's own memory. The leak scan must not treat
/// them as roots: the block table points at every block.
static PRIVATE: Racy<[(usize, usize); MAX_PRIVATE]> = Racy::new([(0, 0); MAX_PRIVATE]);
static PRIVATE_LOCK: SpinLock = SpinLock::new();
/// The thread (its thread pointer) holding PRIVATE_LOCK through
/// [`hold_private`]: its own calls below then do not take it again.
static PRIVATE_OWNER: AtomicUsize = AtomicUsize::new(0);

/// Takes PRIVATE_LOCK unless this thread holds it through [`hold_private`].
fn lock_private() -> Option<SpinGuard<'static>> {
    if PRIVATE_OWNER.load(Ordering::Acquire) == crate::tls::thread_pointer() {
        return None;
    }
    Some(PRIVATE_LOCK.lock())
}

/// Holds the private-memory registry for this thread (the leak scan,
/// before it stops the other threads: a stopped thread must not hold it
/// while the scan maps memory).
/// Ends when the returned guard is dropped.
pub fn hold_private() -> PrivateHold {
    let guard = PRIVATE_LOCK.lock();
    PRIVATE_OWNER.store(crate::tls::thread_pointer(), Ordering::Release);
    PrivateHold { _guard: guard }
}

/// The private-memory registry held by this thread ([`hold_private`]).
#[must_use = "the registry is released as soon as this is dropped"]
pub struct PrivateHold {
    _guard: SpinGuard<'static>,
}

impl Drop for PrivateHold {
    fn drop(&mut self) {
        // Before the guard (a field) releases the lock.
        PRIVATE_OWNER.store(0, Ordering::Release);
    }
}
static PRIVATE_N: AtomicUsize = AtomicUsize::new(0);

/// Maps `len` bytes of zeroed private memory (rounded up to pages), or null.
pub fn map_private(len: usize) -> *mut u8 {
    map_private_flags(len, 0)
}

/// Like [`map_private`], without reserving swap: for large, sparsely
/// touched tables.
pub fn map_private_noreserve(len: usize) -> *mut u8 {
    map_private_flags(len, libc::MAP_NORESERVE)
}

fn map_private_flags(len: usize, flags: libc::c_int) -> *mut u8 {
    let len = round_page(len);
    // SAFETY: anonymous private mapping; the result is checked.
    let p = unsafe {
        raw_mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return core::ptr::null_mut();
    }
    let taken = lock_private();
    // SAFETY: PRIVATE is only touched under PRIVATE_LOCK.
    let table = unsafe { &mut *PRIVATE.get() };
    let registered = match table.iter_mut().find(|s| s.1 == 0) {
        Some(slot) => {
            *slot = (p as usize, len);
            PRIVATE_N.fetch_add(1, Ordering::Relaxed);
            true
        }
        None => false,
    };
    drop(taken);
    if !registered {
        // Unregistered memory would be scanned as a root (and it holds
        // block addresses): better to fail the runtime's allocation.
        // SAFETY: p/len were just mapped.
        unsafe { raw_munmap(p, len) };
        return core::ptr::null_mut();
    }
    p.cast()
}

/// The private-memory registry's lock (the fork handlers take it).
pub fn private_lock() -> SpinGuard<'static> {
    PRIVATE_LOCK.lock()
}
/// Forces it free (fork parent and child).
///
/// # Safety
/// As [`SpinLock::force_unlock`].
pub unsafe fn private_force_unlock() {
    PRIVATE_OWNER.store(0, Ordering::Release);
    // SAFETY: as this function's.
    unsafe { PRIVATE_LOCK.force_unlock() };
}

/// Unmaps memory from [`map_private`].
pub fn unmap_private(p: *mut u8, len: usize) {
    let len = round_page(len);
    let taken = lock_private();
    // SAFETY: PRIVATE is only touched under PRIVATE_LOCK.
    let table = unsafe { &mut *PRIVATE.get() };
    if let Some(slot) = table.iter_mut().find(|s| s.0 == p as usize) {
        *slot = (0, 0);
    }
    drop(taken);
    // SAFETY: p/len came from map_private.
    unsafe { raw_munmap(p.cast(), len) };
}

/// Copies the private ranges into `out`; returns how many.
pub fn private_ranges(out: &mut [(usize, usize)]) -> usize {
    let taken = lock_private();
    // SAFETY: under PRIVATE_LOCK.
    let table = unsafe { &*PRIVATE.get() };
    let mut n = 0;
    for &(a, l) in table.iter().filter(|s| s.1 != 0) {
        if let Some(o) = out.get_mut(n) {
            *o = (a, a + l);
            n += 1;
        }
    }
    drop(taken);
    n
}

pub fn round_page(len: usize) -> usize {
    (len + 4095) & !4095
}

/// A file's contents in a private mapping ([`read_file`]); the caller
/// unmaps it (`unmap_private(buf, cap)`).
#[derive(Clone, Copy)]
pub struct FileText {
    /// The mapping.
    pub buf: *mut u8,
    /// Its size.
    pub cap: usize,
    /// The bytes read into it.
    pub len: usize,
}

/// Reads a whole (small, /proc) file into a private mapping. The caller
/// unmaps it.
pub fn read_file(path: &[u8]) -> Option<FileText> {
    // SAFETY: path is NUL-terminated by the caller's convention (checked).
    if path.last() != Some(&0) {
        return None;
    }
    // SAFETY: valid NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut cap = 1 << 20;
    let mut buf = map_private(cap);
    let mut len = 0usize;
    loop {
        if buf.is_null() {
            // SAFETY: fd is open.
            unsafe { libc::close(fd) };
            return None;
        }
        if len == cap {
            let bigger = map_private(cap * 2);
            if bigger.is_null() {
                unmap_private(buf, cap);
                // SAFETY: fd is open.
                unsafe { libc::close(fd) };
                return None;
            }
            // SAFETY: both mappings are at least `len` long and disjoint.
            unsafe { core::ptr::copy_nonoverlapping(buf, bigger, len) };
            unmap_private(buf, cap);
            buf = bigger;
            cap *= 2;
        }
        // SAFETY: writing into the unused tail of our mapping.
        let n = unsafe { libc::read(fd, buf.add(len).cast(), cap - len) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            break;
        }
        if n == 0 {
            break;
        }
        len += n as usize;
    }
    // SAFETY: fd is open.
    unsafe { libc::close(fd) };
    Some(FileText { buf, cap, len })
}

pub fn errno() -> c_int {
    // SAFETY: __errno_location always returns this thread's errno.
    unsafe { *libc::__errno_location() }
}

pub fn set_errno(v: c_int) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = v };
}

pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// Parses a decimal number at the start of `s`.
pub fn parse_usize(s: &[u8]) -> Option<usize> {
    let mut v: usize = 0;
    let mut any = false;
    for &c in s {
        if !c.is_ascii_digit() {
            break;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as usize)?;
        any = true;
    }
    any.then_some(v)
}

/// Parses a hexadecimal number; returns it and the bytes consumed.
pub fn parse_hex(s: &[u8]) -> (usize, usize) {
    let mut v: usize = 0;
    let mut n = 0;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => break,
        };
        v = v.wrapping_mul(16).wrapping_add(d as usize);
        n += 1;
    }
    (v, n)
}

/// The value of environment variable `name` as bytes, read from `environ`
/// itself without allocating. Only valid after libc set up `environ`.
///
/// Not through `getenv`: an executable may define its own (bash does, and
/// answers from its shell variables once it has them).
pub fn getenv(name: &core::ffi::CStr) -> Option<&'static [u8]> {
    let name = name.to_bytes();
    let mut p = environ_array();
    if p.is_null() {
        return None;
    }
    // SAFETY: environ is a null-terminated array of NUL-terminated strings
    // that live as long as the process (or until the program edits them,
    // racy like every reader's).
    unsafe {
        while !(*p).is_null() {
            let entry = core::ffi::CStr::from_ptr(*p).to_bytes();
            if let Some(value) = entry
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(b"="))
            {
                return Some(value);
            }
            p = p.add(1);
        }
    }
    None
}

/// Removes every entry of the variables `names` from `environ`, in place
/// (the later entries move down; nothing is allocated or freed), so that
/// the program and what it execs see the environment they would see
/// without memdx.
///
/// Not through `unsetenv`: an executable may define its own (bash does,
/// and before its shell variables exist it removes nothing, so every
/// program a bash script ran got memdx's variables and its runtime).
pub fn remove_env(names: &[&core::ffi::CStr]) {
    let base = environ_array();
    if base.is_null() {
        return;
    }
    // SAFETY: as in `getenv`; entries are only moved down within the
    // array, and its null terminator is copied too.
    unsafe {
        let mut read = base;
        let mut write = base;
        loop {
            let entry = *read;
            if entry.is_null() {
                *write = entry;
                break;
            }
            let bytes = core::ffi::CStr::from_ptr(entry).to_bytes();
            let drop = names.iter().any(|n| {
                bytes
                    .strip_prefix(n.to_bytes())
                    .is_some_and(|rest| rest.first() == Some(&b'='))
            });
            if !drop {
                *write = entry;
                write = write.add(1);
            }
            read = read.add(1);
        }
    }
}

/// Where `environ` points now.
fn environ_array() -> *mut *mut core::ffi::c_char {
    extern "C" {
        static environ: *mut *mut core::ffi::c_char;
    }
    // SAFETY: reading the C library's variable.
    unsafe { environ }
}

/// Sleeps `us` microseconds (a nanosleep interrupted by a signal ends it
/// early).
pub fn sleep_us(us: u64) {
    let ts = libc::timespec {
        tv_sec: (us / 1_000_000) as libc::time_t,
        tv_nsec: ((us % 1_000_000) * 1000) as libc::c_long,
    };
    // SAFETY: a valid timespec; no remainder wanted.
    unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
}

/// mmap(2) as a system call: the runtime's own mappings (and the hooks'
/// forwarding) bypass the exported `mmap` hook, so `memdx heap` never
/// counts them as the program's. Same result and errno as glibc's wrapper
/// (which adds nothing on x86-64 but the call).
///
/// # Safety
/// As mmap(2).
pub unsafe fn raw_mmap(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: libc::off_t,
) -> *mut c_void {
    // SAFETY: forwarded; the kernel checks the arguments.
    unsafe { libc::syscall(libc::SYS_mmap, addr, len, prot, flags, fd, off) as *mut c_void }
}

/// munmap(2) as a system call (see [`raw_mmap`]).
///
/// # Safety
/// As munmap(2).
pub unsafe fn raw_munmap(addr: *mut c_void, len: size_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { libc::syscall(libc::SYS_munmap, addr, len) as c_int }
}

/// mremap(2) as a system call (see [`raw_mmap`]); `new_addr` is read by
/// the kernel only with `MREMAP_FIXED`.
///
/// # Safety
/// As mremap(2).
pub unsafe fn raw_mremap(
    old: *mut c_void,
    old_len: size_t,
    new_len: size_t,
    flags: c_int,
    new_addr: *mut c_void,
) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe {
        libc::syscall(libc::SYS_mremap, old, old_len, new_len, flags, new_addr) as *mut c_void
    }
}
