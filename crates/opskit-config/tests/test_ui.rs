//! Misuse of `#[derive(Config)]` is a compile error that points at the fault.

#[test]
fn derive_misuse_is_a_compile_error_pointing_at_the_fault() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
