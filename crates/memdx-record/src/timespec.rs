//! Points in time as `memdx report --since/--until` accept them.
//!
//! - `now`
//! - unix seconds: `1796620800`, `1796620800.5`
//! - relative to now: `-1h`, `-30m`, `-2d`, `-90` (a minus sign and a
//!   duration, in whatever units the caller's duration parser knows)
//! - a UTC date and time: `2026-12-07 10:00`, `2026-12-07T10:00:30`,
//!   `2026-12-07` (midnight), each optionally ending in `Z` or ` UTC`
//!
//! Recordings store UTC, and reports print UTC, so dates are read as UTC too.

use std::time::Duration;

/// Why a time did not parse; the message says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a time: use a UTC date and time such as '2026-12-07 10:00', a time relative to now such as '-1h', or unix seconds")]
pub struct BadTime {
    /// The text given.
    pub text: String,
}

/// Parses `text` relative to `now` (UTC unix seconds).
pub fn parse(
    text: &str,
    now: f64,
    parse_duration: impl Fn(&str) -> Option<Duration>,
) -> Result<f64, BadTime> {
    let bad = || BadTime {
        text: text.to_string(),
    };
    let t = text.trim();
    if t == "now" {
        return Ok(now);
    }
    if let Some(rel) = t.strip_prefix('-') {
        let d = parse_duration(rel).ok_or_else(bad)?;
        return Ok(now - d.as_secs_f64());
    }
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return t
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(bad);
    }
    parse_utc(t).ok_or_else(bad)
}

fn parse_utc(t: &str) -> Option<f64> {
    let t = t
        .strip_suffix(" UTC")
        .or_else(|| t.strip_suffix('Z'))
        .unwrap_or(t);
    let (date, time) = match t.split_once([' ', 'T']) {
        Some((d, rest)) => (d, Some(rest)),
        None => (t, None),
    };
    let mut d = date.split('-');
    let year: i64 = number(d.next()?, 4)?;
    let month: i64 = number(d.next()?, 2)?;
    let day: i64 = number(d.next()?, 2)?;
    if d.next().is_some() || !(1..=12).contains(&month) || day < 1 || day > days_in(year, month) {
        return None;
    }
    let (mut hour, mut minute, mut second) = (0, 0, 0);
    if let Some(time) = time {
        let mut parts = time.split(':');
        hour = number(parts.next()?, 2)?;
        minute = number(parts.next()?, 2)?;
        if let Some(s) = parts.next() {
            second = number(s, 2)?;
        }
        if parts.next().is_some() || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
    }
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second) as f64)
}

fn number(text: &str, digits: usize) -> Option<i64> {
    (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1..=12).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    // Count from March so the leap day ends a year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Formats UTC unix seconds as `2026-12-07 10:00:00`.
pub fn format_utc(time: f64) -> String {
    let secs = time.floor() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> Option<Duration> {
        let (n, unit) = text.split_at(text.len() - 1);
        let n: u64 = n.parse().ok()?;
        match unit {
            "h" => Some(Duration::from_secs(n * 3600)),
            "m" => Some(Duration::from_secs(n * 60)),
            _ => None,
        }
    }

    const NOW: f64 = 1_796_637_600.0; // 2026-12-07 10:00:00 UTC

    #[test]
    fn dates_are_utc() {
        assert_eq!(parse("2026-12-07 10:00", NOW, secs), Ok(NOW));
        assert_eq!(parse("2026-12-07T10:00:00Z", NOW, secs), Ok(NOW));
        assert_eq!(parse("2026-12-07 10:00:30 UTC", NOW, secs), Ok(NOW + 30.0));
        assert_eq!(parse("2026-12-07", NOW, secs), Ok(NOW - 36_000.0));
        assert_eq!(parse("1970-01-01", NOW, secs), Ok(0.0));
        assert_eq!(parse("2024-02-29 00:00", NOW, secs), Ok(1_709_164_800.0));
    }

    #[test]
    fn relative_unix_and_now() {
        assert_eq!(parse("-1h", NOW, secs), Ok(NOW - 3600.0));
        assert_eq!(parse("-30m", NOW, secs), Ok(NOW - 1800.0));
        assert_eq!(parse("1796637600", NOW, secs), Ok(NOW));
        assert_eq!(parse("1796637600.5", NOW, secs), Ok(NOW + 0.5));
        assert_eq!(parse("now", NOW, secs), Ok(NOW));
    }

    #[test]
    fn bad_times_are_errors_that_quote_the_text() {
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-02-30",
            "2026-12-07 25:00",
            "-1w",
            "",
            "1.2.3",
            "2026-12-7",
            "12/07/2026",
        ] {
            let err = parse(bad, NOW, secs).expect_err(bad);
            assert!(err.to_string().contains(&format!("'{bad}'")), "{err}");
        }
    }

    #[test]
    fn formats_back() {
        assert_eq!(format_utc(NOW + 59.9), "2026-12-07 10:00:59");
        assert_eq!(format_utc(0.0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(1_709_164_800.0), "2024-02-29 00:00:00");
    }
}
