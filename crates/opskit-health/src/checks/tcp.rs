use crate::check::{Check, Outcome};

/// A check that opens a TCP connection to `address` (`host:port`) and closes it.
///
/// It proves that something listens there, not that it works: prefer a check that
/// speaks the protocol (such as [`sqlx_pool`](crate::checks::sqlx_pool)) where there
/// is one. The run's timeout bounds the connect.
///
/// ```
/// use opskit_health::{CheckOptions, Health, checks::tcp_connect};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), opskit_health::BuildError> {
/// let health = Health::builder()
///     .check("cache", tcp_connect("127.0.0.1:6379"), CheckOptions::new())
///     .build()?;
/// # Ok(()) }
/// ```
pub fn tcp_connect(address: impl Into<String>) -> impl Check {
    let address: std::sync::Arc<str> = address.into().into();
    move || {
        let address = address.clone();
        async move {
            match tokio::net::TcpStream::connect(&*address).await {
                Ok(_) => Outcome::pass(),
                Err(err) => Outcome::fail(format!("cannot connect to {address}: {err}")),
            }
        }
    }
}
