//! Where a run's reports go: the text of each process to stderr,
//! `--log-fd` or `--log-file` (`%p` expanded per process), and its XML and
//! JSON files once its report is complete.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use memdx_analyzer::{ProcessReport, Sink};

use crate::commands::check::options::CheckOptions;

/// Where reports go: stderr, `--log-fd` or `--log-file` (with `%p` per
/// process). In XML mode the text report is not written at all (Valgrind
/// 3.19 prints nothing there then; a `--log-file` is created empty).
#[derive(Clone)]
pub(super) struct Output {
    pub(super) template: Option<String>,
    pub(super) files: Arc<Mutex<HashMap<PathBuf, Arc<Mutex<File>>>>>,
    /// `--log-fd=N` (a duplicate of it).
    pub(super) fd: Option<Arc<Mutex<File>>>,
    pub(super) silent: bool,
    /// No more text (see [`ProcessSink::muted`]).
    pub(super) muted: Arc<AtomicBool>,
}

pub(super) struct ProcessSink {
    pub(super) file: Option<Arc<Mutex<File>>>,
    pub(super) silent: bool,
    /// Set once the program's own report is complete and the text of
    /// processes still running has nowhere to go (see `run`).
    pub(super) muted: Option<Arc<AtomicBool>>,
}

impl Sink for ProcessSink {
    fn write_chunk(&mut self, text: &str) {
        if !self.silent {
            self.write_always(text);
        }
    }

    fn write_always(&mut self, text: &str) {
        if self
            .muted
            .as_ref()
            .is_some_and(|m| m.load(Ordering::Acquire))
        {
            return;
        }
        // A report that cannot be written (closed stderr, full disk) must
        // not change the program's fate; it is dropped.
        match &self.file {
            Some(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = f.write_all(text.as_bytes());
                }
            }
            None => {
                let mut e = std::io::stderr().lock();
                let _ = e.write_all(text.as_bytes());
                let _ = e.flush();
            }
        }
    }
}

impl Output {
    pub(super) fn sink(&self, pid: u32) -> ProcessSink {
        let mut sink = self.unmuted_sink(pid);
        sink.muted = Some(self.muted.clone());
        sink
    }

    /// A sink that writes even once the output is muted (memdx's own note).
    pub(super) fn unmuted_sink(&self, pid: u32) -> ProcessSink {
        let silent = self.silent;
        let Some(t) = &self.template else {
            return ProcessSink {
                file: self.fd.clone(),
                silent,
                muted: None,
            };
        };
        let path = PathBuf::from(expand_log_name(t, pid));
        let file = self.files.lock().ok().and_then(|mut files| {
            if let Some(f) = files.get(&path) {
                return Some(f.clone());
            }
            let f = File::create(&path).ok().map(|f| Arc::new(Mutex::new(f)));
            if let Some(f) = &f {
                files.insert(path.clone(), f.clone());
            }
            f
        });
        if file.is_none() {
            eprintln!(
                "memdx check: cannot create log file '{}'; reporting to stderr",
                path.display()
            );
        }
        ProcessSink {
            file,
            silent,
            muted: None,
        }
    }
}

/// A duplicate of the user's descriptor `fd` (`--log-fd`, `--xml-fd`), or
/// None when it is not open (Valgrind then falls back to stderr).
pub(super) fn user_fd(fd: i32) -> Option<File> {
    use std::os::fd::FromRawFd;
    // SAFETY: F_DUPFD_CLOEXEC on any number is harmless; a new descriptor
    // is ours to own.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    // SAFETY: `dup` is a fresh descriptor owned by nobody else.
    (dup >= 0).then(|| unsafe { File::from_raw_fd(dup) })
}

