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
            .or_insert_with(|| addr2line::Loader::new(path).ok())
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
            let function = self
                .loader(&m.path)
                .and_then(|l| l.find_symbol(probe).map(demangle));
            return vec![FrameText {
                addr,
                function,
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
                    let file_line = f.location.as_ref().and_then(|l| {
                        let file = l.file?;
                        let base = file.rsplit('/').next().unwrap_or(file).to_string();
                        Some((base, l.line?))
                    });
                    out.push(FrameText {
                        addr,
                        function,
                        file_line,
                        object: object.clone(),
                    });
                }
            }
            if out.iter().all(|f| f.function.is_none()) {
                let sym = loader.find_symbol(probe).map(demangle);
                match out.first_mut() {
                    Some(first) => first.function = sym,
                    None => out.push(FrameText {
                        addr,
                        function: sym,
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
