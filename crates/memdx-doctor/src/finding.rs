//! What the diagnosis returns: findings with a severity, evidence and the
//! next command to run.

use serde::Serialize;

/// How bad a finding is. Ordered: `Ok < Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Nothing wrong (the one line of a healthy machine).
    Ok,
    /// Worth knowing (who owns the memory, what could not be read).
    Info,
    /// Something to look at: it may become a problem.
    Warning,
    /// The machine or the target is in trouble now.
    Critical,
}

impl Severity {
    /// The lower-case name (`critical`, `warning`, `info`, `ok`).
    pub fn name(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Which question a finding answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    /// Is the machine (or the target's cgroup) short of memory?
    Pressure,
    /// Who owns the memory, and what kind it is.
    Who,
    /// What grew during the observation.
    Growth,
    /// What could not be read, and why.
    Access,
    /// The verdict of a healthy machine.
    Fine,
}

/// One named figure behind a finding, for scripts (`--json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    /// Stable name, e.g. `mem_available_pct`, `swap_in_pages_per_s`.
    pub name: String,
    /// The value, in the unit the name says.
    pub value: f64,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// Which question it answers.
    pub area: Area,
    /// A stable identifier of the rule, e.g. `pressure.mem_available`.
    pub id: &'static str,
    /// One line saying what was found.
    pub title: String,
    /// The numbers behind it, as lines for people.
    pub evidence: Vec<String>,
    /// The same numbers, named, for scripts.
    pub figures: Vec<Figure>,
    /// The memdx command to run next, when there is one.
    pub next: Option<String>,
}

impl Finding {
    /// A finding without evidence yet.
    pub fn new(severity: Severity, area: Area, id: &'static str, title: String) -> Self {
        Self {
            severity,
            area,
            id,
            title,
            evidence: Vec::new(),
            figures: Vec::new(),
            next: None,
        }
    }

    /// Adds a line of evidence.
    pub fn evidence(mut self, line: String) -> Self {
        self.evidence.push(line);
        self
    }

    /// Adds a named figure.
    pub fn figure(mut self, name: &str, value: f64) -> Self {
        self.figures.push(Figure {
            name: name.to_string(),
            value,
        });
        self
    }

    /// Sets the next command.
    pub fn next(mut self, command: String) -> Self {
        self.next = Some(command);
        self
    }
}

/// The diagnosis: findings, worst first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    /// Findings ordered by severity (critical first), then by area.
    pub findings: Vec<Finding>,
}

impl Diagnosis {
    /// The worst severity among the findings (`Ok` when there are none).
    pub fn worst(&self) -> Severity {
        self.findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok)
    }
}
