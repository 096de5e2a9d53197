use opskit_config::Config;

#[derive(Config)]
#[config(prefx = "APP_")]
struct Settings {
    /// Port.
    port: u16,
}

fn main() {}
