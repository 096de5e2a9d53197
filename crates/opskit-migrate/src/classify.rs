//! Expand or contract: the header of a migration file wins, else the linter decides.

use serde::Serialize;

use crate::lint::{self, Dialect, Finding, LintReport, rules};

/// What a migration means for the binary one release older.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compat {
    /// Older binaries keep working.
    Expand,
    /// Older binaries break.
    Contract,
}

impl Compat {
    /// `expand` or `contract`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expand => "expand",
            Self::Contract => "contract",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "expand" => Some(Self::Expand),
            "contract" => Some(Self::Contract),
            _ => None,
        }
    }
}

/// Who decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassifiedBy {
    /// The `-- opskit: expand|contract` header.
    Header,
    /// The linter.
    Linter,
}

impl ClassifiedBy {
    /// `header` or `linter`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Linter => "linter",
        }
    }
}

/// The classification of one migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// Expand or contract.
    pub compat: Compat,
    /// Header or linter.
    pub by: ClassifiedBy,
    /// The header's `reason:`, if any.
    pub reason: Option<String>,
    /// What the linter found.
    pub lint: LintReport,
}

impl Classification {
    /// One line on what the migration changes that matters to an older binary: the
    /// header's reason and the breaking findings (`drops column body of notes
    /// (OPS-C002)`), or `adds only` for an expand migration without findings.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self.reason.iter().cloned().collect();
        parts.extend(
            self.lint
                .breaking()
                .map(|f: &Finding| format!("{} ({})", f.message, f.rule.id)),
        );
        if parts.is_empty() {
            "only additions".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// Classifies a migration's SQL.
pub fn classify(sql: &str, dialect: Dialect) -> Classification {
    // The statements after a byte-order mark are still classified; the mark
    // itself is an error of its own, at line 1.
    let mut lint = lint::lint(sql.strip_prefix('\u{feff}').unwrap_or(sql), dialect);
    if sql.starts_with('\u{feff}') {
        lint.findings.insert(
            0,
            Finding {
                rule: rules::BYTE_ORDER_MARK,
                line: 1,
                message: "the file starts with a byte-order mark".to_owned(),
            },
        );
    }
    if let Err((line, message)) = crate::lock_wait::header::lock_timeout(sql) {
        lint.findings.insert(
            0,
            Finding {
                rule: rules::BAD_LOCK_TIMEOUT,
                line,
                message,
            },
        );
    }
    match header(sql) {
        Ok(Some((compat, reason))) => Classification {
            compat,
            by: ClassifiedBy::Header,
            reason,
            lint,
        },
        Ok(None) => Classification {
            compat: if lint.is_contract() {
                Compat::Contract
            } else {
                Compat::Expand
            },
            by: ClassifiedBy::Linter,
            reason: None,
            lint,
        },
        Err(bad) => {
            lint.findings.insert(
                0,
                Finding {
                    rule: rules::BAD_HEADER,
                    line: bad.0,
                    message: format!("the header `{}` is not understood", bad.1),
                },
            );
            Classification {
                compat: Compat::Contract,
                by: ClassifiedBy::Linter,
                reason: None,
                lint,
            }
        }
    }
}

/// What the file's header declares, if it says expand or contract.
pub(crate) fn declared(sql: &str) -> Option<Compat> {
    header(sql).ok().flatten().map(|(compat, _)| compat)
}

/// A header's classification and reason.
type Header = (Compat, Option<String>);

/// The `-- opskit: expand|contract [reason: ...]` header among the leading comments
/// (line comments, block comments and blank lines, in any order), with an optional
/// `-- reason: ...` line after it. `Err((line, text))` for an `opskit:` line that
/// says neither.
fn header(sql: &str) -> Result<Option<Header>, (usize, String)> {
    let mut found: Option<Header> = None;
    let mut rest = sql;
    let mut number = 1;
    loop {
        let trimmed = rest.trim_start();
        number += rest[..rest.len() - trimmed.len()].matches('\n').count();
        rest = trimmed;
        if let Some(block) = rest.strip_prefix("/*") {
            let end = block.find("*/").map_or(block.len(), |n| n + 2);
            number += block[..end].matches('\n').count();
            rest = &block[end..];
            continue;
        }
        let Some(comment) = rest.strip_prefix("--") else {
            break;
        };
        let (line, after) = comment.split_once('\n').unwrap_or((comment, ""));
        let comment = line.trim();
        if let Some(opskit) = comment
            .strip_prefix("opskit:")
            .filter(|o| !crate::lock_wait::header::is_lock_timeout_line(o))
        {
            let opskit = opskit.trim();
            let (word, reason) = match opskit.split_once("reason:") {
                Some((word, reason)) => (word.trim(), Some(reason.trim().to_owned())),
                None => (opskit, None),
            };
            let compat = Compat::parse(word.trim_end_matches([',', ';']).trim())
                .ok_or_else(|| (number, format!("--{}", line.trim_end())))?;
            found = Some((compat, reason.filter(|r| !r.is_empty())));
        } else if let (Some((_, reason @ None)), Some(text)) =
            (&mut found, comment.strip_prefix("reason:"))
        {
            *reason = Some(text.trim().to_owned()).filter(|r| !r.is_empty());
        }
        rest = after;
        number += 1;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_wins_over_the_linter() {
        let c = classify(
            "-- opskit: expand reason: the column was never read\nALTER TABLE t DROP COLUMN x;",
            Dialect::Sqlite,
        );
        assert_eq!((c.compat, c.by), (Compat::Expand, ClassifiedBy::Header));
        assert_eq!(c.reason.as_deref(), Some("the column was never read"));
        assert!(c.lint.is_contract(), "the findings are kept for the record");
    }

    #[test]
    fn a_reason_may_follow_on_its_own_line() {
        let c = classify(
            "-- opskit: contract\n-- reason: v1.4 stopped reading body\nALTER TABLE t DROP COLUMN body;",
            Dialect::Sqlite,
        );
        assert_eq!(c.compat, Compat::Contract);
        assert_eq!(
            c.summary(),
            "v1.4 stopped reading body; drops column body of t (OPS-C002)"
        );
    }

    #[test]
    fn without_a_header_the_linter_decides() {
        assert_eq!(
            classify("ALTER TABLE t ADD COLUMN y TEXT;", Dialect::Sqlite).compat,
            Compat::Expand
        );
        let c = classify("ALTER TABLE t RENAME COLUMN a TO b;", Dialect::Sqlite);
        assert_eq!((c.compat, c.by), (Compat::Contract, ClassifiedBy::Linter));
        assert_eq!(
            classify("CREATE TABLE t (x INT);", Dialect::Sqlite).summary(),
            "only additions"
        );
    }

    #[test]
    fn a_misspelt_header_is_a_finding_and_counts_as_contract() {
        let c = classify(
            "-- opskit: expnad\nCREATE TABLE t (x INT);",
            Dialect::Sqlite,
        );
        assert_eq!(c.compat, Compat::Contract);
        assert_eq!(c.lint.findings[0].rule.id, "OPS-U003");
        assert_eq!(c.lint.findings[0].line, 1);
    }

    #[test]
    fn the_header_may_follow_block_comments_and_blank_lines() {
        let c = classify(
            "/* Migration 7.\n   Drops the old body. */\n\n\n-- opskit: contract\nALTER TABLE t DROP COLUMN body;",
            Dialect::Postgres,
        );
        assert_eq!((c.compat, c.by), (Compat::Contract, ClassifiedBy::Header));
        let c = classify(
            "\n\n/* a */ -- opskit: expnad\nCREATE TABLE t (x INT);",
            Dialect::Postgres,
        );
        assert_eq!(c.lint.findings[0].rule.id, "OPS-U003");
        assert_eq!(c.lint.findings[0].line, 3);
    }
}
