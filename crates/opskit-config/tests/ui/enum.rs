use opskit_config::Config;

#[derive(Config)]
enum Mode {
    Local,
    Production,
}

fn main() {}
