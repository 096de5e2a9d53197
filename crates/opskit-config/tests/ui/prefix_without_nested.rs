use opskit_config::Config;

#[derive(Config)]
struct Settings {
    /// Port.
    #[config(prefix = "HTTP_")]
    port: u16,
}

fn main() {}
