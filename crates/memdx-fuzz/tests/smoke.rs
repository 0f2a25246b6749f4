//! The fuzzing smoke run: every target gets its seeds and a fixed number of
//! deterministic mutations of them (`MEMDX_FUZZ_SMOKE_MUTATIONS`, default
//! 5,000 per target). An input fails when the parser panics, runs past the
//! per-input deadline (a hang) or makes the heap grow by more than 256 MiB
//! (a blow-up). Failing inputs are written under the test's target tmpdir
//! so they can be replayed with the libFuzzer binary (`fuzz/README.md`).
//!
//! This file holds one test on purpose: the heap counter below is for the
//! whole process, so nothing may run beside the target under test.

// Test helpers outside #[test] fns panic on purpose, like the tests.
#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use memdx_fuzz::mutate::{mutate, Rng};
use memdx_fuzz::{seeds::seeds, Target, TARGETS};

/// A blow-up: more than this many bytes live above the level before the input.
const HEAP_LIMIT: usize = 256 << 20;
/// Past this much live heap in total, allocations fail (and the test aborts
/// with Rust's "memory allocation failed") instead of taking the machine.
const HARD_LIMIT: usize = 2 << 30;
/// A hang. Generous, as the machine may be loaded: libFuzzer campaigns use
/// 1 s (`fuzz/README.md`); a parser stuck in a loop exceeds either.
const DEADLINE: Duration = Duration::from_secs(10);

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

struct Counting;

impl Counting {
    fn grow(size: usize) -> bool {
        let now = LIVE.fetch_add(size, Ordering::Relaxed) + size;
        if now > HARD_LIMIT {
            LIVE.fetch_sub(size, Ordering::Relaxed);
            return false;
        }
        PEAK.fetch_max(now, Ordering::Relaxed);
        true
    }
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !Self::grow(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !Self::grow(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() && !Self::grow(new_size - layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            if new_size > layout.size() {
                LIVE.fetch_sub(new_size - layout.size(), Ordering::Relaxed);
            }
        } else if new_size < layout.size() {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// What the worker is doing, for the watchdog.
struct Progress {
    done: AtomicU64,
    current: Mutex<Vec<u8>>,
    finished: AtomicBool,
}

/// Writes straight to stderr (not captured by the test harness), so the
/// target in progress shows even when the process aborts.
fn say(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

fn save(target: &str, what: &str, input: &[u8]) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-smoke");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{target}-{what}"));
    std::fs::write(&path, input).unwrap();
    path.display().to_string()
}

fn mutations() -> usize {
    std::env::var("MEMDX_FUZZ_SMOKE_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000)
}

/// The inputs of one target: its seeds, then mutations of them.
fn inputs(t: &Target, count: usize) -> Vec<Vec<u8>> {
    let seeds = seeds(t.name);
    assert!(
        !seeds.is_empty(),
        "fuzz target {} has no seeds (memdx_fuzz::seeds)",
        t.name
    );
    let mut rng = Rng::new(0x5EED ^ t.name.len() as u64);
    let mut out = seeds.clone();
    let mut last = seeds[0].clone();
    for i in 0..count {
        // Half the time build on the last mutation, so changes stack up.
        let base = if i % 2 == 0 {
            &seeds[rng.below(seeds.len())]
        } else {
            &last
        };
        let other = &seeds[rng.below(seeds.len())];
        let m = mutate(&mut rng, base, other);
        // Keep inputs small enough that the run stays quick.
        last = if m.len() > 1 << 20 {
            seeds[0].clone()
        } else {
            m
        };
        out.push(last.clone());
    }
    out
}

/// Runs `t` on each input in turn, recording progress for the watchdog.
fn run_inputs(t: &Target, inputs: Vec<Vec<u8>>, p: &Progress) -> Result<(), String> {
    for input in inputs {
        *p.current.lock().unwrap() = input.clone();
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| (t.run)(&input)));
        let grew = PEAK.load(Ordering::Relaxed).saturating_sub(base);
        if outcome.is_err() {
            let path = save(t.name, "panic", &input);
            return Err(format!("{}: panic on the input saved as {path}", t.name));
        }
        if grew > HEAP_LIMIT {
            let path = save(t.name, "blowup", &input);
            return Err(format!(
                "{}: the heap grew by {} MiB on the input saved as {path}",
                t.name,
                grew >> 20
            ));
        }
        p.done.fetch_add(1, Ordering::Relaxed);
    }
    p.finished.store(true, Ordering::Relaxed);
    Ok(())
}

/// Runs one target over its inputs on a worker thread; the answer is the
/// first failure, described.
fn run_target(t: &'static Target, count: usize) -> Result<usize, String> {
    let inputs = inputs(t, count);
    let n = inputs.len();
    let progress = Arc::new(Progress {
        done: AtomicU64::new(0),
        current: Mutex::new(Vec::new()),
        finished: AtomicBool::new(false),
    });
    let worker_progress = Arc::clone(&progress);
    let worker = std::thread::spawn(move || -> Result<(), String> {
        let answer = run_inputs(t, inputs, &worker_progress);
        memdx_fuzz::remove_scratch();
        answer
    });

    // The watchdog: fail an input that runs past the deadline.
    let mut seen = 0;
    let mut since = Instant::now();
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
        let done = progress.done.load(Ordering::Relaxed);
        if done != seen {
            seen = done;
            since = Instant::now();
        } else if since.elapsed() > DEADLINE {
            let input = progress.current.lock().unwrap().clone();
            let path = save(t.name, "hang", &input);
            return Err(format!(
                "{}: no answer within {DEADLINE:?} on the input saved as {path}",
                t.name
            ));
        }
    }
    worker.join().unwrap()?;
    assert!(progress.finished.load(Ordering::Relaxed));
    Ok(n)
}

#[test]
fn every_target_survives_its_seeds_and_their_mutations() {
    let count = mutations();
    let mut failures = Vec::new();
    for t in TARGETS {
        say(&format!("fuzz smoke: {} ...\n", t.name));
        match run_target(t, count) {
            Ok(n) => say(&format!("fuzz smoke: {}: {n} inputs, no failure\n", t.name)),
            Err(e) => {
                // A hung worker keeps running; stop rather than measure
                // the next targets beside it.
                let hung = e.contains("no answer within");
                failures.push(e);
                if hung {
                    break;
                }
            }
        }
    }
    memdx_fuzz::remove_scratch();
    assert!(
        failures.is_empty(),
        "fuzz smoke failures:\n{}",
        failures.join("\n")
    );
}
