//! Checks: the [`Check`] trait every check implements, [`Tolerant`] (a check that
//! may miss a few runs before it fails), and the checks opskit ships. Any async
//! closure is a check too.

mod check;
#[cfg(feature = "sqlx")]
mod sqlx;
mod tcp;

#[cfg(feature = "sqlx")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "sqlx")))]
pub use self::sqlx::sqlx_pool;
pub use check::{Check, CheckFuture, Tolerant};
pub use tcp::tcp_connect;
