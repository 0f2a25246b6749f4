//! Addresses to Valgrind-style frame text, once per unique address: DWARF
//! line tables and inlined frames through `addr2line` (which also follows
//! debug links), the symbol table when there is no DWARF, names demangled
//! (C++ and Rust).

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod disk_cache;
mod units;

pub use disk_cache::save as save_frame_cache;

pub use memdx_analyzer::{FrameKey, FrameText, Module};

/// The directories searched for separate debug files: those in
/// `MEMDX_DEBUG_DIRS` (colon-separated, first), then `/usr/lib/debug`.
fn debug_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("MEMDX_DEBUG_DIRS")
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    dirs.push(PathBuf::from("/usr/lib/debug"));
    dirs
}

/// The separate debug file of an object that has no DWARF of its own, as
/// gdb and Valgrind look for it: by build-id
/// (`DIR/.build-id/ab/cdef….debug`), then by `.gnu_debuglink` (beside the
/// object, in its `.debug/` subdirectory, then `DIR/<object's directory>/`;
/// the link's CRC must match), then by path (`DIR/<object's path>`), for
/// each `DIR` of [`debug_dirs`].
fn separate_debug_file<'d, R: object::ReadRef<'d>>(
    path: &Path,
    obj: &object::File<'d, R>,
) -> Option<PathBuf> {
    use object::{Object, ObjectSection};
    if obj
        .section_by_name(".debug_info")
        .is_some_and(|s| s.size() > 0)
    {
        return None;
    }
    let dirs = debug_dirs();
    if let Ok(Some(id)) = obj.build_id() {
        if id.len() > 1 {
            let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
            for root in &dirs {
                let p = root
                    .join(".build-id")
                    .join(&hex[..2])
                    .join(format!("{}.debug", &hex[2..]));
                if p.is_file() {
                    return Some(p);
                }
            }
        }
    }
    if let Ok(Some((name, crc))) = obj.gnu_debuglink() {
        let name = std::ffi::OsStr::from_bytes(name);
        let parent = path.parent().unwrap_or(Path::new("/"));
        let mut candidates = vec![parent.join(name), parent.join(".debug").join(name)];
        for root in &dirs {
            if let Ok(rel) = parent.strip_prefix("/") {
                candidates.push(root.join(rel).join(name));
            }
        }
        for c in candidates {
            // The object itself may carry the link's name: skip it.
            if c == path {
                continue;
            }
            let matches = std::fs::read(&c).is_ok_and(|d| crc32fast::hash(&d) == crc);
            if matches {
                return Some(c);
            }
        }
    }
    let rel = path.strip_prefix("/").ok()?;
    dirs.iter().map(|root| root.join(rel)).find(|p| p.is_file())
}

/// How frames in the checker runtime name their object.
pub const RUNTIME_OBJECT: &str = "libmemdx_runtime.so";

use units::Reader;

/// One object's debug information and symbol table, loaded once per run
/// (shared by every process's report; see [`debug_object`]).
struct DebugObject {
    /// Its DWARF, looked up per compilation unit.
    units: units::Units,
    symbols: object::SymbolMap<object::SymbolMapName<'static>>,
    /// Per unit (by its offset): the full path addr2line reports for each
    /// line-table file, and the file's name as the table writes it
    /// (Valgrind prints that name: `library/alloc/src/alloc.rs`, `foo.c`).
    file_names: HashMap<usize, HashMap<String, FileName>>,
}

/// A line-table file as Valgrind names it.
#[derive(Debug, Clone)]
struct FileName {
    /// The name the table gives (`library/alloc/src/alloc.rs`, `foo.c`).
    name: String,
    /// The compilation directory joined with the file's directory entry.
    dir: String,
}

/// The file contents, kept for the rest of the run: the objects are cached
/// process-wide and never evicted, so their debug data is never freed.
fn read_static(path: &Path) -> Option<&'static [u8]> {
    let data = std::fs::read(path).ok()?;
    Some(Box::leak(data.into_boxed_slice()))
}

fn load_debug_object(path: &Path) -> Option<DebugObject> {
    let data = read_static(path)?;
    let obj = object::File::parse(data).ok()?;
    let debug = separate_debug_file(path, &obj)
        .and_then(|p| read_static(&p))
        .and_then(|d| object::File::parse(d).ok());
    let sections = dwarf_sections(debug.as_ref().unwrap_or(&obj));
    Some(DebugObject {
        units: units::Units::new(sections, units::MAX_UNIT_CONTEXTS),
        symbols: object_symbols(&obj, debug.as_ref()),
        file_names: HashMap::new(),
    })
}

