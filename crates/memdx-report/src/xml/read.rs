//! The reader: a Valgrind XML (protocol 4) document into a [`Report`].
//!
//! It reads what Valgrind 3.19's memcheck writes (see the [module
//! docs](super)) and is strict: an element the model has no room for is an
//! error rather than silently dropped, so that a report read and written
//! back is the document that was read.

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::ReportError;
use crate::model::{
    Aux, CommandLine, Error, ErrorCount, ErrorKind, FatalSignal, Frame, Report, Stack, Status,
    SuppCount, SuppFrame, Suppression, What,
};

/// Reads one protocol 4 document.
pub fn read(xml: &str) -> Result<Report, ReportError> {
    let root = parse_tree(xml)?;
    if root.name != "valgrindoutput" {
        return Err(ReportError::Structure(format!(
            "the root element is <{}>",
            root.name
        )));
    }
    Document::new(&root).report()
}

/// An element: its name, where it starts, its child elements, its text
/// (character data and CDATA, concatenated, whitespace kept) and its
/// content as written (for `<usercomment>`, which holds raw XML).
#[derive(Debug)]
struct Node {
    name: String,
    position: u64,
    content_start: u64,
    children: Vec<Node>,
    text: String,
    raw: String,
}

fn parse_tree(xml: &str) -> Result<Node, ReportError> {
    let mut reader = Reader::from_str(xml);
    let mut open: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let position = reader.buffer_position();
        let event = reader.read_event().map_err(|e| ReportError::Xml {
            position: reader.error_position(),
            message: e.to_string(),
        })?;
        let bad_text = |e: quick_xml::Error| ReportError::Xml {
            position,
            message: e.to_string(),
        };
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(ReportError::Structure(format!(
                    "a second root element at byte {position}"
                )));
            }
            Event::Start(e) => open.push(Node {
                name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
                position,
                content_start: reader.buffer_position(),
                children: Vec::new(),
                text: String::new(),
                raw: String::new(),
            }),
            Event::Empty(e) => {
                let node = Node {
                    name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
                    position,
                    content_start: reader.buffer_position(),
                    children: Vec::new(),
                    text: String::new(),
                    raw: String::new(),
                };
                match open.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::End(_) => {
                let Some(mut node) = open.pop() else {
                    return Err(ReportError::Structure(format!(
                        "closing tag without opening at byte {position}"
                    )));
                };
                node.raw = xml
                    .get(node.content_start as usize..position as usize)
                    .unwrap_or_default()
                    .to_owned();
                match open.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(t) => {
                if let Some(node) = open.last_mut() {
                    node.text.push_str(&t.unescape().map_err(bad_text)?);
                }
            }
            Event::CData(c) => {
                if let Some(node) = open.last_mut() {
                    node.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(node) = open.last() {
        return Err(ReportError::Structure(format!(
            "<{}> at byte {} is not closed",
            node.name, node.position
        )));
    }
    root.ok_or_else(|| ReportError::Structure("no root element".into()))
}

impl Node {
    fn unexpected(&self, parent: &Node) -> ReportError {
        ReportError::Unexpected {
            element: self.name.clone(),
            parent: parent.name.clone(),
            position: self.position,
        }
    }

    fn child(&self, name: &'static str) -> Result<&Node, ReportError> {
        self.children
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| ReportError::Missing {
                element: name,
                parent: self.name.clone(),
                position: self.position,
            })
    }

    fn opt_text(&self, name: &str) -> Option<String> {
        self.children
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.text.clone())
    }

    fn text_of(&self, name: &'static str) -> Result<String, ReportError> {
        Ok(self.child(name)?.text.clone())
    }

    fn bad(&self) -> ReportError {
        ReportError::BadValue {
            element: self.name.clone(),
            value: self.text.clone(),
            position: self.position,
        }
    }

    fn number<T: std::str::FromStr>(&self) -> Result<T, ReportError> {
        self.text.trim().parse().map_err(|_| self.bad())
    }

    fn hex(&self) -> Result<u64, ReportError> {
        let t = self.text.trim();
        let digits = t
            .strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .ok_or_else(|| self.bad())?;
        u64::from_str_radix(digits, 16).map_err(|_| self.bad())
    }

    /// Fails when a child is not one of `allowed`.
    fn only(&self, allowed: &[&str]) -> Result<(), ReportError> {
        match self
            .children
            .iter()
            .find(|c| !allowed.contains(&c.name.as_str()))
        {
            Some(c) => Err(c.unexpected(self)),
            None => Ok(()),
        }
    }
}

/// Elements of protocol 4 this crate does not model.
const UNSUPPORTED: &[&str] = &["clientmsg", "logfilequalifier", "xauxwhat", "origin"];

struct Document<'a> {
    root: &'a Node,
}

