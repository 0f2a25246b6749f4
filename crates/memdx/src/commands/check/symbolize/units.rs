//! An object's DWARF, looked up one compilation unit at a time.
//!
//! `addr2line::Context::from_dwarf` parses every unit's header, abbreviation
//! table and line-program header up front: for glibc's debug file (4,126
//! units) most of a run's symbolization time, spent for the two or three
//! units a report's frames are in. Here `.debug_aranges` says which unit
//! covers an address, and a context is built over a copy of `.debug_info`
//! that holds that unit alone at its own offset, the bytes before it one
//! placeholder unit that addr2line skips (its abbreviation offset is out of
//! range, so reading it fails, and addr2line passes over units it cannot
//! read). Offsets stay those of the whole section, so the answers are the
//! whole context's.
//!
//! The whole context is used instead when that could differ: an object
//! whose aranges leave out a compilation unit (clang writes none), an
//! address that several units claim, a unit whose entries may refer into
//! other units (`DW_FORM_ref_addr`, supplementary files, type signatures),
//! or more than [`MAX_UNIT_CONTEXTS`] units asked for (the copies are then
//! dearer than the up-front parse).

use addr2line::gimli::{self, Reader as _, SectionId};
use std::collections::{HashMap, HashSet};

pub(super) type Reader = gimli::EndianSlice<'static, gimli::RunTimeEndian>;
type Context = addr2line::Context<Reader>;

/// How many units get a context of their own before the object's whole
/// context is built instead.
pub(super) const MAX_UNIT_CONTEXTS: usize = 64;

/// An object's DWARF sections, inflated once and kept for the run.
pub(super) struct Sections {
    bytes: Vec<(SectionId, &'static [u8])>,
    endian: gimli::RunTimeEndian,
}

impl Sections {
    /// Loads the sections through `load` (each asked for once).
    pub(super) fn load(
        endian: gimli::RunTimeEndian,
        mut load: impl FnMut(SectionId) -> &'static [u8],
    ) -> Self {
        let mut bytes = Vec::new();
        let loaded: Result<gimli::Dwarf<Reader>, gimli::Error> = gimli::Dwarf::load(|id| {
            let b = load(id);
            bytes.push((id, b));
            Ok(gimli::EndianSlice::new(b, endian))
        });
        drop(loaded);
        Sections { bytes, endian }
    }

    fn get(&self, id: SectionId) -> &'static [u8] {
        self.bytes
            .iter()
            .find(|(i, _)| *i == id)
            .map_or(&[], |(_, b)| b)
    }

    /// The DWARF of these sections, with `info` as `.debug_info`.
    fn dwarf(&self, info: &'static [u8]) -> gimli::Dwarf<Reader> {
        let endian = self.endian;
        let loaded: Result<gimli::Dwarf<Reader>, gimli::Error> = gimli::Dwarf::load(|id| {
            let b = if id == SectionId::DebugInfo {
                info
            } else {
                self.get(id)
            };
            Ok(gimli::EndianSlice::new(b, endian))
        });
        // The closure never fails.
        loaded.unwrap_or_default()
    }

    /// The whole context, as addr2line builds it.
    fn whole_context(&self) -> Option<Context> {
        let mut dwarf = self.dwarf(self.get(SectionId::DebugInfo));
        // Units that share an abbreviation table (most of glibc's) parse
        // it once, as addr2line's own loader does.
        dwarf.populate_abbreviations_cache(gimli::AbbreviationsCacheStrategy::Duplicates);
        Context::from_dwarf(dwarf).ok()
    }
}

/// An address range `.debug_aranges` gives a unit.
#[derive(Debug, Clone, Copy)]
struct UnitRange {
    begin: u64,
    end: u64,
    unit: usize,
    /// The least `begin` of this range and every later one (sorted by
    /// `end`): where a search for the ranges covering an address stops.
    min_begin: u64,
}

/// A compilation unit's place in `.debug_info` and its abbreviations.
#[derive(Debug, Clone, Copy)]
struct UnitSpan {
    end: usize,
    abbrev_offset: usize,
}

/// Which units cover which addresses, when `.debug_aranges` says it for
/// every compilation unit.
struct Index {
    ranges: Vec<UnitRange>,
    units: HashMap<usize, UnitSpan>,
}

