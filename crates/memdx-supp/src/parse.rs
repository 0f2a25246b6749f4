//! The suppression-file grammar.

use std::path::{Path, PathBuf};

use crate::LeakKind;

/// At most this many locations per suppression (Valgrind's limit).
pub const MAX_LOCATIONS: usize = 24;

/// A malformed suppression file: which file, which line, what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), LineSuffix(*line))]
pub struct SuppError {
    /// The file (or `<memdx default>` for the built-in file).
    pub file: PathBuf,
    /// 1-based line; 0 when the error concerns the whole file (it cannot
    /// be read), which is then shown as `FILE: message`.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// `:LINE`, or nothing for line 0 (the whole file).
struct LineSuffix(usize);

impl std::fmt::Display for LineSuffix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            0 => Ok(()),
            n => write!(f, ":{n}"),
        }
    }
}

/// Memcheck's suppression kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuppKind {
    /// `ValueN`: use of an uninitialised N-byte value.
    Value(u32),
    /// `Cond` (or `Value0`): uninitialised condition code.
    Cond,
    /// `AddrN`: invalid N-byte access.
    Addr(u32),
    /// `Jump`: jump to an unaddressable location.
    Jump,
    /// `Param`: invalid system call parameter (with the parameter's name).
    Param(String),
    /// `FishyValue`: a possibly negative allocation argument (with the
    /// function and argument, `malloc(size)`).
    FishyValue(String),
    /// `Free`: invalid or mismatched free.
    Free,
    /// `Overlap`: source and destination overlap in memcpy and friends.
    Overlap,
    /// `Leak`, with the kinds it matches (`match-leak-kinds:`; all when absent).
    Leak(Vec<LeakKind>),
    /// `ClientCheck`: a client request check failed.
    ClientCheck,
    /// A suppression for another tool (Helgrind, DRD, ...): kept, never matched.
    OtherTool(String),
}

/// One location line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `fun:GLOB` — the (mangled) function name.
    Fun(String),
    /// `obj:GLOB` — the path of the object file.
    Obj(String),
    /// `src:GLOB[:LINE]` — the source file name and maybe the line.
    Src(String, Option<u32>),
    /// `...` — zero or more frames.
    AnyFrames,
}

/// One parsed suppression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// Its name (first line).
    pub name: String,
    /// The kind it suppresses.
    pub kind: SuppKind,
    /// Calling context, innermost first.
    pub locations: Vec<Location>,
    /// File it came from.
    pub file: PathBuf,
    /// Line of its opening brace.
    pub line: usize,
    /// Line of its name (Valgrind's `used_suppression:` lines cite it).
    pub name_line: usize,
}

fn memcheck_kind(name: &str, extra: Option<&str>) -> Result<(SuppKind, bool), String> {
    // returns the kind and whether `extra` was consumed
    let sized = |prefix: &str| -> Option<u32> {
        let n: u32 = name.strip_prefix(prefix)?.parse().ok()?;
        [1, 2, 4, 8, 16, 32].contains(&n).then_some(n)
    };
    if let Some(n) = sized("Value") {
        return Ok((SuppKind::Value(n), false));
    }
    if let Some(n) = sized("Addr") {
        return Ok((SuppKind::Addr(n), false));
    }
    Ok(match name {
        "Cond" | "Value0" => (SuppKind::Cond, false),
        "Jump" => (SuppKind::Jump, false),
        "Free" => (SuppKind::Free, false),
        "Overlap" => (SuppKind::Overlap, false),
        "ClientCheck" => (SuppKind::ClientCheck, false),
        "Param" => match extra {
            Some(p) if !p.is_empty() => (SuppKind::Param(p.to_string()), true),
            _ => return Err("Memcheck:Param needs the parameter name on the next line".into()),
        },
        "FishyValue" => match extra {
            Some(p) if !p.is_empty() => (SuppKind::FishyValue(p.to_string()), true),
            _ => {
                return Err(
                    "Memcheck:FishyValue needs the function and argument on the next line".into(),
                )
            }
        },
        "Leak" => match extra.and_then(|e| e.strip_prefix("match-leak-kinds:")) {
            Some(set) => (SuppKind::Leak(LeakKind::parse_set(set)?), true),
            None => (SuppKind::Leak(LeakKind::ALL.to_vec()), false),
        },
        other => {
            return Err(format!(
                "unknown Memcheck suppression kind {}",
                quoted(other)
            ))
        }
    })
}

