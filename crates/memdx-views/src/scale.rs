//! Number scaling exactly as procps-ng 4.0.2's `free` does it (`scale_size`
//! in `src/free.c`), including its use of C `float` for `-h`.

/// How sizes are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scale {
    /// procps' "exponent": 0 = default (KiB, or kB with `--si`), 1 = bytes,
    /// 2 = kilo, 3 = mega, 4 = giga, 5 = tera, 6 = peta.
    pub exponent: u32,
    /// Powers of 1000 instead of 1024.
    pub si: bool,
    /// Human-readable: pick the unit so the figure fits in 4 characters
    /// (5 with the `i` of binary units).
    pub human: bool,
}

fn power(base: u32, expo: u32) -> f64 {
    // procps: double power(unsigned base, unsigned expo) recursively; the
    // product of small integers is exact in a double either way.
    (0..expo).fold(1.0, |acc, _| acc * base as f64)
}

/// Formats `size_kib` (a meminfo figure in KiB) the way `free` does.
///
/// procps multiplies by 1024 in 64-bit arithmetic that wraps, so a wrapped
/// "negative" figure (CommitLimit - Committed_AS) prints as negative here
/// too.
pub fn scale_size(size_kib: u64, scale: Scale) -> String {
    let base_int: u32 = if scale.si { 1000 } else { 1024 };
    let bytes = size_kib.wrapping_mul(1024) as i64;

    if !scale.human {
        return match scale.exponent {
            0 => (bytes / base_int as i64).to_string(),
            1 => bytes.to_string(),
            e => ((bytes as f64 / power(base_int, e - 1)) as i64).to_string(),
        };
    }

    let plain = format!("{bytes}B");
    if plain.len() <= 4 {
        return plain;
    }
    let mut last = plain;
    for (i, unit) in ['K', 'M', 'G', 'T', 'P'].into_iter().enumerate() {
        let value = bytes as f64 / power(base_int, i as u32 + 1);
        // C: (float)(bytes / power(...)) printed with "%.1f".
        let as_float = value as f32 as f64;
        let (suffix, limit) = if scale.si { ("", 4) } else { ("i", 5) };
        last = format!("{as_float:.1}{unit}{suffix}");
        if last.len() <= limit {
            return last;
        }
        last = format!("{}{unit}{suffix}", value as i64);
        if last.len() <= limit {
            return last;
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn human(si: bool) -> Scale {
        Scale {
            exponent: 0,
            si,
            human: true,
        }
    }

    #[test]
    fn default_is_kibibytes_and_si_is_kilobytes() {
        assert_eq!(scale_size(1000, Scale::default()), "1000");
        assert_eq!(
            scale_size(
                1000,
                Scale {
                    si: true,
                    ..Scale::default()
                }
            ),
            "1024"
        );
    }

    #[test]
    fn explicit_units_truncate() {
        let mebi = Scale {
            exponent: 3,
            ..Scale::default()
        };
        assert_eq!(scale_size(2047, mebi), "1");
        let bytes = Scale {
            exponent: 1,
            ..Scale::default()
        };
        assert_eq!(scale_size(3, bytes), "3072");
    }

    #[test]
    fn human_picks_the_unit_that_fits() {
        assert_eq!(scale_size(0, human(false)), "0B");
        assert_eq!(scale_size(1, human(false)), "1.0Ki");
        assert_eq!(scale_size(24684084, human(false)), "23Gi");
        assert_eq!(scale_size(1536, human(false)), "1.5Mi");
        assert_eq!(scale_size(1536, human(true)), "1.6M");
    }

    #[test]
    fn wrapped_negative_prints_negative() {
        assert_eq!(scale_size(0u64.wrapping_sub(50), Scale::default()), "-50");
    }
}
