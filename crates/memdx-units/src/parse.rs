//! Parsers for durations, sizes and rates.

use std::time::Duration;

/// Text that is not a duration, size or rate. The message names the text
/// and what would have been accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Not a duration.
    #[error("'{0}' is not a duration: give seconds (0.5, 12) or a number with ms, s, m, h or d (30s, 10m, 2h)")]
    Duration(String),
    /// Not a byte size.
    #[error("'{0}' is not a size: give bytes (4096) or a number with B, K, M, G, T, KiB, MiB, GiB, TiB, kB, MB, GB or TB (64KiB, 1.5G)")]
    Bytes(String),
    /// Not a byte rate.
    #[error("'{0}' is not a rate: give a size per time unit (1MiB/min, 100KiB/s, 2G/h)")]
    Rate(String),
}

/// Splits `"12.5kB"` into the number `12.5` and the unit `"kB"` (spaces
/// between them allowed). `None` unless the number is finite and not negative.
fn split_number(text: &str) -> Option<(f64, &str)> {
    let t = text.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(end);
    // "." or "" alone is no number; "1." and ".5" are.
    if !num.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    value.is_finite().then_some((value, unit.trim()))
}

fn seconds_per_unit(unit: &str) -> Option<f64> {
    Some(match unit {
        "ms" => 0.001,
        "" | "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        _ => return None,
    })
}

/// Parses a duration: plain seconds (`0.5`, `12`) or a number with `ms`,
/// `s`, `m`/`min`, `h` or `d` (`30s`, `10m`, `2h`). Zero is accepted (the
/// caller decides whether it makes sense); negative numbers are not.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let bad = || UnitError::Duration(text.to_string());
    let (value, unit) = split_number(text).ok_or_else(bad)?;
    let secs = value * seconds_per_unit(unit).ok_or_else(bad)?;
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

fn bytes_per_unit(unit: &str) -> Option<f64> {
    const KI: f64 = 1024.0;
    Some(match unit {
        "" | "B" | "b" => 1.0,
        "K" | "k" | "KiB" | "Ki" => KI,
        "M" | "MiB" | "Mi" => KI * KI,
        "G" | "GiB" | "Gi" => KI * KI * KI,
        "T" | "TiB" | "Ti" => KI * KI * KI * KI,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        _ => return None,
    })
}

/// Parses a byte size: `4096`, `64KiB`, `1.5G`, `10MB` (see the crate docs
/// for the units). Returns bytes (fractions possible: `0.5K` is 512).
pub fn parse_bytes(text: &str) -> Result<f64, UnitError> {
    let bad = || UnitError::Bytes(text.to_string());
    let (value, unit) = split_number(text).ok_or_else(bad)?;
    Ok(value * bytes_per_unit(unit).ok_or_else(bad)?)
}

/// Parses a byte rate, `SIZE/UNIT` (`1MiB/min`, `100KiB/s`, `2G/h`), into
/// bytes per second.
pub fn parse_rate(text: &str) -> Result<f64, UnitError> {
    let bad = || UnitError::Rate(text.to_string());
    let (size, per) = text.split_once('/').ok_or_else(bad)?;
    let bytes = parse_bytes(size).map_err(|_| bad())?;
    let per = per.trim();
    if per.is_empty() {
        return Err(bad());
    }
    let secs = seconds_per_unit(per).ok_or_else(bad)?;
    Ok(bytes / secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_plain_seconds_and_with_units() {
        let d = |t| parse_duration(t).unwrap();
        assert_eq!(d("12"), Duration::from_secs(12));
        assert_eq!(d("0.5"), Duration::from_millis(500));
        assert_eq!(d(".25"), Duration::from_millis(250));
        assert_eq!(d("30s"), Duration::from_secs(30));
        assert_eq!(d("10m"), Duration::from_secs(600));
        assert_eq!(d("10 min"), Duration::from_secs(600));
        assert_eq!(d("2h"), Duration::from_secs(7200));
        assert_eq!(d("1.5h"), Duration::from_secs(5400));
        assert_eq!(d("1d"), Duration::from_secs(86_400));
        assert_eq!(d("250ms"), Duration::from_millis(250));
        assert_eq!(d("0"), Duration::ZERO);
    }

    #[test]
    fn bad_durations_are_named_in_the_error() {
        for bad in [
            "", "-1", "soon", "5x", "1e3", "1..2", "s", "10 m s", "inf", "NaN",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert_eq!(err, UnitError::Duration(bad.into()));
            assert!(err
                .to_string()
                .starts_with(&format!("'{bad}' is not a duration")));
        }
        assert!(parse_duration("99999999999999999999999d").is_err());
    }

    #[test]
    fn sizes_binary_and_decimal() {
        let b = |t| parse_bytes(t).unwrap();
        assert_eq!(b("4096"), 4096.0);
        assert_eq!(b("64KiB"), 65536.0);
        assert_eq!(b("64K"), 65536.0);
        assert_eq!(b("1.5G"), 1.5 * 1073741824.0);
        assert_eq!(b("10MB"), 1e7);
        assert_eq!(b("2 kB"), 2000.0);
        assert!(parse_bytes("12 parsecs").is_err());
        assert!(parse_bytes("-5K").is_err());
    }

    #[test]
    fn rates_per_time_unit() {
        let r = |t| parse_rate(t).unwrap();
        assert_eq!(r("1MiB/min"), 1048576.0 / 60.0);
        assert_eq!(r("100KiB/s"), 102_400.0);
        assert_eq!(r("2G/h"), 2.0 * 1073741824.0 / 3600.0);
        assert_eq!(r("86400/d"), 1.0);
        for bad in ["1MiB", "1MiB/", "1MiB/fortnight", "fast/s", "/s"] {
            assert_eq!(parse_rate(bad).unwrap_err(), UnitError::Rate(bad.into()));
        }
    }
}
