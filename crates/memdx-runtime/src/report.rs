//! The end-of-process report: freeres, stop the other threads, scan the
//! roots and the heap (see `leak`), send heap totals and loss records.
//!
//! Lock order while the world is stopped: all table shards, then the stack
//! interner and the output lock, then the other threads are suspended. A
//! suspended thread therefore holds none of the runtime's locks; the runtime
//! itself allocates only private memory (`mmap`) from here on.

use core::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

use memdx_events::{HeapTotals, Heuristic, LeakState, LossRecord};

use crate::hooks;
use crate::leak::{Marker, ScanBlock, INDIRECT, POSSIBLE, REACHABLE, UNREACHED};
use crate::sys::{self, Racy};
use crate::table::{self, TABLE};
use crate::{out, stacks};

static DONE: AtomicBool = AtomicBool::new(false);
/// The pid whose report this is (a vfork child shares our memory but not
/// our pid, and must not run the report).
pub static OWNER_PID: AtomicI32 = AtomicI32::new(0);
/// `MEMDX_DEBUG_ROOTS`: print which root made which block reachable.
pub static DEBUG_ROOTS: AtomicBool = AtomicBool::new(false);
/// `--leak-check=no` turns the scan off (totals are still sent).
pub static LEAK_CHECK: AtomicBool = AtomicBool::new(true);

/// Forget that the report ran (fork child).
pub fn reset_in_child() {
    DONE.store(false, Ordering::Relaxed);
}

// ---- stopping the other threads -------------------------------------------

const MAX_THREADS: usize = 4096;
const NREGS: usize = 23;
/// Signal used to suspend threads during the scan.
const SUSPEND_SIG: i32 = 62;

#[derive(Clone, Copy)]
struct Slot {
    sp: usize,
    regs: [usize; NREGS],
}

static SLOTS: Racy<[Slot; MAX_THREADS]> = Racy::new(
    [Slot {
        sp: 0,
        regs: [0; NREGS],
    }; MAX_THREADS],
);
static SLOT_NEXT: AtomicUsize = AtomicUsize::new(0);
static ACKS: AtomicUsize = AtomicUsize::new(0);
static RESUME: AtomicI32 = AtomicI32::new(0);

extern "C" fn suspend_handler(_sig: i32, _info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let i = SLOT_NEXT.fetch_add(1, Ordering::AcqRel);
    if i < MAX_THREADS && !ctx.is_null() {
        // SAFETY: the kernel passes a ucontext_t; slot i is ours alone.
        unsafe {
            let uc = &*ctx.cast::<libc::ucontext_t>();
            let slot = &mut (*SLOTS.get())[i];
            for (r, g) in slot.regs.iter_mut().zip(uc.uc_mcontext.gregs.iter()) {
                *r = *g as usize;
            }
            slot.sp = uc.uc_mcontext.gregs[libc::REG_RSP as usize] as usize;
        }
    }
    ACKS.fetch_add(1, Ordering::AcqRel);
    // Stay stopped until resumed, or for two seconds at most: the report runs
    // at process exit, and the other threads are not resumed (under Valgrind
    // they are gone by then; resumed, one of them could end the process
    // first, with its own exit status). The time limit covers an exiting
    // thread that needs a lock one of them holds.
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    let mut waited = 0;
    while RESUME.load(Ordering::Acquire) == 0 && waited < 20 {
        // SAFETY: futex wait on our own word, 100 ms at a time.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                RESUME.as_ptr(),
                libc::FUTEX_WAIT,
                0,
                &ts as *const libc::timespec,
            );
        }
        waited += 1;
    }
}

/// Signals every other thread and waits until each has saved its registers
/// (or a second has passed). Returns how many threads were signalled.
fn suspend_others() -> usize {
    SLOT_NEXT.store(0, Ordering::Relaxed);
    ACKS.store(0, Ordering::Relaxed);
    RESUME.store(0, Ordering::Relaxed);
    // SAFETY: installing a handler for a signal the runtime owns for the
    // duration of the scan.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = suspend_handler as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigfillset(&mut sa.sa_mask);
        libc::sigaction(SUSPEND_SIG, &sa, core::ptr::null_mut());
    }
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let me = sys::gettid();
    let mut sent = 0;
    for_each_task(|tid| {
        if tid != me {
            // SAFETY: tgkill to a thread of our own process.
            if unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, SUSPEND_SIG) } == 0 {
                sent += 1;
            }
        }
    });
    if sent > 0 {
        let mut waited = 0;
        while ACKS.load(Ordering::Acquire) < sent && waited < 1000 {
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 1_000_000,
            };
            // SAFETY: plain sleep.
            unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
            waited += 1;
        }
    }
    sent
}