/// The DWARF sections of `dwarf_obj` that symbolizing reads, inflated.
fn dwarf_sections(dwarf_obj: &object::File<'static>) -> units::Sections {
    use object::{Object, ObjectSection};
    let endian = if dwarf_obj.is_little_endian() {
        addr2line::gimli::RunTimeEndian::Little
    } else {
        addr2line::gimli::RunTimeEndian::Big
    };
    units::Sections::load(endian, |id| {
        if !symbolizing_reads(id) {
            return &[];
        }
        match dwarf_obj.section_by_name(id.name()) {
            Some(sec) => match sec.uncompressed_data().ok() {
                Some(std::borrow::Cow::Borrowed(b)) => b,
                Some(std::borrow::Cow::Owned(v)) => Box::leak(v.into_boxed_slice()),
                None => &[],
            },
            None => &[],
        }
    })
}

/// The object's own symbol table, or the debug file's when the object was
/// stripped (objcopy --only-keep-debug keeps .symtab).
fn object_symbols(
    obj: &object::File<'static>,
    debug: Option<&object::File<'static>>,
) -> object::SymbolMap<object::SymbolMapName<'static>> {
    use object::Object;
    match debug {
        Some(d) if obj.symbol_map().symbols().is_empty() || obj.symbols().next().is_none() => {
            valgrind_names(d)
        }
        _ => valgrind_names(obj),
    }
}

/// An object's symbols alone, without its DWARF: what the runtime's own
/// frames are named by (its allocator entry points, shown like Valgrind's
/// replacement functions). Its DWARF (Rust's standard library included)
/// would cost several milliseconds per run to index, and a leak's stack
/// always starts in it.
fn load_symbols(path: &Path) -> Option<object::SymbolMap<object::SymbolMapName<'static>>> {
    use object::Object;
    // Only the headers and the symbol and string tables are read (the
    // runtime is megabytes of debug information, read for nothing).
    let file = std::fs::File::open(path).ok()?;
    let cache: &'static object::ReadCache<std::fs::File> =
        Box::leak(Box::new(object::ReadCache::new(file)));
    let obj = object::File::parse(cache).ok()?;
    if !obj.symbol_map().symbols().is_empty() && obj.symbols().next().is_some() {
        return Some(valgrind_names(&obj));
    }
    // Stripped: the symbols of its debug file, as load_debug_object finds it.
    let data = read_static(path)?;
    let obj = object::File::parse(data).ok()?;
    let debug = separate_debug_file(path, &obj)
        .and_then(|p| read_static(&p))
        .and_then(|d| object::File::parse(d).ok());
    Some(object_symbols(&obj, debug.as_ref()))
}

/// The process-wide cache of symbol tables loaded by [`load_symbols`].
type SymbolCache =
    Mutex<HashMap<PathBuf, Option<Arc<object::SymbolMap<object::SymbolMapName<'static>>>>>>;

fn symbols_only(path: &Path) -> Option<Arc<object::SymbolMap<object::SymbolMapName<'static>>>> {
    static CACHE: std::sync::OnceLock<SymbolCache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(SymbolCache::default);
    if let Some(hit) = cache.lock().ok()?.get(path) {
        return hit.clone();
    }
    let loaded = load_symbols(path).map(Arc::new);
    let mut c = cache.lock().ok()?;
    c.entry(path.to_path_buf()).or_insert(loaded).clone()
}

/// Whether resolving addresses to functions, inlined calls and lines reads
/// section `id`. The others (variable locations, macros) are not loaded:
/// a separate debug file compresses its sections, and glibc's location
/// lists are a quarter of its compressed DWARF.
fn symbolizing_reads(id: addr2line::gimli::SectionId) -> bool {
    use addr2line::gimli::SectionId;
    !matches!(
        id,
        SectionId::DebugLoc
            | SectionId::DebugLocLists
            | SectionId::DebugMacinfo
            | SectionId::DebugMacro
    )
}

