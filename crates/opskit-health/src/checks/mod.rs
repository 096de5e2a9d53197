//! Ready-made checks. Any async closure is a check too; see [`Check`](crate::Check).

#[cfg(feature = "sqlx")]
mod sqlx;
mod tcp;

#[cfg(feature = "sqlx")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "sqlx")))]
pub use self::sqlx::sqlx_pool;
pub use tcp::tcp_connect;
