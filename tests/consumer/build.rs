fn main() {
    opskit_build::emit_build_info();
}
