//! Helpers of the notes service's tests: its binaries (built by cargo for the
//! tests), fresh PostgreSQL databases, and the shared process helpers.

#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod postgres;

use std::path::PathBuf;

pub use opskit_testkit::{load, process, prometheus};

/// Release N of the notes service.
pub fn notes() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_notes"))
}

/// Release N-1 of the notes service, for the rollback drill.
pub fn notes_previous() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_notes-previous"))
}
