//! The choices of `memdx check`'s command line that decide what a report
//! says (the CLI parses them; the analyzer only reads them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use memdx_events::LeakState;
use memdx_report as model;

use crate::world::FrameKey;

/// `--leak-check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakCheck {
    /// No leak scan.
    No,
    /// LEAK SUMMARY only (Valgrind's default).
    Summary,
    /// Loss records too.
    Full,
}

/// A set of leak kinds (`--show-leak-kinds=`, `--errors-for-leak-kinds=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeakKinds {
    /// Definitely lost.
    pub definite: bool,
    /// Indirectly lost.
    pub indirect: bool,
    /// Possibly lost.
    pub possible: bool,
    /// Still reachable.
    pub reachable: bool,
}

impl LeakKinds {
    /// Every kind (`all`).
    pub const ALL: LeakKinds = LeakKinds {
        definite: true,
        indirect: true,
        possible: true,
        reachable: true,
    };
    /// Valgrind's default, `definite,possible`.
    pub const DEFAULT: LeakKinds = LeakKinds {
        definite: true,
        indirect: false,
        possible: true,
        reachable: false,
    };

    /// Whether the set holds `state`.
    pub fn has(&self, state: LeakState) -> bool {
        match state {
            LeakState::DefinitelyLost => self.definite,
            LeakState::IndirectlyLost => self.indirect,
            LeakState::PossiblyLost => self.possible,
            LeakState::StillReachable => self.reachable,
        }
    }
}

/// Which suppressions (indices into [`Settings::suppressions`]) match the
/// loss records of a leak state and stack signature, remembered for the
/// run (a shell's subshells exit with the same hundreds of loss records).
#[derive(Debug, Clone, Default)]
pub struct LeakVerdicts(Arc<Mutex<LeakVerdictMap>>);

type LeakVerdictMap = HashMap<(LeakState, Vec<FrameKey>), Arc<[usize]>>;

impl LeakVerdicts {
    pub(crate) fn get(&self, key: &(LeakState, Vec<FrameKey>)) -> Option<Arc<[usize]>> {
        self.0.lock().ok().and_then(|v| v.get(key).cloned())
    }

    pub(crate) fn insert(&self, key: (LeakState, Vec<FrameKey>), matching: Arc<[usize]>) {
        if let Ok(mut v) = self.0.lock() {
            v.insert(key, matching);
        }
    }
}

/// What a process's report depends on besides its events.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--leak-check`.
    pub leak_check: LeakCheck,
    /// `--show-leak-kinds`.
    pub show_leak_kinds: LeakKinds,
    /// `--errors-for-leak-kinds`.
    pub errors_for_leak_kinds: LeakKinds,
    /// `--exit-on-first-error=yes`.
    pub exit_on_first_error: bool,
    /// `-s` / `--show-error-list=yes`.
    pub show_error_list: bool,
    /// `--error-markers=BEGIN,END`.
    pub error_markers: memdx_report::text::ErrorMarkers,
    /// `-q`.
    pub quiet: bool,
    /// `-v`.
    pub verbose: bool,
    /// `--track-origins=yes`.
    pub track_origins: bool,
    /// `--xml=yes`: the text report is not shown (Valgrind's user
    /// messages still are).
    pub xml: bool,
    /// `--xml-user-comment`.
    pub xml_user_comment: Option<String>,
    /// `--gen-suppressions=yes|all`.
    pub gen_suppressions: bool,
    /// The checker's options as given (the XML's `<vargv>`).
    pub raw_options: Vec<String>,
    /// The suppressions in force, in the order they were loaded.
    pub suppressions: Arc<Vec<memdx_supp::Suppression>>,
    /// The program and its arguments as started.
    pub program: model::CommandLine,
    /// memdx's own last line of a text report (what it does not check).
    pub not_checked: String,
    /// Leak suppression verdicts shared by every process of the run.
    pub leak_verdicts: LeakVerdicts,
}

impl Settings {
    /// Valgrind 3.19's defaults (`--leak-check=summary`,
    /// `--show-leak-kinds=definite,possible`, no suppressions) for
    /// `program`.
    pub fn new(program: model::CommandLine) -> Settings {
        let kinds = LeakKinds::DEFAULT;
        Settings {
            leak_check: LeakCheck::Summary,
            show_leak_kinds: kinds,
            errors_for_leak_kinds: kinds,
            exit_on_first_error: false,
            show_error_list: false,
            error_markers: memdx_report::text::ErrorMarkers::default(),
            quiet: false,
            verbose: false,
            track_origins: false,
            xml: false,
            xml_user_comment: None,
            gen_suppressions: false,
            raw_options: Vec::new(),
            suppressions: Arc::default(),
            program,
            not_checked: String::new(),
            leak_verdicts: LeakVerdicts::default(),
        }
    }
}
