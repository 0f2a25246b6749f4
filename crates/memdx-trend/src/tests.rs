//! The classifier on synthetic series.

use crate::*;

const MIB: f64 = 1048576.0;

/// Deterministic noise in [-1, 1) (a small LCG, so tests are reproducible).
fn noise(seed: &mut u64) -> f64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

fn series(n: usize, dt: f64, f: impl Fn(f64) -> f64) -> Vec<Point> {
    (0..n)
        .map(|i| {
            let t = i as f64 * dt;
            Point { t, bytes: f(t) }
        })
        .collect()
}

#[test]
fn steady_growth_with_noise_is_growing_at_the_true_rate() {
    let mut seed = 7;
    // 3 MiB/min over 10 min, a sample every 5 s, ±2 MiB noise.
    let rate = 3.0 * MIB / 60.0;
    let pts: Vec<Point> = series(121, 5.0, |t| 200.0 * MIB + rate * t)
        .into_iter()
        .map(|p| Point {
            bytes: p.bytes + 2.0 * MIB * noise(&mut seed),
            ..p
        })
        .collect();
    let a = classify(&pts, &Params::default());
    let Verdict::Growing { rate: r, on_minima } = a.verdict else {
        panic!("{a:?}")
    };
    assert!(!on_minima);
    assert!((r.slope - rate).abs() < 0.05 * rate, "{r:?}");
    assert!(r.lower < rate && rate < r.upper, "{r:?}");
    assert!(r.lower > 0.8 * rate && r.upper < 1.2 * rate, "{r:?}");
    assert!(a.mann_kendall.unwrap().p_increasing < 1e-6);
    assert_eq!(a.samples, 121);
}

#[test]
fn noisy_flat_series_is_stable() {
    let mut seed = 11;
    let pts: Vec<Point> = series(200, 1.0, |_| 0.0)
        .into_iter()
        .map(|p| Point {
            bytes: 80.0 * MIB + 3.0 * MIB * noise(&mut seed),
            ..p
        })
        .collect();
    let a = classify(&pts, &Params::default());
    let Verdict::Stable { rate } = a.verdict else {
        panic!("{a:?}")
    };
    assert!(rate.lower <= 0.0 && rate.upper >= 0.0, "{rate:?}");
}

#[test]
fn flat_series_of_ties_is_stable_with_a_zero_rate() {
    let pts = series(50, 0.1, |_| 4096.0 * 1000.0);
    let a = classify(&pts, &Params::default());
    assert_eq!(
        a.verdict,
        Verdict::Stable {
            rate: a.rate().copied().unwrap()
        }
    );
    let r = a.rate().unwrap();
    assert_eq!((r.slope, r.lower, r.upper), (0.0, 0.0, 0.0));
    let mk = a.mann_kendall.unwrap();
    assert_eq!(mk.s, 0);
    assert_eq!(mk.variance, 0.0);
    // Mostly ties, a page now and then: still no trend.
    let pages = series(60, 1.0, |t| {
        1e8 + if (t as u64) % 17 == 3 { 4096.0 } else { 0.0 }
    });
    assert!(matches!(
        classify(&pages, &Params::default()).verdict,
        Verdict::Stable { .. }
    ));
}

#[test]
fn sawtooth_is_not_a_leak() {
    // Grows 4 MiB/s for 5 s, released back to 100 MiB; 60 s at 0.5 s.
    let pts = series(121, 0.5, |t| 100.0 * MIB + 4.0 * MIB * (t % 5.0));
    let a = classify(&pts, &Params::default());
    let Verdict::Sawtooth {
        period_s,
        amplitude_bytes,
        releases,
        trough_rate,
    } = a.verdict
    else {
        panic!("{a:?}")
    };
    assert!((period_s - 5.0).abs() < 0.01, "{period_s}");
    assert!(
        (amplitude_bytes - 18.0 * MIB).abs() < 0.01 * MIB,
        "{amplitude_bytes}"
    );
    assert_eq!(releases, 12);
    let tr = trough_rate.unwrap();
    assert!(tr.lower <= 0.0 && tr.upper >= 0.0, "{tr:?}");
}

#[test]
fn rising_troughs_under_a_sawtooth_are_growth_at_the_troughs_rate() {
    // The same sawtooth, its floor rising 1 MiB every period (0.2 MiB/s).
    let pts = series(241, 0.5, |t| {
        100.0 * MIB + 4.0 * MIB * (t % 5.0) + MIB * (t / 5.0).floor()
    });
    let a = classify(&pts, &Params::default());
    let Verdict::Growing { rate, on_minima } = a.verdict else {
        panic!("{a:?}")
    };
    assert!(on_minima);
    assert!((rate.slope - 0.2 * MIB).abs() < 0.02 * MIB, "{rate:?}");
}

