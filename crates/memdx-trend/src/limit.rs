//! When will a growing series reach a limit?

use serde::Serialize;

use crate::slope::SlopeEstimate;

/// Time until a limit is reached at the estimated rate, with the interval
/// that the rate's interval gives.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimeToLimit {
    /// Seconds at the estimated rate.
    pub estimate_s: f64,
    /// Seconds at the upper end of the rate's interval (the soonest).
    pub earliest_s: f64,
    /// Seconds at the lower end of the rate's interval (the latest);
    /// `None` when the lower end is not above zero (maybe never).
    pub latest_s: Option<f64>,
}

/// Time for `now_bytes` to reach `limit_bytes` at `rate` (bytes per second).
/// `None` when the estimated rate is not positive; all zeros when the limit
/// is already reached.
///
/// `now_bytes` is best the fitted level at the last sample
/// (`rate.at(t_last)`), which one noisy sample does not move.
pub fn time_to_limit(
    rate: &SlopeEstimate,
    now_bytes: f64,
    limit_bytes: f64,
) -> Option<TimeToLimit> {
    if rate.slope.is_nan() || rate.slope <= 0.0 {
        return None;
    }
    let left = limit_bytes - now_bytes;
    if left <= 0.0 {
        return Some(TimeToLimit {
            estimate_s: 0.0,
            earliest_s: 0.0,
            latest_s: Some(0.0),
        });
    }
    Some(TimeToLimit {
        estimate_s: left / rate.slope,
        earliest_s: left / rate.upper.max(rate.slope),
        latest_s: (rate.lower > 0.0).then(|| left / rate.lower),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(lower: f64, slope: f64, upper: f64) -> SlopeEstimate {
        SlopeEstimate {
            slope,
            lower,
            upper,
            confidence: 0.95,
            intercept: 0.0,
        }
    }

    #[test]
    fn interval_comes_from_the_rate_interval() {
        let t = time_to_limit(&rate(1.0, 2.0, 4.0), 100.0, 500.0).unwrap();
        assert_eq!(t.estimate_s, 200.0);
        assert_eq!(t.earliest_s, 100.0);
        assert_eq!(t.latest_s, Some(400.0));
    }

    #[test]
    fn no_growth_no_time_and_a_lower_bound_at_zero_means_maybe_never() {
        assert!(time_to_limit(&rate(-1.0, 0.0, 1.0), 100.0, 500.0).is_none());
        let t = time_to_limit(&rate(-1.0, 2.0, 4.0), 100.0, 500.0).unwrap();
        assert_eq!(t.latest_s, None);
        let t = time_to_limit(&rate(1.0, 2.0, 4.0), 600.0, 500.0).unwrap();
        assert_eq!(t.estimate_s, 0.0);
    }
}
