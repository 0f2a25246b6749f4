//! The suppression blocks `--gen-suppressions=yes|all` prints, in Valgrind
//! 3.19's layout (three-space indent, `<insert_a_suppression_name_here>`).

use crate::matcher::{Frame, Query};

/// The `Memcheck:Kind` line and optional extra line for an error.
fn kind_lines(query: Query<'_>) -> (String, Option<String>) {
    match query {
        Query::Leak(k) => (
            "Memcheck:Leak".into(),
            Some(format!("match-leak-kinds: {}", k.name())),
        ),
        Query::Free => ("Memcheck:Free".into(), None),
        Query::Addr(n) => (format!("Memcheck:Addr{n}"), None),
        Query::Value(0) => ("Memcheck:Cond".into(), None),
        Query::Value(n) => (format!("Memcheck:Value{n}"), None),
        Query::Overlap => ("Memcheck:Overlap".into(), None),
        Query::Jump => ("Memcheck:Jump".into(), None),
        Query::Param(p) => ("Memcheck:Param".into(), Some(p.to_string())),
        Query::FishyValue(p) => ("Memcheck:FishyValue".into(), Some(p.to_string())),
    }
}

/// A ready-to-paste suppression for an error: one `fun:` line per frame
/// with a function name (mangled), else `obj:` with the object path, else
/// `obj:*` — as Valgrind writes them.
pub fn suppression_text(query: Query<'_>, frames: &[Frame<'_>]) -> String {
    let (kind, extra) = kind_lines(query);
    let mut s = String::from("{\n   <insert_a_suppression_name_here>\n");
    s.push_str(&format!("   {kind}\n"));
    if let Some(extra) = extra {
        s.push_str(&format!("   {extra}\n"));
    }
    for f in frames {
        match (f.fun, f.obj) {
            (Some(fun), _) => s.push_str(&format!("   fun:{fun}\n")),
            (None, Some(obj)) => s.push_str(&format!("   obj:{obj}\n")),
            (None, None) => s.push_str("   obj:*\n"),
        }
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;
    use crate::LeakKind;
    use std::path::Path;

    #[test]
    fn generated_blocks_parse_back_and_match_their_error() {
        let frames = [
            Frame {
                fun: Some("malloc"),
                obj: Some("/usr/lib/memdx.so"),
                ..Default::default()
            },
            Frame {
                fun: None,
                obj: Some("/usr/lib/libfoo.so.1"),
                ..Default::default()
            },
            Frame {
                fun: Some("_Z4workv"),
                obj: Some("/tmp/prog"),
                ..Default::default()
            },
        ];
        let q = Query::Leak(LeakKind::Indirect);
        let text = suppression_text(q, &frames);
        assert_eq!(
            text,
            "{\n   <insert_a_suppression_name_here>\n   Memcheck:Leak\n   match-leak-kinds: indirect\n   fun:malloc\n   obj:/usr/lib/libfoo.so.1\n   fun:_Z4workv\n}\n"
        );
        let s = parse(&text, Path::new("gen.supp")).unwrap();
        assert!(s[0].matches(q, &frames));
        assert!(!s[0].matches(Query::Leak(LeakKind::Definite), &frames));
    }
}
