//! The `printf` family's `%s` arguments. Valgrind does not replace
//! printf: its errors come from glibc's `__vfprintf_internal` calling its
//! internal strlen (strnlen when a precision is given) on each `%s`
//! string, which memcheck replaces: "Invalid read of size 1" at strlen,
//! by `__vfprintf_internal`, (by `buffered_vfprintf` for an unbuffered
//! stream, by `__vsprintf_internal` and the like for the string and
//! descriptor variants), by printf, by the program.
//!
//! Each hook is a few bytes of assembly, as `handoff`'s: it saves the
//! argument registers, `rax` (a variadic call's vector-register count)
//! and `xmm0`-`xmm7` (its floating arguments), calls [`memdx_printf`],
//! puts them all back and jumps to glibc's function with the program's
//! arguments, stack and return address. [`memdx_printf`] walks the format
//! (no formatting, no allocation): each conversion takes its argument
//! from the registers, the stack or the `va_list` as the x86-64 calling
//! convention places it, and each `%s` string is checked as Valgrind's
//! strlen or strnlen reads it (`streams::check_string_in`). A format with
//! positional arguments (`%1$s`) or a conversion it does not know is not
//! checked from there on. Wide strings (`%ls`, `%S`) are not checked.
//!
//! The frames between the routine and the program are the return
//! addresses Valgrind shows, found once at start in glibc's code: the
//! calls of the internal strlen and strnlen in `__vfprintf_internal`
//! (the function `printf` calls), its recursive call from
//! `buffered_vfprintf`, and each hooked function's call of it or of the
//! `__v*printf_internal` function that calls it. One not found (another
//! C library) is left out of the stack.

use super::streams::{check_string_in, freed_guarded, strlen_entry};
use super::*;

/// Where a hooked function finds the arguments its format converts.
#[derive(Clone, Copy)]
enum Args {
    /// After the format: argument registers from index `.0` on, then the
    /// stack.
    Variadic(u8),
    /// In the `va_list` that argument `.0` points to.
    VaList(u8),
}

/// The stream a hooked function writes to (for `buffered_vfprintf`'s
/// frame, which glibc adds for an unbuffered stream).
#[derive(Clone, Copy, PartialEq)]
enum Stream {
    /// A string or descriptor: never unbuffered.
    None,
    /// `stdout`.
    Stdout,
    /// The `FILE *` in argument 0.
    Arg0,
}

/// One hooked function.
struct Hook {
    /// Its index in [`HOOKS`] (checked at compile time).
    idx: usize,
    /// Its name, null-terminated.
    name: &'static [u8],
    /// The argument register holding the format.
    fmt: u8,
    args: Args,
    stream: Stream,
}

use Args::*;
use Stream::None as NoStream;
use Stream::{Arg0, Stdout};

/// Defines [`HOOKS`] and the assembly entry of each (`mov r11d, index;
/// jmp memdx_printf_entry`).
macro_rules! printf_hooks {
    ($($idx:literal $name:ident $fmt:literal $args:expr, $stream:expr;)*) => {
        static HOOKS: [Hook; [$($idx),*].len()] = [$(Hook {
            idx: $idx,
            name: concat!(stringify!($name), "\0").as_bytes(),
            fmt: $fmt,
            args: $args,
            stream: $stream,
        }),*];

        index_stubs!("memdx_printf", memdx_printf_entry, HOOKS, $($idx $name)*);
    };
}

printf_hooks! {
    0 printf 0 Variadic(1), Stdout;
    1 fprintf 1 Variadic(2), Arg0;
    2 sprintf 1 Variadic(2), NoStream;
    3 snprintf 2 Variadic(3), NoStream;
    4 dprintf 1 Variadic(2), NoStream;
    5 asprintf 1 Variadic(2), NoStream;
    6 vprintf 0 VaList(1), Stdout;
    7 vfprintf 1 VaList(2), Arg0;
    8 vsprintf 1 VaList(2), NoStream;
    9 vsnprintf 2 VaList(3), NoStream;
    10 vdprintf 1 VaList(2), NoStream;
    11 vasprintf 1 VaList(2), NoStream;
    12 __printf_chk 1 Variadic(2), Stdout;
    13 __fprintf_chk 2 Variadic(3), Arg0;
    14 __sprintf_chk 3 Variadic(4), NoStream;
    15 __snprintf_chk 4 Variadic(5), NoStream;
    16 __dprintf_chk 2 Variadic(3), NoStream;
    17 __asprintf_chk 2 Variadic(3), NoStream;
    18 __vprintf_chk 1 VaList(2), Stdout;
    19 __vfprintf_chk 2 VaList(3), Arg0;
    20 __vsprintf_chk 3 VaList(4), NoStream;
    21 __vsnprintf_chk 4 VaList(5), NoStream;
    22 __vdprintf_chk 2 VaList(3), NoStream;
    23 __vasprintf_chk 2 VaList(3), NoStream;
}

