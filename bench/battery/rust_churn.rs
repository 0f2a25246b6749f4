// Rust collections churn: BTreeMap of Strings and Vecs, HashMap rebuilds.
use std::collections::{BTreeMap, HashMap};
fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let mut tree: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut total = 0usize;
    for i in 0..n {
        let key = (i as u64).wrapping_mul(2_654_435_761) % 4096;
        let entry = tree.entry(key).or_default();
        entry.push(format!("value-{i}"));
        if entry.len() > 4 {
            entry.remove(0);
        }
        if i % 1000 == 0 {
            let h: HashMap<u64, usize> = tree.iter().map(|(k, v)| (*k, v.len())).collect();
            total += h.len();
        }
    }
    println!("{}", total + tree.len());
}
