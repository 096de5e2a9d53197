//! The README shows a report; this checks that the code prints exactly that.

use std::net::SocketAddr;
use std::time::Duration;

use opskit::config::Config;
use opskit::secret::{ConnectionString, SecretString};

/// Settings of the notes service.
#[derive(Config)]
#[config(prefix = "NOTES_")]
#[allow(dead_code)]
struct Settings {
    /// Address the HTTP server binds.
    #[config(default = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Database URL (or NOTES_DATABASE_URL_FILE with the path of a file holding it).
    database_url: ConnectionString,
    /// Token that write requests must present.
    api_token: Option<SecretString>,
    /// How long in-flight requests may run after SIGTERM.
    #[config(default = "30s")]
    shutdown_timeout: Duration,
}

/// The first ```text block after `marker` in the README.
fn readme_block(marker: &str) -> String {
    let readme = include_str!("../README.md");
    let after = &readme[readme.find(marker).expect("marker in README")..];
    let start = after.find("```text\n").expect("a text block") + "```text\n".len();
    let end = start + after[start..].find("```").expect("the block ends");
    after[start..end].trim_end().to_owned()
}

#[test]
fn the_readme_report_is_what_the_code_prints() {
    let err = Settings::from_pairs([("NOTES_LISTEN", "localhost")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        readme_block("With `NOTES_LISTEN=localhost`")
    );
}

/// The README's axum service is the consumer crate CI builds outside the workspace
/// and runs against PostgreSQL over TLS: the text shown is the text run.
#[test]
fn the_readme_service_is_the_one_ci_runs() {
    let readme = include_str!("../README.md");
    let start = readme
        .find("```rust,ignore\n")
        .expect("the README's service block")
        + "```rust,ignore\n".len();
    let end = start + readme[start..].find("```\n").expect("the block ends");
    assert_eq!(
        &readme[start..end],
        include_str!("consumer/src/main.rs"),
        "README.md and tests/consumer/src/main.rs differ: keep them the same text"
    );
}
