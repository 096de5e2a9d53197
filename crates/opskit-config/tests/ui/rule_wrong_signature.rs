use opskit_config::{Config, Invalid};

fn port_above(_port: &u32, _floor: &u16) -> Vec<Invalid> {
    Vec::new()
}

fn named(_port: &u16) -> bool {
    true
}

#[derive(Config)]
#[config(rule(port_above(port, floor)))]
#[config(rule(named(port)))]
struct Settings {
    /// Port.
    port: u16,
    /// Lowest port.
    floor: u16,
}

fn main() {}
