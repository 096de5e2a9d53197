//! Run with `cargo run -p example-notes --bin notes-previous`.
//!
//! The notes service, release N-1: the same code with the previous migration set
//! (no `tags` column). The rollback drill runs it against a database that release N
//! migrated.

// The service lists its settings on stdout with `--describe`.
#![allow(clippy::print_stdout)]

#[path = "../service.rs"]
mod service;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/previous");

#[tokio::main]
async fn main() {
    service::run(service::Release {
        name: "notes release N-1",
        migrator: &MIGRATOR,
        has_tags: false,
    })
    .await;
}
