//! The report as one JSON document, for tools that want structure without
//! XML. The schema is documented in `docs/check-json.md`; this module's
//! types are the schema.
//!
//! ```text
//! { "format": "memdx-check", "version": 1, <every field of Report> }
//! ```
//!
//! Field names are the model's; error kinds are Valgrind's XML names
//! (`InvalidFree`, `Leak_DefinitelyLost`, ...); absent values are `null`.
//! Addresses (`ip`, `siaddr`) and ids (`unique`) are numbers: user-space
//! addresses fit in the 53 bits a JSON number holds exactly.

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::error::ReportError;
use crate::model::Report;

/// The value of the document's `format` field.
pub const FORMAT: &str = "memdx-check";
/// The schema version this crate writes. A new field is added without a
/// new version; a changed or removed one gets a new version.
pub const VERSION: u32 = 1;

#[derive(Serialize)]
struct Out<'a> {
    format: &'static str,
    version: u32,
    #[serde(flatten)]
    report: &'a Report,
}

#[derive(Deserialize)]
struct In {
    format: String,
    version: u32,
    #[serde(flatten)]
    report: Report,
}

/// Writes `report` as one pretty-printed JSON document and a newline.
pub fn write(report: &Report, mut out: impl Write) -> Result<(), ReportError> {
    let doc = Out {
        format: FORMAT,
        version: VERSION,
        report,
    };
    serde_json::to_writer_pretty(&mut out, &doc)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Reads a document [`write()`] wrote.
pub fn read(json: &str) -> Result<Report, ReportError> {
    let doc: In = serde_json::from_str(json)?;
    if doc.format != FORMAT || doc.version != VERSION {
        return Err(ReportError::Structure(format!(
            "format {:?} version {}, expected {FORMAT:?} version {VERSION}",
            doc.format, doc.version
        )));
    }
    Ok(doc.report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;

    fn json_of(r: &Report) -> String {
        let mut out = Vec::new();
        write(r, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn round_trips_through_read() {
        let r = sample::report();
        assert_eq!(read(&json_of(&r)).unwrap(), r);
    }

    #[test]
    fn documents_the_fields_docs_check_json_names() {
        let v: serde_json::Value = serde_json::from_str(&json_of(&sample::report())).unwrap();
        assert_eq!(v["format"], "memdx-check");
        assert_eq!(v["version"], 1);
        assert_eq!(v["pid"], 4242);
        let e = &v["errors"][0];
        assert_eq!(e["kind"], "InvalidFree");
        assert_eq!(e["what"], "Invalid free() / delete / delete[] / realloc()");
        assert_eq!(e["stack"]["frames"][1]["fn"], "main");
        assert_eq!(e["stack"]["frames"][0]["line"], serde_json::Value::Null);
        assert_eq!(e["aux"][0]["stack"]["frames"][0]["fn"], "free");
        assert_eq!(e["suppression"]["frames"][0]["fun"], "free");
        assert!(e["suppression"]["raw_text"]
            .as_str()
            .unwrap()
            .starts_with("{\n   <insert_a"));
        let leak = &v["errors"][1];
        assert_eq!(leak["kind"], "Leak_DefinitelyLost");
        assert_eq!(leak["what"]["leaked_bytes"], 4);
        assert_eq!(leak["what"]["leaked_blocks"], 1);
        assert_eq!(v["error_counts"][0]["unique"], 31);
        assert_eq!(v["finished"]["elapsed_ms"], 90_061_001);
        assert_eq!(v["leak_summary"], serde_json::Value::Null);
    }

    #[test]
    fn another_format_or_version_is_refused() {
        let text = json_of(&sample::report()).replace("\"version\": 1", "\"version\": 2");
        assert!(matches!(read(&text), Err(ReportError::Structure(_))));
    }
}
