//! What a faulting instruction did: read or write, and how many bytes,
//! decoded from the code bytes the runtime copied at the faulting pc (the
//! runtime never decodes; this runs in the CLI).

use iced_x86::{Decoder, DecoderOptions, InstructionInfoFactory, OpAccess};

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
    let mut d = Decoder::with_ip(64, code, pc, DecoderOptions::NONE);
    let ins = d.decode();
    if ins.is_invalid() {
        return None;
    }
    let mut f = InstructionInfoFactory::new();
    let info = f.info(&ins);
    let used = info.used_memory();
    let mem = used
        .iter()
        .filter(|m| !matches!(m.access(), OpAccess::None | OpAccess::NoMemAccess))
        .collect::<Vec<_>>();
    // The operand whose displacement-only address (no registers: the
    // registers of the fault are not in the record) equals the fault
    // address, else reads before writes.
    let pick = mem
        .iter()
        .find(|m| {
            m.base() == iced_x86::Register::None
                && m.index() == iced_x86::Register::None
                && m.displacement() == addr
        })
        .or_else(|| mem.iter().find(|m| is_read(m.access())))
        .or_else(|| mem.first())?;
    let size = pick.memory_size().size() as u64;
    Some(Decoded {
        write: !is_read(pick.access()),
        size,
    })
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
