//! Bounded waits for table locks: a short `lock_timeout` per try, a rolled-back
//! try when it runs out, a growing, jittered pause, and a bound on the tries.
//!
//! PostgreSQL queues every later query on a table behind an `ALTER TABLE` that waits
//! for its lock: one long transaction that read the table is enough to stall all
//! traffic to it for as long as the migration waits. So each migration's
//! transaction runs with `SET LOCAL lock_timeout` (a `-- no-transaction` migration
//! sets it for the session and resets it after); when it runs out, the transaction
//! is rolled back, the guard logs who holds the table (a `schema.lock_wait` event),
//! waits and tries again, up to a bound. On SQLite, a database another connection
//! writes to gets the same bounded wait (`busy_timeout`, then a retry). When every
//! try ran out the guard stops with [`GuardError::TableLocked`](crate::GuardError::TableLocked)
//! (exit 75: try again later), with nothing of the migration applied.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use opskit_migrate::{Guard, lock_wait};
//!
//! # static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("tests/migrations/base");
//! // The defaults: 2 s a try, 10 tries.
//! let guard = Guard::new(&MIGRATOR)
//!     .table_lock_timeout(lock_wait::parse_duration("2s").unwrap())
//!     .table_lock_tries(10);
//! assert_eq!(lock_wait::DEFAULT_TIMEOUT, Duration::from_secs(2));
//! # let _ = guard;
//! ```
//!
//! # What to set
//!
//! - [`Guard::table_lock_timeout`](crate::Guard::table_lock_timeout) (CLI
//!   `--table-lock-timeout 2s`): how long one try waits for a lock. Default
//!   [`DEFAULT_TIMEOUT`], 2 s: every query on the table waits behind the migration
//!   for up to that long at each try, so it must stay below what the service's
//!   clients tolerate (GitLab's first tries use 0.1 s to 1 s; 3 s is the most this
//!   guard's default would ever be).
//! - A migration that needs longer says so in a header line among its leading
//!   comments: `-- opskit: lock_timeout=10s` (a whole number of `ms`, `s` or `m`,
//!   from 1 ms to 10 minutes). Anything else on such a line is refused before
//!   anything runs (rule `OPS-E004`), naming the file's line.
//! - [`Guard::table_lock_tries`](crate::Guard::table_lock_tries) (CLI
//!   `--table-lock-tries N`): the bound, default [`DEFAULT_TRIES`], 10. Between
//!   tries the guard waits 0.5 s, 1 s, 2 s, ... up to 10 s, each ±25 %: with the
//!   defaults a table held for about a minute still gets its migration.
//!
//! # Events
//!
//! | event | level | when | fields |
//! |---|---|---|---|
//! | `schema.lock_wait` | WARN | a try ran out of `lock_timeout` and was rolled back | `version`, `description`, `attempt`, `tries`, `lock_timeout_ms`, `next_wait_ms` (0 on the last try), `blockers` (each: pid, application name, state, seconds in its transaction, its query cut to 120 characters, never parameters), `blocker_count` |
//!
//! On PostgreSQL the blockers are read with `pg_blocking_pids` on a second
//! connection while the try waits; the guard opens it only when it runs on a URL
//! ([`Guard::run`](crate::Guard::run), the CLI). Handed a connection
//! ([`Guard::apply`](crate::Guard::apply)), or when the watcher saw none, it names
//! the sessions holding a lock on a table the migration's SQL names, read on its
//! own connection right after the rolled-back try. SQLite does not say who holds
//! its lock.
//!
//! # Concurrent index builds
//!
//! A `CREATE INDEX CONCURRENTLY` cut short (by the lock timeout, a cancel or a
//! crash) leaves an INVALID index behind, and building it again fails or, with
//! `IF NOT EXISTS`, silently keeps the broken one. Before each try of a
//! `-- no-transaction` migration, the guard looks for INVALID indexes whose names
//! the migration's SQL mentions (the indexes it builds; any other INVALID index is
//! left alone), and stops with
//! [`GuardError::InvalidIndex`](crate::GuardError::InvalidIndex), naming the index
//! and the `DROP INDEX CONCURRENTLY` to run first. An index that the guard's own
//! try left INVALID when its lock timeout ran out (none was there before it) is
//! dropped (`DROP INDEX CONCURRENTLY`, under the same timeout: it waits for the
//! same sessions) at the start of the next try of the same run. When the last try
//! leaves one, the next run names it.
//! A `-- no-transaction` file should hold one statement: a try cut short after
//! earlier statements took effect cannot be rolled back.

mod backoff;
mod blocker;
mod duration;
pub(crate) mod event;
pub(crate) mod header;

pub(crate) use backoff::pause;
pub use blocker::Blocker;
pub(crate) use blocker::describe;
pub use duration::{DurationError, parse_duration};

use std::time::Duration;

/// How long one try waits for a lock by default: 2 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// How many tries by default: 10.
pub const DEFAULT_TRIES: u32 = 10;

/// The bound of one migration's tries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bound {
    /// `lock_timeout` of each try.
    pub(crate) timeout: Duration,
    /// How many tries.
    pub(crate) tries: u32,
}
