//! A rollback-safe migration guard for sqlx.
//!
//! sqlx refuses to start an older binary after any forward migration, and its
//! `ignore_missing` switch turns all checking off. The guard knows better: when it
//! applies a migration, it records in the same transaction whether the migration is
//! **expand** (older binaries keep working) or **contract** (they break). An older
//! binary that finds newer migrations reads those records and starts, with a
//! warning, when all are expand; it refuses, naming the contract migration and
//! what it changed, when any is contract or unrecorded.
//!
//! It works with sqlx migrations as they are: a `migrations/` folder embedded with
//! `sqlx::migrate!`, sqlx's migrations table (`_sqlx_migrations`, or the one
//! `sqlx.toml` names: see [below](#the-migrations-table)) and its checksums, on
//! SQLite and PostgreSQL. A database migrated by `sqlx migrate run` is read
//! correctly, and the guard excludes `sqlx migrate run` by sqlx's own PostgreSQL
//! lock key. Its own lock is a lease that holds through PgBouncer in transaction
//! pooling; see [`pooler`] for what a user sets behind a pooler, and why a lease.
//!
//! # Example
//!
//! ```no_run
//! use opskit_migrate::{Guard, Policy};
//!
//! # async fn main_() {
//! static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("tests/migrations/base");
//! let guard = Guard::new(&MIGRATOR);
//! match guard.run("sqlite://data/notes.db?mode=rwc", Policy::Apply).await {
//!     Ok(status) => println!("{status}"),
//!     Err(refusal) => {
//!         eprintln!("{refusal}");
//!         std::process::exit(refusal.exit_code()); // 65: incompatible, 69: unreachable, 75: a table stayed locked
//!     }
//! }
//! # }
//! ```
//!
//! # Classification
//!
//! A header comment in the migration file wins: `-- opskit: expand` or
//! `-- opskit: contract`, optionally followed by `reason: ...` (on the same line or
//! the next). Otherwise the [linter](lint) decides: any contract finding, or SQL it
//! cannot parse or classify, makes the migration contract.
//!
//! # States
//!
//! | state | meaning | `apply` | `expand` | `verify` |
//! |---|---|---|---|---|
//! | `up_to_date` | database and binary agree | starts | starts | starts |
//! | `pending` | the binary has migrations the database lacks | applies them | applies up to the first contract one | starts, not ready |
//! | `contract_pending` | the only ones lacking are declared contract in their headers | applies them | starts, warns | starts, warns |
//! | `ahead_compatible` | newer migrations, all recorded expand | starts, warns | starts, warns | starts, warns |
//! | `ahead_incompatible` | a newer migration is contract or unrecorded | refuses (65) | refuses (65) | refuses (65) |
//! | `modified` | an applied migration's file changed (says when only line endings differ) | refuses (65) | refuses (65) | refuses (65) |
//! | `missing` | an applied migration older than the binary's newest is not in the binary | refuses (65) | refuses (65) | refuses (65) |
//! | `failed` | a migration failed or is partly applied | refuses (65) | refuses (65) | refuses (65) |
//! | unreachable | the database cannot be reached | 69 | 69 | 69 |
//! | table locked | a table a migration changes stayed locked by another session through every try; that migration is rolled back, nothing of it applied | 75, try again later | 75 | never waits |
//!
//! # Rolling deploys: expand before, contract after
//!
//! A release that ships a contract migration rolls out while the previous release
//! still serves, so the contract step must wait until the rollout is over. The
//! migration job runs [`Policy::Expand`] before the rollout: it applies the expand
//! migrations and stops at the first contract one. The new release starts in
//! `contract_pending` (ready, with a warning): a migration declared
//! `-- opskit: contract` removes what the *previous* release needs, so the release
//! that ships it runs without it. After the rollout, a job with [`Policy::Apply`]
//! applies the rest; from then on the previous release refuses to start (65), and a
//! rollback means restoring the database. A migration that is contract by the linter
//! only is not held back silently: `expand` stops before it and refuses, so declare
//! it once you know this release runs without it. For the same reason a release's
//! contract migrations come after its expand ones: `expand` stops at the first
//! contract migration, and refuses (65) when anything it leaves pending is not
//! declared contract.
//!
//! Each outcome is a `schema.status` event with `policy`, `state`,
//! `binary_latest`, `database_latest`, `compatible`, and a message that says what was
//! found, what it means and what to do.
//!
//! # Lock timeouts: a migration never stalls the service
//!
//! PostgreSQL queues every query on a table behind an `ALTER TABLE` that waits for
//! its lock, so one long transaction that read the table would stall all its
//! traffic for as long as the migration waits. Each migration's transaction runs
//! with a short `lock_timeout` instead: 2 s by default
//! ([`Guard::table_lock_timeout`], CLI `--table-lock-timeout`), per file with a
//! header line `-- opskit: lock_timeout=10s`. When it runs out, the try is rolled
//! back, a `schema.lock_wait` event names the sessions holding the table (pid,
//! application name, state, for how long, their query cut short, never its
//! parameters), and the guard tries again after a growing, jittered pause, up to
//! [`Guard::table_lock_tries`] (10; CLI `--table-lock-tries`). Then it stops with
//! [`GuardError::TableLocked`], exit 75: run the job again later. SQLite gets the
//! same bounded wait for a database another connection writes to. See
//! [`lock_wait`].
//!
//! # The migrations table
//!
//! sqlx 0.9 may keep its migrations table under another name and in another
//! schema: `sqlx.toml`'s `[migrate]` `table-name` (`"ops.schema_history"`) and
//! `create-schemas` (`["ops"]`), read by `sqlx::migrate!()` with sqlx's `sqlx-toml`
//! feature and by sqlx-cli from its current directory, or
//! `Migrator::dangerous_set_table_name` and `Migrator::create_schema`.
//! [`Guard::new`] takes both from the `Migrator`, so the guard and sqlx read and
//! write one table whichever applies first; its own tables (`_opskit_migrations`,
//! `_opskit_migration_history`, `_opskit_migration_lock`) go beside it, in the same
//! schema, and it creates the listed schemas as sqlx does (`CREATE SCHEMA IF NOT
//! EXISTS` on PostgreSQL; on SQLite a schema is an attached file, and one that is
//! not attached is refused, as sqlx refuses it). The `opskit-migrate` command reads
//! `sqlx.toml` as sqlx-cli does.
//!
//! The name is written into SQL as given, as sqlx writes it, so it must be a name
//! and nothing more: `table` or `schema.table`, each part letters, digits and `_`
//! or double-quoted (`"Ops"."Schema History"`). Anything else is refused before
//! the database is reached, naming it ([`GuardError::TableName`], exit 78). A guard
//! given another name than the one the migrations were recorded under (a
//! `Migrator` built without the `sqlx.toml`) finds its table missing; when another
//! table of sqlx's shape records any of its migrations with the same checksums, it
//! refuses to read or apply ([`GuardError::TableElsewhere`], exit 78, naming that
//! table) rather than run them twice.
//!
//! ```no_run
//! use opskit_migrate::{Guard, Policy};
//!
//! # async fn run() -> Result<(), opskit_migrate::GuardError> {
//! let guard = Guard::from_dir("migrations")
//!     .await?
//!     .dangerous_set_table_name("ops.schema_history")
//!     .create_schema("ops");
//! guard.run("postgres://app@db/app", Policy::Apply).await?;
//! # Ok(()) }
//! ```
//!
//! # sqlx and feature flags
//!
//! The guard is built on sqlx 0.9, re-exported as [`sqlx`]: hand it the `Migrator`
//! of your own `sqlx::migrate!()`. No database is on by default; turn on the ones
//! you use.
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `postgres` | the guard on `postgres://` URLs; [`GuardConnection`] for `PgConnection` | no |
//! | `sqlite` | the guard on `sqlite:` URLs, SQLite compiled in; [`GuardConnection`] for `SqliteConnection` | no |
//! | `tls` | TLS to PostgreSQL with rustls (`sslmode=require`, `verify-full` with `sslrootcert=`) | no |
//! | `tls-rustls` | the same, by name | no |
//! | `tls-native-tls` | TLS to PostgreSQL with the platform's TLS library | no |
//! | `any` | [`StatusConnection`] for sqlx's `AnyConnection`: `Guard::status` and `schema_check` on an `AnyPool` | no |
//! | `health` | `schema_check`, a readiness check for opskit-health | no |
//! | `cli` | the `opskit-migrate` command: `postgres`, `sqlite` and `tls`, and `sqlx.toml` read as sqlx-cli reads it | no |
//!
//! A URL whose database is not compiled in is refused with
//! [`GuardError::UnsupportedDatabase`], which names the features to turn on.

// Feature badges on docs.rs, whose nightly rustdoc has `doc_cfg`; a stable build
// with `--cfg docsrs` still works, and each gated item says its feature in words.
#![cfg_attr(opskit_doc_cfg, feature(doc_cfg))]

#[cfg(feature = "health")]
mod check;
mod classify;
mod db;
mod error;
mod guard;
pub mod lint;
pub mod lock_wait;
pub mod pooler;
pub mod source;
mod status;
pub mod testing;

#[cfg(feature = "health")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "health")))]
pub use check::schema_check;
pub use classify::{Classification, ClassifiedBy, Compat, classify};
pub use db::{GuardConnection, StatusConnection};
pub use error::GuardError;
pub use guard::Guard;
pub use guard::policy::Policy;
pub use guard::repair::Repair;
pub use guard::url::DatabaseUrl;
/// Exit codes, from `sysexits.h`: the one opskit table ([`opskit_exit`]).
pub use opskit_exit as exit;
pub use status::{Ahead, Failed, Modified, Named, SchemaStatus, State};

/// The sqlx this crate is built on (0.9), so that a service names the same types.
pub use sqlx;

/// The crate README's example, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
