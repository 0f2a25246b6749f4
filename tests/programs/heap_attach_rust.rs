//! A Rust program for `memdx heap --pid` (crates/memdx/tests/heap_attach.rs).
//!
//!   heap_attach_rust SECONDS
//!
//! Before printing "ready PID" it makes 5000 boxed buffers; then, every
//! millisecond for SECONDS, it leaks one vector from `leak_vec`, drops one of
//! the buffers from before "ready", and builds and drops a temporary string.
//! Prints the total length of the buffers, which does not depend on timing.
//! Rust binaries are linked with full RELRO: their GOT is read-only.

use std::io::Write;
use std::time::{Duration, Instant};

extern "C" {
    fn prctl(option: i32, ...) -> i32;
}
/// `PR_SET_PTRACER`, `PR_SET_PTRACER_ANY`.
const PR_SET_PTRACER: i32 = 0x5961_6d61;
const PR_SET_PTRACER_ANY: u64 = u64::MAX;

#[inline(never)]
fn leak_vec(i: u64) -> &'static mut Vec<u64> {
    Box::leak(Box::new(vec![i; 12]))
}

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    // Let memdx attach under kernel.yama.ptrace_scope 1 (no Yama: fails
    // harmlessly).
    // SAFETY: prctl with integer arguments.
    unsafe { prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0u64, 0u64, 0u64) };
    let mut before: Vec<Option<Box<[u8]>>> = (0..5000)
        .map(|i| Some(vec![(i % 251) as u8; 40 + i % 50].into_boxed_slice()))
        .collect();
    let total: usize = before.iter().flatten().map(|b| b.len()).sum();
    println!("ready {}", std::process::id());
    std::io::stdout().flush().unwrap();
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut i = 0u64;
    let mut next = 0;
    while Instant::now() < end {
        let v = leak_vec(i);
        i += v.len() as u64 / 12;
        if next < before.len() {
            before[next] = None;
            next += 1;
        }
        let tmp = format!("{:>100}", i);
        std::hint::black_box(tmp);
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(before);
    println!("done {total}");
}
