//! The writer: a [`Report`] as Valgrind 3.19 writes it (layout in the
//! [module docs](super)).

use std::io::{self, Write};

use crate::model::{
    Error, ErrorKind, FatalSignal, Report, Stack, Status, SuppFrame, Suppression, What,
};

/// Writes the document Valgrind 3.19 leaves after `--exit-on-first-error=yes`
/// stopped the program: the header, the errors so far (the leak errors after
/// the FINISHED status when the run had finished), and the closing tag, with
/// no error or suppression counts.
pub fn write_stopped(report: &Report, out: impl Write) -> io::Result<()> {
    let mut w = XmlWriter { out };
    w.header(report)?;
    w.status("RUNNING", report.started)?;
    for e in report.run_errors() {
        w.error(e)?;
    }
    if let Some(finished) = report.finished {
        w.raw("\n")?;
        w.status("FINISHED", finished)?;
        for e in report.leak_errors() {
            w.error(e)?;
        }
    }
    // Each error ends with a blank line already.
    w.raw("</valgrindoutput>\n")?;
    w.out.flush()
}

/// Writes `report` as a Valgrind XML protocol 4 document.
pub fn write(report: &Report, out: impl Write) -> io::Result<()> {
    let mut w = XmlWriter { out };
    w.header(report)?;
    w.status("RUNNING", report.started)?;
    for e in report.run_errors() {
        w.error(e)?;
    }
    if let Some(sig) = &report.fatal_signal {
        w.fatal_signal(sig)?;
    }
    let Some(finished) = report.finished else {
        return w.out.flush();
    };
    w.raw("\n")?;
    w.status("FINISHED", finished)?;
    for e in report.leak_errors() {
        w.error(e)?;
    }
    w.raw("<errorcounts>\n")?;
    for c in &report.error_counts {
        w.raw("  <pair>\n")?;
        w.leaf(4, "count", &c.count.to_string())?;
        w.leaf(4, "unique", &format!("0x{:x}", c.unique))?;
        w.raw("  </pair>\n")?;
    }
    w.raw("</errorcounts>\n\n<suppcounts>\n")?;
    for c in &report.supp_counts {
        w.raw("  <pair>\n")?;
        w.leaf(4, "count", &c.count.to_string())?;
        w.leaf(4, "name", &c.name)?;
        w.raw("  </pair>\n")?;
    }
    w.raw("</suppcounts>\n\n</valgrindoutput>\n\n")?;
    w.out.flush()
}

/// Escapes text as Valgrind's `%pS` does: `&`, `<` and `>`.
pub fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            c => s.push(c),
        }
    }
    s
}

/// Valgrind's elapsed-time format: `DD:HH:MM:SS.mmm ` (trailing space).
pub fn format_time(elapsed_ms: u64) -> String {
    let ms = elapsed_ms % 1000;
    let s = elapsed_ms / 1000;
    format!(
        "{:02}:{:02}:{:02}:{:02}.{:03} ",
        s / 86_400,
        s / 3600 % 24,
        s / 60 % 60,
        s % 60,
        ms
    )
}

struct XmlWriter<W> {
    out: W,
}

impl<W: Write> XmlWriter<W> {
    fn raw(&mut self, s: &str) -> io::Result<()> {
        self.out.write_all(s.as_bytes())
    }

    /// `<name>text</name>` on its own line at `indent` spaces.
    fn leaf(&mut self, indent: usize, name: &str, text: &str) -> io::Result<()> {
        writeln!(
            self.out,
            "{:indent$}<{name}>{}</{name}>",
            "",
            escape(text),
            indent = indent
        )
    }

    fn header(&mut self, r: &Report) -> io::Result<()> {
        self.raw("<?xml version=\"1.0\"?>\n\n<valgrindoutput>\n\n")?;
        self.raw("<protocolversion>4</protocolversion>\n")?;
        self.leaf(0, "protocoltool", &r.tool)?;
        self.raw("\n<preamble>\n")?;
        for line in &r.preamble {
            self.leaf(2, "line", line)?;
        }
        self.raw("</preamble>\n\n")?;
        self.leaf(0, "pid", &r.pid.to_string())?;
        self.leaf(0, "ppid", &r.ppid.to_string())?;
        self.leaf(0, "tool", &r.tool)?;
        if let Some(comment) = &r.user_comment {
            // Raw XML by design (--xml-user-comment), not escaped.
            writeln!(self.out, "<usercomment>{comment}</usercomment>")?;
        }
        self.raw("\n<args>\n")?;
        for (tag, cmd) in [("vargv", &r.checker), ("argv", &r.program)] {
            writeln!(self.out, "  <{tag}>")?;
            self.leaf(4, "exe", &cmd.exe)?;
            for a in &cmd.args {
                self.leaf(4, "arg", a)?;
            }
            writeln!(self.out, "  </{tag}>")?;
        }
        self.raw("</args>\n\n")
    }

