//! `memdx slab`: slab caches like slabtop, kernel memory from meminfo, and
//! caches that grow without bound over a sampling window.

use std::io::{self, Write};
use std::time::Duration;

use clap::Args;
use memdx_kernel::slab::{self, info, KernelMemory, Sample, SlabReport, TrendRule};
use memdx_kernel::wait::{Sleep, Wait};
use memdx_proc::{MemInfo, ProcRoot};

use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct SlabArgs {
    /// Time between samples: seconds (0.5, 5) or with a unit (30s, 10m, 2h).
    #[arg(long, value_name = "S", default_value = "5")]
    interval: String,
    /// Sample for this long (seconds, or 30s, 10m, 2h), then report caches that kept growing.
    #[arg(long, value_name = "D")]
    duration: Option<String>,
    /// Use saved slabinfo files as consecutive samples, --interval apart, instead of the live machine.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    replay: Vec<String>,
    /// Also judge reclaimable caches (dentry, inode caches, buffer_head, ...).
    #[arg(long)]
    include_reclaimable: bool,
    /// Caches listed in text output (0 = all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    top: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn duration_arg(name: &str, text: &str) -> Result<Duration, Exit> {
    memdx_units::parse_duration(text).map_err(|e| Exit::new(1, format!("memdx slab: {name}: {e}")))
}

fn read_live(root: &ProcRoot) -> Result<Vec<info::SlabCache>, Exit> {
    info::read(root).map_err(|e| {
        let hint = if e.to_string().contains("Permission denied") {
            " (slabinfo is readable by root only: run as root)"
        } else {
            ""
        };
        Exit::new(1, format!("memdx slab: {e}{hint}"))
    })
}

/// Takes `count` samples, waiting `interval` between them (not before the
/// first, not after the last).
fn collect_live(
    root: &ProcRoot,
    count: usize,
    interval: Duration,
    waiter: &mut dyn Wait,
) -> Result<Vec<Sample>, Exit> {
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        if i > 0 {
            waiter.wait(interval);
        }
        samples.push(Sample {
            t: i as f64 * interval.as_secs_f64(),
            caches: read_live(root)?,
        });
    }
    Ok(samples)
}

pub fn run(args: SlabArgs) -> anyhow::Result<()> {
    run_with(args, &mut Sleep)
}

fn run_with(args: SlabArgs, waiter: &mut dyn Wait) -> anyhow::Result<()> {
    let interval = duration_arg("--interval", &args.interval)?;
    let rule = TrendRule {
        include_reclaimable: args.include_reclaimable,
        ..TrendRule::default()
    };
    let root = ProcRoot::from_env();
    let (samples, kernel) = if !args.replay.is_empty() {
        let mut samples = Vec::new();
        for (i, file) in args.replay.iter().enumerate() {
            let text = memdx_kernel::read_text(std::path::Path::new(file))
                .map_err(|e| Exit::new(1, format!("memdx slab: {e}")))?;
            let caches = info::parse_slabinfo(&text, file)
                .map_err(|e| Exit::new(1, format!("memdx slab: {e}")))?;
            samples.push(Sample {
                t: i as f64 * interval.as_secs_f64(),
                caches,
            });
        }
        (samples, None)
    } else {
        let count = match &args.duration {
            Some(d) => {
                let d = duration_arg("--duration", d)?;
                if interval.is_zero() {
                    return Err(Exit::new(
                        1,
                        "memdx slab: --interval must be more than 0 with --duration",
                    )
                    .into());
                }
                (d.as_secs_f64() / interval.as_secs_f64()).floor() as usize + 1
            }
            None => 1,
        };
        if count > 1 {
            eprintln!(
                "memdx slab: {count} samples, {}s apart",
                interval.as_secs_f64()
            );
        }
        let samples = collect_live(&root, count, interval, waiter)?;
        (
            samples,
            MemInfo::read(&root)
                .ok()
                .map(|m| KernelMemory::from_meminfo(&m)),
        )
    };
    let report = SlabReport::build(&samples, kernel, &rule);
    let mut out = io::stdout().lock();
    if args.json {
        slab::render::write_json(&mut out, &report)?;
    } else {
        slab::render::write_text(&mut out, &report, args.top)?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Recorder(Vec<Duration>);

    impl Wait for Recorder {
        fn wait(&mut self, d: Duration) {
            self.0.push(d);
        }
    }

    #[test]
    fn live_sampling_waits_between_samples_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        std::fs::create_dir_all(dir.join("proc")).unwrap();
        std::fs::write(
            dir.join("proc/slabinfo"),
            "slabinfo - version: 2.1\nkmalloc-64 10 64 64 64 1 : tunables 0 0 0 : slabdata 1 1 0\n",
        )
        .unwrap();
        let mut rec = Recorder(Vec::new());
        let samples =
            collect_live(&ProcRoot::new(&dir), 4, Duration::from_secs(30), &mut rec).unwrap();
        assert_eq!(samples.len(), 4);
        assert_eq!(samples[3].t, 90.0);
        assert_eq!(rec.0, vec![Duration::from_secs(30); 3]);
    }
}
