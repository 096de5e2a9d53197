use opskit_config::{Config, Invalid};

fn check(_settings: &Settings) -> Vec<Invalid> {
    Vec::new()
}

#[derive(Config)]
#[config(rule(check))]
struct Settings {
    /// Port.
    port: u16,
}

fn main() {}