const N: usize = HOOKS.len();

/// glibc's functions, by hook index (0 until resolved).
static REAL_FN: [AtomicUsize; N] = [const { AtomicUsize::new(0) }; N];

/// Each hooked function's frames below `__vfprintf_internal` (return
/// addresses, innermost first; 0: none), found by [`init_printf`].
static CHAIN: [[AtomicUsize; 2]; N] = [const { [const { AtomicUsize::new(0) }; 2] }; N];

/// In `__vfprintf_internal`: the return addresses after its strlen call
/// (`%s`), its strnlen call (`%.Ns`), and its recursive call from
/// `buffered_vfprintf`.
static VF_STRLEN: AtomicUsize = AtomicUsize::new(0);
static VF_STRNLEN: AtomicUsize = AtomicUsize::new(0);
static VF_BUFFERED: AtomicUsize = AtomicUsize::new(0);

extern "C" {
    static stdout: *mut libc::FILE;
}

// The common entry: 184 bytes hold the six argument registers, rax and
// xmm0-xmm7, and align the call. `memdx_printf(index, registers, stack
// arguments)` returns the address to jump to.
#[cfg(not(test))]
core::arch::global_asm!(
    ".pushsection .text.memdx_printf_entry,\"ax\",@progbits",
    ".p2align 4",
    ".globl memdx_printf_entry",
    ".hidden memdx_printf_entry",
    ".type memdx_printf_entry,@function",
    "memdx_printf_entry:",
    ".cfi_startproc",
    "sub rsp, 184",
    ".cfi_adjust_cfa_offset 184",
    "mov [rsp], rdi",
    "mov [rsp + 8], rsi",
    "mov [rsp + 16], rdx",
    "mov [rsp + 24], rcx",
    "mov [rsp + 32], r8",
    "mov [rsp + 40], r9",
    "mov [rsp + 48], rax",
    "movdqu [rsp + 56], xmm0",
    "movdqu [rsp + 72], xmm1",
    "movdqu [rsp + 88], xmm2",
    "movdqu [rsp + 104], xmm3",
    "movdqu [rsp + 120], xmm4",
    "movdqu [rsp + 136], xmm5",
    "movdqu [rsp + 152], xmm6",
    "movdqu [rsp + 168], xmm7",
    "mov edi, r11d",
    "mov rsi, rsp",
    "lea rdx, [rsp + 192]",
    "call {check}",
    "mov r11, rax",
    "mov rdi, [rsp]",
    "mov rsi, [rsp + 8]",
    "mov rdx, [rsp + 16]",
    "mov rcx, [rsp + 24]",
    "mov r8, [rsp + 32]",
    "mov r9, [rsp + 40]",
    "mov rax, [rsp + 48]",
    "movdqu xmm0, [rsp + 56]",
    "movdqu xmm1, [rsp + 72]",
    "movdqu xmm2, [rsp + 88]",
    "movdqu xmm3, [rsp + 104]",
    "movdqu xmm4, [rsp + 120]",
    "movdqu xmm5, [rsp + 136]",
    "movdqu xmm6, [rsp + 152]",
    "movdqu xmm7, [rsp + 168]",
    "add rsp, 184",
    ".cfi_adjust_cfa_offset -184",
    "jmp r11",
    ".cfi_endproc",
    ".size memdx_printf_entry, .-memdx_printf_entry",
    ".popsection",
    check = sym memdx_printf,
);

#[cfg(not(test))]
extern "C" {
    fn memdx_printf_entry();
}

/// What a hook whose glibc function is missing returns: -1 with ENOSYS.
extern "C" fn missing() -> c_int {
    crate::sys::set_errno(libc::ENOSYS);
    -1
}

