//! A small deterministic mutator for the smoke run: the same seed gives
//! the same inputs on every machine, so a failure reproduces.

/// A xorshift64* generator.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is mapped to a fixed non-zero state).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Byte strings that break parsers: number edges, separators, bytes that
/// are not UTF-8, the 0xFF part separator of multi-file inputs.
const TOKENS: &[&[u8]] = &[
    b"0",
    b"-1",
    b"18446744073709551615",
    b"18446744073709551616",
    b"99999999999999999999999999",
    b"9223372036854775808",
    b"4294967296",
    b"1e308",
    b"NaN",
    b"inf",
    b"-",
    b":",
    b" ",
    b"\t",
    b"\n",
    b"\n\n",
    b"(",
    b")",
    b"[<",
    b">]",
    b"[",
    b"]",
    b"{",
    b"}",
    b"<",
    b">",
    b"</",
    b"=",
    b",",
    b".",
    b"...",
    b"*",
    b"\0",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"kB",
    b"max",
    b"0x",
    b"0xffffffffffffffff",
    b"&amp;",
    b"&#x110000;",
    b"\"",
    b"\\",
];

/// One mutation of `input`, sometimes spliced with `other`.
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = out.len();
        match rng.below(9) {
            // Flip a bit.
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            // Set a byte to anything.
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = rng.next_u64() as u8;
            }
            // Insert a token.
            2 | 3 => {
                let i = rng.below(len + 1);
                let t = TOKENS[rng.below(TOKENS.len())];
                out.splice(i..i, t.iter().copied());
            }
            // Delete a range.
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                out.drain(i..i + n);
            }
            // Duplicate a range (repetition, deep nesting).
            5 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let chunk = out[i..i + n].to_vec();
                let times = 1 + rng.below(8);
                for _ in 0..times {
                    out.splice(i..i, chunk.iter().copied());
                }
            }
            // Cut the input short.
            6 if len > 0 => {
                out.truncate(rng.below(len));
            }
            // Splice in part of another seed.
            7 if !other.is_empty() => {
                let i = rng.below(len + 1);
                let j = rng.below(other.len());
                let n = 1 + rng.below((other.len() - j).min(512));
                out.splice(i..i, other[j..j + n].iter().copied());
            }
            // Change a digit (numbers near the edges of their type).
            _ => {
                for _ in 0..16 {
                    let i = rng.below(len.max(1));
                    if out.get(i).is_some_and(u8::is_ascii_digit) {
                        out[i] = b'0' + rng.below(10) as u8;
                        break;
                    }
                }
            }
        }
    }
    out
}
