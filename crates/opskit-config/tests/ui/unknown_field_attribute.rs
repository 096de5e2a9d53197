use opskit_config::Config;

#[derive(Config)]
struct Settings {
    /// Port.
    #[config(defualt = "8080")]
    port: u16,
}

fn main() {}
