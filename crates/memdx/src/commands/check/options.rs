//! Valgrind's command-line options for memcheck, parsed by hand: Valgrind's
//! grammar (`--opt=value`, options before the program, `--` optional) is not
//! clap's, and habits copied from Valgrind command lines must keep working.

use std::ffi::OsString;

pub use memdx_analyzer::{LeakCheck, LeakKinds};

/// A set of leak kinds as `--show-leak-kinds=` and
/// `--errors-for-leak-kinds=` give it (`all`, `none`, or a list).
fn leak_kinds(v: &str) -> Option<LeakKinds> {
    let mut k = LeakKinds {
        definite: false,
        indirect: false,
        possible: false,
        reachable: false,
    };
    match v {
        "all" => return Some(LeakKinds::ALL),
        "none" => return Some(k),
        _ => {}
    }
    for part in v.split(',') {
        match part {
            "definite" => k.definite = true,
            "indirect" => k.indirect = true,
            "possible" => k.possible = true,
            "reachable" => k.reachable = true,
            _ => return None,
        }
    }
    Some(k)
}

/// Everything `memdx check` takes from its command line.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub leak_check: LeakCheck,
    pub show_leak_kinds: LeakKinds,
    pub errors_for_leak_kinds: LeakKinds,
    pub error_exitcode: Option<i32>,
    pub num_callers: usize,
    pub log_file: Option<String>,
    /// `--log-fd=N`: the text report goes to descriptor N (default 2).
    pub log_fd: Option<i32>,
    /// `--exit-on-first-error=yes`: stop the process at its first shown
    /// error with `--error-exitcode`'s status.
    pub exit_on_first_error: bool,
    /// `-s` / `--show-error-list=yes`: list the error contexts and the
    /// used suppressions after the ERROR SUMMARY.
    pub show_error_list: bool,
    /// `--error-markers=BEGIN,END`: lines around each error in the text.
    pub error_markers: memdx_report::text::ErrorMarkers,
    pub quiet: bool,
    /// -v: also print the leak scan's size and duration.
    pub verbose: bool,
    pub trace_children: bool,
    /// `--child-silent-after-fork=yes`: a fork child's report is not
    /// written (a program it execs reports as usual).
    pub child_silent_after_fork: bool,
    pub freelist_vol: Option<u64>,
    /// `--freelist-big-blocks=BYTES`: freed blocks of at least this size
    /// that the quarantine does not hold are held (their pages closed)
    /// until the next allocation (Valgrind's default 1,000,000).
    pub freelist_big_blocks: Option<u64>,
    /// `--partial-loads-ok=yes|no` (Valgrind 3.19's default yes).
    pub partial_loads_ok: bool,
    /// `--undef-value-errors=yes|no` (default yes): uninitialised heap
    /// bytes passed to system calls are reported.
    pub undef_value_errors: bool,
    /// `--track-origins=yes|no`: such errors name the allocation the bytes
    /// come from.
    pub track_origins: bool,
    /// `--uninit-effects=yes|no` (memdx; default no): run the program
    /// several times with different fills of fresh heap blocks and report
    /// the allocation sites whose fill changes its behaviour.
    pub uninit_effects: bool,
    /// `--uninit-effects-runs=N` (default 32): the most runs that mode
    /// makes.
    pub uninit_effects_runs: usize,
    /// `--uninit-effects-timeout=SECONDS`: how long one run of that mode
    /// may take before it is killed (0: no limit). Default: no limit for
    /// the two first runs, then ten times the slower of them, at least
    /// 10 s.
    pub uninit_effects_timeout: Option<u64>,
    /// `--redzone-size=BYTES`: canary bytes after each block (Valgrind's
    /// option; default 16, at most 4096).
    pub redzone_size: Option<u64>,
    /// `--guard-pages=N|all|0`: size of the guard-page pool (memdx).
    pub guard_pages: Option<String>,
    /// `--watch-blocks=yes|no`: watch each call site's first two guarded
    /// blocks byte by byte (memdx; default yes).
    pub watch_blocks: bool,
    /// `--poison-size=BYTES`: bytes of each freed block filled and checked
    /// while it is quarantined (memdx; default 32).
    pub poison_size: Option<u64>,
    /// `--xml=yes`.
    pub xml: bool,
    /// `--xml-file=FILE` (`%p` = pid).
    pub xml_file: Option<String>,
    /// `--xml-fd=N`.
    pub xml_fd: Option<i32>,
    /// `--xml-user-comment=STR`: copied into the XML as it is.
    pub xml_user_comment: Option<String>,
    /// `--json=FILE` (`%p` = pid): memdx's JSON report.
    pub json_file: Option<String>,
    /// `--suppressions=FILE`, in order.
    pub suppression_files: Vec<String>,
    /// `--default-suppressions=yes|no`: memdx's built-in file.
    pub default_suppressions: bool,
    /// `--gen-suppressions=yes|all` (memdx prints for both).
    pub gen_suppressions: bool,
    /// The options as given (before the program), for the XML's `<vargv>`.
    pub raw_options: Vec<String>,
    /// The suppressions in force (read by `check::run` from the files and
    /// the built-in defaults).
    pub suppressions: std::sync::Arc<Vec<memdx_supp::Suppression>>,
    /// One line per accepted-but-not-honoured option.
    pub warnings: Vec<String>,
    pub program: OsString,
    pub args: Vec<OsString>,
}

