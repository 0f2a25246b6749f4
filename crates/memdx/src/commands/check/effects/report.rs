//! The report of a `--uninit-effects=yes` check: Valgrind's text layout
//! (`==PID==` lines), and the same findings as memdx's report model for
//! the XML (Valgrind protocol 4, each finding an `<error>` of memdx's own
//! `<kind>Memdx_UninitEffect</kind>`) and the JSON.

use std::fs::File;
use std::io::Write;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::Context;
use memdx_analyzer::FrameText;
use memdx_report as model;

use super::runner::Runner;
use super::search::Finding;
use super::BASE;
use crate::commands::check::options::CheckOptions;
use crate::commands::check::symbolize::Symbolizer;

/// The headline of every finding.
const HEADLINE: &str = "Behaviour depends on uninitialised heap memory";

/// An allocation site of a finding, symbolized.
struct ShownSite {
    frames: Vec<FrameText>,
    /// "Blocks from this site in a run: B (N bytes filled)".
    blocks: String,
}

/// A finding as both renderings show it.
struct Shown {
    /// "exit status 0 vs 1 when the bytes of blocks from this site are
    /// 0x00 vs 0xff".
    change: String,
    sites: Vec<ShownSite>,
    /// The lines after the sites ("Not narrowed ...", "Found in ...").
    notes: Vec<String>,
}

/// The whole report of a check.
pub(super) struct EffectsReport {
    pid: u32,
    preamble: Vec<String>,
    findings: Vec<Shown>,
    /// The verdict lines and the "Runs: ..." line.
    closing: Vec<String>,
}

impl EffectsReport {
    /// Symbolizes the findings of the search (`verdict`: its closing
    /// lines) made by `r`; `pid` names the report (the first run's).
    pub(super) fn new(
        opts: &CheckOptions,
        pid: u32,
        found: &[Finding],
        verdict: &[String],
        r: &Runner<'_>,
    ) -> EffectsReport {
        let words: Vec<&[u8]> = std::iter::once(opts.program.as_bytes())
            .chain(opts.args.iter().map(|a| a.as_bytes()))
            .collect();
        let command = memdx_analyzer::command_text(words);
        let preamble = vec![
            "memdx check --uninit-effects=yes: does the program's behaviour depend on \
             uninitialised heap memory?"
                .to_string(),
            format!("Command: {command}"),
        ];
        let mut sym = Symbolizer::default();
        let findings = found.iter().map(|f| shown(f, r, &mut sym)).collect();
        let mut closing: Vec<String> = verdict.to_vec();
        let capped = r.runs >= r.cap;
        let deadline = match r.deadline {
            Some(d) => format!(
                "; a run still going after {} s is killed ({} {})",
                d.as_secs(),
                r.timed_out,
                if r.timed_out == 1 { "was" } else { "were" }
            ),
            None => String::new(),
        };
        closing.push(format!(
            "Runs: {} (cap {}{}); address randomization off in every run{deadline}",
            r.runs,
            r.cap,
            if capped {
                ": reached, the search stopped there"
            } else {
                ""
            }
        ));
        EffectsReport {
            pid,
            preamble,
            findings,
            closing,
        }
    }

    /// How many findings (each an error context).
    pub(super) fn errors(&self) -> usize {
        self.findings.len()
    }

    /// The text report: a line per `==PID==` prefix.
    pub(super) fn text(&self) -> String {
        let mut lines: Vec<String> = self.preamble.clone();
        lines.push(String::new());
        for f in &self.findings {
            lines.push(HEADLINE.to_string());
            lines.push(format!("   {}", f.change));
            for (i, site) in f.sites.iter().enumerate() {
                if i > 0 {
                    lines.push(" and".to_string());
                }
                if site.frames.is_empty() {
                    lines.push("   at 0x0: ??? (no stack recorded)".to_string());
                }
                for (j, fr) in site.frames.iter().enumerate() {
                    let word = if j == 0 { "at" } else { "by" };
                    lines.push(format!("   {word} {}", fr.render()));
                }
                lines.push(format!(" {}", site.blocks));
            }
            lines.extend(f.notes.iter().map(|n| format!(" {n}")));
            lines.push(String::new());
        }
        lines.extend(self.closing.iter().cloned());
        let errors = self.errors();
        lines.push(format!(
            "ERROR SUMMARY: {errors} errors from {errors} contexts (suppressed: 0 from 0)"
        ));
        let pid = self.pid;
        let mut text = String::new();
        for l in &lines {
            if l.is_empty() {
                text.push_str(&format!("=={pid}==\n"));
            } else {
                text.push_str(&format!("=={pid}== {l}\n"));
            }
        }
        text
    }

