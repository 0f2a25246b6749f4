//! `memdx check --uninit-effects=yes`: does the program's behaviour depend
//! on uninitialised heap memory, and from which allocation site?
//!
//! The program is run several times under the runtime with a fill plan
//! (`MEMDX_UNINIT_PLAN`, see the runtime's `effects.rs`): every fresh
//! non-calloc block is filled with a base byte (0x00) or, for the sites a
//! run selects, an alternative byte. Its observable behaviour (stdout,
//! stderr, exit status or death by signal, the files its arguments name)
//! is compared between runs:
//!
//! 1. two runs with the base fill everywhere: when they differ the program
//!    is nondeterministic, said so, and nothing is blamed;
//! 2. one run with every site's blocks filled with 0xff (then 0x01, when
//!    0xff changed nothing): no difference, no finding;
//! 3. otherwise the sites (keyed by [`memdx_events::site_key`] of their
//!    stack; address randomization is off in every run, so keys and
//!    pointer values are the same from run to run) are split in two by a
//!    key bit, each half filled with the alternative byte on its own, and
//!    every half that still changes the behaviour is split again, down to
//!    single sites; each is confirmed by one more run and reported as an
//!    error with its allocation stack and the run count.
//!
//! The number of runs is capped (`--uninit-effects-runs`, default 32).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;

use super::options::CheckOptions;
use super::symbolize::{Module, Symbolizer};
use crate::exit::Exit;

/// The fill of every block in the reference runs: what fresh pages hold
/// natively.
const BASE: u8 = 0x00;
/// The alternative fills tried, in order, until one changes the behaviour.
const ALTERNATIVES: [u8; 2] = [0xff, 0x01];
/// Named files larger than this are not compared (nor restored).
const FILE_MAX: u64 = 64 << 20;
/// Standard input read and replayed to each run, at most.
const STDIN_MAX: u64 = 256 << 20;

/// What a run of the program did that can be observed from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Exit status, or the signal that ended it.
    status: Status,
    /// The contents of each named file after the run (`None`: absent).
    files: Vec<Option<Vec<u8>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Exit(i32),
    Signal(i32),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Status::Exit(c) => write!(f, "exit status {c}"),
            Status::Signal(s) => write!(f, "death by signal {s} ({})", signal_name(s)),
        }
    }
}

fn signal_name(s: i32) -> String {
    // SAFETY: strsignal returns a static or thread-local string.
    let p = unsafe { libc::strsignal(s) };
    if p.is_null() {
        return format!("signal {s}");
    }
    // SAFETY: a NUL-terminated string from libc.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .into_owned()
}

/// An allocation site as a run's sites file names it.
#[derive(Debug, Clone)]
struct Site {
    /// Its stack id in the process that listed it.
    id: u32,
    frames: Vec<u64>,
    modules: Vec<Module>,
    /// Blocks and bytes filled in that process's run.
    blocks: u64,
    bytes: u64,
}

/// A file the program's command line names: its contents before the
/// first run (`None`: it did not exist).
struct NamedFile {
    path: PathBuf,
    before: Option<Vec<u8>>,
}

/// One finding of the search: the sites (one, unless the cap or an
/// interaction stopped the narrowing), the difference, and the run that
/// showed it.
struct Finding {
    sites: Vec<u64>,
    difference: String,
    alt: u8,
    /// Runs made when the finding was complete.
    runs: usize,
    /// Why it names more than one site, when it does.
    unresolved: Option<&'static str>,
    confirmed: bool,
}

struct Runner<'a> {
    opts: &'a CheckOptions,
    runtime: &'a Path,
    stdin: Option<Vec<u8>>,
    files: Vec<NamedFile>,
    dir: tempfile::TempDir,
    runs: usize,
    cap: usize,
    sites: BTreeMap<u64, Site>,
    first_pid: Option<u32>,
}

/// The fill plan of one run: sites whose key & mask == value get `alt`,
/// the others [`BASE`].
#[derive(Debug, Clone, Copy)]
struct Plan {
    alt: u8,
    mask: u64,
    value: u64,
}

impl Plan {
    fn base() -> Plan {
        Plan {
            alt: BASE,
            mask: 0,
            value: 0,
        }
    }
    fn env(&self) -> String {
        format!("{:x}:{:x}:{:x}:{:x}", BASE, self.alt, self.mask, self.value)
    }
    fn selects(&self, key: u64) -> bool {
        key & self.mask == self.value
    }
}

