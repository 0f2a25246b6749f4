//! procps acts on `-V`, `-f` and a bad `-S` while it parses the options, so
//! whichever comes first wins (`vmstat -f -S x` prints the forks, `vmstat
//! -S x -f` fails). clap parses everything first; this walks the raw
//! arguments the way getopt does to find out which came first.

use std::ffi::OsString;

use memdx_model::vmstat::DataUnit;

/// An option procps acts on immediately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Immediate {
    /// `-V` / `--version`.
    Version,
    /// `-f` / `--forks`.
    Forks,
    /// `-S` with a unit procps rejects.
    BadUnit,
}

const LONG_WITH_VALUE: [&str; 2] = ["partition", "unit"];
const LONG: [&str; 14] = [
    "active",
    "forks",
    "slabs",
    "one-header",
    "stats",
    "disk",
    "disk-sum",
    "partition",
    "unit",
    "wide",
    "timestamp",
    "help",
    "version",
    "no-first",
];

fn unit_event(value: &str) -> Option<Immediate> {
    DataUnit::from_arg(value)
        .is_none()
        .then_some(Immediate::BadUnit)
}

/// The first immediate option in `args` (the arguments after `vmstat`), if
/// any. Arguments clap accepted are assumed well formed.
pub fn first_immediate(args: &[OsString]) -> Option<Immediate> {
    let mut iter = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = iter.next() {
        if arg == "--" {
            return None;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            // getopt_long: an exact name, else the only name it prefixes.
            let full = LONG.iter().find(|l| **l == name).copied().or_else(|| {
                let mut hits = LONG.iter().filter(|l| l.starts_with(name));
                match (hits.next(), hits.next()) {
                    (Some(one), None) => Some(*one),
                    _ => None,
                }
            });
            match full {
                Some("version") => return Some(Immediate::Version),
                Some("forks") => return Some(Immediate::Forks),
                Some(l) if LONG_WITH_VALUE.contains(&l) => {
                    let value = inline.or_else(|| iter.next()).unwrap_or_default();
                    if l == "unit" {
                        if let Some(e) = unit_event(&value) {
                            return Some(e);
                        }
                    }
                }
                _ => {}
            }
        } else if let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) {
            for (i, c) in flags.char_indices() {
                match c {
                    'V' => return Some(Immediate::Version),
                    'f' => return Some(Immediate::Forks),
                    'S' | 'p' => {
                        let rest = &flags[i + 1..];
                        let value = if rest.is_empty() {
                            iter.next().unwrap_or_default()
                        } else {
                            rest.to_string()
                        };
                        if c == 'S' {
                            if let Some(e) = unit_event(&value) {
                                return Some(e);
                            }
                        }
                        break;
                    }
                    _ => {}
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(args: &[&str]) -> Option<Immediate> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        first_immediate(&args)
    }

    #[test]
    fn the_first_immediate_option_wins() {
        assert_eq!(first(&["-f", "-S", "x"]), Some(Immediate::Forks));
        assert_eq!(first(&["-S", "x", "-f"]), Some(Immediate::BadUnit));
        assert_eq!(first(&["-sf", "-V"]), Some(Immediate::Forks));
        assert_eq!(first(&["--unit=q", "-V"]), Some(Immediate::BadUnit));
        assert_eq!(first(&["--ver", "-f"]), Some(Immediate::Version));
        assert_eq!(first(&["--fo"]), Some(Immediate::Forks));
    }

    #[test]
    fn option_values_are_not_flags() {
        // "-p f" names a device "f"; "-Sm" is a good unit.
        assert_eq!(first(&["-p", "f", "-Sm"]), None);
        assert_eq!(first(&["-pVda", "1"]), None);
        assert_eq!(first(&["--partition", "-f"]), None);
        assert_eq!(first(&["--", "-f"]), None);
        assert_eq!(first(&["1", "2"]), None);
    }
}
