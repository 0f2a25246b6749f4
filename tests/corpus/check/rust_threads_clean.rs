/* Threads sharing an Arc<Mutex<Vec>>; all joined: clean.
   heap-summary: differs each thread's TLS vector is 16 bytes larger with the runtime loaded */
use std::sync::{Arc, Mutex};
fn main() {
    let shared = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let s = Arc::clone(&shared);
            std::thread::spawn(move || {
                for i in 0..1000 {
                    s.lock().unwrap().push(format!("{t}-{i}"));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    println!("{}", shared.lock().unwrap().len());
}
