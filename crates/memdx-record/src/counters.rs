//! The counters blob: every meminfo and vmstat counter of one sample, as
//! LEB128 varint pairs `(name id, value)`. Name ids index the `counter_name`
//! table, so a name is stored once per database, not once per sample (a
//! sample's ~230 counters take about 900 bytes).

/// Appends `(id, value)` pairs to `out`.
pub fn encode(pairs: impl IntoIterator<Item = (u64, u64)>, out: &mut Vec<u8>) {
    for (id, value) in pairs {
        put_varint(id, out);
        put_varint(value, out);
    }
}

/// Decodes a blob; `None` when it is truncated or a varint is too long.
pub fn decode(mut bytes: &[u8]) -> Option<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let id = get_varint(&mut bytes)?;
        let value = get_varint(&mut bytes)?;
        out.push((id, value));
    }
    Some(out)
}

fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn get_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_small_and_huge_values() {
        let pairs = vec![(1, 0), (2, 127), (3, 128), (300, u64::MAX), (7, 1 << 40)];
        let mut blob = Vec::new();
        encode(pairs.iter().copied(), &mut blob);
        assert_eq!(decode(&blob), Some(pairs));
    }

    #[test]
    fn truncated_blob_is_rejected() {
        let mut blob = Vec::new();
        encode([(5, 1 << 20)], &mut blob);
        blob.pop();
        assert_eq!(decode(&blob), None);
        assert_eq!(decode(&[0x01]), None, "an id without its value");
    }
}
