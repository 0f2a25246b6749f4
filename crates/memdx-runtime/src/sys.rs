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
pub struct SpinLock {
    locked: AtomicBool,
}

impl SpinLock {
    pub const fn new() -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
        }
    }

    pub fn lock(&self) {
        let mut spins = 0u32;
        loop {
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
            while self.locked.load(Ordering::Relaxed) {
                spins += 1;
                if spins > 64 {
                    // SAFETY: sched_yield has no preconditions.
                    unsafe { libc::sched_yield() };
                } else {
                    core::hint::spin_loop();
                }
            }
        }
    }

    pub fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }

    /// Forces the lock free (fork child: the holder no longer exists).
    pub fn reset(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

/// A static that is only touched under a [`SpinLock`] (or before threads exist).
pub struct Racy<T>(pub UnsafeCell<T>);
// SAFETY: every access goes through a lock documented at the use site.
unsafe impl<T> Sync for Racy<T> {}

impl<T> Racy<T> {
    pub const fn new(v: T) -> Self {
        Racy(UnsafeCell::new(v))
    }
    pub fn get(&self) -> *mut T {
        self.0.get()
    }
}

pub const MAX_PRIVATE: usize = 4096;
/// Address ranges of the runtime's own memory. The leak scan must not treat
/// them as roots: the block table points at every block.
static PRIVATE: Racy<[(usize, usize); MAX_PRIVATE]> = Racy::new([(0, 0); MAX_PRIVATE]);
static PRIVATE_LOCK: SpinLock = SpinLock::new();
/// The thread (its thread pointer) holding PRIVATE_LOCK through
/// [`hold_private`]: its own calls below then do not take it again.
static PRIVATE_OWNER: AtomicUsize = AtomicUsize::new(0);

fn lock_private() -> bool {
    if PRIVATE_OWNER.load(Ordering::Acquire) == crate::tls::thread_pointer() {
        return false;
    }
    PRIVATE_LOCK.lock();
    true
}

fn unlock_private(taken: bool) {
    if taken {
        PRIVATE_LOCK.unlock();
    }
}

/// Holds the private-memory registry for this thread (the leak scan,
/// before it stops the other threads: a stopped thread must not hold it
/// while the scan maps memory).
pub fn hold_private() {
    PRIVATE_LOCK.lock();
    PRIVATE_OWNER.store(crate::tls::thread_pointer(), Ordering::Release);
}

/// Ends [`hold_private`].
pub fn release_private() {
    PRIVATE_OWNER.store(0, Ordering::Release);
    PRIVATE_LOCK.unlock();
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
        libc::mmap(
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
    unlock_private(taken);
    if !registered {
        // Unregistered memory would be scanned as a root (and it holds
        // block addresses): better to fail the runtime's allocation.
        // SAFETY: p/len were just mapped.
        unsafe { libc::munmap(p, len) };
        return core::ptr::null_mut();
    }
    p.cast()
}

/// Holds the private-memory registry lock (fork prepare).
pub fn private_lock() {
    PRIVATE_LOCK.lock();
}
/// Releases it (fork parent).
pub fn private_unlock() {
    PRIVATE_LOCK.unlock();
}
/// Forces it free (fork child).
pub fn private_reset() {
    PRIVATE_LOCK.reset();
    PRIVATE_OWNER.store(0, Ordering::Release);
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
    unlock_private(taken);
    // SAFETY: p/len came from map_private.
    unsafe { libc::munmap(p.cast(), len) };
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
    unlock_private(taken);
    n
}

pub fn round_page(len: usize) -> usize {
    (len + 4095) & !4095
}

/// Reads a whole (small, /proc) file into a private mapping. Returns the
/// mapping, its capacity and the length read. The caller unmaps it.
pub fn read_file(path: &[u8]) -> Option<(*mut u8, usize, usize)> {
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
    Some((buf, cap, len))
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

/// `getenv` as bytes, without allocating. Only valid after libc set up `environ`.
pub fn getenv(name: &core::ffi::CStr) -> Option<&'static [u8]> {
    // SAFETY: getenv reads environ and returns a pointer into it (or null).
    let p = unsafe { libc::getenv(name.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string that lives as long as the environment entry.
    Some(unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes())
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
