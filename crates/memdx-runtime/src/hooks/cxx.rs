//! The C++ `operator new` and `operator delete` family, under their
//! Itanium-mangled names.

// The C++ operators keep their Itanium-mangled names (that is what is
// interposed), which are not snake case.
#![allow(non_snake_case)]

use libc::{c_void, size_t};
use memdx_events::{AllocKind, Dealloc};

use super::alloc::{aligned, alloc, throw_bad_alloc};
use super::release::release;

macro_rules! op_new {
    ($name:ident, $kind:expr, throwing) => {
        /// A C++ `operator new` variant.
        ///
        /// # Safety
        /// C++ allocator contract.
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C-unwind" fn $name(size: size_t) -> *mut c_void {
            // SAFETY: forwarded contract.
            let p = unsafe { alloc(size, $kind, entry!($name)) };
            if p.is_null() {
                // SAFETY: throws std::bad_alloc or aborts.
                unsafe { throw_bad_alloc() }
            }
            p
        }
    };
    ($name:ident, $kind:expr, nothrow) => {
        /// A C++ `operator new(std::nothrow)` variant.
        ///
        /// # Safety
        /// C++ allocator contract.
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $name(size: size_t, _nt: *const c_void) -> *mut c_void {
            // SAFETY: forwarded contract.
            unsafe { alloc(size, $kind, entry!($name)) }
        }
    };
}

macro_rules! op_new_aligned {
    ($name:ident, $kind:expr, throwing) => {
        /// A C++ aligned `operator new` variant.
        ///
        /// # Safety
        /// C++ allocator contract.
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C-unwind" fn $name(size: size_t, align: size_t) -> *mut c_void {
            // SAFETY: forwarded contract.
            let p = unsafe { aligned(align, size, $kind, entry!($name)) };
            if p.is_null() {
                // SAFETY: throws std::bad_alloc or aborts.
                unsafe { throw_bad_alloc() }
            }
            p
        }
    };
    ($name:ident, $kind:expr, nothrow) => {
        /// A C++ aligned `operator new(std::nothrow)` variant.
        ///
        /// # Safety
        /// C++ allocator contract.
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $name(
            size: size_t,
            align: size_t,
            _nt: *const c_void,
        ) -> *mut c_void {
            // SAFETY: forwarded contract.
            unsafe { aligned(align, size, $kind, entry!($name)) }
        }
    };
}

op_new!(_Znwm, AllocKind::New, throwing);
op_new!(_Znam, AllocKind::NewArray, throwing);
op_new!(_ZnwmRKSt9nothrow_t, AllocKind::New, nothrow);
op_new!(_ZnamRKSt9nothrow_t, AllocKind::NewArray, nothrow);
op_new_aligned!(_ZnwmSt11align_val_t, AllocKind::New, throwing);
op_new_aligned!(_ZnamSt11align_val_t, AllocKind::NewArray, throwing);
op_new_aligned!(_ZnwmSt11align_val_tRKSt9nothrow_t, AllocKind::New, nothrow);
op_new_aligned!(
    _ZnamSt11align_val_tRKSt9nothrow_t,
    AllocKind::NewArray,
    nothrow
);

macro_rules! op_delete {
    ($name:ident, $dealloc:expr, ($($arg:ident: $ty:ty),*)) => {
        /// A C++ `operator delete` variant.
        ///
        /// # Safety
        /// C++ allocator contract.
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $name(p: *mut c_void $(, $arg: $ty)*) {
            $(let _ = $arg;)*
            // SAFETY: forwarded contract.
            unsafe { release(p, $dealloc, entry!($name)) }
        }
    };
}

op_delete!(_ZdlPv, Dealloc::Delete, ());
op_delete!(_ZdaPv, Dealloc::DeleteArray, ());
op_delete!(_ZdlPvm, Dealloc::Delete, (_size: size_t));
op_delete!(_ZdaPvm, Dealloc::DeleteArray, (_size: size_t));
op_delete!(_ZdlPvRKSt9nothrow_t, Dealloc::Delete, (_nt: *const c_void));
op_delete!(_ZdaPvRKSt9nothrow_t, Dealloc::DeleteArray, (_nt: *const c_void));
op_delete!(_ZdlPvSt11align_val_t, Dealloc::Delete, (_al: size_t));
op_delete!(_ZdaPvSt11align_val_t, Dealloc::DeleteArray, (_al: size_t));
op_delete!(_ZdlPvmSt11align_val_t, Dealloc::Delete, (_size: size_t, _al: size_t));
op_delete!(_ZdaPvmSt11align_val_t, Dealloc::DeleteArray, (_size: size_t, _al: size_t));
op_delete!(_ZdlPvSt11align_val_tRKSt9nothrow_t, Dealloc::Delete, (_al: size_t, _nt: *const c_void));
op_delete!(_ZdaPvSt11align_val_tRKSt9nothrow_t, Dealloc::DeleteArray, (_al: size_t, _nt: *const c_void));
