use opskit_config::Config;

struct Pool {
    size: u32,
}

#[derive(Config)]
struct Settings {
    /// The pool.
    #[config(nested)]
    pool: Pool,
}

fn main() {}
