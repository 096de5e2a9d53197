//! Exit codes, from `sysexits.h`, one table for every opskit service.
//!
//! | code | constant | when |
//! |---|---|---|
//! | 0 | [`OK`] | clean stop (also after a drain whose timeout cut requests off: the stop was asked for) |
//! | 70 | [`SOFTWARE`] | an internal error: a bug, such as installing the metrics recorder twice |
//! | 71 | [`OS_ERROR`] | the operating system refused: the listener cannot bind (address in use, no permission for the port) |
//! | 78 | [`CONFIG`] | the configuration is invalid (`config.invalid` lists every problem) |

/// Clean stop.
pub const OK: i32 = 0;
/// `EX_SOFTWARE`: an internal error.
pub const SOFTWARE: i32 = 70;
/// `EX_OSERR`: the operating system refused, typically binding the listener.
pub const OS_ERROR: i32 = 71;
/// `EX_CONFIG`: invalid configuration (the same as [`opskit_config::EX_CONFIG`]).
pub const CONFIG: i32 = opskit_config::EX_CONFIG;
