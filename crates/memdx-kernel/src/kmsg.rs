//! Kernel log text: `/dev/kmsg` records, `dmesg` lines (also `-T` and
//! `--time-format=iso`), syslog and `journalctl -k` lines. Turns any of them
//! into messages with their time since boot and wall-clock time.

use std::io::Read;

use memdx_proc::ProcRoot;

use crate::error::{KernelError, Result};
use crate::logstamp::{self, LogClock, WallStamp};

/// Path of the kernel log device under a root.
pub const REL_PATH: &str = "dev/kmsg";

/// One kernel log message.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Seconds since boot, when the line carried a timestamp.
    pub time: Option<f64>,
    /// The wall-clock stamp a syslog/journal prefix or `dmesg -T` gave.
    pub stamp: Option<WallStamp>,
    /// Seconds since the epoch, once [`place_in_time`] worked it out.
    pub wall: Option<f64>,
    /// The message text (without timestamp or priority).
    pub text: String,
    /// 1-based line in the input.
    pub line: usize,
}

/// Whether `text` looks like `/dev/kmsg` records (`6,1234,5678901,-;msg`).
pub fn is_kmsg_format(text: &str) -> bool {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| parse_kmsg_record(l).is_some())
}

fn parse_kmsg_record(line: &str) -> Option<(f64, &str)> {
    let (meta, msg) = line.split_once(';')?;
    let mut fields = meta.split(',');
    fields.next()?.parse::<u32>().ok()?;
    fields.next()?.parse::<u64>().ok()?;
    let usec: u64 = fields.next()?.parse().ok()?;
    Some((usec as f64 / 1e6, msg))
}

/// Strips `<4>` priorities, `[  12.345678]` timestamps and syslog/journal
/// prefixes (`Nov 25 08:00:00 host kernel: `) from one dmesg-style line.
pub fn strip_dmesg_prefix(line: &str) -> (Option<f64>, &str) {
    let (time, _, msg) = split_line(line);
    (time, msg)
}

/// `[  12.345678]` (or `[Tue Mar  3 10:15:02 2026]`) at the start of `s`:
/// the stamp's text and what follows the bracket.
fn bracketed(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix('[')?;
    let end = inner.find(']')?;
    Some((inner[..end].trim(), &inner[end + 1..]))
}

/// Splits one log line into its time since boot, its wall-clock stamp and
/// the message.
fn split_line(line: &str) -> (Option<f64>, Option<WallStamp>, &str) {
    let mut rest = line;
    let mut time = None;
    let mut stamp = None;
    if let Some((s, n)) = logstamp::parse_line_stamp(rest) {
        if let Some(msg) = logstamp::after_host_kernel(&rest[n..]) {
            stamp = Some(s);
            rest = msg;
        } else if let (WallStamp::Moment(_), Some(msg)) = (s, rest[n..].strip_prefix(' ')) {
            // dmesg --time-format=iso: the stamp, then the message.
            stamp = Some(s);
            rest = msg;
        }
    } else if let Some((secs, after)) = bracketed(rest) {
        // journalctl -o short-monotonic: `[ 1234.567890] host kernel: msg`.
        if let (true, Ok(t), Some(msg)) = (
            secs.contains('.'),
            secs.parse::<f64>(),
            logstamp::after_host_kernel(after),
        ) {
            time = Some(t);
            rest = msg;
        }
    }
    if stamp.is_none() && time.is_none() {
        if let Some(pos) = rest.find("kernel: ") {
            // Other syslog layouts: whatever stands before `kernel: `.
            let before = &rest[..pos];
            if before.contains(':') || before.split_whitespace().count() >= 3 {
                rest = &rest[pos + "kernel: ".len()..];
            }
        }
    }
    if rest.starts_with('<') {
        if let Some(end) = rest.find('>') {
            if rest[1..end].bytes().all(|b| b.is_ascii_digit()) {
                rest = &rest[end + 1..];
            }
        }
    }
    if let Some((inner, after)) = bracketed(rest.trim_start()) {
        let msg = after.strip_prefix(' ').unwrap_or(after);
        // The kernel's stamp always has a fraction; `[  812]` is a task row.
        if let (true, Ok(t)) = (inner.contains('.'), inner.parse::<f64>()) {
            return (Some(t), stamp, msg);
        }
        // `dmesg -T`: "[Mon Nov 25 08:00:00 2026] msg", a local time.
        if let Some(m) = logstamp::parse_ctime(inner) {
            return (time, Some(WallStamp::Moment(m)), msg);
        }
    }
    (time, stamp, rest)
}