impl Index {
    fn build(sections: &Sections) -> Option<Index> {
        let dwarf = sections.dwarf(sections.get(SectionId::DebugInfo));
        let mut ranges = Vec::new();
        let mut listed = HashSet::new();
        let mut headers = dwarf.debug_aranges.headers();
        while let Some(header) = headers.next().ok()? {
            let unit = header.debug_info_offset().0;
            listed.insert(unit);
            let mut entries = header.entries();
            // Entries that fail to read are skipped, as addr2line does.
            while let Some(entry) = entries.next().transpose() {
                let Ok(entry) = entry else { continue };
                if entry.length() != 0 {
                    let r = entry.range();
                    ranges.push(UnitRange {
                        begin: r.begin,
                        end: r.end,
                        unit,
                        min_begin: 0,
                    });
                }
            }
        }
        if ranges.is_empty() {
            return None;
        }
        let mut units = HashMap::new();
        let mut iter = dwarf.units();
        while let Some(header) = iter.next().ok()? {
            let offset = header.offset().as_debug_info_offset()?.0;
            match header.type_() {
                gimli::UnitType::Type { .. } | gimli::UnitType::SplitType { .. } => continue,
                gimli::UnitType::Partial => {}
                _ if !listed.contains(&offset) => return None,
                _ => {}
            }
            units.insert(
                offset,
                UnitSpan {
                    end: offset + header.length_including_self(),
                    abbrev_offset: header.debug_abbrev_offset().0,
                },
            );
        }
        ranges.sort_by_key(|r| r.end);
        let mut min = u64::MAX;
        for r in ranges.iter_mut().rev() {
            min = min.min(r.begin);
            r.min_begin = min;
        }
        Some(Index { ranges, units })
    }

    /// The one unit whose ranges cover `probe`: `Ok(None)` when none
    /// does, `Err(())` when several do.
    fn unit_of(&self, probe: u64) -> Result<Option<usize>, ()> {
        let first = self.ranges.partition_point(|r| r.end <= probe);
        let mut found = None;
        for r in self.ranges[first..]
            .iter()
            .take_while(|r| r.min_begin <= probe)
        {
            if r.begin <= probe && probe < r.end {
                match found {
                    Some(u) if u != r.unit => return Err(()),
                    _ => found = Some(r.unit),
                }
            }
        }
        Ok(found)
    }
}

/// Whether the abbreviation table at `offset` has a form that refers
/// outside its unit (or whose form is only known from the entry), or
/// cannot be read.
fn refers_outside(abbrev: &'static [u8], offset: usize, endian: gimli::RunTimeEndian) -> bool {
    fn scan(mut r: Reader) -> gimli::Result<bool> {
        loop {
            if r.read_uleb128()? == 0 {
                return Ok(false);
            }
            r.read_uleb128()?; // tag
            r.read_u8()?; // children
            loop {
                let name = r.read_uleb128()?;
                let form = gimli::DwForm(r.read_uleb128_u16()?);
                if name == 0 && form.0 == 0 {
                    break;
                }
                if form == gimli::DW_FORM_implicit_const {
                    r.read_sleb128()?;
                }
                if matches!(
                    form,
                    gimli::DW_FORM_ref_addr
                        | gimli::DW_FORM_GNU_ref_alt
                        | gimli::DW_FORM_ref_sup4
                        | gimli::DW_FORM_ref_sup8
                        | gimli::DW_FORM_ref_sig8
                        | gimli::DW_FORM_GNU_strp_alt
                        | gimli::DW_FORM_strp_sup
                        | gimli::DW_FORM_indirect
                ) {
                    return Ok(true);
                }
            }
        }
    }
    let Some(table) = abbrev.get(offset..) else {
        return true;
    };
    scan(gimli::EndianSlice::new(table, endian)).unwrap_or(true)
}

/// A copy of `.debug_info` as long as `unit`'s end, holding that unit at
/// its offset and, before it, one placeholder unit addr2line cannot read
/// (DWARF 4 header, abbreviation offset past the end). The bytes between
/// are zeros never read, so the copy's untouched pages cost nothing.
fn single_unit_info(
    info: &'static [u8],
    unit: usize,
    span: UnitSpan,
    endian: gimli::RunTimeEndian,
) -> Option<&'static [u8]> {
    use gimli::Endianity;
    const PLACEHOLDER_HEADER: usize = 11;
    let bytes = info.get(unit..span.end)?;
    let mut copy = vec![0u8; span.end];
    if unit > 0 {
        if unit < PLACEHOLDER_HEADER {
            return None;
        }
        let length = u32::try_from(unit - 4).ok().filter(|l| *l < 0xffff_fff0)?;
        let header = copy.get_mut(..PLACEHOLDER_HEADER)?;
        endian.write_u32(&mut header[0..4], length);
        endian.write_u16(&mut header[4..6], 4);
        endian.write_u32(&mut header[6..10], u32::MAX);
        header[10] = 8;
    }
    copy.get_mut(unit..)?.copy_from_slice(bytes);
    Some(Box::leak(copy.into_boxed_slice()))
}

/// An object's DWARF lookups: per unit while that is exact and cheap,
/// else the whole context.
pub(super) struct Units {
    sections: Sections,
    index: Option<Index>,
    /// By unit offset; `None`: the unit cannot be read alone.
    contexts: HashMap<usize, Option<Context>>,
    whole: Option<Option<Context>>,
    max_contexts: usize,
}

impl Units {
    pub(super) fn new(sections: Sections, max_contexts: usize) -> Self {
        let index = Index::build(&sections);
        Units {
            sections,
            index,
            contexts: HashMap::new(),
            whole: None,
            max_contexts,
        }
    }

