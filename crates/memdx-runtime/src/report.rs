//! The end-of-process report: freeres, stop the other threads, scan the
//! roots and the heap (see `leak`), send heap totals and loss records.
//!
//! Lock order while the world is stopped: all table shards, then the stack
//! interner and the output lock, then the other threads are suspended. A
//! suspended thread therefore holds none of the runtime's locks; the runtime
//! itself allocates only private memory (`mmap`) from here on.

use core::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

use memdx_events::{Corruption, CorruptionKind, HeapTotals, Heuristic, LeakState, LossRecord};

use crate::hooks;
use crate::leak::{Marker, ScanBlock, INDIRECT, POSSIBLE, REACHABLE, UNREACHED};
use crate::roots::{
    is_mmapped_chunk, main_arena, merge_ranges, parse_maps, scan_minus, Mapping, PrivVec,
};
use crate::suspend::{for_each_task, suspend_others, MAX_THREADS, SLOTS, SLOT_NEXT};
use crate::sys;
use crate::table;
use crate::{out, stacks};

static DONE: AtomicBool = AtomicBool::new(false);
/// The thread holding the runtime's locks for the scan (0: none). A fault
/// of that thread that the scan did not expect (not one of `catch`'s)
/// must not go through the fault handler's report: it would wait for
/// those locks for ever.
static REPORTING_TID: AtomicI32 = AtomicI32::new(0);

/// Whether this thread holds the runtime's locks for the scan.
pub fn reporting_here() -> bool {
    let tid = REPORTING_TID.load(Ordering::Acquire);
    tid != 0 && tid == sys::gettid()
}
/// The pid whose report this is (a vfork child shares our memory but not
/// our pid, and must not run the report).
pub static OWNER_PID: AtomicI32 = AtomicI32::new(0);
/// `MEMDX_DEBUG_ROOTS`: print which root made which block reachable.
pub static DEBUG_ROOTS: AtomicBool = AtomicBool::new(false);
/// `--leak-check=no` turns the scan off (totals are still sent).
pub static LEAK_CHECK: AtomicBool = AtomicBool::new(true);

/// Set when the report runs from the runtime's ELF destructor, i.e. inside
/// `exit()`, which flushes stdio itself. Any other report without a fatal
/// signal comes from `_exit`/`_Exit`, which must not flush it.
static FROM_EXIT: AtomicBool = AtomicBool::new(false);

/// The report at `exit()` (the runtime's ELF destructor).
pub fn final_report_at_exit() {
    FROM_EXIT.store(true, Ordering::Relaxed);
    final_report(None);
}

/// Forget that the report ran (fork child).
pub fn reset_in_child() {
    DONE.store(false, Ordering::Relaxed);
    REPORTING_TID.store(0, Ordering::Relaxed);
}

/// The signal a process is dying from, as its handler saw it.
pub struct Fatal {
    pub signo: i32,
    pub code: i32,
    /// The fault address (`si_addr`).
    pub addr: usize,
    /// The interrupted pc and stack pointer.
    pub pc: usize,
    pub sp: usize,
    /// Where this thread's stack is scanned from: `sp`, or, for a signal
    /// raised from a program's handler on its alternate stack, the stack
    /// pointer that handler's signal interrupted.
    pub scan_sp: usize,
    /// The signal's context (the kernel's ucontext).
    pub ctx: *mut libc::c_void,
}

/// Runs the end-of-process report once. `fatal` describes the signal when
/// the process is dying from one.
pub fn final_report(fatal: Option<&Fatal>) {
    // SAFETY: getpid has no preconditions.
    if OWNER_PID.load(Ordering::Relaxed) != unsafe { libc::getpid() } {
        return;
    }
    if DONE.swap(true, Ordering::AcqRel) {
        return;
    }
    crate::effects::write_sites();
    let entered = hooks::enter_runtime();
    // Memory the program made unreadable (protected or unmapped heap
    // pages, a file mapping past the end of its file) and a smashed stack
    // are read fault-tolerantly from here on (see `catch`).
    let armed = crate::catch::Armed::new();
    // The whole report is one burst: its own connection, held from here to
    // the end (and taken before any other lock of the runtime).
    out::burst(|| report_body(fatal, entered));
    drop(armed);
    if entered {
        hooks::leave_runtime();
    }
}