/// The symbols of `obj` (its symbol table, else its dynamic one), one
/// name per address: the one Valgrind shows (its `preferName`), the
/// shortest name without its version (`fclose` over `_IO_fclose`, `pwrite`
/// over `pwrite64` and `__libc_pwrite`), then a versioned one over a plain
/// one, then the alphabetically first. (`object`'s own symbol map prefers
/// global names and later entries instead.)
fn valgrind_names<R: object::ReadRef<'static>>(
    obj: &object::File<'static, R>,
) -> object::SymbolMap<object::SymbolMapName<'static>> {
    use object::{Object, ObjectSymbol, ObjectSymbolTable, SymbolKind};
    let mut v = Vec::new();
    if let Some(table) = obj.symbol_table().or_else(|| obj.dynamic_symbol_table()) {
        for sym in table.symbols() {
            if !sym.is_definition()
                || !matches!(
                    sym.kind(),
                    SymbolKind::Text | SymbolKind::Data | SymbolKind::Unknown
                )
            {
                continue;
            }
            match sym.name() {
                Ok(name) if !name.is_empty() => {
                    v.push((
                        sym.kind() == SymbolKind::Unknown,
                        object::SymbolMapName::new(sym.address(), name),
                    ));
                }
                _ => {}
            }
        }
    }
    let unversioned = |n: &str| n.find('@').unwrap_or(n.len());
    // A typeless symbol (a label) names an address only when no function
    // or object does.
    v.sort_by(|(ua, a), (ub, b)| {
        let (x, y) = (a.name(), b.name());
        // Lazily: most symbols differ by address, and the name
        // comparisons are for the few that share one.
        a.address()
            .cmp(&b.address())
            .then_with(|| ua.cmp(ub))
            .then_with(|| unversioned(x).cmp(&unversioned(y)))
            .then_with(|| y.contains('@').cmp(&x.contains('@')))
            .then_with(|| x.cmp(y))
    });
    v.dedup_by_key(|(_, s)| s.address());
    object::SymbolMap::new(v.into_iter().map(|(_, s)| s).collect())
}

/// The process-wide cache of loaded objects (by path; None = unreadable).
type Cache = Mutex<HashMap<PathBuf, Option<Arc<Mutex<DebugObject>>>>>;

fn debug_object(path: &Path) -> Option<Arc<Mutex<DebugObject>>> {
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Cache::default);
    if let Some(hit) = cache.lock().ok()?.get(path) {
        return hit.clone();
    }
    // Loaded outside the lock: another process's reader may load the same
    // object meanwhile; the first one stored wins.
    let loaded = load_debug_object(path).map(|d| Arc::new(Mutex::new(d)));
    let mut c = cache.lock().ok()?;
    c.entry(path.to_path_buf()).or_insert(loaded).clone()
}

/// addr2line's joining of a line-table file's directory and name.
fn path_push(path: &mut String, p: &str) {
    if p.starts_with('/') || path.is_empty() {
        *path = p.to_string();
    } else {
        if !path.ends_with('/') {
            path.push('/');
        }
        path.push_str(p);
    }
}

impl DebugObject {
    fn symbol(&self, probe: u64) -> Option<(&'static str, u64)> {
        self.symbols.get(probe).map(|s| (s.name(), s.address()))
    }

    /// The name an inlined call is shown by: the `DW_AT_name` of the
    /// function it inlines (Valgrind's short names: `alloc`,
    /// `try_allocate_in<alloc::alloc::Global>`, `make<int>`).
    fn inlined_name(
        unit: addr2line::gimli::UnitRef<'_, Reader>,
        offset: addr2line::gimli::UnitOffset,
    ) -> Option<String> {
        use addr2line::gimli::{
            AttributeValue, DW_AT_abstract_origin, DW_AT_name, DW_AT_specification,
        };
        let mut off = offset;
        for _ in 0..8 {
            let entry = unit.entry(off).ok()?;
            if let Ok(Some(v)) = entry.attr_value(DW_AT_name) {
                let s = unit.attr_string(v).ok()?;
                return Some(s.to_string_lossy().into_owned());
            }
            let next = entry
                .attr_value(DW_AT_abstract_origin)
                .ok()
                .flatten()
                .or_else(|| entry.attr_value(DW_AT_specification).ok().flatten());
            match next {
                Some(AttributeValue::UnitRef(o)) => off = o,
                _ => return None,
            }
        }
        None
    }

