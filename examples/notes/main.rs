//! Run with `cargo run --example notes --features full`.
//!
//! The notes service, release N: every opskit crate wired together in the order a
//! service should start. With no environment at all it starts on the embedded
//! SQLite database under `./data`, on 127.0.0.1:8080, with writes refused until
//! `NOTES_API_TOKEN` (or `NOTES_API_TOKEN_FILE`) is set. `docs/runbook.md` is its
//! runbook.

// The service lists its settings on stdout with `--describe`.
#![allow(clippy::print_stdout)]

mod service;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("examples/notes/migrations/current");

#[tokio::main]
async fn main() {
    service::run(service::Release {
        name: "notes release N",
        migrator: &MIGRATOR,
        has_tags: true,
    })
    .await;
}
