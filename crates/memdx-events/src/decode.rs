//! Reading a stream: [`EventReader`] (header, then records, skipping unknown
//! tags), [`decode_payload`] for one record, and [`DecodeError`].

use std::fmt;
use std::io::{self, Read};

use crate::{
    tag, Access, AccessKind, BadFree, BadFreeKind, Corruption, CorruptionKind, Dealloc, Event,
    Header, HeapTotals, Heuristic, LeakState, LossRecord, Place, Routine, FAULT_REGS, HEADER_LEN,
    MAX_RECORD_LEN, RECORD_PREFIX,
};

/// Why a stream could not be decoded.
#[derive(Debug)]
pub enum DecodeError {
    /// The stream does not start with [`MAGIC`](crate::MAGIC).
    BadMagic,
    /// A version this reader does not understand.
    UnsupportedVersion(u16),
    /// A known record with a payload of the wrong length or a bad enum value.
    Malformed {
        /// The record's tag.
        tag: u8,
    },
    /// The stream ended inside a record.
    Truncated,
    /// A record longer than [`MAX_RECORD_LEN`].
    RecordTooLong {
        /// The record's tag.
        tag: u8,
        /// The length its prefix gives.
        len: u32,
    },
    /// Reading failed.
    Io(io::Error),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic => f.write_str("not a memdx event stream (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported event stream version {v}"),
            Self::Malformed { tag } => write!(f, "malformed event record (tag {tag})"),
            Self::Truncated => f.write_str("event stream ends inside a record"),
            Self::RecordTooLong { tag, len } => write!(
                f,
                "event record of {len} bytes (tag {tag}) is longer than the limit of {MAX_RECORD_LEN} bytes"
            ),
            Self::Io(e) => write!(f, "reading the event stream: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Reads a stream: the header first, then records one by one.
pub struct EventReader<R> {
    inner: R,
    payload: Vec<u8>,
}

/// Fills `buf` completely; `Ok(false)` on a clean end of stream before the first byte.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<bool, DecodeError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(DecodeError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DecodeError::Io(e)),
        }
    }
    Ok(true)
}

struct Cursor<'a> {
    b: &'a [u8],
    tag: u8,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.b.len() < n {
            return Err(DecodeError::Malformed { tag: self.tag });
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(self.u32()? as i32)
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
    fn bad(&self) -> DecodeError {
        DecodeError::Malformed { tag: self.tag }
    }
}

impl<R: Read> EventReader<R> {
    /// Wraps a byte source.
    pub fn new(inner: R) -> Self {
        EventReader {
            inner,
            payload: Vec::new(),
        }
    }

    /// Reads the stream header; call once, first.
    pub fn read_header(&mut self) -> Result<Header, DecodeError> {
        let mut b = [0u8; HEADER_LEN];
        if !read_full(&mut self.inner, &mut b)? {
            return Err(DecodeError::Truncated);
        }
        Header::decode(&b)
    }

    /// The next known record; `Ok(None)` at the end of the stream.
    pub fn next_event(&mut self) -> Result<Option<Event>, DecodeError> {
        loop {
            let mut prefix = [0u8; RECORD_PREFIX];
            if !read_full(&mut self.inner, &mut prefix)? {
                return Ok(None);
            }
            let tag = prefix[0];
            let len = u32::from_le_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]);
            if len as usize > MAX_RECORD_LEN {
                return Err(DecodeError::RecordTooLong { tag, len });
            }
            let len = len as usize;
            self.payload.resize(len, 0);
            if len > 0 && !read_full(&mut self.inner, &mut self.payload)? {
                return Err(DecodeError::Truncated);
            }
            if let Some(ev) = decode_payload(tag, &self.payload)? {
                return Ok(Some(ev));
            }
        }
    }
}

