//! Every thread the program creates gets its own alternate signal stack
//! (the main thread's is set up by the constructor), so the fault handler
//! and the fatal report have room even when a thread dies of a stack
//! overflow: `pthread_create` is interposed to start the thread in a
//! trampoline that maps one (`mmap`, never `malloc`; registered as the
//! runtime's private memory, which the leak scan skips), and a thread-specific
//! key's destructor unmaps it when the thread exits.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::access::ALT_STACK;
use crate::sys;

static REAL: AtomicUsize = AtomicUsize::new(0);
/// `pthread_key_t` + 1 (0: no key).
static KEY: AtomicUsize = AtomicUsize::new(0);

type StartFn = extern "C" fn(*mut c_void) -> *mut c_void;
type CreateFn = unsafe extern "C" fn(
    *mut libc::pthread_t,
    *const libc::pthread_attr_t,
    StartFn,
    *mut c_void,
) -> c_int;

/// Resolves glibc's `pthread_create` and creates the key; call from the
/// constructor.
pub fn init() {
    // SAFETY: dlsym with a static name; creating a key with a plain C
    // destructor.
    unsafe {
        let p = libc::dlsym(libc::RTLD_NEXT, c"pthread_create".as_ptr());
        REAL.store(p as usize, Ordering::Release);
        let mut key: libc::pthread_key_t = 0;
        if libc::pthread_key_create(&mut key, Some(release)) == 0 {
            KEY.store(key as usize + 1, Ordering::Release);
        }
    }
}

#[repr(C)]
struct Start {
    f: StartFn,
    arg: *mut c_void,
}

/// Maps an alternate signal stack for this thread (a guard page below it)
/// and remembers it for `release`. Nothing when the thread has one.
fn give_alt_stack() {
    // SAFETY: this thread's alternate stack; the mapping is checked.
    unsafe {
        let mut cur: libc::stack_t = core::mem::zeroed();
        if libc::sigaltstack(core::ptr::null(), &mut cur) != 0
            || cur.ss_flags & libc::SS_DISABLE == 0
        {
            return;
        }
        // The runtime's private memory: the leak scan must not take the
        // handler's frames on it for the program's roots.
        let len = ALT_STACK + 4096;
        let base: *mut c_void = sys::map_private(len).cast();
        if base.is_null() {
            return;
        }
        libc::mprotect(base, 4096, libc::PROT_NONE);
        let ss = libc::stack_t {
            ss_sp: base.cast::<u8>().add(4096).cast(),
            ss_flags: 0,
            ss_size: ALT_STACK,
        };
        if libc::sigaltstack(&ss, core::ptr::null_mut()) != 0 {
            sys::unmap_private(base.cast(), len);
            return;
        }
        let key = KEY.load(Ordering::Acquire);
        if key != 0 {
            libc::pthread_setspecific((key - 1) as libc::pthread_key_t, base);
        }
    }
}

/// Key destructor: the thread is exiting; drop its alternate stack.
extern "C" fn release(base: *mut c_void) {
    if base.is_null() {
        return;
    }
    // SAFETY: base is the mapping give_alt_stack made for this thread;
    // the alternate stack is disabled first (not while on it: a thread
    // exiting from a signal handler keeps it mapped).
    unsafe {
        let mut cur: libc::stack_t = core::mem::zeroed();
        if libc::sigaltstack(core::ptr::null(), &mut cur) != 0
            || cur.ss_flags & libc::SS_ONSTACK != 0
        {
            return;
        }
        let off = libc::stack_t {
            ss_sp: core::ptr::null_mut(),
            ss_flags: libc::SS_DISABLE,
            ss_size: 0,
        };
        libc::sigaltstack(&off, core::ptr::null_mut());
        sys::unmap_private(base.cast(), ALT_STACK + 4096);
    }
}

extern "C" fn trampoline(p: *mut c_void) -> *mut c_void {
    // SAFETY: p is the Start pthread_create allocated for this thread.
    let Start { f, arg } = unsafe { p.cast::<Start>().read() };
    // SAFETY: allocated with __libc_malloc below.
    unsafe { sys::__libc_free(p) };
    give_alt_stack();
    f(arg)
}

/// pthread_create(3), starting the thread in a trampoline that gives it an
/// alternate signal stack.
///
/// # Safety
/// pthread_create(3)'s contract.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn pthread_create(
    t: *mut libc::pthread_t,
    attr: *const libc::pthread_attr_t,
    f: StartFn,
    arg: *mut c_void,
) -> c_int {
    let mut real = REAL.load(Ordering::Acquire);
    if real == 0 {
        // Called before the constructor (another library's constructor).
        // SAFETY: dlsym with a static name.
        real = unsafe { libc::dlsym(libc::RTLD_NEXT, c"pthread_create".as_ptr()) } as usize;
        if real == 0 {
            return libc::EAGAIN;
        }
    }
    // Before the thread exists: from now on live bits change atomically.
    crate::table::set_threaded();
    // SAFETY: glibc's pthread_create with the caller's arguments, or with
    // the trampoline and a Start from glibc's allocator (not a program
    // block: the runtime's own, freed by the new thread).
    unsafe {
        let create: CreateFn = core::mem::transmute(real);
        let s = sys::__libc_malloc(core::mem::size_of::<Start>()).cast::<Start>();
        if s.is_null() {
            return create(t, attr, f, arg);
        }
        s.write(Start { f, arg });
        let r = create(t, attr, trampoline, s.cast());
        if r != 0 {
            sys::__libc_free(s.cast());
        }
        r
    }
}