impl<'a> Document<'a> {
    fn new(root: &'a Node) -> Self {
        Document { root }
    }

    fn report(&self) -> Result<Report, ReportError> {
        let r = self.root;
        let version = r.child("protocolversion")?;
        if version.text != "4" {
            return Err(version.bad());
        }
        let tool = r.text_of("protocoltool")?;
        let preamble_node = r.child("preamble")?;
        preamble_node.only(&["line"])?;
        let preamble = preamble_node
            .children
            .iter()
            .map(|l| Ok(l.text.clone()))
            .collect::<Result<Vec<_>, ReportError>>()?;
        let args = r.child("args")?;
        let mut report = Report {
            tool,
            preamble,
            pid: r.child("pid")?.number()?,
            ppid: r.child("ppid")?.number()?,
            checker: command_line(args.child("vargv")?)?,
            program: command_line(args.child("argv")?)?,
            started: Status { elapsed_ms: 0 },
            errors: Vec::new(),
            fatal_signal: None,
            finished: None,
            error_counts: Vec::new(),
            supp_counts: Vec::new(),
            error_summary: None,
            heap_summary: None,
            leak_summary: None,
            notes: Vec::new(),
            user_comment: r
                .children
                .iter()
                .find(|c| c.name == "usercomment")
                .map(|c| c.raw.clone()),
        };
        let mut running = false;
        let mut last_suppression: Option<Suppression> = None;
        for node in &r.children {
            match node.name.as_str() {
                "protocolversion" | "protocoltool" | "preamble" | "pid" | "ppid" | "tool"
                | "usercomment" | "args" => {}
                "status" => {
                    let state = node.text_of("state")?;
                    let status = Status {
                        elapsed_ms: parse_time(node.child("time")?)?,
                    };
                    match state.as_str() {
                        "RUNNING" => {
                            report.started = status;
                            running = true;
                        }
                        "FINISHED" => report.finished = Some(status),
                        _ => return Err(node.child("state")?.bad()),
                    }
                }
                "error" => {
                    let e = error(node)?;
                    // Valgrind prints leaks after FINISHED, everything else
                    // before; the writer relies on it.
                    if !running || e.kind.is_leak() != report.finished.is_some() {
                        return Err(ReportError::Structure(format!(
                            "{} error at byte {} out of place",
                            e.kind.xml_name(),
                            node.position
                        )));
                    }
                    last_suppression = e.suppression.clone();
                    report.errors.push(e);
                }
                "suppression" => {
                    // The copy --gen-suppressions=all prints after its error.
                    let s = suppression(node)?;
                    if last_suppression.take().as_ref() != Some(&s) {
                        return Err(ReportError::Structure(format!(
                            "suppression at byte {} does not repeat its error's",
                            node.position
                        )));
                    }
                }
                "fatal_signal" => report.fatal_signal = Some(fatal_signal(node)?),
                "errorcounts" => {
                    for pair in &node.children {
                        if pair.name != "pair" {
                            return Err(pair.unexpected(node));
                        }
                        report.error_counts.push(ErrorCount {
                            count: pair.child("count")?.number()?,
                            unique: pair.child("unique")?.hex()?,
                        });
                    }
                }
                "suppcounts" => {
                    for pair in &node.children {
                        if pair.name != "pair" {
                            return Err(pair.unexpected(node));
                        }
                        report.supp_counts.push(SuppCount {
                            count: pair.child("count")?.number()?,
                            name: pair.text_of("name")?,
                        });
                    }
                }
                other if UNSUPPORTED.contains(&other) => {
                    return Err(ReportError::Unsupported {
                        element: node.name.clone(),
                        position: node.position,
                    })
                }
                _ => return Err(node.unexpected(r)),
            }
        }
        Ok(report)
    }
}