fn resolve(h: &Hook) -> usize {
    let Some(slot) = REAL_FN.get(h.idx) else {
        return 0;
    };
    let f = slot.load(Ordering::Acquire);
    if f != 0 {
        return f;
    }
    // SAFETY: dlsym with a static NUL-terminated name.
    let f = unsafe { libc::dlsym(libc::RTLD_NEXT, h.name.as_ptr().cast()) } as usize;
    slot.store(f, Ordering::Release);
    f
}

/// Checks the `%s` arguments of hook `idx`'s call (`regs`: the six
/// argument registers and rax, which the entry puts back; `stack`: the
/// arguments passed on the stack) and returns glibc's function to jump
/// to. Never unwinds; no allocation.
#[cfg_attr(test, allow(dead_code))]
extern "C" fn memdx_printf(idx: u32, regs: *mut [usize; 7], stack: *mut usize) -> usize {
    let Some(h) = HOOKS.get(idx as usize) else {
        return missing as *const () as usize;
    };
    let f = resolve(h);
    if f == 0 {
        return missing as *const () as usize;
    }
    if hooks::enter_runtime() {
        let errno = crate::sys::errno();
        // SAFETY: the entry saved the registers there; the stack
        // arguments follow the return address.
        unsafe { check_call(h, regs, stack) };
        crate::sys::set_errno(errno);
        hooks::leave_runtime();
    }
    f
}

/// The SysV x86-64 `va_list`.
#[repr(C)]
#[derive(Clone, Copy)]
struct VaList {
    gp_offset: u32,
    fp_offset: u32,
    overflow: usize,
    reg_save: usize,
}

impl VaList {
    /// The slot of the next integer or pointer argument.
    fn next_gp(&mut self) -> *mut usize {
        if self.gp_offset < 48 {
            let p = self.reg_save + self.gp_offset as usize;
            self.gp_offset += 8;
            p as *mut usize
        } else {
            let p = self.overflow;
            self.overflow += 8;
            p as *mut usize
        }
    }

    /// Skips a `double`.
    fn skip_fp(&mut self) {
        if self.fp_offset < 176 {
            self.fp_offset += 16;
        } else {
            self.overflow += 8;
        }
    }

    /// Skips a `long double` (always in memory, 16-byte aligned).
    fn skip_long_double(&mut self) {
        self.overflow = ((self.overflow + 15) & !15) + 16;
    }
}

/// # Safety
/// `regs` and `stack` as [`memdx_printf`] has them, for a call of `h`.
unsafe fn check_call(h: &Hook, regs: *mut [usize; 7], stack: *mut usize) {
    // SAFETY: the entry's saved registers.
    let saved = unsafe { &*regs };
    let Some(&fmt) = saved.get(h.fmt as usize) else {
        return;
    };
    if fmt < 4096 {
        return;
    }
    let mut va = match h.args {
        // The registers are saved in the va_list's order: rdi..r9 at 0..48.
        Variadic(first) => VaList {
            gp_offset: u32::from(first) * 8,
            fp_offset: 48,
            overflow: stack as usize,
            reg_save: regs as usize,
        },
        VaList(arg) => {
            let Some(&ap) = saved.get(arg as usize) else {
                return;
            };
            if ap < 4096 {
                return;
            }
            // SAFETY: the program's va_list (a copy: it is not advanced).
            unsafe { *(ap as *const VaList) }
        }
    };
    let unbuffered = match h.stream {
        NoStream => false,
        // SAFETY: glibc's stdout.
        Stdout => is_unbuffered(unsafe { stdout } as usize),
        Arg0 => is_unbuffered(saved[0]),
    };
    let chain = CHAIN.get(h.idx);
    let link = |i: usize| {
        chain
            .and_then(|c| c.get(i))
            .map_or(0, |a| a.load(Ordering::Relaxed))
    };
    let buffered = if unbuffered {
        VF_BUFFERED.load(Ordering::Relaxed)
    } else {
        0
    };
    let (c0, c1) = (link(0), link(1));
    let below_strlen = [VF_STRLEN.load(Ordering::Relaxed), buffered, c0, c1];
    let below_strnlen = [VF_STRNLEN.load(Ordering::Relaxed), buffered, c0, c1];
    let mut spec = Specs::new(fmt as *const u8);
    while let Some(conv) = spec.next_conversion() {
        let Some(conv) = conv else {
            return;
        };
        if conv.star_width {
            va.next_gp();
        }
        let star_prec = if conv.star_prec {
            // SAFETY: the precision argument's slot, as glibc reads it.
            Some(unsafe { va.next_gp().read() } as i32)
        } else {
            None
        };
        match conv.arg {
            Arg::None => {}
            Arg::Gp => {
                va.next_gp();
            }
            Arg::Fp => va.skip_fp(),
            Arg::LongDouble => va.skip_long_double(),
            Arg::String => {
                let slot = va.next_gp();
                // SAFETY: the argument's slot (saved register, stack or
                // va_list area), as glibc reads it.
                let s = unsafe { slot.read() };
                if s < 4096 {
                    continue;
                }
                // A negative `*` precision is none (glibc's -1).
                let prec = match star_prec {
                    Some(p) => usize::try_from(p).ok(),
                    None => conv.prec,
                };
                match prec {
                    Some(p) => check_string_in(
                        F_STRNLEN,
                        super::reads::strnlen as *const () as usize,
                        &below_strnlen,
                        s,
                        p,
                    ),
                    None => check_string_in(F_STRLEN, strlen_entry(), &below_strlen, s, usize::MAX),
                }
                if freed_guarded(s).is_some() {
                    // Its closed page would make glibc's strlen fault and
                    // be reported a second time: the string reads as empty
                    // (see `streams::readable`).
                    // SAFETY: the argument's slot, which glibc reads next.
                    unsafe { slot.write(c"".as_ptr() as usize) };
                }
            }
        }
    }
}

