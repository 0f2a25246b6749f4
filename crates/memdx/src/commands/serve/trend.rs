//! `memdx serve --watch*`: a sampler thread that samples each watched
//! process, name group or cgroup every interval, keeps a sliding window of
//! the judged figure, and judges it with the same analysis as `memdx watch`
//! (crates/memdx-trend). Scrapes only read the last result, so a scrape
//! never waits for /proc walks of the watched targets.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use memdx_model::watch::Metric;
use memdx_proc::ProcRoot;
use memdx_trend::{classify, time_to_limit, Params, Point, SlopeEstimate, TimeToLimit, Verdict};

use crate::commands::watch::target::{limit_info, take_sample, Target};

/// One watched target as the command line named it.
pub struct Watched {
    /// `pid`, `name` or `cgroup` (the `kind` label).
    pub kind: &'static str,
    /// The PID, the regex or the cgroup path (the `target` label).
    pub label: String,
    pub target: Target,
}

/// The verdict names exported in the `verdict` label (memdx watch --json's).
pub const VERDICTS: [&str; 6] = [
    "too_few_samples",
    "growing",
    "shrinking",
    "stable",
    "sawtooth",
    "step",
];

fn verdict_name(v: &Verdict) -> &'static str {
    match v {
        Verdict::TooFewSamples { .. } => VERDICTS[0],
        Verdict::Growing { .. } => VERDICTS[1],
        Verdict::Shrinking { .. } => VERDICTS[2],
        Verdict::Stable { .. } => VERDICTS[3],
        Verdict::Sawtooth { .. } => VERDICTS[4],
        Verdict::Step { .. } => VERDICTS[5],
    }
}

/// What one watched target's gauges say now.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendGauge {
    pub kind: &'static str,
    pub target: String,
    /// The judged figure (`pss`, `working_set`, ...); empty before the
    /// first sample.
    pub metric: &'static str,
    /// Samples in the window (after the warm-up).
    pub samples: usize,
    /// The judged figure at the last sample, bytes.
    pub bytes: Option<f64>,
    /// One of [`VERDICTS`].
    pub verdict: &'static str,
    /// The rate the verdict rests on, bytes per second.
    pub rate: Option<SlopeEstimate>,
    /// Room left before the limit (cgroup memory.max, else MemAvailable).
    pub remaining_bytes: Option<f64>,
    /// Time to that limit at the rate, when growing.
    pub time_to_limit: Option<TimeToLimit>,
}

/// The gauges of every watched target, shared by the sampler and the scrapes.
pub type Trends = Arc<Mutex<Vec<TrendGauge>>>;

/// Sampling settings.
#[derive(Debug, Clone, Copy)]
pub struct SamplerConfig {
    pub interval: Duration,
    /// Samples older than this are dropped.
    pub window: Duration,
    /// Samples in the first `warmup` after a target appears are left out.
    pub warmup: Duration,
}

/// One target's window of samples.
struct Series {
    watched: Watched,
    metric: Option<Metric>,
    /// When the target was (last) first seen, seconds since the start.
    seen_at: Option<f64>,
    points: VecDeque<Point>,
}

impl Series {
    fn gauge(&self, last: Option<f64>, remaining: Option<f64>) -> TrendGauge {
        let points: Vec<Point> = self.points.iter().copied().collect();
        let analysis = classify(&points, &Params::default());
        let rate = analysis.rate().copied();
        let time_to_limit = match (&analysis.verdict, remaining) {
            (Verdict::Growing { rate, .. }, Some(room)) => time_to_limit(rate, 0.0, room),
            _ => None,
        };
        TrendGauge {
            kind: self.watched.kind,
            target: self.watched.label.clone(),
            metric: self.metric.map_or("", Metric::name),
            samples: analysis.samples,
            bytes: last,
            verdict: verdict_name(&analysis.verdict),
            rate,
            remaining_bytes: remaining,
            time_to_limit,
        }
    }

    /// Takes one sample at `t`; the target's gauge afterwards.
    fn step(
        &mut self,
        root: &ProcRoot,
        t: f64,
        config: &SamplerConfig,
        buf: &mut Vec<u8>,
    ) -> TrendGauge {
        // A read error (a process vanishing mid-read) counts as "gone now".
        let sample = take_sample(root, &self.watched.target, t, buf)
            .ok()
            .flatten();
        let Some((sample, procs)) = sample else {
            self.points.clear();
            self.seen_at = None;
            return self.gauge(None, None);
        };
        let metric = *self
            .metric
            .get_or_insert_with(|| self.watched.target.default_metric(&sample));
        let seen_at = *self.seen_at.get_or_insert(t);
        let value = sample.get(metric).map(|v| v as f64);
        if let Some(bytes) = value {
            if t - seen_at >= config.warmup.as_secs_f64() {
                self.points.push_back(Point { t, bytes });
            }
        }
        let oldest = t - config.window.as_secs_f64();
        while self.points.front().is_some_and(|p| p.t < oldest) {
            self.points.pop_front();
        }
        let remaining = limit_info(root, &self.watched.target, &procs).map(|l| l.remaining_bytes);
        self.gauge(value, remaining)
    }
}

/// Starts the sampler thread; the returned gauges are updated after every
/// round of samples (empty until the first).
pub fn spawn_sampler(root: ProcRoot, watched: Vec<Watched>, config: SamplerConfig) -> Trends {
    let trends: Trends = Arc::new(Mutex::new(Vec::new()));
    if watched.is_empty() {
        return trends;
    }
    let shared = Arc::clone(&trends);
    let mut series: Vec<Series> = watched
        .into_iter()
        .map(|watched| Series {
            watched,
            metric: None,
            seen_at: None,
            points: VecDeque::new(),
        })
        .collect();
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut buf = Vec::with_capacity(4096);
        let mut k: u32 = 0;
        loop {
            let t = start.elapsed().as_secs_f64();
            let gauges: Vec<TrendGauge> = series
                .iter_mut()
                .map(|s| s.step(&root, t, &config, &mut buf))
                .collect();
            *shared.lock().unwrap_or_else(PoisonError::into_inner) = gauges;
            // Paced by the clock: a slow round does not shift later
            // samples; a round that overran skips the ticks it missed.
            let now = Instant::now();
            k += 1;
            while start + config.interval * k <= now {
                k += 1;
            }
            std::thread::sleep(start + config.interval * k - now);
        }
    });
    trends
}