fn location(line: &str) -> Result<Location, String> {
    if line == "..." {
        return Ok(Location::AnyFrames);
    }
    if let Some(g) = line.strip_prefix("fun:") {
        return Ok(Location::Fun(g.to_string()));
    }
    if let Some(g) = line.strip_prefix("obj:") {
        return Ok(Location::Obj(g.to_string()));
    }
    if let Some(spec) = line.strip_prefix("src:") {
        return Ok(match spec.rsplit_once(':') {
            Some((file, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                Location::Src(file.to_string(), n.parse().ok())
            }
            _ => Location::Src(spec.to_string(), None),
        });
    }
    Err(format!(
        "location {} should be \"...\", or start with \"fun:\", \"obj:\" or \"src:\"",
        quoted(line)
    ))
}

/// Parses the text of a suppression file. `file` names it in errors.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Suppression>, SuppError> {
    let err = |line: usize, message: String| SuppError {
        file: file.to_path_buf(),
        line,
        message,
    };
    // Meaningful lines with their numbers: comments and blank lines dropped.
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (open_line, open) = lines[i];
        if open != "{" {
            return Err(err(
                open_line,
                format!(
                    "expected '{{' to start a suppression, found {}",
                    quoted(open)
                ),
            ));
        }
        let body_end = lines[i + 1..]
            .iter()
            .position(|(_, l)| *l == "}")
            .map(|p| i + 1 + p)
            .ok_or_else(|| err(open_line, "suppression is not closed with '}'".into()))?;
        let body = &lines[i + 1..body_end];
        if let Some((n, l)) = body.iter().find(|(_, l)| *l == "{") {
            return Err(err(
                *n,
                format!(
                    "'{{' inside a suppression (is a '}}' missing?): {}",
                    quoted(l)
                ),
            ));
        }
        let Some(&(name_line, name)) = body.first() else {
            return Err(err(open_line, "empty suppression: no name".into()));
        };
        let &(kind_line, kind_text) = body.get(1).ok_or_else(|| {
            err(
                open_line,
                format!("suppression {} has no tool:kind line", quoted(name)),
            )
        })?;
        let (tools, kind_name) = kind_text.split_once(':').ok_or_else(|| {
            err(
                kind_line,
                format!(
                    "expected tool:kind (e.g. Memcheck:Leak), found {}",
                    quoted(kind_text)
                ),
            )
        })?;
        if tools.is_empty() || kind_name.is_empty() || kind_text.contains(' ') {
            return Err(err(
                kind_line,
                format!(
                    "expected tool:kind (e.g. Memcheck:Leak), found {}",
                    quoted(kind_text)
                ),
            ));
        }
        let mut rest = &body[2..];
        let kind = if tools.split(',').any(|t| t == "Memcheck") {
            let extra = rest.first().map(|(_, l)| *l);
            let (kind, consumed) =
                memcheck_kind(kind_name, extra).map_err(|m| err(kind_line, m))?;
            if consumed {
                rest = &rest[1..];
            }
            kind
        } else {
            // Another tool's suppression: its extra line (if any) cannot be
            // told apart from locations in general; keep lines that parse.
            SuppKind::OtherTool(kind_text.to_string())
        };
        let mut locations = Vec::with_capacity(rest.len());
        for (n, l) in rest {
            match location(l) {
                Ok(loc) => locations.push(loc),
                Err(_) if matches!(kind, SuppKind::OtherTool(_)) && locations.is_empty() => {}
                Err(m) => return Err(err(*n, m)),
            }
        }
        if locations.len() > MAX_LOCATIONS {
            return Err(err(
                rest[MAX_LOCATIONS].0,
                format!(
                    "too many locations (at most {MAX_LOCATIONS}) in suppression {}",
                    quoted(name)
                ),
            ));
        }
        if locations.is_empty() && !matches!(kind, SuppKind::OtherTool(_)) {
            return Err(err(
                body_end_line(&lines, body_end),
                format!("suppression {} has no locations", quoted(name)),
            ));
        }
        out.push(Suppression {
            name: name.to_string(),
            kind,
            locations,
            file: file.to_path_buf(),
            line: open_line,
            name_line,
        });
        i = body_end + 1;
    }
    Ok(out)
}

/// An I/O error's text without its ` (os error N)` tail.
/// `text` quoted for an error message, cut after 100 characters: a
/// malformed line can be megabytes long, and an error quotes only enough
/// of it to recognise.
pub(crate) fn quoted(text: &str) -> String {
    const MAX: usize = 100;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

fn without_os_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text,
    }
}

fn body_end_line(lines: &[(usize, &str)], idx: usize) -> usize {
    lines[idx].0
}