fn command_line(node: &Node) -> Result<CommandLine, ReportError> {
    node.only(&["exe", "arg"])?;
    Ok(CommandLine {
        exe: node.text_of("exe")?,
        args: node
            .children
            .iter()
            .filter(|c| c.name == "arg")
            .map(|c| c.text.clone())
            .collect(),
    })
}

/// `DD:HH:MM:SS.mmm ` into milliseconds.
fn parse_time(node: &Node) -> Result<u64, ReportError> {
    let t = node.text.trim_end();
    let (dhms, ms) = t.split_once('.').ok_or_else(|| node.bad())?;
    let parts: Vec<u64> = dhms
        .split(':')
        .map(|p| p.parse().map_err(|_| node.bad()))
        .collect::<Result<_, _>>()?;
    let [d, h, m, s] = parts[..] else {
        return Err(node.bad());
    };
    let ms: u64 = ms.parse().map_err(|_| node.bad())?;
    Ok((((d * 24 + h) * 60 + m) * 60 + s) * 1000 + ms)
}

fn error(node: &Node) -> Result<Error, ReportError> {
    let kind_node = node.child("kind")?;
    let kind = ErrorKind::from_xml_name(&kind_node.text).ok_or_else(|| kind_node.bad())?;
    let mut what = None;
    let mut stack = None;
    let mut aux: Vec<Aux> = Vec::new();
    let mut supp = None;
    for c in &node.children {
        match c.name.as_str() {
            "unique" | "tid" | "threadname" | "kind" => {}
            "what" => {
                let mut text = c.text.clone();
                // See the FishyValue quirk in the module docs.
                if kind == ErrorKind::FishyValue {
                    text = text.strip_suffix('\n').ok_or_else(|| c.bad())?.to_owned();
                }
                what = Some(What::Text(text));
            }
            "xwhat" => {
                c.only(&["text", "leakedbytes", "leakedblocks"])?;
                what = Some(What::Leak {
                    text: c.text_of("text")?,
                    leaked_bytes: c.child("leakedbytes")?.number()?,
                    leaked_blocks: c.child("leakedblocks")?.number()?,
                });
            }
            "stack" => {
                let s = self::stack(c)?;
                match aux.last_mut() {
                    None if stack.is_none() => stack = Some(s),
                    Some(a) if a.stack.is_none() => a.stack = Some(s),
                    _ => return Err(c.unexpected(node)),
                }
            }
            "auxwhat" => {
                if stack.is_none() {
                    return Err(c.unexpected(node));
                }
                aux.push(Aux {
                    what: c.text.clone(),
                    stack: None,
                });
            }
            "suppression" => supp = Some(suppression(c)?),
            other if UNSUPPORTED.contains(&other) => {
                return Err(ReportError::Unsupported {
                    element: c.name.clone(),
                    position: c.position,
                })
            }
            _ => return Err(c.unexpected(node)),
        }
    }
    Ok(Error {
        unique: node.child("unique")?.hex()?,
        tid: node.child("tid")?.number()?,
        thread_name: node.opt_text("threadname"),
        kind,
        what: what.ok_or_else(|| ReportError::Missing {
            element: "what",
            parent: node.name.clone(),
            position: node.position,
        })?,
        stack: stack.ok_or_else(|| ReportError::Missing {
            element: "stack",
            parent: node.name.clone(),
            position: node.position,
        })?,
        aux,
        suppression: supp,
    })
}

fn stack(node: &Node) -> Result<Stack, ReportError> {
    node.only(&["frame"])?;
    let frames = node
        .children
        .iter()
        .map(|f| {
            f.only(&["ip", "obj", "fn", "dir", "file", "line"])?;
            Ok(Frame {
                ip: f.child("ip")?.hex()?,
                obj: f.opt_text("obj"),
                function: f.opt_text("fn"),
                dir: f.opt_text("dir"),
                file: f.opt_text("file"),
                line: match f.children.iter().find(|c| c.name == "line") {
                    Some(l) => Some(l.number()?),
                    None => None,
                },
            })
        })
        .collect::<Result<_, ReportError>>()?;
    Ok(Stack { frames })
}