    /// Full path → the name the line table gives, for `unit`'s files.
    fn unit_file_names(unit: addr2line::gimli::UnitRef<'_, Reader>) -> HashMap<String, FileName> {
        let mut out = HashMap::new();
        let Some(program) = &unit.line_program else {
            return out;
        };
        let header = program.header();
        let comp_dir = unit
            .comp_dir
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        for file in header.file_names() {
            let Some(name) = unit
                .attr_string(file.path_name())
                .ok()
                .map(|n| n.to_string_lossy().into_owned())
            else {
                continue;
            };
            let entry_dir = file
                .directory(header)
                .and_then(|d| unit.attr_string(d).ok())
                .map(|d| d.to_string_lossy().into_owned());
            let mut path = comp_dir.clone();
            if file.directory_index() != 0 {
                if let Some(dir) = &entry_dir {
                    path_push(&mut path, dir);
                }
            }
            path_push(&mut path, &name);
            // Valgrind joins the compilation directory with the file's
            // directory entry even for DWARF 5's entry 0 (the compilation
            // directory itself): glibc's relative "./string" becomes
            // "./string/./string".
            let mut dir = comp_dir.clone();
            if let Some(d) = &entry_dir {
                path_push(&mut dir, d);
            }
            // The first entry of a path wins (DWARF 5 lists the primary
            // source file twice, as entries 0 and 1).
            out.entry(path).or_insert(FileName { name, dir });
        }
        out
    }

    /// The frames at `probe` (innermost first), with the object's symbol
    /// naming the outermost one, as Valgrind names frames.
    fn frames(&mut self, addr: u64, probe: u64, object: &Option<String>) -> Vec<FrameText> {
        let mut out = Vec::new();
        let ctx = self.units.context_for(probe);
        let unit = ctx.and_then(|c| c.find_dwarf_and_unit(probe).skip_all_loads());
        let names = unit.map(|u| {
            let key = u
                .header
                .offset()
                .as_debug_info_offset()
                .map_or(usize::MAX, |o| o.0);
            &*self
                .file_names
                .entry(key)
                .or_insert_with(|| Self::unit_file_names(u))
        });
        if let Some(Ok(mut frames)) = ctx.map(|c| c.find_frames(probe).skip_all_loads()) {
            while let Ok(Some(f)) = frames.next() {
                let mangled = f
                    .function
                    .as_ref()
                    .and_then(|n| n.raw_name().ok().map(|s| s.into_owned()));
                let function = f
                    .function
                    .as_ref()
                    .and_then(|n| n.demangle().ok().map(|s| s.into_owned()));
                let short = match (unit, f.dw_die_offset) {
                    (Some(u), Some(o)) => Self::inlined_name(u, o),
                    _ => None,
                };
                let (dir, file_line) =
                    match f.location.as_ref().and_then(|l| Some((l.file?, l.line?))) {
                        Some((path, line)) => {
                            let (raw, dir) = match names.as_ref().and_then(|m| m.get(path)) {
                                Some(f) => (f.name.clone(), Some(f.dir.clone())),
                                None => {
                                    let (d, n) = path.rsplit_once('/').unwrap_or(("", path));
                                    (n.to_string(), Some(d.to_string()))
                                }
                            };
                            (dir.filter(|d| !d.is_empty()), Some((raw, line)))
                        }
                        None => (None, None),
                    };
                out.push(FrameText {
                    addr,
                    function: short.clone().or(function),
                    mangled: short.or(mangled),
                    dir,
                    file_line,
                    object: object.clone(),
                });
            }
        }
        // The function the address is in (the outermost of its inlined
        // frames) is named by its symbol-table name, as Valgrind does; it
        // is also what suppressions' `fun:` lines match.
        let sym = self.symbol(probe).map(|(n, _)| n);
        if let (Some(last), Some(sym)) = (out.last_mut(), sym) {
            last.function = Some(demangle(sym));
            last.mangled = Some(sym.to_string());
        }
        if out.is_empty() {
            out.push(FrameText {
                addr,
                function: sym.map(demangle),
                mangled: sym.map(str::to_string),
                dir: None,
                file_line: None,
                object: object.clone(),
            });
        }
        out
    }
}

/// Frames by (object path, address less load bias, exact), shared by every
/// process of the run.
type SharedFrames = Mutex<HashMap<(PathBuf, u64, bool), Arc<Vec<FrameText>>>>;

fn shared_frames() -> &'static SharedFrames {
    static FRAMES: std::sync::OnceLock<SharedFrames> = std::sync::OnceLock::new();
    FRAMES.get_or_init(SharedFrames::default)
}

