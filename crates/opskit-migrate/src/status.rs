//! What the database holds, compared with what this binary knows.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha384};

use crate::classify::Compat;

/// A migration of the binary, as the status compares it.
#[derive(Debug, Clone)]
pub(crate) struct Known<'a> {
    pub(crate) version: i64,
    pub(crate) description: &'a str,
    pub(crate) sql: &'a str,
    pub(crate) checksum: &'a [u8],
    /// Its header says `-- opskit: contract`.
    pub(crate) declared_contract: bool,
}

/// A row of `_sqlx_migrations`.
#[derive(Debug, Clone)]
pub(crate) struct AppliedRow {
    pub(crate) version: i64,
    pub(crate) description: String,
    pub(crate) success: bool,
    pub(crate) checksum: Vec<u8>,
}

/// A row of `_opskit_migrations`.
#[derive(Debug, Clone)]
pub(crate) struct RecordRow {
    pub(crate) version: i64,
    pub(crate) compat: String,
    pub(crate) summary: String,
    pub(crate) outcome: String,
    pub(crate) error: Option<String>,
}

/// A migration named by version and description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Named {
    /// The version (the number before `_` in the file name).
    pub version: i64,
    /// The description (the rest of the file name).
    pub description: String,
}

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.version, self.description)
    }
}

/// A migration the database has and this binary does not know, because it is newer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ahead {
    /// Which migration.
    #[serde(flatten)]
    pub migration: Named,
    /// Its record: expand or contract, and what it changed; `None` when it was
    /// applied by a tool that keeps no record (counted as contract).
    pub compat: Option<Compat>,
    /// What it changed, from the record.
    pub summary: Option<String>,
}

impl Ahead {
    /// Whether this binary can run with the migration applied.
    pub fn is_compatible(&self) -> bool {
        self.compat == Some(Compat::Expand)
    }
}

/// An applied migration whose file changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Modified {
    /// Which migration.
    #[serde(flatten)]
    pub migration: Named,
    /// Whether only line endings differ (CRLF against LF).
    pub line_endings_only: bool,
}

/// A migration that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failed {
    /// Which migration.
    #[serde(flatten)]
    pub migration: Named,
    /// The database's error, from the record.
    pub error: Option<String>,
    /// Whether parts of it may be applied: it ran outside a transaction, or sqlx
    /// marked it unsuccessful (dirty).
    pub partial: bool,
}

/// Where the schema stands, worst first.
///
/// New states may come (as [`State::ContractPending`] did): match with a wildcard
/// arm, or ask [`SchemaStatus::is_compatible`] rather than listing states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum State {
    /// A migration is partly applied (it failed outside a transaction, or sqlx
    /// marked it dirty): an operator must record what the database holds
    /// (`opskit-migrate repair`) before any release starts.
    Failed,
    /// An applied migration's file changed.
    Modified,
    /// The database has a migration this binary should know and does not.
    Missing,
    /// The database has newer migrations, and one is contract or unrecorded.
    AheadIncompatible,
    /// This binary has migrations the database lacks.
    Pending,
    /// The only migrations the database lacks are ones this binary's files declare
    /// contract: held back until no older release runs ([`Policy::Expand`]), and
    /// this binary runs without them, as it did while it rolled out.
    ///
    /// [`Policy::Expand`]: crate::Policy::Expand
    ContractPending,
    /// The database has newer migrations, all expand: this binary can run.
    AheadCompatible,
    /// Database and binary agree.
    UpToDate,
}

impl State {
    /// The snake_case name used in events and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Modified => "modified",
            Self::Missing => "missing",
            Self::AheadIncompatible => "ahead_incompatible",
            Self::Pending => "pending",
            Self::ContractPending => "contract_pending",
            Self::AheadCompatible => "ahead_compatible",
            Self::UpToDate => "up_to_date",
        }
    }
}

/// The comparison of this binary's migrations with the database's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaStatus {
    /// The overall state (the worst that applies).
    pub state: State,
    /// This binary's newest migration.
    pub binary_latest: Option<i64>,
    /// The database's newest successfully applied migration.
    pub database_latest: Option<i64>,
    /// In the binary, not applied.
    pub pending: Vec<Named>,
    /// Applied, newer than anything the binary knows.
    pub ahead: Vec<Ahead>,
    /// Applied, but the file differs.
    pub modified: Vec<Modified>,
    /// Applied, older than the binary's newest, unknown to the binary.
    pub missing: Vec<Named>,
    /// Failed or partly applied.
    pub failed: Vec<Failed>,
    /// Pending migrations that failed before and were rolled back: nothing of them
    /// is applied, so the next `apply` runs them again (the fixed file, after a
    /// fix). The history table keeps every attempt.
    pub retrying: Vec<Failed>,
}