/// Valgrind's `--log-file` expansion: `%p` is the pid, `%%` a percent sign.
pub(super) fn expand_log_name(t: &str, pid: u32) -> String {
    let mut out = String::new();
    let mut chars = t.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('p') => out.push_str(&pid.to_string()),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Writes the machine-readable reports of one process: `--xml-file` /
/// `--xml-fd` (with `--xml=yes`) and `--json`. A file name without `%p`
/// is written by the program's own process only (fork children and
/// exec'd programs need `%p` to get their own file, as under Valgrind).
pub(super) fn write_machine_reports(
    report: &ProcessReport,
    opts: &CheckOptions,
    pid: u32,
    main_pid: u32,
    xml_out: Option<&File>,
) {
    let wants = |t: &Option<String>| {
        t.as_ref()
            .filter(|t| pid == main_pid || t.contains("%p"))
            .map(|t| PathBuf::from(expand_log_name(t, pid)))
    };
    let xml_path = if opts.xml {
        wants(&opts.xml_file)
    } else {
        None
    };
    let xml_fd = xml_out.filter(|_| opts.xml && pid == main_pid);
    let json_path = wants(&opts.json_file);
    if xml_path.is_none() && xml_fd.is_none() && json_path.is_none() {
        return;
    }
    let model = report.to_report();
    // After --exit-on-first-error, Valgrind closes the document right
    // after that error.
    let write_xml = |m: &memdx_report::Report, w: &mut dyn Write| {
        if report.stop_requested {
            memdx_report::xml::write_stopped(m, w)
        } else {
            memdx_report::xml::write(m, w)
        }
    };
    if let Some(path) = xml_path {
        let r = File::create(&path).and_then(|f| {
            let mut w = std::io::BufWriter::new(f);
            write_xml(&model, &mut w)?;
            w.flush()
        });
        if let Err(e) = r {
            eprintln!(
                "memdx check: cannot write XML file '{}': {e}",
                path.display()
            );
        }
    }
    if let Some(f) = xml_fd {
        let mut w = std::io::BufWriter::new(f);
        if let Err(e) = write_xml(&model, &mut w).and_then(|()| w.flush()) {
            eprintln!("memdx check: cannot write XML to --xml-fd: {e}");
        }
    }
    if let Some(path) = json_path {
        let r = File::create(&path)
            .map_err(memdx_report::ReportError::from)
            .and_then(|f| memdx_report::json::write(&model, std::io::BufWriter::new(f)));
        if let Err(e) = r {
            eprintln!(
                "memdx check: cannot write JSON file '{}': {e}",
                path.display()
            );
        }
    }
}

/// Whether a `--log-file`/`--xml-file`/`--json` name has a `%p` (a file of
/// its own per process).
pub(super) fn names_pid(template: &str) -> bool {
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        // `%%` is a percent sign: the character after it is skipped.
        if c == '%' && chars.next() == Some('p') {
            return true;
        }
    }
    false
}

/// memdx's note about the processes whose reports it does not collect.
pub(super) fn not_collected_note(pids: &[u32], xml: bool) -> String {
    let list = pids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let option = if xml { "--xml-file" } else { "--log-file" };
    if pids.len() == 1 {
        format!(
            "process {list} is still running; its report is not collected \
             (a {option} name with %p gives it a file of its own)"
        )
    } else {
        format!(
            "processes {list} are still running; their reports are not collected \
             (a {option} name with %p gives each a file of its own)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn only_an_unescaped_percent_p_names_the_pid() {
        assert!(names_pid("log.%p"));
        assert!(names_pid("a%%b.%p"));
        assert!(!names_pid("100%%p"));
        assert!(!names_pid("plain"));
        assert!(!names_pid("end%"));
    }

    #[test]
    pub(super) fn the_note_names_every_pid_left_running() {
        assert_eq!(
            not_collected_note(&[7], false),
            "process 7 is still running; its report is not collected \
             (a --log-file name with %p gives it a file of its own)"
        );
        assert!(not_collected_note(&[7, 9], true).starts_with(
            "processes 7, 9 are still running; their reports are not collected (a --xml-file"
        ));
    }

    #[test]
    pub(super) fn log_file_names_expand_pid_and_percent() {
        assert_eq!(expand_log_name("vg.%p.log", 42), "vg.42.log");
        assert_eq!(expand_log_name("100%%-%p", 7), "100%-7");
        assert_eq!(expand_log_name("plain", 7), "plain");
    }
}
