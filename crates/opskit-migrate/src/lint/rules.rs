//! The rules: stable ids, what they mean, and the one-line fix.

use serde::Serialize;

/// What a finding means for the binary that is one release older.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Breaks the previous binary: the migration is contract.
    Contract,
    /// Safe for the previous binary, but takes a lock that can stall traffic
    /// (PostgreSQL).
    LockRisk,
    /// Not understood (unparseable, or a statement the linter does not classify):
    /// treated as contract unless the migration's header says otherwise.
    Unknown,
    /// Cannot be applied as written (a `COMMIT` inside the transaction the migration
    /// runs in): the guard refuses to run the migration at all.
    Error,
}

/// A lint rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Stable id, such as `OPS-C002`.
    pub id: &'static str,
    /// Short name, such as `drop-column`.
    pub name: &'static str,
    /// What it means.
    pub severity: Severity,
    /// What to do instead, in one line.
    pub fix: &'static str,
}

macro_rules! rules {
    ($($konst:ident = $id:literal, $name:literal, $severity:ident, $fix:literal;)*) => {
        $(
            #[doc = concat!("`", $id, "` ", $name, ": ", $fix)]
            pub const $konst: Rule = Rule { id: $id, name: $name, severity: Severity::$severity, fix: $fix };
        )*
        /// Every rule, in id order.
        pub const ALL: &[Rule] = &[$($konst),*];
    };
}