#[test]
fn one_jump_then_flat_is_a_step() {
    let mut seed = 3;
    let pts: Vec<Point> = series(
        100,
        1.0,
        |t| if t < 40.0 { 50.0 * MIB } else { 114.0 * MIB },
    )
    .into_iter()
    .map(|p| Point {
        bytes: p.bytes + 0.2 * MIB * noise(&mut seed),
        ..p
    })
    .collect();
    let a = classify(&pts, &Params::default());
    let Verdict::Step {
        at_t,
        before_bytes,
        after_bytes,
    } = a.verdict
    else {
        panic!("{a:?}")
    };
    assert_eq!(at_t, 40.0);
    assert!((before_bytes - 50.0 * MIB).abs() < 0.3 * MIB);
    assert!((after_bytes - 114.0 * MIB).abs() < 0.3 * MIB);
}

#[test]
fn a_jump_caught_mid_way_is_still_one_step() {
    let pts = series(40, 0.1, |t| {
        if t < 1.95 {
            10.0 * MIB
        } else if t < 2.05 {
            40.0 * MIB
        } else {
            74.0 * MIB
        }
    });
    let a = classify(&pts, &Params::default());
    assert!(matches!(a.verdict, Verdict::Step { .. }), "{a:?}");
}

#[test]
fn growth_after_a_step_is_growth_not_a_step() {
    let pts = series(60, 1.0, |t| {
        if t < 20.0 {
            10.0 * MIB
        } else {
            60.0 * MIB + 0.5 * MIB * t
        }
    });
    let a = classify(&pts, &Params::default());
    assert!(matches!(a.verdict, Verdict::Growing { .. }), "{a:?}");
}

#[test]
fn warm_up_is_ignored() {
    // Start-up: 5 MiB/s for 20 s; then flat.
    let pts = series(80, 0.5, |t| 10.0 * MIB + 5.0 * MIB * t.min(20.0));
    let judged = classify(
        &pts,
        &Params {
            warmup_s: 20.0,
            ..Params::default()
        },
    );
    assert!(
        matches!(judged.verdict, Verdict::Stable { .. }),
        "{judged:?}"
    );
    assert_eq!(judged.samples, 40);
    let whole = classify(&pts, &Params::default());
    assert!(
        matches!(whole.verdict, Verdict::Growing { .. }),
        "{whole:?}"
    );
}

#[test]
fn small_significant_growth_is_still_stable() {
    // One page per 10 s: significant, but 24 KiB over the minute.
    let pts = series(61, 1.0, |t| 1e8 + 4096.0 * (t / 10.0).floor());
    let a = classify(&pts, &Params::default());
    assert!(matches!(a.verdict, Verdict::Stable { .. }), "{a:?}");
}

#[test]
fn shrinking_and_too_few_samples() {
    let pts = series(30, 1.0, |t| 500.0 * MIB - MIB * t);
    assert!(matches!(
        classify(&pts, &Params::default()).verdict,
        Verdict::Shrinking { .. }
    ));
    let a = classify(&pts[..5], &Params::default());
    assert_eq!(a.verdict, Verdict::TooFewSamples { have: 5, need: 8 });
    assert_eq!(classify(&[], &Params::default()).samples, 0);
}

#[test]
fn long_series_are_thinned_but_keep_their_rate() {
    let rate = 10_000.0;
    let pts = series(20_000, 0.1, |t| 1e9 + rate * t);
    let a = classify(&pts, &Params::default());
    let Verdict::Growing { rate: r, .. } = a.verdict else {
        panic!("{a:?}")
    };
    assert!((r.slope - rate).abs() < 1e-6 * rate);
    assert_eq!(a.samples, 20_000);
}

#[test]
fn time_to_a_limit_from_a_growing_verdict() {
    let pts = series(61, 10.0, |t| 100.0 * MIB + MIB * t / 60.0);
    let a = classify(&pts, &Params::default());
    let rate = *a.rate().unwrap();
    let now = rate.at(600.0);
    let ttl = time_to_limit(&rate, now, 200.0 * MIB).unwrap();
    // 90 MiB left at 1 MiB/min.
    assert!((ttl.estimate_s - 90.0 * 60.0).abs() < 1.0, "{ttl:?}");
}
