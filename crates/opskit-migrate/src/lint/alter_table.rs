//! `ALTER TABLE`: each operation on a table an older binary uses, from added and
//! dropped columns to constraints and partitions.

use sqlparser::ast::{
    AlterColumnOperation, AlterTable, AlterTableOperation, ColumnDef, ColumnOption, Expr, Ident,
    ObjectName, RenameTableNameKind, TableConstraint,
};

use super::dialect::key;
use super::linter::Linter;
use super::rules;

impl Linter {
    /// An `ALTER TABLE` statement: nothing for a table this migration created.
    pub(super) fn alter_table(&mut self, alter: &AlterTable) {
        if self.is_new(&alter.name) {
            return;
        }
        for operation in &alter.operations {
            self.alter_table_operation(&alter.name, operation);
        }
    }

    fn alter_table_operation(&mut self, table: &ObjectName, operation: &AlterTableOperation) {
        match operation {
            AlterTableOperation::AddColumn { column_def, .. } => {
                self.add_column(table, column_def);
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
            AlterTableOperation::AlterColumn { column_name, op } => {
                self.alter_column(table, column_name, op);
            }
            AlterTableOperation::AddConstraint {
                constraint,
                not_valid,
            } => self.add_constraint(table, constraint, *not_valid),
            AlterTableOperation::DropConstraint { name, .. } => self.find(
                rules::DROP_CONSTRAINT,
                format!("drops constraint {name} of {table}"),
            ),
            AlterTableOperation::DropPrimaryKey { .. } => self.find(
                rules::DROP_CONSTRAINT,
                format!("drops the primary key of {table}"),
            ),
            other => self.alter_table_storage(table, other),
        }
    }

    /// Partitions and storage, the operations that change nothing an older binary
    /// sees, and those not classified.
    fn alter_table_storage(&mut self, table: &ObjectName, operation: &AlterTableOperation) {
        match operation {
            AlterTableOperation::AttachPartition { .. }
            | AlterTableOperation::AttachPartitionOf { .. } => self.lock_risk(
                rules::ATTACH_PARTITION_SCAN,
                format!("scans the partition attached to {table} under an exclusive lock"),
            ),
            AlterTableOperation::SetLogged | AlterTableOperation::SetUnlogged => self.lock_risk(
                rules::REWRITE_UNDER_LOCK,
                format!("rewrites {table} under an exclusive lock"),
            ),
            AlterTableOperation::ValidateConstraint { name } => self.validate(table, name),
            AlterTableOperation::SetOptionsParens { .. }
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

    /// `ADD COLUMN`: a NOT NULL column without a default breaks the older binary's
    /// inserts; some defaults and generated columns rewrite the table.
    fn add_column(&mut self, table: &ObjectName, column_def: &ColumnDef) {
        let column = &column_def.name;
        let options = || column_def.options.iter().map(|o| &o.option);
        let not_null =
            options().any(|o| matches!(o, ColumnOption::NotNull | ColumnOption::PrimaryKey(_)));
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
                format!(
                    "adds column {column} to {table} as {data_type}, filling every row under lock"
                ),
            );
        }
        if options().any(|o| {
            matches!(o, ColumnOption::Generated { .. })
                && !o.to_string().to_uppercase().contains("VIRTUAL")
        }) {
            self.lock_risk(
                rules::ADD_COLUMN_REWRITE,
                format!(
                    "adds generated column {column} to {table}, computing every row under lock"
                ),
            );
        }
        self.add_column_constraints(table, column_def, serial, default.is_some());
    }

    /// The constraints of a new column.
    fn add_column_constraints(
        &mut self,
        table: &ObjectName,
        column_def: &ColumnDef,
        serial: bool,
        has_default: bool,
    ) {
        let column = &column_def.name;
        // The older binary never writes the new column, so its rows hold
        // NULL (or the default), which a UNIQUE or CHECK on it accepts: what
        // remains is the index build or the scan under lock. A foreign key
        // on a new column is validated only when a default fills it.
        for option in column_def.options.iter().map(|o| &o.option) {
            match option {
                ColumnOption::Unique(_) | ColumnOption::PrimaryKey(_) if !serial => {
                    self.lock_risk(
                        rules::UNIQUE_INDEX_LOCK,
                        format!("builds a unique index for new column {column} of {table} while blocking its writes"),
                    );
                }
                ColumnOption::Check(_) => self.lock_risk(
                    rules::CHECK_VALIDATED,
                    format!("checks every row of {table} under lock for new column {column}"),
                ),
                ColumnOption::ForeignKey(_) if has_default => self.lock_risk(
                    rules::FOREIGN_KEY_VALIDATED,
                    format!("adds column {column} to {table} with a validated foreign key"),
                ),
                _ => {}
            }
        }
    }

    /// `ALTER COLUMN`.
    fn alter_column(&mut self, table: &ObjectName, column_name: &Ident, op: &AlterColumnOperation) {
        match op {
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
                    format!("changes the type of column {column_name} of {table} to {data_type}"),
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
            AlterColumnOperation::SetDefault { .. } | AlterColumnOperation::AddGenerated { .. } => {
            }
            other => self.find(
                rules::UNCLASSIFIED,
                format!("`ALTER COLUMN {column_name} {other}` on {table} is not classified"),
            ),
        }
    }

    /// `ADD CONSTRAINT`: a new unique or check constraint refuses writes the older
    /// binary makes; validating one scans the table under lock.
    fn add_constraint(
        &mut self,
        table: &ObjectName,
        constraint: &TableConstraint,
        not_valid: bool,
    ) {
        if let (true, Some(name)) = (not_valid, constraint_name(constraint)) {
            let key = format!("{}.{}", key(table, self.dialect), name.value.to_lowercase());
            self.not_valid.insert(key);
        }
        match constraint {
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
        }
    }
}

impl Linter {
    /// `VALIDATE CONSTRAINT`: brief on its own (SHARE UPDATE EXCLUSIVE), but in the
    /// transaction that added the constraint `NOT VALID` the scan runs under the
    /// ACCESS EXCLUSIVE lock the `ADD` took (sbdchd/squawk#250).
    fn validate(&mut self, table: &ObjectName, name: &Ident) {
        let added = format!("{}.{}", key(table, self.dialect), name.value.to_lowercase());
        if self.in_transaction && self.not_valid.contains(&added) {
            self.lock_risk(
                rules::VALIDATE_IN_SAME_TRANSACTION,
                format!(
                    "validates constraint {name} of {table} in the transaction that added it NOT VALID: every row is scanned under ACCESS EXCLUSIVE"
                ),
            );
        }
    }
}

/// The name a table constraint was given, if any.
fn constraint_name(constraint: &TableConstraint) -> Option<&Ident> {
    match constraint {
        TableConstraint::Check(c) => c.name.as_ref(),
        TableConstraint::ForeignKey(c) => c.name.as_ref(),
        _ => None,
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
