//! `.eh_frame` reading for x86_64: the FDE of a pc through a module's
//! `.eh_frame_hdr` search table, and a call-frame-instruction interpreter
//! that reduces the rules at that pc to a [`Rule`] when they are of the
//! common shape (CFA = rsp or rbp plus an offset, return address at CFA-8,
//! rbp unchanged or saved in the frame). Anything else is
//! [`Lookup::Unsupported`] and the caller unwinds that stack with libgcc.
//!
//! Formats: the LSB's "Exception Frames" (`.eh_frame`, `.eh_frame_hdr`,
//! pointer encodings) and DWARF 4 §6.4 (call frame instructions). Every
//! read is bounds-checked against the section or entry it belongs to;
//! nothing allocates or panics.

/// DWARF register numbers of x86_64.
const REG_RBP: u64 = 6;
const REG_RSP: u64 = 7;
const REG_RA: u64 = 16;

/// The unwind rule of one pc, packed in 32 bits for the rule cache.
///
/// bit 0 valid, bit 1 CFA from rbp (else rsp), bits 2..18 CFA offset,
/// bit 18 rbp saved at CFA - 8*k (else unchanged), bits 19..27 k,
/// bit 27 end of stack (return address undefined or no FDE).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Rule(pub u32);

impl Rule {
    const VALID: u32 = 1;
    const CFA_RBP: u32 = 2;
    const RBP_SAVED: u32 = 1 << 18;
    const END: u32 = 1 << 27;

    pub const END_OF_STACK: Rule = Rule(Self::VALID | Self::END);

    fn new(cfa_rbp: bool, cfa_off: u16, rbp_slot: Option<u8>) -> Rule {
        let mut r = Self::VALID | (u32::from(cfa_off) << 2);
        if cfa_rbp {
            r |= Self::CFA_RBP;
        }
        if let Some(k) = rbp_slot {
            r |= Self::RBP_SAVED | (u32::from(k) << 19);
        }
        Rule(r)
    }
    pub fn is_end(self) -> bool {
        self.0 & Self::END != 0
    }
    pub fn cfa_from_rbp(self) -> bool {
        self.0 & Self::CFA_RBP != 0
    }
    pub fn cfa_offset(self) -> usize {
        ((self.0 >> 2) & 0xffff) as usize
    }
    /// Where the caller's rbp was saved, as a distance below the CFA.
    pub fn rbp_below_cfa(self) -> Option<usize> {
        if self.0 & Self::RBP_SAVED != 0 {
            Some((((self.0 >> 19) & 0xff) as usize) * 8)
        } else {
            None
        }
    }
}

/// What the tables say about one pc.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lookup {
    Rule(Rule),
    /// A shape the compact rule cannot express (signal frame, expression
    /// rules, unusual encodings): unwind this stack another way.
    Unsupported,
}

/// A bounded cursor over readable memory.
struct Cursor {
    p: usize,
    end: usize,
}

