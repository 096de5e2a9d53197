use opskit_config::Config;

#[derive(Config)]
struct Settings {
    /// Port.
    #[config(name = "HTTP-PORT")]
    port: u16,
}

fn main() {}
