//! procps' own number parsers (`local/strutils.c`), reproduced so that the
//! values accepted and the error messages printed are the same.
//!
//! On failure each returns the suffix procps appends to its message: either
//! `": <strerror(errno)>"` or nothing (when errno was 0).

/// `strtod_nol_or_err`: a locale-independent decimal parser accepting `.` or
/// `,` as the radix, leading spaces and a sign, and nothing else (no
/// exponent, no trailing text). Digits are accumulated in the same order as
/// procps so the double is bit-identical.
pub fn strtod_nol_or_err(text: &str) -> Result<f64, &'static str> {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Err("");
    }
    let mut i = 0;
    while i < bytes.len() && (bytes[i] == b' ' || (b'\t'..=b'\r').contains(&bytes[i])) {
        i += 1;
    }
    let mut negative = false;
    if i < bytes.len() && (bytes[i] == b'-' || bytes[i] == b'+') {
        negative = bytes[i] == b'-';
        i += 1;
    }
    let mut mult = 0.1f64;
    let mut radix = i;
    while radix < bytes.len() && bytes[radix].is_ascii_digit() {
        radix += 1;
        mult *= 10.0;
    }
    let mut num = 0.0f64;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        num += f64::from(bytes[i] - b'0') * mult;
        mult /= 10.0;
        i += 1;
    }
    let sign = |n: f64| if negative { -n } else { n };
    if i == bytes.len() {
        return Ok(sign(num));
    }
    if bytes[i] != b'.' && bytes[i] != b',' {
        return Err(": Invalid argument");
    }
    i += 1;
    mult = 0.1;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        num += f64::from(bytes[i] - b'0') * mult;
        mult /= 10.0;
        i += 1;
    }
    if i == bytes.len() {
        return Ok(sign(num));
    }
    Err("")
}

/// `strtol_or_err`: C `strtol(text, &end, 10)` that must consume the whole
/// string. Overflow is ERANGE.
pub fn strtol_or_err(text: &str) -> Result<i64, &'static str> {
    let trimmed = text.trim_start_matches(|c: char| c == ' ' || ('\t'..='\r').contains(&c));
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("");
    }
    let mut value: i128 = 0;
    for b in digits.bytes() {
        value = value * 10 + i128::from(b - b'0');
        if value > i128::from(i64::MAX) + 1 {
            return Err(": Numerical result out of range");
        }
    }
    let value = if negative { -value } else { value };
    i64::try_from(value).map_err(|_| ": Numerical result out of range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_accepts_comma_radix_sign_and_spaces() {
        assert_eq!(strtod_nol_or_err("1,5"), Ok(1.5));
        assert_eq!(strtod_nol_or_err(" -2"), Ok(-2.0));
        assert_eq!(strtod_nol_or_err("0.1"), Ok(0.1));
    }

    #[test]
    fn strtod_errors_carry_procps_suffixes() {
        assert_eq!(strtod_nol_or_err("1e"), Err(": Invalid argument"));
        assert_eq!(strtod_nol_or_err("1.5x"), Err(""));
        assert_eq!(strtod_nol_or_err(""), Err(""));
    }

    #[test]
    fn strtol_rejects_junk_and_overflow() {
        assert_eq!(strtol_or_err(" 2"), Ok(2));
        assert_eq!(strtol_or_err("x"), Err(""));
        assert_eq!(strtol_or_err("2x"), Err(""));
        assert_eq!(
            strtol_or_err("99999999999999999999"),
            Err(": Numerical result out of range")
        );
        assert_eq!(strtol_or_err("-9223372036854775808"), Ok(i64::MIN));
    }
}
