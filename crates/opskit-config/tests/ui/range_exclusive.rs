use std::time::Duration;

use opskit_config::Config;

#[derive(Config)]
struct Settings {
    /// Longest a request may take.
    #[config(default = "30s", range = "100ms..1h")]
    request_timeout: Duration,
}

fn main() {}
