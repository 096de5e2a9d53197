//! Renames outside `ALTER TABLE`: `RENAME TABLE`, and `ALTER TYPE` renaming a type
//! or an enum value. An older binary still uses the old name.

use sqlparser::ast::{AlterType, AlterTypeOperation, RenameTable};

use super::linter::Linter;
use super::rules;

impl Linter {
    pub(super) fn rename_tables(&mut self, renames: &[RenameTable]) {
        for rename in renames {
            self.find(
                rules::RENAME_TABLE,
                format!("renames table {} to {}", rename.old_name, rename.new_name),
            );
        }
    }

    pub(super) fn alter_type(&mut self, alter: &AlterType) {
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
}
