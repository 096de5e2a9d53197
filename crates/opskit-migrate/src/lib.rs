//! A rollback-safe migration guard for sqlx.
pub mod lint;
