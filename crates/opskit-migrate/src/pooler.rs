//! Migrating through a transaction pooler (PgBouncer `pool_mode = transaction`):
//! what the guard does itself, what a user sets, and why the migration lock is a
//! lease.
//!
//! ```no_run
//! use std::time::Duration;
//! use opskit_migrate::{Guard, Policy};
//!
//! # async fn run() -> Result<(), opskit_migrate::GuardError> {
//! static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("tests/migrations/base");
//! // Through PgBouncer on port 6432: nothing to add to the URL.
//! let guard = Guard::new(&MIGRATOR)
//!     .lock_lease(Duration::from_secs(30)) // a killed holder keeps the lock this long at most
//!     .lock_timeout(Duration::from_secs(90)); // a replica waits this long: keep it above the lease
//! guard.run("postgres://app:secret@pgbouncer:6432/app", Policy::Apply).await?;
//! # Ok(()) }
//! ```
//!
//! # What the guard does itself
//!
//! Behind a transaction pooler two transactions of one client may run on two
//! server connections, and what one leaves on its server connection (a prepared
//! statement, a `SET`, a session advisory lock) meets other clients there. So on
//! PostgreSQL the guard:
//!
//! - prepares no named statement: every query with parameters is unnamed
//!   (`persistent(false)`) and runs inside an explicit transaction (sqlx parses an
//!   unnamed statement and binds it in two round trips, which must reach one
//!   server connection); the others are simple-protocol statements with only the
//!   guard's own numbers written in. This holds on any connection the guard is
//!   given, not only on those it opens from a URL.
//! - sets the lock timeout with `SET LOCAL` inside each migration's transaction,
//!   and takes no session-level lock.
//! - takes its migration lock as a lease row (below).
//!
//! A `statement-cache-capacity=0` URL parameter (or
//! `PgConnectOptions::statement_cache_capacity(0)`) is **not** enough with sqlx
//! 0.9: sqlx still names every persistent statement (`sqlx_s_1`, ...) and only
//! stops reusing it, so two clients meet each other's names on one server
//! connection (sqlx issue 67). The guard does not rely on it.
//!
//! # What a user sets
//!
//! - PgBouncer: `ignore_startup_parameters = extra_float_digits` (sqlx sends it at
//!   connect, and PgBouncer 1.18 refuses a client that sends a parameter it does
//!   not know). PgBouncer 1.21 and later can instead track prepared statements
//!   (`max_prepared_statements`); Debian's 1.18 cannot.
//! - The service's own queries through the pooler: sqlx's `query()` is a named
//!   prepared statement; behind PgBouncer 1.18 in transaction mode use
//!   `.persistent(false)` inside a transaction, or `sqlx::raw_sql`, or give the
//!   service a session-mode pool. The guard cannot change how a service queries;
//!   the notes example shows one way (`NOTES_DATABASE_POOLING=transaction`, its
//!   `notes.rs`), tested through PgBouncer 1.18.
//! - `-- no-transaction` migrations (`CREATE INDEX CONCURRENTLY`): their lock
//!   timeout is a session `SET` before the statement and a `RESET` after it.
//!   Through a transaction pooler those three may reach different server
//!   connections: the statement may run without the timeout, and the setting may
//!   stay on a server connection another client then uses. Run a migration job with
//!   `-- no-transaction` files on a direct URL (PostgreSQL's own port, or a
//!   session-mode pool); the lease works the same there.
//! - [`Guard::lock_lease`](crate::Guard::lock_lease) (`--lock-lease`, default 30 s)
//!   and [`Guard::lock_timeout`](crate::Guard::lock_timeout) (`--lock-timeout`,
//!   default 60 s): keep the timeout above the lease.
//!
//! # The migration lock: a lease, and why
//!
//! The guard's lock was sqlx's session-level advisory lock
//! (`pg_try_advisory_lock`, later `pg_advisory_unlock`). Through a transaction
//! pooler the unlock may reach another server connection: the lock stays on a
//! pooled connection and every later deploy waits out its timeout, or two
//! replicas migrate at once. Two replacements hold across the pooler:
//!
//! - **a transaction-scoped advisory lock** (`pg_advisory_xact_lock`) held by one
//!   transaction open for the whole apply. Every migration would then run in that
//!   transaction: no `-- no-transaction` migration could run at all, a failed
//!   migration would roll back the ones before it (sqlx and the guard apply each in
//!   its own transaction and keep the ones that succeeded), and one long
//!   transaction would hold every table lock of the whole set until the end, the
//!   very stall the lock timeouts exist to prevent.
//! - **a lease row with an expiry** (chosen): `_opskit_migration_lock`, taken with
//!   one `INSERT ... ON CONFLICT DO UPDATE ... WHERE expires_at < now()`, renewed
//!   before each migration and each try, deleted at the end. Each of these is one
//!   statement in its own transaction, so it holds on any server connection. A
//!   holder that is SIGKILLed or loses its node keeps the lock only until the lease
//!   runs out; the next replica then takes it over. Migrations keep their own
//!   transactions, `-- no-transaction` ones included.
//!
//! A lease can run out under a holder that is still working (a single migration
//! longer than the lease). So each migration's transaction also takes sqlx's
//! advisory lock for that transaction (`pg_advisory_xact_lock`, under the try's
//! lock timeout) and checks again that the migration is not applied: a guard that
//! took an expired lease over waits for the migration in flight and then skips it.
//! A guard that finds its lease taken over stops between migrations
//! ([`GuardError::LockLost`](crate::GuardError::LockLost), exit 69).
//!
//! # With `sqlx migrate run`, and with guards of earlier releases
//!
//! Both hold sqlx's session-level advisory lock for their whole run, on a direct
//! connection. The guard excludes them as before, by that same key: it takes the
//! lock only when the advisory lock is free (checked with
//! `pg_try_advisory_xact_lock` in a statement of its own, so nothing is left
//! behind), and each of its migration transactions holds the advisory lock while
//! it runs. A `sqlx migrate run` that starts between two of the guard's
//! migrations applies what is left, and the guard, waiting for the advisory lock
//! in its next transaction, then finds those applied and skips them. What is not
//! excluded: `sqlx migrate run` starting while the guard runs a
//! `-- no-transaction` migration (the guard holds no advisory lock outside a
//! transaction). sqlx itself takes no lock that holds through a transaction
//! pooler: run `sqlx migrate run` on a direct URL.
