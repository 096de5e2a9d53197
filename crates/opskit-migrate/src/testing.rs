//! For a project's own test suite.

use std::path::Path;

use crate::classify::{ClassifiedBy, Compat, classify};
use crate::lint::Dialect;

/// Fails when a migration in `dir` is contract (by the linter) without saying so in
/// its header, listing each such file with what it does and the fix.
///
/// Put it in a test so that a breaking migration cannot slip into a release
/// unannounced:
///
/// ```no_run
/// #[test]
/// fn contract_migrations_are_acknowledged() {
///     opskit_migrate::testing::assert_contract_migrations_acknowledged(
///         "migrations",
///         opskit_migrate::lint::Dialect::Postgres,
///     );
/// }
/// ```
///
/// # Panics
///
/// When a file is unacknowledged contract, or the directory cannot be read.
#[track_caller]
pub fn assert_contract_migrations_acknowledged(dir: impl AsRef<Path>, dialect: Dialect) {
    let problems = unacknowledged_contract_migrations(dir.as_ref(), dialect)
        .unwrap_or_else(|e| panic!("cannot read migrations in {}: {e}", dir.as_ref().display()));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The unacknowledged contract migrations of `dir`, one message each.
///
/// # Errors
///
/// When the directory or a file cannot be read.
pub fn unacknowledged_contract_migrations(
    dir: &Path,
    dialect: Dialect,
) -> std::io::Result<Vec<String>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "sql") && !p.to_string_lossy().ends_with(".down.sql")
        })
        .collect();
    files.sort();
    let mut problems = Vec::new();
    for file in files {
        let sql = std::fs::read_to_string(&file)?;
        let classification = classify(&sql, dialect);
        if classification.compat == Compat::Contract && classification.by == ClassifiedBy::Linter {
            let findings: Vec<String> = classification
                .lint
                .breaking()
                .map(|f| {
                    format!(
                        "  line {}: {} {} — {}; fix: {}",
                        f.line, f.rule.id, f.rule.name, f.message, f.rule.fix
                    )
                })
                .collect();
            problems.push(format!(
                "{} is a contract migration (older binaries break on it) but its header does not say so; \
                 add `-- opskit: contract reason: ...` once the previous release no longer needs what it changes, \
                 or rewrite it as expand:\n{}",
                file.display(),
                findings.join("\n")
            ));
        }
    }
    Ok(problems)
}
