//! Wall-clock time stamps in front of kernel log lines, and turning them
//! (and times since boot) into seconds since the epoch.
//!
//! Layouts read, each followed by ` HOST kernel: ` unless noted:
//! - syslog and `journalctl -k` (`short`, `short-precise`): `Mar  3 04:12:55`,
//!   `Mar 03 10:15:02.123456` (local time, no year);
//! - rsyslog's high-precision default and `journalctl -o short-iso[-precise]`:
//!   `2026-03-03T10:15:02.123456+01:00`, `2026-03-03T10:15:02+0100`;
//! - `journalctl -o short-full`: `Tue 2026-03-03 10:15:02 CET` (read as
//!   local time unless the zone is `UTC` or `GMT`);
//! - `journalctl -o short-unix`: `1772532902.123456`;
//! - `dmesg --time-format=iso`: `2026-03-03T10:15:02,123456+01:00 msg` (no host);
//! - `dmesg -T`: `[Tue Mar  3 10:15:02 2026] msg` (local time; see [`parse_ctime`]).

use memdx_units::datetime::{parse_iso_prefix, parse_time_of_day, Civil, Moment, TimeOfDay, Zone};

/// A wall-clock time stamp as a log line wrote it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WallStamp {
    /// A full date and time (local, or with its offset).
    Moment(Moment),
    /// Seconds since the epoch (`short-unix`).
    Unix(f64),
    /// Syslog's local month, day and time, without a year.
    NoYear {
        /// Month, 1–12.
        month: u32,
        /// Day of the month.
        day: u32,
        /// The time of day.
        time: TimeOfDay,
    },
}

/// What is needed to place log lines in time.
#[derive(Clone, Copy)]
pub struct LogClock<'a> {
    /// The zone local stamps were written in.
    pub zone: &'a dyn Zone,
    /// The latest moment the log can be from (seconds since the epoch: now,
    /// or when the file was last written); a stamp without a year is put in
    /// the latest year that does not place it after this.
    pub latest: f64,
    /// When the machine booted (seconds since the epoch), when known; times
    /// since boot become wall-clock times with it.
    pub boot: Option<f64>,
}

