//! One recording per process: the program's, and with
//! `--trace-children=yes` one per fork child and per program a process
//! executes, told apart by the bursts' pids and new-stream flags.

use std::path::PathBuf;

use anyhow::Context;
use memdx_events::{Header, FLAG_CONTINUATION, HEADER_LEN};
use memdx_heap::{Exit as HeapExit, Summary};

use super::{create, ChildRecording, Naming, Recorder, RssReading};

/// The recordings of one run: the program's, and with
/// `--trace-children=yes` one per other process (and per program a
/// process executed).
pub(super) struct Processes {
    pub(super) main: Recorder,
    pub(super) children: Vec<Child>,
    pub(super) naming: Option<Naming>,
}

pub(super) struct Child {
    pid: u32,
    path: PathBuf,
    /// While its stream goes on.
    rec: Option<Recorder>,
    done: Option<ChildRecording>,
}

impl Processes {
    pub(super) fn burst(&mut self, bytes: &[u8], rss: Option<RssReading>) -> anyhow::Result<()> {
        let Some(header) = bytes
            .get(..HEADER_LEN)
            .and_then(|h| <&[u8; HEADER_LEN]>::try_from(h).ok())
            .and_then(|h| Header::decode(h).ok())
        else {
            return Ok(());
        };
        let new_stream = header.flags & FLAG_CONTINUATION == 0;
        let traced = self.naming.is_some();
        if self.main.pid == 0 || (header.pid == self.main.pid && !(new_stream && traced)) {
            // The program's own stream (the first burst of the run is
            // its constructor's).
            return self.main.burst(bytes, rss);
        }
        let Some(naming) = &mut self.naming else {
            return Ok(());
        };
        if new_stream {
            // A process's new stream: a fork child, or a program executed
            // by a process whose earlier stream ends there.
            let path = naming.path(header.pid);
            self.end_child(header.pid, HeapExit::Cut)?;
            match create(&path) {
                Ok(writer) => self.children.push(Child {
                    pid: header.pid,
                    path,
                    rec: Some(Recorder::new(writer)),
                    done: None,
                }),
                Err(e) => {
                    eprintln!("{e} (process {} is not recorded)", header.pid);
                    return Ok(());
                }
            }
        }
        let Some(child) = self
            .children
            .iter_mut()
            .rev()
            .find(|c| c.pid == header.pid && c.rec.is_some())
        else {
            return Ok(());
        };
        let mut ended = false;
        if let Some(rec) = &mut child.rec {
            rec.burst(bytes, rss)?;
            ended = rec.ended;
        }
        if ended {
            self.end_child(header.pid, HeapExit::ChildEnded)?;
        }
        Ok(())
    }

    /// A timer reading of `pid`'s RSS/PSS, for its recording in progress.
    pub(super) fn reading(
        &mut self,
        pid: u32,
        nanos: u64,
        reading: RssReading,
    ) -> anyhow::Result<()> {
        if pid == self.main.pid {
            return self.main.reading(nanos, reading);
        }
        match self
            .children
            .iter_mut()
            .rev()
            .find(|c| c.pid == pid && c.rec.is_some())
            .and_then(|c| c.rec.as_mut())
        {
            Some(rec) => rec.reading(nanos, reading),
            None => Ok(()),
        }
    }

    /// Ends `pid`'s recording in progress, if any.
    fn end_child(&mut self, pid: u32, exit: HeapExit) -> anyhow::Result<()> {
        for child in &mut self.children {
            if child.pid != pid {
                continue;
            }
            if let Some(rec) = child.rec.take() {
                let command = rec
                    .cmdline
                    .split(|&b| b == 0)
                    .map(String::from_utf8_lossy)
                    .collect::<Vec<_>>()
                    .join(" ");
                let (bytes, summary) = rec
                    .finish(exit)
                    .with_context(|| format!("memdx heap: writing {}", child.path.display()))?;
                child.done = Some(ChildRecording {
                    pid,
                    path: child.path.clone(),
                    bytes,
                    command,
                    exit: summary.exit.unwrap_or(HeapExit::Cut),
                });
            }
        }
        Ok(())
    }

    pub(super) fn finish(
        mut self,
        exit: HeapExit,
    ) -> anyhow::Result<(u64, Summary, Vec<ChildRecording>)> {
        let pids: Vec<u32> = self.children.iter().map(|c| c.pid).collect();
        for pid in pids {
            self.end_child(pid, HeapExit::ChildEnded)?;
        }
        let (bytes, summary) = self.main.finish(exit)?;
        let children = self.children.into_iter().filter_map(|c| c.done).collect();
        Ok((bytes, summary, children))
    }
}