    /// The context to look `probe` up in (`None`: no DWARF covers it, or
    /// the object has none that reads).
    pub(super) fn context_for(&mut self, probe: u64) -> Option<&Context> {
        let unit = match self.unit_context(probe) {
            Ok(None) => return None,
            Ok(Some(unit)) => Some(unit),
            Err(()) => None,
        };
        if let Some(unit) = unit.filter(|u| self.contexts.get(u).is_some_and(Option::is_some)) {
            return self.contexts.get(&unit).and_then(Option::as_ref);
        }
        self.whole
            .get_or_insert_with(|| self.sections.whole_context())
            .as_ref()
    }

    /// The unit covering `probe` with its context built (`Ok(None)`: no
    /// unit covers it), or `Err` when the whole context must answer.
    fn unit_context(&mut self, probe: u64) -> Result<Option<usize>, ()> {
        if self.whole.is_some() {
            return Err(());
        }
        let index = self.index.as_ref().ok_or(())?;
        let Some(unit) = index.unit_of(probe)? else {
            return Ok(None);
        };
        if !self.contexts.contains_key(&unit) {
            if self.contexts.len() >= self.max_contexts {
                return Err(());
            }
            let span = index.units.get(&unit).copied().ok_or(())?;
            let ctx = self.single_unit_context(unit, span);
            self.contexts.insert(unit, ctx);
        }
        Ok(Some(unit))
    }

    fn single_unit_context(&self, unit: usize, span: UnitSpan) -> Option<Context> {
        let endian = self.sections.endian;
        if refers_outside(
            self.sections.get(SectionId::DebugAbbrev),
            span.abbrev_offset,
            endian,
        ) {
            return None;
        }
        let info = single_unit_info(self.sections.get(SectionId::DebugInfo), unit, span, endian)?;
        Context::from_dwarf(self.sections.dwarf(info)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a lookup answers, compared between the two kinds of context.
    fn answer(ctx: Option<&Context>, probe: u64) -> Vec<String> {
        let Some(ctx) = ctx else {
            return Vec::new();
        };
        let unit = ctx
            .find_dwarf_and_unit(probe)
            .skip_all_loads()
            .and_then(|u| u.header.offset().as_debug_info_offset());
        let mut out = vec![format!("unit {unit:?}")];
        if let Ok(mut frames) = ctx.find_frames(probe).skip_all_loads() {
            while let Ok(Some(f)) = frames.next() {
                let name = f
                    .function
                    .as_ref()
                    .and_then(|n| n.raw_name().ok().map(|s| s.into_owned()));
                let at = f.location.map(|l| (l.file, l.line, l.column));
                out.push(format!("{name:?} {at:?} {:?}", f.dw_die_offset));
            }
        }
        out
    }

    /// Functions across the C library (a sample of its debug file's symbol
    /// table, at their start, middle and last byte) are resolved alike by
    /// per-unit contexts and by addr2line's whole context: same unit, same
    /// inlined frames, names, files, lines and entries.
    #[test]
    fn per_unit_lookups_answer_as_the_whole_context_on_libc() {
        use object::{Object, ObjectSymbol, SymbolKind};
        let libc = std::path::Path::new("/lib/x86_64-linux-gnu/libc.so.6");
        let debug = std::fs::read(libc)
            .ok()
            .and_then(|d| {
                let obj = object::File::parse(&*d).ok()?;
                super::super::separate_debug_file(libc, &obj)
            })
            .and_then(|p| super::super::read_static(&p))
            .and_then(|d| object::File::parse(d).ok());
        let Some(debug) = debug else {
            memdx_testkit::tool_missing("the C library's separate debug file (libc6-dbg)");
            return;
        };
        let sections = super::super::dwarf_sections(&debug);
        let whole = sections.whole_context().expect("libc's DWARF reads");
        let mut units = Units::new(sections, usize::MAX);
        assert!(units.index.is_some(), "libc's aranges list every unit");
        let functions: Vec<(u64, u64)> = debug
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
            .map(|s| (s.address(), s.size()))
            .collect();
        assert!(functions.len() > 1000, "{} functions", functions.len());
        let step = functions.len() / 150;
        let (mut compared, mut with_lines) = (0, 0);
        for &(address, size) in functions.iter().step_by(step) {
            for probe in [address, address + size / 2, address + size - 1] {
                let want = answer(Some(&whole), probe);
                let got = answer(units.context_for(probe), probe);
                assert_eq!(got, want, "probe {probe:#x}");
                compared += 1;
                with_lines += usize::from(want.iter().any(|l| l.contains("Some((Some(\"")));
            }
        }
        assert!(units.whole.is_none(), "every probe was answered per unit");
        assert!(units.contexts.len() > 100, "{} units", units.contexts.len());
        assert!(
            with_lines > compared / 2,
            "{with_lines} of {compared} with lines"
        );
    }
}
