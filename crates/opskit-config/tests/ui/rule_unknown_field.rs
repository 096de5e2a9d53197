use opskit_config::{Config, Invalid};

fn bounds(_min: &u32, _max: &u32) -> Vec<Invalid> {
    Vec::new()
}

#[derive(Config)]
#[config(rule(bounds(min_connections, max_conections)))]
struct Settings {
    /// Smallest pool size.
    min_connections: u32,
    /// Largest pool size.
    max_connections: u32,
}

fn main() {}
