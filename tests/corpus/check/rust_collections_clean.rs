/* HashMap, BTreeMap, String and Vec churn in safe Rust: clean. */
use std::collections::{BTreeMap, HashMap};
fn main() {
    let mut h: HashMap<String, Vec<u32>> = HashMap::new();
    let mut b = BTreeMap::new();
    for i in 0..5000u32 {
        h.entry(format!("k{}", i % 300)).or_default().push(i);
        b.insert(i, i.to_string());
    }
    let total: usize = h.values().map(|v| v.len()).sum();
    println!("{} {} {}", h.len(), b.len(), total);
}
