//! Records the commit, profile, compiler and target for `opskit_telemetry::build_info!()`
//! in the examples.

fn main() {
    opskit_build::emit_build_info();
}
