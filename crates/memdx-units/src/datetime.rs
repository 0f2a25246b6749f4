//! Calendar dates and times of day: the proleptic Gregorian calendar,
//! time zones as a trait (the binary implements the machine's local zone
//! through the C library; tests use [`FixedOffset`]), ISO 8601 date-times
//! as logs print them, and the date-time form of `--since` options.

/// A date and time of day, without a zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Civil {
    /// Year, e.g. 2026.
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
    /// Second, 0–60 (60 for a leap second, as logs may print it).
    pub second: u32,
    /// Fraction of a second, 0 ≤ frac < 1.
    pub frac: f64,
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1–12) of `year`; 0 for a month out of range.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 1970-01-01 to the given date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl Civil {
    /// Whether every field is in range (the day exists in its month).
    pub fn is_valid(&self) -> bool {
        (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second <= 60
            && (0.0..1.0).contains(&self.frac)
    }

    /// Seconds since the epoch of this date and time read as UTC.
    pub fn as_utc(&self) -> f64 {
        let days = days_from_civil(self.year, self.month, self.day);
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        secs as f64 + self.frac
    }

    /// The UTC date and time of `secs` since the epoch.
    pub fn from_utc(secs: f64) -> Civil {
        let whole = secs.floor();
        let frac = secs - whole;
        let whole = whole as i64;
        let (year, month, day) = civil_from_days(whole.div_euclid(86_400));
        let in_day = whole.rem_euclid(86_400);
        Civil {
            year,
            month,
            day,
            hour: (in_day / 3600) as u32,
            minute: (in_day / 60 % 60) as u32,
            second: (in_day % 60) as u32,
            frac,
        }
    }
}

/// A time zone: the offset from UTC at each instant.
pub trait Zone {
    /// Seconds east of UTC in effect at `unix` seconds since the epoch.
    fn offset_at(&self, unix: i64) -> i32;

    /// The instant a local date and time names. Around a daylight-saving
    /// change, a time that exists twice is read with the offset in effect
    /// just before it, one that never existed with the offset after it.
    fn to_utc(&self, local: &Civil) -> f64 {
        let naive = local.as_utc();
        let guess = naive as i64 - i64::from(self.offset_at(naive as i64));
        let offset = self.offset_at(guess);
        naive - f64::from(offset)
    }
}

/// A zone with one offset all year (UTC is `FixedOffset(0)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedOffset(pub i32);

impl Zone for FixedOffset {
    fn offset_at(&self, _unix: i64) -> i32 {
        self.0
    }
}

/// A date and time as text gave it: with an offset from UTC, or local.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moment {
    /// The date and time as written.
    pub civil: Civil,
    /// Seconds east of UTC when the text said (`Z`, `+01:00`, `-0500`, ` UTC`);
    /// `None` for a local time.
    pub offset: Option<i32>,
}

impl Moment {
    /// Seconds since the epoch; a local time is read in `zone`.
    pub fn to_utc(&self, zone: &dyn Zone) -> f64 {
        match self.offset {
            Some(off) => self.civil.as_utc() - f64::from(off),
            None => zone.to_utc(&self.civil),
        }
    }
}

/// Reads exactly `n` ASCII digits at the start of `s`.
fn digits(s: &str, n: usize) -> Option<u32> {
    let d = s.get(..n)?;
    if !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    d.parse().ok()
}

/// A time of day as text wrote it (`HH:MM[:SS[.frac]]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeOfDay {
    /// Hour, 0–99 as written (not checked against a day).
    pub hour: u32,
    /// Minute.
    pub minute: u32,
    /// Second (0 when not written).
    pub second: u32,
    /// Fraction of a second, 0 ≤ frac < 1.
    pub frac: f64,
}