/// Decodes one record's payload; `Ok(None)` for an unknown tag.
pub fn decode_payload(tag: u8, payload: &[u8]) -> Result<Option<Event>, DecodeError> {
    let mut c = Cursor { b: payload, tag };
    let ev = match tag {
        tag::HEAP_ALLOC => Event::HeapAlloc {
            ptr: c.u64()?,
            size: c.u64()?,
            stack: c.u32()?,
            time: c.u64()?,
        },
        tag::HEAP_FREE => Event::HeapFree {
            ptr: c.u64()?,
            time: c.u64()?,
        },
        tag::HEAP_CLOCK => Event::HeapClock {
            time: c.u64()?,
            nanos: c.u64()?,
        },
        tag::HEAP_START => Event::HeapStart {
            sample_interval: c.u64()?,
        },
        tag::HEAP_END => Event::HeapEnd,
        tag::HEAP_EXIT_STATUS => Event::HeapExitStatus {
            status: c.u32()? as i32,
        },
        tag::HEAP_MALLINFO => Event::HeapMallinfo {
            held: c.u64()?,
            in_use: c.u64()?,
        },
        tag::HEAP_MAP => Event::HeapMap {
            addr: c.u64()?,
            len: c.u64()?,
            stack: c.u32()?,
            time: c.u64()?,
        },
        tag::HEAP_UNMAP => Event::HeapUnmap {
            addr: c.u64()?,
            len: c.u64()?,
            time: c.u64()?,
        },
        tag::STACK => {
            let id = c.u32()?;
            let n = c.u16()? as usize;
            let mut frames = Vec::with_capacity(n);
            for _ in 0..n {
                frames.push(c.u64()?);
            }
            Event::Stack { id, frames }
        }
        tag::MODULE => {
            let bias = c.u64()?;
            let start = c.u64()?;
            let end = c.u64()?;
            let path = c.b.to_vec();
            c.b = &[];
            Event::Module {
                bias,
                start,
                end,
                path,
            }
        }
        tag::BAD_FREE => {
            let kind = match c.u8()? {
                0 => BadFreeKind::Invalid,
                1 => BadFreeKind::Mismatched,
                _ => return Err(c.bad()),
            };
            Event::BadFree(BadFree {
                kind,
                dealloc: Dealloc::from_u8(c.u8()?).ok_or_else(|| c.bad())?,
                addr: c.u64()?,
                stack: c.u32()?,
                place: Place::from_u8(c.u8()?).ok_or_else(|| c.bad())?,
                tid: c.u32()?,
                block_start: c.u64()?,
                block_size: c.u64()?,
                alloc_stack: c.u32()?,
                free_stack: c.u32()?,
            })
        }
        tag::CORRUPTION => Event::Corruption(Corruption {
            kind: match c.u8()? {
                0 => CorruptionKind::AfterEnd,
                1 => CorruptionKind::AfterFree,
                2 => CorruptionKind::BeforeStart,
                _ => return Err(c.bad()),
            },
            block_start: c.u64()?,
            block_size: c.u64()?,
            first: c.u64()?,
            last: c.u64()?,
            stack: c.u32()?,
            alloc_stack: c.u32()?,
            free_stack: c.u32()?,
        }),
        tag::ACCESS => {
            let mut a = Access {
                kind: AccessKind::from_u8(c.u8()?).ok_or_else(|| c.bad())?,
                func: match c.u8()? {
                    0 => None,
                    v => Some(Routine::from_u8(v).ok_or_else(|| c.bad())?),
                },
                addr: c.u64()?,
                size: c.u64()?,
                stack: c.u32()?,
                place: Place::from_u8(c.u8()?).ok_or_else(|| c.bad())?,
                tid: c.u32()?,
                block_start: c.u64()?,
                block_size: c.u64()?,
                alloc_stack: c.u32()?,
                free_stack: c.u32()?,
                dst: c.u64()?,
                src: c.u64()?,
                len: c.u64()?,
                signo: c.i32()?,
                si_code: c.i32()?,
                pc: c.u64()?,
                code_len: c.u8()?,
                code: [0; 16],
            };
            a.code.copy_from_slice(c.take(16)?);
            if a.code_len > 16 {
                return Err(c.bad());
            }
            Event::Access(a)
        }
        tag::LOSS_RECORD => Event::LossRecord(LossRecord {
            state: LeakState::from_u8(c.u8()?).ok_or_else(|| c.bad())?,
            stack: c.u32()?,
            bytes: c.u64()?,
            indirect_bytes: c.u64()?,
            blocks: c.u64()?,
        }),
        tag::HEAP_TOTALS => Event::HeapTotals(HeapTotals {
            in_use_bytes: c.u64()?,
            in_use_blocks: c.u64()?,
            allocs: c.u64()?,
            frees: c.u64()?,
            bytes_allocated: c.u64()?,
        }),
        tag::HEURISTIC_TOTAL => Event::HeuristicTotal {
            heuristic: Heuristic::from_u8(c.u8()?).ok_or_else(|| c.bad())?,
            bytes: c.u64()?,
            blocks: c.u64()?,
        },
        tag::FATAL_SIGNAL => Event::FatalSignal {
            signo: c.i32()?,
            code: c.i32()?,
            addr: c.u64()?,
            stack: c.u32()?,
        },
        tag::REPORT_END => Event::ReportEnd {
            leak_scan_done: c.u8()? != 0,
        },
        tag::STACK_OVERFLOW => Event::StackOverflow {
            tid: c.u32()?,
            base: c.u64()?,
        },
        tag::FAULT_REGS => {
            let mut regs = [0u64; FAULT_REGS];
            for r in &mut regs {
                *r = c.u64()?;
            }
            Event::FaultRegs { regs }
        }
        tag::SCAN_STATS => Event::ScanStats {
            blocks: c.u64()?,
            root_bytes: c.u64()?,
            nanos: c.u64()?,
        },
        tag::SCAN_SKIPPED => Event::ScanSkipped {
            root_bytes: c.u64()?,
            block_bytes: c.u64()?,
            blocks: c.u64()?,
        },
        tag::COMMAND_LINE => {
            let body = c.b.strip_suffix(&[0]).unwrap_or(c.b);
            let args = body.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
            c.b = &[];
            Event::CommandLine { args }
        }
        tag::EXEC => {
            let path = c.b.to_vec();
            c.b = &[];
            Event::Exec { path }
        }
        _ => return Ok(None),
    };
    if !c.b.is_empty() {
        return Err(DecodeError::Malformed { tag });
    }
    Ok(Some(ev))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Encoder;

    #[test]
    fn truncated_record_is_an_error() {
        let mut buf = [0u8; 64];
        let mut e = Encoder::new(&mut buf);
        e.heap_clock(1, 2);
        let bytes = e.finish().unwrap();
        let mut r = EventReader::new(&bytes[..bytes.len() - 2]);
        assert!(matches!(r.next_event(), Err(DecodeError::Truncated)));
    }

    #[test]
    fn a_record_longer_than_the_limit_is_refused_before_reading_it() {
        // Found by fuzzing: a corrupt length made the reader allocate up to
        // 4 GiB for one payload.
        let mut bytes = vec![tag::STACK];
        bytes.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        let mut r = EventReader::new(&bytes[..]);
        let err = r.next_event().unwrap_err();
        assert!(matches!(
            err,
            DecodeError::RecordTooLong {
                tag: tag::STACK,
                len: 0xFFFF_FFF0
            }
        ));
        assert_eq!(
            err.to_string(),
            "event record of 4294967280 bytes (tag 3) is longer than the limit of 65536 bytes"
        );
        // The longest allowed record still reads (here: an unknown tag, skipped).
        let mut ok = vec![200u8];
        ok.extend_from_slice(&(MAX_RECORD_LEN as u32).to_le_bytes());
        ok.resize(ok.len() + MAX_RECORD_LEN, 0);
        assert!(EventReader::new(&ok[..]).next_event().unwrap().is_none());
    }
}