impl SchemaStatus {
    /// Whether this binary can run against the schema as it is: up to date, newer
    /// migrations that are all expand, or only its declared contract migrations
    /// pending.
    pub fn is_compatible(&self) -> bool {
        matches!(
            self.state,
            State::UpToDate | State::AheadCompatible | State::ContractPending
        )
    }

    /// `known` and `applied` are sorted by version (the binary's order, and the
    /// query's `ORDER BY`); they are merged in one pass, then the guard's records of
    /// failures are added, then the state follows from what was found.
    pub(crate) fn compute(
        known: &[Known<'_>],
        applied: &[AppliedRow],
        records: &[RecordRow],
    ) -> Self {
        let records: BTreeMap<i64, &RecordRow> = records.iter().map(|r| (r.version, r)).collect();
        let mut status = Self {
            state: State::UpToDate,
            binary_latest: known.last().map(|k| k.version),
            database_latest: (applied.iter())
                .filter(|a| a.success)
                .map(|a| a.version)
                .max(),
            pending: Vec::new(),
            ahead: Vec::new(),
            modified: Vec::new(),
            missing: Vec::new(),
            failed: Vec::new(),
            retrying: Vec::new(),
        };
        status.merge(known, applied, &records);
        status.add_recorded_failures(known, applied, &records);
        status.failed.sort_by_key(|f| f.migration.version);
        status.state = status.state_of(known);
        status
    }

    /// Sorts each migration of the binary and each applied row into pending,
    /// failed, modified, missing or ahead.
    fn merge(
        &mut self,
        known: &[Known<'_>],
        applied: &[AppliedRow],
        records: &BTreeMap<i64, &RecordRow>,
    ) {
        let error_of = |version: i64| records.get(&version).and_then(|r| r.error.clone());
        let (mut k, mut a) = (known.iter().peekable(), applied.iter().peekable());
        loop {
            let order = match (k.peek(), a.peek()) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(known), Some(row)) => known.version.cmp(&row.version),
            };
            match order {
                // Known to the binary, not applied.
                std::cmp::Ordering::Less => {
                    let known = k.next().expect("peeked");
                    self.pending.push(named(known.version, known.description));
                }
                // Both: applied as the binary has it?
                std::cmp::Ordering::Equal => {
                    let (known, row) = (k.next().expect("peeked"), a.next().expect("peeked"));
                    if !row.success {
                        self.failed.push(Failed {
                            migration: named(known.version, known.description),
                            error: error_of(known.version),
                            partial: true,
                        });
                    } else if row.checksum != known.checksum {
                        self.modified.push(Modified {
                            migration: named(known.version, known.description),
                            line_endings_only: line_endings_only(known.sql, &row.checksum),
                        });
                    }
                }
                // Applied, unknown to the binary.
                std::cmp::Ordering::Greater => {
                    let row = a.next().expect("peeked");
                    if !row.success {
                        self.failed.push(Failed {
                            migration: named(row.version, &row.description),
                            error: error_of(row.version),
                            partial: true,
                        });
                    } else if self
                        .binary_latest
                        .is_some_and(|latest| row.version < latest)
                    {
                        self.missing.push(named(row.version, &row.description));
                    } else {
                        let record = records.get(&row.version).filter(|r| r.outcome == "applied");
                        self.ahead.push(Ahead {
                            migration: named(row.version, &row.description),
                            compat: record.and_then(|r| Compat::parse(&r.compat)),
                            summary: record.map(|r| r.summary.clone()),
                        });
                    }
                }
            }
        }
    }

