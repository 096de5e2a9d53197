use opskit_config::Config;

#[derive(Config)]
struct Settings<T> {
    /// Value.
    value: T,
}

fn main() {}
