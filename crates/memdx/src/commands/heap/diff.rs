//! `memdx heap diff`: two recordings, or two moments of one.

use std::io::Write;

use memdx_heap::diff::{self, Diff};
use memdx_heap::render::View;
use memdx_heap::Analysis;

use super::{replay, DiffArgs};
use crate::exit::Exit;

fn secs(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

pub(super) fn run(args: DiffArgs) -> anyhow::Result<()> {
    let of: View = args.of.into();
    let (d, before_name, after_name): (Diff, String, String) = match &args.after {
        Some(after) => {
            if args.from.is_some() || args.to.is_some() {
                return Err(Exit::new(
                    1,
                    "memdx heap diff: --from/--to compare two moments of one recording; with two recordings leave them out",
                )
                .into());
            }
            let (a, damage_a) = replay(&args.before, Analysis::new(), "diff")?;
            let (b, damage_b) = replay(after, Analysis::new(), "diff")?;
            for (path, damage) in [(&args.before, damage_a), (after, damage_b)] {
                if let Some(e) = damage {
                    return Err(
                        Exit::new(1, format!("memdx heap diff: {}: {e}", path.display())).into(),
                    );
                }
            }
            let d = diff::diff(&a.summary(), &b.summary(), args.group_by.into(), of);
            (
                d,
                args.before.display().to_string(),
                after.display().to_string(),
            )
        }
        None => {
            if args.to.is_none() && args.from.is_none() {
                return Err(Exit::new(
                    1,
                    "memdx heap diff: give a second recording, or --from/--to to compare two moments of one",
                )
                .into());
            }
            if of == View::Peak {
                return Err(Exit::new(
                    1,
                    "memdx heap diff: --of peak compares two recordings; two moments compare what is live then (--of exit)",
                )
                .into());
            }
            let from = args
                .from
                .as_deref()
                .map(|t| super::moment(&args.before, t, "diff", "--from"))
                .transpose()?
                .unwrap_or(0);
            let to = args
                .to
                .as_deref()
                .map(|t| super::moment(&args.before, t, "diff", "--to"))
                .transpose()?;
            if to.is_some_and(|to| to <= from) {
                return Err(Exit::new(1, "memdx heap diff: --to must be later than --from").into());
            }
            let (a, damage) = replay(&args.before, Analysis::new().until(from), "diff")?;
            if let Some(e) = damage {
                return Err(Exit::new(
                    1,
                    format!("memdx heap diff: {}: {e}", args.before.display()),
                )
                .into());
            }
            let after = match to {
                Some(t) => Analysis::new().until(t),
                None => Analysis::new(),
            };
            let (b, _) = replay(&args.before, after, "diff")?;
            let (a, b) = (a.summary(), b.summary());
            let end = b.duration_ns;
            if from > end {
                return Err(Exit::new(
                    1,
                    format!(
                        "memdx heap diff: --from {}: the recording ends at {}",
                        args.from.as_deref().unwrap_or("0"),
                        secs(end)
                    ),
                )
                .into());
            }
            let name = args.before.display();
            let label = |t: Option<u64>| match t {
                Some(t) if t < end => format!("{name} at {}", secs(t)),
                _ => format!("{name} at its end ({})", secs(end)),
            };
            let d = diff::diff(&a, &b, args.group_by.into(), of);
            (d, label(Some(from)), label(to))
        }
    };
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        diff::write_json(&mut out, &d, &before_name, &after_name, args.top)
    } else {
        diff::write_text(&mut out, &d, &before_name, &after_name, args.top)
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    Ok(())
}
