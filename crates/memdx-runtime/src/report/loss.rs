//! Loss records: the scanned blocks grouped by state and allocation stack,
//! and the heuristic totals.

use memdx_events::{Heuristic, LeakState, LossRecord};

use crate::leak::{ScanBlock, INDIRECT, POSSIBLE, REACHABLE, UNREACHED};
use crate::out;

fn state_of(s: u8) -> LeakState {
    match s {
        UNREACHED => LeakState::DefinitelyLost,
        INDIRECT => LeakState::IndirectlyLost,
        POSSIBLE => LeakState::PossiblyLost,
        _ => LeakState::StillReachable,
    }
}

pub(super) fn send_loss_records(blocks: &mut [ScanBlock]) {
    // Heuristic totals first (reachable blocks only).
    let mut heur = [(0u64, 0u64); 5];
    for b in blocks.iter() {
        if b.state == REACHABLE && b.heuristic != 0 {
            if let Some(h) = heur.get_mut(b.heuristic as usize) {
                h.0 += b.size as u64;
                h.1 += 1;
            }
        }
    }
    for (i, &(bytes, n)) in heur.iter().enumerate() {
        if let (Some(h), true) = (Heuristic::from_u8(i as u8), n > 0) {
            out::emit(|e| e.heuristic_total(h, bytes, n));
        }
    }
    blocks.sort_unstable_by_key(|b| (b.state, b.stack));
    let mut i = 0;
    while i < blocks.len() {
        let first = blocks[i];
        let mut rec = LossRecord {
            state: state_of(first.state),
            stack: first.stack,
            bytes: 0,
            indirect_bytes: 0,
            blocks: 0,
        };
        while let Some(b) = blocks.get(i) {
            if b.state != first.state || b.stack != first.stack {
                break;
            }
            rec.bytes += b.size as u64;
            if b.state == UNREACHED {
                rec.indirect_bytes += b.indirect;
            }
            rec.blocks += 1;
            i += 1;
        }
        out::ensure_stack(rec.stack);
        out::emit(|e| e.loss_record(&rec));
    }
}