    /// The report model (for XML and JSON): one error per finding, its
    /// stack the (first) site's allocation stack, the change and the
    /// counts as `<auxwhat>` lines, further sites each an `<auxwhat>`
    /// with its `<stack>`; the closing lines as memdx's notes.
    pub(super) fn model(&self, opts: &CheckOptions, elapsed_ms: u64) -> model::Report {
        let mut errors = Vec::new();
        for (i, f) in self.findings.iter().enumerate() {
            let mut aux = vec![model::Aux {
                what: f.change.clone(),
                stack: None,
            }];
            let mut stack = model::Stack::default();
            for (j, site) in f.sites.iter().enumerate() {
                if j == 0 {
                    stack = model_stack(&site.frames);
                } else {
                    aux.push(model::Aux {
                        what: "and blocks from this site".to_string(),
                        stack: Some(model_stack(&site.frames)),
                    });
                }
                aux.push(model::Aux {
                    what: site.blocks.clone(),
                    stack: None,
                });
            }
            aux.extend(f.notes.iter().map(|n| model::Aux {
                what: n.clone(),
                stack: None,
            }));
            errors.push(model::Error {
                unique: i as u64,
                tid: 1,
                thread_name: None,
                kind: model::ErrorKind::UninitEffect,
                what: model::What::Text(HEADLINE.to_string()),
                stack,
                aux,
                suppression: None,
            });
        }
        let n = errors.len() as u64;
        let mut checker_args = vec!["check".to_string()];
        checker_args.extend(opts.raw_options.iter().filter(|a| !a.is_empty()).cloned());
        model::Report {
            tool: "memcheck".into(),
            preamble: self.preamble.clone(),
            pid: self.pid,
            ppid: std::process::id(),
            user_comment: opts.xml_user_comment.clone(),
            checker: model::CommandLine {
                exe: std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| "memdx".into()),
                args: checker_args,
            },
            program: model::CommandLine {
                exe: opts.program.to_string_lossy().into_owned(),
                args: opts
                    .args
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect(),
            },
            started: model::Status { elapsed_ms: 0 },
            error_counts: errors
                .iter()
                .map(|e| model::ErrorCount {
                    count: 1,
                    unique: e.unique,
                })
                .collect(),
            errors,
            fatal_signal: None,
            finished: Some(model::Status { elapsed_ms }),
            supp_counts: Vec::new(),
            error_summary: Some(model::ErrorSummary {
                errors: n,
                contexts: n,
                suppressed: 0,
                suppressed_contexts: 0,
            }),
            heap_summary: None,
            leak_summary: None,
            notes: self.closing.clone(),
        }
    }

    /// Writes the reports the options ask for: the text on stderr,
    /// `--log-file` or `--log-fd` (none with `--xml=yes`, as the other
    /// check's text is silenced then), the XML to `--xml-file` or
    /// `--xml-fd`, the JSON to `--json`.
    pub(super) fn write(&self, opts: &CheckOptions, elapsed_ms: u64) -> anyhow::Result<()> {
        let pid = self.pid.to_string();
        if !opts.xml {
            let text = self.text();
            match (&opts.log_file, opts.log_fd) {
                (Some(path), _) => {
                    let path = path.replace("%p", &pid);
                    std::fs::write(&path, text).with_context(|| format!("writing {path}"))?;
                }
                (None, Some(fd)) if fd != 2 && fd_open(fd) => {
                    let _ = with_fd(fd, |f| f.write_all(text.as_bytes()));
                }
                _ => {
                    let _ = std::io::stderr().write_all(text.as_bytes());
                }
            }
        }
        let wants_model = opts.json_file.is_some()
            || (opts.xml && (opts.xml_file.is_some() || opts.xml_fd.is_some()));
        if !wants_model {
            return Ok(());
        }
        let report = self.model(opts, elapsed_ms);
        if opts.xml {
            let mut xml = Vec::new();
            memdx_report::xml::write(&report, &mut xml).context("rendering the XML report")?;
            match (&opts.xml_file, opts.xml_fd) {
                (Some(path), _) => {
                    let path = path.replace("%p", &pid);
                    std::fs::write(&path, &xml)
                        .with_context(|| format!("cannot write XML file '{path}'"))?;
                }
                (None, Some(fd)) if fd_open(fd) => {
                    with_fd(fd, |f| f.write_all(&xml)).context("writing XML to --xml-fd")?;
                }
                _ => {
                    let _ = std::io::stderr().write_all(&xml);
                }
            }
        }
        if let Some(path) = &opts.json_file {
            let path = path.replace("%p", &pid);
            let f = File::create(Path::new(&path))
                .with_context(|| format!("cannot write JSON file '{path}'"))?;
            memdx_report::json::write(&report, std::io::BufWriter::new(f))
                .with_context(|| format!("cannot write JSON file '{path}'"))?;
        }
        Ok(())
    }
}

