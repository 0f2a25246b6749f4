//! Does a suppression match an error?

use crate::glob::glob_match;
use crate::parse::{Location, SuppKind, Suppression};
use crate::LeakKind;

/// One frame of an error's stack, innermost first, with inlined calls as
/// frames of their own (as Valgrind matches them). Unknown parts are `None`
/// and match as Valgrind's `???`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Mangled function name (suppressions name C++ functions mangled).
    pub fun: Option<&'a str>,
    /// Path of the object (executable or shared library).
    pub obj: Option<&'a str>,
    /// Source file name (without directory).
    pub file: Option<&'a str>,
    /// Source line.
    pub line: Option<u32>,
}

/// What kind of error is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query<'a> {
    /// A leak of this kind.
    Leak(LeakKind),
    /// Invalid or mismatched free / delete / realloc.
    Free,
    /// Invalid access of this size.
    Addr(u32),
    /// Uninitialised value of this size (0: condition).
    Value(u32),
    /// Overlapping memcpy and friends.
    Overlap,
    /// Jump to an unaddressable location.
    Jump,
    /// A bad system-call parameter, with its name.
    Param(&'a str),
    /// A fishy (possibly negative) allocation argument, as `malloc(size)`.
    FishyValue(&'a str),
}

const UNKNOWN: &str = "???";

fn location_matches(loc: &Location, f: &Frame<'_>) -> bool {
    match loc {
        Location::Fun(g) => glob_match(g, f.fun.unwrap_or(UNKNOWN)),
        Location::Obj(g) => glob_match(g, f.obj.unwrap_or(UNKNOWN)),
        Location::Src(g, line) => {
            glob_match(g, f.file.unwrap_or(UNKNOWN)) && line.is_none_or(|l| f.line == Some(l))
        }
        Location::AnyFrames => true,
    }
}

/// Whether `locs` matches the top of `frames` (`...` spans zero or more).
fn stack_matches(locs: &[Location], frames: &[Frame<'_>]) -> bool {
    match locs.split_first() {
        None => true,
        Some((Location::AnyFrames, rest)) => {
            (0..=frames.len()).any(|skip| stack_matches(rest, &frames[skip..]))
        }
        Some((loc, rest)) => match frames.split_first() {
            Some((f, more)) => location_matches(loc, f) && stack_matches(rest, more),
            None => false,
        },
    }
}

impl Suppression {
    /// Whether this suppression applies to an error of `query` kind with
    /// this stack.
    pub fn matches(&self, query: Query<'_>, frames: &[Frame<'_>]) -> bool {
        let kind_ok = match (&self.kind, query) {
            (SuppKind::Leak(kinds), Query::Leak(k)) => kinds.contains(&k),
            (SuppKind::Free, Query::Free) => true,
            (SuppKind::Addr(a), Query::Addr(b)) => *a == b,
            (SuppKind::Value(a), Query::Value(b)) => *a == b,
            (SuppKind::Cond, Query::Value(0)) => true,
            (SuppKind::Overlap, Query::Overlap) => true,
            (SuppKind::Jump, Query::Jump) => true,
            (SuppKind::Param(a), Query::Param(b)) => a == b,
            (SuppKind::FishyValue(a), Query::FishyValue(b)) => a == b,
            _ => false,
        };
        kind_ok && stack_matches(&self.locations, frames)
    }
}

/// The first suppression in `supps` that applies, if any.
pub fn first_match<'s>(
    supps: &'s [Suppression],
    query: Query<'_>,
    frames: &[Frame<'_>],
) -> Option<&'s Suppression> {
    supps.iter().find(|s| s.matches(query, frames))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;
    use std::path::Path;

    fn supp(text: &str) -> Suppression {
        parse(text, Path::new("t.supp")).unwrap().remove(0)
    }

    fn fun(name: &'static str) -> Frame<'static> {
        Frame {
            fun: Some(name),
            obj: Some("/tmp/prog"),
            file: Some("prog.c"),
            line: Some(10),
        }
    }

    #[test]
    fn fishy_value_matches_its_function_and_argument() {
        let s = supp("{\nx\nMemcheck:FishyValue\nmalloc(size)\nfun:malloc\n}\n");
        assert_eq!(s.kind, SuppKind::FishyValue("malloc(size)".into()));
        let frames = [fun("malloc"), fun("main")];
        assert!(s.matches(Query::FishyValue("malloc(size)"), &frames));
        assert!(!s.matches(Query::FishyValue("calloc(nmemb)"), &frames));
        assert!(!s.matches(Query::Param("malloc(size)"), &frames));
    }

    #[test]
    fn ellipsis_spans_any_number_of_frames() {
        let s = supp("{\nx\nMemcheck:Leak\nfun:malloc\n...\nfun:ddd\n...\nfun:main\n}\n");
        let q = Query::Leak(LeakKind::Definite);
        assert!(s.matches(q, &[fun("malloc"), fun("ddd"), fun("main")]));
        assert!(s.matches(
            q,
            &[
                fun("malloc"),
                fun("a"),
                fun("b"),
                fun("ddd"),
                fun("c"),
                fun("main"),
                fun("__libc_start_main")
            ]
        ));
        assert!(!s.matches(q, &[fun("malloc"), fun("main")]));
        assert!(!s.matches(q, &[fun("calloc"), fun("ddd"), fun("main")]));
    }

    #[test]
    fn stack_shorter_than_pattern_does_not_match_unless_only_ellipses_remain() {
        let s = supp("{\nx\nMemcheck:Free\nfun:free\nfun:main\n}\n");
        assert!(!s.matches(Query::Free, &[fun("free")]));
        let s = supp("{\nx\nMemcheck:Free\nfun:free\n...\n}\n");
        assert!(s.matches(Query::Free, &[fun("free")]));
    }

    #[test]
    fn leak_kinds_and_error_kinds_must_agree() {
        let s = supp("{\nx\nMemcheck:Leak\nmatch-leak-kinds: reachable\nfun:malloc\n}\n");
        assert!(s.matches(Query::Leak(LeakKind::Reachable), &[fun("malloc")]));
        assert!(!s.matches(Query::Leak(LeakKind::Definite), &[fun("malloc")]));
        assert!(!s.matches(Query::Free, &[fun("malloc")]));
        let a = supp("{\nx\nMemcheck:Addr4\nfun:f\n}\n");
        assert!(a.matches(Query::Addr(4), &[fun("f")]) && !a.matches(Query::Addr(8), &[fun("f")]));
    }

    #[test]
    fn obj_src_and_unknown_frames() {
        let s = supp("{\nx\nMemcheck:Leak\nobj:/tmp/*\nsrc:prog.c:10\nfun:*\n}\n");
        let unknown = Frame::default();
        assert!(s.matches(
            Query::Leak(LeakKind::Possible),
            &[fun("a"), fun("b"), unknown]
        ));
        let s = supp("{\nx\nMemcheck:Leak\nsrc:prog.c:11\n}\n");
        assert!(!s.matches(Query::Leak(LeakKind::Possible), &[fun("a")]));
    }

    #[test]
    fn first_match_picks_in_file_order() {
        let all = parse(
            "{\none\nMemcheck:Leak\nfun:calloc\n}\n{\ntwo\nMemcheck:Leak\nfun:*alloc\n}\n",
            Path::new("t.supp"),
        )
        .unwrap();
        let q = Query::Leak(LeakKind::Definite);
        assert_eq!(first_match(&all, q, &[fun("malloc")]).unwrap().name, "two");
        assert_eq!(first_match(&all, q, &[fun("calloc")]).unwrap().name, "one");
        assert!(first_match(&all, q, &[fun("mmap")]).is_none());
    }
}
