//! Per-window minima: the floor a series keeps coming back to.
//!
//! Memory that is allocated and released periodically (a sawtooth: batches,
//! garbage collection, caches flushed on a timer) has peaks that say nothing
//! about leaks; its troughs do. Judging growth on the minimum of each window
//! at least one period wide compares trough with trough.

use crate::Point;

/// The lowest point of each consecutive window of `window_s` seconds,
/// windows starting at the first point's time. A last window the series
/// does not cover (its last point more than one mean sample spacing before
/// the window's end) is left out: its minimum may not have reached the
/// trough yet. Empty when `window_s` is not positive or the series is empty.
pub fn window_minima(points: &[Point], window_s: f64) -> Vec<Point> {
    let Some(first) = points.first() else {
        return Vec::new();
    };
    if window_s.is_nan() || window_s <= 0.0 {
        return Vec::new();
    }
    let end = points.last().map_or(first.t, |p| p.t);
    let mut out: Vec<Point> = Vec::new();
    let mut current: Option<(u64, Point)> = None;
    for p in points {
        let k = ((p.t - first.t) / window_s).floor() as u64;
        match &mut current {
            Some((wk, min)) if *wk == k => {
                if p.bytes < min.bytes {
                    *min = *p;
                }
            }
            _ => {
                if let Some((_, min)) = current.take() {
                    out.push(min);
                }
                current = Some((k, *p));
            }
        }
    }
    if let Some((k, min)) = current {
        let window_end = first.t + (k + 1) as f64 * window_s;
        let spacing = (end - first.t) / (points.len().max(2) - 1) as f64;
        if end + spacing >= window_end - window_s * 1e-9 {
            out.push(min);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: f64, bytes: f64) -> Point {
        Point { t, bytes }
    }

    #[test]
    fn minima_of_a_sawtooth_are_its_troughs() {
        // Period 4 s: 100, 200, 300, 400, then released to 100 again.
        let pts: Vec<Point> = (0..20)
            .map(|i| p(i as f64, 100.0 * (1 + i % 4) as f64))
            .collect();
        let m = window_minima(&pts, 4.0);
        assert_eq!(m.len(), 5);
        assert!(m.iter().all(|q| q.bytes == 100.0), "{m:?}");
        assert_eq!(m[1].t, 4.0);
    }

    #[test]
    fn a_short_last_window_is_left_out() {
        let pts: Vec<Point> = (0..10).map(|i| p(i as f64, i as f64)).collect();
        let m = window_minima(&pts, 4.0);
        // Windows [0,4) [4,8) are whole; [8,12) holds 8 and 9 only.
        assert_eq!(m, vec![p(0.0, 0.0), p(4.0, 4.0)]);
        assert!(window_minima(&pts, 0.0).is_empty());
        assert!(window_minima(&[], 1.0).is_empty());
    }
}