impl Runner<'_> {
    fn restore_files(&self, contents: &[Option<Vec<u8>>]) -> anyhow::Result<()> {
        for (f, c) in self.files.iter().zip(contents) {
            match c {
                Some(bytes) => std::fs::write(&f.path, bytes)
                    .with_context(|| format!("restoring {}", f.path.display()))?,
                None => match std::fs::remove_file(&f.path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("removing {}", f.path.display()))
                    }
                },
            }
        }
        Ok(())
    }

    fn run(&mut self, plan: Plan) -> anyhow::Result<Outcome> {
        let before: Vec<Option<Vec<u8>>> = self.files.iter().map(|f| f.before.clone()).collect();
        self.restore_files(&before)?;
        for e in std::fs::read_dir(self.dir.path())? {
            let _ = std::fs::remove_file(e?.path());
        }
        self.runs += 1;
        let mut preload = self.runtime.as_os_str().to_os_string();
        if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
            preload.push(":");
            preload.push(old);
        }
        let mut cmd = Command::new(&self.opts.program);
        cmd.args(&self.opts.args)
            .env("LD_PRELOAD", preload)
            .env("MEMDX_UNINIT_PLAN", plan.env())
            .env("MEMDX_UNINIT_SITES", self.dir.path())
            .env("MEMDX_NUM_CALLERS", self.opts.num_callers.to_string())
            .env("MEMDX_LEAK_CHECK", "no")
            .env(
                "MEMDX_TRACE_CHILDREN",
                if self.opts.trace_children {
                    "yes"
                } else {
                    "no"
                },
            )
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: personality is async-signal-safe; nothing else runs
        // between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let cur = libc::personality(0xffff_ffff);
                if cur != -1 {
                    libc::personality(
                        (cur as libc::c_ulong) | libc::ADDR_NO_RANDOMIZE as libc::c_ulong,
                    );
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            let status = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            Exit::new(
                status,
                format!(
                    "memdx check: cannot run '{}': {e}",
                    self.opts.program.to_string_lossy()
                ),
            )
        })?;
        self.first_pid.get_or_insert(child.id());
        let feeder = match (child.stdin.take(), &self.stdin) {
            (Some(mut w), Some(bytes)) => {
                let bytes = bytes.clone();
                Some(std::thread::spawn(move || {
                    let _ = w.write_all(&bytes);
                }))
            }
            _ => None,
        };
        let out = child
            .wait_with_output()
            .context("waiting for the program")?;
        if let Some(f) = feeder {
            let _ = f.join();
        }
        let status = match (out.status.code(), out.status.signal()) {
            (Some(c), _) => Status::Exit(c),
            (None, Some(s)) => Status::Signal(s),
            (None, None) => Status::Exit(-1),
        };
        let files = self.files.iter().map(|f| read_small(&f.path)).collect();
        self.read_sites();
        Ok(Outcome {
            stdout: out.stdout,
            stderr: out.stderr,
            status,
            files,
        })
    }

    /// Adds the sites the run's processes listed.
    fn read_sites(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else {
            return;
        };
        for e in entries.flatten() {
            let Ok(bytes) = std::fs::read(e.path()) else {
                continue;
            };
            for (key, site) in sites_of(&bytes) {
                self.sites.entry(key).or_insert(site);
            }
        }
    }
}

