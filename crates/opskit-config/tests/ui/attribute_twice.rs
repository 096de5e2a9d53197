use opskit_config::Config;

#[derive(Config)]
struct Settings {
    /// Port.
    #[config(default = "1", default = "2")]
    port: u16,
}

fn main() {}