rules! {
    DROP_TABLE = "OPS-C001", "drop-table", Contract,
        "stop using the table in one release; drop it in a later one";
    DROP_COLUMN = "OPS-C002", "drop-column", Contract,
        "stop reading and writing the column in one release; drop it in a later one";
    RENAME_COLUMN = "OPS-C003", "rename-column", Contract,
        "add the new column, write both, backfill, switch reads, then drop the old one later";
    RENAME_TABLE = "OPS-C004", "rename-table", Contract,
        "create the new table (or a view under the old name) and move over in steps";
    CHANGE_TYPE = "OPS-C005", "change-column-type", Contract,
        "add a column of the new type, backfill it, switch, then drop the old column later";
    ADD_NOT_NULL_COLUMN = "OPS-C006", "add-not-null-column-without-default", Contract,
        "add the column nullable or with a DEFAULT; set NOT NULL once every writer fills it";
    SET_NOT_NULL = "OPS-C007", "set-not-null", Contract,
        "ship a release that always writes the column first, then set NOT NULL";
    ADD_UNIQUE = "OPS-C008", "add-unique-constraint", Contract,
        "ship the duplicate check in the application first, then add the constraint";
    ADD_CHECK = "OPS-C009", "add-check-constraint", Contract,
        "add it NOT VALID once every writer obeys it, then VALIDATE CONSTRAINT later";
    DROP_DEFAULT = "OPS-C010", "drop-default", Contract,
        "keep the default until no running binary omits the column";
    DROP_VIEW = "OPS-C011", "drop-view", Contract,
        "stop using the view in one release; drop it in a later one";
    TRUNCATE = "OPS-C012", "truncate", Contract,
        "delete data only after no running binary needs it; prefer a reviewed DELETE";
    DROP_OBJECT = "OPS-C013", "drop-schema-sequence-or-type", Contract,
        "stop using it in one release; drop it in a later one";
    DROP_NOT_NULL = "OPS-C014", "drop-not-null", Contract,
        "keep NOT NULL until no running binary reads the column assuming it is filled";
    RENAME_TYPE = "OPS-C015", "rename-type-or-enum-value", Contract,
        "add the new type or value and move over in steps; retire the old name in a later release";
    DROP_CONSTRAINT = "OPS-C016", "drop-constraint", Contract,
        "keep the constraint until no running binary relies on it (ON CONFLICT needs its unique index; a check is a guarantee readers use)";
    REPLACE_VIEW_OR_FUNCTION = "OPS-C017", "replace-view-or-function", Contract,
        "create the new view or function under a new name, move the binary over, then drop the old one later";
    DETACH_PARTITION = "OPS-C018", "detach-partition", Contract,
        "stop reading the partition's rows through the parent in one release; detach it in a later one";
    REVOKE = "OPS-C019", "revoke-privilege", Contract,
        "ship the release that no longer needs the privilege first and revoke it in a later one; if no release runs as that role, say so: -- opskit: expand reason: ...";
    TRANSACTION_CONTROL = "OPS-E001", "transaction-control-in-migration", Error,
        "remove BEGIN/COMMIT/ROLLBACK/SAVEPOINT: the guard runs the migration and its record in one transaction; split the work into migrations instead";
    CONCURRENTLY_IN_TRANSACTION = "OPS-E002", "concurrently-inside-a-transaction", Error,
        "move CREATE/DROP INDEX CONCURRENTLY to a migration of its own whose first line is -- no-transaction";
    OUTSIDE_TRANSACTION_ONLY = "OPS-E003", "cannot-run-inside-a-transaction", Error,
        "move the statement (VACUUM, REINDEX CONCURRENTLY, CREATE DATABASE, ALTER SYSTEM, ...) to a migration of its own whose first line is -- no-transaction, or out of migrations";
    BAD_LOCK_TIMEOUT = "OPS-E004", "invalid-lock-timeout-header", Error,
        "write the header as -- opskit: lock_timeout=10s (a whole number of ms, s or m, from 1ms to 10m)";
    BYTE_ORDER_MARK = "OPS-E005", "byte-order-mark", Error,
        "save the file as UTF-8 without a byte-order mark: the database rejects it as a syntax error";
    INDEX_NOT_CONCURRENT = "OPS-L001", "create-index-without-concurrently", LockRisk,
        "CREATE INDEX CONCURRENTLY (in a migration of its own, marked -- no-transaction)";
    FOREIGN_KEY_VALIDATED = "OPS-L002", "foreign-key-without-not-valid", LockRisk,
        "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a later migration";
    CHECK_VALIDATED = "OPS-L003", "check-without-not-valid", LockRisk,
        "ADD CONSTRAINT ... CHECK (...) NOT VALID, then VALIDATE CONSTRAINT later";
    TYPE_REWRITE = "OPS-L004", "column-type-change-rewrites-table", LockRisk,
        "add a new column and backfill it in batches instead of rewriting the table under lock";
    NOT_NULL_SCAN = "OPS-L005", "set-not-null-scans-table", LockRisk,
        "add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (PostgreSQL 12+)";
    VOLATILE_DEFAULT = "OPS-L006", "add-column-with-volatile-default", LockRisk,
        "add the column without the default, backfill in batches, then set the default";
    UNIQUE_INDEX_LOCK = "OPS-L007", "unique-constraint-builds-index-under-lock", LockRisk,
        "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX";
    DROP_INDEX_NOT_CONCURRENT = "OPS-L008", "drop-index-without-concurrently", LockRisk,
        "DROP INDEX CONCURRENTLY (in a migration of its own, marked -- no-transaction)";
    LOCK_TABLE = "OPS-L009", "explicit-lock-table", LockRisk,
        "avoid LOCK TABLE in a migration; if it must stay, SET lock_timeout first and keep the migration short";
    SEVERAL_CONCURRENT = "OPS-L010", "several-concurrent-statements-in-one-file", LockRisk,
        "one CONCURRENTLY statement per -- no-transaction migration, so a failure leaves nothing half done";
    ADD_COLUMN_REWRITE = "OPS-L011", "add-column-rewrites-table", LockRisk,
        "add the column plain, backfill in batches, then attach the sequence, identity or generation";
    REWRITE_UNDER_LOCK = "OPS-L012", "rewrite-or-rebuild-under-lock", LockRisk,
        "REINDEX CONCURRENTLY, REFRESH MATERIALIZED VIEW CONCURRENTLY, pg_repack instead of CLUSTER / VACUUM FULL / SET LOGGED, in a quiet window";
    VALIDATE_IN_SAME_TRANSACTION = "OPS-L014", "validate-constraint-in-the-transaction-that-added-it", LockRisk,
        "move VALIDATE CONSTRAINT to a later migration: in the one that added it NOT VALID, its scan runs under the ADD's ACCESS EXCLUSIVE lock";
    ATTACH_PARTITION_SCAN = "OPS-L013", "attach-partition-scans", LockRisk,
        "add a CHECK constraint matching the partition bounds (NOT VALID, then VALIDATE) before ATTACH PARTITION, so the attach skips its scan";
    UNPARSEABLE = "OPS-U001", "unparseable", Unknown,
        "check the SQL, or state the migration's effect with -- opskit: expand / -- opskit: contract";
    UNCLASSIFIED = "OPS-U002", "not-classified", Unknown,
        "state the migration's effect with -- opskit: expand / -- opskit: contract";
    BAD_HEADER = "OPS-U003", "invalid-opskit-header", Unknown,
        "write the header as -- opskit: expand or -- opskit: contract, optionally followed by reason: ...";
}