/// Reads `HH:MM[:SS[.frac]]` (`,` also separates a fraction, as
/// `dmesg --time-format=iso` writes it). Returns the time and the length read.
pub fn parse_time_of_day(s: &str) -> Option<(TimeOfDay, usize)> {
    let hour = digits(s, 2)?;
    if s.as_bytes().get(2) != Some(&b':') {
        return None;
    }
    let minute = digits(&s[3..], 2)?;
    let mut at = 5;
    let mut second = 0;
    let mut frac = 0.0;
    if s.as_bytes().get(at) == Some(&b':') {
        second = digits(&s[at + 1..], 2)?;
        at += 3;
        if matches!(s.as_bytes().get(at), Some(b'.') | Some(b',')) {
            let n = s[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            frac = format!("0.{}", &s[at + 1..at + 1 + n]).parse().ok()?;
            at += 1 + n;
        }
    }
    Some((
        TimeOfDay {
            hour,
            minute,
            second,
            frac,
        },
        at,
    ))
}

/// Reads a UTC offset: `Z`, `+HH:MM`, `+HHMM`, `+HH` (or `-`). Returns
/// seconds east of UTC and the length read.
fn parse_offset(s: &str) -> Option<(i32, usize)> {
    let sign = match s.as_bytes().first()? {
        b'Z' => return Some((0, 1)),
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours = digits(&s[1..], 2)?;
    let (minutes, len) = if s.as_bytes().get(3) == Some(&b':') {
        (digits(&s[4..], 2)?, 6)
    } else if let Some(m) = digits(&s[3..], 2) {
        (m, 5)
    } else {
        (0, 3)
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((sign * (hours * 3600 + minutes * 60) as i32, len))
}

/// Reads an ISO 8601 date-time at the start of `s`:
/// `YYYY-MM-DD[T| ]HH:MM[:SS[.frac]]` with an optional offset (`Z`,
/// `+01:00`, `+0100`). Returns the moment and the length read.
pub fn parse_iso_prefix(s: &str) -> Option<(Moment, usize)> {
    let year = i64::from(digits(s, 4)?);
    let b = s.as_bytes();
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(&s[5..], 2)?;
    let day = digits(&s[8..], 2)?;
    if !matches!(b.get(10), Some(b'T') | Some(b' ')) {
        return None;
    }
    let (
        TimeOfDay {
            hour,
            minute,
            second,
            frac,
        },
        len,
    ) = parse_time_of_day(&s[11..])?;
    let mut at = 11 + len;
    let offset = match parse_offset(&s[at..]) {
        Some((off, n)) => {
            at += n;
            Some(off)
        }
        None => None,
    };
    let civil = Civil {
        year,
        month,
        day,
        hour,
        minute,
        second,
        frac,
    };
    civil.is_valid().then_some((Moment { civil, offset }, at))
}

/// Why a `--since`-style point in time did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is neither a duration (30m, 2h, 1d) nor a date and time (2026-12-07 10:00, 2026-12-07T10:00:30+01:00)")]
pub struct BadPointInTime(pub String);

/// A `--since` argument: how far back from a reference point, or a moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Since {
    /// A span back from the reference point (now, or the end of a log).
    Ago(std::time::Duration),
    /// A date and time.
    At(Moment),
}

/// Parses a duration ([`crate::parse_duration`]) or a date and time:
/// `YYYY-MM-DD` (midnight), `YYYY-MM-DD HH:MM[:SS[.frac]]` (or with `T`),
/// local unless it ends in `Z`, ` UTC` or an offset (`+01:00`, `-0500`).
pub fn parse_since(text: &str) -> Result<Since, BadPointInTime> {
    let t = text.trim();
    if let Ok(d) = crate::parse_duration(t) {
        return Ok(Since::Ago(d));
    }
    let bad = || BadPointInTime(text.to_string());
    let (t, utc) = match t.strip_suffix(" UTC") {
        Some(rest) => (rest.trim_end(), true),
        None => (t, false),
    };
    let moment = if t.len() == 10 {
        parse_iso_prefix(&format!("{t} 00:00")).map(|(m, _)| (m, t.len()))
    } else {
        parse_iso_prefix(t)
    };
    let (mut moment, len) = moment.ok_or_else(bad)?;
    if len != t.len() || (utc && moment.offset.is_some()) {
        return Err(bad());
    }
    if utc {
        moment.offset = Some(0);
    }
    Ok(Since::At(moment))
}

/// `2026-03-03 10:15:02 +0100`: `unix` seconds in `zone`, to the second.
pub fn format_in_zone(unix: f64, zone: &dyn Zone) -> String {
    let whole = unix.floor() as i64;
    let offset = zone.offset_at(whole);
    let c = Civil::from_utc((whole + i64::from(offset)) as f64);
    let sign = if offset < 0 { '-' } else { '+' };
    let off = offset.unsigned_abs();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        off / 3600,
        off / 60 % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Moment {
        match parse_since(text).unwrap() {
            Since::At(m) => m,
            Since::Ago(d) => panic!("{text} read as a duration {d:?}"),
        }
    }

    #[test]
    fn civil_round_trips_through_unix_seconds() {
        let c = Civil {
            year: 2026,
            month: 3,
            day: 3,
            hour: 4,
            minute: 12,
            second: 55,
            frac: 0.25,
        };
        assert_eq!(c.as_utc(), 1_772_511_175.25);
        assert_eq!(Civil::from_utc(1_772_511_175.25), c);
        assert_eq!(Civil::from_utc(0.0).year, 1970);
        let leap = Civil::from_utc(
            Civil {
                year: 2024,
                month: 2,
                day: 29,
                ..c
            }
            .as_utc(),
        );
        assert_eq!((leap.month, leap.day), (2, 29));
    }

    #[test]
    fn iso_prefixes_with_and_without_offsets() {
        let (m, n) = parse_iso_prefix("2026-03-03T10:15:02.123456+01:00 host kernel: x").unwrap();
        assert_eq!(n, 32);
        assert_eq!(m.offset, Some(3600));
        assert_eq!(m.to_utc(&FixedOffset(0)), 1_772_532_902.123456 - 3600.0);
        let (m, n) = parse_iso_prefix("2026-03-03T10:15:02+0100 h k").unwrap();
        assert_eq!((m.offset, n), (Some(3600), 24));
        let (m, _) = parse_iso_prefix("2026-03-03T10:15:02,500000-05:00 x").unwrap();
        assert_eq!((m.offset, m.civil.frac), (Some(-18_000), 0.5));
        let (m, n) = parse_iso_prefix("2026-03-03 10:15 x").unwrap();
        assert_eq!((m.offset, n), (None, 16));
        assert!(parse_iso_prefix("2026-02-30T10:15:02Z").is_none());
        assert!(parse_iso_prefix("2026-03-03").is_none());
        assert!(parse_iso_prefix("[ 12.5] x").is_none());
    }

    #[test]
    fn since_is_a_duration_or_a_date_time() {
        assert_eq!(
            parse_since("30m").unwrap(),
            Since::Ago(std::time::Duration::from_secs(1800))
        );
        let utc = FixedOffset(0);
        let cet = FixedOffset(3600);
        assert_eq!(at("2026-03-03").to_utc(&utc), 1_772_496_000.0);
        assert_eq!(
            at("2026-03-03 10:00").to_utc(&cet),
            1_772_532_000.0 - 3600.0
        );
        assert_eq!(at("2026-03-03T10:00:00Z").to_utc(&cet), 1_772_532_000.0);
        assert_eq!(at("2026-03-03 10:00 UTC").to_utc(&cet), 1_772_532_000.0);
        assert_eq!(
            at("2026-03-03T10:00:00-01:00").to_utc(&cet),
            1_772_532_000.0 + 3600.0
        );
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-03-03 25:00",
            "2026-03-03 10:00 junk",
            "",
        ] {
            let e = parse_since(bad).unwrap_err();
            assert!(
                e.to_string().starts_with(&format!("'{bad}' is neither")),
                "{e}"
            );
        }
    }

    #[test]
    fn local_times_follow_the_zone_and_format_with_its_offset() {
        // A zone that changes offset: +1h before 2026-03-29 01:00 UTC, +2h after.
        struct Berlin;
        impl Zone for Berlin {
            fn offset_at(&self, unix: i64) -> i32 {
                if unix < 1_774_746_000 {
                    3600
                } else {
                    7200
                }
            }
        }
        let winter = at("2026-03-03 10:00").to_utc(&Berlin);
        assert_eq!(winter, 1_772_532_000.0 - 3600.0);
        let summer = at("2026-04-03 10:00").to_utc(&Berlin);
        assert_eq!(summer, 1_775_210_400.0 - 7200.0);
        assert_eq!(format_in_zone(summer, &Berlin), "2026-04-03 10:00:00 +0200");
        assert_eq!(
            format_in_zone(winter + 0.9, &Berlin),
            "2026-03-03 10:00:00 +0100"
        );
        assert_eq!(
            format_in_zone(0.0, &FixedOffset(-5 * 3600 - 1800)),
            "1969-12-31 18:30:00 -0530"
        );
    }
}
