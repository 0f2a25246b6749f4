//! What a faulting instruction did: read or write, and how many bytes,
//! decoded from the code bytes the runtime copied at the faulting pc (the
//! runtime never decodes; this runs in the CLI).

use iced_x86::{
    Decoder, DecoderOptions, Instruction, InstructionInfoFactory, OpAccess, Register, UsedMemory,
};

/// Direction and size of a memory access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// The access writes (else it reads).
    pub write: bool,
    /// Bytes accessed.
    pub size: u64,
}

/// Decodes the instruction at `pc` from `code` (64-bit mode) and returns
/// its data access, preferring the operand whose address is `addr`
/// (when known) and, for read-modify-write instructions, the read (the
/// first access made, which is the one Valgrind reports). `None` when the
/// bytes do not decode or the instruction accesses no memory.
pub fn decode(pc: u64, code: &[u8], addr: u64) -> Option<Decoded> {
    let (_, mem) = memory_operands(pc, code)?;
    // The operand whose displacement-only address (no registers: the
    // registers of an ordinary fault are not in the record) equals the
    // fault address, else reads before writes.
    let pick = mem
        .iter()
        .find(|m| {
            m.base() == iced_x86::Register::None
                && m.index() == iced_x86::Register::None
                && m.displacement() == addr
        })
        .or_else(|| first_read(&mem))?;
    Some(Decoded::of(pick))
}

/// The instruction at `pc` decoded from `code` (64-bit mode), with the
/// memory operands it accesses; `None` when the bytes do not decode.
fn memory_operands(pc: u64, code: &[u8]) -> Option<(Instruction, Vec<UsedMemory>)> {
    let mut d = Decoder::with_ip(64, code, pc, DecoderOptions::NONE);
    let ins = d.decode();
    if ins.is_invalid() {
        return None;
    }
    let mut f = InstructionInfoFactory::new();
    let mem = f
        .info(&ins)
        .used_memory()
        .iter()
        .filter(|m| !matches!(m.access(), OpAccess::None | OpAccess::NoMemAccess))
        .copied()
        .collect();
    Some((ins, mem))
}

/// The operand Valgrind reports when the address does not tell: the read
/// of a read-modify-write (the first access made), else the first one.
fn first_read(mem: &[UsedMemory]) -> Option<&UsedMemory> {
    mem.iter()
        .find(|m| is_read(m.access()))
        .or_else(|| mem.first())
}

impl Decoded {
    fn of(m: &UsedMemory) -> Decoded {
        Decoded {
            write: !is_read(m.access()),
            size: m.memory_size().size() as u64,
        }
    }
}

/// The address the instruction at `pc` in `code` accessed, computed from
/// the registers of its fault (`regs`: rax, rcx, rdx, rbx, rsp, rbp, rsi,
/// rdi, r8 .. r15, then the fs base; see `memdx_events::Event::FaultRegs`)
/// for a fault the kernel gave no address (a general protection fault),
/// with the access's direction and size. The operand is the one
/// [`decode`] picks without an address: reads before writes. `None` when
/// the bytes do not decode, the instruction accesses no memory, or the
/// address needs a register the record does not carry (a vector index).
pub fn fault_address(
    pc: u64,
    code: &[u8],
    regs: &[u64; memdx_events::FAULT_REGS],
) -> Option<(u64, Decoded)> {
    let (ins, mem) = memory_operands(pc, code)?;
    let pick = first_read(&mem)?;
    let next_ip = ins.next_ip();
    let addr = pick.virtual_address(0, |reg, _, _| register_value(reg, regs, next_ip))?;
    Some((addr, Decoded::of(pick)))
}

/// The value of `reg` at the fault, for an address computation.
fn register_value(
    reg: Register,
    regs: &[u64; memdx_events::FAULT_REGS],
    next_ip: u64,
) -> Option<u64> {
    match reg {
        Register::RIP => Some(next_ip),
        Register::EIP => Some(next_ip as u32 as u64),
        Register::ES | Register::CS | Register::SS | Register::DS | Register::GS => Some(0),
        Register::FS => Some(regs[16]),
        r if r.is_gpr64() => Some(regs[r.number()]),
        r if r.is_gpr32() => Some(regs[r.number()] as u32 as u64),
        _ => None,
    }
}

/// Whether `addr` is non-canonical on x86-64 (bits 47..64 not all equal):
/// no mapping can hold it, so memcheck finds it unaddressable.
pub fn non_canonical(addr: u64) -> bool {
    let top = addr >> 47;
    top != 0 && top != (1 << 17) - 1
}

