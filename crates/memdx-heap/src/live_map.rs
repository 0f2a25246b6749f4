//! The writer's map of live blocks, address to value: open addressing with
//! linear probing and backward-shift deletion, at most a quarter full
//! (half from a million slots on). The
//! recorder does one insert or one remove per event; a general hash map
//! (hashbrown with the address hasher) cost about 70 instructions per
//! event there, this about a third of that (bench/heap_instr.sh).

/// A key that marks an empty slot; the map keeps that key's value apart.
const EMPTY: u64 = 0;

/// Slots from which the map may be half full rather than a quarter.
const DENSE_UP_TO: usize = 1 << 20;

/// Address to `V`.
pub(crate) struct LiveMap<V: Copy> {
    /// `(key, value)`; `key == EMPTY`: free slot. Its length is a power of
    /// two (or zero before the first insert).
    slots: Vec<(u64, V)>,
    /// Slots in use (not counting `zero`).
    len: usize,
    /// The value of key 0, which cannot live in `slots`.
    zero: Option<V>,
    /// `64 - log2(slots.len())`: the hash's top bits pick the home slot.
    shift: u32,
}

impl<V: Copy + Default> LiveMap<V> {
    /// An empty map with room for `n` keys before it grows.
    pub(crate) fn with_capacity(n: usize) -> Self {
        let cap = (n.max(8) * 4).next_power_of_two();
        LiveMap {
            slots: vec![(EMPTY, V::default()); cap],
            len: 0,
            zero: None,
            shift: 64 - cap.trailing_zeros(),
        }
    }

    /// Slots per entry at most: 4 while the table is small (a removal
    /// moves fewer entries back; the recorder does one per release), 2
    /// from [`DENSE_UP_TO`] slots on (memory: the table of a million live
    /// blocks is 64 MiB).
    #[inline(always)]
    fn sparseness(&self) -> usize {
        if self.slots.len() < DENSE_UP_TO {
            4
        } else {
            2
        }
    }

    #[inline(always)]
    fn home(&self, key: u64) -> usize {
        Self::home_at(key, self.shift)
    }

    #[inline(always)]
    fn home_at(key: u64, shift: u32) -> usize {
        // Blocks are at least 16-byte aligned: the low bits carry nothing.
        ((key >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
    }

    /// Puts `value` at `key`; the value it replaces, if any.
    #[inline(always)]
    pub(crate) fn insert(&mut self, key: u64, value: V) -> Option<V> {
        if key == EMPTY {
            return self.zero.replace(value);
        }
        if (self.len + 1) * self.sparseness() > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let slot = &mut self.slots[i];
            if slot.0 == key {
                return Some(std::mem::replace(&mut slot.1, value));
            }
            if slot.0 == EMPTY {
                *slot = (key, value);
                self.len += 1;
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Takes `key`'s value out of the map.
    #[inline(always)]
    pub(crate) fn remove(&mut self, key: u64) -> Option<V> {
        if key == EMPTY {
            return self.zero.take();
        }
        if self.len == 0 {
            return None;
        }
        let shift = self.shift;
        let slots = &mut self.slots[..];
        let mask = slots.len() - 1;
        let home = |k: u64| Self::home_at(k, shift);
        let mut i = home(key);
        loop {
            let k = slots[i].0;
            if k == key {
                break;
            }
            if k == EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
        let value = slots[i].1;
        // Backward-shift deletion: a later entry of the run moves into the
        // hole unless its home lies cyclically in (hole, entry].
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let k = slots[j].0;
            if k == EMPTY {
                break;
            }
            if (j.wrapping_sub(home(k)) & mask) >= (j.wrapping_sub(i) & mask) {
                slots[i] = slots[j];
                i = j;
            }
        }
        slots[i].0 = EMPTY;
        self.len -= 1;
        Some(value)
    }

    /// Twice the slots, every entry moved to its new home.
    #[cold]
    fn grow(&mut self) {
        let old = std::mem::take(&mut self.slots);
        let cap = (old.len() * 2).max(16);
        self.slots = vec![(EMPTY, V::default()); cap];
        self.shift = 64 - cap.trailing_zeros();
        let mask = cap - 1;
        for (k, v) in old {
            if k == EMPTY {
                continue;
            }
            let mut i = self.home(k);
            while self.slots[i].0 != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = (k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LiveMap;
    use std::collections::HashMap;

    #[test]
    fn behaves_as_a_hash_map_under_random_inserts_and_removes() {
        let mut map = LiveMap::<u64>::with_capacity(4);
        let mut model = HashMap::new();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for step in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Few distinct keys (long probe runs, wrap-around at the end of
            // the table, key 0 now and then), 16-byte aligned as blocks are.
            let key = (x % 3000) * 16;
            if x >> 62 == 0 {
                assert_eq!(map.remove(key), model.remove(&key), "step {step}");
            } else {
                assert_eq!(
                    map.insert(key, step),
                    model.insert(key, step),
                    "step {step}"
                );
            }
        }
        for (k, v) in model {
            assert_eq!(map.remove(k), Some(v));
        }
        assert_eq!(map.len, 0);
        assert_eq!(map.remove(16), None);
    }

    #[test]
    fn unaligned_and_extreme_keys_are_kept_apart() {
        let mut map = LiveMap::<u32>::with_capacity(1);
        for (i, k) in [0, 1, 8, 15, 16, u64::MAX, u64::MAX - 15]
            .into_iter()
            .enumerate()
        {
            assert_eq!(map.insert(k, i as u32), None, "{k}");
        }
        assert_eq!(map.remove(u64::MAX), Some(5));
        assert_eq!(map.remove(0), Some(0));
        assert_eq!(map.remove(0), None);
        assert_eq!(map.remove(15), Some(3));
        assert_eq!(map.insert(1, 9), Some(1));
        assert_eq!(map.remove(1), Some(9));
    }
}