/// A run-wide number for each object path (see [`Symbolizer::signature`]).
fn object_number(path: &Path) -> u32 {
    static NUMBERS: std::sync::OnceLock<Mutex<HashMap<PathBuf, u32>>> = std::sync::OnceLock::new();
    let Ok(mut numbers) = NUMBERS.get_or_init(Mutex::default).lock() else {
        return u32::MAX;
    };
    let next = u32::try_from(numbers.len()).unwrap_or(u32::MAX);
    *numbers.entry(path.to_path_buf()).or_insert(next)
}

#[derive(Default)]
pub struct Symbolizer {
    modules: Vec<Module>,
    cache: HashMap<(u64, bool), Vec<FrameText>>,
    /// Time spent resolving addresses not in the cache (loading debug
    /// information included), for `-v`.
    pub lookup_time: std::time::Duration,
}

fn demangle(name: &str) -> String {
    addr2line::demangle_auto(name.into(), None).into_owned()
}

impl Symbolizer {
    /// How many distinct addresses were resolved.
    pub fn resolved(&self) -> usize {
        self.cache.len()
    }

    /// Adds or replaces a module (keyed by its start address).
    pub fn add_module(&mut self, m: Module) {
        self.modules.retain(|o| o.start != m.start);
        self.modules.push(m);
    }

    fn module_of(&self, addr: u64) -> Option<&Module> {
        self.modules
            .iter()
            .find(|m| addr >= m.start && addr < m.end)
    }

    /// The frames for `addr`, innermost inlined frame first. `exact` is
    /// true for frame 0 (a function entry or faulting pc); other frames
    /// are return addresses, looked up one byte back (the call).
    pub fn frames(&mut self, addr: u64, exact: bool) -> Vec<FrameText> {
        if let Some(f) = self.cache.get(&(addr, exact)) {
            return f.clone();
        }
        let started = std::time::Instant::now();
        let r = self.lookup(addr, exact);
        self.lookup_time += started.elapsed();
        self.cache.insert((addr, exact), r.clone());
        r
    }