/// Lets the stopped threads go on (unused: they stay stopped until the
/// process ends or their time limit passes; see `suspend_handler`).
#[allow(dead_code)]
fn resume_others() {
    RESUME.store(1, Ordering::Release);
    // SAFETY: wake every waiter on our futex word.
    unsafe {
        libc::syscall(libc::SYS_futex, RESUME.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
    }
}

/// Calls `f` with each thread id in /proc/self/task (raw getdents64: no malloc).
fn for_each_task(mut f: impl FnMut(i32)) {
    // SAFETY: open/getdents64/close on our own buffer.
    unsafe {
        let fd = libc::open(
            c"/proc/self/task".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return;
        }
        let mut buf = [0u8; 8192];
        loop {
            let n = libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len());
            if n <= 0 {
                break;
            }
            let mut off = 0usize;
            while off + 19 < n as usize {
                let reclen = u16::from_le_bytes([buf[off + 16], buf[off + 17]]) as usize;
                let name = &buf[off + 19..(off + reclen).min(n as usize)];
                if let Some(tid) = sys::parse_usize(name) {
                    f(tid as i32);
                }
                if reclen == 0 {
                    break;
                }
                off += reclen;
            }
        }
        libc::close(fd);
    }
}

// ---- roots ------------------------------------------------------------------

/// A growable array in private memory (no malloc).
struct PrivVec<T: Copy> {
    ptr: *mut T,
    cap: usize,
    len: usize,
}

