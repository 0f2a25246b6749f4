//! Redzones and poison checked at exit: every live block's canary and
//! every quarantined block's poison and canary.

use memdx_events::{Corruption, CorruptionKind};

use super::blocks::{bytes_readable, header_readable};
use crate::{hooks, out, table};

/// Verifies every live block's redzone and every quarantined block's poison
/// and canary (Valgrind-style errors, before the heap summary). Other
/// threads must be stopped.
pub(super) fn collect_damage() -> [Option<Corruption>; 8] {
    let mut found = [None; 8];
    let mut n = 0usize;
    let mut note = |c: Corruption| {
        if let Some(slot) = found.get_mut(n) {
            *slot = Some(c);
            n += 1;
        }
    };
    let rz = table::redzone();
    table::for_each_live(&mut |q| {
        if !header_readable(q) {
            return;
        }
        // SAFETY: a set bit means a complete header and a canary.
        let b = unsafe { table::read_block(q) }.block;
        if b.kind & table::INTERNAL != 0 || !bytes_readable(q + b.size, rz) {
            return;
        }
        // SAFETY: as above. A write before a block never freed changed
        // its check word (found here, as a freed block's is on its free).
        if let Some((first, last)) =
            // SAFETY: as above.
            unsafe { table::header_damage(q) }
                .filter(|_| !table::underflow_reported(q, false))
        {
            note(Corruption {
                kind: CorruptionKind::BeforeStart,
                block_start: q as u64,
                block_size: b.size as u64,
                first: first as u64,
                last: last as u64,
                stack: 0,
                alloc_stack: b.stack,
                free_stack: 0,
            });
        }
        // SAFETY: as above.
        if unsafe { table::overrun_reported(q) } {
            return;
        }
        // SAFETY: as above.
        if let Some((first, last)) = unsafe { table::check_canary(q, b.size) } {
            note(Corruption {
                kind: CorruptionKind::AfterEnd,
                block_start: q as u64,
                block_size: b.size as u64,
                first: first as u64,
                last: last as u64,
                stack: 0,
                alloc_stack: b.stack,
                free_stack: 0,
            });
        }
    });
    crate::guard::for_each_live_damage(&mut |b, before, after| {
        if b.kind & table::INTERNAL != 0 {
            return;
        }
        let edges = [
            (CorruptionKind::BeforeStart, before),
            (CorruptionKind::AfterEnd, after),
        ];
        for (kind, range) in edges {
            if let Some((first, last)) = range {
                note(Corruption {
                    kind,
                    block_start: b.ptr as u64,
                    block_size: b.size as u64,
                    first: first as u64,
                    last: last as u64,
                    stack: 0,
                    alloc_stack: b.stack,
                    free_stack: 0,
                });
            }
        }
    });
    table::for_each_state(&mut |s| {
        s.for_each_freed(&mut |q| {
            if !header_readable(q) {
                return;
            }
            // SAFETY: as below.
            let b = unsafe { table::read_block(q) }.block;
            if !bytes_readable(q, b.size + rz) {
                return;
            }
            // SAFETY: quarantined blocks keep header, poison and canary.
            for c in unsafe { hooks::freed_corruptions(q) }.into_iter().flatten() {
                note(c);
            }
        })
    });
    found
}

/// Sends what [`collect_damage`] found.
pub(super) fn emit_damage(found: &[Option<Corruption>; 8]) {
    for c in found.iter().flatten() {
        out::ensure_modules();
        out::ensure_stack(c.stack);
        out::ensure_stack(c.alloc_stack);
        out::ensure_stack(c.free_stack);
        out::emit(|e| e.corruption(c));
        out::wait_ack();
    }
}
