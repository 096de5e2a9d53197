//! The transaction a migration runs in, and the locks it takes: transaction control
//! statements, `CONCURRENTLY` (impossible inside a transaction) and `LOCK TABLE`.

use sqlparser::ast::{Lock, LockTableMode, Statement};

use super::dialect::Dialect;
use super::linter::Linter;
use super::rules;

impl Linter {
    /// `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`, `RELEASE`: they end or split the
    /// transaction the migration runs in.
    pub(super) fn transaction_control(&mut self, statement: &Statement) {
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

    /// A `CONCURRENTLY` statement: impossible inside a transaction, and a second one
    /// in the same file leaves the first applied when it fails.
    pub(super) fn concurrently(&mut self, what: &str) {
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

    /// A statement that cannot run inside the migration's transaction.
    pub(super) fn outside_transaction_only(&mut self, what: &str) {
        if self.in_transaction {
            self.find(
                rules::OUTSIDE_TRANSACTION_ONLY,
                format!("{what} cannot run inside the migration's transaction"),
            );
        }
    }

    pub(super) fn lock_table(&mut self, lock: &Lock) {
        // The weak modes conflict only with ACCESS EXCLUSIVE (or with writes
        // of their own kind): nothing a service would feel.
        if matches!(
            lock.lock_mode,
            Some(
                LockTableMode::AccessShare | LockTableMode::RowShare | LockTableMode::RowExclusive
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
}
