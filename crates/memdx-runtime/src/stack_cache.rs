//! The per-thread stack cache: the stacks this thread captured last, with
//! where each return address was found, so that a capture whose stack
//! slots still hold the same return addresses (same call chain, same
//! depth) costs a few loads instead of an unwind and an interning.
//!
//! Each thread's cache is a private mapping made at its first cache miss
//! (`MAP_NORESERVE`: pages are touched as entries fill) and unmapped by a
//! thread-specific key's destructor at thread exit; the thread data (see
//! `tls`) holds a pointer to it and, per allocator entry point (hashed to
//! [`MRU_WAYS`]), a pointer to the entry that answered last, which is the
//! whole hit path of a loop allocating from one place.
//!
//! Entries are kept in [`SETS`] sets of [`ASSOC`] entries, chosen by a hash
//! of the entry point, the stack pointer and the first return address
//! (so one entry point's many call sites spread over the sets). The first
//! return address is read from the stack slot the last capture with the
//! same entry point and stack pointer found it in (a small direct-mapped
//! table, [`PROBES`]): like every cached slot, a slot seen at this stack
//! depth from this entry point, so mapped. Whatever the index finds is
//! then validated slot by slot, as before.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::sys;

/// Entry-point ways of the most-recently-used pointers in the thread data
/// (a power of two).
pub const MRU_WAYS: usize = 16;
/// The multiplier that maps an entry point to its way (see [`mru_way`]),
/// chosen by [`init`]; written before any other thread exists.
static MRU_MUL: AtomicUsize = AtomicUsize::new(0x9e37_79b9_7f4a_7c15);
/// Sets of the cache, and entries per set.
const SETS: usize = 4096;
const ASSOC: usize = 4;
/// (entry point, stack pointer) -> slots of the first return addresses.
const PROBES: usize = 1024;
/// (entry point, stack pointer, first return address) -> the entry that
/// held such a stack last: tried before the sets (one entry to validate,
/// no hash of the whole path), which is all most call sites need.
const QUICK: usize = 4096;
/// Return addresses (the first ones) that choose a stack's set: in a
/// recursion, the same entry point, depth and first few return addresses
/// are shared by many stacks that differ only further out.
const HASHED: usize = 12;
/// Searches of the sets counted before judging whether they pay, and how
/// many misses they are then skipped for when fewer than one in
/// `1 << POOR_SHIFT` found the stack (a program whose stacks are too many
/// for the cache: each search would validate several entries in vain
/// before the unwind). Skipped searches still fill the sets.
const JUDGE_EVERY: u32 = 1024;
const POOR_SHIFT: u32 = 4;
const SKIP_FOR: u32 = 16384;

/// One cached stack: `n` return addresses and the stack slots they were
/// read from follow the head (`cap` of each: return addresses first).
#[repr(C)]
pub struct Entry {
    pub entry: usize,
    pub anchor: usize,
    pub n: u32,
    /// Stack id; 0: unused (never matches).
    pub id: u32,
    /// Frames each array holds.
    cap: usize,
}

#[derive(Clone, Copy)]
#[repr(C)]
struct Probe {
    entry: usize,
    anchor: usize,
    /// How many of `slots` the stack had.
    n: usize,
    /// The quick table did not answer here but the sets did (stacks
    /// that share their first return address, as a recursion's do): the
    /// quick table is not tried here again.
    deep: bool,
    /// Where its first return addresses were.
    slots: [usize; HASHED],
}

/// The head of a thread's cache mapping; the entries follow it.
#[repr(C)]
pub struct Cache {
    probes: [Probe; PROBES],
    /// See [`QUICK`]; null: none.
    quick: [*const Entry; QUICK],
    /// Entries filled so far (picks the entry of a full set to replace).
    fills: usize,
    /// Searches and hits since the last judgement, and misses left
    /// before the sets are used again (see [`JUDGE_EVERY`]).
    searches: u32,
    found: u32,
    skip: u32,
    /// Bytes from one entry to the next, and the mapping's length.
    stride: usize,
    len: usize,
    cap: usize,
}