impl Cursor {
    fn u8(&mut self) -> Option<u8> {
        if self.p >= self.end {
            return None;
        }
        // SAFETY: p is inside the range the cursor was made for, which
        // the caller vouched is mapped (a loaded module's section).
        let v = unsafe { *(self.p as *const u8) };
        self.p += 1;
        Some(v)
    }
    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        if self.end.checked_sub(self.p)? < N {
            return None;
        }
        let mut b = [0u8; N];
        // SAFETY: N bytes are in range (checked above).
        unsafe { core::ptr::copy_nonoverlapping(self.p as *const u8, b.as_mut_ptr(), N) };
        self.p += N;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        self.bytes::<2>().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.bytes::<4>().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.bytes::<8>().map(u64::from_le_bytes)
    }
    fn uleb(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift < 64 {
                v |= u64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
    }
    fn sleb(&mut self) -> Option<i64> {
        let mut v: i64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift < 64 {
                v |= i64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    v |= -1i64 << shift;
                }
                return Some(v);
            }
        }
    }
    /// A pointer in DW_EH_PE encoding `enc`; `datarel` is the base of
    /// data-relative values. Indirect, text- and function-relative and
    /// aligned encodings are not used in `.eh_frame` of x86_64 code.
    fn pointer(&mut self, enc: u8, datarel: usize) -> Option<usize> {
        if enc == 0xff {
            return None;
        }
        let here = self.p;
        let raw = self.value(enc)?;
        let v = match enc & 0x70 {
            0x00 => raw,
            0x10 => here.wrapping_add(raw),
            0x30 => datarel.wrapping_add(raw),
            _ => return None,
        };
        if enc & 0x80 != 0 {
            return None;
        }
        Some(v)
    }
    /// The value part of an encoded pointer (no base applied).
    fn value(&mut self, enc: u8) -> Option<usize> {
        Some(match enc & 0x0f {
            0x00 => self.u64()? as usize,
            0x01 => self.uleb()? as usize,
            0x02 => usize::from(self.u16()?),
            0x03 => self.u32()? as usize,
            0x04 => self.u64()? as usize,
            0x09 => self.sleb()? as usize,
            0x0a => self.u16()? as i16 as isize as usize,
            0x0b => self.u32()? as i32 as isize as usize,
            0x0c => self.u64()? as usize,
            _ => return None,
        })
    }
}

/// A module's `.eh_frame_hdr` search table, checked once when the module
/// is first seen.
#[derive(Clone, Copy, Default)]
pub struct SearchTable {
    /// Address of `.eh_frame_hdr` (the base of its datarel entries).
    pub hdr: usize,
    /// First table entry and number of entries (8 bytes each).
    pub table: usize,
    pub count: usize,
}

impl SearchTable {
    /// Reads the header at `hdr`. `None` unless it has the sorted table in
    /// the layout every linker writes (datarel sdata4 pairs).
    ///
    /// # Safety
    /// `hdr` is the address of a loaded module's `PT_GNU_EH_FRAME`.
    pub unsafe fn parse(hdr: usize) -> Option<SearchTable> {
        let mut c = Cursor {
            p: hdr,
            end: hdr.checked_add(16)?,
        };
        let version = c.u8()?;
        let frame_ptr_enc = c.u8()?;
        let count_enc = c.u8()?;
        let table_enc = c.u8()?;
        if version != 1 || table_enc != 0x3b {
            return None;
        }
        c.end = hdr.checked_add(4 + 8 + 8)?;
        c.pointer(frame_ptr_enc, hdr)?;
        let count = c.pointer(count_enc, hdr)?;
        if count == 0 || count > (1 << 28) {
            return None;
        }
        Some(SearchTable {
            hdr,
            table: c.p,
            count,
        })
    }

