//! `-S`: the unit of memory figures, and procps' `float` conversion.

/// A display unit chosen with `-S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataUnit {
    /// Bytes per unit.
    pub bytes: u64,
    /// The letter printed by `-s` (procps prints the letter it was given,
    /// so `-S b` and `-S B` differ only there).
    pub letter: char,
}

impl Default for DataUnit {
    fn default() -> Self {
        Self {
            bytes: 1024,
            letter: 'K',
        }
    }
}

impl DataUnit {
    /// The unit named by the first character of `-S`'s argument (procps
    /// ignores the rest): b/B bytes, k 1000, K 1024, m 10^6, M 2^20.
    pub fn from_arg(arg: &str) -> Option<Self> {
        let letter = arg.chars().next()?;
        let bytes = match letter {
            'b' | 'B' => 1,
            'k' => 1000,
            'K' => 1024,
            'm' => 1_000_000,
            'M' => 1_048_576,
            _ => return None,
        };
        Some(Self { bytes, letter })
    }

    /// Converts a size in KiB to this unit exactly as procps'
    /// `unitConvert` does: in C `float`, truncated. Large figures lose
    /// precision (a float has 24 bits of mantissa) and procps prints the
    /// rounded value, so we do too.
    pub fn convert_kib(&self, kib: u64) -> u64 {
        c_float_to_ulong((kib as f32) / (self.bytes as f32) * 1024.0f32)
    }
}

/// C's `(unsigned long)` of a `float` as gcc compiles it on x86-64: values
/// below 2^63 through `cvttss2si`, larger ones as `cvttss2si(x - 2^63)` with
/// bit 63 flipped, so anything from 2^64 up (out of range, undefined in C)
/// comes out as 0 — not saturated as Rust's `as` would. procps prints that
/// 0 for wrapped "negative" sizes, e.g. swap used when SwapFree > SwapTotal.
fn c_float_to_ulong(x: f32) -> u64 {
    const TWO_63: f32 = 9_223_372_036_854_775_808.0;
    // cvttss2si's "integer indefinite" for NaN and out-of-range values.
    let cvttss2si = |v: f32| -> i64 {
        if v.is_nan() || !(-TWO_63..TWO_63).contains(&v) {
            i64::MIN
        } else {
            v as i64
        }
    };
    if x.is_nan() || x < TWO_63 {
        cvttss2si(x) as u64
    } else {
        (cvttss2si(x - TWO_63) as u64) ^ (1 << 63)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_letter_counts() {
        assert_eq!(DataUnit::from_arg("kb").unwrap().bytes, 1000);
        assert_eq!(DataUnit::from_arg("B").unwrap().letter, 'B');
        assert_eq!(DataUnit::from_arg("x"), None);
        assert_eq!(DataUnit::from_arg(""), None);
    }

    #[test]
    fn conversion_goes_through_c_float() {
        let k = DataUnit::default();
        assert_eq!(k.convert_kib(24165968), 24165968);
        // 2^24 + 1 is not representable in a float: procps prints 2^24.
        assert_eq!(k.convert_kib(16_777_217), 16_777_216);
        let b = DataUnit::from_arg("b").unwrap();
        assert_eq!(b.convert_kib(22368180), 22_905_016_320);
        let m = DataUnit::from_arg("m").unwrap();
        assert_eq!(m.convert_kib(22368180), 22905);
    }

    #[test]
    fn float_to_ulong_matches_gcc_beyond_range() {
        // Printed by gcc -O2 `(unsigned long)strtof(argv[i])` on x86-64.
        assert_eq!(c_float_to_ulong(1.8446744e19), 0);
        assert_eq!(c_float_to_ulong(9.3e18), 9_300_000_300_729_368_576);
        assert_eq!(c_float_to_ulong(9.22e18), 9_219_999_834_692_386_816);
        assert_eq!(c_float_to_ulong(1e20), 0);
        assert_eq!(c_float_to_ulong(f32::INFINITY), 0);
        assert_eq!(c_float_to_ulong(1.5), 1);
        // A wrapped "negative" size converts to 0 in every unit.
        assert_eq!(DataUnit::default().convert_kib(u64::MAX - 5), 0);
    }

    #[test]
    fn matches_gcc_float_results() {
        // Printed by a C program doing procps' `(float)size / unit * 1024`
        // for these sizes and units b, k, K, m, M.
        let sizes = [22368180u64, 16777217, 24684084, 123456789, 4294967295];
        let expected: [[u64; 5]; 5] = [
            [22905016320, 22905016, 22368180, 22905, 21843],
            [17179869184, 17179870, 16777216, 17179, 16384],
            [25276502016, 25276502, 24684084, 25276, 24105],
            [126419755008, 126419752, 123456792, 126419, 120563],
            [4398046511104, 4398046720, 4294967296, 4398046, 4194304],
        ];
        for (size, row) in sizes.iter().zip(expected) {
            for (letter, want) in ["b", "k", "K", "m", "M"].iter().zip(row) {
                let unit = DataUnit::from_arg(letter).unwrap();
                assert_eq!(unit.convert_kib(*size), want, "{size} -S {letter}");
            }
        }
    }
}
