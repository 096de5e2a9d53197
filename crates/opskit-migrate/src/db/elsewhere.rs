//! Migrations recorded under another table name: when the guard's migrations table
//! does not exist, the tables of sqlx's shape that do (a few at most, found in the
//! catalogue) are read, and one that records a migration of this binary with its
//! checksum means the migrations were applied under that name. Applying them again
//! would run them twice, so the guard refuses, naming the table.

use super::{GuardError, Known, StatusConnection, Tables};

/// Tables of sqlx's shape this PostgreSQL role may read (`information_schema`
/// lists only those), quoted by PostgreSQL: where migrations applied under another
/// table name are.
#[cfg(any(feature = "postgres", feature = "any"))]
pub(super) const PG_CANDIDATES: &str = "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) \
     FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
     AND column_name IN ('version', 'description', 'installed_on', 'success', 'checksum', 'execution_time') \
     GROUP BY table_schema, table_name HAVING count(*) = 6 ORDER BY 1 LIMIT 10";

/// Tables of sqlx's shape in the SQLite database, by name: where migrations
/// applied under another table name are.
#[cfg(any(feature = "_sqlite", feature = "any"))]
pub(super) const SQLITE_CANDIDATES: &str = "SELECT m.name FROM sqlite_master m WHERE m.type = 'table' \
     AND (SELECT count(*) FROM pragma_table_info(m.name) p WHERE p.name IN \
     ('version', 'description', 'installed_on', 'success', 'checksum', 'execution_time')) = 6 \
     ORDER BY 1 LIMIT 10";

/// A SQLite table name from its catalog as SQL writes it: bare when it is a plain
/// name, quoted otherwise (the guard skips a name with a quote in it).
#[cfg(any(feature = "_sqlite", feature = "any"))]
pub(super) fn sqlite_quoted(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        name.to_owned()
    } else {
        format!("\"{name}\"")
    }
}

/// Called when `t`'s migrations table was missing: [`GuardError::TableElsewhere`]
/// when a table of sqlx's shape records a migration of `known` as applied, with
/// its checksum (the migrations were applied under another table name, and would
/// run twice), unless `t`'s table exists by now: another replica created it
/// meanwhile, and it is the one found. `Ok(true)` then: read it. A table of other
/// migrations (another service's set in its own schema) does not count.
pub(super) async fn refuse<C: StatusConnection + ?Sized>(
    conn: &mut C,
    t: &Tables,
    known: &[Known<'_>],
) -> Result<bool, GuardError> {
    for candidate in conn.candidates().await? {
        // A name the database quoted that the guard would not write is skipped,
        // as is a table it may not read.
        let Ok(other) = Tables::reading(&candidate) else {
            continue;
        };
        let Ok(rows) = conn.applied(&other).await else {
            continue;
        };
        let count = rows
            .iter()
            .filter(|(version, success, checksum)| {
                *success
                    && known
                        .binary_search_by_key(version, |k| k.version)
                        .is_ok_and(|i| known[i].checksum == checksum.as_slice())
            })
            .count();
        if count > 0 {
            if conn.existing(t).await?[0] {
                return Ok(true);
            }
            return Err(GuardError::TableElsewhere {
                table: t.sqlx.clone(),
                found: candidate,
                count,
            });
        }
    }
    Ok(false)
}
