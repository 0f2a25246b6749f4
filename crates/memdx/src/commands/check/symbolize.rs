//! Addresses to Valgrind-style frame text, once per unique address: DWARF
//! line tables and inlined frames through `addr2line` (which also follows
//! debug links), the symbol table when there is no DWARF, names demangled
//! (C++ and Rust).

use std::collections::HashMap;
use std::path::PathBuf;

/// One loaded object, from the runtime's module records.
#[derive(Debug, Clone)]
pub struct Module {
    pub bias: u64,
    pub start: u64,
    pub end: u64,
    pub path: PathBuf,
}

/// One printed frame (an address may expand to several inlined frames).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameText {
    pub addr: u64,
    pub function: Option<String>,
    /// The linkage (mangled) name, as suppressions match it.
    pub mangled: Option<String>,
    /// The source file's directory, as the debug info names it.
    pub dir: Option<String>,
    pub file_line: Option<(String, u32)>,
    pub object: Option<String>,
}

impl FrameText {
    /// Valgrind's rendering after `at `/`by `.
    pub fn render(&self) -> String {
        let func = self.function.as_deref().unwrap_or("???");
        match (&self.file_line, &self.object) {
            (Some((file, line)), _) => format!("0x{:X}: {func} ({file}:{line})", self.addr),
            (None, Some(obj)) => format!("0x{:X}: {func} (in {obj})", self.addr),
            (None, None) => format!("0x{:X}: {func}", self.addr),
        }
    }
}

