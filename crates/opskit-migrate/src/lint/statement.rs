//! One statement of a migration file: counted, read by its words, or parsed, and
//! then handed to its family (`CREATE`, `DROP`, `ALTER TABLE`, ...).

use sqlparser::ast::Statement;
use sqlparser::dialect::{PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

use super::dialect::Dialect;
use super::drop::drop_index_words;
use super::linter::Linter;
use super::rules;

impl Linter {
    /// Lints one statement of the file (a chunk from `split::split`), which
    /// starts on `line`. Data statements are counted without being parsed.
    pub(super) fn chunk(&mut self, sql: &str, line: usize) {
        self.line = line;
        if is_data_statement(sql) {
            self.report.statements += 1;
            return;
        }
        if let Some(words) = drop_index_words(sql) {
            self.report.statements += 1;
            self.drop_index(&words);
            return;
        }
        if self.dialect == Dialect::Postgres && self.maintenance(sql) {
            self.report.statements += 1;
            return;
        }
        let parsed = match self.dialect {
            Dialect::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, sql),
            Dialect::Sqlite => Parser::parse_sql(&SQLiteDialect {}, sql),
        };
        match parsed {
            Ok(statements) => {
                for statement in &statements {
                    self.report.statements += 1;
                    self.statement(statement);
                }
            }
            Err(err) => {
                self.report.statements += 1;
                let first_line = sql.lines().next().unwrap_or_default();
                self.find(
                    rules::UNPARSEABLE,
                    format!("cannot parse `{}`: {err}", excerpt(first_line)),
                );
            }
        }
    }

    /// A parsed statement, handed to its family.
    fn statement(&mut self, statement: &Statement) {
        match statement {
            Statement::CreateTable(create) => self.create_table(create),
            Statement::CreateIndex(index) => self.create_index(index),
            Statement::AlterTable(alter) => self.alter_table(alter),
            Statement::Drop {
                object_type, names, ..
            } => self.drop(object_type, names),
            Statement::Truncate(truncate) => self.truncate(truncate),
            Statement::RenameTable(renames) => self.rename_tables(renames),
            Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. } => self.transaction_control(statement),
            Statement::Lock(lock) => self.lock_table(lock),
            // The older binary may run as the role that loses the privilege.
            Statement::Revoke(_) | Statement::RevokeRole(_) => self.find(
                rules::REVOKE,
                format!(
                    "`{}` takes away what a role the older binary may run as uses",
                    excerpt(&statement.to_string())
                ),
            ),
            Statement::AlterType(alter) => self.alter_type(alter),
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
}

/// The first 60 characters of `text`, with an ellipsis when it is longer.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
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