fn is_read(a: OpAccess) -> bool {
    matches!(
        a,
        OpAccess::Read | OpAccess::CondRead | OpAccess::ReadWrite | OpAccess::ReadCondWrite
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(code: &[u8]) -> Option<(bool, u64)> {
        decode(0x401000, code, 0x10).map(|d| (d.write, d.size))
    }

    fn regs() -> [u64; memdx_events::FAULT_REGS] {
        // rax = 0x10, rcx = 0x20, ... r15 = 0x100; fs base 0x7000.
        let mut r: [u64; memdx_events::FAULT_REGS] =
            core::array::from_fn(|i| 0x10 * (i as u64 + 1));
        r[16] = 0x7000;
        r
    }

    #[test]
    fn fault_addresses_come_from_the_registers() {
        let r = regs();
        // mov eax, [rdi]: rdi is register 7
        assert_eq!(
            fault_address(0x401000, &[0x8b, 0x07], &r),
            Some((
                0x80,
                Decoded {
                    write: false,
                    size: 4
                }
            ))
        );
        // mov [rax + rcx*4 + 8], edx
        assert_eq!(
            fault_address(0x401000, &[0x89, 0x54, 0x88, 0x08], &r),
            Some((
                0x10 + 0x20 * 4 + 8,
                Decoded {
                    write: true,
                    size: 4
                }
            ))
        );
        // mov rax, fs:[0x28]
        assert_eq!(
            fault_address(0x401000, &[0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0], &r),
            Some((
                0x7028,
                Decoded {
                    write: false,
                    size: 8
                }
            ))
        );
        // mov eax, [rip + 0x10]: relative to the next instruction
        assert_eq!(
            fault_address(0x401000, &[0x8b, 0x05, 0x10, 0, 0, 0], &r),
            Some((
                0x401006 + 0x10,
                Decoded {
                    write: false,
                    size: 4
                }
            ))
        );
        // mov eax, [edi] (32-bit address)
        assert_eq!(
            fault_address(0x401000, &[0x67, 0x8b, 0x07], &r),
            Some((
                0x80,
                Decoded {
                    write: false,
                    size: 4
                }
            ))
        );
        // hlt: no memory operand
        assert_eq!(fault_address(0x401000, &[0xf4], &r), None);
    }

    #[test]
    fn canonical_addresses_are_told_apart() {
        assert!(!non_canonical(0));
        assert!(!non_canonical(0x7fff_ffff_ffff));
        assert!(!non_canonical(0xffff_8000_0000_0000));
        assert!(non_canonical(0x8000_0000_0000_0001));
        assert!(non_canonical(0x0000_8000_0000_0000));
        assert!(non_canonical(0xdead_beef_dead_beef));
    }

    #[test]
    fn loads_stores_and_read_modify_write() {
        // mov eax, [rdi]
        assert_eq!(dec(&[0x8b, 0x07]), Some((false, 4)));
        // mov rax, [rdi]
        assert_eq!(dec(&[0x48, 0x8b, 0x07]), Some((false, 8)));
        // mov byte [rdi], 0x78
        assert_eq!(dec(&[0xc6, 0x07, 0x78]), Some((true, 1)));
        // mov [rdi], si
        assert_eq!(dec(&[0x66, 0x89, 0x37]), Some((true, 2)));
        // add dword [rdi], 1: the read comes first
        assert_eq!(dec(&[0x83, 0x07, 0x01]), Some((false, 4)));
        // movdqu xmm0, [rsi]
        assert_eq!(dec(&[0xf3, 0x0f, 0x6f, 0x06]), Some((false, 16)));
        // movups [rdi], xmm0
        assert_eq!(dec(&[0x0f, 0x11, 0x07]), Some((true, 16)));
        // trailing bytes after the instruction do not matter
        assert_eq!(dec(&[0x8b, 0x07, 0xff, 0xff, 0xff]), Some((false, 4)));
    }

    #[test]
    fn no_memory_access_or_garbage_is_none() {
        // ret: the stack read is implicit, but it is a memory read
        assert_eq!(dec(&[0xc3]), Some((false, 8)));
        // nop
        assert_eq!(dec(&[0x90]), None);
        // truncated: 0x8b needs a ModRM byte
        assert_eq!(dec(&[0x8b]), None);
        assert_eq!(dec(&[]), None);
    }
}
