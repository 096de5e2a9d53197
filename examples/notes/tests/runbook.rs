//! The runbook's settings table is the binary's own listing.

mod support;

#[test]
fn the_runbook_lists_exactly_the_settings_the_binary_reads() {
    let table = support::describe();
    let runbook = include_str!("../RUNBOOK.md");
    let start = runbook
        .find("<!-- settings:start -->\n")
        .expect("start marker")
        + "<!-- settings:start -->\n".len();
    let end = runbook.find("<!-- settings:end -->").expect("end marker");
    assert_eq!(
        &runbook[start..end],
        table,
        "RUNBOOK.md is out of date: replace the table between the markers with `notes --describe`"
    );
}