    fn status(&mut self, state: &str, status: Status) -> io::Result<()> {
        self.raw("<status>\n")?;
        self.leaf(2, "state", state)?;
        self.leaf(2, "time", &format_time(status.elapsed_ms))?;
        self.raw("</status>\n\n")
    }

    fn error(&mut self, e: &Error) -> io::Result<()> {
        self.raw("<error>\n")?;
        self.leaf(2, "unique", &format!("0x{:x}", e.unique))?;
        self.leaf(2, "tid", &e.tid.to_string())?;
        if let Some(name) = &e.thread_name {
            self.leaf(2, "threadname", name)?;
        }
        self.leaf(2, "kind", e.kind.xml_name())?;
        match &e.what {
            // Valgrind 3.19's mc_errors.c puts the newline inside </what>.
            What::Text(text) if e.kind == ErrorKind::FishyValue => {
                write!(self.out, "  <what>{}\n</what>", escape(text))?;
            }
            What::Text(text) => self.leaf(2, "what", text)?,
            What::Leak {
                text,
                leaked_bytes,
                leaked_blocks,
            } => {
                self.raw("  <xwhat>\n")?;
                self.leaf(4, "text", text)?;
                self.leaf(4, "leakedbytes", &leaked_bytes.to_string())?;
                self.leaf(4, "leakedblocks", &leaked_blocks.to_string())?;
                self.raw("  </xwhat>\n")?;
            }
        }
        self.stack(&e.stack)?;
        for aux in &e.aux {
            self.leaf(2, "auxwhat", &aux.what)?;
            if let Some(stack) = &aux.stack {
                self.stack(stack)?;
            }
        }
        if let Some(s) = &e.suppression {
            self.suppression(s)?;
        }
        self.raw("</error>\n\n")?;
        // --gen-suppressions=all prints the block once more, outside.
        if let Some(s) = &e.suppression {
            self.suppression(s)?;
        }
        Ok(())
    }

    fn stack(&mut self, stack: &Stack) -> io::Result<()> {
        self.raw("  <stack>\n")?;
        for f in &stack.frames {
            self.raw("    <frame>\n")?;
            self.leaf(6, "ip", &format!("0x{:X}", f.ip))?;
            let texts = [
                ("obj", &f.obj),
                ("fn", &f.function),
                ("dir", &f.dir),
                ("file", &f.file),
            ];
            for (tag, value) in texts {
                if let Some(v) = value {
                    self.leaf(6, tag, v)?;
                }
            }
            if let Some(line) = f.line {
                self.leaf(6, "line", &line.to_string())?;
            }
            self.raw("    </frame>\n")?;
        }
        self.raw("  </stack>\n")
    }

    fn suppression(&mut self, s: &Suppression) -> io::Result<()> {
        self.raw("  <suppression>\n")?;
        self.leaf(4, "sname", &s.name)?;
        self.leaf(4, "skind", &s.kind)?;
        if let Some(aux) = &s.aux {
            self.leaf(4, "skaux", aux)?;
        }
        for f in &s.frames {
            let (tag, name) = match f {
                SuppFrame::Fun(n) => ("fun", n),
                SuppFrame::Obj(n) => ("obj", n),
            };
            writeln!(
                self.out,
                "    <sframe> <{tag}>{}</{tag}> </sframe>",
                escape(name)
            )?;
        }
        self.raw("    <rawtext>\n<![CDATA[\n")?;
        self.raw(&s.raw_text)?;
        self.raw("]]>\n    </rawtext>\n  </suppression>\n")
    }