/// The end-of-process report, inside its burst.
fn report_body(fatal: Option<&Fatal>, entered: bool) {
    if let Some(&Fatal {
        signo,
        code,
        addr,
        pc,
        sp,
        ctx,
        ..
    }) = fatal
    {
        // As Valgrind: when the stack pointer itself is not readable (the
        // stack overflowed past its end) only the faulting instruction is
        // shown; a stack overflow of the main thread is named before and
        // after "Process terminating" ("can't grow stack to" the page of
        // the stack pointer less the 128-byte red zone).
        let stack = if crate::access::readable(sp, 8) {
            after_syscall(crate::access::capture_fault_stack(pc, ctx), pc)
        } else {
            crate::stacks::intern(&[pc as u64])
        };
        out::ensure_modules();
        out::ensure_stack(stack);
        if signo == libc::SIGSEGV
            && code == crate::access::SEGV_MAPERR
            && crate::access::is_stack_overflow(addr, sp)
            && hooks::thread_no() == 1
        {
            let base = (sp.wrapping_sub(128) & !4095) as u64;
            out::emit(|e| e.stack_overflow(1, base));
        }
        out::emit(|e| e.fatal_signal(signo, code, addr as u64, stack));
        out::wait_ack();
    } else {
        // Look libstdc++'s freeres up as runtime work (a failed dlsym
        // allocates its error message), then run both as the program would.
        // SAFETY: dlsym with a static name.
        let cxx = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"_ZN9__gnu_cxx9__freeresEv".as_ptr()) };
        // freeres frees buffers other threads may still be using: run it
        // only when this thread is alone (Valgrind stops the others first;
        // here they would still run after the report).
        let count = || {
            let mut threads = 0;
            for_each_task(|_| threads += 1);
            threads
        };
        let mut threads = count();
        // A thread the program has joined can still be listed for a
        // moment: pthread_join returns when the kernel clears the thread's
        // tid, and the task goes from /proc only once it has finished
        // exiting (seen on a loaded machine: the joined thread's stack,
        // not freed by the skipped freeres, kept its leak reachable).
        // Such a thread gets up to 10 ms to go.
        for _ in 0..20 {
            if threads <= 1 {
                break;
            }
            sys::sleep_us(500);
            threads = count();
        }
        if threads <= 1 {
            if !FROM_EXIT.load(Ordering::Relaxed) {
                discard_stdio_buffers();
            }
            leave_for_freeres(entered);
            run_freeres(cxx);
            hooks::enter_runtime();
        }
    }
    // The scan of this thread's stack starts at the caller of exit() (or
    // _exit()) when the program is exiting normally: Valgrind scans at exit_group, when
    // exit()'s own frames (and _dl_fini's, and ours) are gone, and stale
    // copies of pointers in them would otherwise keep lost blocks reachable.
    // Otherwise it starts at this frame: the runtime's own deeper frames
    // (which hold block addresses while scanning) are never scanned.
    let marker_frame = 0usize;
    let here = &marker_frame as *const usize as usize;
    // On a fatal signal, the scan starts at the interrupted stack pointer:
    // the signal frame (and the registers saved in it) is not the
    // program's memory; Valgrind has no such frame on the client stack.
    let my_sp = match fatal {
        None => exit_caller_sp().filter(|&sp| sp > here).unwrap_or(here),
        Some(f) if f.scan_sp != 0 => f.scan_sp,
        Some(_) => here,
    };
    let scanned = LEAK_CHECK.load(Ordering::Relaxed);
    let totals = scan_and_send(my_sp, scanned);
    out::ensure_modules();
    out::emit(|e| {
        e.heap_totals(&totals);
        e.report_end(scanned);
    });
    out::wait_ack();
}

