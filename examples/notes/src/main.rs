//! Run with `cargo run -p example-notes` (from the repository root).
//!
//! The notes service, release N: every opskit crate wired together in the order a
//! service should start. With no environment at all it starts on the embedded
//! SQLite database under `./data`, on 127.0.0.1:8080, with writes refused until
//! `NOTES_API_TOKEN` (or `NOTES_API_TOKEN_FILE`) is set. `RUNBOOK.md` (beside this package's `Cargo.toml`) is its
//! runbook.

// The service lists its settings on stdout with `--describe`.
#![allow(clippy::print_stdout)]

mod service;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/current");

#[tokio::main]
async fn main() {
    service::run(service::Release {
        name: "notes release N",
        migrator: &MIGRATOR,
        has_tags: true,
    })
    .await;
}