/// Whether the `FILE` at `fp` is unbuffered (`_IO_UNBUFFERED` in its
/// flags: glibc then formats through `buffered_vfprintf`).
fn is_unbuffered(fp: usize) -> bool {
    if fp < 4096 || fp % 8 != 0 {
        return false;
    }
    // SAFETY: a FILE starts with its int flags.
    unsafe { *(fp as *const i32) & 2 != 0 }
}

/// What a conversion takes from the argument list.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Arg {
    None,
    Gp,
    Fp,
    LongDouble,
    String,
}

/// One conversion of a format.
#[derive(Clone, Copy, PartialEq, Debug)]
struct Conv {
    /// The width is `*` (an int argument read first).
    star_width: bool,
    /// The precision is `*` (an int argument read next).
    star_prec: bool,
    /// The precision when given as digits.
    prec: Option<usize>,
    arg: Arg,
}

/// The conversions of a format, in order.
struct Specs {
    p: *const u8,
}

impl Specs {
    fn new(p: *const u8) -> Self {
        Specs { p }
    }

    fn peek(&self) -> u8 {
        // SAFETY: within the format up to its NUL (never read past it).
        unsafe { self.p.read() }
    }

    fn bump(&mut self) {
        self.p = self.p.wrapping_add(1);
    }

    /// Digits, and whether a `$` follows them (a positional argument).
    fn digits(&mut self) -> (Option<usize>, bool) {
        let mut v: Option<usize> = None;
        while self.peek().is_ascii_digit() {
            let d = usize::from(self.peek() - b'0');
            v = Some(v.unwrap_or(0).saturating_mul(10).saturating_add(d));
            self.bump();
        }
        let dollar = v.is_some() && self.peek() == b'$';
        (v, dollar)
    }

    /// The next conversion: `None` at the end of the format,
    /// `Some(None)` for one that stops the walk (positional arguments,
    /// an unknown conversion).
    fn next_conversion(&mut self) -> Option<Option<Conv>> {
        loop {
            match self.peek() {
                0 => return None,
                b'%' => {
                    self.bump();
                    if self.peek() == b'%' {
                        self.bump();
                        continue;
                    }
                    return Some(self.conversion());
                }
                _ => self.bump(),
            }
        }
    }

