//! Whether the runtime can interpose the program's allocator at all.
//!
//! `memdx check` sees the heap through `LD_PRELOAD`. Two kinds of program
//! escape it: a statically linked one (no `PT_INTERP`: no dynamic linker
//! runs, the runtime is never loaded) and one whose executable defines
//! and exports its own `malloc` family (the executable comes first in the
//! lookup order, before every preloaded library, so its functions win).
//! Either would otherwise get a preamble and then silence, which reads as
//! a clean run. The program file is read before it runs; a file that is
//! not ELF (a script: its interpreter is what runs) is not judged.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The allocator functions whose definition in the executable hides the
/// runtime's.
const FAMILY: [&str; 4] = ["malloc", "free", "calloc", "realloc"];

/// Why memdx cannot see a program's heap.
#[derive(Debug, PartialEq, Eq)]
pub enum Blind {
    /// Statically linked: no dynamic linker, so no preloaded runtime.
    Static,
    /// The executable defines and exports these functions of the malloc
    /// family.
    OwnAllocator(Vec<String>),
}

impl Blind {
    /// Why memdx cannot see the heap, naming `program`.
    pub fn why(&self, program: &str) -> String {
        match self {
            Blind::Static => format!(
                "{program} is statically linked: memdx cannot see its heap \
                 (LD_PRELOAD has no effect)"
            ),
            Blind::OwnAllocator(names) => format!(
                "{program} defines its own {}: memdx cannot see the allocations they make",
                names.join(", ")
            ),
        }
    }

    /// The warning's text (without the `==PID==` prefix), naming `program`.
    pub fn warning(&self, program: &str) -> String {
        let consequence = match self {
            Blind::Static => "no heap error or leak can be reported",
            Blind::OwnAllocator(_) => "no heap error or leak of theirs can be reported",
        };
        format!("Warning: {}, so {consequence}", self.why(program))
    }
}

/// The file `program` names, found in `PATH` as `execvp` does when the
/// name has no slash.
fn resolve(program: &OsStr) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Judges the program `program` (as given on the command line) before it
/// runs; None when the runtime can interpose it, or when the file cannot
/// be read or is no ELF file.
pub fn check(program: &OsStr) -> Option<Blind> {
    let path = resolve(program)?;
    let data = std::fs::read(path).ok()?;
    judge(&data)
}

/// [`check`] on the bytes of an executable.
pub fn judge(data: &[u8]) -> Option<Blind> {
    use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};
    use object::{Object, ObjectSymbol};
    let elf = ElfFile64::<object::Endianness>::parse(data).ok()?;
    let endian = elf.endian();
    let segments = elf.elf_header().program_headers(endian, data).ok()?;
    let has_interp = segments
        .iter()
        .any(|s| s.p_type(endian) == object::elf::PT_INTERP);
    if !has_interp {
        // A shared library has no interpreter either, but is not run.
        return (elf.elf_header().e_type(endian) == object::elf::ET_EXEC || elf.entry() != 0)
            .then_some(Blind::Static);
    }
    let mut own: Vec<String> = elf
        .dynamic_symbols()
        .filter(|s| s.is_definition() && s.is_global())
        .filter_map(|s| s.name().ok().map(str::to_string))
        .filter(|n| FAMILY.contains(&n.as_str()))
        .collect();
    own.sort_by_key(|n| FAMILY.iter().position(|f| f == n));
    own.dedup();
    (!own.is_empty()).then_some(Blind::OwnAllocator(own))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_elf_is_not_judged() {
        assert_eq!(judge(b"#!/bin/sh\necho hi\n"), None);
    }

    #[test]
    fn memdx_itself_is_dynamic_with_the_c_librarys_malloc() {
        let exe = std::env::current_exe().unwrap();
        assert_eq!(check(exe.as_os_str()), None);
    }

    #[test]
    fn a_program_without_a_slash_is_found_in_path() {
        assert!(resolve(OsStr::new("sh")).is_some_and(|p| p.is_file()));
    }
}