/// The largest suppression file memdx reads (Valgrind's own default file is
/// about 50 KB; a larger file is a wrong argument, not suppressions).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Reads and parses a suppression file. A file larger than
/// [`MAX_FILE_BYTES`] is refused without being read past the limit.
pub fn parse_file(path: &Path) -> Result<Vec<Suppression>, SuppError> {
    use std::io::Read;
    let whole_file = |message: String| SuppError {
        file: path.to_path_buf(),
        line: 0,
        message,
    };
    let cannot_read =
        |e: std::io::Error| whole_file(format!("cannot read: {}", without_os_error(&e)));
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(cannot_read)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(whole_file(format!(
            "larger than {} MiB, the most memdx reads of a suppression file",
            MAX_FILE_BYTES >> 20
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        cannot_read(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })?;
    parse(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Vec<Suppression>, SuppError> {
        parse(text, Path::new("t.supp"))
    }

    #[test]
    fn parses_leak_with_kinds_wildcards_and_ellipsis() {
        let s = p("# hi\n{\n   my-leak\n   Memcheck:Leak\n   match-leak-kinds: definite,possible\n   fun:malloc\n   ...\n   obj:/usr/lib/*/libfoo.so*\n   src:foo.c:12\n   src:bar.c\n}\n").unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name, "my-leak");
        assert_eq!(
            s[0].kind,
            SuppKind::Leak(vec![LeakKind::Definite, LeakKind::Possible])
        );
        assert_eq!(
            s[0].locations,
            vec![
                Location::Fun("malloc".into()),
                Location::AnyFrames,
                Location::Obj("/usr/lib/*/libfoo.so*".into()),
                Location::Src("foo.c".into(), Some(12)),
                Location::Src("bar.c".into(), None),
            ]
        );
        assert_eq!(s[0].line, 2);
    }

    #[test]
    fn leak_without_kinds_matches_all_and_param_takes_its_name() {
        let s = p("{\nn\nMemcheck:Leak\nfun:calloc\n}\n{\nw\nMemcheck:Param\nwrite(buf)\nfun:__libc_write\n}\n").unwrap();
        assert_eq!(s[0].kind, SuppKind::Leak(LeakKind::ALL.to_vec()));
        assert_eq!(s[1].kind, SuppKind::Param("write(buf)".into()));
        assert_eq!(s[1].locations, vec![Location::Fun("__libc_write".into())]);
    }

    #[test]
    fn sized_kinds_and_other_tools() {
        let s = p("{\na\nMemcheck:Addr32\nfun:f\n}\n{\nb\nMemcheck:Value0\nfun:f\n}\n{\nc\nHelgrind:Race\nfun:f\n}\n{\nd\nMemcheck,Addrcheck:Free\nfun:free\n}\n").unwrap();
        assert_eq!(s[0].kind, SuppKind::Addr(32));
        assert_eq!(s[1].kind, SuppKind::Cond);
        assert_eq!(s[2].kind, SuppKind::OtherTool("Helgrind:Race".into()));
        assert_eq!(s[3].kind, SuppKind::Free);
    }

    #[test]
    fn errors_name_file_line_and_problem() {
        let e = p("{\nname\nMemcheck:Leak\nfun:malloc\nbogus:line\n}\n").unwrap_err();
        assert_eq!((e.line, e.file.as_path()), (5, Path::new("t.supp")));
        assert!(e.message.contains("bogus:line"), "{e}");
        assert_eq!(e.to_string().split(':').next(), Some("t.supp"));

        let e = p("{\nname\nMemcheck:Leak\nfun:malloc\n").unwrap_err();
        assert!(e.message.contains("not closed"), "{e}");
        assert_eq!(p("{\nn\nMemcheck:Nope\nfun:f\n}\n").unwrap_err().line, 3);
        assert!(
            p("{\nn\nMemcheck:Leak\nmatch-leak-kinds: sometimes\nfun:f\n}\n")
                .unwrap_err()
                .message
                .contains("sometimes")
        );
        assert!(p("fun:malloc\n")
            .unwrap_err()
            .message
            .contains("expected '{'"));
        assert!(p("{\nn\nMemcheck:Leak\n}\n")
            .unwrap_err()
            .message
            .contains("no locations"));
        let many: String = (0..25).map(|i| format!("fun:f{i}\n")).collect();
        assert!(p(&format!("{{\nn\nMemcheck:Leak\n{many}}}\n"))
            .unwrap_err()
            .message
            .contains("too many"));
    }

    #[test]
    fn valgrinds_own_default_suppressions_parse() {
        let path = Path::new("/usr/libexec/valgrind/default.supp");
        let Ok(text) = std::fs::read_to_string(path) else {
            memdx_testkit::tool_missing("valgrind's default.supp is not installed");
            return;
        };
        let s = parse(&text, path).unwrap();
        assert_eq!(s.len(), text.lines().filter(|l| l.trim() == "{").count());
        assert!(s.iter().any(|s| matches!(s.kind, SuppKind::Param(_))));
    }
}
