//! The exit codes every opskit service and tool stops with, from `sysexits.h`, in one
//! table.
//!
//! `opskit-config`, `opskit-telemetry` and `opskit-migrate` re-export this crate as
//! their `exit` module, so a script or an orchestrator reads the same numbers
//! whichever crate stopped the process.
//!
//! # Example
//!
//! ```
//! let loaded_ok = true;
//! let code = if loaded_ok { opskit_exit::OK } else { opskit_exit::CONFIG };
//! assert_eq!(code, 0);
//! assert_eq!(opskit_exit::CONFIG, 78);
//! ```
//!
//! # The table
//!
//! | code | constant | when | what to do |
//! |---|---|---|---|
//! | 0 | [`OK`] | clean stop, also after a drain whose timeout cut requests off | nothing |
//! | 1 | [`FINDINGS`] | a checking tool found what it checks for (`opskit-migrate lint`: an unacknowledged contract migration) | read the findings |
//! | 64 | [`USAGE`] | a command was called wrongly (unknown option, missing argument) | read the usage line it printed |
//! | 65 | [`DATA_ERROR`] | the database schema is one this binary cannot run against, or a migration failed | roll forward to a release that knows the migration, or fix the failed one |
//! | 69 | [`UNAVAILABLE`] | the database is unreachable, or another process held the migration lock past the timeout | check the URL and the server; wait for the other migration |
//! | 70 | [`SOFTWARE`] | an internal error: a bug | report it |
//! | 71 | [`OS_ERROR`] | the operating system refused: the listener cannot bind | free the port or change the listen address |
//! | 75 | [`TEMP_FAILURE`] | try again later: migrations are pending (`opskit-migrate status`), or a migration's table stayed locked by another session through every try (`apply`, `Guard::run`) | run the migration job; for a lock, find the blocking session in the `schema.lock_wait` events and run it again once it has ended |
//! | 78 | [`CONFIG`] | the configuration is invalid; the report lists every problem | fix the variables named in the report |

#![no_std]

/// Clean stop (also after a drain whose timeout cut requests off: the stop was asked
/// for).
pub const OK: i32 = 0;
/// A checking tool found what it checks for, such as `opskit-migrate lint` finding an
/// unacknowledged contract migration.
pub const FINDINGS: i32 = 1;
/// `EX_USAGE`: the command was called wrongly.
pub const USAGE: i32 = 64;
/// `EX_DATAERR`: the database schema is one this binary cannot run against, or a
/// migration failed.
pub const DATA_ERROR: i32 = 65;
/// `EX_UNAVAILABLE`: the database is unreachable, or the migration lock was held past
/// the timeout.
pub const UNAVAILABLE: i32 = 69;
/// `EX_SOFTWARE`: an internal error (a bug).
pub const SOFTWARE: i32 = 70;
/// `EX_OSERR`: the operating system refused, typically binding the listener.
pub const OS_ERROR: i32 = 71;
/// `EX_TEMPFAIL`: try again later, such as migrations still pending or a table a
/// migration needs locked by another session.
pub const TEMP_FAILURE: i32 = 75;
/// `EX_CONFIG`: invalid configuration; the report lists every problem.
pub const CONFIG: i32 = 78;

/// The crate README's example, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
