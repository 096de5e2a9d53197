//! PostgreSQL's errors in a migration, placed in the migration's file.
//!
//! sqlx shows a PostgreSQL error as its message and "at line N", where N is a line
//! of PostgreSQL's own source code (`scan.l`, `gram.y`): an operator reading
//! "at line 1188" looks for it in a file that has ten. The guard says where in the
//! migration the error is instead, from the error's position, with its detail and
//! hint.

use sqlx::postgres::{PgDatabaseError, PgErrorPosition};

/// `err`, raised running `sql`, in words that point into `sql`.
pub(super) fn describe(err: &sqlx::Error, sql: &str) -> String {
    let Some(pg) = err
        .as_database_error()
        .and_then(|e| e.try_downcast_ref::<PgDatabaseError>())
    else {
        return err.to_string();
    };
    let mut text = pg.message().to_owned();
    if let Some(PgErrorPosition::Original(position)) = pg.position() {
        let (line, column) = line_and_column(sql, position);
        text.push_str(&format!(" (line {line}, column {column} of the migration)"));
    }
    if let Some(detail) = pg.detail() {
        text.push_str(&format!("; detail: {detail}"));
    }
    if let Some(hint) = pg.hint() {
        text.push_str(&format!("; hint: {hint}"));
    }
    text
}

/// The 1-based line and column of PostgreSQL's 1-based character `position`.
fn line_and_column(sql: &str, position: usize) -> (usize, usize) {
    let before: String = sql.chars().take(position.saturating_sub(1)).collect();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_and_lines() {
        let sql = "CREATE TABLE é (x INT);\nALTER TABLE t ADD COLUM y INT;";
        assert_eq!(line_and_column(sql, 1), (1, 1));
        assert_eq!(line_and_column(sql, 15), (1, 15));
        assert_eq!(line_and_column(sql, 25), (2, 1));
    }
}
