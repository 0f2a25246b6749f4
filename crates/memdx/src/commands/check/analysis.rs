//! The analyzer (`memdx-analyzer`) wired to the live system: its settings
//! from the command line, its world from `/proc`, `getrlimit` and the
//! session's clock, its symbols from [`Symbolizer`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use memdx_analyzer::{
    FrameKey, FrameText, LeakVerdicts, Module, ProcessReport, Settings, Symbols, World,
};

use super::options::CheckOptions;
use super::symbolize::Symbolizer;

/// The live system as the analyzer sees it.
struct HostWorld;

impl World for HostWorld {
    /// From `/proc` (memdx itself once the program has exited and cannot
    /// be asked).
    fn parent_pid(&self, pid: u32) -> u32 {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                let (_, rest) = stat.rsplit_once(')')?;
                rest.split_whitespace().nth(1)?.parse().ok()
            })
            .unwrap_or_else(std::process::id)
    }

    fn canonical_path(&self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
    }

    /// The limit the program ran with (inherited from memdx).
    fn main_stack_size(&self) -> u64 {
        // SAFETY: getrlimit into a local.
        unsafe {
            let mut rl: libc::rlimit = std::mem::zeroed();
            if libc::getrlimit(libc::RLIMIT_STACK, &mut rl) == 0
                && rl.rlim_cur != libc::RLIM_INFINITY
            {
                rl.rlim_cur
            } else {
                8 << 20
            }
        }
    }

    fn elapsed_ms(&self) -> u64 {
        super::session::elapsed_ms()
    }

    fn checker_exe(&self) -> String {
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "memdx".into())
    }
}

impl Symbols for Symbolizer {
    fn add_module(&mut self, module: Module) {
        Symbolizer::add_module(self, module);
    }
    fn stack(&mut self, addrs: &[u64]) -> Vec<FrameText> {
        Symbolizer::stack(self, addrs)
    }
    fn signature(&self, addrs: &[u64]) -> Vec<FrameKey> {
        Symbolizer::signature(self, addrs)
    }
    fn data_symbol(&mut self, addr: u64) -> Option<(String, u64)> {
        Symbolizer::data_symbol(self, addr)
    }
    fn frame_creator(&mut self, ra: u64) -> Option<String> {
        Symbolizer::frame_creator(self, ra)
    }
    fn resolved(&self) -> usize {
        Symbolizer::resolved(self)
    }
    fn lookup_time(&self) -> Duration {
        self.lookup_time
    }
}

/// The analyzer's settings for a report of a run with `opts`.
fn settings(opts: &CheckOptions) -> Settings {
    let mut s = Settings::new(memdx_report::CommandLine {
        exe: opts.program.to_string_lossy().into_owned(),
        args: opts
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
    });
    s.leak_check = opts.leak_check;
    s.show_leak_kinds = opts.show_leak_kinds;
    s.errors_for_leak_kinds = opts.errors_for_leak_kinds;
    s.exit_on_first_error = opts.exit_on_first_error;
    s.show_error_list = opts.show_error_list;
    s.error_markers = opts.error_markers.clone();
    s.quiet = opts.quiet;
    s.verbose = opts.verbose;
    s.track_origins = opts.track_origins;
    s.xml = opts.xml;
    s.xml_user_comment = opts.xml_user_comment.clone();
    s.gen_suppressions = opts.gen_suppressions;
    s.raw_options = opts.raw_options.clone();
    s.suppressions = opts.suppressions.clone();
    s.not_checked = super::limits::NOT_CHECKED.to_string();
    // The run's processes (a shell's subshells) share leak suppression
    // verdicts: this process serves one run.
    static VERDICTS: std::sync::OnceLock<LeakVerdicts> = std::sync::OnceLock::new();
    s.leak_verdicts = VERDICTS.get_or_init(LeakVerdicts::default).clone();
    s
}

/// A new report of process `pid`, on the live system.
pub fn new_report(pid: u32, opts: &CheckOptions) -> ProcessReport {
    ProcessReport::new(
        pid,
        settings(opts),
        Arc::new(HostWorld),
        Box::<Symbolizer>::default(),
    )
}