    fn conversion(&mut self) -> Option<Conv> {
        let mut c = Conv {
            star_width: false,
            star_prec: false,
            prec: None,
            arg: Arg::None,
        };
        let (_, dollar) = self.digits();
        if dollar {
            return None;
        }
        // A width given before any flag was read as digits above; flags.
        while matches!(self.peek(), b'-' | b'+' | b' ' | b'#' | b'0' | b'\'' | b'I') {
            self.bump();
        }
        if self.peek() == b'*' {
            self.bump();
            if self.digits().1 {
                return None;
            }
            c.star_width = true;
        } else {
            self.digits();
        }
        if self.peek() == b'.' {
            self.bump();
            if self.peek() == b'*' {
                self.bump();
                if self.digits().1 {
                    return None;
                }
                c.star_prec = true;
            } else {
                c.prec = Some(self.digits().0.unwrap_or(0));
            }
        }
        let mut longs = 0u8;
        let mut long_double = false;
        loop {
            match self.peek() {
                b'h' | b'j' | b'z' | b'Z' | b't' => {}
                b'l' => longs += 1,
                b'L' | b'q' => long_double = true,
                _ => break,
            }
            self.bump();
        }
        let conv = self.peek();
        if conv == 0 {
            return None;
        }
        self.bump();
        c.arg = match conv {
            b'd' | b'i' | b'o' | b'u' | b'x' | b'X' | b'b' | b'B' | b'c' | b'C' | b'p' | b'n'
            | b'S' => Arg::Gp,
            b's' if longs > 0 => Arg::Gp,
            b's' => Arg::String,
            // glibc reads `ll` (like `L` and `q`) as long double here.
            b'e' | b'E' | b'f' | b'F' | b'g' | b'G' | b'a' | b'A' if long_double || longs > 1 => {
                Arg::LongDouble
            }
            b'e' | b'E' | b'f' | b'F' | b'g' | b'G' | b'a' | b'A' => Arg::Fp,
            b'm' => Arg::None,
            _ => return None,
        };
        Some(c)
    }
}

/// The code and data of the C library, for the reads of [`init_printf`].
struct Segments {
    ranges: [(usize, usize); 8],
    n: usize,
}

impl Segments {
    fn holds(&self, a: usize, len: usize) -> bool {
        self.ranges
            .iter()
            .take(self.n)
            .any(|&(lo, hi)| a >= lo && a.saturating_add(len) <= hi)
    }

    /// The target of the `call rel32` (0xe8) or `jmp rel32` (0xe9) at `a`
    /// (the opcode `op`), if it lands in the library.
    fn branch_at(&self, a: usize, op: u8) -> Option<usize> {
        if !self.holds(a, 5) {
            return None;
        }
        // SAFETY: within the library's mapped segments.
        let b = unsafe { core::slice::from_raw_parts(a as *const u8, 5) };
        if b[0] != op {
            return None;
        }
        let rel = i32::from_le_bytes([b[1], b[2], b[3], b[4]]) as isize;
        let t = (a as isize).wrapping_add(5).wrapping_add(rel) as usize;
        self.holds(t, 16).then_some(t)
    }

    /// The function a PLT stub at `t` (`jmp [rip + rel32]`) jumps to.
    fn plt_target(&self, t: usize) -> Option<usize> {
        // SAFETY: `t` is in the library (branch_at).
        let b = unsafe { core::slice::from_raw_parts(t as *const u8, 6) };
        if b[0] != 0xff || b[1] != 0x25 {
            return None;
        }
        let rel = i32::from_le_bytes([b[2], b[3], b[4], b[5]]) as isize;
        let slot = (t as isize).wrapping_add(6).wrapping_add(rel) as usize;
        if !self.holds(slot, 8) || slot % 8 != 0 {
            return None;
        }
        // SAFETY: a GOT slot of the library, mapped readable.
        Some(unsafe { *(slot as *const usize) })
    }

    /// The first `call` (`op` 0xe8) or `jmp` (0xe9) in the `len` bytes
    /// from `f` whose target satisfies `want`; its address.
    fn find(&self, f: usize, len: usize, op: u8, want: &dyn Fn(usize) -> bool) -> Option<usize> {
        (f..f + len).find(|&a| self.branch_at(a, op).is_some_and(want))
    }
}

/// The loaded segments of the object holding `addr`.
fn segments_of(addr: usize) -> Segments {
    struct Find {
        addr: usize,
        seg: Segments,
    }
    unsafe extern "C" fn cb(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr's arguments; `data` is our Find.
        let (info, find) = unsafe { (&*info, &mut *(data as *mut Find)) };
        let mut seg = Segments {
            ranges: [(0, 0); 8],
            n: 0,
        };
        let mut hit = false;
        for i in 0..usize::from(info.dlpi_phnum) {
            // SAFETY: dlpi_phnum headers at dlpi_phdr.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type != libc::PT_LOAD {
                continue;
            }
            let lo = info.dlpi_addr as usize + ph.p_vaddr as usize;
            let hi = lo + ph.p_memsz as usize;
            hit |= find.addr >= lo && find.addr < hi;
            if let Some(r) = seg.ranges.get_mut(seg.n) {
                *r = (lo, hi);
                seg.n += 1;
            }
        }
        if hit {
            find.seg = seg;
            return 1;
        }
        0
    }
    let mut find = Find {
        addr,
        seg: Segments {
            ranges: [(0, 0); 8],
            n: 0,
        },
    };
    // SAFETY: the callback only reads the headers and writes `find`.
    unsafe { libc::dl_iterate_phdr(Some(cb), (&mut find as *mut Find).cast()) };
    find.seg
}