fn suppression(node: &Node) -> Result<Suppression, ReportError> {
    node.only(&["sname", "skind", "skaux", "sframe", "rawtext"])?;
    let frames = node
        .children
        .iter()
        .filter(|c| c.name == "sframe")
        .map(|f| match f.children.as_slice() {
            [one] if one.name == "fun" => Ok(SuppFrame::Fun(one.text.clone())),
            [one] if one.name == "obj" => Ok(SuppFrame::Obj(one.text.clone())),
            _ => Err(f.bad()),
        })
        .collect::<Result<_, _>>()?;
    let raw = node.child("rawtext")?;
    // "\n<![CDATA[\n" RAW "]]>\n    ": the text around the CDATA is layout.
    let raw_text = raw
        .text
        .strip_prefix("\n\n")
        .and_then(|t| t.strip_suffix("\n    "))
        .ok_or_else(|| raw.bad())?
        .to_owned();
    Ok(Suppression {
        name: node.text_of("sname")?,
        kind: node.text_of("skind")?,
        aux: node.opt_text("skaux"),
        frames,
        raw_text,
    })
}

fn fatal_signal(node: &Node) -> Result<FatalSignal, ReportError> {
    node.only(&[
        "tid",
        "threadname",
        "signo",
        "signame",
        "sicode",
        "event",
        "siaddr",
        "stack",
    ])?;
    Ok(FatalSignal {
        tid: node.child("tid")?.number()?,
        thread_name: node.opt_text("threadname"),
        signo: node.child("signo")?.number()?,
        signame: node.text_of("signame")?,
        sicode: node.child("sicode")?.number()?,
        event: node.opt_text("event"),
        siaddr: match node.children.iter().find(|c| c.name == "siaddr") {
            Some(a) => Some(a.hex()?),
            None => None,
        },
        main_stack_size: None,
        stack_overflow: None,
        stack: stack(node.child("stack")?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;

    fn xml_of(r: &Report) -> String {
        let mut out = Vec::new();
        crate::xml::write(r, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn reads_back_what_the_writer_wrote() {
        let r = sample::report();
        assert_eq!(read(&xml_of(&r)).unwrap(), r);
    }

    #[test]
    fn a_second_document_in_the_file_is_a_structure_error() {
        let text = xml_of(&sample::report()).repeat(2);
        assert!(matches!(read(&text), Err(ReportError::Structure(_))));
    }

    #[test]
    fn an_unknown_kind_names_the_element_and_value() {
        let text = xml_of(&sample::report()).replace("InvalidFree", "InvalidFrob");
        match read(&text) {
            Err(ReportError::BadValue { element, value, .. }) => {
                assert_eq!((element.as_str(), value.as_str()), ("kind", "InvalidFrob"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn client_messages_are_reported_unsupported() {
        let text = xml_of(&sample::report()).replace(
            "<error>\n  <unique>0x1f",
            "<clientmsg>\n  <tid>1</tid>\n  <text>hi</text>\n</clientmsg>\n<error>\n  <unique>0x1f",
        );
        match read(&text) {
            Err(ReportError::Unsupported { element, .. }) => assert_eq!(element, "clientmsg"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_leak_before_finished_is_out_of_place() {
        let mut r = sample::report();
        r.finished = None;
        let mut text = xml_of(&r);
        let leak = xml_of(&sample::report());
        let start = leak.find("<error>\n  <unique>0x20").unwrap();
        let end = leak[start..].find("</error>\n\n").unwrap() + start + 10;
        text.push_str(&leak[start..end]);
        assert!(matches!(read(&text), Err(ReportError::Structure(_))));
    }

    #[test]
    fn truncated_input_is_an_error() {
        let text = xml_of(&sample::report());
        assert!(read(&text[..text.len() / 2]).is_err());
    }
}
