//! memdx's own parts of the text: the preamble and the command line as
//! Valgrind escapes it; symbolized frames in the report model's terms.
//! Valgrind's layout itself is `memdx_report::text::Lines`.

use memdx_report as model;

use crate::process::{ProcessReport, Sink};
use crate::world::FrameText;

/// The report model's stack for symbolized frames.
pub(crate) fn model_stack(frames: &[FrameText]) -> model::Stack {
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

/// A command line as Valgrind 3.19 prints it after `Command: `, on one
/// line: words joined by spaces; in each word a space, `\\`, `<` and `>`
/// get a backslash, and control characters and non-ASCII bytes become `_`
/// (so a `-c` script with newlines cannot break the `==PID==` layout).
pub fn command_text<'a>(words: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut out = String::new();
    for (i, word) in words.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        for &b in word {
            match b {
                b' ' | b'\\' | b'<' | b'>' => {
                    out.push('\\');
                    out.push(b as char);
                }
                0..=0x1f | 0x80..=0xff => out.push('_'),
                _ => out.push(b as char),
            }
        }
    }
    out
}

impl ProcessReport {
    pub(crate) fn line(&self, out: &mut String, text: &str) {
        self.lines.line(out, text);
    }

    /// The banner lines (without the `==PID== ` prefix).
    pub(crate) fn banner(command: &str) -> Vec<String> {
        vec![
            "Memcheck-compatible memory error detector (memdx check)".to_string(),
            format!(
                "Using memdx-{} (LD_PRELOAD runtime, unmodified binary)",
                env!("CARGO_PKG_VERSION")
            ),
            format!("Command: {command}"),
        ]
    }

    /// The preamble Valgrind prints before running the program.
    pub fn preamble(&self, sink: &mut dyn Sink, command: &str) {
        if self.opts.quiet {
            return;
        }
        let mut s = String::new();
        for l in Self::banner(command) {
            self.line(&mut s, &l);
        }
        self.line(&mut s, "");
        sink.write_chunk(&s);
    }

    /// Stack `id` as the report model has it.
    pub(crate) fn model_stack_of(&mut self, id: u32) -> model::Stack {
        let frames = self.frames_of(id);
        model_stack(&frames)
    }
}
