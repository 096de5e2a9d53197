//! Run with `cargo run -p notes-drill --bin bare-hello`.
//!
//! The baseline the notes service is measured against (`benches/notes_load.rs`): a
//! bare axum router serving the same database-free `GET /hello` handler, with no
//! opskit layer, no configuration, no logging. It prints its address on stdout.

#![allow(clippy::print_stdout)]

use axum::routing::get;
use axum::{Json, Router};

async fn hello() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "service": "notes", "version": env!("CARGO_PKG_VERSION") }))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::var("BARE_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("{}", listener.local_addr()?);
    let app = Router::new().route("/hello", get(hello));
    axum::serve(listener, app).await
}