/// Why the command line was refused. The text is the whole message.
#[derive(Debug, PartialEq, Eq)]
pub struct OptionError(pub String);

/// What memdx checks of uninitialised values (`--undef-value-errors=yes`,
/// `--track-origins=yes` warn with it).
const UNINIT_PART: &str = "uninitialised heap bytes are reported, with their origin, only \
where they reach write, pwrite, writev, send or sendto (stdio's writes included); other \
uses of uninitialised values, in conditions, addresses or other system calls, and \
uninitialised stack variables are not checked";

/// Valgrind options memdx accepts but does not honour yet, with what the
/// user loses. Anything matching these prints one warning and the run goes on.
const NOT_IMPLEMENTED: &[(&str, &str)] = &[
    (
        "--expensive-definedness-checks",
        "uses of uninitialised values are not checked",
    ),
    ("--track-fds", "file descriptors are not tracked"),
    (
        "--leak-resolution",
        "loss records are always merged at full stack resolution",
    ),
    (
        "--leak-check-heuristics",
        "heuristics stdstring, length64 and newarray are always on",
    ),
    ("--malloc-fill", "new blocks are not filled"),
    ("--free-fill", "freed blocks are not filled"),
    (
        "--keep-stacktraces",
        "alloc and free stacks are always kept",
    ),
    (
        "--show-mismatched-frees",
        "mismatched frees are always shown",
    ),
    ("--show-reachable", "use --show-leak-kinds"),
    ("--show-possibly-lost", "use --show-leak-kinds"),
    ("--time-stamp", "lines are not time-stamped"),
    ("--demangle", "names are always demangled"),
    ("--read-var-info", "variable info is not read"),
    ("--read-inline-info", "inlined frames are always shown"),
    ("--vgdb", "there is no gdb server"),
    ("--vgdb-error", "there is no gdb server"),
    ("--max-stackframe", "stack accesses are not checked"),
    ("--main-stacksize", "the program's own stack size is used"),
    ("--fair-sched", "threads are scheduled natively"),
    ("--smc-check", "code is not translated"),
    ("--error-limit", "errors are not limited"),
    ("--alignment", "glibc's alignment is used"),
    ("--ignore-ranges", "memory accesses are not checked"),
    ("--trace-malloc", "allocation calls are not traced"),
    ("--sim-hints", "there is no simulator"),
    (
        "--soname-synonyms",
        "every loaded object's allocator calls are intercepted by symbol",
    ),
    ("--run-libc-freeres", "libc's freeres always runs"),
    ("--run-cxx-freeres", "libstdc++'s freeres always runs"),
    ("--show-below-main", "frames below main are not shown"),
    (
        "--fullpath-after",
        "file names are shown without directories",
    ),
    (
        "--extra-debuginfo-path",
        "debug info is found next to objects and in /usr/lib/debug",
    ),
    (
        "--allow-mismatched-debuginfo",
        "debug info is matched as found",
    ),
    (
        "--merge-recursive-frames",
        "recursive frames are not merged",
    ),
    (
        "--trace-children-skip",
        "--trace-children applies to every exec",
    ),
    ("--track-destroy", "not a memcheck feature"),
];

