//! Narrowing a change of behaviour down to the allocation sites whose
//! fill causes it: halves of the sites by a key bit, recursively.

use super::outcome::{difference, Outcome};
use super::runner::{Plan, Runner};
use super::{ALTERNATIVES, BASE};

/// One finding of the search: the sites (one, unless the cap or an
/// interaction stopped the narrowing), the difference, and the run that
/// showed it.
pub(super) struct Finding {
    pub(super) sites: Vec<u64>,
    pub(super) difference: String,
    pub(super) alt: u8,
    /// Runs made when the finding was complete.
    pub(super) runs: usize,
    /// Why it names more than one site, when it does.
    pub(super) unresolved: Option<&'static str>,
    pub(super) confirmed: bool,
}

/// The bit of the keys that splits `keys` most evenly, outside `mask`.
fn splitting_bit(keys: &[u64], mask: u64) -> Option<u32> {
    (0..64)
        .filter(|b| mask & (1 << b) == 0)
        .map(|b| {
            let ones = keys.iter().filter(|&&k| k & (1 << b) != 0).count();
            (b, ones.min(keys.len() - ones))
        })
        .filter(|&(_, smaller)| smaller > 0)
        .max_by_key(|&(b, smaller)| (smaller, std::cmp::Reverse(b)))
        .map(|(b, _)| b)
}

/// Narrows the sites selected by `plan` (known members `keys`), whose
/// alternative fill made the program behave unlike `reference`.
fn narrow(
    r: &mut Runner<'_>,
    reference: &Outcome,
    plan: Plan,
    keys: Vec<u64>,
    difference_seen: String,
    found: &mut Vec<Finding>,
) -> anyhow::Result<()> {
    if keys.len() <= 1 {
        found.push(Finding {
            sites: keys,
            difference: difference_seen,
            alt: plan.alt,
            runs: r.runs,
            unresolved: None,
            confirmed: false,
        });
        return Ok(());
    }
    let Some(bit) = splitting_bit(&keys, plan.mask) else {
        found.push(Finding {
            sites: keys,
            difference: difference_seen,
            alt: plan.alt,
            runs: r.runs,
            unresolved: Some("their keys do not split"),
            confirmed: false,
        });
        return Ok(());
    };
    let mut any = false;
    for half in [0u64, 1] {
        if r.runs >= r.cap {
            found.push(Finding {
                sites: keys,
                difference: difference_seen,
                alt: plan.alt,
                runs: r.runs,
                unresolved: Some("the run cap stopped the narrowing"),
                confirmed: false,
            });
            return Ok(());
        }
        let sub = Plan {
            alt: plan.alt,
            mask: plan.mask | 1 << bit,
            value: plan.value | half << bit,
        };
        let members: Vec<u64> = keys.iter().copied().filter(|&k| sub.selects(k)).collect();
        let out = r.run(sub)?;
        if let Some(d) = difference(reference, &out, &r.files) {
            any = true;
            narrow(r, reference, sub, members, d, found)?;
        }
    }
    if !any {
        found.push(Finding {
            sites: keys,
            difference: difference_seen,
            alt: plan.alt,
            runs: r.runs,
            unresolved: Some("no part of them changes the behaviour on its own: they act together"),
            confirmed: false,
        });
    }
    Ok(())
}

/// The search after the two reference runs `first` and `second`: the
/// findings, and the verdict lines said after them (nondeterminism, no
/// effect found).
pub(super) fn search(
    r: &mut Runner<'_>,
    first: &Outcome,
    second: &Outcome,
) -> anyhow::Result<(Vec<Finding>, Vec<String>)> {
    let mut found: Vec<Finding> = Vec::new();
    let mut verdict = Vec::new();
    let nondeterministic = difference(first, second, &r.files);
    if let Some(d) = &nondeterministic {
        verdict.push(format!(
            "The program is nondeterministic: two runs with the same fill (0x{BASE:02x} in every \
             heap block) differ: {d}."
        ));
        verdict.push(
            "No allocation site is blamed: an effect of uninitialised memory cannot be told \
             from the program's own variation."
                .to_string(),
        );
    } else {
        let mut changed = None;
        for alt in ALTERNATIVES {
            if r.runs >= r.cap {
                break;
            }
            let all = Plan {
                alt,
                mask: 0,
                value: 0,
            };
            let out = r.run(all)?;
            if let Some(d) = difference(first, &out, &r.files) {
                changed = Some((all, d));
                break;
            }
        }
        match changed {
            None => {
                let tried: Vec<String> = ALTERNATIVES
                    .iter()
                    .take(r.runs - 2)
                    .map(|a| format!("0x{a:02x}"))
                    .collect();
                verdict.push(format!(
                    "No effect of uninitialised heap memory found: the same behaviour with \
                     every heap block filled with 0x{BASE:02x}, {} ({} allocation sites).",
                    tried.join(", then "),
                    r.sites.len()
                ));
                if r.sites.is_empty() {
                    verdict.push(
                        "No allocation site was seen, so nothing was varied: a program \
                         started through a script or another program needs \
                         --trace-children=yes, and a statically linked one is not seen."
                            .to_string(),
                    );
                }
            }
            Some((plan, d)) => {
                let keys: Vec<u64> = r.sites.keys().copied().collect();
                if keys.is_empty() {
                    found.push(Finding {
                        sites: Vec::new(),
                        difference: d,
                        alt: plan.alt,
                        runs: r.runs,
                        unresolved: Some("the runs listed no allocation site"),
                        confirmed: false,
                    });
                } else {
                    narrow(r, first, plan, keys, d, &mut found)?;
                }
                // Confirm each single-site finding by one more run.
                for f in found.iter_mut() {
                    if f.sites.len() != 1 || r.runs >= r.cap {
                        continue;
                    }
                    let k = f.sites[0];
                    let plan = Plan {
                        alt: f.alt,
                        mask: u64::MAX,
                        value: k,
                    };
                    let out = r.run(plan)?;
                    f.confirmed = difference(first, &out, &r.files).is_some();
                    f.runs = r.runs;
                }
            }
        }
    }
    Ok((found, verdict))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_splitting_bit_halves_the_keys_as_evenly_as_it_can() {
        let keys = [0b000, 0b001, 0b010, 0b011, 0b100];
        let b = splitting_bit(&keys, 0).unwrap();
        assert!(b == 0 || b == 1, "{b}");
        assert_eq!(splitting_bit(&[5], 0), None);
        assert_eq!(splitting_bit(&[0b01, 0b11], 0b10), None);
        assert_eq!(splitting_bit(&[0b01, 0b11], 0), Some(1));
    }
}
