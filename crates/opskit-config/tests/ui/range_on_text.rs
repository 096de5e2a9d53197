use opskit_config::Config;

#[derive(Config)]
struct Settings {
    /// Name of the service.
    #[config(range = "a..=z")]
    name: String,
}

fn main() {}
