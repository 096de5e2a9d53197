//! `CREATE TABLE` and `CREATE INDEX`: a new table is remembered (changing it cannot
//! break an older binary), an index on an existing one may lock it or add a
//! uniqueness the older binary does not honour.

use sqlparser::ast::{CreateIndex, CreateTable};

use super::dialect::key;
use super::linter::Linter;
use super::rules;

impl Linter {
    pub(super) fn create_table(&mut self, create: &CreateTable) {
        // `IF NOT EXISTS` may meet a table older binaries use: not new.
        if !create.if_not_exists {
            self.new_tables.insert(key(&create.name, self.dialect));
        }
    }

    pub(super) fn create_index(&mut self, index: &CreateIndex) {
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
}