fn need<'a>(name: &str, v: Option<&'a str>) -> Result<&'a str, OptionError> {
    v.ok_or_else(|| OptionError(format!("Option {name} needs a value: {name}=...")))
}

fn yes_no(name: &str, v: &str) -> Result<bool, OptionError> {
    match v {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(OptionError(format!(
            "Invalid argument '{v}' for option {name}: expected yes or no"
        ))),
    }
}

fn number<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, OptionError> {
    v.parse()
        .map_err(|_| OptionError(format!("Invalid number '{v}' for option {name}")))
}

/// Parses `[valgrind options] [--] PROGRAM [ARGS...]`.
pub fn parse(raw: &[OsString]) -> Result<CheckOptions, OptionError> {
    let mut o = CheckOptions {
        leak_check: LeakCheck::Summary,
        show_leak_kinds: LeakKinds::DEFAULT,
        errors_for_leak_kinds: LeakKinds::DEFAULT,
        error_exitcode: None,
        num_callers: 12,
        log_file: None,
        log_fd: None,
        exit_on_first_error: false,
        show_error_list: false,
        error_markers: memdx_report::text::ErrorMarkers::default(),
        quiet: false,
        verbose: false,
        trace_children: false,
        child_silent_after_fork: false,
        freelist_vol: None,
        freelist_big_blocks: None,
        partial_loads_ok: true,
        undef_value_errors: true,
        track_origins: false,
        uninit_effects: false,
        uninit_effects_runs: 32,
        uninit_effects_timeout: None,
        redzone_size: None,
        guard_pages: None,
        watch_blocks: true,
        poison_size: None,
        xml: false,
        xml_file: None,
        xml_fd: None,
        xml_user_comment: None,
        json_file: None,
        suppression_files: Vec::new(),
        default_suppressions: true,
        gen_suppressions: false,
        raw_options: Vec::new(),
        suppressions: std::sync::Arc::default(),
        warnings: Vec::new(),
        program: OsString::new(),
        args: Vec::new(),
    };
    let mut i = 0;
    while let Some(arg) = raw.get(i) {
        let Some(s) = arg.to_str() else { break };
        if s == "--" {
            i += 1;
            break;
        }
        if !s.starts_with('-') || s == "-" {
            break;
        }
        i += 1;
        o.raw_options.push(s.to_string());
        let (name, value) = match s.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (s, None),
        };
        match name {
            "--tool" => {
                let v = need(name, value)?;
                if v != "memcheck" {
                    return Err(OptionError(format!(
                        "Only --tool=memcheck is available, not --tool={v}"
                    )));
                }
            }
            "--leak-check" => {
                o.leak_check = match need(name, value)? {
                    "no" => LeakCheck::No,
                    "summary" => LeakCheck::Summary,
                    "full" | "yes" => LeakCheck::Full,
                    v => {
                        return Err(OptionError(format!(
                    "Invalid argument '{v}' for option --leak-check: expected no, summary or full"
                )))
                    }
                }
            }
            "--show-leak-kinds" | "--errors-for-leak-kinds" => {
                let v = need(name, value)?;
                let k = leak_kinds(v).ok_or_else(|| {
                    OptionError(format!(
                        "Invalid argument '{v}' for option {name}: expected a list of definite,indirect,possible,reachable or all or none"
                    ))
                })?;
                if name == "--show-leak-kinds" {
                    o.show_leak_kinds = k;
                } else {
                    o.errors_for_leak_kinds = k;
                }
            }
            "--error-exitcode" => o.error_exitcode = Some(number(name, need(name, value)?)?),
            "--num-callers" => {
                let n: usize = number(name, need(name, value)?)?;
                if !(1..=500).contains(&n) {
                    return Err(OptionError(format!(
                        "Invalid number '{n}' for option --num-callers: expected 1 to 500"
                    )));
                }
                o.num_callers = n;
            }
            "--log-file" => {
                // As in Valgrind, the last of --log-file/--log-fd wins.
                o.log_file = Some(need(name, value)?.to_string());
                o.log_fd = None;
            }
            "--log-fd" => {
                let fd: i32 = number(name, need(name, value)?)?;
                if fd < 0 {
                    return Err(OptionError(format!(
                        "Invalid number '{fd}' for option --log-fd"
                    )));
                }
                o.log_fd = Some(fd);
                o.log_file = None;
            }
            "--xml-socket" | "--log-socket" => {
                return Err(OptionError(format!(
                    "{name} is not supported: use {} instead",
                    if name == "--xml-socket" {
                        "--xml-file=FILE or --xml-fd=N"
                    } else {
                        "--log-file=FILE or --log-fd=N"
                    }
                )));
            }
            "--exit-on-first-error" => {
                o.exit_on_first_error = yes_no(name, need(name, value)?)?;
            }
            "--error-markers" => {
                // Valgrind's grammar: BEGIN[,END]; either may be empty.
                let v = need(name, value)?;
                let (begin, end) = v.split_once(',').unwrap_or((v, ""));
                o.error_markers = memdx_report::text::ErrorMarkers {
                    begin: begin.to_string(),
                    end: end.to_string(),
                };
            }
            "-s" => o.show_error_list = true,
            "--show-error-list" => o.show_error_list = yes_no(name, need(name, value)?)?,
            "-q" | "--quiet" => o.quiet = true,
            "-v" | "--verbose" => o.verbose = true,
            "--trace-children" => o.trace_children = yes_no(name, need(name, value)?)?,
            "--child-silent-after-fork" => {
                o.child_silent_after_fork = yes_no(name, need(name, value)?)?;
            }
            "--freelist-vol" => o.freelist_vol = Some(number(name, need(name, value)?)?),
            "--freelist-big-blocks" => {
                o.freelist_big_blocks = Some(number(name, need(name, value)?)?)
            }
            "--partial-loads-ok" => o.partial_loads_ok = yes_no(name, need(name, value)?)?,
            "--redzone-size" => {
                let v = number(name, need(name, value)?)?;
                if v > 4096 {
                    return Err(OptionError(format!(
                        "Invalid --redzone-size value {v}: the maximum is 4096"
                    )));
                }
                o.redzone_size = Some(v);
            }
            "--poison-size" => o.poison_size = Some(number(name, need(name, value)?)?),
            "--guard-pages" => {
                let v = need(name, value)?;
                if v != "all" {
                    number::<u64>(name, v)?;
                }
                o.guard_pages = Some(v.to_string());
            }
            "--watch-blocks" => o.watch_blocks = yes_no(name, need(name, value)?)?,
            "--xml" => o.xml = yes_no(name, need(name, value)?)?,
            "--xml-file" => {
                o.xml_file = Some(need(name, value)?.to_string());
                o.xml_fd = None;
            }
            "--xml-fd" => {
                let fd: i32 = number(name, need(name, value)?)?;
                if fd < 0 {
                    return Err(OptionError(format!(
                        "Invalid number '{fd}' for option --xml-fd"
                    )));
                }
                o.xml_fd = Some(fd);
                o.xml_file = None;
            }
            "--xml-user-comment" => o.xml_user_comment = Some(need(name, value)?.to_string()),
            "--json" => o.json_file = Some(need(name, value)?.to_string()),
            "--suppressions" => o.suppression_files.push(need(name, value)?.to_string()),
            "--default-suppressions" => o.default_suppressions = yes_no(name, need(name, value)?)?,
            "--gen-suppressions" => match need(name, value)? {
                "no" => o.gen_suppressions = false,
                "all" => o.gen_suppressions = true,
                "yes" => {
                    o.gen_suppressions = true;
                    o.warnings.push(
                        "memdx check: warning: --gen-suppressions=yes does not ask; \
                         every suppression is printed, as with --gen-suppressions=all"
                            .to_string(),
                    );
                }
                v => {
                    return Err(OptionError(format!(
                    "Invalid argument '{v}' for option --gen-suppressions: expected no, yes or all"
                )))
                }
            },
            "--undef-value-errors" => {
                o.undef_value_errors = yes_no(name, need(name, value)?)?;
                if o.undef_value_errors {
                    o.warnings.push(format!(
                        "memdx check: warning: {s} is honoured in part ({UNINIT_PART}); continuing"
                    ));
                }
            }
            "--uninit-effects" => o.uninit_effects = yes_no(name, need(name, value)?)?,
            "--uninit-effects-runs" => {
                o.uninit_effects_runs = number(name, need(name, value)?)?;
                if o.uninit_effects_runs < 3 {
                    return Err(OptionError(format!(
                        "Invalid argument '{}' for option {name}: at least 3 runs are needed \
                         (two to check the program is deterministic, one with another fill)",
                        o.uninit_effects_runs
                    )));
                }
            }
            "--uninit-effects-timeout" => {
                o.uninit_effects_timeout = Some(number(name, need(name, value)?)?);
            }
            "--track-origins" => {
                o.track_origins = yes_no(name, need(name, value)?)?;
                if o.track_origins {
                    o.warnings.push(format!(
                        "memdx check: warning: {s} is honoured in part ({UNINIT_PART}); continuing"
                    ));
                }
            }
            _ => match NOT_IMPLEMENTED.iter().find(|(n, _)| *n == name) {
                Some((_, what)) => o.warnings.push(format!(
                    "memdx check: warning: {s} is not implemented ({what}); continuing"
                )),
                None => {
                    return Err(OptionError(format!("Unknown option: {s}")));
                }
            },
        }
    }
    if o.xml && o.xml_file.is_none() && o.xml_fd.is_none() {
        return Err(OptionError(
            "--xml=yes has been specified, but there is no XML output destination: \
             use --xml-file=FILE or --xml-fd=N"
                .into(),
        ));
    }
    let Some(program) = raw.get(i) else {
        return Err(OptionError("no program specified".into()));
    };
    o.program = program.clone();
    o.args = raw.get(i + 1..).unwrap_or(&[]).to_vec();
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn xml_json_and_suppression_options() {
        let o = parse(&args(&[
            "--xml=yes",
            "--xml-file=out.%p.xml",
            "--xml-user-comment=<c>x</c>",
            "--json=r.json",
            "--suppressions=a.supp",
            "--suppressions=b.supp",
            "--default-suppressions=no",
            "--gen-suppressions=all",
            "./prog",
        ]))
        .unwrap();
        assert!(o.xml && o.gen_suppressions && !o.default_suppressions);
        assert_eq!(o.xml_file.as_deref(), Some("out.%p.xml"));
        assert_eq!(o.xml_user_comment.as_deref(), Some("<c>x</c>"));
        assert_eq!(o.json_file.as_deref(), Some("r.json"));
        assert_eq!(o.suppression_files, vec!["a.supp", "b.supp"]);
        assert!(o.warnings.is_empty());
        assert_eq!(o.raw_options.len(), 8);
        let o = parse(&args(&["--gen-suppressions=yes", "./p"])).unwrap();
        assert!(o.gen_suppressions && o.warnings.len() == 1);
        assert!(parse(&args(&["--gen-suppressions=maybe", "./p"])).is_err());
        assert!(parse(&args(&["--xml=yes", "./p"])).is_err());
        assert!(parse(&args(&["--xml-fd=-1", "./p"])).is_err());
        let e = parse(&args(&["--xml-socket=1.2.3.4", "./p"])).unwrap_err();
        assert!(e.0.starts_with("--xml-socket is not supported"), "{}", e.0);
        assert!(parse(&args(&["--log-socket=1.2.3.4:1500", "./p"])).is_err());
        let o = parse(&args(&[
            "--log-fd=9",
            "-s",
            "--exit-on-first-error=yes",
            "./p",
        ]))
        .unwrap();
        assert_eq!(o.log_fd, Some(9));
        assert!(o.show_error_list && o.exit_on_first_error && o.warnings.is_empty());
        assert!(parse(&args(&["--log-fd=-2", "./p"])).is_err());
        assert!(parse(&args(&["--show-error-list=maybe", "./p"])).is_err());
    }

    #[test]
    fn defaults_are_valgrinds() {
        let o = parse(&args(&["./prog", "a"])).unwrap();
        assert_eq!(o.leak_check, LeakCheck::Summary);
        assert_eq!(o.num_callers, 12);
        assert!(o.show_leak_kinds.definite && o.show_leak_kinds.possible);
        assert!(!o.show_leak_kinds.reachable && !o.show_leak_kinds.indirect);
        assert_eq!(o.program, "./prog");
        assert_eq!(o.args, args(&["a"]));
    }

    #[test]
    fn options_before_program_and_double_dash() {
        let o = parse(&args(&[
            "--leak-check=full",
            "--show-leak-kinds=all",
            "--error-exitcode=9",
            "-q",
            "--",
            "./prog",
            "--leak-check=no",
        ]))
        .unwrap();
        assert_eq!(o.leak_check, LeakCheck::Full);
        assert!(o.show_leak_kinds.reachable);
        assert_eq!(o.error_exitcode, Some(9));
        assert!(o.quiet);
        assert_eq!(o.args, args(&["--leak-check=no"]));
    }

    #[test]
    fn known_unimplemented_option_warns_and_unknown_option_fails() {
        let o = parse(&args(&["--track-origins=yes", "./p"])).unwrap();
        assert!(o.track_origins && o.undef_value_errors);
        assert_eq!(o.warnings.len(), 1);
        assert!(o.warnings[0].contains("--track-origins=yes is honoured in part"));
        assert!(o.warnings[0].contains("only where they reach write"));
        let o = parse(&args(&["--undef-value-errors=yes", "./p"])).unwrap();
        assert_eq!(o.warnings.len(), 1);
        assert!(o.warnings[0].contains("other uses of uninitialised values"));
        // =no turns the check off, with nothing to warn about.
        let o = parse(&args(&[
            "--undef-value-errors=no",
            "--track-origins=no",
            "./p",
        ]))
        .unwrap();
        assert!(!o.undef_value_errors && !o.track_origins);
        assert!(o.warnings.is_empty(), "{:?}", o.warnings);
        assert!(parse(&args(&["--track-origins=maybe", "./p"])).is_err());
        let e = parse(&args(&["--frobnicate=1", "./p"])).unwrap_err();
        assert_eq!(e.0, "Unknown option: --frobnicate=1");
        assert!(parse(&args(&["--leak-check=maybe", "./p"])).is_err());
        assert!(parse(&args(&["--leak-check=full"])).is_err());
    }
}
