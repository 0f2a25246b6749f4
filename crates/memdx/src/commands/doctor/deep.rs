//! `memdx doctor --deep`: a sampled heap capture of the target through
//! attach (`memdx heap --pid`) on a thread, for the observation window,
//! while the window is sampled as usual. The attach detaches at its end
//! and the process runs on. A failed attach is a note, never a failure of
//! doctor.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use memdx_doctor::{HeapCapture, HeapSite};
use memdx_heap::render::{group, ranked, GroupBy, View};
use memdx_heap::Summary;

use crate::commands::heap::attach;

/// Mean bytes between samples: `memdx heap --pid`'s default.
const SAMPLE_INTERVAL: u64 = 512 * 1024;
/// Frames per stack: enough to get past the allocator's.
const NUM_CALLERS: usize = 16;
/// Sites handed to the diagnosis (it names the first few).
const SITES: usize = 10;

/// A capture under way.
pub struct Capture(JoinHandle<Result<HeapCapture, String>>);

/// Starts capturing `pid`'s heap for `duration`.
pub fn start(pid: u32, duration: Duration) -> Capture {
    Capture(std::thread::spawn(move || capture(pid, duration)))
}

impl Capture {
    /// Waits for the detach: the capture, or the obstacle as a note.
    pub fn finish(self) -> Result<HeapCapture, String> {
        self.0
            .join()
            .unwrap_or_else(|_| Err("the capture's thread failed".to_string()))
            .map_err(|why| format!("heap capture (--deep): {why}: allocation sites not named"))
    }
}

/// RSS in bytes from `/proc/PID/statm`.
fn rss(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: f64 = text.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * page.max(1) as f64)
}

fn capture(pid: u32, duration: Duration) -> Result<HeapCapture, String> {
    let path = std::env::temp_dir().join(format!(
        "memdx-doctor-deep.{pid}.{}.mdxh",
        std::process::id()
    ));
    let rss_before = rss(pid);
    let t0 = Instant::now();
    let result = attach::run(&attach::Options {
        pid: pid as i32,
        output: Some(path.clone()),
        duration: Some(duration),
        sample_interval: SAMPLE_INTERVAL,
        num_callers: NUM_CALLERS,
    });
    let span = t0.elapsed().as_secs_f64();
    let rss_after = rss(pid);
    let _ = std::fs::remove_file(&path);
    let outcome = result.map_err(|e| {
        let text = format!("{e:#}");
        text.strip_prefix("memdx heap: ")
            .map_or(text.clone(), str::to_string)
    })?;
    let rss_growth = match (rss_before, rss_after) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    Ok(from_summary(pid, &outcome.summary, rss_growth, span))
}

/// The capture as the diagnosis takes it: sites by the function that
/// called the allocator, with the source line holding most of them.
fn from_summary(pid: u32, s: &Summary, rss_growth: f64, span: f64) -> HeapCapture {
    let by_function = group(s, GroupBy::Function);
    let by_line = group(s, GroupBy::Line);
    let sites = ranked(&by_function, View::Exit, SITES)
        .into_iter()
        .map(|g| {
            let function = g.frames.first().and_then(|f| f.function.clone());
            let location = by_line
                .iter()
                .filter(|l| {
                    l.frames
                        .first()
                        .is_some_and(|f| f.file.is_some() && f.line > 0 && f.function == function)
                })
                .max_by(|a, b| a.stats.exit_bytes.total_cmp(&b.stats.exit_bytes))
                .and_then(|l| l.frames.first())
                .and_then(|f| {
                    let file = f.file.as_deref()?;
                    let name = file.rsplit('/').next().unwrap_or(file);
                    Some(format!("{name}:{}", f.line))
                });
            HeapSite {
                function: g.key.clone(),
                location,
                bytes: g.stats.exit_bytes,
                blocks: g.stats.exit_blocks,
            }
        })
        .collect();
    HeapCapture {
        pid,
        duration_s: s.duration_ns as f64 / 1e9,
        sample_interval: s.sample_interval,
        heap_at_attach_bytes: s.attached_heap_bytes,
        sites,
        live_growth_bytes: s.sites.iter().map(|x| x.stats.exit_bytes).sum(),
        rss_growth_bytes: rss_growth,
        rss_span_s: span,
    }
}