    /// Failures recorded by the guard for migrations that are not applied. Rolled
    /// back: nothing of it is there, so it is pending again (the fixed file runs at
    /// the next apply). Outside a transaction: parts may have stayed, and only an
    /// operator can say which (`opskit-migrate repair`).
    fn add_recorded_failures(
        &mut self,
        known: &[Known<'_>],
        applied: &[AppliedRow],
        records: &BTreeMap<i64, &RecordRow>,
    ) {
        for record in records.values().filter(|r| r.outcome != "applied") {
            if applied
                .binary_search_by_key(&record.version, |a| a.version)
                .is_ok()
            {
                continue;
            }
            let description = known
                .binary_search_by_key(&record.version, |k| k.version)
                .map_or("unknown to this binary", |i| known[i].description);
            let failed = Failed {
                migration: named(record.version, description),
                error: record.error.clone(),
                partial: record.outcome == "failed_partial",
            };
            if failed.partial {
                self.failed.push(failed);
                self.pending.retain(|p| p.version != record.version);
            } else if self.pending.iter().any(|p| p.version == record.version) {
                self.retrying.push(failed);
            }
        }
    }

    /// The state what was found puts the schema in, the gravest first.
    fn state_of(&self, known: &[Known<'_>]) -> State {
        if !self.failed.is_empty() {
            State::Failed
        } else if !self.modified.is_empty() {
            State::Modified
        } else if !self.missing.is_empty() {
            State::Missing
        } else if self.ahead.iter().any(|a| !a.is_compatible()) {
            State::AheadIncompatible
        } else if !self.pending.is_empty() {
            let declared_contract = |version: i64| {
                known
                    .iter()
                    .any(|k| k.version == version && k.declared_contract)
            };
            // A held-back migration that failed and was rolled back changed
            // nothing: this release runs as it did before the attempt.
            if self.pending.iter().all(|p| declared_contract(p.version)) {
                State::ContractPending
            } else {
                State::Pending
            }
        } else if !self.ahead.is_empty() {
            State::AheadCompatible
        } else {
            State::UpToDate
        }
    }
}

fn named(version: i64, description: &str) -> Named {
    Named {
        version,
        description: description.to_owned(),
    }
}

/// Whether the applied checksum is this SQL's with its line endings converted.
fn line_endings_only(sql: &str, applied: &[u8]) -> bool {
    let lf = sql.replace("\r\n", "\n");
    let crlf = lf.replace('\n', "\r\n");
    [lf, crlf]
        .iter()
        .any(|variant| Sha384::digest(variant.as_bytes())[..] == *applied)
}

impl SchemaStatus {
    /// One sentence per pending migration that failed before and was rolled back,
    /// ending with what happens to it (`next`) and its last error.
    fn write_retries(&self, f: &mut fmt::Formatter<'_>, next: &str) -> fmt::Result {
        for retry in &self.retrying {
            write!(
                f,
                ". {} failed before and was rolled back, nothing of it is applied; {next}",
                retry.migration
            )?;
            if let Some(error) = &retry.error {
                write!(f, " (last error: {error})")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for SchemaStatus {
    /// What was found, what it means, and what to do.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |items: &mut dyn Iterator<Item = String>| items.collect::<Vec<_>>().join(", ");
        match self.state {
            State::UpToDate => write!(f, "schema up to date (migration {})", self.database_latest.map_or("none".into(), |v| v.to_string())),
            State::Pending => {
                write!(
                    f,
                    "{} migration(s) not applied yet: {}. This binary needs them; run them (policy apply, or the migration job) before it serves",
                    self.pending.len(),
                    list(&mut self.pending.iter().map(ToString::to_string))
                )?;
                self.write_retries(f, "it runs again")
            }
            State::ContractPending => {
                write!(
                    f,
                    "only contract migration(s) wait: {}. They are held back until no older release runs; this release runs without them. Apply them (policy apply, the migration job after the rollout) once the previous release is gone",
                    list(&mut self.pending.iter().map(ToString::to_string))
                )?;
                self.write_retries(f, "fix it and run the contract job again")
            }
            State::AheadCompatible => write!(
                f,
                "the database has newer migrations than this binary ({}); each is recorded as expand, so this binary can run against it",
                list(&mut self.ahead.iter().map(|a| a.migration.to_string()))
            ),
            State::AheadIncompatible => {
                let breaking: Vec<String> = self
                    .ahead
                    .iter()
                    .filter(|a| !a.is_compatible())
                    .map(|a| match (&a.compat, &a.summary) {
                        (Some(_), Some(summary)) => format!("{} is contract: {summary}", a.migration),
                        _ => format!("{} has no expand/contract record (applied by a tool that keeps none)", a.migration),
                    })
                    .collect();
                write!(
                    f,
                    "this binary is older than the schema and would break on it: {}. Roll forward to a release that knows migration {}, or restore the database from before it",
                    breaking.join("; "),
                    self.database_latest.map_or("?".into(), |v| v.to_string())
                )
            }
            State::Modified => write!(
                f,
                "applied migrations changed since they ran: {}. Restore the files as they were applied (a migration that ran is never edited; add a new one)",
                list(&mut self.modified.iter().map(|m| if m.line_endings_only {
                    format!("{} (line endings only: check out the file with its original CRLF/LF, e.g. a .gitattributes rule)", m.migration)
                } else {
                    m.migration.to_string()
                }))
            ),
            State::Missing => write!(
                f,
                "the database has migrations this binary lacks although they are older than its newest: {}. The binary was built from a branch without them; build it from one that has them",
                list(&mut self.missing.iter().map(ToString::to_string))
            ),
            State::Failed => write!(
                f,
                "migration(s) partly applied: {}. No release can start until an operator records what the database holds",
                list(&mut self.failed.iter().map(|x| {
                    let what = format!(
                        "parts may be applied: it ran outside a transaction. Check which of its statements took effect, finish or undo them by hand, then record the result with `opskit-migrate repair --version {} --as applied` (finished) or `--as not-applied` (undone, so it runs again)",
                        x.migration.version
                    );
                    match &x.error {
                        Some(error) => format!("{} ({what}; error: {error})", x.migration),
                        None => format!("{} ({what})", x.migration),
                    }
                }))
            ),
        }
    }
}