/// The separate debug file of an object that has none of its own: by
/// build-id (`/usr/lib/debug/.build-id/ab/cdef….debug`), then by path
/// (`/usr/lib/debug/usr/lib/…`), as gdb and Valgrind look for them.
fn separate_debug_file(path: &std::path::Path) -> Option<PathBuf> {
    use object::{Object, ObjectSection};
    let data = std::fs::read(path).ok()?;
    let obj = object::File::parse(&*data).ok()?;
    if obj
        .section_by_name(".debug_info")
        .is_some_and(|s| s.size() > 0)
    {
        return None;
    }
    let root = std::path::Path::new("/usr/lib/debug");
    if let Ok(Some(id)) = obj.build_id() {
        if id.len() > 1 {
            let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
            let p = root
                .join(".build-id")
                .join(&hex[..2])
                .join(format!("{}.debug", &hex[2..]));
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let by_path = root.join(path.strip_prefix("/").ok()?);
    by_path.is_file().then_some(by_path)
}

#[derive(Default)]
pub struct Symbolizer {
    modules: Vec<Module>,
    loaders: HashMap<PathBuf, Option<addr2line::Loader>>,
    cache: HashMap<(u64, bool), Vec<FrameText>>,
}

fn demangle(name: &str) -> String {
    addr2line::demangle_auto(name.into(), None).into_owned()
}

impl Symbolizer {
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

    fn loader(&mut self, path: &PathBuf) -> Option<&addr2line::Loader> {
        self.loaders
            .entry(path.clone())
            .or_insert_with(|| {
                let file = separate_debug_file(path).unwrap_or_else(|| path.clone());
                addr2line::Loader::new(&file)
                    .ok()
                    .or_else(|| addr2line::Loader::new(path).ok())
            })
            .as_ref()
    }

    /// The frames for `addr`, innermost inlined frame first. `exact` is
    /// true for frame 0 (a function entry or faulting pc); other frames
    /// are return addresses, looked up one byte back (the call).
    pub fn frames(&mut self, addr: u64, exact: bool) -> Vec<FrameText> {
        if let Some(f) = self.cache.get(&(addr, exact)) {
            return f.clone();
        }
        let r = self.lookup(addr, exact);
        self.cache.insert((addr, exact), r.clone());
        r
    }

    fn lookup(&mut self, addr: u64, exact: bool) -> Vec<FrameText> {
        let Some(m) = self.module_of(addr).cloned() else {
            return vec![FrameText {
                addr,
                function: None,
                mangled: None,
                dir: None,
                file_line: None,
                object: None,
            }];
        };
        let object = Some(m.path.display().to_string());
        let probe = addr.wrapping_sub(m.bias).wrapping_sub(u64::from(!exact));
        let mut out = Vec::new();
        let is_runtime = m
            .path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("libmemdx_runtime"));
        if is_runtime {
            // The interposed allocator entry point: shown like Valgrind's
            // replacement functions, by symbol name and object.
            let mangled = self
                .loader(&m.path)
                .and_then(|l| l.find_symbol(probe).map(str::to_owned));
            return vec![FrameText {
                addr,
                function: mangled.as_deref().map(demangle),
                mangled,
                dir: None,
                file_line: None,
                object,
            }];
        }
        if let Some(loader) = self.loader(&m.path) {
            if let Ok(mut frames) = loader.find_frames(probe) {
                while let Ok(Some(f)) = frames.next() {
                    let function = f
                        .function
                        .as_ref()
                        .and_then(|n| n.demangle().ok().map(|s| s.into_owned()));
                    let mangled = f
                        .function
                        .as_ref()
                        .and_then(|n| n.raw_name().ok().map(|s| s.into_owned()));
                    let file_line = f.location.as_ref().and_then(|l| {
                        let file = l.file?;
                        let base = file.rsplit('/').next().unwrap_or(file).to_string();
                        Some((base, l.line?))
                    });
                    let dir = f
                        .location
                        .as_ref()
                        .and_then(|l| l.file)
                        .and_then(|file| file.rsplit_once('/'))
                        .map(|(d, _)| d.to_string())
                        .filter(|d| !d.is_empty());
                    out.push(FrameText {
                        addr,
                        function,
                        mangled,
                        dir,
                        file_line,
                        object: object.clone(),
                    });
                }
            }
            // As Valgrind names frames: the function an address is in
            // (the outermost of its inlined frames) by its symbol-table
            // name, which is also what suppressions' `fun:` lines match;
            // inlined calls by their debug-info names.
            if let (Some(last), Some(sym)) = (out.last_mut(), loader.find_symbol(probe)) {
                if last.function.is_some() {
                    last.function = Some(demangle(sym));
                    last.mangled = Some(sym.to_string());
                }
            }
            if out.iter().all(|f| f.function.is_none()) {
                let raw = loader.find_symbol(probe).map(str::to_owned);
                let sym = raw.as_deref().map(demangle);
                match out.first_mut() {
                    Some(first) => {
                        first.function = sym;
                        first.mangled = raw;
                    }
                    None => out.push(FrameText {
                        addr,
                        function: sym,
                        mangled: raw,
                        dir: None,
                        file_line: None,
                        object: object.clone(),
                    }),
                }
            }
        }
        if out.is_empty() {
            out.push(FrameText {
                addr,
                function: None,
                mangled: None,
                dir: None,
                file_line: None,
                object,
            });
        }
        out
    }

    /// The data symbol containing `addr` and the offset into it, for
    /// "is N bytes inside data symbol" descriptions.
    pub fn data_symbol(&mut self, addr: u64) -> Option<(String, u64)> {
        let m = self.module_of(addr)?.clone();
        let probe = addr.wrapping_sub(m.bias);
        let loader = self.loader(&m.path)?;
        let sym = loader.find_symbol_info(probe)?;
        Some((demangle(sym.name()), probe - sym.address()))
    }

    /// Valgrind's stack rendering: frame 0 exact, the rest return
    /// addresses, nothing below `main`.
    pub fn stack(&mut self, frames: &[u64]) -> Vec<FrameText> {
        let mut out = Vec::new();
        for (i, &a) in frames.iter().enumerate() {
            let fs = self.frames(a, i == 0);
            let is_main = fs.iter().any(|f| f.function.as_deref() == Some("main"));
            out.extend(fs);
            if is_main {
                break;
            }
        }
        out
    }
}