/// A signal that interrupted a system call the kernel will restart leaves
/// the pc on the `syscall` instruction (0f 05); Valgrind shows the thread
/// after it (where it is while in the kernel). Frame 0 of `stack` is moved
/// there.
fn after_syscall(stack: u32, pc: usize) -> u32 {
    // Read through the kernel: the pc may be a wild jump's target.
    let mut code = [0u8; 2];
    let at_syscall = pc != 0 && crate::access::read_own(pc, &mut code) == 2 && code == [0x0f, 0x05];
    if !at_syscall {
        return stack;
    }
    let Some(rec) = crate::stacks::get(stack) else {
        return stack;
    };
    let n = (rec.n as usize).min(rec.frames.len());
    let mut frames = [0u64; crate::stacks::CAPTURE];
    for (d, s) in frames.iter_mut().zip(rec.frames.iter().take(n)) {
        *d = *s;
    }
    frames[0] = pc as u64 + 2;
    crate::stacks::intern(frames.get(..n.max(1)).unwrap_or(&[]))
}

extern "C" {
    fn _Unwind_Backtrace(
        cb: extern "C" fn(*mut libc::c_void, *mut libc::c_void) -> libc::c_int,
        arg: *mut libc::c_void,
    ) -> libc::c_int;
    fn _Unwind_GetIP(ctx: *mut libc::c_void) -> usize;
    fn _Unwind_GetCFA(ctx: *mut libc::c_void) -> usize;
}

/// `exit`'s address, looked up in the constructor.
pub static EXIT_FN: AtomicUsize = AtomicUsize::new(0);

extern "C" fn find_exit_frame(ctx: *mut libc::c_void, arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: the unwinder passes a live context; arg is our [usize; 2].
    unsafe {
        let state = &mut *arg.cast::<[usize; 2]>();
        if state[0] == 0 {
            // The previous frame was exit(): in this callback the CFA is
            // exit()'s own, the stack pointer of its caller at the call.
            state[1] = _Unwind_GetCFA(ctx);
            return 5;
        }
        let ip = _Unwind_GetIP(ctx);
        let mut info: libc::Dl_info = core::mem::zeroed();
        // ip - 1: the call instruction. exit() ends with a call to a
        // noreturn function, so its return address is past its last byte.
        let found = ip > 1 && libc::dladdr((ip - 1) as *const libc::c_void, &mut info) != 0;
        if found && info.dli_saddr as usize == state[0] {
            state[0] = 0; // take the CFA from the next frame
        }
    }
    0
}

/// The stack pointer of the program's call to exit(), _Exit() or _exit()
/// (the runtime's own two), if this thread is inside one of them.
fn exit_caller_sp() -> Option<usize> {
    let ours: [unsafe extern "C" fn(libc::c_int) -> !; 2] = [hooks::_Exit, hooks::_exit];
    let fns = [
        EXIT_FN.load(Ordering::Relaxed),
        ours[0] as usize,
        ours[1] as usize,
    ];
    fns.into_iter().filter(|&f| f != 0).find_map(|f| {
        let mut state = [f, 0usize];
        // SAFETY: the callback only reads the context and writes `state`.
        unsafe { _Unwind_Backtrace(find_exit_frame, (&mut state as *mut [usize; 2]).cast()) };
        (state[1] != 0).then_some(state[1])
    })
}

/// The start of glibc's `struct _IO_FILE` (public layout,
/// `bits/types/struct_FILE.h`), up to the fields used here.
#[repr(C)]
struct IoFile {
    flags: libc::c_int,
    read_ptr: *mut u8,
    read_end: *mut u8,
    read_base: *mut u8,
    write_base: *mut u8,
    write_ptr: *mut u8,
    write_end: *mut u8,
    buf_base: *mut u8,
    buf_end: *mut u8,
    save_base: *mut u8,
    backup_base: *mut u8,
    save_end: *mut u8,
    markers: *mut libc::c_void,
    chain: *mut IoFile,
    fileno: libc::c_int,
    flags2: libc::c_int,
    old_offset: libc::off_t,
    cur_column: libc::c_ushort,
    vtable_offset: libc::c_schar,
    shortbuf: [libc::c_char; 1],
    lock: *mut libc::c_void,
    offset: libc::off64_t,
    codecvt: *mut libc::c_void,
    wide_data: *mut libc::c_void,
    freeres_list: *mut IoFile,
    freeres_buf: *mut libc::c_void,
    pad5: libc::size_t,
    mode: libc::c_int,
}

