//! Human-readable sizes, rates and durations.

/// Bytes with a binary unit and one decimal: `512 B`, `3.2 MiB`, `-1.0 GiB`.
pub fn format_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    let mag = bytes.abs();
    if mag < 1024.0 {
        return format!("{bytes:.0} B");
    }
    let mut value = bytes / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if value.abs() < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    format!("{value:.1} {unit}")
}

/// The time unit a rate is shown per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateUnit {
    /// Per second.
    Second,
    /// Per minute.
    Minute,
    /// Per hour.
    Hour,
}

impl RateUnit {
    /// The unit that suits an observation `span_s` seconds long: per second
    /// under two minutes, per minute under two hours, per hour beyond.
    pub fn for_span(span_s: f64) -> Self {
        if span_s < 120.0 {
            Self::Second
        } else if span_s < 7200.0 {
            Self::Minute
        } else {
            Self::Hour
        }
    }

    /// Seconds in one unit.
    pub fn seconds(self) -> f64 {
        match self {
            Self::Second => 1.0,
            Self::Minute => 60.0,
            Self::Hour => 3600.0,
        }
    }

    /// The suffix: `s`, `min`, `h`.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Second => "s",
            Self::Minute => "min",
            Self::Hour => "h",
        }
    }
}

/// A rate in bytes per second shown per `unit`, signed: `+3.2 MiB/min`.
pub fn format_rate(bytes_per_s: f64, unit: RateUnit) -> String {
    let per = bytes_per_s * unit.seconds();
    let sign = if per > 0.0 { "+" } else { "" };
    format!("{sign}{}/{}", format_bytes(per), unit.suffix())
}

/// Seconds as a short human duration: `0.5 s`, `12 s`, `41 min`, `3.5 h`, `2.0 d`.
pub fn format_duration(secs: f64) -> String {
    if secs < 10.0 && secs.fract() != 0.0 {
        format!("{secs:.1} s")
    } else if secs < 120.0 {
        format!("{secs:.0} s")
    } else if secs < 7200.0 {
        format!("{:.0} min", secs / 60.0)
    } else if secs < 172_800.0 {
        format!("{:.1} h", secs / 3600.0)
    } else {
        format!("{:.1} d", secs / 86_400.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_pick_the_largest_unit_under_1024() {
        assert_eq!(format_bytes(512.0), "512 B");
        assert_eq!(format_bytes(1536.0), "1.5 KiB");
        assert_eq!(format_bytes(3.2 * 1048576.0), "3.2 MiB");
        assert_eq!(format_bytes(-2.0 * 1073741824.0), "-2.0 GiB");
    }

    #[test]
    fn rates_carry_a_sign_and_a_time_unit() {
        let r = 3.2 * 1048576.0 / 60.0;
        assert_eq!(format_rate(r, RateUnit::Minute), "+3.2 MiB/min");
        assert_eq!(format_rate(-1024.0, RateUnit::Second), "-1.0 KiB/s");
        assert_eq!(format_rate(0.0, RateUnit::Second), "0 B/s");
        assert_eq!(RateUnit::for_span(600.0), RateUnit::Minute);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(12.4), "12 s");
        assert_eq!(format_duration(0.5), "0.5 s");
        assert_eq!(format_duration(2.0), "2 s");
        assert_eq!(format_duration(41.0 * 60.0), "41 min");
        assert_eq!(format_duration(3.5 * 3600.0), "3.5 h");
        assert_eq!(format_duration(3.0 * 86_400.0), "3.0 d");
    }
}
