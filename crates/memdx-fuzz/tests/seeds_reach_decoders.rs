//! Seeds that a reader rejects at its first check fuzz nothing past it: the
//! binary formats' seeds must decode whole.

use memdx_heap::{Analysis, Reader};

#[test]
fn heap_recording_seeds_decode_whole_in_both_modes() {
    let seeds = memdx_fuzz::seeds::seeds("heap_recording");
    assert_eq!(seeds.len(), 2, "a whole-file seed and a framed seed");
    for (i, seed) in seeds.iter().enumerate() {
        let (&mode, rest) = seed.split_first().expect("mode byte");
        let file = if mode == 0 {
            rest.to_vec()
        } else {
            memdx_fuzz::heap_frames(rest)
        };
        let mut analysis = Analysis::new();
        for rec in Reader::new(&file[..]).expect("header") {
            analysis.add(rec.unwrap_or_else(|e| panic!("seed {i}: {e}")));
        }
        let s = analysis.summary();
        assert_eq!(s.pid, 4242, "seed {i}: the Meta frame was read");
        assert_eq!(s.allocations, 3.0, "seed {i}: three allocations");
        assert!(s.exit.is_some(), "seed {i}: the End frame was read");
    }
}