extern "C" {
    /// glibc's list of open streams (exported, GLIBC_2.2.5).
    static _IO_list_all: *mut IoFile;
}

/// Before `__libc_freeres` on the `_exit` path: freeres flushes every stdio
/// stream (and seeks input streams back to their logical position), which
/// `_exit` never does. Pending output and read-ahead are dropped first, so
/// the program's output is what it is without memdx (Valgrind 3.19 prints
/// it). Only byte-oriented streams are touched; the thread is alone.
fn discard_stdio_buffers() {
    // SAFETY: walking glibc's stream list while no other thread runs; the
    // fields written are the public buffer pointers of each FILE.
    unsafe {
        let mut fp = _IO_list_all;
        let mut guard = 0;
        while !fp.is_null() && guard < 100_000 {
            let f = &mut *fp;
            if f.mode <= 0 {
                f.write_ptr = f.write_base;
                f.read_end = f.read_ptr;
            }
            fp = f.chain;
            guard += 1;
        }
    }
}

fn leave_for_freeres(entered: bool) {
    // freeres frees through our hooks: let them capture stacks normally.
    if entered {
        hooks::leave_runtime();
    }
}

fn run_freeres(cxx: *mut libc::c_void) {
    // SAFETY: glibc's documented cleanup hook for memory checkers, and
    // libstdc++'s equivalent when it is loaded.
    unsafe {
        sys::__libc_freeres();
        // freeres unloads glibc's own modules (NSS, iconv) without dlclose.
        crate::unwind::modules_may_have_changed();
        let f = cxx;
        if !f.is_null() {
            let f: extern "C" fn() = core::mem::transmute(f);
            f();
        }
    }
}

/// Whether block `q`'s header can be read directly.
fn header_readable(q: usize) -> bool {
    crate::catch::range_readable(q - table::HEADER, q)
}

/// `/proc/self/mem`, opened when a header is on a protected page (-1: not
/// open). Reading it ignores page protections, as a debugger's reads do,
/// so such a block keeps its size and stack; an unmapped page stays
/// unreadable.
static MEM_FD: AtomicI32 = AtomicI32::new(-1);

