use super::header::header_at;
use super::quarantine::{leave_quarantine, DEFAULT_QUARANTINE};
use super::recycle::recycle_class;
use super::state::state_of;
use super::*;

/// A block in test memory laid out as the hooks lay it out.
fn make(buf: &mut [u64], size: usize, stack: u32) -> usize {
    let raw = buf.as_mut_ptr() as usize;
    let q = (raw + HEADER + 15) & !15;
    let raw = q - HEADER;
    // SAFETY: buf is big enough for header, block and redzone.
    assert!(unsafe { register(crate::tls::get(), raw, q, size, 1, stack) });
    q
}

#[test]
fn release_then_double_release_are_told_apart() {
    let mut buf = vec![0u64; 64];
    let q = make(&mut buf, 40, 7);
    assert_eq!(lookup(q).map(|b| (b.size, b.stack)), Some((40, 7)));
    let mut evicted = Vec::new();
    match release(crate::tls::get(), q, 9, &mut Damaged::new(), &mut |p| {
        evicted.push(p)
    }) {
        Release::Live(b, damage) => {
            assert_eq!(b.size, 40);
            assert_eq!(damage, Damages::default());
        }
        _ => panic!("first release must find the live block"),
    }
    assert!(lookup(q).is_none());
    match release(crate::tls::get(), q, 11, &mut Damaged::new(), &mut |p| {
        evicted.push(p)
    }) {
        Release::AlreadyFreed(f) => {
            assert_eq!((f.ptr, f.size, f.alloc_stack, f.free_stack), (q, 40, 7, 9));
        }
        _ => panic!("second release must find the quarantined block"),
    }
    assert!(evicted.is_empty());
    assert!(matches!(
        release(
            crate::tls::get(),
            q + 8,
            1,
            &mut Damaged::new(),
            &mut |_| {}
        ),
        Release::Unknown
    ));
}

#[test]
fn canary_damage_of_a_held_block_is_found_when_it_leaves() {
    let mut buf = vec![0u64; 64];
    let q = make(&mut buf, 13, 1);
    // SAFETY: within buf (the redzone follows the block).
    unsafe { *((q + 13) as *mut u8) = 0 };
    match release(crate::tls::get(), q, 2, &mut Damaged::new(), &mut |_| {}) {
        // Quarantined: the canary check is deferred to its eviction.
        Release::Live(_, d) => assert_eq!(d.after_end, None),
        _ => panic!("live block expected"),
    }
    // SAFETY: the quarantined block's memory is buf's.
    let d = unsafe { check_freed(q) };
    assert_eq!((d.after_end, d.after_free), (Some((0, 0)), None));
}

#[test]
fn canary_damage_of_a_block_too_big_to_hold_is_found_on_release() {
    // Bigger than half the default quarantine: given back at once.
    let size = DEFAULT_QUARANTINE / 2 + 16;
    let mut buf = vec![0u64; (size + 256) / 8];
    let q = make(&mut buf, size, 1);
    // SAFETY: within buf (the redzone follows the block).
    unsafe { *((q + size + 3) as *mut u8) = 0 };
    match release(crate::tls::get(), q, 2, &mut Damaged::new(), &mut |_| {}) {
        Release::Live(_, d) => assert_eq!(d.after_end, Some((3, 3))),
        _ => panic!("live block expected"),
    }
}

#[test]
fn a_damaged_block_leaving_the_quarantine_is_kept_for_the_report() {
    let mut buf = vec![0u64; 128];
    let clean = make(&mut buf[..64], 24, 1);
    let dirty = make(&mut buf[64..], 24, 1);
    let _ = release(
        crate::tls::get(),
        clean,
        2,
        &mut Damaged::new(),
        &mut |_| {},
    );
    let _ = release(
        crate::tls::get(),
        dirty,
        2,
        &mut Damaged::new(),
        &mut |_| {},
    );
    // SAFETY: the quarantined block's memory is buf's.
    unsafe { *((dirty + 4) as *mut u8) = 1 };
    let mut damaged = Damaged::new();
    let mut evicted = Vec::new();
    leave_quarantine(
        clean,
        24,
        poison_max(),
        redzone(),
        &mut damaged,
        &mut |p, _| evicted.push(p),
    );
    leave_quarantine(
        dirty,
        24,
        poison_max(),
        redzone(),
        &mut damaged,
        &mut |p, _| evicted.push(p),
    );
    assert_eq!(evicted, vec![clean]);
    assert_eq!(damaged.blocks(), &[dirty]);
    // SAFETY: as above.
    let d = unsafe { check_freed(dirty) };
    assert_eq!(d.after_free, Some((4, 4)));
}

