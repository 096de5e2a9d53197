//! The linter against a corpus of statements with the rule ids they must produce.

use opskit_migrate::lint::{Dialect, Severity, lint};
use proptest::prelude::*;

const PG: Dialect = Dialect::Postgres;
const LITE: Dialect = Dialect::Sqlite;

/// `(sql, dialect, expected rule ids in order)`; an empty list means expand and safe.
const CORPUS: &[(&str, Dialect, &[&str])] = &[
    // Expand: safe for the previous binary, no lock risk.
    (
        "CREATE TABLE tags (id BIGINT PRIMARY KEY, name TEXT NOT NULL)",
        PG,
        &[],
    ),
    (
        "CREATE TABLE IF NOT EXISTS tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
        LITE,
        &[],
    ),
    (
        "CREATE VIEW recent AS SELECT * FROM notes WHERE created > now() - interval '1 day'",
        PG,
        &[],
    ),
    ("ALTER TABLE notes ADD COLUMN archived BOOLEAN", PG, &[]),
    (
        "ALTER TABLE notes ADD COLUMN archived BOOLEAN NOT NULL DEFAULT false",
        PG,
        &[],
    ),
    (
        "ALTER TABLE notes ADD COLUMN created TIMESTAMPTZ NOT NULL DEFAULT now()",
        PG,
        &[],
    ),
    (
        "ALTER TABLE notes ADD COLUMN archived INTEGER NOT NULL DEFAULT 0",
        LITE,
        &[],
    ),
    (
        "-- no-transaction\nCREATE INDEX CONCURRENTLY notes_title ON notes (title)",
        PG,
        &[],
    ),
    (
        "-- no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS notes_title",
        PG,
        &[],
    ),
    (
        "ALTER TABLE notes VALIDATE CONSTRAINT notes_author_fk",
        PG,
        &[],
    ),
    ("ALTER TABLE notes SET (fillfactor = 70)", PG, &[]),
    (
        "CREATE TRIGGER stamp BEFORE UPDATE ON notes FOR EACH ROW EXECUTE FUNCTION stamp()",
        PG,
        &[],
    ),
    (
        "ALTER TABLE events ATTACH PARTITION events_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
        PG,
        &["OPS-L013"],
    ),
    // The linter cannot know which role a release runs as: every REVOKE is contract
    // until a header says the role is not a release's (`-- opskit: expand reason:`).
    ("REVOKE UPDATE ON notes FROM reporting", PG, &["OPS-C019"]),
    ("ALTER TYPE mood ADD VALUE 'calm'", PG, &[]),
    ("SELECT E'it\\'s; fine'", PG, &[]),
    ("/* /* ; */ still a comment */ SELECT 1", PG, &[]),
    (
        "CREATE TABLE \"Notes\" (id INT);\nDROP TABLE \"Notes\"",
        PG,
        &[],
    ),
    ("CREATE INDEX notes_title ON notes (title)", LITE, &[]),
    (
        "ALTER TABLE notes ADD CONSTRAINT notes_author_fk FOREIGN KEY (author) REFERENCES users (id) NOT VALID",
        PG,
        &[],
    ),
    // NOT VALID skips the scan, but new writes of the older binary must pass it.
    (
        "ALTER TABLE notes ADD CONSTRAINT title_len CHECK (length(title) < 200) NOT VALID",
        PG,
        &["OPS-C009"],
    ),
    (
        "ALTER TABLE notes ALTER COLUMN title SET DEFAULT 'untitled'",
        PG,
        &[],
    ),
    (
        "ALTER TABLE notes DROP CONSTRAINT title_len",
        PG,
        &["OPS-C016"],
    ),
    ("DROP INDEX IF EXISTS notes_title", LITE, &[]),
    ("INSERT INTO tags (id, name) VALUES (1, 'inbox')", PG, &[]),
    (
        "UPDATE notes SET title = 'untitled' WHERE title IS NULL",
        PG,
        &[],
    ),
    ("CREATE EXTENSION IF NOT EXISTS pgcrypto", PG, &[]),
    ("CREATE SEQUENCE note_numbers START 100", PG, &[]),
    ("COMMENT ON TABLE notes IS 'user notes'", PG, &[]),
    // A table created in the same migration may be changed freely.
    (
        "CREATE TABLE drafts (id BIGINT); ALTER TABLE drafts ADD COLUMN body TEXT NOT NULL; CREATE INDEX drafts_id ON drafts (id)",
        PG,
        &[],
    ),
    // Contract: breaks the previous binary.
    ("DROP TABLE legacy_notes", PG, &["OPS-C001"]),
    ("DROP TABLE IF EXISTS a, b", LITE, &["OPS-C001", "OPS-C001"]),
    ("ALTER TABLE notes DROP COLUMN body", PG, &["OPS-C002"]),
    ("ALTER TABLE notes DROP COLUMN body", LITE, &["OPS-C002"]),
    (
        "ALTER TABLE notes RENAME COLUMN body TO content",
        PG,
        &["OPS-C003"],
    ),
    (
        "ALTER TABLE notes RENAME COLUMN body TO content",
        LITE,
        &["OPS-C003"],
    ),
    ("ALTER TABLE notes RENAME TO memos", PG, &["OPS-C004"]),
    ("ALTER TABLE notes RENAME TO memos", LITE, &["OPS-C004"]),
    (
        "ALTER TABLE notes ALTER COLUMN id TYPE BIGINT",
        PG,
        &["OPS-C005", "OPS-L004"],
    ),
    (
        "ALTER TABLE notes ADD COLUMN owner BIGINT NOT NULL",
        PG,
        &["OPS-C006"],
    ),
    (
        "ALTER TABLE notes ADD COLUMN owner INTEGER NOT NULL",
        LITE,
        &["OPS-C006"],
    ),
    (
        "ALTER TABLE notes ALTER COLUMN title SET NOT NULL",
        PG,
        &["OPS-C007", "OPS-L005"],
    ),
    (
        "ALTER TABLE notes ADD CONSTRAINT notes_title_key UNIQUE (title)",
        PG,
        &["OPS-C008", "OPS-L007"],
    ),
    (
        "-- no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY notes_slug ON notes (slug)",
        PG,
        &["OPS-C008"],
    ),
    (
        "ALTER TABLE notes ALTER COLUMN title DROP NOT NULL",
        PG,
        &["OPS-C014"],
    ),
    (
        "ALTER TYPE mood RENAME VALUE 'sad' TO 'blue'",
        PG,
        &["OPS-C015"],
    ),
    ("ALTER TYPE mood RENAME TO feeling", PG, &["OPS-C015"]),
    (
        "CREATE TABLE IF NOT EXISTS notes (id INT, body TEXT);\nALTER TABLE notes DROP COLUMN body",
        PG,
        &["OPS-C002"],
    ),
    (
        "CREATE TABLE \"Notes\" (id INT);\nDROP TABLE notes",
        PG,
        &["OPS-C001"],
    ),
    ("CREATE TABLE Notes (id INT);\nDROP TABLE notes", PG, &[]),
    (
        "CREATE TABLE \"Notes\" (id INT);\nDROP TABLE notes",
        LITE,
        &[],
    ),
    // Cannot be applied as written: the guard refuses before executing anything.
    (
        "CREATE TABLE t1 (id INT);\nCOMMIT;\nCREATE TABLE t2 (id INT)",
        PG,
        &["OPS-E001"],
    ),
    (
        "BEGIN;\nCREATE TABLE t1 (id INT);\nEND",
        LITE,
        &["OPS-E001", "OPS-E001"],
    ),
    (
        "SAVEPOINT s;\nRELEASE SAVEPOINT s",
        PG,
        &["OPS-E001", "OPS-E001"],
    ),
    ("ROLLBACK", PG, &["OPS-E001"]),
    (
        "-- no-transaction\nCREATE TABLE audit (id INT);\nCOMMIT",
        PG,
        &[],
    ),
    (
        "CREATE INDEX CONCURRENTLY notes_title ON notes (title)",
        PG,
        &["OPS-E002"],
    ),
    ("DROP INDEX CONCURRENTLY notes_title", PG, &["OPS-E002"]),
    (
        "CREATE UNIQUE INDEX notes_slug ON notes (slug)",
        LITE,
        &["OPS-C008"],
    ),
    (
        "ALTER TABLE notes ADD CONSTRAINT title_len CHECK (length(title) < 200)",
        PG,
        &["OPS-C009", "OPS-L003"],
    ),
    (
        "ALTER TABLE notes ALTER COLUMN title DROP DEFAULT",
        PG,
        &["OPS-C010"],
    ),
    ("DROP VIEW recent", PG, &["OPS-C011"]),
    ("TRUNCATE notes", PG, &["OPS-C012"]),
    ("DROP SCHEMA archive CASCADE", PG, &["OPS-C013"]),
    // Lock risks on PostgreSQL only.
    (
        "CREATE INDEX notes_title ON notes (title)",
        PG,
        &["OPS-L001"],
    ),
    (
        "ALTER TABLE notes ADD CONSTRAINT notes_author_fk FOREIGN KEY (author) REFERENCES users (id)",
        PG,
        &["OPS-L002"],
    ),
    (
        "ALTER TABLE notes ADD COLUMN token UUID DEFAULT gen_random_uuid()",
        PG,
        &["OPS-L006"],
    ),
    (
        "ALTER TABLE notes ADD COLUMN score DOUBLE PRECISION DEFAULT random()",
        PG,
        &["OPS-L006"],
    ),
    // A new column without a default holds NULL: PostgreSQL skips the validation.
    (
        "ALTER TABLE notes ADD COLUMN author BIGINT REFERENCES users (id)",
        PG,
        &[],
    ),
    (
        "ALTER TABLE notes ADD COLUMN author BIGINT DEFAULT 1 REFERENCES users (id)",
        PG,
        &["OPS-L002"],
    ),
    ("DROP INDEX notes_title", PG, &["OPS-L008"]),
    (
        "LOCK TABLE notes IN ACCESS EXCLUSIVE MODE",
        PG,
        &["OPS-L009"],
    ),
    (
        "-- no-transaction\nCREATE INDEX CONCURRENTLY a ON notes (title);\nCREATE INDEX CONCURRENTLY b ON notes (body)",
        PG,
        &["OPS-L010"],
    ),
    (
        "ALTER TABLE notes ADD COLUMN seq bigserial",
        PG,
        &["OPS-L011"],
    ),
    (
        "ALTER TABLE notes ADD COLUMN len INT GENERATED ALWAYS AS (length(body)) STORED",
        PG,
        &["OPS-L011"],
    ),
    (
        "ALTER TABLE notes ADD COLUMN score INT DEFAULT (random() * 100)::INT",
        PG,
        &["OPS-L006"],
    ),
    // A privilege or a membership taken from a role the older binary may run as.
    (
        "REVOKE INSERT, UPDATE ON notes FROM notes_app",
        PG,
        &["OPS-C019"],
    ),
    ("REVOKE notes_writer FROM notes_app", PG, &["OPS-C019"]),
    // NOT VALID, then validated in the same transaction: the scan runs under the
    // ADD's ACCESS EXCLUSIVE lock. In a later migration (or outside a transaction,
    // where each statement commits) it is safe.
    (
        "ALTER TABLE notes ADD CONSTRAINT notes_author_fk FOREIGN KEY (author_id) REFERENCES users (id) NOT VALID;\nALTER TABLE notes VALIDATE CONSTRAINT notes_author_fk",
        PG,
        &["OPS-L014"],
    ),
    (
        "ALTER TABLE notes VALIDATE CONSTRAINT notes_author_fk",
        PG,
        &[],
    ),
    (
        "-- no-transaction\nALTER TABLE notes ADD CONSTRAINT notes_author_fk FOREIGN KEY (author_id) REFERENCES users (id) NOT VALID;\nALTER TABLE notes VALIDATE CONSTRAINT notes_author_fk",
        PG,
        &[],
    ),
    // Not understood: contract unless the header says otherwise.
    ("DO $$ BEGIN RAISE NOTICE 'hi'; END $$", PG, &["OPS-U001"]),
    ("THIS IS NOT SQL", LITE, &["OPS-U001"]),
    (
        "CREATE POLICY own ON notes USING (author = current_user)",
        PG,
        &["OPS-U002"],
    ),
];