impl<T: Copy> PrivVec<T> {
    fn with_capacity(cap: usize) -> Option<Self> {
        let cap = cap.max(16);
        let ptr = sys::map_private(cap * core::mem::size_of::<T>()).cast::<T>();
        (!ptr.is_null()).then_some(PrivVec { ptr, cap, len: 0 })
    }
    fn push(&mut self, v: T) -> bool {
        if self.len == self.cap {
            return false;
        }
        // SAFETY: len < cap.
        unsafe { self.ptr.add(self.len).write(v) };
        self.len += 1;
        true
    }
    fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: the first len elements are initialized.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
    fn as_slice(&self) -> &[T] {
        // SAFETY: the first len elements are initialized.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T: Copy> Drop for PrivVec<T> {
    fn drop(&mut self) {
        sys::unmap_private(self.ptr.cast(), self.cap * core::mem::size_of::<T>());
    }
}

/// One line of /proc/self/maps that may be a root.
#[derive(Clone, Copy)]
struct Mapping {
    start: usize,
    end: usize,
    heap: bool,
    /// libc's writable data (where glibc keeps `main_arena`).
    libc: bool,
    writable: bool,
    /// Read-only data of a loaded object (where vtables end up after RELRO).
    ro_file: bool,
}

fn parse_maps(text: &[u8], out: &mut PrivVec<Mapping>) {
    for line in text.split(|&c| c == b'\n') {
        let (start, n1) = sys::parse_hex(line);
        let rest = line.get(n1 + 1..).unwrap_or(&[]);
        let (end, n2) = sys::parse_hex(rest);
        let perms = rest.get(n2 + 1..n2 + 5).unwrap_or(&[]);
        if n1 == 0 || n2 == 0 || perms.len() < 4 || perms[0] != b'r' {
            continue;
        }
        let writable = perms[1] == b'w';
        let heap = line.ends_with(b"[heap]");
        let libc = line.windows(8).any(|w| w == b"/libc.so");
        let file = line.windows(2).any(|w| w == b" /");
        out.push(Mapping {
            start,
            end,
            heap,
            libc,
            writable,
            ro_file: !writable && perms[2] != b'x' && file,
        });
    }
}

/// Scans `[start, end)` minus the sorted, merged `excluded` ranges;
/// returns the bytes scanned.
fn scan_minus(m: &mut Marker<'_>, start: usize, end: usize, excluded: &[(usize, usize)]) -> usize {
    let mut scanned = 0;
    let mut cur = start;
    let first = excluded.partition_point(|e| e.1 <= start);
    for &(a, b) in excluded.get(first..).unwrap_or(&[]) {
        if a >= end {
            break;
        }
        if a > cur {
            // SAFETY: part of a readable rw mapping.
            unsafe { m.scan_root(cur, a) };
            scanned += a - cur;
        }
        cur = cur.max(b);
    }
    if cur < end {
        // SAFETY: part of a readable rw mapping.
        unsafe { m.scan_root(cur, end) };
        scanned += end - cur;
    }
    scanned
}

// ---- the report ---------------------------------------------------------

/// Runs the end-of-process report once. `fatal` carries (signo, si_code,
/// fault address, pc, sp) when the process is dying from a signal.
pub fn final_report(fatal: Option<(i32, i32, usize, usize, usize)>) {
    // SAFETY: getpid has no preconditions.
    if OWNER_PID.load(Ordering::Relaxed) != unsafe { libc::getpid() } {
        return;
    }
    if DONE.swap(true, Ordering::AcqRel) {
        return;
    }
    let entered = hooks::enter_runtime();
    if let Some((signo, code, addr, pc, _)) = fatal {
        let stack = stacks::capture_from_signal(pc);
        out::ensure_modules();
        out::ensure_stack(stack);
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
        let mut threads = 0;
        for_each_task(|_| threads += 1);
        if threads <= 1 {
            leave_for_freeres(entered);
            run_freeres(cxx);
            hooks::enter_runtime();
        }
    }
    // The scan of this thread's stack starts at the caller of exit() when
    // the program is exiting normally: Valgrind scans at exit_group, when
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
        Some((.., sp)) if sp > here => sp,
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
    if entered {
        hooks::leave_runtime();
    }
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

/// The stack pointer of exit()'s caller, if this thread is inside exit().
fn exit_caller_sp() -> Option<usize> {
    let exit_fn = EXIT_FN.load(Ordering::Relaxed);
    if exit_fn == 0 {
        return None;
    }
    let mut state = [exit_fn, 0usize];
    // SAFETY: the callback only reads the context and writes `state`.
    unsafe { _Unwind_Backtrace(find_exit_frame, (&mut state as *mut [usize; 2]).cast()) };
    (state[1] != 0).then_some(state[1])
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
        let f = cxx;
        if !f.is_null() {
            let f: extern "C" fn() = core::mem::transmute(f);
            f();
        }
    }
}

fn scan_and_send(my_sp: usize, scan: bool) -> HeapTotals {
    let t0 = now_nanos();
    table::lock_all();
    let mut totals = HeapTotals::default();
    let mut freed = 0usize;
    for s in TABLE.iter() {
        // SAFETY: all shards are locked.
        let c = unsafe { s.counters_locked() };
        totals.in_use_bytes += c.live_bytes;
        totals.in_use_blocks += c.live_blocks;
        totals.allocs += c.allocs;
        totals.frees += c.frees;
        totals.bytes_allocated += c.bytes_allocated;
        // SAFETY: all shards are locked.
        unsafe { s.for_each_freed_locked(&mut |_| freed += 1) };
    }
    if !scan || totals.in_use_blocks == 0 {
        table::unlock_all();
        return totals;
    }
    let n = totals.in_use_blocks as usize;
    let (
        Some(mut blocks),
        Some(mut mark),
        Some(mut excluded),
        Some(mut maps),
        Some(mut vtables),
        Some(mut privs),
    ) = (
        PrivVec::<ScanBlock>::with_capacity(n),
        PrivVec::<u32>::with_capacity(3 * n + 16),
        PrivVec::<(usize, usize)>::with_capacity(n + freed + sys::MAX_PRIVATE + 2048),
        PrivVec::<Mapping>::with_capacity(65536),
        PrivVec::<(usize, usize)>::with_capacity(65536),
        PrivVec::<(usize, usize)>::with_capacity(sys::MAX_PRIVATE),
    )
    else {
        table::unlock_all();
        return totals;
    };
    stacks::lock();
    out::lock();
    hooks::ARENAS_LOCK.lock();
    let others = suspend_others();

    for s in TABLE.iter() {
        // SAFETY: all shards are locked.
        unsafe {
            s.for_each_live_locked(&mut |b| {
                if b.kind & table::INTERNAL != 0 {
                    return;
                }
                blocks.push(ScanBlock {
                    start: b.ptr,
                    size: b.size,
                    stack: b.stack,
                    ..Default::default()
                });
                if is_mmapped_chunk(b.ptr) {
                    excluded.push((b.ptr & !4095, sys::round_page(b.ptr + b.size)));
                }
            });
            s.for_each_freed_locked(&mut |f| {
                if is_mmapped_chunk(f.ptr) {
                    excluded.push((f.ptr & !4095, sys::round_page(f.ptr + f.size)));
                }
            });
        }
    }
    {
        // SAFETY: under ARENAS_LOCK.
        let arenas = unsafe { &*hooks::ARENAS.get() };
        for &a in arenas.iter().take(hooks::ARENAS_N.load(Ordering::Relaxed)) {
            excluded.push((a, a + (64 << 20)));
        }
    }
    // The maps text stays mapped until the scan is over: its own mapping is
    // in the maps it lists, and must not disappear under the scanner.
    let maps_text = sys::read_file(b"/proc/self/maps\0");
    if let Some((buf, _, len)) = maps_text {
        // SAFETY: read_file returns a mapping holding `len` bytes.
        let text = unsafe { core::slice::from_raw_parts(buf, len) };
        parse_maps(text, &mut maps);
    }
    privs.len = sys::private_ranges(privs.full_capacity());
    for &r in privs.as_slice() {
        excluded.push(r);
    }
    if let Some(arena) = main_arena(maps.as_slice()) {
        excluded.push(arena);
    }
    excluded.as_mut_slice().sort_unstable();
    merge_ranges(&mut excluded);
    blocks.as_mut_slice().sort_unstable_by_key(|b| b.start);
    for m in maps.as_slice().iter().filter(|m| m.ro_file) {
        vtables.push((m.start, m.end));
    }

    let mut root_bytes = 0usize;
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
        m.finish();
    }
    if let Some((buf, cap, _)) = maps_text {
        sys::unmap_private(buf, cap);
    }
    hooks::ARENAS_LOCK.unlock();
    out::unlock();
    stacks::unlock();
    table::unlock_all();

