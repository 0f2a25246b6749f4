//! The live-block table and the freed-block quarantine, sharded by address.
//!
//! Each shard is an open-addressing hash table in private memory plus a FIFO
//! ring of recently freed blocks whose memory is not yet given back to glibc
//! (Valgrind's `--freelist-vol`): a second free of the same pointer finds the
//! block there and is reported with the stacks of the first free and of the
//! allocation, instead of freeing whatever glibc put at that address since.
//! A pointer always hashes to the same shard, so both lookups take one lock.

use core::ptr;

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::sys::{self, Racy, SpinLock};

pub const SHARDS: usize = 64;
const EMPTY: usize = 0;
const TOMBSTONE: usize = 1;
const QUARANTINE_SLOTS: usize = 4096;
/// First capacity of a shard's quarantine ring. The ring doubles (up to
/// QUARANTINE_SLOTS) only when it fills before the byte limit, so with the
/// default volume and ordinary block sizes it stays a few KiB per shard: a
/// full-size ring per shard cycled through 8 MiB of memory and missed the
/// cache on every free.
const QUARANTINE_FIRST_SLOTS: usize = 128;
/// Block kind flag: allocated by the runtime's own work (not counted, not
/// reported, not scanned).
pub const INTERNAL: u8 = 0x80;

/// One live block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Block {
    pub ptr: usize,
    pub size: usize,
    pub stack: u32,
    pub kind: u8,
}

/// One freed block held back from glibc.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Freed {
    pub ptr: usize,
    pub size: usize,
    pub alloc_stack: u32,
    pub free_stack: u32,
}

pub struct Shard {
    pub lock: SpinLock,
    inner: Racy<ShardInner>,
    /// Copies of the slot array's address and index mask, readable without
    /// the lock, only for `prefetch` (a stale pair prefetches a useless
    /// line; a prefetch never faults).
    slots_hint: AtomicUsize,
    mask_hint: AtomicUsize,
}

#[derive(Clone, Copy)]
pub struct Counters {
    pub live_blocks: u64,
    pub live_bytes: u64,
    pub allocs: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
}

struct ShardInner {
    slots: *mut Block,
    cap: usize,
    /// Live entries plus tombstones.
    used: usize,
    counters: Counters,
    ring: *mut Freed,
    /// Capacity of `ring` (a power of two, at most QUARANTINE_SLOTS).
    ring_cap: usize,
    ring_head: usize,
    ring_len: usize,
    ring_bytes: usize,
}

impl Shard {
    const fn new() -> Shard {
        Shard {
            lock: SpinLock::new(),
            slots_hint: AtomicUsize::new(0),
            mask_hint: AtomicUsize::new(0),
            inner: Racy::new(ShardInner::NEW),
        }
    }
}

pub static TABLE: [Shard; SHARDS] = [const { Shard::new() }; SHARDS];

/// Bytes of freed blocks held back, in all (`--freelist-vol`). Valgrind holds
/// 20,000,000; memdx holds less by default because giving back blocks that
/// long out of cache dominated its cost (5.6 s vs 2.4 s on bench/check.sh).
pub const DEFAULT_QUARANTINE: usize = 2_000_000;

/// Bytes of freed blocks held back per shard.
static QUARANTINE_BYTES_PER_SHARD: core::sync::atomic::AtomicUsize =
    core::sync::atomic::AtomicUsize::new(DEFAULT_QUARANTINE / SHARDS);

pub fn set_quarantine_volume(total: usize) {
    QUARANTINE_BYTES_PER_SHARD.store(total / SHARDS, core::sync::atomic::Ordering::Relaxed);
}

/// Mixes all bits of the address (murmur3's finalizer): both the shard (top
/// bits) and the slot (low bits) come from it, and a plain multiplicative
/// hash leaves the low bits of nearby addresses clustered (long probe runs).
#[inline]
fn hash(p: usize) -> usize {
    let mut x = (p >> 4) as u64;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x as usize
}

#[inline]
pub fn shard_of(p: usize) -> &'static Shard {
    &TABLE[hash(p) >> (usize::BITS - 6)]
}