/// Whether `fd` is an open descriptor (as Valgrind, one that is not means
/// stderr).
fn fd_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only queries the descriptor table.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1
}

/// Runs `f` on the user's descriptor `fd` without closing it.
fn with_fd<T>(fd: i32, f: impl FnOnce(&mut File) -> T) -> T {
    // SAFETY: `fd` is open (checked by the caller) and stays the user's:
    // the File is never dropped.
    let mut file = ManuallyDrop::new(unsafe { File::from_raw_fd(fd) });
    f(&mut file)
}

fn model_stack(frames: &[FrameText]) -> model::Stack {
    model::Stack {
        frames: frames
            .iter()
            .map(|f| model::Frame {
                ip: f.addr,
                obj: f.object.clone(),
                function: f.function.clone(),
                dir: f.file_line.as_ref().and(f.dir.clone()),
                file: f.file_line.as_ref().map(|(file, _)| file.clone()),
                line: f.file_line.as_ref().map(|(_, line)| *line),
            })
            .collect(),
    }
}

/// Symbolizes one finding.
fn shown(f: &Finding, r: &Runner<'_>, sym: &mut Symbolizer) -> Shown {
    let whose = if f.sites.len() == 1 {
        "blocks from this site".to_string()
    } else if f.sites.is_empty() {
        "all heap blocks".to_string()
    } else {
        format!("blocks from these {} sites", f.sites.len())
    };
    let change = format!(
        "{} when the bytes of {whose} are 0x{BASE:02x} vs 0x{:02x}",
        f.difference, f.alt
    );
    let mut sites = Vec::new();
    for k in &f.sites {
        if let Some(site) = r.sites.get(k) {
            for m in &site.modules {
                sym.add_module(m.clone());
            }
            sites.push(ShownSite {
                frames: sym.stack(&site.frames),
                blocks: format!(
                    "Blocks from this site in a run: {} ({} bytes filled)",
                    site.blocks, site.bytes
                ),
            });
        }
    }
    let mut notes = Vec::new();
    if let Some(why) = f.unresolved {
        notes.push(format!("Not narrowed to one site: {why}"));
    }
    let confirm = if f.confirmed {
        ", confirmed by a run changing only this site's fill"
    } else if f.sites.len() == 1 {
        ", not confirmed by a second run"
    } else {
        ""
    };
    notes.push(format!(
        "Found in {} runs of the program ({} allocation sites seen){confirm}",
        f.runs,
        r.sites.len()
    ));
    Shown {
        change,
        sites,
        notes,
    }
}