/// `ThreadData::stack_cache` of a thread whose cache was unmapped (its
/// exit has begun): captures from then on are not cached.
pub const GONE: *mut Cache = core::ptr::dangling_mut::<Cache>();

/// `pthread_key_t` + 1 of the key whose destructor unmaps a thread's
/// cache (0: none; caches are then never unmapped).
static KEY: AtomicUsize = AtomicUsize::new(0);

/// The way of entry point `entry` among the MRU pointers.
#[inline(always)]
pub fn mru_way(entry: usize) -> usize {
    entry.wrapping_mul(MRU_MUL.load(Ordering::Relaxed)) >> (usize::BITS - MRU_WAYS.trailing_zeros())
}

/// Chooses a multiplier that gives each of `hot` (the entry points
/// programs allocate and free through most) a way of its own: two in one
/// way would take turns evicting each other's entry from it, and every
/// `malloc`/`free` pair would search the cache twice. Returns whether one
/// was found (else the default, with some ways shared, stays).
fn choose_multiplier(hot: &[usize]) -> bool {
    let mut m: usize = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..4096 {
        let way = |e: usize| e.wrapping_mul(m) >> (usize::BITS - MRU_WAYS.trailing_zeros());
        let mut used = 0u64;
        let distinct = hot.iter().all(|&e| {
            let bit = 1u64 << way(e);
            let fresh = used & bit == 0;
            used |= bit;
            fresh
        });
        if distinct {
            MRU_MUL.store(m, Ordering::Relaxed);
            return true;
        }
        // The next odd candidate (an LCG step).
        m = m
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407)
            | 1;
    }
    false
}

/// Creates the key and chooses the MRU ways (from the constructor).
pub fn init() {
    choose_multiplier(&crate::hooks::hot_entry_points());
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: creating a key with a plain C destructor.
    if unsafe { libc::pthread_key_create(&mut key, Some(release)) } == 0 {
        KEY.store(key as usize + 1, Ordering::Release);
    }
}

impl Entry {
    /// The return addresses and their slots.
    #[inline(always)]
    fn arrays(&self) -> (*const usize, *const usize) {
        // SAFETY: `cap` words of each follow the head (see `Cache::entry`).
        unsafe {
            let ras = (self as *const Entry).add(1).cast::<usize>();
            (ras, ras.add(self.cap))
        }
    }

    /// Whether the stack slots this entry was made from still hold the
    /// same return addresses.
    #[inline(always)]
    pub fn frames_hold(&self) -> bool {
        let (ras, slots) = self.arrays();
        let n = self.n as usize;
        let mut k = 0;
        while k < n {
            // SAFETY: k < n <= cap. The slot is in this thread's stack
            // above the caller's frame (it held a return address of a
            // live caller when cached, and the anchor proves the same
            // depth).
            unsafe {
                if core::ptr::read_volatile(*slots.add(k) as *const usize) != *ras.add(k) {
                    return false;
                }
            }
            k += 1;
        }
        true
    }

    /// Keys the entry (its `n` frames written); id 0: unused.
    pub fn set_key(&mut self, entry: usize, anchor: usize, n: usize, id: u32) {
        self.entry = entry;
        self.anchor = anchor;
        self.n = n.min(self.cap) as u32;
        self.id = id;
    }

    /// The arrays to unwind into, `cap` frames each.
    pub fn arrays_mut(&mut self) -> (&mut [usize], &mut [usize]) {
        let cap = self.cap;
        // SAFETY: `cap` words of each follow the head, in this thread's
        // cache, borrowed through `self`.
        unsafe {
            let ras = (self as *mut Entry).add(1).cast::<usize>();
            (
                core::slice::from_raw_parts_mut(ras, cap),
                core::slice::from_raw_parts_mut(ras.add(cap), cap),
            )
        }
    }
}

