//! The stream [`Header`]: its encoding and validation.

use crate::{DecodeError, HEADER_LEN, MAGIC, VERSION};

/// The header that starts a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version; see [`VERSION`].
    pub version: u16,
    /// Pointer size of the process, in bytes.
    pub pointer_size: u8,
    /// Process id of the writer.
    pub pid: u32,
    /// Its parent's pid.
    pub ppid: u32,
    /// [`FLAG_FORK_CHILD`](crate::FLAG_FORK_CHILD), [`FLAG_CONTINUATION`](crate::FLAG_CONTINUATION) and future flags.
    pub flags: u32,
}

impl Header {
    /// Encodes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..6].copy_from_slice(&self.version.to_le_bytes());
        b[6] = self.pointer_size;
        b[8..12].copy_from_slice(&self.pid.to_le_bytes());
        b[12..16].copy_from_slice(&self.ppid.to_le_bytes());
        b[16..20].copy_from_slice(&self.flags.to_le_bytes());
        b
    }

    /// Decodes and validates a header.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<Header, DecodeError> {
        if b[0..4] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = u16::from_le_bytes([b[4], b[5]]);
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Ok(Header {
            version,
            pointer_size: b[6],
            pid: u32_at(8),
            ppid: u32_at(12),
            flags: u32_at(16),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FLAG_FORK_CHILD;

    #[test]
    fn header_round_trips_and_rejects_bad_magic() {
        let h = Header {
            version: VERSION,
            pointer_size: 8,
            pid: 1234,
            ppid: 1,
            flags: FLAG_FORK_CHILD,
        };
        let b = h.encode();
        assert_eq!(Header::decode(&b).unwrap(), h);
        let mut bad = b;
        bad[0] = b'X';
        assert!(matches!(Header::decode(&bad), Err(DecodeError::BadMagic)));
        // Version 1 (which had the unused Alloc/Free/Note records) and a
        // future version are refused.
        for v in [1u8, 3] {
            let mut other = b;
            other[4] = v;
            assert!(matches!(
                Header::decode(&other),
                Err(DecodeError::UnsupportedVersion(got)) if got == u16::from(v)
            ));
        }
    }
}
