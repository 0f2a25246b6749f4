//! One unreferenced object as kmemleak prints it, and its backtrace frames.

use serde::Serialize;

/// What kind of memory kmemleak tracked (6.2+ prints `(percpu)` or `(phys)`
/// after "unreferenced object").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    /// A virtually addressed object (slab, vmalloc, ...).
    #[default]
    Virtual,
    /// A per-CPU allocation.
    Percpu,
    /// A physically addressed object.
    Phys,
}

/// One `unreferenced object` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct LeakObject {
    /// The object's address as printed.
    pub address: u64,
    /// Size in bytes.
    pub size: u64,
    /// Virtual, per-CPU or physical.
    pub kind: ObjectKind,
    /// The task that allocated it (`comm "..."`).
    pub comm: String,
    /// Its pid.
    pub pid: i64,
    /// `jiffies` at allocation.
    pub jiffies: u64,
    /// Age in milliseconds, when the kernel printed `(age N.NNNs)` (older kernels).
    pub age_ms: Option<u64>,
    /// The first bytes of the object, when a hex dump was printed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hex_dump: Vec<u8>,
    /// crc32 of the object's contents, printed as `backtrace (crc X):` since 6.8.
    pub crc: Option<u32>,
    /// Allocation backtrace, innermost first, terminators dropped.
    pub backtrace: Vec<Frame>,
    /// 1-based line where the record starts in its input.
    #[serde(skip)]
    pub line: usize,
}

/// One backtrace frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Frame {
    /// A real kernel address (`[<ffffffff81234567>]`, `%pK` with
    /// kptr_restrict=0, or an unsymbolized `0xffff...`). Hashed pointers
    /// (4.15–6.1 `%p`) and zeroed `%pK` addresses are not addresses and are `None`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_hex_opt"
    )]
    pub address: Option<u64>,
    /// Function name, when symbolized (by the kernel or by us from kallsyms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// Offset into the function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// The module the function lives in (`[kmemleak_test]`), `None` for vmlinux.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

fn ser_hex_opt<S: serde::Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(a) => s.serialize_str(&format!("0x{a:x}")),
        None => s.serialize_none(),
    }
}

impl Frame {
    /// The frame as a person reads it: `func+0x1a [module]`, or the address.
    pub fn display(&self) -> String {
        let mut out = match (&self.function, self.address) {
            (Some(f), _) => match self.offset {
                Some(off) => format!("{f}+0x{off:x}"),
                None => f.clone(),
            },
            (None, Some(a)) => format!("0x{a:x}"),
            (None, None) => "??".to_string(),
        };
        if let Some(m) = &self.module {
            out.push_str(&format!(" [{m}]"));
        }
        out
    }

    /// The key used to compare frames across objects and runs: the function
    /// and offset when symbolized (addresses move with KASLR and hashing),
    /// otherwise the address.
    pub fn key(&self) -> String {
        match (&self.function, self.address) {
            (Some(_), _) => self.display(),
            (None, Some(a)) => format!("0x{a:x}"),
            (None, None) => "??".to_string(),
        }
    }
}

/// Whether a printed hex number is a real kernel text address rather than a
/// hashed pointer (`%p` since 4.15 prints 32 random bits, zero-extended) or a
/// restricted `%pK` (all zeros).
pub fn is_kernel_address(digits: &str, value: u64) -> bool {
    if value == 0 {
        return false;
    }
    if digits.len() > 8 {
        // 64-bit: kernel text lives in the top half.
        value >= 0xffff_0000_0000_0000
    } else {
        // 32-bit kernels print 8 digits; kernel space starts at 0xc0000000 or so.
        value >= 0x8000_0000
    }
}

/// Parses the text after `[<addr>] ` or a frame line on its own: `%pS`
/// output such as `kmalloc_trace+0x26/0x90`, `leak_init+0x1c/0x1000
/// [kmemleak_test]`, `foo+0x1/0x2 [mod 0123abcd...]` (build id), or an
/// unsymbolized `0xffffffffc0a01234`. Returns `None` for the
/// `0xffffffffffffffff` terminator older kernels printed.
pub fn parse_symbol(text: &str) -> Option<Frame> {
    let text = text.trim();
    if text.is_empty() {
        return Some(Frame::default());
    }
    let (sym, module) = match text.find(" [") {
        Some(i) if text.ends_with(']') => {
            let inner = &text[i + 2..text.len() - 1];
            let name = inner.split_whitespace().next().unwrap_or("");
            (&text[..i], (!name.is_empty()).then(|| name.to_string()))
        }
        _ => (text, None),
    };
    if let Some(hex) = sym.strip_prefix("0x") {
        let value = u64::from_str_radix(hex, 16).ok()?;
        if value == u64::MAX || (hex.len() == 8 && value == u64::from(u32::MAX)) {
            return None;
        }
        return Some(Frame {
            address: Some(value),
            function: None,
            offset: None,
            module,
        });
    }
    let (function, offset) = match sym.split_once('+') {
        Some((f, rest)) => {
            let off = rest.split('/').next().unwrap_or("");
            let off = off.strip_prefix("0x").unwrap_or(off);
            (f.to_string(), u64::from_str_radix(off, 16).ok())
        }
        None => (sym.to_string(), None),
    };
    Some(Frame {
        address: None,
        function: Some(function),
        offset,
        module,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_with_offset_and_module_is_split() {
        let f = parse_symbol("leak_init+0x1c/0x1000 [kmemleak_test]").unwrap();
        assert_eq!(f.function.as_deref(), Some("leak_init"));
        assert_eq!(f.offset, Some(0x1c));
        assert_eq!(f.module.as_deref(), Some("kmemleak_test"));
        assert_eq!(f.display(), "leak_init+0x1c [kmemleak_test]");
    }

    #[test]
    fn module_with_build_id_keeps_only_the_module_name() {
        let f =
            parse_symbol("foo+0x1/0x2 [ext4 0123456789abcdef0123456789abcdef01234567]").unwrap();
        assert_eq!(f.module.as_deref(), Some("ext4"));
    }

    #[test]
    fn terminator_is_dropped_and_raw_addresses_kept() {
        assert_eq!(parse_symbol("0xffffffffffffffff"), None);
        let f = parse_symbol("0xffffffffc0a01234").unwrap();
        assert_eq!(f.address, Some(0xffff_ffff_c0a0_1234));
        assert_eq!(f.function, None);
    }

    #[test]
    fn hashed_and_restricted_pointers_are_not_addresses() {
        assert!(!is_kernel_address("000000001d1e6a5c", 0x1d1e_6a5c));
        assert!(!is_kernel_address("0000000000000000", 0));
        assert!(is_kernel_address("ffffffff81234567", 0xffff_ffff_8123_4567));
        assert!(is_kernel_address("c01234ab", 0xc012_34ab));
    }
}
