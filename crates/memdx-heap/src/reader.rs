//! Reads a recording frame by frame: memory for one frame at a time.

use std::io::Read;

use flate2::read::DeflateDecoder;

use crate::format::{
    col, Event, FrameKind, Get, SymFrame, EVENT_COLUMNS, FRAME_PREFIX, HEADER_LEN, MAGIC,
    MAX_PAYLOAD, VERSION, VERSION_1, VERSION_2,
};
use crate::{Exit, HeapError, LoadedModule};

/// One frame's content.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Sample interval (0: every allocation), pid, command line.
    Meta {
        /// Mean bytes between samples; 0: every allocation recorded.
        sample_interval: u64,
        /// The program's pid.
        pid: u32,
        /// Arguments separated by NUL bytes.
        cmdline: Vec<u8>,
    },
    /// Loaded objects.
    Modules(Vec<LoadedModule>),
    /// Stack definitions: (id, return addresses).
    Stacks(Vec<(u32, Vec<u64>)>),
    /// Events in program order.
    Events(Vec<Event>),
    /// Symbolized stacks.
    Symbols(Vec<(u32, Vec<SymFrame>)>),
    /// Attached to a running process: heap bytes in use then.
    Attach {
        /// glibc's `mallinfo2` `uordblks + hblkhd` at the attach.
        heap_bytes: u64,
    },
    /// A named moment marked while the program ran (`memdx heap
    /// snapshot`): events up to `time` came before it.
    Mark {
        /// The snapshot's name.
        name: String,
        /// Nanoseconds since the start.
        time: u64,
    },
    /// A reading of the program's memory.
    Memory(crate::MemorySample),
    /// Mappings the program made or removed itself, in time order.
    Maps(Vec<crate::MapEvent>),
    /// How the program ended and when (nanoseconds since its start).
    End {
        /// Exit status, fatal signal, or a cut stream.
        exit: Exit,
        /// Nanoseconds since the start.
        end_time: u64,
    },
}

/// A recording's frames, in order. After an error the iterator ends.
pub struct Reader<R: Read> {
    input: R,
    offset: u64,
    last_us: u64,
    next_seq: u64,
    failed: bool,
    version: u16,
    unzstd: Option<zstd::bulk::Decompressor<'static>>,
}

impl<R: Read> Reader<R> {
    /// Checks the header.
    pub fn new(mut input: R) -> Result<Self, HeapError> {
        let mut h = [0u8; HEADER_LEN];
        input.read_exact(&mut h).map_err(|_| HeapError::BadMagic)?;
        if h[..8] != MAGIC {
            return Err(HeapError::BadMagic);
        }
        let version = u16::from_le_bytes([h[8], h[9]]);
        if version != VERSION && version != VERSION_2 && version != VERSION_1 {
            return Err(HeapError::Version(version));
        }
        Ok(Reader {
            input,
            offset: HEADER_LEN as u64,
            last_us: 0,
            next_seq: 0,
            failed: false,
            version,
            unzstd: None,
        })
    }