/// The sites in one sites file (a memdx-events stream: header, modules,
/// then a `Stack` and a fill-site record per site), by key. A damaged
/// file yields what came before the damage.
fn sites_of(bytes: &[u8]) -> Vec<(u64, Site)> {
    let mut out: Vec<(u64, Site)> = Vec::new();
    let Some(header) = bytes.get(..memdx_events::HEADER_LEN) else {
        return out;
    };
    let mut h = [0u8; memdx_events::HEADER_LEN];
    h.copy_from_slice(header);
    if memdx_events::Header::decode(&h).is_err() {
        return out;
    }
    let mut rest = &bytes[memdx_events::HEADER_LEN..];
    let mut modules = Vec::new();
    while rest.len() >= memdx_events::RECORD_PREFIX {
        let tag = rest[0];
        let len = u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let Some(payload) =
            rest.get(memdx_events::RECORD_PREFIX..memdx_events::RECORD_PREFIX + len)
        else {
            break;
        };
        rest = &rest[memdx_events::RECORD_PREFIX + len..];
        if tag == memdx_events::tag::FILL_SITE {
            if let (Some(id), Some(blocks), Some(filled)) =
                (payload.get(0..4), payload.get(4..12), payload.get(12..20))
            {
                let id = u32::from_le_bytes(id.try_into().unwrap_or_default());
                let blocks = u64::from_le_bytes(blocks.try_into().unwrap_or_default());
                let filled = u64::from_le_bytes(filled.try_into().unwrap_or_default());
                if let Some((_, site)) = out.iter_mut().rev().find(|(_, s)| s.id == id) {
                    site.blocks = blocks;
                    site.bytes = filled;
                }
            }
            continue;
        }
        match memdx_events::decode_payload(tag, payload) {
            Ok(Some(memdx_events::Event::Module {
                bias,
                start,
                end,
                path,
            })) => {
                let path: PathBuf = OsString::from_vec(path).into();
                let path = std::fs::canonicalize(&path).unwrap_or(path);
                modules.push(Module {
                    bias,
                    start,
                    end,
                    path,
                });
            }
            Ok(Some(memdx_events::Event::Stack { id, frames })) => {
                let key = memdx_events::site_key(&frames);
                out.push((
                    key,
                    Site {
                        id,
                        frames,
                        modules: modules.clone(),
                        blocks: 0,
                        bytes: 0,
                    },
                ));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    out
}

fn read_small(path: &Path) -> Option<Vec<u8>> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > FILE_MAX {
        return None;
    }
    std::fs::read(path).ok()
}

/// The files the program's arguments name (an argument, or the part after
/// `=` of one): existing regular files up to [`FILE_MAX`], and paths that
/// do not exist yet in an existing directory (the program may create them).
fn named_files(args: &[OsString]) -> Vec<NamedFile> {
    let mut out: Vec<NamedFile> = Vec::new();
    for a in args {
        let bytes = a.as_bytes();
        let mut candidates = vec![bytes];
        if let Some(eq) = bytes.iter().position(|&b| b == b'=') {
            candidates.push(&bytes[eq + 1..]);
        }
        for c in candidates {
            if c.is_empty() || c.len() > 4096 || c.contains(&b'\n') {
                continue;
            }
            let path = PathBuf::from(OsStr::from_bytes(c));
            if out.iter().any(|f| f.path == path) {
                continue;
            }
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_file() && m.len() <= FILE_MAX => {
                    if let Ok(before) = std::fs::read(&path) {
                        out.push(NamedFile {
                            path,
                            before: Some(before),
                        });
                    }
                }
                Ok(_) => {}
                Err(_) => {
                    let parent = path
                        .parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .unwrap_or(Path::new("."));
                    if c.starts_with(b"-") || !parent.is_dir() {
                        continue;
                    }
                    out.push(NamedFile { path, before: None });
                }
            }
        }
    }
    out
}

/// Up to 16 bytes from `at`, quoted as C would print them.
fn excerpt(b: &[u8], at: usize) -> String {
    let end = (at + 16).min(b.len());
    let mut s = String::from("\"");
    for &c in &b[at.min(end)..end] {
        match c {
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    if end < b.len() {
        s.push_str("...");
    }
    s.push('"');
    if at >= b.len() {
        return "end of output".to_string();
    }
    s
}

fn bytes_difference(what: &str, a: &[u8], b: &[u8]) -> Option<String> {
    if a == b {
        return None;
    }
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    Some(format!(
        "{what} differs from byte {at} ({} vs {})",
        excerpt(a, at),
        excerpt(b, at)
    ))
}

/// How two outcomes differ, in words ("exit status 0 vs 1; stdout differs
/// from byte 3 (...)"), `None` when they do not.
fn difference(a: &Outcome, b: &Outcome, files: &[NamedFile]) -> Option<String> {
    let mut parts = Vec::new();
    if a.status != b.status {
        parts.push(match (a.status, b.status) {
            (Status::Exit(x), Status::Exit(y)) => format!("exit status {x} vs {y}"),
            (x, y) => format!("{x} vs {y}"),
        });
    }
    parts.extend(bytes_difference("stdout", &a.stdout, &b.stdout));
    parts.extend(bytes_difference("stderr", &a.stderr, &b.stderr));
    for ((x, y), f) in a.files.iter().zip(&b.files).zip(files) {
        let name = format!("file '{}'", f.path.display());
        match (x, y) {
            (Some(x), Some(y)) => parts.extend(bytes_difference(&name, x, y)),
            (None, Some(_)) => parts.push(format!("{name} absent vs written")),
            (Some(_), None) => parts.push(format!("{name} written vs absent")),
            (None, None) => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The bit of the keys that splits `keys` most evenly, outside `mask`.
fn splitting_bit(keys: &[u64], mask: u64) -> Option<u32> {
    (0..64)
        .filter(|b| mask & (1 << b) == 0)
        .map(|b| {
            let ones = keys.iter().filter(|&&k| k & (1 << b) != 0).count();
            (b, ones.min(keys.len() - ones))
        })
        .filter(|&(_, smaller)| smaller > 0)
        .max_by_key(|&(b, smaller)| (smaller, std::cmp::Reverse(b)))
        .map(|(b, _)| b)
}

/// Narrows the sites selected by `plan` (known members `keys`), whose
/// alternative fill made the program behave unlike `reference`.
fn narrow(
    r: &mut Runner<'_>,
    reference: &Outcome,
    plan: Plan,
    keys: Vec<u64>,
    difference_seen: String,
    found: &mut Vec<Finding>,
) -> anyhow::Result<()> {
    if keys.len() <= 1 {
        found.push(Finding {
            sites: keys,
            difference: difference_seen,
            alt: plan.alt,
            runs: r.runs,
            unresolved: None,
            confirmed: false,
        });
        return Ok(());
    }
    let Some(bit) = splitting_bit(&keys, plan.mask) else {
        found.push(Finding {
            sites: keys,
            difference: difference_seen,
            alt: plan.alt,
            runs: r.runs,
            unresolved: Some("their keys do not split"),
            confirmed: false,
        });
        return Ok(());
    };
    let mut any = false;
    for half in [0u64, 1] {
        if r.runs >= r.cap {
            found.push(Finding {
                sites: keys,
                difference: difference_seen,
                alt: plan.alt,
                runs: r.runs,
                unresolved: Some("the run cap stopped the narrowing"),
                confirmed: false,
            });
            return Ok(());
        }
        let sub = Plan {
            alt: plan.alt,
            mask: plan.mask | 1 << bit,
            value: plan.value | half << bit,
        };
        let members: Vec<u64> = keys.iter().copied().filter(|&k| sub.selects(k)).collect();
        let out = r.run(sub)?;
        if let Some(d) = difference(reference, &out, &r.files) {
            any = true;
            narrow(r, reference, sub, members, d, found)?;
        }
    }
    if !any {
        found.push(Finding {
            sites: keys,
            difference: difference_seen,
            alt: plan.alt,
            runs: r.runs,
            unresolved: Some("no part of them changes the behaviour on its own: they act together"),
            confirmed: false,
        });
    }
    Ok(())
}

/// Runs `memdx check --uninit-effects=yes`.
pub fn run(opts: &CheckOptions, runtime: &Path) -> anyhow::Result<()> {
    // SAFETY: isatty has no preconditions.
    let stdin = if unsafe { libc::isatty(0) } == 1 {
        None
    } else {
        let mut buf = Vec::new();
        std::io::stdin()
            .take(STDIN_MAX)
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        Some(buf)
    };
    let dir = tempfile::Builder::new()
        .prefix("memdx-effects-")
        .tempdir()
        .context("creating a temporary directory")?;
    let mut r = Runner {
        opts,
        runtime,
        stdin,
        files: named_files(&opts.args),
        dir,
        runs: 0,
        cap: opts.uninit_effects_runs,
        sites: BTreeMap::new(),
        first_pid: None,
    };
    let first = r.run(Plan::base())?;
    let second = r.run(Plan::base())?;
    let mut lines: Vec<String> = Vec::new();
    let mut found: Vec<Finding> = Vec::new();
    let mut verdict = Vec::new();
    let nondeterministic = difference(&first, &second, &r.files);
    if let Some(d) = &nondeterministic {
        verdict.push(format!(
            "The program is nondeterministic: two runs with the same fill (0x{BASE:02x} in every \
             heap block) differ: {d}."
        ));
        verdict.push(
            "No allocation site is blamed: an effect of uninitialised memory cannot be told \
             from the program's own variation."
                .to_string(),
        );
    } else {
        let mut changed = None;
        for alt in ALTERNATIVES {
            if r.runs >= r.cap {
                break;
            }
            let all = Plan {
                alt,
                mask: 0,
                value: 0,
            };
            let out = r.run(all)?;
            if let Some(d) = difference(&first, &out, &r.files) {
                changed = Some((all, d));
                break;
            }
        }
        match changed {
            None => {
                let tried: Vec<String> = ALTERNATIVES
                    .iter()
                    .take(r.runs - 2)
                    .map(|a| format!("0x{a:02x}"))
                    .collect();
                verdict.push(format!(
                    "No effect of uninitialised heap memory found: the same behaviour with \
                     every heap block filled with 0x{BASE:02x}, {} ({} allocation sites).",
                    tried.join(", then "),
                    r.sites.len()
                ));
                if r.sites.is_empty() {
                    verdict.push(
                        "No allocation site was seen, so nothing was varied: a program \
                         started through a script or another program needs \
                         --trace-children=yes, and a statically linked one is not seen."
                            .to_string(),
                    );
                }
            }
            Some((plan, d)) => {
                let keys: Vec<u64> = r.sites.keys().copied().collect();
                if keys.is_empty() {
                    found.push(Finding {
                        sites: Vec::new(),
                        difference: d,
                        alt: plan.alt,
                        runs: r.runs,
                        unresolved: Some("the runs listed no allocation site"),
                        confirmed: false,
                    });
                } else {
                    narrow(&mut r, &first, plan, keys, d, &mut found)?;
                }
                // Confirm each single-site finding by one more run.
                for f in found.iter_mut() {
                    if f.sites.len() != 1 || r.runs >= r.cap {
                        continue;
                    }
                    let k = f.sites[0];
                    let plan = Plan {
                        alt: f.alt,
                        mask: u64::MAX,
                        value: k,
                    };
                    let out = r.run(plan)?;
                    f.confirmed = difference(&first, &out, &r.files).is_some();
                    f.runs = r.runs;
                }
            }
        }
    }
    // Leave the named files as the first run left them, and replay its
    // output: to the user, the check looks like one run of the program.
    r.restore_files(&first.files)?;
    let _ = std::io::stdout().write_all(&first.stdout);
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(&first.stderr);

    let pid = r.first_pid.unwrap_or(std::process::id());
    let words: Vec<&[u8]> = std::iter::once(opts.program.as_bytes())
        .chain(opts.args.iter().map(|a| a.as_bytes()))
        .collect();
    let command = memdx_analyzer::command_text(words);
    lines.push(
        "memdx check --uninit-effects=yes: does the program's behaviour depend on \
         uninitialised heap memory?"
            .to_string(),
    );
    lines.push(format!("Command: {command}"));
    lines.push(String::new());
    let mut sym = Symbolizer::default();
    let mut errors = 0;
    for f in &found {
        errors += 1;
        lines.push("Behaviour depends on uninitialised heap memory".to_string());
        let whose = if f.sites.len() == 1 {
            "blocks from this site".to_string()
        } else if f.sites.is_empty() {
            "all heap blocks".to_string()
        } else {
            format!("blocks from these {} sites", f.sites.len())
        };
        lines.push(format!(
            "   {} when the bytes of {whose} are 0x{BASE:02x} vs 0x{:02x}",
            f.difference, f.alt
        ));
        for (i, k) in f.sites.iter().enumerate() {
            if i > 0 {
                lines.push(" and".to_string());
            }
            if let Some(site) = r.sites.get(k) {
                for m in &site.modules {
                    sym.add_module(m.clone());
                }
                let rendered = sym.stack(&site.frames);
                if rendered.is_empty() {
                    lines.push("   at 0x0: ??? (no stack recorded)".to_string());
                }
                for (j, fr) in rendered.iter().enumerate() {
                    let word = if j == 0 { "at" } else { "by" };
                    lines.push(format!("   {word} {}", fr.render()));
                }
                lines.push(format!(
                    " Blocks from this site in a run: {} ({} bytes filled)",
                    site.blocks, site.bytes
                ));
            }
        }
        if let Some(why) = f.unresolved {
            lines.push(format!(" Not narrowed to one site: {why}"));
        }
        let confirm = if f.confirmed {
            ", confirmed by a run changing only this site's fill"
        } else if f.sites.len() == 1 {
            ", not confirmed by a second run"
        } else {
            ""
        };
        lines.push(format!(
            " Found in {} runs of the program ({} allocation sites seen){confirm}",
            f.runs,
            r.sites.len()
        ));
        lines.push(String::new());
    }
    lines.extend(verdict);
    let capped = r.runs >= r.cap;
    lines.push(format!(
        "Runs: {} (cap {}{}); address randomization off in every run",
        r.runs,
        r.cap,
        if capped {
            ": reached, the search stopped there"
        } else {
            ""
        }
    ));
    lines.push(format!(
        "ERROR SUMMARY: {errors} errors from {errors} contexts (suppressed: 0 from 0)"
    ));
    let mut text = String::new();
    for l in &lines {
        if l.is_empty() {
            text.push_str(&format!("=={pid}==\n"));
        } else {
            text.push_str(&format!("=={pid}== {l}\n"));
        }
    }
    match &opts.log_file {
        Some(path) => {
            let path = path.replace("%p", &pid.to_string());
            std::fs::write(&path, text).with_context(|| format!("writing {path}"))?;
        }
        None => {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }
    let code = match (errors > 0, opts.error_exitcode, first.status) {
        (true, Some(c), _) => c,
        (_, _, Status::Exit(c)) => c,
        (_, _, Status::Signal(s)) => {
            // Die as the first run died.
            let _ = std::io::stderr().flush();
            // SAFETY: restoring the default action and raising the signal.
            unsafe {
                libc::signal(s, libc::SIG_DFL);
                libc::raise(s);
            }
            128 + s
        }
    };
    if code != 0 {
        return Err(Exit::silent(code as u8).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_splitting_bit_halves_the_keys_as_evenly_as_it_can() {
        let keys = [0b000, 0b001, 0b010, 0b011, 0b100];
        let b = splitting_bit(&keys, 0).unwrap();
        assert!(b == 0 || b == 1, "{b}");
        assert_eq!(splitting_bit(&[5], 0), None);
        assert_eq!(splitting_bit(&[0b01, 0b11], 0b10), None);
        assert_eq!(splitting_bit(&[0b01, 0b11], 0), Some(1));
    }

    #[test]
    fn a_sites_file_gives_each_site_its_stack_modules_and_counts() {
        let h = memdx_events::Header {
            version: memdx_events::VERSION,
            pointer_size: 8,
            pid: 7,
            ppid: 1,
            flags: 0,
        };
        let mut file = h.encode().to_vec();
        let mut buf = [0u8; 4096];
        let mut e = memdx_events::Encoder::new(&mut buf);
        e.module(0x1000, 0x1000, 0x9000, b"/nonexistent/prog");
        e.stack(3, &[0x10, 0x1234]);
        e.fill_site(3, 2, 48);
        e.stack(4, &[0x10, 0x5678]);
        file.extend(e.finish().unwrap());
        let sites = sites_of(&file);
        assert_eq!(sites.len(), 2);
        assert_eq!(sites[0].0, memdx_events::site_key(&[0x10, 0x1234]));
        assert_eq!((sites[0].1.blocks, sites[0].1.bytes), (2, 48));
        assert_eq!((sites[1].1.blocks, sites[1].1.bytes), (0, 0));
        assert_eq!(sites[1].1.modules.len(), 1);
        // Cut anywhere: what came before, no panic.
        for cut in 0..file.len() {
            assert!(sites_of(&file[..cut]).len() <= 2);
        }
        assert!(sites_of(b"not a sites file at all").is_empty());
    }

    #[test]
    fn differences_are_said_in_words() {
        let o = |status, out: &[u8]| Outcome {
            stdout: out.to_vec(),
            stderr: Vec::new(),
            status,
            files: Vec::new(),
        };
        let a = o(Status::Exit(0), b"abc\n");
        assert_eq!(difference(&a, &a.clone(), &[]), None);
        let b = o(Status::Exit(1), b"abd\n");
        assert_eq!(
            difference(&a, &b, &[]).unwrap(),
            "exit status 0 vs 1; stdout differs from byte 2 (\"c\\n\" vs \"d\\n\")"
        );
        let c = o(Status::Signal(11), b"ab");
        assert!(difference(&a, &c, &[])
            .unwrap()
            .starts_with("exit status 0 vs death by signal 11"));
    }
}
