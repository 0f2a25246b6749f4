//! The ELF64 records and tags the runtime reads from loaded objects'
//! dynamic sections (`attach`: GOT slots to redirect; `symver`: which
//! symbol versions an object imports), as the ELF specification lays them
//! out.

/// A dynamic section entry.
#[repr(C)]
pub struct Dyn {
    pub tag: i64,
    pub val: u64,
}

/// A relocation with addend.
#[repr(C)]
pub struct Rela {
    pub offset: u64,
    pub info: u64,
    pub addend: i64,
}

/// A symbol table entry.
#[repr(C)]
pub struct Sym {
    pub name: u32,
    pub info: u8,
    pub other: u8,
    pub shndx: u16,
    pub value: u64,
    pub size: u64,
}

pub const DT_NULL: i64 = 0;
pub const DT_PLTRELSZ: i64 = 2;
pub const DT_STRTAB: i64 = 5;
pub const DT_SYMTAB: i64 = 6;
pub const DT_RELA: i64 = 7;
pub const DT_RELASZ: i64 = 8;
pub const DT_STRSZ: i64 = 10;
pub const DT_JMPREL: i64 = 23;
pub const R_X86_64_GLOB_DAT: u64 = 6;
pub const R_X86_64_JUMP_SLOT: u64 = 7;