    /// The file's format version.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Byte offset of the next frame.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn corrupt(&self, what: impl Into<String>) -> HeapError {
        HeapError::Corrupt {
            offset: self.offset,
            what: what.into(),
        }
    }

    /// Reads up to `buf.len()` bytes; how many were read (fewer at the end).
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, HeapError> {
        let mut n = 0;
        while n < buf.len() {
            match self.input.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(n)
    }

    fn next_record(&mut self) -> Result<Option<Record>, HeapError> {
        let mut head = [0u8; FRAME_PREFIX];
        let got = self.fill(&mut head)?;
        if got == 0 {
            return Ok(None);
        }
        if got < FRAME_PREFIX {
            return Err(self.corrupt(format!(
                "truncated frame header ({got} of {FRAME_PREFIX} bytes)"
            )));
        }
        let kind = FrameKind::from_u8(head[0])
            .ok_or_else(|| self.corrupt(format!("unknown frame kind {}", head[0])))?;
        let u32_at =
            |o: usize| u32::from_le_bytes([head[o], head[o + 1], head[o + 2], head[o + 3]]);
        let (raw_len, stored_len, crc) = (u32_at(1), u32_at(5), u32_at(9));
        if raw_len > MAX_PAYLOAD || stored_len > MAX_PAYLOAD {
            return Err(self.corrupt(format!("implausible frame length {stored_len}/{raw_len}")));
        }
        let mut stored = vec![0u8; stored_len as usize];
        let got = self.fill(&mut stored)?;
        if got < stored.len() {
            return Err(self.corrupt(format!("truncated frame ({got} of {stored_len} bytes)")));
        }
        if crc32fast::hash(&stored) != crc {
            return Err(self.corrupt("checksum mismatch"));
        }
        let rec = if self.version == VERSION_1 {
            let mut raw = Vec::with_capacity(raw_len as usize);
            DeflateDecoder::new(&stored[..])
                .take(u64::from(raw_len) + 1)
                .read_to_end(&mut raw)
                .map_err(|e| self.corrupt(format!("cannot inflate: {e}")))?;
            if raw.len() != raw_len as usize {
                return Err(self.corrupt(format!(
                    "inflated to {} bytes, header says {raw_len}",
                    raw.len()
                )));
            }
            self.decode(kind, &raw)
        } else {
            let sections = self.sections(&stored, raw_len as usize)?;
            if kind == FrameKind::Events {
                self.decode_columns(&sections)
            } else {
                self.decode(kind, &sections.concat())
            }
        };
        let rec = rec.ok_or_else(|| self.corrupt(format!("malformed {kind:?} payload")))?;
        self.offset += (FRAME_PREFIX + stored.len()) as u64;
        Ok(Some(rec))
    }

    /// A version-2 payload's sections, each a varint length and a zstd
    /// frame (empty when the length is 0), decompressed: together exactly
    /// `raw_len` bytes.
    fn sections(&mut self, stored: &[u8], raw_len: usize) -> Result<Vec<Vec<u8>>, HeapError> {
        let mut g = Get(stored);
        let mut out = Vec::new();
        let mut total = 0usize;
        while !g.0.is_empty() {
            let packed = g
                .s()
                .ok_or_else(|| self.corrupt("section length past the frame's end"))?;
            if packed.is_empty() {
                out.push(Vec::new());
                continue;
            }
            let unzstd = match &mut self.unzstd {
                Some(d) => d,
                None => self.unzstd.insert(zstd::bulk::Decompressor::new()?),
            };
            let section =
                unzstd
                    .decompress(packed, raw_len - total)
                    .map_err(|e| HeapError::Corrupt {
                        offset: self.offset,
                        what: format!("cannot decompress section {}: {e}", out.len()),
                    })?;
            total += section.len();
            out.push(section);
        }
        if total != raw_len {
            return Err(self.corrupt(format!(
                "decompressed to {total} bytes, header says {raw_len}"
            )));
        }
        Ok(out)
    }

    /// A version-2 `Events` frame: its columns read side by side.
    fn decode_columns(&mut self, sections: &[Vec<u8>]) -> Option<Record> {
        if sections.len() != EVENT_COLUMNS {
            return None;
        }
        let mut count = Get(&sections[col::COUNT]);
        let n = usize::try_from(count.v()?).ok()?;
        let ops = &sections[col::OPS];
        // Every event takes at least a byte of the time column.
        if !count.0.is_empty() || ops.len() != n.div_ceil(8) || n > sections[col::TIME].len() {
            return None;
        }
        let mut times = Get(&sections[col::TIME]);
        let mut size_low = sections[col::SIZE_LOW].iter();
        let mut size_high = Get(&sections[col::SIZE_HIGH]);
        let mut stacks = Get(&sections[col::STACK]);
        let mut back_low = sections[col::BACK_LOW].iter();
        let mut back_high = Get(&sections[col::BACK_HIGH]);
        let mut ev = Vec::with_capacity(n);
        for i in 0..n {
            let us = self.last_us.checked_add(times.v()?)?;
            self.last_us = us;
            let time = us.checked_mul(1000)?;
            if ops[i / 8] >> (i % 8) & 1 == 0 {
                let low = u64::from(*size_low.next()?);
                let high = size_high.v()?;
                ev.push(Event::Alloc {
                    time,
                    ptr: self.next_seq,
                    size: high.checked_mul(256)? | low,
                    stack: u32::try_from(stacks.v()?).ok()?,
                });
                self.next_seq += 1;
            } else {
                let low = u64::from(*back_low.next()?);
                let back = back_high.v()?.checked_mul(256)? | low;
                if back == 0 {
                    return None;
                }
                ev.push(Event::Free {
                    time,
                    ptr: self.next_seq.checked_sub(back)?,
                });
            }
        }
        let rest_bits = ops
            .last()
            .map_or(0, |&b| if n % 8 == 0 { 0 } else { b >> (n % 8) });
        let all_read = times.0.is_empty()
            && size_low.next().is_none()
            && size_high.0.is_empty()
            && stacks.0.is_empty()
            && back_low.next().is_none()
            && back_high.0.is_empty()
            && rest_bits == 0;
        all_read.then_some(Record::Events(ev))
    }

    fn decode(&mut self, kind: FrameKind, raw: &[u8]) -> Option<Record> {
        let mut g = Get(raw);
        let rec = match kind {
            FrameKind::Meta => Record::Meta {
                sample_interval: g.v()?,
                pid: u32::try_from(g.v()?).ok()?,
                cmdline: g.s()?.to_vec(),
            },
            FrameKind::Modules => {
                let n = g.count()?;
                let mut m = Vec::with_capacity(n);
                for _ in 0..n {
                    m.push(LoadedModule {
                        bias: g.v()?,
                        start: g.v()?,
                        end: g.v()?,
                        path: g.s()?.to_vec(),
                    });
                }
                Record::Modules(m)
            }
            FrameKind::Stacks => {
                let n = g.count()?;
                let mut s = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = u32::try_from(g.v()?).ok()?;
                    let k = g.count()?;
                    let mut f = Vec::with_capacity(k);
                    for _ in 0..k {
                        f.push(g.v()?);
                    }
                    s.push((id, f));
                }
                Record::Stacks(s)
            }
            FrameKind::Events => {
                let n = g.count()?;
                let mut ev = Vec::with_capacity(n);
                for _ in 0..n {
                    let head = g.v()?;
                    let us = self.last_us.checked_add(head >> 1)?;
                    self.last_us = us;
                    let time = us.checked_mul(1000)?;
                    if head & 1 == 0 {
                        ev.push(Event::Alloc {
                            time,
                            ptr: self.next_seq,
                            size: g.v()?,
                            stack: u32::try_from(g.v()?).ok()?,
                        });
                        self.next_seq += 1;
                    } else {
                        let back = g.v()?;
                        if back == 0 {
                            return None;
                        }
                        ev.push(Event::Free {
                            time,
                            ptr: self.next_seq.checked_sub(back)?,
                        });
                    }
                }
                Record::Events(ev)
            }
            FrameKind::Symbols => {
                let n = g.count()?;
                let mut s = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = u32::try_from(g.v()?).ok()?;
                    let k = g.count()?;
                    let mut f = Vec::with_capacity(k);
                    for _ in 0..k {
                        f.push(SymFrame {
                            addr: g.v()?,
                            function: g.opt()?,
                            file: g.opt()?,
                            line: u32::try_from(g.v()?).ok()?,
                            object: g.opt()?,
                        });
                    }
                    s.push((id, f));
                }
                Record::Symbols(s)
            }
            FrameKind::Attach => Record::Attach { heap_bytes: g.v()? },
            FrameKind::Mark => Record::Mark {
                time: g.v()?,
                name: String::from_utf8(g.s()?.to_vec()).ok()?,
            },
            FrameKind::Memory => Record::Memory(crate::MemorySample::decode(&mut g)?),
            FrameKind::Maps => Record::Maps(crate::MapEvent::decode(&mut g)?),
            FrameKind::End => {
                let kind = g.v()?;
                let value = g.v()? as u32 as i32;
                let end_time = g.v()?;
                let exit = match kind {
                    0 => Exit::Exited(value),
                    1 => Exit::Signaled(value),
                    2 => Exit::Cut,
                    3 => Exit::Detached,
                    4 => Exit::Ended,
                    5 => Exit::ChildEnded,
                    _ => return None,
                };
                Record::End { exit, end_time }
            }
        };
        g.0.is_empty().then_some(rec)
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Record, HeapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_record() {
            Ok(r) => r.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Writer;

    fn sample() -> Vec<u8> {
        let alloc = |time, ptr, size, stack| Event::Alloc {
            time,
            ptr,
            size,
            stack,
        };
        let mut w = Writer::new(Vec::new()).unwrap();
        w.meta(0, 7, b"prog\0arg").unwrap();
        w.stacks(&[(1, vec![0x1000, 0x2000]), (2, vec![0x1000])])
            .unwrap();
        w.events(&[
            alloc(10_000, 0x7f00_0000_1000, 100, 1),
            alloc(20_000, 0x5000, 7, 2),
            Event::Free {
                time: 30_000,
                ptr: 0x7f00_0000_1000,
            },
            // Never allocated: left out.
            Event::Free {
                time: 31_000,
                ptr: 0x9999,
            },
        ])
        .unwrap();
        w.events(&[Event::Free {
            time: 45_000,
            ptr: 0x5000,
        }])
        .unwrap();
        w.end(Exit::Exited(3), 50).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn every_frame_round_trips_with_releases_naming_their_allocation() {
        let file = sample();
        let recs: Vec<Record> = Reader::new(&file[..])
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(recs.len(), 5);
        // Read back, blocks are named by their allocation's number.
        let alloc = |time, ptr, size, stack| Event::Alloc {
            time,
            ptr,
            size,
            stack,
        };
        assert_eq!(
            recs[2],
            Record::Events(vec![
                alloc(10_000, 0, 100, 1),
                alloc(20_000, 1, 7, 2),
                Event::Free {
                    time: 30_000,
                    ptr: 0
                },
            ])
        );
        assert_eq!(
            recs[3],
            Record::Events(vec![Event::Free {
                time: 45_000,
                ptr: 1
            }])
        );
        assert_eq!(
            recs[4],
            Record::End {
                exit: Exit::Exited(3),
                end_time: 50
            }
        );
    }

    #[test]
    fn a_flipped_byte_is_reported_at_its_frame_after_the_frames_before_it() {
        let mut file = sample();
        // The third frame (the first Events frame): find its offset.
        let mut r = Reader::new(&file[..]).unwrap();
        r.next();
        r.next();
        let at = r.offset() as usize;
        file[at + FRAME_PREFIX + 2] ^= 0x55;
        let recs: Vec<_> = Reader::new(&file[..]).unwrap().collect();
        assert_eq!(recs.len(), 3);
        assert!(recs[0].is_ok() && recs[1].is_ok());
        let err = recs[2].as_ref().unwrap_err().to_string();
        assert_eq!(
            err,
            format!("damaged frame at offset {at}: checksum mismatch")
        );
    }

    #[test]
    fn a_recording_cut_mid_frame_reads_up_to_the_cut() {
        let file = sample();
        let cut = &file[..file.len() - 4];
        let recs: Vec<_> = Reader::new(cut).unwrap().collect();
        assert_eq!(recs.len(), 5);
        assert!(recs[..4].iter().all(|r| r.is_ok()));
        assert!(recs[4]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("truncated frame"));
    }

    #[test]
    fn a_version_1_recording_reads_as_the_same_records() {
        // Written by the version-1 writer (deflate, events row by row)
        // from the events of `sample`.
        let old = include_bytes!("../fixtures/v1-sample.mdxh");
        let r = Reader::new(&old[..]).unwrap();
        assert_eq!(r.version(), 1);
        let old: Vec<Record> = r.map(|r| r.unwrap()).collect();
        let file = sample();
        let new = Reader::new(&file[..]).unwrap();
        assert_eq!(new.version(), VERSION);
        let new: Vec<Record> = new.map(|r| r.unwrap()).collect();
        assert_eq!(old, new);
    }

    #[test]
    fn a_version_2_recording_reads_and_maps_frames_round_trip() {
        // Version 2 is version 3 without `Maps` frames: the same file
        // with the old version number reads as the same records.
        let mut old = sample();
        old[8..10].copy_from_slice(&2u16.to_le_bytes());
        let r = Reader::new(&old[..]).unwrap();
        assert_eq!(r.version(), 2);
        let old: Vec<Record> = r.map(|r| r.unwrap()).collect();
        let new: Vec<Record> = Reader::new(&sample()[..])
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(old, new);
        // A later version is refused by its number.
        let mut later = sample();
        later[8..10].copy_from_slice(&4u16.to_le_bytes());
        let err = Reader::new(&later[..]).err().unwrap().to_string();
        assert_eq!(
            err,
            "recording version 4 is not supported (this memdx reads versions 1 to 3)"
        );
        let maps = vec![
            crate::MapEvent::Map {
                time: 1_000,
                addr: 0x7f00_0000_0000,
                len: 1 << 20,
                stack: 2,
            },
            crate::MapEvent::Unmap {
                time: 2_000,
                addr: 0x7f00_0000_0000,
                len: 4096,
            },
        ];
        let mut w = Writer::new(Vec::new()).unwrap();
        w.maps(&maps).unwrap();
        let file = w.finish().unwrap();
        let recs: Vec<Record> = Reader::new(&file[..])
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(recs, vec![Record::Maps(maps)]);
    }

    /// Rewrites the frame at `at` with `stored` as its payload and a
    /// matching checksum (damage the checksum cannot see).
    fn replace_payload(file: &[u8], at: usize, raw_len: u32, stored: &[u8]) -> Vec<u8> {
        let old_len = u32::from_le_bytes(file[at + 5..at + 9].try_into().unwrap()) as usize;
        let mut out = file[..at].to_vec();
        out.push(file[at]);
        out.extend_from_slice(&raw_len.to_le_bytes());
        out.extend_from_slice(&(stored.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(stored).to_le_bytes());
        out.extend_from_slice(stored);
        out.extend_from_slice(&file[at + FRAME_PREFIX + old_len..]);
        out
    }

    #[test]
    fn columns_that_disagree_are_a_malformed_frame_at_its_offset() {
        let file = sample();
        let mut r = Reader::new(&file[..]).unwrap();
        r.next();
        r.next();
        let at = r.offset() as usize;
        // Two events whose op bits say "allocation" but no size column.
        let mut stored = Vec::new();
        let count = zstd::bulk::compress(&[2], 1).unwrap();
        let ops = zstd::bulk::compress(&[0], 1).unwrap();
        let times = zstd::bulk::compress(&[1, 1], 1).unwrap();
        for section in [&count[..], &ops, &times, &[], &[], &[], &[], &[]] {
            stored.push(section.len() as u8);
            stored.extend_from_slice(section);
        }
        let bad = replace_payload(&file, at, 4, &stored);
        let recs: Vec<_> = Reader::new(&bad[..]).unwrap().collect();
        assert_eq!(recs.len(), 3);
        assert_eq!(
            recs[2].as_ref().unwrap_err().to_string(),
            format!("damaged frame at offset {at}: malformed Events payload")
        );
        // A section that is not zstd.
        let bad = replace_payload(&file, at, 4, &[3, 1, 2, 3]);
        let err = Reader::new(&bad[..])
            .unwrap()
            .nth(2)
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "damaged frame at offset {at}: cannot decompress section 0: "
            )),
            "{err}"
        );
    }

    #[test]
    fn other_files_are_refused_by_their_magic() {
        assert!(matches!(
            Reader::new(&b"ELF\x7f and more bytes"[..]),
            Err(HeapError::BadMagic)
        ));
    }
}