impl WallStamp {
    /// Seconds since the epoch; `None` for a date that does not exist (Feb 29
    /// in the years tried).
    pub fn resolve(&self, clock: &LogClock) -> Option<f64> {
        match *self {
            WallStamp::Moment(m) => Some(m.to_utc(clock.zone)),
            WallStamp::Unix(t) => Some(t),
            WallStamp::NoYear { month, day, time } => {
                let latest_year = {
                    let offset = clock.zone.offset_at(clock.latest as i64);
                    Civil::from_utc(clock.latest + f64::from(offset)).year
                };
                // Up to a day past `latest` is tolerated for clock skew
                // between the logger and the file's time stamp.
                (0..8).find_map(|back| {
                    let civil = Civil {
                        year: latest_year - back,
                        month,
                        day,
                        hour: time.hour,
                        minute: time.minute,
                        second: time.second,
                        frac: time.frac,
                    };
                    let t = civil.is_valid().then(|| clock.zone.to_utc(&civil))?;
                    (t <= clock.latest + 86_400.0).then_some(t)
                })
            }
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn month_number(name: &str) -> Option<u32> {
    MONTHS.iter().position(|m| *m == name).map(|i| i as u32 + 1)
}

/// `Mar  3 04:12:55` or `Mar 03 10:15:02.123456` at the start of `s`.
fn parse_month_day_time(s: &str) -> Option<(WallStamp, usize)> {
    let month = month_number(s.get(..3)?)?;
    if s.as_bytes().get(3) != Some(&b' ') {
        return None;
    }
    let rest = &s[4..];
    let pad = rest.len() - rest.trim_start_matches(' ').len();
    let rest = &rest[pad..];
    let day_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=2).contains(&day_len) || rest.as_bytes().get(day_len) != Some(&b' ') {
        return None;
    }
    let day: u32 = rest[..day_len].parse().ok()?;
    let (time, len) = parse_time_of_day(&rest[day_len + 1..])?;
    Some((
        WallStamp::NoYear { month, day, time },
        4 + pad + day_len + 1 + len,
    ))
}

/// `Tue 2026-03-03 10:15:02[.frac] ZONE` at the start of `s` (short-full).
fn parse_weekday_iso(s: &str) -> Option<(WallStamp, usize)> {
    let weekday = s.get(..3)?;
    if !weekday.bytes().all(|b| b.is_ascii_alphabetic()) || s.as_bytes().get(3) != Some(&b' ') {
        return None;
    }
    let (mut moment, len) = parse_iso_prefix(&s[4..])?;
    if moment.offset.is_some() {
        return None;
    }
    let after = &s[4 + len..];
    let zone = after.strip_prefix(' ')?.split(' ').next()?;
    if zone.is_empty()
        || !zone
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-')
    {
        return None;
    }
    if zone == "UTC" || zone == "GMT" {
        moment.offset = Some(0);
    }
    Some((WallStamp::Moment(moment), 4 + len + 1 + zone.len()))
}

/// `1772532902.123456` at the start of `s` (short-unix): digits, a point, digits.
fn parse_unix(s: &str) -> Option<(WallStamp, usize)> {
    let int = s.bytes().take_while(u8::is_ascii_digit).count();
    if !(9..=11).contains(&int) || s.as_bytes().get(int) != Some(&b'.') {
        return None;
    }
    let frac = s[int + 1..].bytes().take_while(u8::is_ascii_digit).count();
    let len = int + 1 + frac;
    Some((WallStamp::Unix(s[..len].parse().ok()?), len))
}

/// A wall-clock stamp at the start of a syslog or journal line.
pub fn parse_line_stamp(s: &str) -> Option<(WallStamp, usize)> {
    parse_month_day_time(s)
        .or_else(|| parse_iso_prefix(s).map(|(m, n)| (WallStamp::Moment(m), n)))
        .or_else(|| parse_weekday_iso(s))
        .or_else(|| parse_unix(s))
}

/// After a syslog/journal stamp: ` HOST kernel: MSG` gives `MSG`.
pub fn after_host_kernel(s: &str) -> Option<&str> {
    let rest = s.strip_prefix(' ')?.trim_start_matches(' ');
    let (host, rest) = rest.split_once(' ')?;
    if host.is_empty() {
        return None;
    }
    let rest = rest.strip_prefix("kernel:")?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// `Tue Mar  3 10:15:02 2026` (C's `ctime`, as `dmesg -T` prints it inside
/// brackets), a local time.
pub fn parse_ctime(s: &str) -> Option<Moment> {
    let mut words = s.split_whitespace();
    let _weekday = words.next().filter(|w| w.len() == 3)?;
    let month = month_number(words.next()?)?;
    let day: u32 = words.next()?.parse().ok()?;
    let (time, len) = parse_time_of_day(words.next().filter(|w| w.len() >= 8)?)?;
    let year: i64 = words.next().filter(|w| w.len() == 4)?.parse().ok()?;
    if words.next().is_some() || len < 8 {
        return None;
    }
    let civil = Civil {
        year,
        month,
        day,
        hour: time.hour,
        minute: time.minute,
        second: time.second,
        frac: time.frac,
    };
    civil.is_valid().then_some(Moment {
        civil,
        offset: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use memdx_units::datetime::FixedOffset;

    const UTC: FixedOffset = FixedOffset(0);

    fn clock(latest: f64) -> LogClock<'static> {
        LogClock {
            zone: &UTC,
            latest,
            boot: None,
        }
    }

    #[test]
    fn syslog_and_journal_short_stamps() {
        let (s, n) = parse_line_stamp("Mar  3 04:12:55 web01 kernel: x").unwrap();
        assert_eq!(n, 15);
        assert_eq!(
            after_host_kernel(&"Mar  3 04:12:55 web01 kernel: x"[n..]),
            Some("x")
        );
        // 2026-03-04 00:00 UTC as the latest moment: the stamp is 2026's.
        assert_eq!(s.resolve(&clock(1_772_582_400.0)), Some(1_772_511_175.0));
        // From 2027-01-10 the same stamp is still last year's March.
        assert_eq!(s.resolve(&clock(1_799_539_200.0)), Some(1_772_511_175.0));
        let (s, n) = parse_line_stamp("Mar 03 10:15:02.123456 db kernel: y").unwrap();
        assert_eq!(n, 22);
        assert_eq!(
            s.resolve(&clock(1_772_582_400.0)),
            Some(1_772_532_902.123456)
        );
        assert!(parse_line_stamp("Foo 03 10:15:02 db kernel: y").is_none());
    }

    #[test]
    fn iso_full_and_unix_stamps() {
        let (s, n) = parse_line_stamp("2026-03-03T11:15:02.5+01:00 db kernel: y").unwrap();
        assert_eq!(n, 27);
        assert_eq!(s.resolve(&clock(0.0)), Some(1_772_532_902.5));
        let (s, n) = parse_line_stamp("Tue 2026-03-03 10:15:02 UTC db kernel: y").unwrap();
        assert_eq!(n, 27);
        assert_eq!(s.resolve(&clock(0.0)), Some(1_772_532_902.0));
        let cet = FixedOffset(3600);
        let (s, _) = parse_line_stamp("Tue 2026-03-03 11:15:02 CET db kernel: y").unwrap();
        let c = LogClock {
            zone: &cet,
            ..clock(0.0)
        };
        assert_eq!(s.resolve(&c), Some(1_772_532_902.0));
        let (s, n) = parse_line_stamp("1772532902.123456 db kernel: y").unwrap();
        assert_eq!((s, n), (WallStamp::Unix(1_772_532_902.123456), 17));
        assert!(after_host_kernel(" db systemd[1]: x").is_none());
    }

    #[test]
    fn ctime_of_dmesg_t() {
        let m = parse_ctime("Tue Mar  3 10:15:02 2026").unwrap();
        assert_eq!(m.to_utc(&UTC), 1_772_532_902.0);
        assert!(parse_ctime("Tue Mar 33 10:15:02 2026").is_none());
        assert!(parse_ctime("  pid  ").is_none());
    }
}