/// Fills each line's [`LogLine::wall`]: from its own stamp, or from its
/// time since boot and the boot time. The boot time is `clock.boot`, or else
/// worked out from the last line that carries both kinds of stamp (a syslog
/// line with the kernel's `[secs]` in it).
pub fn place_in_time(lines: &mut [LogLine], clock: &LogClock) {
    for l in lines.iter_mut() {
        l.wall = l.stamp.and_then(|s| s.resolve(clock));
    }
    let boot = clock
        .boot
        .or_else(|| lines.iter().rev().find_map(|l| Some(l.wall? - l.time?)));
    if let Some(boot) = boot {
        for l in lines.iter_mut().filter(|l| l.wall.is_none()) {
            l.wall = l.time.map(|t| boot + t);
        }
    }
}

/// Splits log text (kmsg records or dmesg lines) into messages. kmsg
/// continuation lines (` SUBSYSTEM=...`) are dropped; escaped `\x0a` stays.
pub fn parse_log(text: &str) -> Vec<LogLine> {
    let kmsg = is_kmsg_format(text);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if kmsg {
            if let Some((t, msg)) = parse_kmsg_record(line) {
                out.push(LogLine {
                    time: Some(t),
                    stamp: None,
                    wall: None,
                    text: msg.to_string(),
                    line: i + 1,
                });
            }
        } else {
            let (time, stamp, msg) = split_line(line);
            out.push(LogLine {
                time,
                stamp,
                wall: None,
                text: msg.to_string(),
                line: i + 1,
            });
        }
    }
    out
}

/// Reads the kernel log buffer from `dev/kmsg` under `root` without
/// blocking: a character device is read record by record until it has no
/// more; a regular file (a fixture, or a saved copy) is read whole.
pub fn read_kmsg(root: &ProcRoot) -> Result<String> {
    let path = root.path(REL_PATH);
    let meta = std::fs::metadata(&path).map_err(|e| KernelError::io("read", &path, e))?;
    if meta.is_file() {
        return crate::error::read_text(&path);
    }
    use std::os::unix::fs::OpenOptionsExt;
    const O_NONBLOCK: i32 = 0o4000; // same value on x86, arm and riscv Linux
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(&path)
        .map_err(|e| KernelError::io("read", &path, e))?;
    let mut out = String::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            // A record overwritten while we read: skip to the next one.
            Err(e) if e.raw_os_error() == Some(32) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => continue,
            Err(e) => return Err(KernelError::io("read", &path, e)),
        }
    }
    Ok(out)
}

/// Turns kmsg records into dmesg-style `[ 12.345678] msg` lines, so the
/// kmemleak and OOM parsers see one text layout.
pub fn kmsg_to_dmesg(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in parse_log(text) {
        match line.time {
            Some(t) => out.push_str(&format!("[{t:12.6}] {}\n", line.text)),
            None => {
                out.push_str(&line.text);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmsg_records_become_timestamped_messages() {
        let text = "6,1,1272880,-;random: crng reseeded\n SUBSYSTEM=foo\n4,2,5000000,-,caller=T1;kmemleak: 1 new suspected memory leaks\n";
        assert!(is_kmsg_format(text));
        let lines = parse_log(text);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].time, Some(5.0));
        assert_eq!(lines[1].text, "kmemleak: 1 new suspected memory leaks");
    }

    #[test]
    fn dmesg_and_syslog_prefixes_are_stripped() {
        assert_eq!(
            strip_dmesg_prefix("[   12.500000] hello"),
            (Some(12.5), "hello")
        );
        assert_eq!(strip_dmesg_prefix("<4>[    1.000000] x"), (Some(1.0), "x"));
        assert_eq!(
            strip_dmesg_prefix("Nov 25 08:00:00 host kernel: [ 3.25] oom"),
            (Some(3.25), "oom")
        );
        assert_eq!(strip_dmesg_prefix("no prefix"), (None, "no prefix"));
        assert_eq!(
            strip_dmesg_prefix("[Mon Nov 25 08:00:00 2026] python3 invoked oom-killer: x"),
            (None, "python3 invoked oom-killer: x")
        );
        assert_eq!(
            strip_dmesg_prefix("[  pid  ]   uid  tgid"),
            (None, "[  pid  ]   uid  tgid")
        );
        // A task row after a wall-clock stamp is no kernel time stamp.
        assert_eq!(
            split_line("2026-03-03T11:15:04,331131+01:00 [  50211]   998 x").2,
            "[  50211]   998 x"
        );
        assert_eq!(
            split_line("Mar 03 11:15:04 db kernel: [  50211]   998 x").2,
            "[  50211]   998 x"
        );
        let (time, stamp, msg) = split_line("[12004.331131] db02 kernel: oom");
        assert_eq!((time, stamp, msg), (Some(12004.331131), None, "oom"));
    }
}
