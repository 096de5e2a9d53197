use opskit_config::Config;

#[derive(Config)]
struct Pool {
    /// Size.
    size: u32,
}

#[derive(Config)]
struct Settings {
    /// The pool.
    #[config(nested, default)]
    pool: Pool,
}

fn main() {}
