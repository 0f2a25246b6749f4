//! Waiting, injectable so tests never sleep.

use std::time::Duration;

/// Something that waits (the real clock, or a recorder in tests).
pub trait Wait {
    /// Waits for `duration`.
    fn wait(&mut self, duration: Duration);
}

/// Waits by sleeping the thread.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sleep;

impl Wait for Sleep {
    fn wait(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// Parses a duration: `90`, `90s`, `10m`, `2h`, `1d`, fractions allowed.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (num, mult) = match t.char_indices().last()? {
        (i, 's') => (&t[..i], 1.0),
        (i, 'm') => (&t[..i], 60.0),
        (i, 'h') => (&t[..i], 3600.0),
        (i, 'd') => (&t[..i], 86400.0),
        _ => (t, 1.0),
    };
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then(|| Duration::from_secs_f64(v * mult))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_with_units() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("-1"), None);
        assert_eq!(parse_duration("soon"), None);
    }
}