    /// The FDE that may cover `pc`: the last entry starting at or below it.
    fn fde_for(&self, pc: usize) -> Option<usize> {
        let entry = |i: usize| -> (usize, usize) {
            // SAFETY: i < count; the table was validated by parse and lies
            // in the mapped header.
            let (a, b) = unsafe {
                let p = (self.table + i * 8) as *const i32;
                (p.read_unaligned(), p.add(1).read_unaligned())
            };
            (
                self.hdr.wrapping_add(a as isize as usize),
                self.hdr.wrapping_add(b as isize as usize),
            )
        };
        let (mut lo, mut hi) = (0usize, self.count);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if entry(mid).0 <= pc {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let (start, fde) = entry(lo);
        (start <= pc).then_some(fde)
    }

    /// The rule at `pc` for a frame whose next instruction is `pc + 1`
    /// (`pc` is a return address minus one, or an exact pc minus one).
    /// `None`: no FDE covers `pc`.
    ///
    /// # Safety
    /// The module holding the table is still loaded.
    pub unsafe fn lookup(&self, pc: usize) -> Option<Lookup> {
        let fde = self.fde_for(pc)?;
        // SAFETY: the FDE address came from the module's own table.
        unsafe { rule_from_fde(fde, pc) }
    }
}

/// Register rules of the interpreter (only what the compact rule keeps).
#[derive(Clone, Copy, PartialEq, Eq)]
enum RegRule {
    Same,
    Undefined,
    /// Saved at CFA + n.
    Offset(i64),
    /// Anything else (register, expression, value rules).
    Other,
}

#[derive(Clone, Copy)]
struct State {
    cfa_reg: u64,
    cfa_off: i64,
    cfa_expr: bool,
    rbp: RegRule,
    ra: RegRule,
}

/// Parses the FDE at `fde` and its CIE and runs their instructions up to
/// `pc`. `None`: the FDE does not cover `pc`.
///
/// # Safety
/// `fde` points at an FDE in a loaded module's `.eh_frame`.
pub unsafe fn rule_from_fde(fde: usize, pc: usize) -> Option<Lookup> {
    let mut c = Cursor {
        p: fde,
        end: fde.checked_add(8)?,
    };
    let len = c.u32()? as usize;
    if len == 0xffff_ffff || len < 4 {
        return Some(Lookup::Unsupported); // 64-bit DWARF: not emitted on x86_64
    }
    let fde_end = fde.checked_add(4 + len)?;
    let cie_field = c.p;
    let cie_off = c.u32()? as usize;
    if cie_off == 0 {
        return Some(Lookup::Unsupported); // a CIE, not an FDE: bad table
    }
    let cie = cie_field.checked_sub(cie_off)?;
    // SAFETY: the CIE pointer of a valid FDE points into the same section.
    let Some(cie) = (unsafe { Cie::parse(cie) }) else {
        return Some(Lookup::Unsupported);
    };
    c.end = fde_end;
    let Some(begin) = c.pointer(cie.fde_enc, 0) else {
        return Some(Lookup::Unsupported);
    };
    let Some(range) = c.value(cie.fde_enc & 0x0f) else {
        return Some(Lookup::Unsupported);
    };
    if pc < begin || pc - begin >= range {
        return None;
    }
    if cie.has_z {
        let Some(n) = c.uleb() else {
            return Some(Lookup::Unsupported);
        };
        c.p = c.p.saturating_add(n as usize);
    }
    if c.p > fde_end {
        return Some(Lookup::Unsupported);
    }
    let init = State {
        cfa_reg: REG_RSP,
        cfa_off: 0,
        cfa_expr: false,
        rbp: RegRule::Same,
        ra: RegRule::Same,
    };
    let mut cie_prog = Cursor {
        p: cie.insns,
        end: cie.end,
    };
    let Some(initial) = run(&mut cie_prog, &cie, init, init, usize::MAX, 0) else {
        return Some(Lookup::Unsupported);
    };
    let mut prog = Cursor {
        p: c.p,
        end: fde_end,
    };
    let Some(s) = run(&mut prog, &cie, initial, initial, pc, begin) else {
        return Some(Lookup::Unsupported);
    };
    Some(compact(&s))
}

/// Reduces the interpreter's state to a compact rule, if it has one.
fn compact(s: &State) -> Lookup {
    if s.ra == RegRule::Undefined {
        return Lookup::Rule(Rule::END_OF_STACK);
    }
    if s.cfa_expr || s.ra != RegRule::Offset(-8) {
        return Lookup::Unsupported;
    }
    let cfa_rbp = match s.cfa_reg {
        REG_RSP => false,
        REG_RBP => true,
        _ => return Lookup::Unsupported,
    };
    let Ok(off) = u16::try_from(s.cfa_off) else {
        return Lookup::Unsupported;
    };
    if off < 8 {
        return Lookup::Unsupported;
    }
    let slot = match s.rbp {
        RegRule::Same => None,
        RegRule::Offset(n) if n < 0 && n % 8 == 0 && -n / 8 <= 255 => Some((-n / 8) as u8),
        _ => return Lookup::Unsupported,
    };
    Lookup::Rule(Rule::new(cfa_rbp, off, slot))
}

struct Cie {
    code_align: u64,
    data_align: i64,
    fde_enc: u8,
    has_z: bool,
    insns: usize,
    end: usize,
}

impl Cie {
    /// # Safety
    /// `at` points at a CIE in a loaded module's `.eh_frame`.
    unsafe fn parse(at: usize) -> Option<Cie> {
        let mut c = Cursor {
            p: at,
            end: at.checked_add(8)?,
        };
        let len = c.u32()? as usize;
        if len == 0xffff_ffff || len < 8 {
            return None;
        }
        let end = at.checked_add(4 + len)?;
        if c.u32()? != 0 {
            return None;
        }
        c.end = end;
        let version = c.u8()?;
        if version != 1 && version != 3 {
            return None;
        }
        // The augmentation string: only z, R, P, L are understood (S marks
        // a signal frame: its caller is not at a call, leave it to libgcc).
        let mut aug = [0u8; 8];
        let mut n = 0;
        loop {
            let b = c.u8()?;
            if b == 0 {
                break;
            }
            if n >= aug.len() {
                return None;
            }
            aug[n] = b;
            n += 1;
        }
        let aug = aug.get(..n)?;
        let has_z = aug.first() == Some(&b'z');
        if !aug.is_empty() && !has_z {
            return None;
        }
        let code_align = c.uleb()?;
        let data_align = c.sleb()?;
        let ra = if version == 1 {
            u64::from(c.u8()?)
        } else {
            c.uleb()?
        };
        if ra != REG_RA {
            return None;
        }
        let mut fde_enc = 0u8; // absptr
        if has_z {
            let aug_len = c.uleb()? as usize;
            let data_end = c.p.checked_add(aug_len)?;
            for &ch in aug.get(1..)? {
                match ch {
                    b'R' => fde_enc = c.u8()?,
                    b'L' => {
                        c.u8()?;
                    }
                    b'P' => {
                        let enc = c.u8()?;
                        c.value(enc)?;
                    }
                    _ => return None,
                }
            }
            c.p = data_end;
        }
        if c.p > end {
            return None;
        }
        Some(Cie {
            code_align,
            data_align,
            fde_enc,
            has_z,
            insns: c.p,
            end,
        })
    }
}

/// Runs call frame instructions from `s` while the location stays at or
/// below `pc` (`loc` starts at `start`). `initial` is the state after the
/// CIE's instructions (for DW_CFA_restore). `None`: an instruction this
/// interpreter does not know, or malformed input.
fn run(
    c: &mut Cursor,
    cie: &Cie,
    initial: State,
    mut s: State,
    pc: usize,
    start: usize,
) -> Option<State> {
    const STACK: usize = 8;
    let mut stack = [s; STACK];
    let mut depth = 0usize;
    let mut loc = start;
    let factored = |n: u64| -> i64 { (n as i64).wrapping_mul(cie.data_align) };
    let advance = |loc: usize, d: u64| -> usize {
        loc.wrapping_add((d.wrapping_mul(cie.code_align)) as usize)
    };
    let set = |s: &mut State, reg: u64, rule: RegRule| match reg {
        REG_RBP => s.rbp = rule,
        REG_RA => s.ra = rule,
        _ => {}
    };
    let restore = |s: &mut State, reg: u64| match reg {
        REG_RBP => s.rbp = initial.rbp,
        REG_RA => s.ra = initial.ra,
        _ => {}
    };
    while c.p < c.end {
        let op = c.u8()?;
        match op >> 6 {
            1 => {
                loc = advance(loc, u64::from(op & 0x3f));
                if loc > pc {
                    return Some(s);
                }
                continue;
            }
            2 => {
                let off = c.uleb()?;
                set(&mut s, u64::from(op & 0x3f), RegRule::Offset(factored(off)));
                continue;
            }
            3 => {
                restore(&mut s, u64::from(op & 0x3f));
                continue;
            }
            _ => {}
        }
        match op {
            0x00 => {} // nop
            0x02..=0x04 => {
                let d = match op {
                    0x02 => u64::from(c.u8()?),
                    0x03 => u64::from(c.u16()?),
                    _ => u64::from(c.u32()?),
                };
                loc = advance(loc, d);
                if loc > pc {
                    return Some(s);
                }
            }
            0x05 => {
                let reg = c.uleb()?;
                let off = c.uleb()?;
                set(&mut s, reg, RegRule::Offset(factored(off)));
            }
            0x06 => {
                let reg = c.uleb()?;
                restore(&mut s, reg);
            }
            0x07 => {
                let reg = c.uleb()?;
                set(&mut s, reg, RegRule::Undefined);
            }
            0x08 => {
                let reg = c.uleb()?;
                set(&mut s, reg, RegRule::Same);
            }
            0x09 => {
                let reg = c.uleb()?;
                c.uleb()?;
                set(&mut s, reg, RegRule::Other);
            }
            0x0a => {
                *stack.get_mut(depth)? = s;
                depth += 1;
            }
            0x0b => {
                depth = depth.checked_sub(1)?;
                let saved = *stack.get(depth)?;
                // The CFA rule is part of the remembered state too.
                s = saved;
            }
            0x0c => {
                s.cfa_reg = c.uleb()?;
                s.cfa_off = c.uleb()? as i64;
                s.cfa_expr = false;
            }
            0x0d => {
                s.cfa_reg = c.uleb()?;
                s.cfa_expr = false;
            }
            0x0e => s.cfa_off = c.uleb()? as i64,
            0x0f => {
                let n = c.uleb()? as usize;
                c.p = c.p.checked_add(n)?;
                s.cfa_expr = true;
            }
            0x10 | 0x16 => {
                let reg = c.uleb()?;
                let n = c.uleb()? as usize;
                c.p = c.p.checked_add(n)?;
                set(&mut s, reg, RegRule::Other);
            }
            0x11 => {
                let reg = c.uleb()?;
                let off = c.sleb()?;
                set(
                    &mut s,
                    reg,
                    RegRule::Offset(off.wrapping_mul(cie.data_align)),
                );
            }
            0x12 => {
                s.cfa_reg = c.uleb()?;
                s.cfa_off = c.sleb()?.wrapping_mul(cie.data_align);
                s.cfa_expr = false;
            }
            0x13 => s.cfa_off = c.sleb()?.wrapping_mul(cie.data_align),
            0x14 | 0x15 => {
                let reg = c.uleb()?;
                c.uleb()?;
                set(&mut s, reg, RegRule::Other);
            }
            0x2e => {
                c.uleb()?; // GNU_args_size
            }
            0x2f => {
                let reg = c.uleb()?;
                let off = c.uleb()?;
                set(&mut s, reg, RegRule::Offset(factored(off).wrapping_neg()));
            }
            _ => return None,
        }
        if c.p > c.end {
            return None;
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CIE and FDE as GCC writes them for a function that pushes rbp and
    /// uses it as frame pointer (`push rbp; mov rbp,rsp; ...; leave; ret`),
    /// laid out in one buffer: CIE at 0, FDE at 0x18.
    fn frame_pointer_function(func: usize, fde_field_base: usize) -> Vec<u8> {
        let mut v = Vec::new();
        // CIE: length 0x14, id 0, version 1, "zR", code 1, data -8, ra 16,
        // aug len 1, R = pcrel|sdata4, def_cfa rsp+8, offset ra at cfa-8.
        v.extend_from_slice(&0x14u32.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&[1, b'z', b'R', 0, 1, 0x78, 16, 1, 0x1b]);
        v.extend_from_slice(&[0x0c, 7, 8, 0x90, 1, 0, 0]);
        assert_eq!(v.len(), 0x18);
        // FDE: length, CIE pointer (distance back to the CIE), pc begin
        // (pcrel), range 0x40, aug len 0, then:
        //   advance 1; def_cfa_offset 16; offset rbp at cfa-16;
        //   advance 3; def_cfa_register rbp;
        //   advance 0x30; def_cfa rsp+8 (after leave)
        let fde_start = v.len();
        v.extend_from_slice(&0u32.to_le_bytes()); // patched below
        v.extend_from_slice(&((fde_start + 4) as u32).to_le_bytes());
        let begin_field = fde_field_base + v.len();
        let rel = func.wrapping_sub(begin_field) as u32;
        v.extend_from_slice(&rel.to_le_bytes());
        v.extend_from_slice(&0x40u32.to_le_bytes());
        v.push(0);
        v.extend_from_slice(&[0x41, 0x0e, 16, 0x86, 2, 0x43, 0x0d, 6, 0x70, 0x0c, 7, 8]);
        while (v.len() - fde_start) % 8 != 4 {
            v.push(0);
        }
        let len = (v.len() - fde_start - 4) as u32;
        v[fde_start..fde_start + 4].copy_from_slice(&len.to_le_bytes());
        v
    }

    #[test]
    fn interpreter_follows_a_frame_pointer_prologue_and_epilogue() {
        // Lay the buffer out at a known address, then point the FDE's pc
        // begin at a made-up function address.
        let mut buf = vec![0u8; 256];
        let base = buf.as_mut_ptr() as usize;
        let func = base + 0x1000;
        let bytes = frame_pointer_function(func, base);
        buf[..bytes.len()].copy_from_slice(&bytes);
        let fde = base + 0x18;
        // SAFETY: the buffer outlives the lookups.
        let at = |pc: usize| unsafe { rule_from_fde(fde, pc) };
        // At entry: CFA = rsp+8, rbp untouched.
        assert_eq!(
            at(func),
            Some(Lookup::Rule(Rule::new(false, 8, None))),
            "entry"
        );
        // After push rbp: CFA = rsp+16, rbp saved at CFA-16.
        assert_eq!(
            at(func + 1),
            Some(Lookup::Rule(Rule::new(false, 16, Some(2))))
        );
        // After mov rbp,rsp: CFA = rbp+16.
        let body = at(func + 4);
        assert_eq!(body, Some(Lookup::Rule(Rule::new(true, 16, Some(2)))));
        if let Some(Lookup::Rule(r)) = body {
            assert!(r.cfa_from_rbp());
            assert_eq!(r.cfa_offset(), 16);
            assert_eq!(r.rbp_below_cfa(), Some(16));
            assert!(!r.is_end());
        }
        // After leave: CFA = rsp+8 again (rbp rule kept: still saved).
        assert_eq!(
            at(func + 0x34),
            Some(Lookup::Rule(Rule::new(false, 8, Some(2))))
        );
        // Outside the FDE's range.
        assert_eq!(at(func + 0x40), None);
        assert_eq!(at(func - 1), None);
    }

    #[test]
    fn signal_frame_augmentation_is_left_to_libgcc() {
        let mut buf = vec![0u8; 256];
        let base = buf.as_mut_ptr() as usize;
        let func = base + 0x1000;
        let mut bytes = frame_pointer_function(func, base);
        // "zR" -> "zS" is not the same length; "zR\0" -> "zRS\0" would
        // shift everything: instead replace R by S and drop the R byte's
        // meaning (any S must make the CIE unusable).
        bytes[10] = b'S';
        buf[..bytes.len()].copy_from_slice(&bytes);
        // SAFETY: as above.
        let r = unsafe { rule_from_fde(base + 0x18, func) };
        assert_eq!(r, Some(Lookup::Unsupported));
    }

    #[test]
    fn leb128_reads_signed_and_unsigned_values() {
        let bytes = [0xe5u8, 0x8e, 0x26, 0x7f, 0x80, 0x7f];
        let mut c = Cursor {
            p: bytes.as_ptr() as usize,
            end: bytes.as_ptr() as usize + bytes.len(),
        };
        assert_eq!(c.uleb(), Some(624_485));
        assert_eq!(c.sleb(), Some(-1));
        assert_eq!(c.sleb(), Some(-128));
        assert_eq!(c.u8(), None);
    }
}