/// Block `q`'s header (see [`table::read_block`]), also from a page the
/// program protected; `None` when it cannot be read at all (unmapped).
fn read_header(q: usize) -> Option<table::Header> {
    if header_readable(q) {
        // SAFETY: a block start with a readable header.
        return Some(unsafe { table::read_block(q) });
    }
    let mut fd = MEM_FD.load(Ordering::Relaxed);
    if fd < 0 {
        // SAFETY: open(2) on a NUL-terminated path.
        fd = unsafe { libc::open(c"/proc/self/mem".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        MEM_FD.store(fd, Ordering::Relaxed);
    }
    let mut words = [0u64; 2];
    let at = (q - table::HEADER) as libc::off_t;
    // SAFETY: pread into a local buffer of 16 bytes.
    let n = unsafe { libc::pread(fd, words.as_mut_ptr().cast(), 16, at) };
    (n == 16).then(|| table::decode_header(q, words[0], words[1]))
}

/// Closes what [`read_header`] opened.
fn close_mem() {
    let fd = MEM_FD.swap(-1, Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: our own descriptor.
        unsafe { libc::close(fd) };
    }
}

/// Whether `len` bytes from `at` (a block's redzone, a freed block) can be
/// read.
fn bytes_readable(at: usize, len: usize) -> bool {
    crate::catch::range_readable(at, at + len)
}

/// Live and quarantined blocks (not the runtime's own).
fn count_blocks() -> (usize, usize) {
    let mut n = 0usize;
    table::for_each_live(&mut |q| {
        if read_header(q).is_some_and(|h| h.block.kind & table::INTERNAL == 0) {
            n += 1;
        }
    });
    crate::guard::for_each_live(&mut |_| n += 1);
    let mut freed = 0usize;
    table::for_each_state(&mut |s| s.for_each_freed(&mut |_| freed += 1));
    (n, freed)
}

/// The leak scan's working memory (private mappings: nothing here may
/// allocate through the program's allocator).
struct ScanArrays {
    blocks: PrivVec<ScanBlock>,
    mark: PrivVec<u32>,
    excluded: PrivVec<(usize, usize)>,
    maps: PrivVec<Mapping>,
    vtables: PrivVec<(usize, usize)>,
    privs: PrivVec<(usize, usize)>,
    /// The counts it was sized for.
    live: usize,
    freed: usize,
}

impl ScanArrays {
    fn new(live: usize, freed: usize) -> Option<ScanArrays> {
        Some(ScanArrays {
            blocks: PrivVec::with_capacity(live)?,
            mark: PrivVec::with_capacity(3 * live + 16)?,
            excluded: PrivVec::with_capacity(live + freed + sys::MAX_PRIVATE + 2048)?,
            maps: PrivVec::with_capacity(65536)?,
            vtables: PrivVec::with_capacity(65536)?,
            privs: PrivVec::with_capacity(sys::MAX_PRIVATE)?,
            live,
            freed,
        })
    }
}

/// Stops the program's other threads, checks redzones and poison, takes
/// the heap totals and (when `scan`) classifies every live block, then
/// sends what was found. Everything is read while the other threads are
/// stopped: running, they would free and reuse blocks under the checks
/// (false "invalid write" reports) and the counts (a heap summary that
/// disagrees with the leak summary). Under Valgrind they are gone by then.
fn scan_and_send(my_sp: usize, scan: bool) -> HeapTotals {
    let t0 = now_nanos();
    let tables = table::lock_all();
    REPORTING_TID.store(sys::gettid(), Ordering::Release);
    // A first count sizes the scan's memory, with room for what the other
    // threads allocate before they are stopped.
    let (n, freed) = count_blocks();
    let mut arrays = if scan && n > 0 {
        ScanArrays::new(n + n / 8 + 64, freed + freed / 8 + 64)
    } else {
        None
    };
    // In the lock order (see `sys::SpinLock`); released in reverse below.
    let guard_pool = crate::guard::lock();
    // Block contents and canaries are read below.
    crate::guard::unwatch_all_locked();
    let interner = stacks::lock();
    let output = out::lock();
    let arenas = hooks::ARENAS_LOCK.lock();
    // No stopped thread may hold the private-memory registry: the scan
    // maps memory (a bigger array, the maps text) after stopping them.
    let private = sys::hold_private();
    let others = suspend_others();

    let damage = collect_damage();
    let (n2, freed2) = count_blocks();
    let fits = arrays
        .as_ref()
        .is_some_and(|a| n2 <= a.live && freed2 <= a.freed);
    if scan && n2 > 0 && !fits {
        arrays = ScanArrays::new(n2, freed2).or(arrays);
    }
    let c = table::totals();
    let mut totals = HeapTotals {
        in_use_bytes: 0,
        in_use_blocks: 0,
        allocs: c.allocs,
        frees: c.frees,
        bytes_allocated: c.bytes_allocated,
    };
    // Live blocks are counted from the bitmap (frees of unknown pointers
    // and failed reallocs count, as under Valgrind, so the counters'
    // differences are not it).
    let mut unread_blocks = 0u64;
    table::for_each_live(&mut |q| {
        let Some(table::Header { block: b, .. }) = read_header(q) else {
            unread_blocks += 1;
            return;
        };
        if b.kind & table::INTERNAL == 0 {
            totals.in_use_blocks += 1;
            totals.in_use_bytes += b.size as u64;
        }
    });
    crate::guard::for_each_live(&mut |b| {
        totals.in_use_blocks += 1;
        totals.in_use_bytes += b.size as u64;
    });
    let scanned = match &mut arrays {
        Some(a) if n2 > 0 => Some(scan_heap(a, my_sp, others)),
        _ => None,
    };
    drop(private);
    drop(arenas);
    drop(output);
    drop(interner);
    drop(guard_pool);
    REPORTING_TID.store(0, Ordering::Release);
    drop(tables);
    close_mem();

    emit_damage(&damage);
    if let (Some(a), Some(scanned)) = (&mut arrays, scanned) {
        let nblocks = a.blocks.len as u64;
        send_loss_records(a.blocks.as_mut_slice());
        let nanos = now_nanos().saturating_sub(t0);
        out::emit(|e| e.scan_stats(nblocks, scanned.root_bytes as u64, nanos));
        if scanned.skipped_root_bytes + scanned.skipped_block_bytes > 0 || unread_blocks > 0 {
            out::emit(|e| {
                e.scan_skipped(
                    scanned.skipped_root_bytes as u64,
                    scanned.skipped_block_bytes as u64,
                    unread_blocks,
                )
            });
        }
    }
    totals
}

/// What the scan read and what it could not.
struct Scanned {
    root_bytes: usize,
    skipped_root_bytes: usize,
    skipped_block_bytes: usize,
}

/// Collects the live blocks and the roots and marks what they reach
/// (other threads stopped).
fn scan_heap(a: &mut ScanArrays, my_sp: usize, others: usize) -> Scanned {
    let ScanArrays {
        blocks,
        mark,
        excluded,
        maps,
        vtables,
        privs,
        ..
    } = a;

    table::for_each_live(&mut |q| {
        let Some(table::Header {
            block: b, offset, ..
        }) = read_header(q)
        else {
            return;
        };
        if b.kind & table::INTERNAL != 0 {
            return;
        }
        blocks.push(ScanBlock {
            start: b.ptr,
            size: b.size,
            stack: b.stack,
            unreadable: !crate::catch::range_readable(b.ptr, b.ptr + 1),
            ..Default::default()
        });
        let raw = q - offset;
        if is_mmapped_chunk(raw) {
            excluded.push((raw & !4095, sys::round_page(b.ptr + b.size)));
        }
    });
    crate::guard::for_each_live(&mut |b| {
        blocks.push(ScanBlock {
            start: b.ptr,
            size: b.size,
            stack: b.stack,
            ..Default::default()
        });
    });
    if let Some(pool) = crate::guard::range() {
        excluded.push(pool);
    }
    table::for_each_state(&mut |s| {
        s.for_each_freed(&mut |q| {
            if !header_readable(q) {
                return;
            }
            // SAFETY: quarantined blocks keep their headers.
            let b = unsafe { table::read_block(q) }.block;
            // SAFETY: as above.
            let raw = unsafe { table::raw_of(q) };
            if is_mmapped_chunk(raw) {
                excluded.push((raw & !4095, sys::round_page(b.ptr + b.size)));
            }
        })
    });
    {
        // SAFETY: under ARENAS_LOCK.
        let arenas = unsafe { &*hooks::ARENAS.get() };
        for &a in arenas.iter().take(hooks::ARENAS_N.load(Ordering::Relaxed)) {
            excluded.push((a, a + (64 << 20)));
        }
    }
    // The maps text stays mapped until the scan is over: its own mapping is
    // in the maps it lists, and must not disappear under the scanner.
    // This thread's view: once the main thread has left with pthread_exit,
    // /proc/self (the thread group leader, a zombie) lists no mappings.
    let maps_text = match sys::read_file(b"/proc/thread-self/maps\0") {
        Some((buf, cap, len)) if len > 0 => Some((buf, cap, len)),
        other => {
            if let Some((buf, cap, _)) = other {
                sys::unmap_private(buf, cap);
            }
            sys::read_file(b"/proc/self/maps\0")
        }
    };
    if let Some((buf, _, len)) = maps_text {
        // SAFETY: read_file returns a mapping holding `len` bytes.
        let text = unsafe { core::slice::from_raw_parts(buf, len) };
        parse_maps(text, maps);
    }
    privs.len = sys::private_ranges(privs.full_capacity());
    for &r in privs.as_slice() {
        excluded.push(r);
    }
    if let Some(arena) = main_arena(maps.as_slice()) {
        excluded.push(arena);
    }
    excluded.as_mut_slice().sort_unstable();
    merge_ranges(excluded);
    blocks.as_mut_slice().sort_unstable_by_key(|b| b.start);
    for m in maps.as_slice().iter().filter(|m| m.ro_file) {
        vtables.push((m.start, m.end));
    }

    let mut root_bytes = 0usize;
    let (skipped_root_bytes, skipped_block_bytes);
    // Thread stack pointers: ours and each suspended thread's.
    let suspended = SLOT_NEXT
        .load(Ordering::Acquire)
        .min(MAX_THREADS)
        .min(others);
    // SAFETY: the suspended threads wrote their slots before acknowledging.
    let slots = unsafe { &*SLOTS.get() };
    {
        let mut m = Marker::new(blocks.as_mut_slice(), mark.as_mut_slice_full());
        m.vtable_ranges = vtables.as_slice();
        if DEBUG_ROOTS.load(Ordering::Relaxed) {
            m.on_root_hit = Some(debug_root_hit);
            debug_root_hit(my_sp, 0);
        }
        for map in maps.as_slice() {
            if map.heap || !map.writable {
                continue;
            }
            let sp = core::iter::once(my_sp)
                .chain(slots.iter().take(suspended).map(|s| s.sp))
                .find(|&sp| sp >= map.start && sp < map.end);
            let start = sp.unwrap_or(map.start);
            root_bytes += scan_minus(&mut m, start, map.end, excluded.as_slice());
        }
        for s in slots.iter().take(suspended) {
            for &r in s.regs.iter() {
                m.root_word(r);
            }
        }
        let pool = crate::guard::range().map_or(0..0, |(lo, hi)| {
            let all = &*m.blocks;
            all.partition_point(|b| b.start < lo)..all.partition_point(|b| b.start < hi)
        });
        m.finish_first(pool);
        skipped_root_bytes = m.skipped_root_bytes;
        skipped_block_bytes = m.skipped_block_bytes;
    }
    if let Some((buf, cap, _)) = maps_text {
        sys::unmap_private(buf, cap);
    }
    Scanned {
        root_bytes: root_bytes - skipped_root_bytes,
        skipped_root_bytes,
        skipped_block_bytes,
    }
}

/// Verifies every live block's redzone and every quarantined block's poison
/// and canary (Valgrind-style errors, before the heap summary). Other
/// threads must be stopped.
fn collect_damage() -> [Option<Corruption>; 8] {
    let mut found = [None; 8];
    let mut n = 0usize;
    let mut note = |c: Corruption| {
        if let Some(slot) = found.get_mut(n) {
            *slot = Some(c);
            n += 1;
        }
    };
    let rz = table::redzone();
    table::for_each_live(&mut |q| {
        if !header_readable(q) {
            return;
        }
        // SAFETY: a set bit means a complete header and a canary.
        let b = unsafe { table::read_block(q) }.block;
        if b.kind & table::INTERNAL != 0 || !bytes_readable(q + b.size, rz) {
            return;
        }
        // SAFETY: as above. A write before a block never freed changed
        // its check word (found here, as a freed block's is on its free).
        if let Some((first, last)) =
            // SAFETY: as above.
            unsafe { table::header_damage(q) }
                .filter(|_| !table::underflow_reported(q, false))
        {
            note(Corruption {
                kind: CorruptionKind::BeforeStart,
                block_start: q as u64,
                block_size: b.size as u64,
                first: first as u64,
                last: last as u64,
                stack: 0,
                alloc_stack: b.stack,
                free_stack: 0,
            });
        }
        // SAFETY: as above.
        if unsafe { table::overrun_reported(q) } {
            return;
        }
        // SAFETY: as above.
        if let Some((first, last)) = unsafe { table::check_canary(q, b.size) } {
            note(Corruption {
                kind: CorruptionKind::AfterEnd,
                block_start: q as u64,
                block_size: b.size as u64,
                first: first as u64,
                last: last as u64,
                stack: 0,
                alloc_stack: b.stack,
                free_stack: 0,
            });
        }
    });
    crate::guard::for_each_live_damage(&mut |b, before, after| {
        if b.kind & table::INTERNAL != 0 {
            return;
        }
        let edges = [
            (CorruptionKind::BeforeStart, before),
            (CorruptionKind::AfterEnd, after),
        ];
        for (kind, range) in edges {
            if let Some((first, last)) = range {
                note(Corruption {
                    kind,
                    block_start: b.ptr as u64,
                    block_size: b.size as u64,
                    first: first as u64,
                    last: last as u64,
                    stack: 0,
                    alloc_stack: b.stack,
                    free_stack: 0,
                });
            }
        }
    });
    table::for_each_state(&mut |s| {
        s.for_each_freed(&mut |q| {
            if !header_readable(q) {
                return;
            }
            // SAFETY: as below.
            let b = unsafe { table::read_block(q) }.block;
            if !bytes_readable(q, b.size + rz) {
                return;
            }
            // SAFETY: quarantined blocks keep header, poison and canary.
            for c in unsafe { hooks::freed_corruptions(q) }.into_iter().flatten() {
                note(c);
            }
        })
    });
    found
}

/// Sends what [`collect_damage`] found.
fn emit_damage(found: &[Option<Corruption>; 8]) {
    for c in found.iter().flatten() {
        out::ensure_modules();
        out::ensure_stack(c.stack);
        out::ensure_stack(c.alloc_stack);
        out::ensure_stack(c.free_stack);
        out::emit(|e| e.corruption(c));
        out::wait_ack();
    }
}

fn now_nanos() -> u64 {
    // SAFETY: clock_gettime into a local.
    unsafe {
        let mut ts: libc::timespec = core::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

/// Prints "root ADDR -> block START" on stderr without allocating.
pub fn debug_root_hit(root: usize, block: usize) {
    let mut buf = [0u8; 64];
    let mut n = 0;
    let mut put = |s: &[u8], buf: &mut [u8; 64]| {
        for &c in s {
            if n < buf.len() {
                buf[n] = c;
                n += 1;
            }
        }
    };
    let hex = |v: usize| {
        let mut h = [b'0'; 16];
        for (i, d) in h.iter_mut().enumerate() {
            let nib = (v >> ((15 - i) * 4)) & 15;
            *d = b"0123456789abcdef"[nib];
        }
        h
    };
    put(b"memdx-debug: root 0x", &mut buf);
    put(&hex(root), &mut buf);
    put(b" -> 0x", &mut buf);
    put(&hex(block), &mut buf);
    put(b"\n", &mut buf);
    // SAFETY: writing our own buffer to stderr.
    unsafe { libc::write(2, buf.as_ptr().cast(), n) };
}

fn state_of(s: u8) -> LeakState {
    match s {
        UNREACHED => LeakState::DefinitelyLost,
        INDIRECT => LeakState::IndirectlyLost,
        POSSIBLE => LeakState::PossiblyLost,
        _ => LeakState::StillReachable,
    }
}

fn send_loss_records(blocks: &mut [ScanBlock]) {
    // Heuristic totals first (reachable blocks only).
    let mut heur = [(0u64, 0u64); 5];
    for b in blocks.iter() {
        if b.state == REACHABLE && b.heuristic != 0 {
            if let Some(h) = heur.get_mut(b.heuristic as usize) {
                h.0 += b.size as u64;
                h.1 += 1;
            }
        }
    }
    for (i, &(bytes, n)) in heur.iter().enumerate() {
        if let (Some(h), true) = (Heuristic::from_u8(i as u8), n > 0) {
            out::emit(|e| e.heuristic_total(h, bytes, n));
        }
    }
    blocks.sort_unstable_by_key(|b| (b.state, b.stack));
    let mut i = 0;
    while i < blocks.len() {
        let first = blocks[i];
        let mut rec = LossRecord {
            state: state_of(first.state),
            stack: first.stack,
            bytes: 0,
            indirect_bytes: 0,
            blocks: 0,
        };
        while let Some(b) = blocks.get(i) {
            if b.state != first.state || b.stack != first.stack {
                break;
            }
            rec.bytes += b.size as u64;
            if b.state == UNREACHED {
                rec.indirect_bytes += b.indirect;
            }
            rec.blocks += 1;
            i += 1;
        }
        out::ensure_stack(rec.stack);
        out::emit(|e| e.loss_record(&rec));
    }
}
