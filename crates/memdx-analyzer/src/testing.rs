//! A fixed world and a symbolizer that knows no object, for tests on
//! hand-written event sequences.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::{FrameKey, FrameText, Module, ProcessReport, Settings, Symbols, World};

/// The line memdx ends a text report with, as the CLI passes it.
pub const NOT_CHECKED: &str = "Not checked by memdx: uses of uninitialised values other than heap bytes passed to write/send calls, reads outside heap blocks that hit no guard page, stack and global overruns, system call arguments other than read/write/send/recv buffers (see 'memdx check --help')";

/// Every process's parent is `parent`; paths as they are, an 8 MiB
/// stack, a clock at 0 ms.
pub struct FixedWorld {
    /// The parent pid of every process.
    pub parent: u32,
}

impl World for FixedWorld {
    fn parent_pid(&self, _pid: u32) -> u32 {
        self.parent
    }
    fn canonical_path(&self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }
    fn main_stack_size(&self) -> u64 {
        8 << 20
    }
    fn elapsed_ms(&self) -> u64 {
        0
    }
    fn checker_exe(&self) -> String {
        "/usr/bin/memdx".into()
    }
}

/// Every address is `???` in no object; `names` gives some a function.
#[derive(Default)]
pub struct FakeSymbols {
    /// Function names by address.
    pub names: Vec<(u64, &'static str)>,
}

impl Symbols for FakeSymbols {
    fn add_module(&mut self, _module: Module) {}
    fn stack(&mut self, addrs: &[u64]) -> Vec<FrameText> {
        addrs
            .iter()
            .map(|&a| {
                let mut f = FrameText::unknown(a);
                if let Some((_, n)) = self.names.iter().find(|(x, _)| *x == a) {
                    f.function = Some((*n).to_string());
                }
                f
            })
            .collect()
    }
    fn signature(&self, addrs: &[u64]) -> Vec<FrameKey> {
        addrs
            .iter()
            .enumerate()
            .map(|(i, &a)| FrameKey {
                object: u32::MAX,
                offset: a,
                exact: i == 0,
            })
            .collect()
    }
    fn data_symbol(&mut self, _addr: u64) -> Option<(String, u64)> {
        None
    }
    fn resolved(&self) -> usize {
        0
    }
    fn lookup_time(&self) -> Duration {
        Duration::ZERO
    }
}

/// Valgrind's defaults for `./p`, with memdx's closing line.
pub fn settings() -> Settings {
    let mut s = Settings::new(memdx_report::CommandLine {
        exe: "./p".into(),
        args: Vec::new(),
    });
    s.not_checked = NOT_CHECKED.into();
    s
}

/// A report of `pid` (parent 1) in the fixed world, without symbols.
pub fn report(pid: u32, settings: Settings) -> ProcessReport {
    report_with(pid, 1, settings, FakeSymbols::default())
}

/// A report of `pid`, child of `parent`, with `symbols`.
pub fn report_with(
    pid: u32,
    parent: u32,
    settings: Settings,
    symbols: FakeSymbols,
) -> ProcessReport {
    ProcessReport::new(
        pid,
        settings,
        Arc::new(FixedWorld { parent }),
        Box::new(symbols),
    )
}
