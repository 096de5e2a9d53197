//! The migrations of a directory, as one set every command agrees on: which
//! files are migrations, and which names make the whole set refused before
//! anything runs.
//!
//! sqlx reads `VERSION_DESCRIPTION.sql` files and silently skips the rest; left
//! to themselves, the linter and the guard disagreed on odd names (a directory
//! called `2_dir.sql`, `abc.sql`, `-1_neg.sql`, a version past `i64`, a newline in
//! a name) and on two files with one version (`1_a.sql` beside `01_b.sql`: one is
//! applied, the other never, without a word). Here each gets one verdict, the same
//! for `lint`, `status`, `apply` and [`Guard::from_dir`](crate::Guard::from_dir):
//! every entry whose name ends in `.sql` must be
//! a file named `VERSION_DESCRIPTION.sql` (a version of digits only, that fits a
//! 64-bit integer; a name without control characters, in UTF-8), and no two
//! migrations (`.down.sql` files aside) may share a version. Anything else is
//! [`GuardError::MigrationSet`] (exit 65), naming every file at fault. Files that do
//! not end in `.sql` (a README) are not migrations and are left alone, as sqlx
//! does. A `Migrator` embedded with `sqlx::migrate!` has no file names left to
//! check, but [`Guard::run`](crate::Guard::run), `status`, `verify` and `apply`
//! refuse its migrations the same way when two share a version or one has a
//! negative version, before anything is read or written.
//!
//! # Example
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("1_create.sql"), "CREATE TABLE t (x INT);").unwrap();
//! std::fs::write(dir.path().join("01_again.sql"), "CREATE TABLE u (x INT);").unwrap();
//! let err = opskit_migrate::source::migration_files(dir.path()).unwrap_err();
//! assert!(err.to_string().contains("version 1 is used by 01_again.sql and 1_create.sql"));
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sqlx::migrate::Migration;

use crate::error::GuardError;

/// The migration files of `dir` (`.down.sql` files aside), by version: what
/// `lint` reads and the guard applies.
///
/// # Errors
///
/// [`GuardError::Source`] when the directory cannot be read;
/// [`GuardError::MigrationSet`] naming every entry at fault (see the
/// [module docs](self)).
pub fn migration_files(dir: &Path) -> Result<Vec<PathBuf>, GuardError> {
    let source = |message: String| GuardError::Source {
        path: dir.display().to_string(),
        message,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| source(e.to_string()))?;
    let mut problems = Vec::new();
    let mut by_version: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| source(e.to_string()))?;
        let shown = format!("{:?}", entry.file_name());
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".sql") {
            continue;
        }
        match check_name(&entry.path(), &name) {
            Err(problem) => problems.push(format!("{shown} {problem}")),
            Ok(None) => {}
            Ok(Some(version)) => {
                by_version.entry(version).or_default().push(name.clone());
                files.push((version, entry.path()));
            }
        }
    }
    problems.extend(duplicates(&by_version, "file"));
    if !problems.is_empty() {
        problems.sort();
        return Err(GuardError::MigrationSet {
            path: dir.display().to_string(),
            problems,
        });
    }
    files.sort();
    Ok(files.into_iter().map(|(_, path)| path).collect())
}

/// The version of a migration file named `name`, `None` for a `.down.sql` one, or
/// what is wrong with it.
fn check_name(path: &Path, name: &str) -> Result<Option<i64>, String> {
    if !path.is_file() {
        return Err("is not a file: move it out of the migrations directory".to_owned());
    }
    if name.contains(char::REPLACEMENT_CHARACTER) || name.chars().any(char::is_control) {
        return Err(
            "has a control character or is not UTF-8: rename it VERSION_DESCRIPTION.sql".into(),
        );
    }
    let Some((version, _)) = name.split_once('_') else {
        return Err("is not named VERSION_DESCRIPTION.sql (such as 3_add_tags.sql): rename it, or move it out of the migrations directory".into());
    };
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "has the version {version:?}: a version is a whole number of digits only (such as 3 or 20240101120000)"
        ));
    }
    let version: i64 = version.parse().map_err(|_| {
        format!(
            "has the version {version}, past the largest a migration can have (9223372036854775807)"
        )
    })?;
    Ok((!name.ends_with(".down.sql")).then_some(version))
}

/// One problem per version that more than one migration uses.
fn duplicates(by_version: &BTreeMap<i64, Vec<String>>, what: &str) -> Vec<String> {
    by_version
        .iter()
        .filter(|(_, names)| names.len() > 1)
        .map(|(version, names)| {
            let mut names = names.clone();
            names.sort();
            format!(
                "version {version} is used by {}: each {what} needs a version of its own; renumber one of them",
                names.join(" and ")
            )
        })
        .collect()
}

/// Refuses migrations that share a version or have a negative one (a `Migrator`
/// built by `sqlx::migrate!` takes both).
pub(crate) fn refuse_bad_versions(migrations: &[Migration]) -> Result<(), GuardError> {
    let mut by_version: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for m in migrations {
        let shown = format!("{} ({})", m.version, m.description);
        if m.version < 0 {
            problems.push(format!(
                "migration {shown} has a negative version: a version is a whole number of digits only"
            ));
        }
        by_version.entry(m.version).or_default().push(shown);
    }
    problems.extend(duplicates(&by_version, "migration"));
    if problems.is_empty() {
        return Ok(());
    }
    Err(GuardError::MigrationSet {
        path: "the binary's migrations".to_owned(),
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(names: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in names {
            std::fs::write(dir.path().join(name), "SELECT 1;").unwrap();
        }
        dir
    }

    #[test]
    fn odd_names_are_refused_each_named() {
        let d = dir(&[
            "1_ok.sql",
            "abc.sql",
            "-1_neg.sql",
            "99999999999999999999_big.sql",
            "x\n_nl.sql",
            "README.md",
        ]);
        std::fs::create_dir(d.path().join("2_dir.sql")).unwrap();
        let GuardError::MigrationSet { problems, .. } = migration_files(d.path()).unwrap_err()
        else {
            panic!()
        };
        let all = problems.join("\n");
        assert_eq!(problems.len(), 5, "{all}");
        for part in [
            "\"2_dir.sql\" is not a file",
            "\"abc.sql\" is not named VERSION_DESCRIPTION.sql",
            "\"-1_neg.sql\" has the version \"-1\"",
            "\"99999999999999999999_big.sql\" has the version 99999999999999999999, past",
            "\"x\\n_nl.sql\" has a control character",
        ] {
            assert!(all.contains(part), "{part} in {all}");
        }
    }

    #[test]
    fn a_reversible_pair_shares_its_version_and_files_come_in_version_order() {
        let d = dir(&["10_b.up.sql", "10_b.down.sql", "2_a.sql"]);
        let files = migration_files(d.path()).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["2_a.sql", "10_b.up.sql"]);
    }
}
