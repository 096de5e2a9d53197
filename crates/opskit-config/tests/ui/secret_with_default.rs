use opskit_config::Config;

#[derive(Config)]
struct Settings {
    /// Token.
    #[config(secret, default = "changeme")]
    token: String,
}

fn main() {}