#[test]
fn write_after_free_is_found_in_the_poison() {
    let mut buf = vec![0u64; 64];
    let q = make(&mut buf, 32, 1);
    let _ = release(crate::tls::get(), q, 2, &mut Damaged::new(), &mut |_| {});
    // SAFETY: the quarantined block's memory is buf's.
    unsafe { assert_eq!(check_freed(q), FreedDamage::default()) };
    // SAFETY: as above.
    unsafe { *((q + 8) as *mut u32) = 5 };
    // SAFETY: as above.
    let d = unsafe { check_freed(q) };
    assert!(matches!(d.after_free, Some((8, _))));
}

#[test]
fn containing_block_and_enumeration_follow_the_bitmap() {
    let mut buf = vec![0u64; 4096];
    let base = (buf.as_mut_ptr() as usize + HEADER + 15) & !15;
    let mut starts = Vec::new();
    for k in 0..20 {
        let q = base + k * 128;
        // SAFETY: within buf.
        assert!(unsafe { register(crate::tls::get(), q - HEADER, q, 100, 1, k as u32) });
        starts.push(q);
    }
    assert_eq!(
        find_containing(starts[3] + 99).map(|(l, b, _)| (l, b.ptr)),
        Some((true, starts[3]))
    );
    // Past the end: in no live block. (Other tests running beside this
    // one leave freed blocks of their dropped buffers in their
    // quarantines, which may lie where this buffer now is.)
    assert_eq!(
        find_containing(starts[3] + 100)
            .filter(|&(live, ..)| live)
            .map(|(l, b, _)| (l, b.ptr)),
        None
    );
    let mut seen = Vec::new();
    for_each_live(&mut |q| {
        if q >= base && q < base + 20 * 128 {
            seen.push(q)
        }
    });
    assert_eq!(seen, starts);
    for q in starts {
        let _ = release(crate::tls::get(), q, 1, &mut Damaged::new(), &mut |_| {});
    }
}

#[test]
fn a_recycled_chunk_serves_only_requests_of_its_class() {
    // Leaked: a recycled chunk stays the thread state's until taken.
    let buf: &'static mut [u64] = Box::leak(vec![0u64; 64].into_boxed_slice());
    let q = make(buf, 40, 1);
    let _ = release(crate::tls::get(), q, 2, &mut Damaged::new(), &mut |_| {});
    let len = 40 + HEADER + redzone();
    // SAFETY: a released block, its header intact.
    assert!(unsafe { (*state_of(crate::tls::get())).recycle(q, header_at(q).read(), redzone()) });
    // glibc gives a request of `len` a chunk of 16 * class bytes, of
    // which all but the size word are usable.
    let class = recycle_class(len);
    let (lowest, highest) = ((class << 4) - 8 - 15, (class << 4) - 8);
    assert_eq!(recycle_class(lowest), class);
    assert_eq!(recycle_class(lowest - 1), class - 1);
    assert_eq!(recycle_class(highest + 1), class + 1);
    assert_ne!(
        take_recycled(crate::tls::get(), highest + 1),
        Some(q - HEADER)
    );
    assert_ne!(
        take_recycled(crate::tls::get(), lowest - 1),
        Some(q - HEADER)
    );
    assert_eq!(take_recycled(crate::tls::get(), lowest), Some(q - HEADER));
    assert_ne!(take_recycled(crate::tls::get(), highest), Some(q - HEADER));
}
