//! The diagnosis as text for people and as the JSON of `docs/doctor.md`.

use std::io::{self, Write};

use memdx_doctor::{Area, Diagnosis, Observation, Severity, Target};
use memdx_units::format_duration;
use serde_json::{json, Map, Value};

/// Version of the JSON document (`docs/doctor.md`).
pub const JSON_VERSION: u32 = 1;

/// The exit status for a worst severity (`docs/doctor.md`).
pub fn exit_status(worst: Severity) -> u8 {
    match worst {
        Severity::Ok | Severity::Info => 0,
        Severity::Warning => 3,
        Severity::Critical => 4,
    }
}

fn what(target: &Target) -> String {
    match target {
        Target::Machine => "the machine".to_string(),
        Target::Pid(pid) => format!("pid {pid}"),
        Target::Name(re) => format!("processes matching '{re}'"),
        Target::Cgroup(path) => format!("cgroup {path}"),
    }
}

/// The text report: a header, then each finding (severity, title, its
/// evidence indented, the next command), notes on what could not be read last.
pub fn write_text(out: &mut dyn Write, o: &Observation, d: &Diagnosis) -> io::Result<()> {
    writeln!(
        out,
        "memdx doctor: {}, observed {} ({} samples)",
        what(&o.target),
        format_duration(o.duration_s),
        o.samples
    )?;
    for f in d.findings.iter().filter(|f| f.area != Area::Access) {
        let tag = match f.severity {
            Severity::Critical => "CRITICAL",
            Severity::Warning => "WARNING ",
            Severity::Info => "info    ",
            Severity::Ok => "ok      ",
        };
        writeln!(out, "{tag} {}", f.title)?;
        for line in &f.evidence {
            writeln!(out, "         {line}")?;
        }
        if let Some(next) = &f.next {
            writeln!(out, "         next: {next}")?;
        }
    }
    for f in d.findings.iter().filter(|f| f.area == Area::Access) {
        writeln!(out, "note: {}", f.title)?;
    }
    Ok(())
}

/// The JSON document (one object).
pub fn to_json(o: &Observation, d: &Diagnosis) -> Value {
    let target = match &o.target {
        Target::Machine => json!({"kind": "machine"}),
        Target::Pid(pid) => json!({"kind": "pid", "pid": pid}),
        Target::Name(re) => json!({"kind": "name", "regex": re}),
        Target::Cgroup(path) => json!({"kind": "cgroup", "path": path}),
    };
    let findings: Vec<Value> = d
        .findings
        .iter()
        .map(|f| {
            let figures: Map<String, Value> = f
                .figures
                .iter()
                // JSON has no NaN or infinity: such a figure is left out.
                .filter(|x| x.value.is_finite())
                .map(|x| (x.name.clone(), json!(x.value)))
                .collect();
            json!({
                "severity": f.severity,
                "area": f.area,
                "id": f.id,
                "title": f.title,
                "evidence": f.evidence,
                "figures": figures,
                "next": f.next,
            })
        })
        .collect();
    let worst = d.worst();
    json!({
        "version": JSON_VERSION,
        "target": target,
        "duration_s": o.duration_s,
        "samples": o.samples,
        "worst": worst,
        "exit_status": exit_status(worst),
        "findings": findings,
    })
}
