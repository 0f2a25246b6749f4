//! Parser for kmemleak reports: the debugfs file's contents and kernel log
//! text (`kmemleak: ` prefixed lines among other messages), in every layout
//! kernels have printed:
//!
//! - `[<ffffffff81234567>] sym+0x1/0x2` frames ending in a
//!   `0xffffffffffffffff` terminator (before 4.15 on x86);
//! - hashed `[<000000001d1e6a5c>]` pointers (`%p`, 4.15–6.1);
//! - `%pK` pointers (6.2+: real with kptr_restrict=0, zeros otherwise);
//! - `backtrace (crc 1a2b3c4d):` headers and `comm` lines without `(age ...)`;
//! - frames without any `[<addr>]` (6.12.9+/6.13+);
//! - `unreferenced object (percpu) 0x...` and `(phys)` objects;
//! - two-line hex dumps.

use crate::error::{KernelError, Result};
use crate::kmemleak::record::{is_kernel_address, parse_symbol, Frame, LeakObject, ObjectKind};

/// Where the text came from, which decides how strict the parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The debugfs file (or a copy): every non-blank line belongs to a record.
    Debugfs,
    /// Kernel log text (dmesg, /dev/kmsg, console, syslog): only lines with
    /// a `kmemleak: ` prefix count, everything else is noise.
    KernelLog,
}

const PREFIX: &str = "kmemleak: ";
const HEADER: &str = "unreferenced object";

/// Guesses the layout: kernel log text has `kmemleak: ` before the record
/// header; the debugfs file starts lines with it.
pub fn detect_layout(text: &str) -> Layout {
    for line in text.lines() {
        if line.starts_with(HEADER) {
            return Layout::Debugfs;
        }
        if line.contains("kmemleak: unreferenced object") {
            return Layout::KernelLog;
        }
    }
    if text.contains(PREFIX) {
        Layout::KernelLog
    } else {
        Layout::Debugfs
    }
}

/// Parses a whole report, guessing the layout. `source_name` names the
/// input in errors (a path or `-`).
pub fn parse_report(text: &str, source_name: &str) -> Result<Vec<LeakObject>> {
    parse_with_layout(text, source_name, detect_layout(text))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Outside,
    Header,
    HexDump,
    Backtrace,
}

