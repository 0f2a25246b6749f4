//! Symbolizing raw kernel addresses with `/proc/kallsyms`.

use serde::Serialize;

use crate::error::{KernelError, Result};
use crate::kmemleak::record::Frame;

/// Relative path of the symbol table under a `ProcRoot`.
pub const REL_PATH: &str = "proc/kallsyms";

/// How far past the last known symbol of a module (or of vmlinux) an
/// address may lie and still be taken as inside it.
pub const LAST_SYMBOL_SPAN: u64 = 4096;

/// One text symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Symbol {
    /// Start address.
    pub address: u64,
    /// Name.
    pub name: String,
    /// Module, `None` for vmlinux.
    pub module: Option<String>,
}

/// The text symbols of a running kernel, sorted by address.
#[derive(Debug, Clone, Default)]
pub struct Kallsyms {
    symbols: Vec<Symbol>,
}

impl Kallsyms {
    /// Parses kallsyms text. Only text symbols (`t`, `T`, `w`, `W`) are kept.
    /// A table whose addresses are all zero (kptr_restrict, not root) yields
    /// an empty table: `is_usable()` tells.
    pub fn parse(text: &str, source_name: &str) -> Result<Self> {
        let mut symbols = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let mut parts = line.split_whitespace();
            let (Some(addr), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next())
            else {
                if line.trim().is_empty() {
                    continue;
                }
                return Err(KernelError::parse(
                    source_name,
                    i + 1,
                    format!(
                        "expected 'ADDRESS TYPE NAME [MODULE]': {}",
                        crate::error::quoted(line)
                    ),
                ));
            };
            let address = u64::from_str_radix(addr, 16).map_err(|_| {
                KernelError::parse(
                    source_name,
                    i + 1,
                    format!("bad address {}", crate::error::quoted(addr)),
                )
            })?;
            if address == 0 || !matches!(kind, "t" | "T" | "w" | "W") {
                continue;
            }
            let module = parts
                .next()
                .map(|m| m.trim_start_matches('[').trim_end_matches(']').to_string());
            symbols.push(Symbol {
                address,
                name: name.to_string(),
                module,
            });
        }
        symbols.sort_by_key(|s| s.address);
        Ok(Kallsyms { symbols })
    }

    /// Reads `proc/kallsyms` under `root`.
    pub fn read(root: &memdx_proc::ProcRoot) -> Result<Self> {
        let path = root.path(REL_PATH);
        let text = crate::error::read_text(&path)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Whether any real address was readable.
    pub fn is_usable(&self) -> bool {
        !self.symbols.is_empty()
    }

    /// The symbol containing `address` and the offset into it. A symbol
    /// ends where the next one of the same module (or vmlinux) starts; the
    /// last symbol of a module gets at most [`LAST_SYMBOL_SPAN`] bytes, because
    /// what follows it may be code whose symbols are gone (a module's init
    /// code is freed after loading), and a wrong name is worse than none.
    pub fn lookup(&self, address: u64) -> Option<(&Symbol, u64)> {
        let idx = self.symbols.partition_point(|s| s.address <= address);
        let sym = self.symbols.get(idx.checked_sub(1)?)?;
        let offset = address - sym.address;
        let limit = match self.symbols.get(idx) {
            Some(next) if next.module == sym.module => next.address - sym.address,
            _ => LAST_SYMBOL_SPAN,
        };
        (offset < limit && offset < 1 << 20).then_some((sym, offset))
    }

    /// Fills in function, offset and module for frames that only have an
    /// address. Returns how many frames were symbolized.
    pub fn symbolize(&self, frames: &mut [Frame]) -> usize {
        let mut n = 0;
        for f in frames.iter_mut().filter(|f| f.function.is_none()) {
            if let Some((sym, off)) = f.address.and_then(|a| self.lookup(a)) {
                f.function = Some(sym.name.clone());
                f.offset = Some(off);
                f.module = sym.module.clone();
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "ffffffff81000000 T _text\nffffffff81001000 t do_one_initcall\nffffffff81002000 D some_data\nffffffff81003000 T next_fn\nffffffffc0a01000 t leak_init\t[kmemleak_test]\nffffffffc0a02000 t leak_exit\t[kmemleak_test]\n";

    #[test]
    fn address_inside_a_function_gets_name_and_offset() {
        let k = Kallsyms::parse(TABLE, "k").unwrap();
        let (s, off) = k.lookup(0xffff_ffff_8100_1040).unwrap();
        assert_eq!(s.name, "do_one_initcall");
        assert_eq!(off, 0x40);
        let mut frames = vec![Frame {
            address: Some(0xffff_ffff_c0a0_107a),
            ..Frame::default()
        }];
        assert_eq!(k.symbolize(&mut frames), 1);
        assert_eq!(frames[0].display(), "leak_init+0x7a [kmemleak_test]");
    }

    #[test]
    fn freed_module_init_code_is_not_named_after_the_module_s_last_function() {
        // kmemleak_test's init code at ...a0005000 was freed after loading:
        // only its exit function is left in kallsyms.
        let k = Kallsyms::parse("ffffffff81000000 T _text\nffffffff81001000 T _etext\nffffffffa0000000 t kmemleak_test_exit\t[kmemleak_test]\n", "k").unwrap();
        assert_eq!(
            k.lookup(0xffff_ffff_a000_0040)
                .map(|(s, o)| (s.name.as_str(), o)),
            Some(("kmemleak_test_exit", 0x40))
        );
        assert!(k.lookup(0xffff_ffff_a000_5029).is_none());
    }

    #[test]
    fn restricted_table_is_unusable() {
        let k = Kallsyms::parse("0000000000000000 T _text\n0000000000000000 t foo\n", "k").unwrap();
        assert!(!k.is_usable());
        assert!(k.lookup(0xffff_ffff_8100_0000).is_none());
    }

    #[test]
    fn malformed_line_names_the_line() {
        let e =
            Kallsyms::parse("ffffffff81000000 T _text\nzzzz T x\n", "/proc/kallsyms").unwrap_err();
        assert_eq!(e.to_string(), "/proc/kallsyms line 2: bad address \"zzzz\"");
    }
}