/// What [`Cache::quick`] found.
pub struct Quick<'a> {
    /// The cached stack of this capture.
    pub hit: Option<&'a Entry>,
    /// The quick slot of this capture (`None`: not to be tried).
    pub index: Option<usize>,
    /// The slot named a stack from the same entry point and stack
    /// pointer, with the same first return address, that does not hold:
    /// stacks that differ only further out take turns in this slot.
    pub stale: bool,
}

/// A hash of two words, good in its high bits.
#[inline(always)]
fn mix(a: usize, b: usize) -> u64 {
    let h = (a as u64 ^ (b as u64).rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

/// The top `bits` bits of a hash.
#[inline(always)]
fn top(h: u64, bits: u32) -> usize {
    (h >> (64 - bits)) as usize
}

fn probe_index(entry: usize, anchor: usize) -> usize {
    top(mix(entry, anchor), PROBES.trailing_zeros())
}

/// The hash that chooses the set of a stack from `entry` at `anchor`
/// whose first return addresses are `ras` (at most [`HASHED`] of them):
/// a rotate and an exclusive or a frame, mixed once.
#[inline(always)]
fn path_hash(entry: usize, anchor: usize, ras: impl Iterator<Item = usize>) -> u64 {
    let h = ras.fold(0u64, |h, ra| h.rotate_left(19) ^ ra as u64);
    mix(mix(entry, anchor) as usize, h as usize)
}

fn quick_index(entry: usize, anchor: usize, ra0: usize) -> usize {
    top(
        mix(mix(entry, anchor) as usize, ra0),
        QUICK.trailing_zeros(),
    )
}

fn set_of(hash: u64) -> usize {
    top(hash, SETS.trailing_zeros()) * ASSOC
}

impl Cache {
    /// Whether this miss is to search the sets; `false`: searches do not
    /// pay for now, the stack is unwound at once (and still cached, so
    /// that the sets warm up for the next judgement).
    #[inline(always)]
    pub fn use_sets(&mut self) -> bool {
        if self.skip == 0 {
            return true;
        }
        self.skip -= 1;
        false
    }

    /// Counts a search of the sets, and stops searching for a while if
    /// they do not pay.
    fn count_search(&mut self, hit: bool) {
        self.searches += 1;
        self.found += u32::from(hit);
        if self.searches >= JUDGE_EVERY {
            if self.found < self.searches >> POOR_SHIFT {
                self.skip = SKIP_FOR;
            }
            self.searches = 0;
            self.found = 0;
        }
    }

    /// Entry `i` (below SETS * ASSOC).
    fn entry(&mut self, i: usize) -> &mut Entry {
        // SAFETY: the mapping holds SETS * ASSOC entries of `stride`
        // bytes after the head (see `map`), 8-aligned.
        unsafe {
            &mut *(self as *mut Cache)
                .cast::<u8>()
                .add(core::mem::size_of::<Cache>() + i * self.stride)
                .cast::<Entry>()
        }
    }

    /// The cached stack for this capture that the quick table names
    /// (see [`QUICK`]), if its slots still hold its return addresses; the
    /// quick index either way (`None`: no capture from this entry point
    /// at this stack depth known).
    #[inline(always)]
    pub fn quick(&self, entry: usize, anchor: usize) -> Quick<'_> {
        let p = &self.probes[probe_index(entry, anchor)];
        if p.entry != entry || p.anchor != anchor || p.deep {
            return Quick {
                hit: None,
                index: None,
                stale: false,
            };
        }
        let ra0 = match p.slots.get(..p.n).and_then(|s| s.first()) {
            // SAFETY: as in `guess`.
            Some(&s) => unsafe { core::ptr::read_volatile(s as *const usize) },
            None => 0,
        };
        let q = quick_index(entry, anchor, ra0);
        // SAFETY: null or an entry of this thread's cache (entries are
        // only ever rewritten, and then validated like any other).
        let e = self.quick.get(q).and_then(|&e| unsafe { e.as_ref() });
        let e = e.filter(|e| e.entry == entry && e.anchor == anchor && e.id != 0);
        let hit = e.filter(|e| e.frames_hold());
        // Stale: the same first return address (not a slot shared by
        // another), further frames differ.
        let same_ra0 = e.is_some_and(|e| {
            let (ras, _) = e.arrays();
            // SAFETY: the entry's first return address, when it has one.
            e.n > 0 && unsafe { *ras } == ra0
        });
        Quick {
            hit,
            index: Some(q),
            stale: same_ra0 && hit.is_none(),
        }
    }

    /// Stops trying the quick table for captures from `entry` at
    /// `anchor` (see [`Probe::deep`]).
    pub fn quick_fails(&mut self, entry: usize, anchor: usize) {
        let p = &mut self.probes[probe_index(entry, anchor)];
        if p.entry == entry && p.anchor == anchor {
            p.deep = true;
        }
    }

    /// Names `e` in quick slot `q` (from [`Cache::quick`]).
    #[inline(always)]
    pub fn set_quick(&mut self, q: usize, e: *const Entry) {
        if let Some(d) = self.quick.get_mut(q) {
            *d = e;
        }
    }

    /// The set hash ([`path_hash`]) of this capture's stack, guessed
    /// from the slots the last capture from this entry point at this
    /// stack depth read its first return addresses from (`None`: no such
    /// capture known). Right whenever the frames nearest the entry point
    /// have the same sizes as then (always in a loop or a recursion).
    #[inline(always)]
    pub fn guess(&self, entry: usize, anchor: usize) -> Option<u64> {
        let p = &self.probes[probe_index(entry, anchor)];
        if p.entry != entry || p.anchor != anchor {
            return None;
        }
        let slots = p.slots.get(..p.n).unwrap_or(&[]);
        // SAFETY: slots a capture from this entry point at this stack
        // depth read return addresses from: in this thread's stack, above
        // the caller's frame (as every cached slot is).
        let ras = slots
            .iter()
            .map(|&s| unsafe { core::ptr::read_volatile(s as *const usize) });
        Some(path_hash(entry, anchor, ras))
    }

    /// A cached stack for this capture, in the set of hash `guess`, whose
    /// slots still hold its return addresses.
    pub fn find(&mut self, guess: u64, entry: usize, anchor: usize) -> Option<&mut Entry> {
        let set = set_of(guess);
        let hit = (set..set + ASSOC).find(|&i| {
            let e = self.entry(i);
            e.entry == entry && e.anchor == anchor && e.id != 0 && e.frames_hold()
        });
        self.count_search(hit.is_some());
        Some(self.entry(hit?))
    }

    /// The entry to unwind a stack of set hash `hash` into: an unused one
    /// of its set, else one in turn. Its id is 0 until [`Cache::settle`].
    pub fn victim(&mut self, hash: u64) -> *mut Entry {
        let set = set_of(hash);
        let way = (0..ASSOC)
            .find(|&w| self.entry(set + w).id == 0)
            .unwrap_or(self.fills % ASSOC);
        self.fills = self.fills.wrapping_add(1);
        let cap = self.cap;
        let e = self.entry(set + way);
        e.id = 0;
        e.cap = cap;
        e
    }

    /// Keys entry `e` (from [`Cache::victim`] for set hash `guess`),
    /// now holding `n` frames of a stack from `entry` at `anchor`, with
    /// stack id `id` (`None`: not to be used again, its slots are not all
    /// known), and makes its first slots the probe of the next capture
    /// from there. A stack whose
    /// hash was not the one guessed belongs to another set: it is moved
    /// there. Returns the entry that holds it.
    pub fn settle(
        &mut self,
        e: *mut Entry,
        entry: usize,
        anchor: usize,
        guess: u64,
        n: usize,
        id: Option<u32>,
    ) -> *const Entry {
        let Some(id) = id else {
            return e;
        };
        // SAFETY: an entry of this thread's cache, its `n` frames written
        // (every slot a valid one: the stack is to be used again).
        let (ras, slots) = unsafe { (*e).arrays() };
        let k = n.min(HASHED).min(self.cap);
        let p = &mut self.probes[probe_index(entry, anchor)];
        p.deep = p.deep && p.entry == entry && p.anchor == anchor;
        p.entry = entry;
        p.anchor = anchor;
        p.n = k;
        for (i, d) in p.slots.iter_mut().enumerate().take(k) {
            // SAFETY: i < k <= cap. Read volatile: a copy loop would
            // become a call to the runtime's own, checked, memcpy.
            *d = unsafe { core::ptr::read_volatile(slots.add(i)) };
        }
        // SAFETY: as above.
        let hash = path_hash(entry, anchor, (0..k).map(|i| unsafe { *ras.add(i) }));
        let mut e = e;
        if set_of(guess) != set_of(hash) {
            let to = self.victim(hash);
            // SAFETY: two distinct entries (different sets) of this
            // thread's cache, `cap` frames each; `n <= cap`. Copied word
            // by word (a copy loop would become a call to the runtime's
            // own, checked, memcpy).
            unsafe {
                let n = n.min(self.cap);
                let (from_ras, from_slots) = (*e).arrays();
                let (to_ras, to_slots) = (*to).arrays();
                for k in 0..n {
                    core::ptr::write_volatile(to_ras.add(k).cast_mut(), *from_ras.add(k));
                    core::ptr::write_volatile(to_slots.add(k).cast_mut(), *from_slots.add(k));
                }
            }
            e = to;
        }
        // SAFETY: an entry of this thread's cache, its frames written.
        let e = unsafe { &mut *e };
        e.set_key(entry, anchor, n, id);
        let ra0 = if k > 0 {
            // SAFETY: 0 < k <= cap.
            unsafe { *ras }
        } else {
            0
        };
        self.set_quick(quick_index(entry, anchor, ra0), e);
        e
    }
}

/// This thread's cache, mapped at its first use; `None` when there is
/// none (out of memory, or the thread is exiting).
pub fn of_thread(td: &crate::tls::ThreadData, cap: usize) -> Option<&'static mut Cache> {
    let mut c = td.stack_cache.get();
    if c == GONE {
        return None;
    }
    if c.is_null() {
        c = map(cap);
        if c.is_null() {
            td.stack_cache.set(GONE);
            return None;
        }
        td.stack_cache.set(c);
        let key = KEY.load(Ordering::Acquire);
        if key != 0 {
            // SAFETY: a key of ours; its destructor unmaps `c`.
            unsafe { libc::pthread_setspecific((key - 1) as libc::pthread_key_t, c.cast()) };
        }
    }
    // SAFETY: this thread's mapping (see `map`), used by this thread only.
    Some(unsafe { &mut *c })
}

/// Maps a cache for `cap` frames per stack.
fn map(cap: usize) -> *mut Cache {
    let stride = core::mem::size_of::<Entry>() + 16 * cap;
    let len = core::mem::size_of::<Cache>() + SETS * ASSOC * stride;
    let c = sys::map_private_noreserve(len).cast::<Cache>();
    if !c.is_null() {
        // SAFETY: fresh zeroed pages (every entry unused, id 0; an
        // entry's `cap` is set when it is filled), 8-aligned.
        unsafe {
            (*c).stride = stride;
            (*c).len = len;
            (*c).cap = cap;
        }
    }
    c
}

/// Key destructor: the thread is exiting; unmap its cache.
extern "C" fn release(c: *mut libc::c_void) {
    let c = c.cast::<Cache>();
    if c.is_null() || c == GONE {
        return;
    }
    let td = crate::tls::get();
    if td.stack_cache.get() != c {
        return;
    }
    td.stack_cache.set(GONE);
    for m in &td.stack_mru {
        m.set(core::ptr::null());
    }
    // SAFETY: the mapping `map` made for this thread, no longer reachable
    // from its thread data.
    unsafe { sys::unmap_private(c.cast(), (*c).len) };
}