/// Finds the frames Valgrind shows between its strlen and the program
/// (see the module's doc) in glibc's code; call from the constructor after
/// [`init`](super::init).
pub fn init_printf() {
    let printf = resolve(&HOOKS[0]);
    if printf == 0 {
        return;
    }
    let seg = segments_of(printf);
    let strlen_fn = real(F_STRLEN);
    let strnlen_fn = real(F_STRNLEN);
    let calls = |t: usize, f: usize| seg.plt_target(t) == Some(f) && f != 0;
    // __vfprintf_internal: what printf calls and whose code calls the
    // internal strnlen.
    const VF_LEN: usize = 0x4000;
    let is_vf = |t: usize| {
        seg.holds(t, VF_LEN)
            && seg
                .find(t, VF_LEN, 0xe8, &|c| calls(c, strnlen_fn))
                .is_some()
    };
    let Some(call_vf) = seg.find(printf, 256, 0xe8, &is_vf) else {
        return;
    };
    let Some(vf) = seg.branch_at(call_vf, 0xe8) else {
        return;
    };
    let Some(strnlen_call) = seg.find(vf, VF_LEN, 0xe8, &|c| calls(c, strnlen_fn)) else {
        return;
    };
    VF_STRNLEN.store(strnlen_call + 5, Ordering::Relaxed);
    // The strlen call of the same `%s` code: the one followed by the same
    // instruction (storing the length where strnlen's is stored).
    // SAFETY: within the library (find checked the call's 5 bytes; the
    // next 3 are code of the same function).
    let after = |c: usize| unsafe { core::slice::from_raw_parts((c + 5) as *const u8, 3) };
    let same_next = after(strnlen_call);
    let mut first = None;
    let mut matching = None;
    let mut at = vf;
    while let Some(c) = seg.find(at, (vf + VF_LEN).saturating_sub(at), 0xe8, &|t| {
        calls(t, strlen_fn)
    }) {
        first = first.or(Some(c));
        if after(c) == same_next {
            matching = Some(c);
            break;
        }
        at = c + 1;
    }
    if let Some(c) = matching.or(first) {
        VF_STRLEN.store(c + 5, Ordering::Relaxed);
    }
    if let Some(c) = seg.find(vf, VF_LEN, 0xe8, &|t| t == vf) {
        VF_BUFFERED.store(c + 5, Ordering::Relaxed);
    }
    // Each hooked function: a call of __vfprintf_internal (its frame), a
    // jump to it (no frame), or the same through one function that calls
    // or jumps to __vfprintf_internal (__vsprintf_internal and the like).
    let reaches_vf = |t: usize| {
        seg.holds(t, 512)
            && (seg.find(t, 512, 0xe8, &|x| x == vf).is_some()
                || seg.find(t, 512, 0xe9, &|x| x == vf).is_some())
    };
    for h in HOOKS.iter() {
        let f = resolve(h);
        if f == 0 || !seg.holds(f, 256) {
            continue;
        }
        let mut frames = [0usize; 2];
        let mut n = 0;
        let mut push = |ret: usize| {
            if let Some(s) = frames.get_mut(n) {
                *s = ret;
                n += 1;
            }
        };
        let first = [0xe8u8, 0xe9]
            .into_iter()
            .filter_map(|op| {
                seg.find(f, 256, op, &|t| t == vf || reaches_vf(t))
                    .map(|a| (a, op))
            })
            .min();
        let Some((a, op)) = first else { continue };
        let Some(t) = seg.branch_at(a, op) else {
            continue;
        };
        if t != vf {
            // The middle function's own call of __vfprintf_internal.
            if let Some(c) = seg.find(t, 512, 0xe8, &|x| x == vf) {
                push(c + 5);
            }
        }
        if op == 0xe8 {
            push(a + 5);
        }
        if let Some(c) = CHAIN.get(h.idx) {
            for (slot, v) in c.iter().zip(frames) {
                slot.store(v, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
#[path = "printf_tests.rs"]
mod tests;
