//! `sqlx.toml`, read as sqlx-cli reads it: `--config FILE`, or else `sqlx.toml` in
//! the current directory when there is one. What the guard takes from it is the
//! `[migrate]` table: `table-name` and `create-schemas` (where the migrations are
//! recorded), `migrations-dir` (where they are, when `--migrations` is not given;
//! `migrations` by default, as for sqlx-cli)
//! and `ignored-chars` (what their checksums leave out). As sqlx does, a key it
//! does not know (`table_name` for `table-name`) is an error, not ignored: a guard
//! that missed the table name would find nothing applied.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use opskit_migrate::sqlx::migrate::{Migrator, ResolveConfig, ResolveWith};
use opskit_migrate::{Guard, GuardError};
use serde::Deserialize;

/// The sections of `sqlx.toml`: `[migrate]` read, the others only allowed.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
struct File {
    common: toml::Table,
    drivers: toml::Table,
    macros: toml::Table,
    migrate: Migrate,
}

/// sqlx's `[migrate]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
struct Migrate {
    table_name: Option<String>,
    // A set, as sqlx keeps it: created in sorted order, each once.
    create_schemas: BTreeSet<String>,
    migrations_dir: Option<String>,
    ignored_chars: BTreeSet<char>,
    #[allow(dead_code)] // for `sqlx migrate add` only
    defaults: toml::Table,
}

/// What `sqlx.toml` says about migrations, and where it was read from.
#[derive(Debug, Default)]
pub(crate) struct SqlxToml {
    /// The file read, if any.
    pub(crate) path: Option<PathBuf>,
    migrate: Migrate,
}

impl SqlxToml {
    /// Reads `explicit` (`--config`), or `sqlx.toml` in the current directory when
    /// it exists; the defaults when neither. The error names the file and, for a
    /// malformed one, the line.
    pub(crate) fn load(explicit: Option<&str>) -> Result<Self, String> {
        let path = match explicit {
            Some(path) => PathBuf::from(path),
            None => {
                let path = PathBuf::from("sqlx.toml");
                if !path.exists() {
                    return Ok(Self::default());
                }
                path
            }
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let file: File = toml::from_str(&text).map_err(|err| {
            format!(
                "{} is not a valid sqlx.toml: {}",
                path.display(),
                err.to_string().trim_end()
            )
        })?;
        Ok(Self {
            path: Some(path),
            migrate: file.migrate,
        })
    }

    /// Where the migrations are when `--migrations` is not given, as sqlx-cli
    /// takes it: `[migrate] migrations-dir`, else `migrations`. `None` without a
    /// `sqlx.toml`: then `--migrations` is required.
    pub(crate) fn migrations_dir(&self) -> Option<&str> {
        self.path.as_ref()?;
        Some(
            self.migrate
                .migrations_dir
                .as_deref()
                .unwrap_or("migrations"),
        )
    }

    /// The migrations table, as sqlx names it.
    pub(crate) fn table_name(&self) -> &str {
        self.migrate
            .table_name
            .as_deref()
            .unwrap_or("_sqlx_migrations")
    }

    /// The guard for the migrations of `dir`, read as sqlx-cli reads them (with
    /// `ignored-chars` left out of their checksums), and the migrations table and
    /// schemas of this file, set on the `Migrator` as sqlx-cli sets them.
    pub(crate) async fn guard(&self, dir: &Path) -> Result<Guard, GuardError> {
        opskit_migrate::source::migration_files(dir)?;
        let mut resolve = ResolveConfig::new();
        resolve.ignore_chars(self.migrate.ignored_chars.iter().copied());
        let mut migrator = Migrator::new(ResolveWith(dir.to_path_buf(), resolve))
            .await
            .map_err(|e| GuardError::Source {
                path: dir.display().to_string(),
                message: e.to_string(),
            })?;
        if let Some(name) = &self.migrate.table_name {
            migrator.dangerous_set_table_name(name.clone());
        }
        for schema in &self.migrate.create_schemas {
            migrator.create_schema(schema.clone());
        }
        Ok(Guard::new(&migrator))
    }
}