/// Starts loading the table slot where `p` would be, so that the miss
/// overlaps the stack capture the hook does before it takes the lock (the
/// slot load was the most expensive instruction of both malloc and free).
#[inline]
pub fn prefetch(p: usize) {
    let s = shard_of(p);
    let base = s.slots_hint.load(Ordering::Relaxed);
    if base == 0 {
        return;
    }
    let i = hash(p) & s.mask_hint.load(Ordering::Relaxed);
    prefetch_line(base.wrapping_add(i.wrapping_mul(core::mem::size_of::<Block>())));
}

/// Asks the CPU to start loading the cache line of `at`.
#[inline]
fn prefetch_line(at: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults, whatever the
    // address (a concurrent grow may have unmapped it; hints may be stale).
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(at as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// What a release found.
pub enum Release {
    /// The block was live; it is now in the quarantine (or freed).
    Live(Block),
    /// The pointer is the start of a block freed earlier.
    AlreadyFreed(Freed),
    /// Not a block start the runtime knows.
    Unknown,
}

impl Shard {
    /// Records a new live block. Returns false if the table could not grow
    /// (out of memory for the runtime's own table).
    pub fn insert(&self, b: Block) -> bool {
        self.lock.lock();
        // SAFETY: inner is only accessed under self.lock.
        let s = unsafe { &mut *self.inner.get() };
        let ok = s.insert(b);
        self.slots_hint.store(s.slots as usize, Ordering::Relaxed);
        self.mask_hint
            .store(s.cap.wrapping_sub(1), Ordering::Relaxed);
        if ok && b.kind & INTERNAL == 0 {
            s.counters.allocs += 1;
            s.counters.bytes_allocated += b.size as u64;
            s.counters.live_blocks += 1;
            s.counters.live_bytes += b.size as u64;
        }
        self.lock.unlock();
        ok
    }

    /// Removes a live block and puts it in the quarantine; evicted blocks
    /// are handed to `give_back` (outside the lock's critical data, but
    /// still under the lock: give_back must only call glibc's free).
    /// `count_free` is false for realloc's internal release (counted by the caller).
    pub fn release(&self, p: usize, free_stack: u32, give_back: &mut dyn FnMut(usize)) -> Release {
        self.lock.lock();
        // SAFETY: under self.lock.
        let s = unsafe { &mut *self.inner.get() };
        let r = match s.remove(p) {
            Some(b) if b.kind & INTERNAL != 0 => {
                give_back(b.ptr);
                Release::Live(b)
            }
            Some(b) => {
                s.counters.frees += 1;
                s.counters.live_blocks -= 1;
                s.counters.live_bytes -= b.size as u64;
                s.quarantine(
                    Freed {
                        ptr: b.ptr,
                        size: b.size,
                        alloc_stack: b.stack,
                        free_stack,
                    },
                    give_back,
                );
                Release::Live(b)
            }
            None => {
                s.counters.frees += 1;
                match s.find_freed(|f| f.ptr == p) {
                    Some(f) => Release::AlreadyFreed(f),
                    None => Release::Unknown,
                }
            }
        };
        self.lock.unlock();
        r
    }

    /// Counts an allocation that made no block (Valgrind counts a realloc
    /// of an invalid pointer as an allocation of the new size).
    pub fn count_failed_alloc(&self, size: usize) {
        self.lock.lock();
        // SAFETY: under self.lock.
        let s = unsafe { &mut *self.inner.get() };
        s.counters.allocs += 1;
        s.counters.bytes_allocated += size as u64;
        self.lock.unlock();
    }

    /// Looks a live block start up without changing anything.
    pub fn get(&self, p: usize) -> Option<Block> {
        self.lock.lock();
        // SAFETY: under self.lock.
        let s = unsafe { &*self.inner.get() };
        let r = s.lookup(p).map(|i| {
            // SAFETY: lookup returns an index below cap.
            unsafe { *s.slots.add(i) }
        });
        self.lock.unlock();
        r
    }

    /// Calls `f` on each live block. The caller holds the lock.
    ///
    /// # Safety
    /// `self.lock` must be held.
    pub unsafe fn for_each_live_locked(&self, f: &mut dyn FnMut(&Block)) {
        // SAFETY: caller holds the lock.
        let s = unsafe { &*self.inner.get() };
        for i in 0..s.cap {
            // SAFETY: i < cap.
            let b = unsafe { &*s.slots.add(i) };
            if b.ptr > TOMBSTONE {
                f(b);
            }
        }
    }

    /// Calls `f` on each quarantined block. The caller holds the lock.
    ///
    /// # Safety
    /// `self.lock` must be held.
    pub unsafe fn for_each_freed_locked(&self, f: &mut dyn FnMut(&Freed)) {
        // SAFETY: caller holds the lock.
        let s = unsafe { &*self.inner.get() };
        s.find_freed(|fr| {
            f(fr);
            false
        });
    }

    /// Counters of this shard. The caller holds the lock.
    ///
    /// # Safety
    /// `self.lock` must be held.
    pub unsafe fn counters_locked(&self) -> Counters {
        // SAFETY: caller holds the lock.
        unsafe { (*self.inner.get()).counters }
    }
}

impl ShardInner {
    /// A shard with no table and no quarantine yet (both are mapped on
    /// first use).
    const NEW: ShardInner = ShardInner {
        slots: ptr::null_mut(),
        cap: 0,
        used: 0,
        counters: Counters {
            live_blocks: 0,
            live_bytes: 0,
            allocs: 0,
            frees: 0,
            bytes_allocated: 0,
        },
        ring: ptr::null_mut(),
        ring_cap: 0,
        ring_head: 0,
        ring_len: 0,
        ring_bytes: 0,
    };

    fn lookup(&self, p: usize) -> Option<usize> {
        if self.cap == 0 {
            return None;
        }
        let mask = self.cap - 1;
        let mut i = hash(p) & mask;
        loop {
            // SAFETY: i is masked below cap.
            let e = unsafe { &*self.slots.add(i) };
            if e.ptr == p {
                return Some(i);
            }
            if e.ptr == EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Removes by backward-shift deletion (no tombstones): the entries of
    /// the probe run after the hole move back when their home slot allows,
    /// so lookups stay short under constant alloc/free churn (tombstones
    /// made every probe run grow to the 7/8 load limit between rehashes).
    fn remove(&mut self, p: usize) -> Option<Block> {
        let mut hole = self.lookup(p)?;
        let mask = self.cap - 1;
        // SAFETY: hole < cap.
        let b = unsafe { *self.slots.add(hole) };
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            // SAFETY: j is masked below cap.
            let e = unsafe { *self.slots.add(j) };
            if e.ptr == EMPTY {
                break;
            }
            let home = hash(e.ptr) & mask;
            // The entry at j may fill the hole unless its home lies
            // cyclically in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                // SAFETY: hole < cap.
                unsafe { *self.slots.add(hole) = e };
                hole = j;
            }
        }
        // SAFETY: hole < cap.
        unsafe { (*self.slots.add(hole)).ptr = EMPTY };
        self.used -= 1;
        Some(b)
    }

    fn insert(&mut self, b: Block) -> bool {
        if (self.used + 1) * 8 > self.cap * 7 && !self.grow() {
            return false;
        }
        let mask = self.cap - 1;
        let mut i = hash(b.ptr) & mask;
        loop {
            // SAFETY: i masked below cap.
            let e = unsafe { &mut *self.slots.add(i) };
            if e.ptr == EMPTY || e.ptr == TOMBSTONE {
                if e.ptr == EMPTY {
                    self.used += 1;
                }
                *e = b;
                return true;
            }
            i = (i + 1) & mask;
        }
    }

    /// Rehashes into a table sized for the live entries (tombstones dropped).
    fn grow(&mut self) -> bool {
        let mut live = 0;
        for i in 0..self.cap {
            // SAFETY: i < cap.
            if unsafe { (*self.slots.add(i)).ptr } > TOMBSTONE {
                live += 1;
            }
        }
        // Room for the live entries at under 50% load (tombstones dropped).
        let mut new_cap = 256;
        while new_cap < live * 2 + 16 {
            new_cap *= 2;
        }
        let bytes = new_cap * core::mem::size_of::<Block>();
        let slots = sys::map_private(bytes).cast::<Block>();
        if slots.is_null() {
            return false;
        }
        let (old, old_cap) = (self.slots, self.cap);
        self.slots = slots;
        self.cap = new_cap;
        self.used = 0;
        for i in 0..old_cap {
            // SAFETY: i < old_cap, old table still mapped.
            let b = unsafe { *old.add(i) };
            if b.ptr > TOMBSTONE {
                self.insert(b);
            }
        }
        if !old.is_null() {
            sys::unmap_private(old.cast(), old_cap * core::mem::size_of::<Block>());
        }
        true
    }

    fn quarantine(&mut self, f: Freed, give_back: &mut dyn FnMut(usize)) {
        let limit = QUARANTINE_BYTES_PER_SHARD.load(core::sync::atomic::Ordering::Relaxed);
        if f.size > limit {
            give_back(f.ptr);
            return;
        }
        if self.ring_len == self.ring_cap
            && self.ring_cap < QUARANTINE_SLOTS
            && self.ring_bytes + f.size <= limit
            && !self.grow_ring()
            && self.ring.is_null()
        {
            give_back(f.ptr);
            return;
        }
        while self.ring_len == self.ring_cap
            || (self.ring_len > 0 && self.ring_bytes + f.size > limit)
        {
            // SAFETY: ring_head < ring_cap.
            let old = unsafe { *self.ring.add(self.ring_head) };
            self.ring_head = (self.ring_head + 1) & (self.ring_cap - 1);
            self.ring_len -= 1;
            self.ring_bytes -= old.size;
            give_back(old.ptr);
        }
        if self.ring_len > 0 {
            // The next block this shard gives back has long left the cache;
            // glibc's free reads its chunk header and the next chunk's.
            // SAFETY: ring_head < ring_cap and the ring is mapped.
            let next = unsafe { *self.ring.add(self.ring_head) };
            prefetch_line(next.ptr.wrapping_sub(8));
            prefetch_line(next.ptr.wrapping_add(next.size));
        }
        let tail = (self.ring_head + self.ring_len) & (self.ring_cap - 1);
        // SAFETY: tail < ring_cap.
        unsafe { *self.ring.add(tail) = f };
        self.ring_len += 1;
        self.ring_bytes += f.size;
    }

    /// Doubles the ring (or makes the first one), keeping its order.
    /// Returns false, leaving the ring as it was, if no memory was mapped.
    fn grow_ring(&mut self) -> bool {
        let new_cap = if self.ring_cap == 0 {
            QUARANTINE_FIRST_SLOTS
        } else {
            self.ring_cap * 2
        };
        let ring: *mut Freed = sys::map_private(new_cap * core::mem::size_of::<Freed>()).cast();
        if ring.is_null() {
            return false;
        }
        for k in 0..self.ring_len {
            // SAFETY: k < ring_len <= ring_cap < new_cap; the old ring is
            // mapped while ring_len > 0.
            unsafe {
                *ring.add(k) = *self.ring.add((self.ring_head + k) & (self.ring_cap - 1));
            }
        }
        if !self.ring.is_null() {
            sys::unmap_private(
                self.ring.cast(),
                self.ring_cap * core::mem::size_of::<Freed>(),
            );
        }
        self.ring = ring;
        self.ring_cap = new_cap;
        self.ring_head = 0;
        true
    }

    /// Newest first, so a double free names the most recent free.
    fn find_freed(&self, mut pred: impl FnMut(&Freed) -> bool) -> Option<Freed> {
        for k in (0..self.ring_len).rev() {
            let i = (self.ring_head + k) & (self.ring_cap - 1);
            // SAFETY: i < ring_cap and ring is mapped when ring_len > 0.
            let f = unsafe { &*self.ring.add(i) };
            if pred(f) {
                return Some(*f);
            }
        }
        None
    }
}

/// Locks every shard (fork prepare, leak scan).
pub fn lock_all() {
    for s in TABLE.iter() {
        s.lock.lock();
    }
}

/// Unlocks every shard.
pub fn unlock_all() {
    for s in TABLE.iter() {
        s.lock.unlock();
    }
}

/// Finds the live or freed block containing `addr` (slow: walks every
/// shard; only used to describe a bad free).
pub fn find_containing(addr: usize) -> Option<(bool, Block, u32)> {
    let mut found: Option<(bool, Block, u32)> = None;
    for s in TABLE.iter() {
        s.lock.lock();
        // SAFETY: under the shard's lock.
        unsafe {
            s.for_each_live_locked(&mut |b| {
                let end = b.ptr + b.size.max(1);
                if found.is_none() && addr >= b.ptr && addr < end {
                    found = Some((true, *b, 0));
                }
            });
            if found.is_none() {
                s.for_each_freed_locked(&mut |f| {
                    let end = f.ptr + f.size.max(1);
                    if found.is_none() && addr >= f.ptr && addr < end {
                        found = Some((
                            false,
                            Block {
                                ptr: f.ptr,
                                size: f.size,
                                stack: f.alloc_stack,
                                kind: 0,
                            },
                            f.free_stack,
                        ));
                    }
                });
            }
        }
        s.lock.unlock();
        if found.is_some() {
            break;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_release_and_double_release_are_told_apart() {
        let s = &TABLE[5];
        let mut given_back = Vec::new();
        for i in 0..2000usize {
            assert!(s.insert(Block {
                ptr: 0x10_0000 + i * 16,
                size: 8,
                stack: i as u32,
                kind: 0
            }));
        }
        assert_eq!(s.get(0x10_0000 + 16 * 7).map(|b| b.stack), Some(7));
        match s.release(0x10_0000 + 16 * 7, 99, &mut |p| given_back.push(p)) {
            Release::Live(b) => assert_eq!(b.stack, 7),
            _ => panic!("expected live"),
        }
        match s.release(0x10_0000 + 16 * 7, 100, &mut |p| given_back.push(p)) {
            Release::AlreadyFreed(f) => {
                assert_eq!((f.alloc_stack, f.free_stack), (7, 99))
            }
            _ => panic!("expected already freed"),
        }
        assert!(matches!(
            s.release(0x99, 1, &mut |p| given_back.push(p)),
            Release::Unknown
        ));
        assert!(s.get(0x10_0000 + 16 * 7).is_none());
        assert_eq!(s.get(0x10_0000 + 16 * 1999).map(|b| b.size), Some(8));
        assert!(given_back.is_empty());
    }

    #[test]
    fn quarantine_ring_grows_and_keeps_order() {
        let s = &TABLE[9];
        let mut given_back = Vec::new();
        // Tiny blocks: the slot count, not the byte limit, bounds the ring.
        let n = QUARANTINE_SLOTS + 100;
        for i in 0..n {
            assert!(s.insert(Block {
                ptr: 0x20_0000 + i * 16,
                size: 1,
                stack: i as u32,
                kind: 0
            }));
        }
        for i in 0..n {
            assert!(matches!(
                s.release(0x20_0000 + i * 16, i as u32, &mut |p| given_back.push(p)),
                Release::Live(_)
            ));
        }
        // The oldest 100 went back to glibc first, in order.
        let expect: Vec<usize> = (0..100).map(|i| 0x20_0000 + i * 16).collect();
        assert_eq!(given_back, expect);
        match s.release(0x20_0000 + 100 * 16, 7, &mut |p| given_back.push(p)) {
            Release::AlreadyFreed(f) => assert_eq!((f.alloc_stack, f.free_stack), (100, 100)),
            _ => panic!("expected already freed"),
        }
        assert!(matches!(
            s.release(0x20_0000 + 99 * 16, 7, &mut |p| given_back.push(p)),
            Release::Unknown
        ));
    }

    #[test]
    fn churn_keeps_every_live_block_findable() {
        let mut t = ShardInner::NEW;
        let mut live = std::collections::BTreeSet::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..200_000usize {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let p = 0x1000 + ((x % 5000) as usize) * 16;
            if live.remove(&p) {
                assert_eq!(t.remove(p).map(|b| b.ptr), Some(p));
            } else {
                assert!(t.lookup(p).is_none());
                assert!(t.insert(Block {
                    ptr: p,
                    size: round,
                    stack: 0,
                    kind: 0
                }));
                live.insert(p);
            }
            if round % 9973 == 0 {
                for &q in &live {
                    assert!(t.lookup(q).is_some());
                }
                assert_eq!(t.used, live.len());
            }
        }
    }
}