    let nblocks = blocks.len as u64;
    send_loss_records(blocks.as_mut_slice());
    let nanos = now_nanos().saturating_sub(t0);
    out::emit(|e| e.scan_stats(nblocks, root_bytes as u64, nanos));
    totals
}

fn now_nanos() -> u64 {
    // SAFETY: clock_gettime into a local.
    unsafe {
        let mut ts: libc::timespec = core::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

impl PrivVec<u32> {
    /// The whole capacity as a slice (the mark stack).
    fn as_mut_slice_full(&mut self) -> &mut [u32] {
        // SAFETY: the mapping is zero-initialized and cap long.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.cap) }
    }
}

impl PrivVec<(usize, usize)> {
    /// The whole capacity as a slice, to be filled by a callee.
    fn full_capacity(&mut self) -> &mut [(usize, usize)] {
        // SAFETY: the mapping is zero-initialized (valid pairs) and cap long.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.cap) }
    }
}

/// Offset of `top` in glibc 2.36's `struct malloc_state`, and its size.
const ARENA_TOP_OFFSET: usize = 96;
const ARENA_SIZE: usize = 2200;

/// Finds glibc's `main_arena` (not exported) in libc's writable data: the
/// word that points at the top chunk, which ends exactly at the end of the
/// brk heap. The arena's bin and top pointers point at chunk headers, which
/// lie inside the preceding block; scanned as a root they would make lost
/// blocks look possibly lost, so the arena is not a root (Valgrind's own
/// heap is not a root either).
fn main_arena(maps: &[Mapping]) -> Option<(usize, usize)> {
    let heap = maps.iter().find(|m| m.heap)?;
    let mut prev_libc_end = 0;
    for m in maps {
        if !m.writable {
            continue;
        }
        let candidate = m.libc || (m.start == prev_libc_end && prev_libc_end != 0);
        prev_libc_end = if m.libc { m.end } else { 0 };
        if !candidate {
            continue;
        }
        let mut a = m.start;
        while a + 8 <= m.end {
            // SAFETY: a readable rw mapping of libc.
            let t = unsafe { core::ptr::read_volatile(a as *const usize) };
            if t >= heap.start && t + 16 <= heap.end && t % 16 == 0 {
                // SAFETY: t + 8 is inside the heap mapping.
                let size = unsafe { core::ptr::read_volatile((t + 8) as *const usize) } & !7;
                if t + size == heap.end && a >= m.start + ARENA_TOP_OFFSET {
                    let start = a - ARENA_TOP_OFFSET;
                    return Some((start, start + ARENA_SIZE));
                }
            }
            a += 8;
        }
    }
    None
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

fn merge_ranges(v: &mut PrivVec<(usize, usize)>) {
    let s = v.as_mut_slice();
    let mut w = 0usize;
    for r in 0..s.len() {
        let cur = s[r];
        if w > 0 && cur.0 <= s[w - 1].1 {
            s[w - 1].1 = s[w - 1].1.max(cur.1);
        } else {
            s[w] = cur;
            w += 1;
        }
    }
    v.len = w;
}

fn is_mmapped_chunk(p: usize) -> bool {
    // SAFETY: glibc's chunk size word precedes every block it returned.
    unsafe { *((p - 8) as *const usize) & 2 != 0 }
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
