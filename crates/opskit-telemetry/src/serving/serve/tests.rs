//! Which accept failures mean the process is out of file descriptors.

use super::out_of_descriptors;
use std::io::Error;

#[test]
fn only_emfile_and_enfile_count_as_out_of_descriptors() {
    assert!(out_of_descriptors(&Error::from_raw_os_error(24)), "EMFILE");
    assert!(out_of_descriptors(&Error::from_raw_os_error(23)), "ENFILE");
    assert!(
        !out_of_descriptors(&Error::from_raw_os_error(103)),
        "ECONNABORTED"
    );
    assert!(!out_of_descriptors(&Error::other("not an OS error")));
}