/// The larger corpus (`tests/corpus/postgres.tsv`, 150 statements with their
/// expected class and the source of the fact): every statement lints without a
/// panic and opskit's class is right for at least 97% of them. The side-by-side
/// score with squawk is `tests/corpus/score.py` (docs/benchmarks.md).
#[test]
fn the_class_corpus_is_right_for_at_least_97_percent() {
    let corpus = include_str!("corpus/postgres.tsv");
    let mut total = 0;
    let mut wrong = Vec::new();
    for line in corpus
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let mut columns = line.split('\t');
        let (expected, sql) = (columns.next().unwrap(), columns.next().unwrap());
        let sql = sql.replace("\\n", "\n");
        let report = lint(&sql, PG);
        let severities: Vec<Severity> = report.findings.iter().map(|f| f.rule.severity).collect();
        let found = if severities.contains(&Severity::Error) {
            "error"
        } else if severities
            .iter()
            .any(|s| matches!(s, Severity::Contract | Severity::Unknown))
        {
            "contract"
        } else if severities.contains(&Severity::LockRisk) {
            "lock"
        } else {
            "safe"
        };
        total += 1;
        if found != expected {
            wrong.push(format!("{expected} -> {found}: {sql}"));
        }
    }
    assert!(
        total >= 120,
        "the corpus keeps at least 120 statements ({total})"
    );
    let right = total - wrong.len();
    assert!(
        right * 100 >= total * 97,
        "{right} of {total} right; wrong:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_corpus_produces_the_expected_rule_ids() {
    assert!(
        CORPUS.len() >= 40,
        "the corpus keeps at least 40 statements"
    );
    let mut failures = Vec::new();
    for (sql, dialect, expected) in CORPUS {
        let report = lint(sql, *dialect);
        let ids: Vec<&str> = report.findings.iter().map(|f| f.rule.id).collect();
        if ids != *expected {
            failures.push(format!(
                "{dialect:?} {sql}\n  expected {expected:?}\n  found    {ids:?} {:?}",
                report.findings
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        CORPUS.len(),
        failures.join("\n")
    );
}

#[test]
fn findings_name_the_line_and_the_objects() {
    let sql = "-- opskit: contract\n-- reason: v1.4 stopped reading body\n\nALTER TABLE notes\n  DROP COLUMN body;\n\nALTER TABLE notes RENAME COLUMN title TO heading;\n";
    let report = lint(sql, PG);
    let found: Vec<(usize, &str, &str)> = report
        .findings
        .iter()
        .map(|f| (f.line, f.rule.id, f.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (4, "OPS-C002", "drops column body of notes"),
            (7, "OPS-C003", "renames column title of notes to heading"),
        ]
    );
    assert_eq!(report.statements, 2);
}

/// Text the linter may be given: any Unicode, any bytes (read as a lossy UTF-8 file
/// would be), and soup of the tokens its splitter and parser care about.
fn arbitrary_migration_text() -> impl Strategy<Value = String> {
    let sql_soup = proptest::collection::vec(
        prop_oneof![
            Just("ALTER TABLE "),
            Just("DROP COLUMN "),
            Just("CREATE INDEX CONCURRENTLY "),
            Just("$$"),
            Just("$tag$"),
            Just("/*"),
            Just("*/"),
            Just("--"),
            Just("'"),
            Just("E'\\'"),
            Just("\""),
            Just(";"),
            Just("("),
            Just(")"),
            Just("\n"),
            Just("\r\n"),
            Just(" notes "),
            Just("é"),
            Just("\u{0}"),
        ],
        0..48,
    )
    .prop_map(|parts| parts.concat());
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(any::<u8>(), 0..512)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        sql_soup,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_bytes_and_unicode_never_panic_the_linter(text in arbitrary_migration_text()) {
        let _ = lint(&text, PG);
        let _ = lint(&text, LITE);
    }
}