    fn fatal_signal(&mut self, sig: &FatalSignal) -> io::Result<()> {
        self.raw("<fatal_signal>\n")?;
        self.leaf(2, "tid", &sig.tid.to_string())?;
        if let Some(name) = &sig.thread_name {
            self.leaf(2, "threadname", name)?;
        }
        self.leaf(2, "signo", &sig.signo.to_string())?;
        self.leaf(2, "signame", &sig.signame)?;
        self.leaf(2, "sicode", &sig.sicode.to_string())?;
        if let Some(event) = &sig.event {
            self.leaf(2, "event", event)?;
        }
        if let Some(addr) = sig.siaddr {
            self.leaf(2, "siaddr", &format!("0x{addr:X}"))?;
        }
        self.stack(&sig.stack)?;
        self.raw("</fatal_signal>\n\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;

    const EXPECTED: &str = r#"<?xml version="1.0"?>

<valgrindoutput>

<protocolversion>4</protocolversion>
<protocoltool>memcheck</protocoltool>

<preamble>
  <line>Memcheck, a memory error detector</line>
  <line>Command: ./prog &lt;in</line>
</preamble>

<pid>4242</pid>
<ppid>42</ppid>
<tool>memcheck</tool>

<args>
  <vargv>
    <exe>/usr/bin/memdx</exe>
    <arg>--xml=yes</arg>
  </vargv>
  <argv>
    <exe>./prog</exe>
  </argv>
</args>

<status>
  <state>RUNNING</state>
  <time>00:00:00:00.025 </time>
</status>

<error>
  <unique>0x1f</unique>
  <tid>1</tid>
  <kind>InvalidFree</kind>
  <what>Invalid free() / delete / delete[] / realloc()</what>
  <stack>
    <frame>
      <ip>0x484417B</ip>
      <obj>/usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so</obj>
      <fn>free</fn>
    </frame>
    <frame>
      <ip>0x10907D</ip>
      <obj>/tmp/prog</obj>
      <fn>main</fn>
      <dir>/src</dir>
      <file>prog.c</file>
      <line>4</line>
    </frame>
  </stack>
  <auxwhat>Address 0x4a43040 is 0 bytes inside a block of size 10 free'd</auxwhat>
  <stack>
    <frame>
      <ip>0x484417B</ip>
      <obj>/usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so</obj>
      <fn>free</fn>
    </frame>
    <frame>
      <ip>0x10907D</ip>
      <obj>/tmp/prog</obj>
      <fn>main</fn>
      <dir>/src</dir>
      <file>prog.c</file>
      <line>4</line>
    </frame>
  </stack>
  <suppression>
    <sname>insert_a_suppression_name_here</sname>
    <skind>Memcheck:Free</skind>
    <sframe> <fun>free</fun> </sframe>
    <sframe> <fun>main</fun> </sframe>
    <rawtext>
<![CDATA[
{
   <insert_a_suppression_name_here>
   Memcheck:Free
   fun:free
   fun:main
}
]]>
    </rawtext>
  </suppression>
</error>

  <suppression>
    <sname>insert_a_suppression_name_here</sname>
    <skind>Memcheck:Free</skind>
    <sframe> <fun>free</fun> </sframe>
    <sframe> <fun>main</fun> </sframe>
    <rawtext>
<![CDATA[
{
   <insert_a_suppression_name_here>
   Memcheck:Free
   fun:free
   fun:main
}
]]>
    </rawtext>
  </suppression>

<status>
  <state>FINISHED</state>
  <time>01:01:01:01.001 </time>
</status>

<error>
  <unique>0x20</unique>
  <tid>1</tid>
  <kind>Leak_DefinitelyLost</kind>
  <xwhat>
    <text>4 bytes in 1 blocks are definitely lost in loss record 1 of 1</text>
    <leakedbytes>4</leakedbytes>
    <leakedblocks>1</leakedblocks>
  </xwhat>
  <stack>
    <frame>
      <ip>0x1090AA</ip>
      <obj>/tmp/prog</obj>
      <fn>bool leak_if&lt;int&gt;(int&amp;&amp;)</fn>
    </frame>
    <frame>
      <ip>0x10907D</ip>
      <obj>/tmp/prog</obj>
      <fn>main</fn>
      <dir>/src</dir>
      <file>prog.c</file>
      <line>4</line>
    </frame>
  </stack>
</error>

<errorcounts>
  <pair>
    <count>2</count>
    <unique>0x1f</unique>
  </pair>
</errorcounts>

<suppcounts>
  <pair>
    <count>3</count>
    <name>libc &amp; friends</name>
  </pair>
</suppcounts>

</valgrindoutput>

"#;

    fn written(r: &Report) -> String {
        let mut out = Vec::new();
        write(r, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_protocol_4_layout_with_escapes_and_repeated_suppression() {
        assert_eq!(written(&sample::report()), EXPECTED);
    }

    #[test]
    fn an_unfinished_run_ends_after_the_run_time_errors() {
        let mut r = sample::report();
        r.finished = None;
        let text = written(&r);
        assert!(text.ends_with("  </suppression>\n"), "{text}");
        assert!(!text.contains("Leak_DefinitelyLost"));
    }

    #[test]
    fn fishy_value_keeps_valgrinds_newline_inside_what() {
        let mut r = sample::report();
        r.errors[0].kind = ErrorKind::FishyValue;
        r.errors[0].what = What::Text(
            "Argument 'size' of function malloc has a fishy (possibly negative) value: -3".into(),
        );
        assert!(written(&r).contains("value: -3\n</what>  <stack>\n"));
    }

    #[test]
    fn times_are_days_hours_minutes_seconds_millis() {
        assert_eq!(format_time(0), "00:00:00:00.000 ");
        assert_eq!(format_time(90_061_001), "01:01:01:01.001 ");
        assert_eq!(format_time(59_999), "00:00:00:59.999 ");
    }

    #[test]
    fn escapes_only_what_valgrind_escapes() {
        assert_eq!(escape("a<b>&'\""), "a&lt;b&gt;&amp;'\"");
    }
}
