//! What the linter reports: each finding, and the report of one migration file.

use serde::Serialize;

use super::rules::{Rule, Severity};

/// One thing the linter found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// The line of the statement in the file (1-based).
    pub line: usize,
    /// What the statement does, naming the objects (`drops column body of notes`).
    pub message: String,
}

/// The findings of one migration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LintReport {
    /// Every finding, in file order.
    pub findings: Vec<Finding>,
    /// The number of statements read.
    pub statements: usize,
}

impl LintReport {
    /// Whether a finding makes the migration contract (or not understood, or not
    /// appliable, which count as contract).
    pub fn is_contract(&self) -> bool {
        self.breaking().next().is_some()
    }

    /// The findings that make it contract, unknown or not appliable.
    pub fn breaking(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| {
            matches!(
                f.rule.severity,
                Severity::Contract | Severity::Unknown | Severity::Error
            )
        })
    }

    /// The findings that keep the migration from being applied as written: the guard
    /// refuses to run it.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.rule.severity == Severity::Error)
    }
}
