//! The migration linter: what each statement does to the binary one release older,
//! and which statements take dangerous locks.
//!
//! ```
//! use opskit_migrate::lint::{Dialect, Severity, lint};
//!
//! let report = lint("ALTER TABLE notes DROP COLUMN body;\nCREATE INDEX notes_title ON notes (title);", Dialect::Postgres);
//! let ids: Vec<&str> = report.findings.iter().map(|f| f.rule.id).collect();
//! assert_eq!(ids, ["OPS-C002", "OPS-L001"]);
//! assert_eq!(report.findings[0].message, "drops column body of notes");
//! assert_eq!(report.findings[0].line, 1);
//! assert_eq!(report.findings[1].rule.severity, Severity::LockRisk);
//! assert!(report.is_contract());
//! ```

pub mod rules;
mod split;

use std::collections::HashSet;

use serde::Serialize;
use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, ColumnOption, Expr, ObjectName, ObjectType,
    RenameTableNameKind, Statement, TableConstraint,
};
use sqlparser::dialect::{PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

pub use rules::{Rule, Severity};

/// The SQL dialect of the migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// PostgreSQL: lock-risk rules apply.
    Postgres,
    /// SQLite.
    Sqlite,
}

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

/// Lints a migration file. Never panics: SQL that does not parse is a finding.
///
/// A file whose first line is `-- no-transaction` (sqlx's marker) runs outside a
/// transaction on PostgreSQL; any other runs inside one, where transaction control
/// statements and `CONCURRENTLY` cannot work.
///
/// Time and memory are linear in the file's size: data statements (`INSERT`,
/// `UPDATE`, `DELETE`, `COPY`), which an older binary never notices, are counted
/// without being parsed. Measured: 50,000 `ALTER TABLE` statements in 0.29 s and a
/// 200,000-row `INSERT` in under 10 ms, each under 10 MiB (release build; see
/// `docs/benchmarks.md` in the repository).
pub fn lint(sql: &str, dialect: Dialect) -> LintReport {
    let mut linter = Linter {
        dialect,
        in_transaction: dialect == Dialect::Sqlite || !sql.starts_with("-- no-transaction"),
        concurrent_statements: 0,
        new_tables: HashSet::new(),
        report: LintReport::default(),
        line: 0,
    };
    for chunk in split::split(sql, dialect) {
        linter.line = chunk.line;
        if is_data_statement(chunk.sql) {
            linter.report.statements += 1;
            continue;
        }
        if let Some(words) = drop_index_words(chunk.sql) {
            linter.report.statements += 1;
            linter.drop_index(&words);
            continue;
        }
        if dialect == Dialect::Postgres && linter.maintenance(chunk.sql) {
            linter.report.statements += 1;
            continue;
        }
        let parsed = match dialect {
            Dialect::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, chunk.sql),
            Dialect::Sqlite => Parser::parse_sql(&SQLiteDialect {}, chunk.sql),
        };
        match parsed {
            Ok(statements) => {
                for statement in &statements {
                    linter.report.statements += 1;
                    linter.statement(statement);
                }
            }
            Err(err) => {
                linter.report.statements += 1;
                let first_line = chunk.sql.lines().next().unwrap_or_default();
                linter.find(
                    rules::UNPARSEABLE,
                    format!("cannot parse `{}`: {err}", excerpt(first_line)),
                );
            }
        }
    }
    linter.report
}