/// Parses with a known layout.
pub fn parse_with_layout(text: &str, source_name: &str, layout: Layout) -> Result<Vec<LeakObject>> {
    let mut objects = Vec::new();
    let mut current: Option<LeakObject> = None;
    let mut state = State::Outside;
    let err = |line: usize, msg: String| KernelError::parse(source_name, line, msg);

    for (index, raw) in text.lines().enumerate() {
        let lineno = index + 1;
        let body = match layout {
            Layout::Debugfs => raw.trim_end_matches('\r'),
            Layout::KernelLog => match raw.find(PREFIX) {
                Some(pos) => raw[pos + PREFIX.len()..].trim_end_matches('\r'),
                None => continue,
            },
        };
        if body.trim().is_empty() {
            continue;
        }
        if let Some(rest) = body.strip_prefix(HEADER) {
            if let Some(done) = current.take() {
                objects.push(done);
            }
            current = Some(parse_header(rest).map_err(|m| err(lineno, m))?);
            if let Some(obj) = current.as_mut() {
                obj.line = lineno;
            }
            state = State::Header;
            continue;
        }
        let indented = body.starts_with(' ') || body.starts_with('\t');
        let Some(obj) = current.as_mut().filter(|_| indented) else {
            if layout == Layout::KernelLog {
                // "kmemleak: 3 new suspected memory leaks ...", "Kernel memory
                // leak detector initialized", ...: ends any record.
                if let Some(done) = current.take() {
                    objects.push(done);
                }
                state = State::Outside;
                continue;
            }
            return Err(err(
                lineno,
                format!("not part of a kmemleak record: {:?}", clip(body)),
            ));
        };
        let trimmed = body.trim();
        if let Some(rest) = trimmed.strip_prefix("comm \"") {
            parse_comm(rest, obj).map_err(|m| err(lineno, m))?;
        } else if trimmed.starts_with("hex dump") {
            state = State::HexDump;
        } else if let Some(rest) = trimmed.strip_prefix("backtrace") {
            obj.crc = parse_backtrace_header(rest).map_err(|m| err(lineno, m))?;
            state = State::Backtrace;
        } else {
            match state {
                State::HexDump => {
                    let bytes = parse_hex_row(trimmed).ok_or_else(|| {
                        err(lineno, format!("bad hex dump row: {:?}", clip(trimmed)))
                    })?;
                    obj.hex_dump.extend(bytes);
                }
                State::Backtrace => {
                    if let Some(frame) = parse_frame(trimmed).map_err(|m| err(lineno, m))? {
                        obj.backtrace.push(frame);
                    }
                }
                State::Header | State::Outside => {
                    return Err(err(
                        lineno,
                        format!("unexpected line in a kmemleak record: {:?}", clip(trimmed)),
                    ));
                }
            }
        }
    }
    if let Some(done) = current.take() {
        objects.push(done);
    }
    Ok(objects)
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

/// ` 0xffff888003c1e000 (size 32):` or ` (percpu) 0x... (size 8):`.
fn parse_header(rest: &str) -> std::result::Result<LeakObject, String> {
    let mut obj = LeakObject::default();
    let mut rest = rest.trim_start();
    if let Some(r) = rest.strip_prefix("(percpu)") {
        obj.kind = ObjectKind::Percpu;
        rest = r.trim_start();
    } else if let Some(r) = rest.strip_prefix("(phys)") {
        obj.kind = ObjectKind::Phys;
        rest = r.trim_start();
    }
    let bad = || format!("bad 'unreferenced object' line: {:?}", clip(rest));
    let hex = rest.strip_prefix("0x").ok_or_else(bad)?;
    let (addr, after) = hex.split_once(' ').ok_or_else(bad)?;
    obj.address = u64::from_str_radix(addr, 16).map_err(|_| bad())?;
    let size = after
        .trim()
        .strip_prefix("(size ")
        .and_then(|s| s.strip_suffix("):"))
        .ok_or_else(bad)?;
    obj.size = size.parse().map_err(|_| bad())?;
    Ok(obj)
}

/// `swapper/0", pid 1, jiffies 4294937296 (age 3524.120s)`; the comm may
/// itself contain quotes, so split at the last `", pid `.
fn parse_comm(rest: &str, obj: &mut LeakObject) -> std::result::Result<(), String> {
    let bad = || format!("bad 'comm' line: {:?}", clip(rest));
    let pos = rest.rfind("\", pid ").ok_or_else(bad)?;
    obj.comm = rest[..pos].to_string();
    let tail = &rest[pos + "\", pid ".len()..];
    let (pid, tail) = tail.split_once(", jiffies ").ok_or_else(bad)?;
    obj.pid = pid.trim().parse().map_err(|_| bad())?;
    let mut parts = tail.splitn(2, ' ');
    obj.jiffies = parts.next().unwrap_or("").parse().map_err(|_| bad())?;
    if let Some(age) = parts.next() {
        let secs = age
            .trim()
            .strip_prefix("(age ")
            .and_then(|s| s.strip_suffix("s)"))
            .ok_or_else(bad)?;
        let (whole, frac) = secs.split_once('.').unwrap_or((secs, "0"));
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let frac = format!("{frac:0<3}");
        let millis: u64 = frac[..3].parse().map_err(|_| bad())?;
        obj.age_ms = Some(whole * 1000 + millis);
    }
    Ok(())
}

/// `:` or ` (crc 1a2b3c4d):`.
fn parse_backtrace_header(rest: &str) -> std::result::Result<Option<u32>, String> {
    let rest = rest.trim();
    if rest == ":" {
        return Ok(None);
    }
    let crc = rest
        .strip_prefix("(crc ")
        .and_then(|s| s.strip_suffix("):"))
        .ok_or_else(|| format!("bad 'backtrace' line: {:?}", clip(rest)))?;
    u32::from_str_radix(crc, 16)
        .map(Some)
        .map_err(|_| format!("bad crc in 'backtrace' line: {crc:?}"))
}

/// `6b 6b 6b ... a5  kkkkkkkkkkkkkkk.`: up to 16 bytes, then the ASCII column.
fn parse_hex_row(row: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(16);
    for token in row.split(' ') {
        if token.is_empty() {
            break; // two spaces: the ASCII column follows
        }
        if bytes.len() == 16 || token.len() != 2 {
            break;
        }
        match u8::from_str_radix(token, 16) {
            Ok(b) => bytes.push(b),
            Err(_) => break,
        }
    }
    (!bytes.is_empty()).then_some(bytes)
}

/// `[<ffffffff81234567>] sym+0x1/0x2`, `[<000000001d1e6a5c>] sym...`, or
/// `sym+0x1/0x2` alone (6.13+). `Ok(None)` for the old terminator frame.
fn parse_frame(line: &str) -> std::result::Result<Option<Frame>, String> {
    let Some(rest) = line.strip_prefix("[<") else {
        return Ok(parse_symbol(line));
    };
    let (digits, sym) = rest
        .split_once(">]")
        .ok_or_else(|| format!("bad backtrace frame: {:?}", clip(line)))?;
    // `%p` prints "(____ptrval____)" until the kernel's pointer-hashing key
    // is ready (seen early after boot on machines short of entropy, e.g.
    // small VMs): no address, but the symbol is still there.
    let value = if digits == "(____ptrval____)" || digits == "(ptrval)" {
        None
    } else {
        let v = u64::from_str_radix(digits, 16)
            .map_err(|_| format!("bad address in backtrace frame: {:?}", clip(line)))?;
        if v == u64::MAX {
            return Ok(None);
        }
        Some(v)
    };
    let Some(mut frame) = parse_symbol(sym) else {
        return Ok(None);
    };
    if frame.address.is_none() {
        frame.address = value.filter(|v| is_kernel_address(digits, *v));
    }
    Ok(Some(frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIX_EIGHT: &str = "\
unreferenced object 0xffff888005a3b000 (size 32):
  comm \"insmod\", pid 92, jiffies 4294893456
  hex dump (first 32 bytes):
    6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b  kkkkkkkkkkkkkkkk
    6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b a5  kkkkkkkkkkkkkkk.
  backtrace (crc 1a2b3c4d):
    [<ffffffff812f1e27>] __kmalloc_cache_noprof+0x2f7/0x3a0
    [<ffffffffc0a0107a>] kmemleak_test_init+0x7a/0x1000 [kmemleak_test]
    [<ffffffff81001c2e>] do_one_initcall+0x5e/0x320
";

    #[test]
    fn six_eight_record_with_crc_and_hex_dump() {
        let objs = parse_report(SIX_EIGHT, "t").unwrap();
        assert_eq!(objs.len(), 1);
        let o = &objs[0];
        assert_eq!(o.address, 0xffff_8880_05a3_b000);
        assert_eq!(o.size, 32);
        assert_eq!(o.comm, "insmod");
        assert_eq!(o.pid, 92);
        assert_eq!(o.age_ms, None);
        assert_eq!(o.crc, Some(0x1a2b_3c4d));
        assert_eq!(o.hex_dump.len(), 32);
        assert_eq!(o.hex_dump[31], 0xa5);
        assert_eq!(o.backtrace.len(), 3);
        assert_eq!(o.backtrace[1].module.as_deref(), Some("kmemleak_test"));
        assert_eq!(o.backtrace[1].address, Some(0xffff_ffff_c0a0_107a));
    }

    #[test]
    fn comm_with_quotes_and_age_is_parsed() {
        let text = "unreferenced object 0xc1234567 (size 8):\n  comm \"a \"b\"\", pid 7, jiffies 100 (age 12.05s)\n  backtrace:\n";
        let o = &parse_report(text, "t").unwrap()[0];
        assert_eq!(o.comm, "a \"b\"");
        assert_eq!(o.age_ms, Some(12_050));
    }

    #[test]
    fn non_ascii_age_is_an_error_not_a_panic() {
        let text = "unreferenced object 0xc1234567 (size 8):\n  comm \"a\", pid 7, jiffies 100 (age 1.ééés)\n";
        let e = parse_report(text, "t").unwrap_err().to_string();
        assert!(e.starts_with("t line 2: bad 'comm' line"), "{e}");
    }

    #[test]
    fn garbage_in_debugfs_layout_names_the_line() {
        let text = format!("{SIX_EIGHT}this is not kmemleak\n");
        let e = parse_report(&text, "saved.txt").unwrap_err().to_string();
        assert!(e.starts_with("saved.txt line 10:"), "{e}");
    }

    #[test]
    fn bad_size_is_an_error_naming_the_line() {
        let e = parse_report("unreferenced object 0xffff (size x):\n", "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("f line 1"), "{e}");
    }

    #[test]
    fn kernel_log_ignores_noise_between_prefixed_lines() {
        let text = "[   10.0] kmemleak: unreferenced object 0xffff888005a3b000 (size 32):\n\
[   10.0] kmemleak:   comm \"insmod\", pid 92, jiffies 4294893456\n\
[   10.1] e1000: eth0 NIC Link is Up\n\
[   10.0] kmemleak:   backtrace (crc 0):\n\
[   10.0] kmemleak:     __kmalloc+0x1/0x2\n\
[   10.0] kmemleak:     foo_probe+0x10/0x20 [foo]\n\
[   11.0] kmemleak: 1 new suspected memory leaks (see /sys/kernel/debug/kmemleak)\n";
        assert_eq!(detect_layout(text), Layout::KernelLog);
        let objs = parse_report(text, "dmesg").unwrap();
        assert_eq!(objs.len(), 1);
        assert_eq!(objs[0].backtrace.len(), 2);
        assert_eq!(objs[0].backtrace[1].function.as_deref(), Some("foo_probe"));
        assert_eq!(objs[0].backtrace[0].address, None);
    }

    #[test]
    fn ptrval_placeholder_is_no_address_but_keeps_the_symbol() {
        let text = "unreferenced object 0xffff888000154ca0 (size 32):\n  comm \"insmod\", pid 23, jiffies 4294892699\n  backtrace:\n    [<(____ptrval____)>] kmalloc_trace+0xf/0x10\n    [<(____ptrval____)>] 0xffffffffa0005029\n    [<zzzz>] x+0x1/0x2\n";
        let e = parse_report(text, "t").unwrap_err().to_string();
        assert!(e.contains("t line 6: bad address"), "{e}");
        let objs = parse_report(&text.replace("    [<zzzz>] x+0x1/0x2\n", ""), "t").unwrap();
        let bt = &objs[0].backtrace;
        assert_eq!(bt[0].function.as_deref(), Some("kmalloc_trace"));
        assert_eq!(bt[0].address, None);
        assert_eq!(bt[1].address, Some(0xffff_ffff_a000_5029));
    }

    #[test]
    fn percpu_objects_are_marked() {
        let text = "unreferenced object (percpu) 0x3c4a1f (size 8):\n  comm \"swapper/0\", pid 1, jiffies 4294892296\n  backtrace (crc 0):\n    pcpu_alloc_noprof+0x3b3/0x8a0\n";
        let o = &parse_report(text, "t").unwrap()[0];
        assert_eq!(o.kind, ObjectKind::Percpu);
        assert_eq!(o.address, 0x3c_4a1f);
    }
}
