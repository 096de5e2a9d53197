//! Records the commit, profile, compiler and target for
//! `opskit::telemetry::build_info!()`: the service says exactly what it is.

fn main() {
    opskit_build::emit_build_info();
}