fn excerpt(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

struct Linter {
    dialect: Dialect,
    /// Whether the migration runs inside a transaction.
    in_transaction: bool,
    /// `CONCURRENTLY` statements seen so far.
    concurrent_statements: usize,
    /// Tables created by this migration: changing them cannot break an older binary.
    new_tables: HashSet<String>,
    report: LintReport,
    line: usize,
}

/// The first word of a statement, upper-cased.
fn first_word(sql: &str) -> String {
    sql.split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

/// `INSERT`, `UPDATE`, `DELETE`, `COPY`, `WITH`: data an older binary never notices.
fn is_data_statement(sql: &str) -> bool {
    matches!(
        first_word(sql).as_str(),
        "INSERT" | "UPDATE" | "DELETE" | "COPY"
    )
}

/// The upper-cased words of a `DROP INDEX` statement (which the parser does not
/// take in every form PostgreSQL does, such as `CONCURRENTLY IF EXISTS`).
fn drop_index_words(sql: &str) -> Option<Vec<String>> {
    let words: Vec<String> = sql
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    (words.len() >= 3 && words[0] == "DROP" && words[1] == "INDEX").then_some(words)
}

/// How the database compares a name: PostgreSQL folds unquoted identifiers to lower
/// case and keeps quoted ones exact; SQLite compares names without case.
fn key(name: &ObjectName, dialect: Dialect) -> String {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| match (part.as_ident(), dialect) {
            (Some(ident), Dialect::Postgres) if ident.quote_style.is_some() => ident.value.clone(),
            (Some(ident), _) => ident.value.to_lowercase(),
            (None, _) => part.to_string().to_lowercase(),
        })
        .collect();
    parts.join(".")
}

impl Linter {
    fn find(&mut self, rule: Rule, message: String) {
        self.report.findings.push(Finding {
            rule,
            line: self.line,
            message,
        });
    }

    fn lock_risk(&mut self, rule: Rule, message: String) {
        if self.dialect == Dialect::Postgres {
            self.find(rule, message);
        }
    }

    fn is_new(&self, table: &ObjectName) -> bool {
        self.new_tables.contains(&key(table, self.dialect))
    }

    /// A `CONCURRENTLY` statement: impossible inside a transaction, and a second one
    /// in the same file leaves the first applied when it fails.
    fn concurrently(&mut self, what: &str) {
        if self.dialect != Dialect::Postgres {
            return;
        }
        self.concurrent_statements += 1;
        if self.in_transaction {
            self.find(
                rules::CONCURRENTLY_IN_TRANSACTION,
                format!("{what} CONCURRENTLY inside the migration's transaction, which PostgreSQL refuses"),
            );
        } else if self.concurrent_statements > 1 {
            self.find(
                rules::SEVERAL_CONCURRENT,
                format!("{what} CONCURRENTLY after another CONCURRENTLY statement of this file"),
            );
        }
    }

    /// PostgreSQL maintenance and administration statements the parser does not take
    /// (or takes without the detail that matters), classified by their words.
    /// Returns whether the statement was one of them.
    fn maintenance(&mut self, sql: &str) -> bool {
        let upper = sql.to_ascii_uppercase();
        let words: Vec<&str> = upper
            .split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ',' | ';'))
            .filter(|w| !w.is_empty())
            .collect();
        let has = |word: &str| words.contains(&word);
        let starts =
            |prefix: &[&str]| words.len() >= prefix.len() && words[..prefix.len()] == *prefix;
        let outside_only = |linter: &mut Self, what: &str| {
            if linter.in_transaction {
                linter.find(
                    rules::OUTSIDE_TRANSACTION_ONLY,
                    format!("{what} cannot run inside the migration's transaction"),
                );
            }
        };
        if starts(&["ANALYZE"]) {
        } else if starts(&["VACUUM"]) {
            outside_only(self, "VACUUM");
            if has("FULL") {
                self.lock_risk(
                    rules::REWRITE_UNDER_LOCK,
                    "VACUUM FULL rewrites the table under an exclusive lock".into(),
                );
            }
        } else if starts(&["REINDEX"]) {
            if has("CONCURRENTLY") {
                outside_only(self, "REINDEX CONCURRENTLY");
            } else {
                self.lock_risk(
                    rules::REWRITE_UNDER_LOCK,
                    "REINDEX blocks writes (and reads that use the index) while it rebuilds".into(),
                );
            }
        } else if starts(&["CLUSTER"]) {
            self.lock_risk(
                rules::REWRITE_UNDER_LOCK,
                "CLUSTER rewrites the table under an exclusive lock".into(),
            );
        } else if starts(&["REFRESH", "MATERIALIZED", "VIEW"]) {
            if !has("CONCURRENTLY") {
                self.lock_risk(
                    rules::REWRITE_UNDER_LOCK,
                    "REFRESH MATERIALIZED VIEW blocks reads of the view while its query runs"
                        .into(),
                );
            }
        } else if starts(&["CREATE", "DATABASE"])
            || starts(&["DROP", "DATABASE"])
            || starts(&["ALTER", "SYSTEM"])
            || starts(&["CREATE", "TABLESPACE"])
        {
            outside_only(self, &words[..2].join(" "));
        } else if starts(&["ALTER", "INDEX"])
            || starts(&["CREATE", "STATISTICS"])
            || starts(&["CREATE", "DOMAIN"])
            || starts(&["ALTER", "DEFAULT", "PRIVILEGES"])
            || starts(&["CREATE", "MATERIALIZED", "VIEW"])
            || (starts(&["CREATE", "TABLE"]) && has("LIKE"))
            || (starts(&["CREATE", "INDEX"]) && has("ONLY"))
            || (starts(&["ALTER", "TABLE"]) && has("CLUSTER") && has("ON"))
            || (starts(&["ALTER", "TABLE"]) && has("SET") && has("STATISTICS"))
            || (starts(&["ALTER", "TABLE"]) && has("ADD") && has("GENERATED") && has("VIRTUAL"))
        {
            // New objects, names, planner hints, catalogue-only changes (forms the
            // parser does not take): nothing an older binary sees, no long lock.
        } else if starts(&["DO"]) && self.in_transaction && (has("COMMIT") || has("ROLLBACK")) {
            self.find(
                rules::TRANSACTION_CONTROL,
                "a DO block ends the transaction the migration runs in".into(),
            );
        } else if starts(&["ALTER", "TABLE"]) && has("DETACH") && has("PARTITION") {
            let table = words.get(2).map(|w| w.to_lowercase()).unwrap_or_default();
            self.find(
                rules::DETACH_PARTITION,
                format!("detaches a partition of {table}: its rows leave the parent"),
            );
            if has("CONCURRENTLY") {
                outside_only(self, "DETACH PARTITION CONCURRENTLY");
            }
        } else {
            return false;
        }
        true
    }

    fn drop_index(&mut self, words: &[String]) {
        let concurrently = words.iter().any(|w| w == "CONCURRENTLY");
        let name = words
            .iter()
            .skip(2)
            .find(|w| !matches!(w.as_str(), "CONCURRENTLY" | "IF" | "EXISTS"))
            .map(|w| w.trim_end_matches([',', ';']).to_lowercase())
            .unwrap_or_default();
        if concurrently {
            self.concurrently("drops index");
        } else {
            self.lock_risk(
                rules::DROP_INDEX_NOT_CONCURRENT,
                format!("drops index {name} while blocking writes to its table"),
            );
        }
    }

    fn statement(&mut self, statement: &Statement) {
        match statement {
            Statement::CreateTable(create) => {
                // `IF NOT EXISTS` may meet a table older binaries use: not new.
                if !create.if_not_exists {
                    self.new_tables.insert(key(&create.name, self.dialect));
                }
            }
            Statement::CreateIndex(index) => {
                if index.concurrently {
                    self.concurrently("builds an index");
                }
                if self.is_new(&index.table_name) {
                    return;
                }
                if index.unique {
                    self.find(
                        rules::ADD_UNIQUE,
                        format!("adds a unique index on {}", index.table_name),
                    );
                }
                if !index.concurrently {
                    self.lock_risk(
                        rules::INDEX_NOT_CONCURRENT,
                        format!(
                            "builds an index on {} while blocking its writes",
                            index.table_name
                        ),
                    );
                }
            }
            Statement::AlterTable(alter) => {
                if self.is_new(&alter.name) {
                    return;
                }
                for operation in &alter.operations {
                    self.alter_table(&alter.name, operation);
                }
            }
            Statement::Drop {
                object_type, names, ..
            } => {
                for name in names {
                    match object_type {
                        ObjectType::Table if !self.is_new(name) => {
                            self.find(rules::DROP_TABLE, format!("drops table {name}"));
                        }
                        ObjectType::Table | ObjectType::Index => {}
                        ObjectType::View | ObjectType::MaterializedView => {
                            self.find(rules::DROP_VIEW, format!("drops view {name}"));
                        }
                        ObjectType::Schema | ObjectType::Sequence | ObjectType::Type => {
                            self.find(
                                rules::DROP_OBJECT,
                                format!("drops {object_type} {name}").to_lowercase(),
                            );
                        }
                        other => {
                            self.find(
                                rules::UNCLASSIFIED,
                                format!("drops {other} {name}").to_lowercase(),
                            );
                        }
                    }
                }
            }
            Statement::Truncate(truncate) => {
                let tables: Vec<String> = truncate
                    .table_names
                    .iter()
                    .map(|t| t.name.to_string())
                    .collect();
                self.find(
                    rules::TRUNCATE,
                    format!("deletes every row of {}", tables.join(", ")),
                );
            }
            Statement::RenameTable(renames) => {
                for rename in renames {
                    self.find(
                        rules::RENAME_TABLE,
                        format!("renames table {} to {}", rename.old_name, rename.new_name),
                    );
                }
            }
            Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. } => {
                if self.in_transaction {
                    let text = statement.to_string();
                    let words: Vec<&str> = text.split_whitespace().take(2).collect();
                    self.find(
                        rules::TRANSACTION_CONTROL,
                        format!(
                            "`{}` ends or splits the transaction the migration runs in",
                            words.join(" ")
                        ),
                    );
                }
            }
            Statement::Lock(lock) => {
                use sqlparser::ast::LockTableMode;
                // The weak modes conflict only with ACCESS EXCLUSIVE (or with writes
                // of their own kind): nothing a service would feel.
                if matches!(
                    lock.lock_mode,
                    Some(
                        LockTableMode::AccessShare
                            | LockTableMode::RowShare
                            | LockTableMode::RowExclusive
                    )
                ) {
                    return;
                }
                let tables: Vec<String> = lock.tables.iter().map(|t| t.name.to_string()).collect();
                self.lock_risk(
                    rules::LOCK_TABLE,
                    format!("locks {} explicitly", tables.join(", ")),
                );
            }
            Statement::AlterType(alter) => {
                use sqlparser::ast::AlterTypeOperation;
                match &alter.operation {
                    AlterTypeOperation::Rename(rename) => self.find(
                        rules::RENAME_TYPE,
                        format!("renames type {} to {}", alter.name, rename.new_name),
                    ),
                    AlterTypeOperation::RenameValue(rename) => self.find(
                        rules::RENAME_TYPE,
                        format!(
                            "renames value {} of type {} to {}",
                            rename.from, alter.name, rename.to
                        ),
                    ),
                    _ => {}
                }
            }
            Statement::CreateView(view) if view.or_replace => self.find(
                rules::REPLACE_VIEW_OR_FUNCTION,
                format!("replaces view {}", view.name),
            ),
            Statement::CreateFunction(function) if function.or_replace => self.find(
                rules::REPLACE_VIEW_OR_FUNCTION,
                format!("replaces function {}", function.name),
            ),
            // Additions and data changes an older binary does not notice.
            Statement::CreateView(_)
            | Statement::CreateExtension(_)
            | Statement::CreateSequence { .. }
            | Statement::CreateType { .. }
            | Statement::CreateFunction(_)
            | Statement::CreateSchema { .. }
            | Statement::CreateTrigger(_)
            | Statement::Comment { .. }
            | Statement::Grant(_)
            | Statement::Revoke(_)
            | Statement::Insert(_)
            | Statement::Update(_)
            | Statement::Delete(_)
            | Statement::Query(_)
            | Statement::Set(_) => {}
            other => {
                let text = other.to_string();
                let words: Vec<&str> = text.split_whitespace().take(3).collect();
                self.find(
                    rules::UNCLASSIFIED,
                    format!("`{}` is not classified", words.join(" ")),
                );
            }
        }
    }

    fn alter_table(&mut self, table: &ObjectName, operation: &AlterTableOperation) {
        match operation {
            AlterTableOperation::AddColumn { column_def, .. } => {
                let column = &column_def.name;
                let options = || column_def.options.iter().map(|o| &o.option);
                let not_null = options()
                    .any(|o| matches!(o, ColumnOption::NotNull | ColumnOption::PrimaryKey(_)));
                let default = options().find_map(|o| match o {
                    ColumnOption::Default(expr) => Some(expr),
                    _ => None,
                });
                let data_type = column_def.data_type.to_string().to_lowercase();
                let serial = matches!(
                    data_type.as_str(),
                    "serial" | "bigserial" | "smallserial" | "serial2" | "serial4" | "serial8"
                );
                let generated = options().any(|o| matches!(o, ColumnOption::Generated { .. }));
                // Serial and generated columns fill themselves: an older binary's
                // inserts, which omit the column, still succeed.
                if not_null && default.is_none() && !serial && !generated {
                    self.find(
                        rules::ADD_NOT_NULL_COLUMN,
                        format!("adds column {column} to {table} as NOT NULL without a default"),
                    );
                }
                if let Some(expr) = default.filter(|e| is_volatile(e)) {
                    self.lock_risk(
                        rules::VOLATILE_DEFAULT,
                        format!("adds column {column} to {table} with the volatile default {expr}, rewriting the table"),
                    );
                }
                if serial {
                    self.lock_risk(
                        rules::ADD_COLUMN_REWRITE,
                        format!("adds column {column} to {table} as {data_type}, filling every row under lock"),
                    );
                }
                if options().any(|o| {
                    matches!(o, ColumnOption::Generated { .. })
                        && !o.to_string().to_uppercase().contains("VIRTUAL")
                }) {
                    self.lock_risk(
                        rules::ADD_COLUMN_REWRITE,
                        format!("adds generated column {column} to {table}, computing every row under lock"),
                    );
                }
                // The older binary never writes the new column, so its rows hold
                // NULL (or the default), which a UNIQUE or CHECK on it accepts: what
                // remains is the index build or the scan under lock. A foreign key
                // on a new column is validated only when a default fills it.
                for option in options() {
                    match option {
                        ColumnOption::Unique(_) | ColumnOption::PrimaryKey(_) if !serial => {
                            self.lock_risk(
                                rules::UNIQUE_INDEX_LOCK,
                                format!("builds a unique index for new column {column} of {table} while blocking its writes"),
                            );
                        }
                        ColumnOption::Check(_) => self.lock_risk(
                            rules::CHECK_VALIDATED,
                            format!(
                                "checks every row of {table} under lock for new column {column}"
                            ),
                        ),
                        ColumnOption::ForeignKey(_) if default.is_some() => self.lock_risk(
                            rules::FOREIGN_KEY_VALIDATED,
                            format!("adds column {column} to {table} with a validated foreign key"),
                        ),
                        _ => {}
                    }
                }
            }
            AlterTableOperation::DropColumn { column_names, .. } => {
                for column in column_names {
                    self.find(
                        rules::DROP_COLUMN,
                        format!("drops column {column} of {table}"),
                    );
                }
            }
            AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => self.find(
                rules::RENAME_COLUMN,
                format!("renames column {old_column_name} of {table} to {new_column_name}"),
            ),
            AlterTableOperation::RenameTable { table_name } => {
                let new = match table_name {
                    RenameTableNameKind::As(name) | RenameTableNameKind::To(name) => name,
                };
                self.find(
                    rules::RENAME_TABLE,
                    format!("renames table {table} to {new}"),
                );
            }
            AlterTableOperation::ChangeColumn { old_name, .. }
            | AlterTableOperation::ModifyColumn {
                col_name: old_name, ..
            } => {
                self.find(
                    rules::CHANGE_TYPE,
                    format!("changes column {old_name} of {table}"),
                );
            }
            AlterTableOperation::AlterColumn { column_name, op } => match op {
                AlterColumnOperation::SetNotNull => {
                    self.find(
                        rules::SET_NOT_NULL,
                        format!("sets column {column_name} of {table} NOT NULL"),
                    );
                    self.lock_risk(
                        rules::NOT_NULL_SCAN,
                        format!("scans {table} under an exclusive lock to check {column_name}"),
                    );
                }
                AlterColumnOperation::SetDataType { data_type, .. } => {
                    self.find(
                        rules::CHANGE_TYPE,
                        format!(
                            "changes the type of column {column_name} of {table} to {data_type}"
                        ),
                    );
                    self.lock_risk(
                        rules::TYPE_REWRITE,
                        format!("rewrites {table} under an exclusive lock to change {column_name}"),
                    );
                }
                AlterColumnOperation::DropDefault => {
                    self.find(
                        rules::DROP_DEFAULT,
                        format!("drops the default of column {column_name} of {table}"),
                    );
                }
                AlterColumnOperation::DropNotNull => self.find(
                    rules::DROP_NOT_NULL,
                    format!("lets column {column_name} of {table} hold NULL"),
                ),
                AlterColumnOperation::SetDefault { .. }
                | AlterColumnOperation::AddGenerated { .. } => {}
                other => self.find(
                    rules::UNCLASSIFIED,
                    format!("`ALTER COLUMN {column_name} {other}` on {table} is not classified"),
                ),
            },
            AlterTableOperation::AddConstraint {
                constraint,
                not_valid,
            } => match constraint {
                TableConstraint::Unique(_) | TableConstraint::PrimaryKey(_) => {
                    self.find(
                        rules::ADD_UNIQUE,
                        format!("adds a unique constraint to {table}"),
                    );
                    self.lock_risk(
                        rules::UNIQUE_INDEX_LOCK,
                        format!("builds a unique index on {table} while blocking its writes"),
                    );
                }
                TableConstraint::Check(_) if !not_valid => {
                    self.find(
                        rules::ADD_CHECK,
                        format!("adds a check constraint to {table}"),
                    );
                    self.lock_risk(
                        rules::CHECK_VALIDATED,
                        format!("checks every row of {table} under lock while adding a constraint"),
                    );
                }
                TableConstraint::Check(_) => self.find(
                    rules::ADD_CHECK,
                    format!("adds a check constraint to {table} that new writes must pass"),
                ),
                TableConstraint::Exclude(_) => {
                    self.find(
                        rules::ADD_UNIQUE,
                        format!("adds an exclusion constraint to {table}"),
                    );
                    self.lock_risk(
                        rules::UNIQUE_INDEX_LOCK,
                        format!("builds an exclusion index on {table} while blocking its writes"),
                    );
                }
                TableConstraint::ForeignKey(_) if !not_valid => self.lock_risk(
                    rules::FOREIGN_KEY_VALIDATED,
                    format!("validates a new foreign key on {table} under lock"),
                ),
                _ => {}
            },
            AlterTableOperation::DropConstraint { name, .. } => self.find(
                rules::DROP_CONSTRAINT,
                format!("drops constraint {name} of {table}"),
            ),
            AlterTableOperation::DropPrimaryKey { .. } => self.find(
                rules::DROP_CONSTRAINT,
                format!("drops the primary key of {table}"),
            ),
            AlterTableOperation::AttachPartition { .. }
            | AlterTableOperation::AttachPartitionOf { .. } => self.lock_risk(
                rules::ATTACH_PARTITION_SCAN,
                format!("scans the partition attached to {table} under an exclusive lock"),
            ),
            AlterTableOperation::SetLogged | AlterTableOperation::SetUnlogged => self.lock_risk(
                rules::REWRITE_UNDER_LOCK,
                format!("rewrites {table} under an exclusive lock"),
            ),
            AlterTableOperation::ValidateConstraint { .. }
            | AlterTableOperation::SetOptionsParens { .. }
            | AlterTableOperation::ReplicaIdentity { .. }
            | AlterTableOperation::DropForeignKey { .. }
            | AlterTableOperation::DropIndex { .. }
            | AlterTableOperation::RenameConstraint { .. } => {}
            other => {
                let text = other.to_string();
                let words: Vec<&str> = text.split_whitespace().take(3).collect();
                self.find(
                    rules::UNCLASSIFIED,
                    format!(
                        "`ALTER TABLE {table} {}` is not classified",
                        words.join(" ")
                    ),
                );
            }
        }
    }
}

/// Defaults PostgreSQL cannot store once in the catalogue, so adding a column with
/// them rewrites the table.
fn is_volatile(expr: &Expr) -> bool {
    const VOLATILE: [&str; 6] = [
        "random",
        "gen_random_uuid",
        "uuid_generate_v4",
        "clock_timestamp",
        "timeofday",
        "nextval",
    ];
    // Anywhere in the expression: `(random() * 100)::int` is as volatile as
    // `random()`.
    let text = expr.to_string().to_lowercase();
    VOLATILE.iter().any(|name| {
        text.match_indices(name).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + name.len()..].trim_start();
            after.starts_with('(') && !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    })
}
