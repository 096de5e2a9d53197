use opskit_config::Config;

#[derive(Config)]
#[config(prefix = "APP_")]
struct Settings {
    /// Port.
    port: u16,
    /// Also the port.
    #[config(name = "APP_PORT")]
    port_again: u16,
}

fn main() {}