    fn lookup(&mut self, addr: u64, exact: bool) -> Vec<FrameText> {
        // Valgrind shows a return address less one (inside the call).
        let shown = if exact { addr } else { addr.wrapping_sub(1) };
        let Some(m) = self.module_of(addr).cloned() else {
            return vec![FrameText {
                addr: shown,
                function: None,
                mangled: None,
                dir: None,
                file_line: None,
                object: None,
            }];
        };
        let is_runtime = m
            .path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("libmemdx_runtime"));
        // The runtime is shown by a short, stable name (it lives in a cache
        // directory whose path says nothing to the reader), as Valgrind
        // shows its replacements' file.
        let object = Some(if is_runtime {
            RUNTIME_OBJECT.to_string()
        } else {
            m.path.display().to_string()
        });
        let probe = addr.wrapping_sub(m.bias).wrapping_sub(u64::from(!exact));
        // Every process of a run (fork children, programs exec'd under
        // --trace-children=yes: bash runs dozens) maps the same objects:
        // an address is resolved once per object and offset for the run.
        let key = (m.path.clone(), probe, exact);
        if let Some(hit) = shared_frames()
            .lock()
            .ok()
            .and_then(|c| c.get(&key).cloned())
        {
            return hit
                .iter()
                .map(|f| FrameText {
                    addr: shown,
                    ..f.clone()
                })
                .collect();
        }
        // And across runs, on disk (not the runtime's frames: its symbol
        // table alone names them, and it is rebuilt often).
        let kept = if is_runtime {
            None
        } else {
            disk_cache::lookup(&m.path, probe, exact)
        };
        let frames = match kept {
            Some(kept) => kept,
            None => {
                let frames = Arc::new(self.resolve(&m, shown, probe, object, is_runtime));
                if !is_runtime {
                    disk_cache::record(&m.path, probe, exact, &frames);
                }
                frames
            }
        };
        if let Ok(mut c) = shared_frames().lock() {
            c.insert(key, frames.clone());
        }
        frames
            .iter()
            .map(|f| FrameText {
                addr: shown,
                ..f.clone()
            })
            .collect()
    }

    /// Resolves `probe` (an address of module `m`, less its load bias) to
    /// its frames, shown at `shown`.
    fn resolve(
        &self,
        m: &Module,
        shown: u64,
        probe: u64,
        object: Option<String>,
        is_runtime: bool,
    ) -> Vec<FrameText> {
        if is_runtime {
            // The interposed allocator entry point: shown like Valgrind's
            // replacement functions, by symbol name and object.
            let mangled =
                symbols_only(&m.path).and_then(|s| s.get(probe).map(|s| s.name().to_string()));
            return vec![FrameText {
                addr: shown,
                function: mangled.as_deref().map(demangle),
                mangled,
                dir: None,
                file_line: None,
                object,
            }];
        }
        let Some(dbg) = debug_object(&m.path) else {
            return vec![FrameText {
                addr: shown,
                function: None,
                mangled: None,
                dir: None,
                file_line: None,
                object,
            }];
        };
        let Ok(mut dbg) = dbg.lock() else {
            return Vec::new();
        };
        dbg.frames(shown, probe, &object)
    }

    /// What identifies a stack's frames across the processes of a run:
    /// each address as (object, address less load bias, exact), the object
    /// by a run-wide number (`u32::MAX`: in no known object, with the
    /// address as it is). Two stacks with the same signature have the same
    /// frames.
    pub fn signature(&self, addrs: &[u64]) -> Vec<FrameKey> {
        addrs
            .iter()
            .enumerate()
            .map(|(i, &a)| match self.module_of(a) {
                Some(m) => FrameKey {
                    object: object_number(&m.path),
                    offset: a.wrapping_sub(m.bias),
                    exact: i == 0,
                },
                None => FrameKey {
                    object: u32::MAX,
                    offset: a,
                    exact: i == 0,
                },
            })
            .collect()
    }

    /// The data symbol containing `addr` and the offset into it, for
    /// "is N bytes inside data symbol" descriptions.
    pub fn data_symbol(&mut self, addr: u64) -> Option<(String, u64)> {
        let m = self.module_of(addr)?.clone();
        let probe = addr.wrapping_sub(m.bias);
        let dbg = debug_object(&m.path)?;
        let dbg = dbg.lock().ok()?;
        let (name, start) = dbg.symbol(probe)?;
        Some((demangle(name), probe - start))
    }
    /// Valgrind's "created by" words for the frame of return address
    /// `ra` (see `memdx_analyzer::Symbols::frame_creator`): the symbol's
    /// name, the file of the call (its innermost inlined frame's) and the
    /// line of the symbol's first instruction; `FN (FILE:)` when that
    /// line is unknown, as Valgrind prints it.
    pub fn frame_creator(&mut self, ra: u64) -> Option<String> {
        let m = self.module_of(ra)?.clone();
        let probe = ra.wrapping_sub(m.bias).wrapping_sub(1);
        let (name, start) = {
            let dbg = debug_object(&m.path)?;
            let dbg = dbg.lock().ok()?;
            let (name, start) = dbg.symbol(probe)?;
            (demangle(name), start)
        };
        let file = self
            .frames(ra, false)
            .first()
            .and_then(|f| f.file_line.as_ref().map(|(file, _)| file.clone()));
        let line = self
            .frames(start.wrapping_add(m.bias), true)
            .first()
            .and_then(|f| f.file_line.as_ref().map(|(_, line)| *line));
        Some(match (file, line) {
            (Some(file), Some(line)) => format!("{name} ({file}:{line})"),
            (Some(file), None) => format!("{name} ({file}:)"),
            (None, _) => format!("{name} (???:)"),
        })
    }

    /// Valgrind's stack rendering: frame 0 exact, the rest return
    /// addresses, nothing below `main`.
    pub fn stack(&mut self, frames: &[u64]) -> Vec<FrameText> {
        let mut out = Vec::new();
        for (i, &a) in frames.iter().enumerate() {
            let mut fs = self.frames(a, i == 0);
            let is_main = fs.iter().any(|f| f.function.as_deref() == Some("main"));
            // When main itself has no name (a stripped program), Valgrind
            // stops at the C library's caller of main, "(below main)".
            let below = fs.iter().position(|f| {
                f.mangled.as_deref().is_some_and(|n| {
                    let n = n.split('@').next().unwrap_or(n);
                    matches!(
                        n,
                        "__libc_start_main" | "__libc_start_call_main" | "generic_start_main"
                    )
                })
            });
            if let Some(b) = below {
                if let Some(f) = fs.get_mut(b) {
                    f.function = Some("(below main)".to_string());
                }
                fs.truncate(b + 1);
            }
            out.extend(fs);
            if is_main || below.is_some() {
                break;
            }
        }
        out
    }
}
